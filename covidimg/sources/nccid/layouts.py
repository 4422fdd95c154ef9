"""The NCCID bucket's layout generations: which file under a group is what.

Paths are relative to a group (``training/`` or ``validation/``); NHSX's warehouse-loader
README gives each generation (nhsx/covid-chest-imaging-database, ``warehouse-loader/README.md``
history)::

    # early (docs of 2020-04-09)
    <pid>/images/<date>/<image_id>.dcm
    <pid>/images_metadata/<date>/<image_id>.json
    <pid>/data/<date>/data.json

    # April 2020 (README of 2020-04-16)
    {ct,mri,x-ray}/<pid>/<DATE>/<uuid>.dcm
    {ct,mri,x-ray}-metadata/<pid>/<DATE>/<uuid>.json
    data/<pid>/<DATE>/{data,status}.json

    # April-May 2020 (README of 2020-04-21 to 2020-05-22; x-ray renamed xray on 2020-05-22)
    {ct,mri,x-ray,xray}/<pid>/<uuid>.dcm              + {...}/summary.json
    {ct,mri,x-ray,xray}-metadata/<pid>/<uuid>.json    + {...}-metadata/summary.json
    data/<pid>/{data,status}_YYYY-MM-DD.json           + data/summary.json

    # current
    {ct,mri,xray}/<pid>/<study_uid>/<series_uid>/<uuid>.dcm
    {ct,mri,xray}-metadata/<pid>/<study_uid>/<series_uid>/<uuid>.json
    data/<pid>/{data,status}_YYYY-MM-DD.json

A ``summary.json`` is a list of ``{"patient_id", "modality", "file_name", "file_key",
"upload_date"}`` objects, one per file uploaded to its folder; :func:`read_summaries` reads it
and reports listed files that are not in the copy.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from covidimg.errors import DicomReadError
from covidimg.sources._engine.dicom_json import load_json
from covidimg.sources._engine.ledger import Ledger
from covidimg.sources.nccid.store import _CLINICAL_NAME, _DATE_FOLDER, _Store

__all__ = ["ClinicalFile", "ImageFile", "LayoutIndex", "classify", "modality_folders",
           "parse_as_of", "read_summaries"]

_MODALITIES: dict[str, tuple[str, ...]] = {
    "xray": ("CR", "DX"), "x-ray": ("CR", "DX"), "ct": ("CT",), "mri": ("MR",), "unknown": (),
}
#: Most bytes a summary.json may have (the bucket's largest listed a few hundred thousand files).
MAX_SUMMARY_BYTES = 256 << 20


def modality_folders() -> dict[str, tuple[str, ...]]:
    """Modality folder -> the DICOM modalities it may hold (NHSX's warehouse loader:
    ``{"DX": "xray", "CR": "xray", "MR": "mri", "CT": "ct"}``, else ``unknown``)."""
    return dict(_MODALITIES)


@dataclass
class ImageFile:
    """One image: its ``.dcm`` and DICOM-JSON ``.json`` (either may be missing)."""

    dcm: str | None = None
    json: str | None = None
    group: str = ""
    pid: str = ""
    folder_modalities: tuple[str, ...] | None = None


@dataclass
class ClinicalFile:
    """One clinical JSON file; ``date`` (ISO) orders the files of a patient."""

    path: str
    group: str
    pid: str
    is_data: bool
    date: str
    filename_status: str | None


@dataclass
class LayoutIndex:
    """What :func:`classify` found: images by key, clinical files by patient, summaries."""

    images: dict[tuple[str, ...], ImageFile] = field(default_factory=dict)
    clinical: dict[str, list[ClinicalFile]] = field(default_factory=lambda: defaultdict(list))
    summaries: list[tuple[str, str]] = field(default_factory=list)   # (summary path, folder)
    found: set[str] = field(default_factory=set)


def _folder(name: str) -> tuple[str | None, bool]:
    """(modality folder, is metadata) of a first path part; ``x-ray`` reads as ``xray``."""
    lower = name.lower()
    meta = lower.endswith("-metadata")
    if meta:
        lower = lower[: -len("-metadata")]
    if lower in _MODALITIES:
        return ("xray" if lower == "x-ray" else lower), meta
    return None, False


def _entry(index: LayoutIndex, key: tuple[str, ...], group: str, pid: str) -> ImageFile:
    entry = index.images.setdefault(key, ImageFile())
    entry.group, entry.pid = group, pid
    return entry


def _image(index: LayoutIndex, path: str, group: str, rest: tuple[str, ...]) -> bool:
    """Place an image or metadata file of the April, April-May or current layout."""
    folder, meta = _folder(rest[0])
    lower = rest[-1].lower()
    if folder is None or not lower.endswith(".json" if meta else ".dcm"):
        return False
    if len(rest) == 5 or (len(rest) == 4 and _DATE_FOLDER.match(rest[2])) or len(rest) == 3:
        stem = rest[-1].rsplit(".", 1)[0]
        entry = _entry(index, (group, folder, *rest[1:-1], stem), group, rest[1])
        if meta:
            entry.json = path
        else:
            entry.dcm, entry.folder_modalities = path, _MODALITIES[folder]
        return True
    return False


def classify(index: LayoutIndex, path: str, group: str, rest: tuple[str, ...]) -> str | None:
    """Put the file at ``path`` (``rest``: its parts below the group) into ``index``; return
    why it was left out (for ``files``), or ``None`` when it was placed."""
    index.found.add(path)
    name = rest[-1]
    lower = name.lower()
    if len(rest) == 2 and name == "summary.json" and (_folder(rest[0])[0] or rest[0] == "data"):
        index.summaries.append((path, posixpath.dirname(path)))
        return None
    if _image(index, path, group, rest):
        return None
    if len(rest) == 4 and rest[1] == "images" and lower.endswith(".dcm"):
        _entry(index, (group, "early", rest[0], rest[2], name.rsplit(".", 1)[0]), group,
               rest[0]).dcm = path
        return None
    if len(rest) == 4 and rest[1] == "images_metadata" and lower.endswith(".json"):
        _entry(index, (group, "early", rest[0], rest[2], name.rsplit(".", 1)[0]), group,
               rest[0]).json = path
        return None
    if len(rest) == 3 and rest[0] == "data" and lower.endswith(".json"):
        match = _CLINICAL_NAME.match(name)
        if match is None:
            return "not a data_YYYY-MM-DD.json or status_YYYY-MM-DD.json clinical file name"
        is_data = match["kind"] == "data"
        index.clinical[rest[1]].append(ClinicalFile(
            path, group, rest[1], is_data, match["date"], "positive" if is_data else "negative"))
        return None
    if len(rest) == 4 and rest[0] == "data" and name in ("data.json", "status.json") \
            and _DATE_FOLDER.match(rest[2]):                       # April 2020 layout
        is_data = name == "data.json"
        index.clinical[rest[1]].append(ClinicalFile(
            path, group, rest[1], is_data, rest[2], "positive" if is_data else "negative"))
        return None
    if len(rest) == 4 and rest[1] == "data" and name == "data.json":   # early layout
        index.clinical[rest[0]].append(ClinicalFile(path, group, rest[0], True, rest[2], None))
        return None
    return "not part of the NCCID layout"


def parse_as_of(as_of: str | dt.date | None) -> dt.date | None:
    """The ``as_of`` option as a date.

    Raises
    ------
    ValueError
        Naming the option and the value, when it is not an ISO date (``YYYY-MM-DD``).

    Examples
    --------
    >>> from covidimg.sources.nccid.layouts import parse_as_of
    >>> parse_as_of("2020-06-01")
    datetime.date(2020, 6, 1)
    """
    if as_of is None or (isinstance(as_of, dt.date) and not isinstance(as_of, dt.datetime)):
        return as_of
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    try:
        return dt.date.fromisoformat(str(as_of).strip())
    except ValueError:
        raise ValueError(f"nccid option as_of={as_of!r} is not a date; pass an ISO date such "
                         "as options={'nccid': {'as_of': '2020-06-01'}}") from None


def _listed(entry: Any, folder: str) -> str | None:
    """The path a summary entry's ``file_key`` names, below the summary's ``folder``."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file_key"), str):
        return None
    parts = entry["file_key"].strip("/").split("/")
    name = posixpath.basename(folder)
    if name not in parts[:-1]:
        return None
    return posixpath.join(folder, *parts[parts.index(name) + 1:])


def read_summaries(index: LayoutIndex, store: _Store, ledger: Ledger) -> None:
    """Read every ``summary.json``: record it, and report the files it lists that are not in
    this copy (``missing_image_file``, one finding per summary)."""
    for path, folder in index.summaries:
        label = store.label(path)
        size = store.size(path)
        try:
            if size is not None and size > MAX_SUMMARY_BYTES:
                raise DicomReadError(label, f"{size} bytes, above the {MAX_SUMMARY_BYTES}-byte "
                                            "bound for a summary.json")
            entries = load_json(store.read_bytes(path), label)
            if not isinstance(entries, list):
                raise DicomReadError(label, "expected a JSON list of uploaded files")
        except (DicomReadError, OSError) as exc:
            reason = f"unreadable summary.json: {exc}"
            ledger.file(label, "rejected", reason=reason)
            ledger.finding("unreadable_file", reason, path=label)
            continue
        listed = [_listed(e, folder) for e in entries]
        missing = sorted(p for p in listed if p is not None and p not in index.found)
        unread = sum(p is None for p in listed)
        ledger.file(label, "used", reason=f"upload summary of {posixpath.basename(folder)}/ "
                    f"({len(entries)} entries)")
        if missing:
            shown = ", ".join(store.label(p) for p in missing[:3])
            ledger.finding("missing_image_file", f"{len(missing)} file(s) listed in this "
                           f"summary.json are not in the copy (e.g. {shown}); download them "
                           "again if they are needed", path=label)
        if unread:
            ledger.finding("unparseable_value", f"{unread} entr(y/ies) without a file_key "
                           "under this folder; skipped", path=label)
