"""A re-load of unchanged folders opens the saved result of the first load; any change to the
folders, the options or the settings runs the loaders again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

import covidimg as ci
from covidimg import schema
from covidimg.cohort import LAZY_TABLES, _result_cache
from covidimg.demo import generate_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    generate_demo(folder, sources=["mhh", "tcia"], n_patients=8)
    return folder


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _copy(demo: Path, tmp_path: Path, source: str) -> Path:
    target = tmp_path / source
    shutil.copytree(demo / source, target)
    return target


def _values(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as Python objects, every missing value as ``None``."""
    out = frame.astype(object)
    return out.where(frame.notna(), None)


def _from_result(cohort: ci.Cohort) -> bool:
    """Whether ``cohort`` was opened from a saved result (opened cohorts defer two tables)."""
    return cohort.unread_tables() == list(LAZY_TABLES)


def test_a_reload_of_unchanged_folders_opens_the_first_result(demo, tmp_path, cache):
    roots = {"mhh": _copy(demo, tmp_path, "mhh"), "tcia": _copy(demo, tmp_path, "tcia")}
    first = ci.load(roots, progress=False, index_cache=cache)
    again = ci.load(roots, progress=False, index_cache=cache)
    assert not _from_result(first) and _from_result(again)
    for name, table in first.tables().items():
        # the schema's columns in the schema's dtypes; a loader's extra text columns may open
        # as categoricals (Cohort.open), so those compare by value
        pd.testing.assert_frame_equal(_values(again.tables()[name]), _values(table), obj=name)
        for column in schema.TABLES[name].names:
            assert again.tables()[name][column].dtype == table[column].dtype, (name, column)


@pytest.mark.parametrize("change", ["same_size_same_mtime", "new_file", "removed_file",
                                    "renamed_folder", "chmod", "folder_replaced_by_a_copy",
                                    "two_files_swapped"])
def test_any_change_to_the_folder_runs_the_loader_again(demo, tmp_path, cache, change):
    root = _copy(demo, tmp_path, "tcia")
    first = ci.load({"tcia": root}, progress=False, index_cache=cache)
    victim = sorted(root.rglob("*.dcm"))[0]
    if change == "same_size_same_mtime":  # what cp -p / rsync -a of another file leave
        st = victim.stat()
        data = bytearray(victim.read_bytes())
        data[-1] ^= 0xFF
        victim.write_bytes(bytes(data))
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "new_file":
        (victim.parent / "notes.txt").write_text("x")
    elif change == "removed_file":
        victim.unlink()
    elif change == "renamed_folder":
        victim.parent.rename(victim.parent.with_name(victim.parent.name + "_b"))
    elif change == "folder_replaced_by_a_copy":  # same names, sizes and mtimes (cp -a)
        moved = victim.parent.with_name(victim.parent.name + "_old")
        victim.parent.rename(moved)
        shutil.copytree(moved, victim.parent, copy_function=shutil.copy2)
        shutil.rmtree(moved)
    elif change == "two_files_swapped":  # same names and folder listing, other contents
        other = sorted(root.rglob("*.dcm"))[1]
        parked = root / "parked.swap"
        victim.rename(parked)
        other.rename(victim)
        parked.rename(other)
    else:
        victim.chmod(0o000)
    again = ci.load({"tcia": root}, progress=False, index_cache=cache)
    assert not _from_result(again)
    if change in ("new_file", "removed_file"):
        assert len(again.files) == len(first.files) + (1 if change == "new_file" else -1)


def test_other_options_or_settings_are_other_results(demo, tmp_path, cache):
    root = _copy(demo, tmp_path, "mhh")
    ci.load({"mhh": root}, progress=False, index_cache=cache)
    rounded = ci.load({"mhh": root}, progress=False, index_cache=cache,
                      options={"mhh": {"convention": "round"}})
    kept = ci.load({"mhh": root}, progress=False, index_cache=cache, descriptions="keep")
    assert not _from_result(rounded) and not _from_result(kept)
    again = ci.load({"mhh": root}, progress=False, index_cache=cache, descriptions="keep")
    assert not _from_result(again)  # descriptions are never kept in a cache
    assert _from_result(ci.load({"mhh": root}, progress=False, index_cache=cache,
                                options={"mhh": {"convention": "round"}}))


def test_no_cache_means_no_saved_result(demo, tmp_path):
    root = _copy(demo, tmp_path, "mhh")
    ci.load({"mhh": root}, progress=False, index_cache=False)
    assert not _from_result(ci.load({"mhh": root}, progress=False, index_cache=False))


def test_a_result_writable_by_others_or_damaged_is_not_used(demo, tmp_path, cache):
    root = _copy(demo, tmp_path, "mhh")
    ci.load({"mhh": root}, progress=False, index_cache=cache)
    (result,) = [p for p in (cache / _result_cache.SUBDIR).iterdir()
                 if _result_cache._KEY.fullmatch(p.name)]
    result.chmod(0o777)
    assert not _from_result(ci.load({"mhh": root}, progress=False, index_cache=cache))
    result.chmod(0o700)
    for table in result.glob("tables-*/patients.parquet"):
        table.write_bytes(b"not parquet")
    reloaded = ci.load({"mhh": root}, progress=False, index_cache=cache)
    assert not _from_result(reloaded) and len(reloaded.patients) == 8


def test_only_the_most_recent_results_are_kept(demo, tmp_path, cache, monkeypatch):
    monkeypatch.setattr(_result_cache, "KEEP", 2)
    root = _copy(demo, tmp_path, "mhh")
    for convention in ("floor", "round", "floor"):
        ci.load({"mhh": root}, progress=False, index_cache=cache,
                options={"mhh": {"convention": convention}})
    (root / "extra.txt").write_text("x")
    ci.load({"mhh": root}, progress=False, index_cache=cache)
    (cache / _result_cache.SUBDIR / "mine.txt").write_text("a user's file")
    ci.load({"mhh": root}, progress=False, index_cache=cache,
            options={"mhh": {"convention": "round"}})
    kept = sorted(p.name for p in (cache / _result_cache.SUBDIR).iterdir())
    assert len([n for n in kept if _result_cache._KEY.fullmatch(n)]) == 2
    assert "mine.txt" in kept


def test_a_folder_whose_sources_are_detected_is_kept_with_what_its_load_said(
        demo, tmp_path, cache):
    """``ci.load(folder)`` finds its kept result without detecting the sources again, and says
    again which sub-folders it loaded as which source; notes that were tampered with make the
    result unusable (the loaders run and say it themselves)."""
    root = tmp_path / "downloads"
    root.mkdir()
    for source in ("mhh", "tcia"):
        _copy(demo, root, source)
    with pytest.warns(UserWarning, match="loading its sub-folders") as said_first:
        first = ci.load(root, progress=False, index_cache=cache)
    with pytest.warns(UserWarning, match="loading its sub-folders") as said_again:
        again = ci.load(root, progress=False, index_cache=cache)
    assert not _from_result(first) and _from_result(again)
    assert [str(w.message) for w in said_again] == [str(w.message) for w in said_first]
    assert said_again[0].filename == __file__       # at the caller's line, as the first time
    for name, table in first.tables().items():
        pd.testing.assert_frame_equal(_values(again.tables()[name]), _values(table), obj=name)
    [notes] = (cache / _result_cache.SUBDIR).glob(f"*/{_result_cache.NOTES}")
    notes.write_text('{"not": "a list of texts"}')
    with pytest.warns(UserWarning, match="loading its sub-folders"):
        assert not _from_result(ci.load(root, progress=False, index_cache=cache))
    with pytest.warns(UserWarning, match="loading its sub-folders"):   # replaced: usable again
        assert _from_result(ci.load(root, progress=False, index_cache=cache))
    [notes] = (cache / _result_cache.SUBDIR).glob(f"*/{_result_cache.NOTES}")
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(notes.read_text())
    notes.unlink()
    notes.symlink_to(elsewhere)                      # a link is never followed
    with pytest.warns(UserWarning, match="loading its sub-folders"):
        assert not _from_result(ci.load(root, progress=False, index_cache=cache))
