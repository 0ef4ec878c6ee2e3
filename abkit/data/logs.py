"""The exposure and event logs, loaded once: timestamps, unit ids, the default ``as_of`` and the
logs' plausibility findings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from abkit import engine
from abkit.data import shapes
from abkit.data.columns import rename_columns
from abkit.data.load import TableLike, in_memory, load_table
from abkit.engine import backend_of, execute, resolve_backend
from abkit.errors import DataError
from abkit.quality import (
    FindingsBuilder,
    id_mismatch_hint,
    local_time_findings,
    span_findings,
)
from abkit.query import cache
from abkit.query.checks import (
    EventSpan,
    LocalTimes,
    event_days,
    event_span,
    local_time_issues,
    stray_rows,
    unit_id_examples,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends import BaseBackend


def require_timestamp(
    table: ir.Table, col: str, *, role: str, tz: str | None, con: BaseBackend
) -> ir.Table:
    """Check that ``col`` is a timestamp; make it UTC-aware (naive ones only with an explicit ``tz``)."""
    import ibis.expr.datatypes as dt

    dtype = table[col].type()
    if not dtype.is_timestamp() and execute(table.limit(1).count(), con) == 0:
        # e.g. a CSV file with a header and no rows: every column reads as text
        raise DataError(
            f"{role}: the table is empty (it has columns {list(table.columns)} but no rows); "
            f"give the {role} file or table that holds the data"
        )
    if dtype.is_string():
        raise DataError(
            f"{role}: column {col!r} holds text, not timestamps; parse it first (e.g. "
            f"pd.to_datetime(df[{col!r}], utc=True)) or store it as a timestamp in Parquet"
        )
    if dtype.is_date():
        raise DataError(
            f"{role}: column {col!r} holds dates without a time of day; rolling 24-hour windows "
            "need timestamps (use the exposure/event time, not its date)"
        )
    if not dtype.is_timestamp():
        raise DataError(
            f"{role}: column {col!r} has type {dtype}, expected a timestamp; epoch numbers must be "
            "converted first (e.g. pd.to_datetime(df[col], unit='s', utc=True))"
        )
    assert isinstance(dtype, dt.Timestamp)
    if dtype.timezone is None:
        if tz is None:
            raise DataError(
                f"{role}: column {col!r} has timezone-naive timestamps; abkit will not guess the "
                "zone. Pass tz='UTC' (or the zone the log was written in, e.g. tz='Asia/Shanghai'), "
                "or store timezone-aware timestamps"
            )
        if tz.upper() == "UTC":
            return table.mutate(**{col: table[col].cast(dt.Timestamp(timezone="UTC"))})
        from abkit._duckdb_udf import TZ_BACKENDS, local_to_utc_for

        local = local_to_utc_for(con.name, tz, table[col])
        if local is None:
            raise DataError(
                f"{role}: localising naive column {col!r} to {tz!r} is built in for "
                f"{list(TZ_BACKENDS)}, not for {con.name}; convert it to UTC-aware timestamps "
                "in the source"
            )
        return table.mutate(**{col: local})
    if dtype.timezone.upper() != "UTC":
        return table.mutate(**{col: table[col].cast(dt.Timestamp(timezone="UTC"))})
    return table


def normalise_unit_ids(
    table: ir.Table, *, role: str, blank_to_null: bool, notes: list[str], con: BaseBackend
) -> ir.Table:
    """Make ``unit_id`` safe to join on, recording what was changed in ``notes``.

    * floating-point ids (a pandas column of integers with a NaN becomes float) are cast to
      64-bit integers when every value is a whole number below 2**53; otherwise a DataError, since
      such ids cannot be matched exactly;
    * with ``blank_to_null``, text ids that are empty or only white space become null (dropped
      and counted like any null id). Other ids are kept verbatim (no trimming: " u1" and "u1" may
      be different users).
    """
    import ibis

    uid = table.unit_id
    dtype = uid.type()
    if dtype.is_boolean():
        raise DataError(
            f"{role}: column 'unit_id' holds true/false values, not unit ids; every unit would "
            "be one of two 'units'. Map the column that identifies users or devices, e.g. "
            "columns={'unit_id': 'user_id'}"
        )
    if dtype.is_floating():
        bad = execute(
            table.aggregate(
                fractional=(uid.notnull() & (uid != uid.floor())).cast("int64").sum(),
                too_big=(uid.abs() >= 2.0**53).cast("int64").sum(),
                n=uid.count(),
            ),
            con,
        )
        row = bad.iloc[0]
        frac, big = (
            0 if row[k] is None or row[k] != row[k] else int(row[k])
            for k in ("fractional", "too_big")
        )
        if frac or big:
            raise DataError(
                f"{role}: column 'unit_id' holds floating-point numbers ({frac:,} with a fraction, "
                f"{big:,} too large to be exact); ids must be integers or text — store them as "
                "integers (df['unit_id'].astype('Int64')) or strings"
            )
        notes.append(
            f"{role}: unit ids stored as floating-point numbers (e.g. 1.0) were read as integers"
        )
        table = table.mutate(unit_id=uid.cast("int64"))
    elif dtype.is_string() and blank_to_null:
        table = table.mutate(unit_id=ibis.ifelse(uid.strip() == "", ibis.null("string"), uid))
    return table


def align_id_types(exp: ir.Table, ev: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Unit ids of different types in the two tables (int vs text) are compared as text."""
    a, b = exp.unit_id.type(), ev.unit_id.type()
    if a == b or (a.is_integer() and b.is_integer()):
        return exp, ev
    return exp.mutate(unit_id=exp.unit_id.cast("string")), ev.mutate(
        unit_id=ev.unit_id.cast("string")
    )


@dataclass(frozen=True, slots=True)
class Logs:
    """Exposure and event logs on one backend, with abkit's column names and types.

    Made by :func:`prepare_logs`: ``unit_id``, ``variant`` (text), ``exposed_at`` (UTC) and any
    other exposure columns; ``unit_id``, ``ts`` (UTC) and optional ``event`` (text) and
    ``value`` (numbers) in the events. ``notes`` says what was changed on the way (recorded as
    data-quality findings by the analysis).
    """

    con: BaseBackend
    exposures: ir.Table
    events: ir.Table | None
    notes: tuple[str, ...] = ()
    #: naive times the ``tz`` zone skips or repeats, per column (:class:`~abkit.query.checks.LocalTimes`)
    local_times: tuple[LocalTimes, ...] = ()
    #: the unit ids' types as loaded (exposures, events), before ids of two types became text
    id_types: tuple[str, str] | None = None

    def with_exposures(self, exposures: ir.Table) -> Logs:
        """The same logs with the exposure table replaced (e.g. with a derived column added)."""
        return replace(self, exposures=exposures)


def prepare_logs(
    exposures: TableLike,
    events: TableLike | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    tz: str | None = None,
    con: Any = None,
    value: bool = False,
) -> Logs:
    """Load the exposure (and event) logs once, for the analysis and for every retention view.

    Renames the user's columns to abkit's (``columns`` maps abkit names to yours), makes the
    timestamps UTC-aware (naive ones only with an explicit ``tz``), casts variants and event
    names to text, reads floating-point ids as integers and blank text ids as null, and
    compares ids of different types in the two logs as text.

    Args:
        exposures, events: any source :func:`load_table` reads (events may be None).
        columns: mapping of abkit column names to yours.
        tz: the zone timezone-naive timestamps were written in.
        con: the backend to run on (default: the tables' own backend, else abkit's DuckDB).
        value: whether a metric reads the events' ``value`` (it must then be numeric);
            otherwise the column is dropped, whatever its type.

    Raises:
        DataError: a column is missing or of the wrong type; the message names the fix.

    Example:
        >>> import abkit as ab
        >>> exposures, events = ab.simulate.retention_experiment(n_units=100, seed=1)
        >>> logs = prepare_logs(exposures.rename(columns={"variant": "group"}), events,
        ...                     columns={"variant": "group"})
        >>> logs.exposures.variant.type().is_string(), logs.events.ts.type().timezone
        (True, 'UTC')
    """
    backend = resolve_backend(con) or backend_of(exposures, events) or engine.connect()
    if all(s is None or in_memory(s) for s in (exposures, events)):
        try:
            exp = load_table(exposures, con=backend, role="exposures")
            ev = None if events is None else load_table(events, con=backend, role="events")
        except DataError:
            pass  # the direct load raises it, after the exposures' own errors
        else:
            opts: dict[str, Any] = {"columns": columns, "tz": tz, "value": value}
            kept = _reused_logs(exp, ev, backend, **opts)
            if kept is not None:
                return kept
            return _load_logs(_given(exp), None if ev is None else _given(ev), backend, **opts)
    return _load_logs(
        lambda: load_table(exposures, con=backend, role="exposures"),
        None if events is None else lambda: load_table(events, con=backend, role="events"),
        backend,
        columns=columns,
        tz=tz,
        value=value,
    )


def _reused_logs(
    exposures: ir.Table,
    events: ir.Table | None,
    backend: BaseBackend,
    *,
    columns: Mapping[str, str] | None,
    tz: str | None,
    value: bool,
) -> Logs | None:
    """The logs of in-memory tables (as :func:`load_table` made them) from the loader's
    expressions for their shape (:mod:`abkit.data.shapes`); None: load them directly."""
    tables = (exposures, events)
    key = (tuple(sorted((columns or {}).items())), tz, value)

    def load(con: Any, t: tuple[ir.Table | None, ...]) -> Logs:
        exp_t, ev_t = t
        assert exp_t is not None
        return _load_logs(
            _given(exp_t), None if ev_t is None else _given(ev_t), con, columns=columns, tz=tz,
            value=value,
        )  # fmt: skip

    found = shapes.reuse("logs", key, tables, str(backend.name), load)
    if found is None:
        return None
    made, subst = found
    ev = None if made.events is None else shapes.swap(made.events, subst)
    exp = shapes.swap(made.exposures, subst)
    return Logs(backend, exp, ev, made.notes, made.local_times, made.id_types)


def _given(table: ir.Table) -> Callable[[], ir.Table]:
    return lambda: table


def _load_logs(
    load_exposures: Callable[[], ir.Table],
    load_events: Callable[[], ir.Table] | None,
    backend: BaseBackend,
    *,
    columns: Mapping[str, str] | None,
    tz: str | None,
    value: bool,
) -> Logs:
    """:func:`prepare_logs` on the backend resolved (the tables loaded when it needs them)."""
    notes: list[str] = []
    exp = load_exposures()
    exp = rename_columns(
        exp, role="exposures", required=("unit_id", "variant", "exposed_at"), columns=columns
    )
    local: list[LocalTimes] = []
    _check_local_times(exp, "exposed_at", "exposures", tz, backend, local)
    exp = require_timestamp(exp, "exposed_at", role="exposures", tz=tz, con=backend)
    exp = exp.mutate(variant=exp.variant.cast("string"))
    exp = normalise_unit_ids(exp, role="exposures", blank_to_null=True, notes=notes, con=backend)
    ev: ir.Table | None = None
    if load_events is not None:
        ev = load_events()
        ev = rename_columns(
            ev,
            role="events",
            required=("unit_id", "ts"),
            optional=("event", "value"),
            columns=columns,
        )
        _check_local_times(ev, "ts", "events", tz, backend, local)
        ev = require_timestamp(ev, "ts", role="events", tz=tz, con=backend)
        if "event" in ev.columns:
            ev = ev.mutate(event=ev.event.cast("string"))
        if "value" in ev.columns and not value:
            ev = ev.drop("value")  # no metric reads it: its type does not matter
        if "value" in ev.columns and not ev.value.type().is_numeric():
            raise DataError(
                f"events: column 'value' has type {ev.value.type()}, expected numbers; convert "
                "it (e.g. pd.to_numeric(df['value'], errors='coerce')) before analysing"
            )
        ev = normalise_unit_ids(ev, role="events", blank_to_null=False, notes=notes, con=backend)
        id_types = (str(exp.unit_id.type()), str(ev.unit_id.type()))
        exp, ev = align_id_types(exp, ev)
        return Logs(backend, exp, ev, tuple(notes), tuple(local), id_types)
    return Logs(backend, exp, ev, tuple(notes), tuple(local))


def _check_local_times(
    t: ir.Table, col: str, role: str, tz: str | None, con: BaseBackend, found: list[LocalTimes]
) -> None:
    """Count the naive times of ``col`` that zone ``tz`` skips or repeats (into ``found``)."""
    dtype = t[col].type()
    if tz is None or tz.upper() == "UTC" or not dtype.is_timestamp():
        return
    if getattr(dtype, "timezone", None) is None:
        issue = local_time_issues(t, col, role=role, zone=tz, con=con)
        if issue is not None:
            found.append(issue)


def log_span(logs: Logs, *, run: cache.Runner | None = None) -> EventSpan | None:
    """When the events log begins and ends, its bulk and its stray rows (None without events).

    One grouped query (the events per UTC day), its SQL reused for in-memory tables of the
    same shape (:mod:`abkit.query.cache`); :func:`abkit.query.checks.event_span` decides.
    ``run``: a runner over ``(logs.exposures, logs.events)`` to run it with (the analysis'
    own, so that the tables are registered once for both of its queries); default: a new one.
    """
    if logs.events is None:
        return None
    be = str(logs.con.name)

    def build(exposures: ir.Table, events: ir.Table) -> ir.Table:
        return event_days(exposures, events, backend=be)

    if run is not None:
        assert run.tables == (logs.exposures, logs.events), "a runner over other tables"
        return event_span(cache.execute(run, "event days", (be,), build))
    with cache.runner(logs.con, (logs.exposures, logs.events)) as own:
        days = cache.execute(own, "event days", (be,), build)
    return event_span(days)


def log_findings(
    logs: Logs, span: EventSpan | None, as_of: datetime, *, defaulted: bool, dq: FindingsBuilder
) -> None:
    """The loaded logs' plausibility findings: when the events log runs against the exposures
    and ``as_of`` (:func:`abkit.quality.span_findings`), naive times the zone skips or repeats.
    """
    if span is not None and logs.events is not None:
        events, last = logs.events, span.last
        span_findings(span, as_of, defaulted, dq, lambda: stray_rows(events, last, logs.con))
    local_time_findings(logs.local_times, dq)


def unit_id_hint(logs: Logs) -> str | None:
    """How the unit ids of the two logs differ, from an example of each (a query), or None."""
    if logs.events is None:
        return None
    found = unit_id_examples(logs.exposures, logs.events, logs.con)
    return None if found is None else id_mismatch_hint(*found, logs.id_types)


def prepare_units(
    units: TableLike, *, columns: Mapping[str, str] | None = None, con: Any = None
) -> tuple[BaseBackend, ir.Table, tuple[str, ...]]:
    """Load a per-unit table: ``unit_id`` and ``variant`` (text) renamed, ids normalised.

    Returns the backend, the table, and notes on what was changed (see :func:`prepare_logs`).
    """
    backend = resolve_backend(con) or backend_of(units) or engine.connect()
    if in_memory(units):
        table = load_table(units, con=backend, role="units")
        key = tuple(sorted((columns or {}).items()))

        def load(con: Any, t: tuple[ir.Table | None, ...]) -> tuple[ir.Table, tuple[str, ...]]:
            assert t[0] is not None
            return _load_units(t[0], columns=columns, con=con)

        found = shapes.reuse("units", key, (table,), str(backend.name), load)
        if found is not None:
            (made, notes), subst = found
            return backend, shapes.swap(made, subst), notes
        return (backend, *_load_units(table, columns=columns, con=backend))
    table = load_table(units, con=backend, role="units")
    return (backend, *_load_units(table, columns=columns, con=backend))


def _load_units(
    t: ir.Table, *, columns: Mapping[str, str] | None, con: BaseBackend
) -> tuple[ir.Table, tuple[str, ...]]:
    t = rename_columns(t, role="units", required=("unit_id", "variant"), columns=columns)
    t = t.mutate(variant=t.variant.cast("string"))
    notes: list[str] = []
    t = normalise_unit_ids(t, role="units", blank_to_null=True, notes=notes, con=con)
    return t, tuple(notes)


def resolve_as_of(
    as_of: datetime | str | None,
    logs: Logs,
    *,
    tz: str | None,
    check_first_exposure: bool = True,
) -> datetime:
    """``as_of`` as an aware UTC datetime; the default is the end of the events log's bulk.

    Without ``as_of``: the last event time, leaving out stray rows after the bulk
    (:func:`log_span`; a clock-skewed event dated 2099 would otherwise make every unit look
    mature); without events, the last exposure time. With ``check_first_exposure=False`` the
    caller checks ``as_of`` against the first exposure itself (the analysis query returns it).

    Raises:
        DataError: ``as_of`` is not a timestamp, has no zone (and no ``tz``), or is before the
            first exposure; or there is no timestamp to default it to.
    """
    import pandas as pd

    exp, ev = logs.exposures, logs.events
    if as_of is None:
        span = log_span(logs)
        value = span.last if span is not None else None
        if ev is None:
            value = execute(exp.exposed_at.max(), logs.con)
        if value is None or bool(pd.isna(value)):
            raise DataError(
                "cannot default as_of: the "
                + ("events" if ev is not None else "exposures")
                + " table has no timestamps; pass as_of= explicitly"
            )
        as_of = pd.Timestamp(value)
    ts = parse_as_of(as_of, tz)
    if check_first_exposure:
        first = execute(exp.exposed_at.min(), logs.con)
        if first is not None and not bool(pd.isna(first)) and ts < pd.Timestamp(first):
            raise DataError(
                f"as_of {ts.isoformat()} is before the first exposure "
                f"{pd.Timestamp(first).isoformat()}; nothing can be analysed"
            )
    out: datetime = ts.to_pydatetime().astimezone(UTC)
    return out


def parse_as_of(as_of: datetime | str, tz: str | None) -> pd.Timestamp:
    """``as_of`` as a UTC timestamp in whole microseconds, checked before any data is read.

    Raises:
        DataError: not a timestamp, or no zone and no ``tz`` to read it in.

    Example:
        >>> parse_as_of("2024-05-01T08:00+08:00", None).isoformat()
        '2024-05-01T00:00:00+00:00'
    """
    import pandas as pd

    try:
        ts = pd.Timestamp(as_of)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"as_of={as_of!r} is not a timestamp: {exc}") from None
    if ts is pd.NaT:
        raise DataError(f"as_of={as_of!r} is not a timestamp; give one such as 2024-05-01T00:00Z")
    if ts.tzinfo is None:
        if tz is None:
            raise DataError(
                f"as_of={as_of!r} has no time zone; give one (e.g. '2024-05-01T00:00Z') or "
                "set tz= on the Experiment"
            )
        ts = ts.tz_localize(tz)
    # the engines keep microseconds; a pandas Timestamp may carry nanoseconds
    out: pd.Timestamp = ts.tz_convert("UTC").floor("us")
    return out
