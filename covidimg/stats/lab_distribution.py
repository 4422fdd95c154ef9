"""What a figure of one analyte's values draws: the interval histogram per group, the CDF curves.

:func:`lab_histogram` spreads each value over its interval per group on shared bins (with the
values below / above a detection limit apart); :func:`cdf_curves` gives each group's Turnbull
estimate and fitted parametric CDF as points to draw. :func:`covidimg.stats.compare_labs`
carries both; :mod:`covidimg.plotting.labs` only draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from covidimg import schema
from covidimg.stats._common import group_order
from covidimg.stats.intervals_fit import fitted_cdf, interval_histogram

__all__ = ["LabHistogram", "cdf_curves", "cdf_grid", "lab_histogram", "reference_interval"]

#: Points of a fitted CDF curve.
GRID_POINTS = 300


def reference_interval(analyte: str) -> tuple[float, float]:
    """The analyte's reference interval (``-inf`` / ``inf`` for one-sided ones; NaN unknown).

    Examples
    --------
    >>> from covidimg.stats.lab_distribution import reference_interval
    >>> reference_interval("crp")
    (-inf, 5.0)
    """
    info = schema.ANALYTES.get(analyte)
    return (info.ref_low, info.ref_high) if info else (np.nan, np.nan)


@dataclass(eq=False)
class LabHistogram:
    """The result of :func:`lab_histogram`: one analyte's values per group on shared bins.

    Attributes
    ----------
    analyte, unit
        The analyte and its unit.
    reference
        Its reference interval (see :func:`reference_interval`).
    what
        What the values are (``"values"``, ``"first value per patient"``, ...).
    edges
        The bin edges every group shares (empty when there are no values).
    bins
        One row per group and bin (``kind="bin"``) or detection limit (``"below"``,
        ``"above"``): ``group, kind, left, right, mass, share`` as
        :func:`covidimg.stats.interval_histogram` gives them per group (``share`` is of the
        group's values).
    groups
        One row per group, in display order: ``group``, ``n_values``.
    """

    analyte: str
    unit: str
    reference: tuple[float, float]
    what: str
    edges: np.ndarray
    bins: pd.DataFrame
    groups: pd.DataFrame


def _analyte_and_unit(values: pd.DataFrame, analyte: str | None) -> tuple[str, str]:
    if analyte is None:
        names = values["analyte"].astype(str).unique() if "analyte" in values.columns else []
        if len(names) != 1:
            raise ValueError(f"analyte=None, but the values hold analytes {list(names)}; pass "
                             "analyte=... (e.g. analyte='crp')")
        analyte = str(names[0])
    info = schema.ANALYTES.get(analyte)
    unit = (str(values["unit"].iloc[0]) if "unit" in values.columns and len(values)
            else (info.unit if info else ""))
    return analyte, unit


def lab_histogram(values: pd.DataFrame, analyte: str | None = None, *,
                  bins: int | np.ndarray = 30, what: str = "values") -> LabHistogram:
    """Histogram of one analyte's values per group, each value spread over its interval.

    Every group is binned on the same edges (chosen from all the values); values below or
    above a detection limit get their own rows per limit (see
    :func:`covidimg.stats.interval_histogram`).

    Parameters
    ----------
    values
        ``lower``/``upper`` per value (optionally ``group``, ``analyte``, ``unit``), e.g. from
        :func:`covidimg.stats.lab_values`; with a ``count`` column each row stands for that
        many values (e.g. :meth:`covidimg.stats.selection.CohortArrays.lab_counts`).
    analyte
        The analyte, when ``values`` has no ``analyte`` column.
    bins
        Number of bins, or bin edges, shared by all groups.
    what
        What the values are, for the figure's title.

    Returns
    -------
    LabHistogram

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.stats import lab_histogram
    >>> h = lab_histogram(pd.DataFrame({"lower": [1.0, 2.0, float("-inf")],
    ...                                 "upper": [2.0, 3.0, 1.0]}), "crp", bins=2)
    >>> h.bins[["group", "kind", "left", "right", "mass"]]
      group   kind  left  right  mass
    0   all  below  -inf    1.0   1.0
    1   all    bin   1.0    2.0   1.0
    2   all    bin   2.0    3.0   1.0
    """
    if not {"lower", "upper"} <= set(values.columns):
        raise ValueError("values must have lower/upper columns (e.g. covidimg.stats.lab_values"
                         f"); got columns {list(values.columns)}")
    analyte, unit = _analyte_and_unit(values, analyte)
    reference = reference_interval(analyte)
    if not len(values):
        empty = pd.DataFrame({"group": pd.Series(dtype=object), "kind": pd.Series(dtype=object),
                              "left": [], "right": [], "mass": [], "share": []})
        return LabHistogram(analyte, unit, reference, what, np.empty(0), empty,
                            pd.DataFrame({"group": pd.Series(dtype=object), "n_values": []}))
    groups = (values["group"].to_numpy(dtype=object) if "group" in values.columns
              else np.full(len(values), "all", dtype=object))
    order = group_order(pd.Series(groups))
    counts = (values["count"].to_numpy(dtype=float) if "count" in values.columns
              else np.ones(len(values)))
    lower, upper = values["lower"].to_numpy(dtype=float), values["upper"].to_numpy(dtype=float)
    overall = interval_histogram(lower, upper, bins=bins, weights=counts)
    binned = overall[overall["kind"] == "bin"]
    edges = np.append(binned["left"].to_numpy(), binned["right"].iloc[-1])
    frames, n_values = [], []
    for name in order:
        mine = groups == name
        hist = interval_histogram(lower[mine], upper[mine], bins=edges, weights=counts[mine])
        hist.insert(0, "group", name)
        frames.append(hist)
        n_values.append(int(counts[mine].sum()))
    table = pd.concat(frames, ignore_index=True)
    table.attrs = {}
    return LabHistogram(analyte, unit, reference, what, edges, table,
                        pd.DataFrame({"group": order, "n_values": n_values}))


def cdf_grid(lower: np.ndarray, upper: np.ndarray, dist: str) -> np.ndarray:
    """The x values a CDF figure spans: the finite bounds' range (from 0 at most for
    ``lognorm``), :data:`GRID_POINTS` points."""
    finite = np.concatenate([lower[np.isfinite(lower)], upper[np.isfinite(upper)]])
    start = max(finite.min(), 0.0) if dist == "lognorm" else finite.min()
    return np.linspace(start, finite.max(), GRID_POINTS)


def cdf_curves(group: str, estimate: pd.DataFrame, fit: pd.DataFrame | None,
               grid: np.ndarray) -> pd.DataFrame:
    """One group's CDF curves on ``grid``'s range, as points to draw.

    ``curve="turnbull"``: the :func:`covidimg.stats.turnbull` estimate at the ends of its
    innermost intervals, from ``(grid[0], 0)`` (a step function: it rises at each point; an
    infinite end is put at ``grid[-1]``). ``curve="fit"``: the fitted CDF
    (:func:`covidimg.stats.fitted_cdf` of an :func:`covidimg.stats.interval_fit` result) at
    every grid point, when ``fit`` is given.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``curve``, ``x``, ``cdf``.
    """
    right = estimate["right"].to_numpy(dtype=float)
    x = np.concatenate([[grid[0]], np.where(np.isfinite(right), right, grid[-1])])
    y = np.concatenate([[0.0], estimate["cdf"].to_numpy(dtype=float)])
    parts = [pd.DataFrame({"group": group, "curve": "turnbull", "x": x, "cdf": y})]
    if fit is not None:
        parts.append(pd.DataFrame({"group": group, "curve": "fit", "x": grid,
                                   "cdf": fitted_cdf(fit, grid)}))
    return pd.concat(parts, ignore_index=True)
