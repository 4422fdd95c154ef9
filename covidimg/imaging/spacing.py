"""The physical size of an image's pixels: ``pixel_spacing`` (mm between rows and columns).

DICOM states it in one of two elements, and they mean different things:

* **PixelSpacing** (0028,0030): the spacing in the patient (CT, MR; a radiograph whose
  spacing was calibrated or corrected for magnification);
* **ImagerPixelSpacing** (0018,1164): the spacing at the detector face of a projection
  radiograph. An object between the source and the detector is magnified onto it (by about
  10 % for a chest PA film), so a distance measured with it is the distance at the detector.

The rule (one place): PixelSpacing, else ImagerPixelSpacing, from the image's DICOM header (an
enhanced multi-frame file's shared Pixel Measures too). Both elements list the row spacing
(between rows, vertical) first; a radiograph the reader turns a quarter turn to the viewing
convention gets them swapped, so :class:`PixelSpacing` always describes the image as
displayed. The images row's ``pixel_spacing_row`` / ``pixel_spacing_col`` (the loaders copy
them from the same header, as stored) are used only when there is no header to read: an image
that is not DICOM, or a DICOM file not at hand (an IDC series not downloaded). Else none (PNG,
NIfTI, a DICOM file without either element).

Only the spacing and orientation elements are read from a header (pydicom's
``specific_tags``), never identifying fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from covidimg.errors import ImageReadError
from covidimg.imaging.refs import ImageRef, image_ref, opener

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["SPACING_SOURCES", "PixelSpacing", "pixel_spacing", "spacing_of_dataset"]

#: What a :class:`PixelSpacing` can come from, and how a reading is described to a user.
SPACING_SOURCES = {
    "PixelSpacing": "PixelSpacing",
    "ImagerPixelSpacing": "ImagerPixelSpacing (at the detector)",
    "images table": "the images table's pixel_spacing_row/col",
}
#: The header elements read: the spacings, and what decides the display orientation.
_TAGS = ("PixelSpacing", "ImagerPixelSpacing", "SharedFunctionalGroupsSequence",
         "ImageOrientationPatient", "BodyPartExamined", "PatientOrientation")


@dataclass(frozen=True)
class PixelSpacing:
    """Millimetres between the rows and between the columns of an image as displayed.

    Attributes
    ----------
    row
        Distance between the centres of two neighbouring rows (vertical), in mm.
    column
        Distance between the centres of two neighbouring columns (horizontal), in mm.
    source
        ``"PixelSpacing"``, ``"ImagerPixelSpacing"`` or ``"images table"``
        (:data:`SPACING_SOURCES` says each in words).
    """

    row: float
    column: float
    source: str

    @property
    def description(self) -> str:
        """The source in words, e.g. ``"ImagerPixelSpacing (at the detector)"``."""
        return SPACING_SOURCES[self.source]

    def distance_mm(self, dx: float, dy: float) -> float:
        """The length in mm of a step of ``dx`` columns and ``dy`` rows.

        Examples
        --------
        >>> from covidimg.imaging.spacing import PixelSpacing
        >>> PixelSpacing(0.5, 0.25, "PixelSpacing").distance_mm(8, 3)
        2.5
        """
        return math.hypot(dx * self.column, dy * self.row)


def _positive_pair(value: Any) -> tuple[float, float] | None:
    try:
        pair = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if len(pair) != 2 or not all(math.isfinite(v) and v > 0 for v in pair):
        return None
    return pair[0], pair[1]


def _from_row(image: Any) -> PixelSpacing | None:
    getter = getattr(image, "get", None)
    if not callable(getter):
        return None
    pair = _positive_pair([getter("pixel_spacing_row"), getter("pixel_spacing_col")])
    return None if pair is None else PixelSpacing(pair[0], pair[1], "images table")


def spacing_of_dataset(ds: Dataset) -> PixelSpacing | None:
    """The spacing a DICOM dataset states (PixelSpacing, else ImagerPixelSpacing), turned as
    :func:`covidimg.imaging.read_image` turns the image; ``None`` when it states neither.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> from covidimg.imaging.spacing import spacing_of_dataset
    >>> ds = Dataset(); ds.ImagerPixelSpacing = [0.2, 0.15]
    >>> spacing_of_dataset(ds)
    PixelSpacing(row=0.2, column=0.15, source='ImagerPixelSpacing')
    """
    from covidimg.imaging.dicom_frames import orientation  # pydicom, on first use

    found: tuple[tuple[float, float], str] | None = None
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        pair = _positive_pair(ds.get(keyword))
        if pair is None and keyword == "PixelSpacing":
            shared = ds.get("SharedFunctionalGroupsSequence")
            measures = shared[0].get("PixelMeasuresSequence") if shared else None
            pair = _positive_pair(measures[0].get(keyword)) if measures else None
        if pair is not None:
            found = (pair, keyword)
            break
    if found is None:
        return None
    (row, column), keyword = found
    if orientation(ds).swap:
        row, column = column, row
    return PixelSpacing(row, column, keyword)


def pixel_spacing(image: Any) -> PixelSpacing | None:
    """The pixel spacing of an image (an ``images`` row, a path or ``archive.zip::member``).

    The DICOM header's PixelSpacing, else its ImagerPixelSpacing (of the first readable file
    of a series), as displayed; the row's ``pixel_spacing_row`` / ``pixel_spacing_col`` when
    both are filled and there is no header to read (not DICOM, or the file is not at hand);
    else ``None`` (PNG, NIfTI, or a header without either).

    Raises
    ------
    covidimg.errors.ImageReadError
        When the DICOM header cannot be read (the file is missing or damaged) and the row
        states no spacing.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from covidimg.imaging.spacing import pixel_spacing
    >>> pixel_spacing(get_testdata_file("CT_small.dcm"))
    PixelSpacing(row=0.661468, column=0.661468, source='PixelSpacing')
    """
    from_row = _from_row(image)
    try:
        ref = image_ref(image)
        return _from_header(ref) if ref.format == "dicom" else from_row
    except ImageReadError:
        if from_row is None:
            raise
        return from_row


def _from_header(ref: ImageRef) -> PixelSpacing | None:
    import pydicom  # on first use: the viewer imports this module before any image is read
    from pydicom.errors import InvalidDicomError

    from covidimg.imaging.dicom_pixels import _selected_members

    member = _selected_members(ref)[0] if ref.is_series else None
    label = ref.label(member)
    try:
        with opener(ref) as open_, open_(member, header_only=True) as fh:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, specific_tags=list(_TAGS))
    except ImageReadError:
        raise
    except (OSError, ValueError, EOFError, KeyError, InvalidDicomError) as exc:
        raise ImageReadError(label, f"the DICOM header cannot be read for its pixel spacing "
                             f"({type(exc).__name__}: {exc}); download the file again") from exc
    return spacing_of_dataset(ds)
