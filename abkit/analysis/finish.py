"""Result assembly: from the statistics frame to a frozen ExperimentResult, and the
conservation checks that withhold a result whose counts do not add up."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit.analysis.compare import adjust_segments, compare_slice, guardrails, records, srm
from abkit.errors import ConsistencyError, DataError
from abkit.quality import (
    FindingsBuilder,
    label_variant_findings,
    metric_exclusion_findings,
    srm_finding,
    unknown_variant_findings,
)
from abkit.query.fold import grouped
from abkit.query.frame import (
    CAP,
    CX,
    CXY,
    IMMATURE,
    MAX,
    MIN,
    MISSING,
    N_UNITS,
    SUM,
    SUMSQ,
    VARIANT,
    combine,
    is_stat_col,
    stat_col,
)
from abkit.query.values import quantile_capped
from abkit.results import ExperimentResult, MetricInfo, decide

if TYPE_CHECKING:
    import pandas as pd

    from abkit.analysis.options import AnalysisOptions
    from abkit.metrics import Metric
    from abkit.results import MetricComparison

__all__ = ["finish", "marginal", "reconcile"]


def _isnull(v: Any) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))


def finish(
    opts: AnalysisOptions,
    stats: pd.DataFrame,
    dq: FindingsBuilder,
    *,
    as_of: datetime | None,
    sql: str | None,
) -> ExperimentResult:
    """Compare every treatment to control, overall and per segment, and assemble the result.

    Raises:
        DataError: control is absent, only one variant was found, or a metric's values are
            infinite or not 0/1 where they must be.
    """
    stats = stats.copy()
    stats[VARIANT] = stats[VARIANT].astype(str)
    found = sorted(stats[VARIANT].unique().tolist())
    total = int(stats[N_UNITS].sum())
    if opts.variants is not None:
        variants = list(opts.variants)
        unknown = [v for v in found if v not in variants]
        if unknown:
            n_unknown = int(stats.loc[stats[VARIANT].isin(unknown), N_UNITS].sum())
            unknown_variant_findings(unknown, n_unknown, total, variants, dq)
            stats = stats[~stats[VARIANT].isin(unknown)]
    else:
        variants = found
    # every label found (excluded ones count 0 units): "Treatment" next to "treatment" is a clash
    kept: dict[str, int] = {}
    for v, n in zip(stats[VARIANT].tolist(), stats[N_UNITS].tolist(), strict=True):
        kept[v] = kept.get(v, 0) + int(n)
    label_variant_findings({v: kept.get(v, 0) for v in found}, dq)
    if opts.control not in found:
        raise DataError(
            f"control {opts.control!r} is not among the variant values found in the data "
            f"{found}; pass control= one of them" + _case_hint(opts.control, found)
        )
    if len(found) < 2 and opts.variants is None:
        raise DataError(
            f"the variant column has a single value {found}; an A/B comparison needs at least "
            "two variants"
        )
    variants = [opts.control, *[v for v in variants if v != opts.control]]
    dq.counts["units_analyzed"] = int(stats[N_UNITS].sum())

    _check_metric_values(opts.metrics, stats)
    overall = marginal(stats, [VARIANT])
    check = srm(opts, overall, variants)
    if check.flagged and check.pvalue is not None:
        observed = dict(zip(check.variants, check.observed, strict=True))
        srm_finding(observed, check.weights, check.pvalue, check.threshold, dq)
    arms, comps = compare_slice(opts, overall, variants, segment=None)
    guards = guardrails(opts, overall, variants)
    seg_comps: list[MetricComparison] = []
    seg_units: list[tuple[str, str, str, int]] = []
    for seg in opts.segments:
        table = marginal(stats, [VARIANT, seg])
        seg_units.extend(
            (seg, str(r[seg]), str(r[VARIANT]), int(r[N_UNITS])) for r in records(table)
        )
        for value in sorted(table[seg].unique().tolist(), key=str):
            sub = table[table[seg] == value]
            a, cmp = compare_slice(opts, sub, variants, segment=(seg, str(value)))
            arms.extend(a)
            seg_comps.extend(cmp)
    seg_comps = adjust_segments(seg_comps)
    n_overall = int(overall[N_UNITS].sum())
    for m in opts.metrics:
        immature = int(overall[stat_col(m, IMMATURE)].sum())
        missing = int(overall[stat_col(m, MISSING)].sum())
        metric_exclusion_findings(m.name, immature, missing, n_overall, dq)
    order = sorted(opts.metrics, key=lambda m: 0 if m.name == opts.primary_metric else 1)
    comps.sort(key=lambda c: [m.name for m in order].index(c.metric))
    quality = dq.freeze(accept=opts.accept_findings)
    # the one decision per comparison that every surface shows
    withheld = ", ".join(f.code for f in quality.blocking) or None
    decided = decide(
        (*comps, *seg_comps),
        alpha=opts.alpha,
        correction=opts.correction,
        primary_metric=opts.primary_metric,
        withheld=withheld,
    )
    return ExperimentResult(
        name=opts.name,
        control=opts.control,
        variants=tuple(variants),
        as_of=as_of,
        alpha=opts.alpha,
        alternative=opts.alternative,
        metrics=tuple(_metric_info(m, stats, opts.cuped) for m in order),
        comparisons=decided[: len(comps)],
        segment_comparisons=decided[len(comps) :],
        arms=tuple(arms),
        srm=check,
        data_quality=quality,
        primary_metric=opts.primary_metric,
        sql=sql,
        segment_units=tuple(sorted(seg_units)),
        guardrails=tuple(guards),
        correction=opts.correction,
    )


def _check_metric_values(metrics: tuple[Metric, ...], stats: pd.DataFrame) -> None:
    """Infinite values anywhere, and values other than 0/1 in a Proportion's column, are errors."""
    for m in metrics:
        lo_col, hi_col = stat_col(m, MIN), stat_col(m, MAX)
        if lo_col in stats.columns and hi_col in stats.columns:
            lo, hi = stats[lo_col].min(), stats[hi_col].max()
            if any(not _isnull(x) and math.isinf(x) for x in (lo, hi)):
                where = (
                    "the events' 'value' column"
                    if m.source == "events"
                    else f"column {m.columns[0]!r}"
                )
                raise DataError(
                    f"metric {m.name!r}: {where} holds infinite values (min {lo}, max {hi}); "
                    "replace them (e.g. df[col].replace([np.inf, -np.inf], np.nan)) or cap "
                    "them before analysing"
                )
        if m.kind != "proportion" or m.source == "events":
            continue
        lo, hi = stats[lo_col].min(), stats[hi_col].max()
        s, ss = stats[stat_col(m, SUM)].sum(), stats[stat_col(m, SUMSQ)].sum()
        if (not _isnull(lo) and lo < 0) or (not _isnull(hi) and hi > 1) or abs(s - ss) > 1e-6:
            column = m.columns[0]
            raise DataError(
                f"column {column!r} of Proportion metric {m.name!r} has values other than "
                f"0/1 (min {lo}, max {hi}); use Mean({column!r}) for a numeric column or "
                "recode it to 0/1"
            )


def _case_hint(control: str, found: list[str]) -> str:
    near = [v for v in found if v.strip().lower() == control.strip().lower()]
    return f". Did you mean {near[0]!r}? (labels differ in case or whitespace)" if near else ""


_CUPED_WHAT = {"days": "active days", "count": "events", "value": "sum of value"}


def _metric_info(m: Metric, stats: pd.DataFrame, cuped: int | None = None) -> MetricInfo:
    """``m``'s :class:`MetricInfo`, with the values its quantile caps came to in ``stats`` and
    the CUPED covariate it was adjusted for."""
    cap = m.cap
    used = []
    for p in quantile_capped([m]):
        col = stat_col(p, CAP)
        found = stats[col].dropna() if col in stats.columns else None
        value = float(found.max()) if found is not None and len(found) else None
        used.append(f"{p.name} = {value:.6g}" if value is not None else f"{p.name}: no unit")
        if p is m:
            cap = value
    definition = m.definition + (f"; cap used: {', '.join(used)}" if used else "")
    kind = m.cuped_covariate
    if stat_col(m, CXY) in stats.columns:
        if cuped and kind:
            definition += (
                f"; lift adjusted by CUPED for the unit's {_CUPED_WHAT[kind]} (same event "
                f"filter) in the {cuped} days before first exposure"
            )
        elif m.covariate:
            definition += (
                f"; lift adjusted by CUPED for the per-unit column {m.covariate!r} "
                "(nulls count as 0)"
            )
        else:
            definition += (
                "; lift adjusted by CUPED for the covariate whose sums were given "
                f"({stat_col(m, CX)}, __cxx, __cxy)"
            )
    return MetricInfo(
        m.name,
        m.label,
        m.kind,
        definition,
        None if cap is None else float(cap),
        m.higher_is_better,
    )


def marginal(stats: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sum sufficient statistics over every group column not in ``by`` (min/max combine as such)."""
    agg = {c: combine(c) for c in stats.columns if is_stat_col(c)}
    return grouped(stats, by, agg, sort=True)


#: the event-row categories; each row is in exactly one
_EVENT_PARTS = (
    "event_null_ids",
    "event_null_times",
    "events_unexposed_units",
    "events_before_exposure",
    "events_after_as_of",
    "events_beyond_windows",
    "events_in_analysis",
)


def reconcile(res: ExperimentResult, distinct_ids: int, *, events_given: bool) -> None:
    """Conservation checks: every unit and every event is in exactly one category.

    Raises:
        ConsistencyError: the counts do not add up (withholding a result that lost data).
    """
    c = res.data_quality.counts
    problems = []
    accounted = (
        c.get("units_analyzed", 0)
        + c.get("units_multiple_variants", 0)
        + c.get("units_unknown_variant", 0)
        + c.get("units_without_valid_exposure", 0)
    )
    if accounted != distinct_ids:
        problems.append(f"{distinct_ids:,} distinct unit ids but {accounted:,} accounted for")
    for m in res.metrics:
        arms = [a for a in res.arms if a.metric == m.name and a.segment is None]
        total = sum(a.n + a.immature + a.missing for a in arms)
        if total != c.get("units_analyzed", 0):
            problems.append(f"{m.name}: {total:,} units counted vs {c.get('units_analyzed', 0):,}")
    if events_given:
        summed = sum(c.get(k, 0) for k in _EVENT_PARTS)
        if summed != c.get("event_rows", 0):
            problems.append(
                f"{c.get('event_rows', 0):,} event rows but the categories sum to {summed:,}"
            )
    if problems:
        raise ConsistencyError(
            "conservation check failed (" + "; ".join(problems) + "); the result is withheld. "
            "This is a bug in abkit: please report it with res.data_quality counts"
        )
