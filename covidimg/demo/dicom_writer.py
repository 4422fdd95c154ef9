"""Write real DICOM Part-10 files for the demo sources, with pydicom.

Every demo DICOM file is a valid Part-10 file: 128-byte preamble, ``DICM``, file meta
information, explicit VR little endian, the CR / DX / CT / MR storage SOP class, 16-bit
allocated / 12-bit stored pixel data, window centre and width, and for CT the rescale slope and
intercept that turn stored values into Hounsfield units. ``MONOCHROME1`` radiographs are written
with inverted stored values (bright = air), as some radiography systems store them.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Mapping
from typing import Any, BinaryIO, Literal

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from covidimg._validation import check_choice

__all__ = ["SOP_CLASSES", "uid", "write_dicom"]

#: Storage SOP Class UIDs by modality.
SOP_CLASSES: dict[str, str] = {
    "CR": "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "CT": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
}
_VIEW_POSITION = {"AP": "AP", "PA": "PA", "LAT": "LL", "LL": "LL", "RL": "RL", "LATERAL": "LL"}
#: How stored values map to brightness (DICOM Photometric Interpretation).
Photometric = Literal["MONOCHROME1", "MONOCHROME2"]
_MAX_STORED = 4095  # 12 bits stored
_CT_INTERCEPT = -1024.0


def uid(rng: np.random.Generator) -> str:
    """Return a deterministic DICOM UID drawn from ``rng`` (``"2.25."`` + 38 digits).

    The ``2.25`` root is for UUID-derived UIDs (PS3.5 B.2); the digits come from ``rng``, so a
    seeded generator always gives the same UIDs.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.demo.dicom_writer import uid
    >>> u = uid(np.random.default_rng(0))
    >>> u.startswith("2.25."), len(u), u == uid(np.random.default_rng(0))
    (True, 43, True)
    """
    digits = [int(rng.integers(1, 10)), *rng.integers(0, 10, size=37).tolist()]
    return "2.25." + "".join(str(d) for d in digits)


def _stored_values(pixels: np.ndarray, modality: str, photometric: str) -> np.ndarray:
    """Scale the phantom's pixels to 12-bit stored values (see :func:`write_dicom`)."""
    array = np.asarray(pixels)
    if array.ndim != 2:
        raise ValueError(f"pixels must be a 2-D array (one image or slice); got shape "
                         f"{array.shape}. Write a CT volume one slice per file.")
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > _MAX_STORED:
            raise ValueError(f"integer pixels must be stored values in [0, {_MAX_STORED}]; got "
                             f"[{array.min()}, {array.max()}]")
        return array.astype(np.uint16)
    if modality == "CT":
        stored = np.round(array.astype(np.float64) - _CT_INTERCEPT)
        return np.clip(stored, 0, _MAX_STORED).astype(np.uint16)
    stored = np.round(np.clip(array.astype(np.float64), 0.0, 1.0) * _MAX_STORED)
    if photometric == "MONOCHROME1":
        stored = _MAX_STORED - stored
    return stored.astype(np.uint16)


def write_dicom(
    target: str | os.PathLike[str] | BinaryIO,
    pixels: np.ndarray,
    *,
    modality: str,
    patient_id: str,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    study_date: dt.date,
    study_time: dt.time | None = None,
    view: str | None = None,
    photometric: Photometric = "MONOCHROME2",
    instance_number: int = 1,
    position_z: float | None = None,
    sex: str = "M",
    age_years: float | None = None,
    study_description: str = "",
    series_description: str = "",
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write one real DICOM Part-10 file.

    Parameters
    ----------
    target
        A path, or a writable binary file (e.g. ``ZipFile.open(member, "w")``); the file is
        serialized in memory first, so the target need not be seekable.
    pixels
        One 2-D image. Radiographs / MR: floats in ``[0, 1]`` (the phantom's relative
        attenuation, bright = dense), stored as 12-bit values. CT: Hounsfield units, stored as
        ``HU + 1024`` with RescaleIntercept ``-1024``. Integer arrays are stored as given.
    modality
        ``"CR"``, ``"DX"``, ``"CT"`` or ``"MR"``.
    patient_id, study_uid, series_uid, sop_uid
        Identifiers; Patient Name is set to the patient id (as CRDW's HIRO does), birth date
        left empty.
    study_date, study_time
        Study (and series / content) date and time.
    view
        ``"AP"``, ``"PA"``, ``"LAT"`` (written as View Position ``LL``); ``None`` leaves View
        Position out, so readers must fall back to the descriptions.
    photometric
        ``"MONOCHROME2"`` or ``"MONOCHROME1"`` (radiograph stored values are inverted).
    instance_number, position_z
        Instance Number; for CT the slice position (ImagePositionPatient[2], mm).
    sex, age_years
        Patient Sex (``F``/``M``/``O``) and Patient Age (written as ``nnnY``).
    study_description, series_description
        Descriptions (left out when empty).
    extra
        More attributes by keyword, set last (e.g. ``{"SeriesNumber": 3}``).

    Examples
    --------
    >>> import datetime, io, numpy as np, pydicom
    >>> from covidimg.demo.dicom_writer import uid, write_dicom
    >>> rng = np.random.default_rng(0)
    >>> buf = io.BytesIO()
    >>> write_dicom(buf, np.full((4, 4), 0.25, np.float32), modality="CR", patient_id="1234",
    ...             study_uid=uid(rng), series_uid=uid(rng), sop_uid=uid(rng),
    ...             study_date=datetime.date(2020, 3, 1), photometric="MONOCHROME1")
    >>> ds = pydicom.dcmread(io.BytesIO(buf.getvalue()))
    >>> ds.Modality, int(ds.pixel_array[0, 0])
    ('CR', 3071)
    """
    modality = modality.upper()
    check_choice(modality, SOP_CLASSES, "modality")
    check_choice(photometric, Photometric, "photometric")
    stored = _stored_values(pixels, modality, photometric)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)

    date = study_date.strftime("%Y%m%d")
    time = (study_time or dt.time(12, 0)).strftime("%H%M%S")
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL" if modality == "CT" else ""]
    ds.SOPClassUID = SOP_CLASSES[modality]
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.ReferringPhysicianName = ""
    if study_description:
        ds.StudyDescription = study_description
    if series_description:
        ds.SeriesDescription = series_description
    ds.PatientName = patient_id
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = sex
    if age_years is not None:
        ds.PatientAge = f"{int(age_years):03d}Y"
    ds.BodyPartExamined = "CHEST"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number

    rows, columns = stored.shape
    if modality == "CT":
        ds.KVP = 120
        ds.SliceThickness = 5.0
        ds.ImagePositionPatient = [-0.5 * columns, -0.5 * rows,
                                   float(position_z if position_z is not None else 0.0)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [1.0, 1.0]
        ds.RescaleIntercept = _CT_INTERCEPT
        ds.RescaleSlope = 1.0
        ds.RescaleType = "HU"
        ds.WindowCenter = -600
        ds.WindowWidth = 1500
    else:
        if view is not None and modality in ("CR", "DX"):
            check_choice(view.upper(), _VIEW_POSITION, "view", hint="Or None.")
            ds.ViewPosition = _VIEW_POSITION[view.upper()]
        if modality == "DX":
            ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImagerPixelSpacing = [0.5, 0.5]
        ds.WindowCenter = _MAX_STORED // 2 + 1
        ds.WindowWidth = _MAX_STORED + 1
        if position_z is not None:
            ds.ImagePositionPatient = [0.0, 0.0, float(position_z)]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = stored.astype("<u2").tobytes()
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)

    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    if isinstance(target, str | os.PathLike):
        with open(target, "wb") as handle:
            handle.write(data)
    else:
        target.write(data)
