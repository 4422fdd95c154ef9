"""The harmonized cohort: combine sources, filter, save and reopen."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from covidimg import schema
from covidimg.errors import CohortFileError, LoadError, SourceDetectionError
from covidimg.sources import (
    LOADER_MODULES,
    SourceTables,
    archive_limits,
    index_options,
    loader,
    loaders,
    raise_if_strict,
    strict_mode,
)

__all__ = ["Cohort", "CohortFileError", "SourceDetectionError", "detect_source", "load"]

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Rows per Parquet row group (large groups read fastest; a million rows is ~20-100 MB).
_ROW_GROUP = 1_000_000
#: Parquet codec of saved tables: LZ4 (raw) decompresses about twice as fast as snappy, which
#: halves the cost of reading long text columns (paths, uids); files are no larger.
_COMPRESSION = "lz4"


def _empty_tables() -> dict[str, pd.DataFrame]:
    return {name: schema.empty(name) for name in schema.TABLE_NAMES}


#: Tables :meth:`Cohort.open` reads on first access by default: the loaders' provenance
#: (every file seen, every finding), which exploring the cohort does not need.
LAZY_TABLES = ("files", "findings")

#: Tables whose rows need not belong to a patient or an image (the column naming the owner):
#: parts filtered from one cohort each hold the rows without one.
_SHARED_ROW_TABLES = {"files": "image_uid", "findings": "patient_uid"}


class _Deferred:
    """A table read (or derived from another deferred table) on first access, once."""

    __slots__ = ("_frame", "_lock", "_read", "rows")

    def __init__(self, read: Callable[[], pd.DataFrame], rows: int | None = None) -> None:
        self._read: Callable[[], pd.DataFrame] | None = read
        self._frame: pd.DataFrame | None = None
        self._lock = threading.Lock()
        self.rows = rows  # known without reading (from the file's footer), or None

    def get(self) -> pd.DataFrame:
        with self._lock:
            if self._frame is None:
                assert self._read is not None
                self._frame = self._read()
                self._read = None
            return self._frame

    @property
    def done(self) -> bool:
        return self._frame is not None

    def then(self, step: Callable[[pd.DataFrame], pd.DataFrame]) -> _Deferred:
        """A deferred table computed by ``step`` from this one, when first accessed."""
        if self._frame is not None:
            return _Deferred(lambda frame=self._frame: step(frame))
        return _Deferred(lambda: step(self.get()))


def _table_property(name: str) -> property:
    """The attribute of table ``name``: a DataFrame, read on first access when deferred."""

    def get(self: Cohort) -> pd.DataFrame:
        value = self.__dict__[name]
        if isinstance(value, _Deferred):
            value = value.get()
            self.__dict__[name] = value
        return value

    def set(self: Cohort, value: pd.DataFrame | _Deferred) -> None:
        self.__dict__[name] = value

    return property(get, set, doc=f"The {name} table (a pandas DataFrame).")


@dataclass
class Cohort:
    """A harmonized cohort: six pandas DataFrames that follow :mod:`covidimg.schema`.

    Build one with :func:`covidimg.load`, :func:`covidimg.load_demo` or :meth:`Cohort.open`;
    combine sources with :meth:`Cohort.concat`.

    Attributes
    ----------
    patients, images, events, labs, files, findings
        The tables of the contract (see ``docs/data-dictionary.md``). A cohort opened with
        :meth:`open` reads ``files`` and ``findings`` when first accessed (see
        :meth:`unread_tables`); to the user they are DataFrames like the others.

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.Cohort()
    >>> cohort.images.shape[0]
    0
    """

    patients: pd.DataFrame = field(default_factory=lambda: schema.empty("patients"))
    images: pd.DataFrame = field(default_factory=lambda: schema.empty("images"))
    events: pd.DataFrame = field(default_factory=lambda: schema.empty("events"))
    labs: pd.DataFrame = field(default_factory=lambda: schema.empty("labs"))
    files: pd.DataFrame = field(default_factory=lambda: schema.empty("files"))
    findings: pd.DataFrame = field(default_factory=lambda: schema.empty("findings"))

    # ------------------------------------------------------------------ construction
    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the tables as a mapping of table name to DataFrame (reading unread ones)."""
        return {name: getattr(self, name) for name in schema.TABLE_NAMES}

    def unread_tables(self) -> list[str]:
        """Names of the tables not read yet: :meth:`open` defers ``files`` and ``findings``.

        A deferred table is read from its saved file the first time it is accessed (as an
        attribute, through :meth:`tables`, :meth:`save`, :meth:`validate` ...), then kept. A
        cohort made by :meth:`filter` from one with unread tables defers them too.

        Examples
        --------
        >>> import covidimg as ci, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = ci.Cohort().save(folder)
        >>> cohort = ci.Cohort.open(folder)
        >>> cohort.unread_tables()
        ['files', 'findings']
        >>> cohort.files.shape[0], cohort.unread_tables()
        (0, ['findings'])
        """
        return [name for name in schema.TABLE_NAMES
                if isinstance(value := self.__dict__.get(name), _Deferred) and not value.done]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle (and copy) the tables themselves, reading deferred ones first."""
        return {**self.__dict__, **self.tables()}

    def _rows(self, name: str) -> int:
        """Row count of a table, without reading it when its file's footer says."""
        value = self.__dict__.get(name)
        if isinstance(value, _Deferred) and not value.done and value.rows is not None:
            return value.rows
        return len(getattr(self, name))

    def _deferred(self, name: str, step: Callable[[pd.DataFrame], pd.DataFrame]
                  ) -> pd.DataFrame | _Deferred:
        """``step`` applied to table ``name`` now, or when first accessed if still unread."""
        value = self.__dict__[name]
        if isinstance(value, _Deferred):
            return value.then(step)
        return step(value)

    def validate(self) -> Cohort:
        """Check every table against the schema and the references between tables.

        Raises
        ------
        covidimg.schema.SchemaError
            Naming the table, column and values that break the contract.
        """
        for name, frame in self.tables().items():
            schema.validate(name, frame)
        for name in ("images", "events", "labs"):
            dangling = _dangling(getattr(self, name)["patient_uid"], self.patients["patient_uid"])
            if dangling:
                raise schema.SchemaError(
                    f"{name}.patient_uid refers to patients not in the patients table: "
                    f"{dangling[:10]}"
                )
        dangling = _dangling(self.labs["image_uid"], self.images["image_uid"])
        if dangling:
            raise schema.SchemaError(
                f"labs.image_uid refers to images not in the images table: {dangling[:10]}"
            )
        return self

    @classmethod
    def from_tables(cls, tables: Mapping[str, pd.DataFrame]) -> Cohort:
        """Build a cohort from a mapping of table name to DataFrame, conforming each table."""
        unknown = set(tables) - set(schema.TABLE_NAMES)
        if unknown:
            raise schema.SchemaError(
                f"unknown tables {sorted(unknown)}; expected {list(schema.TABLE_NAMES)}"
            )
        out = {name: schema.conform(name, tables.get(name, schema.empty(name)))
               for name in schema.TABLE_NAMES}
        return cls(**out).validate()

    @classmethod
    def concat(cls, parts: Iterable[Cohort | SourceTables]) -> Cohort:
        """Combine cohorts or source tables into one cohort.

        ``patient_uid`` and ``image_uid`` carry their source as a prefix, so they stay unique;
        a uid that still appears twice raises :class:`~covidimg.schema.SchemaError`.

        Parts filtered from one cohort share the rows that belong to no patient or image (a
        source's ``data.csv`` in ``files``, its source-level ``findings``): a ``files`` or
        ``findings`` row equal in every column to one of an earlier part is kept once.

        Examples
        --------
        >>> import covidimg as ci
        >>> cohort = ci.load_demo(n_patients=8, sources=["mhh", "nccid"])
        >>> parts = [cohort.filter(source="mhh"), cohort.filter(source="nccid")]
        >>> ci.Cohort.concat(parts).files.equals(cohort.filter(source=["mhh", "nccid"]).files)
        True
        """
        parts = list(parts)
        if not parts:
            return cls()
        out = {}
        for name in schema.TABLE_NAMES:
            frames = [part.tables()[name] for part in parts]
            if name in _SHARED_ROW_TABLES:
                frames = _without_earlier_rows(frames, _SHARED_ROW_TABLES[name])
            frames = [f for f in frames if len(f)] or [schema.empty(name)]
            out[name] = schema.conform(name, frames[0] if len(frames) == 1 else
                                       pd.concat(_common_categories(frames), ignore_index=True))
        return cls(**out).validate()

    # ------------------------------------------------------------------ description
    def __repr__(self) -> str:
        sources = ", ".join(sorted(self.patients["source"].dropna().astype(str).unique()))
        return (f"<Cohort: {len(self.patients)} patients, {len(self.images)} images, "
                f"{len(self.labs)} lab values, {self._rows('findings')} findings"
                f"{'; sources ' + sources if sources else ''}>")

    def summary(self) -> pd.DataFrame:
        """Counts per source: patients, images, lab values, files by status, findings.

        Examples
        --------
        >>> import covidimg as ci
        >>> ci.Cohort().summary().columns[:3].tolist()
        ['patients', 'images', 'lab_values']
        """
        def count(frame: pd.DataFrame) -> pd.Series:
            return frame.groupby(frame["source"].astype(str)).size()

        parts = {
            "patients": count(self.patients),
            "images": count(self.images),
            "lab_values": count(self.labs.merge(self.patients[["patient_uid", "source"]],
                                                on="patient_uid")),
        }
        for status in schema.FILE_STATUS:
            parts[f"files_{status}"] = count(self.files[self.files["status"] == status])
        parts["findings"] = count(self.findings)
        table = pd.DataFrame(parts).fillna(0).astype(int)
        table.index.name = "source"
        return table

    def findings_summary(self) -> pd.DataFrame:
        """Number of findings per source and kind, with one example detail each."""
        if not len(self.findings):
            return pd.DataFrame(columns=["source", "kind", "count", "example"])
        grouped = self.findings.assign(source=self.findings["source"].astype(str)).groupby(
            ["source", "kind"], observed=True)
        return (grouped.agg(count=("detail", "size"), example=("detail", "first"))
                .reset_index().sort_values(["source", "count"], ascending=[True, False],
                                           ignore_index=True))

    # ------------------------------------------------------------------ filtering
    def filter(
        self,
        *,
        source: str | Sequence[str] | None = None,
        patient_uid: str | Sequence[str] | None = None,
        sex: str | Sequence[str] | None = None,
        age: tuple[float | None, float | None] | None = None,
        covid_status: str | Sequence[str] | None = None,
        icu: bool | None = None,
        died: bool | None = None,
        site: str | Sequence[str] | None = None,
        modality: str | Sequence[str] | None = None,
        view: str | Sequence[str] | None = None,
        day: tuple[float | None, float | None] | None = None,
        labs: Mapping[str, tuple[float | None, float | None]] | None = None,
        lab_match: str = "overlap",
    ) -> Cohort:
        """Return a new cohort restricted to the patients and images that match every criterion.

        Patient criteria (``source``, ``patient_uid``, ``sex``, ``age``, ``covid_status``,
        ``icu``, ``died``, ``site``, ``labs``) select patients; image criteria (``modality``,
        ``view``, ``day``) select images, and when any is given only patients with at least one
        matching image are kept. A list means "any of". The other tables follow: events, labs,
        files and findings of the patients (and images) that remain.

        Parameters
        ----------
        age
            ``(min, max)`` in years, either end ``None``; a patient matches when the age band
            overlaps the range (redacted ages never match an age criterion).
        day
            ``(first, last)`` exam-day window, inclusive.
        labs
            ``{analyte: (low, high)}``; a patient matches when at least one measurement of each
            analyte matches. Measurements are intervals ``[lower, upper)``.
        lab_match
            ``"overlap"`` (default): the measurement's interval overlaps ``[low, high]``, i.e. the
            true value may lie in range; ``"within"``: the interval lies entirely inside
            ``[low, high]``, i.e. the true value certainly does.

        Examples
        --------
        >>> import covidimg as ci
        >>> cohort = ci.load_demo()                                  # doctest: +SKIP
        >>> sub = cohort.filter(sex="F", modality=["CR", "DX"],
        ...                     labs={"crp": (100, None)})           # doctest: +SKIP
        """
        if lab_match not in ("overlap", "within"):
            raise ValueError(f"lab_match={lab_match!r}; allowed values are 'overlap', 'within'")
        patients = self.patients
        keep = np.ones(len(patients), dtype=bool)
        for column, wanted in (("source", source), ("patient_uid", patient_uid), ("sex", sex),
                               ("covid_status", covid_status), ("site", site)):
            if wanted is not None:
                keep &= _isin(patients[column], wanted, column, self._allowed("patients", column))
        for column, wanted in (("icu", icu), ("died", died)):
            if wanted is not None:
                keep &= (patients[column] == bool(wanted)).fillna(False).to_numpy(dtype=bool)
        if age is not None:
            low, high = range_bounds(age, "age")
            keep &= ((patients["age_max"] >= low) & (patients["age_min"] <= high)).to_numpy()
        if labs:
            keep &= _member(patients["patient_uid"], self._patients_with_labs(labs, lab_match))
        kept_patients = patients["patient_uid"][keep]

        images = self.images
        image_keep = _member(images["patient_uid"], kept_patients).copy()
        image_criteria = False
        for column, wanted in (("modality", modality), ("view", view)):
            if wanted is not None:
                image_criteria = True
                image_keep &= _isin(images[column], wanted, column,
                                    self._allowed("images", column))
        if day is not None:
            image_criteria = True
            low, high = range_bounds(day, "day")
            image_keep &= ((images["day"] >= low) & (images["day"] <= high)).to_numpy()
        kept_images = images[image_keep]
        if image_criteria:
            kept_patients = kept_patients[_member(kept_patients, kept_images["patient_uid"])]
        return self._restrict(kept_patients, kept_images)

    def _allowed(self, table: str, column: str) -> tuple[str, ...] | None:
        return schema.TABLES[table].column(column).allowed

    def _patients_with_labs(self, labs: Mapping[str, tuple[float | None, float | None]],
                            lab_match: str) -> set[str]:
        known = set(self.labs["analyte"].astype(str).unique()) | set(schema.ANALYTES)
        selected: set[str] | None = None
        for analyte, bounds in labs.items():
            if analyte not in known:
                raise ValueError(f"labs: unknown analyte {analyte!r}; known analytes are "
                                 f"{sorted(known)}")
            low, high = range_bounds(bounds, f"labs[{analyte!r}]")
            rows = self.labs[self.labs["analyte"] == analyte]
            if lab_match == "overlap":
                hit = (rows["lower"] <= high) & (rows["upper"] > low)
            else:
                hit = (rows["lower"] >= low) & (rows["upper"] <= high)
            uids = set(rows.loc[hit.to_numpy(dtype=bool), "patient_uid"].dropna().unique())
            selected = uids if selected is None else selected & uids
        return selected or set()

    def _restrict(self, patient_uids: pd.Series, images: pd.DataFrame) -> Cohort:
        patient_set = pd.Index(patient_uids.unique())
        image_set = pd.Index(images["image_uid"])
        labs = self.labs[_member(self.labs["patient_uid"], patient_set)
                         & (self.labs["image_uid"].isna().to_numpy(dtype=bool)
                            | _member(self.labs["image_uid"], image_set))]

        def files(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["image_uid"].isna().to_numpy(dtype=bool)
                         | _member(frame["image_uid"], image_set)].reset_index(drop=True)

        def findings(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["patient_uid"].isna().to_numpy(dtype=bool)
                         | _member(frame["patient_uid"], patient_set)].reset_index(drop=True)
        return Cohort(
            patients=self.patients[_member(self.patients["patient_uid"], patient_set)]
            .reset_index(drop=True),
            images=images.reset_index(drop=True),
            events=self.events[_member(self.events["patient_uid"], patient_set)]
            .reset_index(drop=True),
            labs=labs.reset_index(drop=True),
            files=self._deferred("files", files),
            findings=self._deferred("findings", findings),
        )

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Save the cohort as Parquet files in ``directory``, atomically.

        The tables go into a fresh sub-folder; only when every table is written does
        ``manifest.json`` (replaced with :func:`os.replace`) point to it. A crash mid-save leaves
        the previous cohort, or none, but never a half-written one that opens.

        Storage is compact: categorical columns are stored dictionary-encoded, whole-number
        columns in the narrowest integer type that holds them (see
        ``_storage_frame``), and :meth:`open` restores the schema's dtypes.

        Examples
        --------
        >>> import covidimg as ci, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = ci.Cohort().save(folder)
        >>> ci.Cohort.open(folder).images.shape[0]
        0
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data_dir = directory / f"tables-{uuid.uuid4().hex[:12]}"
        data_dir.mkdir()
        counts = {}
        for name, frame in self.tables().items():
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

    @classmethod
    def open(cls, directory: str | os.PathLike[str], *,
             lazy: Iterable[str] = LAZY_TABLES) -> Cohort:
        """Open a cohort saved with :meth:`save`.

        Tables are read with pyarrow (multi-threaded) straight into the
        schema's dtypes: strings stay Arrow-backed, dictionary columns become categoricals
        without passing through Python objects. A table whose stored types do not match the
        schema (an older save) goes through :func:`covidimg.schema.conform`. The loaders' extra
        text columns (not in the schema) with few distinct values (at most half their
        non-missing values) open as categoricals; the others as strings.

        Parameters
        ----------
        directory
            The folder given to :meth:`save`.
        lazy
            Tables read on first access instead of now (default ``("files", "findings")``,
            the loaders' provenance, which exploring the cohort does not need; see
            :meth:`unread_tables`). Their files are opened (and their row counts checked)
            now, so a later save over ``directory`` does not change what they read. Pass
            ``()`` to read everything now.

        Raises
        ------
        CohortFileError
            If the folder has no manifest, the manifest is of an unknown format, or a table
            file is missing, unreadable or its row count differs from the manifest's (a
            deferred table whose data is damaged raises it when first accessed).
        ValueError
            If ``lazy`` names a table that does not exist.

        Examples
        --------
        >>> import covidimg as ci, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = ci.Cohort().save(folder)
        >>> ci.Cohort.open(folder, lazy=()).unread_tables()
        []
        """
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
        return cls(**tables)


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


for _name in schema.TABLE_NAMES:
    setattr(Cohort, _name, _table_property(_name))


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


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str | bool) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _isin(series: pd.Series, wanted: Any, name: str,
          allowed: tuple[str, ...] | None) -> np.ndarray:
    values = _as_list(wanted)
    if allowed is not None:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise ValueError(f"filter {name}={wanted!r}: {bad} not allowed; allowed values are "
                             f"{list(allowed)}")
    return series.isin(values).to_numpy(dtype=bool)


def _member(series: pd.Series, values: Any) -> np.ndarray:
    """``series.isin(values)`` as a bool array, fast for text columns.

    pandas' Arrow-backed strings look values up one by one in Python; for the uid columns of a
    large cohort pyarrow's hash-based ``is_in`` is 40x faster. Missing values never match.
    """
    if isinstance(values, set | frozenset):
        values = list(values)
    try:
        haystack = pa.array(series, from_pandas=True)
        needles = pa.array(values, from_pandas=True)
        if not (pa.types.is_string(haystack.type) or pa.types.is_large_string(haystack.type)):
            raise TypeError("not text")
        if len(needles) and not (pa.types.is_string(needles.type)
                                 or pa.types.is_large_string(needles.type)
                                 or pa.types.is_null(needles.type)):
            raise TypeError("not text")
        found = pc.is_in(haystack.cast(pa.large_string()),
                         value_set=needles.cast(pa.large_string()), skip_nulls=True)
        return np.asarray(found.fill_null(False), dtype=bool)
    except (TypeError, pa.ArrowException):
        return series.isin(values).to_numpy(dtype=bool)


def range_bounds(bounds: Any, name: str) -> tuple[float, float]:
    """``(low, high)`` with ``None`` for an open end -> floats; errors name the argument."""
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ValueError(f"{name}={bounds!r}: expected a (low, high) pair; use None for an "
                         "open end") from None
    low = -np.inf if low is None else float(low)
    high = np.inf if high is None else float(high)
    if low > high:
        raise ValueError(f"{name}={bounds!r}: low is greater than high")
    return low, high


# ---------------------------------------------------------------------- loading
def detect_source(root: str | os.PathLike[str]) -> str:
    """Return the name of the source whose layout ``root`` has.

    Raises
    ------
    SourceDetectionError
        If no source matches (the message lists what each source looks for) or several do.
    """
    root_s = os.fspath(root)
    if "://" not in root_s and not os.path.isdir(root_s):
        raise SourceDetectionError(f"{root_s} is not a folder; pass the folder a source was "
                                   "downloaded into")
    mods = loaders()
    matches = [name for name, mod in mods.items() if mod.detect(root_s)]
    if len(matches) == 1:
        return matches[0]
    looked = "\n".join(f"  - {name}: {mod.LOOKS_FOR}" for name, mod in mods.items())
    if not matches:
        raise SourceDetectionError(
            f"cannot tell which source {root_s} holds. Looked for:\n{looked}\n"
            "Pass the source explicitly, e.g. covidimg.load({'mhh': path})."
        )
    raise SourceDetectionError(
        f"{root_s} matches several sources {matches}; pass one explicitly, e.g. "
        f"covidimg.load({{{matches[0]!r}: path}})."
    )


def load(
    roots: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]]
    | Sequence[str | os.PathLike[str]],
    *,
    progress: bool = True,
    strict: bool = False,
    max_member_bytes: int | None = None,
    max_compression_ratio: float | None = None,
    executor: concurrent.futures.Executor | bool | None = None,
    index_cache: bool | str | os.PathLike[str] = True,
    sample_series: bool = True,
) -> Cohort:
    """Load one or several sources from their native layouts into one harmonized cohort.

    Parameters
    ----------
    roots
        A folder (its source is detected from the layout), a list of folders, or a mapping
        ``{source: folder}``; NCCID folders may be ``s3://bucket/prefix`` URLs.
    progress
        Show progress bars while files are indexed.
    strict
        ``False`` (default): a bad file or value becomes a finding and the load goes on.
        ``True``: the first finding of severity ``error`` (an unreadable file, an unsafe or
        oversized zip member, a missing column, ...; see ``schema.FINDING_KINDS``) raises
        :class:`~covidimg.sources._engine.ledger.StrictModeError`.
    max_member_bytes
        Largest uncompressed size, in bytes, of a zip member that is read (default 4 GiB);
        larger members are refused with an ``archive_too_large`` finding.
    max_compression_ratio
        Largest compression ratio of a zip member of 1 MiB or more (default 200); higher
        ratios are the mark of a zip bomb and are refused with an ``archive_too_large`` finding.
    executor
        Where DICOM headers are read (MIDRC, TCIA): ``None`` (default) a local process pool
        for large trees, ``False`` this process only, or any
        :class:`concurrent.futures.Executor`, e.g. a Dask cluster's ``Client.get_executor()``
        (see ``docs/performance.md``).
    index_cache
        The incremental DICOM index cache, keyed by path, size and modification time:
        ``True`` (default) under the covidimg cache folder, a folder, or ``False`` for none.
        A re-load of an unchanged tree reads no DICOM file.
    sample_series
        Index a CT / MR series folder from its first, middle and last file when its files
        allow it (checked; else every file is read).

    Returns
    -------
    Cohort
        The combined cohort; ``cohort.files`` accounts for every file found under each root and
        ``cohort.findings`` for every data-quality problem met.

    Raises
    ------
    SourceDetectionError
        If a folder's source cannot be told from its layout.
    LoadError
        If a root does not exist or cannot be loaded at all (e.g. its main table is unusable);
        in strict mode, :class:`~covidimg.errors.StrictModeError` (a ``LoadError``) on
        the first error finding.

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.load("downloads/mhh")                        # doctest: +SKIP
    >>> cohort = ci.load({"mhh": "downloads/mhh", "crdw": "/data/crdw"})  # doctest: +SKIP
    """
    if isinstance(roots, Mapping):
        pairs = [(str(name), os.fspath(root)) for name, root in roots.items()]
        for name, _ in pairs:
            if name not in LOADER_MODULES:
                raise ValueError(f"unknown source {name!r}; known sources are "
                                 f"{sorted(LOADER_MODULES)}")
    else:
        if isinstance(roots, str | os.PathLike):
            roots = [roots]
        pairs = [(detect_source(root), os.fspath(root)) for root in roots]
    parts = []
    with archive_limits(max_member_bytes=max_member_bytes, max_ratio=max_compression_ratio), \
            strict_mode(strict), \
            index_options(executor=executor, cache=index_cache, sample_series=sample_series):
        for name, root in pairs:
            if "://" not in root and not os.path.exists(root):
                raise LoadError(f"{name}: {root} does not exist; pass the folder the source "
                                "was downloaded into")
            part = loader(name).load(root, progress=progress)
            if strict:  # a finding recorded where the loader caught the error still counts
                for row in part.findings.to_dict("records"):
                    raise_if_strict(row)
            parts.append(part)
    return Cohort.concat(parts)


def _without_earlier_rows(frames: list[pd.DataFrame], owner: str) -> list[pd.DataFrame]:
    """Drop from each frame the rows without an ``owner`` that equal, in every column, a row
    of an earlier frame.

    Rows with an owner are never shared by parts (their keys would clash); rows repeated
    within one frame are kept: only copies across parts are dropped.
    """
    seen: set[int] = set()
    out = []
    for frame in frames:
        ownerless = np.flatnonzero(frame[owner].isna().to_numpy(dtype=bool)) if len(frame) \
            else np.empty(0, dtype=np.intp)
        if not len(ownerless):
            out.append(frame)
            continue
        hashes = pd.util.hash_pandas_object(frame.iloc[ownerless], index=False).to_numpy()
        if seen:
            repeated = ownerless[np.isin(hashes, np.fromiter(seen, np.uint64, len(seen)))]
            frame = frame.drop(frame.index[repeated]) if len(repeated) else frame
        out.append(frame)
        seen.update(hashes.tolist())
    return out


def _dangling(references: pd.Series, keys: pd.Series) -> list[str]:
    """The distinct non-missing ``references`` that are not among ``keys``, sorted."""
    try:  # in Arrow: pandas' isin on Arrow strings makes a Python object per key
        values = _arrow_text(references)
        found = pc.is_in(values, value_set=_arrow_text(keys).combine_chunks())
        missing = np.asarray(pc.and_(pc.is_valid(values), pc.invert(found)))
    except (pa.ArrowException, TypeError):
        missing = references.notna().to_numpy(dtype=bool) & ~references.isin(keys).to_numpy(
            dtype=bool)
    return sorted(set(references[missing])) if missing.any() else []


def _arrow_text(series: pd.Series) -> pa.ChunkedArray:
    """``series`` as Arrow text (no copy for Arrow-backed strings)."""
    values = pa.array(series, from_pandas=True)
    if not isinstance(values, pa.ChunkedArray):
        values = pa.chunked_array([values])
    return values.cast(pa.large_string())


def _common_categories(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """``frames`` with every categorical column whose dtype differs between them as objects,
    so :func:`pandas.concat` keeps a categorical where all frames agree (no per-row
    conversion) and :func:`covidimg.schema.conform` rebuilds the others."""
    differing = {c for frame in frames for c in frame.columns
                 if isinstance(frame[c].dtype, pd.CategoricalDtype)
                 and any(c not in other.columns or other[c].dtype != frame[c].dtype
                         for other in frames)}
    return [frame.astype({c: object for c in differing if c in frame.columns})
            for frame in frames]

