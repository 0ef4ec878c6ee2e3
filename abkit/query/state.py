"""The per-unit state of an incremental refresh, as mergeable Ibis expressions.

A full analysis (:func:`abkit.query.plan.build_analysis_query`) groups the exposures by unit
(step 1), the events by unit (step 2) and then the units into the statistics frame (step 3). A
refresh keeps what steps 1 and 2 make of the *sealed* rows (time at or before a watermark) and
recomputes only the rest. Everything it keeps merges exactly when more rows of a unit arrive:

* exposures per unit id: first time ``t0``, the variant and carried columns at ``t0`` (the part
  with the smaller ``t0`` wins), the smallest and largest variant label (a unit is in several
  variants when they differ), the valid rows — minima, maxima and sums;
* events per unit: the active-day bit masks (bit-OR), event counts and value sums (sums),
  "any event" flags (maxima); distinct active days are read from a bit mask of the days
  (``ActiveDays`` is computed through a 0/1 proxy metric on the same window and events);
* events of ids with no sealed exposure, per id (they are "never exposed" until the id is
  exposed, then "before exposure"), and the other sealed event rows as counts per category.

Step 3 then runs unchanged on the merged tables (:func:`abkit.query.plan.build_statistics`):
the same code path, so the same numbers as a full run.

Example:
    >>> from abkit.metrics import ActiveDays, Retention
    >>> [m.unit_value for m in mergeable_parts([Retention(day=1), ActiveDays(days=(1, 7))])]
    ['any', 'any']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit._duckdb_udf import arg_min
from abkit.errors import SpecError
from abkit.metrics import ActiveDays, EventMetric, Retention
from abkit.query.events import MASK_MAX_DAY, PerUnit
from abkit.query.frame import CAT_COL, E_ROWS, EV_BEFORE, EV_IN_WINDOW, EV_UNEXPOSED
from abkit.query.sums import exact_sum

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = [
    "ActivityLayout",
    "activity_layout",
    "as_first",
    "category_rows",
    "exposure_parts",
    "merge_activity",
    "merge_exposures",
    "merge_orphans",
    "mergeable_parts",
    "merged_orphans",
    "orphan_events",
    "split_merge",
    "state_per_unit",
]

#: the per-unit exposure columns a state keeps (besides the id and the carried columns)
T0, VMIN, VMAX, N_VALID = "t0", "_vmin", "_vmax", "n_rows"
#: the event rows of an id held while the id has no sealed exposure
ORPHAN_ROWS = "_orphan_rows"
#: the unit key of the per-unit event table (as :func:`abkit.query.events.per_unit_events`)
EU = "_eu"


def mergeable_parts(event_metrics: Sequence[EventMetric]) -> list[EventMetric]:
    """The event metrics a refresh computes per unit: ``ActiveDays`` replaced by a 0/1 proxy
    on the same window, events and zone (its days are then read from the bit mask).

    Raises:
        SpecError: a metric's per-unit value cannot be merged (distinct days past the mask).
    """
    out: list[EventMetric] = []
    for m in event_metrics:
        if m.unit_value == "days":
            assert isinstance(m, ActiveDays)
            if m.window[1] + (1 if m.tz else 0) > MASK_MAX_DAY:
                raise SpecError(
                    f"metric {m.name!r} counts distinct days up to day {m.window[1]}; a refresh "
                    f"state merges distinct days through a bit mask of days 0-{MASK_MAX_DAY}. "
                    "Run it without state=, or use a window that ends by day "
                    f"{MASK_MAX_DAY - (1 if m.tz else 0)}"
                )
            out.append(Retention(days=m.window, event=m.event, tz=m.tz, name=m.name + "_days"))
        else:
            out.append(m)
    return out


# ------------------------------------------------------------------------------------ exposures


def exposure_parts(
    exposures: ir.Table, *, as_of: datetime, carry: Sequence[str], backend: str
) -> ir.Table:
    """Per exposure id (null ids form one group), the mergeable aggregates of ``exposures``.

    A row is valid as in :func:`abkit.query.exposures.first_exposures`: an id, a variant and a
    time by ``as_of``.
    """
    import ibis

    t = exposures
    valid = (
        t.unit_id.notnull()
        & t.variant.notnull()
        & t.exposed_at.notnull()
        & (t.exposed_at <= ibis.literal(as_of))
    )
    aggs: dict[str, Any] = {
        T0: t.exposed_at.min(where=valid),
        "variant": arg_min(backend, t.variant, t.exposed_at, valid),
        VMIN: t.variant.min(where=valid),
        VMAX: t.variant.max(where=valid),
        N_VALID: t.count(where=valid).cast("int64"),
    }
    for c in carry:
        aggs[c] = arg_min(backend, t[c], t.exposed_at, valid)
    return t.group_by("unit_id").aggregate(**aggs)


def merge_exposures(parts: Sequence[ir.Table], *, carry: Sequence[str], backend: str) -> ir.Table:
    """Parts of :func:`exposure_parts` (and stored states) merged per id."""
    import ibis

    t = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    has = t[T0].notnull()
    aggs: dict[str, Any] = {
        T0: t[T0].min(),
        "variant": arg_min(backend, t.variant, t[T0], has),
        VMIN: t[VMIN].min(),
        VMAX: t[VMAX].max(),
        N_VALID: t[N_VALID].sum().cast("int64"),
    }
    for c in carry:
        aggs[c] = arg_min(backend, t[c], t[T0], has)
    return t.group_by("unit_id").aggregate(**aggs)


def as_first(merged: ir.Table, carry: Sequence[str]) -> ir.Table:
    """Merged exposures in the schema of ``first_exposures(..., quality=True)``."""
    several = (merged[VMIN] != merged[VMAX]).cast("int64")
    cols = [merged.unit_id, merged[T0], merged.variant, (several + 1).name("n_variants")]
    return merged.select(*cols, merged[N_VALID].name("n_rows"), *[merged[c] for c in carry])


# -------------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class ActivityLayout:
    """How the per-unit event columns merge, and how step 3 reads the metrics from them."""

    #: column → "or" (bit masks), "sum" (counts, sums) or "max" (0/1 flags)
    rules: dict[str, str]
    #: metric index → its column or (bit mask, window bits), as :class:`PerUnit` says
    value: dict[int, str | tuple[str, int]]
    #: ``ActiveDays`` columns: column → (bit mask, window bits) whose set bits it counts
    days: dict[str, tuple[str, int]]


def activity_layout(
    pu: PerUnit, event_metrics: Sequence[EventMetric], proxies: Sequence[EventMetric]
) -> ActivityLayout:
    """The merge rules of a per-unit event pass run on the ``proxies`` of ``event_metrics``."""
    rules: dict[str, str] = {E_ROWS: "sum"}
    value: dict[int, str | tuple[str, int]] = {}
    days: dict[str, tuple[str, int]] = {}
    for i, (m, p) in enumerate(zip(event_metrics, proxies, strict=True)):
        src = pu.value[i]
        if isinstance(src, tuple):
            rules[src[0]] = "or"
            if m is p:
                value[i] = src
            else:  # ActiveDays through its proxy: the days are the set bits of the window
                col = "_days_" + str(i)
                days[col] = src
                value[i] = col
        else:
            rules[src] = "max" if p.unit_value == "any" else "sum"
            value[i] = src
    return ActivityLayout(rules, value, days)


def in_window_rows(pu: ir.Table, layout: ActivityLayout) -> ir.Table:
    """The per-unit rows (category 0) of a per-unit event pass, with the mergeable columns."""
    rows = pu.filter(pu[CAT_COL] == EV_IN_WINDOW)
    return rows.select(EU, *layout.rules)


def merge_activity(parts: Sequence[ir.Table], layout: ActivityLayout) -> ir.Table:
    """Per-unit event rows of several parts merged per unit."""
    import ibis

    t = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    aggs: dict[str, Any] = {}
    for c, how in layout.rules.items():
        col = t[c]
        if how == "or":
            aggs[c] = col.bit_or()
        elif how == "max":
            aggs[c] = col.max()
        else:  # counts add as integers; fractional sums as the analysis' exact sums do
            aggs[c] = exact_sum(col).cast(col.type())
    return t.group_by(EU).aggregate(**aggs)


def orphan_events(events: ir.Table, sealed_first: ir.Table) -> ir.Table:
    """Per id, the ``events`` of ids with no sealed valid exposure (null ids and times left
    out: those are counted by category as null ids or times, exposed or not)."""
    f = sealed_first.filter(sealed_first[T0].notnull()).select(_fu=sealed_first.unit_id)
    ev = events.filter(events.unit_id.notnull() & events.ts.notnull()).select("unit_id")
    lone = ev.anti_join(f, ev.unit_id == f._fu)
    return lone.group_by("unit_id").aggregate(**{ORPHAN_ROWS: lone.count().cast("int64")})


def merge_orphans(parts: Sequence[ir.Table], sealed_first: ir.Table) -> tuple[ir.Table, Any]:
    """Orphan rows merged per id, without the ids sealed since (a table), and the rows of
    those ids (a scalar: events before their exposure from now on)."""
    import ibis

    t = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    t = t.group_by("unit_id").aggregate(**{ORPHAN_ROWS: t[ORPHAN_ROWS].sum().cast("int64")})
    f = sealed_first.filter(sealed_first[T0].notnull()).select(_fu=sealed_first.unit_id)
    kept = t.anti_join(f, t.unit_id == f._fu)
    moved = t.semi_join(f, t.unit_id == f._fu)
    return kept, moved[ORPHAN_ROWS].sum()


def category_rows(
    rest: ir.Table, counts: dict[int, int], orphans: ir.Table | None, first: ir.Table
) -> ir.Table:
    """Event rows per category (one row each, as the per-unit event pass groups them): the
    unsealed part's, the sealed counts, and the orphan rows split by whether their id has a
    first exposure by now (before exposure) or not (never exposed)."""
    import ibis

    parts = [rest.filter(rest[EU].isnull()).select(CAT_COL, E_ROWS)]
    sealed = {k: v for k, v in counts.items() if v}
    if sealed:
        lit = ibis.memtable({CAT_COL: list(sealed), E_ROWS: list(sealed.values())})
        parts.append(lit.select(lit[CAT_COL].cast("int8").name(CAT_COL), lit[E_ROWS].cast("int64")))
    if orphans is not None:
        f = first.filter(first[T0].notnull()).select(_fu=first.unit_id)
        j = orphans.left_join(f, orphans.unit_id == f._fu)
        cat = ibis.ifelse(j._fu.notnull(), EV_BEFORE, EV_UNEXPOSED).cast("int8")
        parts.append(j.select(cat.name(CAT_COL), j[ORPHAN_ROWS].name(E_ROWS)))
    t = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
    t = t.group_by(CAT_COL).aggregate(**{E_ROWS: t[E_ROWS].sum().cast("int64")})
    return t.filter(t[E_ROWS] > 0)


@functools.cache
def _bit_count_udf() -> Any:
    import ibis

    @ibis.udf.scalar.builtin(name="bit_count")  # type: ignore[untyped-decorator]
    def bit_count(v: int) -> int:  # type: ignore[empty-body]
        """DuckDB ``bit_count(BIGINT)``."""

    return bit_count


def _bit_count(x: Any) -> Any:
    """The set bits of an int64 (DuckDB ``bit_count``)."""
    return _bit_count_udf()(x)


def state_per_unit(
    units: ir.Table, cats: ir.Table | None, layout: ActivityLayout, unit_type: Any
) -> PerUnit:
    """The per-unit event table step 3 reads: merged per-unit rows and the category rows
    (None: none, as for the settled units' rows)."""
    import ibis

    derived = {
        col: _bit_count(units[mask] & ibis.literal(bits, "int64")).cast("float64")
        for col, (mask, bits) in layout.days.items()
    }
    cols = [*layout.rules, *derived]
    u = units.mutate(**{CAT_COL: ibis.literal(EV_IN_WINDOW, "int8")}, **derived)
    u = u.select(EU, CAT_COL, *cols)
    if cats is None:
        return PerUnit(u, layout.value)
    types = u.schema()
    c = cats.select(
        ibis.null(unit_type).name(EU),
        CAT_COL,
        *[cats[E_ROWS] if k == E_ROWS else ibis.null(types[k]).name(k) for k in cols],
    )
    return PerUnit(ibis.union(u, c, distinct=False), layout.value)


def split_merge(
    stored: ir.Table, fresh: ir.Table, key: str, merge: Callable[[list[ir.Table]], ir.Table]
) -> tuple[ir.Table, ir.Table]:
    """``stored`` merged with ``fresh`` by ``key``, touching only the keys ``fresh`` holds.

    Returns ``(untouched, merged)``: the stored rows of other keys as they are (a hash probe,
    no aggregation), and ``merge`` of the stored rows of ``fresh``'s keys (and of a null key)
    with ``fresh``. Their union is the merge of everything.
    """
    keys = fresh.filter(fresh[key].notnull()).select(_k=fresh[key]).distinct()
    untouched = stored.filter(stored[key].notnull()).anti_join(keys, stored[key] == keys._k)
    touched = stored.filter(stored[key].isnull()).union(
        stored.semi_join(keys, stored[key] == keys._k), distinct=False
    )
    return untouched, merge([touched, fresh])


def merged_orphans(parts: Sequence[ir.Table]) -> ir.Table:
    """Orphan rows of several parts added per id."""
    import ibis

    t = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    return t.group_by("unit_id").aggregate(**{ORPHAN_ROWS: t[ORPHAN_ROWS].sum().cast("int64")})
