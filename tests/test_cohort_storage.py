"""Cohort.save / Cohort.open of a large-ish cohort: compact on disk, identical on reopening."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import covidimg as ci
from covidimg import schema
from covidimg.demo.large import large_cohort
from covidimg.errors import CohortFileError


@pytest.fixture(scope="module")
def big(demo_cohort) -> ci.Cohort:  # type: ignore[no-untyped-def]
    return large_cohort(20_000, base=demo_cohort)


def _extras_as_objects(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The loaders' extra columns (not in the schema) as objects with None for missing:
    Parquet keeps one kind of null and one string type, so an object column of text and
    None / NaN reopens as text (or categorical text) with NaN -- the same values."""
    out = frame.copy()
    known = set(schema.TABLES[name].names)
    for column in out.columns:
        if column not in known and (out[column].dtype in (object, "str")
                                    or isinstance(out[column].dtype, pd.CategoricalDtype)):
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def _stored(folder: Path, name: str) -> pq.ParquetFile:
    manifest = json.loads((folder / "manifest.json").read_text())
    return pq.ParquetFile(folder / manifest["tables_dir"] / f"{name}.parquet")


def test_large_cohort_is_a_valid_cohort(big: ci.Cohort, demo_cohort) -> None:  # type: ignore[no-untyped-def]
    assert len(big.images) >= 20_000
    copies = len(big.images) // len(demo_cohort.images)
    assert len(big.patients) == copies * len(demo_cohort.patients)
    big.validate()  # keys unique, references between tables hold


def test_round_trip_is_value_identical_with_schema_dtypes(big: ci.Cohort,
                                                           tmp_path: Path) -> None:
    big.save(tmp_path / "c")
    again = ci.Cohort.open(tmp_path / "c")
    again.validate()
    for name, frame in big.tables().items():
        opened = getattr(again, name)
        pd.testing.assert_frame_equal(_extras_as_objects(opened, name),
                                      _extras_as_objects(frame, name),
                                      check_categorical=False, obj=name)
        for col in schema.TABLES[name].columns:
            assert str(opened[col.name].dtype) == col.dtype, (name, col.name)
            if col.allowed is not None:
                assert list(opened[col.name].cat.categories) == list(col.allowed)


def test_storage_is_compact(big: ci.Cohort, tmp_path: Path) -> None:
    big.save(tmp_path / "c")
    images = _stored(tmp_path / "c", "images").schema_arrow
    assert str(images.field("rows").type) == "int16"
    assert str(images.field("n_instances").type) in ("int8", "int16")
    assert str(images.field("modality").type).startswith("dictionary")
    labs = _stored(tmp_path / "c", "labs").schema_arrow
    assert str(labs.field("censor").type).startswith("dictionary")


def test_categories_outside_the_schema_are_refused_on_open(big: ci.Cohort,
                                                            tmp_path: Path) -> None:
    big.save(tmp_path / "c")
    folder = tmp_path / "c"
    manifest = json.loads((folder / "manifest.json").read_text())
    path = folder / manifest["tables_dir"] / "images.parquet"
    table = pq.read_table(path).to_pandas()
    table["view"] = table["view"].astype(str).replace({"AP": "OBLIQUE"})
    table.to_parquet(path, index=False)
    with pytest.raises(CohortFileError, match=r"images\.view holds 1 value .*'OBLIQUE'"):
        ci.Cohort.open(folder)


def test_an_older_save_with_wide_types_still_opens(big: ci.Cohort, tmp_path: Path) -> None:
    """Tables saved by plain ``to_parquet`` (int64, strings for categoricals) are conformed."""
    big.save(tmp_path / "c")
    folder = tmp_path / "c"
    manifest = json.loads((folder / "manifest.json").read_text())
    path = folder / manifest["tables_dir"] / "patients.parquet"
    wide = big.patients.astype({"sex": str, "source": str})
    wide.to_parquet(path, index=False)
    again = ci.Cohort.open(folder)
    pd.testing.assert_frame_equal(_extras_as_objects(again.patients, "patients"),
                                  _extras_as_objects(big.patients, "patients"),
                                  check_categorical=False)
    assert str(again.patients["sex"].dtype) == "category"
