"""``images.path`` / ``files.path`` name one thing whatever the file names.

Before: a file named ``x.zip::y.dcm`` beside ``x.zip`` got the zip member's path (reading it
showed the member's pixels) and ``x.zip`` vanished from ``files``; a zip with two members of
one name gave two rows with one path and no finding, and reading the first returned the
second's pixels. Now names are escaped by the one encode / decode pair of
:mod:`covidimg.table_paths`, later copies of a member name are ``duplicate`` with a
``duplicate_archive_member`` finding, and every reader opens the first copy.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import zipfile
from pathlib import Path

import numpy as np
import pytest

import covidimg as ci
from covidimg.demo.dicom_writer import write_dicom
from covidimg.imaging import read_image
from covidimg.table_paths import (
    file_path,
    member_path,
    quote_name,
    split_path,
    unquote_name,
)

ALPHABET = "%:253Ax/"
SERIES = ("CT Images in COVID-19", "P1", "01-01-2000-1-CHEST-1", "1.000000-AP-1")


def _names(max_len: int) -> list[str]:
    return [""] + ["".join(p) for n in range(1, max_len + 1)
                   for p in itertools.product(ALPHABET, repeat=n)]


def test_quoting_round_trips_every_short_name() -> None:
    for name in _names(5):
        quoted = quote_name(name)
        assert unquote_name(quoted) == name, name
        assert "::" not in quoted and not quoted.startswith(":") and not quoted.endswith(":")


def test_member_paths_split_back_exactly() -> None:
    names = _names(3)
    seen: dict[str, tuple[str, str | None]] = {}
    for archive, member in itertools.product(names[1:], names):
        path = member_path(archive, member)
        assert split_path(path) == (archive, member), (archive, member)
        assert path not in seen, (path, seen.get(path), (archive, member))
        seen[path] = (archive, member)
    for name in names[1:]:
        path = file_path(name)
        assert split_path(path) == (name, None), name
        assert path not in seen, (path, seen[path], name)


@pytest.mark.parametrize("name", ["/data/tcia/P1/1-1.dcm", "C:\\scans\\50% dose.dcm",
                                  "s3://bucket/warehouse/x.dcm", "/d/a:b/c.dcm"])
def test_ordinary_names_are_written_as_they_are(name: str) -> None:
    assert file_path(name) == name
    assert member_path("/d/x.zip", name.lstrip("/")) == f"/d/x.zip::{name.lstrip('/')}"


def _dicom_bytes(sop: str, seed: int) -> tuple[bytes, np.ndarray]:
    pixels = np.random.default_rng(seed).integers(0, 4000, (8, 8)).astype(np.float32)
    buf = io.BytesIO()
    write_dicom(buf, pixels, modality="CR", patient_id="P1", study_uid="1.2.3.1",
                series_uid=f"1.2.3.2.{seed}", sop_uid=sop, study_date=dt.date(2000, 1, 1))
    return buf.getvalue(), pixels


def _tree(tmp_path: Path) -> Path:
    series = tmp_path.joinpath("tcia", *SERIES)
    series.mkdir(parents=True)
    return series


def _load(tmp_path: Path) -> ci.Cohort:
    return ci.load({"tcia": tmp_path / "tcia"}, progress=False, executor=False,
                   index_cache=False)


def _pixels_of(path: str) -> np.ndarray:
    return read_image(path, voi=False)


def test_a_file_named_like_a_zip_member_keeps_its_own_path_and_pixels(tmp_path: Path) -> None:
    series = _tree(tmp_path)
    member_bytes, _ = _dicom_bytes("1.2.3.3.1", seed=1)
    file_bytes, _ = _dicom_bytes("1.2.3.3.2", seed=2)
    with zipfile.ZipFile(series / "x.zip", "w") as zf:
        zf.writestr("y.dcm", member_bytes)
    (series / "x.zip::y.dcm").write_bytes(file_bytes)
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "member.dcm").write_bytes(member_bytes)
    (reference / "file.dcm").write_bytes(file_bytes)

    cohort = _load(tmp_path)
    files = cohort.files.set_index("path")["status"]
    assert files.get(str(series / "x.zip")) == "used"          # the zip is not lost
    assert files.get(str(series / "x.zip%3A%3Ay.dcm")) == "used"
    assert len(cohort.files) == 2
    paths = dict(zip(cohort.images["image_uid"], cohort.images["path"], strict=True))
    assert paths == {"tcia:1.2.3.3.1": f"{series / 'x.zip'}::y.dcm",
                     "tcia:1.2.3.3.2": str(series / "x.zip%3A%3Ay.dcm")}
    np.testing.assert_array_equal(_pixels_of(paths["tcia:1.2.3.3.1"]),
                                  _pixels_of(str(reference / "member.dcm")))
    np.testing.assert_array_equal(_pixels_of(paths["tcia:1.2.3.3.2"]),
                                  _pixels_of(str(reference / "file.dcm")))


def test_duplicate_member_names_are_reported_and_the_first_is_read(tmp_path: Path) -> None:
    series = _tree(tmp_path)
    first, _ = _dicom_bytes("1.2.3.3.1", seed=1)
    second, _ = _dicom_bytes("1.2.3.3.2", seed=2)
    archive = series / "bundle.zip"
    with pytest.warns(UserWarning, match="Duplicate name"), \
            zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("s/1.dcm", first)
        zf.writestr("s/1.dcm", second)
    (tmp_path / "first.dcm").write_bytes(first)

    cohort = _load(tmp_path)
    assert cohort.images["path"].tolist() == [f"{archive}::s/1.dcm"]
    assert cohort.images["image_uid"].tolist() == ["tcia:1.2.3.3.1"]
    [row] = cohort.files.to_dict("records")
    assert row["path"] == str(archive) and row["status"] == "used"
    assert "1 duplicate" in row["reason"] and "1 used" in row["reason"]
    hit = cohort.findings[cohort.findings["kind"] == "duplicate_archive_member"]
    assert hit["path"].tolist() == [f"{archive}::s/1.dcm::2"]
    np.testing.assert_array_equal(_pixels_of(f"{archive}::s/1.dcm"),
                                  _pixels_of(str(tmp_path / "first.dcm")))
    assert split_path(hit["path"].iat[0]) == (str(archive), "s/1.dcm")
