"""The single grouped pass over events: every event metric's per-unit value, and the event
data-quality counts, from one scan of the activity log (moved whole: its parts share the
per-query state, and the plan is tuned — see docs/scale.md)."""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from abkit._duckdb_udf import micros_between, nonneg_floordiv
from abkit.query.exposures import DAY_US, calendar_days, day_index
from abkit.query.frame import (
    CAT_COL,
    E_ROWS,
    EV_AFTER,
    EV_BEFORE,
    EV_IN_WINDOW,
    EV_LATE,
    EV_NULL_ID,
    EV_NULL_TS,
    EV_UNEXPOSED,
    PRE_ROWS,
)
from abkit.query.sums import exact_sum
from abkit.query.values import of_event, unit_aggregate

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from abkit.metrics import EventMetric, Metric

#: Retention windows ending on a day up to this one are read from a per-unit bit mask of active days
MASK_MAX_DAY = 62
#: backends on which the bit-mask plan compiles (BIT_OR and shifts)
MASK_BACKENDS = ("duckdb",)


@dataclass(frozen=True, slots=True)
class PerUnit:
    """The per-unit event table and how each event metric's value is read from it."""

    table: ir.Table
    #: metric index → its aggregate column ``_m_<i>``, or (bit-mask column, bits of its window)
    value: dict[int, str | tuple[str, int]]
    #: metric index → its pre-exposure covariate: an aggregate column, or (bit mask, number of
    #: lookback days, bit of day -1) whose set bits are counted (CUPED; empty without)
    covariate: dict[int, str | tuple[str, int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Wide:
    """What a per-unit pass also keeps for the report's per-unit table
    (:mod:`abkit.query.one_pass`): per unit, bit ``d`` of ``_wide`` for an event on day ``d``
    (``t0 <= ts <= as_of``, ``d <= last_day``) and bit ``w`` of ``_wwin`` for one in the
    calendar window ``[start + w·24h, start + (w+1)·24h)``, ``ts >= t0``, ``w < windows``."""

    last_day: int
    start: datetime | None = None
    windows: int = 0


#: the per-unit pass's columns for the report's table (:class:`Wide`)
WIDE, WIDE_WINDOWS = "_wide", "_wwin"


def last_window_day(event_metrics: Sequence[EventMetric]) -> int:
    """The last rolling day index (``⌊(ts − t0) / 24 h⌋``) any metric window can hold: the
    widest window's last day, one more for calendar-day windows (a calendar day index can
    trail the rolling one by 1 at a DST fall-back, never by more). An event at
    ``ts ≥ t0 + (this + 1) days`` feeds no metric."""
    return max((m.window[1] + (1 if m.tz else 0) for m in event_metrics), default=0)


def per_unit_events(
    events: ir.Table,
    first: ir.Table,
    event_metrics: Sequence[EventMetric],
    *,
    as_of: datetime,
    backend: str,
    lookback: int | None = None,
    adjusted: Sequence[Metric] = (),
    unexposed_by_id: bool = False,
    wide: Wide | None = None,
) -> PerUnit:
    """One grouped pass over all events: per-unit metric aggregates and data-quality counts.

    Every event row (null ids, never-exposed units and events outside the window included) is
    joined once to the first exposures. Rows inside ``t0 <= ts <= as_of`` and the widest window
    are grouped by unit; every other row is only counted, in one group per category
    (``_cat``: null id, never-exposed unit, null time, before exposure, after ``as_of``, beyond
    the widest window), so the data-quality report needs no second scan and the big
    aggregation sees only the rows that feed a metric.

    ``wide``: the rows of exposed units that :class:`Wide` needs are grouped by unit too, in
    their own category (so a unit can have rows of several categories), with the two masks;
    :func:`abkit.query.one_pass.fold_wide` folds them back into the category counts.
    """
    import ibis

    as_lit = ibis.literal(as_of)
    ev_cols = ["unit_id", "ts"] + [c for c in ("event", "value") if c in events.columns]
    ev = events.select(*ev_cols)
    f = first.select(_fu=first.unit_id, t0=first.t0)
    j = ev.left_join(f, ev.unit_id == f._fu).drop("_fu")

    # the last window day per kind of day index (None: rolling days; else the calendar zone)
    ends: dict[str | None, int] = {}
    for m in event_metrics:
        ends[m.tz] = max(ends.get(m.tz, 0), m.window[1])
    max_day = last_window_day(event_metrics)
    zones = sorted(tz for tz in ends if tz)
    in_range = (j.ts >= j.t0) & (j.ts <= as_lit)
    # ts >= t0 wherever the day index is used, so truncating division is floor division
    j = j.mutate(_d=day_index(backend, j.t0, j.ts))
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
    wide_aggs: dict[str, Any] = {}
    by_unit: Any = None  # the rows grouped by unit for the report's table, beside ``keep``
    if wide is not None:
        one_w, null_w = ibis.literal(1, "int64"), ibis.null("int64")
        w_day = ibis.ifelse(in_range & (j._d <= wide.last_day), j._d, null_w)
        wide_aggs[WIDE] = (one_w << w_day).bit_or()
        by_unit = w_day.notnull()
        if wide.start is not None and wide.windows > 0:
            s_lit = ibis.literal(wide.start)
            end = ibis.literal(wide.start + timedelta(days=wide.windows))
            in_w = (j.ts >= j.t0) & (j.ts >= s_lit) & (j.ts < end)
            # ts >= start here, so the day index from start is a floor
            w_win = ibis.ifelse(in_w, day_index(backend, s_lit, j.ts), null_w)
            wide_aggs[WIDE_WINDOWS] = (one_w << w_win).bit_or()
            by_unit = by_unit | w_win.notnull()
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
        # unexposed_by_id: the never-exposed rows grouped by id too (a refresh's seal keeps them
        # per id, without a second join of the events to the units)
        _eu=ibis.ifelse(
            (keep | (cat == EV_UNEXPOSED))
            if unexposed_by_id
            else (keep if by_unit is None else keep | by_unit),
            j.unit_id,
            ibis.null(j.unit_id.type()),
        ),
        **{CAT_COL: cat.cast("int8")},
    )
    event_col = j.event if "event" in j.columns else None
    value_col = j.value if "value" in j.columns else None

    aggs: dict[str, Any] = {E_ROWS: j.count()}
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
            and m.binary
            and m.window[1] + (1 if m.tz else 0) <= MASK_MAX_DAY
        ):
            # one BIT_OR per (event filter, zone) serves every Retention window: bit k = active
            # on day k. A whole D0-D30 curve costs one aggregate instead of 31.
            key = (m.event, m.tz)
            if key not in masks:
                d = j[day_col[m.tz]]
                cond = d.notnull() & (d <= MASK_MAX_DAY)
                cond = of_event(cond, m, event_col)
                masks[key] = f"_mask{len(masks)}"
                if m.event is None and max_day + 1 <= MASK_MAX_DAY:
                    # every day index here is null or at most max_day + 1 (a calendar index
                    # can lead the rolling one by a day): the shift needs no guard
                    bit = d
                else:
                    # the shift only sees days it can take (a day past 62 would overflow it)
                    bit = ibis.ifelse(cond, d, ibis.null("int64"))
                if merge_pre and m.tz is None:
                    pre = of_event(j._pj.notnull(), m, event_col)
                    pre_bit = ibis.ifelse(pre, j._pj + (pre_offset - 1), ibis.null("int64"))
                    bit = bit.coalesce(pre_bit)
                    merged[m.event] = (masks[key], lookback or 0, pre_offset)
                aggs[masks[key]] = (one << bit).bit_or()
            a, b = m.window
            value[i] = (masks[key], ((1 << (b + 1)) - 1) ^ ((1 << a) - 1))
        else:
            aggs[f"_m_{i}"] = unit_aggregate(m, j[day_col[m.tz]], event_col, value_col)
            value[i] = f"_m_{i}"
    covariate: dict[int, str | tuple[str, int, int]] = {}
    if lookback:
        aggs[PRE_ROWS] = j._pj.notnull().cast("int64").sum()
        cov_cols: dict[tuple[str, Any], str | tuple[str, int, int]] = {}
        for i, m in enumerate(event_metrics):
            kind = m.cuped_covariate
            if kind is None or m not in adjusted:
                continue
            ckey = (kind, m.event)
            if ckey not in cov_cols:
                name = f"_cov{len(cov_cols)}"
                cond = of_event(j._pj.notnull(), m, event_col)
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
                        assert value_col is not None  # checked by the metric's own aggregate
                        v = value_col.cast("float64").fill_null(0.0)
                        aggs[name] = exact_sum(ibis.ifelse(cond, v, 0.0))
                    cov_cols[ckey] = name
            covariate[i] = cov_cols[ckey]
    pu = j.group_by(["_eu", CAT_COL]).aggregate(**aggs, **wide_aggs)
    return PerUnit(pu, value, covariate)
