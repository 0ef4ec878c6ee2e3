"""Progress of a running experiment against the spec's ``design:`` (the report's first screen)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from abkit.design import PlanProgress, plan_progress, plan_retention_test

if TYPE_CHECKING:
    from abkit.results import ExperimentResult
    from abkit.spec import ExperimentSpec

__all__ = ["design_progress"]


def design_progress(
    spec: ExperimentSpec, res: ExperimentResult, start: date
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
    )
