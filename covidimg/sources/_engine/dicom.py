"""The shared DICOM header reader every DICOM-based source loader uses.

(Why this module is over 600 lines: it has one job, reading a header without trusting it; the
value checks that keep a corrupt or identifying value out of the tables (VR lengths, control
characters, the tag allow-list) are shared by the file, zip-member and DICOM-JSON readers and
kept next to them so that no reader can skip them. Turning headers into rows lives in
:mod:`covidimg.sources._engine.series`.)

Reads the header fields the harmonized cohort needs — patient id, study / series / SOP instance
UIDs, modality, view, study date and time, rows, columns, photometric interpretation, sex, age,
instance number, slice position, descriptions and transfer syntax — without pixel data, from

* a file path or an open binary file (:func:`read_header`),
* an open zip member (members are labelled ``"/abs/archive.zip::member/path.dcm"``; the
  archive itself is walked, safely and within size limits, by
  :func:`covidimg.sources._engine.archives.iter_zip_headers`),
* a DICOM-JSON metadata file as NCCID ships them, whose binary values and VOI LUT Sequence are
  nulled (:func:`covidimg.sources._engine.dicom_json.read_header_json`).

:func:`covidimg.sources._engine.series.series_table` turns headers into ``images`` rows: one row
per radiograph instance (CR, DX) and one row per CT / MR series (grouped by Series Instance
UID), with ``n_instances`` and ``path`` = the series folder (``"/abs/archive.zip::folder/"``
inside a zip).

Privacy: only the tags listed in :data:`HEADER_TAGS` are ever read from a file (pydicom's
``specific_tags``), and only those are taken from a DICOM-JSON object, so identifying fields
(PatientName, PatientBirthDate, PatientAddress, InstitutionName, InstitutionAddress,
ReferringPhysicianName, OtherPatientIDs, ...) never enter memory as header values, let alone a
table. The free-text descriptions (StudyDescription, SeriesDescription, ProtocolName) are read
to derive the harmonized exam label (:attr:`DicomHeader.exam`); they reach ``images`` only with
``descriptions="keep"`` (:mod:`covidimg.sources._engine.free_text`) and are never written to
the index cache.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import math
import os
import re
import struct
import warnings
from collections.abc import Mapping, MutableSequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from covidimg.errors import DicomReadError
from covidimg.sources._engine.dates import parse_dicom_date, parse_dicom_time
from covidimg.sources._engine.exam import exam_label

if TYPE_CHECKING:
    import pydicom

__all__ = [
    "DESCRIPTION_FIELDS",
    "HEADER_ELEMENTS",
    "HEADER_TAGS",
    "HELPER_COLUMNS",
    "IMAGE_MODALITIES",
    "MAX_HEADER_BYTES",
    "SERIES_MODALITIES",
    "TECHNICAL_FIELDS",
    "DicomHeader",
    "DicomReadError",
    "check_pixel_data",
    "harmonize_view",
    "header_dict",
    "header_from_values",
    "header_too_long",
    "parse_age",
    "pixel_digest",
    "pixel_header_size",
    "plausible_bare_dataset",
    "read_header",
]

#: The only DICOM attributes ever read: keyword -> (tag, VR in the standard's data dictionary;
#: ``tests/test_dicom_reader.py`` checks both against pydicom's). Nothing identifying is here.
#: Written out, not looked up, so that this module imports without pydicom (~0.25 s): only
#: reading a file needs it.
HEADER_ELEMENTS: dict[str, tuple[int, str]] = {
    "SpecificCharacterSet": (0x00080005, "CS"),
    "SOPClassUID": (0x00080016, "UI"),
    "SOPInstanceUID": (0x00080018, "UI"),
    "StudyDate": (0x00080020, "DA"),
    "SeriesDate": (0x00080021, "DA"),
    "AcquisitionDate": (0x00080022, "DA"),
    "StudyTime": (0x00080030, "TM"),
    "SeriesTime": (0x00080031, "TM"),
    "AcquisitionTime": (0x00080032, "TM"),
    "Modality": (0x00080060, "CS"),
    "StudyDescription": (0x00081030, "LO"),
    "SeriesDescription": (0x0008103E, "LO"),
    "PatientID": (0x00100020, "LO"),
    "PatientSex": (0x00100040, "CS"),
    "PatientAge": (0x00101010, "AS"),
    "ProtocolName": (0x00181030, "LO"),
    "ViewPosition": (0x00185101, "CS"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "InstanceNumber": (0x00200013, "IS"),
    "ImagePositionPatient": (0x00200032, "DS"),
    "PhotometricInterpretation": (0x00280004, "CS"),
    "Rows": (0x00280010, "US"),
    "Columns": (0x00280011, "US"),
    # the equipment and acquisition (the images table's technical columns)
    "SeriesNumber": (0x00200011, "IS"),
    "Manufacturer": (0x00080070, "LO"),
    "ManufacturerModelName": (0x00081090, "LO"),
    "BodyPartExamined": (0x00180015, "CS"),
    "ImageType": (0x00080008, "CS"),
    "PixelSpacing": (0x00280030, "DS"),
    "ImagerPixelSpacing": (0x00181164, "DS"),
    "SliceThickness": (0x00180050, "DS"),
    "KVP": (0x00180060, "DS"),
    "ConvolutionKernel": (0x00181210, "SH"),
}
#: The keywords of :data:`HEADER_ELEMENTS`, in order.
HEADER_TAGS: tuple[str, ...] = tuple(HEADER_ELEMENTS)
_TAG_NUMBERS = [tag for tag, _ in HEADER_ELEMENTS.values()]
_JSON_KEYS = {f"{tag:08X}": keyword for keyword, (tag, _) in HEADER_ELEMENTS.items()}

#: Modalities that become ``images`` rows; headers of other modalities (SR, PR, OT, ...) are
#: left out of the images table (:mod:`covidimg.sources._engine.series`) and should be recorded
#: by the loader as ignored.
IMAGE_MODALITIES: tuple[str, ...] = ("CR", "DX", "CT", "MR")
#: Modalities whose instances are grouped into one row per series.
SERIES_MODALITIES: tuple[str, ...] = ("CT", "MR")
#: Extra columns :mod:`~covidimg.sources._engine.series` adds for the loader's own use
#: (deduplication, the files table); drop them before returning the images table.
HELPER_COLUMNS: tuple[str, ...] = ("sop_uids", "member_paths")

#: The most bytes any header read looks at: a reader that has not reached the pixel data (or
#: the end of the file) within them rejects the file. Classic CR / DX / CT / MR headers are
#: 2-100 KiB (a Siemens CSA or Philips private block included); parsing costs about 0.75 s
#: per MiB of element headers, so this bounds a zero-filled or endless file to a few seconds
#: instead of minutes (``docs/reliability.md``). An Enhanced multi-frame header with thousands
#: of per-frame items can exceed it; such files are rejected with a finding that says so.
MAX_HEADER_BYTES = 8 * 2**20
#: The first read of a header; it grows by doubling while the header goes on.
_FIRST_READ_BYTES = 4 * 2**10

_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
#: The header fields that are also ``images`` columns of the same name (the equipment and
#: acquisition; see :class:`DicomHeader`).
TECHNICAL_FIELDS: tuple[str, ...] = (
    "sop_class_uid", "series_number", "manufacturer", "model", "body_part", "image_type",
    "pixel_spacing_row", "pixel_spacing_col", "slice_thickness", "kvp", "convolution_kernel")
_SERIES_COLUMNS = (
    "image_uid", "patient_uid", "source", "study_uid", "series_uid", "modality", "view", "day",
    "admission_offset", "icu_admission_offset", "icu_release_offset", "death_offset", "path",
    "format", "n_instances", "rows", "columns", "study_date", "study_time", "exam",
    "photometric", "transfer_syntax", "age_years", "sex",
    *TECHNICAL_FIELDS,
)
#: The header fields that hold description texts: read to derive :attr:`DicomHeader.exam`, kept
#: in ``images`` only with ``descriptions="keep"`` and never written to the index cache.
DESCRIPTION_FIELDS: tuple[str, ...] = ("study_description", "series_description",
                                       "protocol_name")


@dataclass(frozen=True)
class DicomHeader:
    """The schema-relevant, non-identifying header fields of one DICOM instance.

    Attributes
    ----------
    path
        The file, or ``"/abs/archive.zip::member"``.
    patient_id
        Patient ID (0010,0020), as the source wrote it.
    study_uid, series_uid, sop_uid
        Study, Series and SOP Instance UIDs.
    modality
        Modality (0008,0060) as in the header (``CR``, ``DX``, ``CT``, ``MR``, ...).
    view
        Harmonized view: ``AP``, ``PA``, ``LAT``, ``AXIAL`` or ``UNKNOWN``
        (see :func:`harmonize_view`).
    study_date, study_time
        Study date and time (falling back to the series, then the acquisition date / time).
    rows, columns
        Pixel matrix size.
    photometric
        Photometric Interpretation (``MONOCHROME1`` means inverted gray levels).
    sex
        ``F``, ``M`` or ``U``.
    age_years
        Patient Age (0010,1010) in years (see :func:`parse_age`).
    instance_number
        Instance Number.
    position_z
        ImagePositionPatient[2], the slice's position along the patient's axis.
    study_description, series_description, protocol_name
        Descriptions as in the header: free text, used for :attr:`exam` and kept in ``images``
        only with ``descriptions="keep"`` (:data:`DESCRIPTION_FIELDS`; ``None`` in a header
        taken from the index cache, which never stores them).
    transfer_syntax
        Transfer Syntax UID from the file meta information (``None`` for DICOM-JSON).
    exam
        The harmonized exam label (:func:`covidimg.sources._engine.exam.exam_label` of the
        modality, the view and the descriptions); derived when not given.
    sop_class_uid, series_number
        SOP Class UID and Series Number.
    manufacturer, model
        Manufacturer (0008,0070) and Manufacturer's Model Name (0008,1090).
    body_part
        Body Part Examined (0018,0015), as written (``CHEST``, ``THORAX``, ...).
    image_type
        Image Type (0008,0008), its values joined by ``\\`` (``ORIGINAL\\PRIMARY\\AXIAL``).
    pixel_spacing_row, pixel_spacing_col
        Millimetres between rows and between columns as stored: PixelSpacing (0028,0030),
        else ImagerPixelSpacing (0018,1164) (the spacing at a radiograph's detector).
    slice_thickness, kvp
        Slice Thickness (mm) and KVP (kV); ``None`` unless a positive finite number.
    convolution_kernel
        Convolution Kernel (0018,1210), a CT's reconstruction kernel (values joined by ``\\``).
    """

    path: str
    patient_id: str | None
    study_uid: str | None
    series_uid: str | None
    sop_uid: str | None
    modality: str | None
    view: str
    study_date: dt.date | None
    study_time: dt.time | None
    rows: int | None
    columns: int | None
    photometric: str | None
    sex: str
    age_years: float | None
    instance_number: int | None
    position_z: float | None
    study_description: str | None
    series_description: str | None
    transfer_syntax: str | None
    protocol_name: str | None = None
    exam: str = ""
    sop_class_uid: str | None = None
    series_number: int | None = None
    manufacturer: str | None = None
    model: str | None = None
    body_part: str | None = None
    image_type: str | None = None
    pixel_spacing_row: float | None = None
    pixel_spacing_col: float | None = None
    slice_thickness: float | None = None
    kvp: float | None = None
    convolution_kernel: str | None = None

    def __post_init__(self) -> None:
        if not self.exam:  # the frozen dataclass's field, set once here
            object.__setattr__(self, "exam", _exam_of(self.modality, self.view,
                                                      self.study_description,
                                                      self.series_description,
                                                      self.protocol_name))

    def without_descriptions(self) -> DicomHeader:
        """This header with its description texts (:data:`DESCRIPTION_FIELDS`) as ``None``; its
        :attr:`exam` label is kept."""
        if all(getattr(self, name) is None for name in DESCRIPTION_FIELDS):
            return self
        header = object.__new__(DicomHeader)  # the frozen dataclass's fields, set directly
        header.__dict__.update(self.__dict__)
        header.__dict__.update(dict.fromkeys(DESCRIPTION_FIELDS))
        return header


@functools.lru_cache(maxsize=4096)
def _exam_of(modality: str | None, view: str, *descriptions: str | None) -> str:
    """:func:`exam_label`, remembered: a tree repeats a few descriptions many times."""
    return exam_label(modality, view, *descriptions)


# ---------------------------------------------------------------------- value parsing
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([YMWD])?\s*$", re.IGNORECASE)
_AGE_FACTOR = {"Y": 1.0, "M": 1.0 / 12.0, "W": 7.0 / 365.25, "D": 1.0 / 365.25}


def parse_age(value: object) -> float | None:
    """Parse a DICOM Patient Age into years.

    Accepts the standard ``nnnY`` / ``nnnM`` / ``nnnW`` / ``nnnD`` forms and bare numbers
    (``"81"``, read as years). Anything else gives ``None``.

    Examples
    --------
    >>> from covidimg.sources._engine.dicom import parse_age
    >>> parse_age("065Y"), parse_age("81"), parse_age("030M"), parse_age("")
    (65.0, 81.0, 2.5, None)
    """
    if value is None:
        return None
    match = _AGE.match(str(value))
    if not match:
        return None
    unit = (match.group(2) or "Y").upper()
    return float(match.group(1)) * _AGE_FACTOR[unit]


_VIEW_POSITION = {
    "AP": "AP", "PA": "PA", "LL": "LAT", "RL": "LAT", "LAT": "LAT", "LATERAL": "LAT",
    "LLD": "UNKNOWN", "RLD": "UNKNOWN",
}
_VIEW_WORDS = {
    "AP": "AP", "PA": "PA", "LAT": "LAT", "LATERAL": "LAT", "LL": "LAT", "RL": "LAT",
    "PORT": "AP", "PORTABLE": "AP",
}


def harmonize_view(modality: str | None, view_position: str | None,
                   *descriptions: str | None) -> str:
    """Return the harmonized view: ``AP``, ``PA``, ``LAT``, ``AXIAL`` or ``UNKNOWN``.

    CT and MR series are ``AXIAL``. For radiographs the View Position (0018,5101) decides; when
    it is empty or unusual, each description is searched in turn for the words ``PA``, ``AP``,
    ``LAT`` / ``LATERAL`` / ``LL`` / ``RL`` and ``PORT`` / ``PORTABLE`` (a portable film is AP).
    A description naming two different views (``"PA AND LATERAL"``) decides nothing.

    Examples
    --------
    >>> from covidimg.sources._engine.dicom import harmonize_view
    >>> harmonize_view("CR", "PA"), harmonize_view("DX", "", "XR PORT CHEST 1V")
    ('PA', 'AP')
    >>> harmonize_view("CR", None, "CHEST PA AND LATERAL"), harmonize_view("CT", None)
    ('UNKNOWN', 'AXIAL')
    """
    if (modality or "").upper() in SERIES_MODALITIES:
        return "AXIAL"
    position = (view_position or "").strip().upper()
    if _VIEW_POSITION.get(position, "UNKNOWN") != "UNKNOWN":
        return _VIEW_POSITION[position]
    for text in descriptions:
        words = _NOT_WORD.split((text or "").upper())
        found = {_VIEW_WORDS[w] for w in words if w in _VIEW_WORDS}
        if len(found) == 1:
            return found.pop()
    return "UNKNOWN"


_NOT_WORD = re.compile(r"[^A-Z0-9]+")


def _text(value: object) -> str | None:
    if type(value) is str:  # the common case, first (same result as below)
        return value.strip().strip("\x00").strip() or None
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, list | tuple | MutableSequence):   # pydicom's MultiValue too
        value = "\\".join(str(v) for v in value)
    text = str(value).strip().strip("\x00").strip()
    return text or None


#: Maximum characters per value of each text VR (PS3.5 table 6.2-1).
_MAX_CHARS = {"AE": 16, "AS": 4, "CS": 16, "DA": 8, "DS": 16, "DT": 26, "IS": 12, "LO": 64,
              "SH": 16, "TM": 16, "UI": 64}
#: Fields that identify a file; an invalid value rejects the file instead of reading as missing.
_IDENTITY_FIELDS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                    "Modality")
_CONTROL = re.compile(r"[\x00-\x1a\x1c-\x1f\x7f]")
#: Dictionary VR of each header tag.
_VR_OF = {keyword: vr for keyword, (_, vr) in HEADER_ELEMENTS.items()}


#: Each header tag's most characters per value (``None``: its VR sets no limit).
_LIMIT_OF = {keyword: _MAX_CHARS.get(vr) for keyword, vr in _VR_OF.items()}


def _value_problem(keyword: str, text: str) -> str | None:
    """Why ``text`` cannot be a value of ``keyword`` (never quoting it), or ``None``.

    A corrupt length makes the parser swallow the following elements into one value, so a
    value that is too long for its VR, or holds control characters, is never trusted: it may
    carry other elements' bytes, identifying ones included. UIDs are identifiers: a UID of
    other characters than digits and dots (hexadecimal ones are found in real CTs) is read as
    pydicom reads it, as long as it fits the VR's 64 characters.
    """
    vr = _VR_OF[keyword]
    limit = _MAX_CHARS.get(vr)
    if _CONTROL.search(text):
        return f"its {vr} value holds control characters"
    if limit is not None and len(text) > limit and \
            any(len(p.strip()) > limit for p in text.split("\\")):
        return f"its {vr} value is longer than the {limit} characters the VR allows"
    return None


def _field(ds: pydicom.Dataset | Mapping[str, Any], keyword: str, path: str) -> str | None:
    """A text field; an invalid value reads as missing, or rejects the file for the fields
    that identify it (:data:`_IDENTITY_FIELDS`)."""
    text = _text(_get(ds, keyword))
    if text is None:
        return None
    limit = _LIMIT_OF.get(keyword)
    if limit is not None and len(text) <= limit and _CONTROL.search(text) is None:
        return text   # the common case, decided without looking the VR up
    problem = _value_problem(keyword, text)
    if problem is None:
        return text
    if keyword in _IDENTITY_FIELDS:
        raise DicomReadError(path, f"{keyword} cannot be trusted: {problem}; an element "
                                   "length is probably corrupt — download the file again")
    return None


def _int(value: object) -> int | None:
    try:
        return None if value in (None, "") else int(float(str(value)))
    except (TypeError, ValueError):
        return None


def _positive(value: object) -> float | None:
    """A positive finite number (a DS value), or ``None``."""
    try:
        number = float(str(value).strip()) if value is not None else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and math.isfinite(number) and number > 0 else None


def _spacing(ds: pydicom.Dataset | Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(row, column) spacing in mm: PixelSpacing, else ImagerPixelSpacing, each only when it
    holds two positive finite numbers."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = _get(ds, keyword)
        if isinstance(value, str | bytes):
            value = (value.decode("ascii", "replace") if isinstance(value, bytes)
                     else value).split("\\")
        try:
            pair = [_positive(v) for v in value] if value is not None else []
        except TypeError:   # not a sequence of values
            continue
        if len(pair) == 2 and None not in pair:
            return pair[0], pair[1]
    return None, None


def _sex(value: object) -> str:
    text = (_text(value) or "").upper()
    return {"F": "F", "FEMALE": "F", "M": "M", "MALE": "M"}.get(text, "U")


def _get(ds: pydicom.Dataset | Mapping[str, Any], keyword: str) -> Any:
    if type(ds) is dict or isinstance(ds, Mapping):  # values decoded by keyword (the scanner)
        return ds.get(keyword)
    try:
        elem = ds[keyword] if keyword in ds else None
    except Exception:  # a malformed element reads as missing, never a crash
        return None
    if elem is None:
        return None
    try:
        return elem.value
    except Exception:
        return None


def _header_from_dataset(ds: pydicom.Dataset | Mapping[str, Any], path: str,
                         transfer_syntax: str | None) -> DicomHeader:
    modality = _field(ds, "Modality", path)
    modality = modality.upper() if modality else None
    position = _get(ds, "ImagePositionPatient")
    try:
        position_z = float(position[2]) if position is not None and len(position) >= 3 else None
    except (TypeError, ValueError, IndexError):
        position_z = None
    date = next((d for d in (parse_dicom_date(_get(ds, k)) for k in
                             ("StudyDate", "SeriesDate", "AcquisitionDate")) if d), None)
    time = next((t for t in (parse_dicom_time(_field(ds, k, path)) for k in
                             ("StudyTime", "SeriesTime", "AcquisitionTime")) if t), None)
    study_description = _field(ds, "StudyDescription", path)
    series_description = _field(ds, "SeriesDescription", path)
    protocol_name = _field(ds, "ProtocolName", path)
    spacing_row, spacing_col = _spacing(ds)
    return DicomHeader(
        path=path,
        patient_id=_field(ds, "PatientID", path),
        study_uid=_field(ds, "StudyInstanceUID", path),
        series_uid=_field(ds, "SeriesInstanceUID", path),
        sop_uid=_field(ds, "SOPInstanceUID", path),
        modality=modality,
        view=harmonize_view(modality, _field(ds, "ViewPosition", path), series_description,
                            study_description, protocol_name),
        study_date=date,
        study_time=time,
        rows=_int(_get(ds, "Rows")),
        columns=_int(_get(ds, "Columns")),
        photometric=_field(ds, "PhotometricInterpretation", path),
        sex=_sex(_field(ds, "PatientSex", path)),
        age_years=parse_age(_field(ds, "PatientAge", path)),
        instance_number=_int(_get(ds, "InstanceNumber")),
        position_z=position_z,
        study_description=study_description,
        series_description=series_description,
        transfer_syntax=transfer_syntax,
        protocol_name=protocol_name,
        sop_class_uid=_field(ds, "SOPClassUID", path),
        series_number=_int(_get(ds, "SeriesNumber")),
        manufacturer=_field(ds, "Manufacturer", path),
        model=_field(ds, "ManufacturerModelName", path),
        body_part=_field(ds, "BodyPartExamined", path),
        image_type=_field(ds, "ImageType", path),
        pixel_spacing_row=spacing_row,
        pixel_spacing_col=spacing_col,
        slice_thickness=_positive(_get(ds, "SliceThickness")),
        kvp=_positive(_get(ds, "KVP")),
        convolution_kernel=_field(ds, "ConvolutionKernel", path),
    )


def _check_is_image_object(ds: pydicom.Dataset | Mapping[str, Any], path: str,
                           media_class: str | None) -> None:
    if media_class == _DICOMDIR_CLASS:
        raise DicomReadError(path, "this is a DICOMDIR (media directory index), not an image; "
                                   "the images it lists are read from their own files")
    if not (_text(_get(ds, "SOPInstanceUID")) or _text(_get(ds, "StudyInstanceUID"))):
        raise DicomReadError(path, "no SOP Instance UID (0008,0018) and no Study Instance UID "
                                   "(0020,000D); the file is not a DICOM image. Check that it "
                                   "was downloaded completely")


def header_from_values(values: Mapping[str, Any], path: str, *,
                       transfer_syntax: str | None = None,
                       media_class: str | None = None) -> DicomHeader:
    """Build a header from element values already decoded, keyed by keyword.

    For readers that decode the :data:`HEADER_TAGS` elements themselves (the fast byte scanner
    of :mod:`covidimg.sources._engine.header_scan`); the fields are derived exactly as
    :func:`read_header` derives them. Values are what pydicom's ``DataElement.value`` would
    hold: ``str`` (or a list of ``str`` for several values), ``int`` for ``US``.

    Raises
    ------
    DicomReadError
        If the values are a DICOMDIR's, or hold neither SOP nor Study Instance UID.

    Examples
    --------
    >>> from covidimg.sources._engine.dicom import header_from_values
    >>> h = header_from_values({"Modality": "CR", "SOPInstanceUID": "2.25.1",
    ...                         "ViewPosition": "PA", "PatientAge": "065Y"}, "x.dcm")
    >>> h.modality, h.view, h.age_years
    ('CR', 'PA', 65.0)
    """
    _check_is_image_object(values, path, media_class)
    return _header_from_dataset(values, path, transfer_syntax)


# ---------------------------------------------------------------------- pixel data
_PIXEL_DATA = 0x7FE00010
_IMPLICIT_SYNTAX = "1.2.840.10008.1.2"
_BIG_ENDIAN_SYNTAX = "1.2.840.10008.1.2.2"
_DEFLATED_SYNTAX = "1.2.840.10008.1.2.1.99"
#: The VRs a pixel data element is stored with in explicit VR (4-byte length, 12-byte header).
_PIXEL_VRS = (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN")
_UNDEFINED_LENGTH = 0xFFFFFFFF


def pixel_header_size(data: bytes, pos: int, syntax: str | None) -> int | None:
    """The size of the header of the pixel data element at ``pos`` (8 in implicit VR, 12 in
    explicit VR), or ``None`` when it is stored in a way no check is made for."""
    if syntax == _IMPLICIT_SYNTAX:
        return 8
    if syntax is None and data[pos + 4:pos + 6] not in _PIXEL_VRS:
        return 8  # no file meta: pydicom guessed implicit VR
    return 12 if data[pos + 4:pos + 6] in _PIXEL_VRS else None


def check_pixel_data(label: str, modality: str | None, data: bytes, pos: int | None, *,
                     syntax: str | None, file_size: int | None) -> None:
    """Refuse an image file whose pixel data is missing or cut short.

    Shared by every header reader (pydicom's and the byte scanner's), so a file is refused, and
    refused with the same words, whichever reads it. Only files of an image modality
    (:data:`IMAGE_MODALITIES`) are checked: an SR or a presentation state holds no image and
    is left out of the images table anyway.

    Parameters
    ----------
    label
        The file, as errors name it.
    modality
        The header's Modality.
    data
        The file's first bytes, at least through the pixel data element's header.
    pos
        Where in ``data`` the pixel data element starts (where the header reader stopped), or
        ``None`` when the header ran to the end of the file without one.
    syntax
        The transfer syntax UID (``None`` for a file without file meta).
    file_size
        The file's size in bytes, when known (else only a missing element is refused).

    Raises
    ------
    DicomReadError
        No Pixel Data element, an empty one, or a file that ends before the bytes the element
        declares (uncompressed pixel data), or inside the element's header.

    Examples
    --------
    >>> from covidimg.sources._engine.dicom import check_pixel_data
    >>> check_pixel_data("x.dcm", "SR", b"", None, syntax=None, file_size=0)  # not an image
    >>> check_pixel_data("x.dcm", "CT", b"", None, syntax=None, file_size=0)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    covidimg.errors.DicomReadError: ...x.dcm: a CT file without pixel data (no Pixel Data ...
    """
    if modality not in IMAGE_MODALITIES or syntax == _DEFLATED_SYNTAX:
        return  # a deflated dataset's positions are not the file's: nothing to compare
    if pos is None:
        raise DicomReadError(label, f"a {modality} file without pixel data (no Pixel Data "
                                    "element (7FE0,0010)): it holds a header only, there is "
                                    "no image to index; download the complete file, or leave "
                                    "it out")
    head = pixel_header_size(data, pos, syntax)
    if head is None:
        return
    if pos + head > len(data):
        raise DicomReadError(label, "the file ends inside the header of its Pixel Data "
                                    "element: it is truncated; download it again")
    fmt = ">I" if syntax == _BIG_ENDIAN_SYNTAX else "<I"
    length = struct.unpack_from(fmt, data, pos + head - 4)[0]
    if length == 0:
        raise DicomReadError(label, f"a {modality} file whose Pixel Data element is empty: "
                                    "there is no image to index; download the complete file, "
                                    "or leave it out")
    if file_size is None:
        return
    needed = pos + head + (1 if length == _UNDEFINED_LENGTH else length)
    if needed > file_size:
        shown = "" if length == _UNDEFINED_LENGTH else f" of the {length} its element declares"
        raise DicomReadError(label, f"pixel data is truncated: the file ends after "
                                    f"{max(file_size - pos - head, 0)} bytes{shown}; download "
                                    "it again")


# ---------------------------------------------------------------------- readers
def read_header(source: str | os.PathLike[str] | BinaryIO, *,
                label: str | None = None, size: int | None = None) -> DicomHeader:
    """Read the header of one DICOM file without its pixel data.

    Only the tags in :data:`HEADER_TAGS` are read, so identifying fields never enter memory.
    Files without the 128-byte preamble and ``DICM`` marker are read too, when their first
    bytes are a DICOM element (:func:`plausible_bare_dataset`) and they hold a SOP Instance UID
    or Study Instance UID. At most :data:`MAX_HEADER_BYTES` are read, in a growing prefix.

    Parameters
    ----------
    source
        A path, or an open binary file (e.g. a zip member opened with ``ZipFile.open``, or an
        fsspec file), read from its current position.
    label
        The path to record in :attr:`DicomHeader.path` and in errors (e.g.
        ``"/abs/archive.zip::member.dcm"``). Defaults to the path, or the file object's name.
    size
        The size in bytes of a file object from its current position (a zip member's
        ``file_size``); defaults to the object's ``size`` attribute (fsspec files) or its file
        descriptor's size. Used to refuse pixel data cut short
        (:func:`check_pixel_data`); unknown, only a missing Pixel Data element is refused.

    Returns
    -------
    DicomHeader

    Raises
    ------
    DicomReadError
        Naming the file and what is wrong (not DICOM, truncated, a DICOMDIR, an image file
        without pixel data or with less than its header declares, ...).

    Examples
    --------
    >>> import io, datetime, numpy as np
    >>> from covidimg.demo.dicom_writer import write_dicom
    >>> from covidimg.sources._engine.dicom import read_header
    >>> buf = io.BytesIO()
    >>> write_dicom(buf, np.zeros((8, 8), np.float32), modality="CR", patient_id="1234",
    ...             study_uid="2.25.1", series_uid="2.25.2", sop_uid="2.25.3",
    ...             study_date=datetime.date(2020, 3, 1), view="PA", age_years=65)
    >>> _ = buf.seek(0)
    >>> h = read_header(buf, label="memory.dcm")
    >>> h.patient_id, h.view, h.rows, h.age_years, h.study_date
    ('1234', 'PA', 8, 65.0, datetime.date(2020, 3, 1))
    """
    if label is None:
        label = os.fspath(source) if isinstance(source, str | os.PathLike) else \
            str(getattr(source, "name", "<file object>"))
    if not isinstance(source, str | os.PathLike):
        return _read_header_bounded(source, label, _size_of(source) if size is None else size)
    try:
        handle = open(source, "rb")  # closed below; opening errors are named first
    except FileNotFoundError:
        raise DicomReadError(label, "the file does not exist") from None
    except PermissionError as exc:
        raise DicomReadError(label, f"permission denied ({exc.strerror}); make the file "
                                    "readable (chmod +r) and load again") from exc
    except OSError as exc:
        raise DicomReadError(label, f"cannot open the file ({exc.strerror or exc})") from exc
    with handle:
        return _read_header_bounded(handle, label, _size_of(handle))


def _size_of(handle: BinaryIO) -> int | None:
    """The bytes of ``handle`` from its current position, when it can tell without reading."""
    size = getattr(handle, "size", None)
    if not isinstance(size, int):
        try:
            size = os.fstat(handle.fileno()).st_size
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None
    try:
        return size - handle.tell()
    except (AttributeError, OSError, ValueError):
        return None


def header_too_long(label: str) -> DicomReadError:
    """The error for a header that does not end within :data:`MAX_HEADER_BYTES` (shared by
    every header reader, so that each says the same)."""
    return DicomReadError(label, f"no pixel data or end of file within the first "
                                 f"{MAX_HEADER_BYTES // 2**20} MiB (the most any header read "
                                 "looks at); the file is not a DICOM image covidimg can index "
                                 "(is it zero-filled or damaged? download it again)")


def plausible_bare_dataset(head: bytes) -> bool:
    """Whether bytes without the ``DICM`` marker can start a DICOM dataset.

    A file without the 128-byte preamble and ``DICM`` starts with its file meta group (0002) or
    with the dataset's first groups (0008 and on, even numbers, below 0x0100). Anything else (a
    zero-filled file starts with the impossible tag (0000,0000)) is not DICOM, and is rejected
    at once instead of being parsed element by element to its end.

    Examples
    --------
    >>> from covidimg.sources._engine.dicom import plausible_bare_dataset
    >>> plausible_bare_dataset(bytes(64))
    False
    >>> plausible_bare_dataset(bytes.fromhex("0800 0500 4353 0a00"))  # (0008,0005) CS
    True
    """
    if len(head) < 8:
        return False
    group = int.from_bytes(head[:2], "little")
    return group == 0x0002 or (0x0008 <= group < 0x0100 and group % 2 == 0)


def _read_exactly(handle: BinaryIO, size: int, label: str) -> bytes:
    """Up to ``size`` bytes (fewer only at the end of the file)."""
    chunks, wanted = [], size
    while wanted > 0:
        try:
            chunk = handle.read(wanted)
        except Exception as exc:  # OSError, zlib.error, BadZipFile, a remote store's errors
            raise DicomReadError(label, f"cannot read the file ({type(exc).__name__}: {exc}); "
                                        "download it again") from exc
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def _read_header_bounded(handle: BinaryIO, label: str, size: int | None) -> DicomHeader:
    """Read the header from a prefix of ``handle`` that grows (four-fold, from
    :data:`_FIRST_READ_BYTES`) until pydicom stops at the pixel data or the file ends, and
    never beyond :data:`MAX_HEADER_BYTES`: a zero-filled or endless file costs a bounded read."""
    data = _read_exactly(handle, _FIRST_READ_BYTES, label)
    at_end = len(data) < _FIRST_READ_BYTES
    while True:
        header = _parse_prefix(data, label, at_end, len(data) if at_end else size)
        if header is not None:
            return header
        if len(data) >= MAX_HEADER_BYTES:
            raise header_too_long(label)
        wanted = min(3 * len(data), MAX_HEADER_BYTES - len(data))  # the prefix grows 4-fold
        more = _read_exactly(handle, wanted, label)
        at_end = len(more) < wanted
        data += more


def _parse_prefix(data: bytes, label: str, at_end: bool,
                  size: int | None) -> DicomHeader | None:
    """The header read from ``data`` (the first bytes of the file, all of them when
    ``at_end``; ``size`` the file's size when known), or ``None`` when pydicom did not reach
    the pixel data and more bytes may complete the header."""
    if data[128:132] == b"DICM" and not plausible_bare_dataset(data[132:]):
        raise DicomReadError(label, "not a DICOM file (a 'DICM' marker at byte 128, but no "
                                    "DICOM element after it)")
    import pydicom  # imported by the first file read (see HEADER_ELEMENTS)
    from pydicom.errors import InvalidDicomError

    buffer = io.BytesIO(data)
    forced = False
    try:
        with warnings.catch_warnings():
            # pydicom warns about malformed values; a file that is too broken to use becomes
            # a DicomReadError below, so the warnings would only repeat it.
            warnings.simplefilter("ignore", UserWarning)
            try:
                ds = pydicom.dcmread(buffer, stop_before_pixels=True,
                                     specific_tags=_TAG_NUMBERS)
            except InvalidDicomError:
                if not plausible_bare_dataset(data):
                    raise DicomReadError(label, "not a DICOM file (no 'DICM' marker at byte "
                                                "128, and its first bytes are no DICOM "
                                                "element)") from None
                buffer.seek(0)
                forced = True
                ds = pydicom.dcmread(buffer, stop_before_pixels=True, force=True,
                                     specific_tags=_TAG_NUMBERS)
    except DicomReadError:
        raise
    except Exception as exc:  # pydicom raises many types on corrupt input
        if not at_end:
            return None  # perhaps only cut short by the prefix: read more
        if forced:
            raise DicomReadError(label, "not a DICOM file (no 'DICM' marker at byte 128 and no "
                                        "readable DICOM elements)") from exc
        raise DicomReadError(
            label, f"not a readable DICOM file ({type(exc).__name__}: {exc}); check that the "
                   "file is complete and is DICOM") from exc
    stop = buffer.tell()  # where pydicom stopped: the pixel data element, or the end
    if not at_end and stop + 12 > len(data):
        return None  # pydicom ran to the end of the prefix (or the pixel element's header)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        meta = getattr(ds, "file_meta", None)
        media_class = _text(_get(meta, "MediaStorageSOPClassUID")) if meta is not None else None
        syntax = _text(_get(meta, "TransferSyntaxUID")) if meta is not None else None
        if forced and not (_text(_get(ds, "SOPInstanceUID")) or
                           _text(_get(ds, "StudyInstanceUID"))):
            raise DicomReadError(label, "not a DICOM file (no 'DICM' marker at byte 128 and no "
                                        "SOP / Study Instance UID)")
        _check_is_image_object(ds, label, media_class)
        header = _header_from_dataset(ds, label, syntax)
    check_pixel_data(label, header.modality, data, stop if stop < len(data) else None,
                     syntax=syntax, file_size=size)
    return header


def pixel_digest(source: str | os.PathLike[str] | BinaryIO, *, label: str | None = None) -> str:
    """Return the SHA-1 of an instance's raw Pixel Data bytes (no decoding).

    Two instances with the same digest carry identical stored images, whatever their UIDs; used
    to recognise duplicated exams (CRDW's pediatric copies).

    Raises
    ------
    DicomReadError
        If the file is not DICOM or has no Pixel Data element.

    Examples
    --------
    >>> import io, datetime, numpy as np
    >>> from covidimg.demo.dicom_writer import write_dicom
    >>> from covidimg.sources._engine.dicom import pixel_digest
    >>> files = []
    >>> for sop in ("2.25.3", "2.25.4"):
    ...     buf = io.BytesIO()
    ...     write_dicom(buf, np.eye(4, dtype=np.float32), modality="CR", patient_id="1",
    ...                 study_uid="2.25.1", series_uid="2.25.2", sop_uid=sop,
    ...                 study_date=datetime.date(2020, 3, 1))
    ...     _ = buf.seek(0)
    ...     files.append(buf)
    >>> pixel_digest(files[0]) == pixel_digest(files[1])
    True
    """
    if label is None:
        label = os.fspath(source) if isinstance(source, str | os.PathLike) else \
            str(getattr(source, "name", "<file object>"))
    import pydicom

    try:
        ds = pydicom.dcmread(source, force=True, specific_tags=[_PIXEL_DATA])
        data = ds.get("PixelData")
    except Exception as exc:  # pydicom raises many types on corrupt input
        raise DicomReadError(label, f"cannot read the pixel data ({type(exc).__name__}: "
                                    f"{exc})") from exc
    if not data:
        raise DicomReadError(label, "no Pixel Data element (7FE0,0010)")
    return hashlib.sha1(bytes(data)).hexdigest()


def header_dict(header: DicomHeader) -> dict[str, Any]:
    """Return ``header`` as a plain dict (for DataFrames of headers)."""
    return asdict(header)
