"""Write the MHH demo, load it with the real loader, compare with the truth it encodes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import covidimg as ci
from covidimg.demo import generate_demo
from covidimg.schema import ANALYTES


@pytest.fixture(scope="module", params=[(0, 8), (1, 25), (7, 60)],
                ids=lambda p: f"seed{p[0]}-n{p[1]}")
def written(request, tmp_path_factory):
    seed, n = request.param
    folder = tmp_path_factory.mktemp(f"demo{seed}")
    truth = generate_demo(folder, sources=["mhh"], seed=seed, n_patients=n)["mhh"]
    return truth, ci.load({"mhh": folder / "mhh"}, progress=False), folder / "mhh"


def test_patients_match(written):
    truth, cohort, _ = written
    got = cohort.patients.set_index("patient_uid").sort_index()
    want = truth.patients.set_index("patient_uid").sort_index()
    assert got.index.tolist() == want.index.tolist()
    assert got["sex"].astype(str).tolist() == want["sex"].tolist()
    assert got["icu"].astype(bool).tolist() == want["icu"].tolist()
    assert got["died"].astype(bool).tolist() == want["died"].tolist()


def test_images_match(written):
    truth, cohort, _ = written
    got = cohort.images.set_index("image_uid").sort_index()
    want = truth.images.set_index("image_uid").sort_index()
    assert got.index.tolist() == want.index.tolist()
    for column in ("day", "admission_offset", "icu_admission_offset", "icu_release_offset",
                   "death_offset", "rows", "columns"):
        np.testing.assert_allclose(got[column].astype(float), want[column].astype(float),
                                   err_msg=column)
    for column in ("modality", "view", "format", "patient_uid"):
        assert got[column].astype(str).tolist() == want[column].tolist(), column


def test_events_match(written):
    truth, cohort, _ = written
    key = ["patient_uid", "event"]
    got = cohort.events.astype({"event": str}).sort_values(key).reset_index(drop=True)
    want = truth.events.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[[*key, "day"]], want[[*key, "day"]], check_dtype=False)


def test_labs_are_intervals_that_contain_the_true_value(written):
    truth, cohort, _ = written
    key = ["image_uid", "analyte"]
    got = cohort.labs.astype({"analyte": str}).set_index(key).sort_index()
    want = truth.labs.set_index(key).sort_index()
    assert got.index.tolist() == want.index.tolist()
    assert (got["lower"] <= want["value"] + 1e-9).all()
    assert (want["value"] < got["upper"] + 1e-9).all()
    assert got["censor"].astype(str).tolist() == want["censor"].tolist()
    np.testing.assert_allclose(got["day"], want["day"])
    finite = want["censor"] == "interval"
    precision = np.array([ANALYTES[a].mhh_precision for a in want.index.get_level_values(1)])
    np.testing.assert_allclose((got["upper"] - got["lower"])[finite], precision[finite.to_numpy()])


def test_published_size_and_weight_are_observations(written):
    truth, cohort, _ = written
    want = truth.observations
    got = cohort.observations
    assert len(want) > 0
    key = ["patient_uid", "field"]
    pd.testing.assert_frame_equal(
        got[[*key, "value_num"]].sort_values(key).reset_index(drop=True),
        want[[*key, "value_num"]].sort_values(key).reset_index(drop=True), check_dtype=False)
    assert set(got["unit"]) == {"cm", "kg"}


def test_planted_quirks_are_found_and_nothing_else(written):
    truth, cohort, _ = written
    planted = truth.findings[["kind", "patient_uid"]].sort_values("kind").reset_index(drop=True)
    found = cohort.findings[["kind", "patient_uid"]].sort_values("kind").reset_index(drop=True)
    pd.testing.assert_frame_equal(found, planted, check_dtype=False)


def test_every_written_file_is_in_the_files_table(written):
    truth, cohort, root = written
    assert len(cohort.files) == truth.n_files == sum(1 for p in root.rglob("*") if p.is_file())
    assert set(cohort.files["status"].astype(str)) <= {"used", "ignored"}


def test_generation_is_deterministic(tmp_path):
    a = generate_demo(tmp_path / "a", sources=["mhh"], seed=3, n_patients=5)["mhh"]
    b = generate_demo(tmp_path / "b", sources=["mhh"], seed=3, n_patients=5)["mhh"]
    pd.testing.assert_frame_equal(a.images, b.images)
    assert (tmp_path / "a/mhh/data.csv").read_bytes() == (tmp_path / "b/mhh/data.csv").read_bytes()


def test_demo_has_censored_labs_and_repeat_exams(tmp_path):
    truth = generate_demo(tmp_path, sources=["mhh"], seed=0, n_patients=60)["mhh"]
    assert set(truth.labs["censor"]) >= {"left", "right", "interval"}
    assert truth.images.groupby("patient_uid").size().max() >= 4


def test_load_demo_is_cached(tmp_path):
    first = ci.load_demo(sources=["mhh"], n_patients=6, cache=tmp_path)
    again = ci.load_demo(sources=["mhh"], n_patients=6, cache=tmp_path)
    pd.testing.assert_frame_equal(first.images, again.images)
    assert next(iter((tmp_path / "demo").iterdir())).joinpath("cohort", "manifest.json").is_file()


def test_unknown_demo_source_is_named():
    with pytest.raises(ValueError, match="'ehr'"):
        ci.load_demo(sources=["ehr"])
