"""MIDRC exports as users get them: the real portal case export, case-only and JSON exports,
the procedure / condition / medication / annotation nodes, legacy NIfTI.

The real export (``shared/data/midrc/midrc_data_download-2025-01-29_0.tsv``, 3,700 cases, see
its SOURCE.md) is counted here with the csv module; those counts are the truth the loader's
tables are compared with.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

import covidimg as ci
from covidimg.demo import midrc as demo_midrc
from covidimg.imaging import read_image
from covidimg.sources import description_policy, midrc
from covidimg.sources.midrc import nodes

REAL = SHARED / "data" / "midrc" / "midrc_data_download-2025-01-29_0.tsv"

#: Where each column of the real export goes, written by hand from the MIDRC data dictionary
#: (the test's own expectation, not the loader's table): a patients column, an observation
#: field, or "not copied" (named in the file's files row with its reason).
REAL_COLUMNS = {
    "submitter_id": "patients", "age_at_index": "patients", "age_at_index_gt89": "patients",
    "sex": "patients", "covid19_positive": "patients", "icu_indicator": "patients",
    "site_id": "patients", "project_id": "patients", "index_event": "patients",
    "race": "race", "ethnicity": "ethnicity", "ventilator_indicator": "ventilation",
    "long_covid_diagnosis": "long_covid",
    "treatment_info": "midrc:treatment_info",
    "gen3_linked_subjects_available": "midrc:gen3_linked_subjects_available",
    "linked_external_data": "midrc:linked_external_data",
    "datasets.submitter_id": "release_batch",
    "type": "not copied", "id": "not copied", "case_ids": "not copied",
    "country_of_residence": "not copied", "token_record_id": "not copied", "zip": "not copied",
    "datasets.id": "not copied",
}


def _real_rows() -> list[dict[str, str]]:
    if not REAL.is_file():
        pytest.skip(f"the real MIDRC export is not at {REAL}: put the project's shared/ folder "
                    "beside the checkout, or set COVIDIMG_SHARED")
    with open(REAL, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, str]], ci.Cohort]:
    rows = _real_rows()
    root = tmp_path_factory.mktemp("midrc-real")
    shutil.copy(REAL, root / REAL.name)
    return rows, ci.load(root, progress=False)


def _observed(cohort: ci.Cohort, field: str) -> Counter[str]:
    obs = cohort.observations
    return Counter(obs.loc[obs["field"] == field, "value"].astype(str))


def test_real_case_export_loads_every_case(real: tuple[list[dict[str, str]], ci.Cohort]) -> None:
    rows, cohort = real
    assert len(rows) == 3700
    patients = cohort.patients.set_index("source_patient_id")
    assert len(patients) == len({r["submitter_id"] for r in rows}) == 3700
    assert cohort.images.empty and cohort.events.empty
    sex = Counter({"Female": "F", "Male": "M"}.get(r["sex"], "U") for r in rows)
    assert Counter(patients["sex"].astype(str)) == sex
    gt89 = [r["submitter_id"] for r in rows if r["age_at_index_gt89"] == "Yes"]
    assert (patients.loc[gt89, "age_min"] == 90).all() and len(gt89) == 227
    exact = {r["submitter_id"]: float(r["age_at_index"]) for r in rows if r["age_at_index"]}
    np.testing.assert_array_equal(patients.loc[list(exact), "age_min"], list(exact.values()))
    icu = Counter(r["icu_indicator"] for r in rows)
    assert int(patients["icu"].sum()) == icu["True"]
    assert int((patients["icu"] == False).sum()) == icu["False"]  # noqa: E712
    assert int(patients["icu"].isna().sum()) == icu[""]
    covid = Counter(r["covid19_positive"] for r in rows)
    assert (patients["covid_status"] == "positive").sum() == covid["Yes"]


def test_real_case_export_keeps_demographics_and_releases(
        real: tuple[list[dict[str, str]], ci.Cohort]) -> None:
    rows, cohort = real
    for column in ("race", "ethnicity"):
        assert _observed(cohort, column) == Counter(r[column] for r in rows if r[column])
    ventilator = Counter(r["ventilator_indicator"] for r in rows)
    assert _observed(cohort, "ventilation") == Counter(
        {"mechanical": ventilator["True"], "none": ventilator["False"]})
    # "Positive" is a diagnosis; the real export leaves the other cases empty.
    long_covid = Counter(r["long_covid_diagnosis"] for r in rows)
    assert set(long_covid) == {"Positive", ""}
    assert _observed(cohort, "long_covid") == Counter({"yes": long_covid["Positive"]})
    treatment = Counter(r["treatment_info"] for r in rows)
    assert _observed(cohort, "midrc:treatment_info") == Counter({"no": treatment["False"]})
    batches = Counter(b for r in rows for b in r["datasets.submitter_id"].split(",") if b)
    assert _observed(cohort, "release_batch") == batches
    assert len(batches) > 10
    obs = cohort.observations
    one = obs[(obs["patient_uid"] == "midrc:419639-000012")
              & (obs["field"] == "release_batch")]
    assert set(one["value"]) == {"RSNA_20220308", "RSNA_20210820", "RSNA_20211214",
                                 "RSNA_20220329", "RSNA_20220531"}
    # Each observation names its file, line and key: 419639-000012 is the export's line 3.
    assert set(one["origin"].str.rsplit("/", n=1).str[-1]) == {
        f"{REAL.name}:3 datasets.submitter_id"}


def test_real_case_export_every_column_kept_or_reported(
        real: tuple[list[dict[str, str]], ci.Cohort]) -> None:
    rows, cohort = real
    assert set(rows[0]) == set(REAL_COLUMNS)
    assert "unexpected_field" not in set(cohort.findings["kind"])
    reason = cohort.files["reason"].iat[0]
    fields = set(cohort.observations["field"])
    for column, where in REAL_COLUMNS.items():
        if where == "not copied":
            assert f"{column}:" in reason, column
        elif where != "patients" and any(r[column] for r in rows):
            assert where in fields, column
    # Quasi-identifiers are not copied anywhere.
    assert "zip" not in cohort.patients.columns
    assert not cohort.observations["value"].astype(str).eq("941").any()


def test_real_case_export_provenance(real: tuple[list[dict[str, str]], ci.Cohort]) -> None:
    _rows, cohort = real
    provenance = cohort.provenance
    midrc_rows = provenance[provenance["source"].astype(str) == "midrc"]
    assert len(midrc_rows) == 1
    assert midrc_rows["release"].iat[0] == "2025-01-29"
    assert "Open-R1" in str(midrc_rows["collection"].iat[0])


def test_real_case_export_with_an_unknown_column(tmp_path: Path) -> None:
    rows = _real_rows()[:20]
    columns = [*rows[0], "vaccination_status"]
    with open(tmp_path / "case.tsv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, delimiter="\t")
        writer.writeheader()
        writer.writerows({**r, "vaccination_status": "Yes"} for r in rows)
    tables = midrc.load(tmp_path)
    unexpected = tables.findings[tables.findings["kind"] == "unexpected_field"]
    assert len(unexpected) == 1
    assert "case.tsv" in unexpected["detail"].iat[0]
    assert "'vaccination_status'" in unexpected["detail"].iat[0]
    assert unexpected["path"].iat[0].endswith("case.tsv")
    assert len(tables.patients) == 20


# ---------------------------------------------------------------------- demo case-only exports
def _compare_observations(got: pd.DataFrame, want: pd.DataFrame) -> None:
    def key(frame: pd.DataFrame) -> Counter[tuple[object, ...]]:
        return Counter(
            (r.patient_uid, r.field, None if pd.isna(r.value) else str(r.value),
             None if pd.isna(r.value_num) else float(r.value_num),
             None if pd.isna(r.day) else float(r.day))
            for r in frame.itertuples())
    assert key(got) == key(want)


@pytest.mark.parametrize("fmt", ["tsv", "json"])
def test_case_only_export_round_trip(tmp_path: Path, fmt: str) -> None:
    truth = demo_midrc.write_case_export(tmp_path, rng=np.random.default_rng(5),
                                         n_patients=40, fmt=fmt)
    assert midrc.detect(str(tmp_path))
    cohort = ci.load(tmp_path, progress=False)
    got = cohort.patients.set_index("patient_uid").sort_index()
    want = truth.patients.set_index("patient_uid").sort_index()
    assert list(got.index) == list(want.index)
    assert (got["sex"].astype(str) == want["sex"]).all()
    np.testing.assert_array_equal(got["age_min"], want["age_min"].astype(float))
    np.testing.assert_array_equal(got["age_max"], want["age_max"].astype(float))
    assert got["icu"].isna().tolist() == want["icu"].isna().tolist()
    known = want["icu"].notna()
    assert (got.loc[known, "icu"].astype(bool) == want.loc[known, "icu"].astype(bool)).all()
    assert (got["covid_status"].astype(str) == want["covid_status"]).all()
    _compare_observations(cohort.observations, truth.observations)
    assert len(cohort.files) == truth.n_files
    assert cohort.findings.empty
    assert cohort.provenance["release"].iat[0] == demo_midrc.EXPORT_DATE


def test_json_and_tsv_exports_give_the_same_tables(tmp_path: Path) -> None:
    a = demo_midrc.write_case_export(tmp_path / "t", rng=np.random.default_rng(9), n_patients=25)
    demo_midrc.write_case_export(tmp_path / "j", rng=np.random.default_rng(9), n_patients=25,
                                 fmt="json")
    tsv, js = midrc.load(tmp_path / "t"), midrc.load(tmp_path / "j")
    pd.testing.assert_frame_equal(tsv.patients, js.patients)
    columns = ["patient_uid", "field", "value", "value_num", "day"]
    pd.testing.assert_frame_equal(tsv.observations[columns], js.observations[columns])
    assert len(tsv.patients) == len(a.patients)


def test_case_only_and_header_only_imaging_study(tmp_path: Path) -> None:
    """The demo's own case.tsv alone, then with a header-only imaging_study.tsv."""
    full = tmp_path / "full"
    truth = demo_midrc.write(full, rng=np.random.default_rng(2), n_patients=6)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(full / "case.tsv", alone / "case.tsv")
    tables = midrc.load(alone)
    assert set(tables.patients["patient_uid"]) == set(truth.patients["patient_uid"])
    assert tables.images.empty and tables.findings.empty
    header = (full / "imaging_study.tsv").read_text().splitlines()[0]
    (alone / "imaging_study.tsv").write_text(header + "\n")
    tables = midrc.load(alone)
    assert len(tables.patients) == len(truth.patients)
    assert tables.findings["kind"].tolist() == ["empty_table"]


# ---------------------------------------------------------------------- JSON bounds
def test_json_export_too_deep_or_too_large_is_rejected_not_parsed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo_midrc.write_case_export(tmp_path, rng=np.random.default_rng(1), n_patients=3)
    (tmp_path / "visit.json").write_text("[" * 100_000 + "]" * 100_000)
    tables = midrc.load(tmp_path)
    files = tables.files.set_index("path")
    assert files.loc[str(tmp_path / "visit.json"), "status"] == "rejected"
    assert "nests" in files.loc[str(tmp_path / "visit.json"), "reason"]
    monkeypatch.setattr(nodes, "MAX_JSON_BYTES", 1000)
    (tmp_path / "visit.json").write_text(json.dumps(
        [{"type": "visit", "cases.submitter_id": "419639-000001",
          "days_to_hospital_admission": i} for i in range(100)]))
    tables = midrc.load(tmp_path)
    files = tables.files.set_index("path")
    assert files.loc[str(tmp_path / "visit.json"), "status"] == "rejected"
    assert "larger than 1,000 bytes" in files.loc[str(tmp_path / "visit.json"), "reason"]
    assert len(tables.patients) == 3


def test_json_that_is_not_an_export_and_a_manifest(tmp_path: Path) -> None:
    demo_midrc.write_case_export(tmp_path, rng=np.random.default_rng(1), n_patients=3)
    (tmp_path / "notes.json").write_text('{"a": 1, "b": 2}')
    (tmp_path / "download.json").write_text(json.dumps([{"object_id": "dg.MD1R/1"}]))
    tables = midrc.load(tmp_path)
    files = tables.files.set_index("path")
    assert files.loc[str(tmp_path / "notes.json"), "status"] == "ignored"
    assert "not a Gen3 node export" in files.loc[str(tmp_path / "notes.json"), "reason"]
    assert tables.findings.empty
    assert files.loc[str(tmp_path / "download.json"), "status"] == "ignored"
    assert "manifest" in files.loc[str(tmp_path / "download.json"), "reason"]


# ---------------------------------------------------------------------- nodes by hand
def _tsv(path: Path, rows: list[dict[str, object]]) -> None:
    columns = list(dict.fromkeys(c for row in rows for c in row))
    lines = ["\t".join(columns)]
    lines += ["\t".join(str(row.get(c, "")) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_procedure_condition_medication_annotation_by_hand(tmp_path: Path) -> None:
    """One case, admitted on index day 2 (day 0 of the cohort); every value worked by hand."""
    _tsv(tmp_path / "case.tsv", [{"type": "case", "submitter_id": "c1", "age_at_index": "50",
                                  "sex": "Male", "index_event": "COVID-19 Test"}])
    _tsv(tmp_path / "visit.tsv", [{"type": "visit", "project_id": "Open-R1",
                                   "cases.submitter_id": "c1", "days_to_hospital_admission": "2",
                                   "visit_type": "Inpatient"}])
    _tsv(tmp_path / "imaging_study.tsv", [{"type": "imaging_study", "submitter_id": "c1_s1",
                                           "cases.submitter_id": "c1", "study_uid": "2.25.1",
                                           "days_to_study": "5",
                                           "study_description": "XR CHEST DR ZZNAME"}])
    _tsv(tmp_path / "procedure.tsv", [
        {"type": "procedure", "cases.submitter_id": "c1", "procedure_name": "Breathing Support",
         "breathing_support_type": "High flow nasal cannula", "days_to_procedure_start": "3",
         "days_to_procedure_end": "7"},
        {"type": "procedure", "cases.submitter_id": "c1", "procedure_name": "Breathing Support",
         "breathing_support_type": "per Dr ZZVENT", "days_to_procedure_start": "8"}])
    (tmp_path / "condition.json").write_text(json.dumps({"condition": [
        {"type": "condition", "cases": {"submitter_id": "c1"}, "condition_code": "N18.3",
         "condition_code_system": "ICD-10-CM", "condition_name": "CKD stage 3 ZZCOND",
         "days_to_condition_start": -100},
        {"type": "condition", "cases": [{"submitter_id": "c1"}], "condition_code": "R05",
         "condition_code_system": "ICD-10-CM", "days_to_condition_start": 2,
         "days_to_condition_end": 4}]}))
    (tmp_path / "medication.json").write_text(json.dumps([
        {"type": "medication", "case_ids": ["c1"], "medication_type": "NSAID",
         "medication_name": "ibuprofen ZZMED", "days_to_medication_start": 2},
        {"type": "medication", "case_ids": ["c1"], "medication_type": "Vaccine",
         "medication_manufacturer": "Acme", "dose_sequence_number": 2}]))
    _tsv(tmp_path / "annotation.tsv", [
        {"type": "annotation", "imaging_studies.submitter_id": "c1_s1",
         "annotation_name": "midrc_mRALE_Mastermind_Challenge", "midrc_mRALE_score": "17",
         "annotator_id": "jane.doe@ZZREADER", "class_covid19_pneumonia": "typical"}])
    tables = midrc.load(tmp_path)
    obs = tables.observations

    def one(field: str) -> pd.DataFrame:
        return obs[obs["field"] == field]

    hfnc = one("ventilation").sort_values("day")
    # Index days 3..7 are cohort days 1..5; the free-text support type is reported, not kept.
    assert hfnc["value"].tolist()[0] == "non_invasive"
    assert hfnc["day"].tolist() == [1.0, 6.0]
    assert hfnc["value_num"].tolist()[0] == 4.0 and hfnc["unit"].tolist()[0] == "days"
    assert pd.isna(hfnc["value"].tolist()[1])
    assert hfnc["value_raw"].tolist()[1].startswith("(a text of 13 characters")
    ckd = one("comorbidity_ckd")
    assert ckd["value"].tolist() == ["yes"] and ckd["day"].tolist() == [-102.0]
    cough = one("condition")
    assert cough["value"].tolist() == ["ICD-10-CM:R05"] and cough["value_num"].tolist() == [2.0]
    assert one("medication_nsaid")["value"].tolist() == ["yes"]
    assert one("medication_nsaid")["day"].tolist() == [0.0]
    assert one("medication")["value"].tolist() == ["Vaccine"]
    assert one("midrc:dose_sequence_number")["value_num"].tolist() == [2.0]
    score = one("midrc:midrc_mRALE_score")
    assert score["value_num"].tolist() == [17.0] and score["day"].tolist() == [3.0]
    assert score["patient_uid"].tolist() == ["midrc:c1"]
    assert one("midrc:class_covid19_pneumonia")["value"].tolist() == ["typical"]
    # Free text and reader identities are never stored (nor quoted in findings).
    text = " ".join(str(v) for v in pd.concat([obs.astype(object).stack(),
                                               tables.findings.astype(object).stack()]))
    assert "ZZ" not in text
    kinds = Counter(tables.findings["kind"])
    assert kinds == Counter({"unknown_value": 1, "study_without_images": 1,
                             "unexpected_field": 1})
    unexpected = tables.findings[tables.findings["kind"] == "unexpected_field"]
    assert "visit.tsv: visit field 'visit_type'" in unexpected["detail"].iat[0]
    with description_policy("keep"):
        kept = midrc.load(tmp_path).observations
    # The policy concerns exam descriptions in images: typed clinical text and a study
    # description stay out of observations under "keep" too.
    assert not kept["value_raw"].dropna().str.contains("ZZ").any()


# ---------------------------------------------------------------------- legacy NIfTI
def test_demo_nifti_images_read_as_images(tmp_path: Path) -> None:
    truth = demo_midrc.write(tmp_path, rng=np.random.default_rng(4), n_patients=9)
    cohort = ci.load(tmp_path, progress=False)
    nifti = cohort.images[cohort.images["format"].astype(str) == "nifti"].set_index("image_uid")
    want = truth.images[truth.images["format"].eq("nifti")].set_index("image_uid")
    assert sorted(nifti.index) == sorted(want.index)
    for uid, row in want.iterrows():
        got = nifti.loc[uid]
        assert (got["rows"], got["columns"], got["n_instances"]) == \
            (row["rows"], row["columns"], row["n_instances"])
        assert str(got["modality"]) == row["modality"] and str(got["view"]) == row["view"]
        assert (pd.isna(got["day"]) and pd.isna(row["day"])) or got["day"] == row["day"]
        pixels = read_image(cohort.images[cohort.images["image_uid"] == uid].iloc[0])
        assert pixels.shape == (row["n_instances"], row["rows"], row["columns"])
    orphan = cohort.files[cohort.files["path"].str.endswith("unknown_scan.nii")]
    assert orphan["status"].tolist() == ["ignored"]


def test_damaged_nifti_is_rejected_with_a_finding(tmp_path: Path) -> None:
    demo_midrc.write_case_export(tmp_path, rng=np.random.default_rng(1), n_patients=2)
    folder = tmp_path / "419639-000001"
    folder.mkdir()
    (folder / "scan.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3, 2), np.int16), np.eye(4)),
             folder / "series.nii")
    tables = midrc.load(tmp_path)
    files = tables.files.set_index("path")
    assert files.loc[str(folder / "scan.nii.gz"), "status"] == "rejected"
    assert files.loc[str(folder / "series.nii"), "status"] == "rejected"
    assert (tables.findings["kind"] == "unreadable_file").sum() == 2
    assert tables.images.empty


def test_nifti_found_by_its_file_name_prefix(tmp_path: Path) -> None:
    """``<case id>_<anything>.nii.gz`` anywhere under the root belongs to that case; the
    longest case id that prefixes the name wins."""
    _tsv(tmp_path / "case.tsv", [
        {"type": "case", "submitter_id": "419639-000082", "sex": "Male", "age_at_index": "61"},
        {"type": "case", "submitter_id": "419639", "sex": "Female", "age_at_index": "40"}])
    nib.save(nib.Nifti1Image(np.zeros((8, 6, 4), np.int16), np.diag([1.0, 1.0, 2.5, 1.0])),
             tmp_path / "419639-000082_ct.nii.gz")
    tables = midrc.load(tmp_path)
    image = tables.images.iloc[0]
    assert image["patient_uid"] == "midrc:419639-000082"
    assert (image["rows"], image["columns"], image["n_instances"]) == (6, 8, 4)
    assert image["format"] == "nifti" and image["modality"] == "CT"
    assert tables.files["reason"].str.contains("modality CT assumed").any()
