"""NCCID: clinical JSON cleaning, both bucket layouts, the demo round trip, and s3://."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

import covidimg as ci
from covidimg import schema, units
from covidimg.demo import nccid as nccid_demo
from covidimg.demo.dicom_writer import write_dicom
from covidimg.errors import LoadError
from covidimg.sources import nccid
from covidimg.sources.nccid import clean as nc

# ============================================================================ cleaning: dates
# The date forms themselves are tested in tests/test_dates.py; here, that NCCID reads SwabDate
# day-first, every other date month-first, and reports recovered dates.


def test_clean_record_reads_swab_date_day_first_and_reports_recoveries():
    rec = nc.clean_record({"Date of admission": "31/03/2020", "SwabDate": "05/16/2020",
                           "Date of death": "[Text] - 2020-04-20",
                           "Date of ITU admission": 43921},
                          filename_status="positive")
    assert rec.dates["admission"] == dt.date(2020, 3, 31)
    assert rec.test_dates == [("covid_test_positive", dt.date(2020, 5, 16))]
    assert rec.dates["death"] == dt.date(2020, 4, 20)
    assert rec.dates["icu_admission"] == dt.date(2020, 3, 31)  # 43831 = 2020-01-01, +90
    kinds = Counter(p.kind for p in rec.problems)
    assert kinds == {"recovered_value": 4}


# ============================================================================ cleaning: numbers


@pytest.mark.parametrize(
    ("value", "interval", "unit", "recovered"),
    [
        ("12.5", (12.5, 12.5, "none"), None, False),
        (7, (7.0, 7.0, "none"), None, False),
        ("<5", (-math.inf, 5.0, "left"), None, False),
        ("> 1000", (1000.0, math.inf, "right"), None, False),
        ("[67] - 2020-06-06", (67.0, 67.0, "none"), None, True),
        ("[345] - 2020-03-27", (345.0, 345.0, "none"), None, True),
        ("8.5 kPa", (8.5, 8.5, "none"), "kPa", False),
        ("500ng/mL", (500.0, 500.0, "none"), "ng/mL", False),
        ("3.493", (3.493, 3.493, "none"), None, False),
    ],
)
def test_parse_number_forms(value, interval, unit, recovered):
    parsed = nc.parse_number(value)
    assert parsed.interval == interval
    assert parsed.unit == unit
    assert parsed.recovered == recovered


@pytest.mark.parametrize("value", ["high", "[137/91] - 2020-06-02", "o", "1..2", "kPa"])
def test_parse_number_rejects_text(value):
    with pytest.raises(nc.ValueProblem):
        nc.parse_number(value)


def test_blood_pressure_from_error_cell_and_plain():
    assert nc.parse_blood_pressure("[170/70] - 2020-04-01", which="systolic") == 170.0
    assert nc.parse_blood_pressure("[170/70] - 2020-04-01", which="diastolic") == 70.0
    assert nc.parse_blood_pressure("126", which="systolic") == 126.0
    assert nc.parse_blood_pressure(" ", which="systolic") is None
    with pytest.raises(ValueError, match="which='mean'"):
        nc.parse_blood_pressure("126", which="mean")


# ============================================================================ cleaning: FiO2


@pytest.mark.parametrize(
    ("value", "interval", "recovered"),
    [
        ("28", (28.0, 28.0, "none"), False),
        ("40%", (40.0, 40.0, "none"), False),
        ("0.28", (28.0, 28.0, "none"), False),
        (0.64, (64.0, 64.0, "none"), False),
        ("10L", (55.0, 65.0, "interval"), False),
        ("2 l/min", (27.0, 29.0, "interval"), False),
        ("2", (27.0, 29.0, "interval"), True),             # a bare 2 cannot be 2 %
        ("white", (28.0, 28.0, "none"), False),
        ("Green", (60.0, 60.0, "none"), False),
        ("room air", (21.0, 21.0, "none"), False),
        ("100", (100.0, 100.0, "none"), False),
    ],
)
def test_fio2_to_percent(value, interval, recovered):
    parsed = nc.parse_fio2(value)
    assert parsed.interval == interval
    assert parsed.recovered == recovered


@pytest.mark.parametrize("value", ["purple", "120", "0.1", "16", "25L", "2.5L"])
def test_fio2_rejects(value):
    with pytest.raises(nc.ValueProblem):
        nc.parse_fio2(value)


# ============================================================================ cleaning: units


def test_every_site_unit_converts():
    for site, site_units in nc.SITE_UNITS.items():
        for analyte, unit in site_units.items():
            if (site, analyte) != ("Cambridge University Hospitals NHS Foundation Trust", "po2"):
                units.convert(analyte, 1.0, unit)  # every cell but Cambridge's PaO2-in-% does
            assert analyte in schema.ANALYTES, (site, analyte)
    for analyte, unit in nc.DEFAULT_UNITS.items():
        units.convert(analyte, 1.0, unit)
    table = nc.site_units_table()
    assert table.loc["Cambridge University Hospitals NHS Foundation Trust", "po2"] == "%"
    assert len(table) == len(nc.SITE_UNITS) == 6


# ============================================================================ cleaning: record


def _kinds(record: nc.ClinicalRecord) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for problem in record.problems:
        out.setdefault(problem.kind, []).append(problem.key)
    return out


def test_clean_record_reads_human_label_keys_and_messy_values():
    raw = {
        "Pseudonym": "Covid42",
        "SubmittingCentre": "royal cornwall hospitals NHS trust",  # matched case-insensitively
        "SwabStatus": "1",
        "SwabDate": "02/04/2020",                # UK: 2 April
        "Date of admission": "04/01/2020",       # US: 1 April
        "Date of ITU admission": "[Text] - 2020-04-03",
        "Date of death": "",
        "ITU admission": "1",
        "Death": 0,
        "Age": "65.889",
        "Sex": "0",
        "CRP on admission": "[120] - 2020-04-01",
        "D-dimer on admission": "2500",          # Royal Cornwall: ng/mL
        "PaO2": "9.5",                           # Royal Cornwall: kPa
        "Pa02": "",                              # the typo spelling, empty: ignored
        "Lymphocyte count on admission": "<0.2",
        "Troponin I": "high",
        "FiO2": "10L",
        "Systolic BP": "[170/70] - 2020-04-01",
        "Diastolic BP": "[170/70] - 2020-04-01",
        "Fibrinogen  if d-dimer not performed": "4.1",
        "PMH hypertension": "1",                 # a field covidimg does not use
    }
    rec = nc.clean_record(raw, filename_status="positive")
    assert rec.pseudonym == "Covid42" and rec.site == "royal cornwall hospitals NHS trust"
    assert rec.covid_status == "positive" and rec.sex == "F" and rec.age == 65.889
    assert rec.dates == {"admission": dt.date(2020, 4, 1), "icu_admission": dt.date(2020, 4, 3)}
    assert rec.test_dates == [("covid_test_positive", dt.date(2020, 4, 2))]
    assert rec.icu is True and rec.died is False and rec.intubated is None
    labs = {lab.analyte: lab for lab in rec.labs}
    assert labs["crp"].lower == labs["crp"].upper == 120.0
    assert labs["d_dimer"].lower == pytest.approx(2.5) and labs["d_dimer"].source_unit == "ng/mL"
    assert labs["po2"].lower == pytest.approx(9.5 * 7.50062, rel=1e-5)
    assert (labs["lymphocytes"].lower, labs["lymphocytes"].upper,
            labs["lymphocytes"].censor) == (-math.inf, 0.2, "left")
    assert (labs["fio2"].lower, labs["fio2"].upper, labs["fio2"].censor) == (55.0, 65.0,
                                                                            "interval")
    assert labs["fibrinogen"].lower == 4.1 and labs["fibrinogen"].unit == "g/L"
    assert "troponin_i" not in labs
    assert rec.vitals == {"systolic_bp": 170.0, "diastolic_bp": 70.0}
    kinds = _kinds(rec)
    assert kinds["unparseable_value"] == ["Troponin I"]
    assert sorted(kinds["recovered_value"]) == ["CRP on admission", "Date of ITU admission"]
    assert "unit_assumed" not in kinds
    bad = next(p for p in rec.problems if p.kind == "unparseable_value")
    assert "'Troponin I' = a text of 4 characters (letters)" in bad.message()
    assert "high" not in bad.message()


def test_clean_record_site_units_unknown_site_and_unconvertible():
    raw = {"Pseudonym": "Covid1", "SubmittingCentre": "Somewhere NHS Trust",
           "D-dimer on admission": "0.9", "PaO2": "11", "CRP on admission": "30"}
    rec = nc.clean_record(raw, filename_status="positive")
    labs = {lab.analyte: lab for lab in rec.labs}
    assert labs["po2"].lower == pytest.approx(11 * 7.50062, rel=1e-5)   # UK default: kPa
    assert labs["d_dimer"].lower == 0.9
    assumed = sorted(p.key for p in rec.problems if p.kind == "unit_assumed")
    assert assumed == ["D-dimer on admission", "PaO2"]                  # not CRP: one unit

    rec = nc.clean_record({"SubmittingCentre": "Cambridge University Hospitals NHS Foundation "
                                               "Trust", "PaO2": "97"},
                          filename_status="positive")
    assert rec.labs == []                       # a saturation is never a po2 lab value
    assert [p.kind for p in rec.problems] == ["unconvertible_unit"]
    assert [(o.field, o.value_num, o.unit) for o in rec.observations] == [
        ("nccid:PaO2", 97.0, "%")]

    custom = {"Somewhere NHS Trust": {"po2": "mmHg"}}
    rec = nc.clean_record(raw, filename_status="positive", site_units=custom)
    assert {lab.analyte: lab.lower for lab in rec.labs}["po2"] == 11.0


def test_clean_record_unit_written_in_value_wins_and_implausible_values_are_reported():
    imperial = "Imperial College Healthcare NHS Trust"   # d-dimer in mg/L
    rec = nc.clean_record({"SubmittingCentre": imperial, "D-dimer on admission": "800 ng/mL",
                           "PaO2": "9 kPa"}, filename_status="positive")
    labs = {lab.analyte: lab.lower for lab in rec.labs}
    assert labs["d_dimer"] == pytest.approx(0.8)
    assert labs["po2"] == pytest.approx(67.5, abs=0.01)
    # Imperial reports d-dimer in mg/L: 2500 mg/L is implausible -> kept, reported.
    rec = nc.clean_record({"SubmittingCentre": imperial, "D-dimer on admission": "2500"},
                          filename_status="positive")
    assert rec.labs[0].lower == 2500.0
    assert [p.kind for p in rec.problems] == ["implausible_value"]


@pytest.mark.parametrize(
    ("raw", "filename_status", "expected"),
    [
        ({"SwabStatus": "1"}, None, "positive"),
        ({"SwabStatus": 0}, None, "negative"),
        ({"Final COVID Status": "RNA DETECTED (SARS-CoV-2)", "SwabStatus": "0"}, None,
         "positive"),
        ({}, None, "unknown"),
        ({"SwabStatus": "0"}, "positive", "positive"),   # a data_* file means positive
        ({}, "negative", "negative"),
    ],
)
def test_covid_status_precedence(raw, filename_status, expected):
    assert nc.clean_record(raw, filename_status=filename_status).covid_status == expected


@pytest.mark.parametrize(
    ("value", "sex", "problem"),
    [("0", "F", False), (1, "M", False), ("Male", "M", False), ("F", "F", False),
     ("2", "U", False), ("3", "U", False), ("Unknown", "U", False), ("t", "U", True),
     (None, "U", False)],
)
def test_sex_codes(value, sex, problem):
    rec = nc.clean_record({"Sex": value})
    assert rec.sex == sex
    assert bool(rec.problems) == problem


def test_negative_patient_swab_dates_list_and_bad_entries():
    raw = {"Pseudonym": "Covid9", "SwabDates": [
        {"SwabDate": "10/04/2020", "SwabStatus": "0"},
        {"SwabDate": "12/04/2020", "SwabStatus": 0},
        "garbage",
        {"SwabDate": "not a date", "SwabStatus": "0"},
    ]}
    rec = nc.clean_record(raw, filename_status="negative")
    assert rec.test_dates == [("covid_test_negative", dt.date(2020, 4, 10)),
                              ("covid_test_negative", dt.date(2020, 4, 12))]
    assert sorted(p.key for p in rec.problems) == ["SwabDates[2]", "SwabDates[3].SwabDate"]
    assert rec.icu is None and rec.died is None


def test_age_out_of_range_and_flags():
    rec = nc.clean_record({"Age": "130", "ITU admission": "maybe", "Death": "2",
                           "Date of death": "05/01/2020"})
    assert rec.age is None
    assert rec.died is True            # "2" = unknown, but a date of death is given
    assert rec.icu is None
    assert sorted(p.key for p in rec.problems) == ["Age", "ITU admission"]


def test_flag_contradicted_by_a_date_is_reported():
    rec = nc.clean_record({"Death": "0", "Date of death": "05/01/2020", "ITU admission": 1})
    assert rec.died is True and rec.icu is True
    assert [(p.kind, p.key) for p in rec.problems] == [("inconsistent_value", "Death")]
    assert "2020-05-01" in rec.problems[0].detail


def test_read_clinical_json_lifts_segmentation_data_and_rejects_non_objects():
    data = nc.read_clinical_json(
        b'\xef\xbb\xbf{"Pseudonym": "Covid3", "OtherDataSources": {"SegmentationData": '
        b'{"Date of admission": "04/02/2020", "Pseudonym": "other"}}}')
    assert data["Date of admission"] == "04/02/2020"
    assert data["Pseudonym"] == "Covid3"      # top-level keys win over nested ones
    with pytest.raises(ValueError, match="not valid JSON"):
        nc.read_clinical_json("{oops")
    with pytest.raises(ValueError, match="expected a JSON object, found list"):
        nc.read_clinical_json("[1, 2]")


# ============================================================================ loader: helpers

DAY = dt.date(2020, 4, 1)


def _dcm(path: Path, *, pid: str, sop: str, date: dt.date = DAY, modality: str = "DX",
         series: str | None = None, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dicom(path, np.full((16, 16), 0.4, np.float32), modality=modality, patient_id=pid,
                study_uid=f"1.2.{sop}.1", series_uid=series or f"1.2.{sop}.2", sop_uid=sop,
                study_date=date, view=kwargs.pop("view", "AP"), **kwargs)
    return path


def _json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _files_on_disk(root: Path) -> list[str]:
    return sorted(str(Path(d) / f) for d, _, names in os.walk(root) for f in names)


def _by(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.assign(**{key: frame[key].astype(str)}).set_index(key).sort_index()


# ============================================================================ loader: edge cases


def test_current_layout_supersession_pairing_and_offsets(tmp_path):
    root = tmp_path / "bucket"
    group = root / "training"
    pid = "Covid100"
    base = Path(pid, "1.2.st", "1.2.se")
    _dcm(group / "xray" / base / "a.dcm", pid=pid, sop="1.1", date=dt.date(2020, 4, 3),
         sex="F")
    dcm_b = _dcm(group / "xray" / base / "b.dcm", pid=pid, sop="1.2", date=dt.date(2020, 4, 6),
                 photometric="MONOCHROME1", view="PA", sex="F")
    # a.dcm has DICOM-JSON metadata (with NCCID's nulls); b.dcm has none.
    meta = pydicom.dcmread(group / "xray" / base / "a.dcm",
                           stop_before_pixels=True).to_json_dict()
    meta["00283010"] = None
    meta["7FE00010"] = {"vr": "OW", "InlineBinary": None}
    meta["00101010"] = {"vr": "AS", "Value": ["81"]}
    meta_a = _json(group / "xray-metadata" / base / "a.json", meta)
    # Metadata whose image never arrived.
    orphan_meta = _json(group / "xray-metadata" / base / "c.json", meta)
    data = group / "data" / pid
    _json(data / "status_2020-03-20.json", {"Pseudonym": pid, "SwabDates": [
        {"SwabDate": "20/03/2020", "SwabStatus": "0"}]})
    stale = _json(data / "data_2020-04-02.json", {"Pseudonym": pid, "Death": "0"})
    latest = _json(data / "data_2020-04-10.json", {
        "Pseudonym": pid, "SubmittingCentre": "West Suffolk NHS Foundation Trust",
        "SwabStatus": "1",
        "SwabDate": "02/04/2020", "Date of admission": "04/01/2020",
        "Date of ITU admission": "04/05/2020", "ITU admission": "1",
        "Date of death": "04/09/2020", "Death": "1", "Sex": "Female",
        "D-dimer on admission": "1200", "PaO2": "8.0", "FiO2": "white"})
    tables = nccid.load(root)

    files = _by(tables.files, "path")
    assert len(files) == len(_files_on_disk(root)) == 7
    assert files.loc[str(latest), "status"] == "used"
    for superseded in (stale, data / "status_2020-03-20.json"):
        assert files.loc[str(superseded), "status"] == "ignored"
        assert files.loc[str(superseded), "reason"] == f"superseded by {latest}"
    assert files.loc[str(orphan_meta), "status"] == "rejected"
    assert files.loc[str(meta_a), "status"] == "used"
    assert files.loc[str(meta_a), "image_uid"] == "nccid:1.1"

    patients = tables.patients.set_index("patient_uid")
    row = patients.loc[f"nccid:{pid}"]
    assert (row["sex"], row["covid_status"], row["site"]) == (
        "F", "positive", "West Suffolk NHS Foundation Trust")
    assert row["age_min"] == row["age_max"] == 81.0     # bare "81" from the DICOM-JSON
    assert bool(row["icu"]) and bool(row["died"]) and row["group"] == "training"

    images = _by(tables.images, "image_uid")
    assert list(images.index) == ["nccid:1.1", "nccid:1.2"]
    assert images["day"].tolist() == [2.0, 5.0]          # admission 1 April = day 0
    assert images["admission_offset"].tolist() == [-2.0, -5.0]
    assert images["icu_admission_offset"].tolist() == [2.0, -1.0]
    assert images["death_offset"].tolist() == [6.0, 3.0]
    assert images["icu_release_offset"].isna().all()     # NCCID has no ICU release date
    assert images.loc["nccid:1.2", "photometric"] == "MONOCHROME1"
    assert images.loc["nccid:1.2", "path"] == str(dcm_b)
    assert {"study_date", "study_time"}.isdisjoint(tables.images.columns)

    events = {(e, d) for e, d in zip(tables.events["event"].astype(str), tables.events["day"],
                                     strict=True)}
    assert events == {("admission", 0.0), ("icu_admission", 4.0), ("death", 8.0),
                      ("covid_test_positive", 1.0)}
    labs = _by(tables.labs, "analyte")
    assert labs.loc["d_dimer", "lower"] == pytest.approx(1.2)
    assert labs.loc["po2", "lower"] == pytest.approx(60.005, abs=1e-3)
    assert labs.loc["fio2", "lower"] == 28.0
    assert (labs["day"] == 0.0).all() and labs["image_uid"].isna().all()

    kinds = sorted(tables.findings["kind"])
    assert kinds == ["missing_image_file", "missing_metadata"]
    missing = tables.findings.set_index("kind").loc["missing_image_file"]
    assert missing["path"] == str(orphan_meta)


def test_early_layout_group_root_duplicates_and_unreadable_files(tmp_path):
    root = tmp_path / "training"                          # the root is the group itself
    pid = "Covid7"
    _dcm(root / pid / "images" / "2020-04-02" / "x1.dcm", pid=pid, sop="7.1")
    _dcm(root / pid / "images" / "2020-04-05" / "x1.dcm", pid=pid, sop="7.1")  # re-upload
    broken = root / pid / "images" / "2020-04-05" / "x2.dcm"
    broken.write_bytes(b"this is not DICOM at all" * 10)
    _dcm(root / pid / "images" / "2020-04-06" / "x3.dcm", pid="Covid8", sop="7.3",
         date=dt.date(2020, 4, 5))
    _dcm(root / pid / "images" / "2020-04-06" / "x4.dcm", pid=pid, sop="7.4",
         extra={"Modality": "OT"})
    early = _json(root / pid / "data" / "2020-04-02" / "data.json",
                  {"Pseudonym": pid, "SwabStatus": "1", "Age": "70"})
    bad_json = root / pid / "data" / "2020-04-09" / "data.json"
    bad_json.parent.mkdir(parents=True)
    bad_json.write_text("{not json")
    notes = _json(root / "data" / pid / "notes.json", {})
    (root / "README.txt").write_text("readme")

    tables = nccid.load(root)
    files = _by(tables.files, "path")
    assert len(files) == len(_files_on_disk(root)) == 9
    status = files["status"].astype(str)
    assert status[str(bad_json)] == "rejected"
    assert status[str(early)] == "used"                  # the earlier file takes over
    assert status[str(broken)] == "rejected"
    assert status[str(root / pid / "images" / "2020-04-05" / "x1.dcm")] == "duplicate"
    assert status[str(root / pid / "images" / "2020-04-06" / "x4.dcm")] == "ignored"
    assert "not an image modality" in files.loc[str(root / pid / "images" / "2020-04-06" /
                                                    "x4.dcm"), "reason"]
    assert status[str(notes)] == "ignored" and status[str(root / "README.txt")] == "ignored"

    findings = tables.findings
    kinds = findings["kind"].value_counts().to_dict()
    assert kinds["unreadable_file"] == 2
    assert kinds["duplicate_image"] == 1
    assert kinds["inconsistent_value"] == 1              # PatientID Covid8 in Covid7's folder
    assert kinds["missing_metadata"] == 5                # no .json for any of the 5 .dcm
    unreadable = findings[findings["kind"] == "unreadable_file"]
    assert set(unreadable["path"]) == {str(bad_json), str(broken)}
    assert all("Covid8" in d for d in findings.loc[findings["kind"] == "inconsistent_value",
                                                  "detail"])

    patient = tables.patients.iloc[0]
    assert (patient["patient_uid"], patient["covid_status"], patient["group"]) == (
        "nccid:Covid7", "positive", "training")
    assert len(tables.patients) == 1                     # the folder's id wins
    assert sorted(tables.images["image_uid"]) == ["nccid:7.1", "nccid:7.3"]
    assert tables.images["day"].tolist() == [0.0, 4.0]   # no admission: day 0 = first exam


def test_negative_patient_latest_status_and_orphan_images(tmp_path):
    root = tmp_path / "nccid"
    group = root / "validation"
    _json(group / "data" / "Covid1" / "status_2020-05-01.json",
          {"Pseudonym": "Covid1", "SwabDate": "01/05/2020", "SwabStatus": "0", "Sex": "1"})
    _json(group / "data" / "Covid1" / "status_2020-05-09.json",
          {"Pseudonym": "Covid1", "SwabDates": [{"SwabDate": "01/05/2020", "SwabStatus": "0"},
                                                {"SwabDate": "09/05/2020", "SwabStatus": "0"}],
           "Sex": "1"})
    _dcm(group / "xray" / "Covid1" / "s" / "r" / "i.dcm", pid="Covid1", sop="1.9",
         date=dt.date(2020, 5, 3))
    _dcm(group / "xray" / "Covid2" / "s" / "r" / "i.dcm", pid="Covid2", sop="2.9", sex="F",
         age_years=44)
    tables = nccid.load(root)
    patients = tables.patients.set_index("patient_uid")
    assert patients.loc["nccid:Covid1", "covid_status"] == "negative"
    assert patients.loc["nccid:Covid1", "sex"] == "M"
    assert pd.isna(patients.loc["nccid:Covid1", "icu"])
    assert patients.loc["nccid:Covid2", "covid_status"] == "unknown"
    assert patients.loc["nccid:Covid2", "sex"] == "F"         # from DICOM PatientSex
    assert patients.loc["nccid:Covid2", "age_min"] == 44.0
    assert set(patients["group"]) == {"validation"}
    events = tables.events[tables.events["patient_uid"] == "nccid:Covid1"]
    # no admission date: day 0 = first exam (3 May); swabs on 1 and 9 May
    assert sorted(events["day"]) == [-2.0, 6.0]
    assert set(events["event"].astype(str)) == {"covid_test_negative"}
    orphan = tables.findings[tables.findings["kind"] == "orphan_image"]
    assert orphan["patient_uid"].tolist() == ["nccid:Covid2"]


def test_findings_name_file_key_and_value(tmp_path):
    root = tmp_path / "nccid"
    clinical = _json(root / "training" / "data" / "Covid5" / "data_2020-04-01.json",
                     {"Pseudonym": "Covid55", "SubmittingCentre": "Nowhere Trust",
                      "CRP on admission": "lots", "Date of death": "31/31/2020",
                      "PaO2": "9.1", "Date of ITU admission": "03/02/2020",
                      "Date of admission": "", "Date of admission ": "03/05/2020"})
    tables = nccid.load(root)
    findings = tables.findings
    assert set(findings["path"]) == {str(clinical)}
    details = dict(zip(findings["kind"] + ":" + findings["detail"].str.split(":").str[0],
                       findings["detail"], strict=True))
    assert "unparseable_value:'CRP on admission' = a text of 4 characters (letters)" in details
    assert "unit_assumed:'PaO2' = '9.1'" in details
    assert any(k.startswith("inconsistent_value:Pseudonym 'Covid55'") for k in details)
    assert any(k.startswith("admission_after_icu") for k in details)
    assert "unparseable_value:'Date of death' = '31/31/2020'" in details
    # "Date of admission " (trailing space) is the same human label: its value is used
    assert tables.events["event"].astype(str).tolist() == ["admission", "icu_admission"]
    assert tables.events["day"].tolist() == [0.0, -3.0]


def test_privacy_identifying_dicom_fields_never_reach_a_table(tmp_path):
    root = tmp_path / "nccid"
    _dcm(root / "training" / "xray" / "Covid3" / "s" / "r" / "i.dcm", pid="Covid3", sop="3.1",
         extra={"PatientName": "Doe^Jane", "PatientBirthDate": "19400101",
                "InstitutionName": "St Elsewhere Hospital", "PatientAddress": "1 Main Street",
                "ReferringPhysicianName": "Who^Doctor"})
    tables = nccid.load(root)
    text = " ".join(frame.astype(str).to_csv() for frame in tables.tables().values())
    for secret in ("Doe^Jane", "19400101", "St Elsewhere", "1 Main Street", "Who^Doctor"):
        assert secret not in text


def test_no_layout_is_a_clear_error_and_detection(tmp_path, mhh_dir):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LoadError, match=r"has no NCCID layout; looked for an NCCID bucket"):
        nccid.load(tmp_path / "empty")
    assert not nccid.detect(str(tmp_path / "empty"))
    assert not nccid.detect(str(mhh_dir))
    assert not nccid.detect(str(tmp_path / "missing"))
    other = tmp_path / "other" / "data" / "A917122"
    other.mkdir(parents=True)
    (other / "clinical.csv").write_text("x")       # a data/ folder of another source
    assert not nccid.detect(str(tmp_path / "other"))
    (other / "data_2020-04-01.json").write_text("{}")
    assert nccid.detect(str(tmp_path / "other"))
    with pytest.raises(LoadError, match=r"nosuchprotocol://bucket/nccid is not a URL fsspec"):
        nccid.load("nosuchprotocol://bucket/nccid")
    assert not nccid.detect("s3://no-such-bucket-anywhere/x", storage_options={
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}, "key": "k", "secret": "s",
        "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}})


# ============================================================================ demo round trip


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("nccid-demo") / "nccid"
    truth = nccid_demo.write(root, rng=np.random.default_rng(11), n_patients=16)
    cohort = ci.load({"nccid": root}, progress=False)
    return root, truth, cohort


def test_demo_is_detected_as_nccid(demo):
    root, _, _ = demo
    assert ci.detect_source(root) == "nccid"


def test_demo_round_trip_patients(demo):
    _, truth, cohort = demo
    got, want = _by(cohort.patients, "patient_uid"), _by(truth.patients, "patient_uid")
    assert list(got.index) == list(want.index)
    for col in ("sex", "covid_status", "site", "group"):
        assert got[col].astype(object).where(got[col].notna(), None).tolist() == \
            want[col].astype(object).where(want[col].notna(), None).tolist(), col
    pd.testing.assert_series_equal(got["age_min"], want["age_min"].astype(float),
                                   check_names=False)
    for col in ("icu", "died"):
        assert got[col].astype(object).where(got[col].notna(), None).tolist() == \
            want[col].astype(object).where(want[col].notna(), None).tolist(), col
    for col in ("temperature", "o2_saturation"):   # "99.5 F" -> 37.5; 400, 104, "10L" dropped
        np.testing.assert_allclose(got[col].astype(float), want[col].astype(float), err_msg=col)
    assert set(want["covid_status"]) == {"positive", "negative", "unknown"}


def test_demo_round_trip_images(demo):
    _, truth, cohort = demo
    got, want = _by(cohort.images, "image_uid"), _by(truth.images, "image_uid")
    assert list(got.index) == list(want.index)
    for col in ("patient_uid", "modality", "view", "photometric", "path"):
        assert got[col].astype(str).tolist() == want[col].astype(str).tolist(), col
    for col in ("day", "admission_offset", "icu_admission_offset", "death_offset",
                "icu_release_offset", "n_instances"):
        np.testing.assert_array_equal(got[col].astype(float).to_numpy(),
                                      want[col].astype(float).to_numpy(), err_msg=col)
    assert (got["modality"] == "CT").any() and (got["photometric"] == "MONOCHROME1").any()
    assert (got.loc[got["modality"] == "CT", "n_instances"] >= 20).all()
    assert set(got["format"]) == {"dicom"}


def test_demo_round_trip_events_and_labs(demo):
    _, truth, cohort = demo
    got = {(p, str(e), d) for p, e, d in cohort.events[["patient_uid", "event", "day"]]
           .itertuples(index=False)}
    want = set(truth.events.itertuples(index=False, name=None))
    assert got == want
    key = ["patient_uid", "analyte", "value_raw"]
    got = cohort.labs.astype({k: str for k in key}).sort_values(key).reset_index(drop=True)
    want = truth.labs.astype({k: str for k in key}).sort_values(key).reset_index(drop=True)
    assert got[key].values.tolist() == want[key].values.tolist()
    np.testing.assert_allclose(got["lower"], want["lower"], rtol=1e-9)
    np.testing.assert_allclose(got["upper"], want["upper"], rtol=1e-9)
    assert got["censor"].astype(str).tolist() == want["censor"].tolist()
    np.testing.assert_array_equal(got["day"].to_numpy(), want["day"].astype(float).to_numpy())
    assert set(got["unit"]) == {schema.ANALYTES[a].unit for a in got["analyte"]}
    assert {"left", "interval"} <= set(got["censor"].astype(str))


def test_demo_findings_are_exactly_the_planted_quirks(demo):
    _, truth, cohort = demo
    got = Counter(zip(cohort.findings["kind"], cohort.findings["patient_uid"], strict=True))
    want = Counter(zip(truth.findings["kind"], truth.findings["patient_uid"], strict=True))
    assert got == want
    with_path = truth.findings.dropna(subset=["path"])
    for kind, path in zip(with_path["kind"], with_path["path"], strict=True):
        assert ((cohort.findings["kind"] == kind) & (cohort.findings["path"] == path)).any(), \
            (kind, path)
    planted = {"recovered_value", "unit_assumed", "unconvertible_unit", "unparseable_value",
               "orphan_image", "duplicate_image", "missing_metadata", "missing_image_file"}
    assert planted <= set(got_kind for got_kind, _ in got)


def test_demo_nothing_lost(demo):
    root, truth, cohort = demo
    on_disk = _files_on_disk(root)
    assert len(on_disk) == truth.n_files == len(cohort.files)
    assert sorted(cohort.files["path"]) == on_disk
    status = cohort.files["status"].astype(str)
    assert set(status) == {"used", "ignored", "duplicate", "rejected"}
    assert cohort.files.loc[status != "used", "reason"].str.len().gt(0).all()
    used_uids = set(cohort.files.loc[status == "used", "image_uid"].dropna())
    assert used_uids == set(cohort.images["image_uid"])


@pytest.mark.parametrize("n_patients", [1, 3])
def test_small_demos_round_trip_too(tmp_path, n_patients):
    root = tmp_path / "nccid"
    truth = nccid_demo.write(root, rng=np.random.default_rng(n_patients), n_patients=n_patients)
    tables = nccid.load(root)
    assert len(tables.files) == truth.n_files == len(_files_on_disk(root))
    assert sorted(tables.patients["patient_uid"]) == sorted(truth.patients["patient_uid"])
    assert sorted(tables.images["image_uid"]) == sorted(truth.images["image_uid"])
    assert Counter(tables.findings["kind"]) == Counter(truth.findings["kind"])


def test_demo_writer_is_deterministic_and_validates_size(tmp_path):
    with pytest.raises(ValueError, match="n_patients=0"):
        nccid_demo.write(tmp_path / "a", rng=np.random.default_rng(0), n_patients=0)
    first = nccid_demo.write(tmp_path / "b", rng=np.random.default_rng(5), n_patients=8)
    second = nccid_demo.write(tmp_path / "c", rng=np.random.default_rng(5), n_patients=8)
    assert first.n_files == second.n_files
    pd.testing.assert_frame_equal(first.patients, second.patients)
    assert [p.name for p in sorted((tmp_path / "b").rglob("*.dcm"))] == \
        [p.name for p in sorted((tmp_path / "c").rglob("*.dcm"))]


def test_progress_bar_is_shown_only_when_asked(tmp_path, capsys):
    root = tmp_path / "nccid"
    _dcm(root / "training" / "xray" / "Covid1" / "s" / "r" / "i.dcm", pid="Covid1", sop="1.1")
    nccid.load(root, progress=False)
    assert "NCCID headers" not in capsys.readouterr().err
    nccid.load(root, progress=True)
    assert "NCCID headers" in capsys.readouterr().err


# ============================================================================ s3:// (moto)


def test_s3_bucket_loads_like_the_local_copy(s3_endpoint, tmp_path):
    import boto3
    import s3fs

    local = tmp_path / "nccid"
    truth = nccid_demo.write(local, rng=np.random.default_rng(3), n_patients=8)
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="nccid-test")
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    fs.pipe({"nccid-test/warehouse/" + Path(p).relative_to(local).as_posix():
             Path(p).read_bytes() for p in _files_on_disk(local)})
    assert len(fs.find("nccid-test/warehouse")) == truth.n_files
    s3fs.S3FileSystem.clear_instance_cache()

    url = "s3://nccid-test/warehouse"
    assert nccid.detect(url)
    remote = ci.load({"nccid": url}, progress=False)        # endpoint from AWS_ENDPOINT_URL
    here = ci.load({"nccid": local}, progress=False)

    assert len(remote.files) == truth.n_files
    assert remote.files["path"].str.startswith(url + "/").all()
    assert sorted(remote.files["path"].str.removeprefix(url + "/")) == \
        sorted(Path(p).relative_to(local).as_posix() for p in here.files["path"])
    images_r = _by(remote.images, "image_uid")
    images_l = _by(here.images, "image_uid")
    assert list(images_r.index) == list(images_l.index)
    assert images_r["path"].str.removeprefix(url + "/").tolist() == \
        [Path(p).relative_to(local).as_posix() for p in images_l["path"]]
    for col in ("patient_uid", "modality", "view", "day", "admission_offset", "n_instances",
                "rows", "columns", "photometric"):
        assert images_r[col].astype(str).tolist() == images_l[col].astype(str).tolist(), col
    for name in ("patients", "events", "labs"):
        pd.testing.assert_frame_equal(getattr(remote, name), getattr(here, name))
    assert _finding_counts(remote.findings) == _finding_counts(here.findings)

    # The endpoint through explicit storage options, and a group folder as the root.
    tables = nccid.load(f"{url}/validation", storage_options={
        "client_kwargs": {"endpoint_url": s3_endpoint}})
    assert set(tables.patients["group"]) == {"validation"}
    assert len(tables.files) == sum(1 for p in here.files["path"]
                                    if Path(p).relative_to(local).parts[0] == "validation")
    assert len(tables.images) > 0


def _finding_counts(findings: pd.DataFrame) -> Counter:
    return Counter(zip(findings["kind"], findings["patient_uid"], strict=True))


def test_nccid_and_mhh_combine_into_one_cohort(demo, mhh_dir):
    root, truth, _ = demo
    cohort = ci.load({"nccid": root, "mhh": mhh_dir}, progress=False)
    assert cohort.patients["patient_uid"].is_unique and cohort.images["image_uid"].is_unique
    assert set(cohort.patients["source"].astype(str)) == {"nccid", "mhh"}
    assert (cohort.patients["source"] == "nccid").sum() == len(truth.patients)
    for analyte in ("crp", "d_dimer", "lymphocytes", "po2"):
        units = set(cohort.labs.loc[cohort.labs["analyte"] == analyte, "unit"])
        assert units == {schema.ANALYTES[analyte].unit}, analyte
        sources = set(cohort.labs.loc[cohort.labs["analyte"] == analyte, "patient_uid"]
                      .str.split(":").str[0])
        assert sources == {"nccid", "mhh"}, analyte
