"""Data layer: any source → an Ibis table on one backend, with abkit's standard column names.

Accepted sources: pandas DataFrames, Arrow tables, Parquet / CSV paths (a folder of Parquet files
too) and Ibis tables of any backend. DuckDB (in-process) is the default engine.

The data contract (see ``docs/data.md``):

* **exposures** — ``unit_id``, ``variant``, ``exposed_at`` (+ any segment / covariate columns);
* **events** — ``unit_id``, ``ts`` (+ optional ``event``, ``value``);
* **units** — one row per unit with ``unit_id``, ``variant`` and metric columns.

Names are mapped with ``columns={"unit_id": "userid", …}`` (abkit name → your name).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from abkit import engine
from abkit.engine import backend_of, execute, is_spark_frame, quiet_known_warnings, resolve_backend
from abkit.errors import DataError, first_line
from abkit.quality import DataQuality, Finding

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa
    from ibis.backends import BaseBackend
    from pyspark.sql import DataFrame as SparkDataFrame

#: what abkit reads as a table: a pandas DataFrame, an Arrow table, a Parquet/CSV path (or a
#: folder of Parquet files), an Ibis table of any backend, or a Spark DataFrame
TableLike: TypeAlias = (
    "pd.DataFrame | pa.Table | str | os.PathLike[str] | ir.Table | SparkDataFrame"
)

# DataQuality, Finding (now in abkit.quality) and backend_of (abkit.engine) stay importable here
__all__ = [
    "DataQuality",
    "Finding",
    "Logs",
    "TableLike",
    "backend_of",
    "connect",
    "load_table",
    "prepare_logs",
    "prepare_units",
    "resolve_as_of",
]

# --------------------------------------------------------------------------------------------------
# sources


def connect(**config: Any) -> BaseBackend:
    """A fresh in-process DuckDB connection through Ibis (the default engine).

    Uses abkit's engine settings (:mod:`abkit.engine`: memory limit, spill directory, threads,
    progress bar); keyword arguments override them, e.g. ``memory_limit="4GB"``,
    ``temp_directory="/tmp/x"``, ``threads=2``.
    """
    return engine.connect(**config)


def load_table(source: TableLike, *, con: BaseBackend, role: str) -> ir.Table:
    """Turn ``source`` into an Ibis table that ``con`` can execute.

    Args:
        source: pandas DataFrame, Arrow table, Parquet/CSV path (or folder of Parquet files), or an
            Ibis table.
        con: the backend that will run the queries (used to read files).
        role: ``"exposures"``, ``"events"`` or ``"units"`` — named in error messages.

    Raises:
        DataError: the source type is not supported, a path does not exist or cannot be read.
    """
    import ibis
    import ibis.expr.types as ir

    quiet_known_warnings()
    if isinstance(source, ir.Table):
        return source
    if is_spark_frame(source):
        if con.name != "pyspark":
            raise DataError(
                f"{role}: a Spark DataFrame needs the Spark backend; pass con=spark (your "
                f"SparkSession) or leave con= unset, not a {con.name} backend"
            )
        import uuid

        view = f"abkit_{role}_{uuid.uuid4().hex[:12]}"
        source.createOrReplaceTempView(view)
        return _spark_instants(con.table(view), source)
    mod = type(source).__module__
    if mod.startswith("pandas"):
        import pandas as pd

        if isinstance(source, pd.DataFrame):
            return ibis.memtable(_prepare_pandas(source, role))
    if mod.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(source, pa.Table):
            return ibis.memtable(source)
    if isinstance(source, str | Path):
        return _read_path(source, con=con, role=role)
    raise DataError(
        f"{role}: unsupported input type {type(source).__name__}; pass a pandas DataFrame, an Arrow "
        "table, a Parquet/CSV path or an Ibis table"
    )


#: a timestamp written day and month first in either order: 03/04/2024, 3.4.24, 03-04-2024 …
_DAY_MONTH = r"^\s*(\d{1,2})([/.-])(\d{1,2})[/.-]\d{2,4}"


def _read_path(source: str | os.PathLike[str], *, con: BaseBackend, role: str) -> ir.Table:
    """A file read as named, a folder of Parquet files, or (``glob:`` prefix) a pattern.

    A literal name is never expanded: ``ev[1].parquet`` is that file, not ``ev1.parquet``, and
    ``*`` or ``?`` in a real file name match only themselves.
    """
    from abkit._files import GLOB_CHARS, GLOB_PREFIX, arrow_source, input_problem, table_format

    if isinstance(source, str) and source.startswith(GLOB_PREFIX):
        path, pattern = Path(source[len(GLOB_PREFIX) :]), True
    else:
        path, pattern = Path(source), False
    problem = None if pattern else input_problem(path)
    if problem is not None:
        raise DataError(f"{role}: {problem}")
    fmt = "parquet" if path.is_dir() else table_format(path)
    if fmt is None:
        raise DataError(
            f"{role}: cannot tell the format of {source} (suffix {path.suffix!r}); use .parquet "
            "or .csv"
        )
    duck, name = con.name == "duckdb", str(path.absolute())
    try:
        if not pattern and GLOB_CHARS & set(name):  # an engine's reader would expand the name
            import ibis

            return ibis.memtable(arrow_source(path.absolute(), fmt))
        if path.is_dir() and not pattern:  # every Parquet file under it, partition folders too
            return con.read_parquet(name + "/**/*.parquet")
        opts = {"hive_partitioning": False} if duck and not pattern else {}
        if fmt == "parquet":
            return con.read_parquet(name, **opts)
        table = con.read_csv(name, **opts)
        if duck:
            _refuse_ambiguous_dates(table, con=con, target=name, role=role, path=path)
        return table
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{role}: could not read {source}: {first_line(exc)}") from None


def _refuse_ambiguous_dates(
    table: ir.Table, *, con: BaseBackend, target: str, role: str, path: Path
) -> None:
    """Raise a DataError when DuckDB read a CSV column of day/month dates it had to guess.

    DuckDB's CSV sniffer reads ``03/04/2024`` as 3 April, silently. Such a column is accepted
    only when its values settle the order (a number over 12 in one place, never in the other);
    the first value shows the column's form, so only a day/month column costs a scan.
    """
    cols = [c for c, t in table.schema().items() if t.is_timestamp() or t.is_date()]
    raw = con.read_csv(target, all_varchar=True, hive_partitioning=False) if cols else table
    for col in cols:
        text = raw[col]
        present = text.notnull() & (text.strip() != "")
        first = execute(raw.filter(present).limit(1), con)
        value = "" if first.empty else str(first[col].iloc[0])
        form = re.match(_DAY_MONTH, value)
        if form is None:
            continue
        top = execute(
            raw.filter(present & text.re_search(_DAY_MONTH)).aggregate(
                a=text.re_extract(_DAY_MONTH, 1).cast("int64").max(),
                b=text.re_extract(_DAY_MONTH, 3).cast("int64").max(),
            ),
            con,
        ).iloc[0]
        if (int(top["a"]) > 12) != (int(top["b"]) > 12):
            continue  # e.g. a 25 in first place and none in second: every value is day first
        fmt = form[2].join(("%d", "%m", "%Y")) + (" %H:%M:%S" if ":" in value else "")
        raise DataError(
            f"{role}: column {col!r} of {path.name} holds dates such as {value!r} that read as "
            "day/month and as month/day alike (every value fits both), so abkit will not guess; "
            f"e.g. the row {first.iloc[0].to_dict()}. Write the column in ISO 8601 (e.g. "
            "2024-04-03T10:00:00Z); in Python, parse it with its format "
            f"(e.g. pd.to_datetime(df[{col!r}], format={fmt!r}, utc=True)) and pass the frame"
        )


def _spark_instants(table: ir.Table, frame: Any) -> ir.Table:
    """Type Spark ``TimestampType`` columns (instants) as UTC-aware; Ibis reads them as naive."""
    from pyspark.sql import types as st

    from abkit._duckdb_udf import spark_as_instant

    ltz = [
        f.name
        for f in frame.schema.fields
        if isinstance(f.dataType, st.TimestampType)
        and not isinstance(f.dataType, st.TimestampNTZType)
    ]
    return table.mutate(**{c: spark_as_instant(table[c]) for c in ltz}) if ltz else table


def _prepare_pandas(df: Any, role: str) -> Any:
    """Make a pandas frame safe for Ibis: string-named columns, no object columns of mixed types."""
    if not all(isinstance(c, str) for c in df.columns):
        df = df.rename(columns={c: str(c) for c in df.columns})
    dupes = df.columns[df.columns.duplicated()].tolist()
    if dupes:
        raise DataError(f"{role}: duplicate column names {dupes}; rename them before analysing")
    return df


#: common names for abkit's columns, used to suggest a ``columns=`` mapping
SYNONYMS: dict[str, tuple[str, ...]] = {
    "unit_id": ("user_id", "userid", "uid", "user", "device_id", "customer_id", "account_id", "id"),
    "variant": ("group", "version", "arm", "bucket", "treatment", "variation", "experiment_group"),
    "exposed_at": ("timestamp", "ts", "time", "assigned_at", "exposure_time", "first_seen"),
    "ts": ("timestamp", "event_time", "time", "created_at", "event_ts", "datetime"),
    "event": ("event_name", "name", "action", "type"),
    "value": ("revenue", "amount", "price"),
}


def suggest_column(std: str, user: str, have: Sequence[str]) -> str | None:
    """The user's column that most likely plays abkit's role ``std``, if any."""
    close = difflib.get_close_matches(user, have, n=1)
    if close:
        return close[0]
    lowered = {c.lower(): c for c in have}
    for alias in SYNONYMS.get(std, ()):
        if alias in lowered:
            return lowered[alias]
    return None


def rename_columns(
    table: ir.Table,
    *,
    role: str,
    required: Sequence[str],
    optional: Sequence[str] = (),
    columns: Mapping[str, str] | None = None,
) -> ir.Table:
    """Rename the user's columns to abkit's names; raise a DataError naming what is missing.

    ``columns`` maps abkit names to the user's names. Required columns must exist; optional ones are
    used when present.
    """
    columns = dict(columns or {})
    have = list(table.columns)
    renames: dict[str, str] = {}
    missing = []
    for std in [*required, *optional]:
        user = columns.get(std, std)
        if user in have:
            if user != std:
                if std in have and std not in columns.values():
                    # the user's table already has a column with abkit's name: drop it from view
                    table = table.drop(std)
                    have.remove(std)
                renames[std] = user
        elif std in required:
            missing.append((std, user))
    if missing:
        swapped = _swapped_hint(role, [std for std, _ in missing], have, columns)
        parts = []
        for std, user in missing:
            hint = None if swapped else suggest_column(std, user, have)
            alias = "" if std == user else f" (mapped from abkit's {std!r})"
            tip = f" Did you mean {hint!r}? Pass columns={{{std!r}: {hint!r}}}." if hint else ""
            parts.append(f"{user!r}{alias}.{tip}")
        raise DataError(
            f"{role}: missing required column(s): {' '.join(parts)} Available columns: {have}"
            + swapped
        )
    return table.rename(renames) if renames else table


def _swapped_hint(
    role: str, missing: Sequence[str], have: Sequence[str], columns: Mapping[str, str]
) -> str:
    """The question to ask when the table looks like the other log: exposures with ``ts`` and
    no exposure columns, or events with ``exposed_at``/``variant`` and no ``ts``."""
    present = {std for std in ("variant", "exposed_at", "ts") if columns.get(std, std) in have}
    if role == "exposures" and {"variant", "exposed_at"} <= set(missing) and "ts" in present:
        looks = "an events log (a 'ts' column, no 'variant' or 'exposed_at')"
    elif role == "events" and "ts" in missing and present & {"variant", "exposed_at"}:
        found = " and ".join(repr(c) for c in ("variant", "exposed_at") if c in present)
        looks = f"an exposure log ({found}, no 'ts')"
    else:
        return ""
    return f". The {role} table looks like {looks}: are exposures= and events= swapped?"


def require_timestamp(
    table: ir.Table, col: str, *, role: str, tz: str | None, con: BaseBackend
) -> ir.Table:
    """Check that ``col`` is a timestamp; make it UTC-aware (naive ones only with an explicit ``tz``)."""
    import ibis.expr.datatypes as dt

    dtype = table[col].type()
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


def require_events_occur(
    events: ir.Table, con: BaseBackend, names: Sequence[str], *, what: str
) -> None:
    """Raise a DataError when an event name in ``names`` does not occur in ``events``.

    A name the log does not hold is a typo, not an event nobody did: the message lists the
    events that do occur (and the closest one). One distinct-name query through the engine.
    """
    found = execute(events.select("event").distinct(), con)["event"].dropna()
    occur = sorted(str(e) for e in found)
    missing = [s for s in dict.fromkeys(names) if s not in set(occur)]
    if not missing:
        return
    tips = []
    for s in missing:
        close = difflib.get_close_matches(s, occur, n=1)
        tips.append(f"{s!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    shown = ", ".join(repr(e) for e in occur[:30]) + (
        f" … ({len(occur)} in all)" if len(occur) > 30 else ""
    )
    raise DataError(
        f"{what} {', '.join(tips)} name no event of the events log; the events that "
        f"occur are: {shown or 'none'}"
    )


def align_id_types(exp: ir.Table, ev: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Unit ids of different types in the two tables (int vs text) are compared as text."""
    a, b = exp.unit_id.type(), ev.unit_id.type()
    if a == b or (a.is_integer() and b.is_integer()):
        return exp, ev
    return exp.mutate(unit_id=exp.unit_id.cast("string")), ev.mutate(
        unit_id=ev.unit_id.cast("string")
    )


def label_segments(t: ir.Table, segments: Sequence[str]) -> ir.Table:
    """Segment columns as strings, nulls labelled "(null)" so they form their own group."""
    if not segments:
        return t
    return t.mutate(**{s: t[s].cast("string").fill_null("(null)") for s in segments})


def check_columns(t: ir.Table, role: str, needed: Sequence[str]) -> None:
    """Raise a DataError naming the ``needed`` columns ``t`` lacks (with close matches)."""
    missing = [c for c in needed if c not in t.columns]
    if missing:
        hints = {c: difflib.get_close_matches(c, list(t.columns), n=1) for c in missing}
        tips = "; ".join(f"did you mean {h[0]!r} for {c!r}?" for c, h in hints.items() if h)
        raise DataError(
            f"{role}: column(s) {missing} used by the experiment are missing. "
            f"Available: {list(t.columns)}" + (f"; {tips}" if tips else "")
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
    notes: list[str] = []
    exp = load_table(exposures, con=backend, role="exposures")
    exp = rename_columns(
        exp, role="exposures", required=("unit_id", "variant", "exposed_at"), columns=columns
    )
    exp = require_timestamp(exp, "exposed_at", role="exposures", tz=tz, con=backend)
    exp = exp.mutate(variant=exp.variant.cast("string"))
    exp = normalise_unit_ids(exp, role="exposures", blank_to_null=True, notes=notes, con=backend)
    ev: ir.Table | None = None
    if events is not None:
        ev = load_table(events, con=backend, role="events")
        ev = rename_columns(
            ev,
            role="events",
            required=("unit_id", "ts"),
            optional=("event", "value"),
            columns=columns,
        )
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
        exp, ev = align_id_types(exp, ev)
    return Logs(backend, exp, ev, tuple(notes))


def prepare_units(
    units: TableLike, *, columns: Mapping[str, str] | None = None, con: Any = None
) -> tuple[BaseBackend, ir.Table, tuple[str, ...]]:
    """Load a per-unit table: ``unit_id`` and ``variant`` (text) renamed, ids normalised.

    Returns the backend, the table, and notes on what was changed (see :func:`prepare_logs`).
    """
    backend = resolve_backend(con) or backend_of(units) or engine.connect()
    t = load_table(units, con=backend, role="units")
    t = rename_columns(t, role="units", required=("unit_id", "variant"), columns=columns)
    t = t.mutate(variant=t.variant.cast("string"))
    notes: list[str] = []
    t = normalise_unit_ids(t, role="units", blank_to_null=True, notes=notes, con=backend)
    return backend, t, tuple(notes)


def resolve_as_of(
    as_of: datetime | str | None,
    logs: Logs,
    *,
    tz: str | None,
    check_first_exposure: bool = True,
) -> datetime:
    """``as_of`` as an aware UTC datetime; the default is the last event (or exposure) time.

    The default costs no scan on Parquet: DuckDB answers ``max(ts)`` from the row-group
    statistics. With ``check_first_exposure=False`` the caller checks ``as_of`` against the
    first exposure itself (the analysis query returns it).

    Raises:
        DataError: ``as_of`` is not a timestamp, has no zone (and no ``tz``), or is before the
            first exposure; or there is no timestamp to default it to.
    """
    import pandas as pd

    exp, ev = logs.exposures, logs.events
    if as_of is None:
        src = ev.ts if ev is not None else exp.exposed_at
        value = execute(src.max(), logs.con)
        if value is None or bool(pd.isna(value)):
            raise DataError(
                "cannot default as_of: the "
                + ("events" if ev is not None else "exposures")
                + " table has no timestamps; pass as_of= explicitly"
            )
        ts = pd.Timestamp(value)
    else:
        try:
            ts = pd.Timestamp(as_of)
        except (ValueError, TypeError) as exc:
            raise DataError(f"as_of={as_of!r} is not a timestamp: {exc}") from None
    if ts.tzinfo is None:
        if tz is None:
            raise DataError(
                f"as_of={as_of!r} has no time zone; give one (e.g. '2024-05-01T00:00Z') or "
                "set tz= on the Experiment"
            )
        ts = ts.tz_localize(tz)
    # the engines keep microseconds; a pandas Timestamp may carry nanoseconds
    ts = ts.tz_convert("UTC").floor("us")
    if check_first_exposure:
        first = execute(exp.exposed_at.min(), logs.con)
        if first is not None and not bool(pd.isna(first)) and ts < pd.Timestamp(first):
            raise DataError(
                f"as_of {ts.isoformat()} is before the first exposure "
                f"{pd.Timestamp(first).isoformat()}; nothing can be analysed"
            )
    out: datetime = ts.to_pydatetime().astimezone(UTC)
    return out
