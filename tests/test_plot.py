"""Figures: what each plot shows (matplotlib objects inspected, not pixels)."""

from __future__ import annotations

import matplotlib
import pytest

import abkit as ab
from abkit import retention as R

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def logs():
    return ab.simulate.retention_experiment(n_units=3_000, seed=3)


def test_curve_starts_at_day_one_and_names_day_zero(logs):
    curve = R.retention_curve(*logs, max_day=10)
    ax = curve.plot()
    xs = [x for line in ax.lines for x in line.get_xdata()]
    assert min(xs) == 1 and max(xs) == 10  # D0 (near 100%) would flatten D1-D30
    assert "day 0: control" in ax.get_title()


def test_cohort_heatmaps_share_one_colour_scale_and_show_cohort_sizes(logs):
    table = R.cohort_table(*logs, days=(1, 7))
    a, b = table.plot("control"), table.plot("treatment")
    ia, ib = a.images[0], b.images[0]
    assert ia.get_clim() == ib.get_clim()
    df = table.to_pandas()
    assert ia.get_clim() == pytest.approx((100 * df.retention.min(), 100 * df.retention.max()))
    labels = [t.get_text() for t in a.get_yticklabels()]
    first = df[df.variant == "control"].sort_values("cohort").iloc[0]
    assert labels[0] == f"{first.cohort} (n={int(first.n + first.immature):,})"
    # light cells (top of the scale) carry dark text
    lo, hi = ia.get_clim()
    for text in a.texts:
        value = float(text.get_text())
        assert text.get_color() == ("black" if (value - lo) / (hi - lo) > 0.6 else "white")


def test_forest_colours_follow_the_metrics_direction():
    import pandas as pd

    stats = pd.DataFrame(
        {
            "variant": ["control", "treatment"],
            "up__n": [5000, 5000], "up__sum": [1000, 1150],  # significant rise, good
            "churn__n": [5000, 5000], "churn__sum": [1000, 1150],  # the same rise: bad
            "flat__n": [5000, 5000], "flat__sum": [1000, 1005],
        }
    )  # fmt: skip
    metrics = [
        ab.Proportion("up"),
        ab.Proportion("churn", higher_is_better=False),
        ab.Proportion("flat"),
    ]
    res = ab.Experiment(metrics=metrics).analyze_stats(stats)
    ax = res.plot()
    colours = [line.get_color() for line in ax.lines if line.get_marker() == "o"]
    # drawn bottom-up in reverse order: flat, churn, up
    assert colours == ["#6e7781", "#cf222e", "#1a7f37"]
