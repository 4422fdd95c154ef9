"""Real odd DICOM files from pydicom's own test set, through every DICOM-based loader.

Each case copies real files (``pydicom.data.get_testdata_file``; the larger ones come with the
``pydicom-data`` package, installed locally, so nothing is downloaded) into a temporary tree
laid out as the source writes it, loads it with :func:`covidimg.load`, and checks the rule of
the shared engine (``docs/reliability.md``, "Odd DICOM files"):

* a series of one file (a multi-frame file alone in its folder) has the file as its path, and
  :func:`covidimg.imaging.read_image` reads all its frames;
* ``read_image`` reads exactly the files the loader counted in ``n_instances``: never a copy
  set aside as ``duplicate`` nor a file ``rejected`` as truncated;
* UIDs are identifiers: a CT whose UIDs are hexadecimal strings (pydicom reads it) loads;
* an image without a Patient ID is rejected with a ``missing_identifier`` finding, never a
  ``<source>:None`` patient;
* copies of one instance inside one zip are counted once, the copies recorded as duplicates;
* an image file without pixel data (a header only) is rejected with a finding.
"""

from __future__ import annotations

import glob
import os
import shutil
import zipfile
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

import covidimg as ci
from covidimg.errors import DicomReadError
from covidimg.imaging import read_image
from covidimg.sources._engine.dicom import read_header
from covidimg.sources._engine.header_scan import read_header_fast

COLLECTION = "COVID-19-AR"
TEST_FILES = Path(os.path.dirname(get_testdata_file("CT_small.dcm")))
#: Five 16 x 16 slices of one real CT series (pydicom's DICOMDIR test set).
CT5N = sorted(glob.glob(str(TEST_FILES / "dicomdirtests" / "98892001" / "CT5N" / "*")))
#: CT instances written without pixel data (pydicom's DICOMDIR test set "TINY_ALPHA").
HEADER_ONLY_CT = sorted(glob.glob(str(TEST_FILES / "dicomdirtests" / "TINY_ALPHA" / "PT000000"
                                      / "ST000000" / "SE000000" / "IM*")))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COVIDIMG_CACHE", str(tmp_path / "cache"))


def _series_uid(path: str) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


def tcia_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """An NBIA tree ``<root>/COVID-19-AR/<files>``: each value a file to copy or bytes."""
    for rel, src in files.items():
        dest = root / COLLECTION / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, bytes):
            dest.write_bytes(src)
        else:
            shutil.copyfile(src, dest)
    return root


def load_tcia(root: Path) -> ci.Cohort:
    return ci.load({"tcia": str(root)}, index_cache=False)


def files_by_name(cohort: ci.Cohort) -> dict[str, tuple[str, str]]:
    return {os.path.basename(p): (s, r) for p, s, r in
            zip(cohort.files["path"], cohort.files["status"], cohort.files["reason"],
                strict=True)}


def kinds(cohort: ci.Cohort) -> list[str]:
    return sorted(cohort.findings["kind"])


# ---------------------------------------------------------------------- multi-frame
def test_multi_frame_ct_alone_in_its_folder_is_read_from_its_row(tmp_path):
    source = get_testdata_file("eCT_Supplemental.dcm")  # Enhanced CT, 2 frames of 512 x 512
    root = tcia_tree(tmp_path, {"0010/study/series/1-1.dcm": source})
    cohort = load_tcia(root)
    (row,) = cohort.images.itertuples()
    assert row.modality == "CT" and row.n_instances == 1
    assert row.path == str(root / COLLECTION / "0010" / "study" / "series" / "1-1.dcm")
    pixels = read_image(cohort.images.iloc[0], voi=False)
    assert pixels.shape == (2, 512, 512)  # the file's NumberOfFrames, as pydicom reads it
    assert read_image(cohort.images.iloc[0], slice_index=-1, voi=False).shape == (512, 512)


# ---------------------------------------------------------------------- duplicates, truncation
def test_read_image_skips_the_copy_the_loader_set_aside(tmp_path):
    root = tcia_tree(tmp_path, {"98890234/study/series/a.dcm": CT5N[0],
                                "98890234/study/series/b.dcm": CT5N[1],
                                "98890234/study/series/c.dcm": CT5N[2],
                                "98890234/study/series/d.dcm": CT5N[2]})  # a copy of c
    cohort = load_tcia(root)
    (row,) = cohort.images.itertuples()
    assert row.n_instances == 3
    assert files_by_name(cohort)["d.dcm"][0] == "duplicate"
    assert "duplicate_instance" in kinds(cohort)
    assert read_image(cohort.images.iloc[0], voi=False).shape == (3, 16, 16)


def test_read_image_skips_the_truncated_file_the_loader_rejected(tmp_path):
    cut = Path(CT5N[3]).read_bytes()[:-200]  # cut as pydicom's MR_truncated.dcm is
    root = tcia_tree(tmp_path, {"98890234/study/series/a.dcm": CT5N[0],
                                "98890234/study/series/b.dcm": CT5N[1],
                                "98890234/study/series/c.dcm": CT5N[2],
                                "98890234/study/series/d.dcm": cut})
    cohort = load_tcia(root)
    (row,) = cohort.images.itertuples()
    assert row.n_instances == 3
    status, reason = files_by_name(cohort)["d.dcm"]
    assert status == "rejected" and "pixel data is truncated" in reason
    assert "unreadable_file" in kinds(cohort)
    pixels = read_image(cohort.images.iloc[0], voi=False)
    assert pixels.shape == (3, 16, 16)
    # the three slices read are the three files used, in slice order (feet to head)
    slices = [pydicom.dcmread(p) for p in CT5N[:3]]
    slices.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    for slot, ds in zip(pixels, slices, strict=True):
        hounsfield = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert (slot == hounsfield).all()


def test_pydicoms_truncated_mr_is_rejected(tmp_path):
    root = tcia_tree(tmp_path, {"4MR1/study/series/1.dcm": get_testdata_file("MR_truncated.dcm")})
    cohort = load_tcia(root)
    assert len(cohort.images) == 0 and len(cohort.patients) == 0
    status, reason = files_by_name(cohort)["1.dcm"]
    assert status == "rejected" and "pixel data is truncated" in reason
    assert kinds(cohort) == ["no_images", "unreadable_file"]


@pytest.mark.parametrize("name", ["MR_truncated.dcm", "MR_small.dcm", "CT_small.dcm",
                                  "MR_small_implicit.dcm", "MR_small_bigendian.dcm",
                                  "JPEG2000.dcm"])
def test_both_header_readers_decide_alike_on_every_cut(tmp_path, name):
    """The byte scanner and pydicom refuse (or accept) a file cut anywhere around its pixel
    data element with the same words."""
    data = Path(get_testdata_file(name)).read_bytes()
    start = data.find(b"\xe0\x7f\x10\x00")  # (7FE0,0010) little endian
    if start < 0:
        start = data.find(b"\x7f\xe0\x00\x10")  # big endian
    assert start > 0
    cuts = sorted({*range(max(start - 4, 0), min(start + 16, len(data))), len(data) - 1,
                   len(data)})
    for cut in cuts:
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(data[:cut])
        outcomes = []
        for reader in (read_header, read_header_fast):
            try:
                outcomes.append(("ok", reader(str(path)).sop_uid))
            except DicomReadError as exc:
                outcomes.append(("refused", exc.reason))
        assert outcomes[0] == outcomes[1], (name, cut, outcomes)
        if cut < start + 16 and name != "JPEG2000.dcm":  # NM is not an image modality here
            assert outcomes[0][0] == "refused", (name, cut)


# ---------------------------------------------------------------------- UIDs, patient ids
def test_hexadecimal_uids_are_identifiers(tmp_path):
    source = get_testdata_file("bad_sequence.dcm")  # a real CT; its UIDs are hex strings
    ds = pydicom.dcmread(source)
    root = tcia_tree(tmp_path, {f"{ds.PatientID}/study/series/1.dcm": source})
    cohort = load_tcia(root)
    (row,) = cohort.images.itertuples()
    assert (row.modality, row.series_uid, row.study_uid) == (
        "CT", str(ds.SeriesInstanceUID), str(ds.StudyInstanceUID))
    assert row.image_uid == f"tcia:{ds.SeriesInstanceUID}"
    assert cohort.patients["patient_uid"].tolist() == [f"tcia:{ds.PatientID}"]
    assert read_image(cohort.images.iloc[0], voi=False).shape == (ds.Rows, ds.Columns)


def test_an_image_without_patient_id_is_rejected_not_patient_none(tmp_path):
    source = get_testdata_file("emri_small.dcm")  # Enhanced MR with an empty PatientID
    root = tcia_tree(tmp_path, {"P1/study/series/1.dcm": source,
                                "4MR1/study/series/1.dcm": get_testdata_file("MR_small.dcm")})
    cohort = load_tcia(root)
    assert cohort.patients["patient_uid"].tolist() == ["tcia:4MR1"]
    assert not cohort.patients["patient_uid"].str.endswith(":None").any()
    rejected = cohort.files[cohort.files["status"] == "rejected"]
    assert [Path(p).parts[-4] for p in rejected["path"]] == ["P1"]
    assert rejected["reason"].str.contains("no Patient ID").all()
    assert kinds(cohort).count("missing_identifier") == 1


# ---------------------------------------------------------------------- zips
def _three_copies(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for k in range(3):
            zf.write(source, f"1-series/IM-{k + 1:04d}.dcm")
    return path


def test_three_copies_in_one_tcia_zip_count_once(tmp_path):
    _three_copies(tmp_path / COLLECTION / "98890234" / "study.zip", CT5N[0])
    cohort = load_tcia(tmp_path)
    (row,) = cohort.images.itertuples()
    assert row.n_instances == 1
    assert kinds(cohort).count("duplicate_instance") == 2
    (zip_row,) = cohort.files.itertuples()
    assert zip_row.status == "used" and "2 duplicate, 1 used" in zip_row.reason
    assert read_image(cohort.images.iloc[0], voi=False).shape == (16, 16)


def test_three_copies_in_one_crdw_zip_count_once(tmp_path):
    batch = tmp_path / "CT-UPDATE-20200523-COMPLETE"
    _three_copies(batch / "98890234_20200301-120000_A001_CT-CHEST-WO.zip", CT5N[0])
    cohort = ci.load({"crdw": str(tmp_path)}, index_cache=False)
    (row,) = cohort.images.itertuples()
    assert row.n_instances == 1
    assert kinds(cohort).count("duplicate_instance") == 2
    assert read_image(cohort.images.iloc[0], voi=False).shape == (16, 16)


# ---------------------------------------------------------------------- no pixel data
def test_a_ct_series_without_pixel_data_is_rejected_with_findings(tmp_path):
    assert len(HEADER_ONLY_CT) >= 5
    root = tcia_tree(tmp_path, {f"12345678/study/series/{Path(p).name}": p
                                for p in HEADER_ONLY_CT[:5]})
    cohort = load_tcia(root)
    assert len(cohort.images) == 0 and len(cohort.patients) == 0
    assert set(cohort.files["status"]) == {"rejected"}
    assert cohort.files["reason"].str.contains("without pixel data").all()
    assert kinds(cohort) == ["no_images"] + ["unreadable_file"] * 5


def test_header_only_files_are_not_counted_beside_real_slices(tmp_path):
    """A series folder holding real slices and a header-only copy of another instance: the
    row counts the real slices and the reader reads them."""
    header_only = HEADER_ONLY_CT[0]
    root = tcia_tree(tmp_path, {"98890234/study/series/a.dcm": CT5N[0],
                                "98890234/study/series/b.dcm": CT5N[1],
                                "98890234/study/series/z.dcm": header_only})
    cohort = load_tcia(root)
    series = cohort.images[cohort.images["series_uid"] == _series_uid(CT5N[0])]
    assert series["n_instances"].tolist() == [2]
    assert read_image(series.iloc[0], voi=False).shape == (2, 16, 16)
    assert files_by_name(cohort)["z.dcm"][0] == "rejected"
