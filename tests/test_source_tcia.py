"""TCIA loader: NBIA tree + SBU, AR and RICORD-1C sheets; edge cases and demo round trip."""

from __future__ import annotations

import datetime as dt
import gzip
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook

import covidimg as ci
from covidimg.demo import tcia as demo_tcia
from covidimg.demo.dicom_writer import write_dicom
from covidimg.errors import LoadError
from covidimg.imaging import read_image
from covidimg.sources import tcia

CRP = "1988-5_C reactive protein [Mass/volume] in Serum or Plasma"
DDIMER = "48058-2_Fibrin D-dimer DDU [Mass/volume] in Platelet poor plasma by Immunoassay"
CREAT = "2160-0_Creatinine [Mass/volume] in Serum or Plasma"


def _nbia(root: Path, collection: str, pid: str, date: dt.date, sop: str, **kw: object) -> Path:
    path = (root / collection / pid / f"{date:%m-%d-%Y}-NA-XR CHEST-{sop[-5:]}" /
            f"1.000000-AP-{sop[-5:]}" / "1-1.dcm")
    path.parent.mkdir(parents=True, exist_ok=True)
    args = dict(modality="CR", patient_id=pid, study_uid=f"{sop}.1", series_uid=f"{sop}.2",
                sop_uid=sop, study_date=date, view="AP", sex="M", age_years=50)
    args.update(kw)
    write_dicom(path, np.full((16, 16), 0.4, np.float32), **args)
    return path


def _disk_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def _ar_workbook(path: Path, rows: list[list[object]], title: bool = True) -> None:
    book = Workbook()
    sheet = book.active
    if title:
        sheet.append(["Clinical correlates"])
    sheet.append(["PATIENT_ID", "SEX", "RACE", "AGE", "COVID TEST POSITIVE", "ICU Admit",
                  "MORTALITY"])
    for row in rows:
        sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


@pytest.mark.parametrize(("text", "expected"), [
    ("[18,59]", (18.0, 59.0)), ("(59,74]", (60.0, 74.0)), ("(74,90]", (75.0, 90.0)),
    ("[0, 18)", (0.0, 17.0)), ("(89,Inf)", (90.0, np.inf)), ("42", (42.0, 42.0)),
    ("59-74", None), ("(5,5)", None), ("", None),
])
def test_parse_age_band(text: str, expected: tuple[float, float] | None) -> None:
    assert tcia.parse_age_band(text) == expected


def test_sbu_sheet_shifted_dates_bands_and_loinc_units(tmp_path: Path) -> None:
    root = tmp_path / "tcia"
    coll = "COVID-19-NY-SBU"
    _nbia(root, coll, "A100001", dt.date(1900, 12, 31), "2.25.101", sex="F")
    _nbia(root, coll, "A100001", dt.date(1901, 1, 3), "2.25.102", sex="F", view="PA")
    _nbia(root, coll, "A100002", dt.date(1901, 1, 8), "2.25.201")
    _nbia(root, coll, "A100009", dt.date(1901, 1, 8), "2.25.901")  # no sheet row
    pd.DataFrame([
        {"to_patient_id": "A100001", "covid19_statuses": "positive", "last.status": "deceased",
         "age.splits": "(59,74]", "gender_concept_name": "FEMALE",
         "visit_start_datetime": "12/29/1900", "visit_concept_name": "Inpatient Visit",
         "is_icu": "TRUE", "length_of_stay": "9", CRP: "3.4", DDIMER: "<150", CREAT: "1.2"},
        {"to_patient_id": "A100002", "covid19_statuses": "positive",
         "last.status": "discharged", "age.splits": "[18,59]", "gender_concept_name": "MALE",
         "visit_start_datetime": "1/8/1901", "visit_concept_name": "Emergency Room Visit",
         "is_icu": "FALSE", "length_of_stay": "1", CRP: "NA", DDIMER: "lots", CREAT: "NA"},
        {"to_patient_id": "A100003", "age.splits": "old"},
    ]).to_csv(root / coll / "clinical.csv", index=False)
    tables = tcia.load(root)

    patients = tables.patients.set_index("patient_uid")
    p1 = patients.loc["tcia:A100001"]
    assert (p1["age_min"], p1["age_max"], p1["sex"]) == (60.0, 74.0, "F")
    assert bool(p1["icu"]) and bool(p1["died"])
    assert p1["site"] == "Stony Brook University" and p1["collection"] == coll
    p2 = patients.loc["tcia:A100002"]
    assert (p2["age_min"], p2["age_max"]) == (18.0, 59.0) and not bool(p2["died"])

    images = tables.images.set_index("image_uid")
    # Day 0 = visit start 12/29/1900: the 1900-12-31 study is day 2, 1901-01-03 day 5.
    assert images.loc["tcia:2.25.101", "day"] == 2.0
    assert images.loc["tcia:2.25.102", "day"] == 5.0
    assert images.loc["tcia:2.25.101", "admission_offset"] == -2.0
    assert images.loc["tcia:2.25.201", "day"] == 0.0
    assert np.isnan(images.loc["tcia:2.25.201", "admission_offset"])  # ER visit
    # Without a sheet row, day 0 is the first exam and the DICOM gives age and sex.
    assert images.loc["tcia:2.25.901", "day"] == 0.0
    assert patients.loc["tcia:A100009", "age_min"] == 50.0

    events = {(r.patient_uid, r.event, r.day) for r in tables.events.itertuples()}
    assert events == {("tcia:A100001", "admission", 0.0),
                      ("tcia:A100002", "discharge", 1.0)}

    labs = tables.labs.set_index(["patient_uid", "analyte"])
    crp = labs.loc[("tcia:A100001", "crp")]
    assert crp["lower"] == crp["upper"] == pytest.approx(34.0) and crp["unit"] == "mg/L"
    dd = labs.loc[("tcia:A100001", "d_dimer")]
    assert (dd["lower"], dd["upper"], dd["censor"]) == (-np.inf, pytest.approx(0.15), "left")
    assert labs.loc[("tcia:A100001", "creatinine"), "lower"] == pytest.approx(106.104)
    assert np.isnan(crp["day"]) and pd.isna(crp["image_uid"])
    assert ("tcia:A100002", "crp") not in labs.index  # NA is missing, not a value

    details = " ".join(tables.findings["detail"])
    assert "a text of 4 characters (letters) is not a number" in details
    assert "lots" not in details
    assert "age.splits a text of 3 characters (letters) is not an interval" in details
    kinds = set(tables.findings["kind"])
    assert {"orphan_image", "patients_without_images", "unparseable_value"} <= kinds
    assert len(tables.files) == _disk_files(root)


def test_ar_title_row_and_ricord_metadata(tmp_path: Path) -> None:
    root = tmp_path / "dl" / "manifest-1"
    _nbia(root, "COVID-19-AR", "COVID-19-AR-1", dt.date(2020, 5, 1), "2.25.11", sex="M")
    _nbia(root, "COVID-19-AR", "COVID-19-AR-1", dt.date(2020, 5, 4), "2.25.12", sex="M")
    _ar_workbook(root / "COVID-19-AR" / "clinical.xlsx",
                 [["COVID-19-AR-1", "F", "White", 61, "Y", "Y", "N"]])
    r1c = "MIDRC-RICORD-1C"
    _nbia(root, r1c, f"{r1c}-440808-000007", dt.date(2020, 4, 9), "2.25.21", age_years=33)
    book = Workbook()
    book.active.title = "CR Pos - TCIA Submission"
    book.active.append(["Anon MRN", "Anon TCIA Study Date", "Anon Exam Description",
                        "Anon Study UID"])
    book.active.append(["440808-000007", "4/10/2020", "CHEST 1V", "2.25.21.1"])
    book.active.append(["440808-000007", "4/20/2020", "CHEST 1V", "2.25.99.1"])
    book.save(root / r1c / "meta.xlsx")
    pd.DataFrame([{"Anon MRN": "440808-000007", "Anon TCIA Study Date": "04/09/2020",
                   "Reader_id": "U1", "Reader_name": "Dr Who", "CLASS_label": "Typical Appearance",
                   "GRADE_label": "Mild Opacities"},
                  {"Anon MRN": "440808-000007", "Anon TCIA Study Date": "04/09/2020",
                   "Reader_id": "U2", "Reader_name": "Dr No", "CLASS_label": "Atypical Appearance",
                   "GRADE_label": ""}]).to_csv(root / r1c / "annotations.csv", index=False)
    (root / "metadata.csv").write_text("Series UID,Collection,File Location\n1,2,3\n")
    (root / r1c / "LICENSE").write_text("CC BY-NC 4.0\n")

    tables = tcia.load(tmp_path / "dl")
    patients = tables.patients.set_index("patient_uid")
    ar = patients.loc["tcia:COVID-19-AR-1"]
    assert (ar["age_min"], ar["sex"], bool(ar["icu"]), bool(ar["died"])) == (61.0, "F", True,
                                                                            False)
    ricord = patients.loc[f"tcia:{r1c}-440808-000007"]
    assert (ricord["age_min"], ricord["covid_status"], ricord["site"]) == (33.0, "positive",
                                                                          "440808")
    images = tables.images.set_index("image_uid")
    assert images.loc["tcia:2.25.12", "day"] == 3.0  # day 0 = first exam
    assert images.loc["tcia:2.25.21", "annotation_class"] == \
        "Atypical Appearance; Typical Appearance"
    assert images.loc["tcia:2.25.21", "annotation_grade"] == "Mild Opacities"
    kinds = tables.findings["kind"].tolist()
    assert "title_row" in kinds and "study_without_images" in kinds
    # Sheet says F, the header M: the sheet wins and the disagreement is reported.
    assert any("sex F in the clinical sheet, M in the DICOM" in d
               for d in tables.findings["detail"])
    # The metadata's date (4/10) disagrees with the DICOM (4/9).
    assert any("RICORD metadata dates study 2.25.21.1" in d for d in tables.findings["detail"])
    # Reader names never reach the cohort.
    for frame in tables.tables().values():
        assert not frame.astype(str).apply(lambda s: s.str.contains("Dr Who")).any().any()
    files = tables.files.set_index("path")
    assert files.loc[str(root / "metadata.csv"), "status"] == "ignored"
    assert files.loc[str(root / r1c / "LICENSE"), "status"] == "ignored"
    assert len(tables.files) == _disk_files(tmp_path / "dl")


def test_collision_and_unrecognised_files(tmp_path: Path) -> None:
    root = tmp_path / "t"
    _nbia(root, "MIDRC-RICORD-1A", "P1", dt.date(2020, 1, 1), "2.25.1")
    _nbia(root, "MIDRC-RICORD-1B", "P1", dt.date(2020, 1, 2), "2.25.2")
    (root / "notes.csv").write_text("x,y\n1,2\n")
    (root / "broken.xlsx").write_bytes(b"not a workbook")
    assert tcia.detect(str(root)) and tcia.detect(str(root / "MIDRC-RICORD-1A"))
    tables = tcia.load(root)
    assert sorted(tables.patients["patient_uid"]) == ["tcia:MIDRC-RICORD-1A/P1",
                                                      "tcia:MIDRC-RICORD-1B/P1"]
    status = tables.patients.set_index("collection")["covid_status"]
    assert status["MIDRC-RICORD-1B"] == "negative" and status["MIDRC-RICORD-1A"] == "positive"
    files = tables.files.set_index("path")
    assert files.loc[str(root / "notes.csv"), "status"] == "ignored"
    assert files.loc[str(root / "broken.xlsx"), "status"] == "rejected"
    assert {"patient_id_collision", "unreadable_file"} <= set(tables.findings["kind"])


def test_not_a_folder_and_not_detected(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="is not a folder"):
        tcia.load(tmp_path / "missing")
    assert not tcia.detect(str(tmp_path))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, ci.Cohort]:
    root = tmp_path_factory.mktemp("demo") / "tcia"
    truth = demo_tcia.write(root, rng=np.random.default_rng(3), n_patients=12)
    return root, truth, ci.load({"tcia": root}, progress=False)


def test_demo_round_trip_patients_images(demo: tuple[Path, object, ci.Cohort]) -> None:
    root, truth, cohort = demo
    assert ci.detect_source(root) == "tcia"
    got = cohort.patients.set_index("patient_uid").sort_index()
    want = truth.patients.set_index("patient_uid").sort_index()
    assert list(got.index) == list(want.index)
    for column in ("sex", "covid_status", "collection"):
        assert (got[column].astype(str) == want[column].astype(str)).all(), column
    np.testing.assert_array_equal(got["age_min"], want["age_min"].astype(float))
    np.testing.assert_array_equal(got["age_max"], want["age_max"].astype(float))
    for column in ("icu", "died"):
        expected = want[column].astype("boolean")
        assert got[column].isna().equals(expected.isna()), column
        assert (got.loc[expected.notna(), column] == expected.dropna()).all(), column

    images = cohort.images.set_index("image_uid").sort_index()
    expected = truth.images.set_index("image_uid").sort_index()
    assert list(images.index) == list(expected.index)
    for column in ("patient_uid", "modality", "view", "study_uid", "collection",
                   "photometric", "format"):
        got_text = images[column].astype(object).fillna("").astype(str)
        assert (got_text == expected[column].fillna("").astype(str)).all(), column
    np.testing.assert_array_equal(images["day"], expected["day"].astype(float))
    for column in ("n_instances", "rows", "columns"):
        np.testing.assert_array_equal(images[column], expected[column], err_msg=column)
    assert images["annotation_class"].fillna("").equals(
        expected["annotation_class"].fillna("").astype(images["annotation_class"].dtype))


def test_demo_round_trip_events_labs_findings_files(demo: tuple[Path, object,
                                                                 ci.Cohort]) -> None:
    root, truth, cohort = demo
    got = {(r.patient_uid, r.event, float(r.day)) for r in cohort.events.itertuples()}
    want = {(r.patient_uid, r.event, float(r.day)) for r in truth.events.itertuples()}
    assert got == want

    key = ["patient_uid", "analyte"]
    labs = cohort.labs.sort_values(key).reset_index(drop=True)
    expected = truth.labs.sort_values(key).reset_index(drop=True)
    assert labs[key].astype(str).equals(expected[key].astype(str))
    np.testing.assert_allclose(labs["lower"], expected["lower"].astype(float), rtol=1e-9)
    np.testing.assert_allclose(labs["upper"], expected["upper"].astype(float), rtol=1e-9)
    assert (labs["censor"].astype(str) == expected["censor"]).all()
    assert (labs["unit"] == expected["unit"]).all()

    findings = cohort.findings
    for planted in truth.findings.itertuples():
        rows = findings[findings["kind"] == planted.kind]
        assert len(rows), planted
        if isinstance(planted.path, str):
            assert planted.path in set(rows["path"]), planted
        else:
            assert rows["detail"].str.contains(planted.detail, regex=False).any(), planted
    assert len(cohort.files) == truth.n_files == _disk_files(root)
    counts = cohort.files["status"].value_counts()
    assert counts["duplicate"] == 1 and counts["rejected"] == 2  # a DICOM and a NIfTI cut short
    assert cohort.files["reason"].str.len().gt(0).all()


def test_demo_nifti_volumes_read_as_written(demo: tuple[Path, object, ci.Cohort]) -> None:
    """CT Images in COVID-19: each volume row reads back as the volume the writer drew."""
    _, truth, cohort = demo
    volumes = cohort.images[cohort.images["format"] == "nifti"]
    assert sorted(volumes["image_uid"]) == sorted(
        truth.images.loc[truth.images["format"] == "nifti", "image_uid"])
    for row in volumes.itertuples():
        pixels = read_image(cohort.images.loc[row.Index])
        assert pixels.shape == (row.n_instances, row.rows, row.columns)
        middle = read_image(cohort.images.loc[row.Index], slice_index="middle")
        np.testing.assert_array_equal(middle, pixels[row.n_instances // 2])


def test_nifti_volume_round_trip_and_bounded_checks(tmp_path: Path) -> None:
    """A volume written as the collection ships them loads as one CT row whose pixels are the
    array written; files cut short, of the wrong kind or not 3-D are rejected with findings;
    a stream of two gzip members (as parallel gzip writes) is read whole."""
    rng = np.random.default_rng(11)
    folder = tmp_path / "CT Images in COVID-19"
    volume = np.rint(rng.normal(-500, 300, (9, 20, 24))).astype(np.int16)
    good = demo_tcia.write_volume(folder / "volume-covid19-A-0007.nii.gz", volume,
                                  spacing=(0.8, 0.8, 2.5))
    raw = gzip.decompress(good.read_bytes())
    (folder / "volume-covid19-A-0008.nii.gz").write_bytes(gzip.compress(raw[:-100]))
    (folder / "volume-covid19-A-0009.nii.gz").write_bytes(
        gzip.compress(raw[:500]) + gzip.compress(raw[500:]))
    (folder / "volume-covid19-A-0010.nii").write_bytes(raw[:-1])
    flat = nib.Nifti1Image(np.zeros((20, 24), np.int16), np.eye(4))
    nib.save(flat, folder / "volume-covid19-A-0011.nii.gz")
    (folder / "notes.nii.gz").write_bytes(b"not a volume")

    assert tcia.detect(str(tmp_path)) and tcia.detect(str(folder))
    cohort = ci.load({"tcia": tmp_path}, progress=False)
    images = cohort.images.set_index("image_uid")
    assert sorted(images.index) == ["tcia:volume-covid19-A-0007", "tcia:volume-covid19-A-0009"]
    row = images.loc["tcia:volume-covid19-A-0007"]
    assert (row["modality"], row["view"], row["format"], row["collection"]) == (
        "CT", "AXIAL", "nifti", "CT Images in COVID-19")
    assert (row["n_instances"], row["rows"], row["columns"], row["day"]) == (9, 20, 24, 0.0)
    assert row["path"] == str(good)
    np.testing.assert_array_equal(read_image(row.to_dict() | {"path": row["path"]}), volume)
    np.testing.assert_array_equal(
        read_image(images.loc["tcia:volume-covid19-A-0009"].to_dict()), volume)
    assert sorted(cohort.patients["patient_uid"]) == sorted(images.index)
    assert set(cohort.patients["covid_status"]) == {"positive"}

    files = cohort.files.set_index("path")["status"]
    rejected = sorted(Path(p).name for p in files[files == "rejected"].index)
    assert rejected == ["notes.nii.gz", "volume-covid19-A-0008.nii.gz",
                        "volume-covid19-A-0010.nii", "volume-covid19-A-0011.nii.gz"]
    unreadable = cohort.findings[cohort.findings["kind"] == "unreadable_file"]
    assert sorted(Path(p).name for p in unreadable["path"]) == rejected
    assert unreadable["detail"].str.contains("truncated").sum() == 2
