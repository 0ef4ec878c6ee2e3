"""Kaplan–Meier, log-rank and RMST against lifelines 0.30.3, and by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from abkit.errors import StatsError
from abkit.stats.survival import compare_rmst, kaplan_meier, logrank, rmst

# Reference data: discrete churn days (event 1) or censoring days (event 0), 15 units per arm.
T_C = np.array([1, 1, 2, 3, 3, 4, 5, 5, 6, 8, 8, 9, 10, 10, 10])
E_C = np.array([1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 0])
T_T = np.array([1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10, 10, 10])
E_T = np.array([1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0])

# lifelines 0.30.3:
#   k = KaplanMeierFitter().fit(T_C, E_C)          # default alpha 0.05, log(-log) intervals
#   k.survival_function_, k.confidence_interval_   # at event times 1, 2, 3, 4, 5, 6, 8, 9
LL_S = [
    0.8666666666666667,
    0.8,
    0.7333333333333334,
    0.66,
    0.5866666666666664,
    0.5028571428571428,
    0.41904761904761895,
    0.3142857142857142,
]
LL_LO = [
    0.5639120057089515,
    0.49982398165575437,
    0.43620820235527236,
    0.36468996685336674,
    0.2995509714186486,
    0.2263651571505569,
    0.16302019829040854,
    0.08891768119200372,
]
LL_HI = [
    0.9648844959164715,
    0.9307172940541175,
    0.8905199314372404,
    0.8426844976077469,
    0.7898355876655931,
    0.7275226234128974,
    0.6589799927702454,
    0.5748859199673881,
]
#   logrank_test(T_C, T_T, E_C, E_T) -> test_statistic, p_value
LL_LOGRANK = (0.2686370015482874, 0.6042475519305799)
#   restricted_mean_survival_time(k, t=10) for each arm
LL_RMST = (6.385714285714285, 7.198290598290598)


def _aggregate(t, e):
    pairs, counts = np.unique(np.stack([t, e]), axis=1, return_counts=True)
    return pairs[0], pairs[1], counts


def test_kaplan_meier_matches_lifelines_on_rows_and_on_counts():
    km = kaplan_meier(T_C, E_C)
    assert km.times == (1, 2, 3, 4, 5, 6, 8, 9)
    assert_allclose(km.survival, LL_S, rtol=1e-12)
    assert_allclose(km.ci_lower, LL_LO, rtol=1e-10)
    assert_allclose(km.ci_upper, LL_HI, rtol=1e-10)
    agg = kaplan_meier(*_aggregate(T_C, E_C))
    assert_allclose(agg.survival, km.survival, rtol=1e-12)
    assert_allclose(agg.ci_lower, km.ci_lower, rtol=1e-12)
    assert km.survival_at(0.5) == 1.0 and km.survival_at(7) == pytest.approx(LL_S[5])


def test_logrank_matches_lifelines():
    t = np.concatenate([T_C, T_T])
    e = np.concatenate([E_C, E_T])
    g = np.array(["c"] * 15 + ["t"] * 15)
    r = logrank(t, e, g)
    assert_allclose([r.statistic, r.pvalue], LL_LOGRANK, rtol=1e-9)


def test_rmst_matches_lifelines():
    assert_allclose(rmst(T_C, E_C, tau=10)[0], LL_RMST[0], rtol=1e-12)
    assert_allclose(rmst(*_aggregate(T_T, E_T), tau=10)[0], LL_RMST[1], rtol=1e-12)
    d = compare_rmst(_aggregate(T_C, E_C), _aggregate(T_T, E_T), tau=10)
    assert_allclose(d.difference, LL_RMST[1] - LL_RMST[0], rtol=1e-12)


def test_rmst_variance_without_censoring_is_variance_of_min_t_tau_over_n():
    # with no censoring before tau, the estimator's variance (Klein–Moeschberger) equals
    # the plug-in variance of min(T, tau) divided by n
    rng = np.random.default_rng(1234)
    t = rng.integers(1, 30, size=200)
    e = np.ones_like(t)
    m, v = rmst(t, e, tau=20)
    x = np.minimum(t, 20)
    assert_allclose(m, x.mean(), rtol=1e-12)
    assert_allclose(v, x.var() / x.size, rtol=1e-10)


@pytest.mark.slow
def test_rmst_difference_is_calibrated():
    # A/A: geometric churn days with random censoring; the 95% interval of the RMST difference
    # should cover 0 about 95% of the time.
    rng = np.random.default_rng(1234)
    reps, n, tau, cover = 1500, 400, 20, 0
    for _ in range(reps):
        arms = []
        for _arm in range(2):
            churn = rng.geometric(0.08, size=n)
            cens = rng.integers(5, 40, size=n)
            t = np.minimum(churn, cens)
            e = (churn <= cens).astype(int)
            arms.append(_aggregate(t, e))
        r = compare_rmst(arms[0], arms[1], tau=tau)
        cover += r.ci_lower <= 0 <= r.ci_upper
    assert 0.935 <= cover / reps <= 0.965


def test_bad_survival_input():
    with pytest.raises(StatsError, match="same length"):
        kaplan_meier([1, 2], [1])
    with pytest.raises(StatsError, match="0 \\(censored\\) or 1"):
        kaplan_meier([1, 2], [1, 2])
    with pytest.raises(StatsError, match="non-negative"):
        kaplan_meier([-1, 2], [1, 1])
    with pytest.raises(StatsError, match="no units"):
        kaplan_meier([], [])
    with pytest.raises(StatsError, match="two groups"):
        logrank([1, 2], [1, 1], ["a", "a"])
    with pytest.raises(StatsError, match="tau"):
        rmst([1, 2], [1, 1], tau=0)
    assert logrank([1, 2], [0, 0], ["a", "b"]).pvalue == 1.0
