"""Analyses of a selection from CohortArrays equal the general functions on cohort.filter(...)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from criteria import random_criteria

import covidimg.stats as st
from covidimg.stats.distinct import (
    DistinctIntervals,
    gehan_test_counts,
    turnbull_counts,
    turnbull_quantiles,
)
from covidimg.stats.selection import CohortArrays
from covidimg.widgets._index import FilterIndex


@pytest.fixture(scope="module")
def demo(demo_cohort):
    return demo_cohort, CohortArrays(demo_cohort), FilterIndex(demo_cohort)


def _selection(demo, seed):
    cohort, arrays, index = demo
    if seed == 0:
        return cohort, arrays.whole()
    criteria = random_criteria(np.random.default_rng(seed), cohort)
    patients, images = index.masks(criteria)
    return cohort.filter(**criteria), arrays.select(patients, images)


@pytest.mark.parametrize("seed", range(10))
def test_selection_tables_key_days_and_census_equal_the_filtered_cohort(demo, seed):
    sub, selection = _selection(demo, seed)
    _cohort, arrays, _index = demo
    for name in ("patients", "images", "events", "labs", "files", "findings"):
        pd.testing.assert_frame_equal(getattr(selection.cohort, name), getattr(sub, name),
                                      obj=name)
    assert (selection.n_patients, selection.n_images) == (len(sub.patients), len(sub.images))
    pd.testing.assert_frame_equal(selection.days, st.patient_days(sub))
    for align in ("admission", "icu_admission", "first_exam", "death", "none"):
        for unaligned in ("drop", "keep"):
            fast = arrays.census(selection, align, unaligned=unaligned)
            slow = st.cohort_census(sub, align, unaligned=unaligned)
            assert fast.attrs == slow.attrs
            if len(slow) or len(fast):
                pd.testing.assert_frame_equal(fast, slow)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("by", [None, "icu", "source"])
def test_selection_table_one_is_identical(demo, seed, by):
    sub, selection = _selection(demo, seed)
    _cohort, arrays, _index = demo
    pd.testing.assert_frame_equal(arrays.table_one(selection, by), st.table_one(sub, by=by),
                                  check_exact=True)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("per_patient", ["all", "first", "peak"])
def test_selection_lab_counts_equal_lab_values(demo, seed, per_patient):
    sub, selection = _selection(demo, seed)
    _cohort, arrays, _index = demo
    for analyte in arrays.analyte_names:
        for by in (None, "died"):
            counts = arrays.lab_counts(selection, analyte, by=by, per_patient=per_patient)
            values = st.lab_values(sub, analyte, by=by, per_patient=per_patient)
            assert counts.n_values == len(values)
            assert counts.n_patients == values["patient_uid"].nunique()
            got = counts.values.set_index(["group", "lower", "upper"])["count"].sort_index()
            expected = values.groupby(["group", "lower", "upper"]).size().sort_index()
            pd.testing.assert_series_equal(got, expected.rename("count"), check_dtype=False)
            if len(values):
                assert counts.unit == str(values["unit"].iloc[0])


def test_selection_rejects_bad_input(demo):
    _cohort, arrays, _index = demo
    with pytest.raises(ValueError, match="patient and"):
        arrays.select(np.ones(3, dtype=bool), np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="per_patient"):
        arrays.lab_counts(arrays.whole(), "crp", per_patient="last")
    with pytest.raises(ValueError, match="unknown"):
        arrays.lab_counts(arrays.whole(), "troponin")


# ---------------------------------------------------------------------- distinct intervals
def _intervals(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    value = np.round(rng.lognormal(3.0, 1.0, n))
    lo, hi = value.copy(), value + 1.0
    below = value < 5
    lo[below], hi[below] = -np.inf, 5.0
    exact = (rng.random(n) < 0.2) & ~below
    hi[exact] = lo[exact]
    above = value > 200
    lo[above], hi[above] = 200.0, np.inf
    return lo, hi


@pytest.mark.parametrize("seed", range(5))
def test_distinct_interval_estimates_equal_the_per_value_ones(seed):
    rng = np.random.default_rng(seed)
    lo, hi = _intervals(rng, 3000)
    groups = rng.choice(["b", "a", "c"], lo.size)
    distinct = DistinctIntervals.of(lo, hi)
    for _ in range(4):
        keep = rng.random(lo.size) < rng.uniform(0.05, 1.0)
        slow = st.turnbull(lo[keep], hi[keep])
        fast = turnbull_counts(distinct.lower, distinct.upper, distinct.counts(keep))
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)
        assert fast.attrs == slow.attrs
        quantiles = turnbull_quantiles(distinct.lower, distinct.upper, distinct.counts(keep),
                                       (0.25, 0.5, 0.75))
        assert quantiles == [st.turnbull_quantile(slow, q) for q in (0.25, 0.5, 0.75)]
        names = ["b", "a", "c"]
        counts = np.stack([distinct.counts(keep & (groups == n)) for n in names])
        assert gehan_test_counts(distinct.lower, distinct.upper, counts, names) == \
            st.gehan_test(lo[keep], hi[keep], groups[keep])
        hist = st.interval_histogram(distinct.lower, distinct.upper, bins=20,
                                     weights=distinct.counts(keep))
        plain = st.interval_histogram(lo[keep], hi[keep], bins=20)
        pd.testing.assert_frame_equal(hist, plain, check_exact=False, rtol=1e-9)
        assert hist.attrs == plain.attrs


def test_gehan_counts_of_one_group_and_bad_counts():
    x = np.array([1.0, 2.0, 3.0])
    res = gehan_test_counts(x, x, np.array([[1, 1, 1]]), ["a"])
    assert np.isnan(res["p_value"]) and res["df"] == 0.0
    with pytest.raises(ValueError, match="one row per group"):
        gehan_test_counts(x, x, np.array([1, 1, 1]), ["a", "b"])
    with pytest.raises(ValueError, match="at least one interval"):
        turnbull_counts(x, x, np.zeros(3))
    with pytest.raises(ValueError, match="weights"):
        st.interval_histogram(x, x, weights=[1.0, -1.0, 1.0])
