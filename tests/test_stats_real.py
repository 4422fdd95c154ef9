"""Every analysis runs on the real MHH data and on the demo cohort, and its answers hold up."""

from __future__ import annotations

import numpy as np
import pytest

import covidimg.stats as st


def test_timeline_on_real_mhh_matches_the_offsets(mhh_cohort) -> None:  # type: ignore[no-untyped-def]
    tl = st.timeline(mhh_cohort, align="admission")
    exams = tl[tl["kind"] == "exam"]
    assert len(exams) == len(mhh_cohort.images) == 243
    # on the admission-aligned axis an exam sits at -admission_offset (MHH convention)
    np.testing.assert_allclose(exams["start"], -exams["admission_offset"])
    deaths = tl[tl["kind"] == "death"]
    assert deaths["patient_uid"].nunique() == 5
    icu = st.timeline(mhh_cohort, align="icu_admission")
    assert icu.attrs["n_patients"] == 29


def test_labs_on_real_mhh(mhh_cohort) -> None:  # type: ignore[no-untyped-def]
    for analyte in ("crp", "ldh", "d_dimer", "po2"):
        res = st.compare_labs(mhh_cohort, analyte, by="icu")
        assert set(res.groups["group"]) <= {"ICU", "no ICU"}
        assert res.tests["primary"].sum() == 1
        values = st.lab_values(mhh_cohort, analyte)
        est = st.turnbull(values["lower"], values["upper"])
        assert est["mass"].sum() == pytest.approx(1.0)
    ldh = st.lab_values(mhh_cohort, "ldh")
    fit = st.interval_fit(ldh["lower"], ldh["upper"])
    assert 5.0 < fit.loc["mu", "estimate"] < 6.5          # median LDH ~150-600 U/L


def test_outcomes_summary_privacy_on_real_mhh(mhh_cohort) -> None:  # type: ignore[no-untyped-def]
    km = st.kaplan_meier(mhh_cohort, "death", by="icu")
    assert int(km.curves["n_events"].sum()) == 5
    assert km.durations["patient_uid"].nunique() + len(km.excluded) == 71
    t1 = st.table_one(mhh_cohort, by="icu")
    assert t1.loc[("patients", "n"), "overall"] == "71"
    assert t1.loc[("age, years", "median [IQR]"), "missing"] == "71 (100%)"   # redacted
    rep = st.k_anonymity(mhh_cohort.patients, ["sex"], k=5)
    assert rep.smallest_class == 24                       # 24 women, 47 men
    assert st.cox_labs(mhh_cohort, ["ldh"]).attrs["n_events"] <= 5


def test_every_analysis_runs_on_the_demo(demo_cohort) -> None:  # type: ignore[no-untyped-def]
    tl = st.timeline(demo_cohort, labs=True)
    assert tl.attrs["n_patients"] > 0
    assert len(st.timeline_census(tl))
    analyte = demo_cohort.labs["analyte"].astype(str).value_counts().index[0]
    res = st.compare_labs(demo_cohort, analyte, by="sex")
    assert len(res.groups)
    km = st.kaplan_meier(demo_cohort, "death", by="source")
    assert len(km.curves)
    assert st.kaplan_meier(demo_cohort, "icu_admission").curves["survival"].between(0, 1).all()
    t1 = st.table_one(demo_cohort, by="died")
    assert t1.loc[("patients", "n"), "overall"] == str(len(demo_cohort.patients))
    assert len(st.missingness(demo_cohort))
    assert len(st.generalize_for_k(demo_cohort.patients, ["sex", "age"], k=3))
