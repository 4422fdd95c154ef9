"""The cohort summary as a table figure, and missingness per column."""

from __future__ import annotations

import numpy as np
import pandas as pd

from covidimg.plotting._style import empty_figure, figure_function, layout, plain, plain_all

__all__ = ["plot_missingness", "plot_table_one", "table_one_cells"]


def _p_text(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def table_one_cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Table 1 from :func:`covidimg.stats.table_one` as the text of its displayed cells.

    One list per displayed column: the variable (named on its first row only), the level,
    one column per group, missing, p (three decimals, ``<0.001`` below), test. Texts are
    as in ``table`` (not escaped: :func:`plot_table_one` and the dashboard escape them for
    their own markup); a missing value is ``""``.

    Returns
    -------
    header, columns
        The column titles, and the columns' cell texts.
    """
    flat = table.reset_index()
    variable = flat["variable"].to_numpy(dtype=object)
    first = ~flat["variable"].duplicated().to_numpy()
    groups = [str(c) for c in table.columns if c not in ("missing", "p_value", "test")]
    header = ["variable", "", *groups, "missing", "p", "test"]
    columns = [np.where(first, variable, ""), flat["level"],
               *[flat[g] for g in groups], flat["missing"],
               [_p_text(p) for p in flat["p_value"].to_numpy(dtype=float)], flat["test"]]
    text = [["" if v is None or (isinstance(v, float) and not np.isfinite(v)) else str(v)
             for v in column] for column in columns]
    return header, text


@figure_function
def plot_table_one(table: pd.DataFrame) -> dict:
    """Table 1 from :func:`covidimg.stats.table_one` as a figure (a plotly table).

    Parameters
    ----------
    table
        The output of :func:`covidimg.stats.table_one`.

    Returns
    -------
    plotly.graph_objects.Figure
        ``plot_table_one.spec(table)`` gives the same figure as a plain dict.

    Examples
    --------
    >>> import covidimg as ci
    >>> ci.plotting.plot_table_one(ci.stats.table_one(ci.load_demo(), by="icu"))  # doctest: +SKIP
    """
    by = table.attrs.get("by")
    title = "Cohort summary" + (f" by {plain(by)}" if by else "")
    if not len(table):
        return empty_figure.spec(title, "Nothing to summarise.")
    header, columns = table_one_cells(table)
    groups = header[2:-3]
    flat = table.reset_index()
    cells = [plain_all(column).tolist() for column in columns]
    shade = np.where(flat["variable"].factorize()[0] % 2 == 0, "white", "#F4F6F8").tolist()
    data = [{"type": "table",
             "header": {"values": [f"<b>{plain(h)}</b>" for h in header],
                        "fill": {"color": "#E8ECF0"},
                        "align": "left"},
             "cells": {"values": cells, "align": "left", "fill": {"color": [shade] * len(header)},
                       "height": 24},
             "columnwidth": [3.2, 1.3] + [1.6] * len(groups) + [1.1, 0.8, 1.6]}]
    note = {"text": ("n (%) of patients with a known value; median [IQR]; lab rows: first value "
                     "per patient, Turnbull estimate, <x = below detection limit; tests leave "
                     "out 'unknown'"), "showarrow": False, "xref": "paper", "yref": "paper",
            "x": 0, "y": 0, "yanchor": "top", "xanchor": "left", "font": {"size": 11}}
    return {"data": data, "layout": layout(title, height=120 + 26 * (len(flat) + 1),
                                           annotations=[note])}


@figure_function
def plot_missingness(missing: pd.DataFrame, *, only_missing: bool = True) -> dict:
    """Share of missing values per column, one bar per column, grouped by table.

    Parameters
    ----------
    missing
        The output of :func:`covidimg.stats.missingness`.
    only_missing
        Leave out complete columns.

    Returns
    -------
    plotly.graph_objects.Figure
        ``plot_missingness.spec(...)`` gives the same figure as a plain dict.

    Examples
    --------
    >>> import covidimg as ci
    >>> ci.plotting.plot_missingness(ci.stats.missingness(ci.load_demo()))  # doctest: +SKIP
    """
    title = "Missing values per column"
    rows = missing[missing["n_missing"] > 0] if only_missing else missing
    if not len(rows):
        return empty_figure.spec(title, "No missing values.")
    labels = plain_all(rows["table"] + "." + rows["column"])
    bar = {"type": "bar", "y": labels, "x": (rows["percent_missing"] / 100).to_numpy(),
           "orientation": "h", "marker": {"color": "#0072B2"},
           "customdata": np.column_stack([rows["n_missing"], rows["n_rows"]]),
           "hovertemplate": ("%{y}: %{customdata[0]} of %{customdata[1]} missing (%{x:.0%})"
                             "<extra></extra>")}
    return {"data": [bar], "layout": layout(
        title, height=160 + 20 * len(rows),
        xaxis={"title": {"text": "share of rows missing"}, "tickformat": ".0%", "range": [0, 1]},
        yaxis={"autorange": "reversed", "title": {"text": ""}})}
