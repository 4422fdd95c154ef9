"""The incremental index cache: unchanged files are not read again, changes are picked up,
a damaged cache is detected and rebuilt."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.demo.large import write_dicom_tree
from covidimg.errors import IndexCacheWarning
from covidimg.paths import cache_dir
from covidimg.sources._engine.index import images_from_index, index_dicom
from covidimg.sources._engine.index_cache import CACHE_VERSION, IndexCache, cache_path_for
from covidimg.sources._engine.ledger import Ledger


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    write_dicom_tree(tmp_path / "tree", n_radiographs=12, n_ct_series=1, slices=24,
                     rng=np.random.default_rng(11))
    return tmp_path / "tree"


def _paths(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.dcm"))


def _index(root: Path, cache: Path):  # type: ignore[no-untyped-def]
    return index_dicom(_paths(root), Ledger("tcia"), executor=False, cache=cache)


def _table(index) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return images_from_index(index, "tcia")


def test_reindex_of_an_unchanged_tree_reads_no_file(tree: Path, tmp_path: Path) -> None:
    first = _index(tree, tmp_path / "c")
    assert first.counts["cached"] == 0
    again = _index(tree, tmp_path / "c")
    assert again.counts == {"files": 36, "cached": 36, "read": 0, "inferred": 21}
    pd.testing.assert_frame_equal(_table(again), _table(first))
    assert again.sampling == first.sampling


def test_changed_new_and_deleted_files_are_picked_up(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    first = _index(tree, cache)
    radiographs = sorted(p for p in _paths(tree) if p.endswith("1-1.dcm"))
    changed, deleted = Path(radiographs[0]), Path(radiographs[1])
    old = next(h for h in first.headers if h.path == str(changed))
    rng = np.random.default_rng(12)
    write_dicom(changed, np.zeros((8, 8), np.float32), modality="DX",
                patient_id=old.patient_id, study_uid=old.study_uid,
                series_uid=old.series_uid, sop_uid=old.sop_uid,
                study_date=dt.date(2021, 1, 2), view="LAT")
    os.utime(changed, ns=(1, 1_000_000_000))  # even an mtime going back is a change
    deleted.unlink()
    new = tree / "new" / "x.dcm"
    new.parent.mkdir()
    write_dicom(new, np.zeros((8, 8), np.float32), modality="CR", patient_id="NEW",
                study_uid=uid(rng), series_uid=uid(rng), sop_uid=uid(rng),
                study_date=dt.date(2021, 1, 3), view="PA")
    again = _index(tree, cache)
    assert again.counts["read"] == 2  # the changed and the new file, nothing else
    by_path = {h.path: h for h in again.headers}
    assert by_path[str(changed)].view == "LAT"
    assert by_path[str(changed)].study_date == dt.date(2021, 1, 2)
    assert str(new) in by_path and str(deleted) not in by_path
    stored = IndexCache(cache_path_for(str(tree), cache))  # type: ignore[arg-type]
    assert stored.load()
    assert str(deleted) not in stored.files and str(new) in stored.files
    fresh = index_dicom(_paths(tree), Ledger("tcia"), executor=False, cache=False)
    pd.testing.assert_frame_equal(_table(again), _table(fresh))


def test_changed_slice_of_a_sampled_series_resamples_the_folder(tree: Path,
                                                                 tmp_path: Path) -> None:
    cache = tmp_path / "c"
    _index(tree, cache)
    series = sorted(p for p in _paths(tree) if "AXIAL" in p)
    Path(series[-1]).unlink()  # the last slice goes: the folder is indexed again
    again = _index(tree, cache)
    assert again.counts["read"] == 3 and again.counts["inferred"] == 20
    ct = _table(again).query("modality == 'CT'")
    assert ct["n_instances"].tolist() == [23]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "other_version"])
def test_damaged_cache_is_detected_and_rebuilt(tree: Path, tmp_path: Path, damage: str) -> None:
    cache = tmp_path / "c"
    first = _index(tree, cache)
    path = Path(cache_path_for(str(tree), cache))  # type: ignore[arg-type]
    blob = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "flip":  # in the snapshot, which every re-index checks (the entries
        # are checked when first needed: tests/test_index_cache_snapshot.py)
        head, toc, _ = blob.split(b"\n", 2)
        middle = len(head) + len(toc) + 2 + int(toc.split(b" ")[0]) // 2
        path.write_bytes(blob[:middle] + bytes([blob[middle] ^ 0xFF]) + blob[middle + 1:])
    elif damage == "garbage":
        path.write_bytes(os.urandom(4096))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(blob.replace(f"covidimg-dicom-index {CACHE_VERSION}".encode(),
                                      b"covidimg-dicom-index 0", 1))
    with pytest.warns(IndexCacheWarning, match=str(path)):
        rebuilt = _index(tree, cache)
    assert rebuilt.counts["cached"] == 0
    pd.testing.assert_frame_equal(_table(rebuilt), _table(first))
    assert _index(tree, cache).counts["cached"] == 36  # and the rebuilt cache is whole


def test_cache_lives_under_cache_dir_and_is_written_atomically(tree: Path) -> None:
    index_dicom(_paths(tree), Ledger("tcia"), executor=False)  # cache=True: the default
    folder = cache_dir("dicom-index")
    path = Path(cache_path_for(str(tree)))  # type: ignore[arg-type]
    assert path.parent == folder and path.is_file()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert str(folder).startswith(os.environ["COVIDIMG_CACHE"])


def test_cache_off_writes_nothing(tree: Path, tmp_path: Path) -> None:
    index_dicom(_paths(tree), Ledger("tcia"), executor=False, cache=False)
    assert not Path(cache_path_for(str(tree), tmp_path / "c")).exists()  # type: ignore[arg-type]


def test_reindex_records_the_same_findings_and_states(tree: Path, tmp_path: Path) -> None:
    (tree / "broken.dcm").write_bytes(b"not a DICOM file")
    radiograph = next(p for p in _paths(tree) if p.endswith("1-1.dcm"))
    copy = tree / "copy.dcm"
    copy.write_bytes(Path(radiograph).read_bytes())
    ledgers, indexes = [], []
    for _ in range(2):
        ledger = Ledger("tcia")
        indexes.append(index_dicom(_paths(tree), ledger, executor=False, cache=tmp_path / "c"))
        ledgers.append(ledger)
    assert indexes[1].counts["read"] == 0
    assert indexes[1].state == indexes[0].state and indexes[1].inferred == indexes[0].inferred
    assert indexes[1].state[str(copy)][0] == "duplicate"
    pd.testing.assert_frame_equal(ledgers[1].findings_frame(), ledgers[0].findings_frame())
    assert sorted(ledgers[1].findings_frame()["kind"]) == ["duplicate_instance",
                                                          "unreadable_file"]
