"""The query compiler: metrics × segments → one engine query returning sufficient statistics.

Everything per unit happens in Ibis expressions; what comes back to Python is one small frame
with a row per ``(variant, segment…)`` and, per metric, the statistics its tests need (the
schema is :mod:`abkit.query.frame`). Modules, in the order a query is built:

* :mod:`~abkit.query.frame` — the statistics-frame schema (every column name);
* :mod:`~abkit.query.exposures` — first exposures, the day index, calendar days;
* :mod:`~abkit.query.values` — per-unit values from the metrics' declarations, caps, sums;
* :mod:`~abkit.query.sums` — exact sums of fractional values (the same bytes in any row order);
* :mod:`~abkit.query.events` — the single grouped pass over events;
* :mod:`~abkit.query.plan` — the analysis query and the per-unit-table query;
* :mod:`~abkit.query.collect` — decoding the result into statistics and data-quality counts;
* :mod:`~abkit.query.fold` — pandas' group-by reductions of the statistics rows, fast when small;
* :mod:`~abkit.query.cache` — each query built and compiled once per input schema and options,
  its SQL reused for the next in-memory tables of the same shape.
"""

from abkit.query.collect import Collected, collect_analysis
from abkit.query.exposures import DAY_US, calendar_days, day_index, first_exposures
from abkit.query.plan import StatsQuery, build_analysis_query, build_unit_stats
from abkit.query.sums import exact_sum

__all__ = [
    "DAY_US",
    "Collected",
    "StatsQuery",
    "build_analysis_query",
    "build_unit_stats",
    "calendar_days",
    "collect_analysis",
    "day_index",
    "exact_sum",
    "first_exposures",
]
