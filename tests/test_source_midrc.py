"""MIDRC loader: Gen3 TSV exports + gen3-client DICOM, hand-built edge cases and demo round trip."""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import covidimg as ci
from covidimg.demo import midrc as demo_midrc
from covidimg.demo.dicom_writer import write_dicom
from covidimg.errors import LoadError
from covidimg.sources import midrc


def _tsv(path: Path, rows: list[dict[str, object]]) -> None:
    columns = list(dict.fromkeys(c for row in rows for c in row))
    lines = ["\t".join(columns)]
    lines += ["\t".join(str(row.get(c, "")) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _dicom(path: Path | zipfile.ZipFile, member: str | None = None, **kw: object) -> None:
    args = dict(modality="CR", patient_id="c1", study_uid="2.25.10", series_uid="2.25.11",
                sop_uid="2.25.12", study_date=dt.date(2020, 4, 2), view="PA")
    args.update(kw)
    pixels = np.full((16, 16), 0.5, np.float32)
    if isinstance(path, zipfile.ZipFile):
        with path.open(member, "w") as handle:
            write_dicom(handle, pixels, **args)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_dicom(path, pixels, **args)


def _disk_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


@pytest.fixture()
def small_root(tmp_path: Path) -> Path:
    """Three cases by hand: admission shift, gt89 age, index-event fallback, quirky values."""
    root = tmp_path / "midrc"
    root.mkdir()
    _tsv(root / "case.tsv", [
        {"type": "case", "submitter_id": "c1", "age_at_index": "54", "age_at_index_gt89": "No",
         "sex": "Female", "covid19_positive": "Yes", "index_event": "COVID-19 Test",
         "icu_indicator": "No", "site_id": "419639", "zip": "606"},
        {"type": "case", "submitter_id": "c2", "age_at_index": "", "age_at_index_gt89": "Yes",
         "sex": "Not Reported", "covid19_positive": "Not Reported",
         "index_event": "Study Enrollment", "icu_indicator": "Yes", "zip": "000"},
        {"type": "case", "submitter_id": "c3", "age_at_index": "about 40",
         "age_at_index_gt89": "No", "sex": "Intersex?", "covid19_positive": "No",
         "index_event": "First Imaging Study"},
    ])
    _tsv(root / "imaging_study.tsv", [
        {"type": "imaging_study", "cases.submitter_id": "c1", "study_uid": "2.25.10",
         "days_to_study": "5", "days_from_study_to_pos_covid_test": "[-5, 2]",
         "days_from_study_to_neg_covid_test": ""},
        {"type": "imaging_study", "cases.submitter_id": "c2", "study_uid": "2.25.20",
         "days_to_study": "-1", "days_from_study_to_pos_covid_test": "1,3",
         "days_from_study_to_neg_covid_test": "[-4]"},
        {"type": "imaging_study", "cases.submitter_id": "c3", "study_uid": "2.25.30",
         "days_to_study": "0", "days_from_study_to_pos_covid_test": "tomorrow"},
    ])
    _tsv(root / "visit.tsv", [
        # c1: admitted 3 days after the index test, ICU days 4..9, died day 12 (index axis).
        {"type": "visit", "cases.submitter_id": "c1", "days_to_hospital_admission": "3",
         "days_to_icu_admission": "4", "days_to_icu_discharge": "9",
         "days_to_hospital_discharge": "12", "discharge_type": "Expired"},
    ])
    _tsv(root / "measurement.tsv", [
        {"type": "measurement", "cases.submitter_id": "c1", "test_name": "COVID-19",
         "test_result_text": "Positive", "test_days_from_index": "0"},
        {"type": "measurement", "cases.submitter_id": "c3", "test_name": "COVID-19",
         "test_result_text": "Negative", "test_days_from_index": "-2"},
    ])
    _dicom(root / "dl" / "c1" / "a.dcm", patient_id="c1", study_uid="2.25.10",
           sop_uid="2.25.12")
    with zipfile.ZipFile(root / "dl" / "study20.zip", "w") as zf:
        for k in range(3):
            _dicom(zf, f"2.25.21/{k}.dcm", modality="CT", patient_id="c2", study_uid="2.25.20",
                   series_uid="2.25.21", sop_uid=f"2.25.22{k}", position_z=float(k),
                   instance_number=k + 1, view=None)
    _dicom(root / "dl" / "c3.dcm", patient_id="c3", study_uid="2.25.30", sop_uid="2.25.31",
           view=None, study_description="XR CHEST PORTABLE")
    return root


def test_hand_built_days_ages_and_events(small_root: Path) -> None:
    tables = midrc.load(small_root)
    patients = tables.patients.set_index("patient_uid")
    images = tables.images.set_index("patient_uid")
    events = {(r.patient_uid, r.event, r.day) for r in tables.events.itertuples()}

    # c1: admission (index day 3) is day 0, so the study (index day 5) is day 2.
    assert images.loc["midrc:c1", "day"] == 2.0
    assert images.loc["midrc:c1", "admission_offset"] == -2.0
    assert images.loc["midrc:c1", "icu_admission_offset"] == -1.0
    assert images.loc["midrc:c1", "icu_release_offset"] == 4.0
    assert images.loc["midrc:c1", "death_offset"] == 7.0
    assert {("midrc:c1", "admission", 0.0), ("midrc:c1", "icu_admission", 1.0),
            ("midrc:c1", "icu_release", 6.0), ("midrc:c1", "death", 9.0),
            ("midrc:c1", "covid_test_positive", -3.0),  # index test (measurement and list)
            ("midrc:c1", "covid_test_positive", 4.0)} <= events
    assert patients.loc["midrc:c1", "sex"] == "F"
    assert patients.loc["midrc:c1", "age_min"] == patients.loc["midrc:c1", "age_max"] == 54.0
    assert bool(patients.loc["midrc:c1", "died"]) is True
    assert patients.loc["midrc:c1", "site"] == "419639"
    # icu_indicator "No" contradicted by the visit's ICU days: kept True and reported.
    assert bool(patients.loc["midrc:c1", "icu"]) is True

    # c2: no visit, so the index event stays day 0; "1,3" and "[-4]" are lists of tests.
    assert images.loc["midrc:c2", "day"] == -1.0
    assert np.isnan(images.loc["midrc:c2", "admission_offset"])
    assert images.loc["midrc:c2", "n_instances"] == 3
    assert images.loc["midrc:c2", "view"] == "AXIAL"
    assert {("midrc:c2", "covid_test_positive", 0.0), ("midrc:c2", "covid_test_positive", 2.0),
            ("midrc:c2", "covid_test_negative", -5.0)} <= events
    assert patients.loc["midrc:c2", "age_min"] == 90.0
    assert patients.loc["midrc:c2", "age_max"] == np.inf
    assert patients.loc["midrc:c2", "sex"] == "U"
    assert patients.loc["midrc:c2", "covid_status"] == "unknown"
    assert pd.isna(patients.loc["midrc:c2", "died"])

    # c3: view from the portable description; unparseable values are findings.
    assert images.loc["midrc:c3", "view"] == "AP"
    assert np.isnan(patients.loc["midrc:c3", "age_min"])
    assert patients.loc["midrc:c3", "covid_status"] == "negative"
    detail = " ".join(tables.findings["detail"])
    assert "days_from_study_to_pos_covid_test a text of 8 characters (letters) is not a list " \
        "of whole days" in detail and "tomorrow" not in detail
    assert "age_at_index a text of 8 characters (letters, digits, spaces) is not a number" \
        in detail
    assert "sex a text of 9 characters (letters, punctuation) is not Female" in detail
    assert "about 40" not in detail and "Intersex" not in detail
    assert "icu_indicator is No" in detail

    # Privacy: the 3-digit zip code is never copied.
    assert "zip" not in tables.patients.columns
    assert len(tables.files) == _disk_files(small_root)
    assert set(tables.files["status"]) == {"used"}


def test_zip_is_one_files_row_and_orphans_duplicates_are_reported(small_root: Path) -> None:
    # The user also unzipped study20 (duplicates) and downloaded a study the export lacks.
    with zipfile.ZipFile(small_root / "dl" / "study20.zip") as zf:
        zf.extractall(small_root / "unzipped")
    _dicom(small_root / "dl" / "orphan.dcm", patient_id="c1", study_uid="2.25.99",
           sop_uid="2.25.98")
    (small_root / "dl" / "broken.dcm").write_bytes(b"\x00" * 50)
    (small_root / "notes.csv").write_text("a,b\n")
    tables = midrc.load(small_root)
    files = tables.files.set_index("path")
    assert len(tables.files) == _disk_files(small_root)
    zip_row = files.loc[str(small_root / "dl" / "study20.zip")]
    assert zip_row["status"] == "used" and zip_row["image_uid"] == "midrc:2.25.21"
    assert "3 members" in zip_row["reason"]
    unzipped = tables.files[tables.files["path"].str.contains("unzipped")]
    # The zip sorts before "unzipped/": the loose copies are the duplicates.
    assert len(unzipped) == 3 and set(unzipped["status"]) == {"duplicate"}
    assert files.loc[str(small_root / "dl" / "orphan.dcm"), "status"] == "ignored"
    assert files.loc[str(small_root / "dl" / "broken.dcm"), "status"] == "rejected"
    assert files.loc[str(small_root / "notes.csv"), "status"] == "ignored"
    kinds = tables.findings["kind"].value_counts()
    assert kinds["duplicate_instance"] == 3
    assert kinds["orphan_image"] == 1 and kinds["unreadable_file"] == 1
    assert "2.25.99" not in set(tables.images["study_uid"])


def test_case_ids_link_and_node_from_file_name(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    _tsv(root / "case_export_2024.tsv", [{"submitter_id": "c9", "age_at_index": "70",
                                          "sex": "Male", "index_event": "COVID-19 Test"}])
    _tsv(root / "imaging_study_export.tsv", [{"case_ids": "['c9']", "study_uid": "2.25.10",
                                              "days_to_study": "4"}])
    _dicom(root / "x.dcm", patient_id="c9")
    assert midrc.detect(str(root))
    tables = midrc.load(root)
    assert tables.images["patient_uid"].tolist() == ["midrc:c9"]
    assert tables.images["day"].tolist() == [4.0]


def test_missing_case_export_is_a_clear_error(tmp_path: Path) -> None:
    _dicom(tmp_path / "a.dcm")
    with pytest.raises(LoadError, match="no Gen3 case export found"):
        midrc.load(tmp_path)
    assert not midrc.detect(str(tmp_path))


@pytest.mark.parametrize(("text", "expected"), [
    ("[-2, 5]", [-2.0, 5.0]), ("-2,5", [-2.0, 5.0]), ("['1', '3']", [1.0, 3.0]),
    (" 7 ", [7.0]), ("", []), ("[]", []), ("null", []), ("1;2", [1.0, 2.0]),
    ("2 days", None), ("[1, x]", None),
])
def test_parse_day_list(text: str, expected: list[float] | None) -> None:
    assert midrc.parse_day_list(text) == expected


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, ci.Cohort]:
    root = tmp_path_factory.mktemp("demo") / "midrc"
    truth = demo_midrc.write(root, rng=np.random.default_rng(7), n_patients=12)
    cohort = ci.load({"midrc": root}, progress=False)
    return root, truth, cohort


def test_demo_round_trip_patients_and_images(demo: tuple[Path, object, ci.Cohort]) -> None:
    root, truth, cohort = demo
    assert ci.detect_source(root) == "midrc"
    got = cohort.patients.set_index("patient_uid").sort_index()
    want = truth.patients.set_index("patient_uid").sort_index()
    assert list(got.index) == list(want.index)
    assert (got["sex"].astype(str) == want["sex"]).all()
    np.testing.assert_array_equal(got["age_min"], want["age_min"].astype(float))
    np.testing.assert_array_equal(got["age_max"], want["age_max"].astype(float))
    for column in ("icu", "died"):   # NA where the export does not say
        expected = want[column].astype("boolean")
        assert got[column].isna().equals(expected.isna()), column
        assert (got.loc[expected.notna(), column] == expected[expected.notna()]).all(), column
    assert (got["covid_status"].astype(str) == want["covid_status"]).all()

    images = cohort.images.set_index("image_uid").sort_index()
    expected = truth.images.set_index("image_uid").sort_index()
    assert list(images.index) == list(expected.index)
    for column in ("patient_uid", "modality", "view"):
        assert (images[column].astype(str) == expected[column].astype(str)).all(), column
    np.testing.assert_array_equal(images["day"], expected["day"].astype(float))
    assert images.loc[expected["study_uid"].notna(), "study_uid"].astype(str).equals(
        expected.loc[expected["study_uid"].notna(), "study_uid"].astype(str))
    np.testing.assert_array_equal(images["n_instances"], expected["n_instances"])
    np.testing.assert_array_equal(images["rows"], expected["rows"])
    assert (images["format"].astype(str) == expected["format"].fillna("dicom")).all()
    dicom = expected["format"].fillna("dicom") == "dicom"
    assert (images.loc[dicom, "photometric"] == expected.loc[dicom, "photometric"]).all()


def test_demo_round_trip_events_findings_files(demo: tuple[Path, object, ci.Cohort]) -> None:
    root, truth, cohort = demo
    got = {(r.patient_uid, r.event, float(r.day)) for r in cohort.events.itertuples()}
    want = {(r.patient_uid, r.event, float(r.day)) for r in truth.events.itertuples()}
    assert got == want

    findings = cohort.findings
    for planted in truth.findings.itertuples():
        rows = findings[findings["kind"] == planted.kind]
        if isinstance(planted.path, str):
            assert any(str(p).startswith(planted.path) for p in rows["path"]), planted
        else:
            assert rows["detail"].str.contains(planted.detail, regex=False).any(), planted
    expected_kinds = {"duplicate_instance", "orphan_image", "study_without_images",
                      "unreadable_file"}
    assert set(findings["kind"]) == expected_kinds
    assert (findings["kind"] == "study_without_images").sum() == 1   # the NIfTI study has one

    assert len(cohort.files) == truth.n_files == _disk_files(root)
    counts = cohort.files["status"].value_counts()
    assert counts["duplicate"] == 1 and counts["rejected"] == 1
    # manifest.json, dataset.tsv (a node not read), the orphan study's zip and the orphan
    # NIfTI file are ignored, each with a reason.
    assert counts["ignored"] == 4
    assert cohort.files["reason"].str.len().gt(0).all()
    ignored = cohort.files[cohort.files["status"] == "ignored"]["path"].map(
        lambda p: Path(str(p).split("::")[0]).name)
    assert {"manifest.json", "dataset.tsv", "unknown_scan.nii"} <= set(ignored)


def test_demo_round_trip_observations(demo: tuple[Path, object, ci.Cohort]) -> None:
    """Case fields, release batches, procedures, conditions (JSON), medications (JSON),
    mRALE annotations, study fields: every observation the writer planted, nothing else."""
    _, truth, cohort = demo

    def key(frame: pd.DataFrame) -> Counter[tuple[object, ...]]:
        return Counter(
            (r.patient_uid, r.field, None if pd.isna(r.value) else str(r.value),
             None if pd.isna(r.value_num) else float(r.value_num),
             None if pd.isna(r.day) else float(r.day))
            for r in frame.itertuples())

    got, want = key(cohort.observations), key(truth.observations)
    assert got == want, (got - want, want - got)
    # Free text (study descriptions, medication names, annotator ids) is not stored.
    values = " ".join(cohort.observations[["value", "value_raw"]].astype(object).fillna("")
                      .astype(str).stack())
    assert "lisinopril" not in values and "reader" not in values and "XR CHEST" not in values


def test_demo_images_follow_events(demo: tuple[Path, object, ci.Cohort]) -> None:
    _, _, cohort = demo
    events = cohort.events.pivot_table(index="patient_uid", columns="event", values="day",
                                       aggfunc="min")
    images = cohort.images.join(events, on="patient_uid")
    admitted = images["admission"].notna()
    assert admitted.any() and (~admitted).any()
    np.testing.assert_array_equal(images.loc[admitted, "admission_offset"],
                                  -images.loc[admitted, "day"])
    icu = images["icu_admission"].notna()
    np.testing.assert_array_equal(images.loc[icu, "icu_admission_offset"],
                                  images.loc[icu, "icu_admission"] - images.loc[icu, "day"])


def test_a_repeated_case_keeps_the_first_row_and_is_reported(tmp_path):
    """The engine's one rule for repeated rows (``drop_repeated_rows``), as MHH and CRDW."""
    from covidimg.sources import midrc as midrc_loader

    (tmp_path / "case.tsv").write_text("type\tsubmitter_id\tsex\ncase\tc1\tFemale\n"
                                       "case\tc2\tMale\ncase\tc1\tMale\n")
    tables = midrc_loader.load(tmp_path)
    assert tables.patients.set_index("patient_uid")["sex"].to_dict() == {
        "midrc:c1": "F", "midrc:c2": "M"}
    dup = tables.findings[tables.findings["kind"] == "duplicate_row"]
    assert dup["detail"].tolist() == [
        f"case 'c1' appears again (the first row, {tmp_path / 'case.tsv'}:2, is kept)"]
    assert dup["path"].tolist() == [f"{tmp_path / 'case.tsv'}:4"]
