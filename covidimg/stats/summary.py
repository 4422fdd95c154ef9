"""Cohort summary: "Table 1" by group with tests, and missingness per column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from covidimg import schema
from covidimg.stats._common import (
    UNKNOWN,
    group_labels,
    group_order,
    lab_values,
    patient_days,
    positions,
)
from covidimg.stats.compare import gehan_test
from covidimg.stats.intervals_fit import turnbull, turnbull_quantile

if TYPE_CHECKING:
    from covidimg.cohort import Cohort

__all__ = ["missingness", "table_one"]

OVERALL = "overall"


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _count_cells(flags: pd.Series, groups: pd.Series, order: list[str]) -> dict[str, str]:
    """``n (%)`` of True among the non-missing values, overall and per group."""
    known = flags.notna().to_numpy(dtype=bool)
    true = flags.fillna(False).to_numpy(dtype=bool) & known
    codes, names = pd.factorize(np.asarray(groups, dtype=object))
    lookup = {name: k for k, name in enumerate(names)}
    cells = {}
    for name in [OVERALL, *order]:
        sel = slice(None) if name == OVERALL else codes == lookup.get(name, -2)
        n_known = int(known[sel].sum())
        n = int(true[sel].sum())
        cells[name] = f"{n} ({100 * n / n_known:.0f}%)" if n_known else "–"
    return cells


def _median_cells(values: pd.Series, groups: pd.Series, order: list[str]) -> dict[str, str]:
    cells = {}
    for name in [OVERALL, *order]:
        sel = (values if name == OVERALL else values[groups == name]).dropna()
        if len(sel):
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


def _missing_cell(values: pd.Series) -> str:
    n = int(values.isna().sum())
    return f"{n} ({100 * n / len(values):.0f}%)" if len(values) else "0"


def _categorical_test(labels: pd.Series, groups: pd.Series) -> tuple[float, str]:
    known = (labels.notna() & (groups != UNKNOWN)).to_numpy(dtype=bool)
    row_codes, _rows = pd.factorize(labels[known].to_numpy(dtype=object), sort=True)
    col_codes, _cols = pd.factorize(groups[known].to_numpy(dtype=object), sort=True)
    shape = (len(_rows), len(_cols))
    if shape[0] < 2 or shape[1] < 2:
        return np.nan, ""
    table = np.bincount(row_codes * shape[1] + col_codes,
                        minlength=shape[0] * shape[1]).reshape(shape)
    if shape == (2, 2):
        expected = stats.contingency.expected_freq(table)
        if (expected < 5).any():
            return float(stats.fisher_exact(table).pvalue), "Fisher exact"
    return float(stats.chi2_contingency(table).pvalue), "chi-square"


def _kruskal(values: pd.Series, groups: pd.Series, order: list[str]) -> tuple[float, str]:
    samples = [values[(groups == g)].dropna().to_numpy() for g in order if g != UNKNOWN]
    samples = [s for s in samples if s.size]
    if len(samples) < 2 or np.ptp(np.concatenate(samples)) == 0:
        return np.nan, ""
    return float(stats.kruskal(*samples).pvalue), "Kruskal–Wallis"


def table_one(cohort: Cohort, by: str | None = None, *,
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
    cohort
        The cohort (typically filtered).
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
    patients = cohort.patients.assign(patient_uid=cohort.patients["patient_uid"].astype(str))
    groups = group_labels(patients, by)
    order = group_order(groups) if by is not None else []
    uid = patients["patient_uid"]
    g = groups.reindex(uid).reset_index(drop=True)
    rows: list[dict[str, object]] = []

    def add(variable: str, level: str, cells: dict[str, str], missing: str = "",
            p: float = np.nan, test: str = "") -> None:
        rows.append({"variable": variable, "level": level, **cells, "missing": missing,
                     "p_value": p, "test": test})

    counts = {OVERALL: str(len(patients)), **{n: str(int((g == n).sum())) for n in order}}
    add("patients", "n", counts)
    image_pos = positions(cohort.images["patient_uid"], groups.index)
    image_groups = pd.Series(np.where(image_pos >= 0, groups.to_numpy(dtype=object)[image_pos],
                                      np.nan), dtype=object)
    add("images", "n", {OVERALL: str(len(cohort.images)),
                        **{n: str(int((image_groups == n).sum())) for n in order}})

    categorical = [("sex", "sex"), ("covid_status", "COVID-19 status")]
    if by != "source":
        categorical.append(("source", "source"))
    for column, label in categorical:
        values = patients[column].astype(object).where(patients[column].notna())
        if column == "sex":
            values = values.where(values != "U")
        p, test = _categorical_test(values, g) if by is not None else (np.nan, "")
        for level in sorted(values.dropna().unique()):
            flags = (values == level).astype("boolean").where(values.notna())
            add(label, str(level), _count_cells(flags, g, order), _missing_cell(values), p, test)
            p, test = np.nan, ""
    for column, label in (("icu", "ICU admission"), ("died", "died")):
        if column == by:
            continue
        flags = patients[column].astype("boolean")
        p, test = (_categorical_test(flags.astype(object).where(flags.notna()), g)
                   if by is not None else (np.nan, ""))
        add(label, "yes", _count_cells(flags, g, order), _missing_cell(flags), p, test)

    age = ((patients["age_min"] + patients["age_max"]) / 2).reset_index(drop=True)
    p, test = _kruskal(age, g, order) if by is not None else (np.nan, "")
    add("age, years", "median [IQR]", _median_cells(age, g, order), _missing_cell(age), p, test)

    days = patient_days(cohort).reindex(uid)
    per_patient = days["n_exams"].astype(float).reset_index(drop=True)
    add("images per patient", "median [IQR]", _median_cells(per_patient, g, order))
    follow = (days["last_known"] - days["admission"].fillna(0.0)).reset_index(drop=True)
    p, test = _kruskal(follow, g, order) if by is not None else (np.nan, "")
    add("follow-up from admission, days", "median [IQR]", _median_cells(follow, g, order),
        _missing_cell(follow), p, test)
    codes, uniques = pd.factorize(cohort.images["modality"])
    names = {str(u): k for k, u in enumerate(uniques)}
    if (codes < 0).any():
        names["nan"] = -1
    for level in sorted(names):
        flags = pd.Series(codes == names[level], dtype="boolean")
        add("modality (images)", level,
            _count_cells(flags, image_groups.reset_index(drop=True), order))

    measured = sorted({str(v) for v in cohort.labs["analyte"].unique()})
    for analyte in (list(analytes) if analytes is not None else measured):
        _lab_row(cohort, analyte, by, uid, order, add)

    out = pd.DataFrame(rows).set_index(["variable", "level"])
    out = out[[OVERALL, *order, "missing", "p_value", "test"]]
    out.attrs.update(by=by, groups=order)
    return out


def _lab_row(cohort: Cohort, analyte: str, by: str | None, uid: pd.Series, order: list[str],
             add: object) -> None:
    values = lab_values(cohort, analyte, by=by, per_patient="first")
    info = schema.ANALYTES.get(analyte)
    unit = info.unit if info else (values["unit"].iloc[0] if len(values) else "")
    label = f"{info.label if info else analyte}, first value ({unit})"
    cells = {}
    for name in [OVERALL, *order]:
        sel = values if name == OVERALL else values[values["group"] == name]
        if not len(sel):
            cells[name] = "–"
            continue
        est = turnbull(sel["lower"], sel["upper"])
        q1, med, q3 = (_interval_text(*turnbull_quantile(est, q)) for q in (0.25, 0.5, 0.75))
        cells[name] = f"{med} [{q1}–{q3}]"
    found = positions(values["patient_uid"], pd.Index(uid))
    present = np.zeros(len(uid), dtype=bool)
    present[found[found >= 0]] = True
    n_missing = int((~present).sum())
    missing = f"{n_missing} ({100 * n_missing / max(len(uid), 1):.0f}%)"
    p, test = np.nan, ""
    if by is not None:
        known = values[values["group"] != UNKNOWN]
        res = gehan_test(known["lower"], known["upper"], known["group"])
        p, test = res["p_value"], "Gehan (censoring-aware)" if np.isfinite(res["p_value"]) else ""
    add(label, "median [IQR]", cells, missing, p, test)  # type: ignore[operator]


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
        if name not in schema.TABLES:
            raise ValueError(f"tables: unknown table {name!r}; allowed values are "
                             f"{list(schema.TABLE_NAMES)}")
        frame = getattr(cohort, name)
        n_missing = frame.isna().sum()
        for column in frame.columns:
            n = len(frame)
            rows.append({"table": name, "column": column, "n_rows": n,
                         "n_missing": int(n_missing[column]),
                         "percent_missing": 100.0 * n_missing[column] / n if n else 0.0})
    return pd.DataFrame(rows, columns=["table", "column", "n_rows", "n_missing",
                                       "percent_missing"])
