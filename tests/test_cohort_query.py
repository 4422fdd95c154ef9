"""The filter engine against truth: a hand-built cohort whose answers are worked out by hand,
and the demo cohort against the values its generator planted (``load_demo_truth``)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest

import covidimg as ci
from covidimg.cohort import Criteria, Selection
from covidimg.demo import load_demo_truth

INF = np.inf


@pytest.fixture(scope="module")
def five() -> ci.Cohort:
    """Five patients, written so each criterion's answer can be read off by eye.

    ====  ===  =====  ====  =====  ===================  ==============================
    uid   sex  age    icu   died   images (modality@day)  labs
    ====  ===  =====  ====  =====  ===================  ==============================
    p1    F    30     yes   no     CR@0, CT@4           crp 120 (on CR), crp <5
    p2    F    60-69  no    NA     DX@1                 crp [90, 110) (no image)
    p3    M    45     yes   yes    CR@2                 crp 150
    p4    F    NaN    NA    no     CT@-1                crp 40, ldh 300
    p5    U    80     no    no     (none)               crp >200
    ====  ===  =====  ====  =====  ===================  ==============================
    """
    patients = pd.DataFrame({
        "patient_uid": ["x:p1", "x:p2", "x:p3", "x:p4", "x:p5"], "source": "mhh",
        "source_patient_id": ["p1", "p2", "p3", "p4", "p5"],
        "sex": ["F", "F", "M", "F", "U"],
        "age_min": [30.0, 60.0, 45.0, np.nan, 80.0], "age_max": [30.0, 69.0, 45.0, np.nan, 80.0],
        "covid_status": ["positive", "positive", "negative", "unknown", "positive"],
        "icu": [True, False, True, None, False], "died": [False, None, True, False, False],
        "site": ["A", "B", "A", None, "B"]})
    images = pd.DataFrame({
        "image_uid": ["x:i1", "x:i2", "x:i3", "x:i4", "x:i5"],
        "patient_uid": ["x:p1", "x:p1", "x:p2", "x:p3", "x:p4"], "source": "mhh",
        "modality": ["CR", "CT", "DX", "CR", "CT"], "view": ["AP", "AXIAL", "PA", "AP", "AXIAL"],
        "day": [0.0, 4.0, 1.0, 2.0, -1.0], "path": "/x.png", "format": "png",
        **dict.fromkeys(["study_uid", "series_uid", "rows", "columns"], None),
        **dict.fromkeys(["admission_offset", "icu_admission_offset", "icu_release_offset",
                         "death_offset"], np.nan), "n_instances": 1})
    events = pd.DataFrame({"patient_uid": ["x:p1", "x:p2", "x:p3", "x:p3", "x:p5"],
                           "event": ["admission", "admission", "admission", "death",
                                     "admission"],
                           "day": [0.0, 0.0, 0.0, 9.0, 0.0]})
    labs = pd.DataFrame({
        "patient_uid": ["x:p1", "x:p1", "x:p2", "x:p3", "x:p4", "x:p4", "x:p5"],
        "image_uid": ["x:i1", None, None, "x:i4", "x:i5", "x:i5", None],
        "analyte": ["crp", "crp", "crp", "crp", "crp", "ldh", "crp"], "unit": "mg/L",
        "lower": [120.0, -INF, 90.0, 150.0, 40.0, 300.0, 200.0],
        "upper": [120.0, 5.0, 110.0, 150.0, 40.0, 300.0, INF],
        "censor": ["none", "left", "interval", "none", "none", "none", "right"],
        "day": [0.0, 3.0, 1.0, 2.0, -1.0, -1.0, 0.0], "offset": np.nan, "value_raw": None})
    files = pd.DataFrame({"path": ["/i1", "/i2", "/i3", "/i4", "/i5", "/data.csv"],
                          "source": "mhh", "status": "used",
                          "image_uid": ["x:i1", "x:i2", "x:i3", "x:i4", "x:i5", None],
                          "reason": None})
    findings = pd.DataFrame({"kind": ["duplicate_exam", "unparseable_value", "empty_table"],
                             "source": "mhh", "patient_uid": ["x:p1", "x:p3", None],
                             "image_uid": None, "path": None, "detail": ["a", "b", "c"]})
    return ci.Cohort.from_tables({"patients": patients, "images": images, "events": events,
                                  "labs": labs, "files": files, "findings": findings})


def _uids(cohort: ci.Cohort, table: str = "patients", column: str = "patient_uid") -> list:
    return sorted(getattr(cohort, table)[column].dropna().str.replace("x:", ""))


@pytest.mark.parametrize(("criteria", "patients", "images"), [
    # the design's example: women with a CRP that may be >= 100 (p4's 40 cannot)
    ({"sex": "F", "labs": {"crp": (100, None)}}, ["p1", "p2"], ["i1", "i2", "i3"]),
    # "within": p2's [90, 110) may lie below 100, so only p1 is certain
    ({"sex": "F", "labs": {"crp": (100, None)}, "lab_match": "within"}, ["p1"], ["i1", "i2"]),
    # right-censored > 200 is certainly above 150; p3's exact 150 too
    ({"labs": {"crp": (150, None)}, "lab_match": "within"}, ["p3", "p5"], ["i4"]),
    # left-censored < 5 may lie in [0, 4]
    ({"labs": {"crp": (0, 4)}}, ["p1"], ["i1", "i2"]),
    # two analytes: every one must match
    ({"labs": {"crp": (None, 50), "ldh": (250, None)}}, ["p4"], ["i5"]),
    # image criteria keep the matching images, and only patients with one
    ({"modality": "CT"}, ["p1", "p4"], ["i2", "i5"]),
    ({"modality": ["CR", "DX"], "day": (1, None)}, ["p2", "p3"], ["i3", "i4"]),
    ({"sex": "F", "view": "AP"}, ["p1"], ["i1"]),
    # unknown icu / died never match; redacted ages never match an age criterion
    ({"icu": False}, ["p2", "p5"], ["i3"]),
    ({"died": False}, ["p1", "p4", "p5"], ["i1", "i2", "i5"]),
    ({"age": (40, 65)}, ["p2", "p3"], ["i3", "i4"]),
    ({"covid_status": "positive", "site": "B"}, ["p2", "p5"], ["i3"]),
    ({"patient_uid": ["x:p5", "x:p3"]}, ["p3", "p5"], ["i4"]),
    ({"source": "nccid"}, [], []),
])
def test_filter_keeps_what_a_hand_count_says(five, criteria, patients, images):
    sub = five.filter(**criteria)
    assert _uids(sub) == patients
    assert _uids(sub, "images", "image_uid") == images
    selection = five.select(**criteria)
    assert (selection.n_patients, selection.n_images) == (len(patients), len(images))
    sub.validate()


def test_other_tables_follow_the_rows_they_reference(five):
    sub = five.filter(modality="CR")                  # p1 (image i1 only) and p3 (i4)
    assert _uids(sub) == ["p1", "p3"]
    assert sorted(sub.events["event"].astype(str) + "@" + sub.events["patient_uid"]) == [
        "admission@x:p1", "admission@x:p3", "death@x:p3"]
    # p1's value on i1 and its value on no image stay; nothing attached to dropped i2 exists
    assert sorted(zip(sub.labs["patient_uid"], sub.labs["lower"], strict=True)) == [
        ("x:p1", -INF), ("x:p1", 120.0), ("x:p3", 150.0)]
    # the files of kept images, and the file of no image (a source's table)
    assert sorted(sub.files["path"]) == ["/data.csv", "/i1", "/i4"]
    # the findings of kept patients, and the finding of no patient
    assert sorted(sub.findings["detail"]) == ["a", "b", "c"]
    ct = five.filter(modality="CT")                   # p1 (i2), p4 (i5)
    assert sorted(zip(ct.labs["patient_uid"], ct.labs["lower"], strict=True)) == [
        ("x:p1", -INF), ("x:p4", 40.0), ("x:p4", 300.0)]   # p1's 120 was on dropped i1
    assert sorted(ct.findings["detail"]) == ["a", "c"]


def test_no_criteria_select_everything_and_filter_returns_a_new_cohort(five):
    everything = five.select()
    assert everything.whole and everything.cohort is five
    assert (everything.n_patients, everything.n_images) == (5, 5)
    copy_ = five.filter()
    assert copy_ is not five
    for name, frame in five.tables().items():
        pd.testing.assert_frame_equal(getattr(copy_, name), frame, obj=name)
    assert Criteria().empty and not Criteria(icu=False).empty


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sex": "X"}, r"filter sex='X' is not allowed; allowed values are \['F', 'M', 'U'\]"),
    ({"view": ["AP", "oblique"]}, r"filter view='oblique' is not allowed; allowed values are"),
    ({"day": (5, 1)}, "day=\\(5, 1\\): low is greater than high"),
    ({"age": 5}, "age=5: expected a \\(low, high\\) pair"),
    ({"age": ("old", None)}, "the ends must be numbers or None"),
    ({"labs": {"crp": (None, float("nan"))}}, r"labs\['crp'\].*NaN"),
    ({"labs": ["crp"]}, "expected a mapping of analyte to"),
    ({"lab_match": "maybe"}, "lab_match='maybe' is not allowed; allowed values are"),
    ({"icu": "yes"}, "icu='yes': expected True, False or None"),
])
def test_criteria_are_checked_once_when_made(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Criteria(**kwargs)


def test_criteria_are_frozen_hashable_and_normalised():
    criteria = Criteria(sex=["F"], day=(None, 3), labs={"crp": (100, None)})
    assert criteria.sex == ("F",) and criteria.day == (-INF, 3.0)
    assert criteria.labs == (("crp", (100.0, INF)),)
    assert criteria == Criteria(sex="F", day=(None, 3.0), labs={"crp": (100, None)})
    assert hash(criteria) == hash(Criteria(sex="F", day=(None, 3.0), labs={"crp": (100, None)}))
    with pytest.raises(AttributeError):
        criteria.sex = ("M",)  # type: ignore[misc]


def test_an_unknown_analyte_is_named_with_the_known_ones(five):
    with pytest.raises(ValueError, match="unknown analyte 'glucose'; known analytes are"):
        five.filter(labs={"glucose": (1, 2)})
    assert len(five.filter(labs={"ferritin": (1, 2)}).patients) == 0   # known, not measured


def test_select_takes_criteria_or_keywords_not_both(five):
    assert five.select(Criteria(sex="M")).n_patients == five.select(sex="M").n_patients == 1
    with pytest.raises(TypeError, match="not both"):
        five.select(Criteria(sex="M"), icu=True)


def test_a_selection_checks_its_masks(five):
    arrays = five.select().arrays
    with pytest.raises(ValueError, match="5 patient and 5 image flags"):
        Selection(arrays, np.ones(3, dtype=bool), np.ones(5, dtype=bool))
    women = Selection.of_patients(arrays, five.patients["sex"].eq("F").to_numpy())
    assert women.n_images == 4 and women.complete
    with pytest.raises(ValueError, match="tables='visits' is not allowed; allowed values are"):
        women.subset(tables=["visits"])
    only = women.subset(tables=["patients", "images"])
    assert len(only.patients) == 3 and len(only.labs) == 0


# ---------------------------------------------------------------------- the kept index
def test_cohorts_compare_by_identity_not_by_their_tables():
    assert ci.Cohort() != ci.Cohort()         # used to raise: DataFrames have no truth value
    cohort = ci.Cohort()
    assert cohort == cohort


def test_the_index_is_kept_and_dropped_when_a_table_is_assigned(five):
    cohort = ci.Cohort(**{name: frame.copy() for name, frame in five.tables().items()})
    first = cohort.select(sex="F").arrays
    assert cohort.select(icu=True).arrays is first          # built once, kept
    cohort.images = five.images[five.images["modality"] != "CT"].reset_index(drop=True)
    assert cohort.select().arrays is not first
    assert _uids(cohort.filter(modality="CT")) == []
    assert _uids(cohort.filter(sex="F"), "images", "image_uid") == ["i1", "i3"]
    grown = cohort.select().arrays
    cohort.patients.loc[len(cohort.patients)] = cohort.patients.iloc[0]   # in place, longer
    assert cohort.select().arrays is not grown


def test_copies_and_pickles_carry_the_tables_not_the_index(five):
    cohort = ci.Cohort(**five.tables())
    cohort.select(sex="F")
    for again in (copy.copy(cohort), copy.deepcopy(cohort), pickle.loads(pickle.dumps(cohort))):
        assert "_kept_arrays" not in again.__dict__
        assert _uids(again.filter(sex="F")) == ["p1", "p2", "p4"]


# ---------------------------------------------------------------------- the demo's truth
@pytest.fixture(scope="module")
def truth() -> dict:
    return load_demo_truth(n_patients=12)


def _truth_patients(truth: dict) -> pd.DataFrame:
    frames = [t.patients.assign(source=name) for name, t in truth.items()]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("criteria", [
    {"sex": "F"}, {"icu": True}, {"died": False, "sex": ["M", "U"]},
    {"covid_status": "negative"}, {"source": ["mhh", "tcia"], "icu": False},
])
def test_patient_criteria_on_the_demo_match_the_planted_patients(demo_cohort, truth,
                                                                  criteria):
    planted = _truth_patients(truth)
    keep = np.ones(len(planted), dtype=bool)
    for name, wanted in criteria.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        keep &= planted[name].isin(values).to_numpy() & planted[name].notna().to_numpy()
    expected = sorted(planted.loc[keep, "patient_uid"])
    assert sorted(demo_cohort.filter(**criteria).patients["patient_uid"]) == expected


@pytest.mark.parametrize("source", ["crdw", "nccid", "tcia"])
def test_lab_criteria_on_the_demo_match_the_planted_values(demo_cohort, truth, source):
    labs = truth[source].labs
    crp = labs[labs["analyte"] == "crp"]
    if not len(crp):
        pytest.skip(f"the {source} demo plants no CRP")
    threshold = float(np.nanmedian(crp["upper"].replace(INF, np.nan)))
    possible = crp[(crp["upper"] > threshold)]
    certain = crp[(crp["lower"] >= threshold)]
    got = demo_cohort.filter(source=source, labs={"crp": (threshold, None)})
    assert sorted(got.patients["patient_uid"]) == sorted(set(possible["patient_uid"]))
    got = demo_cohort.filter(source=source, labs={"crp": (threshold, None)},
                             lab_match="within")
    assert sorted(got.patients["patient_uid"]) == sorted(set(certain["patient_uid"]))


@pytest.mark.parametrize("source", ["crdw", "mhh", "nccid", "tcia"])
def test_image_criteria_on_the_demo_match_the_planted_exams(demo_cohort, truth, source):
    images = truth[source].images
    window = images[images["day"].between(0, 5) & images["modality"].isin(["CR", "DX"])]
    got = demo_cohort.filter(source=source, day=(0, 5), modality=["CR", "DX"])
    assert sorted(got.images["image_uid"]) == sorted(window["image_uid"])
    assert sorted(got.patients["patient_uid"]) == sorted(set(window["patient_uid"]))


def test_exam_and_pre_encounter_select_images_by_the_crdw_truth(tmp_path):
    """CRDW's baseline exams (before the COVID encounter, within the tip sheet's windows) and
    the harmonized exam labels filter images."""
    import covidimg as ci
    from covidimg.demo import generate_demo

    generate_demo(tmp_path, sources=["crdw"], n_patients=10)
    cohort = ci.load({"crdw": tmp_path / "crdw"}, progress=False, index_cache=False)
    flagged = cohort.images["pre_encounter"]
    before = cohort.filter(pre_encounter=True).images
    assert len(before) == int(flagged.fillna(False).sum()) > 0
    assert before["pre_encounter"].all()
    after = cohort.filter(pre_encounter=False).images
    assert len(after) == int((flagged == False).sum())  # noqa: E712 - a nullable boolean
    ct_exams = ["CT CHEST", "CTA CHEST", "CT CHEST W CONTRAST"]
    ct = cohort.filter(exam=ct_exams).images
    assert set(ct["exam"].astype(str)) <= set(ct_exams)
    assert len(ct) == int(cohort.images["exam"].isin(ct_exams).sum()) > 0
    with pytest.raises(ValueError, match="filter exam='CT HEAD'"):
        cohort.filter(exam="CT HEAD")
    other = ci.load_demo(n_patients=8, sources=["mhh"])
    assert len(other.filter(pre_encounter=True).images) == 0
