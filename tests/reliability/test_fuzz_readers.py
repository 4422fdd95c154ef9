"""Bounded fuzz runs: seeded byte mutants of DICOM files and zip archives of DICOM.

Each mutant goes through the header reader and the pixel reader (for zips: every member the
archive yields, as ``archive.zip::member``). Nothing may escape but the package's documented
errors (:class:`covidimg.LoadError` subclasses) naming the file, and no header, error or
warning may quote the identifying values planted in the seed files.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from . import corpus
from .harness import fuzz_dicom, fuzz_zip, fuzz_zip_members

#: Mutants per seed file and random seed (bounded: the whole module runs in well under a
#: minute on two cores).
N_MUTANTS = 120
RANDOM_SEEDS = (0, 1)


def dicom_seeds() -> dict[str, bytes]:
    """Seed files: the demo writer's radiograph (with identifying fields), one with nested
    undefined-length sequences, and pydicom's CT, multi-frame MR and JPEG 2000 / RLE files."""
    def testdata(name: str) -> bytes:
        return Path(get_testdata_file(name)).read_bytes()

    return {
        "radiograph": corpus.radiograph_bytes(identifying=True),
        "sequences": corpus._with_sequence(corpus.radiograph_bytes(identifying=True)),
        "ct": testdata("CT_small.dcm"),
        "multiframe": testdata("emri_small.dcm"),
        "jpeg2000": testdata("JPEG2000.dcm"),
        "rle": testdata("MR_small_RLE.dcm"),
    }


def zip_seed() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"1-CHEST/{i:04d}.dcm",
                        corpus.radiograph_bytes(identifying=True, sop=f"2.25.{i + 10}"))
    return buf.getvalue()


def test_mutants_differ_and_are_reproducible() -> None:
    data = corpus.radiograph_bytes()
    first = list(corpus.mutants(data, np.random.default_rng(5), 50))
    again = list(corpus.mutants(data, np.random.default_rng(5), 50))
    assert first == again
    assert all(m != data for m in first)
    assert len(set(first)) > 40


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
@pytest.mark.parametrize("name", list(dicom_seeds()))
def test_dicom_mutants_raise_only_documented_errors(tmp_path: Path, name: str,
                                                    seed: int) -> None:
    tally = fuzz_dicom(dicom_seeds()[name], tmp_path, n=N_MUTANTS, seed=seed)
    assert tally.inputs == N_MUTANTS
    assert tally.crashes == []
    assert tally.leaked == []
    assert 0 < tally.errors < N_MUTANTS       # the mutants do break things, not all of them


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_zip_mutants_raise_only_documented_errors(tmp_path: Path, seed: int) -> None:
    data = zip_seed()
    tally = fuzz_zip(data, tmp_path, n=N_MUTANTS, seed=seed, protect=30)
    assert tally.inputs == N_MUTANTS
    assert tally.crashes == []
    assert tally.leaked == []
    assert tally.errors > 0


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_dicom_mutants_inside_intact_zips(tmp_path: Path, seed: int) -> None:
    data = dicom_seeds()["radiograph"]
    tally = fuzz_zip_members(data, tmp_path, n=N_MUTANTS, seed=seed)
    assert tally.inputs == N_MUTANTS
    assert tally.crashes == []
    assert tally.leaked == []
    assert 0 < tally.errors < N_MUTANTS
