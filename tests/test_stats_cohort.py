"""Timelines, outcomes and Table 1 on small hand-built cohorts whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.hazard_regression import PHReg

from covidimg.cohort import Cohort
from covidimg.stats import (
    cox_labs,
    kaplan_meier,
    missingness,
    survival_data,
    table_one,
    timeline,
    timeline_census,
)

NAN = np.nan


def build(patients: list[dict], events: list[tuple[str, str, float]],
          images: list[tuple[str, str, float]] = (),
          labs: list[tuple[str, str, float, float, float]] = ()) -> Cohort:
    """A cohort from compact rows: patients as dicts, events (uid, event, day), images
    (image_uid, patient_uid, day), labs (patient_uid, analyte, lower, upper, day)."""
    p = pd.DataFrame(patients)
    p["source"] = p["patient_uid"].str.split(":").str[0]
    p["source_patient_id"] = p["patient_uid"].str.split(":").str[1]
    for column, default in (("sex", "U"), ("age_min", NAN), ("age_max", NAN),
                            ("covid_status", "positive"), ("icu", pd.NA), ("died", pd.NA),
                            ("site", None)):
        if column not in p:
            p[column] = default
    img = pd.DataFrame(list(images), columns=["image_uid", "patient_uid", "day"])
    img["source"] = img["patient_uid"].str.split(":").str[0]
    img["modality"], img["view"], img["format"] = "CR", "AP", "png"
    img["path"] = "/data/" + img["image_uid"] + ".png"
    for column in ("study_uid", "series_uid", "n_instances", "rows", "columns"):
        img[column] = None
    for column, event in (("admission_offset", "admission"), ("death_offset", "death"),
                          ("icu_admission_offset", "icu_admission"),
                          ("icu_release_offset", "icu_release")):
        ev = {uid: day for uid, e, day in events if e == event}
        img[column] = img["patient_uid"].map(ev) - img["day"]
    lab = pd.DataFrame(list(labs), columns=["patient_uid", "analyte", "lower", "upper", "day"])
    lab = lab.astype({"lower": float, "upper": float, "day": float})
    lab["unit"] = "mg/L"
    lab["image_uid"] = None
    lab["censor"] = np.select([lab["lower"] == lab["upper"], np.isneginf(lab["lower"]),
                               np.isposinf(lab["upper"])], ["none", "left", "right"],
                              "interval")
    lab["offset"], lab["value_raw"] = NAN, ""
    return Cohort.from_tables({"patients": p, "images": img,
                               "events": pd.DataFrame(list(events),
                                                      columns=["patient_uid", "event", "day"]),
                               "labs": lab})


def ward_cohort() -> Cohort:
    """Four patients with known courses (days on the cohort axis)."""
    return build(
        [{"patient_uid": "mhh:a", "sex": "F", "icu": True, "died": True},
         {"patient_uid": "mhh:b", "sex": "M", "icu": False, "died": False},
         {"patient_uid": "mhh:c", "sex": "M", "icu": True, "died": False},
         {"patient_uid": "nccid:d", "sex": "U", "age_min": 60.0, "age_max": 69.0}],
        [("mhh:a", "admission", 0), ("mhh:a", "icu_admission", 3), ("mhh:a", "death", 10),
         ("mhh:b", "admission", 0), ("mhh:b", "discharge", 6),
         ("mhh:c", "admission", 2), ("mhh:c", "icu_admission", 4),
         ("mhh:c", "icu_release", 9), ("mhh:c", "icu_admission", 11),
         ("mhh:c", "icu_release", 12)],
        [("mhh:1", "mhh:a", 2), ("mhh:2", "mhh:a", 5), ("mhh:3", "mhh:b", 1),
         ("mhh:4", "mhh:c", 3), ("mhh:5", "mhh:c", 14), ("nccid:6", "nccid:d", 7)],
        [("mhh:a", "crp", 38, 39, 2), ("mhh:a", "crp", 38, 39, 2), ("mhh:a", "crp", 120, 121, 5),
         ("mhh:b", "crp", -np.inf, 5, 1), ("mhh:c", "crp", 12, 13, 3),
         ("nccid:d", "crp", 50, 50, 7)])


@pytest.fixture
def ward() -> Cohort:
    return ward_cohort()


# ----------------------------------------------------------------------------- timeline
def _marks(tl: pd.DataFrame, uid: str, kind: str) -> list[tuple[float, float]]:
    rows = tl[(tl["patient_uid"] == uid) & (tl["kind"] == kind)]
    return list(zip(rows["start"].tolist(), rows["end"].tolist(), strict=True))


def test_timeline_puts_each_event_on_the_day_the_data_says(ward: Cohort) -> None:
    tl = timeline(ward, align="none", labs=True)
    assert _marks(tl, "mhh:a", "death") == [(10, 10)]
    assert _marks(tl, "mhh:a", "exam") == [(2, 2), (5, 5)]
    assert _marks(tl, "mhh:a", "hospital") == [(0, 10)]          # admission to death
    assert _marks(tl, "mhh:a", "icu") == [(3, 10)]               # no release: until death
    assert _marks(tl, "mhh:b", "hospital") == [(0, 6)]           # admission to discharge
    assert _marks(tl, "mhh:c", "icu") == [(4, 9), (11, 12)]      # two ICU stays, paired
    assert _marks(tl, "mhh:c", "hospital") == [(2, 14)]          # open: to last known day
    assert tl.loc[(tl["patient_uid"] == "mhh:c") & (tl["kind"] == "hospital"),
                  "open_end"].item()
    # the draw MHH repeats on two exams is one lab mark
    assert _marks(tl, "mhh:a", "lab") == [(2, 2), (5, 5)]
    exam = tl[(tl["kind"] == "exam") & (tl["image_uid"] == "mhh:2")].iloc[0]
    assert (exam["admission_offset"], exam["death_offset"]) == (-5, 5)  # MHH sign convention


def test_timeline_alignment_shifts_days_and_drops_patients_without_the_anchor(
        ward: Cohort) -> None:
    tl = timeline(ward, align="icu_admission")
    assert set(tl["patient_uid"]) == {"mhh:a", "mhh:c"}
    assert tl.attrs["unaligned"] == ["mhh:b", "nccid:d"]
    assert _marks(tl, "mhh:a", "death") == [(7, 7)]
    assert _marks(tl, "mhh:c", "icu") == [(0, 5), (7, 8)]
    assert tl["day"][tl["kind"] == "death"].tolist() == [10]     # original day kept
    kept = timeline(ward, align="icu_admission", unaligned="keep")
    assert _marks(kept, "mhh:b", "discharge") == [(6, 6)]
    # align on admission: c was admitted on day 2; d has no admission and keeps day 0
    adm = timeline(ward, align="admission")
    assert _marks(adm, "mhh:c", "hospital") == [(0, 12)]
    assert _marks(adm, "nccid:d", "exam") == [(7, 7)]


def test_timeline_sorts_lanes(ward: Cohort) -> None:
    def order(tl: pd.DataFrame) -> list[str]:
        return tl.drop_duplicates("lane").sort_values("lane")["patient_uid"].tolist()

    assert order(timeline(ward, align="none", sort_by="death")) == [
        "mhh:a", "mhh:b", "mhh:c", "nccid:d"]                    # no death: last, by id
    assert order(timeline(ward, align="none", sort_by="n_exams"))[-2:] == ["mhh:a", "mhh:c"]
    assert order(timeline(ward, align="none", sort_by="icu_admission"))[:2] == [
        "mhh:a", "mhh:c"]
    with pytest.raises(ValueError, match="sort_by='age' is not allowed; allowed values are"):
        timeline(ward, sort_by="age")
    with pytest.raises(ValueError, match="align='icu' is not allowed; allowed values are"):
        timeline(ward, align="icu")


def test_census_counts_patients_per_day(ward: Cohort) -> None:
    census = timeline_census(timeline(ward, align="none")).set_index("day")
    assert census.loc[3, "in_hospital"] == 3          # a, b, c
    assert census.loc[7, "in_hospital"] == 2          # b discharged on 6
    assert census.loc[4, "in_icu"] == 2               # a (3-10), c (4-9)
    assert census.loc[10, "in_icu"] == 1 and census.loc[11, "in_icu"] == 1
    assert census.loc[10, "deaths"] == 1 and census["deaths"].sum() == 1
    assert census["exams"].sum() == 6 and census.loc[7, "exams"] == 1


# ----------------------------------------------------------------------------- outcomes
def test_survival_data_uses_admission_as_origin_and_last_known_day_as_censoring(
        ward: Cohort) -> None:
    data, excluded = survival_data(ward, "death")
    data = data.set_index("patient_uid")
    assert (data.loc["mhh:a", "duration"], data.loc["mhh:a", "observed"]) == (10, True)
    assert (data.loc["mhh:b", "duration"], data.loc["mhh:b", "observed"]) == (6, False)
    assert data.loc["mhh:c", "duration"] == 12          # day 14 - admission day 2
    assert data.loc["nccid:d", "duration"] == 7         # no admission: axis day 0
    assert excluded.empty
    icu, _ = survival_data(ward, "icu_admission")
    icu = icu.set_index("patient_uid")
    assert (icu.loc["mhh:c", "duration"], icu.loc["mhh:c", "observed"]) == (2, True)


def test_death_before_admission_and_missing_death_day_are_reported() -> None:
    cohort = build([{"patient_uid": "mhh:x", "died": True}, {"patient_uid": "mhh:y"},
                    {"patient_uid": "mhh:z", "died": True}],
                   [("mhh:x", "admission", 5), ("mhh:x", "death", 2),
                    ("mhh:y", "admission", 0), ("mhh:z", "admission", 0)],
                   [("mhh:1", "mhh:x", 1), ("mhh:2", "mhh:y", 4), ("mhh:3", "mhh:z", 3)])
    data, excluded = survival_data(cohort, "death")
    reasons = dict(zip(excluded["patient_uid"], excluded["reason"], strict=True))
    assert reasons == {"mhh:x": "death before the admission day",
                       "mhh:z": "marked died, but no death day"}
    assert data["patient_uid"].tolist() == ["mhh:y"]


def _hand_km(time: np.ndarray, event: np.ndarray) -> dict[float, float]:
    s, out = 1.0, {}
    for t in np.unique(time[event == 1]):
        at_risk = np.sum(time >= t)
        deaths = np.sum((time == t) & (event == 1))
        s *= 1 - deaths / at_risk
        out[float(t)] = s
    return out


def _hand_logrank(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> float:
    o_minus_e, var = 0.0, 0.0
    for t in np.unique(time[event == 1]):
        risk = time >= t
        n, n1 = risk.sum(), (risk & (group == 1)).sum()
        d = ((time == t) & (event == 1)).sum()
        d1 = ((time == t) & (event == 1) & (group == 1)).sum()
        o_minus_e += d1 - d * n1 / n
        var += d * (n1 / n) * (1 - n1 / n) * (n - d) / max(n - 1, 1)
    return o_minus_e**2 / var


def _cohort_from_durations(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> Cohort:
    patients, events, images = [], [], []
    for i, (t, e, g) in enumerate(zip(time, event, group, strict=True)):
        uid = f"mhh:p{i}"
        patients.append({"patient_uid": uid, "sex": "F" if g else "M", "died": bool(e)})
        events.append((uid, "admission", 0.0))
        if e:
            events.append((uid, "death", float(t)))
        images.append((f"mhh:i{i}", uid, float(t)))    # last known day = t
    return build(patients, events, images)


def test_kaplan_meier_and_logrank_match_hand_computation() -> None:
    time = np.array([1, 2, 2, 3, 4, 5, 5, 6, 7, 8, 9, 9, 10, 12, 15], dtype=float)
    event = np.array([1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    group = np.array([1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0])
    km = kaplan_meier(_cohort_from_durations(time, event, group), "death")
    curve = km.curves.set_index("time")
    for t, s in _hand_km(time, event).items():
        assert curve.loc[t, "survival"] == pytest.approx(s)
    assert curve.loc[0, "survival"] == 1.0
    assert curve.loc[2, "n_at_risk"] == 14 and curve.loc[2, "n_censored"] == 1
    assert (curve["ci_low"] <= curve["survival"] + 1e-12).all()
    assert (curve["ci_high"] >= curve["survival"] - 1e-12).all()
    # textbook value: S(3) = (14/15)(13/14)(11/12)
    assert curve.loc[3, "survival"] == pytest.approx(14 / 15 * 13 / 14 * 11 / 12)

    by_sex = kaplan_meier(_cohort_from_durations(time, event, group), "death", by="sex")
    test = by_sex.test.iloc[0]
    assert test["statistic"] == pytest.approx(_hand_logrank(time, event, group), rel=1e-8)
    assert test["df"] == 1
    for sex, flag in (("F", 1), ("M", 0)):
        sel = group == flag
        curve = by_sex.curves[by_sex.curves["group"] == sex].set_index("time")
        for t, s in _hand_km(time[sel], event[sel]).items():
            assert curve.loc[t, "survival"] == pytest.approx(s)


def test_kaplan_meier_greenwood_interval_matches_the_formula() -> None:
    time = np.array([1, 2, 3, 4, 5, 6], dtype=float)
    event = np.array([1, 0, 1, 1, 0, 1])
    km = kaplan_meier(_cohort_from_durations(time, event, np.zeros(6, int)), "death")
    row = km.curves.set_index("time").loc[3]
    s = 5 / 6 * 3 / 4
    greenwood = s**2 * (1 / (6 * 5) + 1 / (4 * 3))
    theta_se = np.sqrt(greenwood) / (s * abs(np.log(s)))
    assert row["ci_low"] == pytest.approx(s ** np.exp(1.959964 * theta_se), rel=1e-5)
    assert row["ci_high"] == pytest.approx(s ** np.exp(-1.959964 * theta_se), rel=1e-5)


def test_unknown_group_is_left_out_and_reported(ward: Cohort) -> None:
    km = kaplan_meier(ward, "death", by="icu")
    assert set(km.curves["group"]) == {"ICU", "no ICU"}
    assert km.excluded["patient_uid"].tolist() == ["nccid:d"]
    assert km.excluded["reason"].tolist() == ["icu unknown"]
    with pytest.raises(ValueError, match="event='discharge' is not allowed; allowed values are"):
        kaplan_meier(ward, "discharge")


def test_cox_teaching_model_agrees_with_a_direct_phreg_fit() -> None:
    rng = np.random.default_rng(5)
    n = 150
    crp = np.exp(rng.normal(3.5, 1.0, n))
    hazard = 0.02 * (crp / 30) ** 0.7            # HR per doubling = 2 ** 0.7
    t_event = rng.exponential(1 / hazard)
    t_end = rng.uniform(5, 60, n)
    time = np.ceil(np.minimum(t_event, t_end))
    event = t_event <= t_end
    patients, events, images, labs = [], [], [], []
    for i in range(n):
        uid = f"mhh:p{i}"
        patients.append({"patient_uid": uid, "died": bool(event[i])})
        events.append((uid, "admission", 0.0))
        if event[i]:
            events.append((uid, "death", time[i]))
        images.append((f"mhh:i{i}", uid, time[i]))
        cell = np.floor(crp[i])
        labs.append((uid, "crp", cell, cell + 1, 0.0))
    cohort = build(patients, events, images, labs)
    res = cox_labs(cohort, ["crp"])
    assert res.attrs["n_patients"] == n and res.attrs["n_events"] == int(event.sum())
    mid = np.log2(np.floor(crp) + 0.5)
    direct = PHReg(time, mid[:, None], status=event.astype(int), ties="efron").fit()
    assert res["hazard_ratio"].item() == pytest.approx(np.exp(direct.params[0]), rel=1e-6)
    assert res["ci_low"].item() < 2**0.7 < res["ci_high"].item()
    with pytest.raises(ValueError, match="analytes is empty"):
        cox_labs(cohort, [])


# ----------------------------------------------------------------------------- table one
def test_table_one_counts_and_tests(ward: Cohort) -> None:
    t1 = table_one(ward, by="icu")
    assert list(t1.columns) == ["overall", "ICU", "no ICU", "unknown", "missing", "p_value",
                                "test"]
    assert t1.loc[("patients", "n"), "overall"] == "4"
    assert t1.loc[("patients", "n"), "ICU"] == "2"
    assert t1.loc[("images", "n"), "ICU"] == "4"
    assert t1.loc[("sex", "M"), "overall"] == "2 (67%)"      # of 3 with a known sex
    assert t1.loc[("sex", "M"), "missing"] == "1 (25%)"
    assert t1.loc[("died", "yes"), "ICU"] == "1 (50%)"
    assert t1.loc[("age, years", "median [IQR]"), "overall"].startswith("64.5")
    crp = t1.loc[("C-reactive protein, first value (mg/L)", "median [IQR]")]
    assert crp["no ICU"] == "<5 [<5–<5]"                      # below the detection limit
    assert crp["test"] == "Gehan (censoring-aware)"
    assert t1.loc[("sex", "F"), "test"] == "Fisher exact"
    overall = table_one(ward)
    assert list(overall.columns) == ["overall", "missing", "p_value", "test"]


def test_missingness_counts_missing_values(ward: Cohort) -> None:
    miss = missingness(ward).set_index(["table", "column"])
    assert miss.loc[("patients", "age_min"), "n_missing"] == 3
    assert miss.loc[("patients", "age_min"), "percent_missing"] == 75.0
    assert miss.loc[("patients", "patient_uid"), "n_missing"] == 0
    with pytest.raises(ValueError, match="tables='exams' is not allowed; allowed values are"):
        missingness(ward, tables=["exams"])
