"""CRDW's file layout: batch folders, exam zip names, and the exams read from the zips.

Exam zips are parsed by :func:`parse_zip_name`; :class:`ExamReader` walks the root, skips
``IN-PROGRESS`` batches, reads each zip's DICOM headers, merges CT exams split over several
zips, and drops cross-batch and pediatric copies (see :mod:`covidimg.sources.crdw`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from covidimg.errors import DicomReadError
from covidimg.sources._engine.archives import finding_kind, iter_zip_headers
from covidimg.sources._engine.dates import parse_dicom_date, parse_dicom_time
from covidimg.sources._engine.dicom import IMAGE_MODALITIES, DicomHeader, pixel_digest
from covidimg.sources._engine.exam import MODALITY_CODES
from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.ledger import Ledger, walk
from covidimg.table_paths import split_path

__all__ = ["BATCH_PATTERN", "REMAP_WORKBOOK", "SPLIT_EXAM_MINUTES", "ZIP_PATTERN", "ExamReader",
           "ZipName", "parse_zip_name"]

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


def _subfolders(folder: str) -> tuple[list[str], list[str]]:
    """``(folder names, other names)`` in ``folder``, sorted, as :func:`os.walk` splits them
    (a link to a folder is listed as a folder, and never entered); nothing for a folder that
    cannot be listed (:func:`~covidimg.sources._engine.ledger.walk` reports it)."""
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError:
        return [], []
    folders, others = [], []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        (folders if is_dir and not entry.is_symlink() else
         [] if is_dir else others).append(entry.name)
    return folders, others


def _in_progress_batches(root: str) -> list[str]:
    """The IN-PROGRESS batch folders under ``root``, top-down in name order (not below one
    another). Iterative: a tree nested thousands of folders deep costs no recursion."""
    found: list[str] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        below = []
        for name in _subfolders(folder)[0]:
            match = BATCH_PATTERN.match(name)
            path = os.path.join(folder, name)
            (found if match and "PROGRESS" in match["state"].upper() else below).append(path)
        stack.extend(reversed(below))
    return found


def _files_under(folder: str) -> list[str]:
    """Every file below ``folder``, sorted (iteratively, at any depth)."""
    files: list[str] = []
    stack = [folder]
    while stack:
        current = stack.pop()
        folders, others = _subfolders(current)
        files.extend(os.path.join(current, name) for name in others)
        stack.extend(os.path.join(current, name) for name in folders)
    return sorted(files)


class ExamReader:
    """The exam half of the CRDW loader (a mixin of :class:`~covidimg.sources.crdw.loader.
    CrdwLoader`, which sets ``name``, ``root``, ``progress``, ``ledger`` and ``resolve``)."""

    name: str
    root: str
    progress: bool
    ledger: Ledger
    resolve: Callable[[str], str]  # the current patient id of an old one (ClinicalReader)

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
        for folder in _in_progress_batches(self.root):
            d = os.path.basename(folder)
            files = _files_under(folder)
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
                        "member has modality "
                        f"{describe_value(result.modality, vocabulary=MODALITY_CODES)}; "
                        "covidimg indexes "
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
                    patient_uid=f"{self.name}:{primary.patient_id}", path=part.path)
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
                    patient_uid=f"{self.name}:{exam.patient_id}", path=exam.path)
                continue
            overlap = sops & seen.keys()
            if overlap:
                exam.headers = [h for h in exam.headers if h.sop_uid not in overlap]
                self.ledger.finding(
                    "duplicate_instances",
                    f"{len(overlap)} of the {len(sops)} instances of "
                    f"{os.path.basename(exam.path)} were already read from an earlier exam "
                    "(same SOP Instance UID); those copies are dropped",
                    patient_uid=f"{self.name}:{exam.patient_id}", path=exam.path)
            for sop in sops - overlap:
                seen[sop] = exam
            kept.append(exam)
        return kept, duplicate_of

    def _content(self, exam: _Exam) -> tuple[tuple[str, str], ...] | None:
        """(member name, pixel digest) of every member, or None if one cannot be read."""
        out = []
        for h in exam.headers:
            archive, member = split_path(h.path)
            try:
                with zipfile.ZipFile(archive) as zf, \
                        zf.open(next(i for i in zf.infolist() if i.filename == member)) as fh:
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
                        patient_uid=f"{self.name}:{later.patient_id}", path=later.path)
                    break
        return [e for e in exams if id(e) not in dropped]

    def _record_exam_files(self, exams: Iterable[_Exam], images: pd.DataFrame,
                           duplicate_of: dict[str, str]) -> None:
        uids_of: dict[str, list[str]] = defaultdict(list)
        for uid, paths in zip(images["image_uid"], images["member_paths"], strict=True):
            for zip_path in dict.fromkeys(split_path(p)[0] for p in paths):
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
