"""Kaplan–Meier, log-rank and RMST against lifelines 0.30.3, and by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from abkit.errors import StatsError
from abkit.stats.cox import cox_efron, schoenfeld_sums
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


# ----------------------------------------------------------------------------- grouped rows
# The references below are computed in the test by statsmodels 0.15.0 on the rows repeated
# ``counts`` times (one row per unit): ``PHReg(ties="efron")`` and ``survdiff``. abkit works on
# the counts directly; the numbers must be the same up to rounding.


def _grouped(seed, n_rows=300, strata=False):
    """Count rows with heavy ties: whole-day times 0..7, a variant indicator, a 4-level
    categorical attribute as indicators, a numeric attribute; 0..39 units per row."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 4, n_rows)
    x = np.column_stack(
        [rng.integers(0, 2, n_rows), level == 1, level == 2, level == 3, rng.integers(0, 5, n_rows)]
    ).astype(float)
    hazard = 0.25 * np.exp(x @ np.array([-0.2, 0.3, 0.0, 0.5, 0.1]))
    t = np.minimum(rng.geometric(np.minimum(hazard, 0.9)) - 1, 7).astype(float)
    e = ((t < 7) & (rng.random(n_rows) < 0.9)).astype(int)
    w = rng.integers(0, 40, n_rows)
    s = rng.choice(["ios", "android", "web"], n_rows) if strata else None
    return t, e, x, w, s


@pytest.mark.parametrize("strata", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cox_efron_on_counts_is_phreg_on_the_expanded_rows(seed, strata):
    from statsmodels.duration.hazard_regression import PHReg

    t, e, x, w, s = _grouped(seed, strata=strata)
    fit = cox_efron(t, e, x, weights=w, strata=s)
    rows = PHReg(
        np.repeat(t, w),
        np.repeat(x, w, axis=0),
        status=np.repeat(e, w),
        ties="efron",
        strata=None if s is None else np.repeat(s, w),
    )
    ref = rows.fit(method="newton", tol=1e-12, maxiter=100)
    assert fit.converged and fit.iterations < 20
    assert_allclose(fit.params, ref.params, rtol=1e-8)
    assert_allclose(fit.cov, ref.cov_params(), rtol=1e-8)
    assert_allclose(fit.se, ref.bse, rtol=1e-8)
    assert_allclose(fit.loglik, rows.loglike(ref.params), rtol=1e-10)


def test_cox_efron_depends_on_units_not_on_rows():
    # one row of 10 units is the same as 10 rows of one unit, or rows of 3 + 7; empty rows and
    # what they hold (here a NaN covariate) are ignored
    t, e, x, w, _ = _grouped(4, n_rows=60)
    fit = cox_efron(t, e, x, weights=w)
    split = np.minimum(w, 3)
    tt, ee = np.concatenate([t, t, [2.0]]), np.concatenate([e, e, [1]])
    xx = np.vstack([x, x, np.full((1, 5), np.nan)])
    again = cox_efron(tt, ee, xx, weights=np.concatenate([split, w - split, [0]]))
    assert_allclose(again.params, fit.params, rtol=1e-10)
    assert_allclose(again.cov, fit.cov, rtol=1e-10)
    ones = cox_efron(np.repeat(t, w), np.repeat(e, w), np.repeat(x, w, axis=0))
    assert_allclose(ones.params, fit.params, rtol=1e-10)
    assert_allclose(ones.loglik, fit.loglik, rtol=1e-12)


def test_cox_efron_in_pieces_is_the_same(monkeypatch):
    # the Efron terms are evaluated in pieces of at most _PIECE (memory); a churn time whose
    # terms span pieces adds its parts — cut into pieces of 7 terms, nothing changes
    from abkit.stats import cox

    t, e, x, w, s = _grouped(6, strata=True)
    whole = cox_efron(t, e, x, weights=w, strata=s)
    monkeypatch.setattr(cox, "_PIECE", 7)
    pieces = cox_efron(t, e, x, weights=w, strata=s)
    assert len(cox._pieces(np.array([3, 20, 1]))) == 4
    assert_allclose(pieces.params, whole.params, rtol=1e-12)
    assert_allclose(pieces.cov, whole.cov, rtol=1e-12)
    assert_allclose(pieces.loglik, whole.loglik, rtol=1e-13)


def test_schoenfeld_sums_are_the_efron_score_per_time():
    # at the maximum the score, Σ over times of the Schoenfeld sums, is zero; at β = 0 with one
    # covariate the sum at a time is Σ x − Σ_l (R1 − l/m·D1)/(R0 − l/m·D0), here by hand
    t, e, x, w, s = _grouped(5, strata=True)
    fit = cox_efron(t, e, x, weights=w, strata=s)
    code, times, m, sums = schoenfeld_sums(t, e, x, fit.params, weights=w, strata=s)
    assert_allclose(sums.sum(axis=0), 0.0, atol=1e-8)
    assert list(code) == sorted(code) and m.sum() == w @ e
    _, times, m, sums = schoenfeld_sums([1, 2, 2, 2, 3], [1, 1, 1, 0, 1], [1, 1, 0, 1, 0], [0.0])
    # time 2: R0 = 4, R1 = 2 (x 1, 0, 1, 0), churned D0 = 2, D1 = 1: 1 − (2/4 + 1.5/3)
    assert_allclose(sums[:, 0], [1 - 3 / 5, 1 - (2 / 4 + 1.5 / 3), 0.0], atol=1e-15)
    assert times.tolist() == [1, 2, 3] and m.tolist() == [1, 2, 1]


def test_cox_efron_failures_are_stats_errors():
    t, e = [1, 1, 1, 2, 3, 4, 5], [1, 1, 1, 1, 1, 1, 0]
    first = np.array([1.0, 1, 1, 0, 0, 0, 0])  # these units churn first, all of them: β → ∞
    with pytest.raises(StatsError, match=r"did not converge.*'early'.*separate"):
        cox_efron(t, e, first, names=["early"])
    x = np.column_stack([[0.0, 1, 0, 1, 0, 1, 1], [1.0, 0, 1, 1, 0, 1, 0]])
    with pytest.raises(StatsError, match=r"cannot estimate \['b'\]: no variation"):
        cox_efron(t, e, np.column_stack([x[:, 0], np.ones(7)]), names=["a", "b"])
    with pytest.raises(StatsError, match=r"\['a', 'b', 'c'\] are collinear"):
        cox_efron(t, e, np.column_stack([x, x[:, 0] + x[:, 1]]), names=["a", "b", "c"])
    with pytest.raises(StatsError, match="no events"):
        cox_efron(t, np.zeros(7), x)
    with pytest.raises(StatsError, match="whole numbers"):
        cox_efron(t, e, x, weights=np.full(7, 0.5))
    with pytest.raises(StatsError, match="one length"):
        cox_efron(t[:3], e, x)
    with pytest.raises(StatsError, match="finite"):
        cox_efron(t, e, np.where(x == 1, np.inf, 0.0))


@pytest.mark.parametrize("k", [2, 3, 4])
def test_logrank_on_counts_is_survdiff_on_the_expanded_rows(k):
    from statsmodels.duration.survfunc import survdiff

    t, e, x, w, _ = _grouped(10 + k)
    g = np.array(["control", "a", "b", "c"])[np.minimum(x[:, 1:4] @ [1, 2, 3], k - 1).astype(int)]
    r = logrank(t, e, g, w)
    stat, p = survdiff(np.repeat(t, w), np.repeat(e, w), np.repeat(g, w))
    assert r.df == k - 1 and r.note is None
    assert_allclose(r.statistic, stat, rtol=1e-10)
    # survdiff's p is 1 − cdf, abkit's the survival function: the same but far in the tail
    assert_allclose(r.pvalue, stats.chi2.sf(stat, k - 1), rtol=1e-12)
    assert_allclose(r.pvalue, p, rtol=1e-8, atol=1e-15)
    # a weak effect (one unit a row): a p-value far from 0 agrees to the last digits
    r1 = logrank(t, e, g, np.minimum(w, 1))
    stat1, p1 = survdiff(t[w > 0], e[w > 0], g[w > 0])
    assert_allclose([r1.statistic, r1.pvalue], [stat1, p1], rtol=1e-10)


def test_logrank_without_variance_says_so():
    # every unit churns at the one time: survdiff's variance is 0 (np.linalg.solve refuses)
    r = logrank([2, 2, 2], [1, 1, 1], ["a", "b", "b"], [4, 0, 3])
    assert (r.statistic, r.pvalue, r.df) == (None, None, 1) and "no variation" in r.note
    with pytest.raises(StatsError, match="two groups"):  # a group of no units is no group
        logrank([1, 2], [1, 1], ["a", "b"], [3, 0])
