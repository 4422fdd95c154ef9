"""The UChicago CRDW COVID-19 Limited Datamart (images from HIRO, clinical tables from CRDW).

Layout (HIRO tip sheet, ``shared/sources/003``)::

    <root>/
      CXR-UPDATE-20200523-COMPLETE/                 one folder per weekly batch
        1234_20200301-140030_A003_XR-PORT-CHEST-1V.zip
          <series folder>/<instance>.dcm            one sub-folder per series inside each zip
      CT-UPDATE-20200602-IN-PROGRESS/               still uploading: skipped, reported
      C19_HIRO_LDS_REMAP_PUB-LIST.xlsx              old -> current C19 patient id
      datamart/patients.csv, encounters.csv, labs.xlsx   clinical datamart tables (CSV or xlsx)

Zip names are ``SSSS_yyyymmdd-hhmmss_AAAA_ExamDescription.zip``: SSSS = the C19 patient id,
the timestamp = date of service, AAAA = HIRO's exam identifier, then the Epic description.
Batch folders may sit anywhere under the root; zips outside a batch folder are read too.
DICOM is read from inside each zip (never extracted), headers only.

Clinical datamart tables
------------------------
CRDW's datamart schema is not public, so covidimg defines the tables it reads. Each is a ``.csv``
or ``.xlsx`` file anywhere under the root outside the batch folders, recognised by a word in its
file name (``patients``, ``encounters``, ``labs``; e.g. ``c19_labs_2020-06.xlsx``). Column names
are matched case-insensitively, spaces = underscores; ``c19_patient_id`` / ``c19_id`` /
``pat_id`` are accepted for ``patient_id``. Dates are ``YYYY-MM-DD`` or ``MM/DD/YYYY`` (US order),
optionally with a time (read by :func:`covidimg.sources._engine.dates.parse_date`).

``patients`` — one row per patient:
    ``patient_id`` (required; the current C19 patient id), ``sex`` (``F``/``M``/``Female``/
    ``Male``/other = ``U``), ``age`` (years at the COVID encounter; ``90+`` / ``>89`` = the
    band 90 to inf), ``covid_status`` (``positive``/``negative``/``detected``/
    ``not detected``/...), ``covid_encounter_date`` (the index event), ``covid_positive_date``
    (first positive test), ``death_date``.
``encounters`` — one row per hospital encounter:
    ``patient_id`` (required), ``admission_date``, ``discharge_date``, ``icu_admission_date``,
    ``icu_discharge_date``, ``death_date``.
``labs`` — one row per result:
    ``patient_id``, ``lab_name``, ``value`` (required; text: ``"12.5"``, ``"<0.5"``,
    ``">20000"``), ``unit``, ``result_date``. Lab names are mapped to analytes by
    :data:`LAB_NAMES`, units converted to the schema's canonical unit by
    :func:`covidimg.units.convert` (CRDW reports US units: CRP mg/dL, D-dimer ng/mL FEU, counts
    K/uL, BUN mg/dL, ...).

Day axis (:mod:`covidimg.sources._engine.harmonize`): day 0 = the patient's first hospital
admission; else the COVID encounter date (the datamart's index event); else the first exam; else
the earliest dated event or lab draw. Exam days come from the zip name's date; lab days from
``result_date``.

Remap workbook: the first sheet holds one row per remap, the old id in a column whose name
contains ``old`` and the current id in a column whose name contains ``new`` or ``current``
(e.g. ``OLD_C19_PATIENT_ID``, ``CURRENT_C19_PATIENT_ID``). Chains are followed.

Quirks handled (each reported in ``findings``):

* ``IN-PROGRESS`` batches are skipped: each file in one is ``ignored`` and the batch gives one
  ``in_progress_batch`` finding;
* a zip whose name does not parse is ``rejected`` (``unparseable_name``); an unreadable zip or
  member gives ``unreadable_file``;
* old patient ids are remapped (``remapped_patient``, one per old id);
* images whose patient has no clinical data after remapping are kept, as ``orphan_image``;
* CT exams split into several zips minutes apart with the same patient and AAAA are merged into
  one exam (``split_exam_merged``);
* exams whose every SOP Instance UID was already seen in an earlier exam (cross-batch copies) are
  dropped (``duplicate_exam``; their zips are ``duplicate``);
* pediatric exams (``P`` after the modality code) present twice with the same timestamp, a
  different AAAA and identical content (same member names, same pixel data) are collapsed
  (``duplicate_exam``);
* identical timestamps alone never make a duplicate.

Extra columns: ``images`` carries ``exam`` (the zip's name without ``.zip``; for a merged split
exam, its first part), ``batch``, ``hiro_id``, ``exam_description``, ``acquired`` (the zip
name's timestamp, ISO 8601), ``study_description``, ``series_description``, ``photometric`` and
``transfer_syntax``; ``patients`` carries ``has_clinical_data``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from covidimg import units
from covidimg.errors import DicomReadError, LoadError, ValueProblem
from covidimg.intervals import parse_censored_text
from covidimg.schema import ANALYTES
from covidimg.sources._engine.archives import finding_kind, iter_zip_headers
from covidimg.sources._engine.dates import parse_date, parse_dicom_date, parse_dicom_time
from covidimg.sources._engine.dicom import (
    HELPER_COLUMNS,
    IMAGE_MODALITIES,
    DicomHeader,
    parse_age,
    pixel_digest,
    series_table,
)
from covidimg.sources._engine.harmonize import DayAxis, event_offsets
from covidimg.sources._engine.ledger import Ledger, SourceTables, read_text_table, walk

__all__ = [
    "BATCH_PATTERN",
    "LAB_NAMES",
    "LOOKS_FOR",
    "NAME",
    "REMAP_WORKBOOK",
    "SPLIT_EXAM_MINUTES",
    "ZIP_PATTERN",
    "detect",
    "load",
    "parse_zip_name",
]

NAME = "crdw"
LOOKS_FOR = ("batch folders CXR-UPDATE-YYYYMMDD-COMPLETE / CT-UPDATE-...-IN-PROGRESS, exam zips "
             "SSSS_yyyymmdd-hhmmss_AAAA_Description.zip, or C19_HIRO_LDS_REMAP_PUB-LIST.xlsx")
SITE = "University of Chicago Medicine"
REMAP_WORKBOOK = "C19_HIRO_LDS_REMAP_PUB-LIST.xlsx"
#: Batch folder names: modality, batch date, state.
BATCH_PATTERN = re.compile(
    r"^(?P<kind>[A-Za-z]+)[-_ ]UPDATE[-_ ](?P<date>\d{8})[-_ ](?P<state>COMPLETE|IN[-_ ]PROGRESS)$",
    re.IGNORECASE)
#: Exam zip names (digit widths are not stated by HIRO, so ids are any letters / digits).
ZIP_PATTERN = re.compile(
    r"^(?P<patient>[A-Za-z0-9]+)_(?P<date>\d{8})-(?P<time>\d{6})_(?P<hiro>[A-Za-z0-9]+)_"
    r"(?P<description>.+)\.zip$", re.IGNORECASE)
#: Parts of one CT exam lie at most this many minutes apart.
SPLIT_EXAM_MINUTES = 60.0

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
_SEX = {"F": "F", "FEMALE": "F", "M": "M", "MALE": "M"}
_COVID = {"POSITIVE": "positive", "POS": "positive", "DETECTED": "positive", "Y": "positive",
          "YES": "positive", "NEGATIVE": "negative", "NEG": "negative",
          "NOT DETECTED": "negative", "N": "negative", "NO": "negative"}
_MODALITY_CODES = {"XR", "CR", "DX", "CT", "CTA", "MR", "US"}


# ---------------------------------------------------------------------- names
@dataclass(frozen=True)
class ZipName:
    """The parts of an exam zip's name."""

    patient_id: str
    timestamp: dt.datetime
    hiro_id: str
    description: str

    @property
    def pediatric(self) -> bool:
        """Whether the description has ``P`` right after the modality code."""
        words = [w for w in re.split(r"[-_ ]+", self.description.upper()) if w]
        return len(words) >= 2 and words[0] in _MODALITY_CODES and words[1] == "P"

    @property
    def is_ct(self) -> bool:
        """Whether the description names a CT exam."""
        return self.description.upper().startswith("CT")


def parse_zip_name(name: str) -> ZipName | None:
    """Parse ``SSSS_yyyymmdd-hhmmss_AAAA_ExamDescription.zip``; ``None`` if it does not parse.

    Examples
    --------
    >>> from covidimg.sources.crdw import parse_zip_name
    >>> z = parse_zip_name("1234_20200301-140030_A003_XR-P-PORT-CHEST-1V.zip")
    >>> z.patient_id, z.timestamp.isoformat(), z.hiro_id, z.pediatric
    ('1234', '2020-03-01T14:00:30', 'A003', True)
    >>> parse_zip_name("1234_2020-03-01_A003_XR.zip") is None
    True
    """
    match = ZIP_PATTERN.match(name)
    if not match:
        return None
    date, time = parse_dicom_date(match["date"]), parse_dicom_time(match["time"])
    if date is None or time is None:
        return None
    return ZipName(match["patient"], dt.datetime.combine(date, time), match["hiro"],
                   match["description"])


def _zip_name_problem(name: str) -> str:
    match = ZIP_PATTERN.match(name)
    if match:
        return (f"the timestamp {match['date']}-{match['time']} in {name!r} is not a valid "
                "date and time (yyyymmdd-hhmmss)")
    return (f"{name!r} does not follow SSSS_yyyymmdd-hhmmss_AAAA_ExamDescription.zip; rename it "
            "to the HIRO convention (patient id, date of service, HIRO id, description) to "
            "include it")


# ---------------------------------------------------------------------- detection
def detect(root: str) -> bool:
    """Whether ``root`` looks like a CRDW download (see :data:`LOOKS_FOR`).

    Examples
    --------
    >>> from covidimg.sources.crdw import detect
    >>> detect("/nonexistent")
    False
    """
    if "://" in root or not os.path.isdir(root):
        return False
    try:
        entries = os.listdir(root)
    except OSError:
        return False
    for entry in entries:
        full = os.path.join(root, entry)
        if os.path.isdir(full) and BATCH_PATTERN.match(entry):
            return True
        if entry.lower() == REMAP_WORKBOOK.lower():
            return True
        if os.path.isfile(full) and parse_zip_name(entry) is not None:
            return True
    return False


# ---------------------------------------------------------------------- small parsers
def _norm_id(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    return text or None


# ---------------------------------------------------------------------- the loader
@dataclass
class _Exam:
    path: str
    name: ZipName
    patient_id: str
    batch: str | None
    batch_date: dt.date | None
    headers: list[DicomHeader]
    parts: list[str] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return Path(self.path).stem

    @property
    def sops(self) -> set[str]:
        return {h.sop_uid for h in self.headers if h.sop_uid}

    def order(self) -> tuple:
        return (self.batch_date or dt.date.min, self.name.timestamp, self.name.hiro_id,
                self.path)


class _CrdwLoader:
    def __init__(self, root: str, progress: bool) -> None:
        self.root = os.path.abspath(root)
        self.progress = progress
        self.ledger = Ledger(NAME, self.root)
        self.remap: dict[str, str] = {}
        self.remap_source: dict[str, str] = {}
        self.applied_remaps: set[str] = set()
        self.tables: dict[str, list[tuple[str, pd.DataFrame]]] = {w: [] for w in _TABLE_WORDS}
        self._dated: dict[str, list[tuple[str, dt.date]]] = {}

    # -------------------------------------------------------------- walking
    def _walk(self) -> tuple[list[tuple[str, str | None, dt.date | None]], list[str]]:
        """Classify every file; return (exam zips with batch, clinical/remap files)."""
        zips: list[tuple[str, str | None, dt.date | None]] = []
        others: list[str] = []
        for dirpath, dirnames, filenames in walk(self.root, self.ledger):
            dirnames.sort()
            rel_parts = Path(os.path.relpath(dirpath, self.root)).parts
            batch = next((p for p in reversed(rel_parts) if BATCH_PATTERN.match(p)), None)
            match = BATCH_PATTERN.match(batch) if batch else None
            if match and "PROGRESS" in match["state"].upper():
                continue  # handled by _skip_in_progress
            batch_date = parse_dicom_date(match["date"]) if match else None
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                if name.lower().endswith(".zip"):
                    zips.append((full, batch, batch_date))
                else:
                    others.append(full)
        return zips, others

    def _skip_in_progress(self) -> None:
        for dirpath, dirnames, _ in os.walk(self.root):
            dirnames.sort()
            for d in list(dirnames):
                match = BATCH_PATTERN.match(d)
                if not (match and "PROGRESS" in match["state"].upper()):
                    continue
                folder = os.path.join(dirpath, d)
                files = sorted(os.path.join(p, f) for p, _, fs in os.walk(folder) for f in fs)
                for path in files:
                    self.ledger.file(path, "ignored",
                                     reason=f"in batch {d}, which is still uploading "
                                            "(IN-PROGRESS); download it again once it is "
                                            "renamed COMPLETE")
                self.ledger.finding(
                    "in_progress_batch",
                    f"batch {d} is still uploading (IN-PROGRESS): its {len(files)} files were "
                    "skipped; download it again once HIRO renames it COMPLETE",
                    path=folder)
                dirnames.remove(d)

    # -------------------------------------------------------------- side files
    def _read_table(self, path: str) -> pd.DataFrame | None:
        try:
            if path.lower().endswith(".csv"):
                frame = read_text_table(path, self.ledger)
            else:
                frame = pd.read_excel(path, dtype=str, engine="openpyxl")
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
                                    patient_uid=f"{NAME}:{patient_id}")
                return patient_id
            seen.append(current)
        if current != patient_id and patient_id not in self.applied_remaps:
            self.applied_remaps.add(patient_id)
            self.ledger.finding(
                "remapped_patient",
                f"old C19 patient id {patient_id} -> current id {current} (via "
                f"{' -> '.join(seen)}; {self.remap_source[patient_id]})",
                patient_uid=f"{NAME}:{current}")
        return current

    # -------------------------------------------------------------- exams
    def _read_exams(self, zips: list[tuple[str, str | None, dt.date | None]]) -> list[_Exam]:
        exams: list[_Exam] = []
        for path, batch, batch_date in tqdm(zips, desc="crdw: reading exam zips", unit="zip",
                                            disable=not self.progress):
            name = parse_zip_name(os.path.basename(path))
            if name is None:
                reason = _zip_name_problem(os.path.basename(path))
                self.ledger.file(path, "rejected", reason=reason)
                self.ledger.finding("unparseable_name", reason, path=path)
                continue
            try:
                results = list(iter_zip_headers(path))
            except DicomReadError as exc:
                self.ledger.file(path, "rejected", reason=exc.reason)
                self.ledger.finding("unreadable_file", str(exc), path=path)
                continue
            headers: list[DicomHeader] = []
            for label, result in results:
                if isinstance(result, DicomReadError):
                    self.ledger.finding(finding_kind(result), str(result), path=label)
                elif result.modality not in IMAGE_MODALITIES:
                    self.ledger.finding(
                        "unsupported_modality",
                        f"member has modality {result.modality!r}; covidimg indexes "
                        f"{list(IMAGE_MODALITIES)} only", path=label)
                else:
                    headers.append(result)
            if not headers:
                reason = (f"no readable CR/DX/CT/MR DICOM image among its {len(results)} "
                          "members")
                self.ledger.file(path, "rejected", reason=reason)
                self.ledger.finding("unreadable_file", reason, path=path)
                continue
            ids = {h.patient_id for h in headers if h.patient_id}
            if ids - {name.patient_id}:
                self.ledger.finding(
                    "patient_id_mismatch",
                    f"DICOM Patient ID {sorted(ids)} differs from the zip name's id "
                    f"{name.patient_id}; the zip name's id is used", path=path)
            exams.append(_Exam(path, name, self.resolve(name.patient_id), batch, batch_date,
                               headers, [path]))
        exams.sort(key=_Exam.order)
        return exams

    def _merge_split_ct(self, exams: list[_Exam]) -> list[_Exam]:
        groups: dict[tuple[str, str], list[_Exam]] = defaultdict(list)
        for exam in exams:
            if exam.name.is_ct or any(h.modality == "CT" for h in exam.headers):
                groups[(exam.patient_id, exam.name.hiro_id.upper())].append(exam)
        absorbed: set[int] = set()
        for parts in groups.values():
            parts.sort(key=lambda e: (e.name.timestamp, e.path))
            primary = parts[0]
            for part in parts[1:]:
                gap = (part.name.timestamp - primary.name.timestamp).total_seconds() / 60.0
                if gap > SPLIT_EXAM_MINUTES or part.sops & primary.sops:
                    primary = part  # a separate exam, or a copy (handled as a duplicate)
                    continue
                primary.headers.extend(part.headers)
                primary.parts.append(part.path)
                absorbed.add(id(part))
                self.ledger.finding(
                    "split_exam_merged",
                    f"{os.path.basename(part.path)} is part of the CT exam "
                    f"{os.path.basename(primary.path)} (same patient, same HIRO id "
                    f"{part.name.hiro_id}, {gap:.0f} minutes apart); merged into one exam",
                    patient_uid=f"{NAME}:{primary.patient_id}", path=part.path)
        return [e for e in exams if id(e) not in absorbed]

    def _drop_sop_duplicates(self, exams: list[_Exam]) -> tuple[list[_Exam], dict[str, str]]:
        seen: dict[str, _Exam] = {}
        kept: list[_Exam] = []
        duplicate_of: dict[str, str] = {}
        for exam in exams:
            sops = exam.sops
            if sops and sops <= seen.keys():
                originals = sorted({os.path.basename(seen[s].path) for s in sops})
                same_time = all(seen[s].name.timestamp == exam.name.timestamp for s in sops)
                for path in exam.parts:
                    duplicate_of[path] = ", ".join(originals)
                self.ledger.finding(
                    "duplicate_exam",
                    f"{os.path.basename(exam.path)} (batch {exam.batch}) repeats the exam "
                    f"{', '.join(originals)}: all {len(sops)} SOP Instance UIDs identical "
                    f"({'same' if same_time else 'different'} timestamp, HIRO id "
                    f"{exam.name.hiro_id}); the copy is dropped",
                    patient_uid=f"{NAME}:{exam.patient_id}", path=exam.path)
                continue
            overlap = sops & seen.keys()
            if overlap:
                exam.headers = [h for h in exam.headers if h.sop_uid not in overlap]
                self.ledger.finding(
                    "duplicate_instances",
                    f"{len(overlap)} of the {len(sops)} instances of "
                    f"{os.path.basename(exam.path)} were already read from an earlier exam "
                    "(same SOP Instance UID); those copies are dropped",
                    patient_uid=f"{NAME}:{exam.patient_id}", path=exam.path)
            for sop in sops - overlap:
                seen[sop] = exam
            kept.append(exam)
        return kept, duplicate_of

    def _content(self, exam: _Exam) -> tuple[tuple[str, str], ...] | None:
        """(member name, pixel digest) of every member, or None if one cannot be read."""
        out = []
        for h in exam.headers:
            archive, member = h.path.split("::", 1)
            try:
                with zipfile.ZipFile(archive) as zf, zf.open(member) as fh:
                    out.append((member, pixel_digest(fh, label=h.path)))
            except (DicomReadError, OSError, zipfile.BadZipFile, KeyError):
                return None
        return tuple(sorted(out))

    def _collapse_pediatric(self, exams: list[_Exam],
                            duplicate_of: dict[str, str]) -> list[_Exam]:
        groups: dict[tuple[str, dt.datetime], list[_Exam]] = defaultdict(list)
        for exam in exams:
            if exam.name.pediatric:
                groups[(exam.patient_id, exam.name.timestamp)].append(exam)
        dropped: set[int] = set()
        for candidates in groups.values():
            if len(candidates) < 2:
                continue
            contents = {id(e): self._content(e) for e in candidates}
            for i, later in enumerate(candidates):
                for earlier in candidates[:i]:
                    if id(earlier) in dropped or \
                            earlier.name.hiro_id.upper() == later.name.hiro_id.upper():
                        continue
                    content = contents[id(later)]
                    if content is None or content != contents[id(earlier)]:
                        continue
                    dropped.add(id(later))
                    for path in later.parts:
                        duplicate_of[path] = os.path.basename(earlier.path)
                    self.ledger.finding(
                        "duplicate_exam",
                        f"pediatric exam {os.path.basename(later.path)} is a second copy of "
                        f"{os.path.basename(earlier.path)}: same timestamp, HIRO ids "
                        f"{earlier.name.hiro_id} / {later.name.hiro_id}, identical member "
                        f"names and pixel data ({len(content)} images); the copy is dropped",
                        patient_uid=f"{NAME}:{later.patient_id}", path=later.path)
                    break
        return [e for e in exams if id(e) not in dropped]

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
                f"{kind}.{column} = {row[column]!r} is not a date (expected YYYY-MM-DD or "
                "MM/DD/YYYY); left empty",
                patient_uid=f"{NAME}:{row['patient_id']}",
                path=f"{row['_file']} row {row['_row']}")
            return None
        return parsed.date if parsed else None

    def _clinical(self) -> tuple[dict[str, dict], dict[str, list[tuple[str, dt.date]]]]:
        """Per patient: attributes, and dated events."""
        info: dict[str, dict] = defaultdict(dict)
        events: dict[str, list[tuple[str, dt.date]]] = defaultdict(list)
        for _, row in self._frame("patients").iterrows():
            pid = row["patient_id"]
            entry = info[pid]
            entry["listed"] = True
            if "sex" in row.index and row["sex"].strip():
                sex = _SEX.get(row["sex"].strip().upper())
                if sex is None:
                    self.ledger.finding("unparseable_value",
                                        f"patients.sex = {row['sex']!r} is not F/M; kept as U",
                                        patient_uid=f"{NAME}:{pid}",
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

    def _age(self, row: pd.Series) -> tuple[float, float]:
        text = row["age"].strip()
        if re.fullmatch(r"(90\+|>\s*89|>=\s*90)", text):
            return 90.0, float("inf")
        age = parse_age(text)
        if age is None:
            self.ledger.finding("unparseable_value",
                                f"patients.age = {text!r} is not a number of years; left empty",
                                patient_uid=f"{NAME}:{row['patient_id']}",
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
            if measure is None:
                unknown_names[lab].append(where)
                continue
            analyte = units.analyte_of(measure)
            unit = row["unit"] if "unit" in row.index else ""
            try:
                factor = units.factor(measure, unit)
            except units.UnitConversionError:
                unknown_units[(lab, str(unit))].append(where)
                continue
            parsed = parse_censored_text(row["value"])
            if parsed is None:
                self.ledger.finding(
                    "unparseable_value",
                    f"labs.value = {row['value']!r} ({lab}) is not a number, '<x' or '>x'; "
                    "the result is left out", patient_uid=f"{NAME}:{pid}", path=where)
                continue
            lower, upper, censor = parsed
            dates.append(self._date(row, "result_date", "labs"))
            rows.append({
                "patient_uid": f"{NAME}:{pid}", "image_uid": None, "analyte": analyte,
                "unit": units.canonical_unit(analyte), "lower": lower * factor,
                "upper": upper * factor, "censor": censor,
                "day": np.nan, "offset": np.nan, "value_raw": f"{row['value']} {unit}".strip(),
            })
        for lab, where in unknown_names.items():
            self.ledger.finding("unknown_lab",
                                f"lab name {lab!r} is not one covidimg maps to an analyte "
                                f"({len(where)} results left out; known names: "
                                "covidimg.sources.crdw.LAB_NAMES)", path=where[0])
        for (lab, unit), where in unknown_units.items():
            self.ledger.finding("unknown_unit",
                                f"unit {unit!r} of {lab} has no conversion to "
                                f"{units.canonical_unit(LAB_NAMES.get(lab, lab.lower()))} "
                                f"({len(where)} results left out; known units: "
                                f"{units.known_units(LAB_NAMES.get(lab, lab.lower()))})",
                                path=where[0])
        return pd.DataFrame(rows), dates

    # -------------------------------------------------------------- assembly
    def run(self) -> SourceTables:
        self._skip_in_progress()
        zips, others = self._walk()
        self._side_files(others)
        exams = self._read_exams(zips)
        exams = self._merge_split_ct(exams)
        exams, duplicate_of = self._drop_sop_duplicates(exams)
        exams = self._collapse_pediatric(exams, duplicate_of)

        exam_of = {h.path: exam for exam in exams for h in exam.headers}
        images = series_table((h for exam in exams for h in exam.headers), source=NAME,
                              patient_uid=lambda h: f"{NAME}:{exam_of[h.path].patient_id}")
        first_exam = [exam_of[paths[0]] for paths in images["member_paths"]]
        images["exam"] = [e.stem for e in first_exam]
        images["batch"] = [e.batch for e in first_exam]
        images["hiro_id"] = [e.name.hiro_id for e in first_exam]
        images["exam_description"] = [e.name.description for e in first_exam]
        images["acquired"] = [e.name.timestamp.isoformat() for e in first_exam]
        exam_date = [e.name.timestamp.date() for e in first_exam]

        info, dated_events = self._clinical()
        self._dated = dated_events
        clinical_ids = set(info)
        lab_ids = set(self._frame("labs")["patient_id"])
        clinical_ids |= lab_ids
        image_pids = [e.patient_id for e in first_exam]

        labs, lab_dates = self._labs()
        lab_pids = [uid.split(":", 1)[1] for uid in labs.get("patient_uid", [])]
        # Day 0 per patient (harmonize): the first admission; else the COVID encounter (the
        # datamart's index event); else the first exam; else the earliest event or lab draw.
        exams_of: dict[str, list[dt.date]] = defaultdict(list)
        for pid, date in zip(image_pids, exam_date, strict=True):
            exams_of[pid].append(date)
        facts_of: dict[str, list[dt.date]] = defaultdict(list)
        for pid, date in zip(lab_pids, lab_dates, strict=True):
            facts_of[pid].append(date)
        for pid, items in dated_events.items():
            facts_of[pid] += [d for _, d in items]
        axis = DayAxis.choose(
            sorted(clinical_ids | set(image_pids)),
            admission={pid: [d for ev, d in items if ev == "admission"]
                       for pid, items in dated_events.items()},
            index_event={pid: entry["index_date"] for pid, entry in info.items()
                         if entry.get("index_date")},
            first_exam=exams_of, first_fact=facts_of)
        if not any(self.tables.values()):
            self.ledger.finding("missing_clinical_data",
                                "no datamart tables (patients / encounters / labs .csv or "
                                ".xlsx) under the root: every image is without clinical data",
                                path=self.root)

        event_rows = []
        for pid, items in dated_events.items():
            for event, date in sorted(set(items), key=lambda x: (x[1], x[0])):
                if pid in axis:
                    event_rows.append({"patient_uid": f"{NAME}:{pid}", "event": event,
                                       "day": axis.day(pid, date)})
        events = pd.DataFrame(event_rows, columns=["patient_uid", "event", "day"])

        images["day"] = axis.days(image_pids, exam_date)
        for column, values in event_offsets(images["patient_uid"], images["day"],
                                            events).items():
            images[column] = values
        if len(labs):
            labs["day"] = axis.days(lab_pids, lab_dates)

        if any(self.tables.values()):
            for uid, pid in zip(images["image_uid"], image_pids, strict=True):
                if pid not in clinical_ids:
                    self.ledger.finding(
                        "orphan_image",
                        f"patient {pid} has no clinical data in the datamart tables and no "
                        f"entry in {REMAP_WORKBOOK}; the image is kept without clinical data",
                        patient_uid=f"{NAME}:{pid}", image_uid=uid)

        self._record_exam_files(exams, images, duplicate_of)
        patients = self._patients(info, clinical_ids, images, image_pids)
        images = images.drop(columns=[*HELPER_COLUMNS, "study_date", "study_time",
                                      "age_years", "sex"])
        return SourceTables(NAME, patients=patients, images=images, events=events, labs=labs,
                            files=self.ledger.files_frame(),
                            findings=self.ledger.findings_frame()).conformed()

    def _record_exam_files(self, exams: Iterable[_Exam], images: pd.DataFrame,
                           duplicate_of: dict[str, str]) -> None:
        uids_of: dict[str, list[str]] = defaultdict(list)
        for uid, paths in zip(images["image_uid"], images["member_paths"], strict=True):
            for zip_path in dict.fromkeys(p.split("::", 1)[0] for p in paths):
                uids_of[zip_path].append(uid)
        for exam in exams:
            for path in exam.parts:
                uids = uids_of.get(path, [])
                role = "" if path == exam.path else \
                    f"part of the split exam {os.path.basename(exam.path)}; "
                self.ledger.file(path, "used", image_uid=uids[0] if len(uids) == 1 else None,
                                 reason=f"{role}{len(uids)} image(s): {', '.join(uids)}")
        for path, original in duplicate_of.items():
            self.ledger.file(path, "duplicate", reason=f"copy of {original}")

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
                "patient_uid": f"{NAME}:{pid}", "source": NAME, "source_patient_id": pid,
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


def load(root: str, *, progress: bool = False) -> SourceTables:
    """Load a CRDW download (batch folders of exam zips, remap workbook, datamart tables).

    Parameters
    ----------
    root
        The download folder (see the module docstring for the layout).
    progress
        Show a progress bar (notebook-aware) while the exam zips are read.

    Returns
    -------
    SourceTables
        Conformed tables; ``files`` has one row per file under ``root`` (zips, tables,
        workbook, everything else), ``findings`` names every quirk met.

    Raises
    ------
    LoadError
        If ``root`` is not a local folder.

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.load({"crdw": "downloads/crdw"})   # doctest: +SKIP
    """
    root = os.fspath(root)
    if "://" in root:
        raise LoadError(f"crdw: root={root!r} is a URL; CRDW downloads are read from a local "
                        "folder. Download the batch folders first and pass that folder.")
    if not os.path.isdir(root):
        raise LoadError(f"crdw: root={root!r} is not a folder; pass the folder holding the "
                        "CXR-UPDATE-... / CT-UPDATE-... batch folders")
    return _CrdwLoader(root, progress).run()
