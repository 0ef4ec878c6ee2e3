"""Calibration by simulation for the statistics engine (fixed seeds; numbers in docs/statistics.md).

Each check draws ≥ 2,000 simulated experiments directly as sufficient statistics (or raw unit rows
aggregated with numpy) and asserts the false-positive rate of A/A tests and the coverage of 95 %
intervals. Intervals [0.04, 0.06] and [0.94, 0.96] are about ±2.9 binomial standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from abkit.stats import (
    adjust_pvalues,
    always_valid_test,
    bayes_means,
    bayes_proportions,
    compare_proportions,
    compare_proportions_many,
    compare_ratios,
    cuped,
    group_sequential_boundaries,
    noninferiority_proportions,
    noninferiority_ratios,
    sample_size_proportions,
)

N_SIM = 2000


def _in(x: float, lo: float, hi: float) -> bool:
    return lo <= x <= hi


def test_newcombe_coverage_and_exact_test_validity_small_samples() -> None:
    rng = np.random.default_rng(1234)
    n, p = 40, 0.15
    xc = rng.binomial(n, p, size=N_SIM)
    xt = rng.binomial(n, p, size=N_SIM)
    cover, fisher, wald_cover = [], [], []
    for a, b in zip(xc, xt, strict=True):
        r = compare_proportions(int(a), n, int(b), n, method="fisher")
        assert r.abs_lift_ci_lower is not None and r.abs_lift_ci_upper is not None
        cover.append(r.abs_lift_ci_lower <= 0 <= r.abs_lift_ci_upper)
        fisher.append(r.significant)
        w = compare_proportions(int(a), n, int(b), n)
        wald_cover.append(
            w.abs_lift_ci_lower is not None
            and w.abs_lift_ci_lower <= 0 <= (w.abs_lift_ci_upper or 0)
        )
    assert _in(float(np.mean(cover)), 0.94, 0.975)  # Newcombe: close to nominal at n = 40
    assert float(np.mean(fisher)) <= 0.05  # exact: never above alpha (conservative)
    assert float(np.mean(wald_cover)) < float(np.mean(cover))  # Wald under-covers here


def test_ratio_metric_aa_and_coverage() -> None:
    rng = np.random.default_rng(1234)
    n = 400
    fp, cover = [], []
    for _ in range(N_SIM):
        sums = []
        for _arm in range(2):
            y = 1.0 + rng.poisson(2.0, size=n)
            x = rng.binomial((5 * y).astype(int), 0.2).astype(float)
            sums.append((x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum(), n))
        r = compare_ratios(sums[0], sums[1])
        fp.append(r.significant)
        cover.append((r.rel_lift_ci_lower or 0) <= 0 <= (r.rel_lift_ci_upper or 0))
    assert _in(float(np.mean(fp)), 0.04, 0.06)
    assert _in(float(np.mean(cover)), 0.94, 0.96)


def test_cuped_aa_coverage_and_variance_reduction() -> None:
    rng = np.random.default_rng(1234)
    n, effect = 300, 0.2
    cover, vr = [], []
    for _ in range(N_SIM):
        arms = []
        for eff in (0.0, effect):
            x = rng.gamma(2.0, 2.0, size=n)
            y = 1.0 + 0.9 * x + rng.normal(0, 1.5, size=n) + eff
            arms.append((n, y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum()))
        r = cuped(*arms)
        c = r.comparison
        cover.append((c.abs_lift_ci_lower or 0) <= effect <= (c.abs_lift_ci_upper or 0))
        vr.append(r.variance_reduction)
    assert _in(float(np.mean(cover)), 0.94, 0.96)
    assert float(np.mean(vr)) > 0.7  # corr(x, y)² ≈ 0.79 here
    aa = []
    for _ in range(N_SIM):
        arms = []
        for _arm in range(2):
            x = rng.gamma(2.0, 2.0, size=n)
            y = 1.0 + 0.9 * x + rng.normal(0, 1.5, size=n)
            arms.append((n, y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum()))
        aa.append(cuped(*arms).comparison.significant)
    assert _in(float(np.mean(aa)), 0.04, 0.06)


def test_bayes_normal_model_calibration() -> None:
    rng = np.random.default_rng(1234)
    n, sd = 200, 3.0
    mc = rng.normal(10.0, sd / math.sqrt(n), size=N_SIM)
    mt = rng.normal(10.0, sd / math.sqrt(n), size=N_SIM)
    vc = sd**2 * rng.chisquare(n - 1, size=N_SIM) / (n - 1)
    vt = sd**2 * rng.chisquare(n - 1, size=N_SIM) / (n - 1)
    extreme, cover = [], []
    for i in range(N_SIM):
        r = bayes_means(mc[i], vc[i], n, mt[i], vt[i], n)
        assert r.chance_to_beat is not None
        extreme.append(r.chance_to_beat > 0.975 or r.chance_to_beat < 0.025)
        cover.append((r.abs_lift_ci_lower or 0) <= 0 <= (r.abs_lift_ci_upper or 0))
    assert _in(float(np.mean(extreme)), 0.04, 0.06)
    assert _in(float(np.mean(cover)), 0.94, 0.96)


@pytest.mark.slow
def test_beta_binomial_calibration() -> None:
    rng = np.random.default_rng(1234)
    n, p = 1000, 0.3
    xc = rng.binomial(n, p, size=N_SIM)
    xt = rng.binomial(n, p, size=N_SIM)
    extreme, cover = [], []
    for i in range(N_SIM):
        r = bayes_proportions(int(xc[i]), n, int(xt[i]), n, n_draws=2000, rng=i)
        assert r.chance_to_beat is not None
        extreme.append(r.chance_to_beat > 0.975 or r.chance_to_beat < 0.025)
        cover.append((r.abs_lift_ci_lower or 0) <= 0 <= (r.abs_lift_ci_upper or 0))
    assert _in(float(np.mean(extreme)), 0.04, 0.06)
    assert _in(float(np.mean(cover)), 0.94, 0.96)


def test_always_valid_test_survives_daily_peeking_naive_test_does_not() -> None:
    rng = np.random.default_rng(1234)
    days, daily, p = 30, 200, 0.3
    xc = rng.binomial(daily, p, size=(N_SIM, days)).cumsum(axis=1)
    xt = rng.binomial(daily, p, size=(N_SIM, days)).cumsum(axis=1)
    naive_any = compare_proportions_many(
        xc, daily * np.arange(1, days + 1), xt, daily * np.arange(1, days + 1)
    ).significant.any(axis=1)
    seq_any = np.zeros(N_SIM, dtype=bool)
    for i in range(N_SIM):
        for d in range(days):
            n = daily * (d + 1)
            pc, pt = xc[i, d] / n, xt[i, d] / n
            se = math.sqrt(pc * (1 - pc) / n + pt * (1 - pt) / n)
            if always_valid_test(pt - pc, se, 2 * n, tuning=5000).significant:
                seq_any[i] = True
                break
    assert float(np.mean(seq_any)) <= 0.05
    assert float(np.mean(naive_any)) > 0.15  # peeking daily at a fixed test inflates FPR 3x+


def test_group_sequential_aa_rejection_rate() -> None:
    rng = np.random.default_rng(1234)
    t = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    increments = rng.normal(0.0, np.sqrt(np.diff(np.concatenate([[0.0], t]))), size=(4 * N_SIM, 5))
    z = increments.cumsum(axis=1) / np.sqrt(t)
    for spending in ("obrien-fleming", "pocock"):
        d = group_sequential_boundaries(t, spending=spending)
        hits = [d.first_crossing(row) is not None for row in z]
        assert _in(float(np.mean(hits)), 0.04, 0.06)


def test_multiple_testing_controls_family_wise_error() -> None:
    rng = np.random.default_rng(1234)
    pvals = rng.uniform(size=(N_SIM, 5))
    for method in ("holm", "hochberg", "bonferroni"):
        fwer = np.mean([any(adjust_pvalues(list(row), method=method).reject) for row in pvals])
        assert _in(float(fwer), 0.04, 0.06)
    raw = np.mean([any(row < 0.05) for row in pvals])
    assert raw > 0.2


def test_noninferiority_at_the_margin_rejects_alpha_share() -> None:
    rng = np.random.default_rng(1234)
    n, p, m = 5000, 0.40, 0.02
    xc = rng.binomial(n, p, size=N_SIM)
    xt = rng.binomial(n, p - m, size=N_SIM)  # true difference exactly -margin: H0 boundary
    passed = [
        noninferiority_proportions(int(a), n, int(b), n, margin=m).passed
        for a, b in zip(xc, xt, strict=True)
    ]
    assert _in(float(np.mean(passed)), 0.04, 0.06)


@pytest.mark.parametrize("relative", [False, True])
def test_ratio_noninferiority_at_the_margin_passes_alpha_share(relative: bool) -> None:
    # revenue per session with the treatment's true ratio exactly at the margin (the H0
    # boundary): a guardrail must pass in about alpha = 5% of experiments, and far more often
    # when there is no harm at all
    rng = np.random.default_rng(1234)
    n, r0, m = 2000, 2.0, 0.1
    r1 = r0 * (1 - m) if relative else r0 - m
    at_margin, no_harm = [], []
    for _ in range(N_SIM):
        sums = []
        for r in (r0, r1, r0):
            y = 1.0 + rng.poisson(2.0, size=n)
            x = rng.normal(r * y, np.sqrt(y))
            sums.append((x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum(), n))
        at_margin.append(
            noninferiority_ratios(sums[0], sums[1], margin=m, relative=relative).passed
        )
        no_harm.append(noninferiority_ratios(sums[0], sums[2], margin=m, relative=relative).passed)
    assert _in(float(np.mean(at_margin)), 0.04, 0.06)
    assert float(np.mean(no_harm)) > 0.5


def test_sample_size_gives_the_promised_power() -> None:
    rng = np.random.default_rng(1234)
    plan = sample_size_proportions(0.40, 0.05)
    n = int(plan.nobs_control)
    xc = rng.binomial(n, 0.40, size=N_SIM)
    xt = rng.binomial(n, 0.42, size=N_SIM)
    power = float(np.mean(compare_proportions_many(xc, n, xt, n).significant))
    assert _in(power, 0.77, 0.83)
