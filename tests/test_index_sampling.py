"""Series sampling: three files stand for a CT series only when the folder allows it."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.sources._engine.index import images_from_index, index_dicom
from covidimg.sources._engine.ledger import Ledger
from covidimg.sources._engine.series_sampling import (
    MIN_SERIES_FILES,
    _natural_order,
    index_series_folder,
    natural_key,
)

SLICES = 30


def _series(folder: Path, rng: np.random.Generator, *, n: int = SLICES,
            positions: list[float] | None = None, numbers: list[int] | None = None,
            names: list[str] | None = None, series_uid: str | None = None) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = (rng.random((8, 8)) * 1000 - 1000).astype(np.float32)
    common = dict(modality="CT", patient_id="S-1", study_uid="2.25.99",
                  series_uid=series_uid or uid(rng), study_date=dt.date(2020, 5, 1))
    paths = []
    for k in range(n):
        name = names[k] if names else f"1-{k + 1}.dcm"  # 1-1 ... 1-30: natural order
        path = folder / name
        write_dicom(path, pixels, sop_uid=uid(rng),
                    instance_number=numbers[k] if numbers else k + 1,
                    position_z=positions[k] if positions else -100.0 + 1.25 * k, **common)
        paths.append(str(path))
    return paths


def _full_and_sampled(paths: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    full = index_dicom(paths, Ledger("tcia"), executor=False, cache=False, sample_series=False)
    sampled = index_dicom(paths, Ledger("tcia"), executor=False, cache=False,
                          sample_series=True)
    return (images_from_index(full, "tcia"), images_from_index(sampled, "tcia"), sampled)


def test_sampled_series_keeps_n_instances_and_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    paths = _series(tmp_path / "a", rng) + _series(tmp_path / "b", rng)
    full, sampled, index = _full_and_sampled(paths)
    assert index.counts["inferred"] == 2 * (SLICES - 3)
    assert index.counts["read"] == 6
    assert index.sampling_table()["sampled"].tolist() == [True, True]
    assert sampled["n_instances"].tolist() == [SLICES, SLICES]
    pd.testing.assert_frame_equal(sampled.drop(columns="sop_uids"),
                                  full.drop(columns="sop_uids"))
    # member_paths are in slice order (1-1, 1-2, ..., 1-10, ...), not name order
    first = sampled["member_paths"].iloc[0]
    assert [os.path.basename(p) for p in first[:3]] == ["1-1.dcm", "1-2.dcm", "1-3.dcm"]
    assert os.path.basename(first[9]) == "1-10.dcm"
    read = [u for u in sampled["sop_uids"].iloc[0] if u is not None]
    assert len(read) == 3 and set(read) <= set(full["sop_uids"].iloc[0])


def test_descending_instance_numbers_are_sampled_too(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    numbers = list(range(SLICES, 0, -1))
    positions = [50.0 - 2.0 * k for k in range(SLICES)]
    paths = _series(tmp_path / "a", rng, numbers=numbers, positions=positions)
    full, sampled, index = _full_and_sampled(paths)
    assert index.sampling_table()["sampled"].tolist() == [True]
    pd.testing.assert_frame_equal(sampled.drop(columns="sop_uids"),
                                  full.drop(columns="sop_uids"))


@pytest.mark.parametrize("case", ["shuffled_numbers", "uneven_positions", "two_series",
                                  "odd_size", "too_few", "missing_numbers"])
def test_broken_assumption_falls_back_to_reading_every_file(tmp_path: Path, case: str) -> None:
    rng = np.random.default_rng(5)
    folder = tmp_path / case
    if case == "shuffled_numbers":
        numbers = list(range(1, SLICES + 1))
        numbers[SLICES // 2], numbers[3] = numbers[3], numbers[SLICES // 2]
        paths = _series(folder, rng, numbers=numbers)
        expected = "instance numbers"
    elif case == "uneven_positions":
        positions = [float(k) for k in range(SLICES)]
        positions[SLICES // 2] += 0.5
        paths = _series(folder, rng, positions=positions)
        expected = "not evenly spaced"
    elif case == "two_series":
        names = [f"a{k:03d}.dcm" for k in range(SLICES)]
        paths = _series(folder, rng, names=names)
        paths += _series(folder, rng, names=[f"b{k:03d}.dcm" for k in range(SLICES)])
        expected = "differ in series_uid"
    elif case == "odd_size":
        paths = _series(folder, rng)
        big = Path(paths[5])
        write_dicom(big, np.zeros((32, 32), np.float32), modality="CT", patient_id="S-1",
                    study_uid="2.25.99", series_uid=uid(rng), sop_uid=uid(rng),
                    study_date=dt.date(2020, 5, 1), instance_number=6)
        expected = "file sizes differ"
    elif case == "too_few":  # not even considered: the folder is read as loose files
        paths = _series(folder, rng, n=MIN_SERIES_FILES - 1)
        expected = ""
    else:
        paths = _series(folder, rng)
        write_dicom(Path(paths[0]), (rng.random((8, 8)) * 1000 - 1000).astype(np.float32),
                    modality="CT", patient_id="S-1", study_uid="2.25.99",
                    series_uid="2.25.1", sop_uid=uid(rng), study_date=dt.date(2020, 5, 1),
                    instance_number=1)
        expected = "differ"
    full, sampled, index = _full_and_sampled(paths)
    table = index.sampling_table()
    assert not table["sampled"].any()
    if expected:
        assert expected in table["reason"].iloc[0]
    else:
        assert table.empty
    assert index.counts["inferred"] == 0 and index.counts["read"] == len(paths)
    pd.testing.assert_frame_equal(sampled, full)  # sop_uids included: everything was read


def test_copy_of_a_sampled_series_is_read_in_full_to_find_duplicates(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    paths = _series(tmp_path / "a", rng)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    paths += sorted(str(p) for p in (tmp_path / "b").iterdir())
    ledger = Ledger("tcia")
    index = index_dicom(paths, ledger, executor=False, cache=False)
    assert not index.sampling_table()["sampled"].any()
    assert "repeats an instance" in index.sampling_table()["reason"].iloc[0]
    duplicates = [k for k, v in index.state.items() if v[0] == "duplicate"]
    assert len(duplicates) == SLICES
    assert (ledger.findings_frame()["kind"] == "duplicate_instance").sum() == SLICES


def test_series_folder_function_reports_its_decision(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    paths = _series(tmp_path / "a", rng)
    result = index_series_folder(paths, [os.path.getsize(p) for p in paths])
    assert result.sampled and len(result.inferred) == SLICES - 3
    assert [p for p, _ in result.results][:2] == paths[:2]
    assert result.results[-1][1].instance_number == SLICES


@pytest.mark.parametrize("names", [
    [f"1-{k:03d}.dcm" for k in range(1, 121)],            # one shape: plain string order
    [f"1-{k}.dcm" for k in range(1, 121)],                # 1-9 before 1-10: natural order
    [f"IM-0001-{k:04d}.dcm" for k in (5, 1, 300, 20)] + ["IM-0001-0007"],
    ["a", "b10", "b9", "b010x", "10", "9"],
])
def test_natural_order_equals_sorting_by_natural_key(names: list[str]) -> None:
    rng = np.random.default_rng(11)
    paths = [os.path.join("/data", "series", n) for n in rng.permutation(names)]
    expected = sorted(paths, key=lambda p: natural_key(os.path.basename(p)))
    assert _natural_order(paths) == expected


def test_zero_padded_series_is_sampled_in_slice_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    names = [f"1-{k + 1:03d}.dcm" for k in range(SLICES)]
    paths = _series(tmp_path / "a", rng, names=names)
    shuffled = [paths[k] for k in rng.permutation(len(paths))]
    result = index_series_folder(shuffled, [os.path.getsize(p) for p in shuffled])
    assert result.sampled
    assert [p for p, _ in result.results] == paths
    assert [h.instance_number for _, h in result.results] == list(range(1, SLICES + 1))
