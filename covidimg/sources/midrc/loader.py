"""The MIDRC loader: walks a root, reads the node exports, assembles the harmonized tables."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from covidimg.errors import LoadError, TableReadError
from covidimg.sources._engine.annotations import Annotations
from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.harmonize import DayAxis
from covidimg.sources._engine.index import is_dicom_name
from covidimg.sources._engine.ledger import (
    Ledger,
    SourceTables,
    folder_prefix,
    read_text_table,
    walk,
)
from covidimg.sources._engine.mdai import looks_like_mdai, ricord_annotations
from covidimg.sources._engine.provenance import provenance_frame, provenance_row
from covidimg.sources._engine.rows import drop_repeated_rows
from covidimg.sources.midrc import clinical
from covidimg.sources.midrc.fields import DATA_FILE_NODES, NOT_KEPT, OBSERVED, READ, is_known
from covidimg.sources.midrc.images import dicom_images, nifti_images, place_on_axis
from covidimg.sources.midrc.nifti import NiftiLink, is_nifti_name
from covidimg.sources.midrc.nodes import export_date, node_of, read_json_table
from covidimg.sources.midrc.observations import ObservationRows
from covidimg.sources.midrc.values import as_list, parse_day_list

__all__ = ["CASE_LINK_COLUMNS", "NAME", "NODES", "Reader"]

NAME = "midrc"
#: Gen3 nodes whose fields this loader reads.
NODES: tuple[str, ...] = ("case", "imaging_study", "visit", "measurement", "procedure",
                          "condition", "medication", "annotation", "imaging_study_annotation")
#: Columns that link a child node's row to its case, in order of preference.
CASE_LINK_COLUMNS: tuple[str, ...] = ("cases.submitter_id", "case_ids", "case_submitter_id",
                                      "cases")
#: Columns a node's export normally has; their absence is reported (values become unknown).
_EXPECTED = {"case": ("sex", "age_at_index"), "imaging_study": ("days_to_study",),
             "visit": ("days_to_hospital_admission",),
             "measurement": ("test_name", "test_result_text")}


class Reader:
    """Reads one MIDRC root; keeps the ledger for files and findings."""

    def __init__(self, root: str, progress: bool) -> None:
        self.root = os.fspath(Path(root))
        self.ledger = Ledger(NAME, self.root)
        self.progress = progress
        self.nodes: dict[str, list[tuple[str, pd.DataFrame]]] = {
            n: [] for n in (*NODES, *DATA_FILE_NODES)}
        self.export_dates: set[str] = set()
        self.observations = ObservationRows(self.ledger)
        self.notes = Annotations(NAME)       # mRALE scores, then RICORD's MD.ai exports
        self.mdai_paths: list[str] = []

    # ------------------------------------------------------------------ files
    def walk(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {"tsv": [], "json": [], "dicom": [], "nifti": []}
        for dirpath, dirnames, filenames in walk(self.root, self.ledger):
            dirnames.sort()
            prefix = folder_prefix(dirpath)
            for name in sorted(filenames):
                path = prefix + name
                lower = name.lower()
                if lower.endswith(".tsv"):
                    found["tsv"].append(path)
                elif lower.endswith((".md", ".txt", ".pdf")) or lower.startswith(
                        ("license", "readme", ".")):
                    self.ledger.file(path, "ignored", reason="documentation or system file, "
                                     "not data")
                elif lower.endswith(".json"):
                    found["json"].append(path)
                elif is_nifti_name(name):
                    found["nifti"].append(path)
                elif lower.endswith(".zip") or is_dicom_name(name):
                    found["dicom"].append(path)
                else:
                    self.ledger.file(path, "ignored", reason="not part of the MIDRC layout "
                                     "(Gen3 TSV or JSON exports, DICOM files or zips, NIfTI)")
        return found

    def read_tables(self, tsvs: list[str], jsons: list[str]) -> None:
        for path in [*tsvs, *jsons]:
            if path.lower().endswith(".json") and looks_like_mdai(path):
                self.mdai_paths.append(path)      # read once the images are known
                continue
            try:
                if path.lower().endswith(".tsv"):
                    frame, why = read_text_table(path, self.ledger, sep="\t"), ""
                else:
                    frame, why = read_json_table(path, self.ledger)
            except TableReadError as exc:
                self.ledger.file(path, "rejected", reason=f"unreadable export: {exc.reason}")
                self.ledger.finding("unreadable_file", f"{os.path.basename(path)}: cannot be "
                                    f"read as a Gen3 export: {exc.reason}", path=path)
                continue
            if frame is None:
                self.ledger.file(path, "ignored", reason=why)
                continue
            node = node_of(path, frame, self.nodes)
            if node not in self.nodes:
                what = f"Gen3 node {node!r}" if node else "a table whose Gen3 node is unknown"
                self.ledger.file(path, "ignored", reason=f"{what}; covidimg reads the nodes "
                                 f"{list(NODES)} and data-file nodes for NIfTI file names")
                continue
            self.nodes[node].append((path, frame))
            date = export_date(path)
            if date is not None:
                self.export_dates.add(date)
            self.ledger.file(path, "used", reason=self._used_reason(node, frame))
            if node in NODES:
                for column in frame.columns:
                    if not is_known(node, column):
                        self.ledger.finding(
                            "unexpected_field", f"{os.path.basename(path)}: {node} field "
                            f"{column!r} is not in the MIDRC data dictionary as covidimg knows "
                            "it; its values are not loaded", path=path)

    @staticmethod
    def _used_reason(node: str, frame: pd.DataFrame) -> str:
        if node in DATA_FILE_NODES:
            return (f"Gen3 {node} node export: file_name -> case, study and series of NIfTI "
                    "files; its other fields describe stored files (object ids, sizes, "
                    "checksums)")
        read = {*READ.get(node, ()), *(spec.column for spec in OBSERVED.get(node, ()))}
        dropped = sorted(c for c in frame.columns if c not in read and (
            c in NOT_KEPT or c.startswith("datasets.")))
        reasons = "; ".join(f"{c}: {NOT_KEPT.get(c, 'Gen3 record id (bookkeeping)')}"
                            for c in dropped)
        return f"Gen3 {node} node export" + (f"; not copied: {reasons}" if dropped else "")

    def node(self, name: str, required: tuple[str, ...] = ()) -> pd.DataFrame:
        """All rows of node ``name`` with their file and line in ``_where``."""
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
            line = 2 if path.lower().endswith(".tsv") else 1
            frame["_where"] = [f"{path}:{i + line}" for i in range(len(frame))]
            parts.append(frame)
        if not parts:
            return pd.DataFrame(columns=[*required, "_where"], dtype=str)
        return pd.concat(parts, ignore_index=True).fillna("").astype(str)

    def case_link(self, frame: pd.DataFrame, node: str) -> pd.Series | None:
        """The case id of each row (a to-one link may be exported as a one-element list)."""
        for column in CASE_LINK_COLUMNS:
            if column in frame.columns:
                return pd.Series([(as_list(v) or [""])[0] for v in frame[column].tolist()],
                                 index=frame.index, dtype=object)
        if len(frame):
            self.ledger.finding("missing_column", f"{node} rows carry no link to their case "
                                f"(none of {list(CASE_LINK_COLUMNS)}); they are skipped")
        return None

    # ------------------------------------------------------------------ tables
    def cases(self) -> pd.DataFrame:
        if not self.nodes["case"]:
            raise LoadError(
                f"{self.root}: no Gen3 case export found (a .tsv or .json whose type is 'case' "
                "or whose name starts with 'case'). Export the case node from the MIDRC portal "
                "(Exploration > Export to TSV, or gen3 sdk raw_data_download) next to the "
                "downloaded DICOM.")
        frame = self.node("case", ("submitter_id",))
        frame = frame[frame["submitter_id"] != ""]
        frame = drop_repeated_rows(frame, "submitter_id", self.ledger, what="case",
                                   where=lambda i: str(frame.at[i, "_where"]),
                                   patient_uid=lambda case: f"{NAME}:{case}")
        return frame.set_index("submitter_id", drop=False)

    def studies(self, known: set[str]) -> pd.DataFrame:
        frame = self.node("imaging_study", ("study_uid",))
        link = self.case_link(frame, "imaging_study")
        rows = []
        seen: set[str] = set()
        for case_id, row in zip([] if link is None else link.tolist(),
                                frame.to_dict("records"), strict=False):
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
            index_day = clinical.checked_number(self.ledger, row, "days_to_study", uid)
            self.observations.generic("imaging_study", row, uid, index_day)
            tests = {}
            for column, event in (("days_from_study_to_pos_covid_test", "covid_test_positive"),
                                  ("days_from_study_to_neg_covid_test", "covid_test_negative")):
                values = parse_day_list(row.get(column, ""))
                if values is None:
                    self.ledger.finding("unparseable_value", f"{column} "
                                        f"{describe_value(row[column])} is not a list of whole "
                                        "days (expected e.g. '[-2, 5]' or '-2,5')",
                                        patient_uid=uid, path=row["_where"])
                    values = []
                tests[event] = values
            rows.append({"study_uid": study, "submitter_id": row.get("submitter_id", ""),
                         "patient_uid": uid, "index_day": index_day, "tests": tests,
                         "_where": row["_where"]})
        return pd.DataFrame(rows, columns=["study_uid", "submitter_id", "patient_uid",
                                           "index_day", "tests", "_where"])

    def child_rows(self, node: str, known: set[str]) -> list[tuple[str, dict[str, str]]]:
        """(case id, row) of a child node's rows that link to a known case."""
        frame = self.node(node)
        link = self.case_link(frame, node)
        if link is None:
            return []
        out = []
        for case_id, row in zip(link.tolist(), frame.to_dict("records"), strict=True):
            if case_id not in known:
                self.ledger.finding("orphan_row", f"{node} row links to case {case_id!r}, "
                                    "which is not in the case export; skipped",
                                    path=row["_where"])
                continue
            out.append((case_id, row))
        return out

    def annotations(self, known: set[str], studies: pd.DataFrame) -> None:
        """Annotation rows -> observations on their study's day (mRALE scores and labels)."""
        found = list(zip(studies["patient_uid"], studies["index_day"], strict=True))
        by_uid = dict(zip(studies["study_uid"], found, strict=True))
        by_submitter = {s: f for s, f in zip(studies["submitter_id"], found, strict=True) if s}
        study_of = {s: u for s, u in zip(studies["submitter_id"], studies["study_uid"],
                                         strict=True) if s}
        for node in ("annotation", "imaging_study_annotation"):
            for row in self.node(node).to_dict("records"):
                submitter = (as_list(row.get("imaging_studies.submitter_id", "")) or [""])[0]
                hit = by_uid.get(row.get("study_uid", "")) or by_submitter.get(submitter)
                case_id = next((as_list(row[c])[0] for c in CASE_LINK_COLUMNS
                                if as_list(row.get(c, ""))), "")
                uid = f"{NAME}:{case_id}" if case_id else (hit[0] if hit else "")
                if uid.split(":", 1)[-1] not in known:
                    self.ledger.finding("orphan_row", f"{node} row links to no case of the "
                                        "export (by its case link or its imaging study); "
                                        "skipped", path=row["_where"])
                    continue
                self.observations.generic(node, row, uid, hit[1] if hit else None)
                self.mrale(row, uid, row.get("study_uid", "") or study_of.get(submitter, ""))

    def mrale(self, row: dict, patient_uid: str, study_uid: str) -> None:
        """An annotation row's mRALE score (also an observation) as a ``score`` annotation
        on its study (``image_uid`` NA; ``annotator_id`` becomes a reader number)."""
        try:
            score = float(str(row.get("midrc_mRALE_score", "")).strip())
        except ValueError:
            return  # empty, or not a number: the observation's finding says so
        if score == score:
            self.notes.add(patient_uid, f"mrale/{row.get('submitter_id') or row['_where']}",
                           scheme="mrale", kind="score", score=score,
                           reader=row.get("annotator_id") or None,
                           study_uid=study_uid or None, origin=row["_where"])

    def nifti_links(self, known: set[str], studies: pd.DataFrame) -> dict[str, NiftiLink]:
        """``file_name`` -> link, from the data-file node exports."""
        by_submitter = dict(zip(studies["submitter_id"], studies["study_uid"], strict=True))
        links: dict[str, NiftiLink] = {}
        for node in DATA_FILE_NODES:
            frame = self.node(node)
            if "file_name" not in frame.columns:
                continue
            case = self.case_link(frame, node)
            for i, row in enumerate(frame.to_dict("records")):
                case_id = "" if case is None else case.iat[i]
                study = row.get("study_uid", "") or by_submitter.get(
                    (as_list(row.get("imaging_studies.submitter_id", "")) or [""])[0], "")
                if case_id in known and row["file_name"]:
                    links[os.path.basename(row["file_name"])] = NiftiLink(
                        case_id, study, row.get("series_uid", ""), row.get("modality", ""),
                        row["_where"])
        return links

    # ------------------------------------------------------------------ assembly
    def load(self) -> SourceTables:
        found = self.walk()
        self.read_tables(found["tsv"], found["json"])
        cases = self.cases()
        known = set(cases.index)
        records = cases.to_dict("records")
        patients = pd.DataFrame([clinical.patient_row(row, self.ledger) for row in records])
        for row in records:
            self.observations.generic("case", row, f"{NAME}:{row['submitter_id']}")
        studies = self.studies(known)
        events = self.events(known, studies)
        for node, read in (("procedure", self.observations.procedure),
                           ("condition", self.observations.condition),
                           ("medication", self.observations.medication)):
            for case_id, row in self.child_rows(node, known):
                read(row, f"{NAME}:{case_id}")
        self.annotations(known, studies)
        observed = pd.DataFrame(self.observations.rows,
                                columns=["patient_uid", "index_day"])

        # Day 0 (harmonize): the earliest admission, else MIDRC's index event (day 0 of every
        # days_to_*). Every MIDRC day is on the index axis, so the index event is always known.
        uids = sorted({*events["patient_uid"], *studies["patient_uid"],
                       *observed["patient_uid"]})
        admissions = events[events["event"] == "admission"].groupby("patient_uid")["index_day"]
        axis = DayAxis.choose(uids, admission=admissions.min().to_dict(),
                              index_event=dict.fromkeys(uids, 0.0))
        events["day"] = axis.days(events["patient_uid"].tolist(), events["index_day"])
        events = events.drop(columns="index_day").drop_duplicates(["patient_uid", "event", "day"])
        events = events[events["day"].notna() | (events["event"] == "death")]
        observations = self.observations.collect(axis.days(
            observed["patient_uid"].tolist(), observed["index_day"].astype(float)).tolist())

        patients = self.outcomes(patients, events)
        nifti = nifti_images(found["nifti"], self.root, known, self.nifti_links(known, studies),
                             studies, self.ledger)
        dicom = dicom_images(found["dicom"], studies, self.ledger, progress=self.progress,
                             other_images=frozenset(nifti.get("study_uid", pd.Series(
                                 dtype=object)).dropna()))
        images = pd.concat([t for t in (dicom, nifti) if len(t)] or [dicom],
                           ignore_index=True)
        images = place_on_axis(images, axis, events)
        events = events[events["day"].notna()]
        projects = sorted({p for p in cases.get("project_id", pd.Series(dtype=str)) if p})
        provenance = provenance_frame([provenance_row(
            NAME, collection=", ".join(projects) or None, release=self.release(cases),
            loaded_from=self.root)])
        ricord_annotations(self.mdai_paths, images, self.ledger, NAME, collector=self.notes)
        return SourceTables(
            NAME, patients=patients, images=images, annotations=self.notes.frame(),
            events=events.reset_index(drop=True)[["patient_uid", "event", "day"]],
            observations=observations.frame(), provenance=provenance,
            files=self.ledger.files_frame(), findings=self.ledger.findings_frame(),
        ).conformed()

    def events(self, known: set[str], studies: pd.DataFrame) -> pd.DataFrame:
        """Visit, measurement and study-list test events on the index axis."""
        parts = []
        for node, read in (("visit", clinical.visit_events),
                           ("measurement", clinical.measurement_events)):
            frame = self.node(node)
            link = self.case_link(frame, node)
            if link is not None:
                parts.append(read(frame, link, known, self.ledger, self.observations))
        test_rows = [(s.patient_uid, event, s.index_day + v)
                     for s in studies.itertuples() if s.index_day is not None
                     and not pd.isna(s.index_day)
                     for event, values in s.tests.items() for v in values]
        parts.append(pd.DataFrame(test_rows, columns=clinical.EVENT_COLUMNS))
        events = pd.concat(parts, ignore_index=True)
        events["index_day"] = events["index_day"].astype(float)
        return events

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

    def release(self, cases: pd.DataFrame) -> str | None:
        """The export date for provenance: the date(s) the export file names carry
        (``midrc_data_download-2025-01-29_0.tsv``), else the latest ``updated_datetime`` of
        the case records, else ``None``."""
        if self.export_dates:
            return ", ".join(sorted(self.export_dates))
        stamps = [s[:10] for s in cases.get("updated_datetime", pd.Series(dtype=str))
                  if re.match(r"^\d{4}-\d{2}-\d{2}", s)]
        return max(stamps) if stamps else None

