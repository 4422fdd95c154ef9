"""NIfTI CT volumes in a TCIA download: the "CT Images in COVID-19" collection.

That collection is published as NIfTI, not DICOM: one chest CT volume per file, named
``volume-covid19-A-<NNNN>.nii.gz`` (FORMATS.md §4; the naming COVID-Net CT's loader globs), with
no DICOM header. Each readable 3-D volume becomes one CT ``images`` row:

* ``image_uid`` and ``patient_uid`` are ``tcia:<file stem>`` (``tcia:volume-covid19-A-0001``):
  the file name is the only identifier the collection publishes with the pixels, kept as
  published;
* ``format="nifti"``, ``modality="CT"``, ``view="AXIAL"``, ``path`` the file;
* ``n_instances`` = the axial slices, ``rows`` / ``columns`` = one slice, as
  :func:`covidimg.imaging.read_image` returns them (the volume brought to RAS+ by the affine,
  :func:`nibabel.orientations.io_orientation`: slices along S, rows along A, columns along R);
* ``collection`` from the collection folder, else ``CT Images in COVID-19`` for a file named
  ``volume-covid19-*``; the study and series UIDs, date, sex and age are unknown.

Only the header is read (nibabel reads a NIfTI lazily: a few hundred bytes, decompressed from
the start of a ``.nii.gz``), and the file's length is checked against the bytes the header
declares (:func:`covidimg.sources._engine.nifti.stored_bytes`, the check the pixel reader
makes too: a ``.nii``'s size, a ``.nii.gz``'s recorded decompressed size, with a counting
decompression only when that does not match), so a load stays bounded
whatever the volume's size. A file nibabel cannot read, cut short, or whose header does not
describe a 3-D volume, is ``rejected`` with an ``unreadable_file`` finding naming it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pandas as pd

from covidimg.sources._engine.exam import exam_label
from covidimg.sources._engine.ledger import Ledger
from covidimg.sources._engine.nifti import stored_bytes

__all__ = ["NIFTI_COLLECTION", "NIFTI_SUFFIXES", "is_nifti_name", "volume_rows"]

#: The TCIA collection published as NIfTI volumes.
NIFTI_COLLECTION = "CT Images in COVID-19"
#: File names read as NIfTI volumes.
NIFTI_SUFFIXES = (".nii.gz", ".nii")
_VOLUME_PREFIX = "volume-covid19-"


def is_nifti_name(name: str) -> bool:
    """Whether a file name is a NIfTI file's (``.nii`` or ``.nii.gz``).

    Examples
    --------
    >>> from covidimg.sources.tcia.volumes import is_nifti_name
    >>> is_nifti_name("volume-covid19-A-0001.nii.gz"), is_nifti_name("1-1.dcm")
    (True, False)
    """
    return name.lower().endswith(NIFTI_SUFFIXES)


def _stem(path: str) -> str:
    name = os.path.basename(path)
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _volume_shape(path: str) -> tuple[int, int, int]:
    """``(slices, rows, columns)`` of the volume, from its header alone.

    Raises
    ------
    ValueError
        The header does not describe one 3-D volume (with the shape it gives).
    Exception
        Whatever nibabel raises for a file it cannot read.
    """
    import nibabel as nib

    img = nib.load(path)  # lazy: the header only
    shape = tuple(int(n) for n in img.shape)
    if len(shape) < 3 or any(n < 1 for n in shape) or any(n > 1 for n in shape[3:]) or \
            sum(n > 1 for n in shape[:3]) < 3:
        raise ValueError(f"its header gives the shape {shape}, not one 3-D CT volume")
    offset = getattr(img.dataobj, "offset", None)  # where the voxels start, as read
    declared = int(img.header.get_data_offset() if offset is None else offset) + \
        int(np.prod(shape, dtype=np.int64)) * img.header.get_data_dtype().itemsize
    stored = stored_bytes(path, declared)
    if stored is not None and stored < declared:
        raise ValueError(f"it is truncated: {stored} bytes of voxel data and header where its "
                         f"header declares {declared}")
    ornt = nib.orientations.io_orientation(img.affine)
    ras = [0, 0, 0]
    for stored_axis, (ras_axis, _) in enumerate(ornt[:3]):
        ras[int(ras_axis)] = shape[stored_axis]
    return ras[2], ras[1], ras[0]


def volume_rows(paths: list[str], ledger: Ledger, source: str,
                collection_of: Callable[[str], str | None]) -> pd.DataFrame:
    """The ``images`` rows of the NIfTI volumes ``paths``, each file recorded in ``ledger``.

    Parameters
    ----------
    paths
        The NIfTI files found under the root.
    ledger
        Receives one ``files`` row per file and a finding per unreadable one.
    source
        The source name (``image_uid`` / ``patient_uid`` prefix).
    collection_of
        The collection a file's folders name, or ``None``.

    Returns
    -------
    pandas.DataFrame
        One row per readable volume, with the columns the TCIA loader's DICOM rows have
        (``study_date``, ``sex``, ``age_years``, ... unknown).

    Examples
    --------
    >>> from covidimg.sources._engine.ledger import Ledger
    >>> from covidimg.sources.tcia.volumes import volume_rows
    >>> len(volume_rows([], Ledger("tcia"), "tcia", lambda p: None))
    0
    """
    rows = []
    for path in paths:
        try:
            n_slices, n_rows, n_columns = _volume_shape(path)
        except Exception as exc:  # nibabel raises many types for damaged files
            reason = f"unreadable NIfTI volume ({type(exc).__name__}: {exc})"
            ledger.file(path, "rejected", reason=reason)
            ledger.finding("unreadable_file", f"{os.path.basename(path)}: {reason}; "
                           "download it again", path=path)
            continue
        stem = _stem(path)
        collection = collection_of(path) or \
            (NIFTI_COLLECTION if stem.lower().startswith(_VOLUME_PREFIX) else None)
        uid = f"{source}:{stem}"
        ledger.file(path, "used", image_uid=uid, reason="NIfTI CT volume")
        rows.append({
            "image_uid": uid, "patient_uid": uid, "source": source, "study_uid": None,
            "series_uid": None, "modality": "CT", "view": "AXIAL", "day": np.nan,
            "admission_offset": np.nan, "icu_admission_offset": np.nan,
            "icu_release_offset": np.nan, "death_offset": np.nan, "path": path,
            "format": "nifti", "n_instances": n_slices, "rows": n_rows, "columns": n_columns,
            "study_date": None, "study_time": None, "exam": exam_label("CT", "AXIAL"),
            "photometric": None, "transfer_syntax": None, "age_years": np.nan, "sex": "U",
            "sop_uids": (), "member_paths": (), "collection": collection,
        })
    return pd.DataFrame(rows)
