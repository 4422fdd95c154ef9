"""Lab values as intervals: precision grids, detection limits, censoring, reference ranges.

Sources publish lab values coarsely: MHH gives each value on a precision grid (CRP in steps of
1 mg/L, d-dimer in steps of 0.1 mg/L, ...) and writes ``-inf`` / ``inf`` for values below / above
the detection limit; other sources write ``"<5"`` or ``">35"``. covidimg keeps every value as an
interval ``[lower, upper)`` with a ``censor`` label, and decides questions such as "is this value
above the reference range?" from the interval, never from a midpoint.

Where a published value sits in its interval is not stated by MHH. Two conventions are offered:

``"floor"`` (default)
    the published number is the interval's lower edge: ``v`` means ``[v, v + precision)``, as
    when values are truncated onto the grid.
``"round"``
    the published number is the rounded value: ``v`` means
    ``[v - precision / 2, v + precision / 2)``.

Censored values are bounded by the detection grid. A value below the detection limit ``L`` is
below every true value the assay reported as finite, and the smallest of those lies below the
upper edge of the smallest published interval; so ``-inf`` becomes ``(-inf, lowest finite upper
edge)``. Likewise ``inf`` becomes ``(highest finite lower edge, inf)``. These bounds hold under
either convention; tighter ones would need the assay's documented limits (pass them as
``detection_low`` / ``detection_high``).
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd

from covidimg._validation import check_choice, choices

__all__ = [
    "CONVENTIONS",
    "grid_intervals",
    "midpoint",
    "parse_censored_text",
    "reference_position",
]

Convention = Literal["floor", "round"]
CONVENTIONS: tuple[str, ...] = choices(Convention)


def grid_intervals(
    values: np.ndarray | pd.Series,
    precision: float,
    *,
    convention: Convention = "floor",
    detection_low: float | None = None,
    detection_high: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn values published on a precision grid into intervals.

    Parameters
    ----------
    values
        Published numbers; ``-inf`` / ``inf`` mean below / above the detection limit, NaN means
        not measured.
    precision
        Grid step (the MHH readme's "precision"); 0 means exact values.
    convention
        ``"floor"`` or ``"round"``: where the published number sits in its interval (see the
        module docstring).
    detection_low, detection_high
        Finite bounds for censored values (the assay's detection limits). By default, the
        lowest finite upper edge and the highest finite lower edge among ``values``, which
        always contain the true value (see the module docstring); ``inf`` / ``-inf`` when no
        value is finite.

    Returns
    -------
    lower, upper, censor
        float arrays of bounds (``-inf`` / ``inf`` allowed, NaN where the value is NaN) and an
        object array of ``"interval"`` / ``"none"`` / ``"left"`` / ``"right"`` (``None`` where
        the value is NaN).

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.intervals import grid_intervals
    >>> lower, upper, censor = grid_intervals(np.array([3.0, -np.inf, 7.0, np.inf]), 1.0)
    >>> lower.tolist(), upper.tolist(), censor.tolist()
    ([3.0, -inf, 7.0, 7.0], [4.0, 4.0, 8.0, inf], ['interval', 'left', 'interval', 'right'])
    >>> grid_intervals(np.array([0.3]), 0.1, convention="round")[0].round(2).tolist()
    [0.25]
    """
    check_choice(convention, Convention, "convention")
    if not np.isfinite(precision) or precision < 0:
        raise ValueError(f"precision={precision!r}; expected a finite number >= 0")
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    if convention == "floor":
        lower = np.where(finite, v, np.nan)
        upper = np.where(finite, v + precision, np.nan)
    else:
        lower = np.where(finite, v - precision / 2.0, np.nan)
        upper = np.where(finite, v + precision / 2.0, np.nan)
    # With no finite value to bound them, censored values are bounded by nothing: (-inf, inf)
    # keeps the interval honest (it still contains the truth) where NaN would read as missing.
    if detection_low is None:
        detection_low = float(np.nanmin(upper)) if finite.any() else np.inf
    if detection_high is None:
        detection_high = float(np.nanmax(lower)) if finite.any() else -np.inf
    below = v == -np.inf
    above = v == np.inf
    lower = np.where(below, -np.inf, np.where(above, detection_high, lower))
    upper = np.where(below, detection_low, np.where(above, np.inf, upper))
    censor = np.full(v.shape, None, dtype=object)
    censor[finite] = "interval" if precision > 0 else "none"
    censor[below] = "left"
    censor[above] = "right"
    return lower, upper, censor


_CENSORED = re.compile(
    r"^\s*(?P<op><=|>=|<|>|≤|≥)?\s*(?P<num>[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)\s*$"
)


def parse_censored_text(text: object) -> tuple[float, float, str] | None:
    """Parse ``"12.5"``, ``"<5"``, ``">35"``, ``"<=0.1"`` into ``(lower, upper, censor)``.

    An exact number gives ``(v, v, "none")``; ``"<v"`` gives ``(-inf, v, "left")``; ``">v"``
    gives ``(v, inf, "right")``. A decimal comma is accepted. Anything else returns ``None``
    (the caller records an ``unparseable_value`` finding naming the file and the value).

    Examples
    --------
    >>> from covidimg.intervals import parse_censored_text
    >>> parse_censored_text("<5")
    (-inf, 5.0, 'left')
    >>> parse_censored_text(" 7,5 ")
    (7.5, 7.5, 'none')
    >>> parse_censored_text("n/a") is None
    True
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    if isinstance(text, int | float | np.number):
        value = float(text)
        if np.isnan(value):
            return None
        if value == -np.inf or value == np.inf:
            return None
        return value, value, "none"
    match = _CENSORED.match(str(text))
    if not match:
        return None
    value = float(match["num"].replace(",", "."))
    op = match["op"]
    if op in ("<", "<=", "≤"):
        return -np.inf, value, "left"
    if op in (">", ">=", "≥"):
        return value, np.inf, "right"
    return value, value, "none"


def midpoint(lower: np.ndarray | pd.Series, upper: np.ndarray | pd.Series) -> np.ndarray:
    """Midpoints of intervals; the finite bound for censored ones (a crude, documented choice).

    Use midpoints only where a method cannot take intervals (e.g. a Cox model's covariates).

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.intervals import midpoint
    >>> midpoint(np.array([1.0, -np.inf]), np.array([2.0, 3.0])).tolist()
    [1.5, 3.0]
    """
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    with np.errstate(invalid="ignore"):
        mid = (lo + hi) / 2.0
    mid = np.where(np.isneginf(lo), hi, mid)
    mid = np.where(np.isposinf(hi), lo, mid)
    return mid


def reference_position(
    lower: np.ndarray | pd.Series,
    upper: np.ndarray | pd.Series,
    ref_low: float,
    ref_high: float,
) -> np.ndarray:
    """Where each interval lies relative to the reference range ``[ref_low, ref_high]``.

    An interval ``[lower, upper)`` (or the point ``lower`` when ``lower == upper``) is
    ``"below"`` when every value in it is below ``ref_low``, ``"above"`` when every value is
    above ``ref_high``, ``"within"`` when every value is inside the range, and ``"straddles"``
    otherwise: the published value cannot say which side the true value is on. NaN intervals
    give ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.intervals import reference_position
    >>> reference_position(np.array([3.0, 5.0, 6.0, -np.inf]), np.array([4.0, 6.0, 7.0, 1.0]),
    ...                    -np.inf, 5.0).tolist()
    ['within', 'straddles', 'above', 'within']
    """
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    point = lo == hi
    # For a half-open interval [lo, hi) every value is < hi; for a point, the value is lo.
    below = np.where(point, lo < ref_low, hi <= ref_low)
    above = lo > ref_high
    within = (lo >= ref_low) & np.where(point, lo <= ref_high, hi <= ref_high)
    out = np.full(lo.shape, "straddles", dtype=object)
    out[within] = "within"
    out[below] = "below"
    out[above] = "above"
    out[np.isnan(lo) | np.isnan(hi)] = None
    return out
