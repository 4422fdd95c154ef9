"""Cleaning of NCCID clinical JSON: human-label keys, mixed dates, numbers in text, site units.

NCCID's clinical files (``data_YYYY-MM-DD.json`` for positive patients, ``status_YYYY-MM-DD.json``
for negative ones) are the sites' submission spreadsheets turned into JSON. Their values are
what people typed:

* keys are human labels (``"Date of ITU admission"``, ``"D-dimer on admission"``, ``"Pa02"``,
  ``"Fibrinogen  if d-dimer not performed"`` with two spaces); :func:`normalize_key` and
  :data:`KEY_ALIASES` map them onto field names;
* ``SwabDate`` is UK order (DD/MM/YYYY), every other date US order (MM/DD/YYYY); dates are read
  by :func:`covidimg.sources._engine.dates.parse_date` with every recovery: a date that is
  impossible in the stated order but valid in the other is read in the other order and
  reported; spreadsheet error cells ``"[Text] - 2020-03-20"`` keep the ISO date; Excel serial
  numbers (``43909``) are converted;
* numbers arrive as text: ``"[67] - 2020-06-06"`` (the bracketed number is the value),
  ``"[170/70] - 2020-04-01"`` (blood pressure), ``"<5"``, ``"8.5 kPa"``, ``"10L"``;
* units differ by site (:data:`SITE_UNITS`, keyed on ``SubmittingCentre``) and are converted to
  the schema's canonical unit by :func:`covidimg.units.convert` ("Urea on admission" is urea,
  which UK laboratories report in mmol/L, not urea nitrogen);
* FiO2 comes as %, as a fraction, as litres of oxygen per minute or as a Venturi mask colour
  (:func:`parse_fio2`).

Nothing here raises on a bad value: each one becomes a :class:`Problem` that the loader turns
into a finding naming the file, the key and the value.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from covidimg import schema, units
from covidimg.errors import ValueProblem
from covidimg.intervals import parse_censored_text
from covidimg.sources._engine.dates import RECOVER_ALL, DateOrder, is_missing, parse_date

__all__ = [
    "DATE_FIELDS",
    "DEFAULT_UNITS",
    "FIO2_LITRES",
    "FIO2_MASK_COLOURS",
    "KEY_ALIASES",
    "LAB_FIELDS",
    "PLAUSIBLE",
    "SITE_UNITS",
    "ClinicalRecord",
    "LabValue",
    "Problem",
    "ValueProblem",
    "clean_record",
    "normalize_key",
    "parse_blood_pressure",
    "parse_fio2",
    "parse_number",
    "read_clinical_json",
    "site_units_table",
]


# ---------------------------------------------------------------------------- keys
def normalize_key(label: str) -> str:
    """Normalise a human-label key: lower case, ``_`` as space, whitespace collapsed.

    Examples
    --------
    >>> from covidimg.sources.nccid.clean import normalize_key
    >>> normalize_key("Fibrinogen  if d-dimer not performed")
    'fibrinogen if d-dimer not performed'
    >>> normalize_key(" Date_of_ITU_admission ")
    'date of itu admission'
    """
    return " ".join(str(label).replace("_", " ").lower().split())


#: Normalised key -> field name. Typos and renamed columns seen in NCCID submissions included.
KEY_ALIASES: dict[str, str] = {
    "pseudonym": "pseudonym",
    "submittingcentre": "site",
    "submitting centre": "site",
    "swabstatus": "swab_status",
    "swab status": "swab_status",
    "swabdate": "swab_date",
    "swab date": "swab_date",
    "swabdates": "swab_dates",
    "age": "age",
    "sex": "sex",
    "final covid status": "final_covid_status",
    "date of positive covid swab": "positive_swab_date",
    "date of admission": "admission_date",
    "date of itu admission": "icu_admission_date",
    "date of intubation": "intubation_date",
    "date of death": "death_date",
    "date last known alive": "last_known_alive_date",
    "itu admission": "icu",
    "intubation": "intubated",
    "death": "died",
    "crp on admission": "crp",
    "d-dimer on admission": "d_dimer",
    "ddimer on admission": "d_dimer",
    "lymphocyte count on admission": "lymphocytes",
    "wcc on admission": "wcc",
    "platelet count on admission": "platelets",
    "ferritin": "ferritin",
    "urea on admission": "urea",
    "creatinine on admission": "creatinine",
    "troponin i": "troponin_i",
    "troponin t": "troponin_t",
    "fibrinogen if d-dimer not performed": "fibrinogen",
    "pao2": "po2",
    "pa02": "po2",
    "fio2": "fio2",
    "fi02": "fio2",
    "systolic bp": "systolic_bp",
    "diastolic bp": "diastolic_bp",
    "o2 saturation": "o2_saturation",
    "temperature on admission": "temperature",
    "respiratory rate on admission": "respiratory_rate",
    "heart rate on admission": "heart_rate",
}

#: Date fields: field -> (event name, day-first?). ``SwabDate`` is UK order, the rest US order.
DATE_FIELDS: dict[str, tuple[str, bool]] = {
    "admission_date": ("admission", False),
    "icu_admission_date": ("icu_admission", False),
    "intubation_date": ("intubation", False),
    "death_date": ("death", False),
    "positive_swab_date": ("covid_test_positive", False),
    "last_known_alive_date": ("last_known_alive", False),
    "swab_date": ("swab", True),
}

#: Lab fields (field name == analyte name of :data:`covidimg.schema.ANALYTES`).
LAB_FIELDS: tuple[str, ...] = ("crp", "d_dimer", "lymphocytes", "wcc", "platelets", "ferritin",
                               "urea", "creatinine", "troponin_i", "troponin_t", "fibrinogen",
                               "po2")

#: Vital signs kept as extra patient columns (plain numbers, no unit conversion).
VITAL_FIELDS: tuple[str, ...] = ("o2_saturation", "temperature", "respiratory_rate",
                                 "heart_rate")


# ---------------------------------------------------------------------------- units
#: The unit a value is assumed to be in when its site is not in :data:`SITE_UNITS` and the
#: value names no unit: the NCCID template's unit, which is UK practice (blood gases in kPa).
DEFAULT_UNITS: dict[str, str] = {
    "crp": "mg/L", "d_dimer": "mg/L", "lymphocytes": "10^9/L", "wcc": "10^9/L",
    "platelets": "10^9/L", "ferritin": "ug/L", "urea": "mmol/L", "creatinine": "umol/L",
    "troponin_i": "ng/L", "troponin_t": "ng/L", "fibrinogen": "g/L", "po2": "kPa", "fio2": "%",
}

#: Analytes whose unit differs between sites (NHSX ``NCCID_site_specific_units.xlsx``): a value
#: from a site missing from the table is converted from :data:`DEFAULT_UNITS` and reported.
SITE_DEPENDENT: tuple[str, ...] = ("d_dimer", "po2", "urea", "troponin_i")

#: Site-specific units, keyed on ``SubmittingCentre`` (matched case-insensitively); analytes
#: not listed use :data:`DEFAULT_UNITS`. NHSX keeps the real table (six trusts) in
#: ``NCCID_site_specific_units.xlsx``, which is not public; the rows below are the pseudonymous
#: centres of nccid-cleaning's example data, which the covidimg demo also uses. Pass
#: ``site_units={"<SubmittingCentre>": {"d_dimer": "ng/mL", ...}}`` to
#: :func:`covidimg.sources.nccid.load` with the rows of your copy of the xlsx.
SITE_UNITS: dict[str, dict[str, str]] = {
    "Centre A": {"d_dimer": "ng/mL", "po2": "kPa", "urea": "mmol/L", "troponin_i": "ng/L"},
    "Centre B": {"d_dimer": "mg/L", "po2": "mmHg", "urea": "mmol/L", "troponin_i": "ng/mL"},
    "Centre C": {"d_dimer": "ug/L", "po2": "kPa", "urea": "mmol/L", "troponin_i": "ng/L"},
    "Centre D": {"d_dimer": "ng/mL", "po2": "kPa", "urea": "ng/mL", "troponin_i": "ng/L"},
    "Centre E": {"d_dimer": "mg/L", "po2": "kPa", "urea": "mmol/L", "troponin_i": "ng/mL"},
    "Centre F": {"d_dimer": "ug/L", "po2": "%", "urea": "mmol/L", "troponin_i": "ng/L"},
}

#: Wide plausibility ranges in the canonical unit; a converted value outside is kept but
#: reported (``implausible_value``), which usually means the site's unit is wrong.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "crp": (0.0, 700.0), "d_dimer": (0.0, 150.0), "lymphocytes": (0.0, 100.0),
    "wcc": (0.0, 500.0), "platelets": (0.0, 3000.0), "ferritin": (0.0, 100000.0),
    "urea": (0.0, 150.0), "creatinine": (0.0, 3000.0), "troponin_i": (0.0, 500000.0),
    "troponin_t": (0.0, 100000.0), "fibrinogen": (0.0, 20.0), "po2": (5.0, 800.0),
    "fio2": (21.0, 100.0),
}


def site_units_table(site_units: Mapping[str, Mapping[str, str]] | None = None) -> pd.DataFrame:
    """The site unit table as a DataFrame: one row per site, one column per analyte.

    Examples
    --------
    >>> from covidimg.sources.nccid.clean import site_units_table
    >>> site_units_table().loc["Centre A", "d_dimer"]
    'ng/mL'
    """
    table = SITE_UNITS if site_units is None else site_units
    frame = pd.DataFrame.from_dict({k: dict(v) for k, v in table.items()}, orient="index")
    frame.index.name = "SubmittingCentre"
    return frame


# ---------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class Problem:
    """One problem with one value of a clinical file.

    ``kind`` is the finding kind: ``unparseable_value`` (the value is lost),
    ``recovered_value`` (read from an error pattern, another date order or an Excel serial),
    ``unit_assumed``, ``unconvertible_unit`` or ``implausible_value``.
    """

    key: str
    value: Any
    detail: str
    kind: str = "unparseable_value"

    def message(self) -> str:
        """One line naming the key and the value."""
        return f"{self.key!r} = {self.value!r}: {self.detail}"


# ---------------------------------------------------------------------------- dates


def _date_order(day_first: bool) -> DateOrder:
    return "DMY" if day_first else "MDY"


# ---------------------------------------------------------------------------- numbers
_NUMBER = r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)"
_BRACKETED_NUMBER = re.compile(rf"^\[\s*(?P<inner>[<>≤≥]?=?\s*{_NUMBER})\s*\]\s*-\s*"
                               r"\d{4}-\d{2}-\d{2}$")
_NUMBER_WITH_UNIT = re.compile(rf"^(?P<op><=|>=|<|>|≤|≥)?\s*(?P<num>{_NUMBER})\s*"
                               r"(?P<unit>[a-zA-Zµμ%/^*0-9.() ]*?)\s*$")


@dataclass(frozen=True)
class ParsedNumber:
    """A number read from text, as an interval, with the unit the text named (if any)."""

    lower: float
    upper: float
    censor: str
    unit: str | None = None
    note: str = ""
    recovered: bool = False

    @property
    def interval(self) -> tuple[float, float, str]:
        """``(lower, upper, censor)``."""
        return self.lower, self.upper, self.censor


def parse_number(value: Any) -> ParsedNumber | None:
    """Read a number from NCCID text: ``"12.5"``, ``"<5"``, ``"[67] - 2020-06-06"``, ``"8.5 kPa"``.

    Returns
    -------
    ParsedNumber or None
        ``None`` for an empty value. An exact number ``v`` is ``(v, v, "none")``; ``"<v"`` is
        ``(-inf, v, "left")``; ``">v"`` is ``(v, inf, "right")``. ``unit`` is the unit written
        after the number, if any.

    Raises
    ------
    ValueProblem
        When no number can be read.

    Examples
    --------
    >>> from covidimg.sources.nccid.clean import parse_number
    >>> parse_number("[67] - 2020-06-06").interval
    (67.0, 67.0, 'none')
    >>> parse_number("8.5 kPa").unit
    'kPa'
    >>> parse_number("<5").interval
    (-inf, 5.0, 'left')
    """
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise ValueProblem("a boolean is not a number")
    if isinstance(value, int | float):
        if not math.isfinite(float(value)):
            raise ValueProblem("not a finite number")
        return ParsedNumber(float(value), float(value), "none")
    text = str(value).strip()
    note = ""
    match = _BRACKETED_NUMBER.match(text)
    if match:
        text = match["inner"]
        note = f"spreadsheet error cell; kept the bracketed value {text}"
    parsed = parse_censored_text(text)
    if parsed is not None:
        return ParsedNumber(*parsed, note=note, recovered=bool(note))
    match = _NUMBER_WITH_UNIT.match(text)
    if match and match["unit"] and re.search(r"[a-zA-Zµμ%]", match["unit"]):
        parsed = parse_censored_text(f"{match['op'] or ''}{match['num']}")
        if parsed is not None:
            return ParsedNumber(*parsed, unit=match["unit"].strip(), note=note,
                                recovered=bool(note))
    raise ValueProblem("no number could be read")


_BP = re.compile(r"^\[?\s*(?P<sys>\d{2,3})\s*/\s*(?P<dia>\d{2,3})\s*\]?(?:\s*-\s*"
                 r"\d{4}-\d{2}-\d{2})?$")


def parse_blood_pressure(value: Any, *, which: str) -> float | None:
    """Read a systolic or diastolic pressure (mmHg) from ``"126"`` or ``"[170/70] - 2020-04-01"``.

    Parameters
    ----------
    which
        ``"systolic"`` or ``"diastolic"``: which half of a ``sys/dia`` pair to return.

    Examples
    --------
    >>> from covidimg.sources.nccid.clean import parse_blood_pressure
    >>> parse_blood_pressure("[170/70] - 2020-04-01", which="diastolic")
    70.0
    >>> parse_blood_pressure("126", which="systolic")
    126.0
    """
    if which not in ("systolic", "diastolic"):
        raise ValueError(f"which={which!r}; allowed values are 'systolic', 'diastolic'")
    if is_missing(value):
        return None
    match = _BP.match(str(value).strip())
    if match:
        return float(match["sys"] if which == "systolic" else match["dia"])
    number = parse_number(value)
    if number is None:
        return None
    if number.censor != "none":
        raise ValueProblem("a censored blood pressure is not meaningful")
    return number.lower


#: Venturi mask colours -> FiO2 % (the valves' nominal oxygen concentration).
FIO2_MASK_COLOURS: dict[str, float] = {"blue": 24.0, "white": 28.0, "orange": 31.0,
                                       "yellow": 35.0, "red": 40.0, "green": 60.0}

#: Oxygen flow (L/min) -> FiO2 % interval. Approximations from oxygen-delivery rules of thumb:
#: nasal cannula about +3–4 % per L/min up to 6 L/min; simple face mask about 40–60 % at
#: 5–10 L/min; reservoir (non-rebreather) mask about 60–90 % at 10–15 L/min. The device is not
#: recorded, so each flow maps to an interval, never to a single number.
FIO2_LITRES: dict[int, tuple[float, float]] = {
    1: (24.0, 25.0), 2: (27.0, 29.0), 3: (30.0, 33.0), 4: (33.0, 37.0), 5: (36.0, 41.0),
    6: (39.0, 45.0), 7: (40.0, 50.0), 8: (45.0, 55.0), 9: (50.0, 60.0), 10: (55.0, 65.0),
    11: (60.0, 70.0), 12: (65.0, 75.0), 13: (70.0, 80.0), 14: (75.0, 85.0), 15: (80.0, 90.0),
}
_LITRES = re.compile(r"^(?P<num>\d+(?:\.\d+)?)\s*(?:l|lpm|ltr|litres?|liters?|l/min)$")


def parse_fio2(value: Any) -> ParsedNumber | None:
    """Read FiO2 as a percentage from %, a fraction, litres of O2 per minute or a mask colour.

    * ``"28"``, ``"28%"`` -> 28 %; ``"0.28"`` -> 28 % (a fraction ≤ 1);
    * ``"room air"`` / ``"RA"`` -> 21 %;
    * ``"10L"``, ``"2 l/min"`` and bare whole numbers 1–15 (below 21 they cannot be a
      percentage) -> the interval of :data:`FIO2_LITRES`, censor ``"interval"``;
    * Venturi colours ``"white"`` ... -> :data:`FIO2_MASK_COLOURS`.

    Raises
    ------
    ValueProblem
        When the value fits none of these forms or lies outside 21–100 %.

    Examples
    --------
    >>> from covidimg.sources.nccid.clean import parse_fio2
    >>> parse_fio2("10L").interval
    (55.0, 65.0, 'interval')
    >>> parse_fio2("white").interval, parse_fio2("0.4").interval
    ((28.0, 28.0, 'none'), (40.0, 40.0, 'none'))
    """
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise ValueProblem("a boolean is not an FiO2")
    text = str(value).strip().lower()
    if text in FIO2_MASK_COLOURS:
        pct = FIO2_MASK_COLOURS[text]
        return ParsedNumber(pct, pct, "none", "Venturi mask colour",
                            f"Venturi mask colour {text}: {pct:g} %")
    if text in ("room air", "ra", "air", "roomair"):
        return ParsedNumber(21.0, 21.0, "none", "room air", "room air: 21 %")
    match = _LITRES.match(text)
    litres = float(match["num"]) if match else None
    bare = litres is None
    if litres is None:
        try:
            number = float(text.rstrip("%").strip())
        except ValueError:
            raise ValueProblem("expected %, a fraction, litres (e.g. '10L') or a Venturi mask "
                               f"colour {sorted(FIO2_MASK_COLOURS)}") from None
        if text.endswith("%") or number >= 21:
            if not 21 <= number <= 100:
                raise ValueProblem("a percentage FiO2 must lie between 21 and 100")
            return ParsedNumber(number, number, "none", "%")
        if 0 < number <= 1:
            if number < 0.21:
                raise ValueProblem("a fractional FiO2 must lie between 0.21 and 1")
            pct = round(number * 100, 6)
            return ParsedNumber(pct, pct, "none", "fraction", f"fraction {number:g} -> {pct:g} %")
        litres = number
    if not litres.is_integer() or int(litres) not in FIO2_LITRES:
        raise ValueProblem(f"{litres:g} L/min of oxygen is outside the 1–15 L/min conversion "
                           "table")
    low, high = FIO2_LITRES[int(litres)]
    if bare:
        return ParsedNumber(low, high, "interval", "L/min",
                            f"bare number {int(litres)} is below 21 %, so it was read as "
                            f"{int(litres)} L/min of oxygen -> {low:g}–{high:g} %",
                            recovered=True)
    return ParsedNumber(low, high, "interval", "L/min",
                        f"{int(litres)} L/min of oxygen -> {low:g}–{high:g} %")


# ---------------------------------------------------------------------------- categories
_SEX = {"0": "F", "f": "F", "female": "F", "1": "M", "m": "M", "male": "M",
        "2": "U", "3": "U", "u": "U", "unknown": "U", "not known": "U", "not specified": "U"}
_BINARY = {"0": False, "0.0": False, "no": False, "n": False, "false": False,
           "1": True, "1.0": True, "yes": True, "y": True, "true": True}
_BINARY_UNKNOWN = {"2", "2.0", "unknown"}
_STATUS = {"1": "positive", "1.0": "positive", "positive": "positive",
           "rna detected (sars-cov-2)": "positive", "detected": "positive",
           "0": "negative", "0.0": "negative", "negative": "negative",
           "not detected": "negative", "rna not detected": "negative"}


def _category(value: Any, mapping: Mapping[str, Any]) -> Any:
    key = str(value).strip().lower()
    if isinstance(value, bool):
        key = "1" if value else "0"
    elif isinstance(value, float) and value.is_integer():
        key = str(int(value))
    return mapping.get(key, KeyError)


# ---------------------------------------------------------------------------- the record
@dataclass(frozen=True)
class LabValue:
    """One lab value in the analyte's canonical unit, as an interval."""

    analyte: str
    lower: float
    upper: float
    censor: str
    value_raw: str
    source_unit: str

    @property
    def unit(self) -> str:
        """The canonical unit (see :data:`covidimg.schema.ANALYTES`)."""
        return schema.ANALYTES[self.analyte].unit


@dataclass
class ClinicalRecord:
    """What one NCCID clinical file says about one patient, cleaned.

    Attributes
    ----------
    pseudonym, site
        ``Pseudonym`` and ``SubmittingCentre`` as written (stripped).
    covid_status
        ``positive`` / ``negative`` / ``unknown``.
    sex, age
        ``F``/``M``/``U`` and age in years (``None`` when missing or unreadable).
    dates
        Event name -> date (``admission``, ``icu_admission``, ``intubation``, ``death``,
        ``last_known_alive``).
    test_dates
        ``(event, date)`` pairs of swab tests: ``covid_test_positive`` / ``covid_test_negative``
        (``SwabDate`` with ``SwabStatus``, ``Date of Positive Covid Swab``, ``SwabDates``).
    icu, died, intubated
        ``True``/``False``, ``None`` when unknown.
    labs
        Lab values on admission, converted to canonical units.
    vitals
        ``systolic_bp``, ``diastolic_bp``, ``o2_saturation``, ``temperature``,
        ``respiratory_rate``, ``heart_rate`` when given.
    problems
        Every value that could not be read as written.
    """

    pseudonym: str | None = None
    site: str | None = None
    covid_status: str = "unknown"
    sex: str = "U"
    age: float | None = None
    dates: dict[str, dt.date] = field(default_factory=dict)
    test_dates: list[tuple[str, dt.date]] = field(default_factory=list)
    icu: bool | None = None
    died: bool | None = None
    intubated: bool | None = None
    labs: list[LabValue] = field(default_factory=list)
    vitals: dict[str, float] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_clinical_json(data: str | bytes) -> dict[str, Any]:
    """Parse a clinical JSON file; nested ``OtherDataSources.SegmentationData`` keys are lifted.

    Raises
    ------
    ValueError
        If the text is not JSON or not a JSON object (the caller names the file).

    Examples
    --------
    >>> from covidimg.sources.nccid.clean import read_clinical_json
    >>> read_clinical_json('{"Pseudonym": "Covid1", '
    ...                    '"OtherDataSources": {"SegmentationData": {"Age": 60}}}')["Age"]
    60
    """
    def lift(obj: dict[str, Any]) -> dict[str, Any]:
        nested = obj.get("OtherDataSources")
        if isinstance(nested, dict) and isinstance(nested.get("SegmentationData"), dict):
            return {**nested["SegmentationData"], **obj}
        return obj

    if isinstance(data, bytes):
        data = data.decode("utf-8-sig")
    try:
        parsed = json.loads(data, object_hook=lift)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"expected a JSON object, found {type(parsed).__name__}")
    return parsed


def _fields(raw: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """Field name -> (key as written, value); the first non-empty value of a field wins."""
    out: dict[str, tuple[str, Any]] = {}
    for key, value in raw.items():
        name = KEY_ALIASES.get(normalize_key(key))
        if name is None:
            continue
        if name not in out or (is_missing(out[name][1]) and not is_missing(value)):
            out[name] = (key, value)
    return out


class _Cleaner:
    def __init__(self, site_units: Mapping[str, Mapping[str, str]]) -> None:
        self.site_units = {normalize_key(k): dict(v) for k, v in site_units.items()}
        self.record = ClinicalRecord()

    def problem(self, key: str, value: Any, detail: str, kind: str = "unparseable_value"
                ) -> None:
        self.record.problems.append(Problem(key, value, detail, kind))

    def date(self, key: str, value: Any, day_first: bool) -> dt.date | None:
        try:
            parsed = parse_date(value, order=_date_order(day_first), recover=RECOVER_ALL)
        except ValueProblem as exc:
            self.problem(key, value, str(exc))
            return None
        if parsed is None:
            return None
        if parsed.note:
            self.problem(key, value, parsed.note, "recovered_value")
        return parsed.date

    def flag(self, key: str, value: Any) -> bool | None:
        if is_missing(value):
            return None
        result = _category(value, {**_BINARY, **dict.fromkeys(_BINARY_UNKNOWN)})
        if result is KeyError:
            self.problem(key, value, "expected 0 (no), 1 (yes) or 2 (unknown)")
            return None
        return result

    def status(self, key: str, value: Any) -> str | None:
        if is_missing(value):
            return None
        result = _category(value, _STATUS)
        if result is KeyError:
            self.problem(key, value, "expected 0 (negative), 1 (positive) or "
                         "'RNA DETECTED (SARS-CoV-2)'")
            return None
        return result

    def unit_for(self, analyte: str) -> tuple[str, bool]:
        """The site's unit for ``analyte`` and whether it was assumed (site not in the table)."""
        site = normalize_key(self.record.site or "")
        if site in self.site_units and analyte in self.site_units[site]:
            return self.site_units[site][analyte], False
        return DEFAULT_UNITS[analyte], site not in self.site_units

    def lab(self, analyte: str, key: str, value: Any) -> None:
        try:
            parsed = parse_number(value)
        except ValueProblem as exc:
            self.problem(key, value, str(exc))
            return
        if parsed is None:
            return
        if parsed.recovered:
            self.problem(key, value, parsed.note, "recovered_value")
        if parsed.unit is not None:
            unit = parsed.unit
        else:
            unit, assumed = self.unit_for(analyte)
            if assumed and analyte in SITE_DEPENDENT:
                self.problem(key, value, f"site {self.record.site!r} is not in the site unit "
                             f"table; the value was assumed to be in {unit}", "unit_assumed")
        try:
            lower = units.convert(analyte, parsed.lower, unit)
            upper = units.convert(analyte, parsed.upper, unit)
        except units.UnitConversionError as exc:
            whose = "written in the value" if parsed.unit is not None else \
                f"site {self.record.site!r}'s unit for {analyte}"
            self.problem(key, value, f"{exc} ({whose}); the value was dropped. Correct the "
                         "site unit table (site_units=...) if the site's unit is wrong",
                         "unconvertible_unit")
            return
        self.store_lab(analyte, key, value, lower, upper, parsed.censor, unit)

    def store_lab(self, analyte: str, key: str, value: Any, lower: float, upper: float,
                  censor: str, unit: str) -> None:
        low, high = PLAUSIBLE[analyte]
        finite = [v for v in (lower, upper) if math.isfinite(v)]
        if finite and not all(low <= v <= high for v in finite):
            self.problem(key, value, f"{analyte} {lower:g}–{upper:g} "
                         f"{schema.ANALYTES[analyte].unit} (from {unit}) is outside the "
                         f"plausible range {low:g}–{high:g}; kept", "implausible_value")
        self.record.labs.append(LabValue(analyte, lower, upper, censor, str(value), unit))

    def fio2(self, key: str, value: Any) -> None:
        try:
            parsed = parse_fio2(value)
        except ValueProblem as exc:
            self.problem(key, value, str(exc))
            return
        if parsed is None:
            return
        if parsed.recovered:
            self.problem(key, value, parsed.note, "recovered_value")
        self.store_lab("fio2", key, value, parsed.lower, parsed.upper, parsed.censor,
                       parsed.unit or "%")

    def number(self, key: str, value: Any) -> float | None:
        try:
            parsed = parse_number(value)
        except ValueProblem as exc:
            self.problem(key, value, str(exc))
            return None
        if parsed is None:
            return None
        if parsed.recovered:
            self.problem(key, value, parsed.note, "recovered_value")
        if parsed.censor != "none":
            self.problem(key, value, "a censored value is not meaningful here")
            return None
        return parsed.lower


def clean_record(
    raw: Mapping[str, Any],
    *,
    filename_status: str | None = None,
    site_units: Mapping[str, Mapping[str, str]] | None = None,
) -> ClinicalRecord:
    """Clean one NCCID clinical JSON object.

    Parameters
    ----------
    raw
        The parsed JSON (see :func:`read_clinical_json`).
    filename_status
        ``"positive"`` for a ``data_*`` file, ``"negative"`` for a ``status_*`` file (current
        layout), ``None`` when the file name says nothing (early ``data.json``): the status is
        then ``Final COVID Status``, else ``SwabStatus``, else ``unknown``.
    site_units
        Site unit table (default :data:`SITE_UNITS`).

    Returns
    -------
    ClinicalRecord
        The cleaned values and every problem met.

    Examples
    --------
    >>> from covidimg.sources.nccid.clean import clean_record
    >>> rec = clean_record({"Pseudonym": "Covid7", "SubmittingCentre": "Centre A",
    ...                     "D-dimer on admission": "1500", "PaO2": "[10] - 2020-04-01",
    ...                     "Date of admission": "04/02/2020", "SwabDate": "04/02/2020"},
    ...                    filename_status="positive")
    >>> [(lab.analyte, lab.lower) for lab in rec.labs][:1], rec.dates["admission"]
    ([('d_dimer', 1.5)], datetime.date(2020, 4, 2))
    >>> rec.test_dates
    [('covid_test_positive', datetime.date(2020, 2, 4))]
    """
    cleaner = _Cleaner(SITE_UNITS if site_units is None else site_units)
    rec = cleaner.record
    fields = _fields(raw)

    def get(name: str) -> tuple[str, Any]:
        return fields.get(name, (name, None))

    key, value = get("pseudonym")
    rec.pseudonym = None if is_missing(value) else str(value).strip()
    key, value = get("site")
    rec.site = None if is_missing(value) else str(value).strip()

    key, value = get("sex")
    if not is_missing(value):
        sex = _category(value, _SEX)
        if sex is KeyError:
            cleaner.problem(key, value, "expected 0/Female/F, 1/Male/M or 2/3/Unknown; "
                            "recorded as U")
        else:
            rec.sex = sex
    key, value = get("age")
    age = cleaner.number(key, value)
    if age is not None:
        if 0 <= age <= 120:
            rec.age = age
        else:
            cleaner.problem(key, value, "an age must lie between 0 and 120 years")

    swab_key, swab_status_value = get("swab_status")
    swab_status = cleaner.status(swab_key, swab_status_value)
    final_key, final_value = get("final_covid_status")
    final_status = cleaner.status(final_key, final_value)
    if filename_status is not None:
        rec.covid_status = filename_status
    else:
        rec.covid_status = final_status or swab_status or "unknown"

    for name, (event, day_first) in DATE_FIELDS.items():
        key, value = get(name)
        date = cleaner.date(key, value, day_first)
        if date is None:
            continue
        if name == "swab_date":
            status = swab_status or rec.covid_status
            if status in ("positive", "negative"):
                rec.test_dates.append((f"covid_test_{status}", date))
        elif event == "covid_test_positive":
            rec.test_dates.append((event, date))
        else:
            rec.dates[event] = date
    key, value = get("swab_dates")
    if isinstance(value, list):
        for i, entry in enumerate(value):
            if not isinstance(entry, Mapping):
                cleaner.problem(f"{key}[{i}]", entry, "expected an object with SwabDate and "
                                "SwabStatus")
                continue
            sub = _fields(entry)
            d_key, d_value = sub.get("swab_date", ("SwabDate", None))
            s_key, s_value = sub.get("swab_status", ("SwabStatus", None))
            date = cleaner.date(f"{key}[{i}].{d_key}", d_value, True)
            status = cleaner.status(f"{key}[{i}].{s_key}", s_value)
            if date is not None and status is not None:
                rec.test_dates.append((f"covid_test_{status}", date))
    elif not is_missing(value):
        cleaner.problem(key, value, "expected a list of {SwabDate, SwabStatus} objects")

    for name, attr in (("icu", "icu"), ("died", "died"), ("intubated", "intubated")):
        key, value = get(name)
        setattr(rec, attr, cleaner.flag(key, value))
    for attr, event, flag_field in (("icu", "icu_admission", "icu"), ("died", "death", "died"),
                                    ("intubated", "intubation", "intubated")):
        if event not in rec.dates:
            continue
        if getattr(rec, attr) is False:
            key, value = get(flag_field)
            cleaner.problem(key, value, f"says no, but a date of {event.replace('_', ' ')} "
                            f"({rec.dates[event].isoformat()}) is given; the date is kept and "
                            "the flag read as yes", "inconsistent_value")
        setattr(rec, attr, True)

    for analyte in LAB_FIELDS:
        key, value = get(analyte)
        cleaner.lab(analyte, key, value)
    key, value = get("fio2")
    cleaner.fio2(key, value)

    for which in ("systolic", "diastolic"):
        key, value = get(f"{which}_bp")
        try:
            pressure = parse_blood_pressure(value, which=which)
        except ValueProblem as exc:
            cleaner.problem(key, value, str(exc))
            continue
        if pressure is not None:
            rec.vitals[f"{which}_bp"] = pressure
    for name in VITAL_FIELDS:
        key, value = get(name)
        number = cleaner.number(key, value)
        if number is not None:
            rec.vitals[name] = number
    return rec
