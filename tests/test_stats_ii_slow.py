"""Long seeded simulations for Statistics II (issue 16), marked slow.

The always-valid test rejects at a look exactly when ``|d̂| > half-width``, i.e. when the z
statistic with the plug-in standard error exceeds ``c_j = half-width / se``, which depends only on
the look's sample size; the boundaries are read off :func:`abkit.stats.always_valid_test` itself
and applied to 20,000 simulated experiments at once.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from abkit.stats import always_valid_power, always_valid_test, sequential_tuning

SIMS = 20_000


def _boundaries(n_total: np.ndarray, tuning: float, alternative: str) -> np.ndarray:
    out = []
    for n in n_total:
        r = always_valid_test(0.0, 1.0, int(n), tuning=tuning, alternative=alternative)
        out.append(r.ci_upper if alternative != "greater" else -r.ci_lower)
    return np.asarray(out)


def _rejected(
    rng: np.random.Generator, p_c: float, p_t: float, looks: int, step: int, tuning: float,
    alternative: str,
) -> np.ndarray:  # fmt: skip
    xc = rng.binomial(step, p_c, size=(SIMS, looks)).cumsum(axis=1)
    xt = rng.binomial(step, p_t, size=(SIMS, looks)).cumsum(axis=1)
    m = step * np.arange(1, looks + 1)
    pc, pt = xc / m, xt / m
    se = np.sqrt(pc * (1 - pc) / m + pt * (1 - pt) / m)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (pt - pc) / se, 0.0)
    c = _boundaries(2 * m, tuning, alternative)
    hit = z > c if alternative == "greater" else np.abs(z) > c
    return hit.any(axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_always_valid_aa_rate_looking_every_10_units(alternative: str) -> None:
    # 2,000 units in all, a look every 10 units per arm (100 looks), tuned to the plan
    rng = np.random.default_rng(1234)
    n_star = sequential_tuning(2000, alternative=alternative)
    rate = float(np.mean(_rejected(rng, 0.3, 0.3, 100, 10, n_star, alternative)))
    assert rate <= 0.05
    assert rate > 0.005  # the test is not vacuous: it does reject under H0 sometimes


@pytest.mark.slow
def test_always_valid_power_matches_simulation_400_units() -> None:
    rng = np.random.default_rng(1234)
    p_c, p_t = 0.30, 0.43
    tuned = float(np.mean(_rejected(rng, p_c, p_t, 20, 10, sequential_tuning(400), "two-sided")))
    default = float(np.mean(_rejected(rng, p_c, p_t, 20, 10, 5000.0, "two-sided")))
    se = math.sqrt(p_c * (1 - p_c) / 200 + p_t * (1 - p_t) / 200)
    plan = always_valid_power(p_t - p_c, se, 400, looks=20)
    assert plan.power == pytest.approx(tuned, abs=0.02)
    assert default < 0.15 < 0.3 < tuned
