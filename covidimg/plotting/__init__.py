"""Figures of the analyses in :mod:`covidimg.stats`: results in, plotly Figures out.

Nothing here reads a file or computes a statistic of its own; every function takes the output
of a :mod:`covidimg.stats` function and returns a :class:`plotly.graph_objects.Figure` with
titles, units, the sign convention and reference ranges on it.

One idiom: each figure is built once as a plain dict (``{"data": [...], "layout": {...}}``);
``plot_x(...)`` returns it as a validated ``go.Figure`` and ``plot_x.spec(...)`` returns the dict
itself (what the dashboard's views draw). plotly is imported by ``_style`` only.
"""

from __future__ import annotations

from covidimg.plotting._style import empty_figure
from covidimg.plotting.labs import plot_lab_cdf, plot_lab_distribution
from covidimg.plotting.overlay import plot_image_overlay
from covidimg.plotting.privacy import plot_equivalence_classes
from covidimg.plotting.summary import plot_missingness, plot_table_one
from covidimg.plotting.survival import plot_kaplan_meier
from covidimg.plotting.timeline import plot_census, plot_timeline

__all__ = [
    "empty_figure",
    "plot_census",
    "plot_equivalence_classes",
    "plot_image_overlay",
    "plot_kaplan_meier",
    "plot_lab_cdf",
    "plot_lab_distribution",
    "plot_missingness",
    "plot_table_one",
    "plot_timeline",
]
