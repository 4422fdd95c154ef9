"""The harmonized cohort: the model, its filter, Parquet storage and loading.

``_model``
    :class:`Cohort`: the tables, validation, :meth:`Cohort.concat` and the summaries;
``_arrays``
    :class:`CohortArrays`: a cohort's rows as positions and codes, computed once, on first use;
``_query``
    the one filter engine: :class:`Criteria` -> :class:`Selection` (masks of the kept rows)
    -> the filtered cohort, behind :meth:`Cohort.filter` and :meth:`Cohort.select`;
``_storage``
    :meth:`Cohort.save` and :meth:`Cohort.open` (Parquet, atomic, schema dtypes), and
    :func:`is_saved_cohort`;
``_load``
    :func:`load` and :func:`detect_source`: the one place that calls the source loaders;
``_split``, ``_links``
    :meth:`Cohort.split` (reproducible patient-level splits) and cross-source identity
    (:meth:`Cohort.links`, :meth:`Cohort.dedupe`);
``_share``
    a filter as text: :func:`filter_call` (``cohort.filter(...)``), :func:`filter_query` (the
    app's ``?filter=`` parameter) and, read back safely, :func:`parse_filter`;
``_diff``
    :func:`diff`: rows added, removed and cells changed between two cohorts (release drift).
"""

from __future__ import annotations

from covidimg.cohort._arrays import CohortArrays
from covidimg.cohort._diff import DIFF_TABLES, CohortDiff, diff
from covidimg.cohort._load import detect_source, load
from covidimg.cohort._model import Cohort
from covidimg.cohort._query import Criteria, Selection, range_bounds
from covidimg.cohort._share import (
    FILTER_PARAM,
    FilterTextError,
    filter_arguments,
    filter_call,
    filter_query,
    parse_filter,
    parse_filter_query,
)
from covidimg.cohort._storage import LAZY_TABLES, MANIFEST, is_saved_cohort
from covidimg.errors import CohortFileError, SourceDetectionError

__all__ = ["DIFF_TABLES", "FILTER_PARAM", "LAZY_TABLES", "MANIFEST", "Cohort", "CohortArrays",
           "CohortDiff", "CohortFileError", "Criteria", "FilterTextError", "Selection",
           "SourceDetectionError", "detect_source", "diff", "filter_arguments", "filter_call",
           "filter_query", "is_saved_cohort", "load", "parse_filter", "parse_filter_query",
           "range_bounds"]
