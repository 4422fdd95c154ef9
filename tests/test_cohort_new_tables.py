"""The observations, annotations and provenance tables: built, filtered, combined, saved."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import covidimg as ci
from covidimg import schema
from covidimg.sources import Observations, provenance_frame, provenance_row
from covidimg.sources._engine.free_text import description_policy


@pytest.fixture(scope="module")
def cohort() -> ci.Cohort:
    base = ci.load_demo(n_patients=8, sources=["mhh", "nccid"])
    p1, p2 = base.patients["patient_uid"].iloc[[0, -1]]
    image = base.images.loc[base.images["patient_uid"] == p1, "image_uid"].iloc[0]
    obs = Observations("mhh")
    obs.add(p1, "smoking", value="former", value_raw="ex-smoker", origin="data.csv: row 2")
    obs.add(p2, obs.field("Pack years"), value_num=20, value_raw="20", origin="x.json: k")
    annotations = schema.conform("annotations", pd.DataFrame({
        "annotation_uid": ["mhh:a1"], "patient_uid": [p1], "image_uid": [image],
        "source": ["mhh"], "scheme": ["rale"], "kind": ["score"], "score": [3.0],
        "reader": [1]}))
    return ci.Cohort(**{**base.tables(), "observations": obs.frame(),
                        "annotations": annotations}).validate()


def test_every_load_records_where_each_source_came_from_and_its_terms(cohort):
    prov = cohort.provenance.set_index("source")
    assert sorted(prov.index.astype(str)) == ["mhh", "nccid"]
    assert prov.loc["mhh", "license"] == "CC BY 3.0"
    assert prov.loc["mhh", "citation"] == "https://doi.org/10.6084/m9.figshare.12275009"
    assert "COVID-19 purposes" in prov.loc["nccid", "terms"]
    assert json.loads(prov.loc["mhh", "options"]) == {"convention": "floor"}  # the default
    assert prov["loaded_from"].notna().all()


def test_filter_keeps_observations_and_annotations_of_kept_patients_and_only_their_sources(
        cohort):
    first = cohort.patients["patient_uid"].iloc[0]
    sub = cohort.filter(patient_uid=first)
    assert sub.observations["patient_uid"].tolist() == [first]
    assert sub.annotations["annotation_uid"].tolist() == ["mhh:a1"]
    assert sub.provenance["source"].astype(str).tolist() == ["mhh"]
    assert len(cohort.filter(source="nccid").annotations) == 0


def test_concat_of_parts_keeps_one_provenance_row_per_source(cohort):
    parts = [cohort.filter(sex="F"), cohort.filter(sex="M"), cohort.filter(sex="U")]
    joined = ci.Cohort.concat(parts)
    assert len(joined.provenance) == len(cohort.provenance)
    assert len(joined.observations) == len(cohort.observations)


def test_new_tables_survive_save_and_open(cohort, tmp_path):
    cohort.save(tmp_path / "c")
    back = ci.Cohort.open(tmp_path / "c")
    for name in ("observations", "annotations", "provenance"):
        pd.testing.assert_frame_equal(back.tables()[name], cohort.tables()[name])


def test_a_cohort_saved_before_the_new_tables_opens_with_them_empty(cohort, tmp_path):
    folder = cohort.save(tmp_path / "old")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = 1
    for name in ("observations", "annotations", "provenance"):
        del manifest["rows"][name]
        (folder / manifest["tables_dir"] / f"{name}.parquet").unlink()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    back = ci.Cohort.open(folder)
    assert len(back.patients) == len(cohort.patients)
    assert [len(back.tables()[n]) for n in ("observations", "annotations", "provenance")] == [
        0, 0, 0]


def test_a_current_manifest_without_a_table_count_is_refused(cohort, tmp_path):
    folder = cohort.save(tmp_path / "bad")
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["rows"]["provenance"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ci.CohortFileError, match="'provenance' a row count"):
        ci.Cohort.open(folder)


def test_observation_text_follows_the_free_text_policy():
    obs = Observations("nccid")
    obs.add("nccid:p", obs.field("Comment"), value_raw="seen by Dr Jones", origin="f: k")
    obs.add("nccid:p", "news2", value_num=5, value_raw=" 5 ", origin="f: k")
    assert obs.frame()["value_raw"].tolist() == [
        "(a text of 16 characters (letters, spaces))", "5"]
    with description_policy("keep"):  # the policy concerns exam descriptions only
        obs.add("nccid:p", obs.field("Comment"), value_raw="seen by Dr Jones", origin="f: k")
    assert obs.frame()["value_raw"].iloc[-1] == "(a text of 16 characters (letters, spaces))"


def test_an_unknown_harmonized_field_is_refused_and_published_keys_are_made_safe():
    obs = Observations("midrc")
    with pytest.raises(ValueError, match="not a harmonized observation field"):
        obs.add("midrc:p", "smokin", value="x", origin="f")
    obs.add("midrc:p", obs.field('<img src=x onerror="alert(1)">'), value="x", origin="f")
    field = obs.frame()["field"].iloc[0]
    assert "<" not in field and '"' not in field
    schema.validate("observations", obs.frame())


def test_provenance_removes_credentials_from_where_it_was_loaded():
    row = provenance_row("nccid", loaded_from="s3://KEY:SECRET@bucket/training",
                         options={"storage_options": {"secret": "s3://a:b@c"}})
    frame = provenance_frame([row])
    assert "SECRET" not in frame["loaded_from"].iloc[0]
    assert "a:b@" not in frame["options"].iloc[0]
