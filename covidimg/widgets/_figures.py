"""The slot a view's figure lives in: every redraw swaps in a new FigureWidget, labelled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as w
import plotly.graph_objects as go

from covidimg.plotting import empty_figure

if TYPE_CHECKING:
    from covidimg.cohort import Cohort
    from covidimg.stats.selection import Selection

__all__ = ["FigureSlot", "FigureView", "SelectionView", "figure_widget"]

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


class FigureSlot(w.Box):
    """Holds the ``FigureWidget`` a view shows; :meth:`show` puts a new one in its place.

    A redraw builds a new FigureWidget from the finished figure instead of editing the shown
    one in place. In-place edits (``batch_update``, setting a trace's ``x``) travel as one-off
    messages that Voila 0.5 pages with plotly 7 / anywidget 0.11 never apply, and a page that
    connects after the edits (Voila runs the notebook before the browser connects; a reloaded
    JupyterLab tab) would start from the figure as first created. A new widget carries its
    whole figure in its synced state, so every front end draws what the kernel holds.

    The layout's ``meta`` carries ``covidimg_view`` and the given counts, so a test (or a
    user) can read what a figure shows without parsing its traces.
    """

    def __init__(self, view: str, **meta: Any) -> None:
        self.view = view
        empty = empty_figure.spec("", "")
        empty["layout"]["meta"] = {"covidimg_view": view, **meta}
        super().__init__([figure_widget(empty)], layout=w.Layout(width="100%"))

    @property
    def figure(self) -> go.FigureWidget:
        """The FigureWidget shown now."""
        return self.children[0]

    def show(self, spec: dict, **meta: Any) -> go.FigureWidget:
        """Show the figure ``spec`` (a new FigureWidget replaces the old one, which is closed).

        ``spec`` is a figure built as a plain dict by :mod:`covidimg.plotting`
        (``plot_x.spec(...)``: the figure ``plot_x(...)`` returns); ``meta`` goes into its
        layout's ``meta`` with ``covidimg_view``.
        """
        spec = {"data": spec.get("data", []),
                "layout": {**spec.get("layout", {}), "meta": {"covidimg_view": self.view,
                                                              **meta}}}
        new = figure_widget(spec)
        old = self.children[0]
        with self.hold_sync():    # one message; via () so traitlets never compares figures
            self.children = ()    # (comparing two figures serialises both)
            self.children = (new,)
        old.close()
        return new


class FigureView:
    """Mixin for a view that draws into ``self.figure_slot``: ``view.figure`` is the one shown."""

    figure_slot: FigureSlot

    @property
    def figure(self) -> go.FigureWidget:
        """The FigureWidget shown now (a new one after every redraw)."""
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
