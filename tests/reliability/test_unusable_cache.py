"""An unusable cache folder (a file, or below a file) never stops a load or a thumbnail: the
work goes on without the cache and a warning says so."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import pytest

import covidimg as ci
from covidimg.demo.dicom_writer import write_dicom
from covidimg.errors import IndexCacheWarning
from covidimg.imaging import thumbnail, thumbnails


@pytest.fixture()
def tcia_tree(tmp_path: Path) -> Path:
    series = tmp_path / "tcia" / "COVID-19-AR" / "P1" / "01-01-2000-1-CHEST-1" / "1.000000-AP-1"
    series.mkdir(parents=True)
    write_dicom(series / "1-1.dcm", np.zeros((8, 8), np.float32), modality="CR",
                patient_id="P1", study_uid="1.2.3.1", series_uid="1.2.3.2", sop_uid="1.2.3.3",
                study_date=dt.date(2000, 1, 1))
    return tmp_path / "tcia"


@pytest.mark.parametrize("where", ["a file", "below a file"])
def test_a_load_goes_on_without_an_unusable_index_cache(tcia_tree: Path, tmp_path: Path,
                                                       monkeypatch, where: str) -> None:
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("x")
    monkeypatch.setenv("COVIDIMG_CACHE", str(blocker if where == "a file" else blocker / "c"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cohort = ci.load({"tcia": tcia_tree}, progress=False, executor=False)
    assert len(cohort.images) == 1
    cache_warnings = [w for w in caught if issubclass(w.category, IndexCacheWarning)]
    assert len(cache_warnings) == 1, [str(w.message) for w in caught]
    assert "without a cache" in str(cache_warnings[0].message)


def test_an_explicit_cache_folder_that_is_a_file(tcia_tree: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.warns(IndexCacheWarning, match="without a cache"):
        cohort = ci.load({"tcia": tcia_tree}, progress=False, executor=False,
                         index_cache=blocker)
    assert len(cohort.images) == 1 and blocker.read_text() == "x"


def test_thumbnails_go_on_without_an_unusable_cache(tcia_tree: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "thumbs-is-a-file"
    blocker.write_text("x")
    image = str(next(tcia_tree.rglob("*.dcm")))
    with pytest.warns(UserWarning, match="without a cache"):
        png = thumbnail(image, size=16, cache_dir=blocker)
    assert png.startswith(b"\x89PNG")
    with pytest.warns(UserWarning, match="without a cache"):
        batch = thumbnails([image], size=16, cache_dir=blocker, progress=False)
    assert len(batch.images) == 1
