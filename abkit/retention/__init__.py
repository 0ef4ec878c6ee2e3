"""Retention views per variant: curve, cohort triangle, time to churn, funnel and drivers.

Each view is computed in the engine (only aggregates come back) and tested per variant:

* :func:`retention_curve` — DayN retention for N = 0..K with Wilson bands, and the lift each day;
* :func:`cohort_table` — exposure-date (or week) cohorts × day N, per variant;
* :func:`churn_survival` — time until K consecutive inactive days, right-censored at ``as_of``:
  Kaplan–Meier curves, log-rank test and the difference in restricted mean survival time up to
  ``tau`` ("extra retained days");
* :func:`funnel` — ordered steps within a window after exposure, per-step and step-to-step
  conversion with a test at each step;
* :func:`retention_drivers` — exploratory: early behaviours associated with later retention
  (correlation, not causation), with the sample size an experiment would need to verify them;
* :func:`novelty` — does the lift change with the days since exposure? Per-day lifts, their
  trend (cluster-robust over units) and early-vs-late cohorts on the same calendar days;
* :func:`churn_regression` — Cox model of the time to churn adjusted for exposure attributes,
  with the proportional-hazards check (scaled Schoenfeld residuals);
* :func:`surrogate_forecast` — a forecast of a long-term lift (D30) from the first week's
  activity (the surrogate index), with its backtest and assumption.

Example:
    >>> import abkit as ab
    >>> exposures, events = ab.simulate.retention_experiment(n_units=2_000, seed=1)
    >>> curve = ab.retention.retention_curve(exposures, events, max_day=7)
    >>> sorted(curve.to_pandas().day.unique().tolist())[:3]
    [0, 1, 2]
"""

from abkit.retention.churn import ChurnResult, churn_survival
from abkit.retention.curve import CohortTable, RetentionCurve, cohort_table, retention_curve
from abkit.retention.drivers import CORRELATION_LABEL, RetentionDrivers, retention_drivers
from abkit.retention.funnel import FunnelResult, funnel
from abkit.retention.hazards import ChurnRegression, HazardTerm, churn_regression
from abkit.retention.novelty import NOVELTY_CAVEAT, CohortDiD, NoveltyResult, NoveltyTrend, novelty
from abkit.retention.surrogate import SURROGACY_LABEL, SurrogateForecast, surrogate_forecast

__all__ = [
    "CORRELATION_LABEL",
    "NOVELTY_CAVEAT",
    "SURROGACY_LABEL",
    "ChurnRegression",
    "ChurnResult",
    "CohortDiD",
    "CohortTable",
    "FunnelResult",
    "HazardTerm",
    "NoveltyResult",
    "NoveltyTrend",
    "RetentionCurve",
    "RetentionDrivers",
    "SurrogateForecast",
    "churn_regression",
    "churn_survival",
    "cohort_table",
    "funnel",
    "novelty",
    "retention_curve",
    "retention_drivers",
    "surrogate_forecast",
]
