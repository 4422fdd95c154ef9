"""Kaplan–Meier curves with confidence bands, censoring marks and the log-rank test."""

from __future__ import annotations

import numpy as np

from covidimg.plotting._style import (
    empty_figure,
    figure_function,
    group_color,
    layout,
    plain,
    rgba,
)
from covidimg.stats import SurvivalResult

__all__ = ["plot_kaplan_meier"]

_EVENT_WORDS = {"death": "death", "icu_admission": "ICU admission"}


def _steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Explicit corner points of a right-continuous step function (for filled bands)."""
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return xs, ys


@figure_function
def plot_kaplan_meier(result: SurvivalResult, *, show_ci: bool = True) -> dict:
    """Kaplan–Meier curves from :func:`covidimg.stats.kaplan_meier`.

    Steps drop at each event; ``|`` marks patients whose follow-up ended without the event
    (censored); the shaded band is the pointwise confidence interval; the log-rank p-value is
    in the subtitle. The x axis is days since hospital admission.

    Parameters
    ----------
    result
        The output of :func:`covidimg.stats.kaplan_meier`.
    show_ci
        Shade the pointwise confidence intervals.

    Returns
    -------
    plotly.graph_objects.Figure
        ``plot_kaplan_meier.spec(...)`` gives the same figure as a plain dict.

    Examples
    --------
    >>> import covidimg as ci
    >>> km = ci.stats.kaplan_meier(ci.load_demo(), event="death", by="icu")  # doctest: +SKIP
    >>> ci.plotting.plot_kaplan_meier(km)                                     # doctest: +SKIP
    """
    word = plain(_EVENT_WORDS.get(result.event, result.event))
    title = f"Time from admission to {word}" + (f", by {plain(result.by)}" if result.by else "")
    curves = result.curves
    if not len(curves):
        return empty_figure.spec(title, "No patients with a known day in this selection.")
    level = round(100 * (1 - result.alpha))
    data: list[dict] = []
    for i, (group, curve) in enumerate(curves.groupby("group", sort=False)):
        color = group_color(i)
        name = plain(group)
        n = int(curve["n_at_risk"].iloc[0])
        events = int(curve["n_events"].sum())
        x = curve["time"].to_numpy(float)
        if show_ci:
            xh, yh = _steps(x, curve["ci_high"].to_numpy(float))
            xl, yl = _steps(x, curve["ci_low"].to_numpy(float))
            data.append({
                "type": "scatter", "x": np.concatenate([xh, xl[::-1]]),
                "y": np.concatenate([yh, yl[::-1]]), "fill": "toself",
                "fillcolor": rgba(color, 0.15), "line": {"width": 0}, "hoverinfo": "skip",
                "legendgroup": name, "showlegend": False, "name": f"{name}: {level}% CI"})
        data.append({
            "type": "scatter", "x": x, "y": curve["survival"].to_numpy(float), "mode": "lines",
            "line": {"shape": "hv", "color": color, "width": 2.5},
            "name": f"{name} (n={n}, {events} {'event' if events == 1 else 'events'})",
            "legendgroup": name,
            "customdata": np.column_stack([curve["n_at_risk"], curve["ci_low"],
                                           curve["ci_high"]]),
            "hovertemplate": (f"<b>{name}</b><br>day %{{x:g}}: %{{y:.2f}} "
                              f"({level}% CI %{{customdata[1]:.2f}}–%{{customdata[2]:.2f}})<br>"
                              "%{customdata[0]} at risk<extra></extra>")})
        censored = curve[curve["n_censored"] > 0]
        if len(censored):
            data.append({
                "type": "scatter", "x": censored["time"].to_numpy(float),
                "y": censored["survival"].to_numpy(float), "mode": "markers",
                "marker": {"symbol": "line-ns", "size": 10, "color": color,
                           "line": {"width": 1.5, "color": color}},
                "legendgroup": name, "showlegend": False, "name": f"{name}: censored",
                "customdata": censored["n_censored"].to_numpy(),
                "hovertemplate": (f"<b>{name}</b><br>day %{{x:g}}: %{{customdata}} censored "
                                  "(follow-up ended)<extra></extra>")})
    test = result.test.iloc[0]
    subtitle = [f"| = follow-up ended without {word} (censored)"]
    if np.isfinite(test["p_value"]):
        subtitle.insert(0, f"log-rank p = {test['p_value']:.3g}")
    if len(result.excluded):
        subtitle.append(f"{len(result.excluded)} patients left out (see result.excluded)")
    title += "<br><sup>" + "; ".join(subtitle) + "</sup>"
    return {"data": data, "layout": layout(
        title, height=450,
        xaxis={"title": {"text": "days since hospital admission (day 0 = admission)"},
               "rangemode": "tozero"},
        yaxis={"title": {"text": plain(result.y_label)}, "range": [0, 1.03],
               "tickformat": ".0%"})}
