"""The incremental DICOM index cache: what each file gave, keyed by path and the file's stat.

A file's key is its size, modification time, status-change time (nanoseconds) and inode: a copy
that preserves size and modification time (``cp -p``, ``rsync -a``, ``tar -x``) still gets a new
inode or change time, so it is read again. A re-index of an unchanged tree reads no DICOM file:
:func:`covidimg.sources._engine.index.index_dicom` stats every file and, when the paths and
their keys are all as in the cache's *snapshot* of the last complete index, takes that
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

The sections are MessagePack payloads of plain values (strings, numbers, bytes, arrays and
maps; a header as the array of its field values, see :func:`encode_result`): a data-only
format, so a cache file planted in a shared cache folder can at worst be rejected, never run
code. Decoding is bounded (:data:`_UNPACK_LIMITS`) and every decoded value is checked for its
shape before use. Cache files are created readable by their owner only (0600) in a folder only
the owner can enter (0700; see :func:`covidimg.paths.private_file`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import operator
import os
import struct
import uuid
import warnings
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from covidimg.errors import DicomReadError, IndexCacheWarning
from covidimg.paths import cache_dir, private_file, trusted_file_problem
from covidimg.sources._engine.dicom import DESCRIPTION_FIELDS, DicomHeader

__all__ = [
    "CACHE_VERSION",
    "CacheEntry",
    "FileStats",
    "FolderEntry",
    "IndexCache",
    "IndexCacheWarning",
    "cache_path_for",
    "decode_headers",
    "decode_result",
    "encode_headers",
    "encode_result",
    "stat_files",
]

#: Bump when the file's layout or what a cached header holds changes (the reader's fields, the
#: sampling rules). 7: headers carry the harmonized ``exam`` label and no description text.
#: 8: image files without pixel data or cut short, and repeated instances inside a zip, are
#: refused; UIDs are not required to be numeric. 9: headers carry the equipment and
#: acquisition fields (``TECHNICAL_FIELDS``: manufacturer, pixel spacing, kVp, ...).
CACHE_VERSION = 9
_MAGIC = f"covidimg-dicom-index {CACHE_VERSION}\n".encode()


@dataclass
class CacheEntry:
    """What one file on disk gave the index.

    Attributes
    ----------
    size, mtime_ns, ctime_ns, inode
        The file's size, modification and status-change times and inode when it was read
        (its key: see :meth:`FileStats.keys`).
    results
        ``(label, header or DicomReadError)`` pairs: one for a file, one per member for a zip.
    inferred
        Labels whose header was inferred by series sampling, not read.
    """

    size: int
    mtime_ns: int
    results: list[tuple[str, Any]]
    inferred: frozenset[str] = frozenset()
    ctime_ns: int = -1
    inode: int = -1

    @property
    def key(self) -> tuple[int, int, int, int]:
        """``(size, mtime_ns, ctime_ns, inode)``, as :meth:`FileStats.keys` gives it."""
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode)


@dataclass
class FolderEntry:
    """How a series folder was indexed: its files (in order) and whether it was sampled."""

    files: tuple[str, ...]
    sampled: bool
    reason: str


@dataclass(frozen=True)
class FileStats:
    """The cache keys of a list of files, as int64 arrays: sizes, modification and
    status-change times (ns) and inodes (size -1 for a file that cannot be stat-ed); made by
    :func:`stat_files`."""

    sizes: array
    mtimes: array
    ctimes: array
    inodes: array

    def keys(self) -> list[tuple[int, int, int, int] | None]:
        """``(size, mtime_ns, ctime_ns, inode)`` per file, None for a file that cannot be
        stat-ed."""
        return [None if key[0] < 0 else key
                for key in zip(self.sizes.tolist(), self.mtimes.tolist(), self.ctimes.tolist(),
                               self.inodes.tolist(), strict=True)]

    def blob(self) -> bytes:
        """Every key as one byte string, to compare two stats of the same paths at once."""
        return b"".join(a.tobytes() for a in (self.sizes, self.mtimes, self.ctimes, self.inodes))


def stat_files(paths: Sequence[str]) -> FileStats:
    """Stat every path: the cache key of each file, and all a re-index of an unchanged tree
    costs beyond loading the snapshot.

    A path that cannot be stat-ed (or whose stat does not fit 64 bits) gets size -1: it never
    matches the cache and is read again.

    Examples
    --------
    >>> import tempfile
    >>> from covidimg.sources._engine.index_cache import stat_files
    >>> with tempfile.NamedTemporaryFile() as handle:
    ...     stats = stat_files([handle.name, handle.name + ".gone"])
    >>> stats.keys()[0][0], stats.keys()[1]
    (0, None)
    """
    sizes, mtimes, ctimes, inodes = array("q"), array("q"), array("q"), array("Q")
    try:
        for st in map(os.stat, paths):
            sizes.append(st.st_size)
            mtimes.append(st.st_mtime_ns)
            ctimes.append(st.st_ctime_ns)
            inodes.append(st.st_ino)
        return FileStats(sizes, mtimes, ctimes, inodes)
    except (OSError, OverflowError):
        pass
    sizes, mtimes, ctimes, inodes = array("q"), array("q"), array("q"), array("Q")
    for path in paths:  # again, one path at a time
        try:
            st = os.stat(path)
            key = (array("q", (st.st_size, st.st_mtime_ns, st.st_ctime_ns)),
                   array("Q", (st.st_ino,)))
        except (OSError, OverflowError):
            key = (array("q", (-1, -1, -1)), array("Q", (0,)))
        sizes.append(key[0][0])
        mtimes.append(key[0][1])
        ctimes.append(key[0][2])
        inodes.append(key[1][0])
    return FileStats(sizes, mtimes, ctimes, inodes)


class IndexCache:
    """A tree's index cache file: a snapshot of the last complete index, and entries per file
    and per sampled folder.

    The snapshot (:meth:`take_snapshot`) is the index of the last call as plain values, with
    the sorted paths it was taken of and their ``(size, mtime_ns)``: a call that sees the very
    same paths and stats takes the index from :meth:`snapshot_for` and nothing else is read.
    ``files`` and ``folders`` are read from the file (and their section's checksum checked)
    only when they are first used. Entries taken from the cache are written back as they were
    read: replace an entry, never change it in place.

    Examples
    --------
    >>> import tempfile
    >>> from covidimg.sources._engine.index_cache import CacheEntry, FileStats, IndexCache
    >>> cache = IndexCache(tempfile.mkdtemp() + "/tree.cache")
    >>> cache.load()
    False
    >>> cache.files["/d/x.dcm"] = CacheEntry(10, 1, [])
    >>> from array import array
    >>> stats = FileStats(array("q", [10]), array("q", [1]), array("q", [1]), array("Q", [7]))
    >>> cache.take_snapshot(["/d/x.dcm"], stats, {"headers": []})
    >>> cache.save()
    >>> again = IndexCache(cache.path)
    >>> touched = FileStats(array("q", [10]), array("q", [2]), array("q", [2]), array("Q", [7]))
    >>> again.load(), again.snapshot_for(["/d/x.dcm"], touched), list(again.files)
    (True, None, ['/d/x.dcm'])
    >>> sorted(again.snapshot_for(["/d/x.dcm"], stats))
    ['headers']
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._files: dict[str, CacheEntry] = {}
        self._folders: dict[str, FolderEntry] = {}
        #: where the unread entries section is: (offset, length, SHA-256, the file's identity)
        self._pending: tuple[int, int, bytes, tuple[int, ...]] | None = None
        #: entries as read: path -> (the decoded entry, its encoded form), reused by save
        self._encoded: dict[str, tuple[CacheEntry, tuple[Any, ...]]] = {}
        #: (paths key, sizes, mtimes, index values, headers blob) of the snapshot
        self._snapshot: tuple[bytes, bytes, bytes, dict[str, Any], Any] | None = None

    @property
    def files(self) -> dict[str, CacheEntry]:
        """Entries per file on disk (read from the cache file on first use)."""
        self._read_entries()
        return self._files

    @files.setter
    def files(self, entries: dict[str, CacheEntry]) -> None:
        self._read_entries()  # keeps the encoded forms of the entries read
        self._files = entries

    @property
    def folders(self) -> dict[str, FolderEntry]:
        """How each series folder was indexed (read from the cache file on first use)."""
        self._read_entries()
        return self._folders

    @folders.setter
    def folders(self, entries: dict[str, FolderEntry]) -> None:
        self._read_entries()
        self._folders = entries

    def take_snapshot(self, paths: list[str], stats: FileStats, values: dict[str, Any]) -> None:
        """Keep ``values`` (the index of ``paths`` with these stats) for :meth:`snapshot_for`.

        ``values["headers"]`` is the index's list of headers, stored encoded as a section of
        its own (headers taken from the entries keep the encoded form they were read in); the
        other values are plain Python values. :meth:`snapshot_for` gives the headers back as
        one :func:`decode_headers` blob. No snapshot is kept when a file cannot be stat-ed.
        """
        if len(stats.sizes) and min(stats.sizes) < 0:
            self._snapshot = None
            return
        read_as = {id(result): raw_result for entry, raw in self._encoded.values()
                   for (_, result), (_, raw_result) in zip(entry.results, raw[2], strict=True)}
        encoded = [read_as.get(id(h)) or encode_result(h) for h in values["headers"]]
        heads = _pack(encoded)
        rest = {k: v for k, v in values.items() if k != "headers"}
        self._snapshot = (_paths_key(paths), stats.blob(), rest, heads)

    def snapshot_for(self, paths: list[str], stats: FileStats) -> dict[str, Any] | None:
        """The snapshot's values when it was taken of these very paths and stats, else None."""
        snap = self._snapshot
        if snap is None or stats.blob() != snap[1] or _paths_key(paths) != snap[0]:
            return None
        return {**snap[2], "headers": bytes(snap[3])}

    def load(self) -> bool:
        """Read the cache file's snapshot and check it; return False (and start empty) when
        there is none. The entries are read when first used.

        A damaged file gives an :class:`IndexCacheWarning` naming it and is rebuilt.
        """
        try:
            with open(self.path, "rb") as handle:
                magic = handle.read(len(_MAGIC))
                if magic != _MAGIC:
                    self._damaged(f"is not a covidimg index cache of version {CACHE_VERSION}")
                    return False
                toc = handle.readline(_TOC_MAX)
                sections = _parse_toc(toc)
                if sections is None:
                    self._damaged("is damaged (its table of contents cannot be read)")
                    return False
                (n_snap, snap_digest), (n_heads, heads_digest), (n_entries, entries_digest) = \
                    sections
                offset = len(_MAGIC) + len(toc)
                st = os.fstat(handle.fileno())
                untrusted = trusted_file_problem(st)
                if untrusted is not None:
                    self._damaged(f"is not used: it {untrusted}")
                    return False
                identity = _identity(st)
                if identity[1] != offset + n_snap + n_heads + n_entries:
                    self._damaged(f"is damaged (it holds {identity[1]} bytes, not the "
                                  f"{offset + n_snap + n_heads + n_entries} its table of "
                                  "contents gives)")
                    return False
                blob = memoryview(handle.read(n_snap + n_heads))
        except (FileNotFoundError, NotADirectoryError):
            return False  # no cache yet (or no folder for one: saving it says so)
        except OSError as exc:
            self._damaged(f"cannot be read ({exc})")
            return False
        snap, heads = blob[:n_snap], blob[n_snap:]
        if len(heads) != n_heads or not _digest_matches(snap, snap_digest) or \
                not _digest_matches(heads, heads_digest):
            self._damaged("is damaged (the checksum of its snapshot does not match)")
            return False
        try:
            key, stats_blob, values = _unpack(snap)
            if not (isinstance(key, bytes) and isinstance(stats_blob, bytes)
                    and isinstance(values, dict | None)):
                raise TypeError("the snapshot is not (bytes, bytes, dict or None)")
        except Exception as exc:  # a checksummed payload that still does not load
            self._damaged(f"cannot be decoded ({type(exc).__name__}: {exc})")
            return False
        self._snapshot = None if values is None else (key, stats_blob, values, heads)
        self._files, self._folders, self._encoded = {}, {}, {}
        self._pending = (offset + n_snap + n_heads, n_entries, entries_digest, identity)
        return True

    def _read_entries(self) -> None:
        if self._pending is None:
            return
        offset, length, digest, identity = self._pending
        self._pending = None
        try:
            with open(self.path, "rb") as handle:
                if _identity(os.fstat(handle.fileno())) != identity:
                    return  # replaced since it was loaded (another index of the tree): unused
                handle.seek(offset)
                payload = handle.read(length)
        except FileNotFoundError:
            return  # removed since it was loaded: the entries are gone, the files are read
        except OSError as exc:
            self._damaged(f"cannot be read ({exc})")
            return
        if not _digest_matches(payload, digest):
            self._damaged("is damaged (the checksum of its entries does not match)")
            return
        try:
            with _gc_paused():
                files, folders = _unpack(payload)
                decoded = {p: CacheEntry(size, mtime, [(label, decode_result(r))
                                                       for label, r in results],
                                         frozenset(inferred), ctime, inode)
                           for p, (size, mtime, results, inferred, ctime, inode)
                           in files.items()}
                self._folders = {f: FolderEntry(tuple(files_), bool(sampled), str(reason))
                                 for f, (files_, sampled, reason) in folders.items()}
        except Exception as exc:  # a checksummed payload that still does not load
            self._damaged(f"cannot be decoded ({type(exc).__name__}: {exc})")
            return
        self._files = decoded
        self._encoded = {p: (decoded[p], raw) for p, raw in files.items()}

    def _damaged(self, what: str) -> None:
        warnings.warn(f"DICOM index cache {self.path} {what}; rebuilding it by reading the "
                      "files again", IndexCacheWarning, stacklevel=4)
        self._files, self._folders, self._encoded = {}, {}, {}
        self._pending, self._snapshot = None, None

    def save(self) -> None:
        """Write the cache atomically (temporary file, fsync, :func:`os.replace`)."""
        encoded = self._encoded
        with _gc_paused():
            files = {}
            for p, e in self.files.items():
                known = encoded.get(p)
                files[p] = known[1] if known is not None and known[0] is e else \
                    (e.size, e.mtime_ns, [(label, encode_result(r)) for label, r in e.results],
                     tuple(e.inferred), e.ctime_ns, e.inode)
            folders = {f: (e.files, e.sampled, e.reason) for f, e in self.folders.items()}
            entries = _pack((files, folders))
        snapshot = self._snapshot or (b"", b"", None, b"")
        snap = _pack(snapshot[:3])
        heads = snapshot[3]
        toc = b" ".join(b"%d %s" % (len(part), hashlib.sha256(part).hexdigest().encode())
                        for part in (snap, heads, entries)) + b"\n"
        folder = os.path.dirname(self.path) or "."
        os.makedirs(folder, mode=0o700, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(self.path)}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with private_file(tmp) as handle:
                for part in (_MAGIC, toc, snap, heads, entries):
                    handle.write(part)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


_TOC_MAX = 512


def _parse_toc(line: bytes) -> list[tuple[int, bytes]] | None:
    """``[(length, SHA-256 hex), ...]`` of the three sections, or None when malformed."""
    parts = line.rstrip(b"\n").split(b" ")
    if not line.endswith(b"\n") or len(parts) != 6:
        return None
    try:
        sections = [(int(parts[i]), parts[i + 1]) for i in range(0, 6, 2)]
    except ValueError:
        return None
    if any(n < 0 or len(digest) != 64 for n, digest in sections):
        return None
    return sections


_DATE, _TIME = 1, 2  # MessagePack extension codes of the two non-plain values a header holds
_TIME_FORMAT = struct.Struct("<BBBI")


def _plain(value: Any) -> Any:
    """A date or time (a header's study date and time) as a MessagePack extension, numpy
    scalars (a sampling row may hold one) as Python numbers."""
    if isinstance(value, dt.date):
        return msgpack.ExtType(_DATE, struct.pack("<i", value.toordinal()))
    if isinstance(value, dt.time):
        return msgpack.ExtType(_TIME, _TIME_FORMAT.pack(value.hour, value.minute, value.second,
                                                        value.microsecond))
    item = getattr(value, "item", None)
    if item is None:
        raise TypeError(f"cannot store a {type(value).__name__} in the index cache")
    return item()


def _extension(code: int, data: bytes) -> Any:
    """The date or time :func:`_plain` stored (any other extension is refused)."""
    if code == _DATE:
        return dt.date.fromordinal(struct.unpack("<i", data)[0])
    if code == _TIME:
        return dt.time(*_TIME_FORMAT.unpack(data))
    raise ValueError(f"unknown extension type {code}")


def _pack(value: Any) -> bytes:
    """Plain values as MessagePack (file names that are not UTF-8 kept byte for byte)."""
    return msgpack.packb(value, use_bin_type=True, default=_plain,
                         unicode_errors="surrogateescape")


def _unpack(payload: Any) -> Any:
    """What :func:`_pack` wrote: data only (arrays come back as tuples, the only extensions
    are dates and times); nesting is bounded by the decoder's own stack, sizes by the
    payload's length."""
    return msgpack.unpackb(payload, use_list=False, raw=False, strict_map_key=True,
                           ext_hook=_extension, unicode_errors="surrogateescape")


def _digest_matches(payload: Any, digest: bytes) -> bool:
    return hashlib.sha256(payload).hexdigest().encode() == digest


def _identity(st: os.stat_result) -> tuple[int, ...]:
    """What tells one version of the cache file from another (a save makes a new file)."""
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_dev)


def _paths_key(paths: list[str]) -> bytes:
    # NUL cannot occur in a path, so the joined form tells any two lists of paths apart.
    return "\0".join(paths).encode("utf-8", "surrogatepass")


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
_all_values = operator.attrgetter(*_FIELDS)
#: Positions of the description texts, which a cache never holds.
_BLANK = tuple(k for k, name in enumerate(_FIELDS) if name in DESCRIPTION_FIELDS)


def _header_values(header: DicomHeader) -> tuple[Any, ...]:
    """The header's field values, its free-text descriptions as ``None`` (the cache keeps the
    harmonized ``exam`` label instead; see :mod:`covidimg.sources._engine.free_text`)."""
    values = list(_all_values(header))
    for k in _BLANK:
        values[k] = None
    return tuple(values)


def encode_result(result: DicomHeader | DicomReadError) -> tuple[Any, ...]:
    """A header as the tuple of its field values, an error as ``("error", path, reason)``.

    Examples
    --------
    >>> from covidimg.sources._engine.dicom import DicomReadError
    >>> from covidimg.sources._engine.index_cache import decode_result, encode_result
    >>> encode_result(DicomReadError("/d/x.dcm", "not DICOM"))
    ('error', '/d/x.dcm', 'not DICOM')
    >>> decode_result(encode_result(DicomReadError("/d/x.dcm", "not DICOM"))).reason
    'not DICOM'
    """
    if isinstance(result, DicomReadError):
        return ("error", result.path, result.reason)
    return _header_values(result)


def decode_result(item: tuple[Any, ...]) -> DicomHeader | DicomReadError:
    """The header or error :func:`encode_result` encoded."""
    if len(item) != len(_FIELDS):
        if len(item) == 3 and item[0] == "error":
            return DicomReadError(item[1], item[2])
        raise ValueError(f"a cached result of {len(item)} values is neither a header of "
                         f"{len(_FIELDS)} fields nor an error")
    header = object.__new__(DicomHeader)  # the frozen dataclass's fields, set directly
    header.__dict__.update(zip(_FIELDS, item, strict=True))
    return header


def encode_headers(headers: list[DicomHeader]) -> bytes:
    """Headers as one blob of plain values, for :func:`decode_headers`.

    Examples
    --------
    >>> from covidimg.sources._engine.dicom import DESCRIPTION_FIELDS, DicomHeader
    >>> from covidimg.sources._engine.index_cache import decode_headers, encode_headers
    >>> h = DicomHeader("/d/a.dcm", "p1", "st", "se", "a", "CR", "PA", None, None, 64, 64,
    ...                 "MONOCHROME2", "M", 70.0, None, None, None, None, None)
    >>> decode_headers(encode_headers([h])) == [h]
    True
    """
    return _pack(list(map(_header_values, headers)))


def decode_headers(blob: bytes) -> list[DicomHeader]:
    """The headers :func:`encode_headers` encoded (in one loop: the build of every header is
    what a loader pays after a re-index of an unchanged tree)."""
    new, fields, out = object.__new__, _FIELDS, []
    with _gc_paused():
        for values in _unpack(blob):
            header = new(DicomHeader)
            header.__dict__.update(zip(fields, values, strict=True))
            out.append(header)
    return out


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
    >>> from covidimg.sources._engine.index_cache import cache_path_for
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
