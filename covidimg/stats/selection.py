"""Lab values of a selection as counts per distinct interval: what the dashboard draws.

The dashboard filters one cohort over and over; its views analyse each
:class:`~covidimg.cohort.Selection` (``cohort.select(...)``, the masks of the kept patients
and images) without building the selection's tables. Every analysis of :mod:`covidimg.stats`
takes a selection as well as a cohort (the census of :func:`covidimg.stats.cohort_census`,
:func:`covidimg.stats.table_one`, :func:`covidimg.stats.patient_days`,
:func:`covidimg.stats.lab_values`). :func:`lab_counts` gives the values of
:func:`~covidimg.stats.lab_values` as counts per group and distinct interval, which is all a
histogram needs, from the same choice of values (:func:`covidimg.stats._common.choose_lab_values`).

Examples
--------
>>> import covidimg as ci
>>> from covidimg.stats.selection import lab_counts
>>> cohort = ci.load_demo(n_patients=12)                         # doctest: +SKIP
>>> counts = lab_counts(cohort.select(sex="F"), "crp", by="icu")  # doctest: +SKIP
>>> counts.n_values, counts.values.columns.tolist()              # doctest: +SKIP
(21, ['group', 'lower', 'upper', 'count'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from covidimg import schema
from covidimg._validation import PerPatient
from covidimg.cohort import CohortArrays, Selection
from covidimg.stats._common import (
    UNKNOWN,
    AnalyteRows,
    as_selection,
    check_analyte,
    check_per_patient,
    choose_lab_values,
    group_codes,
)
from covidimg.stats.distinct import DistinctIntervals

if TYPE_CHECKING:
    from covidimg.cohort import Cohort

__all__ = ["CohortArrays", "LabCounts", "Selection", "distinct_codes", "lab_counts"]


@dataclass(eq=False)
class LabCounts:
    """The values of one analyte in a selection, as counts per group and distinct interval.

    ``values`` has columns ``group``, ``lower``, ``upper``, ``count`` (one row per group and
    interval holding values; ``count`` values fall in it); ``n_values`` and ``n_patients``
    count the values and their patients, as ``len(lab_values(...))`` and its number of
    distinct ``patient_uid``.
    """

    analyte: str
    unit: str
    values: pd.DataFrame
    n_values: int
    n_patients: int


def distinct_codes(arrays: CohortArrays, analyte: str) -> DistinctIntervals:
    """The distinct intervals of an analyte's rows (kept with the cohort)."""
    def build() -> DistinctIntervals:
        a = AnalyteRows.of(arrays, analyte)
        return DistinctIntervals.of(a.lower, a.upper)
    return arrays.derived(("distinct", analyte), build)


def unit_of(arrays: CohortArrays, analyte: str, rows: np.ndarray) -> str:
    """The unit of the first of ``rows`` (positions in ``labs``), else the schema's."""
    if rows.size:
        return str(arrays.cohort.labs["unit"].iat[int(rows[0])])
    info = schema.ANALYTES.get(analyte)
    return info.unit if info else ""


def lab_counts(data: Cohort | Selection, analyte: str, *, by: str | None = None,
               per_patient: PerPatient = "all") -> LabCounts:
    """The values :func:`covidimg.stats.lab_values` gives, as counts per group and interval.

    Draws repeated on several exams count once (``dedupe=True``).

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.stats.selection import lab_counts
    >>> lab_counts(ci.Cohort(), "crp").n_values
    0
    """
    check_per_patient(per_patient)
    selection = as_selection(data)
    arrays = selection.arrays
    check_analyte(selection, analyte)
    choice = choose_lab_values(selection, analyte, per_patient=per_patient)
    if per_patient == "peak":
        distinct = DistinctIntervals.of(choice.lower, choice.upper)
        interval = distinct.code
    else:
        distinct = distinct_codes(arrays, analyte)
        interval = distinct.code[choice.rows]
    codes, names = group_codes(arrays, by)
    patient = choice.patient
    group = np.where(patient >= 0, codes[np.maximum(patient, 0)], len(names))
    n_codes = distinct.lower.size
    counts = np.bincount(group * n_codes + interval,
                         minlength=(len(names) + 1) * n_codes).reshape(len(names) + 1, n_codes)
    g, j = np.nonzero(counts)
    label_of = np.array([*names, UNKNOWN], dtype=object)
    values = pd.DataFrame({"group": label_of[g], "lower": distinct.lower[j],
                           "upper": distinct.upper[j], "count": counts[g, j]})
    n_patients = int(np.count_nonzero(np.bincount(choice.key, minlength=1)))
    return LabCounts(analyte=analyte, unit=unit_of(arrays, analyte,
                                                   choice.analyte.rows[choice.rows]),
                     values=values, n_values=int(choice.rows.size), n_patients=n_patients)
