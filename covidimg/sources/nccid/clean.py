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
* units differ by site (:data:`SITE_UNITS`, NHSX's table, keyed on ``SubmittingCentre`` through
  :func:`~covidimg.sources.nccid.site_units.normalize_site`) and are converted to the schema's
  canonical unit by :func:`covidimg.units.convert` ("Urea on admission" is urea, not urea
  nitrogen); a value whose unit cannot be converted (Cambridge's PaO2 "in %", a saturation) is
  kept as an observation ``nccid:<key>`` and reported, never as a lab value;
* vital signs and age are read by :mod:`covidimg.sources.nccid.vitals` (units in the text,
  NHSX's plausibility ranges);
* every other field of the vocabulary becomes an observation
  (:mod:`covidimg.sources.nccid.fields`, :mod:`covidimg.sources.nccid.observed`); a key outside
  the vocabulary is listed in :attr:`ClinicalRecord.unexpected_keys`;
* FiO2 comes as %, as a fraction, as litres of oxygen per minute or as a Venturi mask colour
  (:func:`parse_fio2`).

Nothing here raises on a bad value: each one becomes a :class:`Problem` that the loader turns
into a finding naming the file, the key and the value.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from covidimg import schema, units
from covidimg._validation import choices
from covidimg.errors import ValueProblem
from covidimg.sources._engine.dates import RECOVER_ALL, DateOrder, is_missing, parse_date
from covidimg.sources._engine.free_text import describe_value, publishable_text
from covidimg.sources._engine.observations import source_field
from covidimg.sources.nccid.fields import (
    KEY_ALIASES,
    OBSERVATION_FIELDS,
    VARIANT_KEYS,
    known_key,
    normalize_key,
)
from covidimg.sources.nccid.observed import ObservationValue, observe
from covidimg.sources.nccid.site_units import (
    DEFAULT_UNITS,
    PLAUSIBLE,
    SITE_DEPENDENT,
    SITE_UNITS,
    normalize_site,
    site_units_table,
)
from covidimg.sources.nccid.values import (
    FIO2_LITRES,
    FIO2_MASK_COLOURS,
    PressureHalf,
    parse_blood_pressure,
    parse_fio2,
    parse_number,
)
from covidimg.sources.nccid.vitals import PLAUSIBLE_VITALS, clean_vital

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
    "ObservationValue",
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

#: Events of the RT-PCR results: (result field, acquisition-date field, result-date field).
RT_PCR: tuple[tuple[str, str, str], ...] = (("rt_pcr_1", "rt_pcr_1_date", "rt_pcr_1_result"),
                                            ("rt_pcr_2", "rt_pcr_2_date", "rt_pcr_2_result"))


# ---------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class Problem:
    """One problem with one value of a clinical file.

    ``kind`` is the finding kind: ``unparseable_value`` (the value is lost),
    ``recovered_value`` (read from an error pattern, another date order or an Excel serial),
    ``unit_assumed``, ``unconvertible_unit``, ``implausible_value`` or ``inconsistent_value``.
    """

    key: str
    value: Any
    detail: str
    kind: str = "unparseable_value"

    def message(self) -> str:
        """One line naming the key and describing the value (quoted only when it is a number, a
        date or a code: :func:`~covidimg.sources._engine.free_text.describe_value`)."""
        return f"{self.key!r} = {describe_value(self.value)}: {self.detail}"


# ---------------------------------------------------------------------------- dates


def _date_order(day_first: bool) -> DateOrder:
    return "DMY" if day_first else "MDY"


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
    observations
        Every other field of the vocabulary (:class:`ObservationValue`).
    unexpected_keys
        Keys outside NCCID's vocabulary (:func:`~covidimg.sources.nccid.fields.known_key`).
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
    observations: list[ObservationValue] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
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
    """Field name -> (key as written, value), for the keys of :data:`KEY_ALIASES` and
    :data:`~covidimg.sources.nccid.fields.OBSERVATION_FIELDS` (observation fields are named
    ``obs:<normalised key>``). The first non-empty value of a field wins, the schema's spelling
    before a variant one (:data:`~covidimg.sources.nccid.fields.VARIANT_KEYS`)."""
    out: dict[str, tuple[str, Any]] = {}
    for key, value in sorted(raw.items(), key=lambda kv: str(kv[0]).strip() in VARIANT_KEYS):
        norm = normalize_key(key)
        name = KEY_ALIASES.get(norm)
        if name is None and norm in OBSERVATION_FIELDS:
            name = f"obs:{OBSERVATION_FIELDS[norm].name}"
        if name is None:
            continue
        if name not in out or (is_missing(out[name][1]) and not is_missing(value)):
            out[name] = (key, value)
    return out


def _unexpected(raw: Mapping[str, Any]) -> list[str]:
    return [str(key) for key in raw if not known_key(str(key))]


class _Cleaner:
    def __init__(self, site_units: Mapping[str, Mapping[str, str]]) -> None:
        self.site_units = {normalize_site(k): dict(v) for k, v in site_units.items()}
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
        """The site's unit for ``analyte`` and whether it was assumed (the site is not in the
        table, or has no unit for the analyte)."""
        site = normalize_site(self.record.site or "")
        if site in self.site_units and analyte in self.site_units[site]:
            return self.site_units[site][analyte], False
        return DEFAULT_UNITS[analyte], True

    def parsed(self, key: str, value: Any, parse: Callable[[Any], Any]) -> Any:
        """``parse(value)``, a problem recorded when it fails (None) or was recovered."""
        try:
            parsed = parse(value)
        except ValueProblem as exc:
            self.problem(key, value, str(exc))
            return None
        if parsed is not None and parsed.recovered:
            self.problem(key, value, parsed.note, "recovered_value")
        return parsed

    def lab(self, analyte: str, key: str, value: Any) -> None:
        parsed = self.parsed(key, value, parse_number)
        if parsed is None:
            return
        if parsed.unit is not None:
            unit = parsed.unit
        else:
            unit, assumed = self.unit_for(analyte)
            if assumed and analyte in SITE_DEPENDENT:
                self.problem(key, value, f"site {self.record.site!r} has no {analyte} unit in "
                             f"the site unit table; the value was assumed to be in {unit}",
                             "unit_assumed")
        try:
            lower = units.convert(analyte, parsed.lower, unit)
            upper = units.convert(analyte, parsed.upper, unit)
        except units.UnitConversionError:
            whose = "written in the value" if parsed.unit is not None else \
                f"site {self.record.site!r}'s unit for {analyte}"
            field_name = source_field("nccid", str(key))
            self.problem(key, value, f"unit {describe_value(unit)} cannot be converted to "
                         f"{schema.ANALYTES[analyte].unit} for {analyte}; known units are "
                         f"{units.known_units(analyte)} ({whose}); not a lab value, kept as the "
                         f"observation {field_name!r}. Correct the site unit table "
                         "(site_units=...) if the site's unit is wrong", "unconvertible_unit")
            number = parsed.lower if parsed.censor == "none" else math.nan
            if parsed.unit is not None and publishable_text(unit) != unit:
                unit = None  # typed text, not a known unit: never kept (value_raw says more)
            self.record.observations.append(ObservationValue(
                field_name, str(key), None, number, unit, None, value))
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
        parsed = self.parsed(key, value, parse_fio2)
        if parsed is None:
            return
        self.store_lab("fio2", key, value, parsed.lower, parsed.upper, parsed.censor,
                       parsed.unit or "%")

    def vital(self, name: str, key: str, value: Any) -> float | None:
        """Vital sign (or age) ``name``: :func:`~covidimg.sources.nccid.vitals.clean_vital`."""
        if is_missing(value):
            return None
        result = clean_vital(name, value)
        for kind, detail in result.problems:
            self.problem(key, value, detail, kind)
        return result.value


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
    >>> rec = clean_record({"Pseudonym": "Covid7",
    ...                     "SubmittingCentre": "Royal Cornwall Hospitals NHS Trust",
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
    rec.age = cleaner.vital("age", key, value)
    key, value = get("hospital")
    if rec.site is None and not is_missing(value):
        rec.site = str(value).strip()      # the schema's "Hospital" where SubmittingCentre lacks
    elif not is_missing(value):
        rec.observations.append(ObservationValue("nccid:Hospital", str(key),
                                                 str(value).strip(), value_raw=value))

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
        elif name == "positive_swab_date":
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

    for which in choices(PressureHalf):
        key, value = get(f"{which}_bp")
        try:
            pressure = parse_blood_pressure(value, which=which)
        except ValueProblem as exc:
            cleaner.problem(key, value, str(exc))
            continue
        if pressure is not None:
            low, high = PLAUSIBLE_VITALS[f"{which}_bp"]
            if not low <= pressure <= high:
                cleaner.problem(key, value, f"{pressure:g} mmHg is outside {low:g}–{high:g} "
                                "mmHg; kept", "implausible_value")
            rec.vitals[f"{which}_bp"] = pressure
    for name in VITAL_FIELDS:
        key, value = get(name)
        number = cleaner.vital(name, key, value)
        if number is not None:
            rec.vitals[name] = number
    for name, unit in (("temperature", "°C"), ("o2_saturation", "%")):
        if name in rec.vitals:        # also an observation: the harmonized field, on admission
            key, value = get(name)
            rec.observations.append(ObservationValue(name, key, None, rec.vitals[name], unit,
                                                     rec.dates.get("admission"), value))
    observe(cleaner, fields)
    rec.unexpected_keys = _unexpected(raw)
    return rec
