"""Compile metrics × segments into engine queries that return sufficient statistics.

Everything per unit happens in Ibis expressions; what comes back to Python is one small frame with a
row per (variant, segment…) and, per metric, ``n`` (units that count), ``sum``, ``sumsq``, ``min``,
``max`` and ``immature`` (units excluded because the metric's window had not ended by ``as_of``).
Sufficient statistics are additive, so overall and per-segment numbers come from the same frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit.metrics import EventMetric, Metric

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["DAY_US", "StatsQuery", "build_event_stats", "build_unit_stats", "first_exposures"]

#: microseconds in 24 hours: day indexes are computed on exact microsecond differences.
DAY_US = 86_400_000_000
#: suffixes of the per-metric columns in the sufficient-statistics frame
STAT_FIELDS = ("n", "sum", "sumsq", "min", "max", "immature", "missing")


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """The aggregation query and the names of its group columns."""

    expr: ir.Table
    group_cols: tuple[str, ...]


def stat_col(metric: Metric, stat: str) -> str:
    return f"{metric.name}__{stat}"


def first_exposures(exposures: ir.Table, *, as_of: datetime, carry: Sequence[str] = ()) -> ir.Table:
    """One row per unit: first exposure ``t0``, its variant, and the carried columns at ``t0``.

    Rows with a null id, null variant, null time or an exposure after ``as_of`` are left out (the
    data-quality query counts them). ``n_variants`` > 1 marks a unit seen in several variants;
    ``n_rows`` counts its exposure rows.
    """
    import ibis

    t = exposures
    valid = t.filter(
        t.unit_id.notnull()
        & t.variant.notnull()
        & t.exposed_at.notnull()
        & (t.exposed_at <= ibis.literal(as_of))
    )
    aggs: dict[str, Any] = {
        "t0": valid.exposed_at.min(),
        "variant": valid.variant.argmin(valid.exposed_at),
        "n_variants": valid.variant.nunique(),
        "n_rows": valid.count(),
    }
    for c in carry:
        aggs[c] = valid[c].argmin(valid.exposed_at)
    return valid.group_by("unit_id").aggregate(**aggs)


def calendar_days(t0: ir.TimestampValue, ts: ir.TimestampValue, tz: str) -> ir.IntegerValue:
    """Calendar-day difference ``local_date(ts) - local_date(t0)`` in the IANA zone ``tz``.

    DST is handled by the engine's time-zone database: local dates are taken from the wall-clock
    time in ``tz`` at each instant. Built on DuckDB's ``timezone(zone, timestamptz)``.
    """
    import ibis

    from abkit._duckdb_udf import utc_to_local

    zone = ibis.literal(tz)
    return (
        utc_to_local(zone, ts).date().delta(utc_to_local(zone, t0).date(), unit="day").cast("int64")
    )


def _group_aggregates(
    u: ir.Table, values: dict[str, tuple[ir.Value, ir.BooleanValue | None, ir.Value | None]]
) -> dict[str, Any]:
    """Aggregates per metric from per-unit values.

    ``values`` maps metric name → (value, mature, raw): ``value`` is null when the unit does not
    count; ``mature`` (may be None) marks units whose window has ended; ``raw`` is the unfiltered
    value used to count missing values (column metrics).
    """
    aggs: dict[str, Any] = {"n_units": u.count()}
    for name, (v, mature, raw) in values.items():
        aggs[f"{name}__n"] = v.count()
        aggs[f"{name}__sum"] = v.sum()
        aggs[f"{name}__sumsq"] = (v * v).sum()
        aggs[f"{name}__min"] = v.min()
        aggs[f"{name}__max"] = v.max()
        aggs[f"{name}__immature"] = (
            (~mature).cast("int64").sum() if mature is not None else u.count() - u.count()
        )
        aggs[f"{name}__missing"] = (
            raw.isnull().cast("int64").sum() if raw is not None else u.count() - u.count()
        )
    return aggs


def build_event_stats(
    units: ir.Table,
    events: ir.Table | None,
    metrics: Sequence[Metric],
    *,
    segments: Sequence[str],
    as_of: datetime,
) -> StatsQuery:
    """The single aggregation query for the exposures + events path.

    ``units`` holds one row per analysed unit (``unit_id``, ``variant``, ``t0``, segments, carried
    columns). Events are joined to their unit, given a day index from exact microsecond differences,
    restricted to ``t0 <= ts <= as_of`` and to the widest window any metric needs, and reduced to one
    row per unit in a single grouped pass.
    """
    import ibis

    as_of_lit = ibis.literal(as_of)
    event_metrics = [m for m in metrics if isinstance(m, EventMetric)]
    u = units
    if event_metrics:
        if events is None:
            names = [m.name for m in event_metrics]
            raise ValueError(f"metrics {names} need an events table")
        # a calendar day index can trail the rolling one by 1 (DST fall-back), never by more
        max_day = max(m.window[1] + (1 if m.tz else 0) for m in event_metrics)
        zones = sorted({m.tz for m in event_metrics if m.tz})
        ev_cols = ["unit_id", "ts"] + [c for c in ("event", "value") if c in events.columns]
        ev = events.select(*ev_cols)
        j = ev.join(units.select("unit_id", "t0"), "unit_id")
        j = j.filter((j.ts >= j.t0) & (j.ts <= as_of_lit))
        j = j.mutate(_day=(j.ts.delta(j.t0, unit="microsecond") // DAY_US).cast("int64"))
        j = j.filter(j._day <= max_day)
        day_col = {None: "_day"} | {tz: f"_cday{i}" for i, tz in enumerate(zones)}
        if zones:
            j = j.mutate(**{day_col[tz]: calendar_days(j.t0, j.ts, tz) for tz in zones})
        event_col = j.event if "event" in j.columns else None
        value_col = j.value if "value" in j.columns else None
        per_unit = j.group_by("unit_id").aggregate(
            **{
                f"_m_{i}": m.unit_aggregate(j[day_col[m.tz]], event_col, value_col)
                for i, m in enumerate(event_metrics)
            }
        )
        u = u.left_join(per_unit, "unit_id").drop("unit_id_right")

    age_us = as_of_lit.delta(u.t0, unit="microsecond")
    values: dict[str, tuple[Any, Any, Any]] = {}
    for m in metrics:
        if isinstance(m, EventMetric):
            i = event_metrics.index(m)
            if m.tz:
                mature = calendar_days(u.t0, as_of_lit, m.tz) >= m.mature_after_days
            else:
                mature = age_us >= m.mature_after_days * DAY_US
            raw = u[f"_m_{i}"].cast("float64").fill_null(m.empty_value)
            values[m.name] = (ibis.ifelse(mature, raw, ibis.null("float64")), mature, None)
        else:
            col = u[m.column]  # type: ignore[attr-defined]
            raw = col.cast("float64")
            values[m.name] = (raw, None, raw)
    group_cols = ("variant", *segments)
    expr = u.group_by(list(group_cols)).aggregate(**_group_aggregates(u, values))
    return StatsQuery(expr, group_cols)


def build_unit_stats(
    units: ir.Table, metrics: Sequence[Metric], *, segments: Sequence[str]
) -> StatsQuery:
    """The aggregation query for a per-unit table (column metrics only)."""
    values: dict[str, tuple[Any, Any, Any]] = {}
    for m in metrics:
        raw = units[m.column].cast("float64")  # type: ignore[attr-defined]
        values[m.name] = (raw, None, raw)
    group_cols = ("variant", *segments)
    expr = units.group_by(list(group_cols)).aggregate(**_group_aggregates(units, values))
    return StatsQuery(expr, group_cols)
