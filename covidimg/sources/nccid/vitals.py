"""Vital signs and age in NCCID's typed text: units written in the value, and plausibility.

Rules (each a finding when it applies; see ``docs/nccid.md``):

* a unit written after the number must be one the field can have: ``"99.5 F"`` is a temperature
  in Fahrenheit, converted to °C by :func:`covidimg.units.convert_temperature` and reported;
  ``"10L"`` is a flow of oxygen, so in ``O2 saturation`` or ``Age`` it is not a saturation or
  an age: reported, not kept;
* temperature must lie in 25-45 °C and O2 saturation in 0-100 %, the ranges NHSX's cleaning
  keeps (nccid-cleaning ``_clip_numeric_values``: "expected in celcius so clipped to 25-45",
  o2_saturation "expected in the 0-100 range"); a value outside is reported and not kept
  (0, 96, 400 and 4532 are not temperatures, 104 % is not a saturation);
* heart rate, respiratory rate and blood pressure outside wide physiological limits
  (:data:`PLAUSIBLE_VITALS`) are reported and kept, as NHSX keeps them (it clips none of them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from covidimg import units
from covidimg.errors import ValueProblem
from covidimg.sources.nccid.values import ParsedNumber, parse_number

__all__ = ["DROPPED_OUTSIDE", "PLAUSIBLE_VITALS", "VITAL_UNITS", "VitalResult", "clean_vital"]

#: Ranges outside which a value is reported and NOT kept (NHSX clips these to missing).
DROPPED_OUTSIDE: dict[str, tuple[float, float]] = {
    "temperature": (25.0, 45.0), "o2_saturation": (0.0, 100.0), "age": (0.0, 120.0),
}
#: Ranges outside which a value is reported and kept (NHSX keeps them; wide physiological
#: limits chosen by covidimg).
PLAUSIBLE_VITALS: dict[str, tuple[float, float]] = {
    "heart_rate": (20.0, 300.0), "respiratory_rate": (4.0, 80.0),
    "systolic_bp": (40.0, 300.0), "diastolic_bp": (20.0, 200.0),
}
#: Units a field's value may name (normalised spelling, :func:`covidimg.units.normalize_unit`).
VITAL_UNITS: dict[str, frozenset[str]] = {
    "temperature": frozenset(units.TEMPERATURE_UNITS),
    "o2_saturation": frozenset({"%"}),
    "age": frozenset({"y", "yr", "yrs", "year", "years"}),
    "heart_rate": frozenset({"bpm", "/min", "beats/min"}),
    "respiratory_rate": frozenset({"/min", "breaths/min", "bpm"}),
}
_UNIT_NAMES = {"temperature": "a temperature", "o2_saturation": "a saturation",
               "age": "an age", "heart_rate": "a heart rate",
               "respiratory_rate": "a respiratory rate"}
_CANONICAL = {"temperature": "°C", "o2_saturation": "%", "age": "years",
              "heart_rate": "beats/min", "respiratory_rate": "breaths/min",
              "systolic_bp": "mmHg", "diastolic_bp": "mmHg"}


@dataclass
class VitalResult:
    """The value kept (``None``: nothing kept) and ``(kind, detail)`` problems to report."""

    value: float | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)


def _with_unit(name: str, parsed: ParsedNumber, result: VitalResult) -> float | None:
    number = parsed.lower
    if parsed.unit is None:
        return number
    unit = units.normalize_unit(parsed.unit)
    if unit not in VITAL_UNITS.get(name, frozenset()):
        result.problems.append((
            "unconvertible_unit",
            f"the value names the unit {parsed.unit!r}, which {_UNIT_NAMES.get(name, name)} "
            f"cannot have; not kept"))
        return None
    if name == "temperature" and units.TEMPERATURE_UNITS[unit] == "F":
        celsius = round(units.convert_temperature(number, unit), 6)
        result.problems.append(("recovered_value", f"written in Fahrenheit: {number:g} °F = "
                                f"{celsius:g} °C (t/°C = (t/°F − 32)/1.8)"))
        return celsius
    return number


def clean_vital(name: str, value: Any) -> VitalResult:
    """Read vital sign (or age) ``name`` from ``value`` with the rules of the module docstring.

    Examples
    --------
    >>> from covidimg.sources.nccid.vitals import clean_vital
    >>> clean_vital("temperature", "99.5 F").value
    37.5
    >>> result = clean_vital("o2_saturation", "10L")
    >>> result.value, result.problems[0][0]
    (None, 'unconvertible_unit')
    >>> clean_vital("temperature", "96").value is None
    True
    """
    result = VitalResult()
    try:
        parsed = parse_number(value)
    except ValueProblem as exc:
        result.problems.append(("unparseable_value", str(exc)))
        return result
    if parsed is None:
        return result
    if parsed.recovered:
        result.problems.append(("recovered_value", parsed.note))
    if parsed.censor != "none":
        result.problems.append(("unparseable_value", "a censored value is not meaningful here"))
        return result
    number = _with_unit(name, parsed, result)
    if number is None:
        return result
    unit = _CANONICAL.get(name, "")
    if name in DROPPED_OUTSIDE:
        low, high = DROPPED_OUTSIDE[name]
        if not low <= number <= high:
            result.problems.append(("implausible_value", f"{number:g} {unit} is outside "
                                    f"{low:g}–{high:g} {unit}; not kept"))
            return result
    elif name in PLAUSIBLE_VITALS:
        low, high = PLAUSIBLE_VITALS[name]
        if not low <= number <= high:
            result.problems.append(("implausible_value", f"{number:g} {unit} is outside "
                                    f"{low:g}–{high:g} {unit}; kept"))
    result.value = number
    return result
