"""Novelty and primacy: does the treatment's lift change with the days since exposure?

Two estimators, both computed from small aggregates that the engine returns:

* **Per-day trend.** For each day ``d = 1..D`` after first exposure, the daily metric ``x_ud``
  (1 if unit ``u`` is active on day ``d``, or its number of events that day) is averaged per arm
  over the units observed for all ``D`` days (a balanced panel: a unit enters only once
  ``as_of >= t0 + (D+1)·24h``; the others are counted as immature). The lift of each day
  (relative ``μ_td / μ_cd − 1`` by default, or absolute ``μ_td − μ_cd``) is regressed on ``d`` by
  weighted least squares with weights ``1 / Var(lift_d)``. The lifts of different days share
  units, so their covariance is not diagonal: per arm, ``Cov(μ_d, μ_d') = (S_dd'/n − μ_d μ_d')/n``
  with ``S_dd' = Σ_u x_ud x_ud'`` (summed in the engine by a self-join of each unit's active days),
  the relative lifts by the delta method. The slope's variance ``cᵀVc`` (``c`` the WLS contrast,
  weights held fixed) is then exactly the cluster-robust (HC0, clustered on units) variance of a
  regression on the per-unit-day rows.
* **Calendar-matched cohorts** (Sadeghi et al. 2021, *Novelty and Primacy: A Long-Term Estimator
  for Online Experiments*). Units first exposed in the first ``cohort_days`` days ("early") and
  in the next ``cohort_days`` days ("late") are compared on the same calendar windows: ``C``
  consecutive 24-hour windows that start one day after the last late exposure could be made.
  On those windows the early units have been exposed about ``cohort_days`` longer, so
  ``lift_early − lift_late`` measures the change of the lift with exposure age free of calendar
  effects (weekday, season, a launch) that the per-day trend cannot separate from it. Each
  unit's mean of ``x`` over the windows is one number, so its variance is a plain two-sample one.

The flag ("lift fading" / "lift growing") fires when the slope differs from 0 at level ``alpha``:
fading when the lift moves toward (or past) zero on later days, growing when it moves away.

Example:
    >>> import abkit as ab
    >>> sim = ab.simulate.retention_experiment(n_units=2_000, seed=1)
    >>> res = ab.retention.novelty(sim.exposures, sim.events, days=7)
    >>> res.trends["treatment"].days
    (1, 2, 3, 4, 5, 6, 7)
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from abkit import plot
from abkit._display import SEVERITY_COLORS, arm_sizes, clip, fmt_when, more_lines, tone_attrs
from abkit._duckdb_udf import micros_between
from abkit._format import fmt_p, p_clause
from abkit.engine import execute
from abkit.errors import DataError, SpecError
from abkit.query import DAY_US, day_index, exact_sum
from abkit.query.units_table import bit_count
from abkit.retention._novelty_sums import cross_products, cross_products_days, per_unit_day
from abkit.retention._units import (
    event_names,
    order_variants,
    positive_days,
    require_activity_events,
    shared_or_prepare,
)
from abkit.stats._common import check_alpha, crit_z, pvalue_z

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    from matplotlib.axes import Axes

    from abkit.retention._units import Prepared

__all__ = ["NOVELTY_CAVEAT", "CohortDiD", "NoveltyResult", "NoveltyTrend", "lift_trend", "novelty"]

NOVELTY_CAVEAT = (
    "A fading or growing lift is a pattern over the days since exposure, not proof of a novelty "
    "or primacy effect: the trend is fitted over the first days only and says little about the "
    "days after them; the per-day trend counts only units observed on every one of those days "
    "and mixes exposure age with calendar time, which the early-vs-late cohort comparison on the "
    "same calendar days removes. Trust the flag more when both point the same way, and read "
    "the long-run effect as smaller (fading) or larger (growing) than the average over the test."
)

#: metric -> what x_ud is, for the definition line
METRICS = {"active": "active on day d (0/1)", "events": "number of events on day d"}


@dataclass(frozen=True, slots=True)
class CohortDiD:
    """Lift of the early cohort minus that of the late cohort on the same calendar windows."""

    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    pvalue: float | None
    #: mean exposure age (days) of early minus late units over the windows
    age_gap: float
    windows: int
    windows_start: datetime
    n_early: int
    n_late: int
    lift_early: float
    lift_late: float

    @property
    def per_day(self) -> float:
        """The difference per day of exposure age: comparable with the trend's slope."""
        return self.estimate / self.age_gap if self.age_gap > 0 else math.nan


@dataclass(frozen=True, slots=True)
class NoveltyTrend:
    """Per-day lifts of one treatment and their weighted linear trend over the day index."""

    variant: str
    days: tuple[int, ...]
    control_means: tuple[float, ...]
    treatment_means: tuple[float, ...]
    lifts: tuple[float, ...]
    lift_se: tuple[float, ...]
    #: the lift at the weighted mean day (``center``) and the change of the lift per day
    level: float
    slope: float
    #: covariance of (level, slope), cluster-robust over units
    cov: tuple[tuple[float, float], tuple[float, float]]
    center: float
    pvalue: float | None
    level_pvalue: float | None
    alpha: float
    flag: str
    did: CohortDiD | None = None
    note: str | None = None

    @property
    def slope_se(self) -> float:
        return math.sqrt(self.cov[1][1])

    @property
    def slope_ci(self) -> tuple[float, float]:
        h = crit_z(self.alpha, "two-sided") * self.slope_se
        return self.slope - h, self.slope + h

    def fitted(self, day: float) -> tuple[float, float, float]:
        """The trend line at ``day``: estimate and its pointwise interval."""
        x = day - self.center
        var = self.cov[0][0] + 2 * x * self.cov[0][1] + x * x * self.cov[1][1]
        est, h = self.level + x * self.slope, crit_z(self.alpha, "two-sided") * math.sqrt(var)
        return est, est - h, est + h


# ----------------------------------------------------------------------------- pure statistics


def arm_moments(n: float, s1: Any, s2: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-day means of one arm and their covariance across days (HC0, clustered on units).

    ``s1[d] = Σ_u x_ud`` and ``s2[d, d'] = Σ_u x_ud x_ud'`` over the arm's ``n`` units.
    """
    mean = np.asarray(s1, dtype=float) / n
    cov = (np.asarray(s2, dtype=float) / n - np.outer(mean, mean)) / n
    return mean, cov


def daily_lifts(
    control: tuple[np.ndarray, np.ndarray], treatment: tuple[np.ndarray, np.ndarray], scale: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per-day lifts (relative or absolute) and their covariance from two arms' moments."""
    (mc, cc), (mt, ct) = control, treatment
    if scale == "absolute":
        return mt - mc, cc + ct
    with np.errstate(divide="ignore", invalid="ignore"):
        jt, jc = 1.0 / mc, -mt / mc**2
        return mt / mc - 1.0, jt[:, None] * ct * jt[None, :] + jc[:, None] * cc * jc[None, :]


def lift_trend(
    days: Any, lifts: Any, cov: Any, *, weights: str = "inverse-variance"
) -> tuple[float, float, np.ndarray, float]:
    """Weighted least-squares line through the per-day lifts, with a sandwich covariance.

    Returns ``(level, slope, cov, center)``: the fitted lift at the weighted mean day
    ``center``, the change per day, and the covariance ``[a c]ᵀ V [a c]`` of the two, where
    ``a`` and ``c`` are the WLS contrasts (the weights are held fixed) and ``V`` the covariance
    of the lifts across days.

    Example:
        >>> level, slope, cov, center = lift_trend([1, 2, 3], [0.3, 0.2, 0.1], 0.01 * np.eye(3))
        >>> round(level, 6), round(slope, 6), center, round(float(cov[1, 1]), 6)
        (0.2, -0.1, 2.0, 0.005)
    """
    d, y, v = np.asarray(days, dtype=float), np.asarray(lifts, dtype=float), np.asarray(cov)
    w = 1.0 / np.diag(v) if weights == "inverse-variance" else np.ones_like(d)
    center = float(w @ d / w.sum())
    dev = d - center
    a, c = w / w.sum(), w * dev / float(w @ dev**2)
    contrasts = np.column_stack([a, c])
    return float(a @ y), float(c @ y), contrasts.T @ v @ contrasts, center


def trend_flag(level: float, slope: float, pvalue: float | None, alpha: float) -> str:
    """``lift fading`` / ``lift growing`` when the slope is significant, else no trend."""
    if pvalue is None:
        return "no test"
    if pvalue >= alpha:
        return "no trend detected"
    toward_zero = slope * (1.0 if level >= 0 else -1.0) < 0
    return "lift fading" if toward_zero else "lift growing"


# ----------------------------------------------------------------------------- the result


@dataclass(frozen=True, slots=True)
class NoveltyResult:
    """Per-day lifts, their trend and the calendar-matched cohort comparison, per treatment."""

    control: str
    variants: tuple[str, ...]
    metric: str
    scale: str
    max_day: int
    as_of: datetime
    alpha: float
    #: mature units per variant (the balanced panel of the per-day trend)
    n: dict[str, int]
    immature: int
    trends: dict[str, NoveltyTrend]
    cohort_days: int
    #: why there is no cohort comparison, else None
    did_note: str | None = None
    caveat: str = NOVELTY_CAVEAT

    @property
    def flags(self) -> dict[str, str]:
        """Treatment -> ``lift fading`` / ``lift growing`` / ``no trend detected`` / ``no test``."""
        return {v: t.flag for v, t in self.trends.items()}

    @property
    def definition(self) -> str:
        lift = "relative lift μ_t/μ_c − 1" if self.scale == "relative" else "absolute lift"
        return (
            f"x_ud = {METRICS[self.metric]} (day d = [t0 + d·24h, t0 + (d+1)·24h)); per day "
            f"d = 1..{self.max_day} the {lift} of the mean of x over units observed on all "
            f"{self.max_day} days ({self.immature:,} immature units left out); slope: WLS of the "
            "lift on d, weights 1/Var, variance clustered on units; cohorts: units exposed in "
            f"the first {self.cohort_days} days vs the next {self.cohort_days}, on the same "
            "calendar windows"
        )

    def to_pandas(self) -> pd.DataFrame:
        """One row per (treatment, day): arm means, lift, its interval, the fitted trend."""
        import pandas as pd

        z, rows = crit_z(self.alpha, "two-sided"), []
        for v, t in self.trends.items():
            for d, c, tr, lift, se in zip(
                t.days, t.control_means, t.treatment_means, t.lifts, t.lift_se, strict=True
            ):
                fit = t.fitted(d) if t.pvalue is not None else (math.nan,) * 3
                rows.append((v, d, c, tr, lift, se, lift - z * se, lift + z * se, *fit))
        names = "variant day control treatment lift se ci_lower ci_upper fit fit_ci_lower"
        return pd.DataFrame(rows, columns=[*names.split(), "fit_ci_upper"])

    def summary(self) -> pd.DataFrame:
        """One row per treatment: average lift, slope per day, cohort difference, the flag."""
        import pandas as pd

        rows = []
        for v, t in self.trends.items():
            lo, hi = t.slope_ci if t.pvalue is not None else (math.nan, math.nan)
            d = t.did
            did: tuple[float, float, float, float | None, float] = (math.nan,) * 3 + (
                None,
                math.nan,
            )
            if d is not None:
                did = (d.estimate, d.ci_lower, d.ci_upper, d.pvalue, d.per_day)
            rows.append((v, self.scale, t.level, t.level_pvalue, t.slope, lo, hi, t.pvalue, *did))
        names = "variant scale level level_pvalue slope slope_ci_lower slope_ci_upper pvalue did"
        names += " did_ci_lower did_ci_upper did_pvalue did_per_day"
        df = pd.DataFrame(rows, columns=names.split())
        return df.assign(flag=[t.flag for t in self.trends.values()])

    def _fmt(self, x: float, per_day: bool = False) -> str:
        """A lift (``+8.3%``, ``+1.2 pp``) or its change per day (``-0.52 pp/day``)."""
        if self.scale == "relative" or self.metric == "active":
            pp = self.scale == "absolute" or per_day
            return f"{100 * x:+.3g}{' pp' if pp else '%'}{'/day' if per_day else ''}"
        return f"{x:+.3g}{'/day' if per_day else ''}"

    def _did_words(self, t: NoveltyTrend) -> str:
        d = t.did
        if d is None:
            return f"cohorts: {self.did_note or 'not computed'}"
        agree = ""
        if d.pvalue is not None and d.pvalue < self.alpha:
            fading = d.estimate * (1.0 if t.level >= 0 else -1.0) < 0
            agree = " (fading)" if fading else " (growing)"
        f = self._fmt
        return (
            f"early − late cohort {f(d.estimate)} [{f(d.ci_lower)}, {f(d.ci_upper)}] "
            f"({_p(d.pvalue)}){agree}, {d.age_gap:.3g} days apart in exposure age"
        )

    def __repr__(self) -> str:
        sizes = arm_sizes(self.variants, [self.n.get(v, 0) for v in self.variants])
        head = (
            f"<NoveltyResult as of {fmt_when(self.as_of)}: {self.scale} lift of {self.metric} "
            f"on days 1..{self.max_day}; {sizes}>"
        )
        f = self._fmt
        lines = [
            f"  {v}: {t.flag}; lift {f(t.level)} at day {t.center:.3g}, change "
            f"{f(t.slope, True)} [{f(t.slope_ci[0], True)}, {f(t.slope_ci[1], True)}] "
            f"({_p(t.pvalue)}); {self._did_words(t)}"
            if t.pvalue is not None
            else f"  {v}: no test: {t.note}"
            for v, t in self.trends.items()
        ]
        return "\n".join([head, *more_lines(lines, width=240)])

    def _repr_html_(self) -> str:
        """The flag per treatment, coloured inline (green: the later days look better than the
        average, red: worse), with the slope, the cohort difference and the caveat."""
        e, f = html.escape, self._fmt
        body = []
        for v, t in self.trends.items():
            if t.pvalue is None:
                body.append(
                    f"<tr><td>{e(v)}</td><td colspan='4'>no test: {e(t.note or '')}</td></tr>"
                )
                continue
            lo, hi = t.slope_ci
            style = tone_attrs(f"significantly {'higher' if t.slope > 0 else 'lower'}")
            if t.flag == "no trend detected":
                style = tone_attrs(t.flag)
            body.append(
                f"<tr><td>{e(v)}</td><td>{e(f(t.level))}</td><td>{e(f(t.slope, True))} "
                f"[{e(f(lo, True))}, {e(f(hi, True))}] ({e(fmt_p(t.pvalue))})</td>"
                f"<td>{e(self._did_words(t))}</td>"
                f"<td{style}>{e(t.flag)}</td></tr>"
            )
        warn = SEVERITY_COLORS["warning"]
        caveat = f"<p style='color:{warn}'>{e(self.caveat)}</p>"
        flagged = any(t.flag.startswith("lift ") for t in self.trends.values())
        return (
            f"<div class='abkit-novelty'><h4>Novelty / primacy: {e(self.scale)} lift of "
            f"{e(self.metric)}, days 1..{self.max_day}</h4><table><thead><tr><th>variant</th>"
            f"<th>average lift</th><th>change per day [CI] (p)</th><th>calendar-matched "
            f"cohorts</th><th>flag</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"{caveat if flagged else ''}<p><small>{int(100 * (1 - self.alpha))}% intervals. "
            f"{e(self.definition)}.</small></p></div>"
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Per-day lifts with their intervals and the fitted trend with its band."""
        return plot.novelty_trend(self, ax=ax)


def _p(p: float | None) -> str:
    return "p = –" if p is None else p_clause(p)


# ----------------------------------------------------------------------------- the queries


def novelty(
    exposures: Any,
    events: Any,
    *,
    days: int = 14,
    control: str = "control",
    metric: str = "active",
    scale: str = "relative",
    cohort_days: int = 7,
    event: str | Sequence[str] | None = None,
    as_of: datetime | str | None = None,
    alpha: float = 0.05,
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    con: Any = None,
    shared: Prepared | None = None,
) -> NoveltyResult:
    """Does the lift change with the days since exposure? (see :class:`NoveltyResult`).

    Args:
        exposures, events: the logs (any source the analysis accepts).
        days: ``D``, the last day of the per-day trend (days 1..D; day 0 is the exposure day).
        control: control variant.
        metric: ``"active"`` (active-day retention: active on day d) or ``"events"`` (events
            per unit on day d).
        scale: ``"relative"`` (default; a constant relative effect is a flat line even though
            retention itself decays) or ``"absolute"``.
        cohort_days: width of the early and the late exposure cohorts (7: a week each, so both
            have the same weekdays).
        event: event name(s) that count as activity (default: every event).
        as_of: cut-off (default: the last event).
        alpha: level of the test of the slope and of every interval.
        shared: the per-unit table a report shares (:func:`abkit.retention._units.share` of
            the same logs and ``as_of``, with ``calendar_windows`` of
            :mod:`abkit.retention._novelty_sums`): for ``metric="active"`` without ``event=``
            the sums are read from it instead of the events.

    What leaves the engine: per variant the numbers of mature and immature units; per
    (variant, d, d') the sums ``Σ_u x_ud x_ud'`` (and ``Σ_u x_ud``); per (cohort, variant) the
    count, sum and sum of squares of the units' window means — never a per-unit row.
    """
    import ibis

    positive_days(days=days, cohort_days=cohort_days)
    if days < 2:
        raise SpecError(f"days must be at least 2 to fit a trend over the days, got {days}")
    if metric not in METRICS:
        raise SpecError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    if scale not in ("relative", "absolute"):
        raise SpecError(f"scale must be 'relative' or 'absolute', got {scale!r}")
    check_alpha(alpha)
    p = shared_or_prepare(shared, exposures, events, as_of=as_of, columns=columns, tz=tz, con=con)
    require_activity_events(p, event, "novelty")
    ev = _qualifying(p.events, event)
    # the same units as p.units: the shared table's when there is one (no exposure scan)
    units = p.units if p.days is None else p.days.table
    from_days = p.days is not None and metric == "active" and event is None
    from_days = from_days and days <= p.days.last_day  # type: ignore[union-attr]
    observed = micros_between(str(p.con.name), units.t0, ibis.literal(p.as_of))
    mature = observed >= (days + 1) * DAY_US
    sizes = execute(
        units.group_by("variant").aggregate(
            n=mature.cast("int64").sum(),
            immature=(~mature).cast("int64").sum(),
            first=units.t0.min(),
        ),
        p.con,
    )
    if sizes.empty:
        raise DataError("no analysable units: check exposures and as_of")
    sizes["variant"] = sizes["variant"].astype(str)
    variants = order_variants(sizes.variant.tolist(), control)
    n = {str(r.variant): int(r.n) for r in sizes.itertuples()}
    if not any(n.values()):
        raise DataError(
            f"no unit is observed for all {days} days by as_of ({fmt_when(p.as_of)}); lower "
            "days= or wait for more data"
        )
    if from_days:
        sums = cross_products_days(units.filter(mature), days, p.con)
    else:
        sums = cross_products(units.filter(mature), ev, days, metric, p.con)
    did_groups, did_info, did_note = _cohort_sums(
        p, units, ev, days, cohort_days, metric, sizes["first"].min(), from_days
    )
    trends = {}
    for v in variants[1:]:
        trends[v] = _trend(v, control, n, sums, days, scale, alpha)
        if did_groups is not None and trends[v].pvalue is not None:
            did = _did(did_groups, did_info, control, v, scale, alpha)
            trends[v] = replace(trends[v], did=did)
    immature = int(sizes.immature.sum())
    return NoveltyResult(
        control, tuple(variants), metric, scale, days, p.as_of, alpha, n, immature, trends,
        cohort_days, did_note,
    )  # fmt: skip


def _qualifying(ev: ir.Table, event: str | Sequence[str] | None) -> ir.Table:
    names = event_names(event)
    if names is None:
        return ev.select("unit_id", "ts")
    if "event" not in ev.columns:
        raise SpecError("event= needs an 'event' column in the events table")
    return ev.filter(ev.event.isin(names)).select("unit_id", "ts")


def _matrices(sums: pd.DataFrame, variant: str, days: int) -> tuple[np.ndarray, np.ndarray]:
    s1, s2 = np.zeros(days), np.zeros((days, days))
    for r in sums[sums.variant == variant].itertuples():
        i, k = int(r.d1) - 1, int(r.d2) - 1
        s2[i, k] = s2[k, i] = float(r.s2)
        if i == k:
            s1[i] = float(r.s1)
    return s1, s2


def _trend(
    v: str,
    control: str,
    n: dict[str, int],
    sums: pd.DataFrame,
    days: int,
    scale: str,
    alpha: float,
) -> NoveltyTrend:
    day_list = np.arange(1, days + 1)
    if n.get(control, 0) == 0 or n.get(v, 0) == 0:
        return _untested(
            v,
            f"no unit of {clip(v if n.get(v, 0) == 0 else control, 30)} "
            f"is observed for all {days} days",
            alpha,
        )
    mc, mt = (arm_moments(n[a], *_matrices(sums, a, days)) for a in (control, v))
    lifts, cov = daily_lifts(mc, mt, scale)
    var = np.diag(cov)
    ok = np.isfinite(lifts) & np.isfinite(var) & (var > 0)
    if ok.sum() < 2:
        return _untested(v, "fewer than 2 days with a lift that has a variance", alpha)
    idx = np.flatnonzero(ok)
    level, slope, tcov, center = lift_trend(day_list[idx], lifts[idx], cov[np.ix_(idx, idx)])
    se, level_se = math.sqrt(tcov[1, 1]), math.sqrt(tcov[0, 0])
    pvalue = float(pvalue_z(slope / se, "two-sided")) if se > 0 else None
    level_p = float(pvalue_z(level / level_se, "two-sided")) if level_se > 0 else None
    dropped = days - idx.size
    return NoveltyTrend(
        variant=v,
        days=tuple(int(d) for d in day_list[idx]),
        control_means=tuple(float(x) for x in mc[0][idx]),
        treatment_means=tuple(float(x) for x in mt[0][idx]),
        lifts=tuple(float(x) for x in lifts[idx]),
        lift_se=tuple(float(math.sqrt(x)) for x in var[idx]),
        level=level,
        slope=slope,
        cov=((float(tcov[0, 0]), float(tcov[0, 1])), (float(tcov[1, 0]), float(tcov[1, 1]))),
        center=center,
        pvalue=pvalue,
        level_pvalue=level_p,
        alpha=alpha,
        flag=trend_flag(level, slope, pvalue, alpha),
        note=f"{dropped} day(s) without a defined lift left out" if dropped else None,
    )


def _untested(v: str, why: str, alpha: float) -> NoveltyTrend:
    nan, empty = math.nan, ()
    cov = ((nan, nan), (nan, nan))
    return NoveltyTrend(
        v, empty, empty, empty, empty, empty, nan, nan, cov, nan, None, None, alpha, "no test",
        note=why,
    )  # fmt: skip


def _cohort_sums(
    p: Prepared,
    units: ir.Table,
    ev: ir.Table,
    days: int,
    cohort_days: int,
    metric: str,
    first: Any,
    from_days: bool = False,
) -> tuple[pd.DataFrame | None, tuple[int, datetime], str | None]:
    """Per (cohort, variant): n, Σm, Σm² and the mean exposure age at the windows' start, over
    ``C`` calendar windows after both cohorts are exposed (``m``: the unit's mean of x over
    the windows). ``from_days``: the active windows are counted from the shared table's
    ``windows`` mask when it holds these windows."""
    import ibis
    import pandas as pd

    be = str(p.con.name)
    first_t0 = pd.Timestamp(first).to_pydatetime()
    start = first_t0 + timedelta(days=2 * cohort_days + 1)
    windows = min(days, int((p.as_of - start) / timedelta(days=1))) if p.as_of > start else 0
    if windows < 1:
        need = fmt_when(start + timedelta(days=1))
        return (
            None,
            (0, start),
            (
                f"not yet: the calendar windows start {fmt_when(start)}, one day after the late "
                f"cohort (exposed in days {cohort_days}..{2 * cohort_days} of the test), and need "
                f"as_of >= {need}"
            ),
        )
    first_lit, start_lit = ibis.literal(first_t0), ibis.literal(start)
    since = micros_between(be, first_lit, units.t0)
    u = units.filter(since < 2 * cohort_days * DAY_US)
    u = u.mutate(
        cohort=ibis.ifelse(since < cohort_days * DAY_US, "early", "late"),
        _age=micros_between(be, u.t0, start_lit).cast("float64") / DAY_US,
    )
    ud = p.days
    if from_days and ud is not None and ud.windows_start == start and ud.windows >= windows:
        # an event in window w sets bit w: the unit's active windows are the set bits
        m = u.mutate(_k=bit_count(u.windows & ((1 << windows) - 1)))
    else:
        u = u.select("unit_id", "variant", "cohort", "_age")
        j = ev.join(u.select("unit_id"), "unit_id")
        j = j.filter((j.ts >= start_lit) & (j.ts < ibis.literal(start + timedelta(days=windows))))
        j = j.mutate(_w=day_index(be, start_lit, j.ts))
        per_window = per_unit_day(j, metric, ["unit_id", "_w"])
        per_unit = per_window.group_by("unit_id").aggregate(_k=per_window._x.sum())
        m = u.left_join(per_unit, "unit_id")
        m = m.mutate(_k=m._k.fill_null(0))
    out = m.group_by(["cohort", "variant"]).aggregate(
        n=m.count(), s1=m._k.sum(), s2=(m._k * m._k).sum(), age=exact_sum(m._age)
    )
    # exact integer sums of k = windows × m, scaled here, and an exact sum of ages: the same
    # bytes in any row order
    df = execute(out, p.con)
    df = df.assign(
        variant=df.variant.astype(str),
        s1=df.s1 / windows,
        s2=df.s2 / windows**2,
        age=df.age / df.n,
    )
    return df, (windows, start), None


def _did(
    groups: pd.DataFrame,
    info: tuple[int, datetime],
    control: str,
    v: str,
    scale: str,
    alpha: float,
) -> CohortDiD | None:
    """Early-minus-late lift of ``v`` from the (cohort, variant) sums: each unit's window mean
    is one number, so each cohort's lift is that of two means (:func:`daily_lifts`, one day)."""
    cells: dict[tuple[str, str], Any] = {
        (str(r.cohort), str(r.variant)): r for r in groups.itertuples()
    }
    lift: dict[str, float] = {}
    var: dict[str, float] = {}
    size: dict[str, int] = {}
    age: dict[str, float] = {}
    for c in ("early", "late"):
        if any(cells.get((c, a)) is None or cells[(c, a)].n == 0 for a in (control, v)):
            return None
        arms = [cells[(c, a)] for a in (control, v)]
        mc, mt = (arm_moments(r.n, [r.s1], [[r.s2]]) for r in arms)
        lifts, cov = daily_lifts(mc, mt, scale)
        lift[c], var[c] = float(lifts[0]), float(cov[0, 0])
        size[c] = sum(int(r.n) for r in arms)
        age[c] = sum(float(r.age) * int(r.n) for r in arms) / size[c]
    est, se = lift["early"] - lift["late"], math.sqrt(var["early"] + var["late"])
    if not (math.isfinite(est) and se > 0):
        return None
    h, pvalue = crit_z(alpha, "two-sided") * se, float(pvalue_z(est / se, "two-sided"))
    return CohortDiD(
        est, se, est - h, est + h, pvalue, age["early"] - age["late"], *info, size["early"],
        size["late"], lift["early"], lift["late"],
    )  # fmt: skip
