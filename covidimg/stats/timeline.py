"""Per-patient timelines on the cohort's day axis: stays, ICU bands, events, exams, lab draws."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from covidimg._validation import Unaligned, check_choice, choices
from covidimg.stats._common import _event_is, as_selection, patient_days, positions

if TYPE_CHECKING:
    from covidimg.cohort import Cohort, Selection

__all__ = ["ALIGN", "SORT_BY", "Align", "SortBy", "census_from_days", "cohort_census", "timeline",
           "timeline_census"]

#: What a timeline can be aligned on (day 0 of the plotted axis).
Align = Literal["admission", "icu_admission", "first_exam", "death", "none"]
ALIGN = choices(Align)
#: What patients can be sorted by.
SortBy = Literal["admission", "icu_admission", "first_exam", "death", "discharge", "last_known",
                 "n_exams", "follow_up", "patient_uid"]
SORT_BY = choices(SortBy)

#: Columns of the DataFrame :func:`timeline` returns.
COLUMNS = ["patient_uid", "lane", "kind", "start", "end", "day", "open_end", "image_uid",
           "modality", "view", "admission_offset", "icu_admission_offset", "icu_release_offset",
           "death_offset", "analyte", "lower", "upper", "unit"]

_POINT_EVENTS = ("admission", "icu_admission", "icu_release", "death", "discharge",
                 "covid_test_positive", "covid_test_negative", "intubation")


def _anchor(days: pd.DataFrame, align: str) -> pd.Series:
    if align == "none":
        return pd.Series(0.0, index=days.index)
    if align == "admission":
        # day 0 of the axis is admission where known; without an admission event the axis'
        # own day 0 (the source's index event or first exam) stands in for it
        return days["admission"].fillna(0.0)
    return days[align]


def _check_alignment(align: Align, unaligned: Unaligned) -> None:
    check_choice(align, Align, "align")
    check_choice(unaligned, Unaligned, "unaligned")


def _aligned_days(cohort: Cohort, align: str,
                  unaligned: str) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Per-patient days, each patient's alignment day, and the patients without one.

    With ``unaligned="keep"`` those patients stay, aligned on day 0; with ``"drop"`` they go.
    """
    days = patient_days(cohort)
    anchor = _anchor(days, align)
    missing = anchor.isna()
    dropped = sorted(days.index[missing])
    if unaligned == "keep":
        anchor = anchor.fillna(0.0)
    else:
        days, anchor = days[~missing], anchor[~missing]
    return days, anchor, dropped


def _segments(days: pd.DataFrame) -> pd.DataFrame:
    """Follow-up and hospital-stay segments, one row per patient each."""
    follow = pd.DataFrame({"patient_uid": days.index, "kind": "follow_up",
                           "start": days["first_known"].to_numpy(),
                           "end": days["last_known"].to_numpy(), "open_end": False})
    known = days[days["admission_known"]]
    stay_end = known["discharge"].fillna(known["death"])
    open_end = stay_end.isna()
    stay_end = stay_end.fillna(known["last_known"])
    stay = pd.DataFrame({"patient_uid": known.index, "kind": "hospital",
                         "start": known["admission"].to_numpy(), "end": stay_end.to_numpy(),
                         "open_end": open_end.to_numpy()})
    return pd.concat([follow, stay], ignore_index=True).dropna(subset=["start", "end"])


def _icu_bands(events: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    """ICU stays: the k-th ICU admission paired with the k-th ICU release of the patient."""
    ev = events.dropna(subset=["day"]).sort_values(["patient_uid", "day"], kind="stable")
    start = ev[ev["event"] == "icu_admission"][["patient_uid", "day"]]
    stop = ev[ev["event"] == "icu_release"][["patient_uid", "day"]]
    start = start.assign(k=start.groupby("patient_uid").cumcount())
    stop = stop.assign(k=stop.groupby("patient_uid").cumcount())
    bands = start.merge(stop, on=["patient_uid", "k"], how="left", suffixes=("", "_end"))
    open_end = bands["day_end"].isna()
    fallback = bands["patient_uid"].map(days["death"].fillna(days["last_known"]))
    end = bands["day_end"].fillna(fallback)
    return pd.DataFrame({"patient_uid": bands["patient_uid"].to_numpy(), "kind": "icu",
                         "start": bands["day"].to_numpy(),
                         "end": np.maximum(end.to_numpy(dtype=float), bands["day"].to_numpy()),
                         "open_end": open_end.to_numpy()})


def timeline(cohort: Cohort, align: Align = "admission", *, sort_by: SortBy | None = None,
             labs: bool = False, unaligned: Unaligned = "drop") -> pd.DataFrame:
    """Everything that happened to each patient, as marks on an aligned day axis.

    ``start`` / ``end`` are days relative to the alignment event (``start = end`` for point
    marks); ``day`` keeps the cohort's own day. Exams carry their modality, view and offsets in
    the MHH convention (days from the exam to the event, negative = before the exam). A hospital
    stay runs from admission to discharge, else death, else the last known day (``open_end``);
    an ICU band from each ICU admission to the matching release, else death / last known day.

    Parameters
    ----------
    cohort
        The cohort (typically filtered).
    align
        Day 0 of the axis: ``"admission"`` (patients without an admission event keep the
        axis' own day 0, i.e. the source's index event or first exam), ``"icu_admission"``,
        ``"first_exam"``, ``"death"`` or ``"none"`` (the cohort's day axis as is).
    sort_by
        Lane order: one of :data:`SORT_BY` (default: the alignment event, else first exam).
        Day-based keys are aligned days; patients without the key come last.
    labs
        Add one ``lab`` mark per lab draw (after removing draws repeated on several exams).
    unaligned
        Patients who lack the alignment event (e.g. no ICU admission): ``"drop"`` them (their
        ids are listed in ``attrs["unaligned"]``) or ``"keep"`` them on the axis' own day 0.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`; ``kind`` is ``follow_up``, ``hospital``, ``icu``, ``exam``,
        ``lab`` or an event name. ``lane`` numbers patients from 0 in sort order. ``attrs``:
        ``align``, ``sort_by``, ``n_patients``, ``unaligned``.

    Examples
    --------
    >>> import covidimg as ci
    >>> tl = ci.stats.timeline(ci.load_demo(), align="icu_admission")  # doctest: +SKIP
    >>> tl[tl["kind"] == "death"][["patient_uid", "start"]]             # doctest: +SKIP
    """
    _check_alignment(align, unaligned)
    sort_by = sort_by or (align if align != "none" else "first_exam")
    check_choice(sort_by, SortBy, "sort_by")
    days, anchor, dropped = _aligned_days(cohort, align, unaligned)
    lanes = _lane_order(days, anchor, sort_by)

    events = cohort.events[positions(cohort.events["patient_uid"], days.index) >= 0]
    events = events.assign(patient_uid=events["patient_uid"].astype(str),
                           event=events["event"].astype(str))
    points = events.dropna(subset=["day"])
    points = points[points["event"].isin(_POINT_EVENTS)]
    parts = [
        _segments(days),
        _icu_bands(events, days),
        pd.DataFrame({"patient_uid": points["patient_uid"].to_numpy(),
                      "kind": points["event"].to_numpy(), "start": points["day"].to_numpy(),
                      "end": points["day"].to_numpy(), "open_end": False}),
    ]
    images = cohort.images
    images = images[positions(images["patient_uid"], days.index) >= 0]
    exam_cols = ["image_uid", "admission_offset", "icu_admission_offset", "icu_release_offset",
                 "death_offset"]
    parts.append(pd.DataFrame({
        "patient_uid": images["patient_uid"].astype(str).to_numpy(), "kind": "exam",
        "start": images["day"].to_numpy(dtype=float), "end": images["day"].to_numpy(dtype=float),
        "open_end": False, "modality": images["modality"].astype(str).to_numpy(),
        "view": images["view"].astype(str).to_numpy(),
        **{c: images[c].to_numpy() for c in exam_cols}}))
    if labs:
        draws = cohort.labs[positions(cohort.labs["patient_uid"], days.index) >= 0]
        draws = draws.dropna(subset=["day"]).drop_duplicates(
            ["patient_uid", "analyte", "day", "lower", "upper"])
        parts.append(pd.DataFrame({
            "patient_uid": draws["patient_uid"].astype(str).to_numpy(), "kind": "lab",
            "start": draws["day"].to_numpy(), "end": draws["day"].to_numpy(), "open_end": False,
            "analyte": draws["analyte"].astype(str).to_numpy(),
            "lower": draws["lower"].to_numpy(), "upper": draws["upper"].to_numpy(),
            "unit": draws["unit"].astype(str).to_numpy()}))
    marks = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(
        len(p) for p in parts) else pd.DataFrame(columns=COLUMNS)
    marks = marks.reindex(columns=COLUMNS)
    where = positions(marks["patient_uid"], anchor.index)
    shift = np.where(where >= 0, anchor.to_numpy(dtype=float)[where], np.nan)
    marks["day"] = marks["start"].astype(float)
    marks["start"] = marks["start"].astype(float) - shift
    marks["end"] = marks["end"].astype(float) - shift
    lane_of = positions(marks["patient_uid"], lanes.index)
    marks["lane"] = pd.array(np.where(lane_of >= 0, lanes.to_numpy()[lane_of], -1),
                             dtype="Int64")
    marks.loc[lane_of < 0, "lane"] = pd.NA
    marks["open_end"] = marks["open_end"].fillna(False).astype(bool)
    marks = marks.sort_values(["lane", "start", "kind"], kind="stable", ignore_index=True)
    marks.attrs.update(align=align, sort_by=sort_by, n_patients=len(lanes),
                       unaligned=dropped if unaligned == "drop" else [],
                       unaligned_kept=dropped if unaligned == "keep" else [])
    return marks


def _lane_order(days: pd.DataFrame, anchor: pd.Series, sort_by: str) -> pd.Series:
    if sort_by == "patient_uid":
        key = pd.Series(0.0, index=days.index)
    elif sort_by == "n_exams":
        key = days["n_exams"].astype(float)
    elif sort_by == "follow_up":
        key = (days["last_known"] - days["first_known"]).astype(float)
    else:
        key = days[sort_by] - anchor
    frame = pd.DataFrame({"key": key.to_numpy(dtype=float), "uid": days.index})
    frame = frame.sort_values(["key", "uid"], na_position="last", kind="stable")
    return pd.Series(np.arange(len(frame)), index=frame["uid"].to_numpy())


def timeline_census(marks: pd.DataFrame) -> pd.DataFrame:
    """Day-by-day counts from a :func:`timeline`: the aggregate view for large cohorts.

    A patient counts on day ``d`` (aligned, whole days) when a segment covers it:
    ``floor(start) <= d <= floor(end)``.

    Returns
    -------
    pandas.DataFrame
        One row per day with ``under_observation``, ``in_hospital``, ``in_icu`` (patients),
        ``exams``, ``deaths``, ``discharges`` and ``icu_admissions`` (events that day).

    Examples
    --------
    >>> import covidimg as ci
    >>> census = ci.stats.timeline_census(ci.stats.timeline(ci.load_demo()))  # doctest: +SKIP
    """
    finite = marks[np.isfinite(marks["start"].to_numpy(dtype=float))]
    segments = {}
    for kind, _name in _SEGMENTS:
        seg = finite[finite["kind"] == kind]
        if kind == "icu":  # a patient with two overlapping bands counts once per day
            seg = seg.drop_duplicates(["patient_uid", "start", "end"])
        segments[kind] = (seg["start"].to_numpy(dtype=float), seg["end"].to_numpy(dtype=float))
    points = {kind: finite.loc[finite["kind"] == kind, "start"].to_numpy(dtype=float)
              for kind, _name in _POINTS}
    census = _count_days(segments, points, finite["start"].to_numpy(dtype=float),
                         finite["end"].to_numpy(dtype=float))
    census.attrs.update(marks.attrs)
    return census


#: Census columns counting patients whose segment of a kind covers the day.
_SEGMENTS = (("follow_up", "under_observation"), ("hospital", "in_hospital"), ("icu", "in_icu"))
#: Census columns counting events of a kind on the day.
_POINTS = (("exam", "exams"), ("death", "deaths"), ("discharge", "discharges"),
           ("icu_admission", "icu_admissions"))
CENSUS_COLUMNS = ["day", *(name for _k, name in _SEGMENTS), *(name for _k, name in _POINTS)]


def _count_days(segments: dict[str, tuple[np.ndarray, np.ndarray]],
                points: dict[str, np.ndarray], starts: np.ndarray,
                ends: np.ndarray) -> pd.DataFrame:
    """The census (one row per whole day) from aligned segments and point days.

    A segment counts on day ``d`` when ``floor(start) <= d <= floor(end)``; the days run
    from the first finite ``starts`` to the last ``ends`` (of every mark drawn).
    """
    ok = np.isfinite(starts)
    if not ok.any():
        return pd.DataFrame(columns=CENSUS_COLUMNS)
    first = int(np.floor(starts[ok].min()))
    last = int(np.floor(np.nanmax(ends[ok])))
    n_days = last - first + 1
    out: dict[str, np.ndarray] = {"day": np.arange(first, last + 1)}
    for kind, name in _SEGMENTS:
        start, end = segments[kind]
        fin = np.isfinite(start)
        diff = (_day_counts(np.floor(start[fin]).astype(int) - first, n_days + 1)
                - _day_counts(np.floor(end[fin]).astype(int) - first + 1, n_days + 1))
        out[name] = np.cumsum(diff)[:-1].astype(int)
    for kind, name in _POINTS:
        pts = points[kind]
        pts = np.floor(pts[np.isfinite(pts)])
        out[name] = np.bincount(pts.astype(int) - first, minlength=n_days)[:n_days]
    return pd.DataFrame(out)


def cohort_census(data: Cohort | Selection, align: Align = "admission", *,
                  unaligned: Unaligned = "drop") -> pd.DataFrame:
    """The census of :func:`timeline_census` straight from a cohort, without per-mark rows.

    The same day-by-day counts as ``timeline_census(timeline(cohort, align,
    unaligned=unaligned))``, computed with whole-array operations on the patients' key days,
    so the aggregate view of a 100,000-image cohort takes milliseconds. ``data`` is a cohort
    or a selection of one (``cohort.select(...)``, what the dashboard passes). ``attrs``
    carry ``align``, ``n_patients`` and the unaligned patients as :func:`timeline` reports
    them.

    Examples
    --------
    >>> import covidimg as ci
    >>> census = ci.stats.cohort_census(ci.load_demo(), align="admission")  # doctest: +SKIP
    """
    _check_alignment(align, unaligned)
    selection = as_selection(data)
    a = selection.arrays
    events = selection.event_rows
    event_is = _event_is(a)
    images = selection.images
    return census_from_days(
        patient_days(selection), selection.local(a.event_patient[events]),
        a.floats("events", "day")[events],
        {name: event_is[name][events] for name in CENSUS_EVENTS},
        selection.local(a.image_patient[images]), a.floats("images", "day")[images],
        align, unaligned=unaligned)


#: Events the census reads.
CENSUS_EVENTS = ("icu_admission", "icu_release", "death", "discharge")


def census_from_days(days: pd.DataFrame, event_patient: np.ndarray, event_day: np.ndarray,
                     event_is: dict[str, np.ndarray], image_patient: np.ndarray,
                     image_day: np.ndarray, align: Align = "admission", *,
                     unaligned: Unaligned = "drop") -> pd.DataFrame:
    """:func:`cohort_census` from the patients' key days and the event and exam days.

    ``days`` is :func:`covidimg.stats.patient_days` of the cohort; ``event_patient`` and
    ``image_patient`` give each event's and exam's patient as a row of ``days`` (-1: none);
    ``event_is`` maps each name of :data:`CENSUS_EVENTS` to the events of that kind.
    """
    _check_alignment(align, unaligned)
    anchor = _anchor(days, align)
    missing = anchor.isna().to_numpy()
    dropped = sorted(days.index[missing])
    if unaligned == "keep":
        anchor = anchor.fillna(0.0)
    elif missing.any():
        kept = ~missing
        days, anchor = days[kept], anchor[kept]
        remap = np.r_[np.where(kept, np.cumsum(kept) - 1, -1), -1]
        event_patient = remap[np.where(event_patient >= 0, event_patient, -1)]
        image_patient = remap[np.where(image_patient >= 0, image_patient, -1)]
    shift_of = anchor.to_numpy(dtype=float)
    segments: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    first_known = days["first_known"].to_numpy(dtype=float)
    last_known = days["last_known"].to_numpy(dtype=float)
    keep = ~(np.isnan(first_known) | np.isnan(last_known))
    segments["follow_up"] = (first_known[keep] - shift_of[keep],
                             last_known[keep] - shift_of[keep])
    admission = days["admission"].to_numpy(dtype=float)
    stay_end = days["discharge"].fillna(days["death"]).fillna(days["last_known"]).to_numpy(
        dtype=float)
    keep = days["admission_known"].to_numpy(dtype=bool) & ~np.isnan(admission) & ~np.isnan(
        stay_end)
    segments["hospital"] = (admission[keep] - shift_of[keep], stay_end[keep] - shift_of[keep])
    valid = (event_patient >= 0) & ~np.isnan(event_day)
    ev_pos, ev_day = event_patient[valid], event_day[valid]
    ev_is = {name: np.asarray(event_is[name], dtype=bool)[valid] for name in CENSUS_EVENTS}
    fallback = days["death"].fillna(days["last_known"]).to_numpy(dtype=float)
    segments["icu"] = _icu_band_arrays(ev_pos, ev_day, ev_is["icu_admission"],
                                       ev_is["icu_release"], fallback, shift_of)
    points: dict[str, np.ndarray] = {}
    for kind in ("death", "discharge", "icu_admission"):
        rows = ev_is[kind]
        points[kind] = ev_day[rows] - shift_of[ev_pos[rows]]
    im_keep = image_patient >= 0
    points["exam"] = image_day[im_keep] - shift_of[image_patient[im_keep]]
    starts = [v[0] for v in segments.values()] + list(points.values())
    ends = [v[1] for v in segments.values()] + list(points.values())
    census = _count_days(segments, points, np.concatenate(starts), np.concatenate(ends))
    census.attrs.update(align=align, sort_by=align if align != "none" else "first_exam",
                        n_patients=len(days),
                        unaligned=dropped if unaligned == "drop" else [],
                        unaligned_kept=dropped if unaligned == "keep" else [])
    return census


def _day_counts(index: np.ndarray, size: int) -> np.ndarray:
    """How often each of ``size`` slots occurs in ``index`` (negative = from the end, as numpy
    indexes; an end before every start lands in the dropped last slot)."""
    return np.bincount(np.where(index < 0, index + size, index), minlength=size)


def _within_patient_rank(pos: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ordered by (patient, day), stable, and each row's rank within its patient."""
    order = np.lexsort((day, pos))
    p = pos[order]
    run_start = np.r_[0, np.flatnonzero(np.diff(p)) + 1] if p.size else np.array([], int)
    first = np.repeat(run_start, np.diff(np.r_[run_start, p.size]))
    return order, np.arange(p.size) - first


def _icu_band_arrays(pos: np.ndarray, day: np.ndarray, adm: np.ndarray, rel: np.ndarray,
                     fallback: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Aligned (start, end) of the ICU bands, as :func:`_icu_bands` pairs them, one per
    distinct (patient, start, end); ``adm`` / ``rel`` mark ICU admissions and releases."""
    a_order, a_rank = _within_patient_rank(pos[adm], day[adm])
    r_order, r_rank = _within_patient_rank(pos[rel], day[rel])
    a_pos, a_day = pos[adm][a_order], day[adm][a_order]
    r_pos, r_day = pos[rel][r_order], day[rel][r_order]
    width = int(max(a_rank.max(initial=0), r_rank.max(initial=0))) + 1
    a_key, r_key = a_pos * width + a_rank, r_pos * width + r_rank
    at = np.searchsorted(r_key, a_key)
    at_ok = at < r_key.size
    matched = np.zeros(a_key.size, dtype=bool)
    matched[at_ok] = r_key[at[at_ok]] == a_key[at_ok]
    end = fallback[a_pos].copy()
    end[matched] = r_day[at[matched]]
    end = np.maximum(end, a_day)
    start_aligned, end_aligned = a_day - shift[a_pos], end - shift[a_pos]
    if not a_pos.size:
        return start_aligned, end_aligned
    # one band per distinct (patient, start, end), as drop_duplicates keeps them (NaN = NaN)
    order = np.lexsort((end_aligned, start_aligned, a_pos))
    p, st, en = a_pos[order], start_aligned[order], end_aligned[order]

    def same(x: np.ndarray) -> np.ndarray:
        return (x[1:] == x[:-1]) | (np.isnan(x[1:]) & np.isnan(x[:-1]))

    repeat = np.r_[False, (p[1:] == p[:-1]) & same(st) & same(en)]
    keep = np.sort(order[~repeat])
    return start_aligned[keep], end_aligned[keep]
