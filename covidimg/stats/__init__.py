"""Analyses of a cohort: DataFrames in, DataFrames (or small result objects of them) out.

- :func:`timeline`, :func:`timeline_census`: per-patient swimlanes on an aligned day axis.
- :func:`turnbull`, :func:`interval_fit`, :func:`interval_histogram`: distributions of
  interval-censored lab values; :func:`compare_labs` compares groups respecting censoring.
- :func:`kaplan_meier`, :func:`cox_labs`: outcomes from admission.
- :func:`table_one`, :func:`missingness`: the cohort summary.
- :func:`k_anonymity`, :func:`l_diversity`, :func:`generalize_for_k`: privacy checks.
- :func:`lab_histogram`: one analyte's values per group on shared bins (what a figure draws).
- :func:`findings_table`: data-quality findings per kind and source.
- :func:`annotation_summary`, :func:`sources_table`: expert labels per label; what to cite.
- :func:`serial_exams`, :func:`nearest_labs`: one patient's radiographs in day order, and the
  lab draws nearest each.

Plots of every result are in :mod:`covidimg.plotting`; this package never imports plotly.
"""

from __future__ import annotations

from covidimg.stats._common import GROUPINGS, group_labels, lab_values, patient_days
from covidimg.stats.compare import LabComparison, compare_labs, gehan_scores, gehan_test
from covidimg.stats.findings import FindingCodes, findings_table
from covidimg.stats.intervals_fit import (
    DISTRIBUTIONS,
    fitted_cdf,
    interval_fit,
    interval_histogram,
    turnbull,
    turnbull_quantile,
)
from covidimg.stats.lab_distribution import LabHistogram, lab_histogram
from covidimg.stats.outcomes import (
    OUTCOMES,
    SurvivalResult,
    cox_labs,
    kaplan_meier,
    survival_data,
)
from covidimg.stats.privacy import PrivacyReport, generalize_for_k, k_anonymity, l_diversity
from covidimg.stats.provenance import annotation_summary, sources_table
from covidimg.stats.serial import OFFSET_COLUMNS, RADIOGRAPH_MODALITIES, nearest_labs, serial_exams
from covidimg.stats.summary import missingness, table_one
from covidimg.stats.timeline import ALIGN, SORT_BY, cohort_census, timeline, timeline_census

__all__ = [
    "ALIGN",
    "DISTRIBUTIONS",
    "GROUPINGS",
    "OFFSET_COLUMNS",
    "OUTCOMES",
    "RADIOGRAPH_MODALITIES",
    "SORT_BY",
    "FindingCodes",
    "LabComparison",
    "LabHistogram",
    "PrivacyReport",
    "SurvivalResult",
    "annotation_summary",
    "cohort_census",
    "compare_labs",
    "cox_labs",
    "findings_table",
    "fitted_cdf",
    "gehan_scores",
    "gehan_test",
    "generalize_for_k",
    "group_labels",
    "interval_fit",
    "interval_histogram",
    "k_anonymity",
    "kaplan_meier",
    "l_diversity",
    "lab_histogram",
    "lab_values",
    "missingness",
    "nearest_labs",
    "patient_days",
    "serial_exams",
    "sources_table",
    "survival_data",
    "table_one",
    "timeline",
    "timeline_census",
    "turnbull",
    "turnbull_quantile",
]
