"""NCCID's clinical vocabulary and the fields that become ``observations``.

The vocabulary is NHSX's schema-compliance workbook v2.1 (``NCCID_schema_compliance_v2.1.xlsx``,
shipped as ``covidimg/data/nccid_schema_fields.csv``, MIT licence, Copyright (c) 2020 NHSX),
plus the keys that NHSX's warehouse and cleaning code read and the workbook does not list
(:data:`DOCUMENTED_KEYS`). A key outside both is reported (``unexpected_field``).

Every field that is not a ``patients``/``events``/``labs`` column becomes an observation
(:data:`OBSERVATION_FIELDS`): medical history, medication, smoking, scores, the CXR severity and
COVID codes (BSTI codes CVCX0-3), RT-PCR results. The code tables and rules are NHSX's
(nccid-cleaning ``cleaning.py``: ``_remap_ethnicity``, ``_parse_binary_columns``,
``_parse_cat_columns``, ``_remap_test_result_columns``, ``_fix_headers``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from covidimg.sources._engine.free_text import describe_value

__all__ = ["DOCUMENTED_KEYS", "ETHNICITY_GROUPS", "OBSERVATION_FIELDS", "SCHEMA_FIELDS",
           "FieldSpec", "ethnicity_group", "known_key", "published_text", "read_schema_fields"]


def _norm(label: str) -> str:
    return " ".join(str(label).replace("_", " ").lower().split())


def read_schema_fields(text: str) -> dict[str, tuple[str, str]]:
    """Parse the shipped ``section,field,expected`` table -> ``{field: (section, expected)}``."""
    lines = [line for line in io.StringIO(text) if not line.startswith("#")]
    return {row["field"]: (row["section"], row["expected"]) for row in csv.DictReader(lines)}


#: NHSX's schema-compliance workbook v2.1: field name as written -> (section, expected values).
SCHEMA_FIELDS: dict[str, tuple[str, str]] = read_schema_fields(
    resources.files("covidimg.data").joinpath("nccid_schema_fields.csv").read_text("utf-8"))

#: Keys NCCID files carry that the workbook does not list, read by NHSX's own code: the
#: warehouse loader (``SubmittingCentre``, ``SwabStatus``, ``SwabDates``, the nested
#: ``OtherDataSources.SegmentationData``) and nccid-cleaning (``PaO2``, ``WCC on admission``,
#: ``Pack year history``).
DOCUMENTED_KEYS: tuple[str, ...] = ("SubmittingCentre", "SwabStatus", "SwabDates",
                                    "OtherDataSources", "SegmentationData", "PaO2",
                                    "WCC on admission", "Pack year history")

_KNOWN = {_norm(k) for k in (*SCHEMA_FIELDS, *DOCUMENTED_KEYS)}


def known_key(key: str) -> bool:
    """Whether ``key`` (any case or spacing) is in NCCID's vocabulary.

    Examples
    --------
    >>> from covidimg.sources.nccid.fields import known_key
    >>> known_key("PMH h1pertension"), known_key("date_of_admission"), known_key("Shoe size")
    (True, True, False)
    """
    return _norm(key) in _KNOWN


@dataclass(frozen=True)
class FieldSpec:
    """How one published key becomes an observation.

    ``kind``: ``flag`` (0 no / 1 yes / 2 unknown), ``code`` (digits extracted, as NHSX does;
    ``codes`` maps them to labels), ``number`` (``low``..``high``, ``unit``), ``status``
    (0 negative / 1 positive / ``RNA DETECTED (SARS-CoV-2)``), ``ethnicity``, ``text`` (kept only
    when it is a number, a date or a code; otherwise described), ``date`` (the day only).
    ``day_of`` names the date field that gives the observation its day.
    """

    field: str
    kind: str
    codes: Mapping[str, str] | None = None
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    day_of: str | None = None


_FLAG = {"0": "no", "1": "yes", "2": "unknown"}

#: Normalised published key -> observation field. Two spellings of one field share a field;
#: the schema's spelling wins (``PMH hypertension`` over ``PMH h1pertension``, ``type II`` over
#: ``TYPE II``), as NHSX merges them.
OBSERVATION_FIELDS: dict[str, FieldSpec] = {
    "ethnicity": FieldSpec("ethnicity", "ethnicity"),
    "pmh hypertension": FieldSpec("comorbidity_hypertension", "flag", _FLAG),
    "pmh h1pertension": FieldSpec("comorbidity_hypertension", "flag", _FLAG),
    "pmh ckd": FieldSpec("comorbidity_ckd", "flag", _FLAG),
    "if ckd, stage": FieldSpec("comorbidity_ckd_stage", "code",
                               {"2": "2", "3": "3", "4": "4", "5": "5"}),
    "pmh cvs disease": FieldSpec("comorbidity_cvd", "code",
                                 {"0": "no", "1": "MI", "2": "angina", "3": "stroke",
                                  "4": "more than one"}),
    "pmh lung disease": FieldSpec("comorbidity_lung", "code",
                                  {"0": "no", "1": "COPD", "2": "fibrosis",
                                   "3": "cystic fibrosis", "4": "asthma", "5": "other",
                                   "6": "unknown"}),
    "pmh diabetes mellitus type ii": FieldSpec("comorbidity_diabetes", "flag", _FLAG),
    "pmh diabetes mellitus type i": FieldSpec("nccid:PMH diabetes mellitus TYPE I", "flag",
                                              _FLAG),
    "current acei use": FieldSpec("medication_acei", "flag", _FLAG),
    "current angiotension receptor blocker use": FieldSpec("medication_arb", "flag", _FLAG),
    "current nsaid used": FieldSpec("medication_nsaid", "flag", _FLAG),
    "smoking status": FieldSpec("smoking", "code",
                                {"0": "never", "1": "ex", "2": "current", "3": "unknown"}),
    "pack year history": FieldSpec("smoking_pack_years", "number", unit="pack-years", low=0,
                                   high=300),
    "duration of symptoms": FieldSpec("symptom_duration", "number", unit="days", low=0,
                                      high=365),
    "news2 score on arrival": FieldSpec("news2", "number", unit="points", low=0, high=17),
    "apache score on itu arrival": FieldSpec("apache", "number", unit="points", low=0, high=71),
    "cxr severity": FieldSpec("cxr_severity", "code",
                              {"1": "mild", "2": "moderate", "3": "severe"},
                              day_of="cxr_1_date"),
    # "CXR severity 3" is a typo for the second CXR's severity (NHSX _fix_headers).
    "cxr severity 3": FieldSpec("cxr_severity_2", "code",
                                {"1": "mild", "2": "moderate", "3": "severe"},
                                day_of="cxr_2_date"),
    "covid code": FieldSpec("covid_code", "code",
                            {"0": "normal", "1": "classic/probable", "2": "indeterminate",
                             "3": "non-covid"}, day_of="cxr_1_date"),
    "covid code 2": FieldSpec("covid_code_2", "code",
                              {"0": "normal", "1": "classic/probable", "2": "indeterminate",
                               "3": "non-covid"}, day_of="cxr_2_date"),
    "1st rt-pcr result": FieldSpec("rt_pcr_1", "status", day_of="rt_pcr_1_date"),
    "2nd rt-pcr result": FieldSpec("rt_pcr_2", "status", day_of="rt_pcr_2_date"),
    "date of acquisition of 1st rt-pcr": FieldSpec("rt_pcr_1_date", "date"),
    "date of acquisition of 2nd rt-pcr": FieldSpec("rt_pcr_2_date", "date"),
    "date of result of 1st rt-pcr": FieldSpec("rt_pcr_1_result", "date"),
    "date of result of 2nd rt-pcr": FieldSpec("rt_pcr_2_result", "date"),
    "date of 1st cxr": FieldSpec("cxr_1_date", "date"),
    "date of 2nd cxr": FieldSpec("cxr_2_date", "date"),
    "any supplemental oxygen: fio2": FieldSpec("nccid:Any supplemental oxygen: FiO2", "text"),
    "hospital": FieldSpec("nccid:Hospital", "text"),
}

#: The spellings that lose to another spelling of the same field.
VARIANT_KEYS: frozenset[str] = frozenset({"PMH h1pertension", "PMH diabetes mellitus TYPE II"})

_ETHNIC_CODES = {
    **dict.fromkeys(["A", "B", "C", "C2", "C3", *(f"C{c}" for c in "ABCDEFGHJKLMNPQRSTUVWXY")],
                    "White"),
    **dict.fromkeys(["D", "E", "F", "G", "GA", "GB", "GC", "GD", "GE", "GF"], "Multiple"),
    **dict.fromkeys(["H", "J", "K", "L", "LA", "LB", "LC", "LD", "LE", "LF", "LG", "LH", "LJ",
                     "LK", "R"], "Asian"),
    **dict.fromkeys(["M", "N", "P", "PA", "PB", "PC", "PD", "PE"], "Black"),
    **dict.fromkeys(["S", "SA", "SB", "SC", "SD", "SE"], "Other"),
    "Indian": "Asian", "Pakistani": "Asian", "Chinese": "Asian", "Caribbean": "Black",
    "African": "Black", "Any other ethnic group": "Other", "Any other Black background": "Black",
    "Any other Asian background": "Asian",
}
#: NHSX's ethnicity groups (nccid-cleaning ``_remap_ethnicity``).
ETHNICITY_GROUPS: tuple[str, ...] = ("White", "Black", "Asian", "Multiple", "Other", "Unknown")
_ETHNICITY = {**{k.casefold(): v for k, v in _ETHNIC_CODES.items()},
              **{g.casefold(): g for g in ETHNICITY_GROUPS}}
#: NHS ethnic-category codes for "not stated" / "not known" (Z, 99) and other empties.
_ETHNICITY_UNKNOWN = {"z", "99", "0", "unknown", "not known", "not stated", "u"}
ETHNICITY_VOCABULARY: tuple[str, ...] = (*_ETHNIC_CODES, *ETHNICITY_GROUPS, "Z", "99")


def ethnicity_group(value: Any) -> tuple[str, bool]:
    """NHSX's group of an NCCID ethnicity (NHS code A-S or a verbose entry) and whether the
    value was recognised (an unrecognised one is ``Unknown``, as NHSX maps it).

    Examples
    --------
    >>> from covidimg.sources.nccid.fields import ethnicity_group
    >>> ethnicity_group("LJ"), ethnicity_group("Mixed White and Asian"), ethnicity_group("99")
    (('Asian', True), ('Multiple', True), ('Unknown', True))
    """
    text = str(value).strip()
    key = text.casefold()
    if key in _ETHNICITY:
        return _ETHNICITY[key], True
    if "mixed" in key or "multiple" in key:
        return "Multiple", True
    if "white" in key:
        return "White", True
    return "Unknown", key in _ETHNICITY_UNKNOWN


def published_text(value: Any, vocabulary: tuple[str, ...] | None = None) -> str | None:
    """The published text of ``value`` when the free-text policy lets it be kept (a number, a
    date or a code of ``vocabulary``), else ``None``."""
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return str(value)
    text = str(value).strip()
    return text if describe_value(text, vocabulary=vocabulary) == repr(text) else None


_DIGITS = re.compile(r"\d+")


def first_digits(value: Any) -> str | None:
    """The first run of digits of ``value`` (NHSX's ``str.extract(r"(\\d+)")``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    match = _DIGITS.search(str(value))
    return match[0] if match else None
