"""The slot a view's figure lives in: one light plotly widget for the view's life, labelled."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import plotly.graph_objects as go

from covidimg.plotting import empty_figure
from covidimg.widgets.plotly_view import PlotlyView

if TYPE_CHECKING:
    from covidimg.cohort import Cohort
    from covidimg.stats.selection import Selection

__all__ = ["FigureSlot", "FigureView", "SelectionView", "figure_widget", "selected_x_range"]

#: The plotly versions :func:`figure_widget` is known to be right with: the range declared in
#: pyproject.toml (``tests/test_widgets.py`` checks both, on every figure the package draws).
PLOTLY_RANGE = (">=5.18", "<8")


def figure_widget(spec: dict) -> go.FigureWidget:
    """A ``FigureWidget`` of a figure built as a plain dict, without plotly's validation.

    Every figure of :mod:`covidimg.plotting` is built as a dict (``plot_x.spec(...)``) of
    valid properties; plotly's property-by-property validation of it costs more than
    building it (10–25 ms per figure, most of it the template), on every filter change. This
    is the one place that skips it, through plotly's private ``_validate=False``: a test
    checks, for every figure the package draws, that the widget equals the validated one, and
    that the installed plotly is within :data:`PLOTLY_RANGE`.
    """
    return go.FigureWidget(spec, _validate=False)


def selected_x_range(message: Any) -> tuple[float, float] | None:
    """``(low, high)`` of the x axis a box selection spans, from a ``"selected"`` page message
    (:meth:`FigureSlot.on_event`); ``None`` for a lasso, a cleared selection or anything
    malformed (the message comes from the page: only two finite numbers are taken).

    Examples
    --------
    >>> from covidimg.widgets._figures import selected_x_range
    >>> selected_x_range({"event": "selected", "points": [], "range": {"x": [7, 2.5]}})
    (2.5, 7.0)
    >>> selected_x_range({"event": "selected", "points": [], "range": None}) is None
    True
    """
    span = message.get("range") if isinstance(message, dict) else None
    x = span.get("x") if isinstance(span, dict) else None
    if not isinstance(x, list | tuple) or len(x) != 2:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in x):
        return None
    low, high = sorted(float(v) for v in x)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return low, high


class FigureSlot(w.Box):
    """Holds the one :class:`~covidimg.widgets.plotly_view.PlotlyView` a view draws into, for
    the view's whole life; :meth:`show` sends it the new figure.

    A redraw changes the figure of the same widget: only the figure's data, and its layout
    when that changed, travel to the page (as synced state, so a page that connects later
    draws the figure the kernel holds), and the page redraws with ``Plotly.react``.

    The layout's ``meta`` carries ``covidimg_view`` and the given counts, so a test (or a
    user) can read what a figure shows without parsing its traces.
    """

    def __init__(self, view: str, **meta: Any) -> None:
        self.view = view
        #: Layout settings the view adds to every figure it shows (e.g. ``dragmode``); a view
        #: asking for box selections (``on_event("selected")``) gets the select tool here.
        self.layout_extra: dict[str, Any] = {}
        self._spec = self._with_meta(empty_figure.spec("", ""), meta)
        self._figure: go.Figure | None = None
        self.plot = PlotlyView(self._spec)
        super().__init__([self.plot], layout=w.Layout(width="100%"))
        self.add_class(f"covidimg-figure-{view}")

    def _with_meta(self, spec: dict, meta: dict) -> dict:
        return {"data": spec.get("data", []),
                "layout": {**spec.get("layout", {}), **self.layout_extra,
                           "meta": {"covidimg_view": self.view, **meta}}}

    @property
    def spec(self) -> dict:
        """The figure shown, as the plain dict it was built as (with its ``meta``)."""
        return self._spec

    @property
    def figure(self) -> go.Figure:
        """The figure shown, as a ``plotly.graph_objects.Figure`` (built on first access)."""
        if self._figure is None:
            self._figure = go.Figure(self._spec, _validate=False)
        return self._figure

    def show(self, spec: dict, **meta: Any) -> None:
        """Show the figure ``spec`` in place of the one shown.

        ``spec`` is a figure built as a plain dict by :mod:`covidimg.plotting`
        (``plot_x.spec(...)``: the figure ``plot_x(...)`` returns); ``meta`` goes into its
        layout's ``meta`` with ``covidimg_view``.
        """
        self._spec = self._with_meta(spec, meta)
        self._figure = None
        self.plot.show(self._spec)

    def on_click(self, callback: Callable[[int, list[int]], None]) -> None:
        """Call ``callback(trace_index, point_indices)`` when points are clicked in the page."""
        self.plot.on_click(callback)

    def on_event(self, name: str, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback(message)`` on the page event ``name`` (see
        :meth:`~covidimg.widgets.plotly_view.PlotlyView.on_event`). Asking for ``"selected"``
        puts plotly's box-select tool in the figure's modebar (from the next figure shown)."""
        if name == "selected":
            self.layout_extra.setdefault("modebar", {"add": ["select2d"]})
        self.plot.on_event(name, callback)


class FigureView:
    """Mixin for a view that draws into ``self.figure_slot``: ``view.figure`` is the one shown."""

    figure_slot: FigureSlot

    @property
    def figure(self) -> go.Figure:
        """The figure shown now (a ``plotly.graph_objects.Figure``, read-only: a redraw
        replaces it; the page's widget is :attr:`figure_slot`)."""
        return self.figure_slot.figure


class SelectionView:
    """Mixin for a view that shows a cohort, or a selection of one (the dashboard's fast path).

    :meth:`update` (a cohort) analyses the cohort's tables; :meth:`update_selection` (a
    :class:`~covidimg.stats.selection.Selection` from :class:`CohortFilter`) analyses the
    masks with the arrays computed once for the whole cohort, with the same results.
    """

    _selection: Selection | None = None
    _cohort: Cohort | None = None

    @property
    def cohort(self) -> Cohort:
        """The cohort shown (a selection's tables are built on first access)."""
        if self._selection is not None:
            return self._selection.cohort
        assert self._cohort is not None
        return self._cohort

    @property
    def selection(self) -> Selection | None:
        """The selection shown, or None when the view was given a cohort."""
        return self._selection

    def _show(self, cohort: Cohort | None, selection: Selection | None) -> None:
        self._cohort, self._selection = cohort, selection
