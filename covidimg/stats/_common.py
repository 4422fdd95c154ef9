"""Helpers shared by the analyses: per-patient key days, group labels, lab selection.

Every analysis takes a cohort or a :class:`~covidimg.cohort.Selection` of one (a cohort is
the selection of everything, :func:`as_selection`), and works from the row positions the
cohort keeps (:class:`~covidimg.cohort.CohortArrays`), so the dashboard's repeated analyses
of one cohort's selections and a one-off analysis of a cohort run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from covidimg import schema
from covidimg._validation import PerPatient, check_choice, choices
from covidimg.cohort import Selection

if TYPE_CHECKING:
    from covidimg.cohort import Cohort, CohortArrays

__all__ = ["GROUPINGS", "as_selection", "group_labels", "lab_values", "patient_days"]

#: ``lab_values``' choices of values per patient.
PER_PATIENT = choices(PerPatient)

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


def as_selection(data: Cohort | Selection) -> Selection:
    """``data`` as a selection: a cohort is the selection of everything it holds."""
    return data if isinstance(data, Selection) else data.select()


def _event_is(arrays: CohortArrays) -> dict[str, np.ndarray]:
    """Events of each kind, as masks over ``events`` (kept with the cohort)."""
    def build() -> dict[str, np.ndarray]:
        kind = arrays.cohort.events["event"].astype(str).to_numpy()
        return {name: kind == name for name in schema.EVENTS}
    return arrays.derived("event_is", build)


def _event_days(arrays: CohortArrays) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Each patient's key event days, and first and last event day (kept with the cohort)."""
    def build() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        n, pos, day = arrays.n_patients, arrays.event_patient, arrays.floats("events", "day")
        kind = _event_is(arrays)
        columns = {name: per_group_extreme(pos[kind[name]], day[kind[name]], n,
                                           "max" if name == "icu_release" else "min")
                   for name in KEY_EVENTS}
        uids = pd.Index(arrays.cohort.patients["patient_uid"].astype(str), name="patient_uid")
        return (pd.DataFrame(columns, index=uids), per_group_extreme(pos, day, n, "min"),
                per_group_extreme(pos, day, n, "max"))
    return arrays.derived("event_days", build)


def _days(selection: Selection, images: np.ndarray, labs: np.ndarray) -> pd.DataFrame:
    """Key days of every patient of the cohort from the given image and lab rows."""
    a = selection.arrays
    n = a.n_patients
    event_days, event_first, event_last = _event_days(a)
    im_pos = np.where(images, a.image_patient, -1)
    lab_pos = np.where(labs, a.lab_patient, -1)
    im_day, lab_day = a.floats("images", "day"), a.floats("labs", "day")
    frame = event_days.copy()
    frame["first_exam"] = per_group_extreme(im_pos, im_day, n, "min")
    frame["last_exam"] = per_group_extreme(im_pos, im_day, n, "max")
    frame["n_exams"] = np.bincount(im_pos[im_pos >= 0], minlength=n).astype(int)
    with np.errstate(invalid="ignore"):
        frame["first_known"] = np.fmin(np.fmin(event_first, frame["first_exam"]),
                                       per_group_extreme(lab_pos, lab_day, n, "min"))
        frame["last_known"] = np.fmax(np.fmax(event_last, frame["last_exam"]),
                                      per_group_extreme(lab_pos, lab_day, n, "max"))
    frame["admission_known"] = frame["admission"].notna()
    return frame


def patient_days(data: Cohort | Selection) -> pd.DataFrame:
    """Key days of every patient on the cohort's day axis.

    Parameters
    ----------
    data
        A cohort, or a selection of one (``cohort.select(...)``: the key days of the
        patients it keeps, from the images and lab values it keeps).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``patient_uid``, with the first ``admission``, ``icu_admission``,
        ``death`` and ``discharge`` day, the last ``icu_release`` day, the first and last exam
        day, ``n_exams``, ``first_known`` / ``last_known`` (min / max over exam, event and lab
        days: the observation window) and ``admission_known``. Days are NaN when unknown.

    Examples
    --------
    >>> import covidimg as ci
    >>> ci.stats.patient_days(ci.Cohort()).shape[0]
    0
    """
    selection = as_selection(data)
    a = selection.arrays

    def build() -> pd.DataFrame:
        if selection.whole:
            return a.derived("days_whole", lambda: _days(
                selection, np.ones(a.n_images, dtype=bool), np.ones(a.cohort._rows("labs"),
                                                                    dtype=bool)))
        idx = selection.patient_index
        if selection.complete:      # every image of the kept patients: shared by such filters
            full = a.derived("days_filtered", lambda: _days(
                selection, np.ones(a.n_images, dtype=bool), a.lab_image != -1))
            return full.iloc[idx] if idx.size != a.n_patients else full
        return _days(selection, selection.images, selection.lab_rows).iloc[idx]

    return selection.derived("patient_days", build)


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


def check_analyte(data: Cohort | Selection, analyte: str) -> schema.Analyte | None:
    """Raise a helpful error when ``analyte`` is neither measured nor known."""
    present = as_selection(data).arrays.analyte_rows
    if analyte not in present and analyte not in schema.ANALYTES:
        raise ValueError(
            f"analyte={analyte!r} is unknown; analytes measured in this cohort are "
            f"{sorted(present)}, the schema knows {sorted(schema.ANALYTES)}"
        )
    return schema.ANALYTES.get(analyte)


def group_codes(arrays: CohortArrays, by: str | None) -> tuple[np.ndarray, list[str]]:
    """Each patient's :func:`group_labels` as codes and names (kept with the cohort)."""
    def build() -> tuple[np.ndarray, list[str]]:
        codes, names = pd.factorize(group_labels(arrays.cohort.patients, by).to_numpy(
            dtype=object))
        return np.asarray(codes), [str(n) for n in names]
    return arrays.derived(("groups", by), build)


class AnalyteRows:
    """The lab rows of one analyte, as arrays: their patients, days, intervals and draws.

    A *draw* is one ``(patient_uid, day, lower, upper)``: sources that attach one draw to
    several exams (MHH) repeat its row, and ``lab_values(dedupe=True)`` counts it once.
    """

    def __init__(self, arrays: CohortArrays, name: str) -> None:
        self.name = name
        self.rows = arrays.analyte_rows.get(name, np.array([], dtype=np.int64))
        self.patient = arrays.lab_patient[self.rows]
        self.key = _lab_keys(arrays)[self.rows]          # patient_uid's rank, in text order
        self.day = arrays.floats("labs", "day")[self.rows]
        self.lower = arrays.floats("labs", "lower")[self.rows]
        self.upper = arrays.floats("labs", "upper")[self.rows]
        draws = pd.DataFrame({"p": self.key, "d": self.day, "lo": self.lower, "hi": self.upper})
        # numbered in order of first appearance, so a draw's number grows with its first row
        self.draw = draws.groupby(["p", "d", "lo", "hi"], sort=False, dropna=False).ngroup(
        ).to_numpy(dtype=np.int64)
        n_draws = int(self.draw.max(initial=-1)) + 1
        self.draw_first = np.full(n_draws, self.rows.size, dtype=np.int64)
        np.minimum.at(self.draw_first, self.draw, np.arange(self.rows.size))
        # rows by patient, then day (missing days last), then cohort order
        self.first_order = np.lexsort((np.arange(self.rows.size), self.day, self.key))

    @classmethod
    def of(cls, arrays: CohortArrays, name: str) -> AnalyteRows:
        """The rows of analyte ``name`` (built on first use, kept with the cohort)."""
        return arrays.derived(("analyte", name), lambda: cls(arrays, name))


def _lab_keys(arrays: CohortArrays) -> np.ndarray:
    def build() -> np.ndarray:
        uids = arrays.cohort.labs["patient_uid"].astype(str).to_numpy(dtype=object)
        return np.asarray(pd.factorize(uids, sort=True)[0], dtype=np.int64)
    return arrays.derived("lab_keys", build)


@dataclass(eq=False)
class LabChoice:
    """The values of one analyte :func:`lab_values` keeps, as positions and arrays.

    ``rows`` are positions among the analyte's rows (:class:`AnalyteRows`): the row each
    value comes from (for ``"peak"``, the patient's first row); ``lower``, ``upper`` and
    ``day`` are the values' intervals and days (for ``"peak"`` the highest interval
    ``[max lower, max upper)`` and the first day).
    """

    analyte: AnalyteRows
    rows: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    day: np.ndarray
    per_patient: PerPatient

    @property
    def patient(self) -> np.ndarray:
        """Cohort position of each value's patient (-1: not in ``patients``)."""
        return self.analyte.patient[self.rows]

    @property
    def key(self) -> np.ndarray:
        """Rank of each value's ``patient_uid`` (counts patients missing from ``patients``)."""
        return self.analyte.key[self.rows]


def check_per_patient(per_patient: PerPatient) -> None:
    """Raise when ``per_patient`` is not one of :data:`PER_PATIENT`."""
    check_choice(per_patient, PerPatient, "per_patient")


def choose_lab_values(selection: Selection, analyte: str, *, dedupe: bool = True,
                      per_patient: PerPatient = "all") -> LabChoice:
    """The values of ``analyte`` the selection keeps, chosen as :func:`lab_values` documents
    (the one place that decides which values count)."""
    check_per_patient(per_patient)
    a = AnalyteRows.of(selection.arrays, analyte)
    keep = selection.lab_rows[a.rows]
    if per_patient == "all":
        if dedupe:      # each draw once, from its first row (the rows of a draw share it all)
            present = np.flatnonzero(np.bincount(a.draw[keep], minlength=a.draw_first.size))
            rows = a.draw_first[present]
        else:
            rows = np.flatnonzero(keep)
        return LabChoice(a, rows, a.lower[rows], a.upper[rows], a.day[rows], per_patient)
    if per_patient == "first":
        ordered = a.first_order[keep[a.first_order]]
        key = a.key[ordered]
        first = np.r_[True, key[1:] != key[:-1]] if key.size else np.array([], dtype=bool)
        rows = ordered[first]
        return LabChoice(a, rows, a.lower[rows], a.upper[rows], a.day[rows], per_patient)
    chosen = np.flatnonzero(keep)
    peaks = pd.DataFrame({"k": a.key[chosen], "lo": a.lower[chosen], "hi": a.upper[chosen],
                          "d": a.day[chosen], "r": chosen}).groupby("k", sort=False).agg(
        lo=("lo", "max"), hi=("hi", "max"), d=("d", "min"), r=("r", "first"))
    return LabChoice(a, peaks["r"].to_numpy(dtype=np.int64), peaks["lo"].to_numpy(dtype=float),
                     peaks["hi"].to_numpy(dtype=float), peaks["d"].to_numpy(dtype=float),
                     per_patient)


def lab_values(data: Cohort | Selection, analyte: str, *, by: str | None = None,
               dedupe: bool = True, per_patient: PerPatient = "all") -> pd.DataFrame:
    """The measurements of one analyte, optionally one per patient, labelled with a group.

    Parameters
    ----------
    data
        The cohort, or a selection of one.
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
    check_per_patient(per_patient)
    selection = as_selection(data)
    labs = selection.arrays.cohort.labs
    check_analyte(selection, analyte)
    choice = choose_lab_values(selection, analyte, dedupe=dedupe, per_patient=per_patient)
    source = choice.analyte.rows[choice.rows]
    codes, names = group_codes(selection.arrays, by)
    patient = choice.patient
    group = np.array([*names, UNKNOWN], dtype=object)[
        np.where(patient >= 0, codes[np.maximum(patient, 0)], len(names))]
    censor = (censor_of(choice.lower, choice.upper) if per_patient == "peak" else
              labs["censor"].to_numpy(dtype=object)[source])
    return pd.DataFrame({
        "patient_uid": labs["patient_uid"].astype(str).to_numpy(dtype=object)[source],
        "analyte": analyte, "unit": labs["unit"].astype(str).to_numpy(dtype=object)[source],
        "lower": choice.lower, "upper": choice.upper, "censor": censor.astype(str),
        "day": choice.day, "group": group})


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
