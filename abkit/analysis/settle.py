"""Settled units of a refresh state: units no new row can change, kept as statistics rows.

A unit is *settled* once its widest metric window closed before the sealed watermark:
``t0 + (last window day + 1) days <= seal`` (:func:`abkit.query.events.last_window_day`).
Every row a refresh reads from then on is newer than the watermark, so none falls in the
unit's windows; the unit is mature for every metric (its age is past the longest window).
Its rows of the statistics frame can no longer change, so the state keeps them pre-grouped
(table ``settled``: the raw grouped rows of :func:`abkit.query.plan.build_statistics`, each
exact sum in its two parts) and a refresh adds them, group by group, to the rows of the units
still in a window (:func:`abkit.query.plan.merge_frames`): a refresh then touches only the
units of the last weeks, not every unit of the experiment.

The settled units' own rows move to ``exposed_settled`` and ``activity_settled``: their first
exposures still classify the new events (after the window, before exposure), and if a new
*valid* exposure row of a settled unit arrives (a later, conflicting variant), the unit is
moved back and the settled rows are recomputed from the settled tables — rare, and exact. A
new invalid exposure row (no variant, no time) of a settled unit changes nothing and is left
out. Statistics that do not add up group by group (quantile caps and ranks) keep every unit
in the per-unit tables (``StatsQuery.merge is None``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from abkit.analysis.state_file import create_table, drop_table, scalar_count
from abkit.query.events import PerUnit, last_window_day
from abkit.query.plan import StatsQuery, merge_frames
from abkit.query.state import EU, T0, ActivityLayout, as_first, state_per_unit

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

__all__ = [
    "A_SETTLED",
    "SETTLED",
    "X_SETTLED",
    "Settler",
    "drop_settled_parts",
    "settle",
    "unsettle",
]

SETTLED, X_SETTLED, A_SETTLED = "settled", "exposed_settled", "activity_settled"


@dataclass(frozen=True, slots=True)
class Settler:
    """How a state settles its units: the analysis' statistics and the metrics' horizon."""

    #: (first exposures, per-unit events) -> the raw grouped statistics (x_counts=None)
    stats_of: Callable[[ir.Table, PerUnit], StatsQuery]
    #: days after t0 after which no event feeds a metric (last window day + 1)
    days: int
    carry: Sequence[str]

    @classmethod
    def of(
        cls,
        stats_of: Callable[[ir.Table, PerUnit], StatsQuery],
        event_metrics: Sequence[Any],
        carry: Sequence[str],
    ) -> Settler:
        return cls(stats_of, last_window_day(event_metrics) + 1, tuple(carry))

    def cutoff(self, seal: datetime) -> datetime:
        """Units with ``t0`` at or before this are settled at watermark ``seal``."""
        return seal - timedelta(days=self.days)


def _tables(con: BaseBackend, loc: tuple[str, str]) -> tuple[ir.Table, ir.Table]:
    return con.table(X_SETTLED, database=loc), con.table(A_SETTLED, database=loc)


def create_settled_tables(con: BaseBackend, db: str) -> None:
    """Empty ``exposed_settled`` and ``activity_settled`` shaped like the per-unit tables."""
    for src, dst in (("exposed", X_SETTLED), ("activity", A_SETTLED)):
        con.raw_sql(f"CREATE TABLE {db}.{dst} AS SELECT * FROM {db}.{src} LIMIT 0")


def unsettle(con: BaseBackend, db: str, loc: tuple[str, str], fresh: ir.Table) -> int:
    """Move the settled units that ``fresh`` exposure parts give a valid row back to the
    per-unit tables (their statistics change); returns how many moved."""
    import uuid

    xs, _ = _tables(con, loc)
    valid = fresh.filter(fresh[T0].notnull()).select(_k=fresh.unit_id)
    back = xs.semi_join(valid, xs.unit_id == valid._k).select("unit_id")
    name = f"{db}._abkit_back_{uuid.uuid4().hex[:12]}"
    create_table(con, name, back)
    try:
        n = scalar_count(con.raw_sql(f"SELECT count(*) FROM {name}").fetchone()[0])
        if n:
            for dst, src, key in (("exposed", X_SETTLED, "unit_id"), ("activity", A_SETTLED, EU)):
                where = f"{key} IN (SELECT unit_id FROM {name})"
                con.raw_sql(f"INSERT INTO {db}.{dst} SELECT * FROM {db}.{src} WHERE {where}")
                con.raw_sql(f"DELETE FROM {db}.{src} WHERE {where}")
    finally:
        drop_table(con, name)
    return n


def drop_settled_parts(fresh: ir.Table, settled_x: ir.Table) -> ir.Table:
    """``fresh`` exposure parts without those of settled units (invalid rows only, once
    :func:`unsettle` moved the others back: they change nothing)."""
    s = settled_x.select(_s=settled_x.unit_id)
    return fresh.anti_join(s, fresh.unit_id == s._s)


def settle(
    con: BaseBackend,
    alias: str,
    seal: datetime,
    settler: Settler,
    layout: ActivityLayout,
    *,
    recompute: bool,
) -> int | None:
    """Move the units settled at watermark ``seal`` into the settled tables and add their
    statistics rows to ``settled`` (all of them recomputed when ``recompute``: units moved
    back); returns the number of settled units, or None when the statistics do not add up
    group by group (then nothing is settled)."""
    import uuid

    import ibis

    db, loc = f'"{alias}".main', (alias, "main")
    tag = uuid.uuid4().hex[:12]
    exposed = con.table("exposed", database=loc)
    cut = settler.cutoff(seal)
    ids = exposed.filter(exposed[T0].notnull() & (exposed[T0] <= ibis.literal(cut))).select(
        "unit_id"
    )
    ids_name = f"{db}._abkit_settle_{tag}"
    create_table(con, ids_name, ids)
    try:
        n_new = scalar_count(con.raw_sql(f"SELECT count(*) FROM {ids_name}").fetchone()[0])
        have = _exists(con, alias, SETTLED)
        xs, as_ = _tables(con, loc)
        if not n_new and have and not recompute:
            return _count(con, db)
        keys = con.table(ids_name.rsplit(".", 1)[1], database=loc)
        new_x = exposed.filter(exposed[T0] <= ibis.literal(cut))
        acts = con.table("activity", database=loc)
        new_a = acts.semi_join(keys, acts[EU] == keys.unit_id)
        if recompute or not have:  # every settled unit's rows from the per-unit tables
            new_x = xs.union(new_x, distinct=False)
            new_a = as_.union(new_a.cast(as_.schema()), distinct=False)
        per_unit = state_per_unit(new_a, None, layout, exposed.unit_id.type())
        q = settler.stats_of(as_first(new_x, settler.carry), per_unit)
        if q.merge is None:
            return None
        rows = q.expr
        if have and not recompute:
            rows = merge_frames(
                [con.table(SETTLED, database=loc).cast(rows.schema()), rows], q.keys, q.merge
            )
        tmp = f"{db}._abkit_settled_{tag}"
        create_table(con, tmp, rows)
        try:
            if have:
                con.raw_sql(f"DELETE FROM {db}.{SETTLED}")
                con.raw_sql(f"INSERT INTO {db}.{SETTLED} BY NAME SELECT * FROM {tmp}")
            else:
                con.raw_sql(f"CREATE TABLE {db}.{SETTLED} AS SELECT * FROM {tmp}")
        finally:
            drop_table(con, tmp)
        if n_new:
            # the exposures by their own t0 (a filter), the activity rows by the settled ids
            at = f"{T0} <= '{cut.isoformat()}'::TIMESTAMPTZ"
            wheres = ((("exposed", X_SETTLED), at), (("activity", A_SETTLED), None))
            for (src, dst), where in wheres:
                where = where or f"{EU} IN (SELECT unit_id FROM {ids_name})"
                con.raw_sql(f"INSERT INTO {db}.{dst} SELECT * FROM {db}.{src} WHERE {where}")
                con.raw_sql(f"DELETE FROM {db}.{src} WHERE {where}")
        return _count(con, db)
    finally:
        drop_table(con, ids_name)


def _count(con: BaseBackend, db: str) -> int:
    return scalar_count(con.raw_sql(f"SELECT count(*) FROM {db}.{X_SETTLED}").fetchone()[0])


def _exists(con: BaseBackend, alias: str, table: str) -> bool:
    row = con.raw_sql(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
        parameters=[alias, table],
    ).fetchone()
    return bool(row and row[0])
