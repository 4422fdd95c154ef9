"""The observation fields of one NCCID clinical record: medical history, medication, smoking,
scores, CXR severity and COVID codes, RT-PCR results and the dates they refer to.

Values are read with NHSX's rules (nccid-cleaning ``cleaning.py``): flags ``0``/``1``/``2``
(``_parse_binary_columns``; ``"1es"`` in the ``PMH h1pertension`` column is yes), categories by
their first digits (``_parse_cat_columns``: ``"5 Text"`` -> 5, ``"CVCX2"`` -> 2; a code outside
the field's codes is dropped), results ``0``/``1``/``RNA DETECTED (SARS-CoV-2)``
(``_remap_test_result_columns``), ethnicity to six groups (``_remap_ethnicity``), dates in US
order (``_US_DATE_COLS``). Where NHSX drops a value silently, covidimg reports it.

The CXR severity and COVID codes are also expert readings of a radiograph:
:func:`severity_annotations` copies them into ``annotations`` (they stay in ``observations``
too, where they always were) and links each to the radiograph it refers to.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from covidimg.sources._engine.annotations import Annotations
from covidimg.sources._engine.dates import is_missing
from covidimg.sources.nccid.fields import (
    ETHNICITY_VOCABULARY,
    OBSERVATION_FIELDS,
    FieldSpec,
    ethnicity_group,
    first_digits,
)

__all__ = ["SEVERITY_SCHEMES", "ObservationValue", "observe", "severity_annotations"]


@dataclass(frozen=True)
class ObservationValue:
    """One field of a clinical file kept as an observation (see ``observations``).

    ``date`` is the absolute date the observation refers to (the loader turns it into a day and
    does not keep it); ``value_raw`` is the value as published, which the ``observations``
    collector keeps under the free-text policy (a number, a date or a member of
    ``vocabulary`` as written, other text described).
    """

    field: str
    key: str
    value: str | None = None
    value_num: float = math.nan
    unit: str | None = None
    date: dt.date | None = None
    value_raw: Any = None
    vocabulary: tuple[str, ...] | None = None


class _Cleaner(Protocol):
    record: Any

    def problem(self, key: str, value: Any, detail: str, kind: str = ...) -> None: ...
    def date(self, key: str, value: Any, day_first: bool) -> dt.date | None: ...
    def status(self, key: str, value: Any) -> str | None: ...


_STATUS_VOCABULARY = ("0", "1", "RNA DETECTED (SARS-CoV-2)")


def _code(cleaner: _Cleaner, spec: FieldSpec, key: str, value: Any) -> ObservationValue | None:
    assert spec.codes is not None
    text = str(value).strip()
    if spec.kind == "flag" and text.casefold() == "1es":  # PMH h1pertension's "yes" (NHSX)
        cleaner.problem(key, value, "'1es' read as 1 (yes), as NHSX's cleaning does",
                        "recovered_value")
        text = "1"
    by_label = {label.casefold(): code for code, label in spec.codes.items()}
    if spec.kind == "flag":
        by_label.update({"n": "0", "false": "0", "y": "1", "true": "1"})
    code = by_label.get(text.casefold()) or first_digits(value)
    if code is not None and code.lstrip("0") != code and code != "0":
        code = code.lstrip("0")
    if code not in spec.codes:
        codes = ", ".join(f"{c} ({label})" for c, label in spec.codes.items())
        cleaner.problem(key, value, f"expected one of {codes}; not kept", "unknown_value")
        return None
    vocabulary = (*spec.codes, *spec.codes.values(), f"CVCX{code}")
    return ObservationValue(spec.field, key, spec.codes[code], float(code), None, None, value,
                            vocabulary)


def _number(cleaner: _Cleaner, spec: FieldSpec, key: str, value: Any
            ) -> ObservationValue | None:
    digits = first_digits(value) if not isinstance(value, int | float) else None
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        if digits is None:
            cleaner.problem(key, value, "no number could be read; not kept")
            return None
        number = float(digits)   # NHSX extracts the first digits of a mixed entry
        cleaner.problem(key, value, f"mixed entry; kept its number {digits}", "recovered_value")
    assert spec.low is not None and spec.high is not None
    if not (math.isfinite(number) and spec.low <= number <= spec.high):
        cleaner.problem(key, value, f"outside {spec.low:g}–{spec.high:g} {spec.unit}; not kept",
                        "implausible_value")
        return None
    return ObservationValue(spec.field, key, None, number, spec.unit, None, value)


def _one(cleaner: _Cleaner, spec: FieldSpec, key: str, value: Any) -> ObservationValue | None:
    if spec.kind in ("flag", "code"):
        return _code(cleaner, spec, key, value)
    if spec.kind == "number":
        return _number(cleaner, spec, key, value)
    if spec.kind == "status":
        status = cleaner.status(key, value)
        return None if status is None else ObservationValue(
            spec.field, key, status, math.nan, None, None, value, _STATUS_VOCABULARY)
    if spec.kind == "ethnicity":
        group, known = ethnicity_group(value)
        if not known:
            cleaner.problem(key, value, "not an NHS ethnic category code (A-S, Z, 99) nor one "
                            "of NHSX's verbose entries; recorded as Unknown", "unknown_value")
        return ObservationValue(spec.field, key, group, math.nan, None, None, value,
                                ETHNICITY_VOCABULARY)
    # text: kept when it is a number, a date or a code; otherwise described
    try:
        number = float(str(value).strip())
    except ValueError:
        number = math.nan
    return ObservationValue(spec.field, key, None, number, None, None, value)


def observe(cleaner: _Cleaner, fields: Mapping[str, tuple[str, Any]]) -> None:
    """Append the observation fields of ``fields`` (see ``clean._fields``) to
    ``cleaner.record.observations`` and their problems to ``cleaner.record.problems``; RT-PCR
    results also become ``covid_test_*`` events on their acquisition date (else the result
    date). An observation whose day comes from a date field names both keys
    (``"CXR severity, day from Date of 1st CXR"``); a date used by no observation is an
    observation of its own (its day only)."""
    rec = cleaner.record
    specs = {spec.name: spec for spec in OBSERVATION_FIELDS.values()}
    dates: dict[str, dt.date] = {}
    for name, spec in specs.items():
        if spec.kind != "date" or f"obs:{name}" not in fields:
            continue
        key, value = fields[f"obs:{name}"]
        date = cleaner.date(key, value, False)
        if date is not None:
            dates[name] = date
    used: set[str] = set()
    for name, spec in specs.items():
        if spec.kind == "date" or f"obs:{name}" not in fields:
            continue
        key, value = fields[f"obs:{name}"]
        if is_missing(value):
            continue
        obs = _one(cleaner, spec, key, value)
        if obs is None:
            continue
        date = dates.get(spec.day_of) if spec.day_of else None
        used.add(spec.day_of or "")
        if spec.kind == "status":
            result_field = f"{name}_result"
            if result_field in dates:
                used.add(result_field)
                rec.observations.append(ObservationValue(
                    specs[result_field].field, fields[f"obs:{result_field}"][0], obs.value,
                    math.nan, None, dates[result_field], None))
            test_date = date or dates.get(result_field)
            if test_date is not None and obs.value in ("positive", "negative"):
                rec.test_dates.append((f"covid_test_{obs.value}", test_date))
        key = obs.key if date is None else \
            f"{obs.key}, day from {fields[f'obs:{spec.day_of}'][0]}"
        rec.observations.append(ObservationValue(obs.field, key, obs.value, obs.value_num,
                                                 obs.unit, date, obs.value_raw, obs.vocabulary))
    for name, date in dates.items():   # a date whose value is missing or unreadable: its day
        if name not in used:
            rec.observations.append(ObservationValue(specs[name].field,
                                                     fields[f"obs:{name}"][0], None, math.nan,
                                                     None, date, None))


#: Observation field -> (annotation scheme, kind): the CXR severity (1 mild, 2 moderate,
#: 3 severe) is a score, the COVID code (BSTI CVCX0-3) a label.
SEVERITY_SCHEMES: dict[str, tuple[str, str]] = {
    "cxr_severity": ("nccid_cxr_severity", "score"),
    "covid_code": ("nccid_covid_code", "label"),
}
_RADIOGRAPHS = ("CR", "DX")


def severity_annotations(observations: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """The ``annotations`` of NCCID's CXR severity and COVID code observations.

    A severity is a ``score`` (``score`` 1-3, ``label`` mild/moderate/severe), a COVID code a
    ``label`` (normal, classic/probable, indeterminate, non-covid). Each refers to the 1st or
    2nd CXR (``Date of 1st CXR`` / ``Date of 2nd CXR`` give its day): ``image_uid`` is the
    patient's one frontal radiograph (CR/DX, not LAT) of that day; when the day is unknown,
    no radiograph was taken that day, or several frontal ones were, it stays NA (the patient
    keeps the reading). NCCID names no reader: ``reader`` is NA.
    """
    collector = Annotations("nccid")
    wanted = observations[observations["field"].isin(list(SEVERITY_SCHEMES))]
    if not len(wanted):
        return collector.frame()
    frontal = images[images["modality"].astype(str).isin(_RADIOGRAPHS)
                     & (images["view"].astype(str) != "LAT")]
    by_day: dict[tuple[str, float], list[str]] = {}
    for uid, patient, day in zip(frontal["image_uid"].astype(str),
                                 frontal["patient_uid"].astype(str),
                                 frontal["day"].to_numpy(dtype=float), strict=True):
        if np.isfinite(day):
            by_day.setdefault((patient, float(day)), []).append(uid)
    for row in wanted.itertuples(index=False):
        scheme, kind = SEVERITY_SCHEMES[row.field]
        day = float(row.day) if pd.notna(row.day) else np.nan
        found = by_day.get((row.patient_uid, day), []) if np.isfinite(day) else []
        key = str(row.origin).rsplit(": ", 1)[-1].split(", day from", 1)[0]
        collector.add(row.patient_uid, f"{row.patient_uid.split(':', 1)[1]}/{key}",
                      scheme=scheme, kind=kind,
                      label=None if pd.isna(row.value) else str(row.value),
                      score=float(row.value_num) if kind == "score" else None,
                      image_uid=found[0] if len(found) == 1 else None,
                      origin=str(row.origin))
    return collector.frame()
