"""Index every DICOM file and zip member under a source root, accounting for each file.

Shared by the loaders whose roots are plain DICOM trees or archives (MIDRC's gen3-client
downloads, TCIA's NBIA retriever tree): headers are read once through
:mod:`covidimg.sources._engine.dicom`, repeated SOP Instance UIDs become duplicates,
unreadable files are rejected with a finding, and :meth:`DicomIndex.record` writes one
``files`` row per file on disk.

Indexing is fast and scales out:

* headers of plain files are read by the byte scanner of :mod:`covidimg.sources._engine.header_scan`
  (pydicom for anything unusual), in chunks spread over an executor -- a local process pool by
  default, or any :class:`concurrent.futures.Executor`, such as a Dask cluster's
  ``Client.get_executor()``; a tqdm bar counts files in this process as chunks complete;
* a CT / MR series folder is indexed from its first, middle and last file when its files
  allow it (:mod:`covidimg.sources._engine.series_sampling`), else read in full;
* an incremental cache keyed by path, size and modification time
  (:mod:`covidimg.sources._engine.index_cache`) makes a re-index of an unchanged tree read no file.

The settings are arguments of :func:`index_dicom`, and :func:`index_options` sets them for a
block of code (``covidimg.load(..., executor=..., index_cache=...)`` uses it), so every loader
built on :func:`index_dicom` follows them.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import operator
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pandas as pd

from covidimg._parallel import run_tasks
from covidimg._validation import check_choice
from covidimg.errors import DicomReadError, IndexCacheWarning
from covidimg.sources._engine.archives import finding_kind, iter_zip_headers
from covidimg.sources._engine.dicom import IMAGE_MODALITIES, DicomHeader, read_header
from covidimg.sources._engine.exam import MODALITY_CODES
from covidimg.sources._engine.free_text import describe_value, descriptions_kept
from covidimg.sources._engine.header_scan import read_header_fast
from covidimg.sources._engine.index_cache import (
    CacheEntry,
    FolderEntry,
    IndexCache,
    cache_path_for,
    decode_headers,
    stat_files,
)
from covidimg.sources._engine.ledger import Ledger, strict_mode
from covidimg.sources._engine.series import series_table
from covidimg.sources._engine.series_sampling import (
    MIN_SERIES_FILES,
    SAMPLED_READS,
    index_series_folder,
)
from covidimg.table_paths import file_path, split_path

__all__ = [
    "DicomIndex",
    "IndexOptions",
    "current_index_options",
    "images_from_index",
    "index_dicom",
    "index_options",
    "is_dicom_name",
    "series_files",
]

_DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")
#: Files read per task sent to the executor.
CHUNK_FILES = 64
#: With the default executor, fewer header reads than this are made in this process (a process
#: pool costs more to start than it saves); a sampled series folder counts as its three reads.
POOL_MIN_FILES = 256
_INFERRED_NOTE = " (header inferred from the series' first, middle and last files, not read)"
#: Why an image without a Patient ID is left out. The rule (docs/reliability.md): the header's
#: PatientID is the only patient identity of a DICOM tree; a folder name is not one (folders
#: are renamed, re-nested and shared by several patients), so such a file is rejected, never
#: given a guessed or a shared ``<source>:None`` patient.
NO_PATIENT_ID = ("no Patient ID (0010,0020) in the DICOM header: covidimg cannot tell whose "
                 "image it is")
_NO_LABELS: frozenset[str] = frozenset()
_HEADER_FIELDS = tuple(f.name for f in fields(DicomHeader))
_header_values = operator.attrgetter(*_HEADER_FIELDS)


@dataclass(frozen=True)
class IndexOptions:
    """How :func:`index_dicom` reads headers (see :func:`index_options`).

    Attributes
    ----------
    executor
        ``None``: a local process pool when there are at least :data:`POOL_MIN_FILES` header
        reads to make (a sampled CT/MR series folder counts as its three), else this process.
        ``False``: always this process. A :class:`concurrent.futures.Executor`: that one (e.g. a
        Dask ``Client.get_executor()``, or the ``Client``); see :mod:`covidimg._parallel`.
    cache
        ``True``: the incremental cache under :func:`covidimg.paths.cache_dir`; a folder: the
        cache in that folder; ``False``: none.
    sample_series
        Index CT / MR series folders from three files when they allow it.
    fast_headers
        Read plain files with the byte scanner (pydicom when it cannot); ``False`` uses pydicom
        for every file.
    """

    executor: cf.Executor | bool | None = None
    cache: bool | str | os.PathLike[str] = True
    sample_series: bool = True
    fast_headers: bool = True


_OPTIONS: ContextVar[IndexOptions | None] = ContextVar("covidimg_index_options", default=None)
_UNSET: Any = object()


def current_index_options() -> IndexOptions:
    """Return the :class:`IndexOptions` in force (see :func:`index_options`)."""
    return _OPTIONS.get() or IndexOptions()


@contextlib.contextmanager
def index_options(**settings: Any) -> Iterator[IndexOptions]:
    """Set :class:`IndexOptions` for every :func:`index_dicom` call in a block of code.

    Examples
    --------
    >>> from covidimg.sources._engine.index import index_options, IndexOptions
    >>> with index_options(cache=False, executor=False) as options:
    ...     options.cache, options.sample_series
    (False, True)
    """
    for name in settings:
        check_choice(name, [f.name for f in fields(IndexOptions)], "index_options setting")
    options = replace(current_index_options(), **settings)
    token = _OPTIONS.set(options)
    try:
        yield options
    finally:
        _OPTIONS.reset(token)


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
    #: labels whose header was inferred by series sampling, not read
    inferred: set[str] = field(default_factory=set)
    #: one row per folder considered for series sampling: folder, n_files, sampled, reason
    sampling: list[dict[str, Any]] = field(default_factory=list)
    #: files on disk: ``files`` in all, ``cached`` (taken from the index cache), ``read``
    #: (headers read now), ``inferred`` (headers inferred by series sampling)
    counts: dict[str, int] = field(default_factory=dict)
    #: where :func:`images_from_index` reports the instances it leaves out
    ledger: Ledger | None = None

    def __getattr__(self, name: str) -> Any:
        # An index restored from the cache's snapshot builds its headers on first use.
        blob = self.__dict__.get("_headers_blob") if name == "headers" else None
        if blob is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.headers = decode_headers(blob)
        self.__dict__.pop("_headers_blob", None)
        return self.headers

    def use(self, label: str, image_uid: str, reason: str = "DICOM instance") -> None:
        """Mark the instance at ``label`` as used by image ``image_uid``."""
        self.state[label] = ("used", image_uid, reason)

    def ignore(self, label: str, reason: str) -> None:
        """Mark the instance at ``label`` as deliberately left out, saying why."""
        self.state[label] = ("ignored", None, reason)

    def sampling_table(self) -> pd.DataFrame:
        """Return the series-sampling decisions: ``folder, n_files, sampled, reason``."""
        return pd.DataFrame(self.sampling, columns=["folder", "n_files", "sampled", "reason"])

    def record(self, ledger: Ledger) -> None:
        """Write one ``files`` row per file on disk into ``ledger``."""
        by_file: dict[str, list[tuple[str, str | None, str]]] = {}
        for label, disk in self.disk_file.items():
            status, image_uid, reason = self.state.get(
                label, ("ignored", None, "instance not used by the loader"))
            if label in self.inferred:
                reason += _INFERRED_NOTE
            by_file.setdefault(disk, []).append((status, image_uid, reason))
        for disk, states in by_file.items():
            if len(states) == 1 and not disk.lower().endswith(".zip"):
                status, image_uid, reason = states[0]
                ledger.file(file_path(disk), status, image_uid=image_uid, reason=reason)
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
            ledger.file(file_path(disk), status,
                        image_uid=images[0] if len(images) == 1 else None,
                        reason=f"zip archive with {len(states)} members ({summary}): "
                               + "; ".join(reasons[:3]))


def is_dicom_name(name: str) -> bool:
    """Whether a file name looks like a DICOM instance (``.dcm``/``.dicom``/``.dic`` or no
    extension, as NBIA and PACS exports write them)."""
    lower = name.lower()
    return lower.endswith(_DICOM_SUFFIXES) or ("." not in lower and not lower.startswith("."))


# ---------------------------------------------------------------------- tasks (run anywhere)
def _read_one(path: str, fast: bool) -> DicomHeader | DicomReadError:
    try:
        return read_header_fast(path) if fast else read_header(path)
    except DicomReadError as exc:
        return exc


def _run_task(task: tuple[Any, ...]) -> list[tuple[str, list[tuple[str, Any]], frozenset[str],
                                                   tuple[bool, str] | None]]:
    """Read one task's files; return ``(disk path, results, inferred, sampling)`` per file.

    A module-level function of plain arguments, so any executor (process pool, Dask) can run
    it.
    """
    kind, fast = task[0], task[1]
    if kind == "files":
        return [(p, [(p, _read_one(p, fast))], _NO_LABELS, None) for p in task[2]]
    if kind == "zip":
        path = task[2]
        try:
            members = list(iter_zip_headers(path))
        except DicomReadError as exc:
            members = [(path, exc)]
        return [(path, members, frozenset(), None)]
    files, sizes = task[2], task[3]
    reader = read_header_fast if fast else read_header
    series = index_series_folder(files, sizes, reader=reader)
    decision = (series.sampled, series.reason)
    inferred = series.inferred
    return [(p, [(p, r)], frozenset((p,)) if p in inferred else _NO_LABELS, decision)
            for p, r in series.results]


def _run_task_packed(task: tuple[Any, ...]) -> list[tuple[str, list[tuple[str, Any]],
                                                          frozenset[str], Any]]:
    """:func:`_run_task` for another process: each header as the plain tuple of its fields,
    which pickles (to the pool's workers) in a third of the time and bytes of the dataclass
    (see :func:`_unpack`)."""
    return [(disk, [(label, _header_values(r) if type(r) is DicomHeader else r)
                    for label, r in results], inferred, decision)
            for disk, results, inferred, decision in _run_task(task)]


def _unpack(chunk: list[tuple[str, list[tuple[str, Any]], frozenset[str], Any]]
            ) -> list[tuple[str, list[tuple[str, Any]], frozenset[str], Any]]:
    """The headers of a :func:`_run_task_packed` result, rebuilt in place."""
    new = object.__new__
    for _, results, _, _ in chunk:
        for k, (label, result) in enumerate(results):
            if type(result) is tuple:
                header = new(DicomHeader)  # the frozen dataclass's fields, set directly
                header.__dict__.update(zip(_HEADER_FIELDS, result, strict=True))
                results[k] = (label, header)
    return chunk


def _task_files(task: tuple[Any, ...]) -> int:
    return 1 if task[0] == "zip" else len(task[2])


def _task_reads(task: tuple[Any, ...]) -> int:
    """The header reads a task is expected to make: a series folder reads its first, middle
    and last file when its sampling holds (the common case), other tasks every file."""
    return SAMPLED_READS if task[0] == "series" else _task_files(task)


def _task_name(task: tuple[Any, ...]) -> str:
    """The files a task reads, for errors."""
    if task[0] == "zip":
        return f"reading the headers of {task[2]}"
    files = task[2]
    more = f" and {len(files) - 1} more file(s)" if len(files) > 1 else ""
    return f"reading the DICOM header of {files[0]}{more}"


def _run_all(tasks: list[tuple[Any, ...]], executor: cf.Executor | bool | None, *,
             progress: bool, desc: str, total: int, initial: int
             ) -> Iterator[list[tuple[str, Any, frozenset[str], Any]]]:
    # the pool pays for itself by the reads it shares out, not by the files a sampled series
    # folder lists: ten 100-slice CT series are 30 reads, cheaper in this process
    n_reads = sum(_task_reads(t) for t in tasks)
    for _, chunk in run_tasks(_run_task, tasks, executor=executor,
                              worth_a_pool=n_reads >= POOL_MIN_FILES, name=_task_name,
                              remote=(_run_task_packed, _unpack), progress=progress,
                              desc=desc, unit="file", total=total, initial=initial,
                              weight=_task_files):
        yield chunk  # type: ignore[misc]


# ---------------------------------------------------------------------- planning
def _common_folder(ordered: Sequence[str]) -> str:
    """The deepest folder holding every path of the sorted list ``ordered``."""
    # In sorted order the first and last paths share the fewest leading components.
    return os.path.commonpath([os.path.dirname(os.path.abspath(ordered[0])),
                               os.path.dirname(os.path.abspath(ordered[-1]))])


def _cached(cache: IndexCache | None, path: str,
            key: tuple[int, int, int, int] | None) -> bool:
    if cache is None or key is None:
        return False
    entry = cache.files.get(path)
    return entry is not None and entry.key == key


def index_dicom(paths: Iterable[str | os.PathLike[str]], ledger: Ledger, *,
                progress: bool = False, desc: str = "DICOM headers",
                executor: cf.Executor | bool | None = _UNSET,
                cache: bool | str | os.PathLike[str] = _UNSET,
                sample_series: bool = _UNSET, fast_headers: bool = _UNSET,
                root: str | os.PathLike[str] | None = None) -> DicomIndex:
    """Read the header of every DICOM file and zip member in ``paths``.

    Unreadable files and members become ``rejected`` with an ``unreadable_file`` finding (image
    files without pixel data, or with less than their header declares, included: see
    :func:`~covidimg.sources._engine.dicom.check_pixel_data`); a second copy of a SOP Instance
    UID becomes ``duplicate`` with a ``duplicate_instance`` finding; an image without a Patient
    ID becomes ``rejected`` with a ``missing_identifier`` finding. Pixel data is never read.
    Settings left out come from :func:`index_options`.

    Parameters
    ----------
    paths
        ``.dcm`` files (or extension-less files) and ``.zip`` archives.
    ledger
        Where findings go (the ``files`` rows are written by :meth:`DicomIndex.record`).
    progress
        Show a tqdm progress bar (files, counted in this process as chunks complete).
    desc
        The progress bar's label.
    executor
        Where headers are read: ``None`` a local process pool for large trees, ``False`` this
        process, or any :class:`concurrent.futures.Executor` (e.g. a Dask cluster's
        ``Client.get_executor()``).
    cache
        The incremental index cache: ``True`` (under the covidimg cache folder), a folder, or
        ``False``.
    sample_series
        Index CT / MR series folders from their first, middle and last file when the folder
        allows it (see :mod:`covidimg.sources._engine.series_sampling`).
    fast_headers
        Use the byte scanner for plain files (``False``: pydicom for every file).
    root
        The tree's root, naming its cache file; defaults to the common folder of ``paths``.

    Returns
    -------
    DicomIndex

    Examples
    --------
    >>> from covidimg.sources._engine.ledger import Ledger, strict_mode
    >>> from covidimg.sources._engine.index import index_dicom
    >>> index = index_dicom([], Ledger("midrc"))
    >>> index.headers
    []
    """
    defaults = current_index_options()
    executor = defaults.executor if executor is _UNSET else executor
    cache_setting = defaults.cache if cache is _UNSET else cache
    if descriptions_kept():  # the cache never holds description texts: read every header
        cache_setting = False
    sample = defaults.sample_series if sample_series is _UNSET else sample_series
    fast = defaults.fast_headers if fast_headers is _UNSET else fast_headers

    ordered = sorted(map(os.fspath, paths))
    index = DicomIndex(ledger=ledger)
    if not ordered:
        return index
    stat_keys = stat_files(ordered)
    cache_file = None
    if cache_setting is not False and cache_setting is not None:
        tree = os.fspath(root) if root is not None else _common_folder(ordered)
        try:
            cache_file = cache_path_for(tree, cache_setting)
        except OSError as exc:
            _cache_unusable(exc)
    store = IndexCache(cache_file) if cache_file else None
    if store is not None:
        store.load()
        snapshot = store.snapshot_for(ordered, stat_keys)
        if snapshot is not None:
            return _restore(snapshot, ordered, ledger)  # nothing changed since the last call

    stats = dict(zip(ordered, stat_keys.keys(), strict=True))
    entries: dict[str, CacheEntry] = {}
    decisions: dict[str, tuple[bool, str, tuple[str, ...]]] = {}
    tasks: list[tuple[Any, ...]] = []
    loose: list[str] = []
    by_folder: dict[str, list[str]] = {}
    for p in ordered:
        if p.lower().endswith(".zip"):
            if _cached(store, p, stats[p]):
                entries[p] = store.files[p]  # type: ignore[union-attr]
            else:
                tasks.append(("zip", fast, p))
        else:
            by_folder.setdefault(p.rpartition(os.sep)[0], []).append(p)
    for folder, files in by_folder.items():
        if sample and len(files) >= MIN_SERIES_FILES and all(stats[p] for p in files):
            known = store.folders.get(folder) if store is not None else None
            if known is not None and known.files == tuple(files) and \
                    all(_cached(store, p, stats[p]) for p in files):
                for p in files:
                    entries[p] = store.files[p]  # type: ignore[union-attr]
                decisions[folder] = (known.sampled, known.reason, known.files)
            else:
                tasks.append(("series", fast, files, [stats[p][0] for p in files]))  # type: ignore[index]
            continue
        for p in files:
            if _cached(store, p, stats[p]):
                entries[p] = store.files[p]  # type: ignore[union-attr]
            else:
                loose.append(p)
    tasks.extend(("files", fast, loose[i:i + CHUNK_FILES])
                 for i in range(0, len(loose), CHUNK_FILES))

    n_cached = len(entries)
    for chunk in _run_all(tasks, executor, progress=progress, desc=desc, total=len(ordered),
                          initial=n_cached):
        for disk, results, inferred, _ in chunk:
            key = stats[disk] or (-1, -1, -1, -1)
            entries[disk] = CacheEntry(key[0], key[1], results, inferred, key[2], key[3])
        if chunk and chunk[0][3] is not None:  # a series task: one folder, one decision
            folder = chunk[0][0].rpartition(os.sep)[0]
            decisions[folder] = (*chunk[0][3], tuple(by_folder[folder]))

    if tasks:  # cached folders were checked for conflicts when they were indexed
        _resample_conflicts(entries, decisions, fast)
    for folder, (sampled, reason, files) in sorted(decisions.items()):
        index.sampling.append({"folder": folder, "n_files": len(files), "sampled": sampled,
                               "reason": reason})
    findings = _merge(index, ledger, ordered, entries)
    inferred_now = sum(len(entries[p].inferred) for t in tasks if t[0] == "series"
                       for p in t[2])
    index.counts = {"files": len(ordered), "cached": n_cached,
                    "read": len(ordered) - n_cached - inferred_now,
                    "inferred": len(index.inferred)}

    if store is not None:
        store.files = entries
        store.folders = {f: FolderEntry(files, s, r) for f, (s, r, files) in decisions.items()}
        store.take_snapshot(ordered, stat_keys, _snapshot(index, ordered, findings))
        try:
            store.save()
        except OSError as exc:
            _cache_unusable(exc)
    return index


def _cache_unusable(exc: OSError) -> None:
    """Say (once per message) that the index cache cannot be used; the index goes on
    without it."""
    where = f" {exc.filename}" if exc.filename else ""
    warnings.warn(f"the DICOM index cache{where} cannot be used ({exc.strerror or exc}); "
                  "indexing without a cache (every file is read each time). Point "
                  "COVIDIMG_CACHE or index_cache= to a writable folder, or pass "
                  "index_cache=False", IndexCacheWarning, stacklevel=3)


def _snapshot(index: DicomIndex, ordered: list[str],
              findings: list[tuple[str, str, str]]) -> dict[str, Any]:
    """The index as plain values, with the findings it recorded, for :func:`_restore`."""
    plain = len(index.disk_file) == len(ordered) and \
        all(a == b == c for (a, b), c in zip(index.disk_file.items(), ordered, strict=True))
    return {"headers": index.headers,
            "disk_file": None if plain else index.disk_file,  # None: each path is its label
            "state": index.state, "inferred": sorted(index.inferred),
            "sampling": index.sampling, "findings": findings}


def _restore(snapshot: dict[str, Any], ordered: list[str], ledger: Ledger) -> DicomIndex:
    """The index of an unchanged tree, from the cache's snapshot; its findings recorded again.

    Its headers are decoded when first used (:meth:`DicomIndex.__getattr__`).
    """
    for kind, detail, path in snapshot["findings"]:
        ledger.finding(kind, detail, path=path)
    disk_file = snapshot["disk_file"]
    index = DicomIndex(disk_file=dict(zip(ordered, ordered, strict=True)) if disk_file is None
                       else disk_file,
                       state=dict(snapshot["state"]), inferred=set(snapshot["inferred"]),
                       sampling=[dict(row) for row in snapshot["sampling"]], ledger=ledger)
    del index.headers
    index.__dict__["_headers_blob"] = snapshot["headers"]
    n = len(ordered)
    index.counts = {"files": n, "cached": n, "read": 0, "inferred": len(index.inferred)}
    return index


def _resample_conflicts(entries: dict[str, CacheEntry],
                        decisions: dict[str, tuple[bool, str, tuple[str, ...]]],
                        fast: bool) -> None:
    """Read in full every sampled folder whose read slices repeat an instance found elsewhere.

    A copy of a series in a second folder would otherwise hide its unread slices' duplicates.
    """
    sampled = {f for f, (s, _, _) in decisions.items() if s}
    if not sampled:
        return
    owners: dict[str, set[str]] = {}
    for disk, entry in entries.items():
        for label, result in entry.results:
            if isinstance(result, DicomHeader) and result.sop_uid and \
                    label not in entry.inferred:
                owners.setdefault(result.sop_uid, set()).add(disk.rpartition(os.sep)[0])
    conflicts = {f for folders in owners.values() if len(folders) > 1 for f in folders} & sampled
    for folder in sorted(conflicts):
        files = decisions[folder][2]
        for p in files:
            old = entries[p]
            entries[p] = CacheEntry(old.size, old.mtime_ns, [(p, _read_one(p, fast))],
                                    ctime_ns=old.ctime_ns, inode=old.inode)
        decisions[folder] = (False, "a sampled file repeats an instance of another folder; "
                                    "read in full to find every duplicate", files)


def _merge(index: DicomIndex, ledger: Ledger, ordered: Sequence[str],
           entries: dict[str, CacheEntry]) -> list[tuple[str, str, str]]:
    """Fill ``index`` from the entries in path order; return the findings recorded.

    The headers keep their description texts only when they are to be kept
    (:func:`~covidimg.sources._engine.free_text.descriptions_kept`), so an index read now and
    one taken from the cache (which never holds them) are the same.
    """
    seen: dict[str, str] = {}
    keep = descriptions_kept()
    findings: list[tuple[str, str, str]] = []

    def finding(kind: str, detail: str, label: str) -> None:
        ledger.finding(kind, detail, path=label)
        findings.append((kind, detail, label))

    def add(label: str, disk: str, result: DicomHeader | DicomReadError) -> None:
        if label == disk:  # a plain file: its path as the tables spell it (table_paths)
            label = file_path(disk)
            if label != disk and isinstance(result, DicomHeader):
                result = replace(result, path=label)
        index.disk_file[label] = disk
        if isinstance(result, DicomReadError):
            kind = finding_kind(result)
            if kind in ("duplicate_archive_member", "duplicate_instance"):
                index.state[label] = ("duplicate", None, result.reason)
            else:
                index.state[label] = ("rejected", None, f"unreadable DICOM: {result.reason}")
            finding(kind, str(result), label)
            return
        key = result.sop_uid or label
        if key in seen:
            index.state[label] = ("duplicate", None,
                                  f"same SOP Instance UID {key} as {seen[key]}")
            finding("duplicate_instance",
                    f"SOP Instance UID {key} appears again; kept {seen[key]}", label)
            return
        seen[key] = label
        if result.patient_id is None and result.modality in IMAGE_MODALITIES:
            index.state[label] = ("rejected", None, NO_PATIENT_ID)
            finding("missing_identifier", f"{NO_PATIENT_ID}; the file is left out", label)
            return
        index.headers.append(result if keep else result.without_descriptions())

    for path in ordered:
        entry = entries[path]
        if path.lower().endswith(".zip") and not entry.results:
            index.disk_file[path] = path
            index.state[path] = ("ignored", None, "empty zip archive")
        index.inferred.update(map(file_path, entry.inferred))
        for label, result in entry.results:
            add(label, path, result)
    return findings


def images_from_index(index: DicomIndex, source: str,
                      patient_uid: Callable[[DicomHeader], str] | None = None) -> pd.DataFrame:
    """``images`` rows (via :func:`~covidimg.sources._engine.dicom.series_table`) of the
    indexed headers.

    Instances of non-image modalities (SR, PR, SEG, OT, ...) are marked ignored in ``index``,
    each with an ``unsupported_modality`` finding (as CRDW's zip members are).
    """
    for h in index.headers:
        if h.modality not in IMAGE_MODALITIES:
            modality = describe_value(h.modality, vocabulary=MODALITY_CODES)
            reason = (f"modality {modality} is not an image modality covidimg indexes "
                      f"({', '.join(IMAGE_MODALITIES)})")
            index.ignore(h.path, reason)
            if index.ledger is not None:
                index.ledger.finding("unsupported_modality", f"{reason}; the file is left out",
                                     path=h.path)
    return series_table(index.headers, source=source, patient_uid=patient_uid)


def series_files(path: str | os.PathLike[str]) -> dict[str | None, tuple[str, ...]]:
    """The instances of each series in a series folder, as a loader's index selects them.

    The folder's DICOM files (or the members of ``"archive.zip::folder/"``) are indexed by
    :func:`index_dicom` -- the function every DICOM loader indexes with -- so the files kept
    are exactly those a loader counts in ``images.n_instances``: readable image instances
    with pixel data and a Patient ID, one per SOP Instance UID (the first in path order),
    and no file set aside as a duplicate, truncated or unreadable. Nothing is cached and no
    pixel data is read.

    Parameters
    ----------
    path
        A folder, or a folder inside a zip archive (``"/abs/archive.zip::folder/"``), as
        ``images.path`` spells it.

    Returns
    -------
    dict
        Series Instance UID -> the labels of its instances (file paths, or
        ``archive.zip::member``, as the tables spell them), in the index's slice order.

    Raises
    ------
    OSError
        The folder cannot be listed.

    Examples
    --------
    >>> import tempfile
    >>> from covidimg.sources._engine.index import series_files
    >>> series_files(tempfile.mkdtemp())
    {}
    """
    disk, member = split_path(os.fspath(path))
    if member is not None:
        paths, prefix = [disk], member
    else:
        with os.scandir(disk) as entries:
            paths = sorted(e.path for e in entries if is_dicom_name(e.name) and e.is_file())
        prefix = None
    with strict_mode(False):  # what the load reported is not reported again here
        index = index_dicom(paths, Ledger("series_files"), executor=False, cache=False)
    table = series_table(index.headers, source="series_files")
    out: dict[str | None, tuple[str, ...]] = {}
    for uid, labels in zip(table["series_uid"], table["member_paths"], strict=True):
        if prefix is not None:
            labels = tuple(label for label in labels if split_path(label)[1].startswith(prefix))
        if labels:
            out[uid] = out.get(uid, ()) + tuple(labels)
    return out
