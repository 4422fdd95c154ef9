"""Lab-value distributions that respect intervals: histogram, Turnbull CDF, fitted curves.

The figures draw what :mod:`covidimg.stats` computed: :class:`~covidimg.stats.LabHistogram`
(from :func:`covidimg.stats.lab_histogram`, or ``LabComparison.histogram``) and the CDF curves
of :func:`covidimg.stats.compare_labs`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from covidimg import schema
from covidimg.plotting._style import (
    COLORS,
    empty_figure,
    figure_function,
    fmt,
    group_color,
    layout,
    nice_ticks,
    plain,
)
from covidimg.stats import LabComparison, LabHistogram, lab_histogram

__all__ = ["plot_lab_cdf", "plot_lab_distribution"]


def _label(analyte: str) -> str:
    """The analyte's name as figure text (its label when the schema knows it)."""
    info = schema.ANALYTES.get(analyte)
    return plain(info.label if info else analyte)


def _reference_text(reference: tuple[float, float], unit: str) -> str:
    low, high = reference
    if np.isneginf(low):
        return f"reference ≤ {fmt(high)} {unit}"
    if np.isposinf(high):
        return f"reference ≥ {fmt(low)} {unit}"
    return f"reference {fmt(low)}–{fmt(high)} {unit}"


def _reference_band(reference: tuple[float, float], unit: str,
                    x_range: tuple[float, float]) -> dict:
    """Layout ``shapes`` and ``annotations`` shading and naming the reference range."""
    low, high = reference
    if not (np.isfinite(low) or np.isfinite(high)):
        return {}
    x0 = low if np.isfinite(low) else min(x_range[0], high)
    x1 = high if np.isfinite(high) else max(x_range[1], low)
    note = {"font": {"size": 11}, "showarrow": False, "text": _reference_text(reference, unit),
            "x": x0, "xanchor": "left", "xref": "x", "y": 1, "yanchor": "top",
            "yref": "y domain"}
    if x0 >= x1:    # the range lies outside the values drawn: named, not shaded
        return {"annotations": [note]}
    shape = {"fillcolor": COLORS["reference"], "layer": "below", "line": {"width": 0},
             "type": "rect", "x0": x0, "x1": x1, "xref": "x", "y0": 0, "y1": 1,
             "yref": "y domain"}
    return {"shapes": [shape], "annotations": [note]}


def _histogram(data: LabComparison | LabHistogram | pd.DataFrame, analyte: str | None,
               bins: int | np.ndarray | None) -> LabHistogram:
    if isinstance(data, LabHistogram):
        if bins is not None:
            raise ValueError(f"bins={bins!r}: a LabHistogram has its bins already; pass "
                             "bins=... to covidimg.stats.lab_histogram instead")
        return data
    if isinstance(data, LabComparison):
        if bins is None:
            return data.histogram
        return lab_histogram(data.values.assign(analyte=data.analyte, unit=data.unit),
                             data.analyte, bins=bins, what=data.histogram.what)
    if isinstance(data, pd.DataFrame):
        return lab_histogram(data, analyte, bins=30 if bins is None else bins)
    raise TypeError(f"data: got a {type(data).__name__}; pass a LabHistogram "
                    "(covidimg.stats.lab_histogram), a LabComparison "
                    "(covidimg.stats.compare_labs) or a DataFrame of lower/upper values")


@figure_function
def plot_lab_distribution(data: LabComparison | LabHistogram | pd.DataFrame,
                          analyte: str | None = None, *, bins: int | np.ndarray | None = None,
                          share: bool | None = None, log_count: bool = False) -> dict:
    """Histogram of lab values in which each value's mass is spread over its interval.

    Values below or above a detection limit are drawn as separate hatched bars outside the
    value range (``< limit`` / ``> limit``), never as numbers; the reference range is shaded
    and labelled. With groups, the bars show each group's share so groups of different size
    compare.

    Parameters
    ----------
    data
        A :class:`~covidimg.stats.LabHistogram` (from :func:`covidimg.stats.lab_histogram`),
        a :class:`~covidimg.stats.LabComparison` (from :func:`covidimg.stats.compare_labs`;
        its ``histogram`` is drawn), or a DataFrame of ``lower``/``upper`` values (e.g. from
        :func:`covidimg.stats.lab_values`), which :func:`covidimg.stats.lab_histogram` bins.
    analyte
        The analyte, when ``data`` is a DataFrame without an ``analyte`` column.
    bins
        Number of bins, or bin edges, shared by all groups, when ``data`` is not a
        ``LabHistogram`` (default: the comparison's bins, or 30).
    share
        Show shares instead of counts (default: when there are several groups).
    log_count
        Put the count axis on a log scale.

    Returns
    -------
    plotly.graph_objects.Figure
        ``plot_lab_distribution.spec(...)`` gives the same figure as a plain dict.

    Examples
    --------
    >>> import covidimg as ci
    >>> res = ci.stats.compare_labs(ci.load_demo(), "crp", by="icu")    # doctest: +SKIP
    >>> ci.plotting.plot_lab_distribution(res)                          # doctest: +SKIP
    """
    hist = _histogram(data, analyte, bins)
    analyte, unit = hist.analyte, plain(hist.unit)
    title = f"{_label(analyte)} ({unit}): distribution of {plain(hist.what)}"
    if not len(hist.groups):
        return empty_figure.spec(title, f"No {plain(analyte)} values in this selection.")
    edges = hist.edges
    width = float(edges[1] - edges[0])
    share = len(hist.groups) > 1 if share is None else share
    y_col = "share" if share else "mass"
    opacity = 0.65 if len(hist.groups) > 1 else 0.9
    traces: list[dict] = []
    table = hist.bins
    for i, (group, n_values) in enumerate(zip(hist.groups["group"], hist.groups["n_values"],
                                              strict=True)):
        mine = table[table["group"] == group]
        name = plain(group)
        kind = mine["kind"].to_numpy()
        binned = mine[kind == "bin"]
        left, right = binned["left"].to_numpy(), binned["right"].to_numpy()
        traces.append({
            "type": "bar", "x": (left + right) / 2, "y": binned[y_col].to_numpy(),
            "width": right - left, "name": f"{name} (n={n_values})",
            "legendgroup": name, "marker": {"color": group_color(i)}, "opacity": opacity,
            "customdata": np.column_stack([left, right, binned["mass"].to_numpy()]),
            "hovertemplate": (f"<b>{name}</b><br>[%{{customdata[0]:.3g}}, "
                              f"%{{customdata[1]:.3g}}) {unit}<br>%{{customdata[2]:.1f}} values "
                              "(spread over their intervals)<extra></extra>")})
        for side_kind in ("below", "above"):
            cens = mine[kind == side_kind]
            if not len(cens):
                continue
            limits = (cens["right"] if side_kind == "below" else cens["left"]).to_numpy()
            sign = "<" if side_kind == "below" else ">"
            pos = edges[0] - 1.5 * width if side_kind == "below" else edges[-1] + 1.5 * width
            traces.append({
                "type": "bar", "x": [pos] * len(cens), "y": cens[y_col].to_numpy(),
                "width": width, "legendgroup": name,
                "name": f"{name}: {side_kind} detection limit",
                "showlegend": False, "marker": {"color": group_color(i), "pattern": {
                    "shape": "/", "fgcolor": "white"}}, "opacity": opacity,
                "text": [f"{sign} {fmt(v)}" for v in limits], "textposition": "outside",
                "customdata": np.column_stack([limits, cens["mass"].to_numpy()]),
                "hovertemplate": (f"<b>{name}</b><br>{side_kind} detection limit ({sign} "
                                  f"%{{customdata[0]:.3g}} {unit})<br>%{{customdata[1]:.0f}} "
                                  "values<extra></extra>")})
    tickvals = nice_ticks(edges[0], edges[-1])
    ticktext = [f"{t:g}" for t in tickvals]
    kinds = set(table["kind"])
    if "below" in kinds:
        tickvals.insert(0, edges[0] - 1.5 * width)
        ticktext.insert(0, "below<br>limit")
    if "above" in kinds:
        tickvals.append(edges[-1] + 1.5 * width)
        ticktext.append("above<br>limit")
    yaxis: dict = {"title": {"text": "share of the group's values" if share else
                             "number of values (each spread over its interval)"}}
    if log_count:
        yaxis["type"] = "log"
    elif share:
        yaxis["tickformat"] = ".0%"
    return {"data": traces, "layout": layout(
        title, height=450, barmode="overlay", bargap=0, yaxis=yaxis,
        xaxis={"title": {"text": f"{_label(analyte)} ({unit})"}, "tickvals": tickvals,
               "ticktext": ticktext},
        **_reference_band(hist.reference, unit, (edges[0], edges[-1])))}


@figure_function
def plot_lab_cdf(comparison: LabComparison) -> dict:
    """Cumulative distribution per group: the Turnbull estimate and the fitted parametric curve.

    The Turnbull (NPMLE) estimate is drawn as steps at the ends of its innermost intervals (it
    does not say where inside an interval the mass lies); the fitted curve is the parametric
    maximum-likelihood fit of :func:`covidimg.stats.compare_labs`. Both are the comparison's
    ``curves``. The primary test is in the subtitle.

    Parameters
    ----------
    comparison
        The output of :func:`covidimg.stats.compare_labs`.

    Returns
    -------
    plotly.graph_objects.Figure
        ``plot_lab_cdf.spec(...)`` gives the same figure as a plain dict.

    Examples
    --------
    >>> import covidimg as ci
    >>> res = ci.stats.compare_labs(ci.load_demo(), "ldh", by="died")    # doctest: +SKIP
    >>> ci.plotting.plot_lab_cdf(res)                                    # doctest: +SKIP
    """
    unit, analyte = plain(comparison.unit), comparison.analyte
    title = (f"{_label(analyte)} ({unit}): cumulative distribution by "
             f"{plain(comparison.by or 'cohort')}")
    curves = comparison.curves
    if not len(curves):
        return empty_figure.spec(title, f"No {plain(analyte)} values in this selection.")
    traces: list[dict] = []
    groups = comparison.groups
    for i, row in enumerate(groups.itertuples(index=False)):
        mine = curves[curves["group"] == row.group]
        name = plain(row.group)
        step = mine[mine["curve"] == "turnbull"]
        traces.append({
            "type": "scatter", "x": step["x"].to_numpy(), "y": step["cdf"].to_numpy(),
            "mode": "lines", "line": {"shape": "hv", "color": group_color(i)},
            "name": f"{name} (n={row.n_values}): Turnbull estimate", "legendgroup": name,
            "hovertemplate": (f"<b>{name}</b><br>P(value < %{{x:.3g}} {unit}) = %{{y:.2f}}"
                              "<extra></extra>")})
        fit = mine[mine["curve"] == "fit"]
        if len(fit):
            label = (f"{name}: {plain(comparison.dist)} fit, median {fmt(row.fit_median)}"
                     if comparison.dist == "lognorm" else f"{name}: normal fit")
            traces.append({"type": "scatter", "x": fit["x"].to_numpy(),
                           "y": fit["cdf"].to_numpy(), "mode": "lines",
                           "line": {"dash": "dot", "color": group_color(i)}, "name": label,
                           "legendgroup": name, "hoverinfo": "skip"})
    test = comparison.primary_test
    if test is not None:
        title += (f"<br><sup>{plain(test['test']).replace('_', ' ')}: p = "
                  f"{test['p_value']:.3g} ({plain(test['note'])})</sup>")
    x = curves["x"].to_numpy(dtype=float)
    return {"data": traces, "layout": layout(
        title, height=450, xaxis={"title": {"text": f"{_label(analyte)} ({unit})"}},
        yaxis={"title": {"text": "cumulative share of values"}, "range": [0, 1.02],
               "tickformat": ".0%"},
        **_reference_band(comparison.reference, unit, (x.min(), x.max())))}
