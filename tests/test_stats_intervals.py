"""Turnbull NPMLE, interval-censored ML fits and interval histograms: check the statistics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from covidimg.stats import interval_fit, interval_histogram, turnbull, turnbull_quantile
from covidimg.stats.intervals_fit import _contains, _innermost

INF = np.inf


# ----------------------------------------------------------------------------- Turnbull
def test_turnbull_matches_hand_computed_example() -> None:
    # [0,2) twice, [1,3), [2,4): innermost intervals [1,2) and [2,3).
    # [0,2) holds only [1,2); [1,3) holds both; [2,4) holds only [2,3).
    # Likelihood p1^2 * (p1 + p2) * p2 = p1^2 p2 with p1 + p2 = 1 -> p1 = 2/3, p2 = 1/3.
    est = turnbull([0, 0, 1, 2], [2, 2, 3, 4])
    assert est[["left", "right"]].to_numpy().tolist() == [[1, 2], [2, 3]]
    np.testing.assert_allclose(est["mass"], [2 / 3, 1 / 3], atol=1e-8)
    np.testing.assert_allclose(est["cdf"], [2 / 3, 1.0], atol=1e-8)
    assert est.attrs["converged"]
    assert est.attrs["loglik"] == pytest.approx(2 * np.log(2 / 3) + np.log(1 / 3), abs=1e-8)


def test_turnbull_half_open_intervals_do_not_overlap_at_their_ends() -> None:
    # grid cells [5,6) and [6,7) share no value: two innermost intervals with the sample shares
    est = turnbull([5, 6, 6, 6], [6, 7, 7, 7])
    assert est[["left", "right"]].to_numpy().tolist() == [[5, 6], [6, 7]]
    np.testing.assert_allclose(est["mass"], [0.25, 0.75])


def test_turnbull_exact_values_give_the_empirical_distribution() -> None:
    est = turnbull([3, 1, 2, 2], [3, 1, 2, 2])
    assert est["left"].tolist() == [1, 2, 3]
    assert est["right_closed"].all()
    np.testing.assert_allclose(est["mass"], [0.25, 0.5, 0.25])


def test_turnbull_exact_value_inside_an_interval_takes_its_mass() -> None:
    # [5,6), [6,7), exact 6: the exact 6 lies in [6,7), so the NPMLE puts 2/3 on the point 6
    est = turnbull([5, 6, 6], [6, 7, 6])
    assert est[["left", "right"]].to_numpy().tolist() == [[5, 6], [6, 6]]
    np.testing.assert_allclose(est["mass"], [1 / 3, 2 / 3], atol=1e-8)


def test_turnbull_left_censored_mass_goes_below_the_limit() -> None:
    # two values below 5 (limit), cells [5,6) and [8,9): innermost (-inf,5), [5,6), [8,9)
    est = turnbull([-INF, -INF, 5, 8], [5, 5, 6, 9])
    assert est["left"].tolist() == [-INF, 5, 8]
    np.testing.assert_allclose(est["mass"], [0.5, 0.25, 0.25])
    assert turnbull_quantile(est, 0.5) == (-INF, 5.0)
    assert turnbull_quantile(est, 0.6) == (5.0, 6.0)


def test_turnbull_maximises_the_likelihood_on_overlapping_intervals() -> None:
    # cross-check with a generic optimiser on the simplex (softmax parametrisation)
    rng = np.random.default_rng(7)
    x = rng.normal(10, 3, 60)
    width = rng.uniform(1, 6, 60)
    lo = np.round(x - rng.uniform(0, 1, 60) * width, 1)
    hi = np.round(lo + width, 1)
    lo[:5], hi[:5] = -INF, np.round(x[:5] + 2, 1)
    est = turnbull(lo, hi)
    q, p, closed = _innermost(lo, hi)
    alpha = _contains(lo, hi, q, p, closed).astype(float)

    def negll(z: np.ndarray) -> float:
        w = np.exp(z - z.max())
        w /= w.sum()
        return -float(np.sum(np.log(alpha @ w + 1e-300)))

    best = optimize.minimize(negll, np.zeros(q.size), method="L-BFGS-B").fun
    assert -est.attrs["loglik"] <= best + 1e-6
    # the self-consistency equations hold at the estimate
    mass = est["mass"].to_numpy()
    again = mass * ((1 / (alpha @ mass)) @ alpha) / lo.size
    np.testing.assert_allclose(again, mass, atol=1e-7)


def test_turnbull_rejects_bad_bounds_naming_them() -> None:
    with pytest.raises(ValueError, match=r"lower > upper at positions \[1\]"):
        turnbull([1, 5], [2, 4])
    with pytest.raises(ValueError, match="NaN"):
        turnbull([1, np.nan], [2, 3])
    with pytest.raises(ValueError, match="at least one"):
        turnbull([], [])


# ----------------------------------------------------------------------------- parametric
def _grid_censor(x: np.ndarray, step: float, low: float, high: float) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """Publish values as MHH does: grid cells [k*step, (k+1)*step), limits beyond low/high."""
    lo = np.floor(x / step) * step
    hi = lo + step
    below, above = x < low, x >= high
    lo[below], hi[below] = -INF, low
    lo[above], hi[above] = high, INF
    return lo, hi


def test_lognormal_fit_recovers_known_parameters_under_heavy_censoring() -> None:
    rng = np.random.default_rng(2024)
    x = rng.lognormal(mean=3.0, sigma=0.8, size=4000)
    # grid of 5 units, 16 % below the limit 10, 8 % above 60 -- like a CRP/LDH column
    lo, hi = _grid_censor(x, 5.0, 10.0, 60.0)
    assert 0.1 < np.isneginf(lo).mean() < 0.25 and 0.05 < np.isposinf(hi).mean() < 0.15
    fit = interval_fit(lo, hi, dist="lognorm")
    mu, sigma = fit.loc["mu", "estimate"], fit.loc["sigma", "estimate"]
    assert mu == pytest.approx(3.0, abs=0.05)
    assert sigma == pytest.approx(0.8, abs=0.05)
    assert fit.loc["mu", "ci_low"] < 3.0 < fit.loc["mu", "ci_high"]
    assert fit.loc["sigma", "ci_low"] < 0.8 < fit.loc["sigma", "ci_high"]
    # the standard error matches the spread one expects from ~4000 values (sd/sqrt(n) with
    # some information lost to censoring)
    assert 0.8 / np.sqrt(4000) < fit.loc["mu", "se"] < 3 * 0.8 / np.sqrt(4000)
    # substituting midpoints and limits (the naive way) is clearly biased here
    naive = np.log(np.where(np.isneginf(lo), hi, np.where(np.isposinf(hi), lo, (lo + hi) / 2)))
    assert abs(naive.std() - 0.8) > 4 * abs(sigma - 0.8)


def test_normal_fit_and_exact_values_match_the_closed_form() -> None:
    # with exact values only, the ML estimates are the sample mean and the (1/n) sd
    x = np.random.default_rng(3).normal(50, 7, 300)
    fit = interval_fit(x, x, dist="norm")
    assert fit.loc["mu", "estimate"] == pytest.approx(x.mean(), abs=1e-5)
    assert fit.loc["sigma", "estimate"] == pytest.approx(x.std(), rel=1e-5)
    assert fit.loc["mu", "se"] == pytest.approx(x.std() / np.sqrt(300), rel=1e-3)
    assert fit.attrs["loglik"] == pytest.approx(stats.norm.logpdf(x, x.mean(), x.std()).sum(),
                                                rel=1e-8)


def test_confidence_intervals_cover_the_truth_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(11)
    covered = 0
    reps = 100
    for _ in range(reps):
        x = rng.lognormal(1.0, 0.5, 150)
        lo, hi = _grid_censor(x, 0.5, 1.5, 6.0)
        fit = interval_fit(lo, hi)
        covered += fit.loc["mu", "ci_low"] <= 1.0 <= fit.loc["mu", "ci_high"]
    # 95 % nominal; binomial sd with 100 reps is ~2 %, allow a wide band
    assert 0.87 <= covered / reps <= 0.995


def test_interval_fit_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="dist='weibull' is not allowed; allowed values are"):
        interval_fit([1, 2], [2, 3], dist="weibull")
    with pytest.raises(ValueError, match=r"positive values.*upper bounds \[0.0\]"):
        interval_fit([-INF, 1, 2], [0, 2, 3])
    fit = interval_fit([-INF, 1, 2, 3], [0, 2, 3, 4], nonpositive="drop")
    assert fit.attrs["n_dropped"] == 1 and fit.attrs["n"] == 3


# ----------------------------------------------------------------------------- histogram
def test_histogram_spreads_interval_mass_and_keeps_censored_values_apart() -> None:
    lo = np.array([0.0, 0.0, 2.0, -INF, 5.0])
    hi = np.array([4.0, 1.0, 2.0, 1.0, INF])
    h = interval_histogram(lo, hi, bins=[0, 1, 2, 3, 4])
    binned = h[h["kind"] == "bin"]
    # [0,4) spreads 1/4 per bin; [0,1) all in bin 0; exact 2 in bin [2,3)
    np.testing.assert_allclose(binned["mass"], [1.25, 0.25, 1.25, 0.25])
    assert h.loc[h["kind"] == "below", ["right", "mass"]].to_numpy().tolist() == [[1.0, 1.0]]
    assert h.loc[h["kind"] == "above", ["left", "mass"]].to_numpy().tolist() == [[5.0, 1.0]]
    assert h["mass"].sum() == pytest.approx(len(lo))
    assert h["share"].sum() == pytest.approx(1.0)


def test_histogram_is_not_a_midpoint_histogram() -> None:
    # 10 values known only to lie in [0, 10): a midpoint histogram piles them into one bin
    h = interval_histogram(np.zeros(10), np.full(10, 10.0), bins=np.arange(0, 11, 1.0))
    np.testing.assert_allclose(h["mass"], np.ones(10))


def test_lab_histogram_bins_every_group_on_shared_edges() -> None:
    import pandas as pd

    from covidimg.stats import lab_histogram

    values = pd.DataFrame({"lower": [0.0, 1.0, 3.0, -INF, 2.0],
                           "upper": [2.0, 1.0, INF, 0.5, 2.0],
                           "group": ["a", "a", "a", "b", "b"], "count": [1, 2, 1, 3, 1]})
    hist = lab_histogram(values, "crp", bins=2)
    # finite bounds span 0 to 3 (the limits 0.5 and 3 included): edges 0, 1.5, 3
    np.testing.assert_allclose(hist.edges, [0.0, 1.5, 3.0])
    a = hist.bins[hist.bins["group"] == "a"].set_index("kind")
    # a: [0, 2) spread 3/4 and 1/4, the exact 1 twice, one value above 3
    np.testing.assert_allclose(a.loc["bin", "mass"], [0.75 + 2, 0.25])
    assert a.loc["above", "mass"] == 1 and a.loc["above", "left"] == 3.0
    b = hist.bins[hist.bins["group"] == "b"].set_index("kind")
    np.testing.assert_allclose(b.loc["bin", "mass"], [0.0, 1.0])
    assert b.loc["below", "mass"] == 3 and b.loc["below", "share"] == 0.75
    assert hist.groups.to_dict("list") == {"group": ["a", "b"], "n_values": [4, 4]}
    assert hist.reference == (-INF, 5.0) and hist.unit == "mg/L"
    with pytest.raises(ValueError, match="analyte=None, but the values hold analytes"):
        lab_histogram(values)
