"""MIDRC clinical fields that are not a patients/events column, as observation rows.

Rows are collected on MIDRC's own day axis (``days_to_*`` from the case's index event) and
put on the cohort's day axis by the loader, with the images and events. Field names are the
harmonized ones of the cohort contract where a shared meaning exists (``race``, ``ethnicity``,
``ventilation``, ``comorbidity_*``, ``medication_acei``, ...), else ``midrc:<published key>``.

Harmonized values written here:

* ``ventilation``: ``mechanical``, ``non_invasive``, ``supplemental_oxygen``, ``ecmo``,
  ``unspecified`` (breathing support of no stated type) or ``none`` (``ventilator_indicator``
  False), from the case's ``ventilator_indicator`` and the procedure node's
  ``breathing_support_type``;
* ``comorbidity_hypertension`` / ``_diabetes`` / ``_ckd`` / ``_lung`` / ``_cvd``: ``yes``, from
  a condition's ICD-10 code (I10-I16, E08-E13, N18, J40-J47 and J84, I20-I25 I48 I50) or, with
  no code, its name; other conditions are ``midrc:condition`` with the code as value;
* ``medication_acei`` / ``medication_nsaid``: ``yes`` from ``medication_type``; other types are
  ``midrc:medication_type``;
* procedure, condition and medication rows carry their start day as ``day`` and, when the end
  is given, the duration in days as ``value_num``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.ledger import Ledger
from covidimg.sources.midrc.fields import OBSERVED, FieldSpec
from covidimg.sources.midrc.values import as_list, is_missing, kept_text, number, yes_no

__all__ = ["ObservationRows", "breathing_support", "comorbidity"]

_CODE = re.compile(r"^[\w.:/+\-() ,]{1,200}$")

_SUPPORT = (
    ("ecmo", re.compile(r"ecmo|extracorporeal", re.I)),
    ("non_invasive", re.compile(r"non[- ]?invasive|\bniv\b|cpap|bi-?pap|high[- ]flow|hfnc", re.I)),
    ("mechanical", re.compile(r"mechanical|invasive|intubat|ventilator|tracheost", re.I)),
    ("supplemental_oxygen", re.compile(r"oxygen|\bo2\b|nasal cannula|mask", re.I)),
)
#: ``breathing_support_type`` texts quoted as published (the rest is free text).
SUPPORT_TEXTS = ("Mechanical Ventilation", "Invasive Mechanical Ventilation",
                 "Non-invasive Ventilation", "Noninvasive Ventilation", "Supplemental Oxygen",
                 "High Flow Nasal Cannula", "Nasal Cannula", "ECMO", "CPAP", "BiPAP",
                 "Not Reported")


def breathing_support(text: str) -> str | None:
    """``procedure.breathing_support_type`` -> the harmonized ``ventilation`` value.

    Examples
    --------
    >>> from covidimg.sources.midrc.observations import breathing_support
    >>> breathing_support("Non-invasive ventilation"), breathing_support("Mechanical Ventilation")
    ('non_invasive', 'mechanical')
    >>> breathing_support(""), breathing_support("something else")
    ('unspecified', None)
    """
    if is_missing(text):
        return "unspecified"
    for value, pattern in _SUPPORT:
        if pattern.search(text):
            return value
    return None


_ICD10 = re.compile(r"^([A-Z])(\d\d)")
_ICD_RANGES = (
    ("comorbidity_hypertension", "I", 10, 16),
    ("comorbidity_diabetes", "E", 8, 13),
    ("comorbidity_ckd", "N", 18, 18),
    ("comorbidity_lung", "J", 40, 47),
    ("comorbidity_lung", "J", 84, 84),
    ("comorbidity_cvd", "I", 20, 25),
    ("comorbidity_cvd", "I", 48, 48),
    ("comorbidity_cvd", "I", 50, 50),
)
_NAMES = (
    ("comorbidity_hypertension", re.compile(r"hypertens", re.I)),
    ("comorbidity_diabetes", re.compile(r"diabet", re.I)),
    ("comorbidity_ckd", re.compile(r"chronic kidney|\bckd\b", re.I)),
    ("comorbidity_lung", re.compile(r"copd|asthma|chronic obstructive|emphysema|"
                                    r"bronchiectasis|interstitial lung|pulmonary fibrosis", re.I)),
    ("comorbidity_cvd", re.compile(r"coronary|heart failure|myocardial infarction|"
                                   r"atrial fibrillation|cardiovascular", re.I)),
)


def comorbidity(code: str, system: str, name: str) -> str | None:
    """The harmonized comorbidity field of a condition, or ``None``.

    The ICD-10 code decides when there is one (``system`` names ICD-10, or is empty and the
    code looks like one); else keywords of the name.

    Examples
    --------
    >>> from covidimg.sources.midrc.observations import comorbidity
    >>> comorbidity("I10", "ICD-10-CM", ""), comorbidity("E11.9", "", "")
    ('comorbidity_hypertension', 'comorbidity_diabetes')
    >>> comorbidity("", "", "Type 2 diabetes mellitus"), comorbidity("J18.9", "ICD-10", "")
    ('comorbidity_diabetes', None)
    """
    code = code.strip().upper()
    icd = "ICD" in system.upper() or (not system.strip() and _ICD10.match(code) is not None)
    match = _ICD10.match(code) if icd else None
    if match is not None:
        letter, number_ = match.group(1), int(match.group(2))
        for field, first, low, high in _ICD_RANGES:
            if letter == first and low <= number_ <= high:
                return field
        return None
    if code:
        return None
    for field, pattern in _NAMES:
        if pattern.search(name):
            return field
    return None


_MEDICATION = {"ace inhibitors": "medication_acei", "nsaid": "medication_nsaid"}
MEDICATION_TYPES = ("ACE inhibitors", "Bronchodilator", "Chemotherapy",
                    "Immunosuppressive medication", "Immunotherapy", "Inhaled steroids", "NSAID",
                    "Protease inhibitor", "Supplemental oxygen", "Systemic steroids", "Vaccine")


class ObservationRows:
    """Observation rows of one load on MIDRC's index axis (``index_day``), with findings for
    values outside a field's vocabulary."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.rows: list[dict[str, object]] = []

    def add(self, patient_uid: str, field: str, *, origin: str, value: str | None = None,
            value_num: float | None = None, unit: str | None = None,
            index_day: float | None = None, value_raw: str | None = None) -> None:
        """One observation; ``origin`` is ``<file>:<line> <key>``."""
        self.rows.append({
            "patient_uid": patient_uid, "field": field, "value": value,
            "value_num": math.nan if value_num is None else float(value_num),
            "unit": unit or None, "index_day": math.nan if index_day is None else index_day,
            "value_raw": value_raw, "origin": origin})

    def _number(self, row: Mapping[str, str], column: str, uid: str) -> float | None:
        try:
            return number(row.get(column, ""))
        except ValueError:
            self.ledger.finding("unparseable_value", f"{column} "
                                f"{describe_value(row[column])} is not a number",
                                patient_uid=uid, path=str(row["_where"]))
            return None

    def _unknown(self, spec_column: str, text: str, uid: str, where: str,
                 expected: str) -> None:
        self.ledger.finding("unknown_value", f"{spec_column} {describe_value(text)} is not "
                            f"{expected}; kept as an observation without a harmonized value",
                            patient_uid=uid, path=where)

    # ------------------------------------------------------------------ the generic rule
    def generic(self, node: str, row: Mapping[str, str], uid: str,
                index_day: float | None = None) -> None:
        """The node's :data:`~covidimg.sources.midrc.fields.OBSERVED` fields of ``row``."""
        for spec in OBSERVED.get(node, ()):
            text = row.get(spec.column, "")
            if not is_missing(text):
                self._one(spec, str(text), row, uid, index_day)

    def _one(self, spec: FieldSpec, text: str, row: Mapping[str, str], uid: str,
             index_day: float | None) -> None:
        where = str(row["_where"])
        origin = f"{where} {spec.column}"
        add = dict(origin=origin, index_day=index_day)
        if spec.kind == "vocabulary":
            canon = {v.lower(): v for v in spec.vocabulary}.get(text.lower())
            if canon is None:
                self._unknown(spec.column, text, uid, where, f"one of {list(spec.vocabulary)}")
                self.add(uid, spec.field, value_raw=kept_text(text), **add)
                return
            value = dict(spec.values).get(text.lower(), canon)
            self.add(uid, spec.field, value=value, value_raw=text, **add)
        elif spec.kind == "boolean":
            flag = yes_no(text)
            if flag is None:
                self._unknown(spec.column, text, uid, where, "True or False")
                self.add(uid, spec.field, value_raw=kept_text(text), **add)
                return
            key = "true" if flag else "false"
            value = dict(spec.values).get(key, "yes" if flag else "no")
            self.add(uid, spec.field, value=value, value_raw=text, **add)
        elif spec.kind == "list":
            for element in as_list(text):
                self._code(spec, element, uid, where, add)
        elif spec.kind == "number":
            value_num = self._number(row, spec.column, uid)
            if value_num is not None:
                self.add(uid, spec.field, value_num=value_num, unit=spec.unit, value_raw=text,
                         **add)
        elif spec.kind == "code":
            self._code(spec, text, uid, where, add)
        else:   # free text: stored only when descriptions are kept
            raw = kept_text(text)
            if raw is not None:
                self.add(uid, spec.field, value_raw=raw, **add)

    def _code(self, spec: FieldSpec, text: str, uid: str, where: str,
              add: dict[str, object]) -> None:
        if _CODE.match(text) is None:
            self._unknown(spec.column, text, uid, where, "a code or identifier")
            self.add(uid, spec.field, value_raw=kept_text(text), **add)  # type: ignore[arg-type]
        else:
            self.add(uid, spec.field, value=text, value_raw=text, **add)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ node readers
    def _span(self, row: Mapping[str, str], uid: str, start: str, end: str,
              ) -> tuple[float | None, float | None]:
        """(start day, duration in days) of a row with ``days_to_*_start`` / ``_end``."""
        first = self._number(row, start, uid)
        last = self._number(row, end, uid)
        return first, (last - first if first is not None and last is not None else None)

    def procedure(self, row: Mapping[str, str], uid: str) -> None:
        """A ``procedure`` row: breathing support -> ``ventilation``."""
        where = str(row["_where"])
        name = row.get("procedure_name", "")
        support = row.get("breathing_support_type", "")
        day, duration = self._span(row, uid, "days_to_procedure_start", "days_to_procedure_end")
        span = dict(index_day=day, value_num=duration, unit="days" if duration is not None
                    else None)
        if name.lower() == "breathing support" or (is_missing(name) and not is_missing(support)):
            value = breathing_support(support)
            if value is None:
                self._unknown("breathing_support_type", support, uid, where,
                              "a kind of breathing support covidimg knows (mechanical, "
                              "non-invasive, high flow, oxygen, ECMO)")
            self.add(uid, "ventilation", value=value, origin=f"{where} breathing_support_type",
                     value_raw=kept_text(support, SUPPORT_TEXTS), **span)
            return
        self._unknown("procedure_name", name, uid, where, "Breathing Support")
        self.add(uid, "midrc:procedure_name", origin=f"{where} procedure_name",
                 value_raw=kept_text(name), **span)

    def condition(self, row: Mapping[str, str], uid: str) -> None:
        """A ``condition`` row: a known comorbidity -> ``comorbidity_*``; else its code."""
        where = str(row["_where"])
        code = row.get("condition_code", "")
        system = row.get("condition_code_system", "")
        name = row.get("condition_name", "")
        day, duration = self._span(row, uid, "days_to_condition_start", "days_to_condition_end")
        span = dict(index_day=day, value_num=duration, unit="days" if duration is not None
                    else None)
        field = comorbidity(code, system, name)
        coded = f"{system.strip()}:{code.strip()}" if system.strip() else code.strip()
        if code and _CODE.match(coded) is None:
            self._unknown("condition_code", code, uid, where, "a code")
            coded = ""
        if field is not None:
            self.add(uid, field, value="yes", origin=f"{where} condition_code",
                     value_raw=coded or None, **span)
        else:
            self.add(uid, "midrc:condition", value=coded or None,
                     origin=f"{where} condition_code", value_raw=coded or None, **span)
        self.generic("condition", row, uid, day)

    def medication(self, row: Mapping[str, str], uid: str) -> None:
        """A ``medication`` row: ACE inhibitors / NSAID -> ``medication_*``; else its type."""
        where = str(row["_where"])
        kind = row.get("medication_type", "")
        day, duration = self._span(row, uid, "days_to_medication_start",
                                   "days_to_medication_end")
        span = dict(index_day=day, value_num=duration, unit="days" if duration is not None
                    else None)
        canon = {v.lower(): v for v in MEDICATION_TYPES}.get(kind.lower())
        if canon is not None and canon.lower() in _MEDICATION:
            self.add(uid, _MEDICATION[canon.lower()], value="yes", value_raw=kind,
                     origin=f"{where} medication_type", **span)
        elif canon is not None or is_missing(kind):
            self.add(uid, "midrc:medication_type", value=canon, value_raw=canon,
                     origin=f"{where} medication_type", **span)
        else:
            self._unknown("medication_type", kind, uid, where, f"one of {list(MEDICATION_TYPES)}")
            self.add(uid, "midrc:medication_type", value_raw=kept_text(kind),
                     origin=f"{where} medication_type", **span)
        self.generic("medication", row, uid, day)
