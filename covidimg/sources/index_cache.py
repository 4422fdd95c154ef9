"""The incremental DICOM index cache: what each file gave, keyed by path, size and mtime.

A re-index of an unchanged tree reads no DICOM file: :func:`covidimg.sources.dicom_index.
index_dicom` stats every file and, when the paths and their size and modification time
(nanoseconds) are all as in the cache's *snapshot* of the last complete index, takes that
index as it was, building its headers only when they are first used. When something changed,
the per-file *entries* are decoded: unchanged files take their headers from there, changed
and new files are read, and deleted files are dropped when the cache is written back.

The cache of a tree lives in ``<cache_dir>/dicom-index/<hash of the tree's root>.cache``
(:func:`covidimg.paths.cache_dir`: argument > ``COVIDIMG_CACHE`` > the user cache folder). It
is written atomically (a temporary file in the same folder, flushed, then :func:`os.replace`),
so a crash leaves the previous cache or none. The file is a format line, a line giving the
length and SHA-256 of each of its two sections (the snapshot, then the entries), and the
sections. A section is used only after its length and checksum match: the snapshot when the
file is loaded, the entries when they are first needed. A file that is truncated, altered or
of another format is reported with an :class:`IndexCacheWarning` naming it and rebuilt.

The sections are :mod:`pickle` payloads of plain tuples, lists and dicts (headers as tuples of
plain values, see :func:`encode_result`); they are only read after their checksum matches,
and only from the user's own cache folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import os
import pickle
import uuid
import warnings
from collections.abc import Iterator
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
    "decode_headers",
    "decode_result",
    "encode_headers",
    "encode_result",
]

#: Bump when the file's layout or what a cached header holds changes (the reader's fields, the
#: sampling rules).
CACHE_VERSION = 3
_MAGIC = f"covidimg-dicom-index {CACHE_VERSION}\n".encode()
_PICKLE = pickle.HIGHEST_PROTOCOL


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
    """A tree's index cache file: a snapshot of the last complete index, and entries per file
    and per sampled folder.

    ``snapshot`` is ``(paths, stats, index)``: the sorted paths of the last call, their
    ``(size, mtime_ns)`` and the :class:`~covidimg.sources.dicom_index.DicomIndex` it gave as
    plain values (its headers as one :func:`encode_headers` blob). A call that sees the very
    same paths and stats takes the index from there; ``files`` and ``folders`` are decoded
    (and their section's checksum checked) only when they are first used. Entries taken from
    the cache are written back as they were read: replace an entry, never change it in place.

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
        self._files: dict[str, CacheEntry] = {}
        self._folders: dict[str, FolderEntry] = {}
        #: the entries section, not yet checked nor decoded: (payload, expected SHA-256)
        self._pending: tuple[memoryview, bytes] | None = None
        #: entries as read: path -> (the decoded entry, its encoded form), reused by save
        self._encoded: dict[str, tuple[CacheEntry, tuple[Any, ...]]] = {}
        self.snapshot: tuple[list[str], list[Any], dict[str, Any]] | None = None

    @property
    def files(self) -> dict[str, CacheEntry]:
        """Entries per file on disk (decoded from the cache file on first use)."""
        self._decode_entries()
        return self._files

    @files.setter
    def files(self, entries: dict[str, CacheEntry]) -> None:
        self._decode_entries()  # keeps the encoded forms of the entries read
        self._files = entries

    @property
    def folders(self) -> dict[str, FolderEntry]:
        """How each series folder was indexed (decoded from the cache file on first use)."""
        self._decode_entries()
        return self._folders

    @folders.setter
    def folders(self, entries: dict[str, FolderEntry]) -> None:
        self._decode_entries()
        self._folders = entries

    def load(self) -> bool:
        """Read the cache file and check its snapshot; return False (and start empty) when
        there is none.

        A damaged file gives an :class:`IndexCacheWarning` naming it and is rebuilt.
        """
        try:
            with open(self.path, "rb") as handle:
                blob = memoryview(handle.read())
        except FileNotFoundError:
            return False
        except OSError as exc:
            self._damaged(f"cannot be read ({exc})")
            return False
        if blob[:len(_MAGIC)] != _MAGIC:
            self._damaged(f"is not a covidimg index cache of version {CACHE_VERSION}")
            return False
        start = len(_MAGIC)
        end = bytes(blob[start:start + 200]).find(b"\n")
        try:
            n_snap, snap_digest, n_entries, entries_digest = \
                bytes(blob[start:start + end]).split(b" ")
            n_snap_int, n_entries_int = int(n_snap), int(n_entries)
        except ValueError:
            self._damaged("is damaged (its table of contents cannot be read)")
            return False
        start += end + 1
        if end < 0 or len(blob) != start + n_snap_int + n_entries_int:
            self._damaged(f"is damaged (it holds {len(blob)} bytes, not the "
                          f"{start + n_snap_int + n_entries_int} its table of contents gives)")
            return False
        snap = blob[start:start + n_snap_int]
        if hashlib.sha256(snap).hexdigest().encode() != snap_digest:
            self._damaged("is damaged (the checksum of its snapshot does not match)")
            return False
        try:
            snapshot = pickle.loads(snap)
            if snapshot is not None and not (isinstance(snapshot, tuple) and len(snapshot) == 3
                                             and isinstance(snapshot[2], dict)):
                raise TypeError(f"the snapshot is a {type(snapshot).__name__}")
        except Exception as exc:  # a checksummed payload that still does not load
            self._damaged(f"cannot be decoded ({type(exc).__name__}: {exc})")
            return False
        self.snapshot = snapshot
        self._files, self._folders, self._encoded = {}, {}, {}
        self._pending = (blob[start + n_snap_int:], entries_digest)
        return True

    def _decode_entries(self) -> None:
        if self._pending is None:
            return
        payload, digest = self._pending
        self._pending = None
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            self._damaged("is damaged (the checksum of its entries does not match)")
            return
        try:
            with _gc_paused():
                files, folders = pickle.loads(payload)
                decoded = {p: CacheEntry(size, mtime, [(label, decode_result(r))
                                                       for label, r in results],
                                         frozenset(inferred))
                           for p, (size, mtime, results, inferred) in files.items()}
                self._folders = {f: FolderEntry(*e) for f, e in folders.items()}
        except Exception as exc:  # a checksummed payload that still does not load
            self._damaged(f"cannot be decoded ({type(exc).__name__}: {exc})")
            return
        self._files = decoded
        self._encoded = {p: (decoded[p], raw) for p, raw in files.items()}

    def _damaged(self, what: str) -> None:
        warnings.warn(f"DICOM index cache {self.path} {what}; rebuilding it by reading the "
                      "files again", IndexCacheWarning, stacklevel=4)
        self._files, self._folders, self._encoded = {}, {}, {}
        self._pending, self.snapshot = None, None

    def save(self) -> None:
        """Write the cache atomically (temporary file, fsync, :func:`os.replace`)."""
        encoded = self._encoded
        with _gc_paused():
            files = {}
            for p, e in self.files.items():
                known = encoded.get(p)
                files[p] = known[1] if known is not None and known[0] is e else \
                    (e.size, e.mtime_ns, [(label, encode_result(r)) for label, r in e.results],
                     tuple(e.inferred))
            folders = {f: (e.files, e.sampled, e.reason) for f, e in self.folders.items()}
            entries = pickle.dumps((files, folders), protocol=_PICKLE)
            snap = pickle.dumps(self.snapshot, protocol=_PICKLE)
        contents = b"%d %s %d %s\n" % (len(snap), hashlib.sha256(snap).hexdigest().encode(),
                                       len(entries), hashlib.sha256(entries).hexdigest().encode())
        folder = os.path.dirname(self.path) or "."
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(self.path)}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as handle:
                handle.write(_MAGIC + contents)
                handle.write(snap)
                handle.write(entries)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while many acyclic objects are made (it would walk them
    again and again, finding nothing to free)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    """The header or error :func:`encode_result` encoded."""
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


def encode_headers(headers: list[DicomHeader]) -> bytes:
    """Headers as one blob of plain values, for :func:`decode_headers`.

    Examples
    --------
    >>> from covidimg.sources.dicom import DicomHeader
    >>> from covidimg.sources.index_cache import decode_headers, encode_headers
    >>> h = DicomHeader("/d/a.dcm", "p1", "st", "se", "a", "CR", "PA", None, None, 64, 64,
    ...                 "MONOCHROME2", "M", 70.0, None, None, None, None, None)
    >>> decode_headers(encode_headers([h])) == [h]
    True
    """
    return pickle.dumps([encode_result(h) for h in headers], protocol=_PICKLE)


def decode_headers(blob: bytes) -> list[DicomHeader]:
    """The headers :func:`encode_headers` encoded."""
    with _gc_paused():
        return [decode_result(h) for h in pickle.loads(blob)]  # type: ignore[misc]


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
