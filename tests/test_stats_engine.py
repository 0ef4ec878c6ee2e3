"""Statistics engine (issue 5): reference values with provenance for every method.

Reference numbers: ``tests/reference/stats_engine.py`` (regenerate with ``stats_engine_make.py``
next to it); each block there names the statsmodels / scipy call, closed form or published table.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from abkit.errors import StatsError
from abkit.stats import (
    adjust_pvalues,
    always_valid_test,
    bayes_means,
    bayes_proportions,
    compare_means,
    compare_proportions,
    compare_ratios,
    cuped,
    duration_days,
    group_sequential_boundaries,
    mde_means,
    mde_proportions,
    newcombe_interval,
    noninferiority_means,
    noninferiority_proportions,
    noninferiority_ratios,
    power_means,
    power_proportions,
    ratio_moments,
    relative_lift,
    sample_size_means,
    sample_size_proportions,
    spending_function,
)


def _load(name: str) -> ModuleType:
    path = Path(__file__).parent / "reference" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_abkit_reference_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _load("stats_engine")
RTOL = 1e-9


# --- exact tests and Newcombe ------------------------------------------------------------------


@pytest.mark.parametrize("case", REF.NEWCOMBE, ids=lambda c: f"{c['args']}-{c['alternative']}")
def test_newcombe_matches_statsmodels(case: dict) -> None:
    got = newcombe_interval(*case["args"], alpha=case["alpha"], alternative=case["alternative"])
    assert_allclose(got, case["ci"], rtol=RTOL)
    r = compare_proportions(
        *case["args"], alpha=case["alpha"], alternative=case["alternative"], ci_method="newcombe"
    )
    assert_allclose((r.abs_lift_ci_lower, r.abs_lift_ci_upper), case["ci"], rtol=RTOL)
    assert "Newcombe" in r.method


@pytest.mark.parametrize("case", REF.EXACT, ids=lambda c: f"{c['args']}-{c['alternative']}")
@pytest.mark.parametrize("method", ["fisher", "barnard", "boschloo"])
def test_exact_tests_match_scipy(case: dict, method: str) -> None:
    r = compare_proportions(*case["args"], alternative=case["alternative"], method=method)
    assert_allclose((r.statistic, r.pvalue), case[method], rtol=RTOL)
    assert "Newcombe" in r.method  # exact tests default to the Newcombe interval


def test_auto_chooses_fisher_only_for_small_expected_cells() -> None:
    small = compare_proportions(1, 12, 6, 11, method="auto")
    assert small.method.startswith("Fisher") and "expected cell" in (small.note or "")
    assert small.pvalue == pytest.approx(REF.EXACT[0]["fisher"][1], rel=RTOL)
    large = compare_proportions(100, 1000, 130, 1000, method="auto")
    assert large.method.startswith("two-proportion z-test (unpooled SE)")
    assert large.pvalue == compare_proportions(100, 1000, 130, 1000).pvalue


def test_exact_tests_handle_all_zero_tables() -> None:
    assert compare_proportions(0, 10, 0, 12, method="fisher").pvalue is None
    r = compare_proportions(0, 10, 10, 10, method="fisher")
    assert r.pvalue is not None and r.pvalue < 1e-4
    assert r.abs_lift_ci_lower is not None and 0 < r.abs_lift_ci_lower < 1  # Newcombe, not Wald


# --- ratio metrics -----------------------------------------------------------------------------


def test_ratio_delta_matches_linearisation_on_raw_data() -> None:
    for arm in REF.RATIO:
        ratio, var = ratio_moments(arm["sums"])
        assert_allclose((ratio, var), (arm["ratio"], arm["var"]), rtol=1e-10)
    r = compare_ratios(REF.RATIO[0]["sums"], REF.RATIO[1]["sums"])
    ref = REF.RATIO_COMPARE
    assert_allclose((r.statistic, r.pvalue), (ref["statistic"], ref["pvalue"]), rtol=1e-9)
    assert_allclose((r.abs_lift_ci_lower, r.abs_lift_ci_upper), ref["ci"], rtol=1e-9)
    rc, vc = ratio_moments(REF.RATIO[0]["sums"])
    rt, vt = ratio_moments(REF.RATIO[1]["sums"])
    assert (r.rel_lift, r.rel_lift_ci_lower, r.rel_lift_ci_upper) == relative_lift(rc, vc, rt, vt)


def test_ratio_edge_cases() -> None:
    r = compare_ratios((0.0, 0.0, 0.0, 0.0, 0.0, 5), (3.0, 4.0, 5.0, 6.0, 5.0, 5))
    assert r.pvalue is None and "denominator sum is 0 in control" in (r.note or "")
    r = compare_ratios((1.0, 1.0, 1.0, 1.0, 1.0, 1), (3.0, 4.0, 5.0, 6.0, 5.0, 5))
    assert r.pvalue is None and "fewer than 2 units in control" in (r.note or "")
    with pytest.raises(StatsError, match=r"control\.sum_x2"):
        compare_ratios((1.0, 1.0, -1.0, 1.0, 1.0, 3), (3.0, 4.0, 5.0, 6.0, 5.0, 5))
    with pytest.raises(StatsError, match="got 5 values"):
        compare_ratios((1.0, 1.0, 1.0, 1.0, 3), (3.0, 4.0, 5.0, 6.0, 5.0, 5))


# --- CUPED -------------------------------------------------------------------------------------


def test_cuped_matches_ols_and_welch_on_adjusted_rows() -> None:
    ref = REF.CUPED
    r = cuped(ref["control"], ref["treatment"])
    assert r.theta is not None
    assert_allclose(r.theta, ref["theta"], rtol=1e-9)
    assert_allclose(r.comparison.abs_lift, ref["effect"], rtol=1e-9)
    assert_allclose(
        (r.comparison.statistic, r.comparison.pvalue), (ref["statistic"], ref["pvalue"]), rtol=1e-8
    )
    ci = (r.comparison.abs_lift_ci_lower, r.comparison.abs_lift_ci_upper)
    assert_allclose(ci, ref["ci"], rtol=1e-9)
    assert_allclose(r.pre_imbalance.pvalue, ref["pre_pvalue"], rtol=1e-9)
    assert_allclose(r.variance_reduction, ref["variance_reduction"], rtol=1e-9)
    assert r.variance_reduction is not None and r.variance_reduction > 0.5
    assert not r.imbalanced and r.comparison.method.startswith("CUPED")


def test_cuped_flags_pre_period_imbalance_and_degenerate_covariate() -> None:
    c = (1000, 5000.0, 30000.0, 1000.0, 2000.0, 5500.0)
    t = (1000, 6000.0, 42000.0, 1500.0, 3250.0, 9400.0)
    r = cuped(c, t)
    assert r.imbalanced and "pre-period imbalance" in (r.note or "")
    flat = cuped((10, 50.0, 300.0, 10.0, 10.0, 50.0), (10, 60.0, 400.0, 10.0, 10.0, 60.0))
    assert flat.theta is None and flat.comparison == flat.unadjusted
    assert "no CUPED adjustment" in (flat.note or "")


# --- Bayes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", REF.BAYES_BETA, ids=lambda c: str(c["args"]))
def test_beta_binomial_matches_closed_form(case: dict) -> None:
    r = bayes_proportions(*case["args"], n_draws=20_000, rng=1234)
    assert_allclose(r.chance_to_beat, case["chance_to_beat"], rtol=1e-8, atol=1e-12)
    assert_allclose(r.expected_loss_treatment, case["loss_treatment"], rtol=1e-7, atol=1e-13)
    assert_allclose(r.expected_loss_control, case["loss_control"], rtol=1e-7, atol=1e-13)
    # MC credible interval: reproducible for a seed, and close to the normal approximation.
    again = bayes_proportions(*case["args"], n_draws=20_000, rng=1234)
    assert again == r
    assert r.abs_lift_ci_lower is not None and r.abs_lift_ci_upper is not None
    assert r.abs_lift_ci_lower < r.abs_lift < r.abs_lift_ci_upper


@pytest.mark.parametrize("case", REF.BAYES_NORMAL, ids=lambda c: str(c["args"][:3]))
def test_normal_model_matches_quadrature(case: dict) -> None:
    r = bayes_means(*case["args"])
    assert_allclose(r.chance_to_beat, case["chance_to_beat"], rtol=1e-12)
    assert_allclose(r.expected_loss_treatment, case["loss_treatment"], rtol=1e-9)
    assert_allclose(r.expected_loss_control, case["loss_control"], rtol=1e-9)
    assert_allclose((r.abs_lift_ci_lower, r.abs_lift_ci_upper), case["ci"], rtol=1e-12)


def test_normal_prior_shrinks_towards_prior_mean() -> None:
    flat = bayes_means(10.0, 4.0, 100, 10.5, 4.0, 100)
    tight = bayes_means(10.0, 4.0, 100, 10.5, 4.0, 100, prior_mean=0.0, prior_var=0.08)
    # posterior mean = (0/0.08 + 0.5/0.08) / (2/0.08) = 0.25 exactly
    assert tight.abs_lift == pytest.approx(0.25, rel=1e-12)
    assert tight.chance_to_beat is not None and flat.chance_to_beat is not None
    assert tight.chance_to_beat < flat.chance_to_beat
    assert bayes_means(1.0, 1.0, 1, 1.0, 1.0, 10).chance_to_beat is None
    with pytest.raises(StatsError, match="prior"):
        bayes_proportions(1, 10, 2, 10, prior=(0.0, 1.0))


# --- sequential --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", REF.ALWAYS_VALID, ids=lambda c: str(c["args"]))
def test_always_valid_matches_high_precision_formula(case: dict) -> None:
    r = always_valid_test(*case["args"], alpha=case["alpha"], tuning=case["tuning"])
    assert_allclose(r.rho, case["rho"], rtol=1e-13)
    assert_allclose((r.ci_lower, r.ci_upper), case["ci"], rtol=1e-12)
    assert_allclose(r.pvalue, case["pvalue"], rtol=1e-11)


def test_always_valid_reproduces_growthbook_published_fixture() -> None:
    # gbstats tests/frequentist/test_tests.py::TestSequentialTTest::test_sequential_test_runs:
    # SampleMeanStatistic(sum=1396.87, sum_squares=52377.9767, n=3000) vs (2422.7, 134698.29, 3461),
    # tuning 1000, relative lift → expected 0.50336, ci [-0.55844, 1.56516], p-value 1.
    stats_ = []
    for s, ss, n in ((1396.87, 52377.9767, 3000), (2422.7, 134698.29, 3461)):
        mean = s / n
        stats_.append((mean, (ss - s * s / n) / (n - 1) / n))
    (mc, vmc), (mt, vmt) = stats_
    est = mt / mc - 1
    se = math.sqrt(vmt / mc**2 + mt**2 * vmc / mc**4)
    r = always_valid_test(est, se, 3000 + 3461, tuning=1000)
    assert round(r.estimate, 5) == 0.50336
    assert (round(r.ci_lower or 0, 5), round(r.ci_upper or 0, 5)) == (-0.55844, 1.56516)
    assert r.pvalue == 1.0


# Published Lan–DeMets boundaries, two-sided alpha = 0.05, five equally spaced looks
# (R ldbounds::bounds(seq(0.2, 1, 0.2), iuse=c(1,1) / c(2,2), alpha=c(0.025, 0.025)); the same in
# gsDesign with sfLDOF / sfLDPocock and Jennison & Turnbull (2000) table 2.x).
LDBOUNDS_OF = (4.8769, 3.3569, 2.6803, 2.2898, 2.0310)
LDBOUNDS_POCOCK = (2.4380, 2.4268, 2.4101, 2.3966, 2.3859)


@pytest.mark.parametrize(
    ("spending", "published"),
    [("obrien-fleming", LDBOUNDS_OF), ("pocock", LDBOUNDS_POCOCK)],
)
def test_group_sequential_matches_published_boundaries(spending: str, published: tuple) -> None:
    d = group_sequential_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], spending=spending)
    assert_allclose(d.boundaries, published, atol=2e-4)  # tables give 4 decimals
    one = group_sequential_boundaries(
        [0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.025, spending=spending, alternative="greater"
    )
    # A one-sided design at alpha/2 is nearly the two-sided one; the two-sided recursion also
    # removes paths that left through the lower boundary, hence the small difference.
    assert_allclose(one.boundaries, d.boundaries, atol=5e-5)


@pytest.mark.parametrize("spending", ["obrien-fleming", "pocock"])
def test_group_sequential_spends_alpha_exactly(spending: str) -> None:
    # Independent check with scipy's multivariate normal CDF (Genz): Z_k at information t_k has
    # corr(Z_j, Z_k) = sqrt(t_j / t_k). P(no crossing by look K) must be 1 - alpha(t_K).
    t = np.array([0.3, 0.65, 1.0])
    d = group_sequential_boundaries(t, spending=spending)
    cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    c = np.array(d.boundaries)
    for k in range(1, len(t) + 1):
        mvn = stats.multivariate_normal(
            mean=np.zeros(k), cov=cov[:k, :k], seed=1234, abseps=1e-11, releps=1e-11,
            maxpts=5_000_000,
        )  # fmt: skip
        stay = mvn.cdf(c[:k], lower_limit=-c[:k])
        spent = spending_function(t[k - 1], spending=spending)
        assert_allclose(1 - stay, spent, atol=2e-7)


def test_group_sequential_first_crossing_and_errors() -> None:
    d = group_sequential_boundaries([0.5, 1.0])
    assert d.first_crossing([3.5, 0.0]) == 0
    assert d.first_crossing([2.0, -2.1]) == 1
    assert d.first_crossing([1.0, 1.0]) is None
    with pytest.raises(StatsError, match="strictly increasing"):
        group_sequential_boundaries([0.5, 0.5])
    with pytest.raises(StatsError, match="spending"):
        group_sequential_boundaries([1.0], spending="haybittle")


# --- multiple testing --------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(REF.MULTI))
def test_multiple_testing_matches_statsmodels(method: str) -> None:
    adjusted, reject = REF.MULTI[method]
    r = adjust_pvalues(REF.MULTI_P, method=method)
    assert_allclose(r.adjusted, adjusted, rtol=1e-12)
    assert list(r.reject) == reject


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_direct_paths_equal_statsmodels_on_random_input(method: str) -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(1234)
    for size in (1, 2, 7, 30, 200):
        p = rng.uniform(0, 0.2, size=size)
        p[size // 2] = p[0]  # ties
        rej, adj, _, _ = multipletests(p, alpha=0.05, method=method)
        r = adjust_pvalues(list(p), method=method)
        assert_allclose(r.adjusted, adj, rtol=1e-14)
        assert list(r.reject) == list(rej)


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_direct_paths_decide_like_statsmodels_at_the_boundary(method: str) -> None:
    # p-values on the rejection thresholds themselves (alpha * i / m, alpha / (m - i + 1)), where
    # comparing a rounded adjusted value with alpha can flip a decision: e.g. BH on
    # [0.05, 0.05, 0.05] rejects all three in statsmodels 0.14/0.15
    from statsmodels.stats.multitest import multipletests

    cases = [([0.05, 0.05, 0.05], 0.05), ([0.01, 0.02, 0.03, 0.04, 0.05], 0.05)]
    for m in (1, 2, 3, 5, 7, 10, 13, 21, 34):
        for alpha in (0.05, 0.1):
            cases.append(([alpha * i / m for i in range(1, m + 1)], alpha))
            cases.append(([alpha / (m - i) for i in range(m)], alpha))
    for p, alpha in cases:
        rej, adj, _, _ = multipletests(p, alpha=alpha, method=method)
        r = adjust_pvalues(p, method=method, alpha=alpha)
        assert list(r.reject) == list(rej), (p, alpha)
        assert_allclose(r.adjusted, adj, rtol=1e-15, atol=0)


def test_primary_metric_is_left_uncorrected() -> None:
    p = [0.03, 0.01, 0.02, None]
    r = adjust_pvalues(p, method="bonferroni", names=["d7", "d1", "rev", "d30"], primary="d7")
    assert r.adjusted[0] == 0.03 and r.reject[0]
    assert r.adjusted[1:3] == (0.02, 0.04) and r.adjusted[3] is None  # two tests corrected
    assert r.primary == "d7" and not r.reject[3]
    with pytest.raises(StatsError, match="not one of names"):
        adjust_pvalues(p, names=["a", "b", "c", "d"], primary="x")
    with pytest.raises(StatsError, match="pvalues\\[0\\]"):
        adjust_pvalues([1.5])


# --- power -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", REF.POWER_PROPORTIONS, ids=lambda c: str(c["baseline"]))
def test_power_proportions_matches_closed_form(case: dict) -> None:
    r = power_proportions(
        case["baseline"],
        case["mde"],
        case["nobs_control"],
        ratio=case["ratio"],
        alpha=case["alpha"],
    )
    assert_allclose(r.power, case["power"], rtol=1e-10)


@pytest.mark.parametrize("case", REF.POWER_MEANS, ids=lambda c: str(c["nobs_control"]))
def test_power_means_matches_statsmodels(case: dict) -> None:
    r = power_means(
        case["baseline"], case["sd"], case["mde_abs"], case["nobs_control"], relative=False
    )
    assert_allclose(r.power, case["power"], rtol=1e-10)


def test_sample_size_mde_duration_roundtrip() -> None:
    n = sample_size_proportions(0.40, 0.05)
    assert n.nobs_control == REF.SAMPLE_SIZE_40PCT_5PCT and n.power >= 0.8
    assert power_proportions(0.40, 0.05, n.nobs_control - 1).power < 0.8
    m = mde_proportions(0.40, n.nobs_control)
    assert m.mde_rel is not None and 0.0499 < m.mde_rel <= 0.05
    assert_allclose(
        power_proportions(0.40, m.mde_abs, n.nobs_control, relative=False).power, 0.8, rtol=1e-9
    )
    # CUPED: a 30 % variance reduction cuts the sample by 30 % (up to rounding)
    cut = sample_size_proportions(0.40, 0.05, variance_reduction=0.3)
    assert abs(cut.nobs_control / n.nobs_control - 0.7) < 1e-3
    # Day-7 retention: 2 × 9490 units at 2000/day → 10 days of enrolment, 8 days to mature.
    d7 = sample_size_proportions(0.40, 0.05, daily_units=2000, metric_day=7)
    assert (d7.enrollment_days, d7.duration_days) == (10, 18)
    assert duration_days(100, 10) == 10 and duration_days(101, 10, metric_day=0) == 12
    mm = mde_means(50.0, 100.0, 6281)
    assert_allclose(
        power_means(50.0, 100.0, mm.mde_abs, 6281, relative=False).power, 0.8, rtol=1e-8
    )
    assert sample_size_means(50.0, 100.0, 0.1).nobs_control == 6281
    assert sample_size_proportions(0.4, -0.05, alternative="less").nobs_control < n.nobs_control
    with pytest.raises(StatsError, match="wrong sign"):
        sample_size_proportions(0.4, -0.05, alternative="greater")
    with pytest.raises(StatsError, match="variance_reduction"):
        sample_size_proportions(0.4, 0.05, variance_reduction=1.0)
    with pytest.raises(StatsError, match="baseline"):
        sample_size_proportions(1.4, 0.05)


# --- non-inferiority ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", REF.NI_PROPORTIONS, ids=lambda c: str(c["args"]))
def test_noninferiority_proportions_matches_statsmodels(case: dict) -> None:
    r = noninferiority_proportions(
        *case["args"], margin=case["margin"], higher_is_better=case["higher_is_better"]
    )
    assert_allclose((r.statistic, r.pvalue), (case["statistic"], case["pvalue"]), rtol=1e-9)
    assert r.passed == (case["pvalue"] < 0.05)
    assert r.bound is not None
    # The one-sided bound sits inside the margin exactly when the test passes.
    inside = r.bound > -case["margin"] if case["higher_is_better"] else r.bound < case["margin"]
    assert inside == r.passed


def test_noninferiority_means_matches_statsmodels() -> None:
    ref = REF.NI_MEANS
    r = noninferiority_means(*ref["args"], margin=ref["margin"])
    assert_allclose((r.statistic, r.pvalue), (ref["statistic"], ref["pvalue"]), rtol=1e-9)
    assert r.passed == (ref["pvalue"] < 0.05)
    rel = noninferiority_means(*ref["args"], margin=0.05, relative=True)
    assert rel.relative and rel.pvalue is not None
    fail = noninferiority_proportions(4000, 10000, 3700, 10000, margin=0.01)
    assert fail.passed is False
    none = noninferiority_proportions(0, 1, 0, 10, margin=0.01)
    assert none.passed is None and none.pvalue is None
    with pytest.raises(StatsError, match="margin"):
        noninferiority_proportions(1, 10, 1, 10, margin=-0.1)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_noninferiority_ratios_matches_the_linearization_from_unit_data(
    higher_is_better: bool,
) -> None:
    # Reference computed independently from unit rows, not from the five sums: the ratio's
    # variance by linearization, Var(R) ~ Var(x_i - R y_i) / (n ybar^2) (Deng, Knoblich & Lu
    # 2018, "Applying the Delta Method in Metric Analytics", KDD, section 3), and the one-sided
    # p-value from scipy.stats.norm.
    from scipy import stats

    rng = np.random.default_rng(7)
    arms = []
    for r, n in ((2.0, 900), (1.96, 1100)):
        y = 1.0 + rng.poisson(2.0, size=n)
        arms.append((rng.normal(r * y, np.sqrt(y)), y))

    def ratio_and_var(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        ratio = x.sum() / y.sum()
        lin = (x - ratio * y) / y.mean()
        return ratio, lin.var(ddof=1) / len(x)

    (rc, vc), (rt, vt) = (ratio_and_var(x, y) for x, y in arms)
    margin = 0.1
    shift = margin if higher_is_better else -margin
    z = (rt - rc + shift) / np.sqrt(vc + vt)
    p = stats.norm.sf(z) if higher_is_better else stats.norm.cdf(z)
    sums = [
        (x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum(), len(x)) for x, y in arms
    ]
    res = noninferiority_ratios(*sums, margin=margin, higher_is_better=higher_is_better)
    assert_allclose((res.statistic, res.pvalue), (z, p), rtol=1e-9)
    assert res.passed == (p < 0.05)
    assert res.bound is not None
    inside = res.bound > -margin if higher_is_better else res.bound < margin
    assert inside == res.passed
    rel = noninferiority_ratios(*sums, margin=0.05, relative=True)
    assert rel.relative and rel.pvalue is not None
    empty = noninferiority_ratios((0, 0, 0, 0, 0, 1), sums[1], margin=0.1)
    assert empty.passed is None and empty.pvalue is None


def test_compare_means_consistent_with_noninferiority_at_zero_margin_limit() -> None:
    base = compare_means(10.0, 4.0, 500, 10.2, 4.0, 500, alternative="greater")
    ni = noninferiority_means(10.0, 4.0, 500, 10.2, 4.0, 500, margin=1e-12)
    assert ni.pvalue == pytest.approx(base.pvalue, rel=1e-9)
