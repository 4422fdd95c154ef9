"""Numbers in NCCID's typed text: ``"12.5"``, ``"<5"``, ``"[67] - 2020-06-06"`` (a spreadsheet
error cell keeping its value), ``"8.5 kPa"``, blood pressures ``"[170/70] - 2020-04-01"`` and
FiO2 as %, a fraction, litres of oxygen or a Venturi mask colour.

Each parser returns ``None`` for an empty value and raises
:class:`covidimg.errors.ValueProblem` (saying what was expected) for one it cannot read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from covidimg._validation import check_choice
from covidimg.errors import ValueProblem
from covidimg.intervals import parse_censored_text
from covidimg.sources._engine.dates import is_missing

__all__ = ["FIO2_LITRES", "FIO2_MASK_COLOURS", "NHSX_FIO2_LITRES", "ParsedNumber",
           "PressureHalf", "parse_blood_pressure", "parse_fio2", "parse_number"]

_NUMBER = r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)"
_BRACKETED_NUMBER = re.compile(rf"^\[\s*(?P<inner>[<>≤≥]?=?\s*{_NUMBER})\s*\]\s*-\s*"
                               r"\d{4}-\d{2}-\d{2}$")
_NUMBER_WITH_UNIT = re.compile(rf"^(?P<op><=|>=|<|>|≤|≥)?\s*(?P<num>{_NUMBER})\s*"
                               r"(?P<unit>[a-zA-Zµμ%°/^*0-9.() ]*?)\s*$")


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
    >>> from covidimg.sources.nccid.values import parse_number
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
    if match and match["unit"] and re.search(r"[a-zA-Zµμ%°]", match["unit"]):
        parsed = parse_censored_text(f"{match['op'] or ''}{match['num']}")
        if parsed is not None:
            return ParsedNumber(*parsed, unit=match["unit"].strip(), note=note,
                                recovered=bool(note))
    raise ValueProblem("no number could be read")


_BP = re.compile(r"^\[?\s*(?P<sys>\d{2,3})\s*/\s*(?P<dia>\d{2,3})\s*\]?(?:\s*-\s*"
                 r"\d{4}-\d{2}-\d{2})?$")


#: Which half of a ``sys/dia`` blood pressure :func:`parse_blood_pressure` returns.
PressureHalf = Literal["systolic", "diastolic"]


def parse_blood_pressure(value: Any, *, which: PressureHalf) -> float | None:
    """Read a systolic or diastolic pressure (mmHg) from ``"126"`` or ``"[170/70] - 2020-04-01"``.

    Parameters
    ----------
    which
        ``"systolic"`` or ``"diastolic"``: which half of a ``sys/dia`` pair to return.

    Examples
    --------
    >>> from covidimg.sources.nccid.values import parse_blood_pressure
    >>> parse_blood_pressure("[170/70] - 2020-04-01", which="diastolic")
    70.0
    >>> parse_blood_pressure("126", which="systolic")
    126.0
    """
    check_choice(which, PressureHalf, "which")
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


#: Venturi mask colours -> FiO2 % (the valves' nominal oxygen concentration; NHSX's look-up has
#: the same six).
FIO2_MASK_COLOURS: dict[str, float] = {"blue": 24.0, "white": 28.0, "orange": 31.0,
                                       "yellow": 35.0, "red": 40.0, "green": 60.0}

#: NHSX's FiO2 look-up (nccid-cleaning ``cleaning._rescale_fio2``, the "look up table provided in
#: related resources" that NHSX's schema-compliance workbook v2.1 names for FiO2): litres of
#: oxygen per minute -> FiO2 %, for whole numbers 1-15 written bare or followed by ``L``.
NHSX_FIO2_LITRES: dict[int, float] = {1: 25.0, 2: 29.0, 3: 33.0, 4: 37.0, 5: 41.0, 6: 45.0,
                                      7: 41.0, 8: 47.0, 9: 53.0, 10: 60.0, 11: 80.0, 12: 85.0,
                                      13: 90.0, 14: 95.0, 15: 100.0}

#: Oxygen flow (L/min) -> FiO2 % interval. The device is not recorded, so a flow is an interval,
#: never one number: oxygen-delivery rules of thumb (nasal cannula about +3-4 % per L/min up to
#: 6 L/min; simple face mask about 40-60 % at 5-10 L/min; reservoir mask about 60-90 % at
#: 10-15 L/min), widened where needed to contain NHSX's value (:data:`NHSX_FIO2_LITRES`: 11-15
#: L/min reach 80-100 %). NHSX's 41 % at 7 L/min, lower than its 45 % at 6, lies inside.
FIO2_LITRES: dict[int, tuple[float, float]] = {
    1: (24.0, 25.0), 2: (27.0, 29.0), 3: (30.0, 33.0), 4: (33.0, 37.0), 5: (36.0, 41.0),
    6: (39.0, 45.0), 7: (40.0, 50.0), 8: (45.0, 55.0), 9: (50.0, 60.0), 10: (55.0, 65.0),
    11: (60.0, 80.0), 12: (65.0, 85.0), 13: (70.0, 90.0), 14: (75.0, 95.0), 15: (80.0, 100.0),
}
_LITRES = re.compile(r"^(?P<num>\d+(?:\.\d+)?)\s*(?:l|lpm|ltr|litres?|liters?|l/min)$")


def parse_fio2(value: Any) -> ParsedNumber | None:
    """Read FiO2 as a percentage from %, a fraction, litres of O2 per minute or a mask colour.

    The rule is NHSX's (nccid-cleaning ``_rescale_fio2``, named by the schema-compliance
    workbook v2.1 as the look-up for FiO2), with litres as intervals (:data:`FIO2_LITRES`):

    * a number with a decimal point up to 1 is a fraction: ``"0.28"`` -> 28 %, ``"1.0"`` -> 100 %;
    * a whole number 1-15 without a decimal point is litres of oxygen per minute: ``"1"`` ->
      1 L/min -> 24-25 % (NHSX: 25 %), never the fraction 1.0. It is ambiguous (a percent below
      21 is impossible, a fraction would have a point), so it is read as litres and reported
      (``recovered``);
    * ``"10L"``, ``"2 l/min"`` -> :data:`FIO2_LITRES`, censor ``"interval"``;
    * ``"28"``, ``"28%"``, ``"40.0"`` (21 to 100) -> that percentage; ``"room air"`` -> 21 %;
    * Venturi colours ``"white"`` ... -> :data:`FIO2_MASK_COLOURS` (NHSX's values).

    Raises
    ------
    ValueProblem
        When the value fits none of these forms or lies outside 21-100 %.

    Examples
    --------
    >>> from covidimg.sources.nccid.values import parse_fio2
    >>> parse_fio2("10L").interval
    (55.0, 65.0, 'interval')
    >>> parse_fio2("white").interval, parse_fio2("0.4").interval
    ((28.0, 28.0, 'none'), (40.0, 40.0, 'none'))
    >>> parse_fio2("1").interval, parse_fio2("1.0").interval
    ((24.0, 25.0, 'interval'), (100.0, 100.0, 'none'))
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
        if "." in text:
            if not 0.21 <= number <= 1:
                raise ValueProblem("a fractional FiO2 (a number with a decimal point) must lie "
                                   "between 0.21 and 1")
            pct = round(number * 100, 6)
            return ParsedNumber(pct, pct, "none", "fraction", f"fraction {number:g} -> {pct:g} %")
        litres = number
    if not litres.is_integer() or int(litres) not in FIO2_LITRES:
        raise ValueProblem(f"{litres:g} L/min of oxygen is outside the 1-15 L/min conversion "
                           "table")
    low, high = FIO2_LITRES[int(litres)]
    if bare:
        return ParsedNumber(low, high, "interval", "L/min",
                            f"bare whole number {int(litres)} is ambiguous (below 21 %, no "
                            f"decimal point for a fraction); read as {int(litres)} L/min of "
                            f"oxygen, as NHSX's look-up does -> {low:g}–{high:g} % (NHSX: "
                            f"{NHSX_FIO2_LITRES[int(litres)]:g} %)", recovered=True)
    return ParsedNumber(low, high, "interval", "L/min",
                        f"{int(litres)} L/min of oxygen -> {low:g}–{high:g} %")
