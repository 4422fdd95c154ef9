"""The slot a view's figure lives in: every redraw swaps in a new FigureWidget, labelled."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import plotly.graph_objects as go

from covidimg.plotting._style import white_template

__all__ = ["FigureSlot", "FigureView"]


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

    def show(self, figure: go.Figure, **meta: Any) -> go.FigureWidget:
        """Show ``figure`` (a new FigureWidget replaces the old one, which is closed)."""
        figure.update_layout(meta={"covidimg_view": self.view, **meta})
        new = go.FigureWidget(figure)
        old = self.children[0]
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
