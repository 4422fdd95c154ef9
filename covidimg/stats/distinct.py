"""Interval-censored values as distinct intervals with counts: fast estimates for subsets.

Lab values are published on a precision grid and at a few detection limits, so an analyte's
tens of thousands of values fall in a few hundred distinct intervals. :class:`DistinctIntervals`
finds them once; a subset (a filtered cohort, one group) is then a vector of counts, and
:func:`turnbull_counts` and :func:`gehan_test_counts` give exactly what :func:`turnbull` and
:func:`gehan_test` give on the subset's values, without sorting them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from covidimg.stats._common import as_bounds
from covidimg.stats._lazy import stats
from covidimg.stats.intervals_fit import quantile_row, turnbull_arrays, turnbull_collapsed

__all__ = ["DistinctIntervals", "gehan_test_counts", "turnbull_counts", "turnbull_quantiles"]


@dataclass(frozen=True, eq=False)
class DistinctIntervals:
    """The distinct intervals of a set of values, sorted as :func:`numpy.unique` sorts rows.

    Attributes
    ----------
    lower, upper
        Bounds of the distinct intervals, sorted by ``(lower, upper)``.
    code
        For every value, the position of its interval in ``lower`` / ``upper``.

    Examples
    --------
    >>> from covidimg.stats.distinct import DistinctIntervals
    >>> d = DistinctIntervals.of([1.0, 0.0, 1.0], [2.0, 1.0, 2.0])
    >>> d.lower.tolist(), d.code.tolist(), d.counts([True, True, True]).tolist()
    ([0.0, 1.0], [1, 0, 1], [1.0, 2.0])
    """

    lower: np.ndarray
    upper: np.ndarray
    code: np.ndarray

    @classmethod
    def of(cls, lower: Sequence[float] | np.ndarray,
           upper: Sequence[float] | np.ndarray) -> DistinctIntervals:
        """Find the distinct intervals of ``[lower, upper)`` (validated as :func:`turnbull`)."""
        lo, hi = as_bounds(lower, upper)
        if not lo.size:
            empty = np.array([], dtype=float)
            return cls(empty, empty, np.array([], dtype=np.int64))
        pairs, code = np.unique(np.column_stack([lo, hi]), axis=0, return_inverse=True)
        return cls(pairs[:, 0].copy(), pairs[:, 1].copy(), code.ravel().astype(np.int64))

    def __len__(self) -> int:
        return int(self.lower.size)

    def counts(self, keep: Sequence[bool] | np.ndarray | None = None) -> np.ndarray:
        """How many of the kept values (all when ``keep`` is None) fall in each interval."""
        code = self.code if keep is None else self.code[np.asarray(keep, dtype=bool)]
        return np.bincount(code, minlength=len(self)).astype(float)


def turnbull_counts(lower: np.ndarray, upper: np.ndarray, counts: np.ndarray, *,
                    tol: float = 1e-10, max_iter: int = 20_000) -> pd.DataFrame:
    """:func:`covidimg.stats.turnbull` of the values that ``counts`` describes.

    ``lower`` / ``upper`` are distinct intervals sorted by ``(lower, upper)`` (a
    :class:`DistinctIntervals`) and ``counts`` how many values fall in each; intervals with
    no value are left out, so the estimate is identical to ``turnbull`` of the values.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.stats import turnbull
    >>> from covidimg.stats.distinct import turnbull_counts
    >>> a = turnbull_counts(np.array([0.0, 1, 2]), np.array([2.0, 3, 4]), np.array([2, 0, 1]))
    >>> b = turnbull([0, 0, 2], [2, 2, 4])
    >>> a.equals(b)
    True
    """
    counts = np.asarray(counts, dtype=float)
    used = counts > 0
    if not used.any():
        raise ValueError("turnbull needs at least one interval; got none")
    return turnbull_collapsed(lower[used], upper[used], counts[used], tol=tol,
                              max_iter=max_iter)


def turnbull_quantiles(lower: np.ndarray, upper: np.ndarray, counts: np.ndarray,
                       qs: Sequence[float]) -> list[tuple[float, float]]:
    """:func:`covidimg.stats.turnbull_quantile` of :func:`turnbull_counts` at each of ``qs``.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.stats.distinct import turnbull_quantiles
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> turnbull_quantiles(x, x, np.array([1, 1, 1]), [0.5])
    [(2.0, 2.0)]
    """
    counts = np.asarray(counts, dtype=float)
    used = counts > 0
    if not used.any():
        raise ValueError("turnbull needs at least one interval; got none")
    fit = turnbull_arrays(lower[used], upper[used], counts[used])
    out = []
    for q in qs:
        if not 0.0 < q < 1.0:
            raise ValueError(f"q={q!r}; pass a probability strictly between 0 and 1")
        row = quantile_row(fit["cdf"], q)
        out.append((float(fit["left"][row]), float(fit["right"][row])))
    return out


def _below(sorted_keys: np.ndarray, cum: np.ndarray, x: np.ndarray, side: str) -> np.ndarray:
    """Total count of keys < x (``side="left"``) or <= x (``side="right"``)."""
    return cum[np.searchsorted(sorted_keys, x, side=side)]


def gehan_scores_counts(lower: np.ndarray, upper: np.ndarray,
                        counts: np.ndarray) -> np.ndarray:
    """Gehan's score of each distinct interval among the values that ``counts`` describes.

    Equal to :func:`covidimg.stats.gehan_scores` of any value in that interval (the counts
    are whole numbers, so the sums are exact).
    """
    lo, hi, w = (np.asarray(a, dtype=float) for a in (lower, upper, counts))
    exact = lo == hi
    total = float(w.sum())
    order = np.argsort(hi, kind="stable")
    hi_sorted, hi_cum = hi[order], np.r_[0.0, np.cumsum(w[order])]
    open_rows = ~exact
    order = np.argsort(hi[open_rows], kind="stable")
    open_sorted = hi[open_rows][order]
    open_cum = np.r_[0.0, np.cumsum(w[open_rows][order])]
    order = np.argsort(lo, kind="stable")
    lo_sorted, lo_cum = lo[order], np.r_[0.0, np.cumsum(w[order])]
    below = (_below(hi_sorted, hi_cum, lo, "left")
             + _below(open_sorted, open_cum, lo, "right")
             - _below(open_sorted, open_cum, lo, "left"))
    at_or_below = _below(lo_sorted, lo_cum, hi, "right")
    ties_at_hi = at_or_below - _below(lo_sorted, lo_cum, hi, "left")
    above = total - at_or_below + np.where(exact, 0.0, ties_at_hi)
    return below - above


def gehan_test_counts(lower: np.ndarray, upper: np.ndarray, counts: np.ndarray,
                      names: Sequence[str]) -> dict[str, float]:
    """:func:`covidimg.stats.gehan_test` of values given as counts per group and interval.

    Parameters
    ----------
    lower, upper
        Distinct intervals (see :class:`DistinctIntervals`).
    counts
        Matrix ``(groups, intervals)``: how many values of each group fall in each interval.
    names
        The groups' names (the test orders groups by name, as ``gehan_test`` does).

    Returns
    -------
    dict
        ``statistic``, ``df``, ``p_value``, identical to ``gehan_test`` on the values.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.stats import gehan_test
    >>> from covidimg.stats.distinct import gehan_test_counts
    >>> x = np.array([1.0, 2, 3, 10, 11, 12])
    >>> counts = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]])
    >>> gehan_test_counts(x, x, counts, ["a", "b"]) == gehan_test(x, x, ["a"] * 3 + ["b"] * 3)
    True
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != len(names):
        raise ValueError(f"counts: pass one row per group ({len(names)} names); got an "
                         f"array of shape {counts.shape}")
    present = counts.sum(axis=1) > 0
    labels = [str(n) for n, p in zip(names, present, strict=True) if p]
    counts = counts[present]
    order = np.argsort(np.array(labels, dtype=object), kind="stable")
    counts = counts[order]
    k = len(labels)
    per_interval = counts.sum(axis=0)
    n = int(per_interval.sum())
    scores = gehan_scores_counts(lower, upper, per_interval)
    total = float(np.sum(per_interval * scores**2))
    if k < 2 or n < 3 or total == 0:
        return {"statistic": np.nan, "df": float(max(k - 1, 0)), "p_value": np.nan}
    sums = counts @ scores
    sizes = counts.sum(axis=1)
    cov = total / (n - 1) * (np.diag(sizes) - np.outer(sizes, sizes) / n)
    t, v = sums[:-1], cov[:-1, :-1]
    statistic = float(t @ np.linalg.solve(v, t))
    return {"statistic": statistic, "df": float(k - 1),
            "p_value": float(stats.chi2.sf(statistic, k - 1))}
