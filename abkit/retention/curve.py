"""Retention curves (D0..DN with Wilson bands and the lift each day) and cohort triangles."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit import plot
from abkit._display import arm_sizes, clip, fmt_when, lift_line, more_lines, tone_attrs, trust_text
from abkit._duckdb_udf import TZ_BACKENDS, utc_to_local_for
from abkit._format import fmt_abs, fmt_rel, fmt_value
from abkit.analysis import Experiment
from abkit.analysis.finish import finish
from abkit.data import prepare_logs
from abkit.engine import execute
from abkit.errors import DataError, SpecError
from abkit.metrics import Retention
from abkit.quality import DataQuality, FindingsBuilder
from abkit.query.collect import collect_analysis
from abkit.query.exposures import label_segments
from abkit.query.plan import build_statistics
from abkit.query.units_table import statistics_inputs
from abkit.results import CORRECTIONS
from abkit.results.restrict import restrict
from abkit.stats.proportions import wilson_interval

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    from matplotlib.axes import Axes

    from abkit.results import ExperimentResult, MetricComparison
    from abkit.retention._units import Prepared

__all__ = [
    "CohortTable",
    "RetentionCurve",
    "cohort_table",
    "curve_and_cohorts",
    "retention_curve",
]


def _days_of(metrics: Sequence[Retention]) -> dict[str, int]:
    """Metric name → the day its Retention metric measures (from the metric, not its name)."""
    return {m.name: m.window[0] for m in metrics}


#: the days a curve's short repr and HTML table show (with its last day)
HEADLINE_DAYS = (1, 7, 14, 30)


def _head(kind: str, res: ExperimentResult, what: str) -> str:
    when = "" if res.as_of is None else f" as of {fmt_when(res.as_of)}"
    sizes = arm_sizes(res.srm.variants, res.srm.observed)
    return f"<{kind} {what}{when}: {sizes}; trust: {trust_text(res.data_quality)}>"


def _lines(
    res: ExperimentResult, comparisons: Sequence[MetricComparison], days: dict[str, int]
) -> list[str]:
    """One line per comparison: D<n> <variant>: treatment vs control, the lift, the decision."""
    return [
        lift_line(
            f"D{days[mc.metric]} {mc.variant}", mc.comparison, "proportion", mc.decision, True
        )
        for mc in comparisons
    ]


def _decided_by(res: ExperimentResult) -> str:
    if res.correction == "none":
        return "decisions on raw p-values"
    return f"decisions after the {CORRECTIONS[res.correction]} correction across the days"


def _lift_table(
    res: ExperimentResult, rows: Sequence[tuple[str, Sequence[MetricComparison]]]
) -> str:
    """An HTML table: one row per label, retention per variant, each treatment's lift and
    decision coloured inline by the decision (readable without a style sheet)."""
    e = html.escape
    treatments = [v for v in res.variants if v != res.control]
    head = "".join(f"<th>{e(v)}</th>" for v in res.variants)
    head += "".join(f"<th>lift {e(v)}</th><th>decision {e(v)}</th>" for v in treatments)
    body = []
    for label, comps in rows:
        by_variant = {mc.variant: mc for mc in comps}
        values = {res.control: next(iter(comps)).comparison.control_value} if comps else {}
        values |= {v: mc.comparison.treatment_value for v, mc in by_variant.items()}
        cells = "".join(f"<td>{fmt_value(values.get(v), 'proportion')}</td>" for v in res.variants)
        for v in treatments:
            mc = by_variant.get(v)
            if mc is None:
                cells += "<td></td><td></td>"
                continue
            c, style = mc.comparison, tone_attrs(mc.decision)
            cells += (
                f"<td{style}>{fmt_abs(c.abs_lift, 'proportion')} ({fmt_rel(c.rel_lift)})</td>"
                f"<td{style}>{e(mc.decision)}</td>"
            )
        body.append(f"<tr><td>{e(label)}</td>{cells}</tr>")
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


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

    def _headline(self) -> list[MetricComparison]:
        days = _days_of(self.metrics)
        shown = {d for d in days.values() if d in HEADLINE_DAYS or d == self.max_day}
        comps = [mc for mc in self.result.comparisons if days[mc.metric] in shown]
        return sorted(comps, key=lambda mc: days[mc.metric])

    def __repr__(self) -> str:
        days = _days_of(self.metrics)
        head = _head("RetentionCurve", self.result, f"D0..D{self.max_day}")
        return "\n".join([head, *more_lines(_lines(self.result, self._headline(), days))])

    def _repr_html_(self) -> str:
        """Retention per variant and the lift's decision on the headline days, coloured inline."""
        days, res = _days_of(self.metrics), self.result
        by_day: dict[int, list[MetricComparison]] = {}
        for mc in self._headline():
            by_day.setdefault(days[mc.metric], []).append(mc)
        table = _lift_table(res, [(f"D{d}", comps) for d, comps in by_day.items()])
        return (
            f"<div class='abkit-curve'><h4>Retention curve D0..D{self.max_day}</h4>{table}"
            f"<p><small>Headline days; every day: <code>.to_pandas()</code>, lifts: "
            f"<code>.lifts_to_pandas()</code>. {int(100 * (1 - res.alpha))}% level, "
            f"{_decided_by(res)}; green / red: significantly higher / lower, grey: not "
            "significant or untested.</small></p></div>"
        )

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

    def _what(self) -> str:
        cohorts = sorted({a.segment_value or "" for a in self.result.arms if a.segment == "cohort"})
        span = f" {cohorts[0]}..{cohorts[-1]}" if cohorts else ""
        days = ", ".join(f"D{d}" for d in self.days)
        period = {"day": "daily", "week": "weekly"}.get(self.period, self.period)
        return f"{days} × {len(cohorts)} {period} cohorts{span}"

    def __repr__(self) -> str:
        res = self.result
        lines = _lines(res, res.comparisons, _days_of(self.metrics))
        return "\n".join([_head("CohortTable", res, self._what()), *more_lines(lines)])

    def _repr_html_(self) -> str:
        """Retention per cohort × day × variant (blank where no unit is mature yet), then the
        overall lift of each day with its decision, coloured inline."""
        e, res = html.escape, self.result
        df = self.to_pandas()
        cells = {(r.cohort, r.day, r.variant): r for r in df.itertuples()}
        cols = [(d, v) for d in self.days for v in res.variants]
        head = "".join(f"<th>D{d} {e(v)}</th>" for d, v in cols)
        body = []
        for cohort in sorted(set(df.cohort)):
            row = "".join(
                f"<td>{'' if r is None or not r.n else fmt_value(r.retention, 'proportion')}</td>"
                for r in (cells.get((cohort, d, v)) for d, v in cols)
            )
            body.append(f"<tr><td>{e(str(cohort))}</td>{row}</tr>")
        days = _days_of(self.metrics)
        per_day = [
            (f"D{days[m.name]}", [mc for mc in res.comparisons if mc.metric == m.name])
            for m in self.metrics
        ]
        overall = _lift_table(res, per_day)
        return (
            f"<div class='abkit-cohorts'><h4>Cohorts {e(clip(self._what()))}</h4><table><thead>"
            f"<tr><th>cohort</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<p>All cohorts:</p>{overall}<p><small>{_decided_by(res)}; green / red: "
            "significantly higher / lower, grey: not significant or untested.</small></p></div>"
        )

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
    metrics = [Retention(day=int(d)) for d in days]
    exp = Experiment(
        metrics=metrics, control=control, segments=["cohort"], columns=columns, tz=tz, **options
    )
    res = _analyze_by_cohort(exp, exposures, events, period, cohort_tz, as_of, con)
    return CohortTable(res, period, tuple(int(d) for d in days), tuple(metrics))


def _analyze_by_cohort(
    exp: Experiment,
    exposures: Any,
    events: Any,
    period: str,
    cohort_tz: str,
    as_of: datetime | str | None,
    con: Any,
) -> ExperimentResult:
    """``exp`` (segmented by ``cohort``) on the logs, the cohort derived from the exposures."""
    # the logs are loaded once: the cohort column is derived from the prepared exposures
    logs = prepare_logs(exposures, events, columns=exp.columns, tz=exp.tz, con=con)
    t = logs.exposures
    t = t.mutate(cohort=_cohort(t.exposed_at, str(logs.con.name), period, cohort_tz))
    return exp.analyze_logs(logs.with_exposures(t), as_of=as_of)


def _cohort(at: ir.TimestampValue, backend: str, period: str, cohort_tz: str) -> ir.StringValue:
    """The cohort of an exposure at ``at``: its date (``day``) or its week's Monday in the zone."""
    if period not in ("day", "week"):
        raise SpecError(f"period must be 'day' or 'week', got {period!r}")
    local = utc_to_local_for(backend, cohort_tz, at)
    if local is None:
        raise DataError(
            f"cohort dates in {cohort_tz!r} need a time-zone conversion, which abkit has for "
            f"{list(TZ_BACKENDS)}, not for {backend}"
        )
    start = local.truncate("D") if period == "day" else local.truncate("W")
    return start.date().cast("string")


def _about_metric(code: str) -> bool:
    return code.startswith(("immature_", "missing_"))


def _analyze_shared(
    exp: Experiment, shared: Prepared, period: str, cohort_tz: str, quality: DataQuality
) -> ExperimentResult | None:
    """``exp`` on the report's per-unit table instead of the logs (None when the table does not
    hold its metrics: :func:`~abkit.query.units_table.statistics_inputs`). The statistics are the
    logs' (the same query plan from :func:`~abkit.query.plan.build_statistics` on); the
    data-quality record is ``quality`` — that of an analysis of the same logs — with this
    analysis's own per-metric counts and findings (immature, missing units)."""
    ud = shared.days
    if ud is None:
        return None
    t, be = ud.table, str(shared.con.name)
    if exp.segments:  # the cohort, derived as from the exposures: at the first exposure t0
        t = label_segments(t.mutate(cohort=_cohort(t.t0, be, period, cohort_tz)), ["cohort"])
    inputs = statistics_inputs(t, ud.last_day, exp.metrics, exp.segments)
    if inputs is None:
        return None
    query = build_statistics(
        *inputs, exp.metrics, segments=exp.segments, as_of=shared.as_of, backend=be,
        variants=exp.variants,
    )  # fmt: skip
    got = collect_analysis(execute(query.expr, shared.con), query, exp.metrics, as_of=shared.as_of)
    res = finish(exp, got.stats, FindingsBuilder(), as_of=shared.as_of, sql=None)
    own = res.data_quality
    dq = FindingsBuilder(
        {k: v for k, v in quality.counts.items() if not _about_metric(k)}
        | {k: v for k, v in own.counts.items() if _about_metric(k)},
        [f for f in quality.findings if not _about_metric(f.code)]
        + [f for f in own.findings if _about_metric(f.code)],
    )
    return replace(res, data_quality=dq.freeze())


def curve_and_cohorts(
    exposures: Any,
    events: Any,
    *,
    max_day: int | None = 30,
    days: Sequence[int] = (1, 3, 7, 14, 30),
    period: str = "day",
    control: str = "control",
    cohort_tz: str = "UTC",
    as_of: datetime | str | None = None,
    con: Any = None,
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    shared: Prepared | None = None,
    data_quality: DataQuality | None = None,
    **options: Any,
) -> tuple[RetentionCurve | None, CohortTable | None]:
    """The retention curve D0..D``max_day`` and the cohort triangle of ``days`` from ONE
    analysis of the logs (what a report shows), each the same as :func:`retention_curve` and
    :func:`cohort_table` give on their own: the one analysis is restricted to each view's
    metrics (:func:`abkit.results.restrict`), its decisions re-taken within the view.

    ``max_day=None`` leaves the curve out, ``days=()`` the triangle (None in their place).

    With ``shared`` (the report's per-unit table of the same logs and ``as_of``,
    :func:`abkit.retention._units.share`) and ``data_quality`` (the record of the report's
    analysis of those logs) the one analysis reads the table instead of the events, when it
    holds the days: the same statistics, intervals and decisions; the data-quality record is
    ``data_quality`` with the views' own immature and missing counts.
    """
    if max_day is not None and (
        isinstance(max_day, bool) or not isinstance(max_day, int) or not 0 <= max_day <= 365
    ):
        raise SpecError(f"max_day must be an integer in 0..365, got {max_day!r}")
    curve_m = [] if max_day is None else [Retention(day=d) for d in range(max_day + 1)]
    cohort_m = [Retention(day=int(d)) for d in days]
    every = list({m.name: m for m in (*curve_m, *cohort_m)}.values())
    if not every:
        return None, None
    segments = ["cohort"] if cohort_m else []
    exp = Experiment(
        metrics=every, control=control, segments=segments, columns=columns, tz=tz, **options
    )
    res = None
    if shared is not None and data_quality is not None:
        res = _analyze_shared(exp, shared, period, cohort_tz, data_quality)
    if res is None and cohort_m:
        res = _analyze_by_cohort(exp, exposures, events, period, cohort_tz, as_of, con)
    elif res is None:
        res = exp.analyze(exposures=exposures, events=events, as_of=as_of, con=con)
    curve = None
    if max_day is not None:
        part = restrict(res, [m.name for m in curve_m], segments=False)
        curve = RetentionCurve(part, max_day, tuple(curve_m))
    cohorts = None
    if cohort_m:
        part = restrict(res, [m.name for m in cohort_m])
        cohorts = CohortTable(part, period, tuple(int(d) for d in days), tuple(cohort_m))
    return curve, cohorts
