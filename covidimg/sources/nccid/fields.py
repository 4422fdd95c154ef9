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

__all__ = [
    "DOCUMENTED_KEYS",
    "ETHNICITY_GROUPS",
    "KEY_ALIASES",
    "OBSERVATION_FIELDS",
    "SCHEMA_FIELDS",
    "FieldSpec",
    "ethnicity_group",
    "first_digits",
    "known_key",
    "normalize_key",
    "read_schema_fields",
]


def normalize_key(label: str) -> str:
    """Normalise a human-label key: lower case, ``_`` as space, whitespace collapsed.

    Examples
    --------
    >>> from covidimg.sources.nccid.fields import normalize_key
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
    "hospital": "hospital",
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

_KNOWN = {normalize_key(k) for k in (*SCHEMA_FIELDS, *DOCUMENTED_KEYS)}


def known_key(key: str) -> bool:
    """Whether ``key`` (any case or spacing) is in NCCID's vocabulary.

    Examples
    --------
    >>> from covidimg.sources.nccid.fields import known_key
    >>> known_key("PMH h1pertension"), known_key("date_of_admission"), known_key("Shoe size")
    (True, True, False)
    """
    return normalize_key(key) in _KNOWN


@dataclass(frozen=True)
class FieldSpec:
    """How one published key becomes an observation.

    ``kind``: ``flag`` (0 no / 1 yes / 2 unknown), ``code`` (digits extracted, as NHSX does;
    ``codes`` maps them to labels), ``number`` (``low``..``high``, ``unit``), ``status``
    (0 negative / 1 positive / ``RNA DETECTED (SARS-CoV-2)``), ``ethnicity``, ``text`` (kept only
    when it is a number, a date or a code; otherwise described), ``date`` (the day only).
    ``name`` identifies the field within NCCID (two spellings of one key share it); ``field``
    is its ``observations.field`` (a harmonized name, or ``nccid:<key>``); ``day_of`` names the
    date field that gives the observation its day.
    """

    name: str
    field: str
    kind: str
    codes: Mapping[str, str] | None = None
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    day_of: str | None = None


_FLAG = {"0": "no", "1": "yes", "2": "unknown"}

#: Normalised published key -> observation field. Two spellings of one field share a name;
#: the schema's spelling wins (``PMH hypertension`` over ``PMH h1pertension``, ``type II`` over
#: ``TYPE II``), as NHSX merges them.
OBSERVATION_FIELDS: dict[str, FieldSpec] = {
    "ethnicity": FieldSpec("ethnicity", "ethnicity", "ethnicity"),
    "pmh hypertension": FieldSpec("hypertension", "comorbidity_hypertension", "flag", _FLAG),
    "pmh h1pertension": FieldSpec("hypertension", "comorbidity_hypertension", "flag", _FLAG),
    "pmh ckd": FieldSpec("ckd", "comorbidity_ckd", "flag", _FLAG),
    "if ckd, stage": FieldSpec("ckd_stage", "comorbidity_ckd", "code",
                               {"2": "stage 2", "3": "stage 3", "4": "stage 4",
                                "5": "stage 5"}),
    "pmh cvs disease": FieldSpec("cvd", "comorbidity_cvd", "code",
                                 {"0": "no", "1": "MI", "2": "angina", "3": "stroke",
                                  "4": "more than one"}),
    "pmh lung disease": FieldSpec("lung", "comorbidity_lung", "code",
                                  {"0": "no", "1": "COPD", "2": "fibrosis",
                                   "3": "cystic fibrosis", "4": "asthma", "5": "other",
                                   "6": "unknown"}),
    "pmh diabetes mellitus type ii": FieldSpec("diabetes", "comorbidity_diabetes", "flag",
                                               _FLAG),
    "pmh diabetes mellitus type i": FieldSpec("diabetes_1", "nccid:PMH diabetes mellitus TYPE I",
                                              "flag", _FLAG),
    "current acei use": FieldSpec("acei", "medication_acei", "flag", _FLAG),
    "current angiotension receptor blocker use": FieldSpec("arb", "medication_arb", "flag",
                                                           _FLAG),
    "current nsaid used": FieldSpec("nsaid", "medication_nsaid", "flag", _FLAG),
    "smoking status": FieldSpec("smoking", "smoking", "code",
                                {"0": "never", "1": "former", "2": "current", "3": "unknown"}),
    "pack year history": FieldSpec("pack_years", "smoking_pack_years", "number",
                                   unit="y", low=0, high=300),
    "duration of symptoms": FieldSpec("symptoms", "symptom_duration", "number", unit="days",
                                      low=0, high=365),
    "news2 score on arrival": FieldSpec("news2", "news2", "number", unit="points", low=0,
                                        high=17),
    "apache score on itu arrival": FieldSpec("apache", "apache", "number", unit="points", low=0,
                                             high=71),
    "cxr severity": FieldSpec("cxr_severity_1", "cxr_severity", "code",
                              {"1": "mild", "2": "moderate", "3": "severe"}, day_of="cxr_1"),
    # "CXR severity 3" is a typo for the second CXR's severity (NHSX _fix_headers).
    "cxr severity 3": FieldSpec("cxr_severity_2", "cxr_severity", "code",
                                {"1": "mild", "2": "moderate", "3": "severe"}, day_of="cxr_2"),
    "covid code": FieldSpec("covid_code_1", "covid_code", "code",
                            {"0": "normal", "1": "classic/probable", "2": "indeterminate",
                             "3": "non-covid"}, day_of="cxr_1"),
    "covid code 2": FieldSpec("covid_code_2", "covid_code", "code",
                              {"0": "normal", "1": "classic/probable", "2": "indeterminate",
                               "3": "non-covid"}, day_of="cxr_2"),
    "1st rt-pcr result": FieldSpec("rt_pcr_1", "covid_test", "status", day_of="rt_pcr_1_date"),
    "2nd rt-pcr result": FieldSpec("rt_pcr_2", "covid_test", "status", day_of="rt_pcr_2_date"),
    "date of acquisition of 1st rt-pcr": FieldSpec(
        "rt_pcr_1_date", "nccid:Date of acquisition of 1st RT-PCR", "date"),
    "date of acquisition of 2nd rt-pcr": FieldSpec(
        "rt_pcr_2_date", "nccid:Date of acquisition of 2nd RT-PCR", "date"),
    "date of result of 1st rt-pcr": FieldSpec(
        "rt_pcr_1_result", "nccid:Date of result of 1st RT-PCR", "date"),
    "date of result of 2nd rt-pcr": FieldSpec(
        "rt_pcr_2_result", "nccid:Date of result of 2nd RT-PCR", "date"),
    "date of 1st cxr": FieldSpec("cxr_1", "nccid:Date of 1st CXR", "date"),
    "date of 2nd cxr": FieldSpec("cxr_2", "nccid:Date of 2nd CXR", "date"),
    "any supplemental oxygen: fio2": FieldSpec("old_fio2", "nccid:Any supplemental oxygen: FiO2",
                                               "text"),
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


_DIGITS = re.compile(r"\d+")


def first_digits(value: Any) -> str | None:
    """The first run of digits of ``value`` (NHSX's ``str.extract(r"(\\d+)")``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    match = _DIGITS.search(str(value))
    return match[0] if match else None
