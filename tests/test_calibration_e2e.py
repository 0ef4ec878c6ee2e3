"""End-to-end calibration: simulated experiments through the whole engine path.

The statistics layer is calibrated on its own (tests/test_stats_calibration.py); this checks that
the data path (first exposures, day windows, maturity) does not bias what reaches it: A/A
experiments give about alpha false positives, and intervals of a real effect cover the truth.
"""

from __future__ import annotations

import numpy as np
import pytest

import abkit as ab

REPS = 200


@pytest.mark.slow
def test_aa_false_positive_rate_and_coverage_through_the_engine():
    rng = np.random.default_rng(1234)
    metrics = [ab.Retention(day=1), ab.Retention(day=7)]
    aa_hits, covered, total = 0, 0, 0
    for _ in range(REPS):
        seed = int(rng.integers(1 << 31))
        aa = ab.simulate.retention_experiment(n_units=1_500, seed=seed, effects={}, days=20)
        res = ab.Experiment(metrics=metrics).analyze(exposures=aa.exposures, events=aa.events)
        aa_hits += sum(c.comparison.pvalue < 0.05 for c in res.comparisons)
        ab_ = ab.simulate.retention_experiment(n_units=1_500, seed=seed + 1, days=20)
        res = ab.Experiment(metrics=metrics).analyze(exposures=ab_.exposures, events=ab_.events)
        for c in res.comparisons:
            day = int(c.metric.removeprefix("retention_d"))
            true = ab_.true_retention(day, "treatment") - ab_.true_retention(day, "control")
            covered += c.comparison.abs_lift_ci_lower <= true <= c.comparison.abs_lift_ci_upper
            total += 1
    fpr = aa_hits / (2 * REPS)
    # 400 tests: binomial sd of the rate is about 0.011 around 0.05
    assert 0.02 <= fpr <= 0.08, fpr
    assert 0.92 <= covered / total <= 0.98, covered / total


@pytest.mark.slow
def test_cuped_false_positive_rate_and_coverage_through_the_engine():
    # returning users (14 days of activity before exposure) analysed with cuped=14: the
    # adjustment must keep the A/A false-positive rate and the coverage of the true lift
    rng = np.random.default_rng(4321)
    metrics = [ab.Retention(day=1), ab.ActiveDays(days=(1, 7))]
    reps = 150
    hits, covered, total, reduction = 0, 0, 0, []
    for _ in range(reps):
        seed = int(rng.integers(1 << 31))
        kw = {"n_units": 1_500, "days": 20, "pre_days": 14}
        aa = ab.simulate.retention_experiment(seed=seed, effects={}, **kw)
        res = ab.Experiment(metrics=metrics, cuped=14).analyze(
            exposures=aa.exposures, events=aa.events
        )
        hits += sum(c.comparison.pvalue < 0.05 for c in res.comparisons)
        ab_ = ab.simulate.retention_experiment(seed=seed + 1, **kw)
        res = ab.Experiment(metrics=metrics, cuped=14).analyze(
            exposures=ab_.exposures, events=ab_.events
        )
        for c in res.comparisons:
            days = [1] if c.metric == "retention_d1" else range(1, 8)
            true = sum(
                ab_.true_retention(d, "treatment") - ab_.true_retention(d, "control") for d in days
            )
            covered += c.comparison.abs_lift_ci_lower <= true <= c.comparison.abs_lift_ci_upper
            total += 1
            assert c.comparison.method.startswith("CUPED")
            reduction.append(float(c.comparison.note.split("lift ")[1].rstrip("%")) / -100)
    fpr = hits / (2 * reps)
    # 300 tests: binomial sd of the rate is about 0.013 around 0.05
    assert 0.02 <= fpr <= 0.09, fpr
    assert 0.92 <= covered / total <= 0.98, covered / total
    assert np.mean(reduction) > 0.05  # the pre-period activity does predict the outcome
