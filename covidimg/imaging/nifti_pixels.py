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

import struct
import warnings
import zlib
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError
from nibabel.volumeutils import apply_read_scaling

from covidimg.errors import ImageReadError, ImageTooLargeError
from covidimg.imaging.pixel_limits import (
    check_pixel_bytes,
    memory_error_as_too_large,
    resolve_max_pixel_bytes,
    too_large_for_memory,
)
from covidimg.imaging.refs import ImageRef, opener
from covidimg.imaging.slicing import SliceIndex, resolve_slice_index
from covidimg.sources import nifti_stored_bytes

__all__ = ["read_nifti"]

_READ_ERRORS = (OSError, EOFError, ValueError, ImageFileError, zlib.error, TypeError,
                HeaderDataError, OverflowError, struct.error)
# Voxels transformed at a time when scaling into the float32 result.
_BLOCK_VOXELS = 2**18
# The widest stored voxel (complex128) over the float32 result: bounds a gzip member.
_MAX_STORED_PER_OUTPUT = 4


def _gunzip(data: bytes, ref: ImageRef, limit: int) -> bytes:
    """Decompress a gzipped zip member, refusing more than its pixels could need."""
    bound = _MAX_STORED_PER_OUTPUT * limit + 2**20
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = inflater.decompress(data, bound)
    if inflater.unconsumed_tail:
        raise ImageTooLargeError(ref.path, f"too large: the gzip stream decompresses to more "
                                 f"than {bound:,} bytes, above what max_pixel_bytes={limit:,} "
                                 "allows; pass read_image(..., max_pixel_bytes=N) to read it",
                                 bound, limit)
    if not inflater.eof:
        raise EOFError("the gzip stream is truncated")
    return out


def _load(ref: ImageRef, limit: int) -> nib.spatialimages.SpatialImage:
    try:
        if ref.archive is None:
            return nib.load(ref.file)
        with opener(ref) as open_, open_() as fh:
            data = fh.read()
        if data[:2] == b"\x1f\x8b":
            data = _gunzip(data, ref, limit)
        for klass in (nib.Nifti1Image, nib.Nifti2Image):
            try:
                return klass.from_bytes(data)
            except _READ_ERRORS:
                continue
        raise ImageFileError("neither a NIfTI-1 nor a NIfTI-2 header")
    except ImageReadError:
        raise
    except MemoryError:
        raise too_large_for_memory(ref.path) from None
    except _READ_ERRORS as exc:
        raise ImageReadError(ref.path, f"not a readable NIfTI file ({type(exc).__name__}: "
                             f"{exc}); download it again or fix the images row") from exc


def _stored_bytes(ref: ImageRef, declared: int) -> int | None:
    """How many bytes the (decompressed) file holds, counted no further than ``declared``
    (:func:`covidimg.sources.nifti_stored_bytes`, the loaders' own check). ``None`` when it
    cannot be told cheaply (zip members, unreadable files, very large streams)."""
    if ref.archive is not None:
        return None
    try:
        return nifti_stored_bytes(ref.file, declared)
    except OSError:
        return None


def _check_dims(img: nib.spatialimages.SpatialImage, ref: ImageRef) -> tuple[int, ...]:
    shape = tuple(int(n) for n in img.shape)
    if not shape or any(n <= 0 for n in shape):
        raise ImageReadError(ref.path, f"the header's dimensions {shape} are not all positive; "
                             "the header is corrupt — re-export the image")
    return shape


def _check_header(img: nib.spatialimages.SpatialImage, ref: ImageRef) -> None:
    """Reject headers that disagree with the data before any pixel is read."""
    shape = tuple(int(n) for n in img.shape)
    declared = _declared_bytes(img)
    try:  # where the pixel reader will start (the header's view may have been "fixed")
        offset = float(getattr(img.dataobj, "offset", None) or img.header["vox_offset"])
    except (KeyError, TypeError, ValueError):
        offset = 0.0
    stored = _stored_bytes(ref, int(offset) + declared) if np.isfinite(offset) else None
    if stored is not None and offset + declared > stored:
        raise ImageReadError(ref.path, f"the NIfTI header declares {shape} voxels of "
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


def _declared_bytes(img: nib.spatialimages.SpatialImage) -> int:
    n_voxels = 1
    for n in img.shape:
        n_voxels *= int(n)
    return n_voxels * img.get_data_dtype().itemsize


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


def _raw_and_scale(img: nib.spatialimages.SpatialImage) -> tuple[np.ndarray, Any, Any]:
    """The stored (unscaled) voxels and the scale factors nibabel's ``get_fdata`` applies."""
    proxy = img.dataobj
    if not nib.is_proxy(proxy):
        return np.asanyarray(proxy), None, None
    slope, inter = np.asanyarray(proxy.slope), np.asanyarray(proxy.inter)
    if np.can_cast(slope, np.float32):   # as nibabel's ArrayProxy does for a float32 read
        slope = slope.astype(np.float32)
    if np.can_cast(inter, np.float32):
        inter = inter.astype(np.float32)
    return np.asanyarray(proxy.get_unscaled()), slope, inter


def _scaled_into(stored: np.ndarray, slope: Any, inter: Any) -> np.ndarray:
    """``stored`` (any view of the voxels, in display order) scaled into a new float32 array,
    a block of the first axis at a time: the float64 intermediate stays small."""
    out = np.empty(stored.shape, np.float32)
    per_row = max(1, int(np.prod(stored.shape[1:], dtype=np.int64)))
    step = max(1, _BLOCK_VOXELS // per_row)
    for start in range(0, stored.shape[0], step):
        block = stored[start:start + step]
        out[start:start + step] = block if slope is None else \
            apply_read_scaling(block, slope, inter)
    return out


def _orientation(img: nib.spatialimages.SpatialImage, ref: ImageRef) -> np.ndarray:
    """The stored axes → RAS+ turn of a volume (as :func:`nibabel.as_closest_canonical`)."""
    try:
        return nib.orientations.io_orientation(img.affine)
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise ImageReadError(ref.path, "the header's affine (sform/qform) gives no orientation "
                             f"({exc}); fix the header and save it again") from exc


def _axial_slice(img: nib.spatialimages.SpatialImage, ornt: np.ndarray,
                 index: int) -> np.ndarray:
    """Axial slice ``index`` (feet → head) of a volume, reading only that slice.

    ``ornt`` (:func:`nibabel.orientations.io_orientation`) says which stored axis becomes
    each RAS+ axis and whether it is flipped, as :func:`nibabel.as_closest_canonical` applies
    it; the slice is taken along the stored axis that becomes S and turned the same way.
    """
    axes = [int(a) for a in ornt[:, 0]]
    flips = [bool(f < 0) for f in ornt[:, 1]]
    through = axes.index(2)
    n = int(img.shape[through])
    slicer: list[Any] = [slice(None)] * 3
    slicer[through] = n - 1 - index if flips[through] else index
    plane = np.asarray(img.dataobj[tuple(slicer) + (0,) * (len(img.shape) - 3)],
                       dtype=np.float32)
    first, second = (i for i in range(3) if i != through)
    if flips[first]:
        plane = plane[::-1, :]
    if flips[second]:
        plane = plane[:, ::-1]
    if axes[first] == 1:     # the stored axes come in (y, x) order
        plane = plane.T
    return np.ascontiguousarray(plane.T[::-1, ::-1])   # (x, y) → rows anterior-up


def read_nifti(ref: ImageRef, slice_index: SliceIndex = None,
               max_pixel_bytes: int | None = None) -> np.ndarray:
    """Read a NIfTI radiograph or volume in display orientation.

    The stored voxels are read once (memory-mapped for ``.nii``) and scaled into the float32
    result a block at a time, through views that put them in display order, so a read peaks
    at about the result plus the stored voxels.

    Parameters
    ----------
    ref
        The resolved reference (see :func:`covidimg.imaging.refs.image_ref`); its
        ``stored_transposed`` says how a 2-D image without plane information is stored.
    slice_index
        For a volume: ``None`` (all axial slices), an int (negatives from the end) or
        ``"middle"``. A 2-D image accepts ``None``, ``0``, ``-1`` and ``"middle"``.
    max_pixel_bytes
        The limit on the bytes the read needs, checked from the header before any voxel is
        read (see :mod:`covidimg.imaging.pixel_limits`); ``None`` for the default.

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
    limit = resolve_max_pixel_bytes(max_pixel_bytes)
    img = _load(ref, limit)
    shape = _check_dims(img, ref)
    if len(shape) > 3 and any(n > 1 for n in shape[3:]):
        raise ImageReadError(ref.path, f"a {len(shape)}-D NIfTI of shape {shape} (time series "
                             "or vector image) is not a radiograph or volume; only 2-D and "
                             "3-D images are read")
    spatial = list(range(min(3, len(shape))))
    kept = [i for i in spatial if shape[i] > 1]
    declared = _declared_bytes(img)
    if len(kept) < 3:
        resolve_slice_index(slice_index, 1, ref.path)
        plane = sorted(kept + [i for i in spatial if i not in kept][: 2 - len(kept)])
        check_pixel_bytes(ref.path, [shape[i] for i in plane], limit, stored_bytes=declared)
        index = None
    else:
        if slice_index is None:
            check_pixel_bytes(ref.path, shape[2::-1], limit, stored_bytes=declared,
                              sliceable=True)
    _check_header(img, ref)
    if len(kept) == 3:
        ornt = _orientation(img, ref)
        x_len, y_len, z_len = (shape[[int(a) for a in ornt[:, 0]].index(k)] for k in range(3))
        index = resolve_slice_index(slice_index, z_len, ref.path)
        if index is not None:   # only the slice is read
            check_pixel_bytes(ref.path, (y_len, x_len), limit)
    try:
        with memory_error_as_too_large(ref.path, declared):
            if len(kept) < 3:
                codes_all = nib.aff2axcodes(img.affine)
                codes = tuple(codes_all[i] for i in plane)
                raw, slope, inter = _raw_and_scale(img)
                stored = _display_2d(raw.reshape([shape[i] for i in plane]), codes,
                                     ref.stored_transposed, ref.path)
                return _scaled_into(stored, slope, inter)
            if index is not None:
                return _axial_slice(img, ornt, index)
            raw, slope, inter = _raw_and_scale(img)
            raw = nib.orientations.apply_orientation(raw.reshape(shape[:3]), ornt)   # views
            return _scaled_into(np.transpose(raw, (2, 1, 0))[:, ::-1, ::-1], slope, inter)
    except ImageReadError:
        raise
    except (OSError, EOFError, ImageFileError, zlib.error, HeaderDataError, ValueError,
            OverflowError, np.linalg.LinAlgError) as exc:
        raise ImageReadError(ref.path, f"the NIfTI pixel data cannot be read "
                             f"({type(exc).__name__}: {exc}); the file may be truncated — "
                             "download it again") from exc
