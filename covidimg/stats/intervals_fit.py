"""Distributions of interval-censored values: Turnbull NPMLE, parametric fits, histograms.

Every value is an interval ``[lower, upper)``: ``lower == upper`` is an exact value,
``lower = -inf`` is below a detection limit, ``upper = inf`` above one. Nothing here replaces an
interval by its midpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from covidimg._validation import NonPositive, check_choice, choices
from covidimg.stats._common import as_bounds
from covidimg.stats._lazy import numdiff, optimize, special, stats

__all__ = ["DISTRIBUTIONS", "Distribution", "interval_fit", "interval_histogram", "turnbull",
           "turnbull_collapsed", "turnbull_quantile"]

#: Parametric families :func:`interval_fit` knows, with their parameter names.
Distribution = Literal["lognorm", "norm"]
#: Each family of :data:`Distribution` with its parameter names (both have ``mu``, ``sigma``).
DISTRIBUTIONS = {dist: ("mu", "sigma") for dist in choices(Distribution)}

# Endpoint order at equal values: an exclusive right end (the value is not in the interval)
# comes before a left end, which comes before an inclusive right end (an exact value).
_RIGHT_OPEN, _LEFT, _RIGHT_CLOSED = 0, 1, 2


def _collapse(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique intervals and how often each occurs."""
    pairs = np.column_stack([lo, hi])
    unique, counts = np.unique(pairs, axis=0, return_counts=True)
    return unique[:, 0], unique[:, 1], counts.astype(float)


def _innermost(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turnbull's innermost intervals: a left end immediately followed by a right end."""
    exact = lo == hi
    values = np.concatenate([lo, hi])
    kinds = np.concatenate([np.full(lo.size, _LEFT),
                            np.where(exact, _RIGHT_CLOSED, _RIGHT_OPEN)])
    order = np.lexsort((kinds, values))
    values, kinds = values[order], kinds[order]
    is_left = kinds == _LEFT
    starts = np.flatnonzero(is_left[:-1] & ~is_left[1:])
    return values[starts], values[starts + 1], kinds[starts + 1] == _RIGHT_CLOSED


def _contains(lo: np.ndarray, hi: np.ndarray, q: np.ndarray, p: np.ndarray,
              p_closed: np.ndarray) -> np.ndarray:
    """Boolean matrix: observation i (rows) contains innermost interval j (columns)."""
    exact = (lo == hi)[:, None]
    left_ok = lo[:, None] <= q[None, :]
    # an open right end at R contains [q, p) when p <= R, and [p, p] only when p < R;
    # an exact value x = [x, x] contains only [x, x].
    right_ok = np.where(exact, (p[None, :] <= hi[:, None]) & p_closed[None, :],
                        (p[None, :] < hi[:, None]) | ((p[None, :] == hi[:, None])
                                                      & ~p_closed[None, :]))
    return left_ok & right_ok


def turnbull(lower: Sequence[float] | np.ndarray, upper: Sequence[float] | np.ndarray, *,
             tol: float = 1e-10, max_iter: int = 20_000) -> pd.DataFrame:
    """Nonparametric maximum-likelihood distribution (Turnbull NPMLE) of interval-censored values.

    Assumes the intervals are independent of the values (non-informative censoring): the
    detection limits and the rounding grid do not depend on the true value beyond containing it.
    Mass is only identified per innermost interval, not where inside it.

    Parameters
    ----------
    lower, upper
        Interval bounds, one pair per value: ``[lower, upper)``; ``lower == upper`` is exact;
        ``-inf`` / ``inf`` mark values below / above a detection limit.
    tol
        Stop when no probability changes by more than ``tol`` between iterations.
    max_iter
        Upper limit of self-consistency (EM) iterations.

    Returns
    -------
    pandas.DataFrame
        One row per innermost interval: ``left``, ``right``, ``right_closed`` (True for an exact
        point ``[left, right]``), ``mass`` (estimated probability), ``cdf`` (probability of a
        value up to the end of this interval) and ``survival`` (``1 - cdf``). ``attrs`` hold
        ``n``, ``iterations``, ``converged`` and ``loglik``.

    Examples
    --------
    >>> from covidimg.stats import turnbull
    >>> turnbull([0, 0, 1, 2], [2, 2, 3, 4])[["left", "right", "mass"]].round(3)
       left  right   mass
    0   1.0    2.0  0.667
    1   2.0    3.0  0.333
    """
    lo_all, hi_all = as_bounds(lower, upper)
    if lo_all.size == 0:
        raise ValueError("turnbull needs at least one interval; got none")
    lo, hi, weight = _collapse(lo_all, hi_all)
    return turnbull_collapsed(lo, hi, weight, tol=tol, max_iter=max_iter)


def turnbull_collapsed(lo: np.ndarray, hi: np.ndarray, weight: np.ndarray, *,
                       tol: float = 1e-10, max_iter: int = 20_000) -> pd.DataFrame:
    """:func:`turnbull` of values given as distinct intervals and how often each occurs.

    ``lo`` / ``hi`` are the distinct intervals sorted by ``(lo, hi)`` (as ``numpy.unique``
    sorts rows) and ``weight`` their counts (all positive); the result is then identical to
    :func:`turnbull` of the values themselves. A caller that already holds the distinct
    intervals of a larger set (e.g. every value of an analyte) gets a subset's estimate
    without sorting the subset again.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.stats.intervals_fit import turnbull_collapsed
    >>> est = turnbull_collapsed(np.array([0.0, 1, 2]), np.array([2.0, 3, 4]),
    ...                          np.array([2.0, 1, 1]))
    >>> est[["left", "right"]].to_numpy().tolist()
    [[1.0, 2.0], [2.0, 3.0]]
    """
    fit = turnbull_arrays(lo, hi, weight, tol=tol, max_iter=max_iter)
    cdf = fit["cdf"]
    out = pd.DataFrame({"left": fit["left"], "right": fit["right"],
                        "right_closed": fit["right_closed"], "mass": fit["mass"], "cdf": cdf,
                        "survival": 1.0 - cdf})
    out.attrs.update(n=fit["n"], iterations=fit["iterations"], converged=fit["converged"],
                     loglik=fit["loglik"])
    return out


def turnbull_arrays(lo: np.ndarray, hi: np.ndarray, weight: np.ndarray, *,
                    tol: float = 1e-10, max_iter: int = 20_000) -> dict[str, Any]:
    """The columns and attrs of :func:`turnbull_collapsed` as a dict of arrays and numbers."""
    q, p, p_closed = _innermost(lo, hi)
    alpha = _contains(lo, hi, q, p, p_closed).astype(float)
    n = weight.sum()
    mass = np.full(q.size, 1.0 / q.size)
    converged = False
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 (reported below)
        denom = alpha @ mass
        new = mass * ((weight / denom) @ alpha) / n
        change = np.max(np.abs(new - mass))
        mass = new
        if change < tol:
            converged = True
            break
    mass = np.where(mass < 1e-12, 0.0, mass)
    mass = mass / mass.sum()
    loglik = float(weight @ np.log(alpha @ mass))
    cdf = np.minimum(np.cumsum(mass), 1.0)
    return {"left": q, "right": p, "right_closed": p_closed, "mass": mass, "cdf": cdf,
            "n": int(n), "iterations": iteration, "converged": converged, "loglik": loglik}


def quantile_row(cdf: np.ndarray, q: float) -> int:
    """Row of a Turnbull estimate (its ``cdf``) in which the ``q``-quantile lies."""
    return min(int(np.searchsorted(cdf, q - 1e-12, side="left")), len(cdf) - 1)


def turnbull_quantile(estimate: pd.DataFrame, q: float) -> tuple[float, float]:
    """The innermost interval in which the ``q``-quantile of a :func:`turnbull` estimate lies.

    Returns ``(left, right)``; the quantile is only known to lie in that interval.

    Examples
    --------
    >>> from covidimg.stats import turnbull, turnbull_quantile
    >>> turnbull_quantile(turnbull([1, 2, 3], [1, 2, 3]), 0.5)
    (2.0, 2.0)
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"q={q!r}; pass a probability strictly between 0 and 1")
    if not len(estimate):
        return (np.nan, np.nan)
    row = quantile_row(estimate["cdf"].to_numpy(), q)
    return float(estimate["left"].iloc[row]), float(estimate["right"].iloc[row])


# ----------------------------------------------------------------------- parametric fits
def _log_diff_normal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) for a < b, accurate in both tails."""
    upper_tail = a > 0
    lo = np.where(upper_tail, -b, a)
    hi = np.where(upper_tail, -a, b)
    log_hi = special.log_ndtr(hi)
    log_lo = special.log_ndtr(lo)
    with np.errstate(divide="ignore"):
        return log_hi + np.log1p(-np.exp(np.minimum(log_lo - log_hi, 0.0)))


def _transform(dist: str, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """Bounds on the scale where the family is normal, and the log-Jacobian of exact values."""
    if dist == "norm":
        return lo, hi, np.zeros(lo.size)
    with np.errstate(divide="ignore"):
        tlo = np.where(lo <= 0, -np.inf, np.log(np.where(lo > 0, lo, 1.0)))
        thi = np.log(np.where(hi > 0, hi, 1.0))
    return tlo, thi, -thi


def _negloglik(theta: np.ndarray, tlo: np.ndarray, thi: np.ndarray, jac: np.ndarray,
               exact: np.ndarray, weight: np.ndarray) -> float:
    return _negloglik_grad(theta, tlo, thi, jac, exact, weight)[0]


def _negloglik_grad(theta: np.ndarray, tlo: np.ndarray, thi: np.ndarray, jac: np.ndarray,
                    exact: np.ndarray, weight: np.ndarray) -> tuple[float, np.ndarray]:
    """Negative log-likelihood of (mu, log sigma) and its gradient."""
    mu, log_sigma = theta
    sigma = np.exp(log_sigma)
    w_exact, w_cens = weight[exact], weight[~exact]
    z = (thi[exact] - mu) / sigma
    ll_exact = -0.5 * z**2 - 0.5 * np.log(2 * np.pi) - log_sigma + jac[exact]
    a = (tlo[~exact] - mu) / sigma
    b = (thi[~exact] - mu) / sigma
    log_p = _log_diff_normal(a, b)
    total = float(w_exact @ ll_exact + w_cens @ log_p)
    if not np.isfinite(total):
        return 1e300, np.zeros(2)
    # d log P / d mu = (phi(a) - phi(b)) / (sigma P); d log P / d log sigma =
    # (a phi(a) - b phi(b)) / P, with phi(+-inf) = a phi(a) = 0 at infinite ends
    with np.errstate(invalid="ignore", over="ignore"):
        ra = np.where(np.isfinite(a), np.exp(stats.norm.logpdf(a) - log_p), 0.0)
        rb = np.where(np.isfinite(b), np.exp(stats.norm.logpdf(b) - log_p), 0.0)
        a0 = np.where(np.isfinite(a), a, 0.0)
        b0 = np.where(np.isfinite(b), b, 0.0)
    d_mu = w_exact @ (z / sigma) + w_cens @ ((ra - rb) / sigma)
    d_ls = w_exact @ (z**2 - 1.0) + w_cens @ (a0 * ra - b0 * rb)
    return -total, -np.array([d_mu, d_ls])


def _start(tlo: np.ndarray, thi: np.ndarray) -> np.ndarray:
    """Starting values from the finite bounds (midpoints where both ends are finite)."""
    mid = np.where(np.isfinite(tlo) & np.isfinite(thi), (tlo + thi) / 2,
                   np.where(np.isfinite(tlo), tlo, thi))
    spread = np.std(mid) if mid.size > 1 else 1.0
    return np.array([np.mean(mid), np.log(spread if spread > 0 else 1.0)])


def interval_fit(lower: Sequence[float] | np.ndarray, upper: Sequence[float] | np.ndarray,
                 dist: Distribution = "lognorm", *, alpha: float = 0.05,
                 nonpositive: NonPositive = "raise") -> pd.DataFrame:
    """Fit a parametric distribution to interval-censored values by maximum likelihood.

    Each value contributes ``F(upper) - F(lower)`` to the likelihood (its density when exact),
    so rounding and detection limits are modelled, not imputed. Assumes independent values from
    one distribution of the chosen family and non-informative censoring. Confidence intervals are
    Wald intervals from the observed information (``sigma``'s on the log scale, so they stay
    positive).

    Parameters
    ----------
    lower, upper
        Interval bounds ``[lower, upper)``, one pair per value (see :func:`turnbull`).
    dist
        ``"lognorm"``: ``log(value) ~ Normal(mu, sigma)`` (``exp(mu)`` is the median);
        ``"norm"``: ``value ~ Normal(mu, sigma)``.
    alpha
        1 - confidence level of the intervals.
    nonpositive
        For ``"lognorm"``, what to do with intervals lying at or below 0 (impossible under the
        model, e.g. a below-limit value whose limit is 0): ``"raise"`` an error, or ``"drop"``
        them (their number is in ``attrs["n_dropped"]``; dropping low values biases upwards).

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter (``mu``, ``sigma``) with columns ``estimate``, ``se``, ``ci_low``,
        ``ci_high``; ``attrs`` hold ``dist``, ``n``, ``n_dropped``, ``loglik``, ``aic``,
        ``converged``.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.stats import interval_fit
    >>> x = np.floor(np.random.default_rng(0).lognormal(3.0, 0.5, 500))
    >>> fit = interval_fit(x, x + 1, dist="lognorm")
    >>> bool(abs(fit.loc["mu", "estimate"] - 3.0) < 0.1)
    True
    """
    check_choice(dist, Distribution, "dist")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r}; pass a number between 0 and 1, e.g. 0.05")
    check_choice(nonpositive, NonPositive, "nonpositive")
    lo_all, hi_all = as_bounds(lower, upper)
    n_dropped = 0
    if dist == "lognorm" and nonpositive == "drop":
        keep = hi_all > 0
        n_dropped = int((~keep).sum())
        lo_all, hi_all = lo_all[keep], hi_all[keep]
    if lo_all.size < 2:
        raise ValueError(f"interval_fit needs at least 2 values; got {lo_all.size}")
    if dist == "lognorm":
        bad = np.flatnonzero(hi_all <= 0)
        if bad.size:
            raise ValueError(
                f"dist='lognorm' needs positive values, but {bad.size} intervals lie at or "
                f"below 0 (positions {bad[:10].tolist()}, upper bounds "
                f"{hi_all[bad[:5]].tolist()}); use dist='norm', or nonpositive='drop'")
    lo, hi, weight = _collapse(lo_all, hi_all)
    exact = lo == hi
    tlo, thi, jac = _transform(dist, lo, hi)
    if exact.sum() < 2 and np.unique(np.column_stack([lo, hi]), axis=0).shape[0] < 2:
        raise ValueError("all values fall in the same interval; the spread cannot be estimated")
    args = (tlo, thi, jac, exact, weight)
    result = optimize.minimize(_negloglik_grad, _start(tlo, thi), args=args, jac=True,
                               method="BFGS", options={"gtol": 1e-8})
    if not result.success:  # fall back on a derivative-free search from the BFGS point
        result = optimize.minimize(_negloglik, result.x, args=args, method="Nelder-Mead",
                                   options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 4000})
    theta = result.x
    hess = numdiff.approx_fprime(theta, lambda t: _negloglik_grad(t, *args)[1], centered=True)
    hess = (hess + hess.T) / 2
    try:
        cov = np.linalg.inv(hess)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        se = np.full(2, np.nan)
    z = stats.norm.ppf(1 - alpha / 2)
    mu, log_sigma = theta
    out = pd.DataFrame(
        {"estimate": [mu, np.exp(log_sigma)],
         "se": [se[0], np.exp(log_sigma) * se[1]],
         "ci_low": [mu - z * se[0], np.exp(log_sigma - z * se[1])],
         "ci_high": [mu + z * se[0], np.exp(log_sigma + z * se[1])]},
        index=pd.Index(list(DISTRIBUTIONS[dist]), name="parameter"))
    loglik = -float(_negloglik(theta, *args))
    out.attrs.update(dist=dist, n=int(weight.sum()), n_dropped=n_dropped, loglik=loglik,
                     aic=4.0 - 2.0 * loglik, converged=bool(result.success), alpha=alpha)
    return out


def fitted_cdf(fit: pd.DataFrame, x: np.ndarray) -> np.ndarray:
    """The CDF of an :func:`interval_fit` result at ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.stats import fitted_cdf, interval_fit
    >>> fit = interval_fit([1.0, 2.0, 4.0], [1.0, 2.0, 4.0], dist="lognorm")
    >>> round(float(fitted_cdf(fit, np.array([2.0]))[0]), 3)
    0.5
    """
    mu, sigma = fit.loc["mu", "estimate"], fit.loc["sigma", "estimate"]
    x = np.asarray(x, dtype=float)
    if fit.attrs.get("dist") == "lognorm":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, stats.norm.cdf((np.log(np.where(x > 0, x, 1)) - mu) / sigma),
                            0.0)
    return stats.norm.cdf((x - mu) / sigma)


# ----------------------------------------------------------------------- histogram
def interval_histogram(lower: Sequence[float] | np.ndarray, upper: Sequence[float] | np.ndarray,
                       bins: int | Sequence[float] = 30, *,
                       weights: Sequence[float] | np.ndarray | None = None) -> pd.DataFrame:
    """A histogram that spreads each value's mass uniformly over its interval.

    Exact values fall in their bin; a value known only to lie in ``[lower, upper)`` adds
    ``overlap / width`` to each bin it overlaps (uniform within the interval is an assumption,
    the least informative one). Values below / above a detection limit are not spread: they get
    their own rows, one per limit.

    Parameters
    ----------
    lower, upper
        Interval bounds, one pair per value.
    bins
        Number of equal-width bins over the finite bounds, or the bin edges.
    weights
        How many values each interval stands for (default 1 each): distinct intervals with
        their counts give the histogram of all the values.

    Returns
    -------
    pandas.DataFrame
        Columns ``kind`` (``bin``, ``below``, ``above``), ``left``, ``right``, ``mass``
        (number of values, fractional for spread values) and ``share`` (``mass`` / all values).
        A ``below`` row has ``left = -inf`` and ``right`` = its limit; ``above`` has
        ``left`` = its limit and ``right = inf``.

    Examples
    --------
    >>> from covidimg.stats import interval_histogram
    >>> h = interval_histogram([0, 1, float("-inf")], [2, 1, 0.5], bins=[0, 1, 2])
    >>> h[["kind", "left", "right", "mass"]]
        kind  left  right  mass
    0  below  -inf    0.5   1.0
    1    bin   0.0    1.0   0.5
    2    bin   1.0    2.0   1.5
    """
    lo, hi = as_bounds(lower, upper)
    if weights is None:
        w = np.ones(lo.size)
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if w.shape != lo.shape or (w < 0).any() or not np.isfinite(w).all():
            raise ValueError(f"weights: pass one non-negative count per interval ({lo.size}); "
                             f"got {w.size} values")
    below = np.isneginf(lo)
    above = np.isposinf(hi)
    spread = ~(below | above)
    if np.ndim(bins) == 0:
        finite = np.concatenate([lo[spread], hi[spread], hi[below], lo[above]])
        if finite.size == 0:
            edges = np.array([0.0, 1.0])
        else:
            first, last = float(finite.min()), float(finite.max())
            if last <= first:
                last = first + 1.0
            edges = np.linspace(first, last, int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"bins={bins!r}: pass a bin count or increasing edges")
    slo, shi, sw = lo[spread], hi[spread], w[spread]
    width = shi - slo
    point = width == 0
    mass = np.zeros(edges.size - 1)
    if (~point).any():
        cdf = np.clip((edges[None, :] - slo[~point, None]) / width[~point, None], 0.0, 1.0)
        mass += sw[~point] @ np.diff(cdf, axis=1)
    if point.any():
        idx = np.searchsorted(edges, slo[point], side="right") - 1
        idx[slo[point] == edges[-1]] = edges.size - 2
        inside = (idx >= 0) & (idx < edges.size - 1)
        mass += np.bincount(idx[inside], weights=sw[point][inside], minlength=edges.size - 1)
    rows = [pd.DataFrame({"kind": "bin", "left": edges[:-1], "right": edges[1:], "mass": mass})]
    if below.any():
        limits, where = np.unique(hi[below], return_inverse=True)
        rows.insert(0, pd.DataFrame({"kind": "below", "left": -np.inf, "right": limits,
                                     "mass": np.bincount(where, weights=w[below])}))
    if above.any():
        limits, where = np.unique(lo[above], return_inverse=True)
        rows.append(pd.DataFrame({"kind": "above", "left": limits, "right": np.inf,
                                  "mass": np.bincount(where, weights=w[above])}))
    out = pd.concat(rows, ignore_index=True)
    n = float(w.sum())
    out["share"] = out["mass"] / max(n, 1)
    out.attrs["n"] = round(n)
    return out
