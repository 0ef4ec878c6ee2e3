"""What every retention view starts from: the logs loaded once, ``as_of``, analysable units."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit.data import Logs, prepare_logs, require_events_occur, resolve_as_of
from abkit.errors import DataError, SpecError
from abkit.query import first_exposures
from abkit.query.units_table import (
    LAST_DAY,
    UNIT_DAYS_BACKENDS,
    CalendarWindows,
    UnitDays,
    carried,
    unit_days,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from abkit.analysis import Experiment
    from abkit.results import ExperimentResult

#: the fewest days the shared table holds, so that a D30 surrogate forecast (the default
#: long-term target) reads it too
SHARED_MIN_DAYS = 30


@dataclass(frozen=True, slots=True)
class Prepared:
    """The logs of a view, its ``as_of``, and one row per analysable unit."""

    logs: Logs
    #: one row per unit seen in a single variant by as_of: unit_id, variant, t0
    units: ir.Table
    as_of: datetime
    #: the per-unit table the views of a report share (:func:`share`; None: read the logs)
    days: UnitDays | None = None

    @property
    def con(self) -> BaseBackend:
        return self.logs.con

    @property
    def events(self) -> ir.Table:
        assert self.logs.events is not None  # every view is given events
        return self.logs.events


def prepare(
    exposures: Any,
    events: Any,
    *,
    as_of: datetime | str | None,
    columns: Mapping[str, str] | None,
    tz: str | None,
    con: Any,
) -> Prepared:
    """Load both logs (:func:`abkit.data.prepare_logs`), resolve ``as_of``, find the units."""
    if events is None:
        raise SpecError("retention views are computed from events; pass the events log")
    logs = prepare_logs(exposures, events, columns=columns, tz=tz, con=con)
    as_of_dt = resolve_as_of(as_of, logs, tz=tz)
    first = first_exposures(logs.exposures, as_of=as_of_dt, backend=str(logs.con.name))
    units = first.filter(first.n_variants == 1).select("unit_id", "variant", "t0")
    return Prepared(logs, units, as_of_dt)


def share(
    exposures: Any,
    events: Any,
    *,
    as_of: datetime | str | None,
    columns: Mapping[str, str] | None,
    tz: str | None,
    con: Any = None,
    carry: Sequence[str] = (),
    last_day: int = 0,
    windows: CalendarWindows | None = None,
) -> Prepared:
    """:func:`prepare`, and the logs scanned once into the per-unit table the views then read
    instead (:func:`abkit.query.units_table.unit_days`: active days ``0..last_day`` and those
    of the ``carry`` columns that are exposure columns, at the first exposure; at least
    :data:`SHARED_MIN_DAYS` days). Pass the result as ``shared=`` to
    :func:`~abkit.retention.churn_survival`, :func:`~abkit.retention.churn_regression`,
    :func:`~abkit.retention.novelty` and :func:`~abkit.retention.surrogate_forecast`; each
    falls back to the logs for what the table does not hold (an ``event=`` filter, more days,
    another attribute, a backend without bit masks).
    """
    p = prepare(exposures, events, as_of=as_of, columns=columns, tz=tz, con=con)
    if str(p.con.name) not in UNIT_DAYS_BACKENDS:
        return p
    ud = unit_days(
        p.logs.exposures,
        p.events,
        as_of=p.as_of,
        con=p.con,
        carry=carried(p.logs.exposures.columns, carry),
        last_day=table_days(last_day),
        windows=windows,
    )
    return Prepared(p.logs, p.units, p.as_of, ud)


def table_days(last_day: int) -> int:
    """The days the shared table holds for views that need ``0..last_day``."""
    return min(max(last_day, SHARED_MIN_DAYS), LAST_DAY)


def analyze_and_share(
    exp: Experiment,
    exposures: Any,
    events: Any,
    *,
    as_of: datetime | str | None,
    carry: Sequence[str] = (),
    last_day: int = 0,
    windows: CalendarWindows | None = None,
) -> tuple[ExperimentResult, Prepared | None]:
    """``exp.analyze`` of the logs and, from the same pass over the events, what :func:`share`
    gives (:meth:`~abkit.analysis.Experiment.analyze_with_table`); the preparation is None
    where that pass is not possible (a backend other than DuckDB): :func:`share` then scans
    the logs on its own."""
    from abkit import engine

    con = engine.connect()
    res, ud = exp.analyze_with_table(
        exposures=exposures,
        events=events,
        as_of=as_of,
        con=con,
        carry=carry,
        last_day=table_days(last_day),
        windows=windows,
    )
    if ud is None:
        return res, None
    p = prepare(exposures, events, as_of=res.as_of, columns=exp.columns, tz=exp.tz, con=con)
    return res, Prepared(p.logs, p.units, p.as_of, ud)


def shared_or_prepare(
    shared: Prepared | None,
    exposures: Any,
    events: Any,
    *,
    as_of: datetime | str | None,
    columns: Mapping[str, str] | None,
    tz: str | None,
    con: Any,
) -> Prepared:
    """The report's shared preparation when given (its logs already loaded), else :func:`prepare`."""
    if shared is not None:
        return shared
    return prepare(exposures, events, as_of=as_of, columns=columns, tz=tz, con=con)


def order_variants(found: Sequence[str], control: str) -> list[str]:
    """Control first, then the other variants found, sorted."""
    found = sorted(str(v) for v in found)
    if control not in found:
        raise DataError(f"control {control!r} is not among the variants found {found}")
    return [control, *[v for v in found if v != control]]


def event_names(event: str | Sequence[str] | None) -> list[str] | None:
    """``event=`` as a list of names (None: every event)."""
    if event is None:
        return None
    return [event] if isinstance(event, str) else list(event)


def require_event_column(p: Prepared, what: str) -> None:
    """A view that reads event names needs the events' ``event`` column."""
    if "event" not in p.events.columns:
        raise DataError(f"{what} needs an 'event' column (event names) in the events table")


def require_activity_events(p: Prepared, event: str | Sequence[str] | None, what: str) -> None:
    """``event=`` of a view names events that occur in the log (an error listing those that do,
    not a silently empty view)."""
    names = event_names(event)
    if names:
        require_event_column(p, what)
        require_events_occur(p.events, p.con, names, what=f"{what}: event=")


def positive_days(**values: Any) -> None:
    """Each value is a positive whole number of days."""
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SpecError(f"{name} must be a positive whole number of days, got {v!r}")
