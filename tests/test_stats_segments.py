"""Heterogeneity (Cochran's Q) and segment-mix tests against statsmodels and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from abkit.errors import StatsError
from abkit.stats.segments import heterogeneity, segment_mix

# statsmodels 0.15.0:
#   r = combine_effects(np.array(D), np.array(SE) ** 2)
#   r.q, r.i2, r.test_homogeneity().pvalue
D = [0.01, 0.03, -0.005, 0.02]
SE = [0.01, 0.012, 0.008, 0.015]
SM_Q, SM_I2, SM_P = 6.667461434229729, 0.5500536404157572, 0.08328710550447153

# scipy 1.17.1: chi2_contingency([[400, 380], [300, 330], [200, 190]], correction=False)
MIX = [[400, 380], [300, 330], [200, 190]]
SP_CHI2, SP_P = 2.197802197802198, 0.33323707715622386


def test_heterogeneity_matches_statsmodels():
    r = heterogeneity(D, SE)
    assert_allclose([r.statistic, r.i2, r.pvalue], [SM_Q, SM_I2, SM_P], rtol=1e-10)
    assert r.df == 3 and r.k == 4


def test_heterogeneity_degenerate_cases():
    assert heterogeneity([0.1], [0.01]).pvalue is None
    r = heterogeneity([0.1, 0.2, np.nan], [0.01, 0.0, 0.02])
    assert r.pvalue is None and "fewer than 2" in (r.note or "")
    with pytest.raises(StatsError):
        heterogeneity([0.1, 0.2], [0.1])


def test_heterogeneity_is_calibrated_under_homogeneity():
    rng = np.random.default_rng(1234)
    se = np.array([0.01, 0.02, 0.015, 0.03])
    p = [heterogeneity(rng.normal(0.02, se), se).pvalue for _ in range(4000)]
    assert 0.04 <= np.mean(np.array(p) < 0.05) <= 0.06


def test_segment_mix_matches_scipy():
    r = segment_mix(MIX)
    assert_allclose([r.statistic, r.pvalue], [SP_CHI2, SP_P], rtol=1e-10)
    assert r.df == 2 and not r.flagged
    skewed = segment_mix([[500, 300], [300, 500]])
    assert skewed.flagged
    assert segment_mix([[10, 12]]).pvalue is None
    with pytest.raises(StatsError):
        segment_mix([[1, -1], [2, 3]])


def test_one_sided_relative_interval_with_a_negative_control_mean():
    from abkit.stats import compare_means

    # control mean -10, treatment -8: the treatment is higher (abs lift +2) while the relative
    # lift mt/mc - 1 = -0.2 is negative; "greater" must bound the relative lift from above
    c = compare_means(-10.0, 4.0, 400, -8.0, 4.0, 400, alternative="greater")
    assert c.abs_lift_ci_upper == float("inf") and c.abs_lift_ci_lower > 0
    assert c.rel_lift_ci_lower == float("-inf") and c.rel_lift_ci_upper < 0
