"""NIfTI pixels in display orientation: 2-D radiographs (MHH) and 3-D volumes.

Orientation comes from the affine whenever it says something about the image plane:

* a 2-D image (or a volume with one slice) whose in-plane axes run left/right and
  superior/inferior is shown as a frontal film is viewed: the patient's right on the image's
  left, head up;
* a 3-D volume is brought to RAS+ (:func:`nibabel.as_closest_canonical`) and returned as axial
  slices, feet → head, each viewed from the feet (patient's right on the image's left,
  anterior up), the radiological convention DICOM viewers use.

A 2-D image whose affine says nothing about the plane (MHH's files; an identity affine) follows
the NIfTI convention, first axis = columns, so the stored array is transposed — what MHH's own
``nii2png.py`` does with ``img.get_data().T``. ``stored_transposed=False`` in the images row
keeps the array as stored instead.
"""

from __future__ import annotations

import gzip
import os
import struct
import warnings
import zlib

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError

from covidimg.errors import ImageReadError
from covidimg.imaging.refs import ImageRef, opener
from covidimg.imaging.slicing import SliceIndex, resolve_slice_index

__all__ = ["read_nifti"]

_READ_ERRORS = (OSError, EOFError, ValueError, ImageFileError, zlib.error, TypeError,
                HeaderDataError, OverflowError, struct.error)
#: The largest pixel array (bytes, as declared by the header) read_image will load.
MAX_NIFTI_BYTES = 2**32


def _load(ref: ImageRef) -> nib.spatialimages.SpatialImage:
    try:
        if ref.archive is None:
            return nib.load(ref.file)
        with opener(ref) as open_, open_() as fh:
            data = fh.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        for klass in (nib.Nifti1Image, nib.Nifti2Image):
            try:
                return klass.from_bytes(data)
            except _READ_ERRORS:
                continue
        raise ImageFileError("neither a NIfTI-1 nor a NIfTI-2 header")
    except _READ_ERRORS as exc:
        raise ImageReadError(ref.path, f"not a readable NIfTI file ({type(exc).__name__}: "
                             f"{exc}); download it again or fix the images row") from exc


def _stored_bytes(ref: ImageRef) -> int | None:
    """How many bytes the (decompressed) file holds; for ``.gz`` the gzip trailer's size,
    which is exact below 4 GiB. ``None`` when it cannot be told cheaply (zip members)."""
    if ref.archive is not None:
        return None
    try:
        size = os.path.getsize(ref.file)
        with open(ref.file, "rb") as fh:
            if fh.read(2) != b"\x1f\x8b":
                return size
            fh.seek(-4, os.SEEK_END)
            return int(struct.unpack("<I", fh.read(4))[0])
    except (OSError, struct.error):
        return None


def _check_header(img: nib.spatialimages.SpatialImage, ref: ImageRef) -> None:
    """Reject headers that disagree with the data before any pixel is read."""
    shape = tuple(int(n) for n in img.shape)
    if not shape or any(n <= 0 for n in shape):
        raise ImageReadError(ref.path, f"the header's dimensions {shape} are not all positive; "
                             "the header is corrupt — re-export the image")
    declared = int(np.prod(shape, dtype=np.float64)) * img.get_data_dtype().itemsize
    if declared > MAX_NIFTI_BYTES:
        raise ImageReadError(ref.path, f"the header declares {shape} voxels "
                             f"({declared / 2**30:.1f} GiB), more than the "
                             f"{MAX_NIFTI_BYTES / 2**30:.0f} GiB read_image loads; the header is "
                             "probably corrupt (raise imaging.nifti_pixels.MAX_NIFTI_BYTES if "
                             "not)")
    try:  # where the pixel reader will start (the header's view may have been "fixed")
        offset = float(getattr(img.dataobj, "offset", None) or img.header["vox_offset"])
    except (KeyError, TypeError, ValueError):
        offset = 0.0
    stored = _stored_bytes(ref)
    if stored is not None and stored < 2**32 and np.isfinite(offset) and \
            offset + declared > stored:
        raise ImageReadError(ref.path, f"the header declares {shape} voxels of "
                             f"{img.get_data_dtype()} from byte {offset:.0f} ({declared} bytes), "
                             f"but the file holds {stored} bytes: it is truncated or its header "
                             "is wrong — download it again")
    affine = np.asarray(img.affine, dtype=float)
    # The axes that hold the image must have a direction: all three for a volume, the two
    # in-plane ones for a radiograph (whose third column may well be zero).
    used = [i for i in range(min(3, len(shape))) if shape[i] > 1] or [0]
    columns = affine[:3, used]
    if not np.isfinite(affine).all() or np.linalg.matrix_rank(columns) < len(used):
        raise ImageReadError(ref.path, "the header's affine (sform/qform) is not finite or is "
                             "singular, so the image's orientation is unknown; fix the header "
                             "(e.g. nibabel's set_sform / set_qform) and save it again")


def _plane_axes(codes: tuple[str | None, ...]) -> tuple[int, int] | None:
    """(row axis, column axis) when one in-plane axis is left/right and the other head/feet."""
    lr = [i for i, c in enumerate(codes) if c in ("L", "R")]
    si = [i for i, c in enumerate(codes) if c in ("S", "I")]
    if len(lr) == 1 and len(si) == 1:
        return si[0], lr[0]
    return None


def _display_2d(data: np.ndarray, codes: tuple[str | None, ...],
                stored_transposed: bool | None, label: str) -> np.ndarray:
    axes = _plane_axes(codes)
    if axes is None:
        return data if stored_transposed is False else data.T
    row_axis, col_axis = axes
    out = data if row_axis == 0 else data.T
    if stored_transposed is not None and stored_transposed != (row_axis != 0):
        warnings.warn(f"{label}: the images row says stored_transposed={stored_transposed}, "
                      f"but the affine (axes {''.join(str(c) for c in codes)}) says "
                      f"{'transposed' if row_axis != 0 else 'not transposed'}; following the "
                      "affine", UserWarning, stacklevel=4)
    if codes[col_axis] == "R":   # columns must run towards the patient's left
        out = out[:, ::-1]
    if codes[row_axis] == "S":   # rows must run towards the feet
        out = out[::-1, :]
    return out


def read_nifti(ref: ImageRef, slice_index: SliceIndex = None) -> np.ndarray:
    """Read a NIfTI radiograph or volume in display orientation.

    Parameters
    ----------
    ref
        The resolved reference (see :func:`covidimg.imaging.refs.image_ref`); its
        ``stored_transposed`` says how a 2-D image without plane information is stored.
    slice_index
        For a volume: ``None`` (all axial slices), an int (negatives from the end) or
        ``"middle"``. A 2-D image accepts ``None``, ``0``, ``-1`` and ``"middle"``.

    Returns
    -------
    numpy.ndarray
        float32, ``(rows, columns)`` or ``(slices, rows, columns)`` with slices feet → head.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import nibabel as nib, numpy as np
    >>> from covidimg.imaging.refs import image_ref
    >>> from covidimg.imaging.nifti_pixels import read_nifti
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "x.nii.gz"
    >>> nib.save(nib.Nifti1Image(np.zeros((30, 20), np.float32), np.eye(4)), file)
    >>> read_nifti(image_ref(str(file))).shape    # stored (x, y): shown (rows, columns)
    (20, 30)
    """
    img = _load(ref)
    _check_header(img, ref)
    shape = img.shape
    if len(shape) > 3 and any(n > 1 for n in shape[3:]):
        raise ImageReadError(ref.path, f"a {len(shape)}-D NIfTI of shape {shape} (time series "
                             "or vector image) is not a radiograph or volume; only 2-D and "
                             "3-D images are read")
    spatial = list(range(min(3, len(shape))))
    kept = [i for i in spatial if shape[i] > 1]
    try:
        if len(kept) < 3:
            resolve_slice_index(slice_index, 1, ref.path)
            plane = sorted(kept + [i for i in spatial if i not in kept][: 2 - len(kept)])
            codes_all = nib.aff2axcodes(img.affine)
            codes = tuple(codes_all[i] for i in plane)
            data = np.asarray(img.get_fdata(dtype=np.float32)).reshape(
                [shape[i] for i in plane])
            return np.ascontiguousarray(_display_2d(data, codes, ref.stored_transposed,
                                                    ref.path))
        canonical = nib.as_closest_canonical(img)
        index = resolve_slice_index(slice_index, canonical.shape[2], ref.path)
        if index is not None:
            plane_data = np.asarray(canonical.dataobj[:, :, index], dtype=np.float32)
            return np.ascontiguousarray(plane_data.T[::-1, ::-1])
        vol = np.asarray(canonical.get_fdata(dtype=np.float32)).reshape(canonical.shape[:3])
        return np.ascontiguousarray(np.transpose(vol, (2, 1, 0))[:, ::-1, ::-1])
    except (OSError, EOFError, ImageFileError, zlib.error, HeaderDataError, ValueError,
            OverflowError, np.linalg.LinAlgError) as exc:
        raise ImageReadError(ref.path, f"the NIfTI pixel data cannot be read "
                             f"({type(exc).__name__}: {exc}); the file may be truncated — "
                             "download it again") from exc
