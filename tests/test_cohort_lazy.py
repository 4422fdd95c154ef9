"""Cohort.open defers the provenance tables (files, findings), the observations and the
annotations to their first access.

The deferred tables must be indistinguishable from eagerly read ones for every use: attribute
access, tables(), filter, save, concat, validate, pickling, and a save over the same folder.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import covidimg as ci
from covidimg import schema
from covidimg.cohort import LAZY_TABLES


@pytest.fixture()
def saved(demo_cohort: ci.Cohort, tmp_path: Path) -> Path:
    assert len(demo_cohort.files) and len(demo_cohort.findings)
    return demo_cohort.save(tmp_path / "c")


def _table_path(folder: Path, name: str) -> Path:
    manifest = json.loads((folder / "manifest.json").read_text())
    return folder / manifest["tables_dir"] / f"{name}.parquet"


def _same(left: ci.Cohort, right: ci.Cohort) -> None:
    for name in schema.TABLE_NAMES:
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name), obj=name)


def test_open_reads_the_deferred_tables_on_first_access(saved: Path) -> None:
    pool = pa.default_memory_pool().backend_name
    eager = ci.Cohort.open(saved, lazy=())
    assert eager.unread_tables() == []
    assert pa.default_memory_pool().backend_name == pool   # the reading pool is restored
    cohort = ci.Cohort.open(saved)
    assert cohort.unread_tables() == list(LAZY_TABLES)
    assert "findings" in repr(cohort) and cohort.unread_tables() == list(LAZY_TABLES)
    pd.testing.assert_frame_equal(cohort.files, eager.files)
    assert cohort.unread_tables() == ["findings", "observations", "annotations"]
    assert cohort.files is cohort.files                       # read once, then kept
    pd.testing.assert_frame_equal(cohort.tables()["findings"], eager.findings)
    assert cohort.unread_tables() == []
    assert pa.default_memory_pool().backend_name == pool
    for name in LAZY_TABLES:
        pd.testing.assert_frame_equal(getattr(cohort, name), getattr(eager, name))
        schema.validate(name, getattr(cohort, name))


def test_lazy_names_any_table_and_refuses_unknown_ones(saved: Path) -> None:
    cohort = ci.Cohort.open(saved, lazy=["labs"])
    assert cohort.unread_tables() == ["labs"]
    assert len(cohort.labs) == json.loads((saved / "manifest.json").read_text())["rows"]["labs"]
    with pytest.raises(ValueError, match=r"lazy='file' is not allowed; allowed values are"):
        ci.Cohort.open(saved, lazy=["file"])


def test_filter_of_an_unread_cohort_defers_and_matches_the_eager_filter(saved: Path) -> None:
    eager = ci.Cohort.open(saved, lazy=())
    cohort = ci.Cohort.open(saved)
    sub = cohort.filter(sex="F", modality=["CR", "DX"])
    assert sub.unread_tables() == list(LAZY_TABLES)
    expected = eager.filter(sex="F", modality=["CR", "DX"])
    _same(sub, expected)
    assert 0 < len(sub.files) < len(eager.files)
    # The parent read its files for the child and keeps them, without reading them twice.
    assert cohort.unread_tables() == []
    _same(cohort, eager)


def test_save_concat_validate_and_pickle_read_deferred_tables(saved: Path,
                                                              tmp_path: Path) -> None:
    eager = ci.Cohort.open(saved, lazy=())
    ci.Cohort.open(saved).save(tmp_path / "again")
    _same(ci.Cohort.open(tmp_path / "again"), eager)
    ci.Cohort.open(saved).validate()
    _same(ci.Cohort.concat([ci.Cohort.open(saved)]), ci.Cohort.concat([eager]))
    restored = pickle.loads(pickle.dumps(ci.Cohort.open(saved)))
    assert restored.unread_tables() == []
    _same(restored, eager)


def test_a_save_over_the_folder_does_not_change_unread_tables(demo_cohort: ci.Cohort,
                                                              saved: Path) -> None:
    eager = ci.Cohort.open(saved, lazy=())
    cohort = ci.Cohort.open(saved)
    old_files = _table_path(saved, "files")
    demo_cohort.filter(source="mhh").save(saved)     # replaces (and deletes) the tables read
    assert not old_files.exists() and cohort.unread_tables() == list(LAZY_TABLES)
    _same(cohort, eager)
    assert len(ci.Cohort.open(saved).files) < len(eager.files)


def test_a_deferred_table_damaged_after_opening_raises_on_first_access(saved: Path) -> None:
    cohort = ci.Cohort.open(saved)
    path = _table_path(saved, "files")
    data = path.read_bytes()
    footer = int.from_bytes(data[-8:-4], "little") + 8       # metadata, its length, "PAR1"
    path.write_bytes(data[:4] + b"\0" * (len(data) - 4 - footer) + data[-footer:])
    for _attempt in range(2):                                  # and again: the same error
        with pytest.raises(ci.cohort.CohortFileError, match="files.parquet"):
            _ = cohort.files
    assert cohort.unread_tables() == list(LAZY_TABLES)  # not replaced by a broken table


def test_open_still_checks_deferred_tables_at_once(saved: Path) -> None:
    path = _table_path(saved, "findings")
    path.unlink()
    with pytest.raises(ci.cohort.CohortFileError, match="findings.parquet is missing"):
        ci.Cohort.open(saved)
    table = pq.read_table(_table_path(saved, "files"))
    pq.write_table(table.slice(0, len(table) - 1), _table_path(saved, "files"))
    with pytest.raises(ci.cohort.CohortFileError, match="the manifest says"):
        ci.Cohort.open(saved, lazy=())


def test_few_valued_extra_text_opens_as_categorical(demo_cohort: ci.Cohort,
                                                    tmp_path: Path) -> None:
    images = demo_cohort.images.copy()
    n = len(images)
    images["scanner"] = ["A" if i % 2 else "B" for i in range(n)]           # 2 values
    images["accession"] = [f"acc-{i}" for i in range(n)]                    # all distinct
    images["note"] = pd.Series([None] * n, dtype=object)                    # all missing
    cohort = ci.Cohort(**{**demo_cohort.tables(), "images": images})
    cohort.save(tmp_path / "c")
    opened = ci.Cohort.open(tmp_path / "c").images
    assert isinstance(opened["scanner"].dtype, pd.CategoricalDtype)
    assert list(opened["scanner"].cat.categories) == ["A", "B"]
    assert opened["scanner"].astype(object).tolist() == images["scanner"].tolist()
    assert not isinstance(opened["accession"].dtype, pd.CategoricalDtype)
    assert opened["accession"].tolist() == images["accession"].tolist()
    assert opened["note"].isna().all()
    # Saved again and reopened, the values (and categories) stay the same.
    ci.Cohort.open(tmp_path / "c").save(tmp_path / "d")
    again = ci.Cohort.open(tmp_path / "d").images
    pd.testing.assert_frame_equal(again, opened)


def test_a_cohort_saved_in_the_first_layout_opens(demo_cohort: ci.Cohort,
                                                  tmp_path: Path) -> None:
    """Format version 1 as first written: plain ``to_parquet`` of every table (int64, text
    for categoricals, one row group), manifest without anything newer."""
    folder = tmp_path / "old"
    (folder / "tables-0123456789ab").mkdir(parents=True)
    rows = {}
    for name, frame in demo_cohort.tables().items():
        plain = frame.astype({c: object for c in frame.columns
                              if isinstance(frame[c].dtype, pd.CategoricalDtype)})
        table = pa.Table.from_pandas(plain, preserve_index=False)
        pq.write_table(table, folder / "tables-0123456789ab" / f"{name}.parquet")
        rows[name] = len(frame)
    (folder / "manifest.json").write_text(json.dumps(
        {"format": "covidimg-cohort", "version": 1, "tables_dir": "tables-0123456789ab",
         "rows": rows}))
    opened = ci.Cohort.open(folder)
    assert opened.unread_tables() == list(LAZY_TABLES)
    opened.validate()
    for name, frame in demo_cohort.tables().items():
        for col in schema.TABLES[name].columns:
            assert str(getattr(opened, name)[col.name].dtype) == col.dtype, (name, col.name)
            assert (getattr(opened, name)[col.name].astype(object).fillna("<NA>").tolist()
                    == frame[col.name].astype(object).fillna("<NA>").tolist()), (name, col.name)
