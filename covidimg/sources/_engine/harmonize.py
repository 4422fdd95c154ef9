"""The day axis, written once: which day is day 0 of a patient, and every dated fact placed on it.

The rule
--------
Day 0 of a patient is, in this order (:data:`FALLBACK_ORDER`):

1. ``admission``: the hospital admission, where the source records it (the earliest, when
   there are several);
2. ``index_event``: else the source's own index event: CRDW's COVID encounter date, MIDRC's
   ``index_event`` (the origin of every ``days_to_*``), TCIA COVID-19-NY-SBU's visit start;
3. ``first_exam``: else the patient's first exam;
4. ``first_fact``: else the earliest other dated fact the source gives (a COVID test, a lab
   draw), so that a patient without exams (NCCID clinical files without images) keeps the
   intervals between its events.

A patient with none of these has no day 0: its facts have no day (NaN). Each loader says which
candidates its source has, and nothing else; the order lives only in :func:`choose_day_zero`.
Sources that record no index event (MHH, NCCID, TCIA's sheets other than SBU) simply pass none.
MHH gives only offsets from each exam, so its only candidate is the admission (an exam's own
position relative to the patient's other exams is unknown without it).

Candidates are dates (``datetime.date``, ``numpy.datetime64``) or day numbers on the source's
own axis (MIDRC's days from the index event, MHH's days from the exam); all candidates of one
call are of one kind. Every day is then ``fact - day 0`` in days (:meth:`DayAxis.days`), and
the image columns ``*_offset`` are ``event day - exam day`` (:func:`event_offsets`).

Examples
--------
>>> import datetime as dt
>>> from covidimg.sources._engine.harmonize import DayAxis
>>> axis = DayAxis.choose(["p1", "p2"], admission={"p1": dt.date(2020, 3, 2)},
...                       first_exam={"p1": dt.date(2020, 3, 1), "p2": dt.date(2020, 4, 1)})
>>> axis.rule("p1"), axis.rule("p2")
('admission', 'first_exam')
>>> axis.days(["p1", "p2"], [dt.date(2020, 3, 5), dt.date(2020, 4, 3)]).tolist()
[3.0, 2.0]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from covidimg._validation import check_choice, choices

__all__ = [
    "FALLBACK_ORDER",
    "OFFSET_EVENTS",
    "DayAxis",
    "choose_day_zero",
    "days_between",
    "event_offsets",
]

#: The candidates for day 0, in the order they are tried.
DayZeroRule = Literal["admission", "index_event", "first_exam", "first_fact"]
FALLBACK_ORDER: tuple[str, ...] = choices(DayZeroRule)
#: Image columns holding days from the exam to the patient's first event of a kind.
OFFSET_EVENTS: dict[str, str] = {"admission_offset": "admission",
                                 "icu_admission_offset": "icu_admission",
                                 "icu_release_offset": "icu_release",
                                 "death_offset": "death"}
_DAY = np.timedelta64(1, "D")


def _is_date(value: Any) -> bool:
    return isinstance(value, dt.date | np.datetime64)


def _as_array(values: Any) -> np.ndarray:
    """Dates as ``datetime64[D]`` (NaT = unknown), anything else as float (NaN = unknown)."""
    if isinstance(values, np.ndarray | pd.Series | pd.Index):
        array = np.asarray(values)
        if array.dtype.kind == "M":
            return array.astype("datetime64[D]")
        if array.dtype.kind in "fiu":
            return array.astype(float)
        values = array.tolist()
    values = list(values)
    if any(_is_date(v) for v in values):
        return np.array([v if _is_date(v) else None for v in values], dtype="datetime64[D]")
    return np.array([np.nan if v is None or pd.isna(v) else float(v) for v in values],
                    dtype=float)


def _missing(array: np.ndarray) -> np.ndarray:
    return np.isnat(array) if array.dtype.kind == "M" else np.isnan(array)


def choose_day_zero(candidates: Mapping[DayZeroRule, Any], size: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Day 0 and the rule that chose it, for many patients (or rows) at once.

    Parameters
    ----------
    candidates
        Rule name of :data:`FALLBACK_ORDER` -> one value per patient (dates or day numbers;
        ``None``/NaN/NaT = unknown). Rules a source does not have are left out.
    size
        The number of patients, needed only when ``candidates`` is empty.

    Returns
    -------
    anchors, rules
        Day 0 per patient (``datetime64[D]`` or float; NaT/NaN where no rule applies) and the
        name of the rule that chose it (``"none"`` where none did).

    Raises
    ------
    ValueError
        If a candidate is not one of :data:`FALLBACK_ORDER`, or lengths differ.

    Examples
    --------
    >>> from covidimg.sources._engine.harmonize import choose_day_zero
    >>> anchors, rules = choose_day_zero({"admission": [None, 5.0, None],
    ...                                   "index_event": [0.0, 0.0, None]})
    >>> anchors.tolist(), rules.tolist()
    ([0.0, 5.0, nan], ['index_event', 'admission', 'none'])
    """
    for rule in candidates:
        check_choice(rule, DayZeroRule, "candidates")
    arrays = {rule: _as_array(values) for rule, values in candidates.items()}
    sizes = {len(a) for a in arrays.values()} | ({size} if size is not None else set())
    if len(sizes) > 1:
        raise ValueError(f"day-0 candidates have different lengths {sorted(sizes)}")
    n = sizes.pop() if sizes else 0
    kinds = {a.dtype.kind for a in arrays.values() if len(a) and not _missing(a).all()}
    if len(kinds) > 1:
        raise ValueError("day-0 candidates mix dates and day numbers; pass one kind")
    dates = "M" in kinds or (not kinds and any(a.dtype.kind == "M" for a in arrays.values()))
    anchors = np.full(n, np.datetime64("NaT"), "datetime64[D]") if dates else np.full(n, np.nan)
    rules = np.full(n, "none", dtype=object)
    for rule in reversed(FALLBACK_ORDER):  # earlier rules overwrite later ones
        if rule not in arrays:
            continue
        values = arrays[rule].astype(anchors.dtype) if len(arrays[rule]) else arrays[rule]
        known = ~_missing(values)
        anchors[known] = values[known]
        rules[known] = rule
    return anchors, rules


def days_between(values: Any, anchors: Any) -> np.ndarray:
    """``values - anchors`` in days, as floats (NaN where either is unknown).

    Examples
    --------
    >>> import datetime as dt
    >>> from covidimg.sources._engine.harmonize import days_between
    >>> days_between([dt.date(2020, 3, 5), None], [dt.date(2020, 3, 1)] * 2).tolist()
    [4.0, nan]
    >>> days_between([3.0], [-2.0]).tolist()
    [5.0]
    """
    values, anchors = _as_array(values), _as_array(anchors)
    if values.dtype.kind == "M" or anchors.dtype.kind == "M":
        if values.dtype.kind != "M":  # all unknown
            values = np.full(len(values), np.datetime64("NaT"), "datetime64[D]")
        if anchors.dtype.kind != "M":
            anchors = np.full(len(anchors), np.datetime64("NaT"), "datetime64[D]")
        return (values - anchors) / _DAY
    return values - anchors


def _earliest(value: Any) -> Any:
    """A value, or the earliest known one of a collection (``None`` when none is known)."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return value
    known = [v for v in value if v is not None and not pd.isna(v)]
    return min(known) if known else None


class DayAxis:
    """Day 0 of every patient, chosen by the rule of the module docstring, and dated facts
    placed on it.

    Build it with :meth:`choose`; then :meth:`days` turns a patient's dates (or day numbers)
    into days on the cohort's axis.
    """

    def __init__(self, patients: Sequence[Any], anchors: np.ndarray, rules: np.ndarray) -> None:
        self._position = {p: i for i, p in enumerate(patients)}
        self._anchors = anchors
        self._rules = rules

    @classmethod
    def choose(cls, patients: Iterable[Any], *, admission: Mapping[Any, Any] | None = None,
               index_event: Mapping[Any, Any] | None = None,
               first_exam: Mapping[Any, Any] | None = None,
               first_fact: Mapping[Any, Any] | None = None) -> DayAxis:
        """Choose day 0 of each patient from its candidates.

        Parameters
        ----------
        patients
            The patients (any hashable ids).
        admission, index_event, first_exam, first_fact
            Patient -> a date or day number, or a collection of them (the earliest counts).
            Leave out the candidates the source does not have.
        """
        patients = list(dict.fromkeys(patients))
        given = {"admission": admission, "index_event": index_event,
                 "first_exam": first_exam, "first_fact": first_fact}
        candidates = {rule: [_earliest(mapping.get(p)) for p in patients]
                      for rule, mapping in given.items() if mapping is not None}
        anchors, rules = choose_day_zero(candidates, size=len(patients))
        return cls(patients, anchors, rules)

    def __contains__(self, patient: object) -> bool:
        i = self._position.get(patient)
        return i is not None and not _missing(self._anchors[i:i + 1])[0]

    def anchor(self, patient: Any) -> Any:
        """Day 0 of ``patient`` (a ``datetime.date``, a day number, or ``None``)."""
        if patient not in self:
            return None
        value = self._anchors[self._position[patient]]
        return value.astype(object) if self._anchors.dtype.kind == "M" else float(value)

    def rule(self, patient: Any) -> str:
        """Which rule chose day 0 of ``patient`` (``"none"`` when none applied)."""
        i = self._position.get(patient)
        return "none" if i is None else str(self._rules[i])

    def day(self, patient: Any, value: Any) -> float:
        """The day of one dated fact of ``patient`` (NaN if either is unknown)."""
        return float(self.days([patient], [value])[0])

    def days(self, patients: Sequence[Any], values: Any) -> np.ndarray:
        """The days of dated facts (one per patient entry), as floats."""
        index = np.array([self._position.get(p, -1) for p in patients], dtype=int)
        missing = np.datetime64("NaT") if self._anchors.dtype.kind == "M" else np.nan
        anchors = np.full(len(index), missing, dtype=self._anchors.dtype)
        known = index >= 0
        anchors[known] = self._anchors[index[known]]
        return days_between(values, anchors)


def event_offsets(patient_uid: pd.Series, day: pd.Series,
                  events: pd.DataFrame) -> dict[str, pd.Series]:
    """The image columns of :data:`OFFSET_EVENTS`: days from each exam to its patient's first
    event of each kind (negative = before the exam), from an ``events`` table on the same axis.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.sources._engine.harmonize import event_offsets
    >>> events = pd.DataFrame({"patient_uid": ["a", "a"], "event": ["admission", "death"],
    ...                        "day": [0.0, 9.0]})
    >>> out = event_offsets(pd.Series(["a", "b"]), pd.Series([2.0, 1.0]), events)
    >>> out["admission_offset"].tolist(), out["death_offset"].tolist()
    ([-2.0, nan], [7.0, nan])
    """
    known = events.dropna(subset=["day"])
    first = known.groupby([known["patient_uid"].astype(object), known["event"].astype(object)]
                          )["day"].min()
    out = {}
    for column, event in OFFSET_EVENTS.items():
        per_patient = first.xs(event, level=1) if len(first) and \
            event in first.index.get_level_values(1) else pd.Series(dtype=float)
        event_day = patient_uid.map(per_patient).astype(float)
        out[column] = event_day - day.astype(float)
    return out
