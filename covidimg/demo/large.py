"""Large synthetic data for scale tests and benchmarks, built from the demo generator.

* :func:`write_dicom_tree` writes a DICOM tree as the NBIA retriever lays it out
  (``<patient>/<study>/<series>/<n>.dcm``): thousands of radiographs and 100-slice CT series,
  real Part-10 files written by :func:`covidimg.demo.dicom_writer.write_dicom`, with the
  acquisition attributes real headers carry (so a header is as long to parse as a real one).
* :func:`large_cohort` tiles a demo cohort (:func:`covidimg.demo.load_demo`) into a cohort
  of a million images or more, every copy with its own patient, image and file ids, so it is
  a valid cohort with the demo's distributions.

Examples
--------
>>> import tempfile, numpy as np
>>> from covidimg.demo.large import write_dicom_tree
>>> tree = write_dicom_tree(tempfile.mkdtemp(), n_radiographs=3, n_ct_series=1, slices=4,
...                         rng=np.random.default_rng(0))
>>> len(tree.files), tree.series_slices
(7, {'ct': 4})
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covidimg import schema
from covidimg.cohort import Cohort
from covidimg.demo import load_demo
from covidimg.demo.dicom_writer import uid, write_dicom

__all__ = ["DicomTree", "large_cohort", "write_dicom_tree"]

#: Acquisition attributes real CR / DX and CT headers carry besides those covidimg reads.
_REALISTIC: dict[str, Any] = {
    "Manufacturer": "ACME MEDICAL", "ManufacturerModelName": "Imager 3000",
    "SoftwareVersions": "V1.2.3", "DeviceSerialNumber": "123456",
    "StationName": "STATION1", "InstitutionalDepartmentName": "RADIOLOGY",
    "AcquisitionDate": "20200301", "AcquisitionTime": "120000",
    "ContentDate": "20200301", "ContentTime": "120000",
    "PatientPosition": "HFS", "PatientWeight": "70",
    "ProtocolName": "CHEST", "OperatorsName": "", "PerformingPhysicianName": "",
    "RequestedProcedureDescription": "CHEST", "DeidentificationMethod": "CTP Default",
    "PatientIdentityRemoved": "YES", "BurnedInAnnotation": "NO",
    "LossyImageCompression": "00", "PresentationLUTShape": "IDENTITY",
    "FrameOfReferenceUID": "2.25.1", "PositionReferenceIndicator": "",
    "ExposureTime": 10, "XRayTubeCurrent": 200, "Exposure": 2,
    "FocalSpots": "1.2", "ConvolutionKernel": "STANDARD", "DistanceSourceToDetector": "1800",
}


@dataclass
class DicomTree:
    """What :func:`write_dicom_tree` wrote.

    Attributes
    ----------
    root
        The tree's root folder.
    files
        Every file written, sorted.
    series_slices
        ``"ct"`` -> slices per CT series.
    series_folders
        The CT series folders.
    """

    root: str
    files: list[str] = field(default_factory=list)
    series_slices: dict[str, int] = field(default_factory=dict)
    series_folders: list[str] = field(default_factory=list)


def write_dicom_tree(root: str | os.PathLike[str], *, n_radiographs: int = 2000,
                     n_ct_series: int = 10, slices: int = 100, shape: tuple[int, int] = (64, 64),
                     rng: np.random.Generator | None = None) -> DicomTree:
    """Write a large DICOM tree of radiographs and CT series under ``root``.

    Parameters
    ----------
    root
        The folder to write into (created).
    n_radiographs
        CR / DX radiographs, one file each, in their own series folder.
    n_ct_series
        CT series of ``slices`` files each, numbered ``1-001.dcm`` ... in slice order.
    slices
        Slices per CT series.
    shape
        Pixel matrix of every image (small by default: indexing never reads pixels).
    rng
        Random generator (UIDs, sexes, ages, views); default seed 0.

    Returns
    -------
    DicomTree
    """
    rng = rng or np.random.default_rng(0)
    base = Path(root)
    out = DicomTree(os.fspath(base), series_slices={"ct": slices})
    pixels = rng.random(shape).astype(np.float32)
    ct_pixels = (rng.random(shape) * 1400 - 1000).astype(np.float32)
    n_patients = max(1, (n_radiographs + n_ct_series) // 3)
    start = dt.date(2020, 3, 1)
    for k in range(n_radiographs + n_ct_series):
        patient = f"SYN-{k % n_patients:06d}"
        date = start + dt.timedelta(days=int(rng.integers(0, 120)))
        ct = k >= n_radiographs
        study, series = uid(rng), uid(rng)
        folder = (base / patient / f"{date:%m-%d-%Y}-NA-{'CT CHEST' if ct else 'XR CHEST'}-"
                  f"{study[-5:]}" / f"1.000000-{'AXIAL' if ct else 'CHEST'}-{series[-5:]}")
        folder.mkdir(parents=True, exist_ok=True)
        common = dict(patient_id=patient, study_uid=study, series_uid=series, study_date=date,
                      sex=str(rng.choice(["F", "M"])), age_years=float(rng.integers(20, 90)),
                      extra=_REALISTIC)
        if ct:
            out.series_folders.append(os.fspath(folder))
            for s in range(slices):
                path = folder / f"1-{s + 1:03d}.dcm"
                write_dicom(path, ct_pixels, modality="CT", sop_uid=uid(rng),
                            instance_number=s + 1, position_z=-300.0 + 2.5 * s,
                            study_description="CT CHEST W/O CONTRAST",
                            series_description="AXIAL 2.5MM", **common)
                out.files.append(os.fspath(path))
        else:
            view = str(rng.choice(["AP", "PA", "LAT"]))
            path = folder / "1-1.dcm"
            write_dicom(path, pixels, modality=str(rng.choice(["CR", "DX"])), sop_uid=uid(rng),
                        view=view, study_description=f"XR CHEST {view}",
                        series_description=f"CHEST {view}", **common)
            out.files.append(os.fspath(path))
    out.files.sort()
    return out


_UID_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "patients": ("patient_uid", "source_patient_id"),
    "images": ("image_uid", "patient_uid", "path"),
    "events": ("patient_uid",),
    "labs": ("patient_uid", "image_uid"),
    "files": ("path", "image_uid"),
    "findings": ("patient_uid", "image_uid", "path"),
    "observations": ("patient_uid",),
    "annotations": ("annotation_uid", "patient_uid", "image_uid"),
}


def _tile(frame: pd.DataFrame, copies: int, columns: tuple[str, ...]) -> pd.DataFrame:
    n = len(frame)
    out = frame.iloc[np.tile(np.arange(n), copies)].reset_index(drop=True)
    suffix = pd.Series(np.repeat(np.arange(copies), n), dtype="string")
    suffix = "~" + suffix
    for column in columns:
        if column in out.columns:
            out[column] = (out[column].astype("string") + suffix).astype(frame[column].dtype)
    return out


def large_cohort(n_images: int = 1_000_000, *, base: Cohort | None = None) -> Cohort:
    """Return a cohort of at least ``n_images`` images, tiled from a demo cohort.

    Each copy of ``base`` gets the suffix ``~<copy>`` on its patient, image and file ids and
    paths, so keys stay unique and references between tables hold; every other value (days,
    labs, findings) is the demo's.

    Parameters
    ----------
    n_images
        Smallest number of images wanted; whole copies of ``base`` are made, so the result
        has ``ceil(n_images / len(base.images))`` copies.
    base
        The cohort to tile; default :func:`covidimg.demo.load_demo` (written into the cache
        folder on first use).

    Returns
    -------
    Cohort
        Conforming to the schema (it is not re-validated, which would take longer than
        building it).

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.demo.large import large_cohort
    >>> small = ci.Cohort.from_tables({"patients": ci.Cohort().patients})
    >>> large_cohort(10, base=small).images.shape[0]
    0
    """
    if base is None:
        base = load_demo()
    if len(base.images) == 0:
        return Cohort(**{name: frame.copy() for name, frame in base.tables().items()})
    copies = math.ceil(n_images / len(base.images))
    tables = {name: _tile(frame, copies, _UID_COLUMNS[name]) if name in _UID_COLUMNS
              else frame for name, frame in base.tables().items()}  # provenance: once
    for name, frame in tables.items():
        for col in schema.TABLES[name].columns:
            if col.name in frame.columns and str(frame[col.name].dtype) != col.dtype:
                raise schema.SchemaError(f"large_cohort: {name}.{col.name} lost its dtype")
    return Cohort(**tables)
