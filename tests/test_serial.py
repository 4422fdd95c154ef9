"""One patient's course: radiographs side by side in day order, offsets, nearest labs, one
window for all, opened from a click on the timeline; and the timeline's page box at scale."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from covidimg import stats
from covidimg.cohort import Cohort
from covidimg.widgets import Dashboard, OffsetTimeline, SerialComparison
from covidimg.widgets.timeline import OVERVIEW

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RADIOGRAPHS = ("CR", "DX")


def _radiographs(cohort: Cohort, patient: str) -> pd.DataFrame:
    images = cohort.images
    mine = images[(images["patient_uid"].astype(str) == patient)
                  & images["modality"].astype(str).isin(RADIOGRAPHS)]
    return mine


def _patient_with_most_radiographs(cohort: Cohort, source: str) -> str:
    images = cohort.images
    rad = images[images["modality"].astype(str).isin(RADIOGRAPHS)
                 & (images["source"].astype(str) == source)]
    counts = rad["patient_uid"].astype(str).value_counts()
    assert counts.iloc[0] >= 3, f"the demo's {source} patients have too few radiographs"
    return str(counts.index[0])


def _nearest_by_hand(cohort: Cohort, patient: str, exam_day: float) -> dict[str, tuple]:
    """Per analyte, (lower, upper, lab day) of the draw nearest ``exam_day``, earlier on a tie,
    by walking the labs table row by row."""
    best: dict[str, tuple] = {}
    for lab in cohort.labs.to_dict("records"):
        if str(lab["patient_uid"]) != patient or pd.isna(lab["day"]):
            continue
        key = (abs(float(lab["day"]) - exam_day), float(lab["day"]))
        name = str(lab["analyte"])
        if name not in best or key < best[name][0]:
            best[name] = (key, (float(lab["lower"]), float(lab["upper"]), float(lab["day"])))
    return {name: value for name, (_key, value) in best.items()}


def test_course_lists_radiographs_in_day_order_with_offsets_and_nearest_labs(demo_cohort):
    patient = _patient_with_most_radiographs(demo_cohort, "mhh")
    s = SerialComparison(demo_cohort, patient)
    truth = _radiographs(demo_cohort, patient)
    days = truth.set_index(truth["image_uid"].astype(str))["day"].astype(float)
    assert sorted(s.image_uids) == sorted(days.index)
    assert list(days[s.image_uids]) == sorted(days), "not in day order"
    events = demo_cohort.events[demo_cohort.events["patient_uid"].astype(str) == patient]
    event_day = dict(zip(events["event"].astype(str), events["day"].astype(float), strict=True))
    rows = truth.set_index(truth["image_uid"].astype(str))
    for uid, caption in zip(s.page_uids, s.captions, strict=True):
        row = rows.loc[uid]
        head, offsets, *labs = caption.split("\n")
        assert head == f"day {row['day']:g} · {row['modality']} {row['view']}"
        # the offsets the images table holds, in the MHH convention: event day - exam day
        for column, label in (("admission_offset", "admission"),
                              ("icu_admission_offset", "ICU admission"),
                              ("icu_release_offset", "ICU release"),
                              ("death_offset", "death")):
            value = float(row[column])
            event = column.removesuffix("_offset")
            if event in event_day:
                assert value == event_day[event] - float(row["day"]), (uid, column)
            expected = "–" if math.isnan(value) else f"{value:+g} d"
            assert f"{label} {expected}" in offsets.split(" · "), (offsets, column)
        # every analyte the patient has, with its nearest draw
        nearest = _nearest_by_hand(demo_cohort, patient, float(row["day"]))
        assert len(labs) == len(nearest) > 0
        chosen = s.labs[s.labs["image_uid"] == uid].set_index("analyte")
        assert set(chosen.index) == set(nearest)
        for name, (lower, upper, lab_day) in nearest.items():
            got = chosen.loc[name]
            assert (got["lower"], got["upper"], got["lab_day"]) == (lower, upper, lab_day)
            assert got["days_from_exam"] == lab_day - float(row["day"])
            when = lab_day - float(row["day"])
            said = ("same day" if when == 0 else
                    f"{abs(when):g} d {'before' if when < 0 else 'after'}")
            assert any(line.endswith(f"({said})") and f"{lower:.4g}" in line for line in labs)
    # the captions hold harmonized fields only: no path, no header field
    for caption in s.captions:
        for column in ("path", "study_uid", "series_uid"):
            for value in truth[column].astype(str):
                assert value not in caption


def test_nearest_labs_prefers_the_earlier_of_two_equally_near_draws():
    labs = pd.DataFrame({"patient_uid": ["p", "p", "p"], "image_uid": [None] * 3,
                         "analyte": ["crp"] * 3, "unit": ["mg/L"] * 3,
                         "lower": [10.0, 20.0, 99.0], "upper": [10.0, 20.0, 99.0],
                         "censor": ["none"] * 3, "day": [2.0, 4.0, np.nan],
                         "offset": [np.nan] * 3, "value_raw": ["10", "20", "99"]})
    patients = pd.DataFrame({"patient_uid": ["p"], "source": ["mhh"], "source_patient_id": ["p"],
                             "sex": ["U"], "age_min": [np.nan], "age_max": [np.nan],
                             "covid_status": ["unknown"], "icu": [pd.NA], "died": [pd.NA],
                             "site": [pd.NA]})
    cohort = Cohort.from_tables({"patients": patients, "labs": labs})
    exams = pd.DataFrame({"image_uid": ["a", "b"], "patient_uid": ["p", "p"], "day": [3.0, 9.0]})
    got = stats.nearest_labs(cohort, exams)
    assert got[["image_uid", "lower", "days_from_exam"]].values.tolist() == [
        ["a", 10.0, -1.0], ["b", 20.0, -5.0]]
    assert stats.nearest_labs(cohort, exams, within=2)["image_uid"].tolist() == ["a"]
    with pytest.raises(ValueError, match="within=-1"):
        stats.nearest_labs(cohort, exams, within=-1)


def test_the_linked_window_changes_every_image(demo_cohort):
    patient = _patient_with_most_radiographs(demo_cohort, "mhh")
    s = SerialComparison(demo_cohort, patient)
    auto = s.images
    assert len(auto) == len(s.page_uids) >= 3
    assert all(jpeg[:3] == b"\xff\xd8\xff" for jpeg in auto)   # JPEG: a third of a PNG to send
    s.preset.value = "bone"
    bone = s.images
    assert all(a != b for a, b in zip(auto, bone, strict=True)), "a preset missed an image"
    s.level.value = (s.level.min + s.level.value) / 2
    assert s.preset.value == "custom"
    custom = s.images
    assert all(a != b for a, b in zip(bone, custom, strict=True)), "the level missed an image"
    s.width.value = max(s.width.value / 3, 2.0)
    assert all(a != b for a, b in zip(custom, s.images, strict=True))
    s.preset.value = "auto"
    assert s.images == auto


def test_ct_is_left_out_and_said_and_pages_read_lazily(demo_cohort):
    images = demo_cohort.images
    modality = images["modality"].astype(str)
    both = (set(images.loc[modality == "CT", "patient_uid"].astype(str))
            & set(images.loc[modality.isin(RADIOGRAPHS), "patient_uid"].astype(str)))
    patient = sorted(both)[0]
    s = SerialComparison(demo_cohort, patient, per_page=1)
    n_ct = int(((images["patient_uid"].astype(str) == patient) & (modality == "CT")).sum())
    assert f"{n_ct} CT" in s.title.value and "not compared here" in s.title.value
    assert set(s.exams["modality"].astype(str)) <= set(RADIOGRAPHS)
    assert s.n_pages == len(_radiographs(demo_cohort, patient)) >= 2
    assert list(s._pixels) == s.page_uids, "only the page shown is read"
    first = s.page_uids
    s.next_page()
    assert s.page == 1 and s.page_uids != first and s.page_label.value == f"page 2 of {s.n_pages}"
    assert set(s._pixels) == set(first) | set(s.page_uids)
    s.previous_page()
    assert s.page_uids == first and s.previous_button.disabled


def test_every_text_is_escaped_and_unknown_patients_are_named(demo_cohort):
    patient = _patient_with_most_radiographs(demo_cohort, "mhh")
    evil = "mhh:<img src=x onerror=alert(1)>"
    tables = {}
    for name, frame in demo_cohort.tables().items():
        frame = frame.copy()
        if "patient_uid" in frame.columns:
            text = frame["patient_uid"].astype(str)
            frame["patient_uid"] = text.where(text != patient, evil)
        tables[name] = frame
    s = SerialComparison(Cohort(**tables), evil)
    assert len(s.image_uids) >= 3
    assert "<img" not in s.title.value and "&lt;img src=x" in s.title.value
    with pytest.raises(ValueError, match="patient_uid='nobody' is not a patient"):
        s.load("nobody")


# ---------------------------------------------------------------------- from the timeline
def _click(timeline: OffsetTimeline, trace_name: str, point: int = 0) -> tuple[int, int]:
    """Send the message plotly.js sends when a point of ``trace_name`` is clicked."""
    fig = timeline.figure
    index = next(i for i, t in enumerate(fig.data) if t.name == trace_name)
    timeline.figure_slot.plot._handle_custom_msg({"event": "click", "points": [[index, point]]},
                                                 [])
    return index, point


def test_a_click_on_a_lane_opens_the_patients_course(demo_cohort):
    d = Dashboard(demo_cohort)
    if d.timeline.figure.layout.meta["mode"] == "census":
        d.timeline.show.value = 0
    fig = d.timeline.figure
    handles = next(t for t in fig.data if t.name == "patient")
    lanes = dict(zip(np.asarray(handles.y, dtype=int),
                     [str(c[0]) for c in handles.customdata], strict=True))
    radiographed = set(demo_cohort.images.loc[demo_cohort.images["modality"].astype(str)
                                              .isin(RADIOGRAPHS), "patient_uid"].astype(str))
    point = next(i for i, y in enumerate(np.asarray(handles.y, dtype=int))
                 if lanes[y] in radiographed)
    _click(d.timeline, "patient", point)
    patient = lanes[int(handles.y[point])]
    assert d.tabs.selected_index == 4 and d.tabs.titles[4] == "Course"
    assert d.course.patient_uid == patient
    days = _radiographs(demo_cohort, patient).set_index("image_uid")["day"].astype(float)
    assert list(days[d.course.image_uids]) == sorted(days)
    assert len(d.course.images) == min(len(days), d.course.per_page)
    # an event marker of a lane names its patient too; an exam still opens the gallery
    index, _ = _click(d.timeline, "hospital admission", 0)
    lane = int(fig.data[index].y[0])
    assert d.course.patient_uid == lanes[lane] and d.tabs.selected_index == 4
    _click(d.timeline, "exam", 0)
    assert d.tabs.selected_index == 2
    # from code, and the filter leaves the course alone
    other = sorted(radiographed - {patient})[0]
    d.open_course(other)
    assert d.course.patient_uid == other and d.tabs.selected_index == 4
    shown = d.course.image_uids
    d.filter.set(sex="F")
    assert d.course.image_uids == shown and "Course" not in d.stale_views


def test_census_clicks_open_nothing(demo_cohort):
    t = OffsetTimeline(demo_cohort, page_size=10)
    seen: list[str] = []
    t.on_patient_click(seen.append)
    t.on_exam_click(seen.append)
    assert t.figure.layout.meta["mode"] == "census"
    _click(t, "in hospital", 3)
    assert seen == []


# ---------------------------------------------------------------------- the page box at scale
@pytest.mark.slow
def test_show_control_pages_45000_patients_by_number(demo_cohort):
    from covidimg.demo.large import large_cohort

    copies = math.ceil(45_000 / len(demo_cohort.patients))
    big = large_cohort(copies * len(demo_cohort.images), base=demo_cohort)
    n = len(big.patients)
    assert n >= 45_000
    t = OffsetTimeline(big)
    assert t.figure.layout.meta["mode"] == "census" and t.show.value == OVERVIEW
    n_pages = math.ceil(n / t.page_size)
    # two menu entries and a number box, whatever the number of pages
    assert list(t.show.mode.options) == ["overview: patients per day", "lanes, page"]
    assert t.show.page.max == n_pages
    state = json.dumps([c.get_state() for c in (t.show.mode, t.show.page, t.show.readout)],
                       default=str)
    assert len(state) < 3000
    t.show.page.value = 500                          # the user types page 500
    meta = t.figure.layout.meta
    assert (meta["mode"], meta["page"], t.show.value) == ("lanes", 499, 499)
    first, last = 499 * t.page_size + 1, 500 * t.page_size
    assert t.show.readout.value == f"of {n_pages:,} · patients {first:,}–{last:,} of {n:,}"
    lanes = next(tr for tr in t.figure.data if tr.name == "patient")
    assert len(lanes.y) == t.page_size
    t.show.page.value = n_pages                      # the last page holds the remainder
    last_lanes = next(tr for tr in t.figure.data if tr.name == "patient").y
    assert max(last_lanes) == n - 1, "the last patient's lane is on the last page"
    assert 0 < len(last_lanes) <= n - (n_pages - 1) * t.page_size
    t.show.mode.value = "overview: patients per day"
    assert t.figure.layout.meta["mode"] == "census" and t.show.value == OVERVIEW
    t.show.mode.value = "lanes, page"                 # back to the page left
    assert t.figure.layout.meta["page"] == n_pages - 1
    t.align.value = "first_exam"                      # a new view starts on the overview
    assert t.show.value == OVERVIEW and t.show.page.value == 1
    t.show.value = 3                                  # from code, as before
    assert t.figure.layout.meta["page"] == 3 and t.show.page.value == 4
    with pytest.raises(Exception, match="pages 0 to"):
        t.show.value = n_pages
