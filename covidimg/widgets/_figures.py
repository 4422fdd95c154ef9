"""The slot a view's figure lives in: every redraw swaps in a new FigureWidget, labelled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as w
import plotly.graph_objects as go

from covidimg.plotting._style import white_template

if TYPE_CHECKING:
    from covidimg.cohort import Cohort
    from covidimg.stats.selection import Selection

__all__ = ["FigureSlot", "FigureView", "SelectionView"]


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
        empty = go.Figure(layout={"meta": {"covidimg_view": view, **meta},
                                  "template": white_template()})
        super().__init__([go.FigureWidget(empty)], layout=w.Layout(width="100%"))

    @property
    def figure(self) -> go.FigureWidget:
        """The FigureWidget shown now."""
        return self.children[0]

    def show(self, figure: go.Figure | dict, **meta: Any) -> go.FigureWidget:
        """Show ``figure`` (a new FigureWidget replaces the old one, which is closed).

        ``figure`` is a ``go.Figure``, or a figure built as a plain dict by the plotting
        module's ``*_spec`` functions (the same figure its ``plot_*`` function returns). A
        dict goes into the FigureWidget without plotly's per-property validation, which
        costs more than building the figure (tests check that both give the same widget).
        """
        meta = {"covidimg_view": self.view, **meta}
        if isinstance(figure, dict):
            spec = {"data": figure.get("data", []),
                    "layout": {**figure.get("layout", {}), "meta": meta}}
            new = go.FigureWidget(spec, _validate=False)
        else:
            figure.update_layout(meta=meta)
            new = go.FigureWidget(figure)
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
