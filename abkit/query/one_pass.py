"""The analysis and the report's per-unit table from one pass over the events.

A report runs the analysis of its spec's metrics and then reads the logs once more into the
per-unit table its views share (:func:`abkit.query.units_table.unit_days`). Both are grouped
passes of the same events by unit, so :func:`analysis_and_units` runs one: the analysis' own
per-unit pass (:func:`~abkit.query.events.per_unit_events`) also keeps what the table needs
(:class:`~abkit.query.events.Wide`: the active days ``0..last_day`` and the calendar windows of
every exposed unit), it is materialised, and both the statistics query and the table read it.

The statistics are those of :func:`~abkit.query.plan.build_analysis_query`: the pass's rows of
a unit in a category other than "in a metric window" (rows the table needs that no metric
reads) are folded back into one row per category (:func:`fold_wide`), which is what the plain
pass groups them into; the unit rows are the plain pass's own. tests/test_one_pass.py checks
results and data-quality records against the plain analysis, and the table against
:func:`~abkit.query.units_table.unit_days`.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import ibis

from abkit.engine import execute
from abkit.query.events import WIDE, WIDE_WINDOWS, PerUnit, Wide, per_unit_events
from abkit.query.exposures import day_index, first_exposures, label_segments
from abkit.query.frame import CAT_COL, E_ROWS, EV_IN_WINDOW, PRE_ROWS
from abkit.query.plan import (
    StatsQuery,
    all_event_parts,
    build_statistics,
    cuped_adjusted,
    exposure_counts,
)
from abkit.query.units_table import (
    CalendarWindows,
    UnitDays,
    check_last_day,
    drop_tables,
    materialise,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from abkit.metrics import Metric

__all__ = ["analysis_and_units", "fold_wide"]


def fold_wide(pu: ir.Table) -> ir.Table:
    """The per-unit pass of :class:`~abkit.query.events.Wide` as the plain pass groups it: the
    unit rows of the in-window category as they are, every other row folded into one row per
    category with a null unit (its event rows added; the other columns null, as no analysed
    unit reads them)."""
    keep = [c for c in pu.columns if c not in (WIDE, WIDE_WINDOWS)]
    units = pu.filter(pu[CAT_COL] == EV_IN_WINDOW).select(*keep)
    rest = pu.filter(pu[CAT_COL] != EV_IN_WINDOW)
    added = {c: rest[c].sum().cast(pu[c].type()) for c in (E_ROWS, PRE_ROWS) if c in keep}
    nulls = {
        c: ibis.null(pu[c].type()) for c in keep if c not in added and c not in ("_eu", CAT_COL)
    }
    cats = rest.group_by(CAT_COL).aggregate(**added)
    cats = cats.mutate(_eu=ibis.null(pu._eu.type()), **nulls).select(*keep)
    both = ibis.union(units, cats, distinct=False)
    # the category as the plain pass types it (a temporary table reads it back wider)
    return both.mutate(**{CAT_COL: both[CAT_COL].cast("int8")})


def analysis_and_units(
    exposures: ir.Table,
    events: ir.Table,
    metrics: Sequence[Metric],
    *,
    segments: Sequence[str],
    carry: Sequence[str],
    as_of: datetime,
    con: BaseBackend,
    cuped: int | None = None,
    variants: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
    unit_carry: Sequence[str] = (),
    last_day: int,
    windows: CalendarWindows | None = None,
) -> tuple[StatsQuery, UnitDays]:
    """The analysis query (as :func:`~abkit.query.plan.build_analysis_query` of ``exposures``
    with their ``segments`` labelled builds it) and the report's per-unit table (as
    :func:`~abkit.query.units_table.unit_days` of ``exposures`` builds it, ``unit_carry``
    columns carried), from one pass over ``events`` on DuckDB. The heavy pass runs here, into a
    temporary table; the query returned reads only that table and the exposures."""
    check_last_day(last_day)
    be = str(con.name)
    # the first exposures once, as a table: the pass joins them, the statistics query and the
    # views' table read them; the views' attributes ride along unlabelled, under names of
    # their own
    raw = {f"_unit_{c}": c for c in unit_carry}
    src = label_segments(exposures.mutate(**{k: exposures[c] for k, c in raw.items()}), segments)
    first_x = first_exposures(src, as_of=as_of, carry=[*carry, *raw], backend=be, quality=True)
    first_t, first_name = materialise(first_x, con)
    names = [first_name]
    first = first_t.select(*[c for c in first_t.columns if c not in raw])
    units = first_t.filter(first_t.n_variants == 1)
    first_t0 = execute(units.t0.min(), con)
    first_t0 = None if first_t0 is None or first_t0 != first_t0 else first_t0.to_pydatetime()
    start, n_windows = None, 0
    if windows is not None and windows.n > 0 and first_t0 is not None:
        start, n_windows = first_t0 + windows.after, windows.n
    per_unit = per_unit_events(
        events,
        first,
        all_event_parts(metrics),
        as_of=as_of,
        backend=be,
        lookback=cuped,
        adjusted=cuped_adjusted(metrics),
        wide=Wide(last_day, start, n_windows),
    )
    pu, pu_name = materialise(per_unit.table, con)
    names.append(pu_name)

    by_unit = pu.filter(pu._eu.notnull())
    masks = {"active": by_unit[WIDE].bit_or()}
    if WIDE_WINDOWS in pu.columns:
        masks["windows"] = by_unit[WIDE_WINDOWS].bit_or()
    per = by_unit.group_by("_eu").aggregate(**masks)
    t = units.left_join(per, units.unit_id == per._eu)
    one = ibis.literal(1, "int64")
    age = day_index(be, t.t0, ibis.literal(as_of))
    # the days that have ended by as_of: 0..age-1 (and up to last_day)
    ended = (one << ibis.least(age, last_day + 1)) - one
    cols = {
        "active": t.active.fill_null(0).cast("int64") & ended,
        "windows": t.windows.fill_null(0).cast("int64")
        if "windows" in masks
        else ibis.literal(0, "int64"),
    }
    table, name = materialise(
        t.select("unit_id", "variant", "t0", **{c: t[k] for k, c in raw.items()}, age=age, **cols),
        con,
    )
    names.append(name)
    ud = UnitDays(table, last_day, tuple(unit_carry), first_t0, start, n_windows)
    weakref.finalize(ud, drop_tables, con, names)

    query = build_statistics(
        first,
        PerUnit(fold_wide(pu), per_unit.value, per_unit.covariate),
        exposure_counts(exposures, as_of),
        metrics,
        segments=segments,
        as_of=as_of,
        backend=be,
        cuped=cuped,
        variants=variants,
        covariates=covariates,
    )
    return query, ud
