"""MIDRC (Gen3 data commons): exported node tables plus the DICOM gen3-client downloaded.

Layout (anything under the root; names are not fixed, contents decide)::

    case*.tsv               Gen3 ``case`` node export: submitter_id, age_at_index,
                            age_at_index_gt89, sex, covid19_positive, index_event, icu_indicator,
                            site_id, project_id, ...
    imaging_study*.tsv      ``imaging_study``: study_uid, days_to_study,
                            days_from_study_to_pos_covid_test (a list), cases.submitter_id, ...
    visit*.tsv              ``visit``: days_to_hospital_admission / _discharge,
                            days_to_icu_admission / _discharge, discharge_type
    measurement*.tsv        ``measurement``: COVID-19 tests (test_result_text,
                            test_days_from_index)
    <anything>.zip / .dcm   DICOM as gen3-client downloads it (one zip per study or series), or
                            unzipped

A TSV's node is its ``type`` column (Gen3 exports always carry it), else its file name prefix.
Child rows link to their case through ``cases.submitter_id`` (submission TSVs), ``case_ids`` or
``case_submitter_id`` (portal exports); the first one present is used.

Quirks handled:

* every ``days_to_*`` counts from the case's ``index_event`` (day 0 of MIDRC). The cohort's day
  axis (:mod:`covidimg.sources._engine.harmonize`) puts hospital admission at day 0 where known:
  when the case has a visit with ``days_to_hospital_admission``, every MIDRC day is shifted by
  the earliest such value; otherwise the index event stays day 0 (the rule's fallback);
* ``days_from_study_to_pos_covid_test`` / ``..._neg_covid_test`` are integer lists, serialized
  as JSON (``[-2, 5]``) or comma separated (``-2,5``); each element becomes a
  ``covid_test_positive`` / ``covid_test_negative`` event on ``study day + value``;
* ``age_at_index_gt89 == "Yes"`` means the age is 90 or more and is withheld: the age band is
  ``age_min = 90``, ``age_max = inf`` (open-ended; :meth:`covidimg.Cohort.filter` treats it as
  overlapping every range above 90). A number in ``age_at_index`` is an exact age;
* ``sex`` ``Female`` / ``Male`` / ``Not Reported`` → ``F`` / ``M`` / ``U``;
* death is taken from ``visit.discharge_type`` (``Expired``, ``Deceased``, ``Died``, ...): the
  discharge day becomes the death day;
* DICOM studies are matched to ``imaging_study.study_uid``; a study with no imaging_study row is
  an orphan (``orphan_image`` finding, files ignored), an imaging_study row without downloaded
  DICOM is reported (``study_without_images``); the same SOP Instance twice (a zip and its
  unzipped copy, a re-download) keeps the first copy and marks the other ``duplicate``;
* the 3-digit ``zip`` and other location fields are never copied into the cohort.

MIDRC's ``measurement`` node holds COVID-19 tests only; there are no laboratory values.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from covidimg.errors import LoadError, TableReadError
from covidimg.sources import rejects_unknown_options
from covidimg.sources._engine.dicom import (
    HELPER_COLUMNS,
)
from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.harmonize import DayAxis, event_offsets
from covidimg.sources._engine.index import images_from_index, index_dicom, is_dicom_name
from covidimg.sources._engine.ledger import (
    Ledger,
    SourceTables,
    folder_prefix,
    outside_root,
    read_text_table,
    walk,
)

__all__ = [
    "CASE_LINK_COLUMNS",
    "LOOKS_FOR",
    "NAME",
    "NODES",
    "detect",
    "load",
    "parse_day_list",
]

NAME = "midrc"
LOOKS_FOR = ("Gen3 TSV exports: a case table (submitter_id with age_at_index / index_event) and "
             "an imaging_study table (study_uid, days_to_study), plus DICOM files or zips "
             "downloaded by gen3-client")
#: Gen3 nodes this loader reads.
NODES: tuple[str, ...] = ("case", "imaging_study", "visit", "measurement")
#: Columns that link a child node's row to its case, in order of preference.
CASE_LINK_COLUMNS: tuple[str, ...] = ("cases.submitter_id", "case_ids", "case_submitter_id",
                                      "cases")
_MISSING = {"", "na", "nan", "null", "none", "n/a"}
_SEX = {"female": "F", "male": "M", "not reported": "U", "unknown": "U"}
_YES = {"yes": True, "true": True, "y": True, "no": False, "false": False, "n": False}
_COVID = {"yes": "positive", "no": "negative", "indeterminate": "unknown",
          "not reported": "unknown"}
_DEATH = re.compile(r"expired|deceased|died|death|dead|morgue", re.IGNORECASE)
# ====================================================================== value parsing
def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or \
        str(value).strip().lower() in _MISSING


def _number(value: object) -> float | None:
    """A number, ``None`` when missing; raises ValueError when present but not a number."""
    if _missing(value):
        return None
    return float(str(value).strip())


_LIST_TOKEN = re.compile(r"^[-+]?\d+(?:\.\d+)?$")


def parse_day_list(value: object) -> list[float] | None:
    """Parse a Gen3 integer-array cell into a list of days.

    Gen3 exports write arrays as JSON (``[-2, 5]``) or comma separated (``-2,5``); quotes
    (``['-2', '5']``) and semicolons are tolerated. An empty cell or ``[]`` gives ``[]``;
    anything else that is not a list of numbers gives ``None``.

    Examples
    --------
    >>> from covidimg.sources.midrc import parse_day_list
    >>> parse_day_list("[-2, 5]"), parse_day_list("-2,5"), parse_day_list("3")
    ([-2.0, 5.0], [-2.0, 5.0], [3.0])
    >>> parse_day_list(""), parse_day_list("[]"), parse_day_list("soon")
    ([], [], None)
    """
    if _missing(value):
        return []
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    tokens = [t.strip().strip("'\"").strip() for t in re.split(r"[,;]", text)]
    tokens = [t for t in tokens if t]
    if not all(_LIST_TOKEN.match(t) for t in tokens):
        return None
    return [float(t) for t in tokens]


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """The rows of ``frame`` as dicts (what ``iterrows`` gives, without a Series per row)."""
    return frame.to_dict("records")


# ====================================================================== node tables
def _read_tsv_header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
            return [c.strip() for c in handle.readline().rstrip("\r\n").split("\t")]
    except OSError:
        return []


def _node_of(path: str, frame: pd.DataFrame) -> str | None:
    if "type" in frame.columns:
        types = {t for t in frame["type"].dropna().astype(str).str.strip() if t}
        if len(types) == 1:
            return types.pop()
    stem = os.path.basename(path).lower()
    for node in sorted(NODES, key=len, reverse=True):
        if re.match(rf"^(submission_)?{node}([_.\-]|$)", stem):
            return node
    return None


def detect(root: str) -> bool:
    """Whether ``root`` (or a folder of tables one level down) holds a Gen3 ``case`` TSV export.

    A TSV one level down counts only in a folder holding no folders (an export folder beside
    the DICOM download): a sub-folder with folders of its own is a whole MIDRC root, e.g.
    ``midrc/`` inside a folder holding several sources, and ``root`` is not one.
    """
    base = Path(root)
    if not base.is_dir():
        return False

    def holds_folders(folder: Path) -> bool:
        try:
            return any(entry.is_dir() for entry in folder.iterdir())
        except OSError:
            return True

    candidates = [path for path in list(base.glob("*.tsv")) + [
        path for path in base.glob("*/*.tsv") if not holds_folders(path.parent)]
        if outside_root(path, base) is None]
    for path in candidates[:50]:
        header = set(_read_tsv_header(path))
        if "submitter_id" in header and ({"index_event", "age_at_index"} & header
                                         or ("study_uid" in header and "days_to_study" in header)):
            return True
    return False


#: Columns a node's export normally has; their absence is reported (values become unknown).
_EXPECTED = {"case": ("sex", "age_at_index"), "imaging_study": ("days_to_study",),
             "visit": ("days_to_hospital_admission",),
             "measurement": ("test_name", "test_result_text")}


class _Reader:
    """Reads one MIDRC root; keeps the ledger for files and findings."""

    def __init__(self, root: str, progress: bool) -> None:
        self.root = os.fspath(Path(root))
        self.ledger = Ledger(NAME, self.root)
        self.progress = progress
        self.nodes: dict[str, list[tuple[str, pd.DataFrame]]] = {n: [] for n in NODES}

    # ------------------------------------------------------------------ files
    def walk(self) -> tuple[list[str], list[str]]:
        tsvs, dicoms = [], []
        for dirpath, dirnames, filenames in walk(self.root, self.ledger):
            dirnames.sort()
            prefix = folder_prefix(dirpath)
            for name in sorted(filenames):
                path = prefix + name
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
                elif lower.endswith(".zip") or is_dicom_name(name):
                    dicoms.append(path)
                else:
                    self.ledger.file(path, "ignored", reason="not part of the MIDRC layout "
                                     "(Gen3 TSV exports and DICOM files or zips)")
        return tsvs, dicoms

    def read_tsvs(self, tsvs: list[str]) -> None:
        for path in tsvs:
            try:
                frame = read_text_table(path, self.ledger, sep="\t")
            except TableReadError as exc:
                self.ledger.file(path, "rejected", reason=f"unreadable TSV: {exc.reason}")
                self.ledger.finding("unreadable_file", f"{os.path.basename(path)}: cannot be "
                                    f"read as a tab-separated table: {exc.reason}", path=path)
                continue
            node = _node_of(path, frame)
            if node in self.nodes:
                self.nodes[node].append((path, frame))
                self.ledger.file(path, "used", reason=f"Gen3 {node} node export")
            else:
                what = f"Gen3 node {node!r}" if node else "a TSV whose Gen3 node is unknown"
                self.ledger.file(path, "ignored", reason=f"{what}; covidimg reads the nodes "
                                 f"{list(NODES)}")

    def node(self, name: str, required: tuple[str, ...]) -> pd.DataFrame:
        """All rows of node ``name`` with source file and line; duplicates reported."""
        parts = []
        for path, frame in self.nodes[name]:
            file_name = os.path.basename(path)
            missing = [c for c in required if c not in frame.columns]
            if missing:
                self.ledger.finding(
                    "missing_column", f"{file_name}: {name} export lacks columns {missing} "
                    f"(has {list(frame.columns)}); its rows are skipped", path=path)
                continue
            absent = [c for c in _EXPECTED.get(name, ()) if c not in frame.columns]
            if absent:
                self.ledger.finding(
                    "missing_column", f"{file_name}: {name} export lacks columns {absent}; "
                    "their values are treated as unknown (export the node with all fields)",
                    path=path)
            frame = frame.copy()
            frame["_where"] = [f"{path}:{i + 2}" for i in range(len(frame))]
            parts.append(frame)
        if not parts:
            return pd.DataFrame(columns=[*required, "_where"])
        return pd.concat(parts, ignore_index=True).fillna("")

    def case_link(self, frame: pd.DataFrame, node: str) -> pd.Series:
        for column in CASE_LINK_COLUMNS:
            if column in frame.columns:
                # A to-one link may be exported as a one-element list.
                return frame[column].str.strip("[]'\" ")
        self.ledger.finding("missing_column", f"{node} rows carry no link to their case "
                            f"(none of {list(CASE_LINK_COLUMNS)}); they are skipped")
        return pd.Series([""] * len(frame), index=frame.index)

    def number(self, row: pd.Series, column: str, patient_uid: str | None) -> float | None:
        try:
            return _number(row.get(column, ""))
        except ValueError:
            self.ledger.finding("unparseable_value", f"{column} {describe_value(row[column])} "
                                "is not a number",
                                patient_uid=patient_uid, path=row["_where"])
            return None

    # ------------------------------------------------------------------ tables
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
        for row in _records(frame[dup]):
            self.ledger.finding("duplicate_row", f"case {row['submitter_id']!r} appears again; "
                                "the first row is kept", patient_uid=f"{NAME}:"
                                f"{row['submitter_id']}", path=row["_where"])
        return frame[~dup].set_index("submitter_id", drop=False)

    def patient_row(self, row: pd.Series) -> dict[str, object]:
        case_id = row["submitter_id"]
        uid = f"{NAME}:{case_id}"
        sex_raw = row.get("sex", "")
        sex = _SEX.get(sex_raw.lower(), "U")
        if sex_raw and sex_raw.lower() not in _SEX:
            self.ledger.finding("unknown_value", f"sex {describe_value(sex_raw)} is not Female, "
                                "Male or Not Reported; recorded as U", patient_uid=uid,
                                path=row["_where"])
        age = self.number(row, "age_at_index", uid)
        gt89 = row.get("age_at_index_gt89", "").lower()
        if gt89 == "yes":
            if age is not None and age < 90:
                self.ledger.finding(
                    "inconsistent_value", f"age_at_index {age:g} but age_at_index_gt89 is Yes; "
                    "the age band [90, inf) is kept", patient_uid=uid, path=row["_where"])
            age_min, age_max = 90.0, np.inf
        else:
            age_min = age_max = np.nan if age is None else age
        covid_raw = row.get("covid19_positive", "")
        covid = _COVID.get(covid_raw.lower(), "unknown")
        if covid_raw and covid_raw.lower() not in _COVID:
            self.ledger.finding("unknown_value", f"covid19_positive {describe_value(covid_raw)} "
                                "is not Yes, No, Indeterminate or Not Reported", patient_uid=uid,
                                path=row["_where"])
        icu = _YES.get(row.get("icu_indicator", "").lower())
        return {"patient_uid": uid, "source": NAME, "source_patient_id": case_id, "sex": sex,
                "age_min": age_min, "age_max": age_max, "covid_status": covid, "icu": icu,
                "died": None, "site": row.get("site_id") or None,
                "project_id": row.get("project_id") or None,
                "index_event": row.get("index_event") or None}

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
        for case_id, row in zip(link.tolist(), _records(frame), strict=True):
            uid = f"{NAME}:{case_id}"
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
                died = bool(_DEATH.search(row.get("discharge_type", "")))
                rows.append((uid, "death" if died else "discharge", day))
            elif _DEATH.search(row.get("discharge_type", "")):
                rows.append((uid, "death", np.nan))
        return pd.DataFrame(rows, columns=["patient_uid", "event", "index_day"])

    def measurement_events(self, known: set[str]) -> pd.DataFrame:
        frame = self.node("measurement", ())
        rows = []
        if not len(frame):
            return pd.DataFrame(columns=["patient_uid", "event", "index_day"])
        link = self.case_link(frame, "measurement")
        for case_id, row in zip(link.tolist(), _records(frame), strict=True):
            uid = f"{NAME}:{case_id}"
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
        for case_id, row in zip(link.tolist(), _records(frame), strict=True):
            study = row["study_uid"]
            uid = f"{NAME}:{case_id}"
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
                values = parse_day_list(row.get(column, ""))
                if values is None:
                    self.ledger.finding("unparseable_value", f"{column} "
                                        f"{describe_value(row[column])} is not "
                                        "a list of whole days (expected e.g. '[-2, 5]' or "
                                        "'-2,5')", patient_uid=uid, path=row["_where"])
                    values = []
                tests[event] = values
            rows.append({"study_uid": study, "patient_uid": uid,
                         "index_day": self.number(row, "days_to_study", uid),
                         "tests": tests, "_where": row["_where"]})
        return pd.DataFrame(rows, columns=["study_uid", "patient_uid", "index_day", "tests",
                                           "_where"])

    # ------------------------------------------------------------------ assembly
    def load(self) -> SourceTables:
        tsvs, dicom_paths = self.walk()
        self.read_tsvs(tsvs)
        cases = self.cases()
        known = set(cases.index)
        patients = pd.DataFrame([self.patient_row(row) for row in _records(cases)])
        studies = self.studies(known)
        events = pd.concat([self.visit_events(known), self.measurement_events(known)],
                           ignore_index=True)
        test_rows = [(s.patient_uid, event, s.index_day + v)
                     for s in studies.itertuples() if s.index_day is not None
                     and not pd.isna(s.index_day)
                     for event, values in s.tests.items() for v in values]
        events = pd.concat([events, pd.DataFrame(test_rows, columns=events.columns)],
                           ignore_index=True)

        # Day 0 (harmonize): the earliest admission, else MIDRC's index event (day 0 of every
        # days_to_*). Every MIDRC day is on the index axis, so the index event is always known.
        uids = sorted({*events["patient_uid"].dropna(), *studies["patient_uid"].dropna()})
        admissions = events[events["event"] == "admission"].groupby("patient_uid")["index_day"]
        axis = DayAxis.choose(uids, admission=admissions.min().to_dict(),
                              index_event=dict.fromkeys(uids, 0.0))
        events["day"] = axis.days(events["patient_uid"].tolist(), events["index_day"])
        events = events.drop(columns="index_day").drop_duplicates(["patient_uid", "event", "day"])
        events = events[events["day"].notna() | (events["event"] == "death")]

        patients = self.outcomes(patients, events)
        images = self.images(dicom_paths, studies, axis, events, cases)
        dead_no_day = events["day"].isna()
        events = events[~dead_no_day]
        return SourceTables(
            NAME, patients=patients, images=images,
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
        uids = patients["patient_uid"] if "patient_uid" in patients else pd.Series(dtype=object)
        for uid, icu in zip(uids.tolist(), patients["icu"].tolist(), strict=True):
            if icu is False and uid in icu_from_visit:
                self.ledger.finding("inconsistent_value", "icu_indicator is No but a visit has "
                                    "days_to_icu_admission; icu set to True", patient_uid=uid)
        patients.loc[uids.isin(icu_from_visit).to_numpy(), "icu"] = True
        dead = uids.isin(died).to_numpy()
        patients.loc[dead, "died"] = True
        patients.loc[~dead & uids.isin(discharged & has_visit).to_numpy(), "died"] = False
        patients["icu"] = patients["icu"].astype("boolean")
        patients["died"] = patients["died"].astype("boolean")
        return patients

    def images(self, dicom_paths: list[str], studies: pd.DataFrame, axis: DayAxis,
               events: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
        index = index_dicom(dicom_paths, self.ledger, progress=self.progress,
                            desc="MIDRC DICOM headers")
        study_of = studies.set_index("study_uid")
        table = images_from_index(index, NAME)
        listed = set(study_of.index.tolist())
        keep = pd.Series([study in listed for study in table["study_uid"].tolist()],
                         index=table.index, dtype=bool)
        orphans = table[~keep]
        for study, labels in zip(orphans["study_uid"].tolist(), orphans["member_paths"].tolist(),
                                 strict=True):
            reason = (f"orphan: StudyInstanceUID {study} has no imaging_study row; "
                      "export imaging_study for this case to use it")
            for label in labels:
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
        pairs = pd.DataFrame({"study": table["study_uid"], "pid": dicom_pid,
                              "uid": table["patient_uid"]}).dropna().drop_duplicates()
        for study, pid, uid in sorted(pairs.itertuples(index=False, name=None)):
            if str(pid).split(":", 1)[-1] != str(uid).split(":", 1)[-1]:
                self.ledger.finding("inconsistent_value", f"study {study}: DICOM PatientID "
                                    f"{pid.split(':', 1)[1]!r} differs from the imaging_study's "
                                    f"case {uid.split(':', 1)[1]!r}; the case is kept",
                                    patient_uid=uid)
        index_day = table["study_uid"].map(study_of["index_day"]).astype(float)
        table["day"] = axis.days(table["patient_uid"].tolist(), index_day)
        for column, values in event_offsets(table["patient_uid"], table["day"],
                                            events).items():
            table[column] = values
        use = index.use
        for labels, image_uid in zip(table["member_paths"].tolist(),
                                     table["image_uid"].tolist(), strict=True):
            for label in labels:
                use(label, image_uid)
        index.record(self.ledger)
        return table.drop(columns=[*HELPER_COLUMNS, "study_date", "study_time", "age_years",
                                   "sex"])


@rejects_unknown_options
def load(root: str | os.PathLike[str], *, progress: bool = False) -> SourceTables:
    """Read a MIDRC download (Gen3 TSV exports plus gen3-client DICOM) into harmonized tables.

    Parameters
    ----------
    root
        Folder holding the exported node TSVs and the downloaded DICOM (zips or files), in any
        sub-folders.
    progress
        Show a progress bar while DICOM headers are read.

    Returns
    -------
    SourceTables
        patients, images, events, files and findings (MIDRC has no lab values), conformed to
        the schema.

    Raises
    ------
    LoadError
        If ``root`` is not a folder or holds no case export.

    Examples
    --------
    >>> from covidimg.sources import midrc
    >>> tables = midrc.load("downloads/midrc")                 # doctest: +SKIP
    >>> tables.images[["image_uid", "day", "admission_offset"]]  # doctest: +SKIP
    """
    root = Path(root)
    if not root.is_dir():
        raise LoadError(f"midrc: {root} is not a folder; pass the folder holding the Gen3 TSV "
                        "exports and the gen3-client download")
    return _Reader(os.fspath(root), progress).load()

