"""Equivalence classes of quasi-identifiers against the k-anonymity target."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from covidimg.plotting._style import base_layout, empty_figure
from covidimg.stats import PrivacyReport

__all__ = ["plot_equivalence_classes"]


def plot_equivalence_classes(report: PrivacyReport) -> go.Figure:
    """One bar per equivalence class (records sharing the quasi-identifiers), with the k line.

    Classes below ``k`` are red: publishing them would single out fewer than ``k`` people.

    Parameters
    ----------
    report
        The output of :func:`covidimg.stats.k_anonymity`.

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> import covidimg as ci
    >>> people = pd.DataFrame({"sex": ["F", "F", "M"], "age": [31, 38, 52]})
    >>> rep = ci.stats.k_anonymity(people, ["sex", "age"], k=2, bands={"age": 10})
    >>> len(ci.plotting.plot_equivalence_classes(rep).data)
    1
    """
    qi = report.quasi_identifiers
    title = (f"k-anonymity of ({', '.join(qi)}): smallest class {report.smallest_class}, "
             f"target k = {report.k}")
    classes = report.classes.sort_values("size", kind="stable")
    if not len(classes):
        return empty_figure(title, "No records.")
    labels = classes[qi].astype(str).agg(" · ".join, axis=1)
    colors = np.where(classes["below_k"], "#D55E00", "#0072B2")
    hover = "%{y}: %{x} records"
    custom = None
    if report.sensitive is not None:
        custom = classes["n_sensitive"]
        hover += f"<br>%{{customdata}} distinct {report.sensitive} values (target l = {report.l})"
    fig = go.Figure(go.Bar(y=labels, x=classes["size"], orientation="h", marker_color=colors,
                           customdata=custom, hovertemplate=hover + "<extra></extra>"))
    fig.add_vline(x=report.k, line_dash="dash", line_color="#D55E00",
                  annotation_text=f"k = {report.k}", annotation_position="top right")
    n_below = int(classes["below_k"].sum())
    title += (f"<br><sup>{n_below} of {len(classes)} classes below k "
              f"({int(classes.loc[classes['below_k'], 'size'].sum())} records)</sup>")
    fig.update_xaxes(title="records in the class")
    fig.update_yaxes(title=" · ".join(qi))
    return base_layout(fig, title, height=160 + 22 * len(classes))
