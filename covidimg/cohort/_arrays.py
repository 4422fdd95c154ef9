"""A cohort's rows as integer positions and codes, computed once per cohort, on first use.

The filter (:mod:`covidimg.cohort._query`) and the analyses of :mod:`covidimg.stats` work on
these arrays instead of hashing text on every call: each row of a table that references
another (``images.patient_uid`` -> ``patients``, ``labs.image_uid`` -> ``images``, as
:mod:`covidimg.schema` declares with ``references``) knows the *position* of the row it
references, and the columns a filter chooses from are small integer codes. Everything is
computed on first use, so one ``cohort.filter(sex="F")`` pays only for what it reads.

A :class:`~covidimg.Cohort` keeps its arrays (see ``Cohort.select``) until one of its tables
is assigned anew; a table changed in place (``cohort.images["day"] = ...``) is not noticed
unless its length changes, so assign a new DataFrame instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from covidimg import schema
from covidimg.errors import CohortFileError

if TYPE_CHECKING:
    from covidimg.cohort._model import Cohort

__all__ = ["NA", "OPENED_FROM", "CohortArrays", "follow", "row_positions"]

#: Where a cohort opened with ``Cohort.open`` keeps the folder it came from (in its
#: ``__dict__``): its relations are checked on first use (:meth:`CohortArrays.positions`).
OPENED_FROM = "_opened_from"

#: Position of a row whose reference is missing (it references nothing); a reference to a row
#: the referenced table does not hold is -1.
NA = -2

T = TypeVar("T")


def row_positions(keys: pd.Series, universe: pd.Series) -> np.ndarray:
    """Position of each key in ``universe``: -1 when absent, :data:`NA` when missing.

    Text goes through pyarrow's hash-based ``index_in`` (pandas looks Arrow strings up one
    by one); anything else through :meth:`pandas.Index.get_indexer`.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.cohort._arrays import row_positions
    >>> row_positions(pd.Series(["b", None, "z"]), pd.Series(["a", "b"])).tolist()
    [1, -2, -1]
    """
    try:
        found = pc.index_in(_arrow_text(keys), value_set=_arrow_text(universe))
        out = np.asarray(found.fill_null(-1), dtype=np.int64)
    except (TypeError, pa.ArrowException):
        index = pd.Index(universe.astype(object).to_numpy())
        out = index.get_indexer(keys.astype(object).to_numpy()).astype(np.int64)
    out[keys.isna().to_numpy()] = NA
    return out


def _arrow_text(series: pd.Series) -> pa.Array:
    """``series`` as one Arrow text array (no copy of Arrow-backed strings); raises
    :class:`TypeError` for anything but text."""
    values = pa.array(series, from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_null(values.type):
        return values.cast(pa.large_string())
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        raise TypeError(f"not text: {values.type}")
    return values.cast(pa.large_string())


def follow(positions: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Rows whose referenced row is kept; rows whose reference is missing (:data:`NA`) too.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.cohort._arrays import NA, follow
    >>> follow(np.array([0, 1, NA, -1]), np.array([True, False])).tolist()
    [True, False, True, False]
    """
    out = positions == NA
    present = positions >= 0
    out[present] = kept[positions[present]]
    return out


def _damaged(cohort: Cohort, problem: str) -> CohortFileError:
    folder = cohort.__dict__.get(OPENED_FROM)
    return CohortFileError(f"{folder}: {problem}; the saved cohort is damaged or was changed "
                           "by hand: save it again from its source")


def _codes(series: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    """Integer codes of a column (-1 missing) and the code of each value, as text."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes, uniques = series.cat.codes.to_numpy(), series.cat.categories
    else:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), {str(u): i for i, u in enumerate(uniques)}


class CohortArrays:
    """Positions and codes of one cohort's rows, each computed on first use and kept.

    Parameters
    ----------
    cohort
        The cohort (not modified; see the module's note on changing its tables).

    Attributes
    ----------
    n_patients, n_images
        Rows of ``patients`` and ``images``.
    """

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        self.n_patients = len(cohort.patients)
        self.n_images = len(cohort.images)
        self._lengths = {name: cohort._rows(name)
                         for name in ("patients", "images", "events", "labs")}
        self._positions: dict[tuple[str, str], np.ndarray] = {}
        self._codes: dict[tuple[str, str], tuple[np.ndarray, dict[str, int]]] = {}
        self._derived: dict[Any, Any] = {}
        self._unique_keys: set[str] = set()
        self._lock = threading.RLock()

    def matches(self, cohort: Cohort) -> bool:
        """Whether these arrays still describe ``cohort`` (same object, same table lengths)."""
        return self.cohort is cohort and all(
            cohort._rows(name) == n for name, n in self._lengths.items())

    # ------------------------------------------------------------------ references
    def positions(self, table: str, column: str) -> np.ndarray:
        """Position of the row each row of ``table`` references through ``column``.

        -1 when the referenced table has no such row, :data:`NA` when the value is missing.
        The referenced table and key come from the schema's ``references``.
        """
        key = (table, column)
        if key not in self._positions:
            target = schema.TABLES[table].column(column).referenced
            if target is None:
                declared = [f"{t.name}.{c.name}" for t in schema.TABLES.values()
                            for c in t.references]
                raise ValueError(f"{table}.{column} references no table; the columns that "
                                 f"do are {declared}")
            frame, other = getattr(self.cohort, table), getattr(self.cohort, target[0])
            with self._lock:
                found = row_positions(frame[column], other[target[1]])
                if self.cohort.__dict__.get(OPENED_FROM) is not None:
                    self._check_opened(table, column, frame[column], found)
                self._positions[key] = found
        return self._positions[key]

    def _check_opened(self, table: str, column: str, values: pd.Series,
                      found: np.ndarray) -> None:
        """Refuse a saved cohort whose relation ``table.column`` is broken: a key of the table
        it references that appears twice, or a value naming no row (unless it may dangle).

        A cohort built by :func:`covidimg.load` was validated whole; a saved one is checked
        here, the first time a relation is used (a filter, the dashboard), so opening stays as
        fast as reading the files."""
        col = schema.TABLES[table].column(column)
        target, key = col.referenced  # type: ignore[misc]
        if target not in self._unique_keys:
            keys = getattr(self.cohort, target)[key]
            try:
                distinct = len(pc.unique(_arrow_text(keys)))
            except (TypeError, pa.ArrowException):
                distinct = keys.nunique(dropna=False)
            if distinct != len(keys):
                repeated = keys[keys.duplicated()].drop_duplicates().head(5).tolist()
                raise _damaged(self.cohort, f"{target}.{key} repeats the keys {repeated}")
            self._unique_keys.add(target)
        if not col.may_dangle and (found == -1).any():
            missing = values[found == -1].drop_duplicates().head(5).tolist()
            raise _damaged(self.cohort, f"{table}.{column} names {missing} that {target} does "
                           "not hold")

    @property
    def image_patient(self) -> np.ndarray:
        """Position of each image's patient."""
        return self.positions("images", "patient_uid")

    @property
    def event_patient(self) -> np.ndarray:
        """Position of each event's patient."""
        return self.positions("events", "patient_uid")

    @property
    def lab_patient(self) -> np.ndarray:
        """Position of each lab row's patient."""
        return self.positions("labs", "patient_uid")

    @property
    def lab_image(self) -> np.ndarray:
        """Position of each lab row's image (:data:`NA`: attached to no image)."""
        return self.positions("labs", "image_uid")

    @cached_property
    def image_valid(self) -> np.ndarray:
        """Images whose patient is in ``patients``."""
        return self.image_patient >= 0

    # ------------------------------------------------------------------ values
    def codes(self, table: str, column: str) -> tuple[np.ndarray, dict[str, int]]:
        """``column`` of ``table`` as integer codes (-1 missing) and the code of each value."""
        key = (table, column)
        if key not in self._codes:
            with self._lock:
                self._codes[key] = _codes(getattr(self.cohort, table)[column])
        return self._codes[key]

    def floats(self, table: str, column: str) -> np.ndarray:
        """A numeric column as a float array (kept)."""
        return self.derived(("floats", table, column), lambda: getattr(
            self.cohort, table)[column].to_numpy(dtype=float))

    def flag(self, column: str, table: str = "patients") -> tuple[np.ndarray, np.ndarray]:
        """A yes/no column of ``table`` as (value, missing) boolean arrays (all missing when a
        cohort lacks the optional column)."""
        def build() -> tuple[np.ndarray, np.ndarray]:
            frame = getattr(self.cohort, table)
            if column not in frame.columns:
                return np.zeros(len(frame), dtype=bool), np.ones(len(frame), dtype=bool)
            values = frame[column]
            return (values.astype("boolean").fillna(False).to_numpy(dtype=bool),
                    values.isna().to_numpy())
        return self.derived(("flag", table, column), build)

    @cached_property
    def analyte_rows(self) -> dict[str, np.ndarray]:
        """Rows of ``labs`` of each analyte measured."""
        codes, lookup = self.codes("labs", "analyte")
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(lookup) + 1))
        rows = {name: order[bounds[k]:bounds[k + 1]] for name, k in lookup.items()}
        return {name: rows[name] for name in sorted(rows) if rows[name].size}

    def derived(self, key: Any, build: Callable[[], T]) -> T:
        """``build()``, computed once for this cohort and kept under ``key`` (for analyses
        that derive their own arrays from these)."""
        try:
            return self._derived[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._derived:
                self._derived[key] = build()
            return self._derived[key]
