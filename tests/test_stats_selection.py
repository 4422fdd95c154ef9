"""Analyses of a selection (``cohort.select(...)``) on a hand-built cohort whose answers are
worked out by hand: key days, the census, lab values and their counts, Table 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_stats_cohort import ward_cohort

import covidimg.stats as st
from covidimg.cohort import Cohort
from covidimg.stats.distinct import (
    DistinctIntervals,
    gehan_test_counts,
    turnbull_counts,
    turnbull_quantiles,
)
from covidimg.stats.selection import lab_counts

INF = np.inf


@pytest.fixture(scope="module")
def ward() -> Cohort:
    """Four patients with known courses (days on the cohort axis).

    ======  ===  =====  ==========================================  ==========  =============
    uid     sex  icu    events (day)                                exams (day)  CRP (day)
    ======  ===  =====  ==========================================  ==========  =============
    mhh:a   F    yes    admission 0, ICU 3, death 10                1@2, 2@5    [38,39)@2 twice
                                                                                 [120,121)@5
    mhh:b   M    no     admission 0, discharge 6                    3@1          <5 @1
    mhh:c   M    yes    admission 2, ICU 4-9, ICU 11-12             4@3, 5@14    [12,13)@3
    nccid:d U    NA     (none)                                      6@7          50 @7
    ======  ===  =====  ==========================================  ==========  =============
    """
    return ward_cohort()


def _row(days: pd.DataFrame, uid: str, *columns: str) -> list:
    return [None if pd.isna(v) else float(v) for v in days.loc[uid, list(columns)]]


def test_key_days_of_a_selection_come_from_its_own_exams(ward):
    columns = ("admission", "icu_admission", "icu_release", "death", "first_exam",
               "last_exam", "n_exams", "first_known", "last_known")
    icu = st.patient_days(ward.select(icu=True))
    assert list(icu.index) == ["mhh:a", "mhh:c"]
    assert _row(icu, "mhh:a", *columns) == [0, 3, None, 10, 2, 5, 2, 0, 10]
    assert _row(icu, "mhh:c", *columns) == [2, 4, 12, None, 3, 14, 2, 2, 14]
    early = st.patient_days(ward.select(day=(0, 4)))     # exams 1, 3 and 4
    assert list(early.index) == ["mhh:a", "mhh:b", "mhh:c"]
    assert _row(early, "mhh:a", "first_exam", "last_exam", "n_exams", "last_known") == [
        2, 2, 1, 10]                                     # death (day 10) is still known
    assert _row(early, "mhh:c", "last_exam", "n_exams", "last_known") == [3, 1, 12]
    whole = st.patient_days(ward)
    assert _row(whole, "nccid:d", "admission", "first_known", "last_known") == [None, 7, 7]
    assert bool(whole.loc["mhh:b", "admission_known"]) and not whole.loc["nccid:d",
                                                                           "admission_known"]


@pytest.mark.parametrize("census_of", ["cohort", "timeline"])
def test_census_of_a_selection_counts_what_a_hand_count_says(ward, census_of):
    selection = ward.select(icu=True)                    # a and c
    census = (st.cohort_census(selection, "none") if census_of == "cohort" else
              st.timeline_census(st.timeline(selection.subset(), "none")))
    census = census.set_index("day")
    assert census.index.min() == 0 and census.index.max() == 14
    assert census.loc[3, "in_hospital"] == 2             # a (0-10), c (2-open, to 14)
    assert census.loc[12, "in_hospital"] == 1
    assert census.loc[4, "in_icu"] == 2                  # a (3-10), c (4-9)
    assert [census.loc[d, "in_icu"] for d in (9, 10, 11, 12, 13)] == [2, 1, 1, 1, 0]
    assert census["deaths"].sum() == 1 and census.loc[10, "deaths"] == 1
    assert census["exams"].sum() == 4 and census.loc[14, "exams"] == 1
    assert census["icu_admissions"].tolist().count(1) == 3
    assert census.loc[0, "under_observation"] == 1 and census.loc[2, "under_observation"] == 2
    assert census.attrs["n_patients"] == 2


def test_census_aligned_on_icu_drops_and_names_the_patients_without_it(ward):
    census = st.cohort_census(ward, "icu_admission")
    assert census.attrs["unaligned"] == ["mhh:b", "nccid:d"]
    assert census.attrs["n_patients"] == 2
    census = census.set_index("day")
    assert census.loc[0, "in_icu"] == 2                  # both enter ICU on their day 0
    assert census.loc[7, "deaths"] == 1                  # a died 7 days after ICU admission
    kept = st.cohort_census(ward.select(sex="M"), "icu_admission", unaligned="keep")
    assert kept.attrs["unaligned_kept"] == ["mhh:b"] and kept.attrs["n_patients"] == 2
    empty = st.cohort_census(ward.select(sex="F", icu=False))
    assert len(empty) == 0 and empty.attrs["n_patients"] == 0


def test_lab_values_of_a_selection(ward):
    men = st.lab_values(ward.select(sex="M"), "crp", by="icu")
    assert list(zip(men["patient_uid"], men["lower"], men["group"], strict=True)) == [
        ("mhh:b", -INF, "no ICU"), ("mhh:c", 12.0, "ICU")]
    assert list(men["censor"]) == ["left", "interval"]
    every = st.lab_values(ward, "crp", by="icu")
    assert len(every) == 5                               # a's draw on two exams counts once
    assert len(st.lab_values(ward, "crp", dedupe=False)) == 6
    assert every.set_index("patient_uid").loc["nccid:d", "group"] == "unknown"
    first = st.lab_values(ward, "crp", per_patient="first")
    assert list(zip(first["patient_uid"], first["lower"], strict=True)) == [
        ("mhh:a", 38.0), ("mhh:b", -INF), ("mhh:c", 12.0), ("nccid:d", 50.0)]
    peak = st.lab_values(ward.select(icu=True), "crp", per_patient="peak")
    assert list(zip(peak["patient_uid"], peak["lower"], peak["upper"], peak["day"],
                    strict=True)) == [("mhh:a", 120.0, 121.0, 2.0), ("mhh:c", 12.0, 13.0, 3.0)]
    late = st.lab_values(ward.select(day=(4, None)), "crp")   # exams 2, 5, 6: a, c, d
    assert sorted(late["patient_uid"]) == ["mhh:a", "mhh:a", "mhh:c", "nccid:d"]


@pytest.mark.parametrize(("per_patient", "expected"), [
    ("all", {("ICU", 38.0): 1, ("ICU", 120.0): 1, ("ICU", 12.0): 1, ("no ICU", -INF): 1,
             ("unknown", 50.0): 1}),
    ("first", {("ICU", 38.0): 1, ("ICU", 12.0): 1, ("no ICU", -INF): 1,
               ("unknown", 50.0): 1}),
    ("peak", {("ICU", 120.0): 1, ("ICU", 12.0): 1, ("no ICU", -INF): 1,
              ("unknown", 50.0): 1}),
])
def test_lab_counts_count_the_values_per_group_and_interval(ward, per_patient, expected):
    counts = lab_counts(ward, "crp", by="icu", per_patient=per_patient)
    got = {(g, lo): int(n) for g, lo, n in zip(counts.values["group"], counts.values["lower"],
                                                counts.values["count"], strict=True)}
    assert got == expected
    assert counts.n_values == sum(expected.values()) and counts.n_patients == 4
    assert counts.unit == "mg/L"
    women = lab_counts(ward.select(sex="F"), "crp", per_patient=per_patient)
    assert women.n_patients == 1 and women.n_values == (2 if per_patient == "all" else 1)


def test_table_one_of_a_selection(ward):
    t1 = st.table_one(ward.select(sex="M"), by="icu")
    assert t1.loc[("patients", "n"), "overall"] == "2"
    assert (t1.loc[("patients", "n"), "ICU"], t1.loc[("patients", "n"), "no ICU"]) == ("1", "1")
    assert t1.loc[("images", "n"), "ICU"] == "2"
    crp = t1.loc[("C-reactive protein, first value (mg/L)", "median [IQR]")]
    assert crp["no ICU"] == "<5 [<5–<5]" and crp["ICU"] == "12.5 [12.5–12.5]"
    exams = st.table_one(ward.select(day=(0, 4)))
    assert exams.loc[("images", "n"), "overall"] == "3"
    assert exams.loc[("images per patient", "median [IQR]"), "overall"].startswith("1 ")


def test_analyses_reject_bad_input(ward):
    with pytest.raises(ValueError, match="per_patient='last' is not allowed; allowed values are"):
        lab_counts(ward, "crp", per_patient="last")
    with pytest.raises(ValueError, match="analyte='troponin' is unknown"):
        lab_counts(ward.select(), "troponin")
    with pytest.raises(ValueError, match="by='colour' is not a column"):
        st.table_one(ward.select(icu=True), by="colour")
    assert lab_counts(ward, "ferritin").n_values == 0      # known, not measured


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
