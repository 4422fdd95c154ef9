"""Cohort summary: "Table 1" by group with tests, and missingness per column.

Table 1 is computed from arrays (:class:`SummaryInputs`: codes per patient and image, each
patient's first lab value as a distinct interval) taken from the positions and codes a cohort
keeps (:class:`covidimg.cohort.CohortArrays`), so a cohort and any selection of it
(``cohort.select(...)``, what the dashboard passes) are summarised by the same code, without
building the selection's tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from covidimg import schema
from covidimg._validation import check_choice
from covidimg.stats._common import (
    UNKNOWN,
    as_selection,
    check_analyte,
    choose_lab_values,
    group_codes,
    patient_days,
)
from covidimg.stats._lazy import stats
from covidimg.stats.distinct import gehan_test_counts, turnbull_quantiles
from covidimg.stats.selection import distinct_codes, unit_of

if TYPE_CHECKING:
    from covidimg.cohort import Cohort, CohortArrays, Selection

__all__ = ["FirstValues", "SummaryInputs", "missingness", "summarise", "table_one"]

OVERALL = "overall"
#: Patients columns summarised as categories, with their labels.
CATEGORICAL = (("sex", "sex"), ("covid_status", "COVID-19 status"), ("source", "source"))
#: Patients yes/no columns, with their labels.
FLAGS = (("icu", "ICU admission"), ("died", "died"))


@dataclass(eq=False)
class FirstValues:
    """Each patient's first value of one analyte, as distinct intervals.

    ``patient`` is the position of each value's patient among the summarised patients (-1: not
    one of them); ``code`` the position of its interval in ``lower`` / ``upper`` (see
    :class:`covidimg.stats.distinct.DistinctIntervals`).
    """

    lower: np.ndarray
    upper: np.ndarray
    code: np.ndarray
    patient: np.ndarray
    unit: str = ""


@dataclass(eq=False)
class SummaryInputs:
    """What Table 1 is computed from: codes per patient and per image, first lab values.

    Codes are positions in the matching list of levels, -1 for a missing value. Build it
    from a cohort or a selection of one with :meth:`of`.
    """

    by: str | None
    group_codes: np.ndarray
    group_names: list[str]
    categorical: dict[str, tuple[np.ndarray, list[str]]]
    flags: dict[str, np.ndarray]
    age: np.ndarray
    n_exams: np.ndarray
    last_known: np.ndarray
    admission: np.ndarray
    image_patient: np.ndarray
    modality: tuple[np.ndarray, list[str]]
    labs: dict[str, FirstValues] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Cohort | Selection, by: str | None = None, *,
           analytes: Sequence[str] | None = None) -> SummaryInputs:
        """The inputs of :func:`table_one` for a cohort or a selection of one."""
        selection = as_selection(data)
        a = selection.arrays
        idx, images = selection.patient_index, selection.image_index
        codes, names = group_codes(a, by)
        days = patient_days(selection)
        if analytes is None:
            rows = selection.lab_rows
            analytes = sorted(name for name, own in a.analyte_rows.items() if rows[own].any())
        labs = {}
        for name in analytes:
            check_analyte(selection, name)
            choice = choose_lab_values(selection, name, per_patient="first")
            distinct = distinct_codes(a, name)
            labs[name] = FirstValues(
                distinct.lower, distinct.upper, distinct.code[choice.rows],
                selection.local(choice.patient),
                _unit(a, name, choice.analyte.rows[choice.rows]))
        patients = _patient_codes(a)
        modality_codes, modality_levels = patients["modality"]
        return cls(
            by=by, group_codes=codes[idx], group_names=names,
            categorical={c: (patients[c][0][idx], patients[c][1]) for c, _l in CATEGORICAL},
            flags={c: patients[c][0][idx] for c, _l in FLAGS},
            age=patients["age"][0][idx],
            n_exams=days["n_exams"].to_numpy(dtype=float),
            last_known=days["last_known"].to_numpy(dtype=float),
            admission=days["admission"].to_numpy(dtype=float),
            image_patient=selection.local(a.image_patient[images]),
            modality=(modality_codes[images], modality_levels), labs=labs)


def _unit(arrays: CohortArrays, analyte: str, rows: np.ndarray) -> str:
    """The schema's unit of a known analyte, else the unit of its first value."""
    info = schema.ANALYTES.get(analyte)
    return info.unit if info else unit_of(arrays, analyte, rows)


def _patient_codes(arrays: CohortArrays) -> dict[str, tuple[np.ndarray, list[str]]]:
    """The patients' (and images') columns Table 1 reads, as codes (kept with the cohort)."""
    def build() -> dict[str, tuple[np.ndarray, list[str]]]:
        p, i = arrays.cohort.patients, arrays.cohort.images
        out: dict[str, tuple[np.ndarray, list[str]]] = {}
        for column, _label in CATEGORICAL:
            values = p[column].astype(object).where(p[column].notna())
            if column == "sex":
                values = values.where(values != "U")
            codes, levels = pd.factorize(values.to_numpy(dtype=object), sort=True)
            out[column] = (np.asarray(codes), [str(v) for v in levels])
        for column, _label in FLAGS:
            out[column] = (flag_codes(p[column]), ["no", "yes"])
        out["age"] = (((p["age_min"] + p["age_max"]) / 2).to_numpy(dtype=float), [])
        codes, levels = pd.factorize(i["modality"].astype(object), sort=True)
        out["modality"] = (np.asarray(codes), [str(v) for v in levels])
        return out
    return arrays.derived("table_one_codes", build)


def flag_codes(values: pd.Series) -> np.ndarray:
    """Yes / no values as codes: 1 yes, 0 no, -1 missing."""
    flags = values.astype("boolean")
    return np.where(flags.isna().to_numpy(), -1,
                    flags.fillna(False).to_numpy(dtype=bool).astype(np.int8)).astype(np.int8)


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _count_cells(known: np.ndarray, true: np.ndarray, gcode: np.ndarray,
                 order: list[str]) -> dict[str, str]:
    """``n (%)`` of True among the known values, overall and per group (``gcode`` in order)."""
    cells = {}
    n_known = np.bincount(gcode[known & (gcode >= 0)], minlength=len(order))
    n_true = np.bincount(gcode[true & known & (gcode >= 0)], minlength=len(order))
    pairs = [(OVERALL, int(known.sum()), int((true & known).sum()))]
    pairs += [(name, int(n_known[k]), int(n_true[k])) for k, name in enumerate(order)]
    for name, n_k, n in pairs:
        cells[name] = f"{n} ({100 * n / n_k:.0f}%)" if n_k else "–"
    return cells


def _median_cells(values: np.ndarray, gcode: np.ndarray, order: list[str]) -> dict[str, str]:
    cells = {}
    finite = ~np.isnan(values)
    for k, name in [(-1, OVERALL), *enumerate(order)]:
        sel = values[finite if k < 0 else finite & (gcode == k)]
        if sel.size:
            q1, med, q3 = np.percentile(sel, [25, 50, 75])
            cells[name] = f"{_fmt(med)} [{_fmt(q1)}–{_fmt(q3)}]"
        else:
            cells[name] = "–"
    return cells


def _interval_text(left: float, right: float) -> str:
    if np.isneginf(left):
        return f"<{_fmt(right)}"
    if np.isposinf(right):
        return f">{_fmt(left)}"
    return _fmt(left if left == right else (left + right) / 2)


def _missing_cell(n_missing: int, n: int) -> str:
    return f"{n_missing} ({100 * n_missing / n:.0f}%)" if n else "0"


def _categorical_test(codes: np.ndarray, n_levels: int, gcode: np.ndarray,
                      tested: np.ndarray) -> tuple[float, str]:
    """Chi-square (Fisher's exact for a sparse 2x2) of levels against the tested groups."""
    known = (codes >= 0) & tested[np.maximum(gcode, 0)] & (gcode >= 0)
    n_groups = tested.size
    table = np.bincount(codes[known] * n_groups + gcode[known],
                        minlength=n_levels * n_groups).reshape(n_levels, n_groups)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return np.nan, ""
    if table.shape == (2, 2):
        expected = stats.contingency.expected_freq(table)
        if (expected < 5).any():
            return float(stats.fisher_exact(table).pvalue), "Fisher exact"
    return float(stats.chi2_contingency(table).pvalue), "chi-square"


def _kruskal(values: np.ndarray, gcode: np.ndarray, order: list[str]) -> tuple[float, str]:
    finite = ~np.isnan(values)
    samples = [values[finite & (gcode == k)] for k, g in enumerate(order) if g != UNKNOWN]
    samples = [s for s in samples if s.size]
    if len(samples) < 2 or np.ptp(np.concatenate(samples)) == 0:
        return np.nan, ""
    return float(stats.kruskal(*samples).pvalue), "Kruskal–Wallis"


def table_one(data: Cohort | Selection, by: str | None = None, *,
              analytes: Sequence[str] | None = None) -> pd.DataFrame:
    """The cohort summary ("Table 1"): main variables overall and by group, with tests.

    Patient-level counts are ``n (%)`` of patients with a known value; continuous variables are
    ``median [IQR]``. Lab rows use each patient's first draw and the Turnbull estimate (the
    median and quartiles respect rounding and detection limits; ``<x`` = below a limit).
    Tests across groups (``unknown`` left out): chi-square (Fisher's exact for sparse 2×2)
    for categories, Kruskal–Wallis for continuous values, Gehan's censoring-aware test for labs;
    all assume independent patients. Image-level rows are not tested (images of one patient are
    not independent).

    Parameters
    ----------
    data
        The cohort (typically filtered), or a selection of one (``cohort.select(...)``).
    by
        Patients column to group by (``"icu"``, ``"died"``, ``"sex"``, ``"source"``, …) or
        ``None`` for the overall column only.
    analytes
        Analytes to summarise (default: every analyte measured in the cohort).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(variable, level)``; columns ``overall``, one per group, ``missing``
        (patients without a value, overall), ``p_value`` and ``test``.

    Examples
    --------
    >>> import covidimg as ci
    >>> ci.stats.table_one(ci.load_demo(), by="icu")     # doctest: +SKIP
    """
    return summarise(SummaryInputs.of(data, by, analytes=analytes))


def summarise(inputs: SummaryInputs) -> pd.DataFrame:
    """Table 1 (as :func:`table_one` returns it) from its :class:`SummaryInputs`."""
    by = inputs.by
    used = np.bincount(inputs.group_codes[inputs.group_codes >= 0],
                       minlength=len(inputs.group_names)) > 0
    present = {n for n, u in zip(inputs.group_names, used, strict=True) if u}
    order = (sorted(present - {UNKNOWN}) + ([UNKNOWN] if UNKNOWN in present else [])
             if by is not None else [])
    remap = np.array([order.index(n) if n in order else -1 for n in inputs.group_names] + [-1],
                     dtype=np.int64)
    gcode = remap[inputs.group_codes]
    tested = np.array([name != UNKNOWN for name in order], dtype=bool)
    n_patients = gcode.size
    rows: list[dict[str, object]] = []

    def add(variable: str, level: str, cells: dict[str, str], missing: str = "",
            p: float = np.nan, test: str = "") -> None:
        rows.append({"variable": variable, "level": level, **cells, "missing": missing,
                     "p_value": p, "test": test})

    per_group = np.bincount(gcode[gcode >= 0], minlength=len(order))
    add("patients", "n", {OVERALL: str(n_patients),
                          **{n: str(int(per_group[k])) for k, n in enumerate(order)}})
    image_gcode = np.where(inputs.image_patient >= 0,
                           np.r_[gcode, -1][inputs.image_patient], -1)
    per_group = np.bincount(image_gcode[image_gcode >= 0], minlength=len(order))
    add("images", "n", {OVERALL: str(image_gcode.size),
                        **{n: str(int(per_group[k])) for k, n in enumerate(order)}})

    for column, label in CATEGORICAL:
        if column == "source" and by == "source":
            continue
        codes, levels = inputs.categorical[column]
        missing = _missing_cell(int((codes < 0).sum()), n_patients)
        p, test = (_categorical_test(codes, len(levels), gcode, tested) if by is not None
                   else (np.nan, ""))
        present = np.bincount(codes[codes >= 0], minlength=len(levels)) > 0
        for j in np.flatnonzero(present):
            add(label, levels[j], _count_cells(codes >= 0, codes == j, gcode, order), missing,
                p, test)
            p, test = np.nan, ""
    for column, label in FLAGS:
        if column == by:
            continue
        codes = inputs.flags[column].astype(np.int64)
        p, test = _categorical_test(codes, 2, gcode, tested) if by is not None else (np.nan, "")
        add(label, "yes", _count_cells(codes >= 0, codes == 1, gcode, order),
            _missing_cell(int((codes < 0).sum()), n_patients), p, test)

    age = inputs.age
    p, test = _kruskal(age, gcode, order) if by is not None else (np.nan, "")
    add("age, years", "median [IQR]", _median_cells(age, gcode, order),
        _missing_cell(int(np.isnan(age).sum()), n_patients), p, test)
    add("images per patient", "median [IQR]", _median_cells(inputs.n_exams, gcode, order))
    follow = inputs.last_known - np.nan_to_num(inputs.admission, nan=0.0)
    p, test = _kruskal(follow, gcode, order) if by is not None else (np.nan, "")
    add("follow-up from admission, days", "median [IQR]", _median_cells(follow, gcode, order),
        _missing_cell(int(np.isnan(follow).sum()), n_patients), p, test)
    codes, levels = inputs.modality
    present = {levels[j]: int(j) for j in np.unique(codes[codes >= 0])}
    if (codes < 0).any():
        present["nan"] = -1
    everything = np.ones(codes.size, dtype=bool)
    for level in sorted(present):
        add("modality (images)", level,
            _count_cells(everything, codes == present[level], image_gcode, order))

    for analyte, values in inputs.labs.items():
        _lab_row(analyte, values, gcode, order, by, add)

    out = pd.DataFrame(rows).set_index(["variable", "level"])
    out = out[[OVERALL, *order, "missing", "p_value", "test"]]
    out.attrs.update(by=by, groups=order)
    return out


def _lab_row(analyte: str, values: FirstValues, gcode: np.ndarray, order: list[str],
             by: str | None, add: Callable[..., None]) -> None:
    info = schema.ANALYTES.get(analyte)
    label = f"{info.label if info else analyte}, first value ({values.unit})"
    unknown = order.index(UNKNOWN) if UNKNOWN in order else -1
    mine = values.patient >= 0
    group = np.full(values.patient.size, unknown, dtype=np.int64)
    group[mine] = gcode[values.patient[mine]]
    n_codes = values.lower.size
    counts = np.bincount(group[group >= 0] * n_codes + values.code[group >= 0],
                         minlength=len(order) * n_codes).reshape(len(order), n_codes)
    cells = {}
    for k, name in [(-1, OVERALL), *enumerate(order)]:
        n = (np.bincount(values.code, minlength=n_codes) if k < 0 else counts[k])
        if not n.any():
            cells[name] = "–"
            continue
        q1, med, q3 = (_interval_text(*bounds) for bounds in turnbull_quantiles(
            values.lower, values.upper, n, (0.25, 0.5, 0.75)))
        cells[name] = f"{med} [{q1}–{q3}]"
    present = np.zeros(gcode.size, dtype=bool)
    present[values.patient[mine]] = True
    n_missing = int((~present).sum())
    missing = f"{n_missing} ({100 * n_missing / max(gcode.size, 1):.0f}%)"
    p, test = np.nan, ""
    if by is not None:
        known = [k for k, name in enumerate(order) if name != UNKNOWN]
        res = gehan_test_counts(values.lower, values.upper, counts[known],
                                [order[k] for k in known])
        p, test = res["p_value"], "Gehan (censoring-aware)" if np.isfinite(res["p_value"]) else ""
    add(label, "median [IQR]", cells, missing, p, test)


def missingness(cohort: Cohort, tables: Sequence[str] = ("patients", "images", "events",
                                                           "labs")) -> pd.DataFrame:
    """How many values are missing in each column of the cohort's tables.

    Returns
    -------
    pandas.DataFrame
        ``table, column, n_rows, n_missing, percent_missing``, one row per column.

    Examples
    --------
    >>> import covidimg as ci
    >>> ci.stats.missingness(ci.Cohort()).columns.tolist()
    ['table', 'column', 'n_rows', 'n_missing', 'percent_missing']
    """
    rows = []
    for name in tables:
        check_choice(name, schema.TABLE_NAMES, "tables")
        frame = getattr(cohort, name)
        n_missing = frame.isna().sum()
        for column in frame.columns:
            n = len(frame)
            rows.append({"table": name, "column": column, "n_rows": n,
                         "n_missing": int(n_missing[column]),
                         "percent_missing": 100.0 * n_missing[column] / n if n else 0.0})
    return pd.DataFrame(rows, columns=["table", "column", "n_rows", "n_missing",
                                       "percent_missing"])
