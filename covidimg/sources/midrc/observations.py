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
* ``long_covid``: ``yes`` / ``no`` from ``long_covid_diagnosis`` (``Positive`` / ``Not
  Reported``, which the dictionary defines as never diagnosed); ``release_batch``: each release
  batch (``datasets.submitter_id``) of a case or study; ``covid_test``: a COVID-19 test result
  that is not a positive or negative event (indeterminate, not reported, no day);
* ``comorbidity_hypertension`` / ``_diabetes`` / ``_ckd`` / ``_lung`` / ``_cvd``: ``yes``, from
  a condition's ICD-10 code (I10-I16, E08-E13, N18, J40-J47 and J84, I20-I25 I48 I50) or, with
  no code, its name; other conditions are ``condition`` with the code as value
  (``ICD-10-CM:J18.9``);
* ``medication_acei`` / ``medication_nsaid``: ``yes`` from ``medication_type``; other types are
  ``medication`` with the type as value; a procedure other than breathing support is
  ``procedure``;
* procedure, condition and medication rows carry their start day as ``day`` and, when the end
  is given, the duration in days as ``value_num``;
* ``value_raw`` keeps the published text under the free-text policy
  (:func:`~covidimg.sources._engine.free_text.publishable_text`): a value of the field's
  vocabulary, a number or a code as written, other text (a condition's or medication's name, a
  study description) only with ``descriptions="keep"``, else its shape.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.ledger import Ledger
from covidimg.sources._engine.observations import Observations
from covidimg.sources.midrc.fields import OBSERVED, FieldSpec
from covidimg.sources.midrc.values import as_list, is_missing, number, yes_no

__all__ = ["ObservationRows", "breathing_support", "comorbidity"]

#: A code or identifier (LOINC, ICD-10, a release batch, a UID): no spaces, so no sentence of
#: free text passes as one.
_CODE = re.compile(r"^[\w.:/+\-]{1,128}$")

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
    values outside a field's vocabulary; :meth:`collect` hands them to the engine's
    :class:`~covidimg.sources._engine.observations.Observations` on the cohort's day axis."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.rows: list[dict[str, object]] = []

    def add(self, patient_uid: str, field: str, *, origin: str, value: str | None = None,
            value_num: float | None = None, unit: str | None = None,
            index_day: float | None = None, value_raw: str | None = None,
            vocabulary: tuple[str, ...] = ()) -> None:
        """One observation; ``origin`` is ``<file>:<line> <key>``."""
        self.rows.append({
            "patient_uid": patient_uid, "field": field, "value": value,
            "value_num": value_num, "unit": unit or None,
            "index_day": math.nan if index_day is None else float(index_day),
            "value_raw": value_raw, "origin": origin, "vocabulary": vocabulary})

    def collect(self, days: list[float]) -> Observations:
        """The rows with ``days`` (one per row, on the cohort's axis) as the engine's table."""
        out = Observations("midrc")
        for row, day in zip(self.rows, days, strict=True):
            out.add(str(row["patient_uid"]), str(row["field"]), value=row["value"],
                    value_num=row["value_num"], unit=row["unit"],
                    day=None if math.isnan(day) else day, value_raw=row["value_raw"],
                    origin=str(row["origin"]), vocabulary=row["vocabulary"])
        return out

    def _number(self, row: Mapping[str, str], column: str, uid: str) -> float | None:
        try:
            return number(row.get(column, ""))
        except ValueError:
            self.ledger.finding("unparseable_value", f"{column} "
                                f"{describe_value(row[column])} is not a number",
                                patient_uid=uid, path=str(row["_where"]))
            return None

    def _unknown(self, column: str, text: str, uid: str, where: str, expected: str) -> None:
        self.ledger.finding("unknown_value", f"{column} {describe_value(text)} is not "
                            f"{expected}; kept as an observation without a harmonized value",
                            patient_uid=uid, path=where)

    # ------------------------------------------------------------------ the generic rule
    def generic(self, node: str, row: Mapping[str, str], uid: str,
                index_day: float | None = None) -> None:
        """The node's :data:`~covidimg.sources.midrc.fields.OBSERVED` fields of ``row``."""
        for spec in OBSERVED.get(node, ()):
            text = row.get(spec.column, "")
            if not is_missing(text):
                self._one(spec, str(text).strip(), row, uid, index_day)

    def _one(self, spec: FieldSpec, text: str, row: Mapping[str, str], uid: str,
             index_day: float | None) -> None:
        where = str(row["_where"])
        add = {"origin": f"{where} {spec.column}", "index_day": index_day}
        if spec.kind == "vocabulary":
            canon = {v.lower(): v for v in spec.vocabulary}.get(text.lower())
            if canon is None:
                self._unknown(spec.column, text, uid, where, f"one of {list(spec.vocabulary)}")
                self.add(uid, spec.field, value_raw=text, **add)
                return
            value = dict(spec.values).get(text.lower(), canon)
            self.add(uid, spec.field, value=value, value_raw=text,
                     vocabulary=spec.vocabulary, **add)
        elif spec.kind == "boolean":
            flag = yes_no(text)
            if flag is None:
                self._unknown(spec.column, text, uid, where, "True or False")
                self.add(uid, spec.field, value_raw=text, **add)
                return
            value = dict(spec.values).get(str(flag).lower(), "yes" if flag else "no")
            self.add(uid, spec.field, value=value, value_raw=text, vocabulary=(text,), **add)
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
        else:   # free text: its shape only, unless descriptions are kept
            self.add(uid, spec.field, value_raw=text, **add)

    def _code(self, spec: FieldSpec, text: str, uid: str, where: str,
              add: dict[str, object]) -> None:
        known = {v.lower() for v in spec.vocabulary}
        if text.lower() in known or _CODE.match(text) is not None:
            self.add(uid, spec.field, value=text, value_raw=text, vocabulary=(text,),
                     **add)  # type: ignore[arg-type]
        else:
            self._unknown(spec.column, text, uid, where, "a code or identifier")
            self.add(uid, spec.field, value_raw=text, **add)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ node readers
    def _span(self, row: Mapping[str, str], uid: str, start: str, end: str,
              ) -> dict[str, object]:
        """``index_day`` (the start) and, with an end, ``value_num`` (days) and its unit."""
        first = self._number(row, start, uid)
        last = self._number(row, end, uid)
        if first is not None and last is not None:
            return {"index_day": first, "value_num": last - first, "unit": "days"}
        return {"index_day": first}

    def procedure(self, row: Mapping[str, str], uid: str) -> None:
        """A ``procedure`` row: breathing support -> ``ventilation``; else ``procedure``."""
        where = str(row["_where"])
        name = row.get("procedure_name", "")
        support = row.get("breathing_support_type", "")
        span = self._span(row, uid, "days_to_procedure_start", "days_to_procedure_end")
        if name.lower() == "breathing support" or (is_missing(name) and not is_missing(support)):
            value = breathing_support(support)
            if value is None:
                self._unknown("breathing_support_type", support, uid, where,
                              "a kind of breathing support covidimg knows (mechanical, "
                              "non-invasive, high flow, oxygen, ECMO)")
            self.add(uid, "ventilation", value=value, origin=f"{where} breathing_support_type",
                     value_raw=support or None, vocabulary=SUPPORT_TEXTS, **span)
            return
        self._unknown("procedure_name", name, uid, where, "Breathing Support")
        self.add(uid, "procedure", origin=f"{where} procedure_name", value_raw=name or None,
                 **span)

    def condition(self, row: Mapping[str, str], uid: str) -> None:
        """A ``condition`` row: a known comorbidity -> ``comorbidity_*``; else ``condition``
        with its code."""
        where = str(row["_where"])
        code = row.get("condition_code", "").strip()
        system = row.get("condition_code_system", "").strip()
        name = row.get("condition_name", "")
        span = self._span(row, uid, "days_to_condition_start", "days_to_condition_end")
        field = comorbidity(code, system, name)
        coded = f"{system.replace(' ', '')}:{code}" if system and code else code
        if coded and _CODE.match(coded) is None:
            self._unknown("condition_code", code, uid, where, "a code")
            coded = ""
        self.add(uid, field or "condition", value="yes" if field else (coded or None),
                 origin=f"{where} condition_code", value_raw=coded or None,
                 vocabulary=(coded,) if coded else (), **span)
        self.generic("condition", row, uid, span["index_day"])  # type: ignore[arg-type]

    def medication(self, row: Mapping[str, str], uid: str) -> None:
        """A ``medication`` row: ACE inhibitors / NSAID -> ``medication_*``; else
        ``medication`` with its type."""
        where = str(row["_where"])
        kind = row.get("medication_type", "")
        span = self._span(row, uid, "days_to_medication_start", "days_to_medication_end")
        canon = {v.lower(): v for v in MEDICATION_TYPES}.get(kind.lower())
        if canon is None and not is_missing(kind):
            self._unknown("medication_type", kind, uid, where, f"one of {list(MEDICATION_TYPES)}")
        field = _MEDICATION.get(kind.lower(), "medication")
        self.add(uid, field, value="yes" if field != "medication" else canon,
                 value_raw=kind or None, vocabulary=MEDICATION_TYPES,
                 origin=f"{where} medication_type", **span)
        self.generic("medication", row, uid, span["index_day"])  # type: ignore[arg-type]
