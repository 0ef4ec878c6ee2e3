"""Per-unit values in the query: what a metric's declaration turns into as Ibis expressions.

A metric declares what it needs (:class:`abkit.metrics.Metric`): an event metric its
``unit_value`` (``any`` / ``days`` / ``count`` / ``sum`` of its qualifying events in the window),
a column metric its column; caps, quantile caps and CUPED covariates likewise. This module holds
the one handler per declaration; adding an event metric that aggregates its events another way
means one more entry in :data:`UNIT_AGGREGATES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from abkit.errors import SpecError
from abkit.query.frame import (
    CAP,
    CX,
    CXX,
    CXY,
    IMMATURE,
    MAX,
    MIN,
    MISSING,
    RATIO_CUPED_FIELDS,
    SUM,
    SUMSQ,
    SUMXY,
    SUMY,
    SUMYY,
    N,
    stat_col,
)
from abkit.query.sums import exact_sum

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from abkit.metrics import EventMetric, Metric

__all__ = [
    "EXACT_QUANTILE_BACKENDS",
    "adjust_field",
    "adjust_sums",
    "cap_of",
    "capped",
    "column_stats",
    "column_value",
    "covariate_values",
    "in_window",
    "of_event",
    "quantile_capped",
    "ratio_aggregates",
    "ratio_covariate_sums",
    "unit_aggregate",
    "with_quantile_caps",
]


# ------------------------------------------------------------------------------- event metrics


def of_event(cond: Any, m: EventMetric, event: Any) -> Any:
    """``cond`` restricted to the events ``m`` counts (its ``event=`` filter, if any).

    Raises:
        SpecError: ``m`` filters on event names and the events table has no ``event`` column.
    """
    if m.event is None:
        return cond
    if event is None:
        raise SpecError(
            f"metric {m.name!r} filters on event names {list(m.event)}, but the events table "
            "has no 'event' column; add one or map it with columns={'event': …}"
        )
    return cond & event.isin(m.event)


def in_window(m: EventMetric, day: Any, event: Any) -> Any:
    """Boolean expression: an event row on day index ``day`` is in ``m``'s window and filter."""
    a, b = m.window
    return of_event((day >= a) & (day <= b), m, event)


def _any(m: EventMetric, day: Any, event: Any, value: Any) -> Any:
    return in_window(m, day, event).any().cast("int64")


def _days(m: EventMetric, day: Any, event: Any, value: Any) -> Any:
    return day.nunique(where=in_window(m, day, event)).cast("float64")


def _count(m: EventMetric, day: Any, event: Any, value: Any) -> Any:
    return in_window(m, day, event).cast("int64").sum().cast("float64")


def _sum(m: EventMetric, day: Any, event: Any, value: Any) -> Any:
    import ibis

    if value is None:
        raise SpecError(
            f"metric {m.name!r} sums the events' value, but the events table has no 'value' "
            "column; add one or map it with columns={'value': 'your_column'}"
        )
    return exact_sum(
        ibis.ifelse(in_window(m, day, event), value.cast("float64").fill_null(0.0), 0.0)
    )


#: ``unit_value`` → the per-unit aggregate over a unit's event rows (day index, event, value)
UNIT_AGGREGATES: dict[str, Callable[[EventMetric, Any, Any, Any], Any]] = {
    "any": _any,
    "days": _days,
    "count": _count,
    "sum": _sum,
}


def unit_aggregate(m: EventMetric, day: Any, event: Any, value: Any) -> Any:
    """The per-unit aggregate of event metric ``m`` in the one grouped pass over events."""
    assert m.unit_value is not None  # an EventMetric declares how it aggregates
    return UNIT_AGGREGATES[m.unit_value](m, day, event, value)


# ------------------------------------------------------------------------------------ caps


def capped(v: Any, cap: Any) -> Any:
    """``min(v, cap)`` per unit (nulls stay null), or ``v`` without a cap (``cap`` None).

    ``cap`` is a number or a column (a quantile cap, see :func:`with_quantile_caps`).
    """
    import ibis

    if cap is None:
        return v
    if isinstance(cap, int | float):
        cap = ibis.literal(float(cap))
    return ibis.ifelse(v > cap, cap, v)


def cap_of(t: ir.Table, m: Metric) -> Any:
    """``m``'s per-unit cap on table ``t``: its fixed ``cap``, its quantile-cap column, or None."""
    if m.cap_quantile is None:
        return m.cap
    # a query path that forgot with_quantile_caps fails here, at compile time
    return t[stat_col(m, CAP)]


def quantile_capped(metrics: Sequence[Metric]) -> list[Metric]:
    """The metrics and ratio parts with ``cap_quantile`` (one per name)."""
    out: dict[str, Metric] = {}
    for m in metrics:
        for p in m.parts:
            if p.cap_quantile is not None:
                out.setdefault(p.name, p)
    return list(out.values())


#: backends whose quantile aggregate (through Ibis) is exact with linear interpolation
#: (``numpy.quantile``'s default): DuckDB ``quantile_cont``, Spark / Databricks ``percentile``,
#: ``PERCENTILE_CONT`` elsewhere. ClickHouse's ``quantile`` samples; others have none.
EXACT_QUANTILE_BACKENDS = (
    "duckdb", "pyspark", "databricks", "snowflake", "postgres", "oracle", "risingwave", "exasol",
)  # fmt: skip


def with_quantile_caps(
    t: ir.Table,
    metrics: Sequence[Metric],
    value: Callable[[Metric], Any],
    population: Callable[[Metric], Any],
    *,
    backend: str,
) -> ir.Table:
    """``t`` with a cap column per quantile-capped metric (see :func:`quantile_capped`).

    The cap is the ``cap_quantile`` quantile (linear interpolation between order statistics,
    like ``numpy.quantile``'s default) of the uncapped per-unit ``value(m)`` over the rows where
    ``population(m)`` holds — the units the metric analyses, both arms pooled, so both arms are
    capped at the same value. One scalar aggregate over ``t``, attached to every row.

    Raises:
        SpecError: ``backend`` has no exact quantile (see :data:`EXACT_QUANTILE_BACKENDS`).
    """
    capped_metrics = quantile_capped(metrics)
    if not capped_metrics:
        return t
    if backend not in EXACT_QUANTILE_BACKENDS:
        raise SpecError(
            f"cap_quantile (metrics {[m.name for m in capped_metrics]}) needs an exact quantile, "
            f"which abkit uses on {', '.join(EXACT_QUANTILE_BACKENDS)}; on {backend} give a "
            "fixed cap= instead (e.g. the percentile from a previous analysis)"
        )
    caps = t.aggregate(
        **{
            stat_col(m, CAP): value(m).quantile(m.cap_quantile, where=population(m))
            for m in capped_metrics
        }
    )
    return t.cross_join(caps)


def cap_aggregates(t: ir.Table, metrics: Sequence[Metric]) -> dict[str, Any]:
    """The quantile caps' values as aggregates of the statistics query (same on every row)."""
    return {stat_col(m, CAP): t[stat_col(m, CAP)].max() for m in quantile_capped(metrics)}


# ----------------------------------------------------------------------------- column metrics


def column_value(t: ir.Table, m: Metric, *, cap: bool = True) -> Any:
    """A column metric's per-unit value as float64, capped when the metric has a cap."""
    v = t[m.columns[0]].cast("float64")
    return capped(v, cap_of(t, m)) if cap else v


def column_stats(t: ir.Table, m: Metric, v: Any) -> dict[str, Any]:
    """A column metric's statistics from its per-unit values ``v`` (nulls count as missing),
    with the CUPED sums Σx, Σx², Σxy of its ``covariate`` column over the units with a value
    (a null covariate counts as 0)."""
    zero = t.count() - t.count()
    aggs: dict[str, Any] = {
        stat_col(m, N): v.count(),
        stat_col(m, SUM): exact_sum(v),
        stat_col(m, SUMSQ): exact_sum(v * v),
        stat_col(m, MIN): v.min(),
        stat_col(m, MAX): v.max(),
        stat_col(m, IMMATURE): zero,
        stat_col(m, MISSING): v.isnull().cast("int64").sum(),
    }
    if m.covariate is not None:
        x = t[m.covariate].cast("float64").fill_null(0.0)
        has = v.notnull()
        aggs[stat_col(m, CX)] = exact_sum(x, where=has)
        aggs[stat_col(m, CXX)] = exact_sum(x * x, where=has)
        aggs[stat_col(m, CXY)] = exact_sum(x * v, where=has)
    return aggs


def ratio_aggregates(
    t: ir.Table, m: Metric, x: Any, y: Any, *, counts: bool = True
) -> dict[str, Any]:
    """Sums a ratio metric needs: Σx, Σy, Σx², Σy², Σxy.

    With ``counts`` (ratios of columns) over the units where both parts exist, with ``n``,
    ``missing`` and ``immature`` counted here; without (ratios of event metrics) over every
    unit, maturity being applied later by age bucket.
    """
    both = (x.notnull() & y.notnull()) if counts else None
    aggs: dict[str, Any] = {}
    if both is not None:
        aggs[stat_col(m, N)] = t.count(where=both)
        aggs[stat_col(m, MISSING)] = t.count(where=~both)
        aggs[stat_col(m, IMMATURE)] = t.count() - t.count()
    return aggs | {
        stat_col(m, SUM): exact_sum(x, where=both),
        stat_col(m, SUMY): exact_sum(y, where=both),
        stat_col(m, SUMSQ): exact_sum(x * x, where=both),
        stat_col(m, SUMYY): exact_sum(y * y, where=both),
        stat_col(m, SUMXY): exact_sum(x * y, where=both),
    }


def ratio_covariate_sums(m: Metric, x: Any, y: Any, cx: Any, cy: Any) -> dict[str, Any]:
    """CUPED's sums of ratio ``m`` = x / y with pre-period covariates ``cx`` (x̃) and ``cy``
    (ỹ), over every unit like the ratio's own sums (maturity is applied by age bucket):
    Σx̃, Σỹ, Σx̃², Σỹ², Σx̃ỹ, Σx·x̃, Σx·ỹ, Σy·x̃, Σy·ỹ (:data:`RATIO_CUPED_FIELDS`)."""
    terms = (cx, cy, cx * cx, cy * cy, cx * cy, x * cx, x * cy, y * cx, y * cy)
    return {stat_col(m, f): exact_sum(v) for f, v in zip(RATIO_CUPED_FIELDS, terms, strict=True)}


# ----------------------------------------------------------------------- regression adjustment


def adjust_field(kind: str, j: int, k: int | None = None) -> str:
    """The statistic name of a regression-adjustment sum of numeric covariate(s) ``z_j``.

    ``kind``: ``"z"`` (Σz_j), ``"zz"`` (Σz_j·z_k, j ≤ k), ``"zy"`` (Σz_j·y with y the metric) or
    ``"xz"`` (Σx·z_j with x the metric's CUPED covariate). Each numeric covariate column gives
    two ``z``: its value (nulls as 0), then whether it is null (:func:`covariate_values`).
    """
    return f"adj_{kind}{j}" + ("" if k is None else f"_{k}")


def covariate_values(t: ir.Table, columns: Sequence[str]) -> list[Any]:
    """Per-unit numeric covariates for regression adjustment: for each column its value (a null
    as 0) and a 0/1 "is null" indicator, so a missing value is its own level."""
    out: list[Any] = []
    for c in columns:
        x = t[c].cast("float64")
        out += [x.fill_null(0.0), x.isnull().cast("float64")]
    return out


def adjust_sums(
    m: Metric, y: Any, z: Sequence[Any], *, where: Any = None, x: Any = None
) -> dict[str, Any]:
    """The sums Σz_j, Σz_j·z_k, Σz_j·y (and Σx·z_j with a CUPED covariate ``x``) of metric
    ``m`` over the units where ``where`` holds (those counted in its ``n``)."""
    aggs: dict[str, Any] = {}
    for j, zj in enumerate(z):
        aggs[stat_col(m, adjust_field("z", j))] = exact_sum(zj, where=where)
        aggs[stat_col(m, adjust_field("zy", j))] = exact_sum(zj * y, where=where)
        for k in range(j, len(z)):
            aggs[stat_col(m, adjust_field("zz", j, k))] = exact_sum(zj * z[k], where=where)
        if x is not None:
            aggs[stat_col(m, adjust_field("xz", j))] = exact_sum(x * zj, where=where)
    return aggs
