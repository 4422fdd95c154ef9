"""NCCID: clinical JSON cleaning, both bucket layouts, the demo round trip, and s3://."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from covidimg import schema
from covidimg.sources import nccid_clean as nc

# ============================================================================ cleaning: dates


@pytest.mark.parametrize(
    ("value", "day_first", "expected", "recovered"),
    [
        ("03/04/2020", True, dt.date(2020, 4, 3), False),
        ("03/04/2020", False, dt.date(2020, 3, 4), False),
        ("3/31/20", False, dt.date(2020, 3, 31), False),
        ("31/03/2020", False, dt.date(2020, 3, 31), True),   # US column, UK value
        ("05/16/2020", True, dt.date(2020, 5, 16), True),    # UK column, US value
        ("2020-04-01", False, dt.date(2020, 4, 1), False),
        ("2020-04-01T00:00:00", True, dt.date(2020, 4, 1), False),
        ("[Text] - 2020-03-20", False, dt.date(2020, 3, 20), True),
        ("43909", False, dt.date(2020, 3, 19), True),        # Excel serial: 43831 = 1 Jan 2020
        (43909, False, dt.date(2020, 3, 19), True),
    ],
)
def test_parse_date_forms(value, day_first, expected, recovered):
    parsed = nc.parse_date(value, day_first=day_first)
    assert parsed.date == expected
    assert bool(parsed.note) == recovered


@pytest.mark.parametrize("value", [None, "", " ", ".", "NA", "Unknown", float("nan")])
def test_parse_date_empty_values_are_missing_not_problems(value):
    assert nc.parse_date(value, day_first=False) is None


@pytest.mark.parametrize("value", ["31/31/2020", "yesterday", "2020-02-30", "[Text] - 2020-13-01",
                                   "12", True, 1.5])
def test_parse_date_rejects_non_dates(value):
    with pytest.raises(nc.ValueProblem):
        nc.parse_date(value, day_first=False)


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


def test_unit_conversions_to_canonical_units():
    assert nc.convert_unit("d_dimer", 1500.0, "ng/mL") == pytest.approx(1.5)
    assert nc.convert_unit("d_dimer", 1500.0, "µg/L") == pytest.approx(1.5)
    assert nc.convert_unit("d_dimer", 1.5, "mg/L") == 1.5
    assert nc.convert_unit("po2", 10.0, "kPa") == pytest.approx(75.006, abs=1e-3)
    assert nc.convert_unit("troponin_i", 0.05, "ng/mL") == pytest.approx(50.0)
    assert nc.convert_unit("urea", 300_000.0, "ng/mL") == pytest.approx(300 / 60.06)
    assert nc.convert_unit("d_dimer", -math.inf, "ng/mL") == -math.inf
    with pytest.raises(ValueError, match=r"unit '%' cannot be converted to mmHg for po2"):
        nc.convert_unit("po2", 95.0, "%")
    with pytest.raises(ValueError, match="analyte='spo2'"):
        nc.convert_unit("spo2", 95.0, "%")


def test_every_unit_table_entry_targets_a_schema_analyte():
    for analyte, factors in nc.UNIT_FACTORS.items():
        assert analyte in schema.ANALYTES
        canonical = nc.normalize_unit(schema.ANALYTES[analyte].unit)
        assert factors[canonical] == 1.0, analyte
    for site, units in nc.SITE_UNITS.items():
        for analyte, unit in units.items():
            if unit != "%":
                nc.convert_unit(analyte, 1.0, unit)  # every site unit but PaO2-in-% converts
            assert analyte in nc.UNIT_FACTORS, (site, analyte)
    table = nc.site_units_table()
    assert table.loc["Centre F", "po2"] == "%"
    assert len(table) == len(nc.SITE_UNITS)


# ============================================================================ cleaning: record


def _kinds(record: nc.ClinicalRecord) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for problem in record.problems:
        out.setdefault(problem.kind, []).append(problem.key)
    return out


def test_clean_record_reads_human_label_keys_and_messy_values():
    raw = {
        "Pseudonym": "Covid42",
        "SubmittingCentre": "centre a",          # matched case-insensitively
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
        "D-dimer on admission": "2500",          # Centre A: ng/mL
        "PaO2": "9.5",                           # Centre A: kPa
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
    assert rec.pseudonym == "Covid42" and rec.site == "centre a"
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
    assert "'Troponin I' = 'high'" in bad.message()


def test_clean_record_site_units_unknown_site_and_unconvertible():
    raw = {"Pseudonym": "Covid1", "SubmittingCentre": "Somewhere NHS Trust",
           "D-dimer on admission": "0.9", "PaO2": "11", "CRP on admission": "30"}
    rec = nc.clean_record(raw, filename_status="positive")
    labs = {lab.analyte: lab for lab in rec.labs}
    assert labs["po2"].lower == pytest.approx(11 * 7.50062, rel=1e-5)   # UK default: kPa
    assert labs["d_dimer"].lower == 0.9
    assumed = sorted(p.key for p in rec.problems if p.kind == "unit_assumed")
    assert assumed == ["D-dimer on admission", "PaO2"]                  # not CRP: one unit

    rec = nc.clean_record({"SubmittingCentre": "Centre F", "PaO2": "97"},
                          filename_status="positive")
    assert rec.labs == []
    assert [p.kind for p in rec.problems] == ["unconvertible_unit"]

    custom = {"Somewhere NHS Trust": {"po2": "mmHg"}}
    rec = nc.clean_record(raw, filename_status="positive", site_units=custom)
    assert {lab.analyte: lab.lower for lab in rec.labs}["po2"] == 11.0


def test_clean_record_unit_written_in_value_wins_and_implausible_values_are_reported():
    rec = nc.clean_record({"SubmittingCentre": "Centre B", "D-dimer on admission": "800 ng/mL",
                           "PaO2": "9 kPa"}, filename_status="positive")
    labs = {lab.analyte: lab.lower for lab in rec.labs}
    assert labs["d_dimer"] == pytest.approx(0.8)
    assert labs["po2"] == pytest.approx(67.5, abs=0.01)
    # Centre B reports d-dimer in mg/L: 2500 mg/L is implausible -> kept, reported.
    rec = nc.clean_record({"SubmittingCentre": "Centre B", "D-dimer on admission": "2500"},
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
