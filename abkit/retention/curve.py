"""Retention curves (D0..DN with Wilson bands and the lift each day) and cohort triangles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit import plot
from abkit._duckdb_udf import TZ_BACKENDS, utc_to_local_for
from abkit.analysis import Experiment
from abkit.data import prepare_logs
from abkit.errors import DataError, SpecError
from abkit.metrics import Retention
from abkit.stats.proportions import wilson_interval

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from abkit.results import ExperimentResult

__all__ = ["CohortTable", "RetentionCurve", "cohort_table", "retention_curve"]


def _days_of(metrics: Sequence[Retention]) -> dict[str, int]:
    """Metric name → the day its Retention metric measures (from the metric, not its name)."""
    return {m.name: m.window[0] for m in metrics}


@dataclass(frozen=True, slots=True)
class RetentionCurve:
    """DayN retention for N = 0..max_day per variant, and the lift at each day.

    ``result`` is the underlying :class:`~abkit.results.ExperimentResult` (one metric per day).
    """

    result: ExperimentResult
    max_day: int
    #: the Retention metric of each day, in day order (the result's metrics by name)
    metrics: tuple[Retention, ...] = ()

    def _day(self, metric: str) -> int:
        return _days_of(self.metrics)[metric]

    def to_pandas(self) -> pd.DataFrame:
        """Columns: day, variant, n, retention, ci_lower, ci_upper (Wilson), immature."""
        import pandas as pd

        rows = []
        for a in self.result.arms:
            if a.segment is not None:
                continue
            day = self._day(a.metric)
            lo, hi = (None, None)
            if a.n > 0 and a.mean is not None:
                lo, hi = wilson_interval(round(a.mean * a.n), a.n, alpha=self.result.alpha)
            rows.append(
                {
                    "day": day,
                    "variant": a.variant,
                    "n": a.n,
                    "retention": a.mean,
                    "ci_lower": lo,
                    "ci_upper": hi,
                    "immature": a.immature,
                }
            )
        return (
            pd.DataFrame(rows).sort_values(["variant", "day"], kind="stable").reset_index(drop=True)
        )

    def lifts_to_pandas(self) -> pd.DataFrame:
        """One row per (day, treatment): absolute and relative lift with intervals and p-value."""
        df = self.result.to_pandas()
        df.insert(0, "day", [self._day(m) for m in df.metric])
        return df.sort_values(["variant", "day"], kind="stable").reset_index(drop=True)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Retention curves with their bands, one line per variant."""
        return plot.retention_curve(self, ax=ax)

    def plot_lift(self, ax: Axes | None = None) -> Axes:
        """Absolute lift (pp) per day with its confidence interval."""
        return plot.curve_lift(self, ax=ax)


def retention_curve(
    exposures: Any,
    events: Any,
    *,
    max_day: int = 30,
    control: str = "control",
    calendar_tz: str | None = None,
    event: str | Sequence[str] | None = None,
    as_of: datetime | str | None = None,
    con: Any = None,
    **options: Any,
) -> RetentionCurve:
    """Retention curve D0..D``max_day`` per variant, from one aggregation query.

    Args:
        exposures, events: the logs (any source ``Experiment.analyze`` accepts).
        max_day: last day of the curve.
        control: control variant.
        calendar_tz: compute calendar days in this IANA zone instead of rolling 24-hour days.
        event: event name(s) that count as activity.
        as_of: cut-off (default: last event). Each day N only counts mature units.
        con: Ibis backend.
        **options: further :class:`~abkit.Experiment` options (``variant``, ``columns``, ``tz``,
            ``alpha``, ``weights`` …).
    """
    if isinstance(max_day, bool) or not isinstance(max_day, int) or not 0 <= max_day <= 365:
        raise SpecError(f"max_day must be an integer in 0..365, got {max_day!r}")
    metrics = [Retention(day=d, event=event, tz=calendar_tz) for d in range(max_day + 1)]
    res = Experiment(metrics=metrics, control=control, **options).analyze(
        exposures=exposures, events=events, as_of=as_of, con=con
    )
    return RetentionCurve(res, max_day, tuple(metrics))


# ------------------------------------------------------------------------------------ cohorts


@dataclass(frozen=True, slots=True)
class CohortTable:
    """Retention per exposure cohort (date or week of first exposure) × day N × variant."""

    result: ExperimentResult
    period: str
    days: tuple[int, ...]
    #: the Retention metric of each day in ``days``
    metrics: tuple[Retention, ...] = ()

    def to_pandas(self) -> pd.DataFrame:
        """Long form: cohort, day, variant, n (mature units), retention, immature."""
        import pandas as pd

        rows = []
        for a in self.result.arms:
            if a.segment != "cohort":
                continue
            day = _days_of(self.metrics)[a.metric]
            rows.append(
                {
                    "cohort": a.segment_value,
                    "day": day,
                    "variant": a.variant,
                    "n": a.n,
                    "retention": a.mean,
                    "immature": a.immature,
                }
            )
        df = pd.DataFrame(rows)
        return df.sort_values(["variant", "cohort", "day"], kind="stable").reset_index(drop=True)

    def pivot(self, variant: str, value: str = "retention") -> pd.DataFrame:
        """The triangle for one variant: rows = cohorts, columns = day N (NaN where immature)."""
        df = self.to_pandas()
        df = df[df.variant == variant]
        if df.empty:
            raise DataError(f"no cohort rows for variant {variant!r}")
        return df.pivot(index="cohort", columns="day", values=value)

    def plot(self, variant: str | None = None, ax: Axes | None = None) -> Axes:
        """Heatmap of the triangle for ``variant`` (default: control)."""
        return plot.cohort_heatmap(self, variant or self.result.control, ax=ax)


def cohort_table(
    exposures: Any,
    events: Any,
    *,
    days: Sequence[int] = (1, 3, 7, 14, 30),
    period: str = "day",
    control: str = "control",
    cohort_tz: str = "UTC",
    as_of: datetime | str | None = None,
    con: Any = None,
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    **options: Any,
) -> CohortTable:
    """Cohort triangle: DayN retention for each exposure date (or ISO week) per variant.

    Args:
        days: the day indexes to show as columns.
        period: ``"day"`` (cohort = date of first exposure) or ``"week"`` (its Monday).
        cohort_tz: zone in which cohort dates are taken.
        tz: zone of naive input timestamps (as in ``Experiment``).
    """
    if period not in ("day", "week"):
        raise SpecError(f"period must be 'day' or 'week', got {period!r}")
    metrics = [Retention(day=int(d)) for d in days]
    exp = Experiment(
        metrics=metrics, control=control, segments=["cohort"], columns=columns, tz=tz, **options
    )
    # the logs are loaded once: the cohort column is derived from the prepared exposures
    logs = prepare_logs(exposures, events, columns=exp.columns, tz=exp.tz, con=con)
    t = logs.exposures
    local = utc_to_local_for(str(logs.con.name), cohort_tz, t.exposed_at)
    if local is None:
        raise DataError(
            f"cohort dates in {cohort_tz!r} need a time-zone conversion, which abkit has for "
            f"{list(TZ_BACKENDS)}, not for {logs.con.name}"
        )
    start = local.truncate("D") if period == "day" else local.truncate("W")
    t = t.mutate(cohort=start.date().cast("string"))
    res = exp.analyze_logs(logs.with_exposures(t), as_of=as_of)
    return CohortTable(res, period, tuple(int(d) for d in days), tuple(metrics))
