"""The index cache's snapshot path: an unchanged tree is taken from the snapshot alone, and
every kind of change (a changed, new or deleted file) leaves it for the per-file entries."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from covidimg.demo.large import write_dicom_tree
from covidimg.errors import IndexCacheWarning
from covidimg.sources._engine.index import images_from_index, index_dicom
from covidimg.sources._engine.index_cache import IndexCache, cache_path_for
from covidimg.sources._engine.ledger import Ledger


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    write_dicom_tree(tmp_path / "tree", n_radiographs=10, n_ct_series=1, slices=20,
                     rng=np.random.default_rng(21))
    return tmp_path / "tree"


def _paths(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.suffix in {".dcm", ".zip"})


def _index(root: Path, cache: Path | bool, ledger: Ledger | None = None):  # type: ignore[no-untyped-def]
    return index_dicom(_paths(root), ledger or Ledger("tcia"), executor=False, cache=cache,
                       root=root)


def _table(index) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return images_from_index(index, "tcia")


def _cache_file(root: Path, cache: Path) -> Path:
    return Path(cache_path_for(str(root), cache))  # type: ignore[arg-type]


def _sections(path: Path) -> dict[str, tuple[int, int]]:
    """(offset, length) of the snapshot, headers and entries sections of a cache file."""
    with path.open("rb") as handle:
        handle.readline()
        toc = handle.readline()
        offset = handle.tell()
    lengths = [int(n) for n in toc.split()[::2]]
    out = {}
    for name, length in zip(("snapshot", "headers", "entries"), lengths, strict=True):
        out[name] = (offset, length)
        offset += length
    assert offset == path.stat().st_size
    return out


def _flip(path: Path, section: str) -> None:
    offset, length = _sections(path)[section]
    blob = bytearray(path.read_bytes())
    blob[offset + length // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


def _radiograph(root: Path) -> Path:
    return Path(next(p for p in _paths(root) if p.endswith("1-1.dcm")))


def test_unchanged_tree_is_restored_whole_with_the_same_headers(tree: Path,
                                                               tmp_path: Path) -> None:
    cache = tmp_path / "c"
    first = _index(tree, cache)
    again = _index(tree, cache)
    assert again.counts == {"files": 30, "cached": 30, "read": 0, "inferred": 17}
    assert "headers" not in vars(again)  # built when first used
    assert again.headers == first.headers and "headers" in vars(again)
    assert again.disk_file == first.disk_file and list(again.disk_file) == list(first.disk_file)
    assert again.state == first.state and again.sampling == first.sampling
    pd.testing.assert_frame_equal(_table(again), _table(first))


@pytest.mark.parametrize("change", ["rewritten", "touched", "same_mtime_new_size", "new",
                                    "deleted"])
def test_each_change_leaves_the_snapshot_and_is_picked_up(tree: Path, tmp_path: Path,
                                                          change: str) -> None:
    cache = tmp_path / "c"
    _index(tree, cache)
    assert _index(tree, cache).counts["read"] == 0  # the snapshot is in use
    radiograph = _radiograph(tree)
    st = radiograph.stat()
    if change == "rewritten":  # another file's header under this name, its mtime kept
        other = Path(_paths(tree)[5])
        shutil.copyfile(other, radiograph)
        os.utime(radiograph, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    elif change == "touched":
        os.utime(radiograph, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    elif change == "same_mtime_new_size":
        with radiograph.open("ab") as handle:
            handle.write(b"\0\0")
        os.utime(radiograph, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "new":
        shutil.copytree(radiograph.parent, tree / "added")
        (tree / "added" / radiograph.name).rename(tree / "added" / "2-1.dcm")
    else:
        radiograph.unlink()
    ledger = Ledger("tcia")
    again = _index(tree, cache, ledger)
    fresh_ledger = Ledger("tcia")
    fresh = _index(tree, False, fresh_ledger)
    assert again.counts["read"] == (0 if change == "deleted" else 1)
    assert again.counts["cached"] == again.counts["files"] - again.counts["read"]
    assert again.headers == fresh.headers and again.state == fresh.state
    pd.testing.assert_frame_equal(_table(again), _table(fresh))
    pd.testing.assert_frame_equal(ledger.findings_frame(), fresh_ledger.findings_frame())
    if change in ("rewritten", "new"):  # a second copy of an instance: a duplicate now
        assert "duplicate_instance" in set(ledger.findings_frame()["kind"])
    # and the snapshot taken after the change serves the next call
    assert _index(tree, cache).counts["read"] == 0


def test_damaged_entries_are_not_needed_for_an_unchanged_tree(tree: Path,
                                                             tmp_path: Path) -> None:
    cache = tmp_path / "c"
    first = _index(tree, cache)
    _flip(_cache_file(tree, cache), "entries")
    again = _index(tree, cache)  # no warning: the entries are never read
    assert again.counts["read"] == 0
    pd.testing.assert_frame_equal(_table(again), _table(first))
    os.utime(_radiograph(tree))  # now the entries are needed: found damaged, rebuilt
    with pytest.warns(IndexCacheWarning, match="checksum of its entries"):
        rebuilt = _index(tree, cache)
    assert rebuilt.counts["cached"] == 0
    pd.testing.assert_frame_equal(_table(rebuilt), _table(first))
    assert _index(tree, cache).counts["read"] == 0


@pytest.mark.parametrize("section", ["snapshot", "headers"])
def test_damaged_snapshot_or_headers_are_detected_before_use(tree: Path, tmp_path: Path,
                                                            section: str) -> None:
    cache = tmp_path / "c"
    first = _index(tree, cache)
    _flip(_cache_file(tree, cache), section)
    with pytest.warns(IndexCacheWarning, match="checksum of its snapshot"):
        rebuilt = _index(tree, cache)
    assert rebuilt.counts["cached"] == 0
    pd.testing.assert_frame_equal(_table(rebuilt), _table(first))


def test_table_of_contents_that_does_not_fit_the_file_is_detected(tree: Path,
                                                                 tmp_path: Path) -> None:
    cache = tmp_path / "c"
    _index(tree, cache)
    path = _cache_file(tree, cache)
    head, toc, rest = path.read_bytes().split(b"\n", 2)
    first_length = toc.split(b" ", 1)
    path.write_bytes(head + b"\n" + str(int(first_length[0]) + 1).encode() + b" "
                     + first_length[1] + b"\n" + rest)
    with pytest.warns(IndexCacheWarning, match="bytes, not the"):
        assert _index(tree, cache).counts["cached"] == 0


def test_cache_replaced_after_loading_is_not_mixed_in(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    _index(tree, cache)
    path = _cache_file(tree, cache)
    loaded = IndexCache(str(path))
    assert loaded.load()
    os.utime(_radiograph(tree))
    _index(tree, cache)  # another index of the tree writes a new cache file
    assert loaded.files == {}  # the old file's entries are gone: its files are read again
    current = IndexCache(str(path))
    assert current.load() and len(current.files) == 30


def test_archives_and_rejected_files_are_restored_with_their_files_rows(tree: Path,
                                                                      tmp_path: Path) -> None:
    members = [Path(p) for p in _paths(tree) if p.endswith("1-1.dcm")][:3]
    with zipfile.ZipFile(tree / "batch.zip", "w") as archive:
        for k, member in enumerate(members):
            archive.write(member, f"study/{k}.dcm")
    with zipfile.ZipFile(tree / "empty.zip", "w"):
        pass
    (tree / "broken.dcm").write_bytes(b"not a DICOM file")
    runs = []
    for _ in range(2):
        ledger = Ledger("tcia")
        index = _index(tree, tmp_path / "c", ledger)
        table = _table(index)
        for _, row in table.iterrows():
            for label in row["member_paths"]:
                index.use(label, row["image_uid"])
        index.record(ledger)
        runs.append((index, table, ledger))
    (first, first_table, first_ledger), (again, again_table, again_ledger) = runs
    assert again.counts["read"] == 0
    assert any("::" in label for label in again.disk_file)
    assert list(again.disk_file.items()) == list(first.disk_file.items())
    pd.testing.assert_frame_equal(again_table, first_table)
    pd.testing.assert_frame_equal(again_ledger.files_frame(), first_ledger.files_frame())
    pd.testing.assert_frame_equal(again_ledger.findings_frame(),
                                  first_ledger.findings_frame())
    assert {"duplicate_instance", "unreadable_file"} <= set(again_ledger.findings_frame()["kind"])


def test_a_file_that_cannot_be_stat_ed_never_matches_the_snapshot(tree: Path,
                                                                  tmp_path: Path) -> None:
    cache = tmp_path / "c"
    paths = [*_paths(tree), str(tree / "gone.dcm")]
    runs = []
    for _ in range(2):
        ledger = Ledger("tcia")
        runs.append((index_dicom(paths, ledger, executor=False, cache=cache, root=tree),
                     ledger))
    (first, first_ledger), (again, again_ledger) = runs
    assert again.counts["read"] == 1 and again.counts["cached"] == 30  # only it is read again
    assert again.state == first.state
    assert again.state[str(tree / "gone.dcm")][0] == "rejected"
    pd.testing.assert_frame_equal(again_ledger.findings_frame(),
                                  first_ledger.findings_frame())


def test_a_time_past_64_bits_is_read_each_time_not_a_crash(tree: Path, tmp_path: Path) -> None:
    radiograph = _radiograph(tree)
    far = 2**63 + 10**12  # nanoseconds after 2262: no int64 cache key
    try:
        os.utime(radiograph, ns=(far, far))
    except (OSError, OverflowError, ValueError):
        pytest.skip("this file system cannot store a time past 2262")
    if radiograph.stat().st_mtime_ns != far:
        pytest.skip("this file system cannot store a time past 2262")
    cache = tmp_path / "c"
    first = _index(tree, cache)
    again = _index(tree, cache)
    assert again.counts["read"] == 1 and again.counts["cached"] == 29
    assert again.headers == first.headers
    pd.testing.assert_frame_equal(_table(again), _table(first))
