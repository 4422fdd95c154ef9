"""Equivalence classes of quasi-identifiers against the k-anonymity target."""

from __future__ import annotations

import numpy as np

from covidimg.plotting._style import empty_figure, figure_function, layout, plain, plain_all
from covidimg.stats import PrivacyReport

__all__ = ["plot_equivalence_classes"]


@figure_function
def plot_equivalence_classes(report: PrivacyReport) -> dict:
    """One bar per equivalence class (records sharing the quasi-identifiers), with the k line.

    Classes below ``k`` are red: publishing them would single out fewer than ``k`` people.

    Parameters
    ----------
    report
        The output of :func:`covidimg.stats.k_anonymity`.

    Returns
    -------
    plotly.graph_objects.Figure
        ``plot_equivalence_classes.spec(...)`` gives the same figure as a plain dict.

    Examples
    --------
    >>> import pandas as pd
    >>> import covidimg as ci
    >>> people = pd.DataFrame({"sex": ["F", "F", "M"], "age": [31, 38, 52]})
    >>> rep = ci.stats.k_anonymity(people, ["sex", "age"], k=2, bands={"age": 10})
    >>> len(ci.plotting.plot_equivalence_classes(rep).data)
    1
    """
    qi = [plain(q) for q in report.quasi_identifiers]
    title = (f"k-anonymity of ({', '.join(qi)}): smallest class {report.smallest_class}, "
             f"target k = {report.k}")
    classes = report.classes.sort_values("size", kind="stable")
    if not len(classes):
        return empty_figure.spec(title, "No records.")
    labels = plain_all(classes[report.quasi_identifiers].astype(str).agg(" · ".join, axis=1))
    colors = np.where(classes["below_k"], "#D55E00", "#0072B2")
    bar = {"type": "bar", "y": labels, "x": classes["size"].to_numpy(), "orientation": "h",
           "marker": {"color": colors}, "hovertemplate": "%{y}: %{x} records<extra></extra>"}
    if report.sensitive is not None:
        bar["customdata"] = classes["n_sensitive"].to_numpy()
        bar["hovertemplate"] = (f"%{{y}}: %{{x}} records<br>%{{customdata}} distinct "
                                f"{plain(report.sensitive)} values (target l = {report.l})"
                                "<extra></extra>")
    k_line = {"type": "line", "x0": report.k, "x1": report.k, "xref": "x", "y0": 0, "y1": 1,
              "yref": "y domain", "line": {"color": "#D55E00", "dash": "dash"}}
    k_note = {"text": f"k = {report.k}", "showarrow": False, "x": report.k, "xref": "x",
              "xanchor": "left", "y": 1, "yref": "y domain", "yanchor": "top"}
    n_below = int(classes["below_k"].sum())
    title += (f"<br><sup>{n_below} of {len(classes)} classes below k "
              f"({int(classes.loc[classes['below_k'], 'size'].sum())} records)</sup>")
    return {"data": [bar], "layout": layout(
        title, height=160 + 22 * len(classes), shapes=[k_line], annotations=[k_note],
        xaxis={"title": {"text": "records in the class"}},
        yaxis={"title": {"text": " · ".join(qi)}})}
