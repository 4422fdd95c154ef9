"""DICOM headers -> ``images`` rows: one per radiograph, one per CT/MR series."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import pandas as pd

from covidimg.sources._engine.dicom import (
    _SERIES_COLUMNS,
    DESCRIPTION_FIELDS,
    HELPER_COLUMNS,
    IMAGE_MODALITIES,
    SERIES_MODALITIES,
    TECHNICAL_FIELDS,
    DicomHeader,
)
from covidimg.sources._engine.free_text import descriptions_kept
from covidimg.table_paths import MEMBER_SEP, file_path, member_path, split_path

__all__ = ["series_table"]


def _folder(path: str) -> str:
    """The series folder of an instance's path, spelled as the tables spell paths."""
    if MEMBER_SEP not in path and "%" not in path:
        return os.path.dirname(path)  # the common case: an ordinary file name
    disk, member = split_path(path)
    if member is None:
        return file_path(os.path.dirname(disk))
    parent = member.rsplit("/", 1)[0] + "/" if "/" in member else ""
    return member_path(disk, parent)


def _instance_order(h: DicomHeader) -> tuple[float, float, str]:
    z = h.position_z if h.position_z is not None else float("inf")
    n = h.instance_number if h.instance_number is not None else float("inf")
    return (z, n, h.path)


def series_table(headers: Iterable[DicomHeader], *, source: str,
                 patient_uid: Callable[[DicomHeader], str] | None = None) -> pd.DataFrame:
    """Turn DICOM headers into ``images`` rows.

    Radiographs (CR, DX) give one row per instance, ``image_uid = "<source>:<SOP UID>"``.
    CT and MR instances are grouped by Series Instance UID into one row per series,
    ``image_uid = "<source>:<Series UID>"``, ``n_instances`` = the number of instances, ``path``
    = the folder holding them (``"/abs/archive.zip::folder/"`` inside a zip; when a series
    spans several folders or archives, the folder of its first slice, and ``member_paths``
    lists them all), or the file itself for a series of one file (a multi-frame file, or a
    single slice). :func:`covidimg.imaging.read_image` reads a series folder's instances as
    the index selects them (:func:`covidimg.sources.series_files`), so it reads the files
    counted here. Headers of other modalities are left out. Instances must be unique: drop
    duplicate SOP Instance UIDs before calling.

    The ``day`` and offset columns are NaN for the loader to fill. Extra columns: ``exam`` (the
    harmonized exam label), ``study_date``, ``study_time``, ``photometric``,
    ``transfer_syntax``, ``age_years``, ``sex``, the schema's technical columns from the
    first instance (:data:`~covidimg.sources._engine.dicom.TECHNICAL_FIELDS`), and the helper
    columns :data:`HELPER_COLUMNS` (``sop_uids`` and ``member_paths``: tuples in slice order)
    which the loader drops before returning. The description texts (``study_description``,
    ``series_description``, ``protocol_name``) are columns only when the
    :func:`~covidimg.sources._engine.free_text.description_policy` is ``"keep"``.

    Parameters
    ----------
    headers
        The headers (e.g. from :func:`read_header` or :func:`iter_zip_headers`).
    source
        Source name, the prefix of ``image_uid`` and ``patient_uid``.
    patient_uid
        Maps a header to its ``patient_uid``; default ``f"{source}:{header.patient_id}"``.

    Examples
    --------
    >>> import datetime
    >>> from covidimg.sources._engine.dicom import DicomHeader
    >>> from covidimg.sources._engine.series import series_table
    >>> def h(sop, z):
    ...     return DicomHeader(f"/d/ser/{sop}.dcm", "p1", "st", "se", sop, "CT", "AXIAL",
    ...                        datetime.date(2020, 5, 8), None, 64, 64, "MONOCHROME2", "M",
    ...                        70.0, None, z, None, None, None)
    >>> row = series_table([h("b", 2.0), h("a", 1.0)], source="crdw").iloc[0]
    >>> row["image_uid"], row["path"], int(row["n_instances"]), row["sop_uids"]
    ('crdw:se', '/d/ser', 2, ('a', 'b'))
    """
    uid_of = patient_uid or (lambda h: f"{source}:{h.patient_id}")
    groups: dict[tuple[bool, str], list[DicomHeader]] = {}
    for h in headers:
        if h.modality not in IMAGE_MODALITIES:
            continue
        if h.modality in SERIES_MODALITIES:
            key = (True, h.series_uid or _folder(h.path))
        else:
            key = (False, h.sop_uid or h.path)
        members = groups.get(key)
        if members is None:
            groups[key] = [h]
        else:
            members.append(h)
    nan = float("nan")
    rows = []  # one tuple per row, in the order of ``columns`` (cheaper than dicts)
    for (series, _), members in groups.items():
        if len(members) > 1:
            members.sort(key=_instance_order)
        first = members[0]
        if series:
            image_id = first.series_uid or _folder(first.path)
            # one file (a multi-frame file, or a series of one slice): the file itself, so
            # the reader reads that file whatever else its folder holds
            path = _folder(first.path) if len(members) > 1 else first.path
        else:
            image_id = first.sop_uid or first.path
            path = first.path
        rows.append((
            f"{source}:{image_id}", uid_of(first), source, first.study_uid, first.series_uid,
            first.modality, first.view, nan, nan, nan, nan, nan, path, "dicom", len(members),
            first.rows, first.columns, first.study_date, first.study_time, first.exam,
            first.photometric, first.transfer_syntax,
            nan if first.age_years is None else first.age_years,
            first.sex, *(getattr(first, name) for name in TECHNICAL_FIELDS),
            tuple(m.sop_uid for m in members), tuple(m.path for m in members)))
    table = pd.DataFrame(rows, columns=[*_SERIES_COLUMNS, *HELPER_COLUMNS])
    if descriptions_kept():
        firsts = [members[0] for members in groups.values()]
        for name in DESCRIPTION_FIELDS:
            table[name] = [getattr(h, name) for h in firsts]
    return table
