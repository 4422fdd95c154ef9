"""One DICOM frame to float32 grey levels, written into a preallocated array block by block.

Every value comes from pydicom's own transforms (:func:`pydicom.pixels.apply_modality_lut`,
:func:`pydicom.pixels.apply_voi_lut`, :func:`pydicom.pixels.apply_color_lut`). They work
element by element but return float64 copies of their whole input, so they are applied to
blocks of :data:`BLOCK_PIXELS` pixels and each block is cast into its place in the result:
the float64 temporaries stay small whatever the image size, and the result is the same as
transforming the whole frame at once. Display orientation (:func:`orientation`) is a view of
the result, so turning a film upright costs no copy either.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array

from covidimg.errors import ImageReadError, MissingCodecError
from covidimg.imaging.pixel_limits import too_large_for_memory

__all__ = ["BLOCK_PIXELS", "COLOUR", "Orientation", "decode", "fill_grey", "orientation",
           "stored_view"]

#: Pixels transformed at a time (float64 temporaries of 2 MiB each).
BLOCK_PIXELS = 2**18
#: Photometric interpretations turned into luminance.
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR")
_CHEST_BODY_PARTS = ("", "CHEST", "THORAX", "LUNG", "TORSO", "CHEST_TO_PELVIS")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


class Orientation(NamedTuple):
    """How a stored frame becomes the displayed one: transpose, then flip rows / columns."""

    swap: bool = False
    flip_rows: bool = False
    flip_columns: bool = False

    def display_shape(self, rows: int, columns: int) -> tuple[int, int]:
        return (columns, rows) if self.swap else (rows, columns)


def orientation(ds: Dataset) -> Orientation:
    """The turn that brings a projection radiograph to the frontal viewing convention.

    Patient Orientation (0020,0020) names the patient direction of the image's rows (left →
    right) and columns (top → bottom). A frontal film is viewed with rows towards the
    patient's left (``L``) and columns towards the feet (``F``); a film stored mirrored
    (``R``), upside down (``H``) or rotated a quarter turn (``F\\L``) is flipped or transposed
    back. Only chest films are turned (Body Part Examined empty or a chest term): images with
    an Image Orientation (Patient) — CT, MR —, laterals (rows towards ``A``/``P``) and other
    body parts are left as stored.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> from covidimg.imaging.dicom_frames import orientation
    >>> ds = Dataset()
    >>> ds.PatientOrientation = ["R", "H"]
    >>> orientation(ds)
    Orientation(swap=False, flip_rows=True, flip_columns=True)
    """
    if "ImageOrientationPatient" in ds:
        return Orientation()
    body_part = str(ds.get("BodyPartExamined", "") or "").strip().upper()
    if body_part not in _CHEST_BODY_PARTS:
        return Orientation()
    value = ds.get("PatientOrientation")
    if value is None or isinstance(value, str) or len(value) != 2:
        return Orientation()
    row, col = (str(v).strip().upper()[:1] for v in value)
    swap = row in ("H", "F") and col in ("L", "R")
    if swap:
        row, col = col, row
    if row not in ("L", "R") or col not in ("H", "F"):
        return Orientation()
    return Orientation(swap, flip_rows=col == "H", flip_columns=row == "R")


def stored_view(display: np.ndarray, turn: Orientation) -> np.ndarray:
    """A view of ``display`` (one frame, or frames on the first axis) in stored order:
    writing the stored frame into it fills ``display`` in display orientation."""
    view = display
    if turn.flip_columns:
        view = view[..., ::-1]
    if turn.flip_rows:
        view = view[..., ::-1, :]
    if turn.swap:
        view = np.swapaxes(view, -1, -2)
    return view


def decode(ds: Dataset, label: str, index: int | None = None) -> np.ndarray:
    """pydicom's decoder (all frames, or frame ``index``), its failures as ImageReadError."""
    try:
        return pixel_array(ds, index=index)
    except MissingCodecError:
        raise
    except MemoryError:
        raise too_large_for_memory(label) from None
    except (ValueError, RuntimeError, NotImplementedError, AttributeError, KeyError,
            TypeError, OSError) as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", syntax)
        raise ImageReadError(label, f"pixel data cannot be decoded (transfer syntax {name}): "
                             f"{type(exc).__name__}: {exc}") from exc


class _VoiFailed(Exception):
    """apply_voi_lut refused the header's VOI: the frame is redone without it."""


def _fill(arr: np.ndarray, fds: Dataset, photometric: str, voi: bool, ds: Dataset,
          target: np.ndarray, with_range: bool) -> tuple[float, float]:
    """Write the transformed frame into ``target`` block by block; return its finite range
    when ``with_range`` (else ``(inf, -inf)``)."""
    per_row = max(1, int(np.prod(arr.shape[1:], dtype=np.int64)))
    step = max(1, BLOCK_PIXELS // per_row)
    low, high = np.inf, -np.inf
    for start in range(0, arr.shape[0], step):
        block = arr[start:start + step]
        if photometric in COLOUR:
            if photometric == "PALETTE COLOR":
                block = apply_color_lut(block, ds)
            target[start:start + step] = block.astype(np.float64)[..., :3] @ _LUMA
            continue
        values = apply_modality_lut(block, fds)
        if voi:
            try:
                values = apply_voi_lut(values, fds, index=0, prefer_lut=True)
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise _VoiFailed(exc) from exc
        written = target[start:start + step]
        written[...] = values
        if not with_range:
            continue
        finite = written[np.isfinite(written)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return low, high


def fill_grey(arr: np.ndarray, fds: Dataset, photometric: str, voi: bool, label: str,
              ds: Dataset, target: np.ndarray) -> None:
    """Write one decoded frame into ``target`` as float32 grey levels, air dark.

    ``fds`` is the frame's transform header (see ``dicom_pixels._frame_dataset``); ``ds`` the
    whole dataset (for a palette). Grey images go through the modality LUT, then — with
    ``voi`` — the header's VOI LUT or window (one the header cannot apply is skipped with a
    warning); MONOCHROME1 and a Presentation LUT Shape of INVERSE are inverted within the
    frame's finite range. Colour becomes luminance (ITU-R 601 weights).
    """
    if arr.shape[:2] != target.shape[:2]:
        raise ImageReadError(label, f"the decoded frame is {arr.shape[0]} x {arr.shape[1]} "
                             f"pixels, but the header says {target.shape[0]} x "
                             f"{target.shape[1]}; fix or re-export the file")
    use_voi = voi and photometric not in COLOUR and \
        any(k in fds for k in ("VOILUTSequence", "WindowCenter"))
    shape = str(fds.get("PresentationLUTShape", "") or "").strip().upper()
    invert = photometric not in COLOUR and (photometric == "MONOCHROME1" or shape == "INVERSE")
    try:
        low, high = _fill(arr, fds, photometric, use_voi, ds, target, invert)
    except _VoiFailed as failed:
        warnings.warn(f"{label}: the header's VOI LUT/window cannot be applied "
                      f"({failed.__cause__}); showing the image without it", UserWarning,
                      stacklevel=5)
        low, high = _fill(arr, fds, photometric, False, ds, target, invert)
    if invert and low <= high:
        np.subtract(np.float32(low) + np.float32(high), target, out=target)
