"""Release drift: covidimg diff between two releases of the Hannover data.csv lists the changed
cells (shared/data/mhh-revisions/SOURCE.md: 10 icu_release_offset cells differ from 4025ea1 to
the current data)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

import covidimg as ci
from covidimg.cli import main


@pytest.fixture(scope="module")
def revisions(mhh_dir, tmp_path_factory):  # type: ignore[no-untyped-def]
    old_csv = mhh_dir.parent / "mhh-revisions" / "data-2020-05-28-4025ea1.csv"
    if not old_csv.is_file():
        pytest.skip(f"the earlier MHH revision is not at {old_csv}")
    old = tmp_path_factory.mktemp("mhh-2020-05-28")
    shutil.copy(old_csv, old / "data.csv")
    shutil.copy(mhh_dir / "readme.md", old / "readme.md")
    (old / "png").mkdir()
    for image_id in pd.read_csv(old_csv, dtype=str)["image_id"]:
        shutil.copy(mhh_dir / "png" / f"{image_id}.png", old / "png" / f"{image_id}.png")
    return old, mhh_dir, pd.read_csv(old_csv, dtype=str), pd.read_csv(mhh_dir / "data.csv",
                                                                      dtype=str)


@pytest.mark.slow
def test_diff_of_the_mhh_revisions_lists_the_changed_cells(revisions):
    old, new, old_csv, new_csv = revisions
    result = ci.diff(old, new)
    # truth from the two files themselves: the images added, and the icu_release_offset cells
    # that differ on the images both list
    added = set(new_csv["image_id"]) - set(old_csv["image_id"])
    assert len(added) == 60 and not set(old_csv["image_id"]) - set(new_csv["image_id"])
    images = result.added[result.added["table"] == "images"]
    assert set(images["key"]) == {f"mhh:{i}" for i in added}
    assert result.removed.empty
    both = old_csv.merge(new_csv, on="image_id", suffixes=("_old", "_new"))
    a = pd.to_numeric(both["icu_release_offset_old"]).to_numpy()
    b = pd.to_numeric(both["icu_release_offset_new"]).to_numpy()
    differ = both.loc[~((a == b) | (np.isnan(a) & np.isnan(b))), "image_id"]
    assert len(differ) == 10
    cells = result.changed[result.changed["table"] == "images"]
    assert set(cells["column"]) == {"icu_release_offset"}
    assert set(cells["key"]) == {f"mhh:{i}" for i in differ}
    expected = both.set_index("image_id")
    for row in cells.itertuples():
        image_id = row.key.split(":", 1)[1]
        assert float(row.old) == float(expected.at[image_id, "icu_release_offset_old"])
        assert float(row.new) == float(expected.at[image_id, "icu_release_offset_new"])
    # the patients first seen in the new release
    new_patients = set(new_csv["patient_id"]) - set(old_csv["patient_id"])
    assert set(result.added.loc[result.added["table"] == "patients", "key"]) == {
        f"mhh:{p}" for p in new_patients}


@pytest.mark.slow
def test_the_command_prints_the_changed_cells(revisions, tmp_path, capsys):
    old, new, _old_csv, _new_csv = revisions
    assert main(["diff", str(old), str(new), "--tables", "images", "-o",
                 str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "10 cells changed" in out and "icu_release_offset" in out
    changed = pd.read_csv(tmp_path / "d" / "changed.csv")
    assert len(changed) == 10


def test_diff_matches_rows_by_key_and_rank(demo_cohort, tmp_path):
    old = demo_cohort.filter(source="mhh")
    gone = old.images["image_uid"].iloc[0]
    images = old.images.iloc[1:]
    labs = old.labs[old.labs["image_uid"] != gone].copy()
    edited = labs.index[0]
    labs.loc[edited, "upper"] = labs.at[edited, "upper"] + 1
    new = ci.Cohort(**{**old.tables(), "labs": labs, "images": images})
    old.save(tmp_path / "old")
    result = ci.diff(tmp_path / "old", new)
    assert result.removed[result.removed["table"] == "images"]["key"].tolist() == [gone]
    assert len(result.removed[result.removed["table"] == "labs"]) == (
        old.labs["image_uid"] == gone).sum()
    assert result.added.empty
    assert result.changed[["table", "column"]].values.tolist() == [["labs", "upper"]]
    assert result.changed["key"].iloc[0].startswith(
        f"{labs.at[edited, 'patient_uid']} / {labs.at[edited, 'image_uid']} / "
        f"{labs.at[edited, 'analyte']} #")
    with pytest.raises(ValueError, match="tables"):
        ci.diff(old, new, tables=["nope"])
