"""The incremental DICOM index cache: what each file gave, keyed by path, size and mtime.

A re-index of an unchanged tree reads no DICOM file: :func:`covidimg.sources.dicom_index.
index_dicom` stats every file and takes the headers of those whose size and modification time
(nanoseconds) are unchanged from the cache; changed and new files are read, deleted files are
dropped from the cache when it is written back.

The cache of a tree lives in ``<cache_dir>/dicom-index/<hash of the tree's root>.cache``
(:func:`covidimg.paths.cache_dir`: argument > ``COVIDIMG_CACHE`` > the user cache folder). It
is written atomically (a temporary file in the same folder, flushed, then :func:`os.replace`),
so a crash leaves the previous cache or none. The file starts with a format line and the
SHA-256 of its payload; a file that is truncated, altered or of another format is detected
before anything in it is used, reported with a warning, and rebuilt.

The payload is a :mod:`pickle` of plain tuples and :class:`~covidimg.sources.dicom.DicomHeader`
records; it is only read after its checksum matches, and only from the user's own cache
folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pickle
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from covidimg.paths import cache_dir
from covidimg.sources.dicom import DicomHeader, DicomReadError

__all__ = [
    "CACHE_VERSION",
    "CacheEntry",
    "FolderEntry",
    "IndexCache",
    "IndexCacheWarning",
    "cache_path_for",
    "decode_result",
    "encode_result",
]

#: Bump when what a cached header holds changes (the reader's fields, the sampling rules).
CACHE_VERSION = 2
_MAGIC = f"covidimg-dicom-index {CACHE_VERSION}\n".encode()


class IndexCacheWarning(UserWarning):
    """The index cache was unreadable or damaged and is being rebuilt."""


@dataclass
class CacheEntry:
    """What one file on disk gave the index.

    Attributes
    ----------
    size, mtime_ns
        The file's size and modification time when it was read.
    results
        ``(label, header or DicomReadError)`` pairs: one for a file, one per member for a zip.
    inferred
        Labels whose header was inferred by series sampling, not read.
    """

    size: int
    mtime_ns: int
    results: list[tuple[str, Any]]
    inferred: frozenset[str] = frozenset()


@dataclass
class FolderEntry:
    """How a series folder was indexed: its files (in order) and whether it was sampled."""

    files: tuple[str, ...]
    sampled: bool
    reason: str


class IndexCache:
    """A tree's index cache file: entries per file and per sampled folder, and a snapshot of
    the last complete index.

    ``snapshot`` is ``(paths, stats, index)``: the sorted paths of the last call, their
    ``(size, mtime_ns)`` and the :class:`~covidimg.sources.dicom_index.DicomIndex` it gave (as
    plain values); when a call sees the very same paths and stats it takes the index from
    there without looking at the per-file entries, which are decoded only when needed.

    Examples
    --------
    >>> import tempfile
    >>> from covidimg.sources.index_cache import CacheEntry, IndexCache
    >>> cache = IndexCache(tempfile.mkdtemp() + "/tree.cache")
    >>> cache.load()
    False
    >>> cache.files["/d/x.dcm"] = CacheEntry(10, 1, [])
    >>> cache.save()
    >>> again = IndexCache(cache.path)
    >>> again.load(), list(again.files)
    (True, ['/d/x.dcm'])
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._files: dict[str, CacheEntry] | None = {}
        self._raw_files: dict[str, Any] = {}
        self.folders: dict[str, FolderEntry] = {}
        self.snapshot: tuple[list[str], list[Any], dict[str, Any]] | None = None

    @property
    def files(self) -> dict[str, CacheEntry]:
        """Entries per file on disk (decoded from the cache file on first use)."""
        if self._files is None:
            self._files = {p: CacheEntry(size, mtime, [(label, decode_result(r))
                                                       for label, r in results],
                                         frozenset(inferred))
                           for p, (size, mtime, results, inferred) in self._raw_files.items()}
            self._raw_files = {}
        return self._files

    @files.setter
    def files(self, entries: dict[str, CacheEntry]) -> None:
        self._files, self._raw_files = entries, {}

    def load(self) -> bool:
        """Read the cache file; return False (and start empty) when there is none.

        A damaged file gives an :class:`IndexCacheWarning` naming it and is rebuilt.
        """
        try:
            with open(self.path, "rb") as handle:
                blob = handle.read()
        except FileNotFoundError:
            return False
        except OSError as exc:
            self._damaged(f"cannot be read ({exc})")
            return False
        head, _, rest = blob.partition(b"\n")
        digest, _, payload = rest.partition(b"\n")
        if head + b"\n" != _MAGIC:
            self._damaged(f"is not a covidimg index cache of version {CACHE_VERSION}")
            return False
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            self._damaged("is damaged (its checksum does not match)")
            return False
        try:
            files, folders, snapshot = pickle.loads(payload)
            if not isinstance(files, dict):
                raise TypeError(f"file entries are a {type(files).__name__}")
            self.folders = {f: FolderEntry(*e) for f, e in folders.items()}
            self.snapshot = snapshot
            self._files, self._raw_files = None, files
        except Exception as exc:  # a checksummed payload that still does not load
            self._damaged(f"cannot be decoded ({type(exc).__name__}: {exc})")
            return False
        return True

    def _damaged(self, what: str) -> None:
        warnings.warn(f"DICOM index cache {self.path} {what}; rebuilding it by reading the "
                      "files again", IndexCacheWarning, stacklevel=3)
        self._files, self._raw_files, self.folders, self.snapshot = {}, {}, {}, None

    def save(self) -> None:
        """Write the cache atomically (temporary file, fsync, :func:`os.replace`)."""
        files = {p: (e.size, e.mtime_ns, [(label, encode_result(r)) for label, r in e.results],
                     tuple(e.inferred)) for p, e in self.files.items()}
        folders = {f: (e.files, e.sampled, e.reason) for f, e in self.folders.items()}
        payload = pickle.dumps((files, folders, self.snapshot), protocol=pickle.HIGHEST_PROTOCOL)
        digest = hashlib.sha256(payload).hexdigest().encode()
        folder = os.path.dirname(self.path) or "."
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(self.path)}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as handle:
                handle.write(_MAGIC + digest + b"\n" + payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


_FIELDS = tuple(DicomHeader.__dataclass_fields__)
_DATE = _FIELDS.index("study_date")
_TIME = _FIELDS.index("study_time")


def encode_result(result: DicomHeader | DicomReadError) -> tuple[Any, ...]:
    """A header as a tuple of plain values (dates as ordinals), an error as (path, reason)."""
    if isinstance(result, DicomReadError):
        return ("error", result.path, result.reason)
    values = list(result.__dict__.values())
    date, time = values[_DATE], values[_TIME]
    values[_DATE] = None if date is None else date.toordinal()
    values[_TIME] = None if time is None else (time.hour, time.minute, time.second,
                                               time.microsecond)
    return ("header", *values)


def decode_result(item: tuple[Any, ...]) -> DicomHeader | DicomReadError:
    if item[0] == "error":
        return DicomReadError(item[1], item[2])
    values = list(item[1:])
    if values[_DATE] is not None:
        values[_DATE] = dt.date.fromordinal(values[_DATE])
    if values[_TIME] is not None:
        values[_TIME] = dt.time(*values[_TIME])
    header = object.__new__(DicomHeader)  # the frozen dataclass's fields, set directly
    header.__dict__.update(zip(_FIELDS, values, strict=True))
    return header


def cache_path_for(root: str, cache: bool | str | os.PathLike[str] | None = True) -> str | None:
    """Return the cache file of the tree at ``root`` (None when caching is off).

    Parameters
    ----------
    root
        The tree's root folder (the common folder of the indexed paths).
    cache
        ``True``: ``<cache_dir()>/dicom-index/<hash>.cache``; a folder: the same file name in
        that folder; ``False`` / ``None``: no cache.

    Examples
    --------
    >>> from covidimg.sources.index_cache import cache_path_for
    >>> cache_path_for("/data/tcia", "/tmp/c").startswith("/tmp/c/tcia-")
    True
    >>> cache_path_for("/data/tcia", False) is None
    True
    """
    if cache is False or cache is None:
        return None
    root = os.path.abspath(root)
    name = f"{os.path.basename(root) or 'root'}-{hashlib.sha1(root.encode()).hexdigest()[:16]}"
    folder = cache_dir("dicom-index") if cache is True else Path(os.fspath(cache))
    return os.fspath(folder / f"{name}.cache")
