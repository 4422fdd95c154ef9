"""Shared look of every figure (colours, layout, the sign-convention note) and the figure idiom.

Every figure is built once as a plain dict; :func:`figure_function` turns the function that
builds it into the public ``plot_*`` function returning a validated ``go.Figure``.

Text in a figure (titles, trace names, hover templates and the ``customdata`` they show, tick
labels, table cells, annotations) is plotly's subset of HTML: ``<b>``, ``<br>``, ``<a href>``,
``<span style>``. plotly.js draws it as SVG text and refuses ``javascript:`` links, but a
value from the data must still not become markup (a link, a style, a fake line). Every such
value goes through :func:`plain` (or :func:`plain_all`) where it is interpolated; the markup
the figures add themselves stays as it is.
"""

from __future__ import annotations

import functools
import html
import inspect
import math
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import ParamSpec, Protocol

import numpy as np
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


def plain(value: object) -> str:
    """``value`` as figure text that plotly shows verbatim (``& < >`` as entities).

    Examples
    --------
    >>> from covidimg.plotting._style import plain
    >>> plain('<a href="javascript:alert(1)">x</a>')
    '&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;'
    """
    # quote=False: plotly decodes &amp; &lt; &gt; and numeric entities, but not &quot;.
    return html.escape(str(value), quote=False)


def plain_all(values: Iterable[object]) -> np.ndarray:
    """:func:`plain` of every text among ``values`` (other values as they are), as an object
    array (for ``customdata``, tick labels, table cells)."""
    text = [plain(v) if isinstance(v, str) else v for v in values]
    out = np.empty(len(text), dtype=object)
    out[:] = text
    return out


def group_color(index: int) -> str:
    """The colour of the ``index``-th group."""
    return GROUP_COLORS[index % len(GROUP_COLORS)]


def rgba(hex_color: str, alpha: float) -> str:
    """``#RRGGBB`` with an opacity, as plotly's ``rgba(r, g, b, a)``."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


@lru_cache(maxsize=1)
def _white_template() -> dict:
    """plotly's ``plotly_white`` for the trace types used here, as a plain dict.

    Only the layout and the trace types the figures use (bar, scatter, table): applying the
    whole template costs three times as much.
    """
    white = pio.templates["plotly_white"]
    return go.layout.Template(layout=white.layout, data={
        kind: white.data[kind] for kind in ("bar", "scatter", "scattergl", "table")}
    ).to_plotly_json()


def layout(title: str, *, height: int | None = None, **extra: object) -> dict:
    """The layout every figure shares (white template, title, legend on the right), as a dict.

    ``extra`` adds or replaces layout keys (axes, shapes, annotations, the legend, ...). The
    top margin grows with the title's lines (a subtitle line per ``<br>``).
    """
    out: dict = {"legend": {"yanchor": "top", "y": 1, "xanchor": "left", "x": 1.02},
                 "margin": {"l": 70, "r": 20, "t": 60 + 18 * title.count("<br>"), "b": 60},
                 "hoverlabel": {"align": "left"}}
    out.update(extra)
    out.update(template=_white_template(), title={"text": title, "x": 0.01, "xanchor": "left"})
    if height is not None:
        out["height"] = height
    return out


P = ParamSpec("P")


class FigureFunction(Protocol[P]):
    """A public figure function: called, a validated ``go.Figure``; ``.spec``, the plain dict."""

    spec: Callable[P, dict]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> go.Figure: ...


def figure_function(build: Callable[P, dict]) -> FigureFunction[P]:
    """Make a public ``plot_*`` function from the function that builds its figure as a dict.

    Every figure of :mod:`covidimg.plotting` is built once, as a plain dict
    (``{"data": [...], "layout": {...}}``, no plotly objects on the way). The returned
    function has ``build``'s signature and docstring and returns ``go.Figure(spec)``: the one
    place where plotly validates a figure. ``plot_x.spec(...)`` returns the dict itself, which
    the dashboard's views hand to a ``FigureWidget`` (see :mod:`covidimg.widgets._figures`).
    """
    @functools.wraps(build)
    def plot(*args: P.args, **kwargs: P.kwargs) -> go.Figure:
        return go.Figure(build(*args, **kwargs))

    plot.__annotations__ = {**build.__annotations__, "return": go.Figure}
    plot.__signature__ = inspect.signature(build).replace(  # type: ignore[attr-defined]
        return_annotation=go.Figure)
    plot.spec = build  # type: ignore[attr-defined]
    return plot  # type: ignore[return-value]


@figure_function
def empty_figure(title: str, message: str) -> dict:
    """A figure that says why there is nothing to show.

    Parameters
    ----------
    title
        The figure's title.
    message
        What the figure says in place of data.

    Returns
    -------
    plotly.graph_objects.Figure
        ``empty_figure.spec(title, message)`` gives it as a plain dict.

    Examples
    --------
    >>> import covidimg as ci
    >>> ci.plotting.empty_figure("Lab values", "No values.").layout.annotations[0].text
    'No values.'
    """
    return {"data": [], "layout": layout(
        title, height=300, xaxis={"visible": False}, yaxis={"visible": False},
        annotations=[{"font": {"size": 14}, "showarrow": False, "text": message, "x": 0.5,
                      "xref": "paper", "y": 0.5, "yref": "paper"}])}


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
