"""One helper for choice parameters, and the ``Literal`` types of the choices shared by packages.

Every function that takes one of a fixed set of values checks it with :func:`check_choice`, so
the error always names the argument, the value received and the allowed values (model: nilearn's
``_utils/param_validation.check_parameter_in_allowed``). A choice is written once, as a
``Literal`` type: the allowed values are derived from it with :func:`choices`, so the type hint,
the check and the docs cannot disagree.

This is a bottom module: it imports nothing from covidimg.

Examples
--------
>>> from typing import Literal
>>> from covidimg._validation import check_choice, choices
>>> Theme = Literal["light", "dark"]
>>> choices(Theme)
('light', 'dark')
>>> check_choice("dark", Theme, "theme")
'dark'
>>> check_choice("blue", Theme, "theme")
Traceback (most recent call last):
    ...
ValueError: theme='blue' is not allowed; allowed values are ['light', 'dark'].
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, TypeVar, get_args, get_origin

__all__ = [
    "LabMatch",
    "NonPositive",
    "PerPatient",
    "Unaligned",
    "check_choice",
    "choices",
]

T = TypeVar("T")

#: How a lab criterion meets a value interval: the interval overlaps the range, or lies within it.
LabMatch = Literal["overlap", "within"]
#: Which lab value each patient contributes: every draw, the first, or the peak.
PerPatient = Literal["all", "first", "peak"]
#: What to do with patients that lack the alignment event on a timeline.
Unaligned = Literal["drop", "keep"]
#: What a log-scale fit does with values <= 0.
NonPositive = Literal["raise", "drop"]


def choices(allowed: Any) -> tuple[Any, ...]:
    """The allowed values of a ``Literal`` type, or of any iterable of values, as a tuple.

    Parameters
    ----------
    allowed
        A ``Literal[...]`` type, or an iterable (tuple, list, mapping keys, set: sets are
        sorted so messages are stable).

    Returns
    -------
    tuple
        The values, in their declared order.

    Examples
    --------
    >>> from covidimg._validation import LabMatch, choices
    >>> choices(LabMatch)
    ('overlap', 'within')
    >>> choices({"b": 1, "a": 2})
    ('b', 'a')
    """
    if get_origin(allowed) is Literal:
        return get_args(allowed)
    if isinstance(allowed, (set, frozenset)):
        return tuple(sorted(allowed, key=repr))
    return tuple(allowed)


def check_choice(value: T, allowed: Any | Iterable[Any], name: str, *, hint: str = "") -> T:
    """Return ``value`` if it is one of ``allowed``, else raise a ValueError that says so.

    Parameters
    ----------
    value
        The argument received.
    allowed
        The allowed values: a ``Literal[...]`` type or an iterable (see :func:`choices`).
    name
        The argument's name as the caller wrote it (``"theme"``, ``"window preset"``).
    hint
        Optional extra sentence on what else the caller can do (``"or pass center= and
        width="``), appended to the message.

    Returns
    -------
    The value, unchanged, so a check can sit in an assignment.

    Raises
    ------
    ValueError
        ``value`` is not one of ``allowed``; the message names ``name``, the value and the
        allowed values.

    Examples
    --------
    >>> from covidimg._validation import check_choice
    >>> check_choice("CT", ("CR", "DX", "CT"), "modality")
    'CT'
    >>> check_choice(["CT"], ("CR", "CT"), "modality", hint="Give one modality.")
    Traceback (most recent call last):
        ...
    ValueError: modality=['CT'] is not allowed; allowed values are ['CR', 'CT']. Give one modality.
    """
    values = choices(allowed)
    try:
        ok = value in values
    except (TypeError, ValueError):  # e.g. an array: not one choice
        ok = False
    if ok:
        return value
    message = f"{name}={value!r} is not allowed; allowed values are {list(values)}."
    if hint:
        message += f" {hint}"
    raise ValueError(message)
