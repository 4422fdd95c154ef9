"""Cohort.split: patient-level, reproducible across runs and machines, stable when patients are
added, stratified, and aware of linked identities."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import covidimg as ci

ROOT = Path(__file__).resolve().parents[1]


def _sides(cohort: ci.Cohort) -> dict[str, str]:
    frame = cohort.patients
    return dict(zip(frame["patient_uid"].astype(str), frame["split"].astype(str), strict=True))


def test_the_number_is_sha512_of_seed_and_uid_as_documented():
    from covidimg.cohort._split import hash_fraction

    # hand calculation of the documented rule: first 8 bytes of SHA-512("<seed>:<uid>") / 2**64
    digest = hashlib.sha512(b"7:mhh:abc").hexdigest()
    assert hash_fraction("mhh:abc", 7) == int(digest[:16], 16) / 2**64


def test_unstratified_sides_follow_the_number_alone(demo_cohort):
    from covidimg.cohort._split import hash_fraction

    split = demo_cohort.split(test=0.2, validation=0.1, seed=3, links=pd.DataFrame(
        {"kind": [], "patient_uid": [], "other_patient_uid": []}))
    for uid, side in _sides(split).items():
        u = hash_fraction(uid, 3)
        assert side == ("test" if u < 0.2 else "validation" if u < 0.3 else "train")


def test_identical_on_two_runs_and_under_another_hash_seed(demo_cohort, tmp_path):
    first = demo_cohort.split(test=0.2, stratify=["source", "covid_status"], seed=5)
    second = demo_cohort.split(test=0.2, stratify=["source", "covid_status"], seed=5)
    assert _sides(first) == _sides(second)
    out = tmp_path / "sides.csv"
    code = ("import covidimg as ci; c = ci.load_demo(n_patients=12).split(test=0.2, "
            "stratify=['source', 'covid_status'], seed=5); "
            f"c.patients[['patient_uid', 'split']].to_csv({str(out)!r}, index=False)")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT, timeout=300)
    other = pd.read_csv(out)
    assert dict(zip(other["patient_uid"], other["split"], strict=True)) == _sides(first)
    assert _sides(demo_cohort.split(test=0.2, seed=6)) != _sides(first)


def test_no_patient_changes_side_when_patients_are_added(demo_cohort):
    small = demo_cohort.filter(source=["mhh", "nccid"])
    before = _sides(small.split(test=0.25, seed=0))
    after = _sides(demo_cohort.split(test=0.25, seed=0))          # afresh, more patients
    assert {uid: after[uid] for uid in before} == before
    # stratified: the grown cohort carries the earlier split, and nobody moves
    earlier = small.split(test=0.25, stratify=["source", "covid_status"], seed=0)
    grown = ci.Cohort.concat([earlier, demo_cohort.filter(source=["crdw", "midrc", "tcia"])])
    regrown = _sides(grown.split(test=0.25, stratify=["source", "covid_status"], seed=0))
    assert {uid: regrown[uid] for uid in _sides(earlier)} == _sides(earlier)
    assert "nan" not in set(regrown.values())


def test_each_stratum_holds_its_fractions_within_one(demo_cohort):
    split = demo_cohort.split(test=0.2, validation=0.2, stratify=["source", "covid_status"])
    counts = split.patients.groupby(["source", "covid_status", "split"], observed=True).size()
    for (source, status), n in split.patients.groupby(["source", "covid_status"],
                                                      observed=True).size().items():
        for side, fraction in (("test", 0.2), ("validation", 0.2), ("train", 0.6)):
            got = counts.get((source, status, side), 0)
            assert abs(got - fraction * n) <= 1, (source, status, side, got, n)


def test_no_image_of_a_test_patient_is_in_train(demo_cohort):
    split = demo_cohort.split(test=0.3, validation=0.1, stratify="source", seed=2)
    test, train = split.filter(split="test"), split.filter(split="train")
    assert len(test.images) and len(train.images)
    assert not set(test.images["image_uid"]) & set(train.images["image_uid"])
    assert not set(test.images["patient_uid"]) & set(train.images["patient_uid"])
    assert len(test.patients) + len(train.patients) + len(
        split.filter(split="validation").patients) == len(split.patients)


def test_the_split_is_saved_and_reopened(demo_cohort, tmp_path):
    split = demo_cohort.split(test=0.2)
    split.save(tmp_path / "c")
    assert _sides(ci.Cohort.open(tmp_path / "c")) == _sides(split)


def test_linked_patients_share_a_side(demo_cohort):
    uids = demo_cohort.patients["patient_uid"].astype(str).tolist()
    links = pd.DataFrame({"kind": "same_patient_as", "patient_uid": uids[0::2][:20],
                          "other_patient_uid": uids[1::2][:20]})
    for seed in range(5):
        sides = _sides(demo_cohort.split(test=0.5, seed=seed, links=links))
        assert all(sides[a] == sides[b] for a, b in zip(links["patient_uid"],
                                                         links["other_patient_uid"],
                                                         strict=True))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"test": 1.2}, "test=1.2"), ({"test": 0.6, "validation": 0.5}, "leaves no training"),
    ({"stratify": ["nope"]}, "'nope'"), ({"by": "image"}, "by"), ({"seed": 1.5}, "seed")])
def test_bad_arguments_are_named(demo_cohort, kwargs, message):
    with pytest.raises(ValueError, match=message):
        demo_cohort.split(**kwargs)


def test_filter_refuses_an_unknown_side(demo_cohort):
    with pytest.raises(ValueError, match="allowed values are"):
        demo_cohort.filter(split="holdout")
