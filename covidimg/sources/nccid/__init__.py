"""The UK National COVID-19 Chest Imaging Database (NCCID), from a local copy or ``s3://``.

Two generations of bucket layout are read, under ``training/`` and ``validation/`` (or a root
that is itself one of them)::

    # early (NHSX docs of April 2020)
    <group>/<pid>/images/<date>/<image_id>.dcm
    <group>/<pid>/images_metadata/<date>/<image_id>.json      DICOM-JSON of the image
    <group>/<pid>/data/<date>/data.json                         clinical data as known on <date>

    # current (``x-ray`` was renamed ``xray`` in May 2020; both are accepted)
    <group>/{xray,ct,mri}/<pid>/<study_uid>/<series_uid>/<image_uuid>.dcm
    <group>/{xray,ct,mri}-metadata/<pid>/<study_uid>/<series_uid>/<image_uuid>.json
    <group>/data/<pid>/data_YYYY-MM-DD.json                     positive patient
    <group>/data/<pid>/status_YYYY-MM-DD.json                   negative patient

Quirks handled:

* later clinical files supersede earlier ones: the latest ``data_*`` (or early ``data.json``)
  wins and makes the patient positive; without one, the latest ``status_*`` makes the patient
  negative. Superseded files are listed in ``files`` as ignored, naming the file that won;
* the clinical values are cleaned by :mod:`covidimg.sources.nccid.clean` (human-label keys,
  DD/MM/YYYY ``SwabDate`` vs MM/DD/YYYY other dates, ``[Text] - YYYY-MM-DD`` error cells,
  numbers inside text, site-specific units converted to the canonical unit keyed on
  ``SubmittingCentre``, FiO2 in litres or mask colours); every value that cannot be read as
  written is a finding naming the file, the key and the value;
* image headers come from the DICOM-JSON metadata when present (NCCID recommends it; binary
  values and the VOI LUT Sequence are nulled there), else from the ``.dcm`` header. A ``.json``
  without its ``.dcm`` is rejected (``missing_image_file``); a ``.dcm`` without its ``.json`` is
  used and reported (``missing_metadata``);
* the patient id is the folder name, which equals DICOM (0010,0020) and ``Pseudonym``;
  disagreements are reported;
* the day axis (:mod:`covidimg.sources._engine.harmonize`): day 0 = ``Date of admission`` where
  known; NCCID records no index event; else the patient's first exam (``StudyDate``); else the
  first swab (the rule's last fallback, for patients without images). NCCID has no ICU-release
  date, so
  ``icu_release_offset`` is always empty. Absolute dates are used to compute days and offsets
  and are not kept in the tables;
* images whose patient has no clinical file are kept, with ``covid_status`` unknown, and
  reported (``orphan_image``); the same SOP Instance UID found twice is kept once
  (``duplicate_image``); raw upload areas (``raw-*``) are listed as ignored.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from covidimg.errors import DicomReadError, LoadError
from covidimg.sources import rejects_unknown_options
from covidimg.sources._engine.dicom import HELPER_COLUMNS, IMAGE_MODALITIES, DicomHeader
from covidimg.sources._engine.dicom_json import load_json, read_header_json
from covidimg.sources._engine.exam import MODALITY_CODES
from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.harmonize import DayAxis, event_offsets
from covidimg.sources._engine.ledger import Ledger, SourceTables, decode_text
from covidimg.sources._engine.observations import Observations, source_field
from covidimg.sources._engine.series import series_table
from covidimg.sources.nccid import clean as nccid_clean
from covidimg.sources.nccid.layouts import (
    ClinicalFile,
    ImageFile,
    LayoutIndex,
    classify,
    modality_folders,
    parse_as_of,
    read_summaries,
)
from covidimg.sources.nccid.observed import severity_annotations
from covidimg.sources.nccid.store import (
    _PREFETCH_BATCH,
    GROUPS,
    _groups,
    _looks_like_group,
    _Store,
)
from covidimg.table_paths import redact_credentials

__all__ = ["GROUPS", "LOOKS_FOR", "MODALITY_FOLDERS", "NAME", "detect", "load"]

NAME = "nccid"
LOOKS_FOR = ("an NCCID bucket copy: training/ or validation/ holding data/<pid>/data_*.json or "
             "status_*.json and xray/ ct/ mri/ DICOM folders, or <pid>/images/<date>/*.dcm with "
             "<pid>/data/<date>/data.json (early layout)")

#: Modality folder -> the DICOM modalities it may hold.
MODALITY_FOLDERS: dict[str, tuple[str, ...]] = modality_folders()
_SCHEMA_EVENTS = ("admission", "icu_admission", "intubation", "death", "last_known_alive")


# ---------------------------------------------------------------------------- detection
def detect(root: str, *, storage_options: Mapping[str, Any] | None = None) -> bool:
    """Whether ``root`` (a folder or ``s3://`` URL) has an NCCID layout.

    Examples
    --------
    >>> import tempfile
    >>> from covidimg.sources.nccid import detect
    >>> detect(tempfile.mkdtemp())
    False
    """
    try:
        store = _Store(os.fspath(root), storage_options)
        return any(group.prefix or _looks_like_group(store, group.folder)
                   for group in _groups(store).values())
    except Exception:  # detection never fails: an unreachable root simply does not match
        return False


class _Loader:
    def __init__(self, root: str, *, progress: bool,
                 site_units: Mapping[str, Mapping[str, str]] | None,
                 storage_options: Mapping[str, Any] | None,
                 as_of: dt.date | None = None) -> None:
        self.root = root
        self.store = _Store(root, storage_options)
        self.ledger = Ledger(NAME, root)
        self.progress = progress
        self.site_units = site_units
        self.as_of = as_of

    # ------------------------------------------------------------------ index
    def index(self) -> LayoutIndex:
        try:
            groups = _groups(self.store)
            paths = self.store.find(self.ledger)
        except Exception as exc:  # fsspec back ends (s3fs, botocore) raise their own types
            raise LoadError(f"nccid: cannot list {redact_credentials(self.root)}: "
                            f"{redact_credentials(str(exc))}. Check the path (or the bucket, "
                            "credentials and endpoint for s3://)") from None
        if not groups:
            raise LoadError(f"nccid: {self.root} has no NCCID layout; looked for {LOOKS_FOR}. "
                            "Pass the bucket root, its training/ or validation/ folder, or one "
                            "patient's folder (e.g. training/xray/Covid123).")
        index = LayoutIndex()
        group_of = sorted(groups.items(), key=lambda kv: -len(kv[1].folder))
        for path in paths:
            found = next(((g, group) for g, group in group_of
                          if path == group.folder or path.startswith(group.folder + "/")), None)
            if found is None:
                first = self.store.rel(path)[0]
                reason = ("raw upload area, not curated NCCID data" if first.startswith("raw-")
                          else "outside training/ and validation/")
                self.ledger.file(self.store.label(path), "ignored", reason=reason)
                continue
            name, group = found
            rest = (*group.prefix, *posixpath.relpath(path, group.folder).split("/"))
            reason = classify(index, path, name, rest)
            if reason is not None:
                self.ledger.file(self.store.label(path), "ignored", reason=reason)
        read_summaries(index, self.store, self.ledger)
        return index

    # ------------------------------------------------------------------ clinical
    def after_as_of(self, files: list[ClinicalFile]) -> list[ClinicalFile]:
        """The files dated on or before ``as_of`` (all without it); later ones are ignored."""
        if self.as_of is None:
            return files
        kept = []
        for f in files:
            if f.date > self.as_of.isoformat():
                self.ledger.file(self.store.label(f.path), "ignored",
                                 reason=f"dated {f.date}, after as_of {self.as_of.isoformat()}")
            else:
                kept.append(f)
        return kept

    def clinical(self, index: LayoutIndex) -> dict[str, tuple[nccid_clean.ClinicalRecord, str,
                                                              str]]:
        """pid -> (cleaned record, label of the file used, group)."""
        out = {}
        current = {pid: self.after_as_of(files) for pid, files in index.clinical.items()}
        current = {pid: files for pid, files in current.items() if files}
        self.store.prefetch([max(files, key=lambda f: (f.is_data, f.date, f.path)).path
                             for files in current.values()])
        for pid, files in sorted(current.items()):
            # data_* beats status_*; later dates beat earlier ones; name breaks ties.
            ordered = sorted(files, key=lambda f: (f.is_data, f.date, f.path), reverse=True)
            winner = None
            for candidate in ordered:
                label = self.store.label(candidate.path)
                if winner is not None:
                    self.ledger.file(label, "ignored", reason=f"superseded by {winner[1]}")
                    continue
                try:
                    text, encoding = decode_text(self.store.read_bytes(candidate.path), label)
                    if encoding == "latin-1":
                        self.ledger.finding("unexpected_encoding", "the clinical JSON is not "
                                            "UTF-8; it was read as Latin-1 (check accented "
                                            "text)", patient_uid=f"{NAME}:{pid}", path=label)
                    raw = nccid_clean.read_clinical_json(text)
                except (ValueError, UnicodeDecodeError, OSError) as exc:
                    reason = f"unreadable clinical JSON: {exc}"
                    self.ledger.file(label, "rejected", reason=reason)
                    self.ledger.finding("unreadable_file", reason, patient_uid=f"{NAME}:{pid}",
                                        path=label)
                    continue
                record = nccid_clean.clean_record(raw, filename_status=candidate.filename_status,
                                                  site_units=self.site_units)
                winner = (record, label, candidate.group)
                kind = "positive (data_* file)" if candidate.filename_status == "positive" \
                    else "negative (status_* file)" if candidate.filename_status == "negative" \
                    else "early-layout data.json"
                self.ledger.file(label, "used", reason=f"clinical data, {kind}")
                self.report_record(pid, record, label)
            if winner is not None:
                out[pid] = winner
        return out

    def report_record(self, pid: str, record: nccid_clean.ClinicalRecord, label: str) -> None:
        uid = f"{NAME}:{pid}"
        for problem in record.problems:
            self.ledger.finding(problem.kind, problem.message(), patient_uid=uid, path=label)
        for key in record.unexpected_keys:
            self.ledger.finding("unexpected_field", f"key {source_field(NAME, key)[6:]!r} is "
                                "not in NCCID's vocabulary (NHSX's schema-compliance workbook "
                                "v2.1 and the keys NHSX's own code reads); its value was not "
                                "read", patient_uid=uid, path=label)
        if record.pseudonym is not None and record.pseudonym.strip().upper() != pid.upper():
            self.ledger.finding("inconsistent_value", f"Pseudonym {record.pseudonym!r} differs "
                                f"from the folder's patient id {pid!r}; the folder's id is kept",
                                patient_uid=uid, path=label)

    # ------------------------------------------------------------------ images
    def headers(self, index: LayoutIndex) -> tuple[list[DicomHeader], dict[str, ImageFile]]:
        headers: list[DicomHeader] = []
        by_label: dict[str, ImageFile] = {}
        items = sorted(index.images.items())
        bar = tqdm(items, desc="NCCID headers", unit="image", disable=not self.progress)
        for position, (_key, entry) in enumerate(bar):
            if position % _PREFETCH_BATCH == 0:  # bounded memory: one batch at a time
                batch = items[position:position + _PREFETCH_BATCH]
                self.store.prefetch([e.json for _, e in batch if e.json and e.dcm])
            header = self.header(entry)
            if header is None:
                continue
            headers.append(header)
            by_label[header.path] = entry
        return headers, by_label

    def header(self, entry: ImageFile) -> DicomHeader | None:
        uid = f"{NAME}:{entry.pid}"
        dcm = self.store.label(entry.dcm) if entry.dcm else None
        meta = self.store.label(entry.json) if entry.json else None
        if dcm is None:
            reason = "DICOM-JSON metadata whose .dcm image is missing"
            self.ledger.file(meta, "rejected", reason=reason)
            self.ledger.finding("missing_image_file", f"{reason}: no image file for {meta}",
                                patient_uid=uid, path=meta)
            return None
        header = None
        if meta is not None:
            try:
                obj = load_json(self.store.read_bytes(entry.json), label=meta)
                header = read_header_json(obj, label=dcm)
            except (ValueError, UnicodeDecodeError, OSError, DicomReadError) as exc:
                reason = f"unreadable DICOM-JSON metadata ({exc}); the .dcm header was read"
                self.ledger.file(meta, "rejected", reason=reason)
                self.ledger.finding("unreadable_file", reason, patient_uid=uid, path=meta)
        else:
            self.ledger.finding("missing_metadata", "no DICOM-JSON metadata file for this "
                                "image; its header was read from the .dcm", patient_uid=uid,
                                path=dcm)
        if header is None:
            try:
                header = self.store.header(entry.dcm, dcm)
            except DicomReadError as exc:
                self.ledger.file(dcm, "rejected", reason=exc.reason)
                self.ledger.finding("unreadable_file", str(exc), patient_uid=uid, path=dcm)
                if meta is not None and self.ledger.status(meta) is None:
                    self.ledger.file(meta, "rejected", reason="its .dcm image is unreadable")
                return None
        return header

    def check_header(self, header: DicomHeader, entry: ImageFile) -> bool:
        """Report disagreements; return whether the header becomes an image."""
        uid = f"{NAME}:{entry.pid}"
        if header.modality not in IMAGE_MODALITIES:
            reason = (f"modality {describe_value(header.modality, vocabulary=MODALITY_CODES)} "
                      f"is not an image modality covidimg indexes ({list(IMAGE_MODALITIES)})")
            self.mark(header.path, entry, "ignored", None, reason)
            self.ledger.finding("unsupported_modality", f"{reason}; skipped", patient_uid=uid,
                                path=header.path)
            return False
        if entry.folder_modalities is not None and entry.folder_modalities and \
                header.modality not in entry.folder_modalities:
            self.ledger.finding("inconsistent_value", f"modality {header.modality} in a folder "
                                f"for {list(entry.folder_modalities)}", patient_uid=uid,
                                path=header.path)
        if header.patient_id is not None and header.patient_id.strip().upper() != \
                entry.pid.upper():
            self.ledger.finding("inconsistent_value", f"DICOM PatientID {header.patient_id!r} "
                                f"differs from the folder's patient id {entry.pid!r}; the "
                                "folder's id is kept", patient_uid=uid, path=header.path)
        return True

    def mark(self, dcm_label: str, entry: ImageFile, status: str, image_uid: str | None,
             reason: str) -> None:
        self.ledger.file(dcm_label, status, image_uid=image_uid, reason=reason)
        if entry.json is not None:
            meta = self.store.label(entry.json)
            if self.ledger.status(meta) != "rejected":
                self.ledger.file(meta, status, image_uid=image_uid,
                                 reason=f"DICOM-JSON metadata: {reason}")

    def dedupe(self, headers: list[DicomHeader], by_label: dict[str, ImageFile]
               ) -> list[DicomHeader]:
        kept: dict[str, DicomHeader] = {}
        out = []
        for header in headers:
            entry = by_label[header.path]
            if not self.check_header(header, entry):
                continue
            key = header.sop_uid or header.path
            if key in kept:
                first = kept[key]
                reason = f"same SOP Instance UID as {first.path}"
                image_uid = f"{NAME}:{first.sop_uid}" if first.modality in ("CR", "DX") \
                    else f"{NAME}:{first.series_uid}"
                self.mark(header.path, entry, "duplicate", image_uid, reason)
                self.ledger.finding("duplicate_image", f"{reason}; the copy was dropped",
                                    patient_uid=f"{NAME}:{entry.pid}", image_uid=image_uid,
                                    path=header.path)
                continue
            kept[key] = header
            out.append(header)
        return out

    # ------------------------------------------------------------------ tables
    def load(self) -> SourceTables:
        index = self.index()
        records = self.clinical(index)
        headers, by_label = self.headers(index)
        headers = self.dedupe(headers, by_label)
        pid_of = {h.path: by_label[h.path].pid for h in headers}
        images = series_table(headers, source=NAME,
                              patient_uid=lambda h: f"{NAME}:{pid_of[h.path]}")
        images["group"] = [by_label[paths[0]].group for paths in images["member_paths"]]
        images["pid"] = [pid_of[paths[0]] for paths in images["member_paths"]]
        for _, row in images.iterrows():
            for member in row["member_paths"]:
                self.mark(member, by_label[member], "used", row["image_uid"],
                          "DICOM image" if row["n_instances"] == 1 else
                          f"slice of a {row['n_instances']}-slice {row['modality']} series")
        pids = sorted(set(records) | set(images["pid"]))
        anchors = self.anchors(pids, records, images)
        patients = self.patients(pids, records, images, anchors)
        events = self.events(records, anchors)
        images = self.place_images(images, events, anchors)
        labs = self.labs(records, anchors)
        observations = self.observations(records, anchors)
        annotations = severity_annotations(observations, images)
        return SourceTables(NAME, patients=patients, images=images, events=events, labs=labs,
                            observations=observations, annotations=annotations,
                            files=self.ledger.files_frame(),
                            findings=self.ledger.findings_frame()).conformed()

    def anchors(self, pids: Iterable[str], records: Mapping[str, Any],
                images: pd.DataFrame) -> DayAxis:
        """Day 0 per patient (harmonize): ``Date of admission``; NCCID records no index event;
        else the first exam (``StudyDate``); else the first COVID test."""
        first_exam = images.dropna(subset=["study_date"]).groupby("pid")["study_date"].min()
        with_records = {pid: rec[0] for pid, rec in records.items()}
        return DayAxis.choose(
            pids,
            admission={pid: r.dates["admission"] for pid, r in with_records.items()
                       if "admission" in r.dates},
            first_exam=first_exam.to_dict(),
            first_fact={pid: [d for _, d in r.test_dates] for pid, r in with_records.items()})

    def patients(self, pids: list[str], records: Mapping[str, Any], images: pd.DataFrame,
                 anchors: DayAxis) -> pd.DataFrame:
        rows = []
        by_pid = dict(tuple(images.groupby("pid"))) if len(images) else {}
        for pid in pids:
            uid = f"{NAME}:{pid}"
            record, label, group = records.get(pid, (None, None, None))
            imgs = by_pid.get(pid)
            groups = set() if imgs is None else set(imgs["group"])
            if group is not None:
                groups.add(group)
            if len(groups) > 1:
                self.ledger.finding("inconsistent_value", f"patient appears in both "
                                    f"{sorted(groups)}; NCCID splits by patient",
                                    patient_uid=uid)
            if record is None:
                self.ledger.finding(
                    "orphan_image", f"{len(imgs)} image(s) but no clinical file under "
                    f"data/{pid}/ (or {pid}/data/); covid_status is unknown",
                    patient_uid=uid, path=imgs["path"].iloc[0])
                record = nccid_clean.ClinicalRecord()
            sex, age = record.sex, record.age
            if imgs is not None:
                dicom_sex = Counter(s for s in imgs["sex"] if s in ("F", "M"))
                if sex == "U" and dicom_sex:
                    sex = dicom_sex.most_common(1)[0][0]
                elif dicom_sex and sex not in dicom_sex:
                    self.ledger.finding("inconsistent_value", f"clinical Sex {sex} but DICOM "
                                        f"PatientSex {sorted(dicom_sex)}; the clinical value is "
                                        "kept", patient_uid=uid, path=label)
                if age is None:
                    ages = imgs["age_years"].dropna()
                    age = float(ages.min()) if len(ages) else None
            rows.append({
                "patient_uid": uid, "source": NAME, "source_patient_id": pid, "sex": sex,
                "age_min": age, "age_max": age, "covid_status": record.covid_status,
                "icu": record.icu, "died": record.died, "site": record.site,
                "group": ",".join(sorted(groups)) or None, "intubated": record.intubated,
                "day0": anchors.rule(pid),
                **{k: record.vitals.get(k) for k in ("systolic_bp", "diastolic_bp",
                                                     "o2_saturation", "temperature",
                                                     "respiratory_rate", "heart_rate")},
            })
        frame = pd.DataFrame(rows)
        if len(frame):
            for col in ("icu", "died", "intubated"):
                frame[col] = frame[col].astype("boolean")
        return frame

    def events(self, records: Mapping[str, Any], anchors: DayAxis) -> pd.DataFrame:
        rows = set()
        for pid, (record, label, _group) in records.items():
            uid = f"{NAME}:{pid}"
            for event in _SCHEMA_EVENTS:
                if event in record.dates:
                    rows.add((uid, event, anchors.day(pid, record.dates[event])))
            for event, date in record.test_dates:
                rows.add((uid, event, anchors.day(pid, date)))
            adm, icu = record.dates.get("admission"), record.dates.get("icu_admission")
            if adm is not None and icu is not None and adm > icu:
                self.ledger.finding("admission_after_icu", f"Date of admission {adm} is after "
                                    f"Date of ITU admission {icu}; kept as submitted",
                                    patient_uid=uid, path=label)
            death = record.dates.get("death")
            if death is not None and adm is not None and death < adm:
                self.ledger.finding("inconsistent_value", f"Date of death {death} is before "
                                    f"Date of admission {adm}; kept as submitted",
                                    patient_uid=uid, path=label)
        return pd.DataFrame(sorted(rows, key=lambda r: (r[0], r[1], np.nan_to_num(r[2]))),
                            columns=["patient_uid", "event", "day"])

    def place_images(self, images: pd.DataFrame, events: pd.DataFrame,
                     anchors: DayAxis) -> pd.DataFrame:
        images = images.copy()
        study_dates = [d if isinstance(d, dt.date) else None for d in images["study_date"]]
        for i in [i for i, d in enumerate(study_dates) if d is None]:
            self.ledger.finding("missing_value", "no StudyDate (nor series or acquisition "
                                "date) in the header; the exam has no day",
                                patient_uid=images["patient_uid"].iat[i],
                                image_uid=images["image_uid"].iat[i], path=images["path"].iat[i])
        images["day"] = anchors.days(images["pid"].tolist(), study_dates)
        for column, values in event_offsets(images["patient_uid"], images["day"],
                                            events).items():
            images[column] = values  # NCCID records no ICU release: icu_release_offset is NaN
        drop = [*HELPER_COLUMNS, "pid", "study_date", "study_time", "age_years", "sex"]
        return images.drop(columns=[c for c in drop if c in images.columns])

    def observations(self, records: Mapping[str, Any], anchors: DayAxis) -> pd.DataFrame:
        """Every clinical field that is not a patients/events/labs column."""
        collector = Observations(NAME)
        for pid, (record, label, _group) in sorted(records.items()):
            for obs in record.observations:
                day = anchors.day(pid, obs.date) if obs.date is not None else None
                collector.add(f"{NAME}:{pid}", obs.field, value=obs.value,
                              value_num=obs.value_num, unit=obs.unit, day=day,
                              value_raw=obs.value_raw, origin=f"{label}: {obs.key}",
                              vocabulary=obs.vocabulary)
        return collector.frame()

    def labs(self, records: Mapping[str, Any], anchors: DayAxis) -> pd.DataFrame:
        rows = []
        for pid, (record, _label, _group) in records.items():
            day = anchors.day(pid, record.dates.get("admission"))  # values "on admission"
            for lab in record.labs:
                rows.append({
                    "patient_uid": f"{NAME}:{pid}", "image_uid": None, "analyte": lab.analyte,
                    "unit": lab.unit, "lower": lab.lower, "upper": lab.upper,
                    "censor": lab.censor, "day": day, "offset": float("nan"),
                    "value_raw": lab.value_raw, "source_unit": lab.source_unit,
                })
        return pd.DataFrame(rows)


@rejects_unknown_options
def load(
    root: str | os.PathLike[str],
    *,
    progress: bool = False,
    site_units: Mapping[str, Mapping[str, str]] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    as_of: str | dt.date | None = None,
) -> SourceTables:
    """Read an NCCID bucket copy (local folder or ``s3://bucket/prefix``) into harmonized tables.

    Parameters
    ----------
    root
        The bucket root (holding ``training/`` and/or ``validation/``), or one of those
        folders. ``s3://`` URLs are read through fsspec / s3fs; the endpoint and credentials
        come from ``storage_options`` or the usual environment (``AWS_ENDPOINT_URL``,
        ``FSSPEC_S3_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...).
    progress
        Show a progress bar while image headers are read.
    site_units
        Site unit table, ``{SubmittingCentre: {analyte: unit}}``; default
        :data:`covidimg.sources.nccid.clean.SITE_UNITS`.
    storage_options
        Passed to fsspec for remote roots, e.g. ``{"anon": False, "client_kwargs":
        {"endpoint_url": "http://127.0.0.1:5000"}}``.
    as_of
        A date (``"2020-06-01"`` or a :class:`datetime.date`): load the clinical data as it
        stood on that day. Clinical files dated later (``data_/status_YYYY-MM-DD.json``, or the
        date folder of the 2020 layouts) are listed as ignored and the latest file on or before
        the date wins, as it did then. Images are not filtered (the current layout records no
        upload date for them).

    Returns
    -------
    SourceTables
        Conformed tables; ``files`` lists every file under ``root``.

    Raises
    ------
    LoadError
        If ``root`` cannot be listed or holds no NCCID layout.

    Examples
    --------
    >>> from covidimg.sources import nccid
    >>> tables = nccid.load("/data/nccid")                          # doctest: +SKIP
    >>> tables = nccid.load("s3://nccid-data-warehouse-prod/training")  # doctest: +SKIP
    >>> tables = nccid.load("/data/nccid", as_of="2020-06-01")     # doctest: +SKIP
    >>> tables = nccid.load("/data/nccid/training/xray/Covid123")   # doctest: +SKIP
    """
    root = os.fspath(root)
    return _Loader(root, progress=progress, site_units=site_units,
                   storage_options=storage_options, as_of=parse_as_of(as_of)).load()
