"""Looking series and studies up in IDC's real index through its memory-mapped copy.

The truth each look-up is compared with is the installed index itself, read and filtered
with pyarrow here. The copy is checked for what a shared cache folder may hold: a damaged
file, one with the wrong rows, one others may write (left alone, not used).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

pytest.importorskip("idc_index_data")

from covidimg.sources.idc import index, uid_lookup

COLUMNS = list(uid_lookup.COLUMNS)


@pytest.fixture(scope="module")
def real_index() -> pa.Table:
    return pq.read_table(index.index_file(), columns=COLUMNS)


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COVIDIMG_CACHE", str(tmp_path))
    return tmp_path / uid_lookup.SUBDIR


def _sample(real_index: pa.Table) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(19)
    rows = rng.choice(real_index.num_rows, size=300, replace=False)
    series = real_index["SeriesInstanceUID"].take(pa.array(rows[:200])).to_pylist()
    studies = real_index["StudyInstanceUID"].take(pa.array(rows[200:])).to_pylist()
    return [*series, "1.2.826.0.1.3680043.no.such.series"], studies


def _truth(real_index: pa.Table, series: list[str], studies: list[str]) -> pd.DataFrame:
    keep = pc.or_(pc.is_in(real_index["SeriesInstanceUID"], value_set=pa.array(series)),
                  pc.is_in(real_index["StudyInstanceUID"], value_set=pa.array(studies)))
    return real_index.filter(keep).to_pandas()


def _copy(cache: Path) -> Path:
    files = sorted(cache.glob("idc-index-data-*.arrow"))
    assert len(files) == 1, files
    return files[0]


def test_lookup_through_the_copy_equals_the_index(real_index, cache) -> None:
    series, studies = _sample(real_index)
    want = _truth(real_index, series, studies)
    assert len(want) >= 200          # every sampled series, and each sampled study's series
    first = index.lookup_series(series, studies)            # writes the copy
    copy = _copy(cache)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    again = index.lookup_series(series, studies)            # reads it
    for got in (first, again):
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_dtype=False)
    assert index.lookup_series([], []).empty


def test_a_damaged_copy_is_written_anew(real_index, cache) -> None:
    series, studies = _sample(real_index)
    index.lookup_series(series[:5], [])
    copy = _copy(cache)
    size = copy.stat().st_size
    copy.write_bytes(copy.read_bytes()[:4096])              # truncated
    got = index.lookup_series(series, studies)
    pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                  _truth(real_index, series, studies), check_dtype=False)
    assert _copy(cache).stat().st_size == size


def test_a_copy_with_other_rows_is_not_believed(real_index, cache) -> None:
    """A planted copy of the right shape but the wrong rows (here: a few, all with a forged
    collection) is replaced, never answered from."""
    series, studies = _sample(real_index)
    index.lookup_series(series[:5], [])
    copy = _copy(cache)
    forged = real_index.slice(0, 10).set_column(
        0, "collection_id", pa.array(["planted"] * 10, pa.large_string()))
    forged = pa.table({c: forged[c].cast(pa.large_string()) for c in COLUMNS})
    with pa.OSFile(str(copy), "wb") as sink, pa.ipc.new_file(sink, forged.schema) as writer:
        writer.write_table(forged)
    got = index.lookup_series(series, studies)
    assert "planted" not in set(got["collection_id"])
    pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                  _truth(real_index, series, studies), check_dtype=False)


def test_a_copy_others_may_write_is_left_alone_and_not_used(real_index, cache) -> None:
    series, studies = _sample(real_index)
    index.lookup_series(series[:5], [])
    copy = _copy(cache)
    with pa.OSFile(str(copy), "rb") as source:   # read, not mapped: the file is rewritten
        table = pa.ipc.open_file(source).read_all()
    planted = table.set_column(0, "collection_id",
                               pa.array(["planted"] * table.num_rows, pa.large_string()))
    with pa.OSFile(str(copy), "wb") as sink, pa.ipc.new_file(sink, planted.schema) as writer:
        writer.write_table(planted)
    os.chmod(copy, 0o666)
    before = copy.stat()
    got = index.lookup_series(series, studies)
    assert "planted" not in set(got["collection_id"])
    pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                  _truth(real_index, series, studies), check_dtype=False)
    after = copy.stat()
    assert (after.st_mtime_ns, after.st_size, stat.S_IMODE(after.st_mode)) == (
        before.st_mtime_ns, before.st_size, 0o666), "another user's file was changed"


def test_writing_a_copy_removes_older_copies_and_stale_staging_files(real_index, cache) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    older = cache / "idc-index-data-0.0.1-1-1-v1.arrow"
    stale = cache / ".idc-index-data-0.0.1-1-1-v1.arrow.0123456789ab.tmp"
    fresh = cache / ".idc-index-data-0.0.1-1-1-v1.arrow.ba9876543210.tmp"   # being written
    notes = cache / "notes.txt"                                            # not ours
    for path in (older, stale, fresh, notes):
        path.write_bytes(b"x")
        os.chmod(path, 0o600)
    os.utime(stale, (1, 1))
    series, _studies = _sample(real_index)
    index.lookup_series(series[:5], [])
    assert not older.exists() and not stale.exists()
    assert fresh.exists() and notes.exists()
    assert _copy(cache).name != older.name
