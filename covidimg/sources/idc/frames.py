"""Column helpers of the IDC loader: whole-column work on the index's ~1M rows, no per-row Python.

Strings stay Arrow-backed (pandas ``"string"``), a function of a value is computed once per
distinct value and spread by the factorized codes, and the contract's categorical columns are
built with the contract's categories (so :func:`covidimg.schema.conform` has nothing to cast).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from covidimg import schema

__all__ = ["category", "constant_category", "per_group", "per_value", "strings", "text"]

_STRING = pd.StringDtype("pyarrow")
_ARROW_STRINGS = {pa.string(): _STRING, pa.large_string(): _STRING}


def strings(table: pa.Table) -> pd.DataFrame:
    """``table`` as a DataFrame whose text columns are pandas ``"string"`` (Arrow, no copy)."""
    return table.to_pandas(types_mapper=_ARROW_STRINGS.get)


def text(values: pd.Series) -> pd.Series:
    """Text as ``"string"``, empty texts missing."""
    out = values.astype(_STRING)
    return out.mask(out.fillna("").eq(""))


def per_value(values: pd.Series, function: Callable[[Any], Any]) -> np.ndarray:
    """``function`` of each value (an object array), called once per distinct value; missing
    values give ``None`` without a call."""
    codes, uniques = pd.factorize(values)
    results = np.empty(len(uniques) + 1, dtype=object)  # the last one for missing (code -1)
    results[:-1] = [function(u) for u in uniques]
    return results[codes]


def per_group(frame: pd.DataFrame, function: Callable[..., Any]) -> np.ndarray:
    """``function(*row)`` for each row of ``frame`` (an object array), called once per distinct
    row; missing values are passed as ``None``."""
    if not len(frame):
        return np.empty(0, dtype=object)
    codes = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()
    _, first = np.unique(codes, return_index=True)
    rows = frame.iloc[first].astype(object)
    rows = rows.where(rows.notna(), None)
    results = np.empty(len(first), dtype=object)
    results[:] = [function(*row) for row in rows.itertuples(index=False, name=None)]
    return results[codes]


def category(values: Sequence[Any] | np.ndarray | pd.Series, table: str, column: str
             ) -> pd.Categorical | pd.Series:
    """``values`` as the contract's categorical of ``table.column`` (its categories, in order).

    A value the contract does not allow leaves ``values`` as they are, for
    :func:`covidimg.schema.conform` to refuse with its message.
    """
    allowed = list(schema.TABLES[table].column(column).allowed or ())
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    position = {value: k for k, value in enumerate(allowed)}
    if any(u not in position for u in uniques):
        return pd.Series(values)
    mapping = np.array([position[u] for u in uniques] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(mapping[codes], categories=allowed)


def constant_category(value: str, n: int, table: str, column: str) -> pd.Categorical:
    """``n`` times ``value`` as the contract's categorical of ``table.column``."""
    allowed = list(schema.TABLES[table].column(column).allowed or ())
    return pd.Categorical.from_codes(np.full(n, allowed.index(value), dtype=np.int64),
                                     categories=allowed)
