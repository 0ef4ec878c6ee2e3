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
  (correlation, not causation), with the sample size an experiment would need to verify them.

Example:
    >>> import abkit as ab
    >>> exposures, events = ab.simulate.retention_experiment(n_units=2_000, seed=1)
    >>> curve = ab.retention.retention_curve(exposures, events, max_day=7)
    >>> sorted(curve.to_pandas().day.unique().tolist())[:3]
    [0, 1, 2]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit.errors import DataError, SpecError
from abkit.metrics import Retention

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends import BaseBackend
    from matplotlib.axes import Axes

    from abkit.results import ExperimentResult
    from abkit.stats.survival import KMCurve, LogRankResult, RMSTComparison

__all__ = [
    "ChurnResult",
    "CohortTable",
    "FunnelResult",
    "RetentionCurve",
    "RetentionDrivers",
    "churn_survival",
    "cohort_table",
    "funnel",
    "retention_curve",
    "retention_drivers",
]

CORRELATION_LABEL = (
    "Exploratory: these are associations within one arm, not causal effects. Units who do X may "
    "differ from those who don't in ways that also drive retention. Verify with an experiment."
)


# ------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True, slots=True)
class _Prepared:
    con: BaseBackend
    exposures: ir.Table
    events: ir.Table
    units: ir.Table  # one row per analysable unit: unit_id, variant, t0 (+ carried columns)
    as_of: datetime


def _standard_tables(
    exposures: Any, events: Any, *, columns: dict[str, str] | None, tz: str | None, con: Any
) -> tuple[Any, ir.Table, ir.Table]:
    """Load both logs with abkit's column names and UTC-aware timestamps."""
    from abkit.analysis import _align_id_types
    from abkit.data import (
        backend_of,
        connect,
        load_table,
        normalise_unit_ids,
        rename_columns,
        require_timestamp,
    )

    con = con or backend_of(exposures, events) or connect()
    exp = load_table(exposures, con=con, role="exposures")
    exp = rename_columns(
        exp, role="exposures", required=("unit_id", "variant", "exposed_at"), columns=columns
    )
    exp = require_timestamp(exp, "exposed_at", role="exposures", tz=tz, con=con)
    exp = exp.mutate(variant=exp.variant.cast("string"))
    ev = load_table(events, con=con, role="events")
    ev = rename_columns(
        ev, role="events", required=("unit_id", "ts"), optional=("event", "value"), columns=columns
    )
    ev = require_timestamp(ev, "ts", role="events", tz=tz, con=con)
    if "event" in ev.columns:
        ev = ev.mutate(event=ev.event.cast("string"))
    # the same id handling as Experiment.analyze: float ids read as integers, blank ids as null,
    # ids of different types compared as text
    notes: list[str] = []
    exp = normalise_unit_ids(exp, role="exposures", blank_to_null=True, notes=notes)
    ev = normalise_unit_ids(ev, role="events", blank_to_null=False, notes=notes)
    exp, ev = _align_id_types(exp, ev)
    return con, exp, ev


def _prepare(
    exposures: Any,
    events: Any,
    *,
    as_of: datetime | str | None,
    columns: dict[str, str] | None,
    tz: str | None,
    con: Any,
) -> _Prepared:
    from abkit.aggregate import first_exposures
    from abkit.analysis import Experiment

    con, exp, ev = _standard_tables(exposures, events, columns=columns, tz=tz, con=con)
    as_of_dt = Experiment(metrics=[Retention(day=0)], tz=tz)._resolve_as_of(as_of, exp, ev)
    first = first_exposures(exp, as_of=as_of_dt)
    units = first.filter(first.n_variants == 1).select("unit_id", "variant", "t0")
    return _Prepared(con, exp, ev, units, as_of_dt)


def _day_index(ts: ir.TimestampValue, t0: ir.TimestampValue) -> ir.IntegerValue:
    from abkit.aggregate import DAY_US

    return (ts.delta(t0, unit="microsecond") // DAY_US).cast("int64")


def _order_variants(found: Sequence[str], control: str) -> list[str]:
    found = sorted(str(v) for v in found)
    if control not in found:
        raise DataError(f"control {control!r} is not among the variants found {found}")
    return [control, *[v for v in found if v != control]]


# ------------------------------------------------------------------------------------ curve


@dataclass(frozen=True, slots=True)
class RetentionCurve:
    """DayN retention for N = 0..max_day per variant, and the lift at each day.

    ``result`` is the underlying :class:`~abkit.results.ExperimentResult` (one metric per day).
    """

    result: ExperimentResult
    max_day: int

    def to_pandas(self) -> pd.DataFrame:
        """Columns: day, variant, n, retention, ci_lower, ci_upper (Wilson), immature."""
        import pandas as pd

        from abkit.stats.proportions import wilson_interval

        rows = []
        for a in self.result.arms:
            if a.segment is not None:
                continue
            day = int(a.metric.split("_d")[1].split("_")[0])
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
        df.insert(0, "day", [int(m.split("_d")[1].split("_")[0]) for m in df.metric])
        return df.sort_values(["variant", "day"], kind="stable").reset_index(drop=True)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Retention curves with their bands, one line per variant."""
        from abkit.plot import retention_curve as _plot

        return _plot(self, ax=ax)

    def plot_lift(self, ax: Axes | None = None) -> Axes:
        """Absolute lift (pp) per day with its confidence interval."""
        from abkit.plot import curve_lift

        return curve_lift(self, ax=ax)


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
    from abkit.analysis import Experiment

    if isinstance(max_day, bool) or not isinstance(max_day, int) or not 0 <= max_day <= 365:
        raise SpecError(f"max_day must be an integer in 0..365, got {max_day!r}")
    metrics = [Retention(day=d, event=event, tz=calendar_tz) for d in range(max_day + 1)]
    res = Experiment(metrics=metrics, control=control, **options).analyze(
        exposures=exposures, events=events, as_of=as_of, con=con
    )
    return RetentionCurve(res, max_day)


# ------------------------------------------------------------------------------------ cohorts


@dataclass(frozen=True, slots=True)
class CohortTable:
    """Retention per exposure cohort (date or week of first exposure) × day N × variant."""

    result: ExperimentResult
    period: str
    days: tuple[int, ...]

    def to_pandas(self) -> pd.DataFrame:
        """Long form: cohort, day, variant, n (mature units), retention, immature."""
        import pandas as pd

        rows = []
        for a in self.result.arms:
            if a.segment != "cohort":
                continue
            day = int(a.metric.split("_d")[1].split("_")[0])
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
        from abkit.plot import cohort_heatmap

        return cohort_heatmap(self, variant or self.result.control, ax=ax)


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
    import ibis

    from abkit._duckdb_udf import utc_to_local
    from abkit.analysis import Experiment

    if period not in ("day", "week"):
        raise SpecError(f"period must be 'day' or 'week', got {period!r}")
    con, exp, ev = _standard_tables(exposures, events, columns=columns, tz=tz, con=con)
    local = utc_to_local(ibis.literal(cohort_tz), exp.exposed_at)
    start = local.truncate("D") if period == "day" else local.truncate("W")
    exp = exp.mutate(cohort=start.date().cast("string"))
    metrics = [Retention(day=int(d)) for d in days]
    res = Experiment(metrics=metrics, control=control, segments=["cohort"], **options).analyze(
        exposures=exp, events=ev, as_of=as_of, con=con
    )
    return CohortTable(res, period, tuple(int(d) for d in days))


# ------------------------------------------------------------------------------------ churn


@dataclass(frozen=True, slots=True)
class ChurnResult:
    """Time to churn per variant: KM curves, log-rank test, RMST difference up to ``tau``.

    Churn at day ``c``: the unit is inactive on days ``c .. c+K-1`` (K = ``inactive_days``), the
    first such run after exposure; its time is ``c`` (days retained). A unit without such a run is
    censored at the last ``c`` that could have been observed by ``as_of``; everything is
    restricted to ``tau``.
    """

    control: str
    variants: tuple[str, ...]
    inactive_days: int
    tau: int
    as_of: datetime
    curves: dict[str, KMCurve]
    logrank: LogRankResult
    rmst: dict[str, RMSTComparison]
    counts: pd.DataFrame
    immature: int = 0

    def to_pandas(self) -> pd.DataFrame:
        """KM curves in long form: variant, day, survival, ci_lower, ci_upper, at_risk, churned."""
        import pandas as pd

        rows = []
        for v, c in self.curves.items():
            rows.append(
                {
                    "variant": v,
                    "day": 0.0,
                    "survival": 1.0,
                    "ci_lower": 1.0,
                    "ci_upper": 1.0,
                    "at_risk": c.n,
                    "churned": 0,
                }
            )
            for i, t in enumerate(c.times):
                rows.append(
                    {
                        "variant": v,
                        "day": t,
                        "survival": c.survival[i],
                        "ci_lower": c.ci_lower[i],
                        "ci_upper": c.ci_upper[i],
                        "at_risk": c.at_risk[i],
                        "churned": c.events[i],
                    }
                )
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """One row per treatment: RMST per arm, the difference ("extra retained days"), CI, p."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "variant": v,
                    "tau": r.tau,
                    "rmst_control": r.rmst_control,
                    "rmst_treatment": r.rmst_treatment,
                    "extra_days": r.difference,
                    "ci_lower": r.ci_lower,
                    "ci_upper": r.ci_upper,
                    "pvalue": r.pvalue,
                    "logrank_pvalue": self.logrank.pvalue,
                }
                for v, r in self.rmst.items()
            ]
        )

    @property
    def definition(self) -> str:
        k = self.inactive_days
        return (
            f"churn = the first day c after exposure that starts {k} consecutive inactive days "
            f"(days c..c+{k - 1} with no event); time = c days retained; units without such a "
            f"run are censored at the last day that as_of lets us check; restricted to tau = "
            f"{self.tau} days; units with fewer than {k} whole days observed are excluded as "
            f"immature ({self.immature:,})"
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Kaplan–Meier curves with their bands."""
        from abkit.plot import km_curves

        return km_curves(self, ax=ax)


def churn_survival(
    exposures: Any,
    events: Any,
    *,
    inactive_days: int = 7,
    tau: int = 30,
    control: str = "control",
    event: str | Sequence[str] | None = None,
    as_of: datetime | str | None = None,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    con: Any = None,
) -> ChurnResult:
    """Time until ``inactive_days`` consecutive inactive days, per variant (see :class:`ChurnResult`).

    The per-unit churn day is found in the engine with one window function over distinct active
    days; only ``(variant, time, churned, units)`` counts come back.
    """
    import ibis

    from abkit.aggregate import DAY_US
    from abkit.stats.survival import compare_rmst, kaplan_meier, logrank

    for name, v in (("inactive_days", inactive_days), ("tau", tau)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SpecError(f"{name} must be a positive whole number of days, got {v!r}")
    p = _prepare(exposures, events, as_of=as_of, columns=columns, tz=tz, con=con)
    k, horizon = inactive_days, tau + inactive_days
    as_lit = ibis.literal(p.as_of)
    units = p.units.mutate(
        _h=ibis.least(
            (as_lit.delta(p.units.t0, unit="microsecond") // DAY_US).cast("int64"), horizon
        )
    )
    ev = p.events
    if event is not None:
        names = [event] if isinstance(event, str) else list(event)
        if "event" not in ev.columns:
            raise SpecError("event= needs an 'event' column in the events table")
        ev = ev.filter(ev.event.isin(names))
    j = ev.select("unit_id", "ts").join(units.select("unit_id", "t0", "_h"), "unit_id")
    j = j.filter(j.ts >= j.t0).mutate(_day=_day_index(j.ts, j.t0))
    active = j.filter(j._day < j._h).select("unit_id", "_day").distinct()
    # a sentinel row at day h closes the trailing run of inactive days
    sentinel = units.select("unit_id", _day=units._h)
    days = active.union(sentinel, distinct=False)
    w = ibis.window(group_by="unit_id", order_by="_day")
    days = days.mutate(_prev=days._day.lag().over(w).fill_null(-1))
    days = days.mutate(_c=ibis.ifelse(days._day - days._prev - 1 >= k, days._prev + 1, ibis.null()))
    churn = days.group_by("unit_id").aggregate(_c=days._c.min())
    u = units.left_join(churn, "unit_id")
    # fewer than K whole days observed: no run of K inactive days can be checked yet, so the
    # unit carries no information about churn — it is immature, not "survived day 0"
    n_immature = int(u.filter(u._h < k).count().execute())
    u = u.filter(u._h >= k)
    churned = u._c.notnull() & (u._c <= tau)
    time = ibis.ifelse(churned, u._c, ibis.least(ibis.greatest(u._h - k, 0), tau))
    u = u.mutate(time=time.cast("int64"), churned=churned.cast("int64"))
    counts = u.group_by(["variant", "time", "churned"]).aggregate(units=u.count()).execute()
    if counts.empty:
        raise DataError("no analysable units: check exposures and as_of")
    counts["variant"] = counts["variant"].astype(str)
    variants = _order_variants(counts.variant.unique().tolist(), control)
    arms = {
        v: (g.time.to_numpy(), g.churned.to_numpy(), g.units.to_numpy())
        for v, g in counts.groupby("variant")
    }
    curves = {v: kaplan_meier(*arms[v], alpha=alpha) for v in variants}
    lr = logrank(counts.time, counts.churned, counts.variant, counts.units)
    rm = {
        v: compare_rmst(arms[control], arms[v], tau=tau, alpha=alpha, alternative=alternative)
        for v in variants[1:]
    }
    counts = counts.sort_values(["variant", "time", "churned"]).reset_index(drop=True)
    return ChurnResult(
        control, tuple(variants), k, tau, p.as_of, curves, lr, rm, counts, n_immature
    )


# ------------------------------------------------------------------------------------ funnel


@dataclass(frozen=True, slots=True)
class FunnelResult:
    """Ordered funnel per variant: units reaching each step, conversion and step-to-step rates."""

    steps: tuple[str, ...]
    window_days: int
    control: str
    variants: tuple[str, ...]
    table: pd.DataFrame  # variant, step, reached, n (mature units)
    comparisons: (
        pd.DataFrame
    )  # step, variant, kind (overall|step), control/treatment rates, lift, CI, p

    def to_pandas(self) -> pd.DataFrame:
        return self.comparisons

    @property
    def definition(self) -> str:
        return (
            f"step k is reached when an event named steps[k] happens at or after the time step "
            f"k-1 was reached (step 1: at or after first exposure), within {self.window_days} "
            f"days (t0 <= ts < t0 + {24 * self.window_days}h); units count once as_of >= t0 + "
            f"{24 * self.window_days}h. 'overall' = reached / units; 'step' = reached / reached "
            "the previous step"
        )


def funnel(
    exposures: Any,
    events: Any,
    steps: Sequence[str],
    *,
    window_days: int = 7,
    control: str = "control",
    as_of: datetime | str | None = None,
    alpha: float = 0.05,
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    con: Any = None,
) -> FunnelResult:
    """Ordered funnel within ``window_days`` of first exposure, with a test at every step."""
    import ibis
    import pandas as pd

    from abkit.aggregate import DAY_US
    from abkit.stats import compare_proportions

    steps = tuple(steps)
    if len(steps) < 1 or not all(isinstance(s, str) and s for s in steps):
        raise SpecError(f"steps must be a non-empty list of event names, got {steps!r}")
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise SpecError(f"window_days must be a positive whole number, got {window_days!r}")
    p = _prepare(exposures, events, as_of=as_of, columns=columns, tz=tz, con=con)
    if "event" not in p.events.columns:
        raise DataError("a funnel needs an 'event' column (event names) in the events table")
    as_lit = ibis.literal(p.as_of)
    units = p.units.filter(as_lit.delta(p.units.t0, unit="microsecond") >= window_days * DAY_US)
    ev = p.events.filter(p.events.event.isin(list(steps))).select("unit_id", "ts", "event")
    ev = ev.join(units.select("unit_id", "t0"), "unit_id")
    ev = ev.filter(
        (ev.ts >= ev.t0) & (ev.ts.delta(ev.t0, unit="microsecond") < window_days * DAY_US)
    )
    reached = units.select("unit_id", "variant", _r0=units.t0)
    for i, step in enumerate(steps, start=1):
        prev = reached.select("unit_id", _prev=reached[f"_r{i - 1}"])
        cand = ev.filter(ev.event == step).join(prev, "unit_id")
        # a step repeated right after itself needs a later event, not the same one again
        later = cand.ts > cand._prev if i >= 2 and steps[i - 2] == step else cand.ts >= cand._prev
        cand = cand.filter(later)
        first = cand.group_by("unit_id").aggregate(**{f"_r{i}": cand.ts.min()})
        reached = reached.left_join(first, "unit_id").drop("unit_id_right")
    aggs = {"n": reached.count()}
    for i in range(1, len(steps) + 1):
        aggs[f"s{i}"] = reached[f"_r{i}"].notnull().cast("int64").sum()
    table = reached.group_by("variant").aggregate(**aggs).execute()
    if table.empty:
        raise DataError(f"no units have a complete {window_days}-day window by as_of")
    table["variant"] = table["variant"].astype(str)
    variants = _order_variants(table.variant.tolist(), control)
    t = table.set_index("variant")
    long_rows, comp_rows = [], []
    for v in variants:
        for i, step in enumerate(steps, start=1):
            long_rows.append(
                {
                    "variant": v,
                    "step": step,
                    "reached": int(t.loc[v, f"s{i}"]),
                    "n": int(t.loc[v, "n"]),
                }
            )
    for i, step in enumerate(steps, start=1):
        for v in variants[1:]:
            for kind in ("overall", "step"):
                den = "n" if (kind == "overall" or i == 1) else f"s{i - 1}"
                nc, nt = int(t.loc[control, den]), int(t.loc[v, den])
                xc, xt = int(t.loc[control, f"s{i}"]), int(t.loc[v, f"s{i}"])
                if nc == 0 or nt == 0:
                    continue
                c = compare_proportions(xc, nc, xt, nt, alpha=alpha)
                comp_rows.append(
                    {
                        "step": step,
                        "step_index": i,
                        "kind": kind,
                        "variant": v,
                        "control_value": c.control_value,
                        "treatment_value": c.treatment_value,
                        "abs_lift": c.abs_lift,
                        "abs_lift_ci_lower": c.abs_lift_ci_lower,
                        "abs_lift_ci_upper": c.abs_lift_ci_upper,
                        "rel_lift": c.rel_lift,
                        "pvalue": c.pvalue,
                        "n_control": nc,
                        "n_treatment": nt,
                        "note": c.note,
                    }
                )
    return FunnelResult(
        steps,
        window_days,
        control,
        tuple(variants),
        pd.DataFrame(long_rows),
        pd.DataFrame(comp_rows),
    )


# ------------------------------------------------------------------------------------ drivers


@dataclass(frozen=True, slots=True)
class RetentionDrivers:
    """Early behaviours ranked by their association with later retention (not causal)."""

    target: str
    within_days: int
    arm: str | None
    table: pd.DataFrame
    label: str = CORRELATION_LABEL

    def to_pandas(self) -> pd.DataFrame:
        return self.table

    def power_for_top(
        self, n: int = 3, *, share_of_gap: float = 0.5, alpha: float = 0.05, power: float = 0.8
    ) -> pd.DataFrame:
        """Units per arm to detect ``share_of_gap`` × the observed gap for the top candidates.

        The hypothesis handed to the next experiment: "a treatment that makes more units do X
        raises retention by part of the doers' advantage". Sample sizes from
        :func:`abkit.stats.power.sample_size_proportions`.
        """
        import pandas as pd

        from abkit.stats.power import sample_size_proportions

        rows = []
        for r in self.table.head(n).itertuples():
            mde = share_of_gap * (r.retention_doers - r.retention_others)
            if mde <= 0 or r.retention_others <= 0:
                continue
            res = sample_size_proportions(
                baseline=r.overall_retention, mde=mde, relative=False, alpha=alpha, power=power
            )
            rows.append(
                {
                    "behaviour": r.behaviour,
                    "baseline": r.overall_retention,
                    "mde_abs": mde,
                    "n_per_arm": int(res.nobs_control),
                }
            )
        return pd.DataFrame(rows)


def retention_drivers(
    exposures: Any,
    events: Any,
    *,
    target: Retention | int = 7,
    within_days: int = 1,
    candidates: Sequence[str] | None = None,
    arm: str | None = "control",
    top_events: int = 20,
    as_of: datetime | str | None = None,
    alpha: float = 0.05,
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    con: Any = None,
) -> RetentionDrivers:
    """Rank early behaviours ("did event X within the first ``within_days`` days") by how much
    more often the units who did them are retained on the ``target`` (default Day-7).

    Computed within one arm (default control, so the treatment does not confound it), on units
    mature for the target. Differences come with Wald intervals and Benjamini–Hochberg adjusted
    p-values across candidates. Correlation, not causation: see ``RetentionDrivers.label``.
    """
    import ibis
    import pandas as pd

    from abkit.aggregate import DAY_US
    from abkit.stats import compare_proportions
    from abkit.stats.multiple import adjust_pvalues

    tgt = target if isinstance(target, Retention) else Retention(day=int(target))
    if tgt.tz is not None:
        raise SpecError("retention_drivers uses rolling-day targets; drop tz= from the target")
    a, b = tgt.window
    if (
        isinstance(within_days, bool)
        or not isinstance(within_days, int)
        or not 1 <= within_days <= a
    ):
        raise SpecError(
            f"within_days must be 1..{a} so the behaviour is observed before the target window "
            f"starts (day {a}); got {within_days!r}"
        )
    p = _prepare(exposures, events, as_of=as_of, columns=columns, tz=tz, con=con)
    if "event" not in p.events.columns:
        raise DataError("retention drivers need an 'event' column (event names)")
    as_lit = ibis.literal(p.as_of)
    units = p.units
    if arm is not None:
        units = units.filter(units.variant == arm)
    units = units.filter(as_lit.delta(units.t0, unit="microsecond") >= (b + 1) * DAY_US)
    j = p.events.select("unit_id", "ts", "event").join(units.select("unit_id", "t0"), "unit_id")
    j = j.filter((j.ts >= j.t0) & (j.ts <= as_lit)).mutate(_day=_day_index(j.ts, j.t0))
    early = j.filter(j._day < within_days)
    if candidates is None:
        top = early.group_by("event").aggregate(n=early.unit_id.nunique())
        candidates = top.order_by(ibis.desc("n")).limit(top_events).execute()["event"].tolist()
    candidates = [str(c) for c in candidates]
    if not candidates:
        raise DataError("no events in the early window to rank")
    target_flag = tgt.in_window(j._day, j.event if tgt.event else None)
    per_unit = j.group_by("unit_id").aggregate(
        _ret=target_flag.any().cast("int64"),
        **{
            f"_x{i}": ((j._day < within_days) & (j.event == c)).any().cast("int64")
            for i, c in enumerate(candidates)
        },
    )
    u = units.left_join(per_unit, "unit_id")
    aggs: dict[str, Any] = {"n": u.count(), "ret": u._ret.fill_null(0).sum()}
    for i in range(len(candidates)):
        x = u[f"_x{i}"].fill_null(0)
        aggs[f"d{i}"] = x.sum()
        aggs[f"rd{i}"] = (x * u._ret.fill_null(0)).sum()
    s = u.aggregate(**aggs).execute().iloc[0]
    n, ret = int(s["n"]), int(s["ret"])
    if n == 0:
        raise DataError(f"no units in arm {arm!r} are mature for {tgt.name} by as_of")
    rows = []
    for i, c in enumerate(candidates):
        doers, ret_doers = int(s[f"d{i}"]), int(s[f"rd{i}"])
        others, ret_others = n - doers, ret - ret_doers
        if doers == 0 or others == 0:
            continue
        cmp = compare_proportions(ret_others, others, ret_doers, doers, alpha=alpha)
        rows.append(
            {
                "behaviour": f"did '{c}' in days 0-{within_days - 1}",
                "event": c,
                "share_doing": doers / n,
                "retention_doers": cmp.treatment_value,
                "retention_others": cmp.control_value,
                "difference": cmp.abs_lift,
                "ci_lower": cmp.abs_lift_ci_lower,
                "ci_upper": cmp.abs_lift_ci_upper,
                "pvalue": cmp.pvalue,
                "overall_retention": ret / n,
                "units": n,
            }
        )
    table = pd.DataFrame(rows)
    if not table.empty:
        ok = table.pvalue.notna()
        table["pvalue_bh"] = math.nan
        if ok.any():
            adj = adjust_pvalues(table.loc[ok, "pvalue"].tolist(), method="fdr_bh")
            table.loc[ok, "pvalue_bh"] = list(adj.adjusted)
        table = table.sort_values("difference", ascending=False, kind="stable").reset_index(
            drop=True
        )
    return RetentionDrivers(tgt.name, within_days, arm, table)
