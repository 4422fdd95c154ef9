"""Filtering a cohort: the criteria of :meth:`Cohort.filter` applied to its tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from covidimg import schema

if TYPE_CHECKING:
    from covidimg.cohort._model import Cohort

__all__ = ["filter_cohort", "member", "range_bounds"]


def filter_cohort(
    cohort: Cohort,
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
    """The cohort restricted as :meth:`Cohort.filter` documents."""
    if lab_match not in ("overlap", "within"):
        raise ValueError(f"lab_match={lab_match!r}; allowed values are 'overlap', 'within'")
    patients = cohort.patients
    keep = np.ones(len(patients), dtype=bool)
    for column, wanted in (("source", source), ("patient_uid", patient_uid), ("sex", sex),
                           ("covid_status", covid_status), ("site", site)):
        if wanted is not None:
            keep &= _isin(patients[column], wanted, column, _allowed("patients", column))
    for column, wanted in (("icu", icu), ("died", died)):
        if wanted is not None:
            keep &= (patients[column] == bool(wanted)).fillna(False).to_numpy(dtype=bool)
    if age is not None:
        low, high = range_bounds(age, "age")
        keep &= ((patients["age_max"] >= low) & (patients["age_min"] <= high)).to_numpy()
    if labs:
        keep &= member(patients["patient_uid"], _patients_with_labs(cohort, labs, lab_match))
    kept_patients = patients["patient_uid"][keep]

    images = cohort.images
    image_keep = member(images["patient_uid"], kept_patients).copy()
    image_criteria = False
    for column, wanted in (("modality", modality), ("view", view)):
        if wanted is not None:
            image_criteria = True
            image_keep &= _isin(images[column], wanted, column,
                                _allowed("images", column))
    if day is not None:
        image_criteria = True
        low, high = range_bounds(day, "day")
        image_keep &= ((images["day"] >= low) & (images["day"] <= high)).to_numpy()
    kept_images = images[image_keep]
    if image_criteria:
        kept_patients = kept_patients[member(kept_patients, kept_images["patient_uid"])]
    return _restrict(cohort, kept_patients, kept_images)



def _allowed(table: str, column: str) -> tuple[str, ...] | None:
    return schema.TABLES[table].column(column).allowed

def _patients_with_labs(cohort: Cohort, labs: Mapping[str, tuple[float | None, float | None]],
                        lab_match: str) -> set[str]:
    known = set(cohort.labs["analyte"].astype(str).unique()) | set(schema.ANALYTES)
    selected: set[str] | None = None
    for analyte, bounds in labs.items():
        if analyte not in known:
            raise ValueError(f"labs: unknown analyte {analyte!r}; known analytes are "
                             f"{sorted(known)}")
        low, high = range_bounds(bounds, f"labs[{analyte!r}]")
        rows = cohort.labs[cohort.labs["analyte"] == analyte]
        if lab_match == "overlap":
            hit = (rows["lower"] <= high) & (rows["upper"] > low)
        else:
            hit = (rows["lower"] >= low) & (rows["upper"] <= high)
        uids = set(rows.loc[hit.to_numpy(dtype=bool), "patient_uid"].dropna().unique())
        selected = uids if selected is None else selected & uids
    return selected or set()

def _restrict(cohort: Cohort, patient_uids: pd.Series, images: pd.DataFrame) -> Cohort:
    patient_set = pd.Index(patient_uids.unique())
    image_set = pd.Index(images["image_uid"])
    labs = cohort.labs[member(cohort.labs["patient_uid"], patient_set)
                     & (cohort.labs["image_uid"].isna().to_numpy(dtype=bool)
                        | member(cohort.labs["image_uid"], image_set))]

    def files(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["image_uid"].isna().to_numpy(dtype=bool)
                     | member(frame["image_uid"], image_set)].reset_index(drop=True)

    def findings(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["patient_uid"].isna().to_numpy(dtype=bool)
                     | member(frame["patient_uid"], patient_set)].reset_index(drop=True)
    return type(cohort)(
        patients=cohort.patients[member(cohort.patients["patient_uid"], patient_set)]
        .reset_index(drop=True),
        images=images.reset_index(drop=True),
        events=cohort.events[member(cohort.events["patient_uid"], patient_set)]
        .reset_index(drop=True),
        labs=labs.reset_index(drop=True),
        files=cohort._deferred("files", files),
        findings=cohort._deferred("findings", findings),
    )



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


def member(series: pd.Series, values: Any) -> np.ndarray:
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

