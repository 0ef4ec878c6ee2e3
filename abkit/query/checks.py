"""Plausibility checks of the loaded logs, each one small query.

* :func:`event_days` / :func:`event_span` — when the events log begins and ends, and where its
  bulk ends: the default ``as_of`` that one clock-skewed row dated 2099 does not move (it would
  make every unit look mature);
* :func:`local_time_issues` — naive wall-clock times that the zone given as ``tz=`` skips
  (the spring-forward gap) or repeats (the fall-back hour), read as one instant by the engine.

The rule for a stray row (docs/data.md): after at least one whole UTC day without any event,
the rows that follow are stray when they are fewer than 1% of a median day's events, or fewer
than 1% of all events while the empty stretch before them is longer than the rest of the log.
The same rule trims stray rows before the bulk (an event dated 1970).

Example:
    >>> import pandas as pd
    >>> t = pd.to_datetime(["1970-01-01 09:00", "1970-01-02 23:00", "2098-09-07 00:00"], utc=True)
    >>> days = pd.DataFrame({"day": [0, 1, 47_000], "n": [500, 600, 1], "lo": t, "hi": t,
    ...                      "x_lo": t[0], "x_hi": t[0]})
    >>> span = event_span(days)
    >>> span.last.isoformat(), span.late_rows, span.latest.year
    ('1970-01-02T23:00:00+00:00', 1, 2098)
"""

from __future__ import annotations

import difflib
import numbers
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from abkit._duckdb_udf import micros_between, nonneg_floordiv
from abkit.engine import execute
from abkit.errors import DataError
from abkit.query.exposures import DAY_US, backend_name

if TYPE_CHECKING:
    from pathlib import Path

    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends import BaseBackend

__all__ = [
    "EventSpan",
    "LocalTimes",
    "day_histogram",
    "event_days",
    "event_span",
    "exposure_range",
    "local_time_issues",
    "merge_days",
    "refuse_ambiguous_dates",
    "require_events_occur",
    "stray_rows",
    "unit_id_examples",
]

#: a stray stretch of rows holds fewer than this share of a median day's events …
STRAY_OF_DAY = 0.01
#: … or fewer than this share of all events, after an empty stretch longer than the rest
STRAY_OF_ALL = 0.01


@dataclass(frozen=True, slots=True)
class EventSpan:
    """When the events log begins and ends, its bulk, and the stray rows outside the bulk.

    ``first``/``last``: the first and last event time of the bulk; ``earliest``/``latest``:
    of every row; ``early_rows``/``late_rows``: stray rows before and after the bulk, and
    ``late_gap``: the empty stretch before the late ones. ``first_exposure``/
    ``last_exposure``: the exposure log's first and last time (any row with a time).
    """

    rows: int
    first: datetime
    last: datetime
    earliest: datetime
    latest: datetime
    early_rows: int = 0
    late_rows: int = 0
    late_gap: timedelta = timedelta(0)
    first_exposure: datetime | None = None
    last_exposure: datetime | None = None


def event_days(exposures: ir.Table, events: ir.Table, *, backend: str | None = None) -> ir.Table:
    """One row per UTC day with events: ``day`` (days since 1970), ``n`` rows, ``lo``/``hi``
    (first and last time), and the exposures' first and last time (``x_lo``/``x_hi``) on each;
    the times as epoch microseconds (whole numbers come back from the engine fastest).

    Days come from exact epoch microseconds (no time-zone arithmetic in the engine).
    """
    be = backend or backend_name(events)  # in-memory tables run where the analysis runs
    return day_histogram(events, backend=be).cross_join(exposure_range(exposures, backend=be))


def day_histogram(events: ir.Table, *, backend: str) -> ir.Table:
    """:func:`event_days` without the exposures' columns: ``day``, ``n``, ``lo``, ``hi``."""
    import ibis

    be = backend
    epoch = ibis.literal(datetime(1970, 1, 1, tzinfo=UTC))
    ev = events.filter(events.ts.notnull())
    # before 1970 the division truncates toward zero: day 0 then holds two days (harmless here)
    ev = ev.select("ts", day=nonneg_floordiv(be, micros_between(be, epoch, ev.ts), DAY_US))
    days = ev.group_by("day").aggregate(n=ev.count(), lo=ev.ts.min(), hi=ev.ts.max())
    return days.mutate(lo=micros_between(be, epoch, days.lo), hi=micros_between(be, epoch, days.hi))


def exposure_range(exposures: ir.Table, *, backend: str) -> ir.Table:
    """The exposures' first and last time (``x_lo``/``x_hi``, epoch microseconds): one row."""
    import ibis

    be = backend
    epoch = ibis.literal(datetime(1970, 1, 1, tzinfo=UTC))
    x = exposures.aggregate(x_lo=exposures.exposed_at.min(), x_hi=exposures.exposed_at.max())
    return x.mutate(x_lo=micros_between(be, epoch, x.x_lo), x_hi=micros_between(be, epoch, x.x_hi))


def merge_days(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Rows of :func:`day_histogram` from disjoint sets of events, added day by day."""
    import pandas as pd

    t = pd.concat([p[["day", "n", "lo", "hi"]] for p in parts], ignore_index=True)
    if t.empty:
        return t
    g = t.astype("int64").groupby("day", sort=True)
    return g.agg(n=("n", "sum"), lo=("lo", "min"), hi=("hi", "max")).reset_index()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _instant(value: Any) -> datetime:
    """Epoch microseconds (or a timestamp) as an aware UTC datetime."""
    import pandas as pd

    if isinstance(value, numbers.Integral):  # numpy integers too
        whole: datetime = _EPOCH + timedelta(microseconds=int(value))
        return whole
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    out: datetime = ts.to_pydatetime()
    return out


def _instants(values: pd.Series) -> list[datetime]:
    """A column of epoch microseconds (or timestamps) as aware UTC datetimes."""
    return [_instant(v) for v in values.tolist()]


def _optional_instant(value: Any) -> datetime | None:
    import pandas as pd

    return None if value is None or bool(pd.isna(value)) else _instant(value)


def event_span(days: pd.DataFrame) -> EventSpan | None:
    """The span of the events log from :func:`event_days`' rows (None without events)."""
    import numpy as np

    if days.empty:
        return None
    days = days.sort_values("day", kind="stable").reset_index(drop=True)
    day = days["day"].astype("int64").to_numpy()
    n = days["n"].astype("int64").to_numpy()
    rows = int(n.sum())
    # runs of consecutive days with events; a run starts after at least one empty day
    starts = [0, *(i for i in range(1, len(day)) if day[i] - day[i - 1] > 1)]
    runs = [(a, b) for a, b in zip(starts, [*starts[1:], len(day)], strict=True)]
    typical = float(np.median(n))
    lo_t, hi_t = _instants(days["lo"]), _instants(days["hi"])

    def stray(run: tuple[int, int], rest: tuple[int, int], gap: timedelta, taken: int) -> bool:
        k = int(n[run[0] : run[1]].sum())
        if taken + k > STRAY_OF_ALL * rows:
            return False
        rest_span = hi_t[rest[1] - 1] - lo_t[rest[0]]
        return k < STRAY_OF_DAY * typical or (k < STRAY_OF_ALL * rows and gap > rest_span)

    late = early = 0
    gap = timedelta(0)
    changed = True
    while changed and len(runs) > 1:  # trim stray runs off either end until none is left
        changed = False
        (a, b), prev = runs[-1], runs[-2]
        g = lo_t[a] - hi_t[prev[1] - 1]
        if stray((a, b), (runs[0][0], prev[1]), g, late + early):
            late, gap = late + int(n[a:b].sum()), max(gap, g)
            runs.pop()
            changed = True
        if len(runs) < 2:
            break
        (a, b), nxt = runs[0], runs[1]
        g = lo_t[nxt[0]] - hi_t[b - 1]
        if stray((a, b), (nxt[0], runs[-1][1]), g, late + early):
            early += int(n[a:b].sum())
            runs.pop(0)
            changed = True
    first, last = runs[0][0], runs[-1][1] - 1
    return EventSpan(
        rows=rows,
        first=lo_t[first],
        last=hi_t[last],
        earliest=lo_t[0],
        latest=hi_t[-1],
        early_rows=early,
        late_rows=late,
        late_gap=gap,
        first_exposure=_optional_instant(days["x_lo"].iloc[0]),
        last_exposure=_optional_instant(days["x_hi"].iloc[0]),
    )


def stray_rows(events: ir.Table, after: datetime, con: BaseBackend, k: int = 3) -> list[str]:
    """Up to ``k`` event rows later than ``after``, as ``unit_id 'u1' at 2099-01-01T00:00Z``."""
    import ibis

    ev = events.filter(events.ts > ibis.literal(after))
    got = execute(ev.select("unit_id", "ts").order_by(["ts", "unit_id"]).limit(k), con)
    pairs = zip(got.unit_id.tolist(), got.ts.tolist(), strict=True)
    return [f"unit_id {u!r} at {_instant(t).isoformat()}" for u, t in pairs]


# ------------------------------------------------------------------------------- local times


@dataclass(frozen=True, slots=True)
class LocalTimes:
    """Naive wall-clock times of one column that zone ``zone`` skips or repeats."""

    role: str
    column: str
    zone: str
    rows: int
    nonexistent: int
    ambiguous: int
    example: str | None = None


def _wall_status(wall: datetime, zone: zoneinfo.ZoneInfo) -> str | None:
    """``"nonexistent"`` (skipped by a clock change), ``"ambiguous"`` (repeated) or None."""
    a, b = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if a.utcoffset() == b.utcoffset():
        return None
    back = a.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return "ambiguous" if back == wall else "nonexistent"


def local_time_issues(
    table: ir.Table, column: str, *, role: str, zone: str, con: BaseBackend
) -> LocalTimes | None:
    """Count the naive times of ``column`` that are not one instant in ``zone`` (None if all are).

    One query groups the rows by wall-clock hour (plain arithmetic, no time-zone conversion in
    the engine); Python's zone database then checks each hour at its quarter hours, so a zone
    whose clocks change by half an hour is counted by the hour it falls in.
    """
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None  # the localisation itself names an unknown zone
    t = table.filter(table[column].notnull())
    hours = execute(t.group_by(h=t[column].truncate("h")).aggregate(n=t.count()), con)
    if len(hours) > 500_000:  # times spread over centuries: not a log worth counting by hour
        return None
    hours = hours.sort_values("h", kind="stable")
    rows = int(hours["n"].sum()) if len(hours) else 0
    counts = {"nonexistent": 0, "ambiguous": 0}
    example = None
    for h, k in zip(hours["h"].tolist(), hours["n"].tolist(), strict=True):
        wall = h.to_pydatetime() if hasattr(h, "to_pydatetime") else h
        for q in (0, 15, 30, 45):
            status = _wall_status(wall + timedelta(minutes=q), tz)
            if status is not None:
                counts[status] += int(k)
                example = example or f"{wall + timedelta(minutes=q):%Y-%m-%d %H:%M} ({status})"
                break
    if not any(counts.values()):
        return None
    return LocalTimes(role, column, zone, rows, counts["nonexistent"], counts["ambiguous"], example)


# ------------------------------------------------------------------ names, ids, dates


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


def unit_id_examples(
    exposures: ir.Table, events: ir.Table, con: BaseBackend
) -> tuple[Any, Any] | None:
    """An exposure unit id and an event unit id found in no exposure row (the smallest of
    each), to show how the ids of the two logs differ; None if there is no such pair."""
    exp, ev = exposures, events
    x_ids = exp.filter(exp.unit_id.notnull()).select("unit_id").distinct()
    lone = ev.filter(ev.unit_id.notnull()).anti_join(x_ids, "unit_id")
    got = execute(
        x_ids.aggregate(a=x_ids.unit_id.min()).cross_join(lone.aggregate(b=lone.unit_id.min())),
        con,
    )
    if got.empty or got["a"].isna().iloc[0] or got["b"].isna().iloc[0]:
        return None
    return got["a"].iloc[0], got["b"].iloc[0]


#: a timestamp written day and month first in either order: 03/04/2024, 3.4.24, 03-04-2024 …
_DAY_MONTH = r"^\s*(\d{1,2})([/.-])(\d{1,2})[/.-]\d{2,4}"


def refuse_ambiguous_dates(
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
