"""Replace what a FigureWidget shows in one batched message, and label it for tests and users."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import plotly.graph_objects as go

from covidimg.plotting._style import white_template

__all__ = ["new_figure_widget", "refresh_snapshot", "replace_figure"]


def new_figure_widget(view: str, **meta: Any) -> go.FigureWidget:
    """An empty FigureWidget whose layout names the view it shows."""
    fig = go.FigureWidget()
    fig.update_layout(meta={"covidimg_view": view, **meta}, template=white_template())
    refresh_snapshot(fig)
    return fig


def replace_figure(widget: go.FigureWidget, figure: go.Figure, view: str,
                   **meta: Any) -> None:
    """Show ``figure`` in ``widget``: traces and layout swapped in one batch.

    The layout's ``meta`` carries ``covidimg_view`` and the given counts, so a test (or a
    user) can read what a figure shows without parsing its traces.
    """
    figure.update_layout(meta={"covidimg_view": view, **meta})
    with widget.batch_update():
        widget.data = ()
        if figure.data:
            widget.add_traces(list(figure.data))
        widget.layout = figure.layout
    refresh_snapshot(widget)


def refresh_snapshot(widget: go.FigureWidget) -> None:
    """Copy what ``widget`` shows into the state a newly connected page starts from.

    Plotly sends edits as one-off messages and refreshes the widget's synced state only when
    the widget itself is displayed, not when a container holding it is. A page that connects
    after the edits (Voila runs the notebook before the browser connects; a reloaded
    JupyterLab tab) would otherwise draw the figure as first created.
    """
    widget._widget_layout = deepcopy(widget._layout_obj._props)
    widget._widget_data = deepcopy(widget._data)
