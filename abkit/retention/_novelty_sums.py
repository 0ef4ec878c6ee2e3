"""The sums :func:`abkit.retention.novelty` reads, from the events or from a report's shared
per-unit table (:func:`abkit.retention._units.share`): the same numbers either way."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from abkit.engine import execute
from abkit.query import day_index
from abkit.query.units_table import CalendarWindows

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends import BaseBackend

__all__ = ["calendar_windows", "cross_products", "cross_products_days", "per_unit_day"]


def per_unit_day(rows: ir.Table, metric: str, keys: list[str]) -> ir.Table:
    """One row per (unit, day): ``_x`` = 1 (active) or the day's number of events."""
    import ibis

    if metric == "active":
        return rows.select(*keys).distinct().mutate(_x=ibis.literal(1, type="int64"))
    return rows.group_by(keys).aggregate(_x=rows.count())


def cross_products(
    units: ir.Table, ev: ir.Table, days: int, metric: str, con: BaseBackend
) -> pd.DataFrame:
    """Per (variant, d1 <= d2): ``s2 = Σ_u x_ud1 x_ud2`` and, where d1 = d2, ``s1 = Σ_u x_ud1``."""
    j = ev.join(units.select("unit_id", "variant", "t0"), "unit_id")
    j = j.filter(j.ts >= j.t0).mutate(_day=day_index(str(con.name), j.t0, j.ts))
    j = j.filter((j._day >= 1) & (j._day <= days))
    ud = per_unit_day(j, metric, ["unit_id", "variant", "_day"])
    a = ud.select("unit_id", "variant", d1=ud._day, x1=ud._x)
    b = ud.select("unit_id", d2=ud._day, x2=ud._x)
    pairs = a.join(b, "unit_id")
    pairs = pairs.filter(pairs.d1 <= pairs.d2)
    out = pairs.group_by(["variant", "d1", "d2"]).aggregate(
        s2=(pairs.x1 * pairs.x2).sum(), s1=pairs.x1.sum()
    )
    df = execute(out, con)
    df["variant"] = df["variant"].astype(str)
    return df


def cross_products_days(units: ir.Table, days: int, con: BaseBackend) -> pd.DataFrame:
    """:func:`cross_products` of the active-day metric from the shared table's ``active``
    masks: ``s2`` of (d1, d2) counts the units active on both days (``s1`` = ``s2``, as in the
    logs' pairs where x = 1); pairs no unit has are left out, as there."""
    import pandas as pd

    pairs = [(d1, d2) for d1 in range(1, days + 1) for d2 in range(d1, days + 1)]
    aggs = {}
    for i, (d1, d2) in enumerate(pairs):
        both = (1 << d1) | (1 << d2)
        aggs[f"_p{i}"] = ((units.active & both) == both).cast("int64").sum()
    wide = execute(units.group_by("variant").aggregate(**aggs), con)
    rows = [
        {"variant": str(r["variant"]), "d1": d1, "d2": d2, "s2": int(r[f"_p{i}"])}
        for r in wide.to_dict("records")
        for i, (d1, d2) in enumerate(pairs)
        if r[f"_p{i}"]
    ]
    df = pd.DataFrame(rows, columns=["variant", "d1", "d2", "s2"])
    return df.assign(s1=df.s2)


def calendar_windows(days: int = 14, cohort_days: int = 7) -> CalendarWindows:
    """The calendar windows :func:`novelty` compares the early and the late cohort on (at most
    ``days`` of them, from ``2·cohort_days + 1`` days after the first exposure): what a shared
    per-unit table (:func:`abkit.retention._units.share`) holds for it."""
    return CalendarWindows(timedelta(days=2 * cohort_days + 1), days)
