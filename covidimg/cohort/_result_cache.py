"""The whole result of a load, kept for the next load of the same unchanged folders.

A re-load of folders nothing changed in (the user's second ``covidimg.load`` tomorrow) need not
run the loaders at all: the cohort they built is saved once (:meth:`Cohort.save`, in the cache
folder) under a key made of

- every entry under each root, walked without following links, as the loaders walk: a file's
  or link's path, type, size, modification and change times, inode and mode (a copy that keeps
  size and mtime still changes the change time and the inode); a folder's path and inode, which
  its listing gives without a ``stat`` (its own times change only when its entries do, and
  those are in the key themselves);
- the source, the loader options and the load settings that change what a loader produces
  (``descriptions``, the zip limits, ``sample_series``);
- covidimg's version and the size and modification time of each of its own modules, so a
  changed covidimg never serves a result an older one built, and the version of the data
  packages a loader consults (IDC's index).

Computing the key costs one ``scandir`` of each folder and a ``stat`` of each file; a hit then
opens the saved cohort, already validated when it was built, with the checks
:meth:`Cohort.open` makes. A folder that changed is loaded by the loaders as before, whose
DICOM index cache re-reads only the files that changed.

The cache follows the rules of the other caches: owner-only folders and files, a result folder
of another user or writable by others is not used, and only this module's own folders
(``<64 hex digits>``) are ever replaced or removed. Remote roots (``s3://``) are not cached,
nor a load with ``descriptions="keep"`` (no cache ever holds description texts).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import time
import uuid
import warnings
from array import array
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from covidimg.cohort._model import Cohort
from covidimg.errors import CohortFileError
from covidimg.paths import (
    STALE_STAGING_SECONDS,
    cache_dir,
    private_file,
    trusted_file_problem,
)
from covidimg.sources import covidimg_version

__all__ = ["cached_load", "result_key", "store_result"]

#: Sub-folder of the cache folder holding saved load results.
SUBDIR = "cohorts"
#: How many results are kept (the least recently used beyond this are removed).
KEEP = 16
#: A tree with more entries, or deeper, than this is not cached (the walk would cost more
#: than it saves, and it bounds the walk of a crafted tree).
MAX_ENTRIES = 2_000_000
MAX_DEPTH = 256

_KEY = re.compile(r"[0-9a-f]{64}")
_STAGING = re.compile(r"\.[0-9a-f]{64}\.[0-9a-f]{12}\.tmp")
_CODE_FINGERPRINT: bytes | None = None
#: Installed data packages whose version changes what a load gives (the TCIA loader looks
#: series up in IDC's index when folder names do not say the collection).
_DATA_PACKAGES = ("idc-index-data",)


def _code_fingerprint() -> bytes:
    """covidimg's version and the size and mtime of each of its modules (once per process)."""
    global _CODE_FINGERPRINT
    if _CODE_FINGERPRINT is None:
        digest = hashlib.blake2b(covidimg_version().encode(), digest_size=32)
        package = Path(__file__).resolve().parents[1]
        for path in sorted(package.rglob("*.py")):
            st = path.stat()
            digest.update(f"{path.relative_to(package)}\0{st.st_size}\0{st.st_mtime_ns}\n"
                          .encode())
        for data in _DATA_PACKAGES:  # data a loader consults (an index lookup)
            try:
                digest.update(f"{data} {metadata.version(data)}\n".encode())
            except metadata.PackageNotFoundError:
                digest.update(f"{data} absent\n".encode())
        _CODE_FINGERPRINT = digest.digest()
    return _CODE_FINGERPRINT


#: All 64 bits: stat numbers are hashed as unsigned 64-bit integers.
_U64 = (1 << 64) - 1


def _tree_digest(root: str, digest: Any) -> bool:
    """Add every entry under ``root`` to ``digest``; ``False`` when the tree is too large or
    deep, or cannot be listed (then the load is not cached).

    Each file or link adds its path and its mode, size, mtime, ctime and inode; each folder
    its path and inode (from the listing: no ``stat``), and its own entries. They are gathered in
    bulk (the paths as one text, the numbers as one array of 64-bit integers) and hashed
    once: formatting and hashing one line per entry cost as much as the ``stat`` calls.
    """
    try:
        top = os.stat(root)
    except OSError:
        return False
    digest.update(f"{os.path.realpath(root)}\0{top.st_ino}\0{top.st_mode}\n".encode())
    paths: list[str] = []
    numbers = array("Q")      # unsigned: an inode may need all 64 bits
    unknown = (_U64,) * 5
    pending = [(root, 0)]
    count = 0
    while pending:
        folder, depth = pending.pop()
        if depth > MAX_DEPTH:
            return False
        try:  # in listing order, not sorted: a folder listed in another order only misses
            with os.scandir(folder) as entries:
                listed = list(entries)
        except OSError:
            return False
        count += len(listed)
        if count > MAX_ENTRIES:
            return False
        for entry in listed:
            paths.append(entry.path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    # A folder is its listing (walked next) and its inode, which the listing
                    # gives without a stat: its times change only when its entries do.
                    numbers.extend((stat.S_IFDIR, 0, 0, 0, entry.inode()))
                    pending.append((entry.path, depth + 1))
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                numbers.extend(unknown)
                continue
            numbers.extend((st.st_mode, st.st_size, st.st_mtime_ns & _U64, st.st_ctime_ns & _U64,
                            st.st_ino))   # times before 1970 are negative
    digest.update("\0".join(paths).encode(errors="surrogateescape"))
    digest.update(numbers.tobytes())
    return True


def result_key(pairs: Sequence[tuple[str, str]], settings: Mapping[str, Any]) -> str | None:
    """The key of a load of ``pairs`` (source, root; or ``"detected"``, folder for a folder
    whose sources are detected) with ``settings``, or ``None`` when the load cannot be cached
    (a remote root, a tree too large or unreadable)."""
    if any("://" in root for _, root in pairs):
        return None
    digest = hashlib.blake2b(_code_fingerprint(), digest_size=32)
    digest.update(json.dumps(settings, sort_keys=True, default=repr).encode())
    for name, root in pairs:
        digest.update(f"\0source {name}\n".encode())
        if not _tree_digest(root, digest):
            return None
    return digest.hexdigest()


def _results(cache: str | os.PathLike[str] | None) -> Path | None:
    try:
        folder = cache_dir(SUBDIR, override=cache)
        problem = trusted_file_problem(folder.stat())
    except OSError:
        return None
    return None if problem else folder


def cached_load(key: str, cache: str | os.PathLike[str] | None
                ) -> tuple[Cohort, tuple[str, ...]] | None:
    """The cohort saved under ``key`` and the notes the load gave (the warnings to repeat),
    or ``None`` (no result, or one not to be trusted)."""
    results = _results(cache)
    if results is None:
        return None
    folder = results / key
    try:
        for path in (folder, folder / "manifest.json"):
            if trusted_file_problem(os.stat(path, follow_symlinks=False)):
                return None
        notes = _read_notes(folder / NOTES)
        if notes is None:
            return None
        cohort = Cohort.open(folder)
        os.utime(folder)  # most recently used
    except (OSError, CohortFileError):
        return None
    return cohort, notes


#: The file, beside a kept cohort, holding the warnings its load gave (which sub-folders of a
#: folder were loaded as which source), so that opening the result repeats them.
NOTES = "covidimg-load-notes.json"
#: A notes file larger than this is not read (the result is not used).
MAX_NOTES_BYTES = 1 << 20


def _read_notes(path: Path) -> tuple[str, ...] | None:
    """The notes kept with a result: ``()`` when there is no file, ``None`` when it is not
    one this module wrote (too large, not a list of texts, another user's)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))   # never a link
    except FileNotFoundError:
        return ()
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if trusted_file_problem(os.fstat(handle.fileno())):
            return None
        data = handle.read(MAX_NOTES_BYTES + 1)
    if len(data) > MAX_NOTES_BYTES:
        return None
    try:
        notes = json.loads(data)
    except ValueError:
        return None
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        return None
    return tuple(notes)


def store_result(key: str, cohort: Cohort, cache: str | os.PathLike[str] | None,
                 notes: Sequence[str] = ()) -> None:
    """Save ``cohort`` under ``key``, with the warnings its load gave (``notes``, repeated by
    the loads that open it); a cache that cannot be written is skipped with a warning.

    A result already under ``key`` that :func:`cached_load` can use (another process stored
    it first) is kept; one it cannot use (damaged, or its notes changed) is replaced, so that
    one damaged result does not make every later load of these folders run the loaders.
    """
    results = _results(cache)
    if results is None:
        return
    staging = results / f".{key}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        cohort.save(staging)
        if notes:
            with private_file(staging / NOTES) as handle:
                handle.write(json.dumps(list(notes)).encode())
        target = results / key
        if target.is_dir() and not target.is_symlink() and cached_load(key, cache) is None:
            # unusable: moved aside under a staging name of its own (removed below, or by
            # _evict if this process dies first), then replaced
            old = results / f".{key}.{uuid.uuid4().hex[:12]}.tmp"
            os.rename(target, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(staging, target)
    except OSError as exc:
        if not (results / key).is_dir():
            warnings.warn(f"covidimg could not keep this load's result in {results} ({exc}); "
                          "the next load of these folders runs the loaders again",
                          UserWarning, stacklevel=3)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    _evict(results)


def _evict(results: Path) -> None:
    """Remove the least recently used results beyond :data:`KEEP`, and staging folders of
    killed processes (only this module's own folders, never a link)."""
    try:
        entries = [(p, p.lstat()) for p in results.iterdir()]
    except OSError:
        return
    now = time.time()
    mine = sorted(((p, st) for p, st in entries if stat.S_ISDIR(st.st_mode)
                   and _KEY.fullmatch(p.name)), key=lambda e: e[1].st_mtime, reverse=True)
    stale = [p for p, st in entries if stat.S_ISDIR(st.st_mode) and _STAGING.fullmatch(p.name)
             and now - st.st_mtime > STALE_STAGING_SECONDS]
    for old in [p for p, _ in mine[KEEP:]] + stale:
        shutil.rmtree(old, ignore_errors=True)
