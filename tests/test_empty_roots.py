"""No source crashes on a root that holds no usable image (docs/reliability.md, "Roots without
usable images").

Two families of roots, for every source:

* **bare roots** -- nothing, or only one file of no use (a real OT secondary capture from
  pydicom's test set, a text file, an unreadable file): a source whose layout is defined by an
  index file it lacks (MHH ``data.csv``, NCCID's clinical files, MIDRC's case export) raises a
  :class:`~covidimg.errors.LoadError` naming the root and what it looked for ("not this
  source"); a source whose layout is a tree of images (CRDW, TCIA) returns an empty cohort
  with a ``no_images`` finding;
* **image-less layouts** -- the source's own demo tree with every image removed and one such
  file put where the first image was: the load returns the patients the clinical files give
  (TCIA keeps only imaged patients and says so), every file in ``files``, the useless file
  never ``used``, a finding naming it when it is DICOM, and never an exception.
"""

from __future__ import annotations

import importlib
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

import covidimg as ci
from covidimg.errors import LoadError
from covidimg.table_paths import split_path

SOURCES = ("mhh", "nccid", "crdw", "midrc", "tcia")
#: Sources whose layout is defined by an index file: a root without it is not this source.
INDEXED = {"mhh", "nccid", "midrc"}
BAD = ("nothing", "ot", "text", "unreadable")
#: The fewest patients each demo writer plants its quirks with.
DEMO_PATIENTS = {"mhh": 3, "nccid": 3, "crdw": 4, "midrc": 3, "tcia": 8}
IMAGE_SUFFIXES = (".dcm", ".png", ".nii.gz", ".nii", ".zip")
OT_FILE = get_testdata_file("SC_rgb.dcm")  # a real secondary capture, Modality OT


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COVIDIMG_CACHE", str(tmp_path / "cache"))


def put_bad_file(folder: Path, bad: str, *, like: str = "image.dcm") -> Path | None:
    """Write the useless file ``bad`` into ``folder``; return it (None for ``nothing``).

    ``like`` names the file it stands in for: where that is a zip (CRDW's exams), the OT file
    goes into a zip of that name and the unreadable file is a zip that is not one."""
    folder.mkdir(parents=True, exist_ok=True)
    if bad == "nothing":
        return None
    if bad == "text":
        path = folder / "notes.txt"
        path.write_text("downloaded 2020-06-01\n")
        return path
    if like.endswith(".zip"):
        path = folder / like
        if bad == "ot":
            with zipfile.ZipFile(path, "w") as zf:
                zf.write(OT_FILE, "1-1/IM-0001.dcm")
        else:
            path.write_bytes(b"PK\x03\x04" + bytes(60))  # the start of a zip, then nothing
        return path
    path = folder / "image.dcm"
    if bad == "ot":
        shutil.copyfile(OT_FILE, path)
    else:
        path.write_bytes(bytes(132) + b"DICM" + bytes(64))  # a DICOM marker, then zeros
    return path


def accounted(cohort: ci.Cohort, root: Path) -> None:
    """Every file under ``root`` has exactly one ``files`` row."""
    on_disk = sorted(str(p) for p in root.rglob("*") if p.is_file())
    listed = sorted(split_path(p)[0] for p in cohort.files["path"])
    assert listed == on_disk


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("source", SOURCES)
def test_bare_root(tmp_path, source, bad):
    root = tmp_path / "download"
    bad_file = put_bad_file(root, bad)
    if source in INDEXED:
        with pytest.raises(LoadError) as info:
            ci.load({source: str(root)}, index_cache=False)
        assert str(root) in str(info.value)
        return
    cohort = ci.load({source: str(root)}, index_cache=False)
    assert len(cohort.patients) == 0 and len(cohort.images) == 0
    accounted(cohort, root)
    no_images = cohort.findings[cohort.findings["kind"] == "no_images"]
    assert no_images["path"].tolist() == [str(root)]
    if bad_file is not None:
        (status,) = cohort.files.loc[cohort.files["path"] == str(bad_file), "status"]
        assert status in ("ignored", "rejected")


@pytest.fixture(scope="module")
def demo_trees(tmp_path_factory):
    """One small demo tree per source, written once; each test strips a copy."""
    trees = {}
    for source in SOURCES:
        root = tmp_path_factory.mktemp(f"demo-{source}") / source
        truth = importlib.import_module(f"covidimg.demo.{source}").write(
            root, rng=np.random.default_rng(7), n_patients=DEMO_PATIENTS[source])
        trees[source] = (root, truth)
    return trees


def stripped_copy(tree: Path, dest: Path, bad: str) -> tuple[Path, Path | None]:
    """A copy of ``tree`` without any image file, the useless file where the first was."""
    shutil.copytree(tree, dest)
    images = sorted(p for p in dest.rglob("*") if p.is_file() and
                    (p.name.lower().endswith(IMAGE_SUFFIXES) or "." not in p.name))
    assert images, f"the demo tree {tree} holds no image file"
    first = images[0]
    for path in images:
        path.unlink()
    return dest, put_bad_file(first.parent, bad, like=first.name)


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("source", SOURCES)
def test_layout_without_usable_images(tmp_path, demo_trees, source, bad):
    tree, truth = demo_trees[source]
    root, bad_file = stripped_copy(tree, tmp_path / source, bad)
    cohort = ci.load({source: str(root)}, index_cache=False)  # never raises

    accounted(cohort, root)
    assert not any(os.path.exists(split_path(p)[0]) for p in cohort.images["path"])
    assert set(cohort.patients["patient_uid"]) <= set(truth.patients["patient_uid"])
    if source == "tcia":  # TCIA's patients are its imaged ones; the sheets' are reported
        assert len(cohort.patients) == 0
        assert "patients_without_images" in set(cohort.findings["kind"])
    else:
        assert len(cohort.patients) > 0
    if source in ("crdw", "tcia"):
        assert "no_images" in set(cohort.findings["kind"])
    if bad_file is None:
        return
    rows = cohort.files[cohort.files["path"] == str(bad_file)]
    assert len(rows) == 1 and rows["status"].iat[0] != "used"
    if bad in ("ot", "unreadable") and source != "mhh":  # MHH reads PNG and NIfTI only
        named = cohort.findings["path"].fillna("").str.startswith(str(bad_file))
        assert named.any(), cohort.findings[["kind", "path", "detail"]].to_string()
