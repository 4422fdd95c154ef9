"""Saving a cohort as Parquet and opening it again, straight into the schema's dtypes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from covidimg import schema
from covidimg._validation import check_choice
from covidimg.cohort._deferred import _Deferred
from covidimg.errors import CohortFileError
from covidimg.paths import private_file

try:
    import fcntl
except ImportError:  # not POSIX: saves into one folder are not serialised
    fcntl = None  # type: ignore[assignment]

__all__ = ["FORMAT_VERSION", "LAZY_TABLES", "MANIFEST", "is_saved_cohort", "open_tables",
           "save_tables"]

FORMAT_VERSION = 2
#: The format version that added each table after the first: a cohort saved by an earlier
#: version has no file for it and opens with the table empty.
_TABLE_SINCE = {"observations": 2, "annotations": 2, "provenance": 2}
MANIFEST = "manifest.json"
#: Rows per Parquet row group (large groups read fastest; a million rows is ~20-100 MB).
_ROW_GROUP = 1_000_000
#: Parquet codec of saved tables: LZ4 (raw) decompresses about twice as fast as snappy, which
#: halves the cost of reading long text columns (paths, uids); files are no larger.
_COMPRESSION = "lz4"
#: Tables :meth:`Cohort.open` reads on first access by default: the loaders' provenance
#: (every file seen, every finding), which exploring the cohort does not need, and the
#: observations and annotations, which only some analyses read (on a million-image cohort
#: tiled from the demo they are 0.5 GB and 0.1 GB in pandas).
LAZY_TABLES = ("files", "findings", "observations", "annotations")


#: The saved cohort's own entries in its folder: nothing else there is ever replaced or removed.
_TABLES_DIR = re.compile(r"tables-[0-9a-f]{12}")
_LOCK = ".covidimg.lock"
#: The largest manifest read (a real one is a few hundred bytes).
_MANIFEST_MAX_BYTES = 64 * 1024
#: How often an open retries when a save replaced the tables while it was opening them.
_OPEN_ATTEMPTS = 5


def save_tables(tables: Mapping[str, pd.DataFrame], directory: str | os.PathLike[str]) -> Path:
    """Write ``tables`` as Parquet into ``directory`` atomically (see :meth:`Cohort.save`).

    ``directory`` must be new, empty, or a saved cohort: a folder holding anything else is
    refused, and only the save's own files (its ``tables-*`` folder, the manifest, the lock
    file) are ever written, replaced or removed. Saves into one folder are serialised by an
    exclusive lock; a save that finds another one in progress raises at once.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CohortFileError(f"cannot save a cohort to {directory}: it is a file, not a "
                              "folder; choose a new folder name")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _refuse_foreign_folder(directory)  # before writing anything
    with _save_lock(directory):
        _refuse_foreign_folder(directory)  # again, under the lock
        data_dir = directory / f"tables-{uuid.uuid4().hex[:12]}"
        data_dir.mkdir(mode=0o700)
        try:
            counts = {}
            for name, frame in tables.items():
                target = data_dir / f"{name}.parquet"
                _storage_frame(name, frame).to_parquet(
                    target, index=False, compression=_COMPRESSION, row_group_size=_ROW_GROUP)
                target.chmod(0o600)
                counts[name] = len(frame)
            manifest = {"format": "covidimg-cohort", "version": FORMAT_VERSION,
                        "tables_dir": data_dir.name, "rows": counts}
            tmp = directory / f".{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                with private_file(tmp) as handle:
                    handle.write(json.dumps(manifest, indent=2).encode())
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, directory / MANIFEST)
            finally:
                tmp.unlink(missing_ok=True)
        except BaseException:
            shutil.rmtree(data_dir, ignore_errors=True)
            raise
        # the previous save's tables folder, and those of killed saves (never a folder that
        # holds anything but table files)
        _remove_leftovers(directory, keep=data_dir.name)
    return directory


_TABLE_FILES = frozenset(f"{name}.parquet" for name in schema.TABLE_NAMES)
_MANIFEST_TMP = re.compile(re.escape(f".{MANIFEST}.") + r"[0-9a-f]{8}\.tmp")


def _remove_leftovers(directory: Path, keep: str) -> None:
    """Remove what earlier saves into ``directory`` left: the tables folder the manifest no
    longer names, and those of saves that were killed (``tables-*`` folders holding nothing but
    table files), and temporary manifests (only under the save lock, so no save is writing
    them)."""
    for entry in os.scandir(directory):
        if entry.name != keep and _TABLES_DIR.fullmatch(entry.name) and \
                entry.is_dir(follow_symlinks=False):
            inside = {e.name for e in os.scandir(entry.path)}
            if inside <= _TABLE_FILES:
                shutil.rmtree(entry.path, ignore_errors=True)
        elif _MANIFEST_TMP.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)


@contextlib.contextmanager
def _save_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory`` for one save, or a clear error when another save
    holds it."""
    try:
        fd = os.open(directory / _LOCK, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
    except OSError as exc:
        raise CohortFileError(f"cannot save a cohort to {directory}: {exc.strerror}; check "
                              "that the folder is writable") from exc
    try:
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CohortFileError(f"another save into {directory} is in progress; wait for it "
                                  "to finish, or save to another folder") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _refuse_foreign_folder(directory: Path) -> None:
    """Raise unless ``directory`` is empty or holds a saved cohort (a valid manifest)."""
    entries = {entry.name for entry in os.scandir(directory)} - {_LOCK}
    if not entries:
        return
    if MANIFEST not in entries:
        raise CohortFileError(
            f"will not save a cohort to {directory}: the folder is not empty and is not a saved "
            f"cohort (no {MANIFEST}; it holds e.g. {sorted(entries)[:3]}). Choose a new or "
            "empty folder; covidimg never replaces files it did not write.")
    try:
        _read_manifest(directory / MANIFEST)
    except CohortFileError as exc:
        raise CohortFileError(
            f"will not save a cohort to {directory}: its {MANIFEST} is not a covidimg cohort "
            f"manifest ({exc}). Choose a new or empty folder.") from None


def is_saved_cohort(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds a covidimg cohort's manifest (``"format": "covidimg-cohort"``).

    Only the format is checked, so a damaged saved cohort still counts (opening it says what is
    wrong); a ``manifest.json`` written by another program, such as a Gen3 download manifest
    in a MIDRC folder, does not.

    Examples
    --------
    >>> import tempfile
    >>> from covidimg.cohort import Cohort, is_saved_cohort
    >>> folder = tempfile.mkdtemp()
    >>> is_saved_cohort(folder), is_saved_cohort(Cohort().save(folder))
    (False, True)
    """
    try:
        manifest = _manifest_json(Path(directory) / MANIFEST)
    except CohortFileError:
        return False
    return isinstance(manifest, dict) and manifest.get("format") == "covidimg-cohort"


def _manifest_json(path: Path) -> Any:
    """The JSON at ``path``, read bounded in size and nesting."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MANIFEST_MAX_BYTES + 1)
    except OSError as exc:
        raise CohortFileError(f"{path} cannot be read ({exc.strerror})") from exc
    if len(raw) > _MANIFEST_MAX_BYTES:
        raise CohortFileError(f"{path} is not a cohort manifest: larger than "
                              f"{_MANIFEST_MAX_BYTES} bytes")
    try:
        manifest = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CohortFileError(f"{path} is not a cohort manifest: not valid JSON "
                              f"({type(exc).__name__})") from None
    return manifest


def _read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``, every field checked (bounded in size and nesting)."""
    manifest = _manifest_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != "covidimg-cohort":
        raise CohortFileError(f"{path} is not a covidimg cohort manifest (no \"format\": "
                              "\"covidimg-cohort\")")
    version = manifest.get("version")
    if type(version) is not int or version < 1:
        raise CohortFileError(f"{path}: \"version\" must be a positive whole number, "
                              f"got a {type(version).__name__}")
    if version > FORMAT_VERSION:
        raise CohortFileError(f"{path}: format version {version} is newer than this covidimg "
                              f"reads (up to {FORMAT_VERSION}); update covidimg")
    tables_dir = manifest.get("tables_dir")
    if not isinstance(tables_dir, str) or not _TABLES_DIR.fullmatch(tables_dir):
        raise CohortFileError(f"{path}: \"tables_dir\" must name a tables-<12 hex digits> "
                              "folder beside it")
    rows = manifest.get("rows")
    if not isinstance(rows, dict):
        raise CohortFileError(f"{path}: \"rows\" must map each table to its row count")
    for name in schema.TABLE_NAMES:
        count = rows.get(name)
        if count is None and version < _TABLE_SINCE.get(name, 1):
            continue  # saved before the table existed: opens empty
        if type(count) is not int or count < 0:
            got = "nothing" if count is None else f"a {type(count).__name__}"
            raise CohortFileError(f"{path}: \"rows\" must give {name!r} a row count (a whole "
                                  f"number >= 0), got {got}")
    return manifest


def open_tables(directory: str | os.PathLike[str], lazy: Iterable[str]) -> dict[str, Any]:
    """The tables of a saved cohort, ``lazy`` ones deferred (see :meth:`Cohort.open`).

    A save into the same folder meanwhile replaces the tables only after writing new ones:
    when a table file disappears while they are being opened, the manifest is read again and
    the open starts over, so the result is the old cohort or the new one, never an error.
    """
    lazy = [lazy] if isinstance(lazy, str) else list(lazy)
    for name in lazy:
        check_choice(name, schema.TABLE_NAMES, "lazy")
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise CohortFileError(
            f"{directory} is not a saved cohort: {MANIFEST} is missing. Save one with "
            "Cohort.save(folder) or `covidimg index SOURCE -o FOLDER`."
        )
    for attempt in range(_OPEN_ATTEMPTS):
        manifest = _read_manifest(manifest_path)
        data_dir = directory / manifest["tables_dir"]
        try:
            stored = {name: _StoredTable(name, data_dir / f"{name}.parquet",
                                         manifest["rows"][name])
                      for name in schema.TABLE_NAMES if name in manifest["rows"]}
            break
        except CohortFileError:
            if attempt + 1 == _OPEN_ATTEMPTS or _read_manifest(manifest_path) == manifest:
                raise  # not replaced meanwhile: really missing or damaged
    tables: dict[str, Any] = {name: schema.empty(name) for name in schema.TABLE_NAMES
                              if name not in stored}
    tables.update({name: _Deferred(stored[name].read, rows=stored[name].rows)
                   for name in lazy if name in stored})
    # One table at a time (each decoded by several threads), the largest first: the
    # memory its decoding frees is reused by the next, not added to the peak.
    for name in sorted(set(stored) - set(lazy),
                       key=lambda n: -stored[n].rows * len(stored[n].arrow_schema)):
        tables[name] = stored[name].read()
    return tables


_POOL_LOCK = threading.Lock()
_POOL_USERS: list[pa.MemoryPool] = []   # the pool to restore, once per reader in progress


@contextlib.contextmanager
def _returning_memory_pool() -> Iterator[None]:
    """Let Arrow allocate from an allocator that returns freed memory to the system.

    pyarrow's default pool (mimalloc) keeps the decoder's freed buffers for reuse by Arrow,
    but the tables are then handed to pandas and numpy, which never reuse them: after reading
    a large table, ~1.3x its size stays resident. Buffers remember their pool, so restoring
    the default afterwards is safe; readers in several threads share one switch.
    """
    with _POOL_LOCK:
        if not _POOL_USERS:
            previous = pa.default_memory_pool()
            try:
                pa.set_memory_pool(pa.jemalloc_memory_pool())
            except (NotImplementedError, pa.ArrowException):
                pa.set_memory_pool(pa.system_memory_pool())
        else:
            previous = _POOL_USERS[0]
        _POOL_USERS.append(previous)
    try:
        yield
    finally:
        with _POOL_LOCK:
            _POOL_USERS.pop()
            if not _POOL_USERS:
                pa.set_memory_pool(previous)


class _StoredTable:
    """One saved table file: opened and checked against the manifest now, read on demand.

    The file stays open until read, so a save that replaces the folder's tables meanwhile
    does not change what is read (saves never rewrite a table file; they write a new folder).
    It is read through an ordinary file handle, not a memory map: a file damaged meanwhile
    then gives an error, not a crash.
    """

    def __init__(self, name: str, path: Path, expected_rows: int | None) -> None:
        self.name, self.path = name, path
        if not path.is_file():
            raise CohortFileError(f"{path} is missing; the saved cohort is incomplete")
        try:
            self._source: pa.NativeFile | None = pa.OSFile(str(path))
            footer = pq.ParquetFile(self._source)
            self.rows = footer.metadata.num_rows
            self.arrow_schema = footer.schema_arrow
        except (OSError, pa.ArrowException) as exc:
            raise CohortFileError(f"{path} cannot be read ({exc}); the saved cohort is "
                                  "damaged, save it again") from exc
        if expected_rows is not None and self.rows != expected_rows:
            raise CohortFileError(f"{path} has {self.rows} rows, the manifest says "
                                  f"{expected_rows}; the saved cohort is damaged")

    def read(self) -> pd.DataFrame:
        """The table in the schema's dtypes (once: the file is closed afterwards)."""
        if self._source is None:
            raise RuntimeError(f"{self.path} was read already")
        table = schema.TABLES[self.name]
        if self.rows == 0 and self.arrow_schema.names == list(table.names):
            self._source.close()   # nothing to decode: a table the cohort does not have
            self._source = None
            return schema.empty(self.name)
        known = set(table.names)
        # Extra text columns come as dictionaries (fast, no string per row); _from_arrow
        # keeps the few-valued ones as categoricals and expands the others. So do the text
        # columns with a pattern (few distinct values, each checked once by _check_values).
        checked = {c.name for c in table.columns if c.pattern is not None}
        extra_text = [f.name for f in self.arrow_schema
                      if (f.name not in known or f.name in checked)
                      and f.type in _ARROW_STRINGS]
        try:
            # pre_buffer (coalesced reads on the I/O thread pool) is for object stores; on a
            # local file it cost 10-20% more time and CPU. ParquetFile, not read_table: the
            # dataset layer read_table goes through costs ~1 ms per table, the whole read of
            # a small table.
            with _returning_memory_pool():
                stored = pq.ParquetFile(self._source, read_dictionary=extra_text,
                                        pre_buffer=False).read(
                                            use_threads=self.rows >= _THREADED_ROWS)
        except (OSError, pa.ArrowException) as exc:
            raise CohortFileError(f"{self.path} cannot be read ({exc}); the saved cohort is "
                                  "damaged, save it again") from exc
        self._source.close()
        self._source = None
        _check_values(self.name, stored, self.path)
        try:
            return _from_arrow(self.name, stored)
        except schema.SchemaError as exc:   # a stored type conform cannot cast
            raise CohortFileError(f"{self.path}: {exc}; the saved cohort is damaged, save it "
                                  "again") from None


#: Tables of at least this many rows are decoded by several threads; a smaller one decodes
#: faster in one (starting the threads costs more than they save).
_THREADED_ROWS = 50_000


# ---------------------------------------------------------------------- storage dtypes
_ARROW_STRINGS = {pa.string(), pa.large_string()}


def _check_values(name: str, stored: pa.Table, path: Path) -> None:
    """Refuse a table whose columns hold values the schema does not allow, as the loaders'
    :func:`covidimg.schema.validate` does: outside a column's ``allowed`` values, or not
    matching its ``pattern``, or missing where the schema allows no missing value (Arrow's
    null count, which costs nothing). Only the distinct values are checked (a dictionary
    column's dictionary, or Arrow's ``unique``), so the check costs little beside the read."""
    for col in schema.TABLES[name].columns:
        if col.name not in stored.column_names:
            continue
        if not col.nullable and (missing := stored.column(col.name).null_count):
            raise CohortFileError(
                f"{path}: column {name}.{col.name} has {missing} missing value"
                f"{'' if missing == 1 else 's'}, which the schema does not allow. The saved "
                "cohort was not written by Cohort.save or was changed since: save it again "
                "from its sources")
        if col.allowed is None and col.pattern is None:
            continue
        bad = col.refused(_distinct_text(stored.column(col.name), path, name, col.name))
        if bad:
            rule = (f"the schema allows {list(col.allowed)}" if col.allowed is not None
                    else f"values must match {col.pattern}")
            raise CohortFileError(
                f"{path}: column {name}.{col.name} holds {len(bad)} value"
                f"{'' if len(bad) == 1 else 's'} the schema does not allow, "
                f"{schema.quote_values(bad)}; {rule}. The saved cohort was not written by "
                "Cohort.save or was changed since: save it again from its sources")


def _distinct_text(stored: pa.ChunkedArray, path: Path, table: str, column: str) -> list[str]:
    """The distinct non-missing values of a stored column, as text."""
    kind = stored.type
    if pa.types.is_dictionary(kind):
        values: pa.Array = pa.chunked_array([c.dictionary for c in stored.chunks],
                                            type=kind.value_type)
        values = pc.unique(values) if stored.num_chunks > 1 else values.combine_chunks()
    else:
        values = pc.unique(stored)
    try:
        text = values.cast(pa.large_string())
    except (pa.ArrowException, TypeError) as exc:
        raise CohortFileError(f"{path}: column {table}.{column} is stored as {kind}, which is "
                              "not text; the saved cohort is damaged, save it again") from exc
    return [v for v in text.to_pylist() if v is not None]


def _narrowest_int(values: pd.Series) -> str:
    """The narrowest nullable integer dtype holding every value of ``values``."""
    finite = values.dropna()
    if finite.empty:
        return "Int8"
    low, high = int(finite.min()), int(finite.max())
    for dtype in ("Int8", "Int16", "Int32"):
        info = np.iinfo(dtype.lower())
        if info.min <= low and high <= info.max:
            return dtype
    return "Int64"


def _storage_frame(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as stored: whole-number columns of the schema in their narrowest integer type
    (categoricals are dictionary-encoded by Parquet itself)."""
    narrow = {col.name: _narrowest_int(frame[col.name]) for col in schema.TABLES[name].columns
              if col.dtype == "Int64" and col.name in frame.columns}
    narrow = {c: d for c, d in narrow.items() if d != "Int64"}
    return frame.astype(narrow) if narrow else frame


def _string_type(arrow_type: pa.DataType) -> pd.api.extensions.ExtensionDtype | None:
    return pd.StringDtype("pyarrow") if arrow_type in _ARROW_STRINGS else None


def _column(stored: pa.ChunkedArray, col: schema.Column) -> pd.Series | None:
    """One schema column from Arrow, in the schema's dtype, or None when it needs
    :func:`covidimg.schema.conform` (an unexpected stored type)."""
    kind = stored.type
    if col.dtype == "string" and (kind in _ARROW_STRINGS | {pa.null()}
                                  or _is_text_dictionary(kind)):
        return stored.cast(pa.large_string()).to_pandas(types_mapper=_string_type)
    if col.dtype == "category" and pa.types.is_dictionary(kind) and \
            kind.value_type in _ARROW_STRINGS:
        # None: values outside the schema, which conform names.
        return _categorical(stored, col.allowed or sorted(_dictionary_values(stored)))
    if col.dtype == "Int64" and (pa.types.is_integer(kind) or kind == pa.null()):
        return stored.cast(pa.int64()).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    if col.dtype == "boolean" and kind in (pa.bool_(), pa.null()):
        return stored.cast(pa.bool_()).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    if col.dtype == "float64" and kind in (pa.float64(), pa.null()):
        return stored.cast(pa.float64()).to_pandas()
    return None


def _from_arrow(name: str, stored: pa.Table) -> pd.DataFrame:
    """A saved table in the schema's dtypes, converted column by column without Python
    objects; the loader's extra columns keep the dtypes pandas saved them with."""
    columns = schema.TABLES[name].columns
    known = [c for c in columns if c.name in stored.column_names]
    converted = {c.name: _column(stored.column(c.name), c) for c in known}
    if any(series is None for series in converted.values()) or len(known) < len(columns):
        return schema.conform(name, stored.to_pandas())
    extras = [n for n in stored.column_names if n not in converted]
    text = [n for n in extras if _is_text_dictionary(stored.column(n).type)]
    converted.update({n: _extra_text(stored.column(n)) for n in text})
    # An extra column with no value at all is stored as Arrow's null type: all None, as
    # pandas saved it, without a pandas conversion of its own (~0.5 ms each).
    converted.update({n: pd.Series(np.full(stored.num_rows, None, dtype=object), copy=False)
                      for n in extras if stored.column(n).type == pa.null()})
    rest = [n for n in extras if n not in converted]
    if rest:
        frame = stored.select(rest).to_pandas(split_blocks=True)
        converted.update({extra: frame[extra] for extra in rest})
    # copy=False keeps one block per column: no copy of the numeric columns into 2-D blocks.
    # The columns' arrays, not Series: Series would be aligned on their indexes one by one.
    return pd.DataFrame({n: converted[n].array for n in stored.column_names},
                        index=pd.RangeIndex(stored.num_rows), copy=False)


def _is_text_dictionary(kind: pa.DataType) -> bool:
    return pa.types.is_dictionary(kind) and kind.value_type in _ARROW_STRINGS


def _extra_text(stored: pa.ChunkedArray) -> pd.Series:
    """A loader's extra text column: categorical (sorted categories) when it has at most half
    as many distinct values as non-missing ones, else Arrow-backed text as pandas reads it."""
    present = _dictionary_values(stored)
    if 2 * len(present) <= len(stored) - stored.null_count:
        series = _categorical(stored, sorted(present))
        assert series is not None
        return series
    return stored.cast(pa.large_string()).to_pandas()


def _dictionary_values(stored: pa.ChunkedArray) -> set[str]:
    """The distinct values of a dictionary-encoded column (the union of its dictionaries)."""
    values: set[str] = set()
    for chunk in stored.chunks:
        values.update(chunk.dictionary.to_pylist())
    values.discard(None)  # type: ignore[arg-type]
    return values


def _categorical(stored: pa.ChunkedArray, categories: Sequence[str]) -> pd.Series | None:
    """Dictionary-encoded text as a pandas categorical with exactly ``categories``, or None
    when a value is not among them. Codes are mapped in Arrow (one small lookup per chunk,
    then a vectorized take), never value by value."""
    position = {value: code for code, value in enumerate(categories)}
    code_type = next(t for t, bound in ((pa.int8(), 127), (pa.int16(), 32_767),
                                        (pa.int32(), 2**31 - 1)) if len(categories) <= bound)
    parts = []
    for chunk in stored.chunks:
        lookup = [position.get(value, -2) for value in chunk.dictionary.to_pylist()]
        if -2 in lookup:
            return None
        parts.append(pc.take(pa.array(lookup, type=code_type), chunk.indices))
    codes = pa.chunked_array(parts, type=code_type).fill_null(-1).to_numpy()
    dtype = (_category_dtype(tuple(categories)) if len(categories) <= _CACHED_CATEGORIES
             else pd.CategoricalDtype(list(categories)))
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), copy=False)


#: Categorical dtypes of at most this many categories are kept (the contract's and a loader's
#: small vocabularies); a large one (an extra column of many values) is made each time.
_CACHED_CATEGORIES = 1024


@lru_cache(maxsize=256)
def _category_dtype(categories: tuple[str, ...]) -> pd.CategoricalDtype:
    """The categorical dtype of ``categories`` (made once: pandas checks the categories each
    time one is made, a cost every opening of a saved cohort paid per column)."""
    return pd.CategoricalDtype(list(categories))

