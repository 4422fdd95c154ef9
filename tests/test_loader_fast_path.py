"""The loaders' fast assembly gives exactly the tables of the straightforward per-row code.

The reference below is the straightforward implementation (``os.walk`` with a ``pathlib.Path``
per file, ``iterrows`` over images, one ``groupby`` group per patient), kept here as the slow
path the loaders must agree with, table for table and row for row, on seeded trees full of
quirks: clinical sheets, collisions, missing dates, ties, zip archives, links, FIFOs, names that
are not UTF-8, relative roots, and a re-load from the index cache.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from covidimg import schema
from covidimg.demo import tcia as demo_tcia
from covidimg.demo.dicom_writer import write_dicom
from covidimg.demo.large import write_dicom_tree
from covidimg.errors import LoadError
from covidimg.sources import midrc, tcia
from covidimg.sources._engine.dicom import HELPER_COLUMNS
from covidimg.sources._engine.index import images_from_index, index_dicom, index_options
from covidimg.sources._engine.ledger import Ledger, SourceTables, display_path, file_problem, walk
from covidimg.sources.tcia import _DOC_NAMES, COLLECTIONS, LOOKS_FOR, NAME


# ---------------------------------------------------------------------- the reference code
def reference_walk(root: str | os.PathLike[str], ledger: Ledger,
                   ) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` with one ``os.path.islink`` per folder and :func:`file_problem` per file."""
    def on_error(exc: OSError) -> None:
        folder = display_path(exc.filename or root)
        ledger.finding("unreadable_folder", f"cannot list the folder ({exc.strerror}); the "
                       "files in it were not read. Make it readable (chmod +rx) and load again",
                       path=folder)

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        kept = []
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                reason = (f"symbolic link to a folder ({os.readlink(full)!r}); not followed, "
                          "since links can loop or lead outside the source folder. Copy the "
                          "folder in if its files belong to this source")
                ledger.file(display_path(full), "ignored", reason=reason)
                ledger.finding("unsafe_link", reason, path=display_path(full))
            else:
                kept.append(name)
        dirnames[:] = kept
        readable = []
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            problem = file_problem(full)
            if problem is None:
                readable.append(name)
                continue
            ledger.file(display_path(full), "rejected", reason=problem)
            ledger.finding("unreadable_file", problem, path=display_path(full))
        yield dirpath, dirnames, readable


class ReferenceTcia(tcia._Reader):
    """The TCIA reader with the straightforward walk and assembly."""

    def __init__(self, root: str, progress: bool) -> None:
        super().__init__(root, progress)
        self.root = Path(root)
        self.ledger = Ledger(NAME, self.root)

    def walk(self) -> list[Path]:
        dicoms = []
        for dirpath, dirnames, filenames in reference_walk(self.root, self.ledger):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
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
                elif lower.endswith((".dcm", ".dicom", ".zip")) or "." not in lower:
                    dicoms.append(path)
                else:
                    self.ledger.file(path, "ignored", reason="not part of the NBIA tree or a "
                                     "known clinical sheet")
        return dicoms


    def collection_of(self, disk_path: str) -> str | None:
        rel = Path(disk_path).relative_to(self.root).parts
        parts = (self.root.name, *rel)
        known = [p for p in parts if p in COLLECTIONS]
        if known:
            return known[-1]
        return rel[-5] if len(rel) >= 5 else None

    def load(self) -> SourceTables:
        dicom_paths = self.walk()
        if not dicom_paths and not len(self.ledger.files_frame()):
            raise LoadError(f"tcia: {self.root} holds no files; looked for {LOOKS_FOR}. Pass "
                            "the folder the NBIA Data Retriever downloaded into.")
        index = index_dicom(dicom_paths, self.ledger, progress=self.progress,
                            desc="TCIA DICOM headers")
        table = images_from_index(index, NAME)
        table["collection"] = [self.collection_of(index.disk_file[members[0]])
                               for members in table["member_paths"]]
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
        self.check_folders(table)
        self.day_axis(table)
        self.annotate(table)
        patients, events, labs = self.patients(table)
        for _, row in table.iterrows():
            for label in row["member_paths"]:
                index.use(label, row["image_uid"])
        index.record(self.ledger)
        images = table.drop(columns=[*HELPER_COLUMNS, "study_date", "study_time", "age_years",
                                     "sex", "source_patient_id"])
        return SourceTables(NAME, patients=patients, images=images, events=events, labs=labs,
                            files=self.ledger.files_frame(),
                            findings=self.ledger.findings_frame()).conformed()

    def check_folders(self, table: pd.DataFrame) -> None:
        for _, row in table.iterrows():
            rel = Path(row["member_paths"][0].split("::", 1)[0]).relative_to(self.root).parts
            folder = rel[-4] if len(rel) >= 4 else None
            if folder is not None and row["collection"] in COLLECTIONS and \
                    folder != row["source_patient_id"]:
                self.ledger.finding("inconsistent_value", f"file is in patient folder "
                                    f"{folder!r} but its PatientID is "
                                    f"{row['source_patient_id']!r}; the header wins",
                                    patient_uid=row["patient_uid"], image_uid=row["image_uid"],
                                    path=row["path"])

    def day_axis(self, table: pd.DataFrame) -> None:
        days = []
        first = table.groupby("patient_uid")["study_date"].min()
        for _, row in table.iterrows():
            info = self.clinical.get(row["source_patient_id"])
            start = info.visit_start if info is not None and info.visit_start else \
                first.get(row["patient_uid"])
            date = row["study_date"]
            if date is None or pd.isna(date) or start is None or pd.isna(start):
                if date is None or pd.isna(date):
                    self.ledger.finding("missing_value", "no StudyDate in the DICOM header; the "
                                        "exam has no day", patient_uid=row["patient_uid"],
                                        image_uid=row["image_uid"], path=row["path"])
                days.append(np.nan)
            else:
                days.append(float((date - start).days))
        table["day"] = days
        admitted = [bool(info and ("admission", 0.0) in info.events) for info in
                    (self.clinical.get(p) for p in table["source_patient_id"])]
        table["admission_offset"] = np.where(admitted, 0.0 - table["day"], np.nan)
        for study, (_pid, date, where) in self.ricord_studies.items():
            dated = table[table["study_uid"] == study]
            if date is not None and len(dated) and dated["study_date"].iat[0] != date:
                self.ledger.finding("inconsistent_value", f"RICORD metadata dates study {study} "
                                    f"{date:%m/%d/%Y}, its DICOM says "
                                    f"{dated['study_date'].iat[0]}", path=where)
        listed = set(self.ricord_studies)
        missing = sorted(listed - set(table["study_uid"]))
        if missing:
            self.ledger.finding("study_without_images", f"{len(missing)} exams listed in the "
                                "RICORD-1C metadata have no downloaded DICOM, e.g. "
                                f"{missing[:3]}", path=self.ricord_studies[missing[0]][2])


    def patients(self, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        rows, events, labs = [], [], []
        imaged = set()
        for puid, group in table.groupby("patient_uid", sort=True):
            first = group.sort_values("day").iloc[0]
            pid, collection = first["source_patient_id"], first["collection"]
            imaged.add(pid)
            info = self.clinical.get(pid)
            if info is not None and info.collection != collection and \
                    collection in COLLECTIONS:
                info = None
            defaults = COLLECTIONS.get(collection or "", {"covid": None, "site": None})
            if info is None and collection in {c.collection for c in self.clinical.values()}:
                self.ledger.finding("orphan_image", f"PatientID {pid!r} has images in "
                                    f"{collection} but no row in its clinical sheet; sex and age "
                                    "from the DICOM header", patient_uid=puid)
            dicom_sex = first["sex"]
            sex = info.sex if info is not None and info.sex else dicom_sex
            if info is not None and info.sex and dicom_sex != "U" and dicom_sex != info.sex:
                self.ledger.finding("inconsistent_value", f"sex {info.sex} in the clinical "
                                    f"sheet, {dicom_sex} in the DICOM header; the sheet wins",
                                    patient_uid=puid, path=info.where)
            age = info.age if info is not None and info.age else None
            if age is None and pd.notna(first["age_years"]):
                age = (float(first["age_years"]), float(first["age_years"]))
            site = defaults["site"]
            if site is None and collection and collection.startswith("MIDRC-RICORD"):
                match = re.match(rf"^{re.escape(collection)}-(\d+)-", pid)
                site = match.group(1) if match else None
            rows.append({
                "patient_uid": puid, "source": NAME, "source_patient_id": pid,
                "sex": sex or "U", "age_min": age[0] if age else np.nan,
                "age_max": age[1] if age else np.nan,
                "covid_status": (info.covid if info is not None and info.covid else None)
                or defaults["covid"] or "unknown",
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




class ReferenceMidrc(midrc._Reader):
    """The MIDRC reader with the straightforward walk and assembly."""

    def __init__(self, root: str, progress: bool) -> None:
        super().__init__(root, progress)
        self.root = Path(root)
        self.ledger = Ledger(midrc.NAME, self.root)

    def walk(self) -> tuple[list[Path], list[Path]]:
        tsvs, dicoms = [], []
        for dirpath, dirnames, filenames in reference_walk(self.root, self.ledger):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                lower = name.lower()
                if lower.endswith(".tsv"):
                    tsvs.append(path)
                elif lower.endswith((".md", ".txt", ".pdf")) or lower.startswith(
                        ("license", "readme", ".")):
                    self.ledger.file(path, "ignored", reason="documentation or system file, "
                                     "not data")
                elif lower.endswith(".json") and "manifest" in lower:
                    self.ledger.file(path, "ignored", reason="gen3-client download manifest "
                                     "(lists object ids; the files themselves are read)")
                elif lower.endswith(".zip") or midrc.is_dicom_name(name):
                    dicoms.append(path)
                else:
                    self.ledger.file(path, "ignored", reason="not part of the MIDRC layout "
                                     "(Gen3 TSV exports and DICOM files or zips)")
        return tsvs, dicoms

    def cases(self) -> pd.DataFrame:
        if not self.nodes["case"]:
            raise LoadError(
                f"{self.root}: no Gen3 case export found (a .tsv whose type column is 'case' or "
                "whose name starts with 'case'). Export the case node from the MIDRC portal "
                "(Exploration > Export to TSV, or gen3 sdk raw_data_download) next to the "
                "downloaded DICOM.")
        frame = self.node("case", ("submitter_id",))
        frame = frame[frame["submitter_id"] != ""]
        dup = frame["submitter_id"].duplicated()
        for _, row in frame[dup].iterrows():
            self.ledger.finding("duplicate_row", f"case {row['submitter_id']!r} appears again; "
                                "the first row is kept", patient_uid=f"{midrc.NAME}:"
                                f"{row['submitter_id']}", path=row["_where"])
        return frame[~dup].set_index("submitter_id", drop=False)

    def visit_events(self, known: set[str]) -> pd.DataFrame:
        """Events from the visit node on the index axis (before the admission shift)."""
        frame = self.node("visit", ())
        rows = []
        if not len(frame):
            return pd.DataFrame(columns=["patient_uid", "event", "index_day"])
        link = self.case_link(frame, "visit")
        columns = {"days_to_hospital_admission": "admission",
                   "days_to_icu_admission": "icu_admission",
                   "days_to_icu_discharge": "icu_release"}
        for idx, row in frame.iterrows():
            case_id = link[idx]
            uid = f"{midrc.NAME}:{case_id}"
            if case_id not in known:
                self.ledger.finding("orphan_row", f"visit row links to case {case_id!r}, which "
                                    "is not in the case export; skipped", path=row["_where"])
                continue
            for column, event in columns.items():
                day = self.number(row, column, uid)
                if day is not None:
                    rows.append((uid, event, day))
            day = self.number(row, "days_to_hospital_discharge", uid)
            if day is not None:
                died = bool(midrc._DEATH.search(row.get("discharge_type", "")))
                rows.append((uid, "death" if died else "discharge", day))
            elif midrc._DEATH.search(row.get("discharge_type", "")):
                rows.append((uid, "death", np.nan))
        return pd.DataFrame(rows, columns=["patient_uid", "event", "index_day"])

    def measurement_events(self, known: set[str]) -> pd.DataFrame:
        frame = self.node("measurement", ())
        rows = []
        if not len(frame):
            return pd.DataFrame(columns=["patient_uid", "event", "index_day"])
        link = self.case_link(frame, "measurement")
        for idx, row in frame.iterrows():
            case_id = link[idx]
            uid = f"{midrc.NAME}:{case_id}"
            name = row.get("test_name", "COVID-19") or "COVID-19"
            if name.upper() != "COVID-19":
                continue
            if case_id not in known:
                self.ledger.finding("orphan_row", f"measurement row links to case {case_id!r}, "
                                    "which is not in the case export; skipped",
                                    path=row["_where"])
                continue
            result = row.get("test_result_text", "").lower()
            event = {"positive": "covid_test_positive",
                     "negative": "covid_test_negative"}.get(result)
            day = self.number(row, "test_days_from_index", uid)
            if event and day is not None:
                rows.append((uid, event, day))
        return pd.DataFrame(rows, columns=["patient_uid", "event", "index_day"])

    def studies(self, known: set[str]) -> pd.DataFrame:
        frame = self.node("imaging_study", ("study_uid",))
        link = self.case_link(frame, "imaging_study") if len(frame) else pd.Series(dtype=str)
        rows = []
        seen: set[str] = set()
        for idx, row in frame.iterrows():
            study, case_id = row["study_uid"], link[idx]
            uid = f"{midrc.NAME}:{case_id}"
            if not study:
                self.ledger.finding("missing_identifier", "imaging_study row without study_uid; "
                                    "skipped", patient_uid=uid, path=row["_where"])
                continue
            if case_id not in known:
                self.ledger.finding("orphan_row", f"imaging_study {study} links to case "
                                    f"{case_id!r}, which is not in the case export; skipped",
                                    path=row["_where"])
                continue
            if study in seen:
                self.ledger.finding("duplicate_row", f"imaging_study {study} appears again; the "
                                    "first row is kept", patient_uid=uid, path=row["_where"])
                continue
            seen.add(study)
            tests = {}
            for column, event in (("days_from_study_to_pos_covid_test", "covid_test_positive"),
                                  ("days_from_study_to_neg_covid_test", "covid_test_negative")):
                values = midrc.parse_day_list(row.get(column, ""))
                if values is None:
                    self.ledger.finding("unparseable_value", f"{column} {row[column]!r} is not "
                                        "a list of whole days (expected e.g. '[-2, 5]' or "
                                        "'-2,5')", patient_uid=uid, path=row["_where"])
                    values = []
                tests[event] = values
            rows.append({"study_uid": study, "patient_uid": uid,
                         "index_day": self.number(row, "days_to_study", uid),
                         "tests": tests, "_where": row["_where"]})
        return pd.DataFrame(rows, columns=["study_uid", "patient_uid", "index_day", "tests",
                                           "_where"])

    def load(self) -> SourceTables:
        tsvs, dicom_paths = self.walk()
        self.read_tsvs(tsvs)
        cases = self.cases()
        known = set(cases.index)
        patients = pd.DataFrame([self.patient_row(row) for _, row in cases.iterrows()])
        studies = self.studies(known)
        events = pd.concat([self.visit_events(known), self.measurement_events(known)],
                           ignore_index=True)
        test_rows = [(s.patient_uid, event, s.index_day + v)
                     for s in studies.itertuples() if s.index_day is not None
                     and not pd.isna(s.index_day)
                     for event, values in s.tests.items() for v in values]
        events = pd.concat([events, pd.DataFrame(test_rows, columns=events.columns)],
                           ignore_index=True)

        admissions = events[events["event"] == "admission"].groupby("patient_uid")["index_day"]
        shift = admissions.min()
        events["day"] = events["index_day"] - events["patient_uid"].map(shift).fillna(0.0)
        events = events.drop(columns="index_day").drop_duplicates(["patient_uid", "event", "day"])
        events = events[events["day"].notna() | (events["event"] == "death")]

        patients = self.outcomes(patients, events)
        images = self.images(dicom_paths, studies, shift, events, cases)
        dead_no_day = events["day"].isna()
        events = events[~dead_no_day]
        return SourceTables(
            midrc.NAME, patients=patients, images=images,
            events=events.reset_index(drop=True)[["patient_uid", "event", "day"]],
            files=self.ledger.files_frame(), findings=self.ledger.findings_frame(),
        ).conformed()

    def outcomes(self, patients: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
        by_patient = events.groupby("patient_uid")["event"].agg(set)
        has_visit = set(by_patient.index)
        icu_from_visit = {uid for uid, ev in by_patient.items() if "icu_admission" in ev}
        died = {uid for uid, ev in by_patient.items() if "death" in ev}
        discharged = {uid for uid, ev in by_patient.items() if "discharge" in ev}
        for column in ("icu", "died"):
            if column not in patients:      # no case rows at all
                patients[column] = pd.Series(dtype=object, index=patients.index)
        for i, row in patients.iterrows():
            uid = row["patient_uid"]
            if row["icu"] is False and uid in icu_from_visit:
                self.ledger.finding("inconsistent_value", "icu_indicator is No but a visit has "
                                    "days_to_icu_admission; icu set to True", patient_uid=uid)
            if uid in icu_from_visit:
                patients.at[i, "icu"] = True
            if uid in died:
                patients.at[i, "died"] = True
            elif uid in discharged and uid in has_visit:
                patients.at[i, "died"] = False
        patients["icu"] = patients["icu"].astype("boolean")
        patients["died"] = patients["died"].astype("boolean")
        return patients

    def images(self, dicom_paths: list[Path], studies: pd.DataFrame, shift: pd.Series,
               events: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
        index = index_dicom(dicom_paths, self.ledger, progress=self.progress,
                            desc="MIDRC DICOM headers")
        study_of = studies.set_index("study_uid")
        table = images_from_index(index, midrc.NAME)
        keep = table["study_uid"].isin(study_of.index)
        for _, row in table[~keep].iterrows():
            reason = (f"orphan: StudyInstanceUID {row['study_uid']} has no imaging_study row; "
                      "export imaging_study for this case to use it")
            for label in row["member_paths"]:
                index.ignore(label, reason)
        for study, group in table[~keep].groupby("study_uid", dropna=False):
            self.ledger.finding("orphan_image", f"DICOM study {study} (PatientID "
                                f"{group['patient_uid'].iat[0].split(':', 1)[1]}, "
                                f"{len(group)} images) has no imaging_study row; not loaded",
                                path=group["path"].iat[0])
        table = table[keep].copy()
        downloaded = set(table["study_uid"])
        for study in study_of.index.difference(sorted(downloaded)):
            self.ledger.finding("study_without_images", f"imaging_study {study} has no "
                                "downloaded DICOM under the root",
                                patient_uid=study_of.at[study, "patient_uid"],
                                path=study_of.at[study, "_where"])
        dicom_pid = table["patient_uid"]
        table["patient_uid"] = table["study_uid"].map(study_of["patient_uid"])
        for (study, pid, uid), _ in table.groupby(["study_uid", dicom_pid, "patient_uid"]):
            if pid.split(":", 1)[1] != uid.split(":", 1)[1]:
                self.ledger.finding("inconsistent_value", f"study {study}: DICOM PatientID "
                                    f"{pid.split(':', 1)[1]!r} differs from the imaging_study's "
                                    f"case {uid.split(':', 1)[1]!r}; the case is kept",
                                    patient_uid=uid)
        index_day = table["study_uid"].map(study_of["index_day"]).astype(float)
        table["day"] = index_day - table["patient_uid"].map(shift).astype(float).fillna(0.0)
        firsts = events.dropna(subset=["day"]).sort_values("day").groupby(
            ["patient_uid", "event"])["day"].first()
        for column, event in (("admission_offset", "admission"),
                              ("icu_admission_offset", "icu_admission"),
                              ("icu_release_offset", "icu_release"),
                              ("death_offset", "death")):
            event_day = pd.Series([firsts.get((p, event), np.nan) for p in table["patient_uid"]],
                                  index=table.index, dtype=float)
            table[column] = event_day - table["day"]
        for _, row in table.iterrows():
            for label in row["member_paths"]:
                index.use(label, row["image_uid"])
        index.record(self.ledger)
        return table.drop(columns=[*HELPER_COLUMNS, "study_date", "study_time", "age_years",
                                   "sex"])


# ---------------------------------------------------------------------- seeded trees
def _radiograph(path: Path, pid: str, date: dt.date, sop: str, **kw: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    args = dict(modality="CR", patient_id=pid, study_uid=f"{sop}.1", series_uid=f"{sop}.2",
                sop_uid=sop, study_date=date, view="AP", sex="M", age_years=50)
    args.update(kw)
    write_dicom(path, np.full((8, 8), 0.4, np.float32), **args)


def _nbia(base: Path, collection: str, pid: str, date: dt.date, sop: str,
          **kw: object) -> Path:
    path = (base / collection / pid / f"{date:%m-%d-%Y}-NA-XR CHEST-{sop[-5:]}" /
            f"1.000000-AP-{sop[-5:]}" / "1-1.dcm")
    _radiograph(path, pid, date, sop, **kw)
    return path


#: Days whose ``sort_values`` (quicksort) puts row 3 first among the rows of day 0.
UNSTABLE_DAYS = (2, 1, 0, 0, 2, 1, 1, 1, 2, 1, 0, 2, 0, 0, 2, 1, 0, 0, 1, 2)


def _add_quirks(root: Path) -> None:
    """Collisions, a wrong patient folder, a missing StudyDate, same-day images that disagree,
    a zip, a duplicate, a tree outside any collection, documentation and stray files."""
    base = root / "manifest-2"
    day = dt.date(2020, 4, 2)
    _nbia(base, "COVID-19-AR", "SHARED-1", day, "2.25.9001", sex="F")
    _nbia(base, "MIDRC-RICORD-1A", "SHARED-1", day, "2.25.9002", sex="M")
    _nbia(base, "COVID-19-AR", "FOLDER-A", day, "2.25.9003", patient_id="HEADER-B")
    _nbia(base, "COVID-19-AR", "NODATE-1", day, "2.25.9004",
          extra={"StudyDate": "", "SeriesDate": "", "AcquisitionDate": ""})
    _nbia(base, "COVID-19-AR", "NODATE-1", day + dt.timedelta(days=3), "2.25.9005")
    for k, (sex, age) in enumerate([("M", 40), ("F", 41), ("F", 40), ("M", 40)]):
        _nbia(base, "COVID-19-AR", "TIE-1", day, f"2.25.91{k:02d}", sex=sex, age_years=age)
    for k in range(20):  # more same-day images than a small sort keeps in order
        _nbia(base, "MIDRC-RICORD-1B", "MIDRC-RICORD-1B-419639-000001", day,
              f"2.25.92{k:02d}", sex="MF"[k % 2], age_years=30 + k % 3)
    # same-day images in an order the default (unstable) sort of 20 values reorders
    for k, offset in enumerate(UNSTABLE_DAYS):
        _radiograph(base / "COVID-19-AR" / "TIE-2" / f"{k:02d}-study" / "series" / "1-1.dcm",
                    "TIE-2", day + dt.timedelta(days=offset), f"2.25.95{k:02d}",
                    sex="MF"[k % 2], age_years=60 + k)
    copy = base / "COVID-19-AR" / "SHARED-1" / "copy" / "1-1.dcm"
    copy.parent.mkdir(parents=True)
    shutil.copy(next((base / "COVID-19-AR" / "SHARED-1").rglob("1-1.dcm")), copy)
    archive = base / "CT Images in COVID-19" / "ZIPPED-1" / "study.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for k in range(3):
            with zf.open(f"series/1-{k + 1}.dcm", "w") as handle:
                write_dicom(handle, np.zeros((8, 8), np.float32), modality="CT",
                            patient_id="ZIPPED-1", study_uid="2.25.93.1",
                            series_uid="2.25.93.2", sop_uid=f"2.25.93.3.{k}",
                            study_date=day, instance_number=k + 1, position_z=float(k))
    write_dicom_tree(root / "synthetic", n_radiographs=12, n_ct_series=2, slices=6,
                     rng=np.random.default_rng(3))
    (base / "LICENSE").write_text("CC BY 4.0")
    (base / "notes.json").write_text("{}")
    (base / "manifest.tcia").write_text("downloadServerUrl=x")


def _add_odd_entries(root: Path) -> None:
    """Entries the walk must account for without reading them."""
    odd = root / "odd"
    odd.mkdir()
    (odd / "dangling.dcm").symlink_to(odd / "gone.dcm")
    (odd / "loop").symlink_to(odd)
    (odd / "x1.dcm").symlink_to(odd / "x2.dcm")
    (odd / "x2.dcm").symlink_to(odd / "x1.dcm")
    os.mkfifo(odd / "pipe.dcm")
    real = odd / "a" / "b" / "c" / "d" / "real.dcm"
    _radiograph(real, "ODD-1", dt.date(2020, 5, 1), "2.25.9400")
    (odd / "link.dcm").symlink_to(real)  # a second copy: a duplicate
    bad_name = os.path.join(os.fsencode(odd), b"caf\xe9.dcm")
    with open(bad_name, "wb") as handle:
        handle.write(b"not dicom")
    locked = odd / "locked"
    locked.mkdir()
    (locked / "a.dcm").write_bytes(b"x")
    locked.chmod(0)


@pytest.fixture(scope="module")
def quirky_tcia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("tcia-quirks")
    demo_tcia.write(root, rng=np.random.default_rng(11), n_patients=24)
    _add_quirks(root)
    _add_odd_entries(root)
    yield root
    (root / "odd" / "locked").chmod(0o755)


def _assert_same(fast: SourceTables, slow: SourceTables) -> None:
    for name, frame in slow.tables().items():
        pd.testing.assert_frame_equal(getattr(fast, name), frame, obj=name)


# ---------------------------------------------------------------------- tests
def test_walk_matches_os_walk(quirky_tcia: Path) -> None:
    fast_ledger, slow_ledger = Ledger(NAME, quirky_tcia), Ledger(NAME, quirky_tcia)
    fast = [(d, list(n), f) for d, n, f in walk(quirky_tcia, fast_ledger)]
    slow = [(d, list(n), f) for d, n, f in reference_walk(quirky_tcia, slow_ledger)]
    assert fast == slow
    assert len(fast) > 50
    pd.testing.assert_frame_equal(fast_ledger.files_frame(), slow_ledger.files_frame())
    pd.testing.assert_frame_equal(fast_ledger.findings_frame(), slow_ledger.findings_frame())
    kinds = set(fast_ledger.findings_frame()["kind"])
    assert {"unreadable_file", "unsafe_link"} <= kinds
    problems = fast_ledger.files_frame()["reason"].str.cat(sep=" | ")
    for expected in ("dangling symbolic link", "symbolic link loop", "FIFO", "not valid UTF-8"):
        assert expected in problems


def test_walk_follows_the_callers_pruning(quirky_tcia: Path) -> None:
    def pruned(walker: object) -> list[str]:
        seen = []
        for dirpath, dirnames, _ in walker(quirky_tcia, Ledger(NAME)):  # type: ignore[operator]
            seen.append(dirpath)
            dirnames[:] = [d for d in dirnames if not d.startswith(("COVID", "synth"))][::-1]
        return seen

    fast = pruned(walk)
    assert fast == pruned(reference_walk)
    assert not any("COVID-19-AR" in d for d in fast)


def test_walk_of_a_file_or_missing_root_reports_it(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text("a\n1\n")
    for root in (tmp_path / "f.csv", tmp_path / "missing"):
        fast_ledger, slow_ledger = Ledger(NAME), Ledger(NAME)
        assert list(walk(root, fast_ledger)) == list(reference_walk(root, slow_ledger)) == []
        pd.testing.assert_frame_equal(fast_ledger.findings_frame(),
                                      slow_ledger.findings_frame())
        assert fast_ledger.findings_frame()["kind"].tolist() == ["unreadable_folder"]


def test_tcia_tables_equal_the_reference(quirky_tcia: Path) -> None:
    with index_options(cache=False, executor=False):
        fast = tcia.load(quirky_tcia)
        slow = ReferenceTcia(os.fspath(quirky_tcia), False).load()
    _assert_same(fast, slow)
    findings = set(fast.findings["kind"])
    assert {"patient_id_collision", "inconsistent_value", "missing_value",
            "duplicate_instance", "orphan_image", "unreadable_file",
            "unsafe_link"} <= findings, findings
    assert set(fast.files["status"]) >= {"used", "ignored", "rejected", "duplicate"}
    assert (fast.patients["source_patient_id"] == "TIE-1").sum() == 1
    tie = fast.patients[fast.patients["source_patient_id"] == "TIE-2"].iloc[0]
    assert tie["age_min"] == 63  # the sort's choice, not the first row of day 0 (age 62)
    assert fast.images["collection"].eq("synthetic").sum() == 14
    assert len(fast.labs) and len(fast.events)


def test_tcia_reload_from_the_index_cache_equals_the_reference(quirky_tcia: Path,
                                                               tmp_path: Path) -> None:
    with index_options(cache=tmp_path, executor=False):
        first = tcia.load(quirky_tcia)
        again = tcia.load(quirky_tcia)
        slow = ReferenceTcia(os.fspath(quirky_tcia), False).load()
    _assert_same(first, slow)
    _assert_same(again, slow)


@pytest.mark.parametrize("spelling", [".", "./", "tcia-copy", "tcia-copy/"])
def test_tcia_relative_roots_equal_the_reference(quirky_tcia: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 spelling: str) -> None:
    copy = tmp_path / "tcia-copy"
    # (zip members under a relative root made the reference fail: see the test below)
    shutil.copytree(quirky_tcia / "manifest-2", copy / "manifest-2", symlinks=True,
                    ignore=shutil.ignore_patterns("*.zip"))
    monkeypatch.chdir(copy if spelling.startswith(".") else tmp_path)
    with index_options(cache=False, executor=False):
        fast = tcia.load(spelling)
        slow = ReferenceTcia(os.fspath(Path(spelling)), False).load()
    _assert_same(fast, slow)
    assert not fast.files["path"].str.startswith(("/", "./")).any()


def test_tcia_large_tree_equals_the_reference(tmp_path: Path) -> None:
    root = tmp_path / "COVID-19-AR"
    write_dicom_tree(root, n_radiographs=300, n_ct_series=3, slices=20,
                     rng=np.random.default_rng(5))
    with index_options(cache=False, executor=False):
        fast = tcia.load(root)
        slow = ReferenceTcia(os.fspath(root), False).load()
    _assert_same(fast, slow)
    assert len(fast.images) == 303 and len(fast.files) == 360


def test_tcia_image_outside_any_collection_folder_and_zip_under_relative_root_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _nbia(tmp_path, "COVID-19-AR", "P1", dt.date(2020, 1, 1), "2.25.1")
    _radiograph(tmp_path / "loose" / "x.dcm", "P2", dt.date(2020, 1, 3), "2.25.2")
    archive = tmp_path / "COVID-19-AR" / "P3" / "study" / "series" / "s.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf, zf.open("1-1.dcm", "w") as handle:
        write_dicom(handle, np.zeros((8, 8), np.float32), modality="CR", patient_id="P4",
                    study_uid="2.25.3.1", series_uid="2.25.3.2", sop_uid="2.25.3.3",
                    study_date=dt.date(2020, 1, 2))
    monkeypatch.chdir(tmp_path)
    with index_options(cache=False, executor=False):
        tables = tcia.load(".")
    patients = tables.patients.set_index("source_patient_id")
    assert patients.at["P1", "collection"] == "COVID-19-AR"
    assert pd.isna(patients.at["P2", "collection"])
    assert patients.at["P2", "covid_status"] == "unknown"
    assert patients.at["P4", "collection"] == "COVID-19-AR"
    assert set(tables.files["status"]) == {"used"}
    assert len(tables.files) == 3 and "loose/x.dcm" in set(tables.files["path"])
    assert "COVID-19-AR/P3/study/series/s.zip" in set(tables.files["path"])
    odd = tables.findings[tables.findings["kind"] == "inconsistent_value"]
    assert odd["detail"].str.contains("patient folder 'P3' but its PatientID is 'P4'").any()


# ---------------------------------------------------------------------- MIDRC
def _write_tsv(path: Path, columns: list[str], rows: list[list[object]]) -> None:
    lines = ["\t".join(columns)] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _add_midrc_extra(root: Path) -> None:
    """A synthetic tree with its own exports: an ICU flag a visit contradicts, a study linked
    to another case than its PatientID, deaths, tests, an orphan study and shared days."""
    written = write_dicom_tree(root / "extra", n_radiographs=30, n_ct_series=2, slices=6,
                               rng=np.random.default_rng(4))
    headers = index_dicom(written.files, Ledger("midrc"), cache=False, executor=False).headers
    studies: dict[str, tuple[str, dt.date]] = {}
    for h in headers:
        studies.setdefault(h.study_uid, (h.patient_id, h.study_date))
    cases = sorted({pid for pid, _ in studies.values()})
    _write_tsv(root / "case_extra.tsv",
               ["type", "project_id", "submitter_id", "age_at_index", "age_at_index_gt89", "sex",
                "covid19_positive", "index_event", "icu_indicator", "site_id"],
               [["case", "Open-A1", pid, 40 + k, "No", ("Female", "Male")[k % 2], "Yes",
                 "COVID-19 Test", ("No", "Yes", "")[k % 3], "419639"]
                for k, pid in enumerate(cases)])
    listed = sorted(studies.items())[:-1]  # the last study is an orphan
    _write_tsv(root / "imaging_study_extra.tsv",
               ["type", "submitter_id", "cases.submitter_id", "study_uid", "days_to_study",
                "days_from_study_to_pos_covid_test"],
               [["imaging_study", f"s{k}", cases[0] if k == 3 else pid, study, k % 4,
                 "[-1, 2]" if k % 5 == 0 else ""]
                for k, (study, (pid, _)) in enumerate(listed)])
    _write_tsv(root / "visit_extra.tsv",
               ["type", "submitter_id", "cases.submitter_id", "days_to_hospital_admission",
                "days_to_hospital_discharge", "days_to_icu_admission", "discharge_type"],
               [["visit", f"v{k}", pid, k % 3 - 1, 9, 2 if k % 3 == 0 else "",
                 ("Home", "Expired")[k % 4 == 0]] for k, pid in enumerate(cases)])


@pytest.fixture(scope="module")
def quirky_midrc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from covidimg.demo import midrc as demo_midrc

    root = tmp_path_factory.mktemp("midrc-quirks")
    demo_midrc.write(root, rng=np.random.default_rng(13), n_patients=12)
    _add_midrc_extra(root)
    _add_odd_entries(root)
    yield root
    (root / "odd" / "locked").chmod(0o755)


def test_midrc_tables_equal_the_reference(quirky_midrc: Path, tmp_path: Path) -> None:
    with index_options(cache=False, executor=False):
        fast = midrc.load(quirky_midrc)
        slow = ReferenceMidrc(os.fspath(quirky_midrc), False).load()
    _assert_same(fast, slow)
    details = fast.findings["detail"].str.cat(sep=" | ")
    assert "icu_indicator is No but a visit" in details
    assert "differs from the imaging_study's case" in details
    assert {"orphan_image", "study_without_images", "duplicate_instance", "unreadable_file",
            "unsafe_link"} <= set(fast.findings["kind"])
    assert fast.patients["died"].any() and fast.images["icu_admission_offset"].notna().any()
    with index_options(cache=tmp_path, executor=False):
        first = midrc.load(quirky_midrc)
        again = midrc.load(quirky_midrc)
    _assert_same(first, slow)
    _assert_same(again, slow)


@pytest.mark.parametrize("spelling", [".", "midrc-copy/"])
def test_midrc_relative_roots_equal_the_reference(quirky_midrc: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  spelling: str) -> None:
    copy = tmp_path / "midrc-copy"
    shutil.copytree(quirky_midrc, copy, symlinks=True, ignore=shutil.ignore_patterns("odd"))
    monkeypatch.chdir(copy if spelling == "." else tmp_path)
    with index_options(cache=False, executor=False):
        fast = midrc.load(spelling)
        slow = ReferenceMidrc(os.fspath(Path(spelling)), False).load()
    _assert_same(fast, slow)
    assert not fast.files["path"].str.startswith(("/", "./")).any()


def test_midrc_header_only_case_export_equals_the_reference(quirky_midrc: Path,
                                                            tmp_path: Path) -> None:
    copy = tmp_path / "midrc-copy"
    shutil.copytree(quirky_midrc, copy, symlinks=True, ignore=shutil.ignore_patterns("odd"))
    for case in copy.glob("case*.tsv"):
        case.write_text(case.read_text().splitlines()[0] + "\n")
    with index_options(cache=False, executor=False):
        fast = midrc.load(copy)
        slow = ReferenceMidrc(os.fspath(copy), False).load()
    _assert_same(fast, slow)
    assert fast.patients.empty and "empty_table" in set(fast.findings["kind"])
