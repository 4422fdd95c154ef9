"""TCIA clinical sheets: COVID-19-NY-SBU's CSV, COVID-19-AR's workbook, RICORD-1C's metadata
workbook and MD.ai annotation CSV (see :mod:`covidimg.sources.tcia` for their quirks).

:class:`SheetReader` recognises each sheet by its columns and turns its rows into
:class:`_Clinical` records (sex, age band, COVID status, ICU, death, visit start, events, labs
converted by :mod:`covidimg.units`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from covidimg import units
from covidimg.errors import TableReadError, ValueProblem
from covidimg.intervals import parse_censored_text
from covidimg.sources._engine.dates import parse_date
from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.ledger import Ledger, read_text_table
from covidimg.sources._engine.workbook import read_workbook

__all__ = ["SBU_LABS", "SheetReader", "parse_age_band"]

#: SBU LOINC code -> (measured quantity, unit the sheet uses). The factor to the canonical unit
#: comes from :mod:`covidimg.units`; LOINC 3094-0 is urea *nitrogen* (BUN), reported as urea.
SBU_LABS: dict[str, tuple[str, str]] = {
    "1988-5": ("crp", "mg/dL"),
    "48058-2": ("d_dimer", "ng/mL DDU"),
    "731-0": ("lymphocytes", "10^3/uL"),
    "751-8": ("neutrophils", "10^3/uL"),
    "33256-9": ("wcc", "10^3/uL"),
    "6690-2": ("wcc", "10^3/uL"),
    "777-3": ("platelets", "10^3/uL"),
    "2276-4": ("ferritin", "ng/mL"),
    "2160-0": ("creatinine", "mg/dL"),
    "3094-0": ("urea_nitrogen", "mg/dL"),
    "6598-7": ("troponin_t", "ng/mL"),
    "10839-9": ("troponin_i", "ng/mL"),
    "2524-7": ("lactate", "mmol/L"),
    "2532-0": ("ldh", "U/L"),
    "3255-7": ("fibrinogen", "mg/dL"),
    "2703-7": ("po2", "mmHg"),
    "2019-8": ("pco2", "mmHg"),
}
_SBU_REQUIRED = ("to_patient_id", "age.splits")
_AR_REQUIRED = ("PATIENT_ID",)
_RICORD_META = ("Anon MRN", "Anon Study UID")
_RICORD_SHEET = "CR Pos - TCIA Submission"
_ANNOTATION = ("Anon MRN", "CLASS_label")
_MISSING = {"", "na", "nan", "null", "none", "n/a", "#n/a"}
_YES = {"y": True, "yes": True, "true": True, "1": True, "n": False, "no": False,
        "false": False, "0": False}
_SEX = {"m": "M", "male": "M", "f": "F", "female": "F"}
_BAND = re.compile(r"^\s*([\[(])\s*(-?[\d.]+|-?inf)\s*,\s*(-?[\d.]+|inf)\s*([\])])\s*$",
                   re.IGNORECASE)


def parse_age_band(text: object) -> tuple[float, float] | None:
    """Parse an interval string of whole years into ``(age_min, age_max)``.

    ``[`` / ``]`` include their bound, ``(`` / ``)`` exclude it; ages are whole years, so an
    excluded bound moves one year inward. A plain number is an exact age. Anything else gives
    ``None``.

    Examples
    --------
    >>> from covidimg.sources.tcia import parse_age_band
    >>> parse_age_band("[18,59]"), parse_age_band("(59,74]"), parse_age_band("(74,90]")
    ((18.0, 59.0), (60.0, 74.0), (75.0, 90.0))
    >>> parse_age_band("(89,Inf)"), parse_age_band("67"), parse_age_band("old")
    ((90.0, inf), (67.0, 67.0), None)
    """
    if text is None:
        return None
    value = str(text).strip()
    match = _BAND.match(value)
    if match:
        low, high = float(match.group(2)), float(match.group(3))
        if match.group(1) == "(" and np.isfinite(low):
            low += 1.0
        if match.group(4) == ")" and np.isfinite(high):
            high -= 1.0
        return (low, high) if low <= high else None
    try:
        age = float(value)
    except ValueError:
        return None
    return (age, age) if np.isfinite(age) else None


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or \
        str(value).strip().lower() in _MISSING


def _sheet_date(text: object) -> dt.date | None:
    """A sheet date (US order ``M/D/YYYY``, or ISO), ``None`` when empty or not a date."""
    if _missing(text):
        return None
    try:
        parsed = parse_date(text, order="MDY")
    except ValueProblem:
        return None
    return parsed.date if parsed else None


@dataclass
class _Clinical:
    """What the clinical sheets say about one patient."""

    collection: str
    where: str
    sex: str | None = None
    age: tuple[float, float] | None = None
    covid: str | None = None
    icu: bool | None = None
    died: bool | None = None
    visit_start: dt.date | None = None
    events: list[tuple[str, float]] = field(default_factory=list)
    labs: list[dict[str, object]] = field(default_factory=list)


class SheetReader:
    """The sheet half of the TCIA reader (the base of
    :class:`~covidimg.sources.tcia.join.SheetJoin`, whose ``start_sheets`` sets ``ledger``,
    ``clinical``, ``ricord_rows``, ``ricord_studies``, ``annotations`` and ``sheet_patients``)."""

    ledger: Ledger
    clinical: dict[str, _Clinical]
    ricord_studies: dict[str, tuple[str, dt.date | None, str]]
    ricord_rows: list[dict[str, object]]
    annotations: list[dict[str, object]]
    sheet_patients: dict[str, list[str]]

    def read_csv(self, path: str) -> None:
        try:
            frame = read_text_table(path, self.ledger)
        except TableReadError as exc:
            self.reject(path, f"unreadable CSV: {exc.reason}")
            return
        frame.columns = [str(c).strip() for c in frame.columns]
        if all(c in frame.columns for c in _SBU_REQUIRED):
            self.read_sbu(path, frame)
            self.ledger.file(path, "used", reason="COVID-19-NY-SBU clinical sheet")
        elif all(c in frame.columns for c in _ANNOTATION):
            self.read_annotations(path, frame)
            self.ledger.file(path, "used", reason="MIDRC-RICORD MD.ai annotation labels")
        elif {"Series UID", "File Location"} <= set(frame.columns):
            self.ledger.file(path, "ignored", reason="NBIA Data Retriever metadata.csv; the "
                             "DICOM headers are read directly")
        else:
            self.ledger.file(path, "ignored", reason="CSV with none of the recognised clinical "
                             f"layouts (SBU needs {list(_SBU_REQUIRED)}, RICORD annotations "
                             f"{list(_ANNOTATION)}); columns {list(frame.columns)[:8]}")

    def read_xlsx(self, path: str) -> None:
        try:
            sheets = read_workbook(path, self.ledger)
        except TableReadError as exc:
            self.reject(path, f"unreadable workbook: {exc.reason}")
            return
        used = []
        name = os.path.basename(path)
        for sheet, raw in sheets.items():
            raw = raw.fillna("")
            header_row = next((i for i in range(min(6, len(raw)))
                               if {"PATIENT_ID", "Anon MRN"} & {str(v).strip()
                                                               for v in raw.iloc[i]}), None)
            if header_row is None:
                continue
            frame = raw.iloc[header_row + 1:].copy()
            frame.columns = [str(c).strip() for c in raw.iloc[header_row]]
            if not len(frame):
                self.ledger.finding("empty_table", f"{name}[{sheet}]: the sheet has a header "
                                    "but no rows", path=path)
            frame = frame.apply(lambda s: s.astype(str).str.strip())
            where = f"{path}[{sheet}]"
            if all(c in frame.columns for c in _RICORD_META):
                self.read_ricord_meta(where, frame, header_row, sheet=str(sheet))
                used.append(f"MIDRC-RICORD metadata (sheet {sheet!r})")
            elif all(c in frame.columns for c in _AR_REQUIRED):
                if header_row > 0:
                    self.ledger.finding("title_row", f"{name}[{sheet}]: header found on row "
                                        f"{header_row + 1} below a title row; read from there",
                                        path=path)
                self.read_ar(where, frame, header_row)
                used.append(f"COVID-19-AR clinical sheet (sheet {sheet!r})")
        if used:
            self.ledger.file(path, "used", reason="; ".join(used))
        else:
            self.ledger.file(path, "ignored", reason="workbook with no sheet in a recognised "
                             "clinical layout (AR: PATIENT_ID header; RICORD-1C: Anon MRN and "
                             "Anon Study UID)")

    def reject(self, path: str, reason: str) -> None:
        self.ledger.file(path, "rejected", reason=reason)
        self.ledger.finding("unreadable_file", f"{os.path.basename(path)}: {reason}", path=path)

    # ------------------------------------------------------------------ sheets
    def _patient(self, pid: str, collection: str, where: str) -> _Clinical:
        self.sheet_patients.setdefault(collection, []).append(pid)
        if pid in self.clinical:
            self.ledger.finding("duplicate_row", f"patient {pid!r} appears again in a "
                                f"{collection} sheet; the first row is kept", path=where)
            return _Clinical(collection, where)  # filled and discarded
        info = _Clinical(collection, where)
        self.clinical[pid] = info
        return info

    def flag(self, value: str, column: str, where: str) -> bool | None:
        if _missing(value):
            return None
        flag = _YES.get(value.strip().lower())
        if flag is None:
            self.ledger.finding("unknown_value", f"{column} {describe_value(value)} is not a "
                                "yes/no flag",
                                path=where)
        return flag

    def read_sbu(self, path: str, frame: pd.DataFrame) -> None:
        lab_columns = {c: SBU_LABS[c.split("_", 1)[0]] for c in frame.columns
                       if "_" in c and c.split("_", 1)[0] in SBU_LABS}
        for i, row in frame.iterrows():
            where = f"{path}:{int(i) + 2}"
            pid = row["to_patient_id"]
            if _missing(pid):
                self.ledger.finding("missing_identifier", "row without to_patient_id; skipped",
                                    path=where)
                continue
            info = self._patient(pid, "COVID-19-NY-SBU", where)
            band = parse_age_band(row["age.splits"])
            if band is None and not _missing(row["age.splits"]):
                self.ledger.finding("unparseable_value", "age.splits "
                                    f"{describe_value(row['age.splits'])} is not an interval "
                                    "like '[18,59]' or '(59,74]'", path=where)
            info.age = band
            sex = row.get("gender_concept_name", "")
            info.sex = _SEX.get(sex.lower()) if not _missing(sex) else None
            status = row.get("covid19_statuses", "").lower()
            info.covid = status if status in ("positive", "negative") else None
            info.icu = self.flag(row.get("is_icu", ""), "is_icu", where)
            last = row.get("last.status", "").lower()
            info.died = {"deceased": True, "discharged": False}.get(last)
            if not _missing(last) and info.died is None:
                self.ledger.finding("unknown_value", "last.status "
                                    f"{describe_value(row['last.status'])} is neither "
                                    "discharged nor deceased", path=where)
            info.visit_start = _sheet_date(row.get("visit_start_datetime"))
            if info.visit_start is None and not _missing(row.get("visit_start_datetime")):
                self.ledger.finding("unparseable_value", "visit_start_datetime "
                                    f"{describe_value(row['visit_start_datetime'])} is not a "
                                    "M/D/YYYY date",
                                    path=where)
            if row.get("visit_concept_name", "") == "Inpatient Visit":
                info.events.append(("admission", 0.0))
            stay = parse_censored_text(row.get("length_of_stay", ""))
            if last == "discharged" and stay is not None and stay[2] == "none":
                info.events.append(("discharge", stay[0]))
            for column, (measure, unit) in lab_columns.items():
                text = row[column]
                if _missing(text):
                    continue
                parsed = parse_censored_text(text)
                if parsed is None:
                    self.ledger.finding("unparseable_value", f"column {column!r}: "
                                        f"{describe_value(text)} is not a number ({unit})",
                                        path=where)
                    continue
                lower, upper, censor = parsed
                info.labs.append({"analyte": units.analyte_of(measure),
                                  "unit": units.canonical_unit(measure),
                                  "lower": units.convert(measure, lower, unit),
                                  "upper": units.convert(measure, upper, unit),
                                  "censor": censor, "day": np.nan, "offset": np.nan,
                                  "value_raw": f"{text} {unit}"})

    def read_ar(self, where: str, frame: pd.DataFrame, header_row: int) -> None:
        for k, (_, row) in enumerate(frame.iterrows()):
            line = f"{where}:row {header_row + k + 2}"
            pid = row["PATIENT_ID"]
            if _missing(pid):
                continue
            info = self._patient(pid, "COVID-19-AR", line)
            sex = row.get("SEX", "")
            info.sex = _SEX.get(sex.lower()) if not _missing(sex) else None
            if not _missing(row.get("AGE")):
                info.age = parse_age_band(row["AGE"])
                if info.age is None:
                    self.ledger.finding("unparseable_value", f"AGE {describe_value(row['AGE'])} is "
                                        "not a number", path=line)
            positive = self.flag(row.get("COVID TEST POSITIVE", ""), "COVID TEST POSITIVE",
                                 line)
            info.covid = None if positive is None else ("positive" if positive else "negative")
            info.icu = self.flag(row.get("ICU Admit", ""), "ICU Admit", line)
            info.died = self.flag(row.get("MORTALITY", ""), "MORTALITY", line)

    def read_ricord_meta(self, where: str, frame: pd.DataFrame, header_row: int, *,
                         sheet: str = "") -> None:
        """RICORD metadata rows, kept until the images are known: each is keyed by the study
        it lists (:meth:`covidimg.sources.tcia.join.SheetJoin.resolve_ricord`), so that a
        MIDRC-RICORD-1A, 1B or 1C sheet links to its own collection's patients."""
        positive = " pos " in f" {sheet.lower()} "  # "CR Pos - TCIA Submission"
        for k, (_, row) in enumerate(frame.iterrows()):
            mrn, study = row["Anon MRN"], row["Anon Study UID"]
            if _missing(mrn) or _missing(study):
                continue
            self.ricord_rows.append({"mrn": mrn, "study": study, "sheet": where,
                                     "date": _sheet_date(row.get("Anon TCIA Study Date")),
                                     "where": f"{where}:row {header_row + k + 2}",
                                     "positive": positive})

    def read_annotations(self, path: str, frame: pd.DataFrame) -> None:
        for i, row in frame.iterrows():
            self.annotations.append({
                "mrn": row["Anon MRN"], "study_uid": row.get("Anon Study UID") or None,
                "reader": None if _missing(row.get("Reader_id")) else row["Reader_id"],
                "date": _sheet_date(row.get("Anon TCIA Study Date")),
                "class": row.get("CLASS_label", ""), "grade": row.get("GRADE_label", ""),
                "file": path, "where": f"{path}:{int(i) + 2}"})

    # ------------------------------------------------------------------ assembly
