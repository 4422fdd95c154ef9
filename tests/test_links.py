"""Cross-source identity: the demo plants a TCIA radiograph in MIDRC (same UIDs) and another
re-encoded as an MHH PNG; links() must report both, and split/dedupe must use them."""

from __future__ import annotations

import pandas as pd
import pytest

import covidimg as ci
from covidimg.demo import generate_demo
from covidimg.demo.shared_images import planted_links

SOURCES = ["mhh", "midrc", "tcia"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("shared-demo")
    generate_demo(folder, sources=SOURCES, n_patients=10, shared_images=True)
    cohort = ci.load({s: folder / s for s in SOURCES}, progress=False)
    return cohort, planted_links(folder), folder


def _pairs(links: pd.DataFrame, kind: str, a: str = "image_uid",
           b: str = "other_image_uid") -> set[frozenset[str]]:
    chosen = links[links["kind"] == kind]
    return {frozenset((str(x), str(y))) for x, y in zip(chosen[a], chosen[b], strict=True)}


def test_the_planted_copies_load_as_the_truth_says(planted):
    cohort, _truth, folder = planted
    from covidimg.demo import demo_truth

    truths = demo_truth(folder)
    for source in SOURCES:
        expected = truths[source].images.set_index("image_uid")
        got = cohort.images[cohort.images["source"] == source].set_index("image_uid")
        assert set(got.index) == set(expected.index)
        assert (got.loc[expected.index, "rows"].astype(int).to_numpy()
                == expected["rows"].astype(int).to_numpy()).all()


def test_links_by_uid_find_the_same_instance_only(planted):
    cohort, truth, _ = planted
    links = cohort.links()
    uid_truth = truth[truth["evidence"] == "SOP Instance UID"]
    assert _pairs(links, "same_image_as") == _pairs(uid_truth, "same_image_as")
    row = links[links["kind"] == "same_image_as"].iloc[0]
    assert row["evidence"].startswith("SOP Instance UID ") and row["distance"] == 0
    assert _pairs(links, "same_patient_as", "patient_uid", "other_patient_uid") == _pairs(
        uid_truth, "same_image_as", "patient_uid", "other_patient_uid")


def test_links_by_pixels_find_the_reencoded_png_and_nothing_else(planted):
    cohort, truth, _ = planted
    links = cohort.links(by=["uid", "pixels"])
    assert _pairs(links, "same_image_as") == _pairs(truth, "same_image_as")
    png = links[links["image_uid"].str.startswith("mhh:")
                | links["other_image_uid"].str.startswith("mhh:")]
    png = png[png["kind"] == "same_image_as"].iloc[0]
    assert png["evidence"].startswith("pixel hash distance") and 0 < png["distance"] <= 0.04
    assert _pairs(links, "same_patient_as", "patient_uid", "other_patient_uid") == _pairs(
        truth, "same_image_as", "patient_uid", "other_patient_uid")


def test_links_are_findings_that_travel_with_a_saved_cohort(planted, tmp_path):
    cohort, truth, _ = planted
    linked = cohort.with_links(by=["uid", "pixels"])
    kinds = linked.findings["kind"].value_counts()
    assert kinds["same_image_as"] == 4 and kinds["same_patient_as"] == 4   # one per side
    detail = linked.findings.loc[linked.findings["kind"] == "same_image_as", "detail"].iloc[0]
    assert detail.startswith("same image as '")
    linked.save(tmp_path / "c")
    reopened = ci.Cohort.open(tmp_path / "c")
    assert _pairs(reopened.links(), "same_image_as") == _pairs(truth, "same_image_as")
    assert len(reopened.with_links().findings) == len(linked.findings)   # nothing twice


def test_split_keeps_linked_patients_on_one_side(planted):
    cohort, truth, _ = planted
    linked = cohort.with_links(by=["uid", "pixels"])
    for seed in range(8):
        split = linked.split(test=0.5, seed=seed)
        side = dict(zip(split.patients["patient_uid"], split.patients["split"], strict=True))
        for a, b in zip(truth["patient_uid"], truth["other_patient_uid"], strict=True):
            assert side[a] == side[b]
        test_images = set(split.filter(split="test").images["image_uid"])
        train_images = set(split.filter(split="train").images["image_uid"])
        for a, b in zip(truth["image_uid"], truth["other_image_uid"], strict=True):
            assert not ({a, b} & test_images and {a, b} & train_images)


def test_dedupe_keeps_one_copy_by_the_stated_rule(planted):
    cohort, truth, _ = planted
    links = cohort.links(by=["uid", "pixels"])
    kept = cohort.dedupe(links=links, prefer=["tcia"])
    assert len(kept.images) == len(cohort.images) - 2
    dropped = set(cohort.images["image_uid"]) - set(kept.images["image_uid"])
    assert dropped == set(truth["image_uid"])                    # the MIDRC and MHH copies
    notes = kept.findings[kept.findings["kind"] == "duplicate_image"]
    assert set(notes["image_uid"]) == dropped
    assert len(kept.patients) == len(cohort.patients)
    largest = cohort.dedupe(links=links, keep="largest")
    mhh_copy = truth.loc[truth["evidence"] == "pixel hash", "image_uid"].iloc[0]
    assert mhh_copy in set(largest.images["image_uid"])          # 256 x 256 beats 128 x 128
    with pytest.raises(ValueError, match="keep"):
        cohort.dedupe(keep="best")  # type: ignore[arg-type]


def test_uid_links_by_series_and_study():
    from covidimg.cohort._links import uid_links

    images = pd.DataFrame({
        "image_uid": ["tcia:1.5", "idc:1.5", "midrc:2.1", "tcia:2.2"],
        "patient_uid": ["tcia:a", "idc:b", "midrc:c", "tcia:d"],
        "source": ["tcia", "idc", "midrc", "tcia"], "format": ["dicom", "dicom", "dicom", "dicom"],
        "modality": ["CT", "CT", "CR", "CR"], "study_uid": ["9.1", "9.1", "9.2", "9.2"],
        "series_uid": ["1.5", "1.5", "3.1", "3.2"], "n_instances": [40, 40, 1, 1]})
    links = uid_links(images)
    assert _pairs(links, "same_image_as") == {frozenset(("tcia:1.5", "idc:1.5"))}
    assert _pairs(links, "same_patient_as", "patient_uid", "other_patient_uid") == {
        frozenset(("tcia:a", "idc:b")), frozenset(("midrc:c", "tcia:d"))}
