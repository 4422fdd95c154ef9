"""The harmonized cohort: its tables, validation, combination and description."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from covidimg import schema
from covidimg._validation import LabMatch
from covidimg.cohort._arrays import OPENED_FROM, CohortArrays
from covidimg.cohort._deferred import _Deferred, _table_property
from covidimg.cohort._query import Criteria, Selection, select
from covidimg.cohort._storage import LAZY_TABLES, open_tables, save_tables
from covidimg.sources import SourceTables

__all__ = ["Cohort"]

#: Tables whose rows need not belong to a patient or an image (the column naming the owner, or
#: ``None`` when no row has one): parts filtered from one cohort each hold the rows without one.
_SHARED_ROW_TABLES: dict[str, str | None] = {"files": "image_uid", "findings": "patient_uid",
                                             "provenance": None}
#: Where a cohort keeps its :class:`CohortArrays` (in its ``__dict__``, beside the tables).
_ARRAYS = "_kept_arrays"


@dataclass(eq=False)
class Cohort:
    """A harmonized cohort: nine pandas DataFrames that follow :mod:`covidimg.schema`.

    Build one with :func:`covidimg.load`, :func:`covidimg.load_demo` or :meth:`Cohort.open`;
    combine sources with :meth:`Cohort.concat`.

    Attributes
    ----------
    patients, images, events, labs, files, findings, observations, annotations, provenance
        The tables of the contract (see ``docs/data-dictionary.md``). A cohort opened with
        :meth:`open` reads ``files`` and ``findings`` when first accessed (see
        :meth:`unread_tables`); to the user they are DataFrames like the others.

    Notes
    -----
    :meth:`filter` and :meth:`select` keep the tables' row positions and codes with the cohort
    (computed once, on first use), so filtering again is fast. Assigning a table
    (``cohort.images = new_frame``) drops them; change a table by assigning a new DataFrame,
    not in place. Two cohorts compare equal only when they are the same object (compare
    tables with :func:`pandas.testing.assert_frame_equal`).

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
    observations: pd.DataFrame = field(default_factory=lambda: schema.empty("observations"))
    annotations: pd.DataFrame = field(default_factory=lambda: schema.empty("annotations"))
    provenance: pd.DataFrame = field(default_factory=lambda: schema.empty("provenance"))

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
        """Pickle (and copy) the tables themselves, reading deferred ones first (the kept
        row positions are not pickled: they are rebuilt on first use)."""
        state = {**self.__dict__, **self.tables()}
        state.pop(_ARRAYS, None)
        return state

    def _rows(self, name: str) -> int:
        """Row count of a table, without reading it when its file's footer says."""
        value = self.__dict__.get(name)
        if isinstance(value, _Deferred) and not value.done and value.rows is not None:
            return value.rows
        return len(getattr(self, name))

    def validate(self) -> Cohort:
        """Check every table against the schema and the references between tables.

        Every column the schema declares with ``references`` (and not ``may_dangle``) must
        name rows that exist: ``images.patient_uid`` a patient of ``patients``,
        ``labs.image_uid`` an image of ``images``, ...

        Raises
        ------
        covidimg.schema.SchemaError
            Naming the table, column and values that break the contract.
        """
        for name, frame in self.tables().items():
            schema.validate(name, frame)
        for table in schema.TABLES.values():
            for col in table.references:
                if col.may_dangle:
                    continue
                target, key = col.referenced  # type: ignore[misc]
                dangling = _dangling(getattr(self, table.name)[col.name],
                                     getattr(self, target)[key])
                if dangling:
                    raise schema.SchemaError(
                        f"{table.name}.{col.name} refers to {target} not in the {target} "
                        f"table: {dangling[:10]}; drop those {table.name} rows or add the "
                        f"missing {target}")
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
        source's ``data.csv`` in ``files``, its source-level ``findings``, the ``provenance``
        rows): such a row equal in every column to one of an earlier part is kept once.

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
        """Counts per source: patients, images, lab values, files by status, findings,
        observations and annotations.

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
        parts["observations"] = count(self.observations)
        parts["annotations"] = count(self.annotations)
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
        lab_match: LabMatch = "overlap",
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
        return self.select(Criteria(
            source=source, patient_uid=patient_uid, sex=sex, age=age,
            covid_status=covid_status, icu=icu, died=died, site=site, modality=modality,
            view=view, day=day, labs=labs, lab_match=lab_match)).subset()

    def select(self, criteria: Criteria | None = None, /, **kwargs: Any) -> Selection:
        """The rows that match ``criteria`` (or the keywords of :meth:`filter`), as masks.

        A :class:`~covidimg.cohort.Selection` holds which patients and images are kept;
        its ``subset()`` is the cohort :meth:`filter` returns, and the analyses of
        :mod:`covidimg.stats` take it in place of a cohort without building its tables. With
        no criteria it is the selection of everything.

        Examples
        --------
        >>> import covidimg as ci
        >>> ci.Cohort().select(sex="F").n_patients
        0
        """
        if criteria is None:
            criteria = Criteria(**kwargs)
        elif kwargs:
            raise TypeError("select: pass a Criteria or keywords, not both")
        return select(self._arrays(), criteria)

    def _arrays(self) -> CohortArrays:
        """The row positions and codes of this cohort, built on first use and kept."""
        arrays = self.__dict__.get(_ARRAYS)
        if arrays is None or not arrays.matches(self):
            arrays = self.__dict__[_ARRAYS] = CohortArrays(self)
        return arrays

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
        return save_tables(self.tables(), directory)

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
            file is missing, unreadable, its row count differs from the manifest's, or it
            holds a value the schema refuses (outside the allowed values or pattern, missing
            where not nullable). A deferred table whose data is damaged raises it when first
            accessed; a key repeated in ``patients`` or ``images``, or a reference naming a
            row that does not exist, raises it when the relation is first used (a filter,
            the dashboard, :meth:`select`), which keeps opening as fast as reading the files.
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
        cohort = cls(**open_tables(directory, lazy))
        cohort.__dict__[OPENED_FROM] = os.fspath(directory)
        return cohort


def _table_attribute(name: str) -> property:
    """Table ``name``'s attribute; assigning it drops the cohort's kept row positions."""
    table = _table_property(name)

    def set(self: Cohort, value: pd.DataFrame | _Deferred) -> None:
        self.__dict__.pop(_ARRAYS, None)
        assert table.fset is not None
        table.fset(self, value)

    return property(table.fget, set, doc=table.__doc__)


for _name in schema.TABLE_NAMES:
    setattr(Cohort, _name, _table_attribute(_name))


def _without_earlier_rows(frames: list[pd.DataFrame], owner: str | None) -> list[pd.DataFrame]:
    """Drop from each frame the rows without an ``owner`` (every row, when ``owner`` is
    ``None``) that equal, in every column, a row of an earlier frame.

    Rows with an owner are never shared by parts (their keys would clash); rows repeated
    within one frame are kept: only copies across parts are dropped.
    """
    seen: set[int] = set()
    out = []
    for frame in frames:
        if not len(frame):
            ownerless = np.empty(0, dtype=np.intp)
        elif owner is None:
            ownerless = np.arange(len(frame))
        else:
            ownerless = np.flatnonzero(frame[owner].isna().to_numpy(dtype=bool))
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

