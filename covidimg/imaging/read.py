"""``read_image``: any image of a cohort (DICOM, NIfTI, PNG) as a float array to display."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from covidimg.errors import ImageReadError
from covidimg.imaging.dicom_pixels import read_dicom
from covidimg.imaging.nifti_pixels import read_nifti
from covidimg.imaging.refs import ImageRef, image_ref, opener
from covidimg.imaging.slicing import SliceIndex, resolve_slice_index

__all__ = ["read_image", "read_png"]

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def read_png(ref: ImageRef) -> np.ndarray:
    """Read a PNG (8- or 16-bit, grey or colour) as stored, as float32 grey levels.

    Colour images become luminance (ITU-R 601 weights); an alpha channel is dropped.

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
    try:
        with opener(ref) as open_, open_() as fh, Image.open(fh) as img:
            img.load()
            mode = img.mode
            if mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                img = img.convert("RGB")
                mode = "RGB"
            arr = np.asarray(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(ref.path, f"not a readable PNG ({type(exc).__name__}: {exc}); "
                             "download it again or fix the images row") from exc
    if arr.ndim == 3:
        if mode == "LA":
            return arr[..., 0].astype(np.float32)
        return arr[..., :3].astype(np.float32) @ _LUMA
    return arr.astype(np.float32)


def read_image(image: Any, *, slice_index: SliceIndex = None, voi: bool = True) -> np.ndarray:
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
    IndexError, TypeError, ValueError
        ``slice_index`` is out of range or of the wrong kind (the message names the argument).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from covidimg.imaging import read_image
    >>> ct = read_image(get_testdata_file("CT_small.dcm"), voi=False)
    >>> ct.shape, ct.dtype
    ((128, 128), dtype('float32'))
    """
    ref = image_ref(image)
    if ref.format == "dicom":
        return read_dicom(ref, slice_index=slice_index, voi=voi)
    if ref.format == "nifti":
        return read_nifti(ref, slice_index=slice_index)
    resolve_slice_index(slice_index, 1, ref.path)
    return read_png(ref)
