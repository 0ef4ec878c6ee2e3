"""Planning a retention experiment: sample size, duration (with the maturity delay) and MDE curves.

A day-N retention metric only counts a unit N + 1 days after its exposure, so an experiment that
enrols for ``E`` days reports on the units of those days only after ``E + N + 1`` days. The plan
below uses :mod:`abkit.stats.power` (statsmodels' power classes underneath) for the unpooled
two-proportion z-test that abkit runs.

Example:
    >>> plan = plan_retention_test(0.20, 0.05, daily_units=4_000, metric_day=7)
    >>> plan.result.nobs_control > 0, plan.result.duration_days > 8
    (True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from abkit.errors import SpecError
from abkit.stats.power import PowerResult, mde_proportions, sample_size_proportions

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["RetentionTestPlan", "plan_retention_test"]


@dataclass(frozen=True, slots=True)
class RetentionTestPlan:
    """Sample size and duration for one retention test, and the MDE for other durations."""

    baseline: float
    mde: float
    relative: bool
    daily_units: float
    metric_day: int
    alpha: float
    power: float
    variance_reduction: float
    ratio: float
    result: PowerResult

    def mde_by_duration(self, max_days: int | None = None) -> pd.DataFrame:
        """MDE (absolute and relative) reachable for each total duration in days.

        Total duration = enrolment days + ``metric_day + 1`` days of waiting for maturity.
        """
        import pandas as pd

        wait = self.metric_day + 1
        top = max_days or max(2 * (self.result.duration_days or wait + 1), wait + 14)
        rows = []
        for total in range(wait + 1, top + 1):
            enrol = total - wait
            n_c = self.daily_units * enrol / (1 + self.ratio)
            if n_c < 10:
                continue
            r = mde_proportions(
                self.baseline,
                n_c,
                alpha=self.alpha,
                power=self.power,
                ratio=self.ratio,
                variance_reduction=self.variance_reduction,
            )
            rows.append(
                {
                    "duration_days": total,
                    "enrollment_days": enrol,
                    "n_control": round(n_c),
                    "mde_abs": r.mde_abs,
                    "mde_rel": r.mde_rel,
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> str:
        r = self.result
        target = f"{100 * self.mde:.3g}% relative" if self.relative else f"{100 * self.mde:.3g} pp"
        vr = (
            f" with a {100 * self.variance_reduction:.0f}% CUPED variance reduction"
            if self.variance_reduction
            else ""
        )
        return (
            f"To detect a {target} change of day-{self.metric_day} retention from a baseline of "
            f"{100 * self.baseline:.3g}% (alpha = {self.alpha:g}, power = {self.power:g}){vr}: "
            f"{math.ceil(r.nobs_control):,} units in control and {math.ceil(r.nobs_treatment):,} "
            f"in treatment. At {self.daily_units:,.0f} new units a day that is "
            f"{r.enrollment_days} days of enrolment plus {self.metric_day + 1} days until the last "
            f"units' day {self.metric_day} has ended: {r.duration_days} days in all."
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Relative MDE against total duration, with the plan marked."""
        import matplotlib.pyplot as plt

        df = self.mde_by_duration()
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(df.duration_days, 100 * df.mde_rel, color="#1f77b4")
        if self.result.duration_days is not None:
            ax.axvline(
                self.result.duration_days,
                color="#d62728",
                ls="--",
                lw=1,
                label=f"plan: {self.result.duration_days} days",
            )
            ax.legend()
        ax.set_xlabel("total duration (days, including the maturity wait)")
        ax.set_ylabel("minimum detectable lift (% relative)")
        ax.set_title(f"Day-{self.metric_day} retention, baseline {100 * self.baseline:.3g}%")
        ax.grid(alpha=0.3)
        return ax


def plan_retention_test(
    baseline: float,
    mde: float,
    *,
    daily_units: float,
    metric_day: int = 7,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    variance_reduction: float = 0.0,
    ratio: float = 1.0,
) -> RetentionTestPlan:
    """Plan a test of day-``metric_day`` retention.

    Args:
        baseline: expected control retention, e.g. 0.20.
        mde: smallest effect worth detecting (relative unless ``relative=False``).
        daily_units: new units entering the experiment per day (all arms).
        metric_day: N of the day-N metric (its maturity delay is N + 1 days).
        relative: whether ``mde`` is relative to ``baseline``.
        alpha, power: test size and target power.
        variance_reduction: expected CUPED variance reduction in [0, 1).
        ratio: ``n_treatment / n_control``.
    """
    if isinstance(metric_day, bool) or not isinstance(metric_day, int) or metric_day < 0:
        raise SpecError(f"metric_day must be a non-negative integer, got {metric_day!r}")
    if not (isinstance(daily_units, int | float) and daily_units > 0):
        raise SpecError(f"daily_units must be positive, got {daily_units!r}")
    res = sample_size_proportions(
        baseline,
        mde,
        relative=relative,
        alpha=alpha,
        power=power,
        ratio=ratio,
        variance_reduction=variance_reduction,
        daily_units=daily_units,
        metric_day=metric_day,
    )
    return RetentionTestPlan(
        float(baseline),
        float(mde),
        relative,
        float(daily_units),
        metric_day,
        alpha,
        power,
        variance_reduction,
        ratio,
        res,
    )
