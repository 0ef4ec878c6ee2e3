"""Decoding the analysis query's result: sufficient statistics per arm, data-quality counts.

The query returns its statistics together with internal columns (row status, event category,
age bucket, the exposure-log and event-log counts); this module turns them into the statistics
frame of :mod:`abkit.query.frame` for analysed units and a plain dict of counts. Nothing
outside ``abkit.query`` reads the internal columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit.errors import DataError
from abkit.query.fold import grouped, in_key_order
from abkit.query.frame import (
    AGE_COL,
    CAT_COL,
    CUPED_FIELDS,
    DQ_SUMS,
    E_ROWS,
    EV_DQ,
    IMMATURE,
    MAX,
    MIN,
    MISSING,
    N_ROWS,
    N_UNITS,
    PRE_ROWS,
    RATIO_CUPED_FIELDS,
    RATIO_SUMS,
    STATUS_COL,
    STATUS_MULTI,
    STATUS_OK,
    STATUS_OTHER,
    SUM,
    SUMSQ,
    X_COUNTS,
    X_MIN,
    N,
    combine,
    stat_col,
)

if TYPE_CHECKING:
    import pandas as pd

    from abkit.metrics import Metric
    from abkit.query.plan import StatsQuery

__all__ = ["Collected", "collapse_categories", "collect_analysis", "complete_stats"]


@dataclass(frozen=True, slots=True)
class Collected:
    """The analysis query's result, decoded.

    ``stats``: the statistics frame of analysed units (one row per variant and segment values);
    ``counts``: the exposure counts (``x_rows``, ``x_ids``, ``x_null_ids``, ``x_null_variants``,
    ``x_null_times``, ``x_after``), the event-row categories (``e_rows``, ``e_in_window``,
    ``e_null_ids`` …), and per unit status ``units`` (with a valid exposure), ``multi`` (seen in
    several variants) and ``dup_rows`` (repeated exposure rows of analysed units).
    """

    stats: pd.DataFrame
    counts: dict[str, int]


def _int(v: Any) -> int:
    import pandas as pd

    return 0 if v is None or bool(pd.isna(v)) else int(v)


def collect_analysis(
    frame: pd.DataFrame, query: StatsQuery, metrics: Sequence[Metric], *, as_of: datetime
) -> Collected:
    """Decode the rows of :func:`~abkit.query.plan.build_analysis_query` run on an engine.

    Raises:
        DataError: the exposure log has no rows, ``as_of`` is before its first exposure, or no
            exposure row has a unit id, a variant and a time by ``as_of``.
    """
    import pandas as pd

    # rows in key order first: every fold below then adds in the same order, run after run
    frame = in_key_order(query.expand(frame), [*query.group_cols, CAT_COL])
    frame, ev_counts = collapse_categories(frame, query.group_cols)
    first_exp = None
    if frame.empty:  # no exposure row and no event row
        c = {"x_rows": 0}
    else:
        sums = [k for k in DQ_SUMS if k not in ev_counts and k not in X_COUNTS]
        c = {k: _total(frame[k]) for k in sums}
        c |= ev_counts
        c |= {k: _int(frame[k].iloc[0]) for k in X_COUNTS}
        first_exp = frame[X_MIN].iloc[0]
    if c["x_rows"] == 0:
        raise DataError("exposures: the table has no rows")
    if first_exp is not None and not pd.isna(first_exp) and as_of < pd.Timestamp(first_exp):
        raise DataError(
            f"as_of {pd.Timestamp(as_of).isoformat()} is before the first exposure "
            f"{pd.Timestamp(first_exp).isoformat()}; nothing can be analysed"
        )
    status = frame[STATUS_COL].tolist()
    if all(s == STATUS_OTHER for s in status):
        raise DataError("exposures: no row has a unit id, a variant and a time by as_of")
    # counts (whole numbers): added in Python, in any order the same
    units = frame[N_UNITS].tolist()
    c["units"] = sum(int(n) for s, n in zip(status, units, strict=True) if s != STATUS_OTHER)
    c["multi"] = sum(int(n) for s, n in zip(status, units, strict=True) if s == STATUS_MULTI)
    is_ok = [s == STATUS_OK for s in status]
    ok_rows = sum(_int(r) for r, o in zip(frame[N_ROWS].tolist(), is_ok, strict=True) if o)
    c["dup_rows"] = ok_rows - sum(int(n) for n, o in zip(units, is_ok, strict=True) if o)
    drop = {STATUS_COL, X_MIN, *DQ_SUMS}
    keep = [k for k in frame.columns if k not in drop]
    stats = frame.loc[is_ok, keep].reset_index(drop=True)
    return Collected(complete_stats(stats, metrics, query.group_cols[1:]), c)


def _total(series: pd.Series) -> int:
    """The sum of a column of counts (missing values skipped), as an int."""
    return _int(sum(v for v in series.tolist() if not _missing(v)))


def _missing(v: Any) -> bool:
    return v is None or v != v


def collapse_categories(
    frame: pd.DataFrame, group_cols: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Fold the event-category key of the analysis query's rows away.

    Returns the frame with one row per ``group_cols`` (sums added, minima and maxima combined,
    the exposure row counts — the same on every row — kept) and the event rows per category
    (the ``EV_DQ`` counts).
    """
    if CAT_COL not in frame.columns:
        return frame, {}
    # event rows per category: whole numbers, so any order of adding gives the same counts
    per_cat: dict[Any, Any] = {}
    for k, e in zip(frame[CAT_COL].tolist(), frame[E_ROWS].tolist(), strict=True):
        if not _missing(k) and not _missing(e):
            per_cat[k] = per_cat.get(k, 0) + e
    counts = {name: _int(per_cat.get(k, 0)) for name, k in EV_DQ.items()}
    if PRE_ROWS in frame.columns:
        # CUPED: events in the lookback were grouped with their units; they are events before
        # exposure all the same
        pre = _total(frame[PRE_ROWS])
        counts["e_in_window"] -= pre
        counts["e_before"] += pre
    keys = list(group_cols)
    how = {
        c: "first" if c in (*X_COUNTS, X_MIN) else combine(c)
        for c in frame.columns
        if c not in keys and c not in (CAT_COL, PRE_ROWS)
    }
    return grouped(frame, keys, how, sort=False), counts


def complete_stats(
    frame: pd.DataFrame, metrics: Sequence[Metric], group_cols: Sequence[str]
) -> pd.DataFrame:
    """The sufficient-statistics frame from the analysis query's rows of analysed units.

    Applies maturity by age bucket (rolling-day event metrics count a unit once its age at
    ``as_of`` is at least the metric's ``mature_after_days``), sums the buckets away, and fills
    what follows from other columns: for event metrics ``immature = n_units - n`` and
    ``missing = 0``; for 0/1 metrics ``sumsq = sum``, ``min = 0`` unless every unit is 1,
    ``max = 1`` if any is.
    """
    import numpy as np
    import pandas as pd

    frame = frame.reset_index(drop=True)
    # rolling metrics whose maturity is applied here: event metrics and event-part ratios
    event = [m for m in metrics if m.source == "events"]
    if AGE_COL in frame.columns:
        age = frame[AGE_COL].to_numpy(dtype="int64")
        n_units = frame[N_UNITS].to_numpy(dtype="int64")
        cols: dict[str, Any] = {}
        for m in event:
            if m.tz:
                continue
            mature = age >= m.mature_after_days
            cols[stat_col(m, N)] = np.where(mature, n_units, 0)
            for f in (*RATIO_SUMS, MIN, MAX, *CUPED_FIELDS, *RATIO_CUPED_FIELDS):
                if stat_col(m, f) in frame.columns:
                    x = frame[stat_col(m, f)].to_numpy(dtype="float64", na_value=np.nan)
                    cols[stat_col(m, f)] = np.where(mature, x, np.nan if f in (MIN, MAX) else 0.0)
        kept = {c: frame[c] for c in frame.columns if c != AGE_COL and c not in cols}
        frame = pd.DataFrame({**kept, **cols}, index=frame.index)
        keys = [c for c in group_cols if c != AGE_COL]
        how = {c: combine(c) for c in frame.columns if c not in keys}
        frame = grouped(frame, keys, how, sort=True)

    cols = {}
    n_units = frame[N_UNITS].to_numpy(dtype="int64")
    for m in event:
        n = frame[stat_col(m, N)].to_numpy(dtype="int64")
        s = frame[stat_col(m, SUM)].to_numpy(dtype="float64", na_value=0.0)
        s = np.nan_to_num(s, nan=0.0)
        cols[stat_col(m, SUM)] = s
        cols[stat_col(m, IMMATURE)] = n_units - n
        cols[stat_col(m, MISSING)] = np.zeros(len(frame), dtype="int64")
        for f in (*RATIO_SUMS[1:], *CUPED_FIELDS, *RATIO_CUPED_FIELDS):
            if (m.kind == "ratio" or f in CUPED_FIELDS) and stat_col(m, f) in frame.columns:
                cols[stat_col(m, f)] = np.nan_to_num(
                    frame[stat_col(m, f)].to_numpy(dtype="float64", na_value=0.0), nan=0.0
                )
        if m.binary:
            cols[stat_col(m, SUMSQ)] = s
            cols[stat_col(m, MIN)] = np.where(n > 0, (s >= n).astype(float), np.nan)
            cols[stat_col(m, MAX)] = np.where(n > 0, (s > 0).astype(float), np.nan)
    kept = {c: frame[c] for c in frame.columns if c not in cols}
    return pd.DataFrame({**kept, **cols}, index=frame.index)
