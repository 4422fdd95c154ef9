"""Shared look of every figure: colours, fonts, the sign-convention note."""

from __future__ import annotations

import math
from functools import lru_cache

import plotly.graph_objects as go
import plotly.io as pio

#: Colours of timeline marks and outcome curves (colour-blind safe, Okabe–Ito).
COLORS = {
    "follow_up": "#BBBBBB",
    "hospital": "#56B4E9",
    "icu": "#D55E00",
    "exam": "#000000",
    "lab": "#009E73",
    "death": "#000000",
    "discharge": "#0072B2",
    "admission": "#0072B2",
    "reference": "rgba(0, 158, 115, 0.12)",
    "censored": "#999999",
}
GROUP_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
                "#000000"]

SIGN_CONVENTION = ("offsets: days from the exam to the event, negative = the event was before "
                   "the exam (MHH convention)")

ALIGN_LABELS = {
    "admission": "days since hospital admission (day 0 = admission)",
    "icu_admission": "days since ICU admission (day 0 = ICU admission)",
    "first_exam": "days since the first exam (day 0 = first exam)",
    "death": "days relative to death (day 0 = death; negative = before death)",
    "none": "day on the cohort's axis (day 0 = admission where known)",
}


def group_color(index: int) -> str:
    """The colour of the ``index``-th group."""
    return GROUP_COLORS[index % len(GROUP_COLORS)]


@lru_cache(maxsize=1)
def white_template() -> go.layout.Template:
    """plotly's ``plotly_white`` for the trace types used here (3x cheaper to apply)."""
    white = pio.templates["plotly_white"]
    return go.layout.Template(layout=white.layout, data={
        kind: white.data[kind] for kind in ("bar", "scatter", "scattergl", "table")})


def base_layout(fig: go.Figure, title: str, *, height: int | None = None) -> go.Figure:
    """Apply the common layout: white template, title, legend on top."""
    fig.update_layout(
        template=white_template(), title={"text": title, "x": 0.01, "xanchor": "left"},
        legend={"yanchor": "top", "y": 1, "xanchor": "left", "x": 1.02},
        margin={"l": 70, "r": 20, "t": 80, "b": 60}, hoverlabel={"align": "left"},
    )
    if height is not None:
        fig.update_layout(height=height)
    return fig


@lru_cache(maxsize=1)
def _white_template_json() -> dict:
    return white_template().to_plotly_json()


def layout_spec(title: str, *, height: int | None = None, **layout: object) -> dict:
    """The layout :func:`base_layout` gives, as a plain dict (plus any ``layout`` keys).

    Figures built as dicts (``{"data": [...], "layout": layout_spec(...)}``) skip plotly's
    per-property validation until ``go.Figure(spec)`` validates them once; the dashboard's
    views pass them to a ``FigureWidget`` directly.
    """
    out = dict(layout)
    out.update(template=_white_template_json(),
               title={"text": title, "x": 0.01, "xanchor": "left"},
               legend={"yanchor": "top", "y": 1, "xanchor": "left", "x": 1.02},
               margin={"l": 70, "r": 20, "t": 80, "b": 60}, hoverlabel={"align": "left"})
    if height is not None:
        out["height"] = height
    return out


def empty_spec(title: str, message: str) -> dict:
    """:func:`empty_figure` as a plain dict."""
    return {"data": [], "layout": layout_spec(
        title, height=300, xaxis={"visible": False}, yaxis={"visible": False},
        annotations=[{"font": {"size": 14}, "showarrow": False, "text": message, "x": 0.5,
                      "xref": "paper", "y": 0.5, "yref": "paper"}])}


def empty_figure(title: str, message: str) -> go.Figure:
    """A figure that says why there is nothing to show."""
    return go.Figure(empty_spec(title, message))


def fmt(x: float) -> str:
    """A number with three significant digits."""
    return f"{x:.3g}"


def nice_ticks(low: float, high: float, n: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering ``[low, high]``."""


    span = high - low
    if not math.isfinite(span) or span <= 0:
        return [low]
    raw = span / max(n - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    count = math.floor((high - first) / step + 1e-9) + 1
    return [round(first + i * step, 10) for i in range(count)]
