"""TCIA's clinical sheets joined onto an image table: shared by the ``tcia`` and ``idc`` sources.

:class:`SheetJoin` (a :class:`~covidimg.sources.tcia.sheets.SheetReader`) holds what the sheets
said and joins it onto an image table built by either source (one row per image, with
``patient_uid``, ``source_patient_id``, ``collection``, ``study_uid``, ``study_date``,
``format``, ``image_uid``, ``path``, ``sex`` and ``age_years`` of the image's header):

* :meth:`SheetJoin.resolve_ricord` keys RICORD metadata rows by the study they list: the patient
  and collection are those of the study's images (MIDRC-RICORD-1A, 1B or 1C alike), never a
  prefix added to ``Anon MRN``; a listed study not downloaded is keyed in the collection the
  sheet's other studies belong to;
* :meth:`SheetJoin.day_axis`: day 0 from the sheet's visit start (an SBU inpatient visit is the
  admission), else the patient's first exam; RICORD metadata dates checked against the images;
* :meth:`SheetJoin.annotate`: the MD.ai annotation labels, by ``Anon Study UID`` or by
  ``Anon MRN`` and study date in the collection whose images match;
* :meth:`SheetJoin.patients`: patients (sheet values win over the header, disagreements and
  patients missing on either side reported), events and labs.

:data:`COLLECTIONS` and :func:`collection_defaults` give each collection's default COVID-19
status and site.
"""
from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from covidimg import schema
from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.harmonize import choose_day_zero, days_between
from covidimg.sources._engine.ledger import Ledger
from covidimg.sources.tcia.sheets import SheetReader, _Clinical, _missing
from covidimg.sources.tcia.volumes import NIFTI_COLLECTION

__all__ = ["COLLECTIONS", "SheetJoin", "collection_defaults"]

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




class SheetJoin(SheetReader):
    """What a source's clinical sheets say, and its join onto that source's image table.

    Call :meth:`start_sheets` first, then the sheet readers (``read_csv``, ``read_xlsx``), then
    :meth:`join` with the image table.
    """

    source: str

    def start_sheets(self, source: str, ledger: Ledger) -> None:
        """Nothing read yet: rows of ``source`` (its ``NAME``), files and findings in ``ledger``."""
        self.source = source
        self.ledger = ledger
        self.clinical: dict[str, _Clinical] = {}
        self.ricord_rows: list[dict[str, object]] = []
        self.ricord_studies: dict[str, tuple[str, dt.date | None, str]] = {}
        self.annotations: list[dict[str, object]] = []
        self.sheet_patients: dict[str, list[str]] = {}

    def join(self, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Join the sheets onto ``table`` (in place: ``day``, ``admission_offset``,
        ``annotation_class``, ``annotation_grade``); returns patients, events and labs."""
        self.resolve_ricord(table)
        self.day_axis(table)
        self.annotate(table)
        return self.patients(table)

    def resolve_ricord(self, table: pd.DataFrame) -> None:
        """Key each RICORD metadata row by the images of the study it lists.

        The study's images give the PatientID and the collection (an ``Anon MRN`` that is
        neither the PatientID nor its part after the collection is reported; the images win).
        A listed study with no image is keyed in the collection of the sheet's other studies,
        its patient ``<collection>-<Anon MRN>``; with none of them downloaded, the sheet's
        collection is unknown and its patients count as a "RICORD metadata" sheet's.
        """
        if not self.ricord_rows:
            return
        first = table.drop_duplicates("study_uid")
        by_study = dict(zip(first["study_uid"], zip(first["source_patient_id"],
                                                    first["collection"], strict=True),
                            strict=True))
        sheet_collections: dict[object, set[str]] = {}
        for row in self.ricord_rows:
            if row["study"] in by_study:
                sheet_collections.setdefault(row["sheet"], set()).add(by_study[row["study"]][1])
        for row in self.ricord_rows:
            mrn, study, line = str(row["mrn"]), str(row["study"]), str(row["where"])
            if study in by_study:
                pid, collection = by_study[study]
                if pid not in (mrn, f"{collection}-{mrn}"):
                    self.ledger.finding("inconsistent_value", f"RICORD metadata lists study "
                                        f"{study} under Anon MRN {describe_value(mrn)}, its "
                                        f"images under PatientID {pid!r}; the images win",
                                        path=line)
            else:
                known = sheet_collections.get(row["sheet"], set())
                collection = next(iter(known)) if len(known) == 1 else None
                pid = mrn if collection is None or mrn.startswith(f"{collection}-") else \
                    f"{collection}-{mrn}"
            self.ricord_studies[study] = (pid, row["date"], line)
            if pid not in self.clinical:
                info = self._patient(pid, collection or "RICORD metadata", line)
                if row["positive"]:  # a "Pos" sheet lists COVID-19 positive exams
                    info.covid = "positive"

    def day_axis(self, table: pd.DataFrame) -> None:
        """``day`` (from the clinical sheet's visit start, else the patient's first exam) and
        ``admission_offset``; RICORD metadata dates checked against the DICOM."""
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
                                "RICORD metadata have no downloaded DICOM, e.g. "
                                f"{missing[:3]}", path=self.ricord_studies[missing[0]][2])

    def sheet_collection(self, path: str) -> str | None:
        """The collection whose folder holds the sheet at ``path``, or ``None`` (a loader whose
        files lie in collection folders overrides this)."""
        return None

    def annotate(self, table: pd.DataFrame) -> None:
        """``annotation_class`` / ``annotation_grade``: each annotation row's labels on the
        images of its study (``Anon Study UID``), else of its patient's exams on its date.

        Without a study UID the patient is the one whose PatientID is ``Anon MRN`` or
        ``<collection>-<Anon MRN>``, in the collection of the images the file's other rows
        match (RICORD numbers repeat across 1A, 1B and 1C), else of the collection folder the
        file lies in, else of the RICORD metadata's studies; a row still matching exams of
        several collections is left out and counted.
        """
        table["annotation_class"] = None
        table["annotation_grade"] = None
        self.note_rows: list[tuple[dict[str, object], list[int]]] = []
        if not self.annotations:
            return
        by_study: dict[str, list[int]] = {}
        by_mrn: dict[str, list[int]] = {}
        pids = table["source_patient_id"].astype(object).tolist()
        collections = table["collection"].astype(object).tolist()
        for i, (study, pid, collection) in enumerate(zip(table["study_uid"].tolist(), pids,
                                                         collections, strict=True)):
            by_study.setdefault(study, []).append(i)
            keys = {pid}
            if isinstance(collection, str) and isinstance(pid, str):
                keys.add(pid.removeprefix(f"{collection}-"))
            for key in keys:
                by_mrn.setdefault(key, []).append(i)
        dates = table["study_date"].tolist()
        matches: list[list[int]] = []
        voted: dict[object, set[object]] = {}  # file -> collections its unambiguous rows match
        for note in self.annotations:
            if note["study_uid"]:
                rows = by_study.get(str(note["study_uid"]), [])
            else:
                rows = [i for i in by_mrn.get(str(note["mrn"]), []) if dates[i] == note["date"]]
            matches.append(rows)
            if len({collections[i] for i in rows}) == 1:
                voted.setdefault(note["file"], set()).add(collections[rows[0]])
        listed = {collections[i] for study in self.ricord_studies
                  for i in by_study.get(study, [])[:1]}
        labels: dict[int, dict[str, set[str]]] = {}
        unmatched = ambiguous = 0
        for note, rows in zip(self.annotations, matches, strict=True):
            if len({collections[i] for i in rows}) > 1:
                own = voted.get(note["file"], set())
                if len(own) != 1:  # the collection folder the file lies in, if any
                    folder = self.sheet_collection(str(note["file"]))
                    own = {folder} if folder else listed
                rows = [i for i in rows if collections[i] in own] if len(own) == 1 else []
                if not rows:
                    ambiguous += 1
                    continue
            if not rows:
                unmatched += 1
                continue
            self.note_rows.append((note, rows))
            for column, key in (("annotation_class", "class"), ("annotation_grade", "grade")):
                if _missing(note[key]):
                    continue
                for i in rows:
                    labels.setdefault(i, {}).setdefault(column, set()).add(str(note[key]))
        for i, by_column in labels.items():
            for column, values in by_column.items():
                table.iat[i, table.columns.get_loc(column)] = "; ".join(sorted(values))
        if unmatched:
            self.ledger.finding("unmatched_annotation", f"{unmatched} annotation rows match no "
                                "downloaded exam (by Anon Study UID, else Anon MRN and date)",
                                path=self.annotations[0]["where"])
        if ambiguous:
            self.ledger.finding("unmatched_annotation", f"{ambiguous} annotation rows (Anon MRN "
                                "and date, no Anon Study UID) match exams of several "
                                "collections; their labels are not applied",
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
                "patient_uid": puid, "source": self.source, "source_patient_id": pid,
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
