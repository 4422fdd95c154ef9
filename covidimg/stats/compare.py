"""Compare the distribution of one lab analyte between groups of patients, respecting censoring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from covidimg import schema
from covidimg._validation import PerPatient
from covidimg.stats._common import UNKNOWN, as_bounds, group_order, lab_values
from covidimg.stats._lazy import stats
from covidimg.stats.intervals_fit import Distribution, interval_fit, turnbull, turnbull_quantile
from covidimg.stats.lab_distribution import (
    LabHistogram,
    cdf_curves,
    cdf_grid,
    lab_histogram,
    reference_interval,
)

if TYPE_CHECKING:
    from covidimg.cohort import Cohort

__all__ = ["LabComparison", "compare_labs", "gehan_scores", "gehan_test"]


def gehan_scores(lower: Sequence[float] | np.ndarray,
                 upper: Sequence[float] | np.ndarray) -> np.ndarray:
    """Gehan's scores for interval-censored values.

    Score of value ``i`` = number of values certainly below it minus number certainly above it.
    ``i`` is certainly above ``j`` when ``lower_i > upper_j``, or ``lower_i == upper_j`` and
    ``j`` is not exact (``[lower, upper)`` excludes ``upper``). Overlapping intervals tie.

    Examples
    --------
    >>> from covidimg.stats import gehan_scores
    >>> gehan_scores([1, 2, float("-inf")], [1, 3, 1.5]).tolist()
    [-1.0, 2.0, -1.0]
    """
    lo, hi = as_bounds(lower, upper)
    exact = lo == hi
    hi_sorted = np.sort(hi)
    hi_open = np.sort(hi[~exact])
    lo_sorted = np.sort(lo)
    # j below i: hi_j < lo_i, or hi_j == lo_i with j not exact
    below = (np.searchsorted(hi_sorted, lo, side="left")
             + np.searchsorted(hi_open, lo, side="right")
             - np.searchsorted(hi_open, lo, side="left"))
    # j above i: lo_j > hi_i, or lo_j == hi_i with i not exact
    n = lo.size
    above = n - np.searchsorted(lo_sorted, hi, side="right")
    ties_at_hi = (np.searchsorted(lo_sorted, hi, side="right")
                  - np.searchsorted(lo_sorted, hi, side="left"))
    above = above + np.where(exact, 0, ties_at_hi)
    return (below - above).astype(float)


def gehan_test(lower: Sequence[float] | np.ndarray, upper: Sequence[float] | np.ndarray,
               groups: Sequence[object] | np.ndarray) -> dict[str, float]:
    """Gehan's generalized Wilcoxon test for interval-censored values in two or more groups.

    The group sums of :func:`gehan_scores` are compared with their permutation distribution
    (chi-square with ``k - 1`` degrees of freedom). Assumes the values are independent (use one
    value per patient) and censoring does not depend on the group beyond the values themselves.

    Returns
    -------
    dict
        ``statistic``, ``df``, ``p_value``; ``p_value`` is NaN when fewer than two groups have
        values or all scores are zero (every interval overlaps every other).

    Examples
    --------
    >>> from covidimg.stats import gehan_test
    >>> res = gehan_test([1, 2, 3, 10, 11, 12], [1, 2, 3, 10, 11, 12], ["a"] * 3 + ["b"] * 3)
    >>> round(res["p_value"], 3)
    0.05
    """
    scores = gehan_scores(lower, upper)
    labels = np.asarray(groups, dtype=object)
    if labels.size != scores.size:
        raise ValueError(f"groups has {labels.size} labels for {scores.size} values")
    names, codes = np.unique(labels.astype(str), return_inverse=True)
    k, n = names.size, scores.size
    total = float(np.sum(scores**2))
    if k < 2 or n < 3 or total == 0:
        return {"statistic": np.nan, "df": float(max(k - 1, 0)), "p_value": np.nan}
    sums = np.bincount(codes, weights=scores, minlength=k)
    counts = np.bincount(codes, minlength=k).astype(float)
    cov = total / (n - 1) * (np.diag(counts) - np.outer(counts, counts) / n)
    t, v = sums[:-1], cov[:-1, :-1]
    statistic = float(t @ np.linalg.solve(v, t))
    return {"statistic": statistic, "df": float(k - 1),
            "p_value": float(stats.chi2.sf(statistic, k - 1))}


@dataclass(eq=False)
class LabComparison:
    """The result of :func:`compare_labs`.

    Attributes
    ----------
    analyte, unit, by
        What was compared, its canonical unit and the grouping.
    values
        The measurements used (one row per value, with ``group``).
    groups
        One row per group: counts, censoring, Turnbull median and quartiles, fitted parameters
        (``mu``, ``sigma``, their confidence intervals, ``fit_median``: the fitted
        distribution's median), ``fit_note``.
    tests
        One row per test with ``statistic``, ``df``, ``p_value``, ``accounts_for_censoring``,
        ``primary`` (the test to report) and ``note``.
    dist, per_patient
        The parametric family fitted and which values per patient were used.
    curves
        The cumulative distribution per group, as points to draw: ``group``, ``curve``
        (``"turnbull"``: the Turnbull estimate at its steps; ``"fit"``: the fitted CDF),
        ``x``, ``cdf`` (see :func:`covidimg.stats.lab_distribution.cdf_curves`).
    histogram
        The values per group spread over their intervals on shared bins
        (:func:`covidimg.stats.lab_histogram`).
    """

    analyte: str
    unit: str
    by: str | None
    values: pd.DataFrame
    groups: pd.DataFrame
    tests: pd.DataFrame
    dist: Distribution
    per_patient: PerPatient
    curves: pd.DataFrame
    histogram: LabHistogram

    @property
    def reference(self) -> tuple[float, float]:
        """The analyte's reference interval (``-inf`` / ``inf`` for one-sided ones)."""
        return reference_interval(self.analyte)

    @property
    def primary_test(self) -> pd.Series | None:
        """The row of :attr:`tests` to report, or None when it has no p-value."""
        primary = self.tests[self.tests["primary"]]
        if len(primary) and np.isfinite(primary["p_value"].iloc[0]):
            return primary.iloc[0]
        return None


def _group_row(name: str, rows: pd.DataFrame, dist: str,
               grid: np.ndarray) -> tuple[dict[str, object], pd.DataFrame]:
    """One group's row of :attr:`LabComparison.groups` and its CDF curves."""
    lo, hi = rows["lower"].to_numpy(), rows["upper"].to_numpy()
    row: dict[str, object] = {
        "group": name, "n_patients": rows["patient_uid"].nunique(), "n_values": len(rows),
        "n_below_limit": int(np.isneginf(lo).sum()), "n_above_limit": int(np.isposinf(hi).sum()),
    }
    estimate = turnbull(lo, hi)
    for label, q in (("q1", 0.25), ("median", 0.5), ("q3", 0.75)):
        left, right = turnbull_quantile(estimate, q)
        row[f"{label}_low"], row[f"{label}_high"] = left, right
    note = ""
    fit = None
    try:
        fit = interval_fit(lo, hi, dist=dist, nonpositive="drop")
        if fit.attrs["n_dropped"]:
            note = (f"{fit.attrs['n_dropped']} value(s) at or below 0 left out of the {dist} "
                    "fit")
        for param in fit.index:
            row[param] = fit.loc[param, "estimate"]
            row[f"{param}_ci_low"] = fit.loc[param, "ci_low"]
            row[f"{param}_ci_high"] = fit.loc[param, "ci_high"]
        mu = float(fit.loc["mu", "estimate"])
        row["fit_median"] = float(np.exp(mu)) if dist == "lognorm" else mu
        row["loglik"] = fit.attrs["loglik"]
    except ValueError as exc:
        note = f"no {dist} fit: {exc}"
    row["fit_note"] = note
    return row, cdf_curves(name, estimate, fit, grid)


def _lrt(values: pd.DataFrame, dist: str, groups: pd.DataFrame) -> dict[str, object]:
    """Likelihood-ratio test: one fitted distribution per group vs one for all."""
    fitted = groups["loglik"] if "loglik" in groups.columns else pd.Series(dtype=float)
    if len(groups) < 2 or fitted.isna().any() or len(fitted) < len(groups):
        notes = [n for n in groups.get("fit_note", pd.Series(dtype=str)) if n.startswith("no ")]
        return {"statistic": np.nan, "df": np.nan, "p_value": np.nan,
                "note": "not computed: " + ("; ".join(notes) or "a group could not be fitted")}
    try:
        pooled = interval_fit(values["lower"], values["upper"], dist=dist,
                              nonpositive="drop").attrs["loglik"]
    except ValueError as exc:
        return {"statistic": np.nan, "df": np.nan, "p_value": np.nan,
                "note": f"not computed: {exc}"}
    df = 2.0 * (len(groups) - 1)
    statistic = max(2.0 * (float(fitted.sum()) - pooled), 0.0)
    return {"statistic": statistic, "df": df, "p_value": float(stats.chi2.sf(statistic, df)),
            "note": f"{dist} per group (mu and sigma) vs one {dist} for all"}


def _midpoint_test(values: pd.DataFrame) -> dict[str, object]:
    lo, hi = values["lower"].to_numpy(), values["upper"].to_numpy()
    mid = np.where(np.isneginf(lo), hi, np.where(np.isposinf(hi), lo, (lo + hi) / 2))
    samples = [mid[(values["group"] == g).to_numpy()] for g in values["group"].unique()]
    if len(samples) < 2 or np.ptp(mid) == 0:
        return {"statistic": np.nan, "df": np.nan, "p_value": np.nan,
                "note": "not computed: fewer than two groups or no spread"}
    res = stats.kruskal(*samples)
    return {"statistic": float(res.statistic), "df": float(len(samples) - 1),
            "p_value": float(res.pvalue),
            "note": "midpoints; detection limits used as values: ignores censoring"}


def compare_labs(cohort: Cohort, analyte: str, by: str | None = "icu", *,
                 per_patient: PerPatient = "first", dedupe: bool = True,
                 dist: Distribution = "lognorm",
                 include_unknown: bool = False, bins: int | np.ndarray = 30) -> LabComparison:
    """Compare one analyte's distribution between groups of patients, respecting censoring.

    Tests, in order of preference (``primary`` marks the one to report):

    1. Gehan's generalized Wilcoxon test on the intervals (:func:`gehan_test`): rank-based,
       accounts for rounding and detection limits; assumes independent values (hence one value
       per patient by default) and censoring unrelated to the group.
    2. Likelihood-ratio test of one ``dist`` per group vs one overall (interval-censored ML);
       assumes the family fits. Primary when the Gehan test is undefined.
    3. Fallback, documented: Kruskal–Wallis on midpoints (limits taken as values). It ignores
       censoring and is marked primary only when neither test above can be computed.

    Parameters
    ----------
    cohort
        The cohort (typically filtered).
    analyte
        Analyte name, e.g. ``"crp"``.
    by
        Patients column to group by: ``"icu"``, ``"died"``, ``"sex"``, ``"source"``, … or
        ``None`` for one group.
    per_patient
        ``"first"`` (default): each patient's earliest draw; ``"peak"``: the highest;
        ``"all"``: every draw (tests then treat draws of one patient as independent, which they
        are not).
    dedupe
        Count a draw repeated on several exams once (see
        :func:`covidimg.stats.lab_values`).
    dist
        Parametric family for the fits: ``"lognorm"`` or ``"norm"``.
    include_unknown
        Keep patients whose group is unknown as a group ``"unknown"`` in the tests.
    bins
        Number of bins, or bin edges, of :attr:`LabComparison.histogram`.

    Returns
    -------
    LabComparison
        With ``values``, ``groups`` and ``tests`` DataFrames, and the ``curves`` and
        ``histogram`` its figures draw (:mod:`covidimg.plotting.labs`).

    Examples
    --------
    >>> import covidimg as ci
    >>> res = ci.stats.compare_labs(ci.load_demo(), "crp", by="icu")   # doctest: +SKIP
    >>> res.tests                                                      # doctest: +SKIP
    """
    values = lab_values(cohort, analyte, by=by, dedupe=dedupe, per_patient=per_patient)
    info = schema.ANALYTES.get(analyte)
    unit = str(values["unit"].iloc[0]) if len(values) else (info.unit if info else "")
    order = [g for g in group_order(values["group"]) if include_unknown or g != UNKNOWN]
    if not order and len(values):
        order = [UNKNOWN]
    grid = (cdf_grid(values["lower"].to_numpy(dtype=float),
                     values["upper"].to_numpy(dtype=float), dist) if len(values) else None)
    parts = [_group_row(g, values[values["group"] == g], dist, grid)
             for g in group_order(values["group"])]
    groups = pd.DataFrame([row for row, _c in parts]) if parts else pd.DataFrame(
        columns=["group", "n_patients", "n_values", "n_below_limit", "n_above_limit"])
    curves = (pd.concat([c for _r, c in parts], ignore_index=True) if parts else pd.DataFrame(
        {"group": pd.Series(dtype=object), "curve": pd.Series(dtype=object), "x": [],
         "cdf": []}))
    tested = values[values["group"].isin(order)]
    tests = _tests(tested, order, dist, groups[groups["group"].isin(order)])
    what = f"{per_patient} value per patient" if per_patient != "all" else "all values"
    histogram = lab_histogram(values.assign(analyte=analyte, unit=unit), analyte, bins=bins,
                              what=what)
    return LabComparison(analyte=analyte, unit=unit, by=by, values=values, groups=groups,
                         tests=tests, dist=dist, per_patient=per_patient, curves=curves,
                         histogram=histogram)


def _tests(values: pd.DataFrame, order: list[str], dist: str,
           groups: pd.DataFrame) -> pd.DataFrame:
    if len(order) < 2:
        note = f"not computed: {len(order)} group(s) with values; need two or more"
        rows = [{"test": name, "statistic": np.nan, "df": np.nan, "p_value": np.nan,
                 "accounts_for_censoring": acc, "note": note}
                for name, acc in (("gehan_wilcoxon", True), (f"{dist}_likelihood_ratio", True),
                                  ("kruskal_midpoint", False))]
        out = pd.DataFrame(rows)
        out["primary"] = [True, False, False]
        return out
    gehan = gehan_test(values["lower"], values["upper"], values["group"])
    gehan["note"] = ("generalized Wilcoxon on intervals" if np.isfinite(gehan["p_value"])
                     else "not computed: every interval overlaps every other")
    rows = [
        {"test": "gehan_wilcoxon", **gehan, "accounts_for_censoring": True},
        {"test": f"{dist}_likelihood_ratio", **_lrt(values, dist, groups),
         "accounts_for_censoring": True},
        {"test": "kruskal_midpoint", **_midpoint_test(values), "accounts_for_censoring": False},
    ]
    out = pd.DataFrame(rows)
    finite = np.isfinite(out["p_value"].to_numpy(dtype=float))
    primary = np.zeros(len(out), dtype=bool)
    primary[int(np.argmax(finite)) if finite.any() else 0] = True
    out["primary"] = primary
    return out[["test", "statistic", "df", "p_value", "accounts_for_censoring", "primary", "note"]]
