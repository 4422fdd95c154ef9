"""Lab-value distributions that respect intervals: histogram, Turnbull CDF, fitted curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from covidimg import schema
from covidimg.plotting._style import (
    COLORS,
    base_layout,
    empty_figure,
    empty_spec,
    fmt,
    group_color,
    layout_spec,
    nice_ticks,
)
from covidimg.stats import LabComparison
from covidimg.stats._common import group_order
from covidimg.stats.intervals_fit import fitted_cdf, interval_histogram, turnbull

__all__ = ["lab_distribution_spec", "plot_lab_cdf", "plot_lab_distribution"]


def _unpack(data: LabComparison | pd.DataFrame, analyte: str | None) -> tuple[
        pd.DataFrame, str, str, tuple[float, float], str]:
    if isinstance(data, LabComparison):
        return (data.values, data.analyte, data.unit, data.reference,
                f"{data.per_patient} value per patient" if data.per_patient != "all"
                else "all values")
    if not {"lower", "upper"} <= set(data.columns):
        raise ValueError("data must be a LabComparison (covidimg.stats.compare_labs) or a "
                         f"DataFrame with lower/upper columns; got columns {list(data.columns)}")
    if analyte is None:
        names = data["analyte"].astype(str).unique() if "analyte" in data.columns else []
        if len(names) != 1:
            raise ValueError(f"pass analyte=...; the values hold analytes {list(names)}")
        analyte = str(names[0])
    info = schema.ANALYTES.get(analyte)
    unit = (str(data["unit"].iloc[0]) if "unit" in data.columns and len(data)
            else (info.unit if info else ""))
    reference = (info.ref_low, info.ref_high) if info else (np.nan, np.nan)
    return data, analyte, unit, reference, "values"


def _label(analyte: str) -> str:
    info = schema.ANALYTES.get(analyte)
    return info.label if info else analyte


def _reference_text(reference: tuple[float, float], unit: str) -> str:
    low, high = reference
    if np.isneginf(low):
        return f"reference ≤ {fmt(high)} {unit}"
    if np.isposinf(high):
        return f"reference ≥ {fmt(low)} {unit}"
    return f"reference {fmt(low)}–{fmt(high)} {unit}"


def _shade_reference(fig: go.Figure, reference: tuple[float, float], unit: str,
                     x_range: tuple[float, float]) -> None:
    low, high = reference
    if not (np.isfinite(low) or np.isfinite(high)):
        return
    x0 = low if np.isfinite(low) else min(x_range[0], high)
    x1 = high if np.isfinite(high) else max(x_range[1], low)
    fig.add_vrect(x0=x0, x1=x1, fillcolor=COLORS["reference"], line_width=0, layer="below",
                  annotation_text=_reference_text(reference, unit),
                  annotation_position="top left", annotation_font_size=11)


def plot_lab_distribution(data: LabComparison | pd.DataFrame, analyte: str | None = None, *,
                          bins: int | np.ndarray = 30, share: bool | None = None) -> go.Figure:
    """Histogram of lab values in which each value's mass is spread over its interval.

    Values below or above a detection limit are drawn as separate hatched bars outside the
    value range (``< limit`` / ``> limit``), never as numbers; the reference range is shaded
    and labelled. With groups, the bars show each group's share so groups of different size
    compare.

    Parameters
    ----------
    data
        A :class:`~covidimg.stats.LabComparison` (from :func:`covidimg.stats.compare_labs`),
        or a DataFrame of ``lower``/``upper`` (optionally ``group``, ``analyte``, ``unit``),
        e.g. from :func:`covidimg.stats.lab_values`; with a ``count`` column each row stands
        for that many values (e.g. :meth:`covidimg.stats.selection.CohortArrays.lab_counts`).
    analyte
        The analyte, when ``data`` is a DataFrame without an ``analyte`` column.
    bins
        Number of bins, or bin edges, shared by all groups.
    share
        Show shares instead of counts (default: when there are several groups).

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> import covidimg as ci
    >>> res = ci.stats.compare_labs(ci.load_demo(), "crp", by="icu")    # doctest: +SKIP
    >>> ci.plotting.plot_lab_distribution(res)                          # doctest: +SKIP
    """
    return go.Figure(lab_distribution_spec(data, analyte, bins=bins, share=share))


def _reference_spec(reference: tuple[float, float], unit: str,
                    x_range: tuple[float, float]) -> tuple[list[dict], list[dict]]:
    """The shaded reference range as layout shapes and annotations (as ``add_vrect``)."""
    low, high = reference
    if not (np.isfinite(low) or np.isfinite(high)):
        return [], []
    x0 = low if np.isfinite(low) else min(x_range[0], high)
    x1 = high if np.isfinite(high) else max(x_range[1], low)
    shape = {"fillcolor": COLORS["reference"], "layer": "below", "line": {"width": 0},
             "type": "rect", "x0": x0, "x1": x1, "xref": "x", "y0": 0, "y1": 1,
             "yref": "y domain"}
    note = {"font": {"size": 11}, "showarrow": False, "text": _reference_text(reference, unit),
            "x": x0, "xanchor": "left", "xref": "x", "y": 1, "yanchor": "top",
            "yref": "y domain"}
    return [shape], [note]


def lab_distribution_spec(data: LabComparison | pd.DataFrame, analyte: str | None = None, *,
                          bins: int | np.ndarray = 30, share: bool | None = None) -> dict:
    """:func:`plot_lab_distribution` as a plain dict (``{"data": [...], "layout": {...}}``)."""
    values, analyte, unit, reference, what = _unpack(data, analyte)
    title = f"{_label(analyte)} ({unit}): distribution of {what}"
    if not len(values):
        return empty_spec(title, f"No {analyte} values in this selection.")
    groups = (values["group"].to_numpy(dtype=object) if "group" in values.columns
              else np.full(len(values), "all", dtype=object))
    order = group_order(pd.Series(groups))
    share = len(order) > 1 if share is None else share
    counts = (values["count"].to_numpy(dtype=float) if "count" in values.columns
              else np.ones(len(values)))
    lower, upper = values["lower"].to_numpy(dtype=float), values["upper"].to_numpy(dtype=float)
    overall = interval_histogram(lower, upper, bins=bins, weights=counts)
    edges_rows = overall[overall["kind"] == "bin"]
    edges = np.append(edges_rows["left"].to_numpy(), edges_rows["right"].iloc[-1])
    width = float(edges[1] - edges[0])
    traces: list[dict] = []
    y_col = "share" if share else "mass"
    opacity = 0.65 if len(order) > 1 else 0.9
    for i, name in enumerate(order):
        mine = groups == name
        hist = interval_histogram(lower[mine], upper[mine], bins=edges, weights=counts[mine])
        kind = hist["kind"].to_numpy()
        binned = hist[kind == "bin"]
        left, right = binned["left"].to_numpy(), binned["right"].to_numpy()
        traces.append({
            "type": "bar", "x": (left + right) / 2, "y": binned[y_col].to_numpy(),
            "width": right - left, "name": f"{name} (n={int(counts[mine].sum())})",
            "legendgroup": name, "marker": {"color": group_color(i)}, "opacity": opacity,
            "customdata": np.column_stack([left, right, binned["mass"].to_numpy()]),
            "hovertemplate": (f"<b>{name}</b><br>[%{{customdata[0]:.3g}}, "
                              f"%{{customdata[1]:.3g}}) {unit}<br>%{{customdata[2]:.1f}} values "
                              "(spread over their intervals)<extra></extra>")})
        for side_kind, side in (("below", -1), ("above", 1)):
            cens = hist[kind == side_kind]
            if not len(cens):
                continue
            limits = (cens["right"] if side_kind == "below" else cens["left"]).to_numpy()
            sign = "<" if side_kind == "below" else ">"
            pos = edges[0] - 1.5 * width if side < 0 else edges[-1] + 1.5 * width
            where = "below" if side < 0 else "above"
            traces.append({
                "type": "bar", "x": [pos] * len(cens), "y": cens[y_col].to_numpy(),
                "width": width, "legendgroup": name, "name": f"{name}: {where} detection limit",
                "showlegend": False, "marker": {"color": group_color(i), "pattern": {
                    "shape": "/", "fgcolor": "white"}}, "opacity": opacity,
                "text": [f"{sign} {fmt(v)}" for v in limits], "textposition": "outside",
                "customdata": np.column_stack([limits, cens["mass"].to_numpy()]),
                "hovertemplate": (f"<b>{name}</b><br>{where} detection limit ({sign} "
                                  f"%{{customdata[0]:.3g}} {unit})<br>%{{customdata[1]:.0f}} "
                                  "values<extra></extra>")})
    shapes, notes = _reference_spec(reference, unit, (edges[0], edges[-1]))
    tickvals = nice_ticks(edges[0], edges[-1])
    ticktext = [f"{t:g}" for t in tickvals]
    if (overall["kind"] == "below").any():
        tickvals.insert(0, edges[0] - 1.5 * width)
        ticktext.insert(0, "below<br>limit")
    if (overall["kind"] == "above").any():
        tickvals.append(edges[-1] + 1.5 * width)
        ticktext.append("above<br>limit")
    yaxis: dict = {"title": {"text": "share of the group's values" if share else
                             "number of values (each spread over its interval)"}}
    if share:
        yaxis["tickformat"] = ".0%"
    layout = layout_spec(title, height=450, barmode="overlay", bargap=0, yaxis=yaxis,
                         xaxis={"title": {"text": f"{_label(analyte)} ({unit})"},
                                "tickvals": tickvals, "ticktext": ticktext})
    if shapes:
        layout.update(shapes=shapes, annotations=notes)
    return {"data": traces, "layout": layout}


def plot_lab_cdf(comparison: LabComparison) -> go.Figure:
    """Cumulative distribution per group: the Turnbull estimate and the fitted parametric curve.

    The Turnbull (NPMLE) estimate is drawn as steps at the ends of its innermost intervals (it
    does not say where inside an interval the mass lies); the fitted curve is the parametric
    maximum-likelihood fit of :func:`covidimg.stats.compare_labs`. The primary test is in the
    subtitle.

    Parameters
    ----------
    comparison
        The output of :func:`covidimg.stats.compare_labs`.

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> import covidimg as ci
    >>> res = ci.stats.compare_labs(ci.load_demo(), "ldh", by="died")    # doctest: +SKIP
    >>> ci.plotting.plot_lab_cdf(res)                                    # doctest: +SKIP
    """
    unit, analyte = comparison.unit, comparison.analyte
    title = f"{_label(analyte)} ({unit}): cumulative distribution by {comparison.by or 'cohort'}"
    values = comparison.values
    if not len(values):
        return empty_figure(title, f"No {analyte} values in this selection.")
    finite = np.concatenate([values["lower"][np.isfinite(values["lower"])],
                             values["upper"][np.isfinite(values["upper"])]])
    grid = np.linspace(max(finite.min(), 0.0) if comparison.dist == "lognorm" else finite.min(),
                       finite.max(), 300)
    fig = go.Figure()
    for i, name in enumerate(group_order(values["group"])):
        sel = values[values["group"] == name]
        est = turnbull(sel["lower"], sel["upper"])
        x = np.concatenate([[grid[0]], np.where(np.isfinite(est["right"]), est["right"],
                                                grid[-1])])
        y = np.concatenate([[0.0], est["cdf"].to_numpy()])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line={"shape": "hv",
                                                                 "color": group_color(i)},
                                 name=f"{name} (n={len(sel)}): Turnbull estimate",
                                 legendgroup=name,
                                 hovertemplate=f"<b>{name}</b><br>P(value < %{{x:.3g}} {unit}) "
                                 "= %{y:.2f}<extra></extra>"))
        row = comparison.groups[comparison.groups["group"] == name]
        if len(row) and "mu" in row.columns and np.isfinite(row["mu"].iloc[0]):
            fit = pd.DataFrame({"estimate": [row["mu"].iloc[0], row["sigma"].iloc[0]]},
                               index=["mu", "sigma"])
            fit.attrs["dist"] = comparison.dist
            label = (f"{name}: {comparison.dist} fit, median {fmt(np.exp(row['mu'].iloc[0]))}"
                     if comparison.dist == "lognorm" else f"{name}: normal fit")
            fig.add_trace(go.Scatter(x=grid, y=fitted_cdf(fit, grid), mode="lines",
                                     line={"dash": "dot", "color": group_color(i)}, name=label,
                                     legendgroup=name, hoverinfo="skip"))
    _shade_reference(fig, comparison.reference, unit, (grid[0], grid[-1]))
    primary = comparison.tests[comparison.tests["primary"]]
    if len(primary) and np.isfinite(primary["p_value"].iloc[0]):
        test = primary.iloc[0]
        title += (f"<br><sup>{test['test'].replace('_', ' ')}: p = {test['p_value']:.3g}"
                  f" ({test['note']})</sup>")
    fig.update_xaxes(title=f"{_label(analyte)} ({unit})")
    fig.update_yaxes(title="cumulative share of values", range=[0, 1.02], tickformat=".0%")
    return base_layout(fig, title, height=450)
