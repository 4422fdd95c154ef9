"""Every folder a user points at: one source's root, a folder of several sources, or neither.

The folder of several sources is what ``covidimg demo DIR`` writes (``DIR/<source>/`` for each
source plus ``DIR/truth/``); what it must load is the truth the generator wrote beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

import covidimg as ci
from covidimg.cohort import is_saved_cohort
from covidimg.demo import available_sources, demo_truth, generate_demo
from covidimg.sources import midrc


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo-native")
    generate_demo(folder, n_patients=8)
    return folder


def _mhh_and_crdw_lookalike(folder: Path) -> Path:
    """A folder both the MHH and the CRDW detection claim (ambiguous)."""
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text("patient_id,image_id,admission_offset\n")
    (folder / "C19_HIRO_LDS_REMAP_PUB-LIST.xlsx").write_bytes(b"")
    return folder


def test_a_folder_of_several_sources_loads_each_one(demo_dir: Path) -> None:
    with pytest.warns(UserWarning) as caught:
        cohort = ci.load(demo_dir, progress=False)
    message = str(caught[0].message)
    assert f"{demo_dir} matches no source itself" in message
    for source in available_sources():  # the sources with a demo
        assert f"{source}/ ({source})" in message
    assert "Skipped: truth/ (matches no source)" in message
    assert caught[0].filename == __file__  # the warning points at the caller's line

    truth = demo_truth(demo_dir)
    assert set(truth) == set(available_sources())
    for source, expected in truth.items():
        got = cohort.patients[cohort.patients["source"] == source]
        assert set(got["patient_uid"]) == set(expected.patients["patient_uid"]), source
        images = cohort.images[cohort.images["source"] == source]
        assert len(images) == len(expected.images), source
    # The same cohort as naming every folder: nothing read twice, nothing orphaned.
    named = ci.load({s: demo_dir / s for s in available_sources()}, progress=False)
    assert cohort.findings_summary()[["source", "kind", "count"]].equals(
        named.findings_summary()[["source", "kind", "count"]])
    assert len(cohort.files) == len(named.files)


def test_a_folder_of_one_source_loads_as_before_without_a_warning(demo_dir: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cohort = ci.load(demo_dir / "mhh", progress=False)
    assert set(cohort.patients["source"].astype(str)) == {"mhh"}
    assert ci.detect_source(demo_dir / "midrc") == "midrc"


def test_midrc_does_not_claim_a_folder_holding_a_midrc_root(demo_dir: Path,
                                                              tmp_path: Path) -> None:
    assert not midrc.detect(str(demo_dir))
    # An export folder of tables beside the DICOM download still makes its parent a MIDRC root.
    root = tmp_path / "midrc"
    (root / "metadata").mkdir(parents=True)
    for table in (demo_dir / "midrc").glob("*.tsv"):
        (root / "metadata" / table.name).write_bytes(table.read_bytes())
    assert midrc.detect(str(root))


def test_nothing_matching_lists_every_sub_folder_and_why(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _mhh_and_crdw_lookalike(tmp_path / "both")
    (tmp_path / "notes.txt").write_text("hello")
    os.symlink(tmp_path / "empty", tmp_path / "link")
    with pytest.raises(ci.SourceDetectionError) as caught:
        ci.load(tmp_path, progress=False)
    message = str(caught.value)
    assert f"cannot tell which source {tmp_path} holds" in message
    assert "empty/ (matches no source)" in message
    assert "both/ (matches several sources ['mhh', 'crdw'])" in message
    assert "link/ (a link, not followed)" in message
    assert "1 file beside the sub-folders" in message
    assert "Looked for:" in message


def test_an_ambiguous_folder_looks_one_level_down(demo_dir: Path, tmp_path: Path) -> None:
    root = _mhh_and_crdw_lookalike(tmp_path / "root")
    with pytest.raises(ci.SourceDetectionError, match=r"matches several sources \['mhh', "
                       r"'crdw'\] itself, nor does any sub-folder match exactly one"):
        ci.load(root, progress=False)
    shutil.copytree(demo_dir / "mhh", root / "mhh")
    os.symlink(demo_dir / "tcia", root / "tcia")  # a link: not followed
    with pytest.warns(UserWarning) as caught:
        cohort = ci.load(root, progress=False)
    message = str(caught[0].message)
    assert "matches several sources ['mhh', 'crdw'] itself" in message
    assert "loading its sub-folders that each match one source: mhh/ (mhh)" in message
    assert "Skipped: tcia/ (a link, not followed)" in message
    assert set(cohort.patients["source"].astype(str)) == {"mhh"}
    assert set(cohort.patients["patient_uid"]) == set(
        demo_truth(demo_dir)["mhh"].patients["patient_uid"])


def test_a_gen3_manifest_is_not_a_saved_cohort(demo_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "midrc"
    folder.mkdir()
    for entry in (demo_dir / "midrc").iterdir():
        (folder / entry.name).symlink_to(entry)
    (folder / "manifest.json").write_text(json.dumps(
        [{"object_id": "dg.MD1R/0a1b", "file_name": "study.zip", "file_size": 1}]))
    assert not is_saved_cohort(folder)
    assert not is_saved_cohort(tmp_path / "missing")
    assert is_saved_cohort(ci.Cohort().save(tmp_path / "saved"))
    with pytest.raises(ci.CohortFileError, match="not a covidimg cohort manifest"):
        ci.Cohort.open(folder)
