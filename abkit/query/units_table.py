"""One per-unit table for the views a report shows: the logs scanned once, then only this.

A report's retention views (time to churn, the churn regression, novelty) each read the whole
event log for the same few facts per unit: its first exposure, its variant, some exposure
attributes, and on which whole days since exposure it was active. :func:`unit_days` scans the
logs once for those facts and materialises them as a DuckDB temporary table, one row per unit;
each view then reads that table (a million rows) instead of the events (ten million).

Columns: ``unit_id``, ``variant``, ``t0`` and the carried exposure columns of
:func:`~abkit.query.exposures.first_exposures` (units seen in one variant by ``as_of``);
``age`` = whole days observed, ``⌊(as_of − t0) / 24 h⌋``; ``active``, a bit mask: bit ``d`` is
set when the unit has an event on day ``d`` (``t0 + d·24h <= ts < t0 + (d+1)·24h``) for the
days ``d < age`` that have ended by ``as_of`` and ``d <= last_day``; and ``windows``: bit ``w``
set when it has an event in the calendar window ``[start + w·24h, start + (w+1)·24h)`` for
``w < n`` (:class:`CalendarWindows`; 0 without).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt

from abkit.engine import bound_tables, compile_sql, execute, in_memory_tables, is_shared
from abkit.errors import SpecError
from abkit.query.events import PerUnit
from abkit.query.exposures import day_index, first_exposures
from abkit.query.frame import CAT_COL, E_ROWS, N_ROWS, X_COUNTS, X_MIN
from abkit.query.plan import all_event_parts

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from abkit.metrics import Metric

__all__ = [
    "LAST_DAY",
    "UNIT_DAYS_BACKENDS",
    "CalendarWindows",
    "UnitDays",
    "bit_count",
    "carried",
    "statistics_inputs",
    "unit_days",
]

#: the last day index the ``active`` mask can hold: a view shifts ``1 << h`` for ``h`` up to
#: ``LAST_DAY + 1``, and ``1 << 63`` overflows a BIGINT
LAST_DAY = 61
#: backends with BIT_OR, shifts and temporary tables
UNIT_DAYS_BACKENDS = ("duckdb",)


@dataclass(frozen=True, slots=True)
class CalendarWindows:
    """``n`` consecutive 24-hour windows from ``after`` past the first unit's exposure."""

    after: timedelta
    n: int


@dataclass(frozen=True, slots=True, weakref_slot=True)
class UnitDays:
    """The materialised per-unit table (dropped when this object is collected)."""

    table: ir.Table
    #: the last day index ``active`` holds (days up to it, and before ``age``)
    last_day: int
    carry: tuple[str, ...]
    #: the first exposure of any unit in the table (None: no unit)
    first_t0: datetime | None
    #: where the calendar windows of ``windows`` start, and how many (None: not computed)
    windows_start: datetime | None = None
    windows: int = 0


@ibis.udf.scalar.builtin(name="bit_count")  # type: ignore[untyped-decorator]
def _duckdb_bit_count(v: dt.int64) -> dt.int8:
    """DuckDB ``bit_count(BIGINT)``: a TINYINT."""


def bit_count(x: Any) -> Any:
    """The set bits of an int64 mask, as an int64 (DuckDB ``bit_count`` returns a TINYINT,
    whose products overflow)."""
    return _duckdb_bit_count(x).cast("int64")


def materialise(expr: ir.Table, con: BaseBackend) -> tuple[ir.Table, str]:
    """``CREATE TEMP TABLE`` from ``expr`` (its in-memory inputs registered for this statement
    only, as :func:`abkit.engine.execute` does); the table and its name."""
    name = f"_abkit_unit_days_{uuid.uuid4().hex}"
    sql = f'CREATE TEMP TABLE "{name}" AS {compile_sql(expr, con, inline_ctes=False)}'
    tables = in_memory_tables(expr, con) if is_shared(con) else None
    if tables is None:
        con._run_pre_execute_hooks(expr)
        con.raw_sql(sql)
    else:
        con._register_udfs(expr)
        with bound_tables(con, tables):
            con.raw_sql(sql)
    return con.table(name), name


def drop_tables(con: BaseBackend, names: Sequence[str]) -> None:
    for name in names:
        try:
            con.raw_sql(f'DROP TABLE IF EXISTS "{name}"')
        except Exception:  # the connection closed meanwhile: nothing left to free
            return


def carried(columns: Sequence[str], carry: Sequence[str]) -> list[str]:
    """The columns of ``carry`` the table carries: exposure columns other than its own (what is
    not an exposure column is left to the view that asks for it, and says so)."""
    return [
        c for c in dict.fromkeys(carry) if c in columns and c not in ("unit_id", "variant", "t0")
    ]


def check_last_day(last_day: int) -> None:
    if not 0 <= last_day <= LAST_DAY:
        raise SpecError(f"last_day must be in 0..{LAST_DAY}, got {last_day}")


def unit_rows(
    exposures: ir.Table, *, as_of: datetime, con: BaseBackend, carry: Sequence[str]
) -> tuple[ir.Table, str, datetime | None]:
    """The units of the table (seen in one variant by ``as_of``: ``unit_id``, ``variant``,
    ``t0``, the ``carry`` columns at ``t0``, ``age``) materialised; its name; the first ``t0``."""
    be, as_lit = str(con.name), ibis.literal(as_of)
    first = first_exposures(exposures, as_of=as_of, carry=tuple(carry), backend=be)
    units = first.filter(first.n_variants == 1).select("unit_id", "variant", "t0", *carry)
    units, name = materialise(units.mutate(age=day_index(be, units.t0, as_lit)), con)
    first_t0 = execute(units.t0.min(), con)
    first_t0 = None if first_t0 is None or first_t0 != first_t0 else first_t0.to_pydatetime()
    return units, name, first_t0


def unit_days(
    exposures: ir.Table,
    events: ir.Table,
    *,
    as_of: datetime,
    con: BaseBackend,
    carry: Sequence[str] = (),
    last_day: int = LAST_DAY,
    windows: CalendarWindows | None = None,
) -> UnitDays:
    """Scan the logs once into the per-unit table (see the module docstring).

    ``exposures`` and ``events`` are prepared logs (:func:`abkit.data.prepare_logs`) on ``con``,
    a DuckDB backend (:data:`UNIT_DAYS_BACKENDS`).
    """
    check_last_day(last_day)
    be = str(con.name)
    units, u_name, first_t0 = unit_rows(exposures, as_of=as_of, con=con, carry=carry)
    names = [u_name]
    one, null = ibis.literal(1, "int64"), ibis.null("int64")
    j = events.select("unit_id", "ts").join(units.select("unit_id", "t0", "age"), "unit_id")
    j = j.filter(j.ts >= j.t0).mutate(_d=day_index(be, j.t0, j.ts))
    in_day = (j._d < j.age) & (j._d <= last_day)
    aggs = {"active": (one << ibis.ifelse(in_day, j._d, null)).bit_or()}
    keep = in_day
    start, n_windows = None, 0
    if windows is not None and windows.n > 0 and first_t0 is not None:
        start, n_windows = first_t0 + windows.after, windows.n
        s_lit = ibis.literal(start)
        in_w = (j.ts >= s_lit) & (j.ts < ibis.literal(start + timedelta(days=n_windows)))
        # ts >= start here, so the day index from start is a floor
        w = day_index(be, s_lit, j.ts)
        aggs["windows"] = (one << ibis.ifelse(in_w, w, null)).bit_or()
        keep = keep | in_w
    j = j.filter(keep)
    per_unit = j.group_by("unit_id").aggregate(**aggs)
    t = units.left_join(per_unit, units.unit_id == per_unit.unit_id)
    masks = {c: t[c].fill_null(0).cast("int64") for c in aggs}
    if "windows" not in masks:
        masks["windows"] = ibis.literal(0, "int64")
    table, name = materialise(t.select(*units.columns, **masks), con)
    names.append(name)
    out = UnitDays(table, last_day, tuple(carry), first_t0, start, n_windows)
    weakref.finalize(out, drop_tables, con, names)
    return out


def statistics_inputs(
    table: ir.Table, last_day: int, metrics: Sequence[Metric], segments: Sequence[str]
) -> tuple[ir.Table, PerUnit, ir.Table] | None:
    """The three inputs of :func:`~abkit.query.plan.build_statistics` — first exposures, the
    per-unit event pass, the exposure counts — read from the per-unit table ``table`` (a
    :class:`UnitDays` table holding days ``0..last_day``, with the ``segments`` columns added)
    instead of the logs; None unless every metric is "any event in a window of rolling days
    ``a..b``" (``Retention`` without an event filter or a calendar zone) with ``b <= last_day``.

    The statistics equal the logs' (:func:`~abkit.query.plan.build_analysis_query`): the table
    holds the units seen in one variant by ``as_of`` (the analysed ones), and bit ``d`` of
    ``active`` is the logs' bit ``d`` for every unit whose day ``d`` has ended — the only units
    a window ending on day ``d`` counts (maturity is applied by age after the query). The
    data-quality counts are not in the table: they come out zero (the caller supplies them).
    """
    parts = all_event_parts(metrics)
    if len(parts) != len(metrics) or not all(
        m.unit_value == "any" and m.event is None and not m.tz and m.window[1] <= last_day
        for m in parts
    ):
        return None
    zero, one = ibis.literal(0, "int64"), ibis.literal(1, "int64")
    first = table.select("unit_id", "t0", "variant", *segments, n_variants=one, **{N_ROWS: one})
    events = table.select(
        _eu=table.unit_id, active=table.active, **{CAT_COL: ibis.literal(0, "int8"), E_ROWS: zero}
    )
    value: dict[int, str | tuple[str, int]] = {
        i: ("active", ((1 << (m.window[1] + 1)) - 1) ^ ((1 << m.window[0]) - 1))
        for i, m in enumerate(parts)
    }
    # the exposure-log row counts are the caller's: here one row per unit, none invalid
    counts = table.aggregate(
        **(dict.fromkeys(X_COUNTS, zero) | {X_COUNTS[0]: table.count(), X_MIN: table.t0.min()})
    )
    return first, PerUnit(events, value), counts
