"""TCIA's clinical sheets joined onto IDC-built images, as the ``tcia`` source joins them.

``covidimg.load({"idc": [...]}, options={"idc": {"clinical": [paths]}})`` reads each path (a
sheet file, or a folder searched for sheets) with the TCIA sheet readers
(:mod:`covidimg.sources.tcia.sheets`: the COVID-19-NY-SBU CSV, the COVID-19-AR workbook, the
RICORD metadata workbook and MD.ai annotation CSV, recognised by their columns) and joins them
with the TCIA join (:class:`covidimg.sources.tcia.join.SheetJoin`): the same patients, day 0,
events, labs and findings as an NBIA tree holding the same series and sheets gives, on the IDC
patients (``idc:<PatientID>``). RICORD rows are keyed by the collection of the series their
study belongs to.

Examples
--------
>>> import covidimg as ci
>>> cohort = ci.load({"idc": "covid"},
...                  options={"idc": {"clinical": ["sheets/"]}})   # doctest: +SKIP
>>> cohort.labs.groupby("analyte").size()                          # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from covidimg.errors import LoadError
from covidimg.sources._engine.dicom import parse_age
from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.ledger import Ledger, file_problem, folder_prefix, walk

if TYPE_CHECKING:
    from covidimg.sources.tcia.join import SheetJoin

__all__ = ["clinical_paths", "join_sheets", "read_sheets"]

_SHEET_SUFFIXES = (".csv", ".xlsx", ".xlsm")


def clinical_paths(value: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None
                   ) -> tuple[str, ...]:
    """The ``clinical`` option as a tuple of paths (one path or a list of them).

    Raises
    ------
    ValueError
        If ``value`` is neither a path nor a list of paths.
    LoadError
        If a path does not exist (the message names it).
    """
    if value is None:
        return ()
    items = [value] if isinstance(value, str | os.PathLike) else value
    if not isinstance(items, Sequence) or not all(isinstance(v, str | os.PathLike)
                                                  for v in items):
        raise ValueError(f"idc: clinical={value!r}; pass the path of a clinical sheet (the "
                         "COVID-19-NY-SBU CSV, the COVID-19-AR xlsx, RICORD metadata), a folder "
                         "holding them, or a list of such paths")
    paths = tuple(os.fspath(Path(v)) for v in items)
    for path in paths:
        if not os.path.exists(path):
            raise LoadError(f"idc: clinical sheet {path} does not exist; pass the path of a "
                            "TCIA clinical sheet or of a folder holding them")
    return paths


def read_sheets(paths: Sequence[str], source: str, ledger: Ledger) -> SheetJoin:
    """Read the clinical sheets at ``paths`` (files, or folders walked for ``.csv`` /
    ``.xlsx`` / ``.xlsm`` files) into a :class:`~covidimg.sources.tcia.join.SheetJoin`; every
    file met is recorded in ``ledger`` (used, ignored with the reason, or rejected)."""
    from covidimg.sources.tcia.join import SheetJoin  # the tcia package looks series up here

    sheets = SheetJoin()
    sheets.start_sheets(source, ledger)
    for path in paths:
        if os.path.isdir(path):
            for dirpath, dirnames, filenames in walk(path, ledger):
                dirnames.sort()
                prefix = folder_prefix(dirpath)
                for name in sorted(filenames):
                    _read_one(sheets, prefix + name, ledger)
        else:
            _read_one(sheets, path, ledger)
    return sheets


def _read_one(sheets: SheetJoin, path: str, ledger: Ledger) -> None:
    lower = path.lower()
    problem = file_problem(path)
    if problem is not None:
        ledger.file(path, "rejected", reason=problem)
        ledger.finding("unreadable_file", f"{os.path.basename(path)}: {problem}", path=path)
    elif lower.endswith(".csv"):
        sheets.read_csv(path)
    elif lower.endswith((".xlsx", ".xlsm")):
        sheets.read_xlsx(path)
    else:
        ledger.file(path, "ignored", reason="not a clinical sheet (the clinical option reads "
                    f"{', '.join(_SHEET_SUFFIXES)} files)")


def join_sheets(frame: pd.DataFrame, dates: pd.Series, sheets: SheetJoin, ledger: Ledger
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Join ``sheets`` onto the IDC image rows ``frame`` (index columns plus ``patient_uid``,
    ``image_uid``, ``collection``, ``path``) whose study dates are ``dates``.

    Sets ``day``, ``admission_offset``, ``annotation_class`` and ``annotation_grade`` on
    ``frame``; returns patients, events and labs as the TCIA join gives them.
    """
    ages = _age_years(frame, ledger)
    sex = frame["PatientSex"].astype(object).str.strip().str.upper()
    table = pd.DataFrame({
        "patient_uid": frame["patient_uid"], "source_patient_id": frame["PatientID"],
        "collection": frame["collection"], "study_uid": frame["StudyInstanceUID"],
        "study_date": dates.astype(object).where(dates.notna(), None), "format": "dicom",
        "image_uid": frame["image_uid"], "path": frame["path"],
        "sex": sex.where(sex.isin(["F", "M"]), "U"), "age_years": ages,
    })
    patients, events, labs = sheets.join(table)
    for column in ("day", "admission_offset", "annotation_class", "annotation_grade"):
        frame[column] = table[column].to_numpy()
    return patients, events, labs


def _age_years(frame: pd.DataFrame, ledger: Ledger) -> np.ndarray:
    """Each row's ``PatientAge`` in years; an ``unparseable_value`` finding per patient and
    value that is not a DICOM age."""
    given = frame["PatientAge"].astype(object)
    uniques = given.dropna().unique()
    parsed = dict(zip(uniques, map(parse_age, uniques), strict=True))
    ages = given.map(parsed).astype(float).to_numpy()
    bad = given.notna() & (given.astype(str).str.strip() != "") & np.isnan(ages)
    for puid, value in frame.loc[bad, ["patient_uid", "PatientAge"]].drop_duplicates(
            ).itertuples(index=False):
        ledger.finding("unparseable_value", f"PatientAge {describe_value(value)} in IDC's "
                       "index is not a DICOM age; the age is unknown", patient_uid=puid)
    return ages
