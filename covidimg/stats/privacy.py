"""Privacy checks before publishing quasi-identifiers: k-anonymity, l-diversity, generalization.

The MHH repository redacts age, size and weight until "meaningful intervals can be chosen
according to the concept of k-anonymity and l-diversity". These functions answer: how small is
the smallest group of patients sharing the quasi-identifiers, which groups are below ``k``, and
which band widths reach a target ``k``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["PrivacyReport", "generalize_for_k", "k_anonymity", "l_diversity"]

MISSING = "missing"
#: Default band widths tried for a numeric quasi-identifier (``None`` = suppress the column).
DEFAULT_WIDTHS: tuple[float | None, ...] = (1, 2, 5, 10, 20, 50, 100, None)


@dataclass(eq=False)
class PrivacyReport:
    """The result of :func:`k_anonymity`.

    Attributes
    ----------
    classes
        One row per equivalence class: the quasi-identifier values, ``size``, ``below_k`` and,
        when a sensitive column was given, ``n_sensitive`` (distinct values) and ``below_l``.
    k, l
        The targets checked (``l`` is ``None`` without a sensitive column).
    """

    classes: pd.DataFrame
    quasi_identifiers: list[str]
    k: int
    l: int | None  # noqa: E741 (the method's own name)
    sensitive: str | None

    @property
    def smallest_class(self) -> int:
        """Size of the smallest equivalence class (the achieved k)."""
        return int(self.classes["size"].min()) if len(self.classes) else 0

    @property
    def satisfied(self) -> bool:
        """Every class has at least ``k`` records (and ``l`` sensitive values, if checked)."""
        ok = not self.classes["below_k"].any()
        if self.l is not None:
            ok = ok and not self.classes["below_l"].any()
        return bool(ok)

    def summary(self) -> pd.DataFrame:
        """One row: the achieved k, classes and records below k, the achieved l."""
        below = self.classes[self.classes["below_k"]]
        row = {"quasi_identifiers": ", ".join(self.quasi_identifiers), "k": self.k,
               "smallest_class": self.smallest_class, "n_classes": len(self.classes),
               "n_classes_below_k": len(below), "n_records_below_k": int(below["size"].sum()),
               "satisfied": self.satisfied}
        if self.l is not None:
            row.update(l=self.l, smallest_l=int(self.classes["n_sensitive"].min())
                       if len(self.classes) else 0)
        return pd.DataFrame([row])


def _band(low: pd.Series, high: pd.Series, width: float | None) -> pd.Series:
    """Band label ``[a, b)`` of width ``width`` holding ``[low, high]``; ``None`` suppresses."""
    if width is None:
        return pd.Series("*", index=low.index, dtype=object)
    lo = np.floor(low.to_numpy(dtype=float) / width) * width
    hi = (np.floor(high.to_numpy(dtype=float) / width) + 1) * width
    text = np.char.add(np.char.add(np.char.add("[", np.char.mod("%g", lo)), ", "),
                       np.char.add(np.char.mod("%g", hi), ")"))
    out = pd.Series(text.astype(object), index=low.index)
    return out.where(np.isfinite(lo) & np.isfinite(hi), MISSING)


def _numeric_range(table: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series] | None:
    if column in table.columns and pd.api.types.is_numeric_dtype(table[column]):
        return table[column], table[column]
    if {f"{column}_min", f"{column}_max"} <= set(table.columns):
        return table[f"{column}_min"], table[f"{column}_max"]
    return None


def _generalized(table: pd.DataFrame, quasi_identifiers: Sequence[str],
                 bands: Mapping[str, float | None]) -> pd.DataFrame:
    out = {}
    for column in quasi_identifiers:
        numeric = _numeric_range(table, column)
        if column in bands:
            if numeric is None:
                raise ValueError(
                    f"bands[{column!r}]: {column!r} is not a numeric column of the table (nor "
                    f"{column}_min/{column}_max); columns are {list(table.columns)}")
            out[column] = _band(*numeric, bands[column])
        elif column in table.columns:
            values = table[column]
            out[column] = values.astype(object).where(values.notna(), MISSING).astype(str)
        elif numeric is not None:
            low, high = numeric
            exact = low.astype(float).where(low == high)
            out[column] = exact.map(lambda v: MISSING if pd.isna(v) else f"{v:g}")
            banded = (low != high) & low.notna()
            out[column] = out[column].where(~banded, _band(low, high, 1))
        else:
            raise ValueError(
                f"quasi_identifiers: {column!r} is not a column of the table; columns are "
                f"{list(table.columns)} (an 'age' band is read from age_min/age_max)")
    return pd.DataFrame(out, index=table.index)


def k_anonymity(table: pd.DataFrame, quasi_identifiers: Sequence[str], k: int = 5, *,
                sensitive: str | None = None, l: int = 2,  # noqa: E741
                bands: Mapping[str, float | None] | None = None) -> PrivacyReport:
    """Check k-anonymity (and l-diversity) of ``table`` over a set of quasi-identifiers.

    Records sharing all quasi-identifier values form an equivalence class; the table is
    k-anonymous when every class has at least ``k`` records, and l-diverse when every class
    holds at least ``l`` distinct values of the ``sensitive`` column. Missing values form their
    own value (``"missing"``). Assumes one row per person (pass ``cohort.patients``).

    Parameters
    ----------
    table
        One row per person, e.g. ``cohort.patients``.
    quasi_identifiers
        Columns an attacker could know, e.g. ``["sex", "age"]``; ``"age"`` is read from
        ``age_min``/``age_max`` when there is no ``age`` column.
    k
        Target minimum class size.
    sensitive
        Column whose values must not be inferable from the class (e.g. ``"died"``).
    l
        Target number of distinct sensitive values per class.
    bands
        ``{column: width}``: generalize numeric columns into bands ``[a, a + width)`` before
        grouping (``None`` suppresses the column).

    Returns
    -------
    PrivacyReport

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.stats import k_anonymity
    >>> people = pd.DataFrame({"sex": ["F", "F", "M", "M", "M"], "age": [31, 38, 52, 55, 70]})
    >>> k_anonymity(people, ["sex", "age"], k=2, bands={"age": 10}).smallest_class
    1
    >>> k_anonymity(people, ["sex", "age"], k=2, bands={"age": 50}).satisfied
    True
    """
    if int(k) < 1:
        raise ValueError(f"k={k!r}; pass a class size of at least 1")
    quasi_identifiers = list(quasi_identifiers)
    if not quasi_identifiers:
        raise ValueError("quasi_identifiers is empty; pass columns such as ['sex', 'age']")
    if sensitive is not None and sensitive not in table.columns:
        raise ValueError(f"sensitive={sensitive!r} is not a column of the table; columns are "
                         f"{list(table.columns)}")
    keys = _generalized(table, quasi_identifiers, bands or {})
    grouped = keys.groupby(quasi_identifiers, sort=True, dropna=False)
    classes = grouped.size().rename("size").reset_index()
    classes["below_k"] = classes["size"] < int(k)
    if sensitive is not None:
        sens = table[sensitive].astype(object).where(table[sensitive].notna(), MISSING)
        distinct = keys.assign(_s=sens.astype(str)).groupby(
            quasi_identifiers, sort=True, dropna=False)["_s"].nunique()
        classes["n_sensitive"] = distinct.to_numpy()
        classes["below_l"] = classes["n_sensitive"] < int(l)
    return PrivacyReport(classes=classes, quasi_identifiers=quasi_identifiers, k=int(k),
                         l=int(l) if sensitive is not None else None, sensitive=sensitive)


def l_diversity(table: pd.DataFrame, quasi_identifiers: Sequence[str], sensitive: str,
                l: int = 2, *,  # noqa: E741
                bands: Mapping[str, float | None] | None = None) -> PrivacyReport:
    """Check l-diversity: every class holds at least ``l`` distinct ``sensitive`` values.

    A thin wrapper on :func:`k_anonymity` with ``k=1``; see it for the parameters.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.stats import l_diversity
    >>> people = pd.DataFrame({"sex": ["F", "F", "M"], "died": [True, False, True]})
    >>> l_diversity(people, ["sex"], "died", l=2).classes["n_sensitive"].tolist()
    [2, 1]
    """
    return k_anonymity(table, quasi_identifiers, k=1, sensitive=sensitive, l=l, bands=bands)


def generalize_for_k(table: pd.DataFrame, quasi_identifiers: Sequence[str], k: int = 5, *,
                     candidates: Mapping[str, Sequence[float | None]] | None = None,
                     sensitive: str | None = None, l: int = 2,  # noqa: E741
                     max_suppressed: int = 0) -> pd.DataFrame:
    """Which band widths of the numeric quasi-identifiers reach k-anonymity (and l-diversity).

    Every combination of candidate widths is checked; rows are ordered from the least
    generalized (finest bands, fewest suppressed columns) to the most. A combination satisfies
    the target when the records in classes below ``k`` (or below ``l``) number at most
    ``max_suppressed`` (those records would be withheld). ``recommended`` marks the first,
    i.e. least generalized, combination that satisfies it.

    Parameters
    ----------
    table
        One row per person, e.g. ``cohort.patients``.
    quasi_identifiers
        As in :func:`k_anonymity`.
    k, sensitive, l
        Targets, as in :func:`k_anonymity`.
    candidates
        ``{column: [width, ...]}`` for numeric quasi-identifiers; ``None`` as a width
        suppresses the column. Default: :data:`DEFAULT_WIDTHS` for every numeric one.
    max_suppressed
        How many records may be withheld to reach the target.

    Returns
    -------
    pandas.DataFrame
        One row per combination: a ``width_<column>`` per generalized column (a band width,
        or ``"suppressed"``), then
        ``smallest_class``, ``n_classes_below_k``, ``n_records_below_k``, ``smallest_l``
        (with ``sensitive``), ``satisfied`` and ``recommended``.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.stats import generalize_for_k
    >>> people = pd.DataFrame({"sex": ["F", "F", "M", "M"], "age": [31, 38, 52, 55]})
    >>> res = generalize_for_k(people, ["sex", "age"], k=2, candidates={"age": [5, 10]})
    >>> res.loc[res["recommended"], "width_age"].tolist()
    [10]
    """
    quasi_identifiers = list(quasi_identifiers)
    if candidates is None:
        candidates = {c: DEFAULT_WIDTHS for c in quasi_identifiers
                      if _numeric_range(table, c) is not None}
    unknown = [c for c in candidates if c not in quasi_identifiers]
    if unknown:
        raise ValueError(f"candidates: {unknown} are not among quasi_identifiers "
                         f"{quasi_identifiers}")
    columns = list(candidates)
    options = [list(candidates[c]) for c in columns]
    rows = []
    for combo in itertools.product(*[range(len(o)) for o in options]):
        widths = {c: options[i][j] for i, (c, j) in enumerate(zip(columns, combo, strict=True))}
        report = k_anonymity(table, quasi_identifiers, k, sensitive=sensitive, l=l,
                             bands=widths)
        classes = report.classes
        failing = classes["below_k"] | (classes["below_l"] if sensitive else False)
        row: dict[str, object] = {f"width_{c}": "suppressed" if w is None else w
                                  for c, w in widths.items()}
        row.update(smallest_class=report.smallest_class,
                   n_classes_below_k=int(classes["below_k"].sum()),
                   n_records_below_k=int(classes.loc[classes["below_k"], "size"].sum()))
        if sensitive:
            row["smallest_l"] = int(classes["n_sensitive"].min()) if len(classes) else 0
        row["satisfied"] = int(classes.loc[failing, "size"].sum()) <= max_suppressed
        row["_loss"] = (sum(combo), max(combo) if combo else 0)
        rows.append(row)
    out = pd.DataFrame(rows).sort_values("_loss", kind="stable").drop(columns="_loss")
    out = out.reset_index(drop=True)
    out["recommended"] = False
    if out["satisfied"].any():
        out.loc[out.index[out["satisfied"].to_numpy()][0], "recommended"] = True
    out.attrs.update(k=k, l=l if sensitive else None, max_suppressed=max_suppressed)
    return out
