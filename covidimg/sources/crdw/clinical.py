"""CRDW's clinical datamart tables (patients, encounters, labs) and the remap workbook.

The tables and their columns are described in :mod:`covidimg.sources.crdw`;
:class:`ClinicalReader` reads them, remaps old patient ids, and turns rows into patient
attributes, dated events and lab results (converted by :mod:`covidimg.units`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import defaultdict

import numpy as np
import pandas as pd

from covidimg import units
from covidimg.errors import ValueProblem
from covidimg.intervals import parse_censored_text
from covidimg.schema import ANALYTES, UNIT_PATTERN
from covidimg.sources._engine.dates import parse_date
from covidimg.sources._engine.dicom import parse_age
from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.ledger import Ledger, read_text_table
from covidimg.sources._engine.observations import source_field
from covidimg.sources._engine.rows import drop_repeated_rows
from covidimg.sources._engine.workbook import read_workbook
from covidimg.sources.crdw.layout import REMAP_WORKBOOK

__all__ = ["LAB_NAMES", "SITE", "ClinicalReader"]

SITE = "University of Chicago Medicine"
#: Datamart lab names (upper case, single spaces) -> the measured quantity: an analyte of
#: :data:`covidimg.schema.ANALYTES`, or a measure of :data:`covidimg.units.MEASURES` (BUN / urea
#: nitrogen is ``urea_nitrogen``, reported as ``urea``; a lab named just "UREA" is urea).
LAB_NAMES: dict[str, str] = {
    "C-REACTIVE PROTEIN": "crp", "C REACTIVE PROTEIN": "crp", "CRP": "crp",
    "CRP, HIGH SENSITIVITY": "crp",
    "D-DIMER": "d_dimer", "D DIMER": "d_dimer", "D-DIMER, QUANTITATIVE": "d_dimer",
    "LACTATE DEHYDROGENASE": "ldh", "LDH": "ldh", "LD": "ldh",
    "LYMPHOCYTES, ABSOLUTE": "lymphocytes", "ABSOLUTE LYMPHOCYTE COUNT": "lymphocytes",
    "LYMPHOCYTE COUNT": "lymphocytes", "LYMPH ABS": "lymphocytes",
    "NEUTROPHILS, ABSOLUTE": "neutrophils", "ABSOLUTE NEUTROPHIL COUNT": "neutrophils",
    "NEUTROPHIL COUNT": "neutrophils", "NEUT ABS": "neutrophils",
    "PO2, ARTERIAL": "po2", "PO2": "po2", "PAO2": "po2",
    "PCO2, ARTERIAL": "pco2", "PCO2": "pco2", "PACO2": "pco2",
    "FACTOR XIII": "factor_xiii", "FACTOR XIII ACTIVITY": "factor_xiii",
    "WBC": "wcc", "WHITE BLOOD CELL COUNT": "wcc", "WBC COUNT": "wcc",
    "PLATELET COUNT": "platelets", "PLATELETS": "platelets",
    "FERRITIN": "ferritin", "CREATININE": "creatinine",
    "UREA NITROGEN": "urea_nitrogen", "BUN": "urea_nitrogen",
    "BLOOD UREA NITROGEN": "urea_nitrogen", "UREA": "urea",
    "TROPONIN T": "troponin_t", "TROPONIN I": "troponin_i",
    "FIBRINOGEN": "fibrinogen", "LACTATE": "lactate", "LACTIC ACID": "lactate",
    "FIO2": "fio2",
}
_TABLE_WORDS = ("patients", "encounters", "labs")
_ID_ALIASES = ("c19_patient_id", "c19_id", "pat_id", "patientid")
_REQUIRED = {"patients": ("patient_id",), "encounters": ("patient_id",),
             "labs": ("patient_id", "lab_name", "value")}
#: Columns the datamart tables normally have; their absence is reported.
_EXPECTED = {"patients": ("sex", "age", "covid_status"), "encounters": ("admission_date",),
             "labs": ("unit", "result_date")}
#: Every column covidimg reads into patients / events / labs, per table.
_READ = {"patients": ("patient_id", "sex", "age", "covid_status", "covid_encounter_date",
                      "covid_positive_date", "death_date"),
         "encounters": ("patient_id", "admission_date", "discharge_date", "icu_admission_date",
                        "icu_discharge_date", "death_date"),
         "labs": ("patient_id", "lab_name", "value", "unit", "result_date")}
#: Patients columns with a harmonized observation field, and their documented values (Epic's
#: race and ethnicity categories, the OMB categories): a value outside them is kept as its shape.
OBSERVED_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "race": ("race", ("White", "Black or African American", "Asian",
                      "American Indian or Alaska Native",
                      "Native Hawaiian or Other Pacific Islander", "More than one race",
                      "Other", "Unknown", "Patient Declined")),
    "ethnicity": ("ethnicity", ("Hispanic or Latino", "Not Hispanic or Latino", "Unknown",
                                "Patient Declined")),
}
_SEX = {"F": "F", "FEMALE": "F", "M": "M", "MALE": "M"}
_COVID = {"POSITIVE": "positive", "POS": "positive", "DETECTED": "positive", "Y": "positive",
          "YES": "positive", "NEGATIVE": "negative", "NEG": "negative",
          "NOT DETECTED": "negative", "N": "negative", "NO": "negative"}


def _norm_id(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    return text or None


class ClinicalReader:
    """The clinical half of the CRDW loader (a mixin of :class:`~covidimg.sources.crdw.loader.
    CrdwLoader`, which sets ``name``, ``ledger``, ``remap``, ``remap_source``,
    ``applied_remaps``, ``tables`` and ``_dated``)."""

    name: str
    ledger: Ledger
    remap: dict[str, str]
    remap_source: dict[str, str]
    applied_remaps: set[str]
    tables: dict[str, list[tuple[str, pd.DataFrame]]]
    _dated: dict[str, list[tuple[str, dt.date]]]
    #: Clinical values with no column in patients / events / labs, placed on the day axis and
    #: written to ``observations`` by the loader: (patient id, field, keywords of
    #: :meth:`~covidimg.sources._engine.observations.Observations.add` but ``day``, date).
    observed: list[tuple[str, str, dict, dt.date | None]]

    # -------------------------------------------------------------- side files
    def _read_table(self, path: str) -> pd.DataFrame | None:
        try:
            if path.lower().endswith(".csv"):
                frame = read_text_table(path, self.ledger)
            else:
                frame = next(iter(read_workbook(path, self.ledger, sheets="first",
                                                header=True).values()), pd.DataFrame())
                if frame.empty:
                    self.ledger.finding("empty_table", f"{os.path.basename(path)}: the first "
                                        "sheet has a header but no rows", path=path)
        except Exception as exc:  # pandas / openpyxl raise many types on bad files
            reason = f"cannot read the table ({type(exc).__name__}: {exc})"
            self.ledger.file(path, "rejected", reason=reason)
            self.ledger.finding("unreadable_file", reason, path=path)
            return None
        frame.columns = [re.sub(r"\s+", "_", str(c).strip().lower()) for c in frame.columns]
        for alias in _ID_ALIASES:
            if alias in frame.columns and "patient_id" not in frame.columns:
                frame = frame.rename(columns={alias: "patient_id"})
        return frame

    def _side_files(self, others: list[str]) -> None:
        for path in others:
            name = os.path.basename(path)
            lower = name.lower()
            if lower == REMAP_WORKBOOK.lower():
                self._read_remap(path)
                continue
            stem, ext = os.path.splitext(lower)
            words = set(re.split(r"[^a-z0-9]+", stem))
            kind = next((w for w in _TABLE_WORDS if w in words), None)
            if name.startswith("."):
                self.ledger.file(path, "ignored", reason="hidden or system file")
            elif kind and ext in (".csv", ".xlsx"):
                frame = self._read_table(path)
                if frame is None:
                    continue
                missing = [c for c in _REQUIRED[kind] if c not in frame.columns]
                if missing:
                    reason = (f"datamart {kind} table lacks required columns {missing}; it has "
                              f"{list(frame.columns)} (see covidimg.sources.crdw for the "
                              "expected columns)")
                    self.ledger.file(path, "rejected", reason=reason)
                    self.ledger.finding("unreadable_file", reason, path=path)
                    continue
                absent = [c for c in _EXPECTED[kind] if c not in frame.columns]
                if absent:
                    self.ledger.finding(
                        "missing_column", f"datamart {kind} table lacks columns {absent}; their "
                        "values are treated as unknown", path=path)
                for column in frame.columns:
                    if column not in _READ[kind] and not (kind == "patients" and
                                                          column in OBSERVED_COLUMNS):
                        self.ledger.finding(
                            "unexpected_field",
                            f"datamart {kind} table: column {describe_value(column)} is not "
                            "one covidimg reads into patients, events or labs; its values are "
                            "kept as observations of the field 'crdw:' + that name",
                            path=path)
                frame["_file"] = path
                frame["_row"] = np.arange(len(frame)) + 2  # spreadsheet row (header = 1)
                self.tables[kind].append((path, frame))
                self.ledger.file(path, "used", reason=f"clinical datamart table ({kind})")
            elif kind and ext == ".xls":
                self.ledger.file(path, "rejected",
                                 reason="old .xls workbook; save it as .xlsx or .csv to use it")
                self.ledger.finding("unreadable_file", "old .xls workbook; save it as .xlsx "
                                    "or .csv to use it", path=path)
            elif lower.endswith(".dcm"):
                self.ledger.file(path, "ignored",
                                 reason="loose DICOM file outside an exam zip; CRDW exams are "
                                        "read from their zips (keep the original download)")
            else:
                self.ledger.file(path, "ignored", reason="not part of the CRDW layout")

    def _read_remap(self, path: str) -> None:
        frame = self._read_table(path)
        if frame is None:
            return
        old_col = next((c for c in frame.columns if "old" in c), None)
        new_col = next((c for c in frame.columns if ("new" in c or "current" in c)
                        and c != old_col), None)
        if old_col is None or new_col is None:
            reason = (f"remap workbook needs an old-id column (name containing 'old') and a "
                      f"current-id column (name containing 'new' or 'current'); it has "
                      f"{[c for c in frame.columns if not c.startswith('_')]}")
            self.ledger.file(path, "rejected", reason=reason)
            self.ledger.finding("unreadable_file", reason, path=path)
            return
        for i, (old, new) in enumerate(zip(frame[old_col], frame[new_col], strict=True)):
            old_id, new_id = _norm_id(old), _norm_id(new)
            if old_id and new_id and old_id != new_id:
                self.remap[old_id] = new_id
                self.remap_source[old_id] = f"{os.path.basename(path)} row {i + 2}"
        self.ledger.file(path, "used", reason=f"patient id remap workbook ({len(self.remap)} "
                                              "remaps)")

    def resolve(self, patient_id: str) -> str:
        seen = [patient_id]
        current = patient_id
        while current in self.remap:
            current = self.remap[current]
            if current in seen:
                self.ledger.finding("remap_cycle", f"the remap workbook maps ids in a cycle "
                                    f"{' -> '.join([*seen, current])}; kept {patient_id}",
                                    patient_uid=f"{self.name}:{patient_id}")
                return patient_id
            seen.append(current)
        if current != patient_id and patient_id not in self.applied_remaps:
            self.applied_remaps.add(patient_id)
            self.ledger.finding(
                "remapped_patient",
                f"old C19 patient id {patient_id} -> current id {current} (via "
                f"{' -> '.join(seen)}; {self.remap_source[patient_id]})",
                patient_uid=f"{self.name}:{current}")
        return current

    # -------------------------------------------------------------- clinical
    def _frame(self, kind: str) -> pd.DataFrame:
        frames = [f for _, f in self.tables[kind]]
        if not frames:
            return pd.DataFrame(columns=[*_REQUIRED[kind], "_file", "_row"])
        frame = pd.concat(frames, ignore_index=True).fillna("")
        frame["patient_id"] = [self.resolve(p) if p else p
                               for p in (_norm_id(v) or "" for v in frame["patient_id"])]
        return frame[frame["patient_id"] != ""]

    def _date(self, row: pd.Series, column: str, kind: str) -> dt.date | None:
        if column not in row.index:
            return None
        try:
            parsed = parse_date(row[column], order="MDY")
        except ValueProblem:
            self.ledger.finding(
                "unparseable_value",
                f"{kind}.{column} = {describe_value(row[column])} is not a date (expected "
                "YYYY-MM-DD or "
                "MM/DD/YYYY); left empty",
                patient_uid=f"{self.name}:{row['patient_id']}",
                path=f"{row['_file']} row {row['_row']}")
            return None
        return parsed.date if parsed else None

    def _clinical(self) -> tuple[dict[str, dict], dict[str, list[tuple[str, dt.date]]]]:
        """Per patient: attributes, and dated events."""
        info: dict[str, dict] = defaultdict(dict)
        events: dict[str, list[tuple[str, dt.date]]] = defaultdict(list)
        listed = self._frame("patients")
        listed = drop_repeated_rows(
            listed, "patient_id", self.ledger, what="patient",
            where=lambda i: f"{listed.at[i, '_file']} row {listed.at[i, '_row']}",
            patient_uid=lambda pid: f"{self.name}:{pid}",
            compare=[c for c in listed.columns if c not in ("patient_id", "_file", "_row")])
        for _, row in listed.iterrows():
            pid = row["patient_id"]
            entry = info[pid]
            entry["listed"] = True
            self._observe_columns(row, "patients")
            if "sex" in row.index and row["sex"].strip():
                sex = _SEX.get(row["sex"].strip().upper())
                if sex is None:
                    self.ledger.finding("unparseable_value",
                                        f"patients.sex = {describe_value(row['sex'])} is not "
                                        "F/M; kept as U",
                                        patient_uid=f"{self.name}:{pid}",
                                        path=f"{row['_file']} row {row['_row']}")
                entry["sex"] = sex or "U"
            if "age" in row.index and row["age"].strip():
                entry["age"] = self._age(row)
            if "covid_status" in row.index and row["covid_status"].strip():
                entry["covid_status"] = _COVID.get(row["covid_status"].strip().upper(),
                                                   "unknown")
            for column, event in (("covid_positive_date", "covid_test_positive"),
                                  ("death_date", "death")):
                date = self._date(row, column, "patients")
                if date:
                    events[pid].append((event, date))
            encounter = self._date(row, "covid_encounter_date", "patients")
            if encounter:
                entry["index_date"] = encounter
        for _, row in self._frame("encounters").iterrows():
            pid = row["patient_id"]
            self._observe_columns(row, "encounters", date_column="admission_date")
            info[pid].setdefault("encounters", 0)
            info[pid]["encounters"] += 1
            for column, event in (("admission_date", "admission"),
                                  ("discharge_date", "discharge"),
                                  ("icu_admission_date", "icu_admission"),
                                  ("icu_discharge_date", "icu_release"),
                                  ("death_date", "death")):
                date = self._date(row, column, "encounters")
                if date:
                    events[pid].append((event, date))
        return info, events

    def _observe_columns(self, row: pd.Series, kind: str, *,
                         date_column: str | None = None) -> None:
        """Keep the row's columns that are no column of patients / events as observations
        (an encounter's on its admission date; a bad date is reported where it is read)."""
        where = f"{os.path.basename(row['_file'])} row {row['_row']}"
        date = None
        if date_column is not None and date_column in row.index:
            try:
                parsed = parse_date(row[date_column], order="MDY")
            except ValueProblem:
                parsed = None
            date = parsed.date if parsed else None
        for column in row.index:
            if column in _READ[kind] or column.startswith("_"):
                continue
            text = str(row[column]).strip()
            if not text:
                continue
            field, vocabulary = OBSERVED_COLUMNS.get(column, (None, ())) if kind == "patients" \
                else (None, ())
            known = {v.upper(): v for v in vocabulary}
            value = known.get(text.upper())
            try:
                number = float(text) if field is None else None
            except ValueError:
                number = None
            self.observed.append((row["patient_id"], field or source_field(self.name, column), {
                "value": value, "value_num": number, "value_raw": value or text,
                "origin": f"{where}: {column}", "vocabulary": vocabulary}, date))

    def _age(self, row: pd.Series) -> tuple[float, float]:
        text = row["age"].strip()
        if re.fullmatch(r"(90\+|>\s*89|>=\s*90)", text):
            return 90.0, float("inf")
        age = parse_age(text)
        if age is None:
            self.ledger.finding("unparseable_value",
                                f"patients.age = {describe_value(text)} is not a number of "
                                "years; left empty",
                                patient_uid=f"{self.name}:{row['patient_id']}",
                                path=f"{row['_file']} row {row['_row']}")
            return float("nan"), float("nan")
        return age, age

    def _labs(self) -> tuple[pd.DataFrame, list[dt.date | None]]:
        """The lab results (``day`` still empty) and the date of each."""
        frame = self._frame("labs")
        rows, dates = [], []
        unknown_names: dict[str, list[str]] = defaultdict(list)
        unknown_units: dict[tuple[str, str], list[str]] = defaultdict(list)
        for _, row in frame.iterrows():
            pid = row["patient_id"]
            where = f"{row['_file']} row {row['_row']}"
            lab = re.sub(r"\s+", " ", str(row["lab_name"]).strip().upper())
            measure = LAB_NAMES.get(lab) or (lab.lower() if lab.lower() in
                                             ANALYTES else None)
            unit = row["unit"] if "unit" in row.index else ""
            if measure is None:
                unknown_names[lab].append(where)
                self._observe_lab(row, lab, unit, where)
                continue
            analyte = units.analyte_of(measure)
            try:
                factor = units.factor(measure, unit)
            except units.UnitConversionError:
                unknown_units[(lab, str(unit))].append(where)
                self._observe_lab(row, lab, unit, where)
                continue
            parsed = parse_censored_text(row["value"])
            if parsed is None:
                self.ledger.finding(
                    "unparseable_value",
                    f"labs.value = {describe_value(row['value'])} ({lab}) is not a number, "
                    "'<x' or '>x'; "
                    "the result is left out", patient_uid=f"{self.name}:{pid}", path=where)
                continue
            lower, upper, censor = parsed
            dates.append(self._date(row, "result_date", "labs"))
            rows.append({
                "patient_uid": f"{self.name}:{pid}", "image_uid": None, "analyte": analyte,
                "unit": units.canonical_unit(analyte), "lower": lower * factor,
                "upper": upper * factor, "censor": censor,
                "day": np.nan, "offset": np.nan, "value_raw": f"{row['value']} {unit}".strip(),
            })
        for lab, where in unknown_names.items():
            self.ledger.finding("unknown_lab",
                                f"lab name {describe_value(lab)} is not one covidimg maps to "
                                f"an analyte ({len(where)} results kept as observations "
                                "'crdw:lab:' + the name, not labs, the first at this row; "
                                "known names: covidimg.sources.crdw.LAB_NAMES)",
                                path=where[0])
        for (lab, unit), where in unknown_units.items():
            self.ledger.finding("unknown_unit",
                                f"unit {describe_value(unit)} of {lab} has no conversion to "
                                f"{units.canonical_unit(LAB_NAMES.get(lab, lab.lower()))} "
                                f"({len(where)} results kept as observations, not labs; "
                                "known units: "
                                f"{units.known_units(LAB_NAMES.get(lab, lab.lower()))})",
                                path=where[0])
        return pd.DataFrame(rows), dates

    def _observe_lab(self, row: pd.Series, lab: str, unit: object, where: str) -> None:
        """A lab result covidimg cannot put in ``labs`` (an unknown name or unit), kept as the
        observation ``crdw:lab:<NAME>`` with its number, unit and date."""
        parsed = parse_censored_text(row["value"])
        exact = parsed is not None and parsed[2] == "none"
        unit_text = str(unit).strip()
        # a unit outside the schema's unit pattern (spaces, markup) stays in value_raw only
        symbol = unit_text if exact and re.fullmatch(UNIT_PATTERN, unit_text) else None
        self.observed.append((row["patient_id"], source_field(self.name, f"lab:{lab}"), {
            "value_num": parsed[0] if exact else None, "unit": symbol or None,
            "value_raw": f"{row['value']} {unit_text}".strip(), "origin": where},
            self._date(row, "result_date", "labs")))

    def _patients(self, info: dict[str, dict], clinical_ids: set[str], images: pd.DataFrame,
                  image_pids: list[str]) -> pd.DataFrame:
        first_header: dict[str, pd.Series] = {}
        for pid, (_, row) in zip(image_pids, images.iterrows(), strict=True):
            first_header.setdefault(pid, row)
        rows = []
        for pid in sorted(clinical_ids | set(image_pids)):
            entry = info.get(pid, {})
            header = first_header.get(pid)
            sex = entry.get("sex") or (header["sex"] if header is not None else "U")
            age = entry.get("age")
            if age is None and header is not None and not pd.isna(header["age_years"]):
                age = (float(header["age_years"]), float(header["age_years"]))
            has_clinical = pid in clinical_ids
            events = entry.get("encounters", 0) > 0
            rows.append({
                "patient_uid": f"{self.name}:{pid}", "source": self.name, "source_patient_id": pid,
                "sex": sex, "age_min": age[0] if age else np.nan,
                "age_max": age[1] if age else np.nan,
                "covid_status": entry.get("covid_status", "unknown"),
                "icu": None, "died": None, "site": SITE,
                "has_clinical_data": has_clinical, "_encounters": events,
            })
        patients = pd.DataFrame(rows)
        if len(patients):
            patients = self._outcomes(patients)
        return patients.drop(columns=["_encounters"], errors="ignore")

    def _outcomes(self, patients: pd.DataFrame) -> pd.DataFrame:
        icu, died = [], []
        for pid, enc in zip(patients["source_patient_id"], patients["_encounters"],
                            strict=True):
            dated = self._dated.get(pid, [])
            kinds = {e for e, _ in dated}
            icu.append(True if "icu_admission" in kinds else (False if enc else None))
            died.append(True if "death" in kinds else (False if enc else None))
        patients["icu"] = pd.array(icu, dtype="boolean")
        patients["died"] = pd.array(died, dtype="boolean")
        return patients
