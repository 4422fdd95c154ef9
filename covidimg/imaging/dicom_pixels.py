"""DICOM pixels in display form: modality LUT, VOI, MONOCHROME1 inversion, frame and slice order.

Every transform is pydicom's own (:func:`pydicom.pixels.apply_modality_lut`,
:func:`pydicom.pixels.apply_voi_lut`, :func:`pydicom.pixels.apply_color_lut`, applied block by
block in :mod:`covidimg.imaging.dicom_frames`); this module decides *which* header values apply
to each frame (top level, shared and per-frame functional groups), *in which order* frames and
files are stacked, checks the size the headers declare against ``max_pixel_bytes`` before any
pixel is read, and turns every way a file can fail into an
:class:`~covidimg.errors.ImageReadError` that names the file.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from covidimg.errors import ImageReadError, MissingCodecError
from covidimg.imaging.dicom_frames import (
    Orientation,
    decode,
    fill_grey,
    orientation,
    stored_view,
)
from covidimg.imaging.pixel_limits import (
    check_pixel_bytes,
    memory_error_as_too_large,
    resolve_max_pixel_bytes,
    too_large_for_memory,
)
from covidimg.imaging.refs import ImageRef, opener
from covidimg.imaging.slicing import SliceIndex, resolve_slice_index
from covidimg.sources import series_files
from covidimg.table_paths import split_path

__all__ = ["SUPPORTED_PHOTOMETRIC", "read_dicom"]

#: Photometric interpretations read_image turns into a grey-level image.
SUPPORTED_PHOTOMETRIC = (
    "MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT",
    "PALETTE COLOR",
)
_CODECS_HINT = 'install the decoders with `pip install "covidimg[codecs]"` (pylibjpeg, ' \
               "pylibjpeg-libjpeg, pylibjpeg-openjpeg)"
# Header elements the pixel transforms read; copied into one small dataset per frame.
_TRANSFORM_KEYS = (
    "PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "SamplesPerPixel", "RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence",
    "VOILUTSequence", "WindowCenter", "WindowWidth", "VOILUTFunction", "PresentationLUTShape",
)
_VOI_KEYS = ("VOILUTSequence", "WindowCenter", "WindowWidth", "VOILUTFunction")
_PIXEL_KEYS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# Elements above this size stay in the file until used: the header is checked first.
_DEFER_BYTES = 2**20


def _label(ref: ImageRef, member: str | None) -> str:
    """The name of one file of ``ref``, as it would appear in ``files.path``."""
    return ref.label(member)


def _unparsable(label: str, exc: BaseException) -> ImageReadError:
    return ImageReadError(label, f"the DICOM header cannot be parsed ({type(exc).__name__}: "
                          f"{exc}); the file may be truncated or corrupt — download it again")


@contextmanager
def _dicom_file(open_: Callable[..., IO[bytes]], member: str | None, label: str, *,
                header_only: bool = False) -> Iterator[tuple[Dataset, list[str]]]:
    """Read a dataset, turning every parse failure into ImageReadError; yield it and its
    warnings with the file still open.

    Elements larger than :data:`_DEFER_BYTES` (the pixel data of any large image) are left
    in the file until first used, so the header can be checked against ``max_pixel_bytes``
    before the pixels are read into memory.
    """
    try:
        fh = open_(member, header_only=header_only)
    except MemoryError:   # a zip member is read into memory
        raise too_large_for_memory(label) from None
    except Exception as exc:
        raise _unparsable(label, exc) from exc
    with fh:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = pydicom.dcmread(fh, stop_before_pixels=header_only,
                                     defer_size=None if header_only else _DEFER_BYTES)
            except InvalidDicomError as exc:
                raise ImageReadError(label, f"not a DICOM file ({exc}); remove it from the "
                                     "series or fix the images row's path/format") from exc
            except MemoryError:
                raise too_large_for_memory(label) from None
            except Exception as exc:  # pydicom raises struct.error, BytesLengthException, ...
                raise _unparsable(label, exc) from exc
        yield ds, [str(w.message) for w in caught]


def _header_int(ds: Dataset, keyword: str, label: str, default: int) -> int:
    """An integer header value, or ImageReadError naming the element and its bad value."""
    try:
        value = ds.get(keyword)
    except Exception as exc:  # a malformed element (wrong VR or length) raises on access
        raise ImageReadError(label, f"the header element {keyword} cannot be parsed ({exc}); "
                             "fix or re-export the file") from exc
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ImageReadError(label, f"the header element {keyword} is {value!r}, not a whole "
                             "number; fix or re-export the file") from None


def _photometric(ds: Dataset, label: str) -> str:
    value = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    if value not in SUPPORTED_PHOTOMETRIC:
        shown = value or "(missing)"
        raise ImageReadError(label, f"unsupported PhotometricInterpretation {shown!r}; "
                             f"readable values are {list(SUPPORTED_PHOTOMETRIC)}. Convert the "
                             "file (e.g. with dcmtk or gdcmconv) or leave it out of the cohort")
    return value


def _check_pixel_data(ds: Dataset, label: str, read_warnings: list[str]) -> bool:
    """Raise ImageReadError for missing pixel data and for missing codecs; return whether
    the pixel data is compressed (its length is checked by :func:`_check_length`)."""
    if not any(k in ds for k in _PIXEL_KEYS):
        hint = ""
        eof = [w for w in read_warnings if "end of file" in w.lower()]
        if eof or "Rows" in ds:
            hint = (" although the header describes an image: the file looks truncated "
                    f"({eof[0] if eof else 'no Pixel Data element'}); download it again")
        raise ImageReadError(label, f"no Pixel Data element{hint}")
    _photometric(ds, label)
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None:
        raise ImageReadError(label, "the file meta has no TransferSyntaxUID, so its pixel "
                             "data cannot be interpreted; rewrite it with a proper file meta")
    if not isinstance(syntax, str):
        raise ImageReadError(label, f"the file meta's TransferSyntaxUID is {syntax!r}, not a "
                             "UID; rewrite the file with a proper file meta")
    syntax = UID(syntax)
    try:
        compressed = syntax.is_compressed
    except ValueError:
        raise MissingCodecError(label, f"TransferSyntaxUID {str(syntax)!r} is not a known "
                                "transfer syntax, so no decoder exists for it; re-export the "
                                "file with a standard transfer syntax", str(syntax)) from None
    if compressed:
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError:
            raise MissingCodecError(
                label, f"pixel data is compressed with transfer syntax {syntax.name} "
                f"({syntax}), which no pydicom plugin decodes; convert the file to an "
                "uncompressed or JPEG/JPEG 2000 transfer syntax (e.g. `gdcmconv --raw` or "
                "dcmtk's `dcmdjpeg`)", str(syntax)) from None
        if not decoder.is_available:
            missing = "; ".join(decoder.missing_dependencies) or "no plugin installed"
            raise MissingCodecError(
                label, f"pixel data is compressed with transfer syntax {syntax.name} "
                f"({syntax}) and no decoder for it is installed ({missing}); {_CODECS_HINT}",
                str(syntax))
        return True
    return False


@dataclass(frozen=True)
class _Geometry:
    """What the header says about the pixel data, read before any pixel is."""

    rows: int
    columns: int
    frames: int
    samples: int
    bits: int
    native_bytes: int   # the stored bytes of uncompressed pixel data (0 when compressed)

    @classmethod
    def of(cls, ds: Dataset, label: str, compressed: bool) -> _Geometry:
        rows = _header_int(ds, "Rows", label, 0)
        columns = _header_int(ds, "Columns", label, 0)
        frames = _header_int(ds, "NumberOfFrames", label, 1)
        samples = _header_int(ds, "SamplesPerPixel", label, 1)
        bits = _header_int(ds, "BitsAllocated", label, 8)
        native = 0
        if not compressed:
            n_pixels = max(rows, 0) * max(columns, 0) * max(frames, 0) * max(samples, 0)
            native = (n_pixels + 7) // 8 if bits == 1 else n_pixels * max(bits, 0) // 8
            if _photometric(ds, label) == "YBR_FULL_422":   # chroma stored at half resolution
                native = native * 2 // 3
        return cls(rows, columns, frames, samples, bits, native)


def _check_length(ds: Dataset, label: str, geometry: _Geometry) -> None:
    """Raise ImageReadError when uncompressed pixel data is shorter than the header says;
    this reads the pixel data into memory."""
    if "PixelData" in ds and "Rows" in ds and "Columns" in ds:
        expected = geometry.native_bytes
        got = len(ds.PixelData)
        if got < expected:
            raise ImageReadError(label, f"pixel data is truncated: {got} bytes where "
                                 f"{ds.Rows}x{ds.Columns}x{geometry.frames} frame(s) at "
                                 f"{geometry.bits} bits need {expected}; download the file "
                                 "again")


def _copy_element(out: Dataset, key: str, source: Dataset, label: str) -> None:
    """Copy one transform element; an unreadable VOI element is dropped with a warning, any
    other unreadable element (bit depth, rescale, ...) makes the image unreadable."""
    try:
        setattr(out, key, source[key].value)
    except Exception as exc:  # a value of the wrong VR or length raises on access or copy
        if key in _VOI_KEYS:
            warnings.warn(f"{label}: the header element {key} cannot be read ({exc}); showing "
                          "the image without the header's window", UserWarning, stacklevel=5)
            return
        raise ImageReadError(label, f"the header element {key} cannot be read "
                             f"({type(exc).__name__}: {exc}); fix or re-export the file") \
            from exc


def _frame_dataset(ds: Dataset, frame: int, label: str = "") -> Dataset:
    """The transform-relevant header of one frame: top level < shared < per-frame groups."""
    out = Dataset()
    for key in _TRANSFORM_KEYS:
        if key in ds:
            _copy_element(out, key, ds, label)
    groups = []
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame < len(per_frame):
        groups.append(per_frame[frame])
    for group in groups:
        for seq_name in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
            seq = group.get(seq_name)
            if seq:
                for elem in seq[0]:
                    if elem.keyword in _TRANSFORM_KEYS:
                        _copy_element(out, elem.keyword, seq[0], label)
    return out


def _normal(orientation: Any) -> np.ndarray | None:
    try:
        cosines = np.asarray([float(v) for v in orientation], dtype=float)
    except (TypeError, ValueError):
        return None
    if cosines.shape != (6,):
        return None
    normal = np.cross(cosines[:3], cosines[3:])
    return normal if np.linalg.norm(normal) > 0 else None


def _position(position: Any, normal: np.ndarray | None) -> float | None:
    if position is None or normal is None:
        return None
    try:
        return float(np.dot(normal, [float(v) for v in position]))
    except (TypeError, ValueError):
        return None


def _frame_order(ds: Dataset, label: str) -> list[int]:
    """Frame indices sorted by position along the slice normal (enhanced multi-frame)."""
    n_frames = _header_int(ds, "NumberOfFrames", label, 1)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if n_frames < 2 or not per_frame or len(per_frame) != n_frames:
        return list(range(n_frames))
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared_item = shared[0] if shared else Dataset()
    keys = []
    for item in per_frame:
        orient_seq = item.get("PlaneOrientationSequence") or \
            shared_item.get("PlaneOrientationSequence")
        pos_seq = item.get("PlanePositionSequence") or shared_item.get("PlanePositionSequence")
        normal = _normal(orient_seq[0].get("ImageOrientationPatient")) if orient_seq else None
        pos = _position(pos_seq[0].get("ImagePositionPatient"), normal) if pos_seq else None
        if pos is None:
            return list(range(n_frames))
        keys.append(pos)
    return [int(i) for i in np.argsort(keys, kind="stable")]


@contextmanager
def _corrupt_as_read_error(label: str) -> Iterator[None]:
    """pydicom parses elements lazily, so a corrupt element (unknown VR, a length past the
    end, a value of the wrong size) raises wherever it is first used, with whatever exception
    the parser meets (struct.error, NotImplementedError, ...): name the file instead."""
    try:
        yield
    except ImageReadError:
        raise
    except MemoryError:
        raise too_large_for_memory(label) from None
    except Exception as exc:
        raise ImageReadError(label, f"the file is corrupt ({type(exc).__name__}: {exc}); "
                             "download it again") from exc


def _read_one_file(ref: ImageRef, open_: Callable[..., IO[bytes]], member: str | None,
                   slice_index: SliceIndex, voi: bool, limit: int,
                   out: np.ndarray | None = None) -> np.ndarray:
    """Read one file (every frame, or one); ``out``, when given, is the series slot to fill."""
    label = _label(ref, member)
    with _dicom_file(open_, member, label) as (ds, read_warnings):
        with _corrupt_as_read_error(label):
            compressed = _check_pixel_data(ds, label, read_warnings)
            photometric = _photometric(ds, label)
            geometry = _Geometry.of(ds, label, compressed)
            order = _frame_order(ds, label)
        index = resolve_slice_index(slice_index, len(order), label)
        with _corrupt_as_read_error(label):
            turn = orientation(ds)
            shape = turn.display_shape(geometry.rows, geometry.columns)
            frames = order if index is None else [order[index]]
            if out is None:
                out_shape = (len(frames), *shape) if len(frames) > 1 else shape
                check_pixel_bytes(label, out_shape, limit, sliceable=len(frames) > 1,
                                  stored_bytes=geometry.native_bytes)
            elif out.shape != shape:
                raise ImageReadError(label, f"the slice is {shape[0]} x {shape[1]} pixels "
                                     f"while the series' others are {out.shape[0]} x "
                                     f"{out.shape[1]}; read one slice at a time with "
                                     "slice_index")
            _check_length(ds, label, geometry)
            for key in _PIXEL_KEYS:   # read the pixel data while the file is open
                if key in ds:
                    ds[key]   # loads a deferred element
            headers = {f: _frame_dataset(ds, f, label) for f in frames}
    with _corrupt_as_read_error(label):
        return _pixels(ds, label, frames, len(order) == 1, headers, photometric, voi, turn,
                       shape, out)


def _pixels(ds: Dataset, label: str, frames: list[int], single: bool,
            headers: dict[int, Dataset], photometric: str, voi: bool, turn: Orientation,
            shape: tuple[int, int], out: np.ndarray | None) -> np.ndarray:
    """Decode ``frames`` one at a time into ``out`` (allocated here when None)."""
    if single:
        arr = decode(ds, label)
        for key in _PIXEL_KEYS:   # the stored bytes are not needed any more: free them
            if key in ds:         # before the result is allocated
                del ds[key]
        result = np.empty(shape, np.float32) if out is None else out
        fill_grey(arr, headers[frames[0]], photometric, voi, label, ds, stored_view(result, turn))
        return result
    result = np.empty((len(frames), *shape) if len(frames) > 1 else shape, np.float32) \
        if out is None else out
    stacked = result.reshape(len(frames), *shape)
    for k, frame in enumerate(frames):
        fill_grey(decode(ds, label, frame), headers[frame], photometric, voi, label, ds,
                  stored_view(stacked[k], turn))
    return result


@dataclass(frozen=True)
class _Instance:
    member: str
    position: float | None
    instance_number: int | None
    shape: tuple[int, int] | None   # (rows, columns) as displayed; None if unreadable


def _selected_members(ref: ImageRef) -> list[str]:
    """The files of the series ``ref`` names, exactly as a loader's index counts them
    (:func:`covidimg.sources.series_files`): never a copy, a truncated or header-only file, or
    another series' file that shares the folder. Paths in a folder, or member names."""
    try:
        found = series_files(ref.path)
    except OSError as exc:
        raise ImageReadError(ref.path, f"cannot list the series folder ({exc.strerror or exc}); "
                             "check the path and its permissions") from exc
    if ref.series_uid is not None:
        labels = found.get(ref.series_uid)
        if labels is None:
            raise ImageReadError(ref.path, f"the folder holds no readable instance of the "
                                 f"row's series {ref.series_uid} (it holds {len(found)} other "
                                 "series); the files changed since the cohort was loaded: "
                                 "reload it")
    elif len(found) == 1:
        labels = next(iter(found.values()))
    elif not found:
        raise ImageReadError(ref.path, "the series folder holds no readable DICOM image (an "
                             "image file with pixel data and a Patient ID); check the path")
    else:
        raise ImageReadError(ref.path, f"the folder holds {len(found)} series; pass the "
                             "images row (its series_uid says which) instead of the path")
    return [split_path(label)[1 if ref.archive is not None else 0] for label in labels]


def _series_instances(ref: ImageRef, open_: Callable[..., IO[bytes]]) -> list[_Instance]:
    """The DICOM files of a series, ordered by position along the normal, else by number."""
    instances: list[_Instance] = []
    skipped: list[str] = []
    normal: np.ndarray | None = None
    for member in _selected_members(ref):
        label = _label(ref, member)
        try:
            with _dicom_file(open_, member, label, header_only=True) as (ds, _):
                pass
            with _corrupt_as_read_error(label):
                has_image = "Rows" in ds
                frames = _header_int(ds, "NumberOfFrames", label, 1) if has_image else 1
        except ImageReadError as exc:
            skipped.append(f"{label} ({exc.reason})")
            continue
        if not has_image:
            skipped.append(f"{label} (no image in this DICOM file)")
            continue
        if frames > 1:
            raise ImageReadError(ref.path, f"{label} is a multi-frame file inside a multi-file "
                                 "series; read the file on its own instead of the folder")
        try:
            with _corrupt_as_read_error(label):
                if normal is None:
                    normal = _normal(ds.get("ImageOrientationPatient"))
                position = _position(ds.get("ImagePositionPatient"), normal)
        except ImageReadError:
            position = None
        try:
            number: int | None = _header_int(ds, "InstanceNumber", label, -1)
        except ImageReadError:
            number = -1
        try:   # a bad size is reported when the slice is read
            with _corrupt_as_read_error(label):
                shape: tuple[int, int] | None = orientation(ds).display_shape(
                    _header_int(ds, "Rows", label, 0), _header_int(ds, "Columns", label, 0))
        except ImageReadError:
            shape = None
        instances.append(_Instance(member, position, None if number == -1 else number, shape))
    if skipped:
        shown = "; ".join(skipped[:5]) + (f"; and {len(skipped) - 5} more" if len(skipped) > 5
                                          else "")
        warnings.warn(f"{ref.path}: skipped {len(skipped)} file(s) that are not DICOM images: "
                      f"{shown}", UserWarning, stacklevel=3)
    if not instances:
        raise ImageReadError(ref.path, "the series folder holds no readable DICOM image; "
                             "check the path")
    if all(i.position is not None for i in instances):
        instances.sort(key=lambda i: (i.position, i.instance_number or 0))
    elif all(i.instance_number is not None for i in instances):
        instances.sort(key=lambda i: i.instance_number)  # type: ignore[arg-type,return-value]
    return instances


def read_dicom(ref: ImageRef, slice_index: SliceIndex = None, voi: bool = True,
               max_pixel_bytes: int | None = None) -> np.ndarray:
    """Read a DICOM file, zip member, multi-frame file or multi-file series as grey levels.

    Frames are decoded one at a time and slices written straight into one preallocated
    float32 array, so a read peaks at about 1.5x the result's bytes (a 2-D image or a
    multi-frame file: the stored pixels plus the result; a series: the result plus one slice).

    Parameters
    ----------
    ref
        The resolved reference (see :func:`covidimg.imaging.refs.image_ref`).
    slice_index
        ``None`` for every frame/slice, an int (negatives count from the end) or
        ``"middle"`` for one slice, in position order (feet → head for an axial series).
    voi
        Apply the header's VOI LUT or window centre/width when present. Switch off to keep
        modality values (Hounsfield units for CT) for an explicit window.
    max_pixel_bytes
        The limit on the bytes the read needs, checked from the headers before any pixel is
        decoded (see :mod:`covidimg.imaging.pixel_limits`); ``None`` for the default.

    Returns
    -------
    numpy.ndarray
        float32, 2-D for one image or slice, 3-D ``(slices, rows, columns)`` otherwise.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from covidimg.imaging.refs import image_ref
    >>> from covidimg.imaging.dicom_pixels import read_dicom
    >>> read_dicom(image_ref(get_testdata_file("CT_small.dcm")), voi=False).shape
    (128, 128)
    """
    limit = resolve_max_pixel_bytes(max_pixel_bytes)
    with opener(ref) as open_:
        if not ref.is_series:
            return _read_one_file(ref, open_, None, slice_index, voi, limit)
        instances = _series_instances(ref, open_)
        if len(instances) == 1:
            return _read_one_file(ref, open_, instances[0].member, slice_index, voi, limit)
        index = resolve_slice_index(slice_index, len(instances), ref.path)
        if index is not None:
            return _read_one_file(ref, open_, instances[index].member, None, voi, limit)
        shapes = sorted({inst.shape for inst in instances if inst.shape is not None})
        if not shapes:   # no slice has a readable size: reading one says why
            return _read_one_file(ref, open_, instances[0].member, None, voi, limit)
        if len(shapes) > 1:
            raise ImageReadError(ref.path, f"the series' slices differ in size {shapes}; "
                                 "read one slice at a time with slice_index")
        shape = (len(instances), *shapes[0])
        needed = check_pixel_bytes(ref.path, shape, limit, sliceable=True)
        with memory_error_as_too_large(ref.path, needed):
            out = np.empty(shape, np.float32)
        for slot, inst in zip(out, instances, strict=True):
            _read_one_file(ref, open_, inst.member, None, voi, limit, out=slot)
        return out
