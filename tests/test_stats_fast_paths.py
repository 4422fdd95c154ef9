"""Fast paths give the same results as the general ones: census, key days, filter index."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from criteria import random_criteria

import covidimg.stats as st
from covidimg.widgets._index import FilterIndex


def _subsets(cohort):
    return [cohort, cohort.filter(modality="CT"), cohort.filter(sex="F", day=(0, 5)),
            cohort.filter(icu=True), cohort.filter(source="mhh", modality="CT")]


@pytest.mark.parametrize("align", ["admission", "icu_admission", "first_exam", "death", "none"])
@pytest.mark.parametrize("unaligned", ["drop", "keep"])
def test_cohort_census_equals_the_census_of_the_timeline(demo_cohort, align, unaligned):
    for sub in _subsets(demo_cohort):
        slow = st.timeline_census(st.timeline(sub, align, unaligned=unaligned))
        fast = st.cohort_census(sub, align, unaligned=unaligned)
        assert len(fast) == len(slow)
        if len(slow):
            pd.testing.assert_frame_equal(fast, slow)
            assert fast.attrs == slow.attrs
        else:
            assert fast.attrs["n_patients"] == slow.attrs.get("n_patients", 0) == 0 or \
                fast["exams"].sum() == 0


def test_census_pairs_repeated_icu_stays_like_the_timeline():
    from covidimg.cohort import Cohort

    patients = pd.DataFrame({"patient_uid": ["x:1", "x:2"], "source": "mhh",
                             "source_patient_id": ["1", "2"], "sex": "F",
                             "covid_status": "positive", "age_min": np.nan,
                             "age_max": np.nan, "icu": True, "died": False, "site": None})
    events = pd.DataFrame({
        "patient_uid": ["x:1"] * 6 + ["x:2"] * 2,
        "event": ["admission", "icu_admission", "icu_release", "icu_admission",
                  "icu_admission", "icu_release", "admission", "icu_admission"],
        "day": [0.0, 1.0, 3.0, 2.0, 6.0, 8.0, 0.0, 2.0]})
    images = pd.DataFrame({"image_uid": ["x:a", "x:b"], "patient_uid": ["x:1", "x:2"],
                           "source": "mhh", "modality": "CR", "view": "AP", "day": [9.0, 4.0],
                           "path": "/x.png", "format": "png", "study_uid": None,
                           "series_uid": None, "admission_offset": np.nan,
                           "icu_admission_offset": np.nan, "icu_release_offset": np.nan,
                           "death_offset": np.nan, "n_instances": 1, "rows": None,
                           "columns": None})
    cohort = Cohort.from_tables({"patients": patients, "events": events, "images": images})
    fast = st.cohort_census(cohort)
    slow = st.timeline_census(st.timeline(cohort))
    pd.testing.assert_frame_equal(fast, slow)
    assert fast["in_icu"].max() >= 2


@pytest.mark.parametrize("seed", range(6))
def test_filter_index_equals_cohort_filter(demo_cohort, seed):
    rng = np.random.default_rng(seed)
    index = FilterIndex(demo_cohort)
    criteria = random_criteria(rng, demo_cohort)
    fast, slow = index.filter(**criteria), demo_cohort.filter(**criteria)
    for name in ("patients", "images", "events", "labs", "files", "findings"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(slow, name), obj=name)
    with pytest.raises(ValueError, match="allowed values"):
        index.filter(sex="X")
