"""Helpers shared by the analyses: per-patient key days, group labels, lab selection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from covidimg import schema

if TYPE_CHECKING:
    from covidimg.cohort import Cohort

__all__ = ["GROUPINGS", "group_labels", "lab_values", "patient_days"]

#: Groupings with clinician-readable labels; any other column of ``patients`` also works.
GROUPINGS = ("icu", "died", "sex", "source", "covid_status", "site")

_BOOL_LABELS = {
    "icu": ("ICU", "no ICU"),
    "died": ("died", "survived"),
}
UNKNOWN = "unknown"
ALL = "all patients"

#: Point events whose first occurrence gives the patient's key day.
KEY_EVENTS = ("admission", "icu_admission", "icu_release", "death", "discharge")


def positions(keys: pd.Series | np.ndarray, universe: pd.Index | pd.Series | np.ndarray
              ) -> np.ndarray:
    """Position of each key in ``universe`` (-1 when absent or missing), hashing once.

    Text keys go through pyarrow's ``index_in`` (pandas' Arrow-string look-ups are far slower
    on 100,000 rows); anything else through :meth:`pandas.Index.get_indexer`.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.stats._common import positions
    >>> positions(pd.Series(["b", None, "z", "a"]), pd.Index(["a", "b"])).tolist()
    [1, -1, -1, 0]
    """
    try:
        found = pc.index_in(pa.array(keys, from_pandas=True),
                            value_set=pa.array(universe, from_pandas=True))
        return np.asarray(found.fill_null(-1), dtype=np.int64)
    except (TypeError, pa.ArrowException):
        keys = pd.Series(keys).astype(object)
        values = np.asarray(universe, dtype=object)
        out = pd.Index(values).get_indexer(keys.to_numpy()).astype(np.int64)
        out[keys.isna().to_numpy()] = -1
        return out


def per_group_extreme(pos: np.ndarray, values: np.ndarray, n: int, how: str) -> np.ndarray:
    """Per-group min or max of ``values`` (NaN for a group without a finite-or-inf value)."""
    keep = (pos >= 0) & ~np.isnan(values)
    out = np.full(n, np.inf if how == "min" else -np.inf)
    (np.minimum if how == "min" else np.maximum).at(out, pos[keep], values[keep])
    seen = np.zeros(n, dtype=bool)
    seen[pos[keep]] = True
    out[~seen] = np.nan
    return out


def patient_days(cohort: Cohort) -> pd.DataFrame:
    """Key days of every patient on the cohort's day axis.

    Returns a DataFrame indexed by ``patient_uid`` with the first ``admission``,
    ``icu_admission``, ``death`` and ``discharge`` day, the last ``icu_release`` day, the first and
    last exam day, ``n_exams``, ``first_known`` / ``last_known`` (min / max over exam, event and
    lab days: the observation window) and ``admission_known``. Days are NaN when unknown.

    Examples
    --------
    >>> import covidimg as ci
    >>> ci.stats.patient_days(ci.Cohort()).shape[0]
    0
    """
    uids = pd.Index(cohort.patients["patient_uid"].astype(str), name="patient_uid")
    n = len(uids)
    out = pd.DataFrame(index=uids)
    events = cohort.events
    ev_pos = positions(events["patient_uid"], uids)
    ev_day = events["day"].to_numpy(dtype=float)
    ev_kind = events["event"].astype(str).to_numpy()
    for name in KEY_EVENTS:
        rows = ev_kind == name
        out[name] = per_group_extreme(ev_pos[rows], ev_day[rows], n,
                            "max" if name == "icu_release" else "min")
    images = cohort.images
    im_pos = positions(images["patient_uid"], uids)
    im_day = images["day"].to_numpy(dtype=float)
    out["first_exam"] = per_group_extreme(im_pos, im_day, n, "min")
    out["last_exam"] = per_group_extreme(im_pos, im_day, n, "max")
    out["n_exams"] = np.bincount(im_pos[im_pos >= 0], minlength=n).astype(int)
    lab_pos = positions(cohort.labs["patient_uid"], uids)
    lab_day = cohort.labs["day"].to_numpy(dtype=float)
    all_pos = np.concatenate([im_pos, ev_pos, lab_pos])
    all_day = np.concatenate([im_day, ev_day, lab_day])
    out["first_known"] = per_group_extreme(all_pos, all_day, n, "min")
    out["last_known"] = per_group_extreme(all_pos, all_day, n, "max")
    out["admission_known"] = out["admission"].notna()
    return out


def group_labels(patients: pd.DataFrame, by: str | None) -> pd.Series:
    """Label every patient with its group, as text a clinician reads without a legend.

    ``by=None`` puts everyone in ``"all patients"``; ``"icu"`` gives ``ICU`` / ``no ICU``,
    ``"died"`` gives ``died`` / ``survived``; other columns keep their values. Missing values
    become ``"unknown"``. The result is indexed by ``patient_uid``.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.stats import group_labels
    >>> p = pd.DataFrame({"patient_uid": ["a", "b", "c"], "icu": [True, False, None]})
    >>> group_labels(p, "icu").tolist()
    ['ICU', 'no ICU', 'unknown']
    """
    index = pd.Index(patients["patient_uid"].astype(str), name="patient_uid")
    if by is None:
        return pd.Series(ALL, index=index, name="group", dtype=object)
    if by not in patients.columns:
        raise ValueError(
            f"by={by!r} is not a column of the patients table; use one of {list(GROUPINGS)} "
            f"or another patients column ({list(patients.columns)})"
        )
    values = patients[by]
    if by in _BOOL_LABELS:
        yes, no = _BOOL_LABELS[by]
        flags = values.astype("boolean")
        labels = np.where(flags.isna().to_numpy(), UNKNOWN,
                          np.where(flags.fillna(False).to_numpy(dtype=bool), yes, no))
        return pd.Series(labels, index=index, name="group", dtype=object)
    text = values.astype(object).where(values.notna(), UNKNOWN).astype(str)
    if by == "sex":
        text = text.replace({"U": UNKNOWN})
    return pd.Series(text.to_numpy(), index=index, name="group", dtype=object)


def group_order(labels: pd.Series) -> list[str]:
    """Groups in display order: known groups sorted, ``unknown`` last."""
    names = sorted({str(v) for v in pd.unique(np.asarray(labels, dtype=object))} - {UNKNOWN})
    return names + ([UNKNOWN] if (labels == UNKNOWN).any() else [])


def check_analyte(cohort: Cohort, analyte: str) -> schema.Analyte | None:
    """Raise a helpful error when ``analyte`` is neither measured nor known."""
    present = {str(v) for v in cohort.labs["analyte"].unique()}
    if analyte not in present and analyte not in schema.ANALYTES:
        raise ValueError(
            f"analyte={analyte!r} is unknown; analytes measured in this cohort are "
            f"{sorted(present)}, the schema knows {sorted(schema.ANALYTES)}"
        )
    return schema.ANALYTES.get(analyte)


def lab_values(cohort: Cohort, analyte: str, *, by: str | None = None, dedupe: bool = True,
               per_patient: str = "all") -> pd.DataFrame:
    """The measurements of one analyte, optionally one per patient, labelled with a group.

    Parameters
    ----------
    cohort
        The cohort.
    analyte
        Analyte name (see :func:`covidimg.schema.analyte_table`).
    by
        Patients column to group by (see :func:`group_labels`).
    dedupe
        Keep one row per ``(patient_uid, analyte, day, lower, upper)``. Sources that repeat a
        draw on every exam it is attached to (MHH) would otherwise count it several times.
    per_patient
        ``"all"`` keeps every draw (draws of one patient are then not independent);
        ``"first"`` keeps each patient's earliest draw; ``"peak"`` keeps the highest, as the
        interval ``[max lower, max upper)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_uid, analyte, unit, lower, upper, censor, day, group`` (one row per
        draw kept), with float bounds.

    Examples
    --------
    >>> import covidimg as ci
    >>> ci.stats.lab_values(ci.load_demo(), "crp", by="icu", per_patient="first")  # doctest: +SKIP
    """
    allowed = ("all", "first", "peak")
    if per_patient not in allowed:
        raise ValueError(f"per_patient={per_patient!r}; allowed values are {list(allowed)}")
    check_analyte(cohort, analyte)
    labs = cohort.labs
    rows = labs.loc[(labs["analyte"] == analyte).fillna(False).to_numpy(dtype=bool),
                    ["patient_uid", "analyte", "unit", "lower", "upper", "censor", "day"]]
    rows = rows.astype({"patient_uid": str, "analyte": str, "unit": str, "censor": str})
    if dedupe:
        rows = rows.drop_duplicates(["patient_uid", "analyte", "day", "lower", "upper"])
    if per_patient == "first":
        rows = (rows.sort_values(["patient_uid", "day"], kind="stable", na_position="last")
                .drop_duplicates("patient_uid"))
    elif per_patient == "peak":
        rows = rows.groupby("patient_uid", as_index=False, sort=False).agg(
            analyte=("analyte", "first"), unit=("unit", "first"), lower=("lower", "max"),
            upper=("upper", "max"), censor=("censor", "first"), day=("day", "min"))
        rows["censor"] = censor_of(rows["lower"].to_numpy(), rows["upper"].to_numpy())
    labels = group_labels(cohort.patients, by)
    where = positions(rows["patient_uid"], labels.index)
    rows = rows.assign(group=np.where(where >= 0, labels.to_numpy(dtype=object)[where],
                                      UNKNOWN))
    return rows.reset_index(drop=True)


def censor_of(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The censoring kind of each interval: none, left, right or interval."""
    return np.select(
        [lower == upper, np.isneginf(lower), np.isposinf(upper)],
        ["none", "left", "right"], default="interval").astype(object)


def as_bounds(lower: object, upper: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate interval bounds and return them as float arrays.

    Raises
    ------
    ValueError
        Naming the offending positions and values when the arrays differ in length, hold NaN,
        or a lower bound exceeds its upper bound.
    """
    lo = np.asarray(lower, dtype=float).ravel()
    hi = np.asarray(upper, dtype=float).ravel()
    if lo.shape != hi.shape:
        raise ValueError(f"lower has {lo.size} values but upper has {hi.size}; pass one "
                         "interval per value")
    bad = np.flatnonzero(np.isnan(lo) | np.isnan(hi))
    if bad.size:
        raise ValueError(f"interval bounds are NaN at positions {bad[:10].tolist()}; drop "
                         "missing measurements first (a censored bound is -inf/inf, not NaN)")
    bad = np.flatnonzero(lo > hi)
    if bad.size:
        pairs = [(lo[i], hi[i]) for i in bad[:5]]
        raise ValueError(f"lower > upper at positions {bad[:10].tolist()} (e.g. {pairs}); "
                         "each interval must be [lower, upper) with lower <= upper")
    both_inf = np.flatnonzero(np.isneginf(lo) & np.isposinf(hi))
    if both_inf.size:
        raise ValueError(f"intervals (-inf, inf) at positions {both_inf[:10].tolist()} carry "
                         "no information; drop them first")
    return lo, hi
