"""Core comparisons: proportions, means, relative lift, moments from sums, SRM.

Reference values live in ``tests/reference/stats_core.py`` with the statsmodels / scipy call that
produced each number (regenerate with ``tests/reference/stats_core_make.py``).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from abkit.errors import StatsError
from abkit.stats import (
    Comparison,
    compare_means,
    compare_proportions,
    moments_from_sums,
    relative_lift,
    srm_test,
)


def _load_reference(name: str) -> ModuleType:
    path = Path(__file__).parent / "reference" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_abkit_reference_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _load_reference("stats_core")
COOKIE_CSV = Path(__file__).parents[1].parent / "shared" / "data" / "cookie_cats.csv"
RTOL = 1e-10


def _bounds(r: Comparison) -> tuple[float | None, float | None]:
    return r.abs_lift_ci_lower, r.abs_lift_ci_upper


# ---------------------------------------------------------------------------------------------
# Reference values


@pytest.mark.parametrize("case", REF.PROPORTIONS, ids=lambda c: f"{c['name']}-{c['alternative']}")
@pytest.mark.parametrize("method", ["unpooled-z", "pooled-z"])
def test_proportions_match_statsmodels(case: dict, method: str) -> None:
    xc, nc, xt, nt = case["args"]
    r = compare_proportions(
        xc, nc, xt, nt, alpha=case["alpha"], alternative=case["alternative"], method=method
    )
    key = "unpooled" if method == "unpooled-z" else "pooled"
    assert_allclose(r.statistic, case[f"{key}_statistic"], rtol=RTOL)
    assert_allclose(r.pvalue, case[f"{key}_pvalue"], rtol=RTOL)
    # The interval is the unpooled Wald interval for both test methods.
    assert_allclose(_bounds(r), case["ci"], rtol=RTOL)
    assert r.abs_lift == pytest.approx(xt / nt - xc / nc, rel=1e-15)
    assert (r.n_control, r.n_treatment) == (nc, nt)
    assert r.alternative == case["alternative"] and r.alpha == case["alpha"]


@pytest.mark.parametrize("case", REF.MEANS, ids=lambda c: f"{c['name']}-{c['alternative']}")
@pytest.mark.parametrize("method", ["welch", "student"])
def test_means_match_statsmodels(case: dict, method: str) -> None:
    r = compare_means(
        *case["args"], alpha=case["alpha"], alternative=case["alternative"], method=method
    )
    assert_allclose(r.statistic, case[f"{method}_statistic"], rtol=RTOL)
    assert_allclose(r.pvalue, case[f"{method}_pvalue"], rtol=RTOL)
    assert_allclose(_bounds(r), case[f"{method}_ci"], rtol=RTOL)


@pytest.mark.parametrize("case", REF.RELATIVE, ids=lambda c: f"{c['args']}-{c['alternative']}")
@pytest.mark.parametrize("method", ["delta", "fieller"])
def test_relative_lift_matches_high_precision_formula(case: dict, method: str) -> None:
    rel, lo, hi = relative_lift(
        *case["args"], alpha=case["alpha"], alternative=case["alternative"], method=method
    )
    assert_allclose(rel, case["rel"], rtol=1e-14)
    assert_allclose((lo, hi), case[method], rtol=1e-12)


@pytest.mark.parametrize("case", REF.SRM, ids=lambda c: str(c["observed"]))
def test_srm_matches_scipy(case: dict) -> None:
    r = srm_test(case["observed"], case["weights"])
    assert_allclose(r.statistic, case["statistic"], rtol=RTOL)
    assert_allclose(r.pvalue, case["pvalue"], rtol=RTOL)
    assert r.df == len(case["observed"]) - 1
    assert_allclose(sum(r.expected), sum(case["observed"]), rtol=1e-14)
    assert r.flagged == (case["pvalue"] < 0.001)


def test_comparisons_propagate_relative_lift_from_relative_lift() -> None:
    # compare_* must use Var(mean) = p(1-p)/n resp. s²/n in the relative interval.
    case = REF.RELATIVE[0]
    xc, nc, xt, nt = REF.PROPORTIONS[0]["args"]
    r = compare_proportions(xc, nc, xt, nt)
    assert_allclose(
        (r.rel_lift, r.rel_lift_ci_lower, r.rel_lift_ci_upper),
        (case["rel"], *case["delta"]),
        rtol=1e-12,
    )
    rf = compare_proportions(xc, nc, xt, nt, rel_method="fieller")
    assert_allclose((rf.rel_lift_ci_lower, rf.rel_lift_ci_upper), case["fieller"], rtol=1e-12)
    mc, vc, n_c, mt, vt, n_t = REF.MEANS[0]["args"]
    rm = compare_means(mc, vc, n_c, mt, vt, n_t)
    expected = relative_lift(mc, vc / n_c, mt, vt / n_t)
    assert (rm.rel_lift, rm.rel_lift_ci_lower, rm.rel_lift_ci_upper) == expected


# ---------------------------------------------------------------------------------------------
# The real dataset (Cookie Cats: gate_30 = control, gate_40 = treatment)


@pytest.fixture(scope="module")
def cookie_cats():  # type: ignore[no-untyped-def]
    if not COOKIE_CSV.exists():
        pytest.skip(f"{COOKIE_CSV} not available")
    pd = pytest.importorskip("pandas")
    return pd.read_csv(COOKIE_CSV)


def test_cookie_cats_aggregates_match_reference(cookie_cats) -> None:  # type: ignore[no-untyped-def]
    for version, ref in REF.COOKIE_CATS.items():
        g = cookie_cats[cookie_cats["version"] == version]
        assert len(g) == ref["n"]
        assert int(g["retention_1"].sum()) == ref["retention_1"]
        assert int(g["retention_7"].sum()) == ref["retention_7"]
        rounds = g["sum_game_rounds"].to_numpy(dtype=float)
        mean, var = moments_from_sums(float(rounds.sum()), float((rounds**2).sum()), len(rounds))
        assert_allclose((mean, var), (ref["rounds_mean"], ref["rounds_var"]), rtol=1e-12)


@pytest.mark.parametrize("column", ["retention_1", "retention_7"])
def test_cookie_cats_retention_against_live_statsmodels(cookie_cats, column: str) -> None:  # type: ignore[no-untyped-def]
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    c = cookie_cats.loc[cookie_cats["version"] == "gate_30", column]
    t = cookie_cats.loc[cookie_cats["version"] == "gate_40", column]
    r = compare_proportions(int(c.sum()), len(c), int(t.sum()), len(t))
    sm = test_proportions_2indep(
        int(t.sum()), len(t), int(c.sum()), len(c), method="wald", compare="diff", correction=False
    )
    ci = confint_proportions_2indep(
        int(t.sum()), len(t), int(c.sum()), len(c), method="wald", compare="diff"
    )
    assert_allclose((r.statistic, r.pvalue), (sm.statistic, sm.pvalue), rtol=RTOL)
    assert_allclose(_bounds(r), ci, rtol=RTOL)
    # Published result of this dataset: gate_40 lowers 7-day retention (p ≈ 0.0016) while the
    # 1-day difference is not significant at 5% (p ≈ 0.074).
    assert r.significant == (column == "retention_7")
    assert r.abs_lift < 0 and r.rel_lift is not None and r.rel_lift < 0


def test_cookie_cats_rounds_welch_against_live_statsmodels(cookie_cats) -> None:  # type: ignore[no-untyped-def]
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    c = cookie_cats.loc[cookie_cats["version"] == "gate_30", "sum_game_rounds"].to_numpy(float)
    t = cookie_cats.loc[cookie_cats["version"] == "gate_40", "sum_game_rounds"].to_numpy(float)
    r = compare_means(c.mean(), c.var(ddof=1), len(c), t.mean(), t.var(ddof=1), len(t))
    cm = CompareMeans(DescrStatsW(t), DescrStatsW(c))
    stat, pvalue, _ = cm.ttest_ind(usevar="unequal")
    assert_allclose((r.statistic, r.pvalue), (stat, pvalue), rtol=1e-9)
    assert_allclose(_bounds(r), cm.tconfint_diff(usevar="unequal"), rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# moments_from_sums


def test_moments_from_sums_matches_numpy() -> None:
    x = np.random.default_rng(1234).normal(3.0, 2.0, size=1001)
    mean, var = moments_from_sums(float(x.sum()), float((x * x).sum()), x.size)
    assert_allclose((mean, var), (x.mean(), x.var(ddof=1)), rtol=1e-12)


def test_moments_from_sums_avoids_cancellation() -> None:
    # Integers around 1e7: Σx and Σx² are exact in float64, but the textbook
    # (Σx² - (Σx)²/n)/(n-1) in floating point is off by 1% here.
    x = 10_000_000 + np.random.default_rng(1234).integers(0, 2, size=80)
    total, total_sq = float(x.sum()), float((x.astype(float) ** 2).sum())
    assert total_sq == float(sum(int(v) ** 2 for v in x))  # sums are exact
    _, var = moments_from_sums(total, total_sq, x.size)
    assert_allclose(var, np.var(x.astype(float), ddof=1), rtol=1e-13)
    naive = (total_sq - total * total / x.size) / (x.size - 1)
    assert abs(naive - var) > 0.005 * var  # the test would catch the naive formula


def test_moments_from_sums_edge_cases() -> None:
    assert moments_from_sums(5.0, 25.0, 1)[0] == 5.0 and math.isnan(
        moments_from_sums(5.0, 25.0, 1)[1]
    )
    m0, v0 = moments_from_sums(0.0, 0.0, 0)
    assert math.isnan(m0) and math.isnan(v0)
    # Constant data whose Σx² rounded a hair below (Σx)²/n: clipped to 0, not negative.
    total, n = 3.0, 3
    total_sq = math.nextafter(total * total / n, 0.0)
    assert moments_from_sums(total, total_sq, n)[1] == 0.0
    with pytest.raises(StatsError, match="total_sq"):
        moments_from_sums(10.0, 1.0, 10)
    with pytest.raises(StatsError, match="total"):
        moments_from_sums(float("nan"), 1.0, 10)
    with pytest.raises(StatsError, match="nobs"):
        moments_from_sums(1.0, 1.0, -1)


# ---------------------------------------------------------------------------------------------
# Ill-defined but legal input: a result with pvalue None and a note, never NaN


def test_tiny_arms_give_no_pvalue() -> None:
    r = compare_proportions(0, 1, 3, 10)
    assert r.pvalue is None and r.statistic is None and r.abs_lift_ci_lower is None
    assert r.note is not None and "control" in r.note
    r = compare_proportions(0, 0, 0, 0)
    assert r.pvalue is None and "control and treatment" in (r.note or "")
    r = compare_means(1.0, float("nan"), 1, 2.0, 1.0, 10)
    assert r.pvalue is None and "fewer than 2 units in control" in (r.note or "")
    r = compare_means(float("nan"), float("nan"), 0, 2.0, 1.0, 10)
    assert r.pvalue is None and not r.significant


def test_zero_variance_gives_no_pvalue() -> None:
    r = compare_proportions(0, 100, 0, 120)
    assert r.pvalue is None and r.note is not None and "no variation" in r.note
    assert r.rel_lift is None  # control proportion is 0
    r = compare_proportions(100, 100, 120, 120, method="pooled-z")
    assert r.pvalue is None
    r = compare_means(3.0, 0.0, 50, 3.0, 0.0, 60)
    assert r.pvalue is None and "zero variance" in (r.note or "")
    # One arm without variance is fine.
    assert compare_means(3.0, 0.0, 50, 3.5, 1.0, 60).pvalue is not None


def test_control_zero_gives_no_relative_lift_but_keeps_the_test() -> None:
    r = compare_proportions(0, 1000, 12, 1000)
    assert r.pvalue is not None and 0 < r.pvalue < 0.01
    assert r.rel_lift is None and r.rel_lift_ci_lower is None
    assert "control mean is 0" in (r.note or "")
    assert relative_lift(0.0, 0.1, 1.0, 0.1) == (None, None, None)
    rm = compare_means(0.0, 1.0, 100, 0.5, 1.0, 100)
    assert rm.rel_lift is None and rm.pvalue is not None


def test_fieller_unbounded_is_noted() -> None:
    r = compare_means(0.05, 1.0, 20, 0.5, 1.0, 20, rel_method="fieller")
    assert r.rel_lift_ci_lower == -math.inf and r.rel_lift_ci_upper == math.inf
    assert "unbounded" in (r.note or "")


def test_srm_zero_total_and_flag() -> None:
    r = srm_test([0, 0], variants=["control", "treatment"])
    assert r.pvalue is None and r.note and not r.flagged
    assert r.variants == ("control", "treatment")
    r = srm_test([5000, 5400])
    assert r.flagged and r.pvalue is not None and r.pvalue < 0.001


def test_one_sided_intervals_have_one_infinite_bound() -> None:
    g = compare_proportions(100, 1000, 130, 1000, alternative="greater")
    assert g.abs_lift_ci_upper == math.inf and g.rel_lift_ci_upper == math.inf
    assert g.abs_lift_ci_lower is not None and g.abs_lift_ci_lower > 0
    s = compare_means(10.0, 4.0, 100, 11.0, 4.0, 100, alternative="less")
    assert s.abs_lift_ci_lower == -math.inf and s.rel_lift_ci_lower == -math.inf
    assert s.pvalue is not None and s.pvalue > 0.99


def test_method_strings_are_precise() -> None:
    assert compare_proportions(1, 10, 2, 10).method == (
        "two-proportion z-test (unpooled SE), Wald CI, delta-method relative CI"
    )
    assert "pooled SE" in compare_proportions(1, 10, 2, 10, method="pooled-z").method
    assert "Welch" in compare_means(1.0, 1.0, 10, 2.0, 1.0, 10).method
    assert "Fieller" in compare_means(1.0, 1.0, 10, 2.0, 1.0, 10, rel_method="fieller").method


# ---------------------------------------------------------------------------------------------
# Impossible input: StatsError naming the argument


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"count_control": -1}, "count_control"),
        ({"count_treatment": 11}, "count_treatment=11 is larger than nobs_treatment=10"),
        ({"nobs_control": 2.5}, "nobs_control"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"alternative": "larger"}, "alternative"),
        ({"method": "score"}, "method"),
        ({"rel_method": "naive"}, "rel_method"),
    ],
)
def test_proportions_reject_impossible_input(kwargs: dict, match: str) -> None:
    args = {"count_control": 3, "nobs_control": 10, "count_treatment": 4, "nobs_treatment": 10}
    args.update(kwargs)
    with pytest.raises(StatsError, match=match):
        compare_proportions(**args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mean_control": float("nan")}, "mean_control"),
        ({"var_treatment": -1.0}, "var_treatment"),
        ({"var_control": float("inf")}, "var_control"),
        ({"nobs_treatment": -3}, "nobs_treatment"),
        ({"method": "z"}, "method"),
        ({"alternative": "smaller"}, "alternative"),
    ],
)
def test_means_reject_impossible_input(kwargs: dict, match: str) -> None:
    args = {
        "mean_control": 1.0, "var_control": 1.0, "nobs_control": 10,
        "mean_treatment": 1.2, "var_treatment": 1.0, "nobs_treatment": 10,
    }  # fmt: skip
    args.update(kwargs)
    with pytest.raises(StatsError, match=match):
        compare_means(**args)


def test_relative_and_srm_reject_impossible_input() -> None:
    with pytest.raises(StatsError, match="var_mean_control"):
        relative_lift(1.0, -0.1, 1.0, 0.1)
    with pytest.raises(StatsError, match="rel_method"):
        relative_lift(1.0, 0.1, 1.0, 0.1, method="ratio")
    with pytest.raises(StatsError, match="at least 2 arms"):
        srm_test([10])
    with pytest.raises(StatsError, match="observed"):
        srm_test([10, -1])
    with pytest.raises(StatsError, match="weights"):
        srm_test([10, 10], [0.5, 0.0])
    with pytest.raises(StatsError, match="weights has 3"):
        srm_test([10, 10], [1, 1, 1])
    with pytest.raises(StatsError, match="threshold"):
        srm_test([10, 10], threshold=1.0)


@settings(max_examples=200, deadline=None)
@given(
    xc=st.integers(-5, 60), nc=st.integers(-5, 60), xt=st.integers(-5, 60), nt=st.integers(-5, 60),
    alternative=st.sampled_from(["two-sided", "greater", "less"]),
)  # fmt: skip
def test_proportions_never_crash_and_never_nan(
    xc: int, nc: int, xt: int, nt: int, alternative: str
) -> None:
    try:
        r = compare_proportions(xc, nc, xt, nt, alternative=alternative)
    except StatsError:
        assert min(xc, nc, xt, nt) < 0 or xc > nc or xt > nt
        return
    assert r.pvalue is None or 0.0 <= r.pvalue <= 1.0
    assert r.pvalue is None or r.note is None or "relative" in r.note or "Wald" in r.note


# ---------------------------------------------------------------------------------------------
# Calibration by simulation (sufficient statistics drawn directly; fixed seed)

N_SIM = 4000


def _rate(flags: list[bool]) -> float:
    return float(np.mean(flags))


@pytest.mark.parametrize("method", ["unpooled-z", "pooled-z"])
def test_proportion_test_aa_false_positive_rate(method: str) -> None:
    rng = np.random.default_rng(1234)
    nc, nt, p = 1500, 2500, 0.2
    xc = rng.binomial(nc, p, size=N_SIM)
    xt = rng.binomial(nt, p, size=N_SIM)
    rejected = [
        compare_proportions(int(a), nc, int(b), nt, method=method).significant
        for a, b in zip(xc, xt, strict=True)
    ]
    assert 0.04 <= _rate(rejected) <= 0.06


def test_proportion_intervals_cover_the_true_lift() -> None:
    rng = np.random.default_rng(1234)
    nc, nt, pc, pt = 2000, 2000, 0.20, 0.28
    xc = rng.binomial(nc, pc, size=N_SIM)
    xt = rng.binomial(nt, pt, size=N_SIM)
    abs_cover, rel_cover, naive_rel_cover = [], [], []
    for a, b in zip(xc, xt, strict=True):
        r = compare_proportions(int(a), nc, int(b), nt)
        assert r.abs_lift_ci_lower is not None and r.abs_lift_ci_upper is not None
        assert r.rel_lift_ci_lower is not None and r.rel_lift_ci_upper is not None
        abs_cover.append(r.abs_lift_ci_lower <= pt - pc <= r.abs_lift_ci_upper)
        rel_cover.append(r.rel_lift_ci_lower <= pt / pc - 1 <= r.rel_lift_ci_upper)
        naive_rel_cover.append(
            r.abs_lift_ci_lower / r.control_value
            <= pt / pc - 1
            <= r.abs_lift_ci_upper / r.control_value
        )
    assert 0.94 <= _rate(abs_cover) <= 0.96
    assert 0.94 <= _rate(rel_cover) <= 0.96
    # Dividing the absolute interval by the control mean under-covers: the simulation detects it.
    assert _rate(naive_rel_cover) < 0.92


def _normal_sufficient_stats(
    rng: np.random.Generator, mean: float, sd: float, n: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    means = rng.normal(mean, sd / math.sqrt(n), size=size)
    variances = sd**2 * rng.chisquare(n - 1, size=size) / (n - 1)
    return means, variances


def test_welch_aa_false_positive_rate_with_unequal_variances() -> None:
    rng = np.random.default_rng(1234)
    nc, nt = 30, 60
    mc, vc = _normal_sufficient_stats(rng, 5.0, 1.0, nc, N_SIM)
    mt, vt = _normal_sufficient_stats(rng, 5.0, 3.0, nt, N_SIM)
    welch, student = [], []
    for i in range(N_SIM):
        args = (mc[i], vc[i], nc, mt[i], vt[i], nt)
        welch.append(compare_means(*args).significant)
        student.append(compare_means(*args, method="student").significant)
    assert 0.04 <= _rate(welch) <= 0.06
    # The pooled-variance test is mis-calibrated here (larger arm has larger variance).
    assert _rate(student) < 0.035


def test_welch_and_delta_intervals_cover_the_true_lift() -> None:
    rng = np.random.default_rng(1234)
    nc, nt, mu_c, mu_t = 200, 300, 10.0, 11.0
    mc, vc = _normal_sufficient_stats(rng, mu_c, 4.0, nc, N_SIM)
    mt, vt = _normal_sufficient_stats(rng, mu_t, 6.0, nt, N_SIM)
    abs_cover, rel_cover, fieller_cover = [], [], []
    for i in range(N_SIM):
        r = compare_means(mc[i], vc[i], nc, mt[i], vt[i], nt)
        f = compare_means(mc[i], vc[i], nc, mt[i], vt[i], nt, rel_method="fieller")
        assert None not in (r.abs_lift_ci_lower, r.abs_lift_ci_upper, r.rel_lift_ci_lower)
        abs_cover.append(r.abs_lift_ci_lower <= mu_t - mu_c <= r.abs_lift_ci_upper)  # type: ignore[operator]
        rel_cover.append(r.rel_lift_ci_lower <= mu_t / mu_c - 1 <= r.rel_lift_ci_upper)  # type: ignore[operator]
        fieller_cover.append(f.rel_lift_ci_lower <= mu_t / mu_c - 1 <= f.rel_lift_ci_upper)  # type: ignore[operator]
    assert 0.94 <= _rate(abs_cover) <= 0.96
    assert 0.94 <= _rate(rel_cover) <= 0.96
    assert 0.94 <= _rate(fieller_cover) <= 0.96


def test_one_sided_tests_are_calibrated() -> None:
    rng = np.random.default_rng(1234)
    n, p = 3000, 0.4
    xc = rng.binomial(n, p, size=N_SIM)
    xt = rng.binomial(n, p, size=N_SIM)
    for alternative in ("greater", "less"):
        rejected = [
            compare_proportions(int(a), n, int(b), n, alternative=alternative).significant
            for a, b in zip(xc, xt, strict=True)
        ]
        assert 0.04 <= _rate(rejected) <= 0.06


def test_srm_aa_false_positive_rate() -> None:
    rng = np.random.default_rng(1234)
    weights = [0.2, 0.3, 0.5]
    counts = rng.multinomial(10_000, weights, size=N_SIM)
    pvalues = np.array([srm_test(c.tolist(), weights).pvalue for c in counts])
    assert 0.04 <= float(np.mean(pvalues < 0.05)) <= 0.06
    assert float(np.mean(pvalues < 0.001)) < 0.004
