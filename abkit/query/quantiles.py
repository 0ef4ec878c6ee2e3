"""Quantile metrics in the query: a few exact order statistics per arm (and per segment value).

A quantile is not a sum, so it cannot be folded from the statistics frame's rows like a mean.
Instead the per-unit table ranks each quantile metric's values within every arm — once overall
and once per segment dimension — with ``ROW_NUMBER()`` over ``(variant[, segment])``, and the
statistics query picks the values at the ranks :func:`abkit.stats.quantile.quantile_ranks`
names: ``X_(⌊h⌋)``, ``X_(⌊h⌋+1)`` (the interpolated quantile) and ``X_(L)``, ``X_(U)`` (its
standard error), with the ranks ``L``, ``U`` and the arm's count. Each of those values sits on
exactly one unit, hence in exactly one row of the statistics frame: the frame's usual folding
(sums over rows, missing values skipped) carries it through unchanged, and
:func:`quantile_arm` reads it back. The cost is one sort of the analysed units per quantile
metric and grouping; no other query changes.

The columns are ``<metric>__<stat>`` overall and ``<metric>__<stat>@<segment>`` within the
values of one segment dimension, ``stat`` one of :data:`QUANTILE_STATS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from abkit.errors import DataError, SpecError
from abkit.query.frame import VARIANT, stat_col
from abkit.query.values import EXACT_QUANTILE_BACKENDS
from abkit.stats.quantile import QUANTILE_Z, QuantileEstimate, quantile_estimate

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from abkit.metrics import Metric

__all__ = [
    "QUANTILE_STATS",
    "quantile_aggregates",
    "quantile_arm",
    "quantile_metrics",
    "quantile_stat",
    "with_quantile_ranks",
]

#: count, X_(⌊h⌋), X_(⌊h⌋+1), X_(L), X_(U), L, U
QN, Q0, Q1, QLO, QHI, QLR, QHR = "qn", "q0", "q1", "qlo", "qhi", "qlr", "qhr"
QUANTILE_STATS = (QN, Q0, Q1, QLO, QHI, QLR, QHR)
_SEGMENT_SEP = "@"


def quantile_metrics(metrics: Sequence[Metric]) -> list[Metric]:
    """The metrics compared by a quantile (``kind == "quantile"``)."""
    return [m for m in metrics if m.kind == "quantile"]


def quantile_stat(m: Metric | str, stat: str, segment: str | None = None) -> str:
    """The frame column of order statistic ``stat`` of ``m``, overall or within ``segment``."""
    return stat_col(m, stat if segment is None else stat + _SEGMENT_SEP + segment)


def _cols(i: int, j: int) -> tuple[str, str]:
    """Per-unit internal columns: rank and arm count of quantile metric ``i`` in grouping ``j``."""
    return "_qr" + str(i) + "_" + str(j), "_qn" + str(i) + "_" + str(j)


def with_quantile_ranks(
    t: ir.Table,
    metrics: Sequence[Metric],
    value: Callable[[Metric], Any],
    population: Callable[[Metric], Any],
    *,
    segments: Sequence[str],
    backend: str,
) -> ir.Table:
    """``t`` with each quantile metric's value (null outside ``population``) and its rank and
    count within each arm, overall and per segment dimension.

    Raises:
        SpecError: ``backend`` is not one abkit runs exact quantiles on.
    """
    import ibis

    qs = quantile_metrics(metrics)
    if not qs:
        return t
    if backend not in EXACT_QUANTILE_BACKENDS:
        raise SpecError(
            f"quantile metrics {[m.name for m in qs]} need exact order statistics, which abkit "
            f"computes on {', '.join(EXACT_QUANTILE_BACKENDS)}; on {backend} compare the "
            "mean instead (Mean, Revenue, EventCount) or analyse on DuckDB"
        )
    values = {
        "_qv" + str(i): ibis.ifelse(population(m).fill_null(False), value(m), ibis.null("float64"))
        for i, m in enumerate(qs)
    }
    t = t.mutate(**values)
    ranks: dict[str, Any] = {}
    for i in range(len(qs)):
        v = t["_qv" + str(i)]
        for j, seg in enumerate((None, *segments)):
            keys = [v.isnull(), t[VARIANT]] + ([] if seg is None else [t[seg]])
            w = ibis.window(group_by=keys, order_by=[v])
            rank, count = _cols(i, j)
            ranks[rank] = ibis.row_number().over(w) + 1
            ranks[count] = v.count().over(ibis.window(group_by=keys))
    return t.mutate(**ranks)


def quantile_aggregates(
    t: ir.Table, metrics: Sequence[Metric], segments: Sequence[str]
) -> dict[str, Any]:
    """The order statistics of each quantile metric as aggregates of the statistics query (each
    non-null in exactly one row per arm and grouping; see the module docstring)."""
    import ibis

    aggs: dict[str, Any] = {}
    for i, m in enumerate(quantile_metrics(metrics)):
        q = float(m.q)  # type: ignore[attr-defined]
        v = t["_qv" + str(i)]
        for j, seg in enumerate((None, *segments)):
            rank_col, count_col = _cols(i, j)
            rank, n = t[rank_col], t[count_col]
            nf = n.cast("float64")
            j0 = ((n - 1).cast("float64") * q).floor().cast("int64") + 1
            half = (nf * (q * (1.0 - q))).sqrt() * QUANTILE_Z
            lo = ibis.greatest((nf * q - half).floor().cast("int64"), 1)
            hi = ibis.least((nf * q + half).ceil().cast("int64"), n)
            has = v.notnull()
            at = {
                Q0: rank == j0,
                Q1: rank == ibis.least(j0 + 1, n),
                QLO: rank == lo,
                QHI: rank == hi,
            }
            aggs[quantile_stat(m, QN, seg)] = n.max(where=has & (rank == 1))
            for stat, cond in at.items():
                aggs[quantile_stat(m, stat, seg)] = v.max(where=has & cond)
            aggs[quantile_stat(m, QLR, seg)] = rank.max(where=has & at[QLO])
            aggs[quantile_stat(m, QHR, seg)] = rank.max(where=has & at[QHI])
    return aggs


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def quantile_arm(
    row: Mapping[str, Any] | None, m: Metric, segment: str | None
) -> QuantileEstimate | None:
    """One arm's quantile estimate from its (folded) row of the statistics frame; None when the
    arm has no value.

    Raises:
        SpecError: the frame has no order statistics for ``m`` (pre-aggregated input).
    """
    if row is None:
        return None
    cols = {s: quantile_stat(m, s, segment) for s in QUANTILE_STATS}
    if any(c not in row for c in cols.values()):
        raise SpecError(
            f"metric {m.name!r} is a quantile: it needs per-unit values (order statistics the "
            "query computes), which pre-aggregated statistics cannot give; analyse the logs or "
            "the per-unit table, or compare the mean"
        )
    got = {s: row[c] for s, c in cols.items()}
    if _missing(got[QN]) or int(got[QN]) == 0:
        return None
    if any(_missing(got[s]) for s in QUANTILE_STATS):
        raise DataError(f"metric {m.name!r}: an order statistic is missing from the query result")
    return quantile_estimate(
        float(m.q),  # type: ignore[attr-defined]
        int(got[QN]),
        float(got[Q0]),
        float(got[Q1]),
        float(got[QLO]),
        float(got[QHI]),
        lower_rank=int(got[QLR]),
        upper_rank=int(got[QHR]),
    )
