"""Cohort: filtering, combining, saving atomically and reopening."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

import covidimg as ci
from covidimg.errors import SchemaError


def _consistent(cohort: ci.Cohort) -> None:
    cohort.validate()
    assert set(cohort.images["patient_uid"]) <= set(cohort.patients["patient_uid"])
    assert set(cohort.labs["image_uid"].dropna()) <= set(cohort.images["image_uid"])


def test_filter_by_patient_criteria(mhh_cohort):
    women = mhh_cohort.filter(sex="F")
    assert len(women.patients) == 24
    assert set(women.patients["sex"]) == {"F"}
    _consistent(women)
    icu_dead = mhh_cohort.filter(icu=True, died=True)
    assert icu_dead.patients["icu"].all() and icu_dead.patients["died"].all()
    assert set(icu_dead.events["patient_uid"]) <= set(icu_dead.patients["patient_uid"])


def test_filter_by_image_criteria_keeps_only_patients_with_matching_images(mhh_cohort):
    dx = mhh_cohort.filter(modality="DX")
    assert len(dx.images) == 31
    assert set(dx.patients["patient_uid"]) == set(dx.images["patient_uid"])
    both = mhh_cohort.filter(modality=["CR", "DX"], view="PA")
    assert len(both.images) == 49
    window = mhh_cohort.filter(day=(0, 3))
    assert window.images["day"].between(0, 3).all()
    _consistent(window)


def test_filter_by_lab_intervals(mhh_cohort):
    high = mhh_cohort.filter(labs={"crp": (100, None)})
    crp = high.labs[high.labs["analyte"] == "crp"]
    per_patient = crp.groupby("patient_uid")["upper"].max()
    assert (per_patient > 100).all() and len(per_patient) == len(high.patients) > 0
    certain = mhh_cohort.filter(labs={"d_dimer": (5, None)}, lab_match="within")
    possible = mhh_cohort.filter(labs={"d_dimer": (5, None)})
    assert set(certain.patients["patient_uid"]) <= set(possible.patients["patient_uid"])
    # Right-censored d-dimer (> 33.5) is certainly above 5.
    censored = mhh_cohort.labs[(mhh_cohort.labs["analyte"] == "d_dimer")
                               & (mhh_cohort.labs["censor"] == "right")]["patient_uid"]
    assert set(censored) <= set(certain.patients["patient_uid"])


def test_filters_combine(mhh_cohort):
    sub = mhh_cohort.filter(sex="M", icu=True, modality="CR", labs={"crp": (50, None)})
    assert set(sub.patients["sex"]) == {"M"} and sub.patients["icu"].all()
    assert set(sub.images["modality"]) == {"CR"}
    _consistent(sub)
    assert len(sub.patients) < len(mhh_cohort.filter(sex="M", icu=True).patients)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sex": "X"}, r"filter sex='X' is not allowed; allowed values are \['F', 'M', 'U'\]"),
    ({"modality": "XR"}, "filter modality='XR' is not allowed; allowed values are"),
    ({"labs": {"glucose": (1, 2)}}, "unknown analyte 'glucose'"),
    ({"day": (5, 1)}, "low is greater than high"),
    ({"age": 5}, "expected a \\(low, high\\) pair"),
    ({"lab_match": "maybe"}, "lab_match='maybe'"),
])
def test_filter_errors_name_argument_and_allowed_values(mhh_cohort, kwargs, message):
    with pytest.raises(ValueError, match=message):
        mhh_cohort.filter(**kwargs)


def test_save_and_open_round_trip(mhh_cohort, tmp_path):
    mhh_cohort.save(tmp_path / "c")
    again = ci.Cohort.open(tmp_path / "c")
    for name, frame in mhh_cohort.tables().items():
        pd.testing.assert_frame_equal(getattr(again, name), frame, check_categorical=False)
        assert list(getattr(again, name).dtypes.astype(str)) == list(frame.dtypes.astype(str))


def test_saving_again_replaces_the_previous_cohort(mhh_cohort, tmp_path):
    mhh_cohort.save(tmp_path / "c")
    small = mhh_cohort.filter(sex="F")
    small.save(tmp_path / "c")
    assert len(ci.Cohort.open(tmp_path / "c").patients) == 24
    assert len(list((tmp_path / "c").glob("tables-*"))) == 1


def test_interrupted_save_leaves_the_previous_cohort(mhh_cohort, tmp_path, monkeypatch):
    mhh_cohort.save(tmp_path / "c")
    calls = {"n": 0}
    original = pd.DataFrame.to_parquet

    def crash_on_third(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash_on_third)
    with pytest.raises(OSError, match="disk full"):
        mhh_cohort.filter(sex="F").save(tmp_path / "c")
    monkeypatch.undo()
    assert len(ci.Cohort.open(tmp_path / "c").patients) == 71


def test_a_half_written_folder_never_opens(mhh_cohort, tmp_path):
    folder = tmp_path / "c"
    with pytest.raises(ci.CohortFileError, match="manifest.json is missing"):
        ci.Cohort.open(folder)
    mhh_cohort.save(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    os.remove(folder / manifest["tables_dir"] / "labs.parquet")
    with pytest.raises(ci.CohortFileError, match="labs.parquet is missing"):
        ci.Cohort.open(folder)


def test_concat_keeps_uids_unique(mhh_cohort):
    with pytest.raises(SchemaError, match="duplicated key"):
        ci.Cohort.concat([mhh_cohort, mhh_cohort])
    assert len(ci.Cohort.concat([mhh_cohort, ci.Cohort()]).images) == 243


def test_validate_catches_dangling_references(mhh_cohort):
    broken = ci.Cohort(**{**mhh_cohort.tables(),
                          "patients": mhh_cohort.patients.iloc[1:].reset_index(drop=True)})
    with pytest.raises(SchemaError, match="refers to patients not in the patients table"):
        broken.validate()


def test_summary_and_repr(mhh_cohort):
    summary = mhh_cohort.summary()
    assert summary.loc["mhh", "patients"] == 71 and summary.loc["mhh", "images"] == 243
    assert summary.loc["mhh", "files_used"] + summary.loc["mhh", "files_ignored"] == len(
        mhh_cohort.files)
    assert "71 patients, 243 images" in repr(mhh_cohort)


def test_from_tables_conforms_dtypes():
    cohort = ci.Cohort.from_tables({
        "patients": pd.DataFrame({"patient_uid": ["mhh:a"], "source": ["mhh"],
                                  "source_patient_id": ["a"], "sex": ["F"],
                                  "age_min": [np.nan], "age_max": [np.nan],
                                  "covid_status": ["positive"], "icu": [True], "died": [False],
                                  "site": [None]})})
    assert cohort.patients["icu"].dtype == "boolean"


def test_concat_of_filtered_parts_keeps_shared_rows_once(demo_cohort):
    """Parts filtered from one cohort each hold the rows that belong to no patient or image."""
    patients = demo_cohort.patients["patient_uid"].tolist()
    halves = [demo_cohort.filter(patient_uid=patients[::2]),
              demo_cohort.filter(patient_uid=patients[1::2])]
    shared = demo_cohort.files[demo_cohort.files["image_uid"].isna()]
    assert len(shared) and all(len(h.files[h.files["image_uid"].isna()]) == len(shared)
                               for h in halves)
    combined = ci.Cohort.concat(halves)
    assert sorted(combined.files["path"]) == sorted(demo_cohort.files["path"])
    source_level = demo_cohort.findings["patient_uid"].isna().sum()
    assert source_level and len(combined.findings) == len(demo_cohort.findings)
    # rows repeated inside one part are not merged: only copies across parts are
    doubled = demo_cohort.findings.iloc[[0, 0]].reset_index(drop=True)
    part = ci.Cohort(patients=demo_cohort.patients, findings=doubled)
    assert len(ci.Cohort.concat([part]).findings) == 2


def test_validate_names_each_dangling_reference(mhh_cohort):
    first = mhh_cohort.patients["patient_uid"].iloc[0]
    with pytest.raises(SchemaError, match=rf"images\.patient_uid .*\['{first}'\]"):
        ci.Cohort(**{**mhh_cohort.tables(),
                     "patients": mhh_cohort.patients.iloc[1:].reset_index(drop=True)}).validate()
    labs = mhh_cohort.labs.copy()
    labs.loc[labs.index[:3], "image_uid"] = ["mhh:gone", None, "mhh:gone"]
    with pytest.raises(SchemaError, match=r"labs\.image_uid .*\['mhh:gone'\]"):
        ci.Cohort(**{**mhh_cohort.tables(), "labs": labs}).validate()


# ---------------------------------------------------------------------- per-source options
def test_mhh_convention_option_reaches_the_loader(mhh_dir, mhh_cohort):
    """``round`` puts a published value v in [v - p/2, v + p/2) instead of [v, v + p)."""
    rounded = ci.load(mhh_dir, progress=False, options={"mhh": {"convention": "round"}})
    floor, round_ = mhh_cohort.labs, rounded.labs
    assert len(floor) == len(round_)
    gridded = (floor["censor"] == "interval").to_numpy()
    assert gridded.any()
    precision = floor["analyte"].astype(str).map(
        {a.name: a.mhh_precision for a in ci.schema.ANALYTES.values()}).to_numpy(float)
    for bound in ("lower", "upper"):
        np.testing.assert_allclose(round_[bound].to_numpy()[gridded],
                                   floor[bound].to_numpy()[gridded] - precision[gridded] / 2)


@pytest.fixture(scope="module")
def nccid_demo(tmp_path_factory):
    from covidimg.demo import generate_demo

    folder = tmp_path_factory.mktemp("nccid-options")
    generate_demo(folder, sources=["nccid"], n_patients=14)
    return folder / "nccid"


def test_nccid_site_units_option_reaches_the_loader(nccid_demo):
    """The demo's Royal Surrey is missing from NHSX's site table (units assumed, reported), as
    is West Suffolk's troponin I; declaring Royal Surrey's troponin I in ng/mL converts the same
    numbers by 1000 to ng/L."""
    from covidimg.sources.nccid.clean import SITE_UNITS

    surrey, suffolk = "Royal Surrey NHS Foundation Trust", "West Suffolk NHS Foundation Trust"
    default = ci.load({"nccid": nccid_demo}, progress=False)
    units = {**SITE_UNITS, surrey: {"d_dimer": "mg/L", "po2": "kPa", "troponin_i": "ng/mL"},
             suffolk: {**SITE_UNITS[suffolk], "troponin_i": "ng/L"}}
    declared = ci.load({"nccid": nccid_demo}, progress=False,
                       options={"nccid": {"site_units": units}})
    sites = default.patients["site"].astype(str).str.upper()
    centre_g = set(default.patients.loc[sites == surrey.upper(), "patient_uid"])
    assert centre_g
    assumed = default.findings[default.findings["kind"] == "unit_assumed"]
    assert len(assumed) and set(assumed["patient_uid"]) <= \
        centre_g | set(default.patients.loc[sites == suffolk.upper(), "patient_uid"])
    assert not (declared.findings["kind"] == "unit_assumed").any()

    def troponin(cohort):
        labs = cohort.labs
        return labs[labs["patient_uid"].isin(centre_g) & (labs["analyte"] == "troponin_i")]

    before, after = troponin(default), troponin(declared)
    assert len(before) and before["value_raw"].tolist() == after["value_raw"].tolist()
    np.testing.assert_allclose(after["lower"], before["lower"] * 1000)


@pytest.mark.parametrize("options, message", [
    ({"acme": {}}, r"options source='acme' is not allowed; allowed values are \['mhh', 'nccid'"),
    ({"crdw": {}}, r"options: source 'crdw' is not being loaded \(loading \['nccid'\]\)"),
    ({"nccid": {"site_unit": {}}}, r"option='site_unit' is not allowed; allowed values are "
                                   r"\['site_units', 'storage_options', 'as_of'\]\. They are "
                                   r"the options "
                                   r"the 'nccid' loader accepts"),
    ({"nccid": {"progress": True}}, r"option='progress' is not allowed.*'nccid' loader"),
    ({"nccid": ["site_units"]}, r"options\['nccid'\]=\['site_units'\]: expected a mapping"),
    ("round", r"options='round': expected a mapping"),
])
def test_bad_options_are_refused_before_any_source_is_read(options, message, tmp_path):
    missing = tmp_path / "not-downloaded"  # never reached: options are checked first
    with pytest.raises(ValueError, match=message):
        ci.load({"nccid": missing}, progress=False, options=options)
