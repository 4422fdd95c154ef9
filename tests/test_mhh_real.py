"""The MHH loader on the real Hannover data: every number traces back to data.csv."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import covidimg as ci


@pytest.fixture(scope="module")
def raw(mhh_dir):
    return pd.read_csv(mhh_dir / "data.csv", dtype={"patient_id": str, "image_id": str})


def test_counts_match_the_real_data(mhh_cohort):
    assert len(mhh_cohort.patients) == 71
    assert len(mhh_cohort.images) == 243
    assert mhh_cohort.images["image_uid"].is_unique
    assert mhh_cohort.images["modality"].value_counts().to_dict() == {
        "CR": 212, "DX": 31, "CT": 0, "MR": 0}
    assert mhh_cohort.images["view"].value_counts()[["AP", "PA"]].tolist() == [194, 49]
    assert mhh_cohort.patients["sex"].value_counts()[["M", "F"]].tolist() == [47, 24]
    assert int(mhh_cohort.patients["died"].sum()) == 5
    assert int(mhh_cohort.patients["icu"].sum()) == 29
    assert mhh_cohort.patients["age_min"].isna().all()  # redacted


def test_every_file_is_accounted_for(mhh_cohort, mhh_dir):
    on_disk = {os.fspath(p) for p in mhh_dir.rglob("*") if p.is_file()}
    assert set(mhh_cohort.files["path"]) == on_disk
    status = mhh_cohort.files.set_index("path")["status"]
    assert status[os.fspath(mhh_dir / "data.csv")] == "used"
    assert (status[[os.fspath(p) for p in (mhh_dir / "png").glob("*.png")]] == "used").all()
    assert status[os.fspath(mhh_dir / "LICENSE")] == "ignored"


def test_offsets_are_preserved_exactly(mhh_cohort, raw):
    images = mhh_cohort.images.set_index("image_uid")
    for column in ("admission_offset", "icu_admission_offset", "icu_release_offset",
                   "death_offset"):
        expected = raw.set_index("mhh:" + raw["image_id"])[column].astype(float)
        np.testing.assert_array_equal(images.loc[expected.index, column].to_numpy(),
                                      expected.to_numpy())
    np.testing.assert_array_equal(images.loc["mhh:" + raw["image_id"], "day"].to_numpy(),
                                  -raw["admission_offset"].to_numpy(dtype=float))


def test_events_match_the_offsets(mhh_cohort, raw):
    events = mhh_cohort.events.set_index(["patient_uid", "event"])["day"]
    for row in raw.itertuples():
        uid = f"mhh:{row.patient_id}"
        assert events[(uid, "admission")] == 0.0
        if not np.isnan(row.icu_admission_offset):
            assert events[(uid, "icu_admission")] == -row.admission_offset + \
                row.icu_admission_offset
        if not np.isnan(row.death_offset):
            assert events[(uid, "death")] == -row.admission_offset + row.death_offset
    counts = mhh_cohort.events["event"].value_counts()
    assert counts["icu_admission"] == 29 and counts["death"] == 5


def test_censored_labs_per_analyte(mhh_cohort):
    labs = mhh_cohort.labs
    counts = labs.groupby(["analyte", "censor"], observed=True).size()
    assert counts[("crp", "left")] == 2
    assert counts[("d_dimer", "left")] == 2
    assert counts[("d_dimer", "right")] == 6
    assert counts[("po2", "left")] == 2
    assert set(labs.loc[labs["censor"] == "left", "lower"]) == {-np.inf}
    assert set(labs.loc[labs["censor"] == "right", "upper"]) == {np.inf}
    # d-dimer's largest finite value is 33.5: above the limit means above 33.5.
    right = labs[(labs["analyte"] == "d_dimer") & (labs["censor"] == "right")]
    assert right["lower"].round(6).unique().tolist() == [33.5]
    # CRP's smallest finite value is 0 ([0, 1)): below the limit means below 1, not below 0.
    left = labs[(labs["analyte"] == "crp") & (labs["censor"] == "left")]
    assert left["upper"].unique().tolist() == [1.0]


def test_lab_values_and_offsets_trace_back_to_the_csv(mhh_cohort, raw):
    labs = mhh_cohort.labs.set_index(["image_uid", "analyte"])
    columns = {"crp": "crp", "d_dimer": "d-dimer", "factor_xiii": "factor_xii", "ldh": "ldh",
               "lymphocytes": "lymphocytes", "neutrophils": "neutrophils", "po2": "po2",
               "pco2": "pco2"}
    n = 0
    for analyte, column in columns.items():
        present = raw[raw[f"{column}_val"].notna()]
        for _, row in present.iterrows():
            value, offset = row[f"{column}_val"], row[f"{column}_offset"]
            lab = labs.loc[(f"mhh:{row['image_id']}", analyte)]
            if np.isfinite(value):
                assert lab["lower"] == value
            assert lab["offset"] == offset
            assert lab["day"] == -row["admission_offset"] + offset
            n += 1
    assert n == len(mhh_cohort.labs) == 1039


def test_factor_xii_column_becomes_factor_xiii(mhh_cohort):
    assert "factor_xiii" in set(mhh_cohort.labs["analyte"])
    assert "factor_xii" not in set(mhh_cohort.labs["analyte"].astype(str))


def test_png_dimensions_are_read(mhh_cohort):
    assert (mhh_cohort.images["columns"] == 640).all()
    assert mhh_cohort.images["rows"].between(400, 1000).all()
    assert (mhh_cohort.images["format"] == "png").all()
    assert mhh_cohort.images["preview_path"].notna().all()


def test_real_data_has_no_findings_but_the_covid_status_assumption(mhh_cohort):
    # HEAD data: no admission after ICU, consistent events, all values on grid, the current
    # revision of data.csv (no superseded_release / unknown_release). What remains is the one
    # assumption the readme does not back: every patient COVID-positive (feature 20, "corona
    # test type", has no column).
    findings = mhh_cohort.findings
    assert findings["kind"].tolist() == ["assumed_value"]
    assert "71 patients" in findings["detail"].iat[0]
    assert "feature 20" in findings["detail"].iat[0]
    assert (mhh_cohort.patients["covid_status"] == "positive").all()


def test_real_data_publishes_no_size_or_weight(mhh_cohort):
    # readme features 5 and 6 are redacted: the columns are empty, so nothing is observed.
    assert len(mhh_cohort.observations) == 0


def test_size_weight_and_unknown_columns_become_observations(mhh_dir, tmp_path):
    # The real data.csv with size and weight filled on two rows of one patient and a column
    # the layout does not have (readme feature 20, "corona test type", as it might appear).
    raw = pd.read_csv(mhh_dir / "data.csv", dtype=str, keep_default_na=False)
    counts = raw["patient_id"].value_counts()
    patient = counts.index[counts >= 2][0]
    rows = raw.index[raw["patient_id"] == patient][:2]
    raw.loc[rows, "size"] = "180"
    raw.loc[rows, "weight"] = ["82", "80.5"]
    raw["corona_test_type"] = ""
    raw.loc[raw.index[5], "corona_test_type"] = "PCR"
    raw.to_csv(tmp_path / "data.csv", index=False)
    cohort = ci.load({"mhh": tmp_path}, progress=False)
    obs = cohort.observations.sort_values(["field", "value_num"]).reset_index(drop=True)
    assert obs["field"].tolist() == ["mhh:corona_test_type", "mhh:size", "mhh:weight",
                                     "mhh:weight"]
    assert obs["patient_uid"].tolist() == [f"mhh:{raw.at[raw.index[5], 'patient_id']}"] + \
        [f"mhh:{patient}"] * 3
    # size: one observation per patient and value (both rows say 180)
    assert obs["value_num"].tolist()[1:] == [180.0, 80.5, 82.0]
    assert obs["unit"].tolist()[1:] == ["cm", "kg", "kg"]
    assert obs["origin"].iat[1] == f"data.csv line {rows[0] + 2}: size"
    # free text is kept as its shape unless descriptions="keep"
    assert pd.isna(obs["value_num"].iat[0]) and pd.isna(obs["unit"].iat[0])
    assert obs["value_raw"].iat[0] == "(a text of 3 characters (letters))"
    unexpected = cohort.findings[cohort.findings["kind"] == "unexpected_field"]
    assert len(unexpected) == 1 and "column 29" in unexpected["detail"].iat[0]
