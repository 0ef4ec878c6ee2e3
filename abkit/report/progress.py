"""A running experiment's progress: against the spec's ``design:`` (the report's first screen),
and when each metric becomes readable (the header's "Readable" row)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from abkit.design import PlanProgress, plan_progress, plan_retention_test

if TYPE_CHECKING:
    from abkit.results import ExperimentResult
    from abkit.spec import ExperimentSpec

__all__ = ["MetricMaturity", "design_progress", "maturity"]


def design_progress(
    spec: ExperimentSpec, res: ExperimentResult, start: date, last_exposure: datetime | None = None
) -> PlanProgress | None:
    """The plan of ``spec.design`` for the design metric, and how far ``res`` is along it.

    The plan is sized for the smallest treatment arm's weight relative to the control's (so every
    treatment gets at least the planned power) at the spec's alpha and alternative; a unit counts
    once the design metric has matured for it (the comparison's ``n``). None without a design or
    for a per-unit table.
    """
    d, metric = spec.design, spec.design_metric
    if d is None or metric is None or res.as_of is None:
        return None
    weights = dict(zip(spec.variant_names, spec.weights, strict=True))
    w_c = weights[res.control]
    m = next(m for m in spec.build_metrics() if m.name == metric)
    plan = plan_retention_test(
        d.baseline,
        d.mde,
        daily_units=d.daily_units,
        metric_day=max(0, m.mature_after_days - 1),
        relative=d.relative,
        alpha=spec.alpha,
        power=d.power,
        variance_reduction=d.variance_reduction,
        ratio=min(w for v, w in weights.items() if v != res.control) / w_c,
        alternative=spec.alternative,
    )
    mature: dict[str, int] = {}
    for mc in res.comparisons:
        if mc.metric == metric and mc.segment is None:
            mature[res.control] = mc.comparison.n_control
            mature[mc.variant] = mc.comparison.n_treatment
    return plan_progress(
        plan,
        metric=metric,
        weights=weights,
        control=res.control,
        exposed=dict(zip(res.srm.variants, res.srm.observed, strict=True)),
        mature=mature,
        start=start,
        as_of=res.as_of,
        last_exposure=last_exposure,
    )


@dataclass(frozen=True, slots=True)
class MetricMaturity:
    """When a metric with a window can be read: a unit counts once ``mature_after_days`` have
    passed since its exposure."""

    metric: str
    label: str
    mature_after_days: int
    #: units (all arms) whose window has ended by as_of, and those still waiting
    units_mature: int
    units_waiting: int
    #: the day after whose end every unit enrolled by as_of has its window ended
    all_enrolled_mature_on: date
    #: with a design: the day after whose end the planned sample is mature, at the enrolment
    #: rate observed so far
    planned_sample_mature_on: date | None

    @property
    def share_mature(self) -> float:
        total = self.units_mature + self.units_waiting
        return self.units_mature / total if total else 0.0

    def text(self) -> str:
        line = f"{self.label}: {self.share_mature:.0%} of units mature"
        if self.units_waiting:
            line += f"; all units enrolled so far after {self.all_enrolled_mature_on.isoformat()}"
        if self.planned_sample_mature_on is not None:
            line += f"; the planned sample after {self.planned_sample_mature_on.isoformat()}"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "mature_after_days": self.mature_after_days,
            "units_mature": self.units_mature,
            "units_waiting": self.units_waiting,
            "share_mature": self.share_mature,
            "all_enrolled_mature_on": self.all_enrolled_mature_on.isoformat(),
            "planned_sample_mature_on": None
            if self.planned_sample_mature_on is None
            else self.planned_sample_mature_on.isoformat(),
        }


def maturity(
    spec: ExperimentSpec,
    res: ExperimentResult,
    last_exposure: datetime,
    progress: PlanProgress | None = None,
) -> list[MetricMaturity]:
    """Each windowed metric's maturity as of ``res.as_of`` (empty for a per-unit table).

    ``all_enrolled_mature_on`` is the day of ``last_exposure + mature_after_days``; with a
    plan, the planned sample's last enrolment day (from :attr:`PlanProgress.projected_end`) plus
    the metric's delay. Counts are of the overall comparisons (the first treatment's, so the
    control is counted once).
    """
    if res.as_of is None:
        return []
    delays = {m.name: m.mature_after_days for m in spec.build_metrics()}
    design_delay = None if progress is None else progress.plan.metric_day + 1
    out, seen = [], set()
    for mc in res.comparisons:
        m = delays.get(mc.metric, 0)
        if mc.segment is not None or m == 0 or mc.metric in seen:
            continue
        seen.add(mc.metric)
        arms = [x for x in res.comparisons if x.metric == mc.metric and x.segment is None]
        mature = mc.comparison.n_control + sum(x.comparison.n_treatment for x in arms)
        waiting = mc.immature_control + sum(x.immature_treatment for x in arms)
        planned = None
        if progress is not None and progress.projected_end is not None and design_delay:
            planned = progress.projected_end + timedelta(days=m - design_delay)
        out.append(
            MetricMaturity(
                metric=mc.metric,
                label=res.metric(mc.metric).label,
                mature_after_days=m,
                units_mature=mature,
                units_waiting=waiting,
                all_enrolled_mature_on=(last_exposure + timedelta(days=m)).date(),
                planned_sample_mature_on=planned,
            )
        )
    return out
