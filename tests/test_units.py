"""The unit table against hand calculations (molar masses and SI prefixes), not against itself."""

from __future__ import annotations

import math

import pytest

from covidimg import schema, units
from covidimg.errors import UnitConversionError


@pytest.mark.parametrize(("measure", "value", "unit", "expected", "canonical"), [
    # creatinine: the conventional 88.42 µmol/L per mg/dL
    ("creatinine", 1.0, "mg/dL", 88.42, "umol/L"),
    # BUN: 14 mg/dL of urea nitrogen = 140 mg/L N / 28.014 g/mol N2 per urea = 5.0 mmol/L urea
    ("urea_nitrogen", 14.0, "mg/dL", 140.0 / 28.014, "mmol/L"),
    # urea: 30 mg/dL = 300 mg/L / 60.06 g/mol = 5.0 mmol/L
    ("urea", 30.0, "mg/dL", 300.0 / 60.06, "mmol/L"),
    ("urea", 300_000.0, "ng/mL", 300.0 / 60.06, "mmol/L"),     # 300 000 ng/mL = 300 mg/L
    ("d_dimer", 850.0, "ng/mL", 0.85, "mg/L"),
    ("d_dimer", 850.0, "ng/mL FEU", 0.85, "mg/L"),
    ("d_dimer", 1500.0, "µg/L", 1.5, "mg/L"),
    ("d_dimer", 0.5, "ug/mL", 0.5, "mg/L"),
    ("crp", 1.2, "mg/dL", 12.0, "mg/L"),
    ("po2", 10.0, "kPa", 10_000 * 760 / 101_325, "mmHg"),      # 1 mmHg = 101325/760 Pa
    ("pco2", 5.3, "kPa", 5_300 * 760 / 101_325, "mmHg"),
    ("troponin_i", 0.05, "ng/mL", 50.0, "ng/L"),
    ("troponin_t", 14.0, "pg/mL", 14.0, "ng/L"),
    ("fibrinogen", 350.0, "mg/dL", 3.5, "g/L"),
    ("lactate", 18.0, "mg/dL", 180.0 / 90.08, "mmol/L"),        # lactate 90.08 g/mol
    ("ldh", 3.0, "µkat/L", 180.0, "U/L"),                        # 1 µkat = 60 U
    ("ldh", 250.0, "IU/L", 250.0, "U/L"),
    ("ferritin", 300.0, "ng/mL", 300.0, "ug/L"),
    ("lymphocytes", 1.2, "K/uL", 1.2, "10^9/L"),
    ("lymphocytes", 1200.0, "cells/µL", 1.2, "10^9/L"),
    ("neutrophils", 4.0, "x10^9/L", 4.0, "10^9/L"),
    ("wcc", 7.0, "10*9/l", 7.0, "10^9/L"),
    ("platelets", 250.0, "thou/uL", 250.0, "10^9/L"),
    ("platelets", 250.0, "/nL", 250.0, "10^9/L"),
])
def test_convert_matches_hand_calculation(measure, value, unit, expected, canonical):
    assert units.convert(measure, value, unit) == pytest.approx(expected, rel=1e-4)
    assert units.canonical_unit(measure) == canonical


def test_bun_and_urea_differ_by_the_nitrogen_fraction():
    # 14 mg/dL BUN and 30 mg/dL urea are the same 5.0 mmol/L of urea (within rounding)
    assert units.convert("urea_nitrogen", 14.0, "mg/dL") == pytest.approx(5.0, abs=0.01)
    assert units.convert("urea", 30.0, "mg/dL") == pytest.approx(5.0, abs=0.01)
    assert units.factor("urea_nitrogen", "mg/dL") == pytest.approx(0.357, abs=5e-4)
    assert units.factor("urea", "mg/dL") == pytest.approx(0.1665, abs=5e-5)
    assert units.analyte_of("urea_nitrogen") == "urea"


def test_canonical_unit_is_always_accepted():
    for name, analyte in schema.ANALYTES.items():
        assert units.convert(name, 2.0, analyte.unit) == 2.0
        assert units.convert(name, 2.0, analyte.unit.upper()) == 2.0


def test_every_measure_reports_as_a_schema_analyte():
    for measure in units.FACTORS:
        assert units.analyte_of(measure) in schema.ANALYTES, measure
        assert all(f > 0 and math.isfinite(f) for f in units.FACTORS[measure].values())


def test_censored_ends_stay_infinite():
    assert units.convert("d_dimer", -math.inf, "ng/mL") == -math.inf
    assert units.convert("crp", math.inf, "mg/dL") == math.inf


@pytest.mark.parametrize(("text", "key"), [
    (" µg/L ", "ug/l"), ("μg/L", "ug/l"), ("mcg/mL", "ug/ml"), ("x10^9/L", "10^9/l"),
    ("×10^9/L", "10^9/l"), ("10e9/L", "10^9/l"), ("10*3/uL", "10^3/ul"), ("K/mm3", "10^3/ul"),
    ("ng/mL FEU", "ng/ml"), ("mg/L (FEU)", "mg/l"), ("ng/mL DDU", "ng/ml"), ("FEU", "mg/l"),
    ("IU/L", "u/l"), ("mm Hg", "mmhg"), ("", ""),
])
def test_normalize_unit_spellings(text, key):
    assert units.normalize_unit(text) == key
    assert units.normalize_unit(key) == key


def test_unknown_unit_names_the_unit_the_analyte_and_the_known_units():
    with pytest.raises(UnitConversionError,
                       match=r"unit '%' cannot be converted to mmHg for po2; known units are "
                             r"\['kpa', 'mmhg'\]"):
        units.convert("po2", 95.0, "%")
    with pytest.raises(UnitConversionError, match=r"urea_nitrogen \(reported as urea\)"):
        units.convert("urea_nitrogen", 5.0, "g/L")
    with pytest.raises(ValueError, match="measure='spo2'"):
        units.convert("spo2", 95.0, "%")
