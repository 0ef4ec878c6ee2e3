"""Result assembly: from the statistics frame to a frozen ExperimentResult, and the
conservation checks that withhold a result whose counts do not add up."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit.analysis.compare import (
    Cells,
    adjust_segments,
    compare_slice,
    guardrails,
    records,
    split_rows,
    srm,
    strata_rows,
)
from abkit.errors import ConsistencyError, DataError, SpecError
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
    RATIO_CUPED_FIELDS,
    SUM,
    SUMSQ,
    VARIANT,
    N,
    combine,
    is_stat_col,
    split_stat_col,
    stat_col,
)
from abkit.query.values import adjust_field, quantile_capped
from abkit.results import ExperimentResult, MetricInfo, decide
from abkit.stats.adjust import MIN_UNITS

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
    covariates: Sequence[str] = (),
) -> ExperimentResult:
    """Compare every treatment to control, overall and per segment, and assemble the result.

    ``covariates``: the numeric columns of ``opts.adjust`` (their sums are in ``stats``); the
    other ``adjust`` columns are strata, group columns of ``stats``.

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
    strata = tuple(c for c in opts.adjust if c not in covariates)
    pooled: dict[str, set[Any]] = {}
    adjusting = bool(opts.adjust)
    if adjusting:
        _check_adjust(strata, tuple(covariates), stats, dq)

    def cells(by: str | None) -> dict[Any, Cells] | None:
        """Per value of segment ``by`` (one key None overall), the rows per arm and stratum."""
        if not adjusting:
            return None
        rest = tuple(c for c in strata if c != by)
        table = marginal(stats, [VARIANT, *([by] if by else []), *rest])
        blocks = strata_rows(table, rest, by)
        return {k: Cells(b, rest, tuple(covariates), pooled) for k, b in blocks.items()}

    overall_cells = cells(None)
    arms, comps = compare_slice(
        opts, overall, variants, segment=None, cells=overall_cells[None] if overall_cells else None
    )
    overall_pooled = {k: set(v) for k, v in pooled.items()}
    guards = guardrails(opts, overall, variants)
    seg_comps: list[MetricComparison] = []
    seg_units: list[tuple[str, str, str, int]] = []
    for seg in opts.segments:
        table = marginal(stats, [VARIANT, seg])
        seg_units.extend(
            (seg, str(r[seg]), str(r[VARIANT]), int(r[N_UNITS])) for r in records(table)
        )
        blocks = split_rows(table, seg)  # one pass: a mask per value was quadratic
        seg_cells = cells(seg)
        for value in sorted(blocks, key=str):
            here = seg_cells.get(value) if seg_cells is not None else None
            a, cmp = compare_slice(
                opts, blocks[value], variants, segment=(seg, str(value)), cells=here
            )
            arms.extend(a)
            seg_comps.extend(cmp)
    seg_comps = adjust_segments(seg_comps)
    if overall_pooled:
        _pooled_finding(strata, overall_pooled, dq)
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


def _check_adjust(
    strata: tuple[str, ...], covariates: tuple[str, ...], stats: pd.DataFrame, dq: FindingsBuilder
) -> None:
    """Strata must be group columns of ``stats``; an attribute with one value adjusts nothing
    (an info finding says so).

    Raises:
        SpecError: a stratum column is not among the statistics' group columns.
    """
    missing = [c for c in strata if c not in stats.columns]
    if missing:
        raise SpecError(
            f"adjust= columns {missing} are not group columns of the statistics; pre-aggregated "
            "input needs one row per variant and value of each adjust column (an incremental "
            "state= refresh does not keep them: analyse without state=)"
        )
    for c in strata:
        values = sorted({str(v) for v in stats[c].tolist()})
        if len(values) == 1:
            dq.add(
                "adjust_constant",
                "info",
                0,
                None,
                f"adjust column {c!r} has the single value {values[0]!r}: it adjusts nothing; "
                "drop it from adjust=",
            )
    for i, c in enumerate(covariates):
        # Σz and Σz² of any metric that has them: a column without variance adjusts nothing
        z, zz = adjust_field("z", 2 * i), adjust_field("zz", 2 * i, 2 * i)
        names = [p[0] for p in map(split_stat_col, stats.columns) if p is not None and p[1] == zz]
        if not names:
            continue
        n = float(stats[stat_col(names[0], N)].sum())
        sz = float(stats[stat_col(names[0], z)].sum())
        szz = float(stats[stat_col(names[0], zz)].sum())
        if n > 0 and szz - sz * sz / n <= 1e-12 * max(abs(szz), 1.0):
            dq.add(
                "adjust_constant",
                "info",
                0,
                None,
                f"adjust column {c!r} is constant (or null) for every unit: it adjusts "
                "nothing; drop it from adjust=",
            )


def _pooled_finding(
    strata: tuple[str, ...], pooled: dict[str, set[Any]], dq: FindingsBuilder
) -> None:
    """One finding naming the sparse strata that were pooled for the overall comparisons."""
    keys = sorted(set().union(*pooled.values()), key=str)
    shown = "; ".join(
        ", ".join(f"{c}={v}" for c, v in zip(strata, k if isinstance(k, tuple) else (k,),
                                              strict=False))
        for k in keys[:10]
    )  # fmt: skip
    more = f" and {len(keys) - 10} more" if len(keys) > 10 else ""
    dq.add(
        "adjust_sparse_strata",
        "warning",
        len(keys),
        None,
        f"regression adjustment on {', '.join(strata)}: {len(keys)} strata with fewer than "
        f"{MIN_UNITS} units in an arm were pooled into one stratum (metrics "
        f"{sorted(pooled)}): {shown}{more}. Coarsen the attribute (group rare values) to keep "
        "them apart",
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
    if m.kind == "ratio" and stat_col(m, RATIO_CUPED_FIELDS[-1]) in stats.columns:
        what = [
            f"{_CUPED_WHAT[p.cuped_covariate]} (of {p.name})"
            for p in m.parts
            if p.cuped_covariate is not None
        ]
        if cuped and len(what) == 2:
            definition += (
                "; lift adjusted by CUPED (delta method, linearised ratio) for the unit's "
                f"{' and '.join(what)} in the {cuped} days before first exposure"
            )
        else:
            definition += (
                "; lift adjusted by CUPED (delta method, linearised ratio) for the pre-period "
                f"covariates whose sums were given ({stat_col(m, RATIO_CUPED_FIELDS[0])}, …)"
            )
    elif stat_col(m, CXY) in stats.columns:
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
