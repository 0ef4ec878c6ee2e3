"""The multi-metric recommendation (Spotify's rule), one per treatment, on every surface.

Each case is a per-unit table whose effects are far from the boundary (n = 20,000 per arm), so
the decisions it rests on are certain for the fixed seed; the rule itself is checked by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import abkit as ab
from abkit.report.summary import build_summary

N = 20_000


def _units(lift_y=0.0, lift_g=0.0, weights=(0.5, 0.5), seed=1):
    rng = np.random.default_rng(seed)
    variant = rng.choice(["control", "treatment"], size=2 * N, p=list(weights))
    t = variant == "treatment"
    return pd.DataFrame(
        {
            "unit_id": np.arange(2 * N),
            "variant": variant,
            "y": rng.binomial(1, 0.30 + lift_y * t),  # the success metric
            "g": rng.binomial(1, 0.50 + lift_g * t),  # a guardrail
        }
    )


def _result(units, *, guard_margin=0.01, primary="y", **kw):
    exp = ab.Experiment(
        metrics=[ab.Proportion("y"), ab.Proportion("g")],
        primary_metric=primary,
        guardrails=[{"metric": "g", "margin": guard_margin}],
        **kw,
    )
    return exp.analyze(units=units)


@pytest.mark.parametrize(
    ("units", "action", "reason"),
    [
        (_units(lift_y=0.03), "ship", "y significantly better; guardrails g non-inferior"),
        (_units(lift_y=0.03, lift_g=-0.05), "do not ship", "g significantly worse"),
        (_units(lift_y=-0.03), "do not ship", "y significantly worse"),
        (_units(), "inconclusive", "no success metric is significantly better"),
    ],
)
def test_the_rule(units, action, reason):
    res = _result(units)
    (rec,) = res.recommendations()
    assert (rec.variant, rec.action) == ("treatment", action)
    assert reason in rec.reason
    assert rec.success_metrics == ("y",)


def test_a_guardrail_not_shown_non_inferior_blocks_shipping():
    # g unchanged but the margin (0.1 pp) is far inside its interval: non-inferiority not shown
    res = _result(_units(lift_y=0.03), guard_margin=0.001)
    (g,) = res.guardrails
    assert g.passed is False
    (rec,) = res.recommendations()
    assert rec.action == "do not ship" and "guardrail g not shown non-inferior" in rec.reason


def test_a_blocking_finding_withholds_and_every_surface_says_so():
    res = _result(_units(lift_y=0.03, weights=(0.6, 0.4)))  # planned 50/50: an SRM
    (rec,) = res.recommendations()
    assert rec.action == "withheld" and "srm" in rec.reason
    doc = build_summary(res)
    assert doc["recommendations"] == [rec.to_dict()]


def test_without_a_primary_metric_every_non_guardrail_metric_is_a_success_metric():
    res = _result(_units(lift_y=0.03), primary=None)
    (rec,) = res.recommendations()
    assert rec.success_metrics == ("y",) and rec.action == "ship"
