"""DICOM pixels in display form: modality LUT, VOI, MONOCHROME1 inversion, frame and slice order.

Every transform is pydicom's own (:func:`pydicom.pixels.apply_modality_lut`,
:func:`pydicom.pixels.apply_voi_lut`, :func:`pydicom.pixels.apply_color_lut`); this module
decides *which* header values apply to each frame (top level, shared and per-frame functional
groups), *in which order* frames and files are stacked, and turns every way a file can fail
into an :class:`~covidimg.errors.ImageReadError` that names the file.
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
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, get_decoder
from pydicom.uid import UID

from covidimg.errors import ImageReadError, MissingCodecError
from covidimg.imaging.refs import ImageRef, opener, series_members
from covidimg.imaging.slicing import SliceIndex, resolve_slice_index

__all__ = ["SUPPORTED_PHOTOMETRIC", "read_dicom"]

#: Photometric interpretations read_image turns into a grey-level image.
SUPPORTED_PHOTOMETRIC = (
    "MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT",
    "PALETTE COLOR",
)
_COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR")
_CHEST_BODY_PARTS = ("", "CHEST", "THORAX", "LUNG", "TORSO", "CHEST_TO_PELVIS")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
_CODECS_HINT = 'install the decoders with `pip install "covidimg[codecs]"` (pylibjpeg, ' \
               "pylibjpeg-libjpeg, pylibjpeg-openjpeg)"
# Header elements the pixel transforms read; copied into one small dataset per frame.
_TRANSFORM_KEYS = (
    "PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "SamplesPerPixel", "RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence",
    "VOILUTSequence", "WindowCenter", "WindowWidth", "VOILUTFunction", "PresentationLUTShape",
)
_VOI_KEYS = ("VOILUTSequence", "WindowCenter", "WindowWidth", "VOILUTFunction")


def _label(ref: ImageRef, member: str | None) -> str:
    """The name of one file of ``ref``, as it would appear in ``files.path``."""
    return ref.label(member)


def _dcmread(open_: Callable[..., IO[bytes]], member: str | None, label: str, *,
             header_only: bool = False) -> tuple[Dataset, list[str]]:
    """Read a dataset, turning every parse failure into ImageReadError; return its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with open_(member, header_only=header_only) as fh:
                ds = pydicom.dcmread(fh, stop_before_pixels=header_only)
        except InvalidDicomError as exc:
            raise ImageReadError(label, f"not a DICOM file ({exc}); remove it from the series "
                                 "or fix the images row's path/format") from exc
        except Exception as exc:  # pydicom raises struct.error, BytesLengthException, ...
            raise ImageReadError(label, f"the DICOM header cannot be parsed "
                                 f"({type(exc).__name__}: {exc}); the file may be truncated "
                                 "or corrupt — download it again") from exc
    return ds, [str(w.message) for w in caught]


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


def _check_pixel_data(ds: Dataset, label: str, read_warnings: list[str]) -> None:
    """Raise ImageReadError for missing or truncated pixel data and for missing codecs."""
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
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
        return
    if "PixelData" in ds and "Rows" in ds and "Columns" in ds:
        frames = _header_int(ds, "NumberOfFrames", label, 1)
        samples = _header_int(ds, "SamplesPerPixel", label, 1)
        bits = _header_int(ds, "BitsAllocated", label, 8)
        n_pixels = _header_int(ds, "Rows", label, 0) * _header_int(ds, "Columns", label, 0) \
            * frames * samples
        expected = (n_pixels + 7) // 8 if bits == 1 else n_pixels * bits // 8
        if _photometric(ds, label) == "YBR_FULL_422":   # chroma stored at half resolution
            expected = expected * 2 // 3
        got = len(ds.PixelData)
        if got < expected:
            raise ImageReadError(label, f"pixel data is truncated: {got} bytes where "
                                 f"{ds.Rows}x{ds.Columns}x{frames} frame(s) at {bits} bits "
                                 f"need {expected}; download the file again")


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


def _grey(arr: np.ndarray, fds: Dataset, photometric: str, voi: bool, label: str,
          ds: Dataset) -> np.ndarray:
    """One frame as float32 grey levels, air dark; ``fds`` is its transform header."""
    if photometric in _COLOUR:
        if photometric == "PALETTE COLOR":
            arr = apply_color_lut(arr, ds)
        rgb = arr.astype(np.float64)
        return (rgb[..., :3] @ _LUMA).astype(np.float32)
    out = apply_modality_lut(arr, fds)
    if voi and any(k in fds for k in ("VOILUTSequence", "WindowCenter")):
        try:
            out = apply_voi_lut(out, fds, index=0, prefer_lut=True)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            warnings.warn(f"{label}: the header's VOI LUT/window cannot be applied ({exc}); "
                          "showing the image without it", UserWarning, stacklevel=4)
    out = np.asarray(out, dtype=np.float32)
    shape = str(fds.get("PresentationLUTShape", "") or "").strip().upper()
    if photometric == "MONOCHROME1" or shape == "INVERSE":
        finite = out[np.isfinite(out)]
        if finite.size:
            out = np.float32(finite.min()) + np.float32(finite.max()) - out
    return out


def _decode(ds: Dataset, label: str, index: int | None = None) -> np.ndarray:
    """pydicom's decoder, with its failures turned into ImageReadError."""
    try:
        if index is None:
            return ds.pixel_array
        from pydicom.pixels import pixel_array

        return pixel_array(ds, index=index)
    except MissingCodecError:
        raise
    except (ValueError, RuntimeError, NotImplementedError, AttributeError, KeyError,
            TypeError, OSError) as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", syntax)
        raise ImageReadError(label, f"pixel data cannot be decoded (transfer syntax {name}): "
                             f"{type(exc).__name__}: {exc}") from exc


def _upright(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    """Turn a projection radiograph to the frontal viewing convention its header describes.

    Patient Orientation (0020,0020) names the patient direction of the image's rows (left →
    right) and columns (top → bottom). A frontal film is viewed with rows towards the
    patient's left (``L``) and columns towards the feet (``F``); a film stored mirrored
    (``R``), upside down (``H``) or rotated a quarter turn (``F\\L``) is flipped or transposed
    back. Only chest films are turned (Body Part Examined empty or a chest term): images with
    an Image Orientation (Patient) — CT, MR —, laterals (rows towards ``A``/``P``) and other
    body parts are left as stored.
    """
    if "ImageOrientationPatient" in ds:
        return arr
    body_part = str(ds.get("BodyPartExamined", "") or "").strip().upper()
    if body_part not in _CHEST_BODY_PARTS:
        return arr
    value = ds.get("PatientOrientation")
    if value is None or isinstance(value, str) or len(value) != 2:
        return arr
    row, col = (str(v).strip().upper()[:1] for v in value)
    if row in ("H", "F") and col in ("L", "R"):
        arr = np.swapaxes(arr, -1, -2)
        row, col = col, row
    if row not in ("L", "R") or col not in ("H", "F"):
        return arr
    if row == "R":
        arr = arr[..., ::-1]
    if col == "H":
        arr = arr[..., ::-1, :]
    return np.ascontiguousarray(arr)


@contextmanager
def _corrupt_as_read_error(label: str) -> Iterator[None]:
    """pydicom parses elements lazily, so a corrupt element (unknown VR, a length past the
    end, a value of the wrong size) raises wherever it is first used, with whatever exception
    the parser meets (struct.error, NotImplementedError, ...): name the file instead."""
    try:
        yield
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(label, f"the file is corrupt ({type(exc).__name__}: {exc}); "
                             "download it again") from exc


def _read_one_file(ref: ImageRef, open_: Callable[..., IO[bytes]], member: str | None,
                   slice_index: SliceIndex, voi: bool) -> np.ndarray:
    label = _label(ref, member)
    ds, read_warnings = _dcmread(open_, member, label)
    with _corrupt_as_read_error(label):
        _check_pixel_data(ds, label, read_warnings)
        photometric = _photometric(ds, label)
        order = _frame_order(ds, label)
    index = resolve_slice_index(slice_index, len(order), label)
    with _corrupt_as_read_error(label):
        return _pixels(ds, label, order, index, photometric, voi)


def _pixels(ds: Dataset, label: str, order: list[int], index: int | None, photometric: str,
            voi: bool) -> np.ndarray:
    if len(order) == 1:
        out = _grey(_decode(ds, label), _frame_dataset(ds, 0, label), photometric, voi, label, ds)
    elif index is not None:
        frame = order[index]
        out = _grey(_decode(ds, label, frame), _frame_dataset(ds, frame, label), photometric, voi,
                    label, ds)
    else:
        frames = _decode(ds, label)
        out = np.stack([_grey(frames[f], _frame_dataset(ds, f, label), photometric, voi, label, ds)
                        for f in order])
    return _upright(out, ds)


@dataclass(frozen=True)
class _Instance:
    member: str
    position: float | None
    instance_number: int | None


def _series_instances(ref: ImageRef, open_: Callable[..., IO[bytes]]) -> list[_Instance]:
    """The DICOM files of a series, ordered by position along the normal, else by number."""
    instances: list[_Instance] = []
    skipped: list[str] = []
    normal: np.ndarray | None = None
    for member in series_members(ref):
        label = _label(ref, member)
        try:
            ds, _ = _dcmread(open_, member, label, header_only=True)
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
        instances.append(_Instance(member, position, None if number == -1 else number))
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


def read_dicom(ref: ImageRef, slice_index: SliceIndex = None,
               voi: bool = True) -> np.ndarray:
    """Read a DICOM file, zip member, multi-frame file or multi-file series as grey levels.

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
    with opener(ref) as open_:
        if not ref.is_series:
            return _read_one_file(ref, open_, None, slice_index, voi)
        instances = _series_instances(ref, open_)
        if len(instances) == 1:
            return _read_one_file(ref, open_, instances[0].member, slice_index, voi)
        index = resolve_slice_index(slice_index, len(instances), ref.path)
        chosen = instances if index is None else [instances[index]]
        slices = []
        for inst in chosen:
            slices.append(_read_one_file(ref, open_, inst.member, None, voi))
        if index is not None:
            return slices[0]
        shapes = {s.shape for s in slices}
        if len(shapes) > 1:
            raise ImageReadError(ref.path, f"the series' slices differ in size {sorted(shapes)}; "
                                 "read one slice at a time with slice_index")
        return np.stack(slices)
