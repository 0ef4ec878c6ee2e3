"""Experiment design: plan, MDE curve and the design notebook."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from abkit.design import plan_retention_test
from abkit.errors import ReportError, SpecError
from abkit.report import run_design


def test_plan_matches_the_textbook_formula():
    # Unpooled z-test sample size, per arm (e.g. Chow, Shao & Wang, Sample Size Calculations in
    # Clinical Research, eq. 4.2.2): n = (z_{1-a/2} + z_{1-b})^2 (p1 q1 + p2 q2) / d^2
    p1, d = 0.20, 0.01
    p2 = p1 + d
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    textbook = z**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / d**2
    plan = plan_retention_test(p1, d, relative=False, daily_units=5_000, metric_day=7)
    # statsmodels' NormalIndPower also counts the far tail, so it may need one unit more
    assert math.ceil(textbook) <= plan.result.nobs_control <= math.ceil(textbook) + 1
    enrol = math.ceil(2 * plan.result.nobs_control / 5_000)
    assert plan.result.duration_days == enrol + 8  # + (7 + 1) days of maturity wait


def test_mde_curve_crosses_the_target_at_the_planned_duration():
    plan = plan_retention_test(0.20, 0.05, daily_units=4_000, metric_day=7)
    curve = plan.mde_by_duration().set_index("duration_days")
    d = plan.result.duration_days
    assert curve.loc[d, "mde_rel"] <= 0.05 < curve.loc[d - 1, "mde_rel"]
    assert curve.mde_rel.is_monotonic_decreasing
    assert "21 days in all" in plan.summary()


def test_bad_plans():
    with pytest.raises(SpecError):
        plan_retention_test(0.2, 0.05, daily_units=0)
    with pytest.raises(SpecError):
        plan_retention_test(0.2, 0.05, daily_units=100, metric_day=-1)


def test_design_notebook_runs(tmp_path):
    html = run_design(out=tmp_path, baseline=0.3, mde=0.04, daily_units=3_000, metric_day=1)
    text = html.read_text(encoding="utf-8")
    assert "Experiment design: day-1 retention" in text and "<img" in text
    assert (tmp_path / "design.ipynb").is_file()
    with pytest.raises(ReportError, match="--force"):
        run_design(out=tmp_path, baseline=0.3, mde=0.04, daily_units=3_000)
    with pytest.raises(ReportError) as info:
        run_design(out=tmp_path / "x", baseline=1.5, mde=0.04, daily_units=3_000)
    assert info.value.exit_code == 2
