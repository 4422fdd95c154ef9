"""covidimg export: tables that reload to the same cohort, the image table, PNG/NIfTI images
(resumable, no text from the DICOM), manifests and a README naming licences and citations."""

from __future__ import annotations

import io
import json
import struct

import nibabel as nib
import pandas as pd
import pytest
from PIL import Image

import covidimg as ci
from covidimg.cli import main
from covidimg.export import export_cohort, open_export

#: DICOM attributes that identify a person or place (PS3.15 Basic Profile); none may be a
#: column of an exported table.
IDENTIFYING = ("PatientName", "PatientBirthDate", "PatientAddress", "InstitutionName",
               "InstitutionAddress", "ReferringPhysicianName", "OperatorsName",
               "AccessionNumber", "OtherPatientIDs", "PatientComments")


@pytest.fixture(scope="module")
def selection(demo_cohort):  # type: ignore[no-untyped-def]
    return demo_cohort.filter(modality=["CR", "DX"], source=["mhh", "tcia", "midrc"]).split(
        test=0.2, stratify=["source", "covid_status"])


def _png_chunks(data: bytes) -> list[bytes]:
    chunks, at = [], 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        chunks.append(kind)
        at += 12 + length
    return chunks


def test_tables_reload_to_the_same_cohort(selection, tmp_path):
    dest = export_cohort(selection, tmp_path / "out", labels=["covid_status", "sex", "exam"],
                         progress=False)
    again = open_export(dest)
    for name, frame in selection.tables().items():
        pd.testing.assert_frame_equal(getattr(again, name), frame, check_exact=True)
    dictionary = (dest / "data-dictionary.md").read_text()
    assert "## `patients`" in dictionary and "`split`" in dictionary


def test_image_table_has_one_row_per_image_with_labels_and_split(selection, tmp_path):
    dest = export_cohort(selection, tmp_path / "out", labels=["covid_status", "sex", "exam"],
                         progress=False)
    table = pd.read_parquet(dest / "images.parquet")
    assert table["image_uid"].tolist() == selection.images["image_uid"].tolist()
    assert table["file"].tolist() == selection.images["path"].tolist()   # no files exported
    side = selection.patients.set_index("patient_uid")["split"].astype(str)
    assert (table["split"].astype(str) == table["patient_uid"].map(side)).all()
    status = selection.patients.set_index("patient_uid")["covid_status"].astype(str)
    assert (table["covid_status"].astype(str) == table["patient_uid"].map(status)).all()
    assert (table["exam"].astype(str) == selection.images["exam"].astype(str)).all()
    with pytest.raises(ValueError, match="labels"):
        export_cohort(selection, tmp_path / "bad", labels=["path"], progress=False)


def test_png_images_are_pixels_only_and_resume(selection, tmp_path):
    dest = export_cohort(selection, tmp_path / "out", images="png", size=64, n_jobs=2,
                         progress=False)
    table = pd.read_parquet(dest / "images.parquet")
    assert table["file"].notna().all()
    for name in table["file"]:
        data = (dest / name).read_bytes()
        assert _png_chunks(data) == [b"IHDR", b"IDAT", b"IEND"]
        assert Image.open(io.BytesIO(data)).size == (64, 64)
    first = dest / table["file"].iloc[0]
    second = dest / table["file"].iloc[1]
    stamp = second.stat().st_mtime_ns
    first.unlink()
    export_cohort(selection, dest, images="png", size=64, progress=False)
    assert first.is_file() and second.stat().st_mtime_ns == stamp   # only the missing one
    with pytest.raises(ValueError, match="size: 64 then, 128 now"):
        export_cohort(selection, dest, images="png", size=128, progress=False)


def test_nifti_images_carry_no_description(selection, tmp_path):
    part = selection.filter(source="mhh")
    dest = export_cohort(part, tmp_path / "out", images="nifti", size=32, progress=False)
    files = pd.read_parquet(dest / "images.parquet")["file"]
    image = nib.load(dest / files.iloc[0])
    assert image.shape == (32, 32) and image.header["descrip"].item() == b""


def test_no_identifying_fields_in_the_tables(selection, tmp_path):
    dest = export_cohort(selection, tmp_path / "out", format="csv", progress=False)
    for path in (dest / "tables").glob("*.csv"):
        header = path.read_text().splitlines()[0].split(",")
        assert not set(header) & set(IDENTIFYING), path.name


def test_manifests_for_what_is_remote(selection, tmp_path):
    images = selection.images.copy()
    midrc = images["source"] == "midrc"
    images.loc[midrc, "path"] = [f"s3://idc-open-data/{i:08d}-uuid/" for i in range(midrc.sum())]
    images["object_id"] = None
    images.loc[midrc, "object_id"] = [f"dg.MD1R/{i:012d}" for i in range(midrc.sum())]
    images.loc[images.index[0], "path"] = "s3://bucket/x; rm -rf ~/"          # never written
    remote = ci.Cohort(**{**selection.tables(), "images": images})
    dest = export_cohort(remote, tmp_path / "out", progress=False)
    s5cmd = (dest / "manifests" / "idc-s5cmd.txt").read_text().splitlines()
    assert len(s5cmd) == midrc.sum() - int(midrc.iloc[0])
    assert s5cmd[0].startswith("cp s3://idc-open-data/") and s5cmd[0].endswith("/")
    assert all("rm -rf" not in line for line in s5cmd)
    tcia = (dest / "manifests" / "tcia.tcia").read_text().splitlines()
    assert tcia[4] == "manifestVersion=3.0" and tcia[5] == "ListOfSeriesToDownload="
    expected = selection.images.loc[selection.images["source"] == "tcia", "series_uid"]
    assert tcia[6:] == list(dict.fromkeys(expected.astype(str)))
    gen3 = json.loads((dest / "manifests" / "midrc-gen3.json").read_text())
    assert [g["object_id"] for g in gen3] == images.loc[midrc, "object_id"].tolist()


def test_readme_names_licences_citations_and_terms(selection, tmp_path):
    dest = export_cohort(selection, tmp_path / "out", progress=False)
    readme = (dest / "README.md").read_text()
    assert len(selection.provenance)
    for row in selection.provenance.itertuples():
        for value in (row.license, row.citation, row.terms):
            if isinstance(value, str) and value:
                assert value.replace("|", "\\|") in readme


def test_the_command_line_exports_a_saved_cohort(selection, tmp_path, capsys):
    selection.save(tmp_path / "cohort")
    assert main(["export", str(tmp_path / "cohort"), str(tmp_path / "out"), "--images", "png",
                 "--size", "32", "--test", "0.3", "--stratify", "source", "-q"]) == 0
    table = pd.read_parquet(tmp_path / "out" / "images.parquet")
    assert set(table["split"].astype(str)) == {"train", "test"}
    assert (tmp_path / "out" / table["file"].iloc[0]).is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("x")
    assert main(["export", str(tmp_path / "cohort"), str(tmp_path / "other")]) == 2
    assert "holds other files" in capsys.readouterr().err
