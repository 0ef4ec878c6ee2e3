"""The analysis query run together with the report's per-unit table (:mod:`abkit.query.one_pass`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit import engine
from abkit.data import Logs, resolve_as_of
from abkit.query.one_pass import analysis_and_units

if TYPE_CHECKING:
    from abkit.analysis.options import AnalysisOptions
    from abkit.query.plan import StatsQuery
    from abkit.query.units_table import CalendarWindows, UnitDays

__all__ = ["one_pass"]


def one_pass(
    opts: AnalysisOptions,
    logs: Logs,
    carry: Sequence[str],
    as_of: datetime | str | None,
    unit_carry: Sequence[str],
    last_day: int,
    windows: CalendarWindows | None,
) -> tuple[Any, str | None, StatsQuery, datetime, UnitDays]:
    """The analysis query's frame, its SQL, the query, the resolved ``as_of`` and the views'
    per-unit table, from one pass over ``logs``' events (DuckDB; ``logs`` has events)."""
    assert logs.events is not None  # the caller checks
    # as_of is resolved as the analysis resolves it (the caller has defaulted it to the log's
    # bulk end when the events run; only a log without event times leaves it None here)
    as_of_dt = resolve_as_of(as_of, logs, tz=opts.tz, check_first_exposure=False)
    groups, covariates = opts.group_columns(logs.exposures)  # adjust=: strata join the segments
    query, units = analysis_and_units(
        logs.exposures,
        logs.events,
        opts.metrics,
        segments=groups,
        carry=list(carry),
        as_of=as_of_dt,
        con=logs.con,
        cuped=opts.cuped,
        variants=opts.variants,
        covariates=covariates,
        unit_carry=unit_carry,
        last_day=last_day,
        windows=windows,
    )
    frame, sql = engine.execute_with_sql(query.expr, logs.con)
    return frame, sql, query, as_of_dt, units
