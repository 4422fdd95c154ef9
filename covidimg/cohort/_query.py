"""The one filter engine: :class:`Criteria` -> :class:`Selection` -> a filtered cohort.

:class:`Criteria` holds the criteria of :meth:`covidimg.Cohort.filter`, checked once when
made. :func:`select` applies them to a cohort's :class:`~covidimg.cohort._arrays.CohortArrays`
(integer positions and codes, computed once per cohort) with numpy masks, and returns a
:class:`Selection`: which patients and which images are kept. The rows of the other tables
follow the rows they reference, as the schema declares (``references``), and
:meth:`Selection.subset` builds the filtered cohort's tables. The whole cohort is the selection
of everything (``cohort.select()``); the analyses of :mod:`covidimg.stats` take either.

Examples
--------
>>> import covidimg as ci
>>> from covidimg.cohort import Criteria
>>> cohort = ci.load_demo(n_patients=12)                             # doctest: +SKIP
>>> women = cohort.select(Criteria(sex="F", labs={"crp": (100, None)}))  # doctest: +SKIP
>>> women.n_patients, len(women.subset().patients)                   # doctest: +SKIP
(3, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from covidimg import schema
from covidimg._validation import LabMatch, check_choice, choices
from covidimg.cohort._arrays import CohortArrays, follow
from covidimg.cohort._deferred import _Deferred
from covidimg.cohort._storage import LAZY_TABLES

if TYPE_CHECKING:
    from covidimg.cohort._model import Cohort

__all__ = ["LAB_MATCH", "Criteria", "Selection", "range_bounds", "select"]

#: How a lab range matches a measurement interval (see :meth:`covidimg.Cohort.filter`).
LAB_MATCH = choices(LabMatch)
#: Criteria choosing among the values of a column: (criterion, table).
CHOICES = (("source", "patients"), ("patient_uid", "patients"), ("sex", "patients"),
           ("covid_status", "patients"), ("site", "patients"), ("split", "patients"),
           ("modality", "images"), ("view", "images"), ("exam", "images"))
#: Yes/no criteria: (criterion, table).
FLAGS = (("icu", "patients"), ("died", "patients"), ("pre_encounter", "images"))
#: Criteria on images: when one is given, only patients with a matching image are kept.
IMAGE_CRITERIA = ("modality", "view", "exam", "day", "pre_encounter")
#: Annotation schemes documented in the schema; a ``severity`` range may name these or any
#: scheme the cohort holds.
SCORE_SCHEMES = ("rale", "mrale", "nccid_cxr_severity")

T = TypeVar("T")

Range = tuple[float | None, float | None]


def range_bounds(bounds: Any, name: str) -> tuple[float, float]:
    """``(low, high)`` with ``None`` for an open end -> floats; errors name the argument.

    Examples
    --------
    >>> from covidimg.cohort import range_bounds
    >>> range_bounds((None, 5), "day")
    (-inf, 5.0)
    """
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ValueError(f"{name}={bounds!r}: expected a (low, high) pair; use None for an "
                         "open end") from None
    try:
        low = -np.inf if low is None else float(low)
        high = np.inf if high is None else float(high)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={bounds!r}: the ends must be numbers or None") from None
    if np.isnan(low) or np.isnan(high):
        raise ValueError(f"{name}={bounds!r}: an end is NaN; use None for an open end")
    if low > high:
        raise ValueError(f"{name}={bounds!r}: low is greater than high")
    return low, high


def _severity_pairs(severity: Any) -> tuple[tuple[str | None, tuple[float, float]], ...]:
    """``(low, high)`` or ``{scheme: (low, high)}`` -> ``((scheme or None, (low, high)), ...)``,
    the ranges checked as :func:`range_bounds` checks a lab range."""
    if isinstance(severity, Mapping):
        return tuple((str(scheme), range_bounds(bounds, f"severity[{scheme!r}]"))
                     for scheme, bounds in severity.items())
    return ((None, range_bounds(severity, "severity")),)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, str | bool) or not isinstance(value, Iterable):
        return (value,)
    return tuple(value)


@dataclass(frozen=True)
class Criteria:
    """The criteria of :meth:`covidimg.Cohort.filter`, checked once when made.

    Every field defaults to ``None`` (no criterion). Choices (``source``, ``patient_uid``,
    ``sex``, ``covid_status``, ``site``, ``split``, ``modality``, ``view``, ``exam``) take a
    value or a list of values ("any of") and are stored as a tuple of text; a value outside the
    schema's allowed values raises. ``annotation`` (annotation labels, "any of") is stored the
    same way; its vocabulary is open (each scheme has its own). Yes/no criteria (``icu``,
    ``died``, ``pre_encounter``) take a bool. Ranges (``age``, ``day``, each ``labs`` analyte
    and ``severity``) take ``(low, high)`` with ``None`` for an open end and are stored as
    floats (``-inf``/``inf``); ``labs`` is stored as a tuple of ``(analyte, (low, high))``
    pairs and ``severity`` as a tuple of ``(scheme, (low, high))`` pairs (scheme ``None``: a
    score of any scheme), so criteria are hashable.

    Raises
    ------
    ValueError
        Naming the criterion, the value, and the allowed values or the expected form.

    Examples
    --------
    >>> from covidimg.cohort import Criteria
    >>> Criteria(sex="F", labs={"crp": (100, None)})
    Criteria(sex=('F',), labs=(('crp', (100.0, inf)),))
    >>> Criteria(sex="X")
    Traceback (most recent call last):
    ...
    ValueError: filter sex='X' is not allowed; allowed values are ['F', 'M', 'U'].
    """

    source: str | Sequence[str] | None = None
    patient_uid: str | Sequence[str] | None = None
    sex: str | Sequence[str] | None = None
    age: Range | None = None
    covid_status: str | Sequence[str] | None = None
    icu: bool | None = None
    died: bool | None = None
    site: str | Sequence[str] | None = None
    modality: str | Sequence[str] | None = None
    view: str | Sequence[str] | None = None
    exam: str | Sequence[str] | None = None
    pre_encounter: bool | None = None
    day: Range | None = None
    labs: Mapping[str, Range] | None = None
    lab_match: LabMatch = "overlap"
    split: str | Sequence[str] | None = None
    annotation: str | Sequence[str] | None = None
    severity: Range | Mapping[str, Range] | None = None
    observations: Mapping[str, str | Sequence[str]] | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name, table in CHOICES:
            wanted = getattr(self, name)
            if wanted is None:
                continue
            values = tuple(str(v) for v in _as_tuple(wanted))
            allowed = schema.TABLES[table].column(name).allowed
            if allowed is not None:
                for value in values:
                    check_choice(value, allowed, f"filter {name}")
            put(name, values)
        for name, _table in FLAGS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool | np.bool_):
                raise ValueError(f"filter {name}={value!r}: expected True, False or None")
            if value is not None:
                put(name, bool(value))
        for name in ("age", "day"):
            if getattr(self, name) is not None:
                put(name, range_bounds(getattr(self, name), name))
        check_choice(self.lab_match, LabMatch, "lab_match")
        if self.labs is not None:
            pairs = self.labs.items() if isinstance(self.labs, Mapping) else self.labs
            try:
                labs = tuple((str(analyte), range_bounds(bounds, f"labs[{analyte!r}]"))
                             for analyte, bounds in pairs)
            except (TypeError, ValueError) as exc:
                if isinstance(exc, ValueError) and str(exc).startswith("labs["):
                    raise
                raise ValueError(f"labs={self.labs!r}: expected a mapping of analyte to "
                                 "(low, high)") from None
            put("labs", labs or None)
        if self.annotation is not None:
            put("annotation", tuple(str(v) for v in _as_tuple(self.annotation)))
        if self.severity is not None:
            put("severity", _severity_pairs(self.severity))
        if self.observations is not None:
            if not isinstance(self.observations, Mapping):
                raise ValueError(f"observations={self.observations!r}: expected a mapping of "
                                 "field to value(s), e.g. {'smoking': ['current', 'former']}")
            put("observations", tuple(
                (str(name), tuple(str(v) for v in _as_tuple(values)))
                for name, values in self.observations.items()) or None)

    def __repr__(self) -> str:
        given = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                 if getattr(self, f.name) is not None and f.name != "lab_match"]
        if self.labs and self.lab_match != "overlap":
            given.append(f"lab_match={self.lab_match!r}")
        return f"Criteria({', '.join(given)})"

    @property
    def empty(self) -> bool:
        """Whether no criterion is given (the criteria select everything)."""
        return all(getattr(self, f.name) is None for f in fields(self) if f.name != "lab_match")


# ---------------------------------------------------------------------- selection
class Selection:
    """The patients and images a filter keeps, as boolean masks over a cohort's rows.

    The rows of the other tables follow the rows they reference (:meth:`rows`). Everything
    derived from the masks is computed on first use and kept with the selection, so the
    analyses of one selection share it (:meth:`derived`).

    Parameters
    ----------
    arrays
        The cohort's positions and codes (``cohort.select()`` makes selections for you).
    patients, images
        One flag per row of ``patients`` and of ``images``.
    whole
        The selection of everything (no criterion): it keeps every row, also rows whose
        reference names a row the cohort does not hold, which a filter drops.
    """

    def __init__(self, arrays: CohortArrays, patients: np.ndarray, images: np.ndarray, *,
                 whole: bool = False) -> None:
        self.arrays = arrays
        self.patients = np.asarray(patients, dtype=bool)
        self.images = np.asarray(images, dtype=bool)
        self.whole = whole
        self._derived: dict[Any, Any] = {}
        if self.patients.shape != (arrays.n_patients,) or self.images.shape != (
                arrays.n_images,):
            raise ValueError(f"a selection needs {arrays.n_patients} patient and "
                             f"{arrays.n_images} image flags; got {self.patients.shape} and "
                             f"{self.images.shape}")

    @classmethod
    def everything(cls, arrays: CohortArrays) -> Selection:
        """The selection of every row of the cohort."""
        return cls(arrays, np.ones(arrays.n_patients, dtype=bool),
                   np.ones(arrays.n_images, dtype=bool), whole=True)

    @classmethod
    def of_patients(cls, arrays: CohortArrays, patients: np.ndarray,
                    images: np.ndarray | None = None) -> Selection:
        """The selection of ``patients`` and ``images`` (default: every image of them)."""
        patients = np.asarray(patients, dtype=bool)
        if images is None:
            images = arrays.image_valid & patients[np.maximum(arrays.image_patient, 0)]
        return cls(arrays, patients, images)

    def __repr__(self) -> str:
        return (f"<Selection: {self.n_patients} of {self.arrays.n_patients} patients, "
                f"{self.n_images} of {self.arrays.n_images} images>")

    @property
    def n_patients(self) -> int:
        """Number of patients kept."""
        return int(self.patient_index.size)

    @property
    def n_images(self) -> int:
        """Number of images kept."""
        return int(self.image_index.size)

    @cached_property
    def patient_index(self) -> np.ndarray:
        """Rows of ``patients`` kept, in order."""
        return np.flatnonzero(self.patients)

    @cached_property
    def image_index(self) -> np.ndarray:
        """Rows of ``images`` kept, in order."""
        return np.flatnonzero(self.images)

    @cached_property
    def remap(self) -> np.ndarray:
        """Row among the kept patients of each cohort patient (-1: not kept), one -1 last."""
        out = np.full(self.arrays.n_patients + 1, -1, dtype=np.int64)
        out[self.patient_index] = np.arange(self.patient_index.size)
        return out

    def local(self, positions: np.ndarray) -> np.ndarray:
        """Cohort patient positions as positions among the kept patients (-1: not kept)."""
        return self.remap[np.where(positions >= 0, positions, -1)]

    @cached_property
    def complete(self) -> bool:
        """Every image of every kept patient is kept (no image criterion bit)."""
        a = self.arrays
        if self.whole:
            return True
        return bool(np.array_equal(self.images, a.image_valid & self.patients[
            np.maximum(a.image_patient, 0)]))

    def rows(self, table: str) -> np.ndarray:
        """Rows of ``table`` kept: ``patients`` and ``images`` as selected; any other table's
        rows whose every reference (schema ``references``) names a kept row or nothing."""
        if table == "patients":
            return self.patients
        if table == "images":
            return self.images

        def build() -> np.ndarray:
            refs = schema.TABLES[table].references
            n = self.arrays.cohort._rows(table)
            keep = np.ones(n, dtype=bool)
            if self.whole:
                return keep
            if table == "provenance":  # a source's rows stay while any of its patients does
                cohort = self.arrays.cohort
                kept = set(cohort.patients["source"].astype(str)[self.rows("patients")])
                return cohort.provenance["source"].astype(str).isin(kept).to_numpy(dtype=bool)
            for col in refs:
                target, _key = col.referenced  # type: ignore[misc]
                keep &= follow(self.arrays.positions(table, col.name), self.rows(target))
            return keep

        check_choice(table, schema.TABLE_NAMES, "table")
        return self.derived(("rows", table), build)

    @property
    def event_rows(self) -> np.ndarray:
        """Rows of ``events`` kept."""
        return self.rows("events")

    @property
    def lab_rows(self) -> np.ndarray:
        """Rows of ``labs`` kept."""
        return self.rows("labs")

    def derived(self, key: Any, build: Callable[[], T]) -> T:
        """``build()``, computed once for this selection and kept under ``key``."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    # ------------------------------------------------------------------ tables
    def subset(self, tables: Sequence[str] | None = None) -> Cohort:
        """A new cohort of the kept rows of every table.

        ``tables`` names the tables to fill (default: all); the others stay empty, which
        saves time when an analysis reads only some. A table the cohort has not read yet
        (``Cohort.open`` defers :data:`~covidimg.cohort.LAZY_TABLES`) is filtered when first
        read; so are those tables when read, since exploring a selection seldom needs them:
        the rows of ``files`` that belong to no image (IDC's non-image series, 671,000 of
        them in its whole index) would otherwise be copied by every filter.
        """
        cohort = self.arrays.cohort
        names = list(schema.TABLE_NAMES) if tables is None else list(tables)
        for name in names:
            check_choice(name, schema.TABLE_NAMES, "tables")
        out: dict[str, Any] = {}
        for name in names:
            value = cohort.__dict__[name]
            if isinstance(value, _Deferred) and not value.done:
                out[name] = value.then(lambda frame, name=name: _take(frame, self.rows(name)))
            elif name in LAZY_TABLES and not self.whole:
                frame = getattr(cohort, name)
                out[name] = _Deferred(lambda frame=frame, name=name:
                                      _take(frame, self.rows(name)))
            else:
                out[name] = _take(getattr(cohort, name), self.rows(name))
        return type(cohort)(**out)

    @cached_property
    def cohort(self) -> Cohort:
        """The selection's tables as a cohort: the cohort itself for the selection of
        everything, else :meth:`subset` (built on first access, then kept)."""
        return self.arrays.cohort if self.whole else self.subset()


def _take(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    if keep.all():
        return frame.reset_index(drop=True)
    return frame.iloc[np.flatnonzero(keep)].reset_index(drop=True)


# ---------------------------------------------------------------------- the engine
def select(arrays: CohortArrays, criteria: Criteria) -> Selection:
    """The :class:`Selection` of the rows that match every criterion.

    Patient criteria select patients; image criteria (``modality``, ``view``, ``day``) select
    images, and then only patients with at least one matching image stay. No criterion gives
    the selection of everything.
    """
    if criteria.empty:
        return Selection.everything(arrays)
    patients = _patient_mask(arrays, criteria)
    image_patient = arrays.image_patient
    valid = arrays.image_valid
    images = np.zeros(arrays.n_images, dtype=bool)
    images[valid] = patients[image_patient[valid]]
    for name in ("modality", "view", "exam"):
        if getattr(criteria, name) is not None:
            images &= _choice(arrays, "images", name, getattr(criteria, name))
    if criteria.pre_encounter is not None:
        value, missing = arrays.flag("pre_encounter", table="images")
        images &= (value == criteria.pre_encounter) & ~missing
    if criteria.day is not None:
        low, high = criteria.day
        day = arrays.floats("images", "day")
        with np.errstate(invalid="ignore"):
            images &= (day >= low) & (day <= high)
    if any(getattr(criteria, name) is not None for name in IMAGE_CRITERIA):
        with_images = np.zeros(arrays.n_patients, dtype=bool)
        with_images[image_patient[images & valid]] = True
        patients &= with_images
    return Selection(arrays, patients, images)


def _choice(arrays: CohortArrays, table: str, column: str, values: tuple[str, ...]
            ) -> np.ndarray:
    codes, lookup = arrays.codes(table, column)
    wanted = np.zeros(len(lookup) + 1, dtype=bool)      # the last one: missing (-1)
    wanted[[lookup[v] for v in values if v in lookup]] = True
    return wanted[codes]


def _patient_mask(arrays: CohortArrays, criteria: Criteria) -> np.ndarray:
    keep = np.ones(arrays.n_patients, dtype=bool)
    for name, table in CHOICES:
        if table == "patients" and getattr(criteria, name) is not None:
            keep &= _choice(arrays, table, name, getattr(criteria, name))
    for name, table in FLAGS:
        wanted = getattr(criteria, name)
        if wanted is not None and table == "patients":
            value, missing = arrays.flag(name)
            keep &= (value == wanted) & ~missing
    if criteria.age is not None:
        low, high = criteria.age
        with np.errstate(invalid="ignore"):
            keep &= ((arrays.floats("patients", "age_max") >= low)
                     & (arrays.floats("patients", "age_min") <= high))
    if criteria.labs:
        keep &= _lab_mask(arrays, criteria.labs, criteria.lab_match)
    if criteria.annotation is not None:
        rows = _choice(arrays, "annotations", "label", criteria.annotation)
        keep &= _owners(arrays, rows)
    if criteria.severity:
        keep &= _severity_mask(arrays, criteria.severity)
    for name, values in criteria.observations or ():
        rows = _choice(arrays, "observations", "field", (name,))
        keep &= _owners(arrays, rows & _choice(arrays, "observations", "value", values),
                        "observations")
    return keep


def _owners(arrays: CohortArrays, rows: np.ndarray, table: str = "annotations"
            ) -> np.ndarray:
    """Patients owning at least one of the ``table`` rows flagged in ``rows``."""
    patient = arrays.positions(table, "patient_uid")[rows]
    found = np.zeros(arrays.n_patients, dtype=bool)
    found[patient[patient >= 0]] = True
    return found


def _severity_mask(arrays: CohortArrays,
                   ranges: tuple[tuple[str | None, tuple[float, float]], ...]) -> np.ndarray:
    """Patients with a score annotation in each range (of its scheme, or of any scheme); a
    score matches ``[low, high]`` inclusive, as scores are whole points."""
    score = arrays.floats("annotations", "score")
    codes, lookup = arrays.codes("annotations", "scheme")
    out = np.ones(arrays.n_patients, dtype=bool)
    for scheme, (low, high) in ranges:
        if scheme is not None and scheme not in lookup and scheme not in SCORE_SCHEMES:
            raise ValueError(f"severity: unknown scheme {scheme!r}; the cohort's annotation "
                             f"schemes are {sorted(lookup)} (scored: {list(SCORE_SCHEMES)})")
        with np.errstate(invalid="ignore"):
            rows = (score >= low) & (score <= high)
        if scheme is not None:
            rows &= codes == lookup.get(scheme, -2)
        out &= _owners(arrays, rows)
    return out


def _lab_mask(arrays: CohortArrays, labs: tuple[tuple[str, tuple[float, float]], ...],
              lab_match: LabMatch) -> np.ndarray:
    measured = arrays.analyte_rows
    known = set(measured) | set(schema.ANALYTES)
    lower, upper = arrays.floats("labs", "lower"), arrays.floats("labs", "upper")
    patient = arrays.lab_patient
    out = np.ones(arrays.n_patients, dtype=bool)
    for analyte, (low, high) in labs:
        if analyte not in known:
            raise ValueError(f"labs: unknown analyte {analyte!r}; known analytes are "
                             f"{sorted(known)}")
        rows = measured.get(analyte, np.array([], dtype=np.int64))
        lo, hi = lower[rows], upper[rows]
        with np.errstate(invalid="ignore"):
            hit = (lo <= high) & (hi > low) if lab_match == "overlap" else (
                (lo >= low) & (hi <= high))
        owners = patient[rows][hit]
        found = np.zeros(arrays.n_patients, dtype=bool)
        found[owners[owners >= 0]] = True
        out &= found
    return out

