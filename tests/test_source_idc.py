"""The IDC source against IDC's real series index (idc-index-data), offline.

The truth is the index itself, queried here with DuckDB SQL on the Parquet file (not with the
loader's pyarrow code), and values read off the index by hand.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import covidimg as ci
from covidimg.errors import LoadError
from covidimg.sources import idc

idc_index_data = pytest.importorskip("idc_index_data")
duckdb = pytest.importorskip("duckdb")

INDEX = str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)
COVID = ("covid_19_ar", "covid_19_ny_sbu", "midrc_ricord_1a", "midrc_ricord_1b",
         "midrc_ricord_1c")
NAMES = {"covid_19_ar": "COVID-19-AR", "covid_19_ny_sbu": "COVID-19-NY-SBU",
         "midrc_ricord_1a": "MIDRC-RICORD-1A", "midrc_ricord_1b": "MIDRC-RICORD-1B",
         "midrc_ricord_1c": "MIDRC-RICORD-1C"}


def sql(query: str) -> pd.DataFrame:
    return duckdb.sql(query.replace("INDEX", f"read_parquet('{INDEX}')")).df()


@pytest.fixture(scope="module")
def covid() -> ci.Cohort:
    return ci.load({"idc": list(COVID)}, progress=False)


def test_counts_are_the_index(covid: ci.Cohort) -> None:
    truth = sql("SELECT collection_id, count(*) AS series, count(DISTINCT PatientID) AS patients "
                "FROM INDEX WHERE collection_id IN ('covid_19_ar','covid_19_ny_sbu',"
                "'midrc_ricord_1a','midrc_ricord_1b','midrc_ricord_1c') AND Modality IN "
                "('CR','DX','CT','MR') GROUP BY 1")
    truth["collection"] = truth["collection_id"].map(NAMES)
    truth = truth.set_index("collection")
    images = covid.images.groupby(covid.images["collection"].astype(str)).size()
    patients = covid.patients.groupby(covid.patients["collection"].astype(str)).size()
    assert images.to_dict() == truth["series"].to_dict()
    assert patients.to_dict() == truth["patients"].to_dict()
    # the figures of idc-index-data 25.x, as published in the issue
    if idc_index_data.__version__.startswith("25."):
        assert images.to_dict() == {"COVID-19-AR": 461, "COVID-19-NY-SBU": 17_910,
                                    "MIDRC-RICORD-1A": 229, "MIDRC-RICORD-1B": 120,
                                    "MIDRC-RICORD-1C": 1_241}
        assert patients.sum() == 105 + 1_384 + 110 + 117 + 361


def test_other_series_are_accounted_for(covid: ci.Cohort) -> None:
    other = sql("SELECT series_aws_url, Modality FROM INDEX WHERE collection_id IN "
                "('covid_19_ar','covid_19_ny_sbu','midrc_ricord_1a','midrc_ricord_1b',"
                "'midrc_ricord_1c') AND Modality NOT IN ('CR','DX','CT','MR')")
    ignored = covid.files[covid.files["status"] == "ignored"]
    assert sorted(ignored["path"]) == sorted(other["series_aws_url"].str.removesuffix("*"))
    assert ignored["reason"].str.contains("not a CR, DX, CT or MR").all()
    found = covid.findings[covid.findings["kind"] == "unsupported_modality"]
    counted = found["detail"].str.extract(r": (\d+) (\w+) series")
    assert counted[0].astype(int).sum() == len(other)
    assert dict(zip(counted[1], counted[0].astype(int), strict=True)) == \
        other["Modality"].value_counts().to_dict()
    used = covid.files[covid.files["status"] == "used"]
    assert len(used) == len(covid.images)
    assert set(used["image_uid"]) == set(covid.images["image_uid"])


def test_series_columns_match_the_index(covid: ci.Cohort) -> None:
    truth = sql("SELECT SeriesInstanceUID, instanceCount, license_short_name, source_DOI, "
                "series_aws_url, Modality, BodyPartExamined FROM INDEX WHERE collection_id IN "
                "('covid_19_ar','midrc_ricord_1b') AND Modality IN ('CR','DX','CT','MR')")
    images = covid.images.set_index(covid.images["series_uid"].astype(str))
    got = images.loc[truth["SeriesInstanceUID"]]
    assert (got["n_instances"].to_numpy() == truth["instanceCount"].to_numpy()).all()
    assert (got["license"].astype(str).to_numpy() == truth["license_short_name"].to_numpy()).all()
    assert (got["doi"].astype(str).to_numpy() == truth["source_DOI"].to_numpy()).all()
    assert (got["path"].to_numpy() == truth["series_aws_url"].str.removesuffix("*")
            .to_numpy()).all()
    assert (got["modality"].astype(str).to_numpy() == truth["Modality"].to_numpy()).all()
    assert (got["image_uid"].to_numpy() == ("idc:" + truth["SeriesInstanceUID"]).to_numpy()).all()
    # licence and DOI on every image; RICORD is CC BY-NC 4.0
    assert covid.images["license"].notna().all() and covid.images["doi"].notna().all()
    ricord = covid.images["collection"].astype(str).str.startswith("MIDRC-RICORD")
    assert set(covid.images.loc[ricord, "license"]) == {"CC BY-NC 4.0"}
    assert set(covid.images.loc[~ricord, "license"]) == {"CC BY 4.0"}
    # radiographs with several instances are one row each, with their count
    several = sql("SELECT count(*) AS n FROM INDEX WHERE collection_id IN ('covid_19_ar',"
                  "'covid_19_ny_sbu','midrc_ricord_1c') AND Modality IN ('CR','DX') AND "
                  "instanceCount > 1")["n"].iat[0]
    radiographs = covid.images["modality"].isin(["CR", "DX"])
    assert (covid.images.loc[radiographs, "n_instances"] > 1).sum() == several


def test_patient_and_day_axis_by_hand(covid: ci.Cohort) -> None:
    # read off the index: COVID-19-AR-16406488 is 067Y, M; studies on 2012-01-15 (first),
    # 2012-01-17 and 2012-02-14
    rows = sql("SELECT DISTINCT PatientAge, PatientSex, StudyDate FROM INDEX WHERE PatientID = "
               "'COVID-19-AR-16406488' ORDER BY StudyDate")
    patient = covid.patients.set_index("patient_uid").loc["idc:COVID-19-AR-16406488"]
    first_age = rows["PatientAge"].iat[0]
    assert patient["age_min"] == patient["age_max"] == float(first_age[:3])
    assert patient["sex"] == rows["PatientSex"].iat[0]
    assert patient["covid_status"] == "positive"
    assert patient["site"] == "University of Arkansas for Medical Sciences"
    dates = pd.to_datetime(rows["StudyDate"]).drop_duplicates()
    expected = sorted((dates - dates.min()).dt.days.astype(float))
    images = covid.images[covid.images["patient_uid"] == "idc:COVID-19-AR-16406488"]
    assert sorted(images["day"].unique()) == expected
    # every patient's first exam is day 0 (no patient has an undated exam in this index)
    assert (covid.images.groupby("patient_uid", observed=True)["day"].min() == 0).all()


def test_defaults_per_collection(covid: ci.Cohort) -> None:
    status = covid.patients.groupby(["collection", "covid_status"], observed=True).size()
    assert status.loc["MIDRC-RICORD-1B"].index.tolist() == ["negative"]
    for name in ("COVID-19-AR", "COVID-19-NY-SBU", "MIDRC-RICORD-1A", "MIDRC-RICORD-1C"):
        assert status.loc[name].index.tolist() == ["positive"]
    ricord = covid.patients[covid.patients["collection"] == "MIDRC-RICORD-1C"]
    # read off the index: RICORD-1C's PatientIDs are MIDRC-RICORD-1C-<site>-<n>, the sites
    # 419639 (172 patients), 440808 (18) and SITE2 (171)
    assert ricord["site"].value_counts().to_dict() == {"419639": 172, "SITE2": 171,
                                                       "440808": 18}
    assert (ricord["source_patient_id"].str.split("-").str[3] == ricord["site"]).all()
    # DICOM sex O (other) reads as U, as do empty ones
    other = sql("SELECT count(DISTINCT PatientID) AS n FROM INDEX WHERE collection_id IN "
                "('covid_19_ar','covid_19_ny_sbu','midrc_ricord_1a','midrc_ricord_1b',"
                "'midrc_ricord_1c') AND (PatientSex IS NULL OR PatientSex NOT IN ('F','M'))")
    assert (covid.patients["sex"] == "U").sum() == other["n"].iat[0]


def test_descriptions_dropped_unless_kept() -> None:
    dropped = ci.load({"idc": "covid_19_ar"}, progress=False)
    assert "study_description" not in dropped.images.columns
    kept = ci.load({"idc": "covid_19_ar"}, progress=False, descriptions="keep")
    truth = sql("SELECT SeriesInstanceUID, StudyDescription FROM INDEX WHERE collection_id = "
                "'covid_19_ar'").set_index("SeriesInstanceUID")["StudyDescription"]
    got = kept.images.set_index(kept.images["series_uid"].astype(str))["study_description"]
    assert got.fillna("").to_dict() == truth.loc[got.index].fillna("").to_dict()
    # the harmonized exam comes from them either way
    assert (dropped.images["exam"].astype(str) == kept.images["exam"].astype(str)).all()
    assert set(dropped.images["exam"].astype(str)) <= {"CXR AP PORTABLE", "CXR AP", "CXR PA",
                                                       "CXR LAT", "CXR", "CT CHEST",
                                                       "CT CHEST W CONTRAST", "CTA CHEST", "CT",
                                                       "CT CHEST ABDOMEN PELVIS", "XR"}


def test_roots() -> None:
    assert idc.root_of(["covid_19_ar", "covid_19_ar", "midrc_ricord_1c"]) == \
        "idc://covid_19_ar,midrc_ricord_1c"
    assert idc.collection_ids("idc://covid") == COVID
    assert ci.detect_source("idc://covid_19_ar") == "idc"
    one = ci.load("idc://midrc_ricord_1b", progress=False)
    two = ci.load({"idc": ("midrc_ricord_1b",)}, progress=False)
    pd.testing.assert_frame_equal(one.images, two.images)
    assert len(one.images) == sql("SELECT count(*) AS n FROM INDEX WHERE collection_id = "
                                  "'midrc_ricord_1b'")["n"].iat[0]
    with pytest.raises(ValueError, match=r"'covid_19_arr' is not in IDC's index.*covid_19_ar"):
        ci.load({"idc": ["covid_19_arr"]}, progress=False)
    with pytest.raises(ValueError, match="names no collection"):
        idc.root_of([])
    with pytest.raises(ValueError, match="option='sheets' is not allowed.*'clinical'"):
        ci.load({"idc": "covid"}, options={"idc": {"sheets": []}}, progress=False)


def test_folders_are_not_idc(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert not idc.detect(str(tmp_path))
    (tmp_path / "covid_19_ar").mkdir()
    assert not idc.detect(str(tmp_path / "covid_19_ar"))


def test_missing_index_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "idc_index_data", None)
    with pytest.raises(LoadError, match=r"pip install 'covidimg\[idc\]'"):
        ci.load({"idc": "covid_19_ar"}, progress=False)


def test_save_and_open_keep_remote_paths(covid: ci.Cohort, tmp_path) -> None:  # type: ignore[no-untyped-def]
    part = covid.filter(source="idc", modality="CT", day=(0, 0))
    part.save(tmp_path / "c")
    back = ci.Cohort.open(tmp_path / "c")
    pd.testing.assert_series_equal(back.images["path"], part.images["path"])
    assert back.images["path"].str.match(r"^s3://idc-open-data[a-z-]*/[0-9a-f-]{36}/$").all()
    assert np.isfinite(back.images["day"]).all()


def test_provenance_and_citations(covid: ci.Cohort) -> None:
    truth = sql("SELECT DISTINCT collection_id, license_short_name, source_DOI FROM INDEX WHERE "
                "collection_id IN ('covid_19_ar','covid_19_ny_sbu','midrc_ricord_1a',"
                "'midrc_ricord_1b','midrc_ricord_1c')")
    prov = covid.provenance.set_index("collection")
    assert len(prov) == 5 and set(prov["source"]) == {"idc"}
    for row in truth.itertuples():
        got = prov.loc[NAMES[row.collection_id]]
        assert got["license"] == row.license_short_name
        assert got["citation"] == f"https://doi.org/{row.source_DOI}"
        assert got["release"] == f"v{idc_index_data.__version__.split('.')[0]}"
    text = covid.citations()
    lines = text.splitlines()
    assert len(lines) == 6  # five collections and IDC itself
    for row in truth.itertuples():
        line = next(x for x in lines if row.source_DOI.lower() in x.lower())
        assert line.endswith(f"Licence: {row.license_short_name}.")
    assert "Desai, S." in text and "(2020)" in text  # COVID-19-AR's published citation
    bibtex = covid.citations("bibtex")
    keys = [line.split("{", 1)[1].rstrip(",") for line in bibtex.splitlines()
            if line.startswith("@misc{")]
    assert len(keys) == len(set(keys)) == 6
    for row in truth.itertuples():
        assert f"doi = {{{row.source_DOI}}}" in bibtex
    with pytest.raises(ValueError, match="style='apa' is not allowed"):
        covid.citations("apa")


def test_citations_of_other_sources_come_from_the_registry(demo_cohort: ci.Cohort) -> None:
    text = demo_cohort.citations()
    assert "https://doi.org/10.6084/m9.figshare.12275009. Licence: CC BY 3.0." in text


@pytest.mark.slow
def test_the_whole_index_is_one_cohort() -> None:
    cohort = ci.load({"idc": "all"}, progress=False)
    truth = sql("WITH s AS (SELECT * FROM INDEX WHERE Modality IN ('CR','DX','CT','MR')), "
                "c AS (SELECT PatientID FROM s GROUP BY 1 HAVING count(DISTINCT collection_id) "
                "> 1) SELECT count(*) AS series, count(DISTINCT CASE WHEN PatientID IN (SELECT "
                "PatientID FROM c) THEN collection_id || '/' || PatientID ELSE PatientID END) "
                "AS patients, count(DISTINCT collection_id) AS collections FROM s")
    assert len(cohort.images) == truth["series"].iat[0]
    assert len(cohort.patients) == truth["patients"].iat[0]
    assert cohort.images["collection"].nunique() == truth["collections"].iat[0]
    assert len(cohort.files) == sql("SELECT count(*) AS n FROM INDEX")["n"].iat[0]
    assert cohort.files["path"].is_unique
    assert idc.collection_ids("idc://all") == idc.index.collections()
