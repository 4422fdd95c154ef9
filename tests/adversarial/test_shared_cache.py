"""A shared index cache folder: nothing in it runs, files of others are not trusted, the
files covidimg writes are its owner's only, and a same-size, time-preserving copy is read again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pickle
import shutil
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest

from covidimg.demo.dicom_writer import write_dicom
from covidimg.errors import IndexCacheWarning
from covidimg.sources._engine.index import index_dicom
from covidimg.sources._engine.index_cache import CACHE_VERSION, cache_path_for
from covidimg.sources._engine.ledger import Ledger


def _write(path: Path, sop_uid: str) -> None:
    write_dicom(path, np.zeros((8, 8), np.float32), modality="DX", patient_id="P1",
                study_uid="1.2.3.1", series_uid="1.2.3.2", sop_uid=sop_uid,
                study_date=dt.date(2020, 4, 1))


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    _write(root / "a.dcm", "1.2.3.4.1")
    _write(root / "b.dcm", "1.2.3.4.2")
    return root


def _index(root: Path, cache: Path):  # type: ignore[no-untyped-def]
    paths = sorted(str(p) for p in root.glob("*.dcm"))
    return index_dicom(paths, Ledger("tcia"), executor=False, cache=cache)


class _Payload:
    """What an attacker plants: unpickling it would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def _planted_pickle_cache(path: Path, marker: Path) -> None:
    """A cache file laid out as the index cache is (format line, table of contents with
    correct lengths and SHA-256 of each section), whose sections are pickles that run code."""
    sections = [pickle.dumps(_Payload(marker))] * 3
    toc = b" ".join(b"%d %s" % (len(s), hashlib.sha256(s).hexdigest().encode())
                    for s in sections) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"covidimg-dicom-index {CACHE_VERSION}\n".encode() + toc
                     + b"".join(sections))
    path.chmod(0o600)


def test_a_planted_pickle_in_the_cache_never_runs(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "shared-cache"
    marker = tmp_path / "code-ran"
    _planted_pickle_cache(Path(cache_path_for(str(tree), cache)), marker)
    with pytest.warns(IndexCacheWarning, match="cannot be decoded"):
        index = _index(tree, cache)
    assert not marker.exists()
    assert sorted(h.sop_uid for h in index.headers) == ["1.2.3.4.1", "1.2.3.4.2"]
    # the rebuilt cache is the data-only format, and is used again without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", IndexCacheWarning)
        assert _index(tree, cache).counts["cached"] == 2


def test_a_cache_file_of_another_user_is_not_trusted(tree: Path, tmp_path: Path) -> None:
    if not hasattr(os, "chown") or os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    cache = tmp_path / "c"
    _index(tree, cache)
    path = Path(cache_path_for(str(tree), cache))
    os.chown(path, 4242, 4242)
    with pytest.warns(IndexCacheWarning, match="belongs to another user"):
        again = _index(tree, cache)
    assert again.counts["cached"] == 0 and again.counts["read"] == 2


def test_a_cache_file_others_can_write_is_not_trusted(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    _index(tree, cache)
    path = Path(cache_path_for(str(tree), cache))
    path.chmod(0o666)
    with pytest.warns(IndexCacheWarning, match="can be written by other users"):
        again = _index(tree, cache)
    assert again.counts["cached"] == 0


def test_cache_files_are_private(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    previous = os.umask(0o022)
    try:
        _index(tree, cache)
    finally:
        os.umask(previous)
    path = Path(cache_path_for(str(tree), cache))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("how", ["copy2", "rename"])
def test_a_same_size_time_preserving_replacement_is_read_again(tree: Path, tmp_path: Path,
                                                               how: str) -> None:
    cache = tmp_path / "c"
    first = _index(tree, cache)
    assert {h.sop_uid for h in first.headers} == {"1.2.3.4.1", "1.2.3.4.2"}
    target = tree / "a.dcm"
    size, mtime = target.stat().st_size, target.stat().st_mtime_ns
    other = tmp_path / "other.dcm"
    _write(other, "1.2.3.4.9")  # same length of UID: the same size
    assert other.stat().st_size == target.stat().st_size
    os.utime(other, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns))
    if how == "copy2":  # cp -p: same size and mtime, new content in place
        shutil.copy2(other, target)
    else:               # tar -x / rsync -a: a new file renamed over the old one
        os.replace(other, target)
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (size, mtime)
    again = _index(tree, cache)
    assert {h.sop_uid for h in again.headers} == {"1.2.3.4.9", "1.2.3.4.2"}



def test_a_thumbnail_follows_a_time_preserving_replacement(tmp_path: Path) -> None:
    from PIL import Image

    from covidimg.imaging import thumbnail

    target, other = tmp_path / "x.png", tmp_path / "y.png"
    Image.fromarray(np.full((32, 32), 20, np.uint8)).save(target)
    Image.fromarray(np.full((32, 32), 230, np.uint8)).save(other)
    assert other.stat().st_size == target.stat().st_size
    cache = tmp_path / "thumbs"
    before = thumbnail(str(target), size=16, center=128, width=256, cache_dir=cache)
    os.utime(other, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns))
    shutil.copy2(other, target)
    after = thumbnail(str(target), size=16, center=128, width=256, cache_dir=cache)
    assert after != before
    fresh = thumbnail(str(target), size=16, center=128, width=256, cache=False)
    assert after == fresh


def test_a_thumbnail_entry_of_another_user_is_not_served(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    from PIL import Image

    from covidimg.imaging import thumbnail

    target = tmp_path / "x.png"
    Image.fromarray(np.full((32, 32), 20, np.uint8)).save(target)
    cache = tmp_path / "thumbs"
    good = thumbnail(str(target), size=16, center=128, width=256, cache_dir=cache)
    entries = [p for p in cache.rglob("*.png")]
    assert len(entries) == 1 and stat.S_IMODE(entries[0].stat().st_mode) == 0o600
    planted = Image.new("L", (16, 16), 255)
    planted.save(entries[0])
    os.chown(entries[0], 4242, 4242)
    assert thumbnail(str(target), size=16, center=128, width=256, cache_dir=cache) == good
