"""Index every DICOM file and zip member under a source root, accounting for each file.

Shared by the loaders whose roots are plain DICOM trees or archives (MIDRC's gen3-client
downloads, TCIA's NBIA retriever tree): headers are read once through
:mod:`covidimg.sources.dicom`, repeated SOP Instance UIDs become duplicates, unreadable files are
rejected with a finding, and :meth:`DicomIndex.record` writes one ``files`` row per file on disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd
from tqdm.auto import tqdm

from covidimg.sources.archives import finding_kind, iter_zip_headers
from covidimg.sources.base import Ledger
from covidimg.sources.dicom import (
    IMAGE_MODALITIES,
    DicomHeader,
    DicomReadError,
    read_header,
    series_table,
)

__all__ = ["DicomIndex", "images_from_index", "index_dicom", "is_dicom_name"]

_DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")


@dataclass
class DicomIndex:
    """Headers of every DICOM instance under a root, and what became of each file.

    Built by :func:`index_dicom`. ``headers`` holds one header per SOP Instance UID (the first
    copy in path order); later copies are recorded as duplicates. Loaders then call
    :meth:`use` / :meth:`ignore` for each instance and :meth:`record` once, which writes one
    ``files`` row per file on disk (a zip archive is one row summarising its members).
    """

    headers: list[DicomHeader] = field(default_factory=list)
    #: label (file path or ``archive.zip::member``) -> the file on disk holding it
    disk_file: dict[str, str] = field(default_factory=dict)
    #: label -> (status, image_uid, reason)
    state: dict[str, tuple[str, str | None, str]] = field(default_factory=dict)

    def use(self, label: str, image_uid: str, reason: str = "DICOM instance") -> None:
        """Mark the instance at ``label`` as used by image ``image_uid``."""
        self.state[label] = ("used", image_uid, reason)

    def ignore(self, label: str, reason: str) -> None:
        """Mark the instance at ``label`` as deliberately left out, saying why."""
        self.state[label] = ("ignored", None, reason)

    def record(self, ledger: Ledger) -> None:
        """Write one ``files`` row per file on disk into ``ledger``."""
        by_file: dict[str, list[tuple[str, str | None, str]]] = {}
        for label, disk in self.disk_file.items():
            by_file.setdefault(disk, []).append(
                self.state.get(label, ("ignored", None, "instance not used by the loader")))
        for disk, states in by_file.items():
            if len(states) == 1 and not disk.lower().endswith(".zip"):
                status, image_uid, reason = states[0]
                ledger.file(disk, status, image_uid=image_uid, reason=reason)
                continue
            counts: dict[str, int] = {}
            for status, _, _ in states:
                counts[status] = counts.get(status, 0) + 1
            for status in ("used", "duplicate", "rejected", "ignored"):
                if counts.get(status):
                    break
            images = sorted({uid for s, uid, _ in states if s == "used" and uid})
            reasons = sorted({r for s, _, r in states if s == status})
            summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            ledger.file(disk, status, image_uid=images[0] if len(images) == 1 else None,
                        reason=f"zip archive with {len(states)} members ({summary}): "
                               + "; ".join(reasons[:3]))


def is_dicom_name(name: str) -> bool:
    """Whether a file name looks like a DICOM instance (``.dcm``/``.dicom``/``.dic`` or no
    extension, as NBIA and PACS exports write them)."""
    lower = name.lower()
    return lower.endswith(_DICOM_SUFFIXES) or ("." not in lower and not lower.startswith("."))


def index_dicom(paths: Iterable[str | os.PathLike[str]], ledger: Ledger, *,
                progress: bool = False, desc: str = "DICOM headers") -> DicomIndex:
    """Read the header of every DICOM file and zip member in ``paths``.

    Unreadable files and members become ``rejected`` with an ``unreadable_file`` finding; a
    second copy of a SOP Instance UID becomes ``duplicate`` with a ``duplicate_instance``
    finding. Pixel data is never read.

    Parameters
    ----------
    paths
        ``.dcm`` files (or extension-less files) and ``.zip`` archives.
    ledger
        Where findings go (the ``files`` rows are written by :meth:`DicomIndex.record`).
    progress
        Show a tqdm progress bar.
    desc
        The progress bar's label.

    Returns
    -------
    DicomIndex

    Examples
    --------
    >>> from covidimg.sources.base import Ledger
    >>> from covidimg.sources.dicom_index import index_dicom
    >>> index = index_dicom([], Ledger("midrc"))
    >>> index.headers
    []
    """
    index = DicomIndex()
    seen: dict[str, str] = {}

    def add(label: str, disk: str, result: DicomHeader | DicomReadError) -> None:
        index.disk_file[label] = disk
        if isinstance(result, DicomReadError):
            index.state[label] = ("rejected", None, f"unreadable DICOM: {result.reason}")
            ledger.finding(finding_kind(result), str(result), path=label)
            return
        key = result.sop_uid or label
        if key in seen:
            index.state[label] = ("duplicate", None,
                                  f"same SOP Instance UID {key} as {seen[key]}")
            ledger.finding("duplicate_instance",
                           f"SOP Instance UID {key} appears again; kept {seen[key]}",
                           path=label)
            return
        seen[key] = label
        index.headers.append(result)

    for path in tqdm(sorted(os.fspath(p) for p in paths), desc=desc, unit="file",
                     disable=not progress):
        if path.lower().endswith(".zip"):
            try:
                members = list(iter_zip_headers(path))
            except DicomReadError as exc:
                add(path, path, exc)
                continue
            if not members:
                index.disk_file[path] = path
                index.state[path] = ("ignored", None, "empty zip archive")
            for label, result in members:
                add(label, path, result)
        else:
            try:
                add(path, path, read_header(path))
            except DicomReadError as exc:
                add(path, path, exc)
    return index


def images_from_index(index: DicomIndex, source: str,
                      patient_uid: Callable[[DicomHeader], str] | None = None) -> pd.DataFrame:
    """``images`` rows (via :func:`covidimg.sources.dicom.series_table`) of the indexed headers.

    Instances of non-image modalities (SR, PR, SEG, ...) are marked ignored in ``index``.
    """
    for h in index.headers:
        if h.modality not in IMAGE_MODALITIES:
            index.ignore(h.path, f"modality {h.modality!r} is not an image modality covidimg "
                                 f"indexes ({', '.join(IMAGE_MODALITIES)})")
    return series_table(index.headers, source=source, patient_uid=patient_uid)
