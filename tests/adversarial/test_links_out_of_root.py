"""Symbolic links that lead outside a source folder are listed ``ignored`` and never read; their
target's content appears in no table, finding or error. Links that stay inside still work."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

import covidimg as ci
from covidimg.errors import LoadError, TableReadError
from covidimg.sources import mhh, midrc
from covidimg.sources._engine.ledger import Ledger, outside_root, read_text_table, walk

from .harness import assert_files_accounted

#: What the planted outside file holds: like /etc/passwd, and a valid table for every loader.
SECRET = "ZZSECRET"
PASSWD = (f"root:x:0:0:{SECRET}:/root:/bin/bash\n"
          f"submitter_id\tsex\tage_at_index\tpatient_id,image_id,admission_offset\n"
          f"{SECRET}-1\tFemale\t40\t{SECRET},{SECRET},1\n")


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    """A file outside every source folder, with identifiable content."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    target = folder / "passwd"
    target.write_text(PASSWD)
    return target


def _copy(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "tree" / pristine.name
    shutil.copytree(pristine, root, symlinks=True)
    return root


def _text_of(cohort: ci.Cohort) -> str:
    """Every value of every table, as one string."""
    parts = []
    for name in ("patients", "images", "events", "labs", "files", "findings"):
        frame: pd.DataFrame = getattr(cohort, name)
        parts.append(frame.astype(str).to_csv())
    return "\n".join(parts)


def _assert_link_ignored(cohort: ci.Cohort, link: Path) -> None:
    files = cohort.files.set_index("path")
    assert files.at[str(link), "status"] == "ignored"
    assert "outside the source folder" in files.at[str(link), "reason"]
    hits = cohort.findings[cohort.findings["path"] == str(link)]
    assert hits["kind"].tolist() == ["unsafe_link"]


# ---------------------------------------------------------------------- the walk
def test_walk_ignores_a_file_link_out_of_the_root_and_reads_one_inside(
        tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "ok.csv").write_text("a\n1\n")
    (root / "alias.csv").symlink_to("ok.csv")                  # inside: read
    (root / "sub" / "up.csv").symlink_to("../ok.csv")          # inside, via ..: read
    (root / "data.csv").symlink_to(outside)                    # outside: ignored
    (root / "sub" / "rel.csv").symlink_to("../../elsewhere/passwd")  # outside, relative
    ledger = Ledger("mhh", root)
    seen = sorted(os.path.join(d, n) for d, _, names in walk(root, ledger) for n in names)
    assert seen == sorted(str(p) for p in (root / "alias.csv", root / "ok.csv",
                                           root / "sub" / "up.csv"))
    files = ledger.files_frame().set_index("path")
    for link in (root / "data.csv", root / "sub" / "rel.csv"):
        assert files.at[str(link), "status"] == "ignored"
        assert str(outside) in files.at[str(link), "reason"]
    assert ledger.findings_frame()["kind"].tolist() == ["unsafe_link", "unsafe_link"]


def test_a_root_reached_through_a_link_is_inside_itself(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "ok.csv").write_text("a\n1\n")
    (real / "alias.csv").symlink_to(real / "ok.csv")           # absolute, inside
    (tmp_path / "link-to-root").symlink_to(real)
    root = tmp_path / "link-to-root"
    assert outside_root(root / "alias.csv", root) is None
    ledger = Ledger("mhh", root)
    assert [sorted(n) for _, _, n in walk(root, ledger)] == [["alias.csv", "ok.csv"]]
    assert ledger.findings_frame().empty


def test_read_text_table_refuses_a_path_out_of_the_root(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "data.csv").symlink_to(outside)
    with pytest.raises(TableReadError, match="outside the source folder") as caught:
        read_text_table(root / "data.csv", Ledger("mhh", root))
    assert SECRET not in str(caught.value)


# ---------------------------------------------------------------------- MHH
def test_mhh_data_csv_linked_out_of_the_root_is_not_read(
        pristine: dict[str, Path], tmp_path: Path, outside: Path) -> None:
    root = _copy(pristine["mhh"], tmp_path)
    (root / "data.csv").unlink()
    (root / "data.csv").symlink_to(outside)
    assert not mhh.detect(str(root))
    with pytest.raises(LoadError, match="outside the source folder") as caught:
        ci.load({"mhh": root}, progress=False)
    assert SECRET not in str(caught.value) and "root:x" not in str(caught.value)


def test_mhh_data_csv_linked_inside_the_root_is_read(
        pristine: dict[str, Path], tmp_path: Path) -> None:
    root = _copy(pristine["mhh"], tmp_path)
    (root / "tables").mkdir()
    (root / "data.csv").rename(root / "tables" / "data.csv")
    (root / "data.csv").symlink_to(Path("tables") / "data.csv")
    baseline = ci.load({"mhh": pristine["mhh"]}, progress=False)
    cohort = ci.load({"mhh": root}, progress=False)
    assert len(cohort.images) == len(baseline.images) > 0
    assert_files_accounted(cohort, root)


def test_mhh_image_folder_linked_out_of_the_root_is_not_read(
        pristine: dict[str, Path], tmp_path: Path) -> None:
    root = _copy(pristine["mhh"], tmp_path)
    elsewhere = tmp_path / "elsewhere-png"
    shutil.move(root / "png", elsewhere)
    (root / "png").symlink_to(elsewhere)
    cohort = ci.load({"mhh": root}, progress=False)
    _assert_link_ignored(cohort, root / "png")
    used = cohort.files[cohort.files["status"] == "used"]["path"]
    assert not used.str.startswith(str(root / "png")).any()
    assert not cohort.images["preview_path"].notna().any()
    assert_files_accounted(cohort, root)


def test_mhh_image_linked_out_of_the_root_is_not_read(
        pristine: dict[str, Path], tmp_path: Path) -> None:
    root = _copy(pristine["mhh"], tmp_path)
    png = sorted((root / "png").glob("*.png"))[0]
    moved = tmp_path / "elsewhere.png"
    shutil.move(png, moved)
    png.symlink_to(moved)
    cohort = ci.load({"mhh": root}, progress=False)
    _assert_link_ignored(cohort, png)
    assert str(png) not in set(cohort.images["preview_path"].dropna())
    assert_files_accounted(cohort, root)


# ---------------------------------------------------------------------- MIDRC
def test_midrc_tsv_linked_out_of_the_root_is_not_read(
        pristine: dict[str, Path], tmp_path: Path, outside: Path) -> None:
    root = _copy(pristine["midrc"], tmp_path)
    link = root / "case_more.tsv"
    link.symlink_to(outside)
    cohort = ci.load({"midrc": root}, progress=False)
    _assert_link_ignored(cohort, link)
    assert SECRET not in _text_of(cohort) and "root:x" not in _text_of(cohort)
    assert_files_accounted(cohort, root)


def test_midrc_case_tsv_linked_out_of_the_root_is_not_read(
        pristine: dict[str, Path], tmp_path: Path, outside: Path) -> None:
    root = _copy(pristine["midrc"], tmp_path)
    (root / "case.tsv").unlink()
    (root / "case.tsv").symlink_to(outside)
    with pytest.raises(LoadError) as caught:
        ci.load({"midrc": root}, progress=False)
    assert SECRET not in str(caught.value) and "root:x" not in str(caught.value)


def test_midrc_detect_does_not_read_a_linked_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "case.tsv").write_text("submitter_id\tage_at_index\nC1\t40\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "exports").symlink_to(elsewhere)
    assert not midrc.detect(str(root))


# ---------------------------------------------------------------------- every source
@pytest.mark.parametrize("source", ["mhh", "nccid", "crdw", "midrc", "tcia"])
def test_a_file_link_out_of_the_root_is_ignored_in_every_source(
        source: str, pristine: dict[str, Path], tmp_path: Path, outside: Path) -> None:
    root = _copy(pristine[source], tmp_path)
    link = root / ("extra.csv" if source != "midrc" else "extra.tsv")
    link.symlink_to(outside)
    cohort = ci.load({source: root}, progress=False)
    _assert_link_ignored(cohort, link)
    assert SECRET not in _text_of(cohort)
    assert_files_accounted(cohort, root)
