"""Censoring-aware group comparison of lab values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from covidimg.cohort import Cohort
from covidimg.stats import compare_labs, gehan_scores, gehan_test, lab_values

INF = np.inf


def test_gehan_scores_follow_the_definition_on_intervals() -> None:
    lo = np.array([1.0, 2.0, -INF, 5.0, 6.0, 5.0])
    hi = np.array([1.0, 3.0, 1.5, 6.0, INF, 5.0])
    n = lo.size
    exact = lo == hi
    brute = np.zeros(n)
    for i in range(n):
        for j in range(n):
            above = lo[i] > hi[j] or (lo[i] == hi[j] and not exact[j])
            below = lo[j] > hi[i] or (lo[j] == hi[i] and not exact[i])
            brute[i] += int(above) - int(below)
    np.testing.assert_array_equal(gehan_scores(lo, hi), brute)
    # exact 1 and (-inf, 1.5) may be equal: a tie; [5,6) and exact 5 may be equal: a tie;
    # [5,6) is certainly below [6, inf) (the interval excludes 6)
    assert brute.tolist() == [-4.0, -1.0, -4.0, 2.0, 5.0, 2.0]


def test_gehan_equals_mann_whitney_without_censoring() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, 25), rng.normal(0.8, 1, 30)
    values = np.concatenate([x, y])
    res = gehan_test(values, values, ["x"] * 25 + ["y"] * 30)
    mw = stats.mannwhitneyu(x, y, method="asymptotic", use_continuity=False)
    assert res["p_value"] == pytest.approx(mw.pvalue, rel=1e-9)
    kw = stats.kruskal(x, y[:10], y[10:] + 1)
    three = gehan_test(np.concatenate([x, y[:10], y[10:] + 1]),
                       np.concatenate([x, y[:10], y[10:] + 1]),
                       ["a"] * 25 + ["b"] * 10 + ["c"] * 20)
    assert three["df"] == 2
    assert three["statistic"] == pytest.approx(kw.statistic, rel=1e-9)


def test_gehan_test_holds_its_level_and_detects_a_shift_under_censoring() -> None:
    rng = np.random.default_rng(3)

    def publish(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.floor(x), np.floor(x) + 1
        lo[x < 10], hi[x < 10] = -INF, 10
        lo[x >= 40], hi[x >= 40] = 40, INF
        return lo, hi

    rejections_null, rejections_shift = 0, 0
    reps = 200
    for _ in range(reps):
        a, b = rng.lognormal(3, 0.6, 40), rng.lognormal(3, 0.6, 40)
        lo, hi = publish(np.concatenate([a, b]))
        rejections_null += gehan_test(lo, hi, [0] * 40 + [1] * 40)["p_value"] < 0.05
        b_shift = rng.lognormal(3.5, 0.6, 40)
        lo, hi = publish(np.concatenate([a, b_shift]))
        rejections_shift += gehan_test(lo, hi, [0] * 40 + [1] * 40)["p_value"] < 0.05
    assert rejections_null / reps < 0.10
    assert rejections_shift / reps > 0.6


def test_gehan_undefined_when_every_interval_overlaps() -> None:
    res = gehan_test([-INF, -INF, 0], [5, 5, 5], ["a", "b", "b"])
    assert np.isnan(res["p_value"])


def _lab_cohort(rng: np.random.Generator, n: int = 80, shift: float = 0.7) -> Cohort:
    uid = [f"mhh:p{i}" for i in range(n)]
    icu = np.arange(n) % 2 == 0
    patients = pd.DataFrame({"patient_uid": uid, "source": "mhh", "source_patient_id": uid,
                             "sex": "F", "covid_status": "positive", "icu": icu,
                             "died": False, "age_min": np.nan, "age_max": np.nan, "site": None})
    rows = []
    for i, u in enumerate(uid):
        for day in (0.0, 3.0):
            x = rng.lognormal(3.0 + shift * icu[i] + 0.2 * day / 3, 0.5)
            lo, hi = (np.floor(x), np.floor(x) + 1) if x >= 8 else (-INF, 8.0)
            for image in ("a", "b"):   # the same draw attached to two exams, as MHH does
                rows.append({"patient_uid": u, "image_uid": None, "analyte": "crp",
                             "unit": "mg/L", "lower": lo, "upper": hi,
                             "censor": "left" if lo == -INF else "interval", "day": day,
                             "offset": 0.0, "value_raw": image})
    return Cohort.from_tables({"patients": patients, "labs": pd.DataFrame(rows)})


def test_lab_values_dedupes_repeated_draws_and_selects_per_patient() -> None:
    cohort = _lab_cohort(np.random.default_rng(0), n=10)
    assert len(lab_values(cohort, "crp", dedupe=False)) == 40
    assert len(lab_values(cohort, "crp")) == 20
    first = lab_values(cohort, "crp", per_patient="first")
    assert len(first) == 10 and (first["day"] == 0).all()
    peak = lab_values(cohort, "crp", per_patient="peak").set_index("patient_uid")
    every = lab_values(cohort, "crp").groupby("patient_uid")["lower"].max()
    assert (peak["lower"] == every.reindex(peak.index)).all()
    with pytest.raises(ValueError, match="per_patient='last' is not allowed; allowed values are"):
        lab_values(cohort, "crp", per_patient="last")
    with pytest.raises(ValueError, match="analyte='crpp' is unknown"):
        lab_values(cohort, "crpp")


def test_compare_labs_finds_a_real_difference_and_recovers_group_parameters() -> None:
    cohort = _lab_cohort(np.random.default_rng(42), n=200, shift=0.7)
    res = compare_labs(cohort, "crp", by="icu")
    groups = res.groups.set_index("group")
    assert groups.loc["ICU", "n_patients"] == 100 and groups.loc["ICU", "n_values"] == 100
    assert groups.loc["ICU", "mu"] == pytest.approx(3.7, abs=0.15)
    assert groups.loc["no ICU", "mu"] == pytest.approx(3.0, abs=0.15)
    assert groups.loc["no ICU", "sigma"] == pytest.approx(0.5, abs=0.1)
    assert groups.loc["no ICU", "n_below_limit"] > 0
    tests = res.tests.set_index("test")
    assert tests.loc["gehan_wilcoxon", "primary"]
    assert tests.loc["gehan_wilcoxon", "p_value"] < 1e-6
    assert tests.loc["lognorm_likelihood_ratio", "p_value"] < 1e-6
    assert not tests.loc["kruskal_midpoint", "accounts_for_censoring"]
    assert res.reference == (-np.inf, 5.0)


def test_compare_labs_without_a_difference_and_with_one_group() -> None:
    cohort = _lab_cohort(np.random.default_rng(9), n=120, shift=0.0)
    res = compare_labs(cohort, "crp", by="icu")
    assert res.tests.set_index("test").loc["gehan_wilcoxon", "p_value"] > 0.01
    single = compare_labs(cohort, "crp", by=None)
    assert single.groups["group"].tolist() == ["all patients"]
    assert single.tests["p_value"].isna().all()
    assert single.tests["note"].str.contains("need two or more").all()
    with pytest.raises(ValueError, match="by='ward' is not a column of the patients table"):
        compare_labs(cohort, "crp", by="ward")


def test_compare_labs_carries_the_curves_and_histogram_its_figures_draw() -> None:
    cohort = _lab_cohort(np.random.default_rng(3), n=120, shift=0.7)
    res = compare_labs(cohort, "crp", by="icu")
    groups = res.groups.set_index("group")
    for group in ("ICU", "no ICU"):
        mine = res.curves[res.curves["group"] == group]
        step = mine[mine["curve"] == "turnbull"]
        # a CDF: from 0, never down, to 1
        assert step["cdf"].iloc[0] == 0.0 and step["cdf"].iloc[-1] == pytest.approx(1.0)
        assert (np.diff(step["cdf"]) >= -1e-12).all()
        fit = mine[mine["curve"] == "fit"]
        assert len(fit) == 300
        # the fitted lognormal has half its mass below its median exp(mu)
        median = groups.loc[group, "fit_median"]
        assert median == pytest.approx(np.exp(groups.loc[group, "mu"]))
        assert np.interp(median, fit["x"], fit["cdf"]) == pytest.approx(0.5, abs=0.01)
        # the Turnbull median interval holds the 0.5 crossing of the step curve
        crossing = step.loc[step["cdf"] >= 0.5 - 1e-12, "x"].iloc[0]
        assert groups.loc[group, "median_low"] <= crossing <= groups.loc[group, "median_high"]
    # lognorm: the x axis starts at the smallest finite bound (8, the detection limit), not 0
    assert res.curves["x"].min() == 8.0
    hist = res.histogram
    assert hist.what == "first value per patient" and hist.unit == "mg/L"
    assert hist.groups.set_index("group")["n_values"].to_dict() == {"ICU": 60, "no ICU": 60}
    for group in ("ICU", "no ICU"):
        rows = hist.bins[hist.bins["group"] == group]
        assert rows["mass"].sum() == pytest.approx(60)
        assert rows["share"].sum() == pytest.approx(1.0)
        below = rows[rows["kind"] == "below"]
        assert below["mass"].sum() == groups.loc[group, "n_below_limit"]
    assert len(hist.edges) == 31 and (hist.bins.loc[hist.bins["kind"] == "bin", "left"]
                                      .isin(hist.edges[:-1])).all()


def test_compare_labs_of_an_empty_selection_has_no_curves() -> None:
    cohort = _lab_cohort(np.random.default_rng(4), n=10)
    res = compare_labs(cohort.filter(patient_uid="mhh:nobody"), "crp", by="icu")
    assert res.curves.empty and res.histogram.groups.empty and res.groups.empty


def test_results_holding_tables_compare_by_identity_and_never_raise() -> None:
    """``==`` on a dataclass comparing DataFrame fields raises; results use ``eq=False``."""
    import dataclasses
    import importlib
    import pkgutil
    import typing

    import covidimg.stats

    res = compare_labs(_lab_cohort(np.random.default_rng(5), n=20), "crp", by="icu")
    twin = dataclasses.replace(res)
    assert res == res and res != twin and not (res == twin)
    checked = []
    for info in pkgutil.iter_modules(covidimg.stats.__path__):
        module = importlib.import_module(f"covidimg.stats.{info.name}")
        for obj in vars(module).values():
            if not (dataclasses.is_dataclass(obj) and isinstance(obj, type)
                    and obj.__module__ == module.__name__):
                continue
            hints = typing.get_type_hints(obj)
            tables = [f.name for f in dataclasses.fields(obj)
                      if any(k in str(hints[f.name]) for k in ("DataFrame", "ndarray",
                                                               "LabHistogram"))]
            if tables:
                checked.append(obj.__name__)
                assert obj.__eq__ is object.__eq__, (obj.__name__, tables)
    assert {"LabComparison", "LabHistogram", "SurvivalResult", "PrivacyReport",
            "DistinctIntervals", "FindingCodes"} <= set(checked)
