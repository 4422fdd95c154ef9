"""The built-in demo: every source in its native layout, loaded into one cohort."""

from __future__ import annotations

import numpy as np
import pytest

import covidimg as ci
from covidimg.demo import available_sources, demo_truth, generate_demo
from covidimg.schema import ANALYTES


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multi")
    generate_demo(folder, seed=11, n_patients=12)
    sources = available_sources()
    cohort = ci.load({s: folder / s for s in sources}, progress=False)
    return folder, sources, cohort


def test_every_source_is_in_the_demo(demo):
    _, sources, cohort = demo
    assert set(sources) == {"mhh", "nccid", "crdw", "midrc", "tcia"}
    assert set(cohort.patients["source"].astype(str)) == set(sources)


def test_uids_stay_unique_across_sources(demo):
    _, _, cohort = demo
    assert cohort.patients["patient_uid"].is_unique
    assert cohort.images["image_uid"].is_unique
    for table in (cohort.patients, cohort.images):
        prefix = table["patient_uid"].str.split(":").str[0]
        assert (prefix == table["source"].astype(str)).all()


def test_each_analyte_has_one_unit_across_sources(demo):
    _, _, cohort = demo
    units = cohort.labs.groupby("analyte", observed=True)["unit"].unique()
    for analyte, found in units.items():
        assert list(found) == [ANALYTES[analyte].unit], analyte


def test_nothing_lost_across_sources(demo):
    folder, sources, cohort = demo
    for source in sources:
        on_disk = sum(1 for p in (folder / source).rglob("*") if p.is_file())
        rows = cohort.files[cohort.files["source"] == source]
        assert len(rows) == on_disk, source
    truths = demo_truth(folder)
    assert sum(t.n_files for t in truths.values()) == len(cohort.files)


def test_planted_findings_are_reported(demo):
    folder, _, cohort = demo
    for source, truth in demo_truth(folder).items():
        found = cohort.findings[cohort.findings["source"] == source]
        missing = set(truth.findings["kind"]) - set(found["kind"])
        assert not missing, f"{source}: planted {missing} not reported"


def test_day_axes_put_exams_near_admission(demo):
    _, _, cohort = demo
    admitted = cohort.events[cohort.events["event"] == "admission"]
    assert (admitted["day"] == 0).all()
    assert np.nanmedian(cohort.images["day"]) < 30


def test_filter_across_sources(demo):
    _, _, cohort = demo
    ct = cohort.filter(modality="CT")
    assert len(ct.images) > 0 and set(ct.images["modality"]) == {"CT"}
    assert (ct.images["n_instances"] > 1).all()
    women = cohort.filter(sex="F", source=["mhh", "nccid"])
    assert set(women.patients["source"].astype(str)) <= {"mhh", "nccid"}
