"""The report's curve and cohort triangle from one analysis equal the views run on their own.

``curve_and_cohorts`` runs one analysis (D0..D``max_day`` ∪ the cohort days, segmented by
cohort) and restricts it to each view; before, a report ran one full analysis per view.
"""

from __future__ import annotations

import pandas as pd
import pytest

import abkit as ab
from abkit.results import restrict
from abkit.retention import cohort_table, retention_curve
from abkit.retention.curve import curve_and_cohorts


@pytest.fixture(scope="module")
def logs():
    return ab.simulate.retention_experiment(n_units=3000, seed=21)


@pytest.mark.parametrize(
    ("max_day", "days", "period"),
    [(30, (1, 7, 14, 30), "day"), (10, (1, 3, 21), "week"), (5, (), "day"), (None, (2, 4), "day")],
)
def test_views_equal_separate_runs(logs, max_day, days, period):
    exposures, events = logs
    opts = {"alpha": 0.1, "weights": {"control": 0.5, "treatment": 0.5}, "name": "x"}
    curve, cohorts = curve_and_cohorts(
        exposures, events, max_day=max_day, days=days, period=period, **opts
    )
    if max_day is None:
        assert curve is None
    else:
        alone = retention_curve(exposures, events, max_day=max_day, **opts)
        pd.testing.assert_frame_equal(curve.to_pandas(), alone.to_pandas())
        pd.testing.assert_frame_equal(curve.lifts_to_pandas(), alone.lifts_to_pandas())
        assert [mc.decision for mc in curve.result.comparisons] == [
            mc.decision for mc in alone.result.comparisons
        ]
        assert curve.result.srm == alone.result.srm
    if not days:
        assert cohorts is None
    else:
        alone = cohort_table(exposures, events, days=days, period=period, **opts)
        pd.testing.assert_frame_equal(cohorts.to_pandas(), alone.to_pandas())
        pd.testing.assert_frame_equal(
            cohorts.result.segments_to_pandas(), alone.result.segments_to_pandas()
        )
        pd.testing.assert_frame_equal(cohorts.result.to_pandas(), alone.result.to_pandas())
        pd.testing.assert_frame_equal(
            cohorts.result.srm_by_segment(), alone.result.srm_by_segment()
        )
        if max(days) <= (max_day or 0):  # same longest window: the same data-quality record
            assert cohorts.result.data_quality == alone.result.data_quality
            assert repr(cohorts) == repr(alone)


def test_restrict_retakes_the_decisions_within_the_subset(logs):
    exposures, events = logs
    metrics = [ab.Retention(day=1), ab.Retention(day=7), ab.Retention(day=30)]
    full = ab.Experiment(metrics=metrics).analyze(exposures=exposures, events=events)
    two = ab.Experiment(metrics=metrics[1:]).analyze(exposures=exposures, events=events)
    part = restrict(full, ["retention_d7", "retention_d30"])
    pd.testing.assert_frame_equal(part.to_pandas(), two.to_pandas())  # Holm over 2, not 3
    assert part.adjusted_pvalues().equals(two.adjusted_pvalues())
    assert [f.code for f in part.data_quality.findings] == [
        f.code for f in two.data_quality.findings
    ]
    with pytest.raises(KeyError, match="no metrics"):
        restrict(full, ["retention_d2"])
