"""The query plans: one analysis query for exposure and event logs, one for per-unit tables.

Both return the statistics frame of :mod:`abkit.query.frame`; :mod:`abkit.query.collect`
decodes it. ``build_analysis_query`` is moved whole: its nested helpers share per-query state,
and the plan is tuned (docs/scale.md).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit.errors import SpecError
from abkit.query.events import PerUnit, per_unit_events
from abkit.query.exposures import backend_name, calendar_days, day_index, first_exposures
from abkit.query.frame import (
    AGE_COL,
    CAT_COL,
    CX,
    CXX,
    CXY,
    E_ROWS,
    EVENT_DQ,
    MAX,
    MIN,
    N_ROWS,
    N_UNITS,
    PRE_ROWS,
    STATUS_COL,
    STATUS_MULTI,
    STATUS_OK,
    STATUS_OTHER,
    SUM,
    SUMSQ,
    VARIANT,
    X_COUNTS,
    X_IDS,
    X_MIN,
    N,
    stat_col,
)
from abkit.query.quantiles import quantile_aggregates, quantile_metrics, with_quantile_ranks
from abkit.query.sums import exact_parts, exact_sum
from abkit.query.values import (
    adjust_sums,
    cap_aggregates,
    cap_of,
    capped,
    column_stats,
    column_value,
    covariate_values,
    quantile_capped,
    ratio_aggregates,
    ratio_covariate_sums,
    with_quantile_caps,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

    from abkit.metrics import EventMetric, Metric

__all__ = [
    "StatsQuery",
    "all_event_parts",
    "build_analysis_query",
    "build_statistics",
    "build_unit_stats",
    "exposure_counts",
    "merge_frames",
]


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """The aggregation query and the names of its group columns.

    ``copies``: statistics columns the query computes once for several metrics (column →
    the query's column holding its values); :meth:`expand` adds them to a result frame.
    """

    expr: ir.Table
    group_cols: tuple[str, ...]
    copies: Mapping[str, str] = field(default_factory=dict)
    #: how each aggregate column of two disjoint sets of units adds up group by group ("sum",
    #: "min" or "max"; :func:`merge_frames`); None when some column does not add up exactly
    #: (fractional sums, quantile caps and ranks): the incremental refresh's settled units
    merge: Mapping[str, str] | None = None
    #: the grouping keys of the statistics rows (``group_cols`` and the event category)
    keys: tuple[str, ...] = ()

    def expand(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the :attr:`copies` columns added and their shared sources dropped."""
        if not self.copies:
            return frame
        import pandas as pd

        added = pd.DataFrame({c: frame[src] for c, src in self.copies.items()}, index=frame.index)
        shared = sorted(set(self.copies.values()))
        return pd.concat([frame.drop(columns=shared), added], axis=1)


def all_event_parts(metrics: Sequence[Metric]) -> list[EventMetric]:
    """Distinct event metrics to compute per unit: event metrics and ratios' event parts."""
    out: list[EventMetric] = []
    for m in metrics:
        for p in m.event_parts:
            if p not in out:
                out.append(p)
    return out


def cuped_adjusted(metrics: Sequence[Metric]) -> list[Metric]:
    """The event metrics that get a CUPED covariate: event metrics, and both parts of a ratio
    whose parts are event metrics with a covariate (:attr:`Metric.cuped_covariate`)."""
    out = [m for m in metrics if m.unit_value is not None]
    for m in metrics:
        if m.kind == "ratio" and all(p.cuped_covariate is not None for p in m.parts):
            out += [p for p in m.parts if p not in out]
    return out


def _cov_col(base: str) -> str:
    """The per-unit column holding the CUPED covariate read from per-unit column ``base``."""
    return base + "_x"


def _cov_base(src: str | tuple[str, int, int]) -> str:
    """The per-unit column a CUPED covariate is read from (its aggregate or bit mask)."""
    return src[0] if isinstance(src, tuple) else src


def build_analysis_query(
    exposures: ir.Table,
    events: ir.Table | None,
    metrics: Sequence[Metric],
    *,
    segments: Sequence[str],
    carry: Sequence[str],
    as_of: datetime,
    backend: str | None = None,
    cuped: int | None = None,
    variants: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
) -> StatsQuery:
    """The one query of an exposures (+ events) analysis: statistics and data quality together.

    ``variants``: the expected variant labels (None: any); units in others are not analysed
    and do not count toward quantile caps. ``cuped``: CUPED lookback in days (None: off).

    Plan (one scan of each input):

    1. exposures grouped by unit: first exposure ``t0``, its variant and segment values, and the
       exposure data-quality counts (:func:`first_exposures` with ``quality=True``);
    2. every event joined to those units once; rows in a metric window grouped by unit (all
       event metrics; Retention windows from one bit mask of active days), the other rows
       counted by category (the event data-quality counts, see :data:`EV_DQ`);
    3. the two tables full-outer-joined and grouped by ``(_status, variant, segments…)``:
       sufficient statistics for analysed units (``_status == 0``), and data-quality sums over
       all rows (units in several variants, never-exposed units and null ids included).
    """
    be = backend or backend_name(exposures, events)
    event_metrics = all_event_parts(metrics)
    first = first_exposures(exposures, as_of=as_of, carry=carry, backend=be, quality=True)
    per_unit = None
    if events is not None:
        per_unit = per_unit_events(
            events,
            first,
            event_metrics,
            as_of=as_of,
            backend=be,
            lookback=cuped,
            # CUPED adjusts event metrics, and ratios of event metrics by both parts
            adjusted=cuped_adjusted(metrics),
        )
    elif event_metrics:
        raise SpecError(
            f"metrics {[m.name for m in event_metrics]} are computed from events; pass events="
        )
    return build_statistics(
        first,
        per_unit,
        exposure_counts(exposures, as_of),
        metrics,
        segments=segments,
        as_of=as_of,
        backend=be,
        cuped=cuped,
        variants=variants,
        covariates=covariates,
    )


def exposure_counts(exposures: ir.Table, as_of: datetime) -> ir.Table:
    """The exposure log's row counts (:data:`X_COUNTS`) and first time: one scalar pass."""
    import ibis

    t = exposures
    counted = (
        t.count(),
        t.unit_id.isnull().cast("int64").sum(),
        (t.unit_id.notnull() & t.variant.isnull()).cast("int64").sum(),
        (t.unit_id.notnull() & t.exposed_at.isnull()).cast("int64").sum(),
        (t.exposed_at > ibis.literal(as_of)).cast("int64").sum(),
    )
    return t.aggregate(**dict(zip(X_COUNTS, counted, strict=True)), **{X_MIN: t.exposed_at.min()})


def build_statistics(
    first: ir.Table,
    per_unit: PerUnit | None,
    x_counts: ir.Table | None,
    metrics: Sequence[Metric],
    *,
    segments: Sequence[str],
    as_of: datetime,
    backend: str,
    cuped: int | None = None,
    variants: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
    settled: ir.Table | None = None,
) -> StatsQuery:
    """Step 3 of :func:`build_analysis_query`: per-unit tables → the statistics frame.

    ``covariates``: numeric exposure columns of the regression adjustment (``adjust=``); each
    metric gets their sums (:func:`~abkit.query.values.adjust_sums`) over its counted units.

    ``first``: one row per exposure id as :func:`first_exposures` (``quality=True``) makes it;
    ``per_unit``: the per-unit event pass (None without events); ``x_counts``: the one-row
    :func:`exposure_counts`. An incremental refresh (:mod:`abkit.query.state`) gives the same
    three from its stored state, so both run this one code path.

    ``x_counts=None``: the raw grouped rows (each exact sum in its two parts, no exposure
    counts joined), as a refresh stores them for its settled units; ``settled``: such rows of
    other units, added group by group (:func:`merge_frames`) before the final columns.
    """
    import ibis

    be = backend
    as_lit = ibis.literal(as_of)
    event_metrics = all_event_parts(metrics)
    #: position of each event metric in the per-unit pass (equality, as in all_event_parts)
    parts: list[Metric] = list(event_metrics)
    if per_unit is not None:
        pu = per_unit.table
        # units with no event in a window find no row; category rows find no unit
        u = first.outer_join(pu, first.unit_id == pu._eu)
    else:
        u = first.mutate(**{c: ibis.literal(0, "int64") for c in EVENT_DQ})
    status = ibis.cases(
        (u.n_variants == 1, STATUS_OK), (u.n_variants == 2, STATUS_MULTI), else_=STATUS_OTHER
    )
    u = u.mutate(**{N_ROWS: u[N_ROWS].fill_null(0)})
    ok = status == STATUS_OK
    u = u.mutate(
        **{STATUS_COL: status},
        **{c: ibis.ifelse(ok, u[c], ibis.null(u[c].type())) for c in (VARIANT, *segments)},
    )

    copies: dict[str, str] = {}
    # x_ids: the number of distinct ids in the exposure log is the number of non-null ids among
    # the per-unit rows (the grouping kept units with no valid row), summed over the result rows;
    # a COUNT(DISTINCT) cost 3 s of 32 at 10M units, and a separate count over the per-unit
    # table made DuckDB keep it for a third reader (2-6 s more, spilling, at 10M units)
    aggs: dict[str, Any] = {N_UNITS: u.count(), X_IDS: u.unit_id.count()}
    group_cols: tuple[str, ...] = (STATUS_COL, VARIANT, *segments)
    rolling = [m for m in event_metrics if not m.tz]
    if rolling:
        # Units are grouped by whole days of age at as_of (capped at the longest window), so
        # maturity ("as_of - t0 >= N days" <=> age >= N) is applied to the small result frame
        # in complete_stats, not as a filter per metric on every unit.
        cap = max(m.mature_after_days for m in rolling)
        age = day_index(be, u.t0, as_lit)  # t0 <= as_of
        u = u.mutate(**{AGE_COL: ibis.least(age, ibis.literal(cap, "int64"))})
        group_cols = (*group_cols, AGE_COL)

    def event_value(m: Metric, *, plain: bool = False, cap: bool = True) -> Any:
        """A unit's value of event metric ``m`` (``plain``: as 0/1 integers, null for none)."""
        assert per_unit is not None  # event metrics need events (checked by the caller)
        src = per_unit.value[parts.index(m)]
        if isinstance(src, tuple):
            mask, bits = src
            v = ((u[mask] & ibis.literal(bits, "int64")) != 0).cast("int64")
            if plain:
                return v  # a sum skips units without events: they add 0
        else:
            v = u[src]
        v = v.cast("float64").fill_null(0.0)  # no qualifying event: 0 (days, events, value)
        return capped(v, cap_of(u, m)) if cap else v

    def covariate_value(src: str | tuple[str, int, int]) -> Any:
        """A unit's pre-exposure covariate (0 without events in the lookback)."""
        if isinstance(src, tuple):
            mask, days, first = src
            bits = [((u[mask] >> (first + k)) & 1) for k in range(days)]
            x = functools.reduce(operator.add, bits).fill_null(0)
        else:
            x = u[src]
        return x.cast("float64").fill_null(0.0)

    def mature(m: Metric) -> Any:
        """Whether a unit's window of event metric ``m`` has ended by ``as_of``."""
        if m.tz:
            return calendar_days(u.t0, as_lit, m.tz, be) >= m.mature_after_days
        return u[AGE_COL] >= m.mature_after_days

    if per_unit is not None and per_unit.covariate:
        # each CUPED covariate once per unit, as a column the metrics' sums read
        sources = {(s[0] if isinstance(s, tuple) else s): s for s in per_unit.covariate.values()}
        u = u.mutate(**{_cov_col(base): covariate_value(src) for base, src in sources.items()})

    # quantile caps: over the analysed units (status ok, an expected variant) whose window of
    # the metric has ended
    u = with_quantile_caps(
        u,
        metrics,
        lambda m: event_value(m, cap=False) if m.unit_value else column_value(u, m, cap=False),
        lambda m: (
            (u[STATUS_COL] == STATUS_OK)
            & (u[VARIANT].isin(variants) if variants is not None else True)
            & (mature(m) if m.unit_value else True)
        ),
        backend=be,
    )
    # quantile metrics: each value's rank within its arm (and segment), same population
    u = with_quantile_ranks(
        u,
        metrics,
        lambda m: event_value(m, cap=False) if m.unit_value else column_value(u, m, cap=False),
        lambda m: (u[STATUS_COL] == STATUS_OK) & (mature(m) if m.unit_value else True),
        segments=segments,
        backend=be,
    )

    for m in metrics:
        if m.kind == "ratio":
            x, y = (event_value(p) if p.unit_value else column_value(u, p) for p in m.parts)
            column_ratio = m.source == "column"
            aggs |= ratio_aggregates(u, m, x, y, counts=column_ratio)
            if per_unit is not None and all(
                p.unit_value and parts.index(p) in per_unit.covariate for p in m.parts
            ):
                # CUPED of a ratio: each part's own pre-exposure covariate (not capped)
                cx, cy = (
                    u[_cov_col(_cov_base(per_unit.covariate[parts.index(p)]))] for p in m.parts
                )
                aggs |= ratio_covariate_sums(m, x, y, cx, cy)
            if column_ratio:
                aggs |= {stat_col(m, MIN): x.min(), stat_col(m, MAX): x.max()}
            continue
        if m.unit_value is None:  # a column metric
            aggs |= column_stats(u, m, column_value(u, m))
            if covariates:
                aggs |= _adjust_column(u, m, covariates)
            continue
        v = event_value(m, plain=m.binary and cap_of(u, m) is None)
        where = None
        if m.tz:
            where = mature(m)
            aggs[stat_col(m, N)] = u.count(where=where)
        # immature and missing follow from n_units and n (see complete_stats); a 0/1
        # metric's sum of squares, min and max follow from n and sum
        # exact sums (abkit.query.sums): the same bytes whatever the order of the rows
        aggs[stat_col(m, SUM)] = exact_sum(v, where=where)
        if not m.binary:
            aggs[stat_col(m, SUMSQ)] = exact_sum(v * v, where=where)
            aggs[stat_col(m, MIN)] = v.min(where=where)
            aggs[stat_col(m, MAX)] = v.max(where=where)
        i = parts.index(m)
        if per_unit is not None and i in per_unit.covariate:
            # CUPED: the pre-exposure covariate x and its sums Σx, Σx², Σxy. Σx and Σx² of
            # rolling metrics (maturity applied later, by age bucket) depend only on the
            # covariate: computed once per covariate and copied to each metric after the query
            assert per_unit is not None
            base = _cov_base(per_unit.covariate[i])
            x = u[_cov_col(base)]
            aggs[stat_col(m, CXY)] = exact_sum(x * event_value(m), where=where)
            if where is None:
                aggs[stat_col(base, CX)] = exact_sum(x)
                aggs[stat_col(base, CXX)] = exact_sum(x * x)
                copies[stat_col(m, CX)] = stat_col(base, CX)
                copies[stat_col(m, CXX)] = stat_col(base, CXX)
            else:
                aggs[stat_col(m, CX)] = exact_sum(x, where=where)
                aggs[stat_col(m, CXX)] = exact_sum(x * x, where=where)
        if covariates:
            # regression adjustment: over the mature units (the age key is summed away later)
            cx = x if per_unit is not None and i in per_unit.covariate else None
            z = covariate_values(u, covariates)
            aggs |= adjust_sums(m, event_value(m), z, where=mature(m), x=cx)
    aggs |= cap_aggregates(u, metrics)
    aggs |= quantile_aggregates(u, metrics, segments)
    # counted on the final per-unit table (quantile caps and the age key were joined on since)
    aggs |= {N_UNITS: u.count(), X_IDS: u.unit_id.count()}
    keys = list(group_cols)
    if per_unit is not None:
        # the event category is a grouping key (rows: category 0 or null for units, one per
        # data-quality category otherwise), cheaper than seven filtered sums over every unit;
        # collapse_categories folds it away after the query
        aggs |= {N_ROWS: u[N_ROWS].sum(), E_ROWS: u[E_ROWS].sum()}
        if cuped:
            aggs[PRE_ROWS] = u[PRE_ROWS].sum()
        keys.append(CAT_COL)
    else:
        aggs |= {c: u[c].sum() for c in (N_ROWS, *EVENT_DQ)}
    raw, final, rules = _split_exact_sums(aggs)
    expr = u.group_by(keys).aggregate(**raw)
    exact = not quantile_capped(metrics) and not quantile_metrics(metrics)
    merge = rules if exact else None
    if settled is not None:
        if merge is None:
            raise ValueError("these statistics do not add up group by group")
        expr = merge_frames([expr, settled.cast(expr.schema())], keys, merge)
    if x_counts is not None:
        if final is not None:
            expr = expr.select(*keys, **{k: f(expr) for k, f in final.items()})
        # exposure row counts: a scalar aggregate over the exposure log (a cheap pass, no
        # grouping), attached to every result row
        expr = expr.cross_join(x_counts)
    return StatsQuery(expr, group_cols, copies, merge, tuple(keys))


#: the suffixes of an exact sum's two parts in the grouped rows (see _split_exact_sums)
EXACT_PART, REST_PART = "__exact", "__rest"


def _split_exact_sums(
    aggs: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, str] | None]:
    """The aggregates with each exact sum (:func:`~abkit.query.sums.exact_sum` of floats) as
    its two parts — the fixed-point sum and the double sum of the huge values — so that
    grouped rows of disjoint sets of units add up exactly; the final columns (None when no
    sum was split: the rows are final) and each raw column's merge rule (None: one does not
    add up exactly).

    Returns ``(raw, final, rules)``: ``raw`` for the grouping, ``final`` column → function of
    the grouped table, ``rules`` raw column → "sum", "min" or "max".
    """
    import ibis.expr.operations as ops

    raw: dict[str, Any] = {}
    final: dict[str, Any] = {}
    rules: dict[str, str] | None = {}
    split = False
    for name, v in aggs.items():
        op = v.op()
        parts = exact_parts(v)
        if parts is not None:
            split = True
            xk, rk = name + EXACT_PART, name + REST_PART
            raw[xk], raw[rk] = parts
            final[name] = lambda t, xk=xk, rk=rk: t[xk].cast("float64") + t[rk]
            if rules is not None:
                rules[xk] = rules[rk] = "sum"
            continue
        raw[name] = v
        final[name] = lambda t, name=name: t[name]
        if rules is None:
            continue
        while isinstance(op, ops.Cast) and op.to.is_integer() and op.arg.dtype.is_integer():
            op = op.arg
        if isinstance(op, ops.Sum | ops.Count | ops.CountStar) and op.dtype.is_integer():
            rules[name] = "sum"
        elif isinstance(op, ops.Min):
            rules[name] = "min"
        elif isinstance(op, ops.Max):
            rules[name] = "max"
        else:
            rules = None
    return raw, (final if split else None), rules


def merge_frames(
    parts: Sequence[ir.Table], keys: Sequence[str], rules: Mapping[str, str]
) -> ir.Table:
    """Grouped statistics rows of disjoint sets of units (the same schema) added group by
    group by ``rules`` (:func:`merge_rules`); null keys group together."""
    import ibis

    t = ibis.union(*parts, distinct=False)
    how = {"sum": lambda c: c.sum(), "min": lambda c: c.min(), "max": lambda c: c.max()}
    aggs = {c: how[r](t[c]).cast(t[c].type()) for c, r in rules.items()}
    return t.group_by(list(keys)).aggregate(**aggs)


def build_unit_stats(
    units: ir.Table,
    metrics: Sequence[Metric],
    *,
    segments: Sequence[str],
    variants: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
) -> StatsQuery:
    """The aggregation query for a per-unit table (column metrics only).

    ``covariates``: numeric columns of the regression adjustment (``adjust=``).

    ``variants``: the expected variant labels (None: any non-null); units in others are not
    analysed and do not count toward quantile caps.
    """
    # quantile caps over the analysed units (both arms pooled)
    units = with_quantile_caps(
        units,
        metrics,
        lambda m: column_value(units, m, cap=False),
        lambda m: units.variant.isin(variants) if variants is not None else units.variant.notnull(),
        backend=backend_name(units),
    )
    units = with_quantile_ranks(
        units,
        metrics,
        lambda m: column_value(units, m, cap=False),
        lambda m: units.variant.isin(variants) if variants is not None else units.variant.notnull(),
        segments=segments,
        backend=backend_name(units),
    )
    aggs: dict[str, Any] = {N_UNITS: units.count()}
    for m in metrics:
        if m.kind == "ratio":
            x, y = (column_value(units, p) for p in m.parts)
            aggs |= ratio_aggregates(units, m, x, y)
        else:
            aggs |= column_stats(units, m, column_value(units, m))
            if covariates:
                aggs |= _adjust_column(units, m, covariates)
    aggs |= cap_aggregates(units, metrics)
    aggs |= quantile_aggregates(units, metrics, segments)
    group_cols = (VARIANT, *segments)
    expr = units.group_by(list(group_cols)).aggregate(**aggs)
    return StatsQuery(expr, group_cols)


def _adjust_column(t: ir.Table, m: Metric, covariates: Sequence[str]) -> dict[str, Any]:
    """A column metric's regression-adjustment sums, over its units with a value."""
    v = column_value(t, m)
    x = t[m.covariate].cast("float64").fill_null(0.0) if m.covariate is not None else None
    return adjust_sums(m, v, covariate_values(t, covariates), where=v.notnull(), x=x)
