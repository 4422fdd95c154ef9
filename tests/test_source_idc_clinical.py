"""TCIA clinical sheets joined onto the IDC-built cohort (``options={"idc": {"clinical": ...}}``).

The sheets are written here in TCIA's real layouts (as :mod:`covidimg.demo.tcia` writes them) for
real patients of IDC's index, picked with DuckDB SQL on the index file (not with the loader's
code). The truth is what was written: the values below, and days counted by hand from the
index's StudyDate. An NBIA tree holding the same series (one DICOM file per series, written with
the index's UIDs, dates, sex and age) and the same sheets, loaded by the ``tcia`` source, must
give the same patients, events, labs, days and labels.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook

import covidimg as ci
from covidimg.demo.dicom_writer import write_dicom
from covidimg.errors import LoadError

idc_index_data = pytest.importorskip("idc_index_data")
duckdb = pytest.importorskip("duckdb")

INDEX = str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)
IDS = ["covid_19_ny_sbu", "covid_19_ar", "midrc_ricord_1a", "midrc_ricord_1b",
       "midrc_ricord_1c"]
NAMES = {"covid_19_ar": "COVID-19-AR", "covid_19_ny_sbu": "COVID-19-NY-SBU",
         "midrc_ricord_1a": "MIDRC-RICORD-1A", "midrc_ricord_1b": "MIDRC-RICORD-1B",
         "midrc_ricord_1c": "MIDRC-RICORD-1C"}
CRP = "1988-5_C reactive protein [Mass/volume] in Serum or Plasma"
DDIMER = "48058-2_Fibrin D-dimer DDU [Mass/volume] in Platelet poor plasma by Immunoassay"
LYMPH = "731-0_Lymphocytes [#/volume] in Blood by Automated count"
SBU_COLUMNS = ["to_patient_id", "covid19_statuses", "last.status", "age.splits",
               "gender_concept_name", "visit_start_datetime", "visit_concept_name", "is_icu",
               "was_ventilated", "invasive_vent_days", "length_of_stay", "D_dimer.above3000",
               CRP, DDIMER, LYMPH]


def sql(query: str) -> pd.DataFrame:
    return duckdb.sql(query.replace("INDEX", f"read_parquet('{INDEX}')")).df()


def _small_patients(collection: str, n: int) -> list[str]:
    """``n`` patients of ``collection`` with 1-3 series, all CR/DX/CT."""
    return sql(f"SELECT PatientID FROM INDEX WHERE collection_id = '{collection}' GROUP BY 1 "
               "HAVING count(*) <= 3 AND bool_and(Modality IN ('CR', 'DX', 'CT')) "
               f"ORDER BY 1 LIMIT {n}")["PatientID"].tolist()


@pytest.fixture(scope="module")
def chosen() -> dict[str, object]:
    """Real patients: two SBU, two AR, one 1B, and a RICORD number that is both a 1A and a 1C
    patient (RICORD numbers repeat across the collections), with their series."""
    mrn = sql("WITH r AS (SELECT collection_id, PatientID, regexp_extract(PatientID, "
              "'^MIDRC-RICORD-1[AC]-(.*)$', 1) AS mrn FROM INDEX WHERE collection_id IN "
              "('midrc_ricord_1a', 'midrc_ricord_1c') GROUP BY 1, 2 HAVING count(*) <= 3 AND "
              "bool_and(Modality IN ('CR', 'DX', 'CT'))) SELECT mrn FROM r GROUP BY 1 "
              "HAVING count(DISTINCT collection_id) = 2 ORDER BY 1 LIMIT 1")["mrn"].iat[0]
    patients = {"sbu": _small_patients("covid_19_ny_sbu", 2),
                "ar": _small_patients("covid_19_ar", 2),
                "r1b": _small_patients("midrc_ricord_1b", 1),
                "r1a": [f"MIDRC-RICORD-1A-{mrn}"], "r1c": [f"MIDRC-RICORD-1C-{mrn}"]}
    every = [p for group in patients.values() for p in group]
    series = sql("SELECT collection_id, PatientID, StudyInstanceUID, SeriesInstanceUID, "
                 "Modality, StudyDate, PatientSex, PatientAge FROM INDEX WHERE PatientID IN "
                 f"({', '.join(repr(p) for p in every)}) ORDER BY PatientID, SeriesInstanceUID")
    series["date"] = pd.to_datetime(series["StudyDate"]).dt.date
    return {"mrn": mrn, "patients": patients, "series": series}


def _first_date(series: pd.DataFrame, pid: str) -> dt.date:
    return min(series.loc[series["PatientID"] == pid, "date"])


def _us(date: dt.date) -> str:
    return f"{date.month}/{date.day}/{date.year}"


def _write_sheets(folder: Path, chosen: dict[str, object]) -> dict[str, object]:
    """The clinical sheets, in TCIA's layouts; returns what was written (the truth)."""
    folder.mkdir(parents=True, exist_ok=True)
    series: pd.DataFrame = chosen["series"]  # type: ignore[assignment]
    p = chosen["patients"]  # type: ignore[assignment]
    sbu1, sbu2 = p["sbu"]
    visit1 = _first_date(series, sbu1) - dt.timedelta(days=2)  # admitted two days before
    visit2 = _first_date(series, sbu2)
    rows = [{"to_patient_id": sbu1, "covid19_statuses": "positive", "last.status": "discharged",
             "age.splits": "(59,74]", "gender_concept_name": "FEMALE",
             "visit_start_datetime": _us(visit1), "visit_concept_name": "Inpatient Visit",
             "is_icu": "TRUE", "was_ventilated": "No", "invasive_vent_days": "NA",
             "length_of_stay": "9", "D_dimer.above3000": "NA", CRP: "2.5", DDIMER: "<150",
             LYMPH: "1.1"},
            {"to_patient_id": sbu2, "covid19_statuses": "positive", "last.status": "deceased",
             "age.splits": "[18,59]", "gender_concept_name": "MALE",
             "visit_start_datetime": _us(visit2), "visit_concept_name": "Emergency Room Visit",
             "is_icu": "FALSE", "was_ventilated": "No", "invasive_vent_days": "NA",
             "length_of_stay": "3", "D_dimer.above3000": "NA", CRP: "pending", DDIMER: "NA",
             LYMPH: "0.8"},
            {"to_patient_id": "A000001", "covid19_statuses": "positive",
             "last.status": "discharged", "age.splits": "[18,59]",
             "gender_concept_name": "FEMALE", "visit_start_datetime": "12/27/1900",
             "visit_concept_name": "Inpatient Visit", "is_icu": "FALSE",
             "length_of_stay": "4"}]
    with open(folder / "deidentified_overlap_tcia.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=SBU_COLUMNS, restval="NA")
        writer.writeheader()
        writer.writerows(rows)

    ar1, _ar2 = p["ar"]  # the second AR patient is missing from the sheet
    book = Workbook()
    book.active.title = "Sheet1"
    book.active.append(["COVID-19-AR Clinical Correlates"])
    book.active.append(["PATIENT_ID", "SEX", "RACE", "AGE", "COVID TEST POSITIVE",
                        "ICU Admit", "# ICU admits", "MORTALITY"])
    book.active.append([ar1, "F", "White", 61, "N", "Y", 1, "N"])
    book.save(folder / "COVID_19_AR_ClinicalCorrelates_July202020.xlsx")

    mrn = str(chosen["mrn"])
    r1a, r1c, r1b = p["r1a"][0], p["r1c"][0], p["r1b"][0]
    first = series.drop_duplicates("PatientID").set_index("PatientID")
    for name, sheet, pid, extra in (
            ("MIDRC-RICORD-1C-Clinical-Data-Jan-13-2021.xlsx", "CR Pos - TCIA Submission", r1c,
             None),
            # a 1A sheet: the same number, its own collection; a study not downloaded
            ("MIDRC-RICORD-1A-Clinical-Data.xlsx", "CT Pos - TCIA Submission", r1a,
             ["999999-000001", "2.25.999"]),
            ("MIDRC-RICORD-1B-Clinical-Data.xlsx", "CT Neg - TCIA Submission", r1b, None)):
        book = Workbook()
        book.active.title = sheet
        book.active.append(["Anon MRN", "Anon TCIA Study Date", "Anon Exam Description",
                            "Anon Study UID"])
        book.active.append([pid.split("-", 3)[3], _us(first.loc[pid, "date"]), "CHEST",
                            first.loc[pid, "StudyInstanceUID"]])
        if extra:
            book.active.append([extra[0], "1/2/2020", "CHEST", extra[1]])
        book.save(folder / name)
    # MD.ai labels of the 1A exam, by Anon MRN and date only (the number is a 1C patient too)
    date_1a = first.loc[r1a, "date"]
    pd.DataFrame([{"Anon MRN": mrn, "Anon TCIA Study Date": f"{date_1a:%m/%d/%Y}",
                   "Reader_id": f"U_{k}", "Reader_name": f"reader{k}",
                   "CLASS_labelId": f"L_{k}", "CLASS_label": label,
                   "CLASS_label_description": "", "GRADE_labelId": "",
                   "GRADE_label": "Mild Opacities", "GRADE_label_description": ""}
                  for k, label in enumerate(["Typical Appearance", "Atypical Appearance"])]
                 ).to_csv(folder / "MIDRC-RICORD-1A-annotations.csv", index=False)
    (folder / "README.txt").write_text("sheets\n")
    return {"visit1": visit1, "visit2": visit2}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, chosen: dict[str, object]
           ) -> tuple[ci.Cohort, dict[str, object], Path]:
    folder = tmp_path_factory.mktemp("sheets")
    written = _write_sheets(folder, chosen)
    cohort = ci.load({"idc": IDS}, options={"idc": {"clinical": [str(folder)]}},
                     progress=False)
    return cohort, written, folder


def _patient(cohort: ci.Cohort, pid: str) -> pd.Series:
    return cohort.patients.set_index("source_patient_id").loc[pid]


def test_sheet_values_land_on_the_idc_patients(loaded, chosen) -> None:
    cohort, written, _ = loaded
    series, p = chosen["series"], chosen["patients"]
    sbu1, sbu2 = p["sbu"]
    one = _patient(cohort, sbu1)
    assert one["patient_uid"] == f"idc:{sbu1}"
    assert (one["sex"], one["age_min"], one["age_max"], bool(one["icu"]), bool(one["died"]),
            one["covid_status"]) == ("F", 60.0, 74.0, True, False, "positive")
    two = _patient(cohort, sbu2)
    assert (two["sex"], one["age_min"] != two["age_min"], two["age_max"], bool(two["icu"]),
            bool(two["died"])) == ("M", True, 59.0, False, True)
    # day 0 = the visit start: the first series is day 2 for the admitted patient, 0 else
    images = cohort.images.set_index("series_uid")
    for pid, visit in ((sbu1, written["visit1"]), (sbu2, written["visit2"])):
        rows = series[series["PatientID"] == pid]
        assert {s: images.loc[s, "day"] for s in rows["SeriesInstanceUID"]} == \
            {s: float((d - visit).days) for s, d in zip(rows["SeriesInstanceUID"], rows["date"],
                                                        strict=True)}
    assert set(images.loc[series.loc[series["PatientID"] == sbu1, "SeriesInstanceUID"],
                          "admission_offset"]) == {-float((d - written["visit1"]).days)
                                                   for d in series.loc[series["PatientID"] ==
                                                                       sbu1, "date"]}
    events = cohort.events[cohort.events["patient_uid"] == f"idc:{sbu1}"]
    assert sorted(zip(events["event"], events["day"], strict=True)) == [("admission", 0.0),
                                                                        ("discharge", 9.0)]
    assert not len(cohort.events[cohort.events["patient_uid"] == f"idc:{sbu2}"])
    labs = cohort.labs.set_index(["patient_uid", "analyte"])
    crp = labs.loc[(f"idc:{sbu1}", "crp")]
    assert (crp["lower"], crp["upper"], crp["unit"]) == (25.0, 25.0, "mg/L")  # 2.5 mg/dL
    dd = labs.loc[(f"idc:{sbu1}", "d_dimer")]
    assert (dd["lower"], dd["upper"], dd["censor"]) == (-np.inf, 0.15, "left")  # <150 ng/mL
    assert labs.loc[(f"idc:{sbu2}", "lymphocytes"), "lower"] == pytest.approx(0.8)
    assert (f"idc:{sbu2}", "crp") not in labs.index  # "pending"

    ar1, ar2 = p["ar"]
    ar = _patient(cohort, ar1)
    assert (ar["sex"], ar["age_min"], ar["covid_status"], bool(ar["icu"]), bool(ar["died"])) \
        == ("F", 61.0, "negative", True, False)
    other = _patient(cohort, ar2)  # missing from the sheet: the index's sex and age
    truth = series[series["PatientID"] == ar2].iloc[0]
    assert (other["sex"], other["age_min"], other["covid_status"]) == (
        truth["PatientSex"], float(truth["PatientAge"][:3]), "positive")
    assert pd.isna(other["icu"])


def test_ricord_sheets_keyed_by_their_own_collection(loaded, chosen) -> None:
    cohort, _, folder = loaded
    series, p = chosen["series"], chosen["patients"]
    r1a, r1c, r1b = p["r1a"][0], p["r1c"][0], p["r1b"][0]
    assert _patient(cohort, r1b)["covid_status"] == "negative"  # a "Neg" sheet, 1B's default
    assert _patient(cohort, r1a)["collection"] == "MIDRC-RICORD-1A"
    images = cohort.images.set_index("series_uid")
    date_1a = series.loc[series["PatientID"] == r1a, "date"].min()
    for row in series[series["PatientID"].isin([r1a, r1c])].itertuples():
        labelled = row.PatientID == r1a and row.date == date_1a
        label = images.loc[row.SeriesInstanceUID, "annotation_class"]
        assert label == "Atypical Appearance; Typical Appearance" if labelled else pd.isna(label)
    details = cohort.findings["detail"].tolist()
    # the 1A sheet's study that is not downloaded is keyed in 1A, not 1C
    assert any("1 of 2 patients in the MIDRC-RICORD-1A sheet have no downloaded images and are "
               "not in the cohort, e.g. ['MIDRC-RICORD-1A-999999-000001']" in d for d in details)
    assert any("1 exams listed in the RICORD metadata have no downloaded DICOM, e.g. "
               "['2.25.999']" in d for d in details)
    assert not any("MIDRC-RICORD-1C sheet have no downloaded" in d for d in details)
    files = cohort.files.set_index("path")
    for name in ("deidentified_overlap_tcia.csv", "MIDRC-RICORD-1A-annotations.csv",
                 "MIDRC-RICORD-1B-Clinical-Data.xlsx"):
        assert files.loc[str(folder / name), "status"] == "used"
    assert files.loc[str(folder / "README.txt"), "status"] == "ignored"


def test_patients_missing_on_either_side_are_reported(loaded, chosen) -> None:
    cohort, _, _ = loaded
    findings = cohort.findings
    orphans = set(findings.loc[findings["kind"] == "orphan_image", "patient_uid"])
    ar2 = chosen["patients"]["ar"][1]
    assert f"idc:{ar2}" in orphans
    sbu_orphans = {u for u in orphans if not str(u).startswith("idc:COVID-19-AR")
                   and not str(u).startswith("idc:MIDRC")}
    assert len(sbu_orphans) == 1_384 - 2 if idc_index_data.__version__.startswith("25.") \
        else len(sbu_orphans) > 0
    assert any("1 of 3 patients in the COVID-19-NY-SBU sheet have no downloaded images and are "
               "not in the cohort, e.g. ['A000001']" in d for d in findings["detail"])
    assert "unparseable_value" in set(findings["kind"])  # the "pending" CRP


def _nbia_tree(root: Path, series: pd.DataFrame) -> None:
    """One DICOM file per series of ``series``, in the NBIA Data Retriever layout."""
    rng = np.random.default_rng(3)
    for k, row in enumerate(series.itertuples()):
        folder = (root / NAMES[row.collection_id] / row.PatientID /
                  f"{row.date:%m-%d-%Y}-NA-CHEST-{k:05d}" / f"1.000000-CHEST-{k:05d}")
        folder.mkdir(parents=True, exist_ok=True)
        ct = row.Modality == "CT"
        pixels = rng.uniform(-1000, 100, (16, 16)) if ct else rng.uniform(0, 1, (16, 16))
        age = float(row.PatientAge[:3]) if isinstance(row.PatientAge, str) and \
            row.PatientAge.endswith("Y") else None
        write_dicom(folder / "1-1.dcm", pixels, modality=row.Modality,
                    patient_id=row.PatientID, study_uid=row.StudyInstanceUID,
                    series_uid=row.SeriesInstanceUID, sop_uid=f"2.25.{7000 + k}",
                    study_date=row.date, view=None if ct else "AP",
                    sex=row.PatientSex or "O", age_years=age)


def test_an_nbia_tree_with_the_same_sheets_gives_the_same_values(loaded, chosen,
                                                                tmp_path: Path) -> None:
    cohort, _, folder = loaded
    series = chosen["series"]
    root = tmp_path / "download"
    _nbia_tree(root, series)
    for sheet in folder.iterdir():
        (root / sheet.name).write_bytes(sheet.read_bytes())
    tree = ci.load({"tcia": root}, progress=False)
    pids = sorted(series["PatientID"].unique())
    columns = ["source_patient_id", "sex", "age_min", "age_max", "covid_status", "icu", "died",
               "site", "collection"]

    def patients(c: ci.Cohort) -> pd.DataFrame:
        out = c.patients[c.patients["source_patient_id"].isin(pids)][columns]
        return out.astype(object).sort_values("source_patient_id").reset_index(drop=True)

    pd.testing.assert_frame_equal(patients(tree), patients(cohort))
    assert len(patients(tree)) == len(pids)

    def keyed(c: ci.Cohort, name: str, keys: list[str]) -> pd.DataFrame:
        uid = c.patients.set_index("patient_uid")["source_patient_id"]
        table = getattr(c, name)
        out = table.assign(pid=table["patient_uid"].map(uid))
        out = out[out["pid"].isin(pids)][["pid", *keys]].astype(object)
        return out.sort_values(["pid", *keys[:2]]).reset_index(drop=True)

    lab_keys = ["analyte", "unit", "lower", "upper", "censor"]
    pd.testing.assert_frame_equal(keyed(tree, "labs", lab_keys), keyed(cohort, "labs", lab_keys))
    assert len(keyed(tree, "labs", lab_keys)) == 4
    pd.testing.assert_frame_equal(keyed(tree, "events", ["event", "day"]),
                                  keyed(cohort, "events", ["event", "day"]))

    def per_series(c: ci.Cohort) -> pd.DataFrame:
        images = c.images[c.images["series_uid"].isin(series["SeriesInstanceUID"])]
        return images[["series_uid", "day", "admission_offset", "annotation_class"]].astype(
            object).sort_values("series_uid").reset_index(drop=True).fillna(np.nan)

    pd.testing.assert_frame_equal(per_series(tree), per_series(cohort))
    assert len(per_series(tree)) == len(series)


def test_clinical_option_errors(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="clinical sheet .*missing.csv does not exist"):
        ci.load({"idc": ["covid_19_ar"]},
                options={"idc": {"clinical": [str(tmp_path / "missing.csv")]}})
    with pytest.raises(ValueError, match="clinical=3"):
        ci.load({"idc": ["covid_19_ar"]}, options={"idc": {"clinical": 3}})
