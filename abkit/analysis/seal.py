"""Sealing rows into a refresh state: a new state file, or the old one updated in place.

Both take the exposure and event rows with ``sealed < time <= seal`` and merge what steps 1 and
2 of the analysis query make of them into the stored per-unit tables (:mod:`abkit.query.state`).

* :func:`write_new_state` writes a whole new file beside the old one (renamed over it by
  :meth:`~abkit.analysis.state_file.NewState.commit`): the first build and every rebuild;
* :func:`seal_in_place` updates the attached state inside the caller's DuckDB transaction,
  rewriting only the rows of the units the new rows touch: the nightly refresh. DuckDB's commit
  is atomic, so a refresh that fails (or is killed) leaves the old state as it was.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abkit.analysis.settle import (
    X_SETTLED,
    Settler,
    create_settled_tables,
    drop_settled_parts,
    settle,
    unsettle,
)
from abkit.analysis.state_file import (
    NewState,
    attach,
    create_table,
    detach,
    drop_table,
    iso,
    parse_iso,
    scalar,
    scalar_count,
    timestamp,
    unlink_state,
)
from abkit.engine import execute
from abkit.query.checks import day_histogram, merge_days
from abkit.query.events import PerUnit, per_unit_events
from abkit.query.frame import (
    CAT_COL,
    E_ROWS,
    EV_BEFORE,
    EV_IN_WINDOW,
    EV_UNEXPOSED,
    X_COUNTS,
    X_MIN,
)
from abkit.query.plan import exposure_counts
from abkit.query.state import (
    EU,
    ORPHAN_ROWS,
    T0,
    ActivityLayout,
    activity_layout,
    as_first,
    exposure_parts,
    in_window_rows,
    merge_activity,
    merge_exposures,
    merge_orphans,
    merged_orphans,
    split_merge,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

__all__ = ["SEALED_X_COUNTS", "seal_in_place", "write_new_state"]

#: the sealed exposure rows' counts kept in the manifest (as the first four of X_COUNTS)
SEALED_X_COUNTS = ("exposure_rows", "x_null_ids", "x_null_variants", "x_null_times")


def _sealing(t: ir.Table, col: str, sealed: datetime | None, seal: datetime) -> ir.Table:
    """The rows of ``t`` with ``sealed < col <= seal``; the first seal (``sealed`` None) takes
    the rows with no time too (a row with no time that arrives later cannot be placed after
    the watermark: it is a late row, :func:`abkit.analysis.refresh._late_findings`)."""
    import ibis

    cond = t[col] <= ibis.literal(seal)
    if sealed is None:
        return t.filter(cond | t[col].isnull())
    return t.filter((t[col] > ibis.literal(sealed)) & cond)


def _add_exposure_counts(
    out: dict[str, Any], con: BaseBackend, x_seal: ir.Table, as_of: datetime
) -> None:
    """The sealed exposure rows' counts added to ``out``."""
    counts = exposure_counts(x_seal, as_of)
    xc = execute(counts.mutate(x_max=x_seal.exposed_at.max()), con).iloc[0]
    for k, name in zip(X_COUNTS[:4], SEALED_X_COUNTS, strict=True):
        out[name] = int(out.get(name, 0)) + scalar_count(xc[k])
    for key, col, pick in (("x_min", X_MIN, min), ("x_max", "x_max", max)):
        got = [t for t in (parse_iso(out.get(key)), timestamp(xc[col])) if t is not None]
        out[key] = iso(pick(got)) if got else None


def _add_event_categories(out: dict[str, Any], con: BaseBackend, sealed_pu: ir.Table) -> None:
    """The sealed event rows per category added to ``out`` (in-window rows are kept per unit,
    never-exposed ones per id)."""
    per_cat = execute(sealed_pu.group_by(CAT_COL).aggregate(n=sealed_pu[E_ROWS].sum()), con)
    cats = {str(k): int(v) for k, v in dict(out["categories"]).items()}
    for k, n in zip(per_cat[CAT_COL].tolist(), per_cat["n"].tolist(), strict=True):
        out["event_rows"] = int(out["event_rows"]) + int(n)
        if int(k) in (EV_IN_WINDOW, EV_UNEXPOSED):
            continue
        cats[str(int(k))] = cats.get(str(int(k)), 0) + int(n)
    out["categories"] = cats


def _add_event_days(out: dict[str, Any], con: BaseBackend, e_seal: ir.Table) -> None:
    """The sealed events' rows per UTC day added to ``out["days"]`` ([day, n, lo, hi], times
    in epoch microseconds): the span of the log without a scan of the sealed rows."""
    import pandas as pd

    new = execute(day_histogram(e_seal, backend="duckdb"), con)
    old = pd.DataFrame(out.get("days") or [], columns=["day", "n", "lo", "hi"])
    days = merge_days([old, new])
    out["days"] = [[int(v) for v in row] for row in days.itertuples(index=False)]


def seal_in_place(
    con: BaseBackend,
    alias: str,
    sealed: datetime | None,
    seal: datetime,
    as_of: datetime,
    exposures: ir.Table,
    events: ir.Table | None,
    carry: Sequence[str],
    event_metrics: Sequence[Any],
    proxies: Sequence[Any],
    counts: Mapping[str, Any],
    settler: Settler | None = None,
) -> dict[str, Any]:
    """Seal the rows with ``sealed < time <= seal`` into the attached state ``alias`` (inside
    the caller's transaction), settling the units whose windows closed (``settler``; None:
    none, as without events); returns the new sealed counts."""
    db = f'"{alias}".main'
    loc = (alias, "main")
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in counts.items()}
    tag = uuid.uuid4().hex[:12]
    x_new, e_new, o_new = (f"{db}._abkit_{k}_{tag}" for k in ("x", "seal", "o"))
    with contextlib.ExitStack() as scratch:
        x_seal = _sealing(exposures, "exposed_at", sealed, seal)
        fresh = exposure_parts(x_seal, as_of=as_of, carry=carry, backend="duckdb")
        back = 0
        if settler is not None:  # settled units a valid new row changes are moved back
            back = unsettle(con, db, loc, fresh)
            fresh = drop_settled_parts(fresh, con.table(X_SETTLED, database=loc))
        stored = con.table("exposed", database=loc).cast(fresh.schema())
        _, merged = split_merge(
            stored, fresh, "unit_id", lambda p: merge_exposures(p, carry=carry, backend="duckdb")
        )
        create_table(con, x_new, merged)
        scratch.callback(drop_table, con, x_new)
        con.raw_sql(
            f"DELETE FROM {db}.exposed WHERE unit_id IS NULL OR unit_id IN "
            f"(SELECT unit_id FROM {x_new} WHERE unit_id IS NOT NULL)"
        )
        con.raw_sql(f"INSERT INTO {db}.exposed SELECT * FROM {x_new}")
        _add_exposure_counts(out, con, x_seal, as_of)
        if events is None:
            return out
        exposed = _all_exposed(con, loc, settler is not None)
        e_seal, pu, layout = _event_pass(
            exposed, events, sealed, seal, as_of, carry, event_metrics, proxies
        )
        create_table(con, e_new, pu.table)
        scratch.callback(drop_table, con, e_new)
        _add_event_days(out, con, e_seal)
        sealed_pu = con.table(e_new.rsplit(".", 1)[1], database=loc)
        rows = in_window_rows(sealed_pu, layout)
        stored_a = con.table("activity", database=loc).cast(rows.schema())
        _, merged_a = split_merge(stored_a, rows, EU, lambda p: merge_activity(p, layout))
        a_new = f"{db}._abkit_a_{tag}"
        create_table(con, a_new, merged_a)
        scratch.callback(drop_table, con, a_new)
        con.raw_sql(f"DELETE FROM {db}.activity WHERE {EU} IN (SELECT {EU} FROM {a_new})")
        con.raw_sql(f"INSERT INTO {db}.activity SELECT * FROM {a_new}")
        _add_event_categories(out, con, sealed_pu)
        # events of ids without a sealed exposure, per id; those exposed (and sealed) by now
        # become events before exposure
        lone = _orphans_of(sealed_pu)
        stored_o = con.table("orphans", database=loc).cast(lone.schema())
        _, merged_o = split_merge(stored_o, lone, "unit_id", merged_orphans)
        create_table(con, o_new, merged_o)
        scratch.callback(drop_table, con, o_new)
        con.raw_sql(f"DELETE FROM {db}.orphans WHERE unit_id IN (SELECT unit_id FROM {o_new})")
        con.raw_sql(f"INSERT INTO {db}.orphans SELECT * FROM {o_new}")
        now_exposed = f"(SELECT unit_id FROM {x_new} WHERE {T0} IS NOT NULL)"
        moved = con.raw_sql(
            f"SELECT sum({ORPHAN_ROWS}) FROM {db}.orphans WHERE unit_id IN {now_exposed}"
        ).fetchone()
        moved_n = scalar_count(None if moved is None else moved[0])
        if moved_n:
            con.raw_sql(f"DELETE FROM {db}.orphans WHERE unit_id IN {now_exposed}")
            cats = out["categories"]
            cats[str(EV_BEFORE)] = cats.get(str(EV_BEFORE), 0) + moved_n
        if settler is not None:
            out["settled_units"] = settle(con, alias, seal, settler, layout, recompute=back > 0)
    return out


def _event_pass(
    exposed: ir.Table,
    events: ir.Table,
    sealed: datetime | None,
    seal: datetime,
    as_of: datetime,
    carry: Sequence[str],
    event_metrics: Sequence[Any],
    proxies: Sequence[Any],
) -> tuple[ir.Table, PerUnit, ActivityLayout]:
    """The sealing events, the per-unit pass over them (never-exposed rows kept per id) and
    the layout of its mergeable columns."""
    e_seal = _sealing(events, "ts", sealed, seal)
    first = as_first(exposed, carry)
    pu = per_unit_events(
        e_seal, first, proxies, as_of=as_of, backend="duckdb", unexposed_by_id=True
    )
    return e_seal, pu, activity_layout(pu, event_metrics, proxies)


def _orphans_of(sealed_pu: ir.Table) -> ir.Table:
    """Per id, the never-exposed event rows of a per-unit pass run with ``unexposed_by_id``
    (as :func:`abkit.query.state.orphan_events` counts them, from the same join)."""
    t = sealed_pu.filter(sealed_pu[CAT_COL] == EV_UNEXPOSED)
    return t.group_by(unit_id=t[EU]).aggregate(**{ORPHAN_ROWS: t[E_ROWS].sum().cast("int64")})


def _all_exposed(con: BaseBackend, loc: tuple[str, str], settled: bool) -> ir.Table:
    """The stored per-unit exposures, the settled units' included."""
    exposed = con.table("exposed", database=loc)
    return exposed.union(con.table(X_SETTLED, database=loc), distinct=False) if settled else exposed


def write_new_state(
    con: BaseBackend,
    folder: Path,
    stack: contextlib.ExitStack,
    seal: datetime,
    as_of: datetime,
    exposures: ir.Table,
    events: ir.Table | None,
    carry: Sequence[str],
    event_metrics: Sequence[Any],
    proxies: Sequence[Any],
    counts: Mapping[str, Any],
    settler: Settler | None = None,
) -> NewState:
    """Seal every row with a time at or before ``seal`` into a new state file beside the old
    one (attached as the returned state's ``alias``; renamed over the old one on commit),
    settling the units whose windows closed (``settler``)."""
    tmp = folder / (".state-" + uuid.uuid4().hex + ".duckdb.tmp")
    stack.callback(unlink_state, tmp)
    alias = attach(con, tmp, read_only=False)
    stack.callback(detach, con, alias)
    db, loc = f'"{alias}".main', (alias, "main")
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in counts.items()}
    x_seal = _sealing(exposures, "exposed_at", None, seal)
    fresh = exposure_parts(x_seal, as_of=as_of, carry=carry, backend="duckdb")
    create_table(con, f"{db}.exposed", merge_exposures([fresh], carry=carry, backend="duckdb"))
    _add_exposure_counts(out, con, x_seal, as_of)
    if events is not None:
        exposed = con.table("exposed", database=loc)
        e_seal, pu, layout = _event_pass(
            exposed, events, None, seal, as_of, carry, event_metrics, proxies
        )
        name = "_abkit_seal_" + uuid.uuid4().hex[:12]
        create_table(con, f"{db}.{name}", pu.table)
        sealed_pu = con.table(name, database=loc)
        create_table(
            con, f"{db}.activity", merge_activity([in_window_rows(sealed_pu, layout)], layout)
        )
        _add_event_categories(out, con, sealed_pu)
        _add_event_days(out, con, e_seal)
        kept, moved = merge_orphans([_orphans_of(sealed_pu)], exposed)
        create_table(con, f"{db}.orphans", kept)
        assert not scalar_count(scalar(moved, con))  # sealed exposures were known to the pass
        drop_table(con, f"{db}.{name}")
        if settler is not None:
            create_settled_tables(con, db)
            out["settled_units"] = settle(con, alias, seal, settler, layout, recompute=False)
    return NewState(con, folder, tmp, alias, out, seal)
