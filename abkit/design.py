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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from abkit.errors import SpecError
from abkit.stats.multi_power import MetricPlan, MultiMetricPlan, sample_size_multi
from abkit.stats.power import (
    PowerResult,
    duration_days,
    mde_proportions,
    sample_size_proportions,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "MetricPlan",
    "MultiMetricPlan",
    "PlanProgress",
    "RetentionTestPlan",
    "plan_multi_metric",
    "plan_progress",
    "plan_retention_test",
]


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
        top = min(top, wait + 730)  # two years of enrolment is as far as a curve is useful
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
    alternative: str = "two-sided",
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
        alternative: "two-sided", "greater" or "less", as the analysis will test.
    """
    if (
        isinstance(metric_day, bool)
        or not isinstance(metric_day, int)
        or not 0 <= metric_day <= 365
    ):
        raise SpecError(
            f"metric_day must be a whole number of days from 0 to 365, got {metric_day!r}"
        )
    if not (isinstance(daily_units, int | float) and 0 < daily_units <= 1e9):
        raise SpecError(
            f"daily_units must be a number of units per day in (0, 1e9], got {daily_units!r}"
        )
    res = sample_size_proportions(
        baseline,
        mde,
        relative=relative,
        alpha=alpha,
        power=power,
        ratio=ratio,
        alternative=alternative,
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


def _metric_plan(item: MetricPlan | Mapping[str, Any]) -> MetricPlan:
    if isinstance(item, MetricPlan):
        return item
    if not isinstance(item, Mapping):
        raise SpecError(f"a planned metric is a MetricPlan or a mapping, got {item!r}")
    try:
        return MetricPlan(**dict(item))
    except TypeError as exc:
        raise SpecError(
            f"planned metric {dict(item)!r}: {exc}; keys: name, baseline, mde (success) or "
            "margin (guardrail), sd (means), relative, higher_is_better"
        ) from None


def plan_multi_metric(
    success: Sequence[MetricPlan | Mapping[str, Any]],
    guardrails: Sequence[MetricPlan | Mapping[str, Any]] = (),
    *,
    daily_units: float | None = None,
    metric_day: int | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    n_treatments: int = 1,
    variance_reduction: float = 0.0,
) -> MultiMetricPlan:
    """Plan an experiment decided by Spotify's rule: ship only if at least one success metric is
    significantly better and no guardrail is inferior (:mod:`abkit.stats.multi_power`).

    Success metrics are tested at ``alpha / (S · n_treatments)``, guardrails (non-inferiority,
    one-sided) at ``alpha``; every test is powered at ``1 - (1 - power) / (G + 1)`` so that the
    decision's power is at least ``power``; the plan needs the largest sample size of them.

    Args:
        success: success metrics, each a :class:`MetricPlan` or a mapping such as
            ``{"name": "retention_d7", "baseline": 0.4, "mde": 0.05}``.
        guardrails: guardrails, e.g. ``{"name": "retention_d1", "baseline": 0.6, "margin": 0.02}``.
        daily_units: new units per day (all arms), for the duration.
        metric_day: N of the longest day-N metric (its maturity delay is N + 1 days).
        alpha, power, ratio, alternative, n_treatments, variance_reduction: see
            :func:`abkit.stats.multi_power.sample_size_multi`.

    Raises:
        SpecError: a planned metric is not a MetricPlan or a mapping of its fields.
        StatsError: a metric has both or neither of mde and margin, or an option is out of range.

    Example:
        >>> plan = plan_multi_metric(
        ...     [{"name": "retention_d7", "baseline": 0.40, "mde": 0.05}],
        ...     [{"name": "retention_d1", "baseline": 0.60, "margin": 0.03}],
        ...     daily_units=4_000, metric_day=7)
        >>> plan.binding, plan.nobs_control, plan.duration_days
        ('retention_d7', 12704, 15)
    """
    return sample_size_multi(
        [_metric_plan(m) for m in success],
        [_metric_plan(m) for m in guardrails],
        alpha=alpha,
        power=power,
        ratio=ratio,
        alternative=alternative,
        n_treatments=n_treatments,
        variance_reduction=variance_reduction,
        daily_units=daily_units,
        metric_day=metric_day,
    )


@dataclass(frozen=True, slots=True)
class PlanProgress:
    """How far a running experiment is along its plan (the report's first screen).

    A unit counts towards the plan once its metric has matured (its day-N window has ended by
    ``as_of``); the plan needs ``needed[arm]`` such units in every arm. Days are calendar days of
    UTC from ``start``: the plan lasts ``planned_days`` (enrolment plus the maturity wait),
    ``elapsed_days`` of them have passed by ``as_of``.
    """

    metric: str
    plan: RetentionTestPlan
    #: units the plan needs per arm (the control's from the plan, the others' by their weight)
    needed: Mapping[str, int]
    #: units exposed so far, and those whose metric has matured, per arm
    exposed: Mapping[str, int]
    mature: Mapping[str, int]
    start: date
    as_of: datetime
    elapsed_days: int
    planned_days: int
    #: the last day the planned sample matures at the enrolment rate observed so far
    projected_end: date | None

    @property
    def share(self) -> float:
        """The least-advanced arm's mature units as a share of its need (can exceed 1)."""
        return min(self.mature[a] / self.needed[a] for a in self.needed)

    @property
    def days_left(self) -> int:
        """Planned days not yet passed (0 once the plan's duration is over)."""
        return max(0, self.planned_days - self.elapsed_days)

    @property
    def complete(self) -> bool:
        """Every arm has the planned number of mature units."""
        return all(self.mature[a] >= self.needed[a] for a in self.needed)

    def text(self, label: str | None = None) -> str:
        """One line: units so far / needed, days so far / planned, and when it will be done."""
        what = label or self.metric
        arms = " · ".join(f"{a} {self.mature[a]:,} / {n:,}" for a, n in self.needed.items())
        done = f"{min(self.share, 1.0):.0%}"
        line = (
            f"Plan: {arms} units with {what} mature ({done}); day {self.elapsed_days} of "
            f"{self.planned_days} planned"
        )
        if self.complete:
            return line + " — the planned sample is complete."
        line += f", {self.days_left} day{'s' * (self.days_left != 1)} left"
        if self.projected_end is not None:
            line += (
                f"; at the enrolment rate so far the planned sample is mature after "
                f"{self.projected_end.isoformat()}"
            )
        return line + "."

    def to_dict(self) -> dict[str, Any]:
        """The fields of ``summary.json``'s ``design`` block."""
        return {
            "metric": self.metric,
            "baseline": self.plan.baseline,
            "mde": self.plan.mde,
            "relative": self.plan.relative,
            "power": self.plan.power,
            "daily_units_planned": self.plan.daily_units,
            "units_needed": dict(self.needed),
            "units_exposed": dict(self.exposed),
            "units_mature": dict(self.mature),
            "share_complete": self.share,
            "complete": self.complete,
            "start": self.start.isoformat(),
            "elapsed_days": self.elapsed_days,
            "planned_days": self.planned_days,
            "days_left": self.days_left,
            "projected_end": None if self.projected_end is None else self.projected_end.isoformat(),
        }


def plan_progress(
    plan: RetentionTestPlan,
    *,
    metric: str,
    weights: Mapping[str, float],
    control: str,
    exposed: Mapping[str, int],
    mature: Mapping[str, int],
    start: date,
    as_of: datetime,
    last_exposure: datetime | None = None,
) -> PlanProgress:
    """Compare a running experiment with its plan.

    Args:
        plan: the plan (:func:`plan_retention_test`; its ``ratio`` is the smallest treatment's
            weight over the control's, so every treatment arm gets at least the planned power).
        metric: name of the planned metric.
        weights: planned traffic weight per arm, the control included.
        control: the control arm.
        exposed, mature: units exposed so far and units whose metric has matured, per arm.
        start: the first day of enrolment.
        as_of: the time the data are read up to.
        last_exposure: the last exposure by ``as_of``: the enrolment rate is taken over the
            days from ``start`` to it (default: to ``as_of``), so an enrolment that has ended
            does not look slow.

    Example:
        >>> plan = plan_retention_test(0.2, 0.1, daily_units=1000, metric_day=1)
        >>> p = plan_progress(plan, metric="retention_d1", weights={"c": 0.5, "t": 0.5},
        ...                   control="c", exposed={"c": 3000, "t": 3000},
        ...                   mature={"c": 2500, "t": 2500}, start=date(2026, 11, 1),
        ...                   as_of=datetime(2026, 11, 7))
        >>> p.needed["c"], p.elapsed_days, p.planned_days, p.projected_end
        (6507, 6, 16, datetime.date(2026, 11, 16))
    """
    n_c = math.ceil(plan.result.nobs_control - 1e-9)
    w_c = weights[control]
    needed = {
        a: n_c if a == control else math.ceil(n_c * w / w_c - 1e-9) for a, w in weights.items()
    }
    wait = plan.metric_day + 1
    planned = duration_days(sum(needed.values()), plan.daily_units, metric_day=plan.metric_day)
    elapsed = max(0, (as_of.date() - start).days)
    enrolling = elapsed
    if last_exposure is not None:
        enrolling = min(elapsed, max(1, (last_exposure.date() - start).days + 1))
    projected = None
    if enrolling > 0 and all(exposed.get(a, 0) > 0 for a in needed):
        # enrolment days the slowest arm needs at its observed rate, then the maturity wait
        enrol = max(math.ceil(needed[a] / (exposed[a] / enrolling) - 1e-9) for a in needed)
        projected = start + timedelta(days=enrol + wait - 1)
    return PlanProgress(
        metric=metric,
        plan=plan,
        needed=needed,
        exposed={a: int(exposed.get(a, 0)) for a in needed},
        mature={a: int(mature.get(a, 0)) for a in needed},
        start=start,
        as_of=as_of,
        elapsed_days=elapsed,
        planned_days=planned,
        projected_end=projected,
    )
