"""The UChicago CRDW loader: hand-built edge cases and the demo round trip."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import covidimg
from covidimg.cohort import detect_source
from covidimg.demo import crdw as demo_crdw
from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.sources import crdw

BATCH = "CXR-UPDATE-20200523-COMPLETE"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COVIDIMG_CACHE", str(tmp_path / "cache"))


def _files_on_disk(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def make_zip(folder: Path, name: str, rng: np.random.Generator, *, patient_id: str | None = None,
             modality: str = "DX", n: int = 1, sops: list[str] | None = None,
             series_uid: str | None = None, study_uid: str | None = None,
             pixels: list[np.ndarray] | None = None, series_folder: str = "1-AP",
             z0: float = 0.0, extra_members: dict[str, bytes] | None = None) -> Path:
    """Write an exam zip of ``n`` instances (one series) with real DICOM files."""
    folder.mkdir(parents=True, exist_ok=True)
    parsed = crdw.parse_zip_name(name)
    stamp = parsed.timestamp if parsed else dt.datetime(2020, 3, 1, 12, 0)
    patient_id = patient_id or (parsed.patient_id if parsed else "9999")
    sops = sops or [uid(rng) for _ in range(n)]
    series_uid = series_uid or uid(rng)
    study_uid = study_uid or uid(rng)
    path = folder / name
    with zipfile.ZipFile(path, "w") as zf:
        for k, sop in enumerate(sops):
            image = pixels[k] if pixels is not None else \
                rng.random((16, 16)).astype(np.float32) * (1000 if modality == "CT" else 1)
            with zf.open(f"{series_folder}/IM-{k + 1:04d}.dcm", "w") as fh:
                write_dicom(fh, image, modality=modality, patient_id=patient_id,
                            study_uid=study_uid, series_uid=series_uid, sop_uid=sop,
                            study_date=stamp.date(), study_time=stamp.time(),
                            view="AP" if modality != "CT" else None, instance_number=k + 1,
                            position_z=z0 + k if modality == "CT" else None, age_years=50)
        for member, data in (extra_members or {}).items():
            zf.writestr(member, data)
    return path


def write_tables(root: Path, patients: list[dict], encounters: list[dict] | None = None,
                 labs: list[dict] | None = None) -> None:
    (root / "datamart").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(patients).to_csv(root / "datamart" / "patients.csv", index=False)
    if encounters is not None:
        pd.DataFrame(encounters).to_csv(root / "datamart" / "encounters.csv", index=False)
    if labs is not None:
        pd.DataFrame(labs).to_excel(root / "datamart" / "labs.xlsx", index=False)


def findings(tables, kind):
    return tables.findings[tables.findings["kind"] == kind]


def status(tables, path):
    row = tables.files[tables.files["path"] == str(path)]
    assert len(row) == 1, f"{path} not in files"
    return row["status"].iloc[0], row["reason"].iloc[0]


# ---------------------------------------------------------------------- names and detection
@pytest.mark.parametrize("name, parts", [
    ("1234_20200301-140030_A003_XR-PORT-CHEST-1V.zip",
     ("1234", dt.datetime(2020, 3, 1, 14, 0, 30), "A003", "XR-PORT-CHEST-1V", False)),
    ("234567_20200508-105300_A002_CT-CHEST-WO.zip",
     ("234567", dt.datetime(2020, 5, 8, 10, 53), "A002", "CT-CHEST-WO", False)),
    ("5678_20200401-121530_A004_XR P PORT CHEST 1 VIEW.zip",
     ("5678", dt.datetime(2020, 4, 1, 12, 15, 30), "A004", "XR P PORT CHEST 1 VIEW", True)),
])
def test_parse_zip_name(name, parts):
    parsed = crdw.parse_zip_name(name)
    assert (parsed.patient_id, parsed.timestamp, parsed.hiro_id, parsed.description,
            parsed.pediatric) == parts


@pytest.mark.parametrize("name", ["1234_2020-03-01_A003_XR.zip", "scan.zip",
                                  "1234_20201340-140030_A003_XR.zip",
                                  "1234_20200301-140030_A003_XR.tar"])
def test_unparseable_zip_names(name):
    assert crdw.parse_zip_name(name) is None


def test_root_must_be_a_local_folder(tmp_path):
    with pytest.raises(covidimg.LoadError, match="root=.*missing.*is not a folder"):
        crdw.load(str(tmp_path / "missing"))
    with pytest.raises(covidimg.LoadError, match="local folder"):
        crdw.load("s3://bucket/crdw")


def test_detect(tmp_path):
    assert not crdw.detect(str(tmp_path))
    (tmp_path / BATCH).mkdir()
    assert crdw.detect(str(tmp_path))
    assert not crdw.detect("s3://bucket/crdw")


# ---------------------------------------------------------------------- batches and files
def test_in_progress_batches_are_skipped_and_reported(tmp_path):
    rng = np.random.default_rng(1)
    make_zip(tmp_path / BATCH, "1234_20200301-140030_A001_XR-CHEST.zip", rng)
    for folder in ("CT-UPDATE-20200602-IN-PROGRESS", "CXR-UPDATE-20200609-IN PROGRESS"):
        make_zip(tmp_path / folder, "1234_20200601-100000_A002_CT-CHEST-WO.zip", rng,
                 modality="CT", n=3)
        (tmp_path / folder / "sub").mkdir()
        (tmp_path / folder / "sub" / "partial.zip.part").write_bytes(b"...")
    tables = crdw.load(str(tmp_path))
    assert len(tables.files) == _files_on_disk(tmp_path) == 5
    ignored = tables.files[tables.files["path"].str.contains("PROGRESS")]
    assert len(ignored) == 4 and set(ignored["status"]) == {"ignored"}
    assert ignored["reason"].str.contains("IN-PROGRESS").all()
    batches = findings(tables, "in_progress_batch")
    assert sorted(Path(p).name for p in batches["path"]) == \
        ["CT-UPDATE-20200602-IN-PROGRESS", "CXR-UPDATE-20200609-IN PROGRESS"]
    assert batches["detail"].str.contains("2 files").all()
    assert len(tables.images) == 1


def test_bad_names_corrupt_zips_and_stray_files_are_recorded(tmp_path):
    rng = np.random.default_rng(2)
    batch = tmp_path / BATCH
    good = make_zip(batch, "1234_20200301-140030_A001_XR-CHEST.zip", rng,
                    extra_members={"1-AP/readme.txt": b"not dicom"})
    bad_name = make_zip(batch, "1234_20201340-140030_A002_XR-CHEST.zip", rng)
    no_pattern = make_zip(batch, "export.zip", rng)
    corrupt = batch / "1234_20200302-100000_A003_XR-CHEST.zip"
    corrupt.write_bytes(b"PK\x03\x04garbage")
    only_text = batch / "1234_20200303-100000_A004_XR-CHEST.zip"
    with zipfile.ZipFile(only_text, "w") as zf:
        zf.writestr("notes.txt", "no images")
    (tmp_path / "loose.dcm").write_bytes(good.read_bytes()[:10])
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "old_patients.xls").write_bytes(b"\0")
    tables = crdw.load(str(tmp_path))

    assert len(tables.files) == _files_on_disk(tmp_path)
    assert status(tables, good)[0] == "used"
    state, reason = status(tables, bad_name)
    assert state == "rejected" and "20201340-140030" in reason
    state, reason = status(tables, no_pattern)
    assert state == "rejected" and "SSSS_yyyymmdd-hhmmss_AAAA_ExamDescription.zip" in reason
    assert status(tables, corrupt)[0] == "rejected"
    assert status(tables, only_text)[0] == "rejected"
    assert status(tables, tmp_path / "loose.dcm")[0] == "ignored"
    assert status(tables, tmp_path / ".DS_Store")[0] == "ignored"
    state, reason = status(tables, tmp_path / "old_patients.xls")
    assert state == "rejected" and ".xlsx" in reason
    unreadable = set(findings(tables, "unreadable_file")["path"])
    assert {str(corrupt), str(only_text), f"{good}::1-AP/readme.txt",
            f"{only_text}::notes.txt"} <= unreadable
    assert set(findings(tables, "unparseable_name")["path"]) == {str(bad_name), str(no_pattern)}
    assert len(tables.images) == 1


# ---------------------------------------------------------------------- duplicates
def test_identical_timestamps_alone_are_not_duplicates(tmp_path):
    rng = np.random.default_rng(3)
    batch = tmp_path / BATCH
    a = make_zip(batch, "1234_20200301-140030_A001_XR-PORT-CHEST-1V.zip", rng)
    b = make_zip(batch, "1234_20200301-140030_A002_XR-PORT-CHEST-1V.zip", rng)
    # Pediatric, same timestamp, same member names, different pixels: not a duplicate either.
    c = make_zip(batch, "1234_20200305-080000_A003_XR-P-PORT-CHEST-1-VIEW.zip", rng)
    d = make_zip(batch, "1234_20200305-080000_A004_XR-P-PORT-CHEST-1-VIEW.zip", rng)
    tables = crdw.load(str(tmp_path))
    assert len(tables.images) == 4
    assert {status(tables, p)[0] for p in (a, b, c, d)} == {"used"}
    assert findings(tables, "duplicate_exam").empty


def test_pediatric_copy_with_identical_content_is_collapsed(tmp_path):
    rng = np.random.default_rng(4)
    pixels = [rng.random((16, 16)).astype(np.float32)]
    batch = tmp_path / BATCH
    original = make_zip(batch, "77_20200305-080000_A001_XR-P-PORT-CHEST-1-VIEW.zip", rng,
                        pixels=pixels)
    copy = make_zip(batch, "77_20200305-080000_A002_XR-P-PORT-CHEST-1-VIEW.zip", rng,
                    pixels=pixels)
    renamed = make_zip(batch, "77_20200305-080000_A003_XR-P-PORT-CHEST-1-VIEW.zip", rng,
                       pixels=pixels, series_folder="2-AP")  # other member names: kept
    adult = make_zip(batch, "77_20200306-080000_A004_XR-PORT-CHEST-1V.zip", rng, pixels=pixels)
    adult_copy = make_zip(batch, "77_20200306-080000_A005_XR-PORT-CHEST-1V.zip", rng,
                          pixels=pixels)  # not pediatric, new UIDs: kept
    tables = crdw.load(str(tmp_path))
    assert status(tables, copy) == ("duplicate", f"copy of {original.name}")
    assert {status(tables, p)[0] for p in (original, renamed, adult, adult_copy)} == {"used"}
    dup = findings(tables, "duplicate_exam")
    assert list(dup["path"]) == [str(copy)]
    assert "pediatric" in dup["detail"].iloc[0]
    assert len(tables.images) == 4


def test_cross_batch_copy_is_dropped_by_sop_uid(tmp_path):
    rng = np.random.default_rng(5)
    sops = [uid(rng), uid(rng)]
    common = dict(sops=sops, series_uid=uid(rng), study_uid=uid(rng))
    first = make_zip(tmp_path / BATCH, "5678_20200401-121530_A004_XR-CHEST-PA-LATERAL.zip",
                     rng, **common)
    later = make_zip(tmp_path / "CXR-UPDATE-20200618-COMPLETE",
                     "5678_20200401-121530_A005_XR-CHEST-PA-LATERAL.zip", rng, **common)
    # Same SOP UIDs under another timestamp are still the same instances.
    shifted = make_zip(tmp_path / "CXR-UPDATE-20200702-COMPLETE",
                       "5678_20200402-090000_A006_XR-CHEST-PA-LATERAL.zip", rng, **common)
    partial = make_zip(tmp_path / "CXR-UPDATE-20200702-COMPLETE",
                       "5678_20200403-090000_A007_XR-CHEST-PA-LATERAL.zip", rng,
                       sops=[sops[0], uid(rng)])
    tables = crdw.load(str(tmp_path))
    assert status(tables, first)[0] == "used"
    assert status(tables, later) == ("duplicate", f"copy of {first.name}")
    assert status(tables, shifted)[0] == "duplicate"
    assert status(tables, partial)[0] == "used"
    dup = findings(tables, "duplicate_exam").set_index("path")["detail"]
    assert set(dup.index) == {str(later), str(shifted)}
    assert "same timestamp" in dup[str(later)] and "different timestamp" in dup[str(shifted)]
    assert list(findings(tables, "duplicate_instances")["path"]) == [str(partial)]
    assert len(tables.images) == 3  # the two originals + the new instance of the partial copy


# ---------------------------------------------------------------------- split CT exams
def test_split_ct_exam_is_merged(tmp_path):
    rng = np.random.default_rng(6)
    batch = tmp_path / "CT-UPDATE-20200509-COMPLETE"
    series, study = uid(rng), uid(rng)
    # One series split by slices across two zips, nine minutes apart, same HIRO id.
    part1 = make_zip(batch, "234567_20200508-105300_A002_CT-CHEST-WO.zip", rng, modality="CT",
                     n=4, series_uid=series, study_uid=study, series_folder="2-AXIAL")
    part2 = make_zip(batch, "234567_20200508-110200_A002_CT-CHEST-WO.zip", rng, modality="CT",
                     n=3, series_uid=series, study_uid=study, series_folder="2-AXIAL", z0=4.0)
    # Same HIRO id but hours apart: a separate exam.
    separate = make_zip(batch, "234567_20200508-160000_A002_CT-CHEST-WO.zip", rng,
                        modality="CT", n=2)
    # Radiographs minutes apart with the same HIRO id are not merged.
    xr1 = make_zip(tmp_path / BATCH, "234567_20200509-100000_A003_XR-CHEST.zip", rng)
    xr2 = make_zip(tmp_path / BATCH, "234567_20200509-100500_A003_XR-CHEST.zip", rng)
    tables = crdw.load(str(tmp_path))
    merged = findings(tables, "split_exam_merged")
    assert list(merged["path"]) == [str(part2)]
    assert "9 minutes" in merged["detail"].iloc[0]
    ct = tables.images[tables.images["modality"] == "CT"].set_index("series_uid")
    assert ct.loc[series, "n_instances"] == 7
    assert ct.loc[series, "path"] == f"{part1}::2-AXIAL/"
    assert ct.loc[series, "exam"] == "CT CHEST"
    assert len(ct) == 2
    assert status(tables, part2)[0] == "used" and "split exam" in status(tables, part2)[1]
    assert {status(tables, p)[0] for p in (separate, xr1, xr2)} == {"used"}
    assert (tables.images["modality"] == "DX").sum() == 2


# ---------------------------------------------------------------------- ids and clinical data
def test_remaps_orphans_and_id_mismatch(tmp_path):
    rng = np.random.default_rng(7)
    batch = tmp_path / BATCH
    old = make_zip(batch, "111_20200301-100000_A001_XR-CHEST.zip", rng)
    chained = make_zip(batch, "222_20200302-100000_A001_XR-CHEST.zip", rng)
    current = make_zip(batch, "333_20200310-100000_A001_XR-CHEST.zip", rng)
    orphan = make_zip(batch, "444_20200311-100000_A001_XR-CHEST.zip", rng)
    mismatch = make_zip(batch, "333_20200312-100000_A002_XR-CHEST.zip", rng, patient_id="999")
    make_zip(batch, "555_20200313-100000_A001_XR-CHEST.zip", rng)
    pd.DataFrame({"OLD C19 Patient ID": [111, 222, 223, 555, 556],
                  "Current C19 Patient ID": [333, 223, 333, 556, 555]}).to_excel(
        tmp_path / crdw.REMAP_WORKBOOK, index=False)
    write_tables(tmp_path, [{"patient_id": "333", "sex": "Female", "age": "90+",
                             "covid_status": "Detected"}],
                 [{"patient_id": "333", "admission_date": "2020-03-02",
                   "icu_admission_date": "03/04/2020", "icu_discharge_date": "",
                   "discharge_date": "2020-03-20", "death_date": ""}])
    tables = crdw.load(str(tmp_path))

    remaps = findings(tables, "remapped_patient")
    assert len(remaps) == 2 and set(remaps["patient_uid"]) == {"crdw:333"}
    assert remaps["detail"].str.contains("222 -> 223 -> 333").any()
    # the zip a row came from (its name is in ``path``; the image has one zip here)
    images = tables.images.set_index(
        tables.images["path"].str.split("::").str[0].map(lambda p: Path(p).stem))
    assert set(images.loc[[old.stem, chained.stem, current.stem], "patient_uid"]) == {"crdw:333"}
    assert images.loc[old.stem, "day"] == -1.0  # admitted 2020-03-02
    assert images.loc[old.stem, "icu_admission_offset"] == 3.0
    assert images.loc[current.stem, "admission_offset"] == -8.0
    assert list(findings(tables, "patient_id_mismatch")["path"]) == [str(mismatch)]
    assert images.loc[mismatch.stem, "patient_uid"] == "crdw:333"
    orphans = findings(tables, "orphan_image")
    assert set(orphans["patient_uid"]) == {"crdw:444", "crdw:555"}
    assert orphans["image_uid"].notna().all()
    assert not findings(tables, "remap_cycle").empty
    patients = tables.patients.set_index("patient_uid")
    assert patients.loc["crdw:333", "age_min"] == 90 and patients.loc["crdw:333", "age_max"] == \
        np.inf
    assert patients.loc["crdw:333", "covid_status"] == "positive"
    assert bool(patients.loc["crdw:333", "icu"]) and not bool(patients.loc["crdw:333", "died"])
    assert patients.loc["crdw:444", "covid_status"] == "unknown"
    assert pd.isna(patients.loc["crdw:444", "icu"])
    assert patients.loc["crdw:444", "age_min"] == 50  # from the DICOM Patient Age
    assert images.loc[orphan.stem, "day"] == 0.0  # day 0 = the orphan's first exam
    events = tables.events.set_index("event")["day"]
    assert events["admission"] == 0 and events["icu_admission"] == 2 and \
        events["discharge"] == 18


def test_a_repeated_patient_row_is_reported_and_the_first_kept(tmp_path):
    rng = np.random.default_rng(11)
    make_zip(tmp_path / BATCH, "333_20200303-100000_A001_XR-CHEST.zip", rng)
    make_zip(tmp_path / BATCH, "444_20200303-110000_A001_XR-CHEST.zip", rng)
    pd.DataFrame({"OLD_C19_PATIENT_ID": [111], "CURRENT_C19_PATIENT_ID": [333]}).to_excel(
        tmp_path / crdw.REMAP_WORKBOOK, index=False)
    write_tables(tmp_path, [
        {"patient_id": "333", "sex": "Female", "age": "61", "covid_status": "Positive"},  # row 2
        {"patient_id": "444", "sex": "Male", "age": "70", "covid_status": "Negative"},    # row 3
        {"patient_id": "333", "sex": "Male", "age": "62", "covid_status": "Negative"},    # row 4
        {"patient_id": "444", "sex": "Male", "age": "70", "covid_status": "Negative"},    # row 5
        {"patient_id": "111", "sex": "Female", "age": "61", "covid_status": "Positive"},  # row 6
    ])
    tables = crdw.load(str(tmp_path))
    csv = tmp_path / "datamart" / "patients.csv"
    dup = findings(tables, "duplicate_row").set_index("path")
    assert list(dup.index) == [f"{csv} row 4", f"{csv} row 5", f"{csv} row 6"]
    assert list(dup["patient_uid"]) == ["crdw:333", "crdw:444", "crdw:333"]
    assert dup.loc[f"{csv} row 4", "detail"] == (
        f"patient '333' appears again (the first row, {csv} row 2, is kept; this one differs "
        "in sex, age, covid_status)")
    assert dup.loc[f"{csv} row 5", "detail"].endswith("this one is identical)")
    # row 6 is filed under the old id 111, which the remap workbook maps to 333
    assert "row 2, is kept; this one is identical" in dup.loc[f"{csv} row 6", "detail"]
    patients = tables.patients.set_index("patient_uid")
    assert patients.loc["crdw:333", "sex"] == "F" and patients.loc["crdw:333", "age_min"] == 61
    assert patients.loc["crdw:333", "covid_status"] == "positive"
    assert len(patients) == 2


def test_exams_before_the_covid_encounter_and_the_inclusion_windows(tmp_path):
    # Encounter 2020-03-31. Tip sheet: chest radiographs up to one year before it, chest CT up
    # to one month before it. One month before March 31 is February 29 (2020 is a leap year);
    # one year before is 2019-03-31.
    rng = np.random.default_rng(12)
    cxr, ct = tmp_path / BATCH, tmp_path / "CT-UPDATE-20200523-COMPLETE"
    zips = {
        "xr_year": make_zip(cxr, "333_20190331-100000_A001_XR-CHEST.zip", rng),
        "xr_older": make_zip(cxr, "333_20190330-100000_A002_XR-CHEST.zip", rng),
        "ct_month": make_zip(ct, "333_20200229-100000_A003_CT-CHEST-WO.zip", rng,
                             modality="CT", n=2),
        "ct_older": make_zip(ct, "333_20200228-100000_A004_CT-CHEST-WO.zip", rng,
                             modality="CT", n=2),
        "ct_same_day": make_zip(ct, "333_20200331-080000_A005_CT-CHEST-WO.zip", rng,
                                modality="CT", n=2),
        "xr_after": make_zip(cxr, "333_20200402-100000_A006_XR-CHEST.zip", rng),
        "no_encounter": make_zip(cxr, "444_20190101-100000_A001_XR-CHEST.zip", rng),
    }
    write_tables(tmp_path, [
        {"patient_id": "333", "sex": "F", "covid_status": "Positive",
         "covid_encounter_date": "2020-03-31"},
        {"patient_id": "444", "sex": "M", "covid_status": "Positive",
         "covid_encounter_date": ""}])
    tables = crdw.load(str(tmp_path))
    images = tables.images.set_index(tables.images["path"].str.split("::").str[0])
    pre = {name: images.loc[str(path), "pre_encounter"] for name, path in zips.items()}
    assert pd.isna(pre.pop("no_encounter"))  # patient 444 has no encounter date
    assert pre == {"xr_year": True, "xr_older": True, "ct_month": True, "ct_older": True,
                   "ct_same_day": False, "xr_after": False}
    assert str(tables.images["pre_encounter"].dtype) == "boolean"
    outside = findings(tables, "outside_inclusion_window").set_index("path")["detail"]
    assert sorted(outside.index) == sorted([str(zips["xr_older"]), str(zips["ct_older"])])
    assert "a chest radiograph dated 2019-03-30, 367 days before" in \
        outside[str(zips["xr_older"])]
    assert "a CT dated 2020-02-28, 32 days before" in outside[str(zips["ct_older"])]
    assert "up to one month" in outside[str(zips["ct_older"])]


@pytest.mark.parametrize("description, label", [
    ("CT-CHEST-WO", "CT CHEST"),
    ("CT-CHEST-W", "CT CHEST W CONTRAST"),
    ("CT-CHEST-W-CONTRAST", "CT CHEST W CONTRAST"),
    ("CT-CHEST-W-AND-WO", "CT CHEST W CONTRAST"),
    ("CTA-CHEST-PE", "CTA CHEST"),
    ("CT-ANGIO-CHEST", "CTA CHEST"),
    ("CT-CHEST-ABDOMEN-W-CONTRAST", "CT CHEST ABDOMEN"),
    ("CT-CHEST-ABD-WO", "CT CHEST ABDOMEN"),
    ("CT-CHEST-ABD-PELVIS-W", "CT CHEST ABDOMEN PELVIS"),
    ("CT CHEST ABDOMEN PELVIS WO CONTRAST", "CT CHEST ABDOMEN PELVIS"),
])
def test_exam_label_reads_the_zip_description(tmp_path, description, label):
    # The DICOM files carry no description: the label comes from the zip name alone.
    rng = np.random.default_rng(13)
    make_zip(tmp_path / "CT-UPDATE-20200523-COMPLETE",
             f"333_20200301-100000_A001_{description}.zip", rng, modality="CT", n=2)
    tables = crdw.load(str(tmp_path))
    assert tables.images["exam"].astype(str).tolist() == [label]


def test_labs_units_censoring_and_bad_values(tmp_path):
    rng = np.random.default_rng(8)
    make_zip(tmp_path / BATCH, "333_20200303-100000_A001_XR-CHEST.zip", rng)
    write_tables(
        tmp_path, [{"patient_id": "333", "sex": "M", "age": "61", "covid_encounter_date":
                    "2020-03-01", "covid_positive_date": "2020-02-28"}],
        [],
        [{"patient_id": "333", "lab_name": "C-Reactive Protein", "value": "4.53",
          "unit": "mg/dL", "result_date": "2020-03-02 06:10"},
         {"patient_id": "333", "lab_name": "CRP", "value": "<0.5", "unit": "mg/dL",
          "result_date": "2020-03-03"},
         {"patient_id": "333", "lab_name": "D-DIMER", "value": ">20000", "unit": "ng/mL FEU",
          "result_date": "03/05/2020"},
         {"patient_id": "333", "lab_name": "PO2, ARTERIAL", "value": "9.5", "unit": "kPa",
          "result_date": "2020-03-01"},
         {"patient_id": "333", "lab_name": "LYMPHOCYTES, ABSOLUTE", "value": "0.8",
          "unit": "K/uL", "result_date": "yesterday"},
         {"patient_id": "333", "lab_name": "LDH", "value": "312", "unit": "furlongs",
          "result_date": "2020-03-01"},
         {"patient_id": "333", "lab_name": "FERRITIN", "value": "see note", "unit": "ng/mL",
          "result_date": "2020-03-01"},
         {"patient_id": "333", "lab_name": "SARS-COV-2 PCR", "value": "Detected", "unit": "",
          "result_date": "2020-03-01"},
         {"patient_id": "333", "lab_name": "BUN", "value": "14", "unit": "mg/dL",
          "result_date": "2020-03-01"},
         {"patient_id": "333", "lab_name": "UREA", "value": "30", "unit": "mg/dL",
          "result_date": "2020-03-01"}])
    tables = crdw.load(str(tmp_path))
    labs = tables.labs.set_index("value_raw")
    assert labs.loc["4.53 mg/dL", ["lower", "upper"]].tolist() == pytest.approx([45.3, 45.3])
    assert labs.loc["4.53 mg/dL", "unit"] == "mg/L" and labs.loc["4.53 mg/dL", "day"] == 1
    assert labs.loc["<0.5 mg/dL", "censor"] == "left"
    assert labs.loc["<0.5 mg/dL", ["lower", "upper"]].tolist() == [-np.inf, 5.0]
    assert labs.loc[">20000 ng/mL FEU", ["lower", "upper", "censor"]].tolist() == \
        [pytest.approx(20.0), np.inf, "right"]
    assert labs.loc[">20000 ng/mL FEU", "day"] == 4
    assert labs.loc["9.5 kPa", "lower"] == pytest.approx(71.256, abs=1e-3)
    assert np.isnan(labs.loc["0.8 K/uL", "day"])
    # BUN 14 mg/dL = 140 mg/L of N / 28.014 g/mol = 5.0 mmol/L urea; urea 30 mg/dL / 60.06
    assert labs.loc["14 mg/dL", ["analyte", "unit"]].tolist() == ["urea", "mmol/L"]
    assert labs.loc["14 mg/dL", "lower"] == pytest.approx(140 / 28.014)
    assert labs.loc["30 mg/dL", ["analyte", "unit"]].tolist() == ["urea", "mmol/L"]
    assert labs.loc["30 mg/dL", "lower"] == pytest.approx(300 / 60.06)
    assert len(tables.labs) == 7
    bad = findings(tables, "unparseable_value")["detail"]
    # free text is described, never quoted
    assert bad.str.contains("labs.result_date = a text of 9 characters (letters)",
                            regex=False).any()
    assert bad.str.contains("labs.value = a text of 8 characters (letters, spaces)",
                            regex=False).any()
    assert not bad.str.contains("yesterday|see note").any()
    unit = findings(tables, "unknown_unit")["detail"]
    assert unit.str.contains("unit a text of 8 characters (letters) of", regex=False).all()
    assert not unit.str.contains("furlongs").any()
    lab = findings(tables, "unknown_lab")["detail"]
    assert lab.str.contains("lab name a text of 14 characters").all()
    assert not lab.str.contains("SARS").any()
    # No admission: day 0 is the COVID encounter date.
    assert tables.images["day"].tolist() == [2.0]
    assert tables.events.set_index("event").loc["covid_test_positive", "day"] == -2
    # The results left out of labs (unknown unit, unknown name) are kept as observations.
    obs = tables.observations.set_index("field")
    assert sorted(obs.index) == ["crdw:lab:LDH", "crdw:lab:SARS-COV-2 PCR"]
    ldh = obs.loc["crdw:lab:LDH"]
    assert ldh["value_num"] == 312 and ldh["unit"] == "furlongs" and ldh["day"] == 0
    assert ldh["origin"].endswith("labs.xlsx row 7")
    pcr = obs.loc["crdw:lab:SARS-COV-2 PCR"]
    assert np.isnan(pcr["value_num"]) and pd.isna(pcr["unit"])
    assert pcr["value_raw"] == "(a text of 8 characters (letters))"  # "Detected", described
    assert unit.str.contains("kept as observations").all()


def test_datamart_columns_covidimg_does_not_read_become_observations(tmp_path):
    rng = np.random.default_rng(14)
    make_zip(tmp_path / BATCH, "333_20200303-100000_A001_XR-CHEST.zip", rng)
    write_tables(
        tmp_path,
        [{"patient_id": "333", "sex": "F", "covid_encounter_date": "2020-03-01",
          "race": "black or african american", "ethnicity": "Not Hispanic or Latino",
          "bmi": "31.2", "insurance": "Medicaid"},
         {"patient_id": "444", "sex": "M", "covid_encounter_date": "2020-03-01",
          "race": "Martian", "ethnicity": "", "bmi": "", "insurance": ""}],
        [{"patient_id": "333", "admission_date": "2020-03-02", "encounter_type": "Inpatient"}])
    tables = crdw.load(str(tmp_path))
    obs = tables.observations.sort_values(["patient_uid", "field"]).reset_index(drop=True)
    assert obs[["patient_uid", "field"]].values.tolist() == [
        ["crdw:333", "crdw:bmi"], ["crdw:333", "crdw:encounter_type"],
        ["crdw:333", "crdw:insurance"], ["crdw:333", "ethnicity"], ["crdw:333", "race"],
        ["crdw:444", "race"]]
    rows = obs.set_index(["patient_uid", "field"])
    # harmonized fields: the documented category, in its documented spelling
    assert rows.loc[("crdw:333", "race"), "value"] == "Black or African American"
    assert rows.loc[("crdw:333", "ethnicity"), "value"] == "Not Hispanic or Latino"
    assert pd.isna(rows.loc[("crdw:444", "race"), "value"])  # not a documented category
    assert rows.loc[("crdw:444", "race"), "value_raw"] == "(a text of 7 characters (letters))"
    assert rows.loc[("crdw:333", "crdw:bmi"), "value_num"] == 31.2
    assert rows.loc[("crdw:333", "crdw:encounter_type"), "day"] == 0  # its admission day
    assert rows.loc[("crdw:333", "crdw:insurance"), "origin"] == "patients.csv row 2: insurance"
    unexpected = findings(tables, "unexpected_field")
    assert sorted(unexpected["detail"].str.extract(r"column (a text of \d+ characters)")[0]) \
        == ["a text of 14 characters", "a text of 3 characters", "a text of 9 characters"]
    assert sorted(unexpected["path"]) == sorted(
        [str(tmp_path / "datamart" / "encounters.csv")] +
        [str(tmp_path / "datamart" / "patients.csv")] * 2)


def test_provenance_names_the_latest_batch(tmp_path):
    rng = np.random.default_rng(15)
    make_zip(tmp_path / BATCH, "333_20200303-100000_A001_XR-CHEST.zip", rng)
    make_zip(tmp_path / "CT-UPDATE-20200602-COMPLETE", "333_20200601-100000_A002_CT-CHEST-WO.zip",
             rng, modality="CT", n=2)
    make_zip(tmp_path / "CT-UPDATE-20200616-IN-PROGRESS",
             "333_20200615-100000_A003_CT-CHEST-WO.zip", rng, modality="CT", n=2)
    tables = crdw.load(str(tmp_path))
    assert tables.provenance[["source", "release", "loaded_from"]].values.tolist() == [
        ["crdw", "batches up to 2020-06-02", str(tmp_path)]]


def test_tables_with_missing_columns_or_no_tables(tmp_path):
    rng = np.random.default_rng(9)
    make_zip(tmp_path / BATCH, "333_20200303-100000_A001_XR-CHEST.zip", rng)
    tables = crdw.load(str(tmp_path))
    assert len(findings(tables, "missing_clinical_data")) == 1
    assert findings(tables, "orphan_image").empty
    assert len(tables.patients) == 1
    (tmp_path / "datamart").mkdir()
    pd.DataFrame({"lab": ["CRP"], "result": ["5"]}).to_csv(tmp_path / "datamart" / "labs.csv",
                                                           index=False)
    (tmp_path / "datamart" / "patients.xlsx").write_bytes(b"not a workbook")
    tables = crdw.load(str(tmp_path))
    state, reason = status(tables, tmp_path / "datamart" / "labs.csv")
    assert state == "rejected" and "['patient_id', 'lab_name', 'value']" in reason
    assert status(tables, tmp_path / "datamart" / "patients.xlsx")[0] == "rejected"
    assert len(tables.files) == _files_on_disk(tmp_path)


# ---------------------------------------------------------------------- the demo round trip
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("crdw") / "crdw"
    truth = demo_crdw.write(root, rng=np.random.default_rng(20200523), n_patients=6)
    cohort = covidimg.load({"crdw": str(root)}, progress=False)
    return root, truth, cohort


def test_demo_nothing_lost(demo):
    root, truth, cohort = demo
    assert _files_on_disk(root) == truth.n_files == len(cohort.files)
    assert set(cohort.files["path"]) == {os.path.join(p, f) for p, _, fs in os.walk(root)
                                         for f in fs}
    assert cohort.files["reason"].str.len().gt(0).all()


def test_demo_detected_as_crdw(demo):
    root, _, _ = demo
    assert detect_source(root) == "crdw"


def test_demo_images_match_truth(demo):
    _, truth, cohort = demo
    got = cohort.images.set_index("image_uid").sort_index()
    want = truth.images.set_index("image_uid").sort_index()
    assert list(got.index) == list(want.index)
    for column in ("patient_uid", "modality", "view", "photometric", "exam", "pre_encounter"):
        assert got[column].astype(str).tolist() == want[column].astype(str).tolist(), column
    assert set(want["exam"]) >= {"CT CHEST ABDOMEN", "CTA CHEST", "CXR AP PORTABLE"}
    assert want["pre_encounter"].sum() >= len(demo_crdw.BASELINE_EXAMS)
    assert want["pre_encounter"].isna().any()  # the orphan: no encounter date
    for column in ("day", "n_instances", "admission_offset", "icu_admission_offset",
                   "icu_release_offset", "death_offset"):
        np.testing.assert_array_equal(got[column].astype(float), want[column].astype(float),
                                      err_msg=column)
    assert "MONOCHROME1" in set(got["photometric"])
    assert got.loc[got["modality"] == "CT", "n_instances"].between(20, 40).all()


def test_demo_quirk_findings_match_truth(demo):
    _, truth, cohort = demo
    got = cohort.findings
    for kind, key in (("duplicate_exam", "path"), ("split_exam_merged", "path"),
                      ("in_progress_batch", "path"), ("unparseable_name", "path"),
                      ("unreadable_file", "path"), ("remapped_patient", "patient_uid"),
                      ("orphan_image", "image_uid"), ("unparseable_value", "path"),
                      ("unknown_lab", "path"), ("duplicate_row", "path"),
                      ("outside_inclusion_window", "path"), ("unexpected_field", "path")):
        want = sorted(truth.findings.loc[truth.findings["kind"] == kind, key])
        assert want, kind
        assert sorted(got.loc[got["kind"] == kind, key].astype(str)) == want, kind
    duplicates = cohort.files[cohort.files["status"] == "duplicate"]
    assert sorted(duplicates["path"]) == sorted(
        truth.findings.loc[truth.findings["kind"] == "duplicate_exam", "path"])


def test_demo_observations_match_truth(demo):
    _, truth, cohort = demo
    key = ["patient_uid", "field"]
    got = cohort.observations.sort_values(key).reset_index(drop=True)
    want = truth.observations.sort_values(key).reset_index(drop=True)
    assert got[key].values.tolist() == want[key].values.tolist()
    assert got["value"].fillna("-").tolist() == want["value"].fillna("-").tolist()
    np.testing.assert_array_equal(got["value_num"].to_numpy(float),
                                  want["value_num"].to_numpy(float))
    np.testing.assert_array_equal(got["day"].to_numpy(float), want["day"].to_numpy(float))
    assert {"race", "ethnicity", "crdw:bmi", "crdw:lab:HEMOGLOBIN A1C"} == set(want["field"])


def test_demo_patients_events_labs_match_truth(demo):
    _, truth, cohort = demo
    got = cohort.patients.set_index("patient_uid").sort_index()
    want = truth.patients.set_index("patient_uid").sort_index()
    assert list(got.index) == list(want.index)
    for column in ("sex", "covid_status", "icu", "died"):
        assert got[column].astype(str).tolist() == want[column].astype(str).tolist(), column
    np.testing.assert_array_equal(got["age_min"], want["age_min"])
    np.testing.assert_array_equal(got["age_max"], want["age_max"])

    def events(frame):
        return sorted(zip(frame["patient_uid"], frame["event"].astype(str), frame["day"],
                          strict=True))
    assert events(cohort.events) == events(truth.events)

    def labs(frame):
        frame = frame.sort_values(["patient_uid", "analyte", "day", "lower", "upper"])
        return frame[["patient_uid", "analyte", "censor", "day"]].astype(str).to_numpy(), \
            frame[["lower", "upper"]].to_numpy(float)
    got_keys, got_values = labs(cohort.labs)
    want_keys, want_values = labs(truth.labs)
    np.testing.assert_array_equal(got_keys, want_keys)
    np.testing.assert_allclose(got_values, want_values, rtol=1e-9)
    assert set(cohort.labs["censor"].astype(str)) >= {"none"}


def test_demo_reload_is_identical_and_moved_root_still_loads(demo, tmp_path):
    root, truth, cohort = demo
    moved = tmp_path / "elsewhere"
    shutil.copytree(root, moved)
    again = covidimg.load({"crdw": str(moved)}, progress=True)
    assert len(again.files) == truth.n_files
    pd.testing.assert_series_equal(
        again.images.sort_values("image_uid")["day"].reset_index(drop=True),
        cohort.images.sort_values("image_uid")["day"].reset_index(drop=True))
