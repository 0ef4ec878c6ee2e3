"""The statistics frame: every column name of the analysis query's result, spelled once.

The analysis query returns one small frame with a row per ``(variant, segment…)`` and, per metric
``m``, columns ``<m>__<stat>``: the sufficient statistics the metric's tests need. Sufficient
statistics are additive, so overall and per-segment numbers come from the same frame. The
query's internal columns (row status, data-quality sums, the age and event-category keys) are
named here too; :mod:`abkit.query.collect` decodes them, and nothing outside ``abkit.query``
needs to know them. Pre-aggregated input (``Experiment.analyze_stats``) is validated against
the same schema (:func:`required_stats`).

Example:
    >>> from abkit.metrics import Retention, Ratio
    >>> stat_col(Retention(day=7), SUM)
    'retention_d7__sum'
    >>> split_stat_col("retention_d7__sumsq")
    ('retention_d7', 'sumsq')
    >>> required_stats(Retention(day=7))
    ('n', 'sum')
    >>> required_stats(Ratio("a", "b"))
    ('n', 'sum', 'sumy', 'sumsq', 'sumyy', 'sumxy')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from abkit.metrics import Metric

__all__ = [
    "CUPED_FIELDS",
    "MOMENT_STATS",
    "N_UNITS",
    "QUERY_NAMES",
    "RATIO_CUPED_FIELDS",
    "RATIO_SUMS",
    "VARIANT",
    "combine",
    "internal_name",
    "is_stat_col",
    "required_stats",
    "split_stat_col",
    "stat_col",
]

#: separator between a metric's name and the statistic in a column name
SEP = "__"

# ---------------------------------------------------------------------------------- group keys
VARIANT = "variant"
#: units in the row (every row; the sample-ratio check reads it)
N_UNITS = "n_units"

# ------------------------------------------------------------------------- per-metric statistics
N = "n"  # units that count for the metric (mature, not missing)
SUM = "sum"  # Σx
SUMSQ = "sumsq"  # Σx²
MIN = "min"
MAX = "max"
IMMATURE = "immature"  # units excluded because the window had not ended by as_of
MISSING = "missing"  # units with a null value (column metrics)
SUMY = "sumy"  # ratio metrics: Σy (denominator)
SUMYY = "sumyy"  # Σy²
SUMXY = "sumxy"  # Σxy
CX = "cx"  # CUPED: Σ covariate
CXX = "cxx"  # Σ covariate²
CXY = "cxy"  # Σ covariate × value
CAP = "cap"  # the value a quantile cap came to (the same on every row)
# CUPED of a ratio x / y with pre-period covariates x̃ (of x) and ỹ (of y)
RCX, RCY = "rcx", "rcy"  # Σx̃, Σỹ
RCXX, RCYY, RCXY = "rcxx", "rcyy", "rcxy"  # Σx̃², Σỹ², Σx̃ỹ
X_RCX, X_RCY, Y_RCX, Y_RCY = "x_rcx", "x_rcy", "y_rcx", "y_rcy"  # Σx·x̃, Σx·ỹ, Σy·x̃, Σy·ỹ

#: statistics of a mean or proportion metric, in frame order
MOMENT_STATS = (N, SUM, SUMSQ, MIN, MAX, IMMATURE, MISSING)
#: the five sums of a ratio metric (numerator x, denominator y)
RATIO_SUMS = (SUM, SUMY, SUMSQ, SUMYY, SUMXY)
#: CUPED's covariate sums per metric: Σx, Σx², Σxy (x: the pre-exposure covariate)
CUPED_FIELDS = (CX, CXX, CXY)
#: CUPED's sums of a ratio metric, in the order of :class:`abkit.stats.RatioCovariateSums`
RATIO_CUPED_FIELDS = (RCX, RCY, RCXX, RCYY, RCXY, X_RCX, X_RCY, Y_RCX, Y_RCY)
#: statistics whose value over several rows is the smallest / largest, not the sum
_MINIMA, _MAXIMA = (MIN,), (MAX, CAP)

# --------------------------------------------------------------- internal columns of the query
#: row status: analysed units, units seen in several variants, the rest (no valid exposure)
STATUS_COL = "_status"
STATUS_OK, STATUS_MULTI, STATUS_OTHER = 0, 1, 2
#: group key: whole days from t0 to as_of, capped at the longest rolling window
AGE_COL = "_age"
#: group key with events: the category of the event rows (see EV_DQ)
CAT_COL = "_cat"
#: CUPED: event rows in the lookback (grouped with their units; counted as before exposure)
PRE_ROWS = "_pre_rows"
#: first exposure time in the log (to check as_of against)
X_MIN = "x_min"
#: valid exposure rows of the row's units; distinct ids of the exposure log; event rows
N_ROWS, X_IDS, E_ROWS = "n_rows", "x_ids", "e_rows"
#: exposure-log row counts: one scalar pass, the same on every result row
X_COUNTS = ("x_rows", "x_null_ids", "x_null_variants", "x_null_times", "x_after")
#: categories of event rows in the per-unit pass: rows in a metric window are grouped by unit
#: (category 0); every other row is counted in one group per category, by reason. The categories
#: are disjoint and the first reason wins (a never-exposed unit's row with a null time is a null
#: time), so they add up to the event rows.
EV_IN_WINDOW, EV_NULL_ID, EV_NULL_TS, EV_UNEXPOSED = 0, 1, 2, 3
EV_BEFORE, EV_AFTER, EV_LATE = 4, 5, 6
#: data-quality count → the event category it counts
EV_DQ = {
    "e_in_window": EV_IN_WINDOW,
    "e_null_ids": EV_NULL_ID,
    "e_null_times": EV_NULL_TS,
    "e_unexposed": EV_UNEXPOSED,
    "e_before": EV_BEFORE,
    "e_after": EV_AFTER,
    "e_late": EV_LATE,
}
#: data-quality columns of the analysis query (summed over all its rows)
DQ_SUMS = (*X_COUNTS[:1], X_IDS, *X_COUNTS[1:], N_ROWS, E_ROWS, *EV_DQ)
#: the event-category counts a query without events reports as zero
EVENT_DQ = (E_ROWS, *EV_DQ)


#: the query's own column names besides the statistics and the ``_``-prefixed ones: a user's
#: column the query carries or groups by must not take one of them (:func:`internal_name`)
QUERY_NAMES = frozenset(
    {N_UNITS, "t0", "n_variants", X_MIN, N_ROWS, X_IDS, E_ROWS, *X_COUNTS, *EV_DQ}
)


def internal_name(name: str) -> str | None:
    """Why a user's column named ``name`` cannot be carried or grouped by the query, or None.

    Example:
        >>> internal_name("utm__source")
        "'__' separates a metric's name from its statistic in abkit's columns (retention_d7__sum)"
        >>> internal_name("utm_source") is None
        True
    """
    if SEP in name:
        return f"{SEP!r} separates a metric's name from its statistic in abkit's columns " + (
            "(retention_d7__sum)"
        )
    if name.startswith("_"):
        return "names starting with '_' are the analysis query's internal columns"
    if name in QUERY_NAMES:
        return "the analysis query names one of its own columns so"
    return None


def stat_col(metric: Metric | str, stat: str) -> str:
    """The frame column holding statistic ``stat`` of ``metric`` (a metric or its name)."""
    name = metric if isinstance(metric, str) else metric.name
    return name + SEP + stat


def split_stat_col(col: str) -> tuple[str, str] | None:
    """``(metric name, statistic)`` of a statistics column, None for any other column."""
    name, sep, stat = col.rpartition(SEP)
    return (name, stat) if sep and name else None


def is_stat_col(col: str) -> bool:
    """Whether ``col`` holds statistics (summed over rows) rather than a group key."""
    return col == N_UNITS or split_stat_col(col) is not None


def combine(col: str) -> str:
    """How a statistics column combines over rows: ``min``, ``max`` or ``sum``.

    Quantile caps are the same on every row that has one: their maximum.
    """
    parts = split_stat_col(col)
    stat = parts[1] if parts else ""
    if stat in _MINIMA:
        return "min"
    return "max" if stat in _MAXIMA else "sum"


def required_stats(m: Metric) -> tuple[str, ...]:
    """The statistics pre-aggregated input must give for ``m`` (the rest have defaults).

    Means need ``n``, Σx and Σx²; 0/1 metrics may leave Σx² out (it equals Σx); ratios need
    their five sums.
    """
    if m.kind == "ratio":
        return (N, *RATIO_SUMS)
    return (N, SUM) if m.kind == "proportion" else (N, SUM, SUMSQ)
