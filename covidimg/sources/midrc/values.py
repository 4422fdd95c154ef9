"""MIDRC cell values: missing markers, numbers, Gen3 arrays, the case node's vocabularies."""

from __future__ import annotations

import re

import numpy as np

__all__ = ["COVID", "DEATH", "SEX", "YES", "as_list", "is_missing", "number",
           "parse_day_list", "yes_no"]

_MISSING = {"", "na", "nan", "null", "none", "n/a"}
#: ``case.sex`` (Gen3 enum) -> ``patients.sex``.
SEX = {"female": "F", "male": "M", "not reported": "U", "unknown": "U"}
#: Gen3 booleans as the portal writes them (``True``/``False``) and the older Yes/No enums.
YES = {"yes": True, "true": True, "y": True, "1": True,
       "no": False, "false": False, "n": False, "0": False}
#: ``case.covid19_positive`` (Gen3 enum) -> ``patients.covid_status``.
COVID = {"yes": "positive", "no": "negative", "indeterminate": "unknown",
         "not reported": "unknown"}
#: ``visit.discharge_type`` texts that mean the patient died.
DEATH = re.compile(r"expired|deceased|died|death|dead|morgue", re.IGNORECASE)


def is_missing(value: object) -> bool:
    """Whether a cell is empty (``""``, ``NA``, ``null``, NaN, ``None``, ...)."""
    return value is None or (isinstance(value, float) and np.isnan(value)) or \
        str(value).strip().lower() in _MISSING


def number(value: object) -> float | None:
    """A number, ``None`` when missing; raises ValueError when present but not a number."""
    if is_missing(value):
        return None
    return float(str(value).strip())


def yes_no(value: object) -> bool | None:
    """A Gen3 boolean cell (``True``/``False``, ``Yes``/``No``) -> bool; ``None`` if missing or
    not a boolean."""
    return YES.get(str(value).strip().lower()) if not is_missing(value) else None


_LIST_TOKEN = re.compile(r"^[-+]?\d+(?:\.\d+)?$")


def as_list(value: object) -> list[str]:
    """The elements of a Gen3 array cell: ``a,b``, ``["a", "b"]`` or ``['a']`` -> ``["a", "b"]``.

    Examples
    --------
    >>> from covidimg.sources.midrc.values import as_list
    >>> as_list("RSNA_20211026,RSNA_20220308"), as_list("['c9']"), as_list("")
    (['RSNA_20211026', 'RSNA_20220308'], ['c9'], [])
    """
    if is_missing(value):
        return []
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    tokens = (t.strip().strip("'\"").strip() for t in re.split(r"[,;]", text))
    return [t for t in tokens if t]


def parse_day_list(value: object) -> list[float] | None:
    """Parse a Gen3 integer-array cell into a list of days.

    Gen3 exports write arrays as JSON (``[-2, 5]``) or comma separated (``-2,5``); quotes
    (``['-2', '5']``) and semicolons are tolerated. An empty cell or ``[]`` gives ``[]``;
    anything else that is not a list of numbers gives ``None``.

    Examples
    --------
    >>> from covidimg.sources.midrc import parse_day_list
    >>> parse_day_list("[-2, 5]"), parse_day_list("-2,5"), parse_day_list("3")
    ([-2.0, 5.0], [-2.0, 5.0], [3.0])
    >>> parse_day_list(""), parse_day_list("[]"), parse_day_list("soon")
    ([], [], None)
    """
    tokens = as_list(value)
    if not all(_LIST_TOKEN.match(t) for t in tokens):
        return None
    return [float(t) for t in tokens]
