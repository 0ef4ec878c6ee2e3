"""Compile metrics × segments into engine queries that return sufficient statistics.

Everything per unit happens in Ibis expressions; what comes back to Python is one small frame with a
row per (variant, segment…) and, per metric, ``n`` (units that count), ``sum``, ``sumsq``, ``min``,
``max`` and ``immature`` (units excluded because the metric's window had not ended by ``as_of``).
Sufficient statistics are additive, so overall and per-segment numbers come from the same frame.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit.metrics import EventMetric, Metric, Ratio, event_parts

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

__all__ = [
    "DAY_US",
    "StatsQuery",
    "build_analysis_query",
    "build_unit_stats",
    "calendar_days",
    "first_exposures",
]

#: microseconds in 24 hours: day indexes are computed on exact microsecond differences.
DAY_US = 86_400_000_000
#: suffixes of the per-metric columns in the sufficient-statistics frame
STAT_FIELDS = ("n", "sum", "sumsq", "min", "max", "immature", "missing")
#: CUPED's covariate sums per metric: Σx, Σx², Σxy (x: the pre-exposure covariate)
CUPED_FIELDS = ("cx", "cxx", "cxy")


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """The aggregation query and the names of its group columns.

    ``copies``: statistics columns the query computes once for several metrics (column →
    the query's column holding its values); :meth:`expand` adds them to a result frame.
    """

    expr: ir.Table
    group_cols: tuple[str, ...]
    copies: Mapping[str, str] = field(default_factory=dict)

    def expand(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the :attr:`copies` columns added and their shared sources dropped."""
        if not self.copies:
            return frame
        import pandas as pd

        added = pd.DataFrame({c: frame[src] for c, src in self.copies.items()}, index=frame.index)
        shared = sorted(set(self.copies.values()))
        return pd.concat([frame.drop(columns=shared), added], axis=1)


def stat_col(metric: Metric, stat: str) -> str:
    return f"{metric.name}__{stat}"


def first_exposures(
    exposures: ir.Table,
    *,
    as_of: datetime,
    carry: Sequence[str] = (),
    backend: str | None = None,
    quality: bool = False,
) -> ir.Table:
    """One row per unit: first exposure ``t0``, its variant, and the carried columns at ``t0``.

    Rows with a null id, null variant, null time or an exposure after ``as_of`` do not count
    toward ``t0``. ``n_variants`` is 1 for a unit seen in one variant and 2 for a unit seen in
    several; ``n_rows`` counts its valid exposure rows.

    With ``quality=True`` every exposure row is grouped: units with no valid row get a null
    ``t0`` and null ids form one group, so the number of non-null ``unit_id`` rows is the number
    of distinct ids in the log (no ``COUNT(DISTINCT)`` needed).
    """
    import ibis

    from abkit._duckdb_udf import arg_min

    be = backend or backend_name(exposures)
    t = exposures
    as_lit = ibis.literal(as_of)
    valid = (
        t.unit_id.notnull()
        & t.variant.notnull()
        & t.exposed_at.notnull()
        & (t.exposed_at <= as_lit)
    )
    where: ir.BooleanValue | None = valid
    if not quality:
        t = t.filter(valid)
        where = None
    # min != max is a plain hash aggregate; COUNT(DISTINCT) per unit is several times slower
    several = (t.variant.min(where=where) != t.variant.max(where=where)).cast("int64")
    aggs: dict[str, Any] = {
        "t0": t.exposed_at.min(where=where),
        "variant": arg_min(be, t.variant, t.exposed_at, where),
        "n_variants": several + 1,
        "n_rows": t.count(where=where),
    }
    for c in carry:
        aggs[c] = arg_min(be, t[c], t.exposed_at, where)
    return t.group_by("unit_id").aggregate(**aggs)


def backend_name(*tables: Any) -> str:
    """Name of the Ibis backend that runs ``tables`` (``"duckdb"`` for unbound memtables)."""
    from abkit.engine import backend_of

    con = backend_of(*tables)
    return "duckdb" if con is None else str(con.name)


def calendar_days(
    t0: ir.TimestampValue, ts: ir.TimestampValue, tz: str, backend: str = "duckdb"
) -> ir.IntegerValue:
    """Calendar-day difference ``local_date(ts) - local_date(t0)`` in the IANA zone ``tz``.

    DST is handled by the engine's time-zone database: local dates are taken from the wall-clock
    time in ``tz`` at each instant (DuckDB ``timezone()``, Spark ``from_utc_timestamp()``).

    Raises:
        DataError: the backend has no time-zone conversion abkit knows.
    """
    from abkit._duckdb_udf import TZ_BACKENDS, utc_to_local_for
    from abkit.errors import DataError

    local_ts, local_t0 = utc_to_local_for(backend, tz, ts), utc_to_local_for(backend, tz, t0)
    if local_ts is None:
        raise DataError(
            f"calendar-day metrics (tz={tz!r}) need a time-zone conversion; abkit has one for "
            f"{list(TZ_BACKENDS)}, not for the {backend!r} backend. Use rolling days (no tz=) or "
            "run on DuckDB/Spark"
        )
    return local_ts.date().delta(local_t0.date(), unit="day").cast("int64")


def all_event_parts(metrics: Sequence[Metric]) -> list[EventMetric]:
    """Distinct event metrics to compute per unit: event metrics and ratios' event parts."""
    out: list[EventMetric] = []
    for m in metrics:
        for p in event_parts(m):
            if p not in out:
                out.append(p)
    return out


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


def cap_column(m: Metric) -> str:
    """The column holding the value of ``m``'s quantile cap (same on every row)."""
    return f"{m.name}__cap"


def cap_of(t: ir.Table, m: Metric) -> Any:
    """``m``'s per-unit cap on table ``t``: its fixed ``cap``, its quantile-cap column, or None."""
    if getattr(m, "cap_quantile", None) is None:
        return getattr(m, "cap", None)
    if cap_column(m) not in t.columns:  # a query path that forgot with_quantile_caps
        raise AssertionError(f"metric {m.name!r}: quantile cap not computed")
    return t[cap_column(m)]


def quantile_capped(metrics: Sequence[Metric]) -> list[Metric]:
    """The metrics and ratio parts with ``cap_quantile`` (one per name)."""
    out: dict[str, Metric] = {}
    for m in metrics:
        for p in m.parts if isinstance(m, Ratio) else (m,):
            if getattr(p, "cap_quantile", None) is not None:
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
    """``t`` with a :func:`cap_column` per quantile-capped metric (see :func:`quantile_capped`).

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
        from abkit.errors import SpecError

        raise SpecError(
            f"cap_quantile (metrics {[m.name for m in capped_metrics]}) needs an exact quantile, "
            f"which abkit uses on {', '.join(EXACT_QUANTILE_BACKENDS)}; on {backend} give a "
            "fixed cap= instead (e.g. the percentile from a previous analysis)"
        )
    caps = t.aggregate(
        **{
            cap_column(m): value(m).quantile(m.cap_quantile, where=population(m))  # type: ignore[attr-defined]
            for m in capped_metrics
        }
    )
    return t.cross_join(caps)


def column_value(t: ir.Table, m: Metric, *, cap: bool = True) -> Any:
    """A column metric's per-unit value as float64, capped when the metric has a cap."""
    v = t[m.column].cast("float64")  # type: ignore[attr-defined]
    return capped(v, cap_of(t, m)) if cap else v


def column_covariate_sums(t: ir.Table, m: Metric, y: Any) -> dict[str, Any]:
    """CUPED sums Σx, Σx², Σxy of a column metric with a ``covariate`` column (else none), over
    the units whose value ``y`` is not null; a null covariate counts as 0."""
    col = getattr(m, "covariate", None)
    if col is None:
        return {}
    x = t[col].cast("float64").fill_null(0.0)
    has = y.notnull()
    return {
        stat_col(m, "cx"): x.sum(where=has),
        stat_col(m, "cxx"): (x * x).sum(where=has),
        stat_col(m, "cxy"): (x * y).sum(where=has),
    }


def combine(col: str) -> str:
    """How a statistics column combines over rows: ``min``, ``max`` or ``sum``.

    Quantile caps (``__cap``) are the same on every row that has one: their maximum.
    """
    if col.endswith("__min"):
        return "min"
    return "max" if col.endswith(("__max", "__cap")) else "sum"


def ratio_aggregates(m: Metric, x: Any, y: Any, where: Any) -> dict[str, Any]:
    """Sums a ratio metric needs: Σx, Σy, Σx², Σy², Σxy (over units where both parts exist)."""
    return {
        stat_col(m, "sum"): x.sum(where=where),
        stat_col(m, "sumy"): y.sum(where=where),
        stat_col(m, "sumsq"): (x * x).sum(where=where),
        stat_col(m, "sumyy"): (y * y).sum(where=where),
        stat_col(m, "sumxy"): (x * y).sum(where=where),
    }


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


#: group column of the analysis query: whole days from t0 to as_of, capped at the longest window
AGE_COL = "_age"
#: Retention windows ending on a day up to this one are read from a per-unit bit mask of active days
MASK_MAX_DAY = 62
#: backends on which the bit-mask plan compiles (BIT_OR and shifts)
MASK_BACKENDS = ("duckdb",)
#: data-quality columns of the analysis query (summed over all its rows)
DQ_SUMS = (
    "x_rows",
    "x_ids",
    "x_null_ids",
    "x_null_variants",
    "x_null_times",
    "x_after",
    "n_rows",
    "e_rows",
    "e_null_ids",
    "e_null_times",
    "e_unexposed",
    "e_before",
    "e_after",
    "e_late",
    "e_in_window",
)
#: exposure row counts of the analysis query: one scalar pass, the same on every result row
X_COUNTS = ("x_rows", "x_null_ids", "x_null_variants", "x_null_times", "x_after")
#: status of a row of the analysis query: analysed units, units in several variants, the rest
STATUS_OK, STATUS_MULTI, STATUS_OTHER = 0, 1, 2


#: categories of event rows in the per-unit pass: rows in a metric window are grouped by unit
#: (category 0); every other row is counted in one group per category, by reason. The categories
#: are disjoint and the first reason wins (a never-exposed unit's row with a null time is a null
#: time), so they add up to the event rows.
EV_IN_WINDOW, EV_NULL_ID, EV_NULL_TS, EV_UNEXPOSED = 0, 1, 2, 3
EV_BEFORE, EV_AFTER, EV_LATE = 4, 5, 6
#: group column of the analysis query with events: the event category of its rows (see EV_DQ)
CAT_COL = "_cat"
#: data-quality sums of the analysis query → the event category each counts
EV_DQ = {
    "e_in_window": EV_IN_WINDOW,
    "e_null_ids": EV_NULL_ID,
    "e_null_times": EV_NULL_TS,
    "e_unexposed": EV_UNEXPOSED,
    "e_before": EV_BEFORE,
    "e_after": EV_AFTER,
    "e_late": EV_LATE,
}


@dataclass(frozen=True, slots=True)
class _PerUnit:
    """The per-unit event table and how each event metric's value is read from it."""

    table: ir.Table
    #: metric index → its aggregate column ``_m_<i>``, or (bit-mask column, bits of its window)
    value: dict[int, str | tuple[str, int]]
    #: metric index → its pre-exposure covariate: an aggregate column, or (bit mask, number of
    #: lookback days, bit of day -1) whose set bits are counted (CUPED; empty without)
    covariate: dict[int, str | tuple[str, int, int]] = field(default_factory=dict)


def _per_unit_events(
    events: ir.Table,
    first: ir.Table,
    event_metrics: Sequence[EventMetric],
    *,
    as_of: datetime,
    backend: str,
    lookback: int | None = None,
    adjusted: Sequence[Metric] = (),
) -> _PerUnit:
    """One grouped pass over all events: per-unit metric aggregates and data-quality counts.

    Every event row (null ids, never-exposed units and events outside the window included) is
    joined once to the first exposures. Rows inside ``t0 <= ts <= as_of`` and the widest window
    are grouped by unit; every other row is only counted, in one group per category
    (``_cat``: null id, never-exposed unit, null time, before exposure, after ``as_of``, beyond
    the widest window), so the data-quality report needs no second scan and the big
    aggregation sees only the rows that feed a metric.
    """
    import ibis

    from abkit._duckdb_udf import micros_between, nonneg_floordiv
    from abkit.metrics import Retention

    as_lit = ibis.literal(as_of)
    ev_cols = ["unit_id", "ts"] + [c for c in ("event", "value") if c in events.columns]
    ev = events.select(*ev_cols)
    f = first.select(_fu=first.unit_id, t0=first.t0)
    j = ev.left_join(f, ev.unit_id == f._fu).drop("_fu")

    # the last window day per kind of day index (None: rolling days; else the calendar zone)
    ends: dict[str | None, int] = {}
    for m in event_metrics:
        ends[m.tz] = max(ends.get(m.tz, 0), m.window[1])
    # a calendar day index can trail the rolling one by 1 (DST fall-back), never by more
    max_day = max((b + (1 if tz else 0) for tz, b in ends.items()), default=0)
    zones = sorted(tz for tz in ends if tz)
    in_range = (j.ts >= j.t0) & (j.ts <= as_lit)
    # ts >= t0 wherever the day index is used, so truncating division is floor division
    j = j.mutate(_d=nonneg_floordiv(backend, micros_between(backend, j.t0, j.ts), DAY_US))
    j = j.mutate(_day=ibis.ifelse(in_range & (j._d <= max_day), j._d, ibis.null("int64")))
    day_col = {None: "_day"} | {tz: f"_cday{i}" for i, tz in enumerate(zones)}
    if zones:
        j = j.mutate(
            **{
                day_col[tz]: ibis.ifelse(
                    j._day.notnull(), calendar_days(j.t0, j.ts, tz, backend), ibis.null("int64")
                )
                for tz in zones
            }
        )
        # _day above is a pre-filter with a day of slack for the calendar windows: a row is in
        # a window when its own day index (rolling or calendar in that zone) is inside the
        # longest window of that kind; the rest are late, and their day indexes are dropped
        inside = [j[day_col[tz]] <= b for tz, b in ends.items()]
        in_win = j._day.notnull() & functools.reduce(operator.or_, inside).fill_null(False)
        j = j.mutate(**{c: ibis.ifelse(in_win, j[c], ibis.null("int64")) for c in day_col.values()})
    if lookback:
        # CUPED covariates: days before exposure, j = ceil((t0 - ts) / 24h) in 1..lookback
        # (t0 - lookback·24h <= ts < t0); those rows are grouped with the unit, and still
        # counted as events before exposure
        back = micros_between(backend, j.ts, j.t0)
        j = j.mutate(
            _pj=ibis.ifelse(
                (j.ts < j.t0) & (back <= lookback * DAY_US),
                nonneg_floordiv(backend, back - 1, DAY_US) + 1,
                ibis.null("int64"),
            )
        )
        keep = j._day.notnull() | j._pj.notnull()
    else:
        keep = j._day.notnull()
    cat = ibis.cases(
        (keep, EV_IN_WINDOW),
        (j.unit_id.isnull(), EV_NULL_ID),
        (j.ts.isnull(), EV_NULL_TS),
        (j.t0.isnull(), EV_UNEXPOSED),
        (j.ts < j.t0, EV_BEFORE),
        (j.ts > as_lit, EV_AFTER),
        else_=EV_LATE,
    )
    j = j.mutate(
        _eu=ibis.ifelse(keep, j.unit_id, ibis.null(j.unit_id.type())),
        _cat=cat.cast("int8"),
    )
    event_col = j.event if "event" in j.columns else None
    value_col = j.value if "value" in j.columns else None

    aggs: dict[str, Any] = {"e_rows": j.count()}
    one = ibis.literal(1).cast("int64")
    masks: dict[tuple[Any, Any], str] = {}
    value: dict[int, str | tuple[str, int]] = {}
    # CUPED's lookback days ride in the high bits of a rolling mask when they fit: pre-exposure
    # day j is bit max_day + 1 + j (one aggregate instead of two)
    pre_offset = max_day + 2
    merge_pre = bool(lookback) and pre_offset + (lookback or 0) - 1 <= MASK_MAX_DAY
    merged: dict[Any, tuple[str, int, int]] = {}  # event filter → (mask, lookback, first bit)
    for i, m in enumerate(event_metrics):
        if (
            backend in MASK_BACKENDS
            and isinstance(m, Retention)
            and m.window[1] + (1 if m.tz else 0) <= MASK_MAX_DAY
        ):
            # one BIT_OR per (event filter, zone) serves every Retention window: bit k = active
            # on day k. A whole D0-D30 curve costs one aggregate instead of 31.
            key = (m.event, m.tz)
            if key not in masks:
                d = j[day_col[m.tz]]
                cond = d.notnull() & (d <= MASK_MAX_DAY)
                cond = _of_event(cond, m, event_col)
                masks[key] = f"_mask{len(masks)}"
                if m.event is None and max_day + 1 <= MASK_MAX_DAY:
                    # every day index here is null or at most max_day + 1 (a calendar index
                    # can lead the rolling one by a day): the shift needs no guard
                    bit = d
                else:
                    # the shift only sees days it can take (a day past 62 would overflow it)
                    bit = ibis.ifelse(cond, d, ibis.null("int64"))
                if merge_pre and m.tz is None:
                    pre = _of_event(j._pj.notnull(), m, event_col)
                    pre_bit = ibis.ifelse(pre, j._pj + (pre_offset - 1), ibis.null("int64"))
                    bit = bit.coalesce(pre_bit)
                    merged[m.event] = (masks[key], lookback or 0, pre_offset)
                aggs[masks[key]] = (one << bit).bit_or()
            a, b = m.window
            value[i] = (masks[key], ((1 << (b + 1)) - 1) ^ ((1 << a) - 1))
        else:
            aggs[f"_m_{i}"] = m.unit_aggregate(j[day_col[m.tz]], event_col, value_col)
            value[i] = f"_m_{i}"
    covariate: dict[int, str | tuple[str, int, int]] = {}
    if lookback:
        aggs["_pre_rows"] = j._pj.notnull().cast("int64").sum()
        cov_cols: dict[tuple[str, Any], str | tuple[str, int, int]] = {}
        for i, m in enumerate(event_metrics):
            kind = covariate_kind(m)
            if kind is None or m not in adjusted:
                continue
            ckey = (kind, m.event)
            if ckey not in cov_cols:
                name = f"_cov{len(cov_cols)}"
                cond = _of_event(j._pj.notnull(), m, event_col)
                if kind == "days" and m.event in merged:
                    cov_cols[ckey] = merged[m.event]
                elif kind == "days" and backend in MASK_BACKENDS and lookback <= MASK_MAX_DAY:
                    bit = ibis.ifelse(cond, j._pj - 1, ibis.null("int64"))
                    aggs[name] = (one << bit).bit_or()
                    cov_cols[ckey] = (name, lookback, 0)
                else:
                    if kind == "days":
                        aggs[name] = j._pj.nunique(where=cond)
                    elif kind == "count":
                        aggs[name] = cond.cast("int64").sum()
                    else:
                        v = _required(value_col).cast("float64").fill_null(0.0)
                        aggs[name] = ibis.ifelse(cond, v, 0.0).sum()
                    cov_cols[ckey] = name
            covariate[i] = cov_cols[ckey]
    pu = j.group_by(["_eu", "_cat"]).aggregate(**aggs)
    return _PerUnit(pu, value, covariate)


def _of_event(cond: Any, m: EventMetric, event_col: Any) -> Any:
    """``cond`` restricted to the events ``m`` counts (its ``event=`` filter, if any)."""
    if m.event is None:
        return cond
    if event_col is None:
        m.in_window(cond, None)  # raises the SpecError that names the fix
    return cond & _required(event_col).isin(m.event)


def _required(col: Any) -> Any:
    assert col is not None  # Revenue checked the value column when its own aggregate was built
    return col


def covariate_kind(m: Metric) -> str | None:
    """The pre-exposure covariate CUPED uses for event metric ``m``.

    ``"days"``: active days in the lookback (Retention, ActiveDays); ``"count"``: events
    (EventCount); ``"value"``: sum of ``value`` (Revenue); None for other metrics. The event
    filter is the metric's own.
    """
    from abkit.metrics import ActiveDays, EventCount, Retention, Revenue

    if isinstance(m, Retention | ActiveDays):
        return "days"
    if isinstance(m, EventCount):
        return "count"
    return "value" if isinstance(m, Revenue) else None


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
    import ibis

    from abkit._duckdb_udf import micros_between, nonneg_floordiv

    be = backend or backend_name(exposures, events)
    as_lit = ibis.literal(as_of)
    event_metrics = all_event_parts(metrics)
    first = first_exposures(exposures, as_of=as_of, carry=carry, backend=be, quality=True)
    if events is not None:
        per_unit = _per_unit_events(
            events,
            first,
            event_metrics,
            as_of=as_of,
            backend=be,
            lookback=cuped,
            # CUPED adjusts event metrics; ratios and their parts are not adjusted
            adjusted=[m for m in metrics if isinstance(m, EventMetric)],
        )
        pu = per_unit.table
        # units with no event in a window find no row; category rows find no unit
        u = first.outer_join(pu, first.unit_id == pu._eu)
    elif event_metrics:
        raise ValueError(f"metrics {[m.name for m in event_metrics]} need an events table")
    else:
        u = first.mutate(
            **{c: ibis.literal(0, "int64") for c in DQ_SUMS if c.startswith("e_")},
        )
    status = ibis.cases(
        (u.n_variants == 1, STATUS_OK), (u.n_variants == 2, STATUS_MULTI), else_=STATUS_OTHER
    )
    u = u.mutate(n_rows=u.n_rows.fill_null(0))
    ok = status == STATUS_OK
    u = u.mutate(
        _status=status,
        **{c: ibis.ifelse(ok, u[c], ibis.null(u[c].type())) for c in ("variant", *segments)},
    )

    values: dict[str, tuple[Any, Any, Any]] = {}
    copies: dict[str, str] = {}
    # x_ids: the number of distinct ids in the exposure log is the number of non-null ids among
    # the per-unit rows (the grouping kept units with no valid row), summed over the result rows;
    # a COUNT(DISTINCT) cost 3 s of 32 at 10M units, and a separate count over the per-unit
    # table made DuckDB keep it for a third reader (2-6 s more, spilling, at 10M units)
    aggs: dict[str, Any] = {"n_units": u.count(), "x_ids": u.unit_id.count()}
    group_cols: tuple[str, ...] = ("_status", "variant", *segments)
    rolling = [m for m in event_metrics if not m.tz]
    if rolling:
        # Units are grouped by whole days of age at as_of (capped at the longest window), so
        # maturity ("as_of - t0 >= N days" <=> age >= N) is applied to the small result frame
        # in complete_stats, not as a filter per metric on every unit.
        cap = max(m.mature_after_days for m in rolling)
        age = nonneg_floordiv(be, micros_between(be, u.t0, as_lit), DAY_US)  # t0 <= as_of
        u = u.mutate(_age=ibis.least(age, ibis.literal(cap, "int64")))
        group_cols = (*group_cols, AGE_COL)

    def event_value(m: EventMetric, *, plain: bool = False, cap: bool = True) -> Any:
        """A unit's value of event metric ``m`` (``plain``: as 0/1 integers, null for none)."""
        src = per_unit.value[event_metrics.index(m)]
        if isinstance(src, tuple):
            mask, bits = src
            v = ((u[mask] & ibis.literal(bits, "int64")) != 0).cast("int64")
            if plain:
                return v  # a sum skips units without events: they add 0
        else:
            v = u[src]
        v = v.cast("float64").fill_null(m.empty_value)
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

    def mature(m: EventMetric) -> Any:
        """Whether a unit's window of event metric ``m`` has ended by ``as_of``."""
        if m.tz:
            return calendar_days(u.t0, as_lit, m.tz, be) >= m.mature_after_days
        return u[AGE_COL] >= m.mature_after_days

    if events is not None and per_unit.covariate:
        # each CUPED covariate once per unit, as a column the metrics' sums read
        sources = {(s[0] if isinstance(s, tuple) else s): s for s in per_unit.covariate.values()}
        u = u.mutate(**{f"{base}_x": covariate_value(src) for base, src in sources.items()})

    # quantile caps: over the analysed units (status ok, an expected variant) whose window of
    # the metric has ended
    u = with_quantile_caps(
        u,
        metrics,
        lambda m: (
            event_value(m, cap=False)
            if isinstance(m, EventMetric)
            else column_value(u, m, cap=False)
        ),
        lambda m: (
            (u._status == STATUS_OK)
            & (u.variant.isin(variants) if variants is not None else True)
            & (mature(m) if isinstance(m, EventMetric) else True)
        ),
        backend=be,
    )

    for m in metrics:
        if isinstance(m, Ratio):
            x, y = (
                event_value(p) if isinstance(p, EventMetric) else column_value(u, p)
                for p in m.parts
            )
            if m.source == "column":
                values[m.name] = (x, None, x)  # n / missing from the numerator's nulls
                both = x.notnull() & y.notnull()
                aggs[stat_col(m, "n")] = u.count(where=both)
                aggs[stat_col(m, "missing")] = u.count(where=~both)
                aggs[stat_col(m, "immature")] = u.count() - u.count()
            else:
                both = None
            aggs |= ratio_aggregates(m, x, y, both)
            continue
        if isinstance(m, EventMetric):
            v = event_value(m, plain=_is_binary(m) and cap_of(u, m) is None)
            where = None
            if m.tz:
                where = mature(m)
                aggs[stat_col(m, "n")] = u.count(where=where)
            # immature and missing follow from n_units and n (see complete_stats); a 0/1
            # metric's sum of squares, min and max follow from n and sum
            aggs[stat_col(m, "sum")] = v.sum(where=where)
            if not _is_binary(m):
                aggs[stat_col(m, "sumsq")] = (v * v).sum(where=where)
                aggs[stat_col(m, "min")] = v.min(where=where)
                aggs[stat_col(m, "max")] = v.max(where=where)
            i = event_metrics.index(m)
            if i in per_unit.covariate:
                # CUPED: the pre-exposure covariate x and its sums Σx, Σx², Σxy. Σx and Σx² of
                # rolling metrics (maturity applied later, by age bucket) depend only on the
                # covariate: computed once per covariate and copied to each metric after the query
                src = per_unit.covariate[i]
                base = src[0] if isinstance(src, tuple) else src
                x = u[f"{base}_x"]
                aggs[stat_col(m, "cxy")] = (x * event_value(m)).sum(where=where)
                if where is None:
                    aggs[f"{base}__cx"] = x.sum()
                    aggs[f"{base}__cxx"] = (x * x).sum()
                    copies[stat_col(m, "cx")] = f"{base}__cx"
                    copies[stat_col(m, "cxx")] = f"{base}__cxx"
                else:
                    aggs[stat_col(m, "cx")] = x.sum(where=where)
                    aggs[stat_col(m, "cxx")] = (x * x).sum(where=where)
        else:
            raw = column_value(u, m)
            values[m.name] = (raw, None, raw)
            aggs |= column_covariate_sums(u, m, raw)
    ratio_cols = {k for k in aggs if "__" in k}
    aggs |= {k: v for k, v in _group_aggregates(u, values).items() if k not in ratio_cols}
    aggs |= {cap_column(m): u[cap_column(m)].max() for m in quantile_capped(metrics)}
    keys = list(group_cols)
    if events is not None:
        # the event category is a grouping key (rows: category 0 or null for units, one per
        # data-quality category otherwise), cheaper than seven filtered sums over every unit;
        # collapse_categories folds it away after the query
        aggs |= {"n_rows": u.n_rows.sum(), "e_rows": u.e_rows.sum()}
        if cuped:
            aggs["_pre_rows"] = u._pre_rows.sum()
        keys.append(CAT_COL)
    else:
        aggs |= {c: u[c].sum() for c in DQ_SUMS if not c.startswith("x_")}
    expr = u.group_by(keys).aggregate(**aggs)
    # exposure row counts: a scalar aggregate over the exposure log (a cheap pass, no grouping),
    # attached to every result row
    t = exposures
    x_counts = t.aggregate(
        x_rows=t.count(),
        x_null_ids=t.unit_id.isnull().cast("int64").sum(),
        x_null_variants=(t.unit_id.notnull() & t.variant.isnull()).cast("int64").sum(),
        x_null_times=(t.unit_id.notnull() & t.exposed_at.isnull()).cast("int64").sum(),
        x_after=(t.exposed_at > as_lit).cast("int64").sum(),
        x_min=t.exposed_at.min(),
    )
    expr = expr.cross_join(x_counts)
    return StatsQuery(expr, group_cols, copies)


def collapse_categories(
    frame: pd.DataFrame, group_cols: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Fold the event-category key of the analysis query's rows away.

    Returns the frame with one row per ``group_cols`` (sums added, minima and maxima combined,
    the exposure row counts — the same on every row — kept) and the event rows per category
    (the ``EV_DQ`` counts).
    """
    if CAT_COL not in frame.columns:
        return frame, {}
    cat = frame[CAT_COL]
    counts = {name: int(frame.loc[cat == k, "e_rows"].fillna(0).sum()) for name, k in EV_DQ.items()}
    if "_pre_rows" in frame.columns:
        # CUPED: events in the lookback were grouped with their units; they are events before
        # exposure all the same
        pre = int(frame["_pre_rows"].fillna(0).sum())
        counts["e_in_window"] -= pre
        counts["e_before"] += pre
        frame = frame.drop(columns="_pre_rows")
    frame = frame.drop(columns=CAT_COL)
    keys = list(group_cols)
    how = {
        c: "first" if c in (*X_COUNTS, "x_min") else combine(c)
        for c in frame.columns
        if c not in keys
    }
    frame = frame.groupby(keys, dropna=False, sort=False).agg(how).reset_index()
    return frame, counts


def _is_binary(m: Metric) -> bool:
    from abkit.metrics import Retention

    return isinstance(m, Retention)


def complete_stats(
    frame: pd.DataFrame, metrics: Sequence[Metric], group_cols: Sequence[str]
) -> pd.DataFrame:
    """The sufficient-statistics frame from the analysis query's rows of analysed units.

    Applies maturity by age bucket (rolling-day event metrics count a unit once its age at
    ``as_of`` is at least the metric's ``mature_after_days``), sums the buckets away, and fills
    what follows from other columns: for event metrics ``immature = n_units - n`` and
    ``missing = 0``; for 0/1 metrics ``sumsq = sum``, ``min = 0`` unless every unit is 1,
    ``max = 1`` if any is.
    """
    import numpy as np
    import pandas as pd

    frame = frame.reset_index(drop=True)
    # rolling metrics whose maturity is applied here: event metrics and event-part ratios
    event: list[Any] = [
        m
        for m in metrics
        if isinstance(m, EventMetric) or (isinstance(m, Ratio) and m.source == "events")
    ]
    if AGE_COL in frame.columns:
        age = frame[AGE_COL].to_numpy(dtype="int64")
        n_units = frame["n_units"].to_numpy(dtype="int64")
        cols: dict[str, Any] = {}
        for m in event:
            if getattr(m, "tz", None):
                continue
            mature = age >= m.mature_after_days
            cols[stat_col(m, "n")] = np.where(mature, n_units, 0)
            for f in ("sum", "sumsq", "min", "max", "sumy", "sumyy", "sumxy", *CUPED_FIELDS):
                if stat_col(m, f) in frame.columns:
                    x = frame[stat_col(m, f)].to_numpy(dtype="float64", na_value=np.nan)
                    cols[stat_col(m, f)] = np.where(
                        mature, x, np.nan if f in ("min", "max") else 0.0
                    )
        frame = pd.concat(
            [
                frame.drop(columns=[AGE_COL, *(c for c in cols if c in frame.columns)]),
                pd.DataFrame(cols, index=frame.index),
            ],
            axis=1,
        )
        keys = [c for c in group_cols if c != AGE_COL]
        how = {c: combine(c) for c in frame.columns if c not in keys}
        frame = frame.groupby(keys, dropna=False, sort=True).agg(how).reset_index()

    cols = {}
    n_units = frame["n_units"].to_numpy(dtype="int64")
    for m in event:
        n = frame[stat_col(m, "n")].to_numpy(dtype="int64")
        s = frame[stat_col(m, "sum")].to_numpy(dtype="float64", na_value=0.0)
        s = np.nan_to_num(s, nan=0.0)
        cols[stat_col(m, "sum")] = s
        cols[stat_col(m, "immature")] = n_units - n
        cols[stat_col(m, "missing")] = np.zeros(len(frame), dtype="int64")
        for f in ("sumsq", "sumy", "sumyy", "sumxy", *CUPED_FIELDS):
            if (isinstance(m, Ratio) or f in CUPED_FIELDS) and stat_col(m, f) in frame.columns:
                cols[stat_col(m, f)] = np.nan_to_num(
                    frame[stat_col(m, f)].to_numpy(dtype="float64", na_value=0.0), nan=0.0
                )
        if _is_binary(m):
            cols[stat_col(m, "sumsq")] = s
            cols[stat_col(m, "min")] = np.where(n > 0, (s >= n).astype(float), np.nan)
            cols[stat_col(m, "max")] = np.where(n > 0, (s > 0).astype(float), np.nan)
    keep = frame.drop(columns=[c for c in cols if c in frame.columns])
    return pd.concat([keep, pd.DataFrame(cols, index=frame.index)], axis=1)


def build_unit_stats(
    units: ir.Table,
    metrics: Sequence[Metric],
    *,
    segments: Sequence[str],
    variants: Sequence[str] | None = None,
) -> StatsQuery:
    """The aggregation query for a per-unit table (column metrics only).

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
    values: dict[str, tuple[Any, Any, Any]] = {}
    extra: dict[str, Any] = {}
    for m in metrics:
        if isinstance(m, Ratio):
            x, y = (column_value(units, p) for p in m.parts)
            both = x.notnull() & y.notnull()
            extra[stat_col(m, "n")] = units.count(where=both)
            extra[stat_col(m, "missing")] = units.count(where=~both)
            extra[stat_col(m, "immature")] = units.count() - units.count()
            extra |= ratio_aggregates(m, x, y, both)
            continue
        raw = column_value(units, m)
        values[m.name] = (raw, None, raw)
        extra |= column_covariate_sums(units, m, raw)
    group_cols = ("variant", *segments)
    aggs = _group_aggregates(units, values) | extra
    aggs |= {cap_column(m): units[cap_column(m)].max() for m in quantile_capped(metrics)}
    expr = units.group_by(list(group_cols)).aggregate(**aggs)
    return StatsQuery(expr, group_cols)
