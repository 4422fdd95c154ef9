"""Saving a cohort as Parquet and opening it again, straight into the schema's dtypes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from covidimg import schema
from covidimg.cohort._deferred import _Deferred
from covidimg.errors import CohortFileError

__all__ = ["FORMAT_VERSION", "LAZY_TABLES", "MANIFEST", "open_tables", "save_tables"]

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Rows per Parquet row group (large groups read fastest; a million rows is ~20-100 MB).
_ROW_GROUP = 1_000_000
#: Parquet codec of saved tables: LZ4 (raw) decompresses about twice as fast as snappy, which
#: halves the cost of reading long text columns (paths, uids); files are no larger.
_COMPRESSION = "lz4"
#: Tables :meth:`Cohort.open` reads on first access by default: the loaders' provenance
#: (every file seen, every finding), which exploring the cohort does not need.
LAZY_TABLES = ("files", "findings")


def save_tables(tables: Mapping[str, pd.DataFrame], directory: str | os.PathLike[str]) -> Path:
    """Write ``tables`` as Parquet into ``directory`` atomically (see :meth:`Cohort.save`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data_dir = directory / f"tables-{uuid.uuid4().hex[:12]}"
    data_dir.mkdir()
    counts = {}
    for name, frame in tables.items():
        _storage_frame(name, frame).to_parquet(
            data_dir / f"{name}.parquet", index=False, compression=_COMPRESSION,
            row_group_size=_ROW_GROUP)
        counts[name] = len(frame)
    manifest = {"format": "covidimg-cohort", "version": FORMAT_VERSION,
                "tables_dir": data_dir.name, "rows": counts}
    tmp = directory / f".{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, directory / MANIFEST)
    for stale in directory.glob("tables-*"):
        if stale.name != data_dir.name:
            shutil.rmtree(stale, ignore_errors=True)
    for stale in directory.glob(f".{MANIFEST}.*.tmp"):
        stale.unlink(missing_ok=True)
    return directory



def open_tables(directory: str | os.PathLike[str], lazy: Iterable[str]) -> dict[str, Any]:
    """The tables of a saved cohort, ``lazy`` ones deferred (see :meth:`Cohort.open`)."""
    lazy = [lazy] if isinstance(lazy, str) else list(lazy)
    unknown = [name for name in lazy if name not in schema.TABLE_NAMES]
    if unknown:
        raise ValueError(f"lazy={lazy!r}: {unknown} are not tables; allowed values are "
                         f"{list(schema.TABLE_NAMES)}")
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise CohortFileError(
            f"{directory} is not a saved cohort: {MANIFEST} is missing. Save one with "
            "Cohort.save(folder) or `covidimg index SOURCE -o FOLDER`."
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        version = manifest["version"]
        data_dir = directory / manifest["tables_dir"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CohortFileError(f"{manifest_path} is not a cohort manifest: {exc}") from exc
    if manifest.get("format") != "covidimg-cohort" or version > FORMAT_VERSION:
        raise CohortFileError(
            f"{manifest_path}: format {manifest.get('format')!r} version {version} is not "
            f"readable by this covidimg (reads covidimg-cohort up to {FORMAT_VERSION})"
        )
    stored = {name: _StoredTable(name, data_dir / f"{name}.parquet",
                                 manifest["rows"].get(name))
              for name in schema.TABLE_NAMES}
    tables: dict[str, Any] = {name: _Deferred(stored[name].read, rows=stored[name].rows)
                              for name in lazy}
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
        known = set(schema.TABLES[self.name].names)
        # Extra text columns come as dictionaries (fast, no string per row); _from_arrow
        # keeps the few-valued ones as categoricals and expands the others.
        extra_text = [f.name for f in self.arrow_schema
                      if f.name not in known and f.type in _ARROW_STRINGS]
        try:
            # pre_buffer (coalesced reads on the I/O thread pool) is for object stores; on a
            # local file it cost 10-20% more time and CPU.
            with _returning_memory_pool():
                stored = pq.read_table(self._source, read_dictionary=extra_text,
                                       pre_buffer=False, use_threads=True)
        except (OSError, pa.ArrowException) as exc:
            raise CohortFileError(f"{self.path} cannot be read ({exc}); the saved cohort is "
                                  "damaged, save it again") from exc
        self._source.close()
        self._source = None
        return _from_arrow(self.name, stored)



# ---------------------------------------------------------------------- storage dtypes
_ARROW_STRINGS = {pa.string(), pa.large_string()}


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
    if col.dtype == "string" and kind in _ARROW_STRINGS | {pa.null()}:
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
    rest = [n for n in extras if n not in text]
    if rest:
        frame = stored.select(rest).to_pandas(split_blocks=True)
        converted.update({extra: frame[extra] for extra in rest})
    # copy=False keeps one block per column: no copy of the numeric columns into 2-D blocks.
    return pd.DataFrame({n: converted[n] for n in stored.column_names}, copy=False)


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
    dtype = pd.CategoricalDtype(list(categories))
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), copy=False)

