"""NCCID against NHSX's own published facts: the real site-units table, the schema-compliance
vocabulary, NHSX's cleaning rules (nccid-cleaning ``cleaning.py``), the 2020 bucket layouts of
the warehouse-loader README, and the real warehouse DICOM-JSON files.

Expected values are computed by hand from the rule cited beside each; none is produced by the
code under test.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

import covidimg as ci
from covidimg import schema
from covidimg.demo.dicom_writer import write_dicom
from covidimg.sources import nccid
from covidimg.sources._engine.ledger import Ledger
from covidimg.sources._engine.workbook import read_workbook
from covidimg.sources.nccid import clean as nc
from covidimg.sources.nccid.fields import SCHEMA_FIELDS
from covidimg.sources.nccid.site_units import SITE_UNITS, normalize_site
from covidimg.sources.nccid.values import FIO2_LITRES, NHSX_FIO2_LITRES, parse_fio2

NCCID_DIR = SHARED / "data" / "nccid"
KPA = 760.0 / 101.325            # mmHg per kPa: 1 mmHg = 101 325 / 760 Pa


def _real(name: str) -> Path:
    path = NCCID_DIR / name
    if not path.is_file():
        pytest.skip(f"the real NCCID file is not at {path}: put the project's shared/ folder "
                    "beside the checkout, or set COVIDIMG_SHARED")
    return path


# ============================================================================ the shipped tables


def test_shipped_site_units_are_the_real_workbook():
    path = _real("NCCID_site_specific_units.xlsx")
    sheet = read_workbook(path, Ledger("nccid", path.parent))["site units"]
    trusts = list(sheet.iloc[0, 1:])
    want = {}
    for column, trust in enumerate(trusts, start=1):
        for row in range(1, len(sheet)):
            unit = sheet.iloc[row, column]
            if isinstance(unit, str):
                want.setdefault(trust, {})[sheet.iloc[row, 0]] = unit
    assert len(want) == 6 and sum(map(len, want.values())) == 49
    field_of = {"PaO2/O2 saturation": "po2", "CRP": "crp", "D-dimer": "d_dimer",
                "Fibrinogen": "fibrinogen", "Ferritin": "ferritin", "Urea": "urea",
                "Creatinine": "creatinine", "Troponin I": "troponin_i",
                "Troponin T": "troponin_t"}
    assert SITE_UNITS == {t: {field_of[f]: u for f, u in cells.items()}
                          for t, cells in want.items()}
    assert not any(name.startswith("Centre") for name in SITE_UNITS)


def test_shipped_vocabulary_is_the_real_workbook():
    path = _real("NCCID_schema_compliance_v2.1.xlsx")
    sheet = next(iter(read_workbook(path, Ledger("nccid", path.parent)).values()))
    header = sheet.index[sheet[1] == "Field Name"][0]
    fields = [f for f in sheet.loc[header + 1:, 1] if isinstance(f, str)]
    assert len(fields) == 64
    assert list(SCHEMA_FIELDS) == fields


@pytest.mark.parametrize("written", [
    "Sheffield Children’s NHS Foundation Trust", "Sheffield Children's NHS Foundation Trust",
    "  SHEFFIELD  childrens nhs foundation trust ", "Sheffield Children‘s NHS Foundation Trust"])
def test_trust_names_match_through_case_whitespace_and_apostrophes(written):
    assert normalize_site(written) == normalize_site("Sheffield Childrens NHS Foundation Trust")
    rec = nc.clean_record({"SubmittingCentre": written, "Troponin I": "0.014"})
    assert [(lab.analyte, lab.lower) for lab in rec.labs] == [("troponin_i", 14.0)]
    assert rec.problems == []


# ============================================================================ six trusts, by hand

_KEYS = {"po2": "PaO2", "crp": "CRP on admission", "d_dimer": "D-dimer on admission",
         "fibrinogen": "Fibrinogen  if d-dimer not performed", "ferritin": "Ferritin",
         "urea": "Urea on admission", "creatinine": "Creatinine on admission",
         "troponin_i": "Troponin I", "troponin_t": "Troponin T"}

# (trust as a site writes it, {analyte: (value written, expected in the canonical unit)}).
# Units from NHSX's NCCID_site_specific_units.xlsx; factors: 1 kPa = 7.50062 mmHg, ng/mL and
# ug/L = 0.001 mg/L, ng/mL = 1000 ng/L, urea 60.06 g/mol (300000 ng/mL = 300 mg/L = 4.995
# mmol/L).
_TRUSTS = [
    ("Imperial College Healthcare NHS Trust", {
        "po2": ("9.5", 71.2559), "crp": ("12", 12.0), "d_dimer": ("0.85", 0.85),
        "fibrinogen": ("4.1", 4.1), "ferritin": ("350", 350.0), "urea": ("300000", 4.99500),
        "creatinine": ("80", 80.0), "troponin_i": ("14", 14.0), "troponin_t": ("20", 20.0)}),
    ("cambridge university hospitals NHS foundation trust", {
        "crp": ("12", 12.0), "d_dimer": ("850", 0.85), "fibrinogen": ("4.1", 4.1),
        "ferritin": ("350", 350.0), "urea": ("5.3", 5.3), "creatinine": ("80", 80.0),
        "troponin_i": ("14", 14.0), "troponin_t": ("20", 20.0)}),
    ("Royal Cornwall Hospitals NHS Trust", {
        "po2": ("9.5", 71.2559), "crp": ("12", 12.0), "d_dimer": ("850", 0.85),
        "fibrinogen": ("4.1", 4.1), "ferritin": ("350", 350.0), "urea": ("5.3", 5.3),
        "creatinine": ("80", 80.0), "troponin_i": ("14", 14.0), "troponin_t": ("20", 20.0)}),
    ("West Suffolk NHS Foundation Trust", {
        "po2": ("9.5", 71.2559), "crp": ("12", 12.0), "d_dimer": ("850", 0.85),
        "fibrinogen": ("4.1", 4.1), "ferritin": ("350", 350.0), "urea": ("5.3", 5.3),
        "creatinine": ("80", 80.0), "troponin_t": ("20", 20.0)}),
    ("Sheffield Children’s NHS Foundation Trust", {
        "po2": ("9.5", 71.2559), "crp": ("12", 12.0), "d_dimer": ("850", 0.85),
        "fibrinogen": ("4.1", 4.1), "ferritin": ("350", 350.0), "urea": ("5.3", 5.3),
        "creatinine": ("80", 80.0), "troponin_i": ("0.014", 14.0), "troponin_t": ("20", 20.0)}),
    ("Norfolk and Norwich University Hospitals NHS Foundation Trust", {
        "po2": ("9.5", 71.2559), "crp": ("12", 12.0), "d_dimer": ("850", 0.85),
        "fibrinogen": ("4.1", 4.1), "ferritin": ("350", 350.0), "urea": ("5.3", 5.3),
        "creatinine": ("80", 80.0), "troponin_i": ("14", 14.0), "troponin_t": ("20", 20.0)}),
]


@pytest.mark.parametrize(("trust", "values"), _TRUSTS, ids=[t[:20] for t, _ in _TRUSTS])
def test_a_record_from_each_trust_converts_every_analyte(trust, values):
    raw = {"SubmittingCentre": trust, **{_KEYS[a]: text for a, (text, _) in values.items()}}
    rec = nc.clean_record(raw, filename_status="positive")
    got = {lab.analyte: (lab.lower, lab.upper, lab.unit) for lab in rec.labs}
    assert set(got) == set(values)
    for analyte, (_, expected) in values.items():
        lower, upper, unit = got[analyte]
        assert lower == upper == pytest.approx(expected, rel=1e-5), analyte
        assert unit == schema.ANALYTES[analyte].unit
    assert rec.problems == []


def test_cambridge_d_dimer_and_its_pao2_saturation():
    cambridge = "Cambridge University Hospitals NHS Foundation Trust"
    rec = nc.clean_record({"SubmittingCentre": cambridge, "D-dimer on admission": "850",
                           "PaO2": "97"}, filename_status="positive")
    assert [(lab.analyte, lab.lower, lab.unit) for lab in rec.labs] == [
        ("d_dimer", pytest.approx(0.85), "mg/L")]            # 850 ng/mL = 0.85 mg/L
    assert [(p.kind, p.key) for p in rec.problems] == [("unconvertible_unit", "PaO2")]
    assert "kept as the observation 'nccid:PaO2'" in rec.problems[0].detail
    assert [(o.field, o.value_num, o.unit) for o in rec.observations] == [
        ("nccid:PaO2", 97.0, "%")]


def test_a_trust_without_a_cell_assumes_the_template_unit_and_says_so():
    # West Suffolk has no Troponin I unit in NHSX's table: ng/L (template) is assumed.
    rec = nc.clean_record({"SubmittingCentre": "West Suffolk NHS Foundation Trust",
                           "Troponin I": "14"})
    assert [(lab.analyte, lab.lower) for lab in rec.labs] == [("troponin_i", 14.0)]
    assert [(p.kind, p.key) for p in rec.problems] == [("unit_assumed", "Troponin I")]


def test_imperial_urea_typed_in_mmol_per_litre_is_flagged():
    # The table says Imperial reports urea in ng/mL: "5.3" -> 5.3e-3 mg/L / 60.06 = 8.8e-5
    # mmol/L, below the 0.5 mmol/L plausibility bound: kept, reported.
    rec = nc.clean_record({"SubmittingCentre": "Imperial College Healthcare NHS Trust",
                           "Urea on admission": "5.3"})
    assert rec.labs[0].lower == pytest.approx(5.3e-3 / 60.06)
    assert [p.kind for p in rec.problems] == ["implausible_value"]


# ============================================================================ vital signs


@pytest.mark.parametrize(("value", "kept", "kinds"), [
    # NHSX _clip_numeric_values: temperature "expected in celcius so clipped to 25-45".
    ("37.2", 37.2, []),
    ("99.5 F", 37.5, ["recovered_value"]),      # (99.5 - 32) / 1.8 = 37.5 (NIST SP 811 B.9)
    ("98.6°F", 37.0, ["recovered_value"]),      # (98.6 - 32) / 1.8 = 37.0
    ("38 C", 38.0, []),
    ("0", None, ["implausible_value"]),
    ("96", None, ["implausible_value"]),        # no unit: not guessed to be Fahrenheit
    ("400", None, ["implausible_value"]),
    ("4532", None, ["implausible_value"]),
    ("[37.9] - 2020-04-01", 37.9, ["recovered_value"]),
    ("10L", None, ["unconvertible_unit"]),
])
def test_temperature(value, kept, kinds):
    rec = nc.clean_record({"Temperature on admission": value})
    if kept is None:
        assert "temperature" not in rec.vitals
    else:
        assert rec.vitals["temperature"] == pytest.approx(kept)
    assert [p.kind for p in rec.problems] == kinds


@pytest.mark.parametrize(("value", "kept", "kinds"), [
    # NHSX _clip_numeric_values: o2_saturation "expected in the 0-100 range".
    ("96", 96.0, []), ("96%", 96.0, []), ("100", 100.0, []),
    ("104", None, ["implausible_value"]), ("960", None, ["implausible_value"]),
    ("10L", None, ["unconvertible_unit"]),      # a flow of oxygen, not a saturation
])
def test_o2_saturation(value, kept, kinds):
    rec = nc.clean_record({"O2 saturation": value})
    assert rec.vitals.get("o2_saturation") == kept
    assert [p.kind for p in rec.problems] == kinds
    fields = [o.field for o in rec.observations]
    assert fields == (["o2_saturation"] if kept is not None else [])


def test_age_with_a_flow_unit_is_not_an_age():
    rec = nc.clean_record({"Age": "10L"})
    assert rec.age is None
    assert [p.kind for p in rec.problems] == ["unconvertible_unit"]
    assert nc.clean_record({"Age": "78.876"}).age == 78.876     # kept as given


# ============================================================================ FiO2


def test_fio2_litres_contain_nhsx_values():
    # nccid-cleaning _rescale_fio2 values_to_percentage (1-15 L/min -> %).
    nhsx = {1: 25, 2: 29, 3: 33, 4: 37, 5: 41, 6: 45, 7: 41, 8: 47, 9: 53, 10: 60, 11: 80,
            12: 85, 13: 90, 14: 95, 15: 100}
    assert NHSX_FIO2_LITRES == nhsx
    for litres, pct in nhsx.items():
        low, high = FIO2_LITRES[litres]
        assert low <= pct <= high, litres


@pytest.mark.parametrize(("value", "interval", "recovered"), [
    # NHSX: a value with "." is a fraction x 100; a bare whole number 1-15 is litres.
    ("1", (24.0, 25.0, "interval"), True),       # NHSX 25 %: 1 L/min, not the fraction 1.0
    (1, (24.0, 25.0, "interval"), True),
    ("1.0", (100.0, 100.0, "none"), False),      # NHSX round(1.0 * 100) = 100
    (1.0, (100.0, 100.0, "none"), False),
    ("0.28", (28.0, 28.0, "none"), False),       # NHSX 28
    ("15", (80.0, 100.0, "interval"), True),     # NHSX 100
    ("11L", (60.0, 80.0, "interval"), False),    # NHSX 80
    ("12l", (65.0, 85.0, "interval"), False),    # NHSX 85
    ("red", (40.0, 40.0, "none"), False),        # NHSX mask colour 40
    ("28", (28.0, 28.0, "none"), False),         # NHSX 28
])
def test_fio2_follows_nhsx_rule(value, interval, recovered):
    parsed = parse_fio2(value)
    assert parsed.interval == interval
    assert parsed.recovered == recovered


def test_ambiguous_fio2_is_reported_in_the_record():
    rec = nc.clean_record({"FiO2": "1"})
    assert [(lab.lower, lab.upper) for lab in rec.labs] == [(24.0, 25.0)]
    assert [p.kind for p in rec.problems] == ["recovered_value"]
    assert "ambiguous" in rec.problems[0].detail


# ============================================================================ every field

# A valid value for every field of the workbook (its "Expected Values"), and where it lands.
_VALID = {
    "SwabDate": "02/04/2020", "Smoking status": "1", "Pack year History": "20",
    "PMH h1pertension": "1es", "PMH hypertension": "1", "PMH CKD": "1", "If CKD, stage": "3",
    "PMH CVS disease": "2", "PMH Lung disease": "5 Text", "PMH diabetes mellitus TYPE I": "0",
    "PMH diabetes mellitus TYPE II": "Yes", "PMH diabetes mellitus type II": "1",
    "Current ACEi use": "0", "Current Angiotension receptor blocker use": "1",
    "Current NSAID used": "2", "Duration of symptoms": "7",
    "Respiratory rate on admission": "22", "Heart rate on admission": "96",
    "Any supplemental oxygen: FiO2": "28", "FiO2": "28", "O2 saturation": "94", "Pa02": "9.1",
    "Systolic BP": "[130/80] - 2020-04-01", "Diastolic BP": "[130/80] - 2020-04-01",
    "Temperature on admission": "37.8", "NEWS2 score on arrival": "5",
    "Lymphocyte count on admission": "0.8", "Platelet count on admission": "250",
    "CRP on admission": "120", "D-dimer on admission": "1.2",
    "Fibrinogen  if d-dimer not performed": "4", "Ferritin": "500", "Urea on admission": "6",
    "Creatinine on admission": "90", "Troponin I": "12", "Troponin T": "15",
    "APACHE score on ITU arrival": "14", "1st RT-PCR result": "1",
    "2nd RT-PCR result": "RNA DETECTED (SARS-CoV-2)", "CXR severity": "2",
    "CXR severity 3": "3", "COVID CODE": "CVCX1", "COVID CODE 2": "2",
    "Final COVID Status": "1", "ITU admission ": "1", "Intubation": "1", "Death": "0",
    "Age": "78", "Sex": "1", "Ethnicity": "LJ", "Hospital": "Royal Surrey County Hospital",
    "Pseudonym": "Covid77",
}
_DATES = {"Date of Positive Covid Swab": "04/02/2020",
          "Date of acquisition of 1st RT-PCR": "04/02/2020",
          "Date of acquisition of 2nd RT-PCR": "04/06/2020",
          "Date of result of 1st RT-PCR": "04/03/2020",
          "Date of result of 2nd RT-PCR": "04/07/2020", "Date of admission": "04/01/2020",
          "Date of ITU admission": "04/03/2020", "Date of intubation": "04/04/2020",
          "Date of 1st CXR": "04/01/2020", "Date of 2nd CXR": "04/05/2020",
          "Date last known alive": "05/01/2020", "Date of death": ""}


def _write_one(root: Path, record: dict) -> Path:
    path = root / "training" / "data" / "Covid77" / "data_2020-05-01.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def test_every_workbook_field_lands_in_a_table_and_unknown_keys_are_reported(tmp_path):
    record = {**_VALID, **_DATES, "SubmittingCentre": "Royal Cornwall Hospitals NHS Trust",
              "Shoe size": "9"}
    assert set(SCHEMA_FIELDS) <= set(record)
    path = _write_one(tmp_path, record)
    tables = nccid.load(tmp_path)
    keys = [o.split(": ", 1)[1].split(", day from ") for o in tables.observations["origin"]]
    origins = {k for pair in keys for k in pair}
    patient = tables.patients.iloc[0]
    # Where each field lands (day 0 = Date of admission, 1 April 2020).
    in_patients = {"Age": patient["age_min"] == 78.0, "Sex": patient["sex"] == "M",
                   "Pseudonym": patient["source_patient_id"] == "Covid77",
                   "Final COVID Status": patient["covid_status"] == "positive",
                   "ITU admission ": bool(patient["icu"]), "Intubation": bool(
                       patient["intubated"]), "Death": not bool(patient["died"]),
                   "Respiratory rate on admission": patient["respiratory_rate"] == 22.0,
                   "Heart rate on admission": patient["heart_rate"] == 96.0,
                   "Systolic BP": patient["systolic_bp"] == 130.0,
                   "Diastolic BP": patient["diastolic_bp"] == 80.0,
                   "Temperature on admission": patient["temperature"] == 37.8,
                   "O2 saturation": patient["o2_saturation"] == 94.0}
    assert all(in_patients.values()), in_patients
    events = {(str(e), d) for e, d in zip(tables.events["event"], tables.events["day"],
                                          strict=True)}
    assert events == {("admission", 0.0), ("icu_admission", 2.0), ("intubation", 3.0),
                      ("covid_test_positive", 1.0),   # SwabDate 2 April (UK), 1st RT-PCR
                      ("covid_test_positive", 5.0),   # 2nd RT-PCR acquired 6 April
                      ("last_known_alive", 30.0)}
    labs = set(tables.labs["value_raw"].astype(str) + "@" + tables.labs["analyte"].astype(str))
    assert {"28@fio2", "9.1@po2", "0.8@lymphocytes", "250@platelets", "120@crp",
            "1.2@d_dimer", "4@fibrinogen", "500@ferritin", "6@urea", "90@creatinine",
            "12@troponin_i", "15@troponin_t"} <= labs
    landed = set(in_patients) | origins | {"SwabDate", "Date of Positive Covid Swab",
                                          "Date of admission", "Date of ITU admission",
                                          "Date of intubation", "Date last known alive",
                                          "Date of death", "FiO2", "Pa02",
                                          "Lymphocyte count on admission",
                                          "Platelet count on admission", "CRP on admission",
                                          "D-dimer on admission",
                                          "Fibrinogen  if d-dimer not performed", "Ferritin",
                                          "Urea on admission", "Creatinine on admission",
                                          "Troponin I", "Troponin T", "Hospital"}
    assert set(SCHEMA_FIELDS) - landed == {"PMH h1pertension", "PMH diabetes mellitus TYPE II"}
    # ... the two variant spellings lose to the schema's spelling (NHSX merges them).
    obs = tables.observations.assign(key=[pair[0] for pair in keys])
    by_key = obs.set_index("key")
    expected = {  # key: (field, value, value_num, day); NHSX's codes (schema workbook)
        "Smoking status": ("smoking", "former", 1.0, None),
        "Pack year History": ("smoking_pack_years", None, 20.0, None),
        "PMH hypertension": ("comorbidity_hypertension", "yes", 1.0, None),
        "PMH CKD": ("comorbidity_ckd", "yes", 1.0, None),
        "If CKD, stage": ("comorbidity_ckd", "stage 3", 3.0, None),
        "PMH CVS disease": ("comorbidity_cvd", "angina", 2.0, None),
        "PMH Lung disease": ("comorbidity_lung", "other", 5.0, None),
        "PMH diabetes mellitus type II": ("comorbidity_diabetes", "yes", 1.0, None),
        "PMH diabetes mellitus TYPE I": ("nccid:PMH diabetes mellitus TYPE I", "no", 0.0, None),
        "Current ACEi use": ("medication_acei", "no", 0.0, None),
        "Current Angiotension receptor blocker use": ("medication_arb", "yes", 1.0, None),
        "Current NSAID used": ("medication_nsaid", "unknown", 2.0, None),
        "Duration of symptoms": ("symptom_duration", None, 7.0, None),
        "NEWS2 score on arrival": ("news2", None, 5.0, None),
        "APACHE score on ITU arrival": ("apache", None, 14.0, None),
        "CXR severity": ("cxr_severity", "moderate", 2.0, 0.0),
        "CXR severity 3": ("cxr_severity", "severe", 3.0, 4.0),    # the 2nd CXR, 5 April
        "COVID CODE": ("covid_code", "classic/probable", 1.0, 0.0),
        "COVID CODE 2": ("covid_code", "indeterminate", 2.0, 4.0),
        "1st RT-PCR result": ("covid_test", "positive", None, 1.0),
        "2nd RT-PCR result": ("covid_test", "positive", None, 5.0),
        "Date of result of 1st RT-PCR": ("nccid:Date of result of 1st RT-PCR", "positive",
                                         None, 2.0),
        "Date of result of 2nd RT-PCR": ("nccid:Date of result of 2nd RT-PCR", "positive",
                                         None, 6.0),
        "Ethnicity": ("ethnicity", "Asian", None, None),            # LJ: Asian (NHSX)
        "Any supplemental oxygen: FiO2": ("nccid:Any supplemental oxygen: FiO2", None, 28.0,
                                          None),
        "Temperature on admission": ("temperature", None, 37.8, 0.0),
    }
    for key, (field, value, num, day) in expected.items():
        row = by_key.loc[key]
        assert row["field"] == field, key
        assert (None if pd.isna(row["value"]) else row["value"]) == value, key
        assert (None if pd.isna(row["value_num"]) else row["value_num"]) == num, key
        assert (None if pd.isna(row["day"]) else row["day"]) == day, key
    assert by_key.loc["Ethnicity", "value_raw"] == "LJ"
    assert by_key.loc["PMH Lung disease", "value_raw"] != "5 Text"   # free text not kept
    findings = tables.findings
    unexpected = findings[findings["kind"] == "unexpected_field"]
    assert len(unexpected) == 1
    assert "'Shoe size'" in unexpected["detail"].iat[0]
    assert unexpected["path"].iat[0] == str(path)
    assert set(findings["kind"]) == {"unexpected_field"}    # "1es" lost to "PMH hypertension"
    schema.validate("observations", tables.observations)


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("Smoking status", "7", "unknown_value"),          # outside {0..3}: NHSX drops it
    ("NEWS2 score on arrival", "25", "implausible_value"),   # NEWS2 is 0-17
    ("APACHE score on ITU arrival", "80", "implausible_value"),   # APACHE II is 0-71
    ("COVID CODE", "CVCX9", "unknown_value"),
    ("Ethnicity", "Martian", "unknown_value"),
])
def test_out_of_vocabulary_values_are_reported_not_kept(key, value, kind):
    rec = nc.clean_record({key: value})
    assert [p.kind for p in rec.problems] == [kind]
    kept = [o for o in rec.observations if o.key == key]
    assert kept == [] or kept[0].value == "Unknown"


# ============================================================================ layouts


def _dcm(path: Path, *, pid: str, sop: str, modality: str = "DX", series: str | None = None,
         date: dt.date = dt.date(2020, 4, 20), **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dicom(path, np.full((16, 16), 0.4, np.float32), modality=modality, patient_id=pid,
                study_uid=kwargs.pop("study", f"1.2.{sop}.1"), series_uid=series or
                f"1.2.{sop}.2", sop_uid=sop, study_date=date, view="AP", **kwargs)
    return path


def _flat_2020(root: Path) -> dict[str, int]:
    """A download of the two 2020 layouts in training/ and validation/: 15 images."""
    n = Counter()
    for group, pid in (("training", "Covid1"), ("validation", "Covid2")):
        g = root / group
        # April 2020: {ct,mri,x-ray}/<pid>/<DATE>/<uuid>.dcm (+ -metadata .json)
        for k in range(2):
            _dcm(g / "x-ray" / pid / "2020-04-16" / f"a{k}.dcm", pid=pid, sop=f"{pid[-1]}.1{k}")
            n["image"] += 1
        for k in range(3):     # one CT series of 3 slices
            _dcm(g / "ct" / pid / "2020-04-16" / f"c{k}.dcm", pid=pid, sop=f"{pid[-1]}.2{k}",
                 modality="CT", series=f"9.{pid[-1]}.2", study=f"9.{pid[-1]}.1",
                 instance_number=k + 1, position_z=float(k))
        n["image"] += 1
        (g / "data" / pid / "2020-04-16").mkdir(parents=True)
        (g / "data" / pid / "2020-04-16" / "data.json").write_text(json.dumps(
            {"Pseudonym": pid, "SwabStatus": "1", "SwabDate": "15/04/2020"}))
    # April-May 2020: {xray,ct}[-metadata]/<pid>/<uuid>.{dcm,json} + summary.json
    summary = []
    for group, pid in (("training", "Covid3"), ("validation", "Covid4")):
        g = root / group
        for k in range(2):
            dcm = _dcm(g / "xray" / pid / f"b{k}.dcm", pid=pid, sop=f"{pid[-1]}.3{k}")
            summary.append((group, {"patient_id": pid, "modality": "xray",
                                    "file_name": dcm.name,
                                    "file_key": f"{group}/xray/{pid}/{dcm.name}",
                                    "upload_date": "2020-05-01"}))
            n["image"] += 1
        ct = [_dcm(g / "ct" / pid / f"d{k}.dcm", pid=pid, sop=f"{pid[-1]}.4{k}", modality="CT",
                   series=f"8.{pid[-1]}.2", study=f"8.{pid[-1]}.1", instance_number=k + 1,
                   position_z=float(k)) for k in range(4)]
        n["image"] += 1
        n["ct_slices"] += len(ct)
        (g / "data" / pid).mkdir(parents=True)
        (g / "data" / pid / "data_2020-05-02.json").write_text(json.dumps(
            {"Pseudonym": pid, "SwabStatus": "1", "SwabDate": "01/05/2020"}))
    for group in ("training", "validation"):
        entries = [e for g, e in summary if g == group]
        if group == "validation":      # one listed upload that this copy lacks
            entries.append({**entries[0], "file_name": "gone.dcm",
                            "file_key": f"{group}/xray/Covid4/gone.dcm"})
        (root / group / "xray" / "summary.json").write_text(json.dumps(entries))
    return dict(n)


def test_flat_2020_layouts_lose_no_image(tmp_path):
    counts = _flat_2020(tmp_path)
    tables = nccid.load(tmp_path)
    assert len(tables.images) == counts["image"] == 12
    assert Counter(tables.images["modality"].astype(str)) == {"DX": 8, "CT": 4}
    assert set(tables.files["status"].astype(str)) == {"used"}
    assert len(tables.files) == sum(1 for p in tmp_path.rglob("*") if p.is_file())
    assert sorted(tables.patients["source_patient_id"]) == ["Covid1", "Covid2", "Covid3",
                                                            "Covid4"]
    assert set(tables.patients["covid_status"].astype(str)) == {"positive"}
    assert set(tables.patients["group"]) == {"training", "validation"}
    missing = tables.findings[tables.findings["kind"] == "missing_image_file"]
    assert len(missing) == 1 and "gone.dcm" in missing["detail"].iat[0]
    assert missing["path"].iat[0] == str(tmp_path / "validation" / "xray" / "summary.json")
    assert "orphan_image" not in set(tables.findings["kind"])


def test_flat_2020_layouts_from_s3(s3_endpoint, tmp_path):
    import boto3
    import s3fs

    local = tmp_path / "flat"
    _flat_2020(local)
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="nccid-2020")
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    fs.pipe({"nccid-2020/" + p.relative_to(local).as_posix(): p.read_bytes()
             for p in local.rglob("*") if p.is_file()})
    s3fs.S3FileSystem.clear_instance_cache()
    remote = nccid.load("s3://nccid-2020")
    here = nccid.load(local)
    assert sorted(remote.images["image_uid"]) == sorted(here.images["image_uid"])
    assert len(remote.files) == len(here.files)
    assert Counter(remote.findings["kind"]) == Counter(here.findings["kind"])
    one = nccid.load("s3://nccid-2020/training/ct/Covid1")        # a one-patient prefix
    assert list(one.images["modality"].astype(str)) == ["CT"]


def test_one_patient_prefix_loads(tmp_path):
    _flat_2020(tmp_path)
    tables = nccid.load(tmp_path / "training" / "x-ray" / "Covid1")
    assert len(tables.images) == 2 and set(tables.patients["group"]) == {"training"}
    assert ci.detect_source(tmp_path / "training" / "x-ray" / "Covid1") == "nccid"
    clinical = nccid.load(tmp_path / "validation" / "data" / "Covid4")
    assert clinical.patients["covid_status"].astype(str).tolist() == ["positive"]
    assert set(clinical.patients["group"]) == {"validation"}


def test_as_of_reloads_the_clinical_files_of_that_date(tmp_path):
    data = tmp_path / "training" / "data" / "Covid5"
    data.mkdir(parents=True)
    (data / "status_2020-04-01.json").write_text(json.dumps(
        {"Pseudonym": "Covid5", "SwabDates": [{"SwabDate": "01/04/2020", "SwabStatus": "0"}]}))
    (data / "data_2020-06-15.json").write_text(json.dumps(
        {"Pseudonym": "Covid5", "SwabStatus": "1", "SwabDate": "14/06/2020"}))
    _dcm(tmp_path / "training" / "xray" / "Covid5" / "s" / "r" / "i.dcm", pid="Covid5",
         sop="5.1")
    now = ci.load({"nccid": tmp_path})
    then = ci.load({"nccid": tmp_path}, options={"nccid": {"as_of": "2020-06-01"}})
    assert now.patients["covid_status"].astype(str).tolist() == ["positive"]
    assert then.patients["covid_status"].astype(str).tolist() == ["negative"]
    late = then.files.set_index("path").loc[str(data / "data_2020-06-15.json")]
    assert (late["status"], late["reason"]) == ("ignored", "dated 2020-06-15, after as_of "
                                                "2020-06-01")
    assert json.loads(then.provenance["options"].iat[0]) == {"as_of": "2020-06-01"}
    with pytest.raises(ValueError, match="as_of='June'"):
        nccid.load(tmp_path, as_of="June")


def test_real_warehouse_dicom_json_files_load(tmp_path):
    """NHSX's warehouse-loader test files: a DX radiograph (Covid0000) and an OT image."""
    group = tmp_path / "training"
    placed = {}
    for name, pid in (("Covid0000.json", "Covid0000"), ("sample.json", "Covid0001")):
        obj = json.loads(_real(name).read_text())
        uid = {k: obj[k]["Value"][0] for k in ("0020000D", "0020000E", "00080018")}
        rel = Path(pid, uid["0020000D"], uid["0020000E"])
        meta = group / f"xray-metadata/{rel}/{uid['00080018']}.json"
        meta.parent.mkdir(parents=True)
        shutil.copyfile(_real(name), meta)                # byte for byte
        _dcm(group / f"xray/{rel}/{uid['00080018']}.dcm", pid=pid, sop=uid["00080018"],
             series=uid["0020000E"], study=uid["0020000D"])
        placed[name] = (meta, uid)
    tables = nccid.load(tmp_path)
    images = tables.images.set_index("image_uid")
    sop = placed["Covid0000.json"][1]["00080018"]
    row = images.loc[f"nccid:{sop}"]                    # read from the JSON, not the .dcm
    assert (row["modality"], row["rows"], row["columns"]) == ("DX", 1024, 1024)
    patient = tables.patients.set_index("source_patient_id").loc["Covid0000"]
    assert (patient["sex"], patient["age_min"]) == ("M", 81.0)    # PatientAge "81", no unit
    files = tables.files.set_index("path")
    ot_meta = str(placed["sample.json"][0])
    assert files.loc[ot_meta, "status"] == "ignored"
    assert "modality 'OT'" in files.loc[ot_meta, "reason"]
    ot = tables.findings[tables.findings["kind"] == "unsupported_modality"]
    assert len(ot) == 1 and "'OT'" in ot["detail"].iat[0]
    assert len(tables.images) == 1
    assert not math.isnan(len(tables.files))
