"""The one unit table: laboratory values in a source's unit -> the schema's canonical unit.

Every loader converts lab values here and nowhere else. The canonical unit of each analyte is
:attr:`covidimg.schema.Analyte.unit` (``ANALYTES["crp"].unit == "mg/L"``); :data:`FACTORS`
holds, per measured quantity, the factor from each known unit to that canonical unit, and
:func:`convert` applies it.

Measured quantity vs analyte
----------------------------
A source sometimes measures a different quantity than the analyte the cohort reports. The one
case so far is urea: US laboratories report **blood urea nitrogen** (BUN, the nitrogen of the
urea, in mg/dL), UK laboratories report **urea** itself (in mmol/L). Both become the analyte
``urea`` in mmol/L, with different factors for mg/dL:

* urea, molar mass 60.06 g/mol (CH4N2O: 12.011 + 4 × 1.008 + 2 × 14.007 + 15.999):
  1 mg/dL = 10 mg/L = 10 / 60.06 mmol/L = 0.1665 mmol/L;
* urea nitrogen, 28.014 g of nitrogen (N2, 2 × 14.007 g/mol) per mole of urea:
  1 mg/dL = 10 / 28.014 mmol/L of urea = 0.357 mmol/L.

So the measured quantity ``urea_nitrogen`` (:data:`MEASURES`) reports as the analyte ``urea``,
and each loader says which one its source measures (CRDW by the datamart's lab name, TCIA's
LOINC 3094-0 is urea nitrogen, NCCID's "Urea on admission" is urea).

Sources of the other factors
----------------------------
* mass concentrations: 1 dL = 100 mL, so mg/dL × 10 = mg/L; µg/mL = mg/L; ng/mL = µg/L;
  pg/mL = ng/L (SI prefixes);
* creatinine: 1 mg/dL = 88.42 µmol/L, the conventional clinical factor (molar mass
  113.12 g/mol gives 10 000 / 113.12 = 88.40; laboratories and the SI conversion tables of the
  clinical literature use 88.4 to 88.42, and 88.42 is what covidimg has always used);
* lactate: molar mass 90.08 g/mol (C3H6O3), 1 mg/dL = 10 / 90.08 mmol/L = 0.1110 mmol/L;
* fibrinogen: 1 mg/dL = 10 mg/L = 0.01 g/L;
* blood gases: 1 mmHg = 101 325 / 760 Pa (the definition of the torr, standard atmosphere
  101 325 Pa = 760 mmHg), so 1 kPa = 760 / 101.325 mmHg = 7.5006 mmHg;
* enzyme activity: 1 U = 1 µmol/min = 1/60 µkat, so 1 µkat/L = 60 U/L; IU/L = U/L;
* cell counts: 10^3/µL = 10^9/L (1 µL = 10^-6 L) = /nL; K/µL, thou/µL, 1000/µL are spellings
  of 10^3/µL; a count per µL (cells/µL, /mm3) is 10^6/L = 0.001 × 10^9/L;
* body temperature (not an analyte: an affine scale, not a factor, see
  :func:`convert_temperature`): t/°C = (t/°F − 32)/1.8, the definition of the Fahrenheit scale
  as NIST Special Publication 811 (2008), appendix B.9 ("Temperature"), gives it;
* D-dimer: FEU (fibrinogen-equivalent units) and DDU (D-dimer units; FEU ≈ 2 × DDU) are not
  distinguished: sources report one or the other, often without saying which, and the
  canonical ``mg/L`` is the number as reported in either. The suffix is dropped by
  :func:`normalize_unit`.

Examples
--------
>>> from covidimg.units import convert
>>> convert("crp", 1.2, "mg/dL")
12.0
>>> round(convert("urea_nitrogen", 14.0, "mg/dL"), 2), round(convert("urea", 30.0, "mg/dL"), 2)
(5.0, 5.0)
"""

from __future__ import annotations

import math
import re

from covidimg.errors import UnitConversionError
from covidimg.schema import ANALYTES

__all__ = [
    "FACTORS",
    "MEASURES",
    "TEMPERATURE_UNITS",
    "UnitConversionError",
    "analyte_of",
    "canonical_unit",
    "convert",
    "convert_temperature",
    "factor",
    "known_units",
    "normalize_unit",
]

#: Measured quantities that report as another analyte (measure -> analyte of
#: :data:`covidimg.schema.ANALYTES`). Every other measure is its own analyte.
MEASURES: dict[str, str] = {"urea_nitrogen": "urea"}

_UREA_G_PER_MOL = 60.06
_UREA_NITROGEN_G_PER_MOL = 2 * 14.007  # 28.014: the two nitrogen atoms of one urea molecule
_LACTATE_G_PER_MOL = 90.08
_CREATININE_MG_DL = 88.42
_MMHG_PER_KPA = 760.0 / 101.325

_COUNT = {"10^9/l": 1.0, "10^3/ul": 1.0, "/nl": 1.0, "/ul": 1e-3}
_NG_PER_L = {"ng/l": 1.0, "pg/ml": 1.0, "ng/ml": 1e3, "ug/l": 1e3}

#: measure -> {normalised unit (:func:`normalize_unit`): factor to the canonical unit}. The
#: canonical unit itself (factor 1) is always accepted, listed or not.
FACTORS: dict[str, dict[str, float]] = {
    "crp": {"mg/l": 1.0, "ug/ml": 1.0, "mg/dl": 10.0},
    "d_dimer": {"mg/l": 1.0, "ug/ml": 1.0, "ng/ml": 1e-3, "ug/l": 1e-3},
    "factor_xiii": {"%": 1.0},
    "ldh": {"u/l": 1.0, "ukat/l": 60.0},
    "lymphocytes": dict(_COUNT),
    "neutrophils": dict(_COUNT),
    "wcc": dict(_COUNT),
    "platelets": dict(_COUNT),
    "po2": {"mmhg": 1.0, "kpa": _MMHG_PER_KPA},
    "pco2": {"mmhg": 1.0, "kpa": _MMHG_PER_KPA},
    "ferritin": {"ug/l": 1.0, "ng/ml": 1.0},
    "creatinine": {"umol/l": 1.0, "mg/dl": _CREATININE_MG_DL},
    # urea, 60.06 g/mol: mg/dL -> mmol/L x 10 / 60.06; ng/mL = ug/L = 1e-3 mg/L
    "urea": {"mmol/l": 1.0, "mg/dl": 10.0 / _UREA_G_PER_MOL, "ng/ml": 1e-3 / _UREA_G_PER_MOL},
    # urea nitrogen (BUN), 28.014 g N per mol urea: mg/dL -> mmol/L urea x 10 / 28.014
    "urea_nitrogen": {"mmol/l": 1.0, "mg/dl": 10.0 / _UREA_NITROGEN_G_PER_MOL},
    "troponin_t": dict(_NG_PER_L),
    "troponin_i": dict(_NG_PER_L),
    "fibrinogen": {"g/l": 1.0, "mg/dl": 0.01},
    "lactate": {"mmol/l": 1.0, "mg/dl": 10.0 / _LACTATE_G_PER_MOL},
    "fio2": {"%": 1.0},
}

#: Spellings -> the spelling :data:`FACTORS` uses (after case, spaces, µ, exponents).
_SYNONYMS = {
    "iu/l": "u/l", "µkat/l": "ukat/l",
    "k/ul": "10^3/ul", "k/mm3": "10^3/ul", "thou/ul": "10^3/ul", "1000/ul": "10^3/ul",
    "10^3/mm3": "10^3/ul", "10^6/ml": "10^9/l",
    "cells/ul": "/ul", "/mm3": "/ul", "cells/mm3": "/ul",
    "feu": "mg/l",  # a D-dimer unit written as just "FEU": mg/L FEU (NCCID submissions)
}
_QUALIFIERS = ("feu", "ddu")  # D-dimer units, not distinguished (see the module docstring)
_EXPONENT = re.compile(r"(?:x|\*|×)?10(?:\^|\*|e|\*\*)(\d+)")


def normalize_unit(unit: object) -> str:
    """A unit's spelling reduced to the key of :data:`FACTORS`.

    Lower case, no spaces or parentheses, ``µ``/``μ``/``mc`` as ``u``, ``10*9``/``10e9``/
    ``x10^9`` as ``10^9``, ``K/µL``/``thou/µL`` as ``10^3/ul``, ``IU/L`` as ``u/l``, and the
    D-dimer qualifiers ``FEU``/``DDU`` dropped (see the module docstring).

    Examples
    --------
    >>> from covidimg.units import normalize_unit
    >>> normalize_unit(" µg/L "), normalize_unit("x10^9/L"), normalize_unit("K/uL")
    ('ug/l', '10^9/l', '10^3/ul')
    >>> normalize_unit("ng/mL FEU"), normalize_unit("mg/L (FEU)"), normalize_unit("mcg/mL")
    ('ng/ml', 'mg/l', 'ug/ml')
    """
    text = "" if unit is None else str(unit)
    text = "".join(text.lower().split()).replace("(", "").replace(")", "")
    text = text.replace("µ", "u").replace("μ", "u").replace("mcg", "ug").replace("mc/", "u/")
    text = _EXPONENT.sub(lambda m: f"10^{m[1]}", text)
    while text.endswith(_QUALIFIERS) and text not in _QUALIFIERS:
        text = text[:-3]
    return _SYNONYMS.get(text, text)


def analyte_of(measure: str) -> str:
    """The analyte a measured quantity is reported as (``urea_nitrogen`` -> ``urea``).

    Examples
    --------
    >>> from covidimg.units import analyte_of
    >>> analyte_of("urea_nitrogen"), analyte_of("crp")
    ('urea', 'crp')
    """
    return MEASURES.get(measure, measure)


def canonical_unit(measure: str) -> str:
    """The schema's canonical unit of the analyte ``measure`` reports as.

    Raises
    ------
    UnitConversionError
        If ``measure`` is neither an analyte of the schema nor in :data:`MEASURES`.
    """
    analyte = analyte_of(measure)
    if analyte not in ANALYTES:
        raise UnitConversionError(
            f"measure={measure!r} is not an analyte of covidimg.schema.ANALYTES nor a measure "
            f"of covidimg.units.MEASURES; known: {sorted({*ANALYTES, *MEASURES})}")
    return ANALYTES[analyte].unit


def known_units(measure: str) -> list[str]:
    """The normalised units :func:`convert` accepts for ``measure``."""
    return sorted({*FACTORS.get(measure, {}), normalize_unit(canonical_unit(measure))})


def factor(measure: str, unit: object) -> float:
    """The factor from ``unit`` to the canonical unit of ``measure``'s analyte.

    Raises
    ------
    UnitConversionError
        If the unit (or the measure) is unknown; the message lists the known units.

    Examples
    --------
    >>> from covidimg.units import factor
    >>> factor("d_dimer", "ng/mL FEU"), factor("lymphocytes", "K/uL")
    (0.001, 1.0)
    """
    target = canonical_unit(measure)
    key = normalize_unit(unit)
    known = FACTORS.get(measure, {})
    if key in known:
        return known[key]
    if key == normalize_unit(target):
        return 1.0
    what = measure if analyte_of(measure) == measure else \
        f"{measure} (reported as {analyte_of(measure)})"
    # The loader that catches this says what to do next (fix the unit it was given).
    raise UnitConversionError(
        f"unit {unit!r} cannot be converted to {target} for {what}; known units are "
        f"{known_units(measure)}")


def convert(measure: str, value: float, unit: object) -> float:
    """Convert ``value`` of ``measure`` from ``unit`` to its analyte's canonical unit.

    Parameters
    ----------
    measure
        An analyte of :data:`covidimg.schema.ANALYTES`, or a measure of :data:`MEASURES`
        (``"urea_nitrogen"`` for BUN).
    value
        The number; ``±inf`` (an open end of a censored value) is returned unchanged.
    unit
        The unit as the source spells it (normalised by :func:`normalize_unit`).

    Returns
    -------
    float
        The value in :func:`canonical_unit` ``(measure)``.

    Raises
    ------
    UnitConversionError
        If the unit is unknown for the measure; the message lists the known units.

    Examples
    --------
    >>> from covidimg.units import convert
    >>> convert("d_dimer", 850.0, "ng/mL")
    0.85
    >>> round(convert("creatinine", 1.0, "mg/dL"), 2), round(convert("po2", 10.0, "kPa"), 2)
    (88.42, 75.01)
    """
    scale = factor(measure, unit)
    if math.isinf(value):
        return value
    return value * scale


#: Body temperature: normalised unit -> the scale it is on (``"C"`` or ``"F"``); the canonical
#: unit is °C. ``"c"``/``"°c"``/``"celsius"``/``"centigrade"`` and ``"f"``/``"°f"``/
#: ``"fahrenheit"`` (after :func:`normalize_unit`).
TEMPERATURE_UNITS: dict[str, str] = {
    "c": "C", "°c": "C", "degc": "C", "celsius": "C", "celcius": "C", "centigrade": "C",
    "f": "F", "°f": "F", "degf": "F", "fahrenheit": "F",
}


def convert_temperature(value: float, unit: object) -> float:
    """A body temperature in ``unit`` (°C or °F spellings) in °C.

    t/°C = (t/°F − 32)/1.8 (NIST SP 811, 2008, appendix B.9).

    Raises
    ------
    UnitConversionError
        If ``unit`` is not a temperature unit of :data:`TEMPERATURE_UNITS`.

    Examples
    --------
    >>> from covidimg.units import convert_temperature
    >>> convert_temperature(99.5, "F"), convert_temperature(37.2, "°C")
    (37.5, 37.2)
    """
    scale = TEMPERATURE_UNITS.get(normalize_unit(unit))
    if scale is None:
        raise UnitConversionError(
            f"unit {unit!r} is not a temperature unit; known units are "
            f"{sorted(TEMPERATURE_UNITS)}")
    return value if scale == "C" else (value - 32.0) / 1.8
