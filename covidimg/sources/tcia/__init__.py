"""TCIA COVID-19 collections: the NBIA Data Retriever tree plus each collection's clinical sheet.

Layout (the folder the NBIA Data Retriever downloaded into; a ``manifest-<n>/`` level is fine)::

    <Collection>/<PatientID>/<MM-DD-YYYY-NA-StudyDescription-UID5>/<n.000000-Series-UID5>/1-1.dcm
    CT Images in COVID-19/volume-covid19-A-<NNNN>.nii.gz   that collection is NIfTI: one CT
                                                volume per file (:mod:`.volumes`), anywhere
    metadata.csv, LICENSE                       written by the retriever (ignored, with reason)
    clinical sheets, anywhere under the root, recognised by their columns:
      COVID-19-NY-SBU   CSV with to_patient_id, age.splits, visit_start_datetime, is_icu,
                        last.status, ... and LOINC-named lab columns
      COVID-19-AR       xlsx whose header row (PATIENT_ID, SEX, AGE, COVID TEST POSITIVE,
                        ICU Admit, MORTALITY, ...) sits below a title row
      MIDRC-RICORD-1C   metadata xlsx, sheet "CR Pos - TCIA Submission" (Anon MRN,
                        Anon TCIA Study Date, Anon Exam Description, Anon Study UID) and the
                        MD.ai annotation CSV (Anon MRN, Anon TCIA Study Date, Reader_id,
                        CLASS_label, GRADE_label, ...)
      MIDRC-RICORD-*    MD.ai annotation exports (.json, anywhere under the root)

``patient_uid`` is ``tcia:<PatientID>`` (TCIA patient ids are unique across its COVID
collections: AR and RICORD ids carry the collection name); should one id appear under two
collections, both become ``tcia:<Collection>/<PatientID>`` and a ``patient_id_collision`` finding
says so. Every patient and image carries a ``collection`` column.

Quirks handled:

* SBU ``age.splits`` are interval strings of whole years: ``[18,59]`` → 18..59, ``(59,74]`` →
  60..74 (an open end excludes its bound), ``(74,90]`` → 75..90;
* SBU dates (``visit_start_datetime`` M/D/YYYY and the DICOM dates) are shifted to around 1900
  for de-identification; they are only ever subtracted from each other (never an error). Day 0
  is the visit start; an ``Inpatient Visit`` gives an ``admission`` event on day 0, and
  ``last.status == discharged`` a ``discharge`` event on day ``length_of_stay``;
  ``deceased`` sets ``died`` (the sheet gives no death day);
* SBU lab columns are named ``<LOINC>_<name>`` in US units; :data:`SBU_LABS` maps each LOINC
  code to the quantity it measures and the sheet's unit, converted to the schema's canonical unit
  by :mod:`covidimg.units` (CRP mg/dL → mg/L, D-dimer ng/mL DDU → mg/L, creatinine mg/dL →
  µmol/L, urea nitrogen (BUN) mg/dL → urea mmol/L, troponin ng/mL → ng/L, ...). The sheet
  gives no draw date, so ``day`` and
  ``offset`` are NaN. ``NA`` means missing; ``<x`` / ``>x`` are censored; anything else that is
  not a number is an ``unparseable_value`` finding;
* AR's header row is found below its title row; ``Y`` / ``N`` flags;
* RICORD-1C's metadata lists each exam; studies listed but not downloaded are summarised in one
  finding, and study dates that disagree with the DICOM are reported. The MD.ai annotation
  labels are kept as extra image columns ``annotation_class`` / ``annotation_grade`` (the
  readers' labels, ``; ``-joined); reader names are not kept;
* RICORD's labels also fill ``annotations`` (:mod:`covidimg.sources.tcia.annotations`): the
  MD.ai JSON exports (boxes, polygons, labels; matched by SOP, series or study UID) and the
  annotation CSV, each sheet read in its own collection (1A, 1B or 1C);
* the day axis follows :mod:`covidimg.sources._engine.harmonize`: an SBU inpatient visit is the
  admission, any SBU visit the index event; without a dated clinical sheet (AR, RICORD, CT
  Images in COVID-19), day 0 is the patient's first exam; sex and age then come from the
  DICOM header;
* "CT Images in COVID-19" volumes become CT rows (``format="nifti"``, ``n_instances`` = the
  axial slices, ``tcia:<file stem>`` as image and patient uid, see :mod:`.volumes`); a volume,
  the only exam of its patient and undated, is that patient's day 0;
* a download with no usable image (empty, or only files of no use) gives an empty cohort with a
  ``no_images`` finding and every file in ``files``, never an error;
* COVID-19 status defaults per collection (:data:`COLLECTIONS`: RICORD-1B is the negative
  control set, every other collection is COVID-19 positive) unless a sheet says otherwise.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from covidimg import schema
from covidimg.errors import LoadError
from covidimg.sources import rejects_unknown_options
from covidimg.sources._engine.dicom import HELPER_COLUMNS
from covidimg.sources._engine.harmonize import choose_day_zero, days_between
from covidimg.sources._engine.index import images_from_index, index_dicom
from covidimg.sources._engine.ledger import Ledger, SourceTables, folder_prefix, walk
from covidimg.sources.tcia.annotations import AnnotationReader, sheet_hits
from covidimg.sources.tcia.layouts import detect_layout, resolve_collections
from covidimg.sources.tcia.sheets import (
    SBU_LABS,
    SheetReader,
    _Clinical,
    _missing,
    parse_age_band,
)
from covidimg.sources.tcia.volumes import NIFTI_COLLECTION, is_nifti_name, volume_rows

__all__ = ["COLLECTIONS", "LOOKS_FOR", "NAME", "SBU_LABS", "collection_defaults", "detect", "load",
           "parse_age_band"]

NAME = "tcia"
LOOKS_FOR = ("an NBIA Data Retriever tree <Collection>/<PatientID>/<study>/<series>/*.dcm of a "
             "TCIA COVID-19 collection (COVID-19-AR, COVID-19-NY-SBU, MIDRC-RICORD-1A/1B/1C), "
             "with its clinical sheets; the CT Images in COVID-19 NIfTI volumes "
             "(volume-covid19-A-<NNNN>.nii.gz); or an idc-index download "
             "(covid_19_ar/<PatientID>/<study>/<Modality>_<series>/), a tcia_utils download "
             "(tciaDownload/<SeriesInstanceUID>/) or a flat folder of such DICOM files")

#: Known collections: default COVID-19 status and site.
COLLECTIONS: dict[str, dict[str, str | None]] = {
    "COVID-19-AR": {"covid": "positive",
                    "site": "University of Arkansas for Medical Sciences"},
    "COVID-19-NY-SBU": {"covid": "positive", "site": "Stony Brook University"},
    "MIDRC-RICORD-1A": {"covid": "positive", "site": None},
    "MIDRC-RICORD-1B": {"covid": "negative", "site": None},
    "MIDRC-RICORD-1C": {"covid": "positive", "site": None},
    NIFTI_COLLECTION: {"covid": "positive", "site": None},
}
_DOC_NAMES = ("license", "readme", ".")


def collection_defaults(collection: str | None, patient_id: str) -> tuple[str | None, str | None]:
    """The default COVID-19 status and site of a patient of ``collection`` (a TCIA collection
    name, :data:`COLLECTIONS`), for when no clinical sheet says: ``(covid, site)``.

    RICORD's site is the part of its PatientIDs after the collection
    (``MIDRC-RICORD-1C-<site>-<n>``): a number (``419639``) or, for one site, ``SITE2``.

    Examples
    --------
    >>> from covidimg.sources.tcia import collection_defaults
    >>> collection_defaults("MIDRC-RICORD-1B", "MIDRC-RICORD-1B-419639-000340")
    ('negative', '419639')
    >>> collection_defaults(None, "x")
    (None, None)
    """
    defaults = COLLECTIONS.get(collection or "", {"covid": None, "site": None})
    site = defaults["site"]
    if site is None and collection and collection.startswith("MIDRC-RICORD"):
        match = re.match(rf"^{re.escape(collection)}-([A-Za-z0-9]+)-\d+$", patient_id)
        site = match.group(1) if match else None
    return defaults["covid"], site


def detect(root: str) -> bool:
    """Whether ``root`` (or a folder one or two levels down) holds a TCIA collection folder,
    or the CT Images in COVID-19 volumes (``volume-covid19-*.nii.gz``)."""
    base = Path(root)
    if not base.is_dir():
        return False
    if base.name in COLLECTIONS:
        return True
    for pattern in ("*", "*/*"):
        if any(p.is_dir() and p.name in COLLECTIONS for p in base.glob(pattern)):
            return True
    if any(p.is_file() for pattern in ("volume-covid19-*.nii*", "*/volume-covid19-*.nii*")
           for p in base.glob(pattern)):
        return True
    return detect_layout(root)  # an idc-index or tcia_utils download, a flat DICOM folder

class _Reader(SheetReader, AnnotationReader):
    def __init__(self, root: str, progress: bool) -> None:
        self.root = os.fspath(Path(root))
        self.prefix = folder_prefix(self.root)
        self.ledger = Ledger(NAME, self.root)
        self.progress = progress
        self.clinical: dict[str, _Clinical] = {}
        self.ricord_studies: dict[str, tuple[str, dt.date | None, str]] = {}
        self.annotations: list[dict[str, object]] = []
        self.json_files: list[str] = []
        self.sheet_patients: dict[str, list[str]] = {}
        self.volumes: list[str] = []  # NIfTI volumes (CT Images in COVID-19)

    # ------------------------------------------------------------------ files
    def walk(self) -> list[str]:
        dicoms = []
        for dirpath, dirnames, filenames in walk(self.root, self.ledger):
            dirnames.sort()
            prefix = folder_prefix(dirpath)
            for name in sorted(filenames):
                path = prefix + name
                lower = name.lower()
                if lower.startswith(_DOC_NAMES) or lower.endswith((".txt", ".md", ".pdf")):
                    self.ledger.file(path, "ignored", reason="documentation, licence or system "
                                     "file, not data")
                elif lower.endswith(".tcia"):
                    self.ledger.file(path, "ignored", reason="NBIA manifest (lists series to "
                                     "download)")
                elif lower.endswith(".csv"):
                    self.read_csv(path)
                elif lower.endswith((".xlsx", ".xlsm")):
                    self.read_xlsx(path)
                elif lower.endswith(".json"):
                    self.read_json(path)
                elif lower.endswith((".dcm", ".dicom", ".zip")) or "." not in lower:
                    dicoms.append(path)
                elif is_nifti_name(lower):
                    self.volumes.append(path)
                else:
                    self.ledger.file(path, "ignored", reason="not part of the NBIA tree or a "
                                     "known clinical sheet")
        return dicoms
    # ------------------------------------------------------------------ assembly
    def relative_parts(self, disk_path: str) -> list[str]:
        """The parts of ``disk_path`` (a path the walk found) below the root."""
        return disk_path[len(self.prefix):].split(os.sep)

    def collection_of(self, disk_path: str) -> str | None:
        rel = self.relative_parts(disk_path)
        known = [p for p in (os.path.basename(self.root), *rel) if p in COLLECTIONS]
        if known:
            return known[-1]
        return rel[-5] if len(rel) >= 5 else None

    def patient_folder_of(self, disk_path: str) -> str | None:
        """The folder right below the collection folder holding ``disk_path`` (NBIA's patient
        folder), or None when the file sits in the collection folder itself or in no known
        collection. Counted from the collection, not from the file: a study or series zip may
        sit at any level below the patient folder."""
        parts = [os.path.basename(self.root), *self.relative_parts(disk_path)]
        at = [i for i, part in enumerate(parts) if part in COLLECTIONS]
        if not at or at[-1] + 2 >= len(parts):
            return None
        return parts[at[-1] + 1]

    def load(self) -> SourceTables:
        dicom_paths = self.walk()
        index = index_dicom(dicom_paths, self.ledger, progress=self.progress,
                            desc="TCIA DICOM headers")
        table = images_from_index(index, NAME)
        members = table["member_paths"].tolist()
        # the file on disk holding each image's first instance (a zip member's archive)
        first_files = [index.disk_file[labels[0]] for labels in members]
        table["collection"] = resolve_collections(
            table, [self.collection_of(disk) for disk in first_files],
            [[os.path.basename(self.root), *self.relative_parts(disk)] for disk in first_files],
            self.ledger)
        volumes = volume_rows(self.volumes, self.ledger, NAME, self.collection_of)
        if len(volumes):
            table = pd.concat([table, volumes], ignore_index=True)
            members += volumes["member_paths"].tolist()
            first_files += volumes["path"].tolist()
        if not len(table):  # an empty or image-less download: an empty cohort, said so
            self.ledger.finding("no_images", f"no usable image under {self.root}; looked for "
                                f"{LOOKS_FOR}", path=self.root)
        table["source_patient_id"] = table["patient_uid"].str.split(":", n=1).str[1]
        clash = table.groupby("source_patient_id")["collection"].nunique()
        clash = set(clash[clash > 1].index)
        for pid in sorted(clash):
            self.ledger.finding("patient_id_collision", f"PatientID {pid!r} appears in several "
                                "collections; its uids carry the collection",
                                patient_uid=f"{NAME}:{pid}")
        table["patient_uid"] = [f"{NAME}:{c}/{p}" if p in clash else f"{NAME}:{p}"
                                for c, p in zip(table["collection"], table["source_patient_id"],
                                                strict=True)]
        self.check_folders(table, first_files)
        self.day_axis(table)
        self.annotate(table)
        annotations = self.annotation_table(table)
        patients, events, labs = self.patients(table)
        use = index.use
        for labels, image_uid in zip(members, table["image_uid"].tolist(), strict=True):
            for label in labels:
                use(label, image_uid)
        index.record(self.ledger)
        images = table.drop(columns=[*HELPER_COLUMNS, "study_date", "study_time", "age_years",
                                     "sex", "source_patient_id"])
        return SourceTables(NAME, patients=patients, images=images, events=events, labs=labs,
                            annotations=annotations, files=self.ledger.files_frame(),
                            findings=self.ledger.findings_frame()).conformed()

    def check_folders(self, table: pd.DataFrame, first_files: list[str]) -> None:
        """An ``inconsistent_value`` finding per image whose patient folder is not its
        PatientID (in a known collection's tree)."""
        folders = [self.patient_folder_of(disk) for disk in first_files]
        pids = table["source_patient_id"].tolist()
        known = table["collection"].isin(list(COLLECTIONS)).tolist()
        odd = [i for i, (folder, pid, k) in enumerate(zip(folders, pids, known, strict=True))
               if folder is not None and k and folder != pid]
        for i in odd:
            self.ledger.finding("inconsistent_value", f"file is in patient folder "
                                f"{folders[i]!r} but its PatientID is {pids[i]!r}; the header "
                                "wins", patient_uid=table["patient_uid"].iat[i],
                                image_uid=table["image_uid"].iat[i], path=table["path"].iat[i])

    def day_axis(self, table: pd.DataFrame) -> None:
        """``day`` (from the clinical sheet's visit start, else the patient's first exam) and
        ``admission_offset``; RICORD-1C metadata dates checked against the DICOM."""
        date = _as_days(table["study_date"])
        puid = table["patient_uid"]
        first = pd.Series(date, index=table.index).groupby(puid).min()
        visit = {pid: info.visit_start for pid, info in self.clinical.items()
                 if info.visit_start}
        inpatient = {pid: info.visit_start for pid, info in self.clinical.items()
                     if info.visit_start and ("admission", 0.0) in info.events}
        pids = table["source_patient_id"]
        # Day 0 (harmonize): an inpatient SBU visit is the admission, any SBU visit the index
        # event; without a dated sheet (AR, RICORD, CT Images in COVID-19), the first exam.
        start, _rules = choose_day_zero({"admission": _as_days(pids.map(inpatient)),
                                         "index_event": _as_days(pids.map(visit)),
                                         "first_exam": _as_days(puid.map(first.to_dict()))})
        days = days_between(date, start).astype(float)
        # A NIfTI volume has no date: the only exam of its patient is that patient's day 0
        # (the first-exam rule); beside other exams it has no day.
        volume = (table["format"] == "nifti").to_numpy()
        alone = (puid.map(puid.value_counts()) == 1).to_numpy()
        days[volume & alone] = 0.0
        for i in np.flatnonzero(np.isnat(date) & ~(volume & alone)):
            what = "the NIfTI volume carries no date" if volume[i] else \
                "no StudyDate in the DICOM header"
            self.ledger.finding("missing_value", f"{what}; the exam has no day",
                                patient_uid=puid.iat[i], image_uid=table["image_uid"].iat[i],
                                path=table["path"].iat[i])
        table["day"] = days
        admitted_pids = [pid for pid, info in self.clinical.items()
                         if ("admission", 0.0) in info.events]
        admitted = table["source_patient_id"].isin(admitted_pids).to_numpy()
        table["admission_offset"] = np.where(admitted, 0.0 - table["day"], np.nan)
        first_date: dict[str, object] = {}  # the study's date in its first image row
        for study, study_date in zip(table["study_uid"].tolist(), table["study_date"].tolist(),
                                     strict=True):
            first_date.setdefault(study, study_date)
        for study, (_pid, listed_date, where) in self.ricord_studies.items():
            if listed_date is not None and study in first_date and \
                    first_date[study] != listed_date:
                self.ledger.finding("inconsistent_value", f"RICORD metadata dates study {study} "
                                    f"{listed_date:%m/%d/%Y}, its DICOM says "
                                    f"{first_date[study]}", path=where)
        listed = set(self.ricord_studies)
        missing = sorted(listed - set(table["study_uid"]))
        if missing:
            self.ledger.finding("study_without_images", f"{len(missing)} exams listed in the "
                                "RICORD-1C metadata have no downloaded DICOM, e.g. "
                                f"{missing[:3]}", path=self.ricord_studies[missing[0]][2])

    def annotate(self, table: pd.DataFrame) -> None:
        table["annotation_class"] = None
        table["annotation_grade"] = None
        if not self.annotations:
            return
        unmatched = 0
        for note in self.annotations:
            hit = sheet_hits(note, table)
            if not hit.any():
                unmatched += 1
                continue
            for column, key in (("annotation_class", "class"), ("annotation_grade", "grade")):
                if _missing(note[key]):
                    continue
                for idx in table.index[hit]:
                    labels = set(filter(None, (table.at[idx, column] or "").split("; ")))
                    table.at[idx, column] = "; ".join(sorted(labels | {str(note[key])}))
        if unmatched:
            self.ledger.finding("unmatched_annotation", f"{unmatched} annotation rows match no "
                                "downloaded exam (by Anon Study UID, else Anon MRN and date)",
                                path=self.annotations[0]["where"])

    def patients(self, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        rows, events, labs = [], [], []
        imaged = set()
        sheet_collections = {c.collection for c in self.clinical.values()}
        first = _first_exams(table)
        for puid, pid, collection, dicom_sex, age_years in zip(
                first.index, first["source_patient_id"], first["collection"], first["sex"],
                first["age_years"], strict=True):
            imaged.add(pid)
            if not isinstance(collection, str):  # an image outside any collection's folders
                collection = None
            info = self.clinical.get(pid)
            if info is not None and info.collection != collection and \
                    collection in COLLECTIONS:
                info = None
            default_covid, site = collection_defaults(collection, pid)
            if info is None and collection in sheet_collections:
                self.ledger.finding("orphan_image", f"PatientID {pid!r} has images in "
                                    f"{collection} but no row in its clinical sheet; sex and age "
                                    "from the DICOM header", patient_uid=puid)
            sex = info.sex if info is not None and info.sex else dicom_sex
            if info is not None and info.sex and dicom_sex != "U" and dicom_sex != info.sex:
                self.ledger.finding("inconsistent_value", f"sex {info.sex} in the clinical "
                                    f"sheet, {dicom_sex} in the DICOM header; the sheet wins",
                                    patient_uid=puid, path=info.where)
            age = info.age if info is not None and info.age else None
            if age is None and pd.notna(age_years):
                age = (float(age_years), float(age_years))
            rows.append({
                "patient_uid": puid, "source": NAME, "source_patient_id": pid,
                "sex": sex or "U", "age_min": age[0] if age else np.nan,
                "age_max": age[1] if age else np.nan,
                "covid_status": (info.covid if info is not None and info.covid else None)
                or default_covid or "unknown",
                "icu": info.icu if info is not None else None,
                "died": info.died if info is not None else None,
                "site": site, "collection": collection,
            })
            if info is not None:
                events += [{"patient_uid": puid, "event": e, "day": d} for e, d in info.events]
                labs += [{"patient_uid": puid, "image_uid": None, **lab} for lab in info.labs]
        for collection, pids in self.sheet_patients.items():
            without = sorted(set(pids) - imaged)
            if without:
                self.ledger.finding("patients_without_images", f"{len(without)} of {len(pids)} "
                                    f"patients in the {collection} sheet have no downloaded "
                                    f"images and are not in the cohort, e.g. {without[:3]}")
        patients = pd.DataFrame(rows)
        if len(patients):
            patients["icu"] = patients["icu"].astype("boolean")
            patients["died"] = patients["died"].astype("boolean")
        return (patients, pd.DataFrame(events, columns=["patient_uid", "event", "day"]),
                pd.DataFrame(labs) if labs else schema.empty("labs"))


_FIRST_EXAM_COLUMNS = ["source_patient_id", "collection", "sex", "age_years"]


def _as_days(values: pd.Series) -> np.ndarray:
    """Dates (``datetime.date`` or missing) as a ``datetime64[s]`` array, NaT for missing."""
    return np.array([v if isinstance(v, dt.date) and not pd.isna(v) else None for v in values],
                    dtype="datetime64[D]").astype("datetime64[s]")


def _first_exams(table: pd.DataFrame) -> pd.DataFrame:
    """Per ``patient_uid`` (sorted), the row of its earliest ``day``: the row
    ``group.sort_values("day").iloc[0]`` gives, for all patients at once.

    Images without a day come last, in table order. Where images of a patient's earliest day
    disagree on a column used here, the choice among them is that of the sort pandas uses
    (NumPy's default, not stable), made on that patient's days alone.
    """
    codes, uniques = pd.factorize(table["patient_uid"], sort=True)
    n = len(table)
    day = table["day"].to_numpy(float)
    key = np.where(np.isnan(day), np.inf, day)
    order = np.lexsort((np.arange(n), key, codes))
    starts = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]]) if n else \
        np.array([], dtype=int)
    pick = order[starts]  # one row per code, codes ascending: the first in table order
    tied = (key == key[pick][codes]) & np.isfinite(key)
    tied[pick] = False
    rows = np.flatnonzero(tied)
    if len(rows):
        mine = table.iloc[rows][_FIRST_EXAM_COLUMNS].reset_index(drop=True)
        theirs = table.iloc[pick[codes[rows]]][_FIRST_EXAM_COLUMNS].reset_index(drop=True)
        same = ((mine == theirs) | (mine.isna() & theirs.isna())).all(axis=1).to_numpy()
        for code in np.unique(codes[rows[~same]]):
            members = np.flatnonzero(codes == code)
            values = day[members]
            members = members[~np.isnan(values)]  # what sort_values does: NaN last
            pick[code] = members[values[~np.isnan(values)].argsort(kind="quicksort")[0]]
    chosen = table.iloc[pick][_FIRST_EXAM_COLUMNS]
    chosen.index = pd.Index(uniques, name="patient_uid")
    return chosen


@rejects_unknown_options
def load(root: str | os.PathLike[str], *, progress: bool = False) -> SourceTables:
    """Read a TCIA download (NBIA tree plus clinical sheets) into harmonized tables.

    Parameters
    ----------
    root
        The NBIA Data Retriever download folder (holding collection folders, possibly inside a
        ``manifest-<n>`` folder), or one collection folder; clinical sheets anywhere below it.
    progress
        Show a progress bar while DICOM headers are read.

    Returns
    -------
    SourceTables
        patients, images, events, labs, files and findings, conformed to the schema.

    Raises
    ------
    LoadError
        If ``root`` is not a folder.

    Examples
    --------
    >>> from covidimg.sources import tcia
    >>> tables = tcia.load("downloads/tcia")                    # doctest: +SKIP
    >>> tables.patients.groupby("collection").size()            # doctest: +SKIP
    """
    root = Path(root)
    if not root.is_dir():
        raise LoadError(f"tcia: {root} is not a folder; pass the folder the NBIA Data Retriever "
                        "downloaded into (it holds one folder per collection)")
    return _Reader(os.fspath(root), progress).load()
