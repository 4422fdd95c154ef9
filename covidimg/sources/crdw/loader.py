"""The CRDW loader: the exams and the datamart tables assembled on one day axis."""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict

import pandas as pd

from covidimg.sources._engine.dicom import HELPER_COLUMNS
from covidimg.sources._engine.exam import exam_label
from covidimg.sources._engine.free_text import descriptions_kept
from covidimg.sources._engine.harmonize import DayAxis, event_offsets
from covidimg.sources._engine.ledger import Ledger, SourceTables
from covidimg.sources._engine.observations import Observations
from covidimg.sources._engine.provenance import provenance_frame, provenance_row
from covidimg.sources._engine.series import series_table
from covidimg.sources.crdw.clinical import _TABLE_WORDS, ClinicalReader
from covidimg.sources.crdw.layout import REMAP_WORKBOOK, ExamReader
from covidimg.sources.crdw.windows import is_pre_encounter, window_start

__all__ = ["CrdwLoader"]


class CrdwLoader(ExamReader, ClinicalReader):
    """Reads one CRDW download: :class:`ExamReader` for the zips, :class:`ClinicalReader` for
    the datamart tables; :meth:`run` assembles the harmonized tables."""

    def __init__(self, name: str, root: str, progress: bool) -> None:
        self.name = name
        self.root = os.path.abspath(root)
        self.progress = progress
        self.ledger = Ledger(self.name, self.root)
        self.remap: dict[str, str] = {}
        self.remap_source: dict[str, str] = {}
        self.applied_remaps: set[str] = set()
        self.tables: dict[str, list[tuple[str, pd.DataFrame]]] = {w: [] for w in _TABLE_WORDS}
        self._dated: dict[str, list[tuple[str, dt.date]]] = {}
        self.observed: list[tuple[str, str, dict, dt.date | None]] = []
    def _report_outside_window(self, exams: list, modalities: list[str],
                               encounter_of: dict[str, dt.date | None]) -> None:
        """One ``outside_inclusion_window`` finding per exam dated before its modality's
        window (:mod:`covidimg.sources.crdw.windows`)."""
        reported: set[str] = set()
        for exam, modality in zip(exams, modalities, strict=True):
            encounter = encounter_of.get(exam.patient_id)
            if encounter is None or exam.path in reported:
                continue
            date = exam.name.timestamp.date()
            start = window_start(modality, encounter)
            if start is None or date >= start:
                continue
            reported.add(exam.path)
            kind, window = (("CT", "one month") if modality == "CT" else
                            ("chest radiograph", "one year"))
            self.ledger.finding(
                "outside_inclusion_window",
                f"{os.path.basename(exam.path)}: a {kind} dated {date.isoformat()}, "
                f"{(encounter - date).days} days before the patient's COVID encounter "
                f"({encounter.isoformat()}); the HIRO tip sheet includes {kind}s up to "
                f"{window} before it. A wrong date, or an exam filed under another patient's "
                "id? Kept, with pre_encounter=True",
                patient_uid=f"{self.name}:{exam.patient_id}", path=exam.path)

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
        header_of = {h.path: h for exam in exams for h in exam.headers}
        images = series_table((h for exam in exams for h in exam.headers), source=self.name,
                              patient_uid=lambda h: f"{self.name}:{exam_of[h.path].patient_id}")
        first_exam = [exam_of[paths[0]] for paths in images["member_paths"]]
        first_header = [header_of[paths[0]] for paths in images["member_paths"]]
        # The exam label reads the zip name's description with the DICOM ones; the texts
        # themselves stay out of the tables unless descriptions="keep".
        images["exam"] = [exam_label(h.modality, h.view, e.name.description,
                                     h.study_description, h.series_description,
                                     h.protocol_name)
                          for e, h in zip(first_exam, first_header, strict=True)]
        images["batch"] = [e.batch for e in first_exam]
        images["hiro_id"] = [e.name.hiro_id for e in first_exam]
        if descriptions_kept():
            images["exam_description"] = [e.name.description for e in first_exam]
        images["acquired"] = [e.name.timestamp.isoformat() for e in first_exam]
        exam_date = [e.name.timestamp.date() for e in first_exam]

        info, dated_events = self._clinical()
        self._dated = dated_events
        encounter_of = {pid: entry.get("index_date") for pid, entry in info.items()}
        images["pre_encounter"] = pd.array(
            [is_pre_encounter(date, encounter_of.get(exam.patient_id))
             for exam, date in zip(first_exam, exam_date, strict=True)], dtype="boolean")
        self._report_outside_window(first_exam, list(images["modality"]), encounter_of)
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
        if not len(images):
            self.ledger.finding("no_images", f"no usable exam zip under {self.root}",
                                path=self.root)
        if not any(self.tables.values()):
            self.ledger.finding("missing_clinical_data",
                                "no datamart tables (patients / encounters / labs .csv or "
                                ".xlsx) under the root: every image is without clinical data",
                                path=self.root)

        event_rows = []
        for pid, items in dated_events.items():
            for event, date in sorted(set(items), key=lambda x: (x[1], x[0])):
                if pid in axis:
                    event_rows.append({"patient_uid": f"{self.name}:{pid}", "event": event,
                                       "day": axis.day(pid, date)})
        events = pd.DataFrame(event_rows, columns=["patient_uid", "event", "day"])

        images["day"] = axis.days(image_pids, exam_date)
        for column, values in event_offsets(images["patient_uid"], images["day"],
                                            events).items():
            images[column] = values
        if len(labs):
            labs["day"] = axis.days(lab_pids, lab_dates)
        observations = Observations(self.name)
        for pid, field, values, date in self.observed:
            day = axis.day(pid, date) if date is not None and pid in axis else None
            observations.add(f"{self.name}:{pid}", field, day=day, **values)

        if any(self.tables.values()):
            for uid, pid in zip(images["image_uid"], image_pids, strict=True):
                if pid not in clinical_ids:
                    self.ledger.finding(
                        "orphan_image",
                        f"patient {pid} has no clinical data in the datamart tables and no "
                        f"entry in {REMAP_WORKBOOK}; the image is kept without clinical data",
                        patient_uid=f"{self.name}:{pid}", image_uid=uid)

        self._record_exam_files(exams, images, duplicate_of)
        patients = self._patients(info, clinical_ids, images, image_pids)
        images = images.drop(columns=[*HELPER_COLUMNS, "study_date", "study_time",
                                      "age_years", "sex"])
        batches = [e.batch_date for e in exams if e.batch_date is not None]
        provenance = provenance_frame([provenance_row(
            self.name, release=(f"batches up to {max(batches).isoformat()}" if batches else None),
            loaded_from=self.root)])
        return SourceTables(self.name, patients=patients, images=images, events=events, labs=labs,
                            files=self.ledger.files_frame(),
                            findings=self.ledger.findings_frame(),
                            observations=observations.frame(),
                            provenance=provenance).conformed()
