"""``read_image``: any image of a cohort (DICOM, NIfTI, PNG) as a float array to display."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from covidimg.errors import ImageReadError, ImageTooLargeError
from covidimg.imaging.pixel_limits import (
    check_pixel_bytes,
    memory_error_as_too_large,
    resolve_max_pixel_bytes,
)
from covidimg.imaging.refs import ImageRef, image_ref, opener
from covidimg.imaging.slicing import SliceIndex, resolve_slice_index

__all__ = ["read_image", "read_png"]

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_BLOCK_PIXELS = 2**18


def _luma_into(rgb: np.ndarray) -> np.ndarray:
    """Luminance of an 8/16-bit colour array as float32, a block of rows at a time."""
    out = np.empty(rgb.shape[:2], np.float32)
    step = max(1, _BLOCK_PIXELS // max(1, rgb.shape[1]))
    for start in range(0, rgb.shape[0], step):
        out[start:start + step] = rgb[start:start + step, :, :3].astype(np.float32) @ _LUMA
    return out


def read_png(ref: ImageRef, max_pixel_bytes: int | None = None) -> np.ndarray:
    """Read a PNG (8- or 16-bit, grey or colour) as stored, as float32 grey levels.

    Colour images become luminance (ITU-R 601 weights); an alpha channel is dropped. The size
    in the PNG header is checked against ``max_pixel_bytes`` before the image is decoded.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from covidimg.imaging.refs import image_ref
    >>> from covidimg.imaging.read import read_png
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "x.png"
    >>> Image.fromarray(np.full((4, 6), 200, np.uint8)).save(file)
    >>> read_png(image_ref(str(file))).shape
    (4, 6)
    """
    limit = resolve_max_pixel_bytes(max_pixel_bytes)
    try:
        with opener(ref) as open_, open_() as fh, Image.open(fh) as img:
            width, height = img.size
            check_pixel_bytes(ref.path, (height, width), limit)
            with memory_error_as_too_large(ref.path, width * height * 4):
                img.load()
                mode = img.mode
                if mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                    img = img.convert("RGB")
                    mode = "RGB"
                arr = np.asarray(img)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(ref.path, f"too large: {exc}; Pillow refuses it before "
                                 "max_pixel_bytes applies — raise PIL.Image.MAX_IMAGE_PIXELS "
                                 "to read it") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(ref.path, f"not a readable PNG ({type(exc).__name__}: {exc}); "
                             "download it again or fix the images row") from exc
    with memory_error_as_too_large(ref.path, arr.shape[0] * arr.shape[1] * 4):
        if arr.ndim == 3:
            if mode == "LA":
                return arr[..., 0].astype(np.float32)
            return _luma_into(arr)
        return arr.astype(np.float32)


def read_image(image: Any, *, slice_index: SliceIndex = None, voi: bool = True,
               max_pixel_bytes: int | None = None) -> np.ndarray:
    """Read one image of a cohort as a float32 array in display orientation.

    DICOM goes through pydicom's own transforms: the modality LUT (rescale slope/intercept, so
    CT is in Hounsfield units), then — with ``voi=True`` — the header's VOI LUT or window
    centre/width; MONOCHROME1 (and a Presentation LUT Shape of INVERSE) is inverted so air is
    dark; colour images become luminance. Multi-frame files and multi-file series are ordered
    by position along the slice normal (falling back to Instance Number), from a folder, a
    file, or a zip member, without extracting anything. NIfTI follows its affine (see
    :mod:`covidimg.imaging.nifti_pixels`), so radiographs are upright with the patient's right
    on the image's left, and volumes come as axial slices feet → head. PNG is read as stored.

    Parameters
    ----------
    image
        An ``images`` row (mapping or pandas Series with ``path`` and optionally ``format``,
        ``stored_transposed``), a path to a file or a series folder, or
        ``"/abs/archive.zip::member.dcm"`` (``"...zip::series/"`` for a series in a zip).
    slice_index
        For a volume, series or multi-frame file: ``None`` returns every slice as a 3-D array
        ``(slices, rows, columns)``; an int (negatives from the end) or ``"middle"`` returns
        that one slice, decoding only it. A 2-D image accepts ``None``, ``0``, ``-1`` and
        ``"middle"``.
    voi
        Apply the DICOM header's VOI LUT / window. Switch off to keep modality values
        (Hounsfield units) for an explicit window such as ``window(arr, "lung")``.
    max_pixel_bytes
        The most memory the read may need, in bytes: the float32 result, or the stored pixel
        data held to make it when that is larger. It is checked from the headers (DICOM Rows
        x Columns x frames, or every slice's; the NIfTI header's shape; the PNG's size)
        before any pixel is decoded. ``None`` uses the environment variable
        ``COVIDIMG_MAX_PIXEL_BYTES`` or else 1 GiB
        (:data:`~covidimg.imaging.pixel_limits.DEFAULT_MAX_PIXEL_BYTES`: a 16,384 x 16,384
        image, or 1,024 CT slices of 512 x 512).

    Returns
    -------
    numpy.ndarray
        float32, 2-D ``(rows, columns)`` or 3-D ``(slices, rows, columns)``.

    Raises
    ------
    ImageReadError
        The file is missing, not of its format, truncated, compressed with a transfer syntax
        whose codec is not installed (:class:`~covidimg.errors.MissingCodecError`), or
        of an unsupported photometric interpretation. The message names the file.
    ImageTooLargeError
        (a subclass of ``ImageReadError``) the image needs more than ``max_pixel_bytes``, or
        decoding ran out of memory; the message gives the sizes and what to do next (a
        larger ``max_pixel_bytes``, or one slice with ``slice_index``).
    IndexError, TypeError, ValueError
        ``slice_index`` is out of range or of the wrong kind, or ``max_pixel_bytes`` is not
        a positive int (the message names the argument).

    Notes
    -----
    Memory: frames are decoded one at a time, series slices written straight into one
    preallocated array, and pydicom's transforms (which return float64 copies) applied a
    block of 262,144 pixels at a time, so a read peaks at about 1.1-1.9x the bytes of the
    array it returns (``python benchmarks/read_image_memory.py``; before these changes,
    2-6x). The values are exactly those of pydicom's transforms applied to the whole image.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from covidimg.imaging import read_image
    >>> ct = read_image(get_testdata_file("CT_small.dcm"), voi=False)
    >>> ct.shape, ct.dtype
    ((128, 128), dtype('float32'))
    """
    limit = resolve_max_pixel_bytes(max_pixel_bytes)
    ref = image_ref(image)
    if ref.format == "dicom":
        # pydicom (and nibabel, which imports it: ~0.25 s) come with the first image of
        # their format read, not with a gallery or dashboard that shows cached thumbnails
        from covidimg.imaging.dicom_pixels import read_dicom

        return read_dicom(ref, slice_index=slice_index, voi=voi, max_pixel_bytes=limit)
    if ref.format == "nifti":
        from covidimg.imaging.nifti_pixels import read_nifti

        return read_nifti(ref, slice_index=slice_index, max_pixel_bytes=limit)
    resolve_slice_index(slice_index, 1, ref.path)
    return read_png(ref, max_pixel_bytes=limit)
