"""The day-0 rule, each fallback in turn, and dated facts placed on the day axis."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from covidimg.sources._engine.harmonize import (
    FALLBACK_ORDER,
    DayAxis,
    choose_day_zero,
    days_between,
    event_offsets,
)

D = dt.date


def test_fallback_order_is_the_documented_rule():
    assert FALLBACK_ORDER == ("admission", "index_event", "first_exam", "first_fact")


@pytest.mark.parametrize(("candidates", "anchor", "rule"), [
    ({"admission": D(2020, 3, 5), "index_event": D(2020, 3, 1), "first_exam": D(2020, 3, 2),
      "first_fact": D(2020, 2, 1)}, D(2020, 3, 5), "admission"),
    ({"index_event": D(2020, 3, 1), "first_exam": D(2020, 3, 2),
      "first_fact": D(2020, 2, 1)}, D(2020, 3, 1), "index_event"),
    ({"admission": None, "first_exam": D(2020, 3, 2), "first_fact": D(2020, 2, 1)},
     D(2020, 3, 2), "first_exam"),
    ({"admission": None, "index_event": None, "first_fact": D(2020, 2, 1)},
     D(2020, 2, 1), "first_fact"),
    ({"admission": None}, None, "none"),
])
def test_each_fallback(candidates, anchor, rule):
    axis = DayAxis.choose(["p"], **{k: {"p": v} for k, v in candidates.items()})
    assert axis.anchor("p") == anchor and axis.rule("p") == rule
    assert ("p" in axis) == (anchor is not None)


def test_earliest_of_several_candidates_counts():
    axis = DayAxis.choose(["p"], admission={"p": [D(2020, 3, 9), None, D(2020, 3, 4)]})
    assert axis.anchor("p") == D(2020, 3, 4)


def test_dates_are_placed_on_the_axis():
    axis = DayAxis.choose(["a", "b", "c"], admission={"a": D(2020, 3, 2)},
                          first_exam={"a": D(2020, 3, 1), "b": D(2020, 4, 1)})
    days = axis.days(["a", "b", "c", "unknown", "a"],
                     [D(2020, 3, 5), D(2020, 3, 31), D(2020, 1, 1), D(2020, 1, 1), None])
    assert days[:2].tolist() == [3.0, -1.0]
    assert np.isnan(days[2:]).all()
    assert axis.day("a", D(2020, 3, 2)) == 0.0


def test_day_numbers_on_a_source_axis():
    # MIDRC: days from the index event; admission on index day 3 becomes day 0
    anchors, rules = choose_day_zero({"admission": [3.0, np.nan], "index_event": [0.0, 0.0]})
    assert anchors.tolist() == [3.0, 0.0] and rules.tolist() == ["admission", "index_event"]
    assert days_between([10.0, 10.0], anchors).tolist() == [7.0, 10.0]
    # MHH: an exam at 0 on its own axis, admission 4 days before it -> exam day 4
    anchors, _ = choose_day_zero({"admission": pd.Series([-4.0, np.nan])})
    days = days_between(np.zeros(2), anchors)
    assert days[0] == 4.0 and np.isnan(days[1])


def test_bad_candidates_are_refused():
    with pytest.raises(ValueError, match=r"candidates='discharge' is not allowed; allowed "):
        choose_day_zero({"discharge": [1.0]})
    with pytest.raises(ValueError, match="different lengths"):
        choose_day_zero({"admission": [1.0], "first_exam": [1.0, 2.0]})
    with pytest.raises(ValueError, match="mix dates and day numbers"):
        choose_day_zero({"admission": [1.0], "first_exam": [D(2020, 1, 1)]})


def test_event_offsets_are_days_from_the_exam_to_the_first_event():
    events = pd.DataFrame({"patient_uid": ["a", "a", "a", "b"],
                           "event": ["admission", "death", "admission", "icu_admission"],
                           "day": [0.0, 9.0, 30.0, np.nan]})
    out = event_offsets(pd.Series(["a", "a", "b"]), pd.Series([2.0, -1.0, 5.0]), events)
    assert out["admission_offset"].tolist() == [-2.0, 1.0, pytest.approx(np.nan, nan_ok=True)]
    assert out["death_offset"].tolist()[:2] == [7.0, 10.0]
    assert np.isnan(out["icu_admission_offset"]).all()  # b's ICU day is unknown
    assert np.isnan(out["icu_release_offset"]).all()
