"""The free-text policy: which texts a cohort keeps, and how a finding speaks of a bad value.

The collections are de-identified at their source, and a loader must not spread what slipped
through. Two rules, each written once here:

* **Descriptions** (StudyDescription, SeriesDescription, ProtocolName, CRDW's exam description
  in the zip name) are reduced to the harmonized ``images.exam`` label
  (:func:`covidimg.sources._engine.exam.exam_label`) and not kept as text, following DICOM
  PS3.15's Basic Application Level Confidentiality Profile, which removes them. Its Clean
  Descriptions option is the model for the explicit opt-in ``descriptions="keep"``
  (``covidimg.load(..., descriptions="keep")``, set for a block of code by
  :func:`description_policy`), which keeps them in ``images`` -- and only there: the DICOM
  index cache never holds them (a load that keeps them reads every header again).
* **A finding** points at the place (file, line, key) and describes a bad value by
  :func:`describe_value`, which quotes it only when it is a number, a date, or a member of the
  field's known vocabulary, and otherwise says its shape (``a text of 17 characters (letters,
  digits, spaces)``).

Examples
--------
>>> from covidimg.sources._engine.free_text import describe_value
>>> describe_value("0.9 per Dr ZZLYMDOC")
'a text of 19 characters (letters, digits, spaces, punctuation)'
>>> describe_value("12.5"), describe_value(7), describe_value("2020-03-01")
("'12.5'", '7', "'2020-03-01'")
>>> describe_value("Positive", vocabulary=["positive", "negative"])
"'Positive'"
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import numbers
import re
from collections.abc import Collection, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import pandas as pd

from covidimg.schema import ANALYTES
from covidimg.units import FACTORS, normalize_unit

__all__ = [
    "DESCRIPTION_COLUMNS",
    "DESCRIPTION_POLICIES",
    "describe_value",
    "description_policy",
    "descriptions_kept",
]

#: The values of ``covidimg.load``'s ``descriptions`` argument.
DESCRIPTION_POLICIES: tuple[str, ...] = ("drop", "keep")
#: The ``images`` columns that hold description texts, present only with
#: ``descriptions="keep"``: the DICOM descriptions and CRDW's zip-name description.
DESCRIPTION_COLUMNS: tuple[str, ...] = ("study_description", "series_description",
                                        "protocol_name", "exam_description")

_POLICY: ContextVar[str] = ContextVar("covidimg_descriptions", default="drop")


def _check_policy(policy: object) -> str:
    if not isinstance(policy, str) or policy not in DESCRIPTION_POLICIES:
        raise ValueError(
            f"descriptions={policy!r}: expected one of {list(DESCRIPTION_POLICIES)}. "
            "'drop' (default) keeps only the harmonized images.exam label; 'keep' also keeps "
            "StudyDescription, SeriesDescription, ProtocolName (and CRDW's zip-name "
            "description) as text in images")
    return policy


@contextlib.contextmanager
def description_policy(policy: str = "drop") -> Iterator[str]:
    """Set, for the ``with`` block, whether loaders keep description texts in ``images``.

    Parameters
    ----------
    policy
        ``"drop"`` (default): only the harmonized ``exam`` label; ``"keep"``: the columns of
        :data:`DESCRIPTION_COLUMNS` too (the DICOM index cache is not used then, since it
        never stores description texts).

    Raises
    ------
    ValueError
        If ``policy`` is not one of :data:`DESCRIPTION_POLICIES`.

    Examples
    --------
    >>> from covidimg.sources._engine.free_text import description_policy, descriptions_kept
    >>> with description_policy("keep"):
    ...     descriptions_kept()
    True
    >>> descriptions_kept()
    False
    """
    token = _POLICY.set(_check_policy(policy))
    try:
        yield policy
    finally:
        _POLICY.reset(token)


def descriptions_kept() -> bool:
    """Whether the current :func:`description_policy` keeps description texts."""
    return _POLICY.get() == "keep"


# ---------------------------------------------------------------------- describing values
_NUMBER = r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?"
#: A number, optionally after a comparator (``<5``, ``>= 10``) and before a percent sign, or
#: two numbers as a ratio or a range (``120/80``, ``5-10``).
_NUMERIC = re.compile(rf"^(?:[<>≤≥~]=?\s*)?{_NUMBER}(?:\s*[/-]\s*{_NUMBER})?\s*%?$")
_NUMBER_AND_UNIT = re.compile(rf"^(?:[<>≤≥~]=?\s*)?{_NUMBER}\s*(?P<unit>\S.{{0,14}})$")
_MONTHS = ("JAN(?:UARY)?|FEB(?:RUARY)?|MAR(?:CH)?|APR(?:IL)?|MAY|JUNE?|JULY?|AUG(?:UST)?"
           "|SEP(?:T(?:EMBER)?)?|OCT(?:OBER)?|NOV(?:EMBER)?|DEC(?:EMBER)?")
_DATE = re.compile(
    r"^(?:\d{1,4}([-/.])\d{1,2}\1\d{1,4}|\d{8}"
    rf"|\d{{1,2}}[- ]?(?:{_MONTHS})\.?[- ,]*\d{{2,4}}"
    rf"|(?:{_MONTHS})\.?[- ]\d{{1,2}},?[- ]\d{{2,4}})"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$", re.IGNORECASE)
#: Parts of a composite value such as NCCID's spreadsheet cells ``[12] - 2020-04-08``.
_DASHED = re.compile(r"\s+-\s+")
_TIME = re.compile(r"^\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")
#: Longest text quoted as a number or a date (a longer one is described).
_MAX_QUOTED = 40


def _known_units() -> frozenset[str]:
    """The lab units of the unit table and the schema, and those of vital signs and oxygen."""
    return frozenset({unit for units in FACTORS.values() for unit in units}
                     | {normalize_unit(a.unit) for a in ANALYTES.values()}
                     | {"l", "l/min", "lpm", "/min", "bpm", "°c", "c", "kg", "cm", "y"})


_UNITS = _known_units()


def _composition(text: str) -> str:
    parts = []
    if any(c.isalpha() for c in text):
        parts.append("letters")
    if any(c.isdigit() for c in text):
        parts.append("digits")
    if any(c.isspace() for c in text):
        parts.append("spaces")
    if any(not (c.isalnum() or c.isspace()) for c in text):
        parts.append("punctuation")
    return ", ".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _is_quotable_text(text: str, vocabulary: Collection[str] | None) -> bool:
    if vocabulary is not None and text.casefold() in {str(v).strip().casefold()
                                                      for v in vocabulary}:
        return True
    if len(text) > _MAX_QUOTED:
        return False
    if _NUMERIC.match(text) or _DATE.match(text) or _TIME.match(text):
        return True
    parts = _DASHED.split(text)
    if len(parts) > 1 and all(_NUMERIC.match(p.strip("[] ")) or _DATE.match(p.strip("[] "))
                              for p in parts):
        return True  # a number and its date, as NCCID's "[12] - 2020-04-08"
    if normalize_unit(text) in _UNITS:
        return True
    match = _NUMBER_AND_UNIT.match(text)
    return bool(match and normalize_unit(match["unit"]) in _UNITS)


def describe_value(value: Any, *, vocabulary: Collection[str] | None = None) -> str:
    """Say what ``value`` is, for a finding, without quoting free text.

    The value is quoted (``repr`` of a text, a number as written) only when it is a number (a number
    with a known lab unit, a comparator, a percent sign, a ratio or a range included), a date or a
    time, a known unit, or a member of ``vocabulary`` (case-insensitive). Anything else is described
    by its shape: a text by its length and the kinds of characters in it, a list or a mapping by its
    size, another object by its type -- so a name typed into a lab field never reaches
    ``findings.detail``, ``covidimg report`` or a warning.

    Parameters
    ----------
    value
        The value as the source gave it (text, number, date, ``None``, a JSON list or object).
    vocabulary
        The field's known values (its codes), which are quoted as they are.

    Returns
    -------
    str
        E.g. ``"'12.5'"``, ``"7"``, ``"'2020-03-01'"``, ``"an empty value"`` or ``"a text of 19
        characters (letters, digits, spaces, punctuation)"``.

    Examples
    --------
    >>> from covidimg.sources._engine.free_text import describe_value
    >>> describe_value("<5 mg/L"), describe_value("120/80"), describe_value(float("nan"))
    ("'<5 mg/L'", "'120/80'", 'NaN')
    >>> describe_value("JOHN DOE"), describe_value(["a", "b"]), describe_value(None)
    ('a text of 8 characters (letters, spaces)', 'a list of 2 items', 'an empty value')
    >>> describe_value("3 Smith Street")
    'a text of 14 characters (letters, digits, spaces)'
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return "an empty value"
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, numbers.Number) and not isinstance(value, complex):
        number = float(value)  # type: ignore[arg-type]
        if math.isnan(number):
            return "NaN"
        return repr(value.item() if hasattr(value, "item") else value)
    if isinstance(value, dt.date | dt.time):
        return repr(value.isoformat())
    if isinstance(value, bytes | bytearray):
        return f"{_plural(len(value), 'byte')} of binary data"
    if isinstance(value, Mapping):
        return f"an object of {_plural(len(value), 'key')}"
    if isinstance(value, list | tuple):
        return f"a list of {_plural(len(value), 'item')}"
    if not isinstance(value, str):
        return f"a value of type {type(value).__name__}"
    text = value.strip()
    if not text:
        return "an empty text" if not value else f"a text of {_plural(len(value), 'space')}"
    if _is_quotable_text(text, vocabulary):
        return repr(text)
    return f"a text of {_plural(len(text), 'character')} ({_composition(text)})"


def publishable_text(value: Any, *, vocabulary: Collection[str] | None = None) -> str | None:
    """The text of a clinical field as a cohort may keep it (``observations.value_raw``).

    A number, a date, a known unit or a member of ``vocabulary`` is kept as written (trimmed);
    other text is replaced by its shape, as :func:`describe_value` says it. Typed-in clinical
    text is never kept, whatever the description policy: ``descriptions="keep"`` concerns the
    exam descriptions in ``images`` only. A missing value is ``None``.

    Examples
    --------
    >>> from covidimg.sources._engine.free_text import publishable_text
    >>> publishable_text(" 12.5 "), publishable_text("Yes", vocabulary=["Yes", "No"])
    ('12.5', 'Yes')
    >>> publishable_text("seen by Dr ZZLYMDOC")
    '(a text of 19 characters (letters, spaces))'
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if not isinstance(value, str):
        return describe_value(value).strip("'")
    text = value.strip()
    if not text or _is_quotable_text(text, vocabulary):
        return text
    return f"({describe_value(text)})"
