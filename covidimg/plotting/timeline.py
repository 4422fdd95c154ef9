"""Per-patient swimlanes on an aligned day axis, and the day-by-day census for large cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from covidimg.plotting._style import (
    ALIGN_LABELS,
    COLORS,
    SIGN_CONVENTION,
    empty_figure,
    figure_function,
    layout,
    plain,
    plain_all,
)
from covidimg.stats import timeline_census

__all__ = ["plot_census", "plot_timeline"]

_SEGMENTS = (("follow_up", "observed (first to last known day)", 2),
             ("hospital", "hospital stay (to discharge, death or last known day)", 7),
             ("icu", "ICU stay", 11))
_MARKERS = (("admission", "hospital admission", "line-ns", 12),
            ("discharge", "discharge", "triangle-right", 11),
            ("death", "death", "x-thin", 13),
            ("icu_release", "ICU release", "line-ns", 10))


def _segment_xy(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """x / y arrays of many line segments in one trace (NaN separates them)."""
    n = len(rows)
    x = np.column_stack([rows["start"].to_numpy(float), rows["end"].to_numpy(float),
                         np.full(n, np.nan)]).ravel()
    lane = rows["lane"].to_numpy(float)
    y = np.column_stack([lane, lane, np.full(n, np.nan)]).ravel()
    return x, y


def _offset_text(values: pd.Series) -> np.ndarray:
    v = values.to_numpy(dtype=float)
    text = np.char.add(np.char.mod("%+g", np.nan_to_num(v)), " d")
    return np.where(np.isnan(v), "–", text)


@figure_function
def plot_timeline(marks: pd.DataFrame, *, page: int | None = None, page_size: int = 60,
                  show_labs: bool = True) -> dict:
    """Swimlanes: one row per patient, stays as bars, events and exams as markers.

    Up to ``page_size`` patients are drawn as lanes. Beyond that the figure is the day-by-day
    census (:func:`plot_census` of :func:`covidimg.stats.timeline_census`) unless a ``page``
    is asked for, so it never becomes an unreadable wall. Hovering an exam shows its day,
    modality, view and offsets (MHH sign convention: days from the exam to the event,
    negative = before the exam). A handle at the left end of each lane (the trace named
    ``patient``) is what a click on a patient's lane lands on.

    Parameters
    ----------
    marks
        The output of :func:`covidimg.stats.timeline`.
    page
        Show lanes ``page * page_size`` to ``(page + 1) * page_size - 1`` (0-based).
    page_size
        Lanes per page.
    show_labs
        Draw ``lab`` marks when the timeline has them.

    Returns
    -------
    plotly.graph_objects.Figure
        ``plot_timeline.spec(...)`` gives the same figure as a plain dict.

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.load_demo()                                         # doctest: +SKIP
    >>> ci.plotting.plot_timeline(ci.stats.timeline(cohort, align="admission"))  # doctest: +SKIP
    """
    align = marks.attrs.get("align", "none")
    n_patients = int(marks["lane"].nunique()) if len(marks) else 0
    title = f"Patient timelines ({n_patients} patients, aligned on {align.replace('_', ' ')})"
    if not n_patients:
        return empty_figure.spec(title, "No patients to show: the selection is empty.")
    if page_size < 1:
        raise ValueError(f"page_size={page_size!r}; pass a positive number of lanes")
    # Pages hold lane numbers: a patient without a mark keeps its (empty) lane number.
    n_pages = int(np.ceil((int(marks["lane"].max()) + 1) / page_size))
    if page is None and n_patients > page_size:
        return plot_census.spec(timeline_census(marks), note=(
            f"{n_patients} patients: too many for one lane each. Pass page=0…{n_pages - 1} "
            f"to see {page_size} lanes at a time."))
    page = page or 0
    if not 0 <= page < n_pages:
        raise ValueError(f"page={page!r}; this timeline has pages 0 to {n_pages - 1} "
                         f"({n_patients} patients, {page_size} per page)")
    lanes = (marks["lane"] >= page * page_size) & (marks["lane"] < (page + 1) * page_size)
    shown = marks[lanes.to_numpy(dtype=bool)]
    data: list[dict] = []
    for kind, label, width in _SEGMENTS:
        rows = shown[shown["kind"] == kind]
        if len(rows):
            x, y = _segment_xy(rows)
            data.append({"type": "scatter", "x": x, "y": y, "mode": "lines", "name": label,
                         "hoverinfo": "skip", "line": {"color": COLORS[kind], "width": width}})
    exams = shown[shown["kind"] == "exam"]
    if len(exams):
        # Shown: columns 0-8 (text from the data as plain); the last, the image_uid itself,
        # is what a click on the exam reports.
        custom = np.column_stack([
            plain_all(exams["patient_uid"].astype(str)),
            np.char.mod("%g", exams["day"].to_numpy(float)),
            plain_all(exams["modality"].astype(str)), plain_all(exams["view"].astype(str)),
            _offset_text(exams["admission_offset"]), _offset_text(exams["icu_admission_offset"]),
            _offset_text(exams["icu_release_offset"]), _offset_text(exams["death_offset"]),
            plain_all(exams["image_uid"].astype(str)), exams["image_uid"].astype(str)])
        data.append({
            "type": "scatter", "x": exams["start"].to_numpy(float),
            "y": exams["lane"].to_numpy(float), "mode": "markers", "name": "exam",
            "marker": {"color": "white", "size": 8,
                       "line": {"color": COLORS["exam"], "width": 1.5}},
            "customdata": custom,
            "hovertemplate": ("<b>%{customdata[0]}</b> · exam %{customdata[8]}<br>"
                              "exam day %{customdata[1]} (%{x:+g} d on this axis)<br>"
                              "%{customdata[2]} %{customdata[3]}<br>"
                              "offsets (days from exam; negative = before):<br>"
                              "  admission %{customdata[4]}, ICU admission %{customdata[5]},<br>"
                              "  ICU release %{customdata[6]}, death %{customdata[7]}"
                              "<extra></extra>")})
    for kind, label, symbol, size in _MARKERS:
        rows = shown[shown["kind"] == kind]
        if len(rows):
            color = COLORS.get(kind, "#444")
            data.append({
                "type": "scatter", "x": rows["start"].to_numpy(float),
                "y": rows["lane"].to_numpy(float), "mode": "markers", "name": label,
                "marker": {"symbol": symbol, "size": size, "color": color,
                           "line": {"width": 2, "color": color}},
                "customdata": np.column_stack([plain_all(rows["patient_uid"].astype(str)),
                                               np.char.mod("%g", rows["day"].to_numpy(float))]),
                "hovertemplate": (f"<b>%{{customdata[0]}}</b><br>{label}: day "
                                  "%{customdata[1]} (%{x:+g} d on this axis)<extra></extra>")})
    labs = shown[shown["kind"] == "lab"]
    if show_labs and len(labs):
        value = np.where(np.isneginf(labs["lower"]), "< " + labs["upper"].map("{:g}".format),
                         np.where(np.isposinf(labs["upper"]),
                                  "> " + labs["lower"].map("{:g}".format),
                                  "[" + labs["lower"].map("{:g}".format) + ", "
                                  + labs["upper"].map("{:g}".format) + ")"))
        data.append({
            "type": "scatter", "x": labs["start"].to_numpy(float),
            "y": labs["lane"].to_numpy(float) + 0.3, "mode": "markers", "name": "lab draw",
            "marker": {"symbol": "diamond", "size": 5, "color": COLORS["lab"]},
            "customdata": np.column_stack([plain_all(labs["patient_uid"].astype(str)),
                                           plain_all(labs["analyte"].astype(str)), value,
                                           plain_all(labs["unit"].astype(str))]),
            "hovertemplate": ("<b>%{customdata[0]}</b><br>%{customdata[1]} %{customdata[2]} "
                              "%{customdata[3]}<br>day %{x:+g} on this axis<extra></extra>")})
    lane_ids = shown.drop_duplicates("lane").sort_values("lane")
    # One handle per lane in a narrow strip left of the days (its own x axis, fixed, so
    # zooming the days leaves it in place): a click on it names the lane's patient.
    data.append({
        "type": "scatter", "x": np.full(len(lane_ids), 0.5), "xaxis": "x2",
        "y": lane_ids["lane"].to_numpy(float), "mode": "markers", "name": "patient",
        "showlegend": False,
        "marker": {"symbol": "triangle-right", "size": 9, "color": COLORS["exam"]},
        "customdata": np.column_stack([plain_all(lane_ids["patient_uid"].astype(str))]),
        "hovertemplate": ("<b>%{customdata[0]}</b><br>click: this patient's radiographs "
                          "side by side<extra></extra>")})
    tick_text = plain_all(lane_ids["patient_uid"].astype(str)) if len(lane_ids) <= 60 else None
    yaxis = {"title": {"text": "patient"}, "autorange": "reversed", "anchor": "x2",
             "tickvals": lane_ids["lane"].to_numpy(float), "showticklabels": tick_text is not None,
             "showgrid": False, "zeroline": False}
    if tick_text is not None:
        yaxis["ticktext"] = tick_text
    xaxis = {"title": {"text": ALIGN_LABELS.get(align, align)}, "zeroline": True,
             "zerolinecolor": "#888", "domain": [0.03, 1]}
    if n_pages > 1:
        title += f" — page {page + 1} of {n_pages}"
    notes = [SIGN_CONVENTION]
    if marks.attrs.get("unaligned"):
        notes.append(f"{len(marks.attrs['unaligned'])} patients without "
                     f"{align.replace('_', ' ')} not shown")
    admitted = marks.loc[marks["kind"] == "admission", "patient_uid"].nunique()
    if align == "admission" and admitted < marks["patient_uid"].nunique():
        notes.append("patients without a known admission start at the axis' day 0")
    # One line per note: SVG text does not wrap, so one long line was cut at the figure's edge.
    title += "".join(f"<br><sup>{note}</sup>" for note in notes)
    xaxis2 = {"domain": [0, 0.025], "range": [0, 1], "fixedrange": True, "visible": False}
    return {"data": data, "layout": layout(title, height=180 + 22 * len(lane_ids), xaxis=xaxis,
                                           yaxis=yaxis, xaxis2=xaxis2)}


#: Above this many days the overview draws exams per day as a filled step line, not bars:
#: IDC's whole index spans ~5,900 days, and redrawing as many bars took the browser ~1 s.
MAX_BAR_DAYS = 400


@figure_function
def plot_census(census: pd.DataFrame, *, note: str = "") -> dict:
    """Patients in hospital and in ICU per day, with exams and deaths: the aggregate timeline.

    Parameters
    ----------
    census
        The output of :func:`covidimg.stats.timeline_census`.
    note
        A line shown under the title (e.g. how to page through the lanes).

    Returns
    -------
    plotly.graph_objects.Figure
        ``plot_census.spec(...)`` gives the same figure as a plain dict.

    Examples
    --------
    >>> import covidimg as ci
    >>> tl = ci.stats.timeline(ci.load_demo())                            # doctest: +SKIP
    >>> ci.plotting.plot_census(ci.stats.timeline_census(tl))               # doctest: +SKIP
    """
    align = census.attrs.get("align", "none")
    title = f"Patients per day ({census.attrs.get('n_patients', '?')} patients, aligned on " \
            f"{align.replace('_', ' ')})"
    if not len(census):
        return empty_figure.spec(title, "No days to show: the selection is empty.")
    day = census["day"].to_numpy()
    data: list[dict] = []
    for column, label, color in (("under_observation", "under observation", COLORS["follow_up"]),
                                 ("in_hospital", "in hospital", COLORS["hospital"]),
                                 ("in_icu", "in ICU", COLORS["icu"])):
        data.append({"type": "scatter", "x": day, "y": census[column].to_numpy(), "name": label,
                     "mode": "lines", "line": {"color": color, "width": 2, "shape": "hv"},
                     "hovertemplate": f"day %{{x}}: %{{y}} patients {label}<extra></extra>"})
    exams = {"x": day, "y": census["exams"].to_numpy(), "name": "exams that day",
             "yaxis": "y2", "hovertemplate": "day %{x}: %{y} exams<extra></extra>"}
    if len(day) <= MAX_BAR_DAYS:
        data.append({**exams, "type": "bar", "marker": {"color": "#444"}, "opacity": 0.35})
    else:   # one filled step line: thousands of bars are thousands of SVG paths to redraw
        data.append({**exams, "type": "scatter", "mode": "lines", "fill": "tozeroy",
                     "line": {"shape": "hv", "width": 0.5, "color": "rgba(68,68,68,0.6)"},
                     "fillcolor": "rgba(68,68,68,0.35)"})
    deaths = census["deaths"].to_numpy() > 0
    data.append({"type": "scatter", "x": day[deaths], "y": census["deaths"].to_numpy()[deaths],
                 "name": "deaths that day", "mode": "markers", "yaxis": "y2",
                 "marker": {"symbol": "x-thin", "size": 10, "color": COLORS["death"],
                            "line": {"width": 2}},
                 "hovertemplate": "day %{x}: %{y} deaths<extra></extra>"})
    if note:
        title += "".join(f"<br><sup>{plain(part)}</sup>" for part in note.split("; "))
    return {"data": data, "layout": layout(
        title, height=450,
        # below the plot: on the right it would overlap the right axis' ticks
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0},
        margin={"l": 70, "r": 70, "t": 60 + 18 * title.count("<br>"), "b": 110},
        yaxis={"title": {"text": "patients"}, "rangemode": "tozero"},
        yaxis2={"title": {"text": "exams / deaths per day"}, "overlaying": "y", "side": "right",
                "showgrid": False, "rangemode": "tozero"},
        xaxis={"title": {"text": ALIGN_LABELS.get(align, align)}})}
