"""Where NCCID's files are: a local folder or an ``s3://`` prefix seen through fsspec
(:class:`_Store`), and which of its folders are the bucket's training/ and validation/ groups
(or, for a one-patient prefix such as ``training/xray/Covid123``, which part of a group the
root is)."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fsspec

from covidimg.errors import DicomReadError, LoadError
from covidimg.sources._engine.dicom import DicomHeader, read_header
from covidimg.sources._engine.ledger import Ledger, walk
from covidimg.table_paths import file_path, redact_credentials

__all__ = ["GROUPS", "Group"]

#: The split folders of the bucket.
GROUPS: tuple[str, ...] = ("training", "validation")
_CLINICAL_NAME = re.compile(r"^(?P<kind>data|status)_(?P<date>\d{4}-\d{2}-\d{2})\.json$")
_DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HEADER_BLOCK = 2**18  # bytes fetched per remote read: a DICOM header fits in one block
_PREFETCH_BATCH = 256  # remote JSON files fetched concurrently per request batch


class _Store:
    """A local folder or a remote prefix, seen through fsspec, with labels for the tables."""

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None) -> None:
        self._prefetched: dict[str, bytes | BaseException] = {}
        self.remote = "://" in root
        if self.remote:
            if redact_credentials(root) != root:
                raise LoadError(
                    f"nccid: {redact_credentials(root)}: credentials in the URL are not "
                    "accepted (they would reach messages and logs); pass them as "
                    "storage_options={'key': ..., 'secret': ...} or set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY (or an AWS profile)")
            try:
                self.fs, path = fsspec.core.url_to_fs(root, **dict(storage_options or {}))
            except ImportError as exc:
                raise LoadError(f"nccid: reading {root} needs an fsspec driver that is not "
                                f"installed ({exc}); for s3:// run `pip install s3fs` (or "
                                "`pip install covidimg[s3]`)") from exc
            except ValueError as exc:
                raise LoadError(f"nccid: {root} is not a URL fsspec can open: "
                                f"{redact_credentials(str(exc))}") from None
            self.base = path.rstrip("/")
        else:
            self.fs = fsspec.filesystem("file")
            self.base = os.path.abspath(root).replace(os.sep, "/").rstrip("/") or "/"

    def label(self, path: str) -> str:
        """The path as recorded in the tables (:func:`covidimg.table_paths.file_path`): a local
        path, or the full ``s3://`` URL."""
        if self.remote:
            return file_path(self.fs.unstrip_protocol(path))
        return file_path(os.path.normpath(path))

    def rel(self, path: str) -> tuple[str, ...]:
        return tuple(posixpath.relpath(path, self.base).split("/"))

    def children(self, path: str) -> list[str]:
        try:
            return sorted(posixpath.basename(p.rstrip("/"))
                          for p in self.fs.ls(path, detail=False))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def isdir(self, path: str) -> bool:
        try:
            return bool(self.fs.isdir(path))
        except (FileNotFoundError, OSError):
            return False

    def find(self, ledger: Ledger) -> list[str]:
        """Every readable file under the root; local files that cannot be read (dangling
        links, FIFOs, no permission) are recorded in ``ledger`` instead."""
        if self.remote:
            return sorted(self.fs.find(self.base))
        return sorted(posixpath.join(dirpath.replace(os.sep, "/"), name)
                      for dirpath, _, names in walk(self.base, ledger) for name in names)

    def read_bytes(self, path: str) -> bytes:
        cached = self._prefetched.pop(path, None)
        if isinstance(cached, bytes):
            return cached
        if isinstance(cached, BaseException):
            raise OSError(f"cannot read {self.label(path)}: {cached}")
        return self.fs.cat_file(path)

    def prefetch(self, paths: list[str]) -> None:
        """Fetch many small remote files concurrently (S3 reads are latency-bound)."""
        if not self.remote:
            return
        for start in range(0, len(paths), _PREFETCH_BATCH):
            batch = paths[start:start + _PREFETCH_BATCH]
            try:
                fetched = self.fs.cat(batch, on_error="return")
            except (OSError, ValueError):  # fall back to one read per file
                return
            if isinstance(fetched, dict):
                self._prefetched.update(fetched)

    def size(self, path: str) -> int | None:
        """The file's size in bytes, ``None`` when it cannot be told."""
        try:
            return int(self.fs.size(path))
        except (OSError, ValueError, TypeError):
            return None

    def header(self, path: str, label: str) -> DicomHeader:
        if not self.remote:
            return read_header(path, label=label)
        try:
            handle = self.fs.open(path, "rb", block_size=_HEADER_BLOCK)
        except (OSError, ValueError) as exc:
            raise DicomReadError(label, f"cannot open the object ({exc})") from exc
        with handle:
            return read_header(handle, label=label)


_DETECT_FOLDERS = {"xray", "x-ray", "ct", "mri", "xray-metadata", "x-ray-metadata",
                   "ct-metadata", "mri-metadata"}


@dataclass(frozen=True)
class Group:
    """A training/ or validation/ group: its ``folder`` in the store and the ``prefix`` of
    layout folders the root sits below (``("xray", "Covid123")`` when the root is one
    patient's folder ``training/xray/Covid123``; empty for a whole group)."""

    folder: str
    prefix: tuple[str, ...] = ()


def _looks_like_group(store: _Store, path: str) -> bool:
    """Whether ``path`` is a training/ or validation/ folder of any layout."""
    names = store.children(path)
    if any(n.lower() in _DETECT_FOLDERS for n in names):
        return True
    if "data" in names:
        for pid in store.children(f"{path}/data")[:5]:
            children = store.children(f"{path}/data/{pid}")
            if any(_CLINICAL_NAME.match(n) or _DATE_FOLDER.match(n) for n in children):
                return True
    for name in names[:20]:
        sub = store.children(f"{path}/{name}")
        if "images" in sub or "images_metadata" in sub:
            return True
    return False


def _patient_prefix(store: _Store) -> Group | None:
    """The root as one patient's folder: ``<group>/<modality folder>/<pid>``,
    ``<group>/data/<pid>`` or (early layout) ``<group>/<pid>`` with ``images/`` inside. Read
    from the root's own name and its parent's name: nothing outside the root is listed."""
    base = store.base
    parent, pid = posixpath.split(base)
    folder = posixpath.basename(parent)
    names = store.children(base)
    if not names or not pid:
        return None
    if folder.lower() in _DETECT_FOLDERS:
        return Group(base, (folder, pid))
    if folder == "data" and any(_CLINICAL_NAME.match(n) or _DATE_FOLDER.match(n)
                                for n in names):
        return Group(base, ("data", pid))
    if "images" in names or "images_metadata" in names:
        return Group(base, (pid,))
    return None


def _group_name(store: _Store, prefix: tuple[str, ...]) -> str:
    """training/validation from the folder name above the layout part, else training."""
    parts = store.base.split("/")
    above = parts[-len(prefix) - 1] if len(parts) > len(prefix) else ""
    return above if above in GROUPS else "training"


def _groups(store: _Store) -> dict[str, Group]:
    """Group name -> :class:`Group`: the root's training/ and validation/, the root itself, or
    the root as one patient's folder of a group."""
    names = store.children(store.base)
    found = {g: Group(f"{store.base}/{g}") for g in GROUPS
             if g in names and store.isdir(f"{store.base}/{g}")}
    if found:
        return found
    patient = _patient_prefix(store)
    if patient is not None:
        return {_group_name(store, patient.prefix): patient}
    if _looks_like_group(store, store.base):
        return {_group_name(store, ()): Group(store.base)}
    return {}
