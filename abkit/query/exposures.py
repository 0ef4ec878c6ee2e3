"""Exposures in the query: each unit's first exposure, and the day index of an instant.

Day ``k`` of a unit is ``[t0 + k·24h, t0 + (k+1)·24h)`` after its first exposure ``t0``
(rolling days, exact to the microsecond), or a calendar day in a named zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit._duckdb_udf import (
    TZ_BACKENDS,
    arg_min,
    micros_between,
    nonneg_floordiv,
    utc_to_local_for,
)
from abkit.engine import backend_of
from abkit.errors import DataError

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = [
    "DAY_US",
    "NULL_LABEL",
    "backend_name",
    "calendar_days",
    "day_index",
    "first_exposures",
    "label_segments",
]

#: microseconds in 24 hours: day indexes are computed on exact microsecond differences.
DAY_US = 86_400_000_000


def day_index(backend: str, t0: Any, ts: Any) -> Any:
    """Whole rolling days from ``t0`` to ``ts`` (``floor((ts - t0) / 24h)``), for ``ts >= t0``.

    Exact microsecond arithmetic as a truncating integer division (``ts >= t0`` makes it a
    floor): the one day-index expression of every abkit query.
    """
    return nonneg_floordiv(backend, micros_between(backend, t0, ts), DAY_US)


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
    local_ts, local_t0 = utc_to_local_for(backend, tz, ts), utc_to_local_for(backend, tz, t0)
    if local_ts is None:
        raise DataError(
            f"calendar-day metrics (tz={tz!r}) need a time-zone conversion; abkit has one for "
            f"{list(TZ_BACKENDS)}, not for the {backend!r} backend. Use rolling days (no tz=) or "
            "run on DuckDB/Spark"
        )
    return local_ts.date().delta(local_t0.date(), unit="day").cast("int64")


#: the segment value shown for a null; a text value that reads like it is shown in quotes
NULL_LABEL = "(null)"
#: text values quoted so that none reads as :data:`NULL_LABEL`: ``(null)``, ``'(null)'`` …
_NULL_LOOKALIKE = r"^'*\(null\)'*$"


def label_segments(t: ir.Table, segments: Sequence[str]) -> ir.Table:
    """Segment columns as text; a null is its own group, labelled ``(null)``.

    A text value that itself reads ``(null)`` stays a group of its own, shown in single quotes
    (``'(null)'``; a value already quoted so gains one more pair), so a null and the word never
    merge. Every other value is kept as it is.

    Example:
        >>> import ibis, pandas as pd
        >>> t = ibis.memtable(pd.DataFrame({"c": [None, "(null)", "'(null)'", "web"]}))
        >>> sorted(label_segments(t, ["c"]).to_pandas().c)
        ["''(null)''", "'(null)'", '(null)', 'web']
    """
    import ibis

    def label(col: ir.Column) -> ir.Value:
        text = col.cast("string")
        quoted = text.contains(NULL_LABEL) & text.re_search(_NULL_LOOKALIKE)
        return ibis.cases(
            (text.isnull(), ibis.literal(NULL_LABEL)), (quoted, "'" + text + "'"), else_=text
        )

    if not segments:
        return t
    return t.mutate(**{s: label(t[s]) for s in segments})
