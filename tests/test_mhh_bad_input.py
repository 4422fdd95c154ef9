"""Bad MHH input: clear errors or findings naming the file, row and value."""

from __future__ import annotations

import gzip
import os
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import covidimg as ci
from covidimg.sources import mhh


@pytest.fixture
def small_mhh(mhh_dir, tmp_path):
    """A copy of the first 12 rows of the real data with their PNGs."""
    raw = pd.read_csv(mhh_dir / "data.csv", dtype=str, keep_default_na=False).head(12)
    (tmp_path / "png").mkdir()
    for image_id in raw["image_id"]:
        shutil.copy(mhh_dir / "png" / f"{image_id}.png", tmp_path / "png")
    raw.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path, raw


def findings(cohort, kind):
    return cohort.findings[cohort.findings["kind"] == kind]


def test_missing_required_column_is_an_error_naming_the_file(small_mhh):
    root, raw = small_mhh
    raw.drop(columns=["admission_offset"]).to_csv(root / "data.csv", index=False)
    with pytest.raises(ci.LoadError, match=r"data\.csv: required columns \['admission_offset'\]"):
        ci.load({"mhh": root})


def test_missing_optional_column_is_a_finding(small_mhh):
    root, raw = small_mhh
    raw.drop(columns=["ldh_val"]).to_csv(root / "data.csv", index=False)
    cohort = ci.load(root)
    assert "'ldh_val' is missing" in findings(cohort, "missing_column")["detail"].iat[0]
    assert "ldh" not in set(cohort.labs["analyte"].astype(str))


def test_non_numeric_offset_names_line_column_and_describes_the_value(small_mhh):
    root, raw = small_mhh
    raw.loc[3, "icu_admission_offset"] = "three"
    raw.loc[5, "crp_val"] = "12,5a"
    raw.to_csv(root / "data.csv", index=False)
    cohort = ci.load(root)
    bad = findings(cohort, "unparseable_value")
    assert len(bad) == 2
    assert "line 5, column 'icu_admission_offset': a text of 5 characters (letters) is not a " \
        "number" in bad["detail"].iat[0]
    assert bad["path"].iat[0].endswith("data.csv:5")
    assert "a text of 5 characters (letters, digits, punctuation)" in bad["detail"].iat[1]
    assert len(cohort.images) == 12


def test_unknown_modality_rejects_the_image_with_a_finding(small_mhh):
    root, raw = small_mhh
    raw.loc[0, "modality"] = "US"
    raw.to_csv(root / "data.csv", index=False)
    cohort = ci.load(root)
    assert len(cohort.images) == 11
    detail = findings(cohort, "unknown_value")["detail"].iat[0]
    assert "modality 'US'" in detail and "line 2" in detail
    png = os.fspath(root / "png" / f"{raw.loc[0, 'image_id']}.png")
    assert cohort.files.set_index("path").at[png, "status"] == "rejected"
    assert not (cohort.labs["image_uid"] == f"mhh:{raw.loc[0, 'image_id']}").any()


def test_unreadable_png_is_rejected_and_the_exam_kept(small_mhh):
    root, raw = small_mhh
    target = root / "png" / f"{raw.loc[2, 'image_id']}.png"
    target.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    cohort = ci.load(root)
    files = cohort.files.set_index("path")
    assert files.at[os.fspath(target), "status"] == "rejected"
    assert "unreadable PNG" in files.at[os.fspath(target), "reason"]
    assert len(findings(cohort, "unreadable_file")) == 1
    assert len(findings(cohort, "missing_image_file")) == 1
    assert len(cohort.images) == 12


def test_admission_after_icu_is_kept_and_reported(small_mhh):
    root, raw = small_mhh
    icu_rows = raw.index[raw["icu_admission_offset"] != ""]
    idx = icu_rows[0]
    raw.loc[idx, "icu_admission_offset"] = str(float(raw.loc[idx, "admission_offset"]) - 3)
    raw.to_csv(root / "data.csv", index=False)
    cohort = ci.load(root)
    found = findings(cohort, "admission_after_icu")
    assert found["patient_uid"].tolist() == [f"mhh:{raw.loc[idx, 'patient_id']}"]
    image = cohort.images.set_index("image_uid").loc[f"mhh:{raw.loc[idx, 'image_id']}"]
    assert image["icu_admission_offset"] < image["admission_offset"]


def test_events_disagreeing_across_exams_are_reported(small_mhh):
    root, raw = small_mhh
    counts = raw.groupby("patient_id").size()
    pid = counts[counts > 1].index[0]
    rows = raw.index[raw["patient_id"] == pid]
    raw.loc[rows[0], "death_offset"] = "5.0"
    raw.loc[rows[1], "death_offset"] = str(5.0 + float(raw.loc[rows[1], "admission_offset"])
                                           - float(raw.loc[rows[0], "admission_offset"]) + 2)
    raw.to_csv(root / "data.csv", index=False)
    cohort = ci.load(root)
    found = findings(cohort, "inconsistent_event")
    assert len(found) == 1 and "death falls on different days" in found["detail"].iat[0]


def test_stray_and_unreferenced_files_are_recorded(small_mhh):
    root, raw = small_mhh
    (root / "notes.xlsx").write_bytes(b"x")
    shutil.copy(root / "png" / f"{raw.loc[0, 'image_id']}.png", root / "png" / "deadbeef.png")
    (root / "v1_cov19_nii.tar").write_bytes(b"")
    cohort = ci.load(root)
    files = cohort.files.set_index("path")
    assert files.at[os.fspath(root / "notes.xlsx"), "reason"] == "not part of the MHH layout"
    assert "no row in data.csv" in files.at[os.fspath(root / "png" / "deadbeef.png"), "reason"]
    assert len(findings(cohort, "withdrawn_release")) == 1
    assert len(files) == sum(1 for p in root.rglob("*") if p.is_file())


def test_nifti_is_preferred_and_recorded_as_transposed(small_mhh):
    root, raw = small_mhh
    (root / "nii").mkdir()
    image_id = raw.loc[0, "image_id"]
    stored = np.zeros((300, 200), dtype=np.int16)  # transposed: 200 rows x 300 columns
    nib.save(nib.Nifti1Image(stored, np.eye(4)), root / "nii" / f"{image_id}.nii.gz")
    broken = raw.loc[1, "image_id"]
    (root / "nii" / f"{broken}.nii.gz").write_bytes(gzip.compress(b"not a nifti"))
    cohort = ci.load(root)
    image = cohort.images.set_index("image_uid").loc[f"mhh:{image_id}"]
    assert image["format"] == "nifti" and bool(image["stored_transposed"])
    assert (image["rows"], image["columns"]) == (200, 300)
    assert image["preview_path"].endswith(f"{image_id}.png")
    other = cohort.images.set_index("image_uid").loc[f"mhh:{broken}"]
    assert other["format"] == "png"
    assert "unreadable NIfTI" in cohort.files.set_index("path").at[
        os.fspath(root / "nii" / f"{broken}.nii.gz"), "reason"]


def test_missing_png_folder_keeps_exams(small_mhh):
    root, _ = small_mhh
    shutil.rmtree(root / "png")
    cohort = ci.load(root)
    assert len(cohort.images) == 12
    assert len(findings(cohort, "missing_image_file")) == 12


def test_unreadable_csv_and_missing_csv(tmp_path):
    with pytest.raises(ci.LoadError, match="data.csv not found"):
        mhh.load(tmp_path)
    (tmp_path / "data.csv").write_bytes(b'patient_id,image_id,admission_offset\n"a,b\n')
    with pytest.raises(ci.LoadError, match="cannot be read as CSV"):
        mhh.load(tmp_path)


def test_detection_error_says_what_it_looked_for(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ci.SourceDetectionError, match="(?s)Looked for:.*mhh: data.csv"):
        ci.load(tmp_path)
    with pytest.raises(ci.SourceDetectionError, match="is not a folder"):
        ci.load(tmp_path / "nope")
