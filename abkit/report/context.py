"""What the report notebook works with: :class:`ReportContext` and the HTML it displays."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from abkit._display import TONE_COLORS, tone
from abkit._format import fmt_abs, fmt_p, fmt_value
from abkit._version import __version__
from abkit.analysis.refresh import State
from abkit.data import prepare_logs
from abkit.engine import execute
from abkit.errors import DataError
from abkit.metrics import Retention
from abkit.report import long_term
from abkit.report.progress import MetricMaturity, design_progress, maturity
from abkit.report.summary import build_summary, write_json_atomic
from abkit.report.tables import churn_table, guardrails_table, segments_table
from abkit.results import CORRECTIONS
from abkit.retention import churn_survival
from abkit.retention._novelty_sums import calendar_windows
from abkit.retention._units import analyze_and_share, share
from abkit.retention.curve import curve_and_cohorts
from abkit.stats import sequential_tuning

if TYPE_CHECKING:
    from abkit.design import PlanProgress
    from abkit.results import ExperimentResult
    from abkit.spec import ExperimentSpec

__all__ = ["ReportContext"]

#: colour of a recommendation (abkit.results.recommend)
TONE = {"ship": "good", "do not ship": "bad", "inconclusive": "neutral", "withheld": "neutral"}


@dataclass(frozen=True, slots=True)
class ReportContext:
    """What the report notebook works with: the spec, the result, and how to present them.

    The notebook calls ``ReportContext.load(config_path)`` and only displays what this returns.
    """

    config: Mapping[str, Any]
    spec: ExperimentSpec
    result: ExperimentResult
    #: views computed once per report (the cohort table feeds the trust panel and its section)
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_events(self) -> bool:
        """Whether the report was given exposure and event logs (not a per-unit table)."""
        return bool(self.config["inputs"].get("events"))

    def _view_args(self) -> dict[str, Any]:
        inputs = self.config["inputs"]
        s = self.spec
        return {
            "exposures": inputs["exposures"],
            "events": inputs["events"],
            "as_of": self.result.as_of,
            "columns": s.columns or None,
            "tz": s.tz,
        }

    def curve(self) -> Any:
        """Retention curve D0..D``report.curve_days`` (None when skipped or without events)."""
        return self._views()[0]

    def cohorts(self) -> Any:
        """Cohort triangle (None when skipped or without events)."""
        return self._views()[1]

    def _views(self) -> tuple[Any, Any]:
        """The curve and the cohort triangle, from one analysis of the logs (computed once)."""
        r = self.spec.report
        if not self.has_events or (r.curve_days == 0 and not r.cohort_days):
            return None, None
        if "views" not in self.cache:
            self.cache["views"] = curve_and_cohorts(
                max_day=r.curve_days or None,
                days=r.cohort_days,
                period=r.cohort_period,
                control=self.spec.control,
                alpha=self.spec.alpha,
                variants=self.spec.variant_names,
                weights=dict(zip(self.spec.variant_names, self.spec.weights, strict=True)),
                name=self.spec.name,
                shared=self.shared(),
                data_quality=self.result.data_quality,
                **self._view_args(),
            )
        return cast("tuple[Any, Any]", self.cache["views"])

    def shared(self) -> Any:
        """The logs scanned once into the per-unit table that the curve, the cohort triangle,
        time to churn, the churn regression, novelty and the forecasts read instead of the
        events (computed once; None without events, when no such view is asked for, or when
        the logs cannot be prepared — each view then reads the logs and says why it cannot be
        shown)."""
        table = _table_request(self.spec)
        if not self.has_events or self.result.as_of is None or table is None:
            return None
        if "shared" not in self.cache:
            try:
                self.cache["shared"] = share(**table, **self._view_args())
            except DataError:
                self.cache["shared"] = None
        return self.cache["shared"]

    def churn(self) -> Any:
        """Time to churn (None when skipped or without events)."""
        k = self.spec.report.churn_inactive_days
        if not self.has_events or k == 0:
            return None
        args = self._view_args()
        try:
            return churn_survival(
                args["exposures"],
                args["events"],
                inactive_days=k,
                tau=self.spec.report.churn_tau,
                control=self.spec.control,
                alpha=self.spec.alpha,
                as_of=args["as_of"],
                columns=args["columns"],
                tz=args["tz"],
                shared=self.shared(),
            )
        except DataError as exc:  # e.g. more inactive days than the log covers: the report stays
            self.cache["skipped:churn"] = str(exc)
            return None

    def forecasts(self) -> list[Any]:
        """Surrogate-index forecasts of the spec's long-term retention metrics (those starting
        after ``report.forecast_from_day``); those not possible yet are noted (skipped_html)."""
        return long_term.forecasts(self)

    def novelty(self) -> Any:
        """The lift per day since exposure and its trend ("lift fading" / "growing")."""
        return long_term.novelty_view(self)

    def hazards(self) -> Any:
        """Cox regression of the time to churn, adjusted for the spec's segments."""
        return long_term.hazards(self)

    def skipped_html(self, section: str) -> str:
        """Why a section the spec asks for could not be shown ("" when it was not skipped)."""
        why = self.cache.get(f"skipped:{section}")
        return "" if why is None else f"<p class='abkit-skipped'>Not shown: {html.escape(why)}.</p>"

    def churn_html(self, churn: Any) -> str:
        return churn_table(churn, self.spec.alpha)

    def sequential_html(self) -> str:
        """Always-valid status per comparison: safe to read every day ("" when switched off,
        or for a per-unit table, which is a finished experiment, not a running one)."""
        tuning, how = self.spec.report.sequential_tuning, "set in the spec"
        if tuning is None or self.result.as_of is None:
            return ""
        if tuning == "auto":
            progress = self.progress()
            tuning, how = 5000.0, "the default; a design: in the spec tunes it to the plan"
            if progress is not None:
                planned = sum(progress.needed.values())
                tuning = sequential_tuning(
                    planned, alpha=self.spec.alpha, alternative=self.spec.alternative
                )
                how = f"tuned to the plan's {planned:,} units"
        tuning = float(tuning)
        e = html.escape
        res = self.result
        kinds = {m.name: m for m in res.metrics}
        table = res.sequential(tuning=tuning)
        rows = "".join(
            f"<tr><td>{e(kinds[r.metric].label)}</td><td>{e(r.variant)}</td>"
            f"<td>{fmt_abs(r.abs_lift, kinds[r.metric].kind)}</td>"
            f"<td>[{fmt_abs(r.ci_lower, kinds[r.metric].kind)}, "
            f"{fmt_abs(r.ci_upper, kinds[r.metric].kind)}]</td><td>{fmt_p(r.pvalue)}</td>"
            f"<td>{e(r.decision)}</td></tr>"
            for r in table.itertuples()
        )
        return (
            f"<p>Always-valid confidence sequences (normal mixture, N* = {tuning:,.0f}, {how}): "
            "unlike the "
            "fixed-horizon p-values above, these stay valid however often the report is read. "
            "Immature units are not counted, so D-N metrics gain information N days late.</p>"
            "<table><thead><tr><th>metric</th><th>variant</th><th>lift</th>"
            "<th>always-valid CI</th><th>always-valid p</th><th>status</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )

    def progress(self) -> PlanProgress | None:
        """Progress against the spec's ``design:`` (None without one, or for a per-unit table,
        which is a finished experiment); computed once."""
        if self.spec.design is None or self.result.as_of is None:
            return None
        if "progress" not in self.cache:
            first, last = self._exposure_span()
            start = self.spec.design.start or first.date()
            self.cache["progress"] = design_progress(self.spec, self.result, start, last)
        return cast("PlanProgress | None", self.cache["progress"])

    def _exposure_span(self) -> tuple[datetime, datetime]:
        """The first and the last exposure by as_of (one scan of the exposure log, once)."""
        if "span" not in self.cache:
            args = self._view_args()
            logs = prepare_logs(args["exposures"], columns=args["columns"], tz=args["tz"])
            x = logs.exposures
            x = x.filter(x.exposed_at <= args["as_of"])
            span = execute(x.aggregate(first=x.exposed_at.min(), last=x.exposed_at.max()), logs.con)
            self.cache["span"] = (span["first"].iloc[0], span["last"].iloc[0])
        return cast("tuple[datetime, datetime]", self.cache["span"])

    def maturity(self) -> list[MetricMaturity]:
        """When each windowed metric is readable (empty for a per-unit table)."""
        if self.result.as_of is None or not self.has_events:
            return []
        return maturity(self.spec, self.result, self._exposure_span()[1], self.progress())

    @classmethod
    def load(cls, config_path: str) -> ReportContext:
        from abkit.analysis import Experiment
        from abkit.spec import load_spec

        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
        spec = load_spec(config["spec"])
        exp = Experiment.from_spec(spec)
        inputs = config["inputs"]
        state, table = config.get("state"), _table_request(spec)
        shared = None
        if inputs.get("units"):
            res = exp.analyze(units=inputs["units"])
        elif state is None and inputs.get("events") and table is not None:
            # the analysis and the views' per-unit table from one pass over the events
            res, shared = analyze_and_share(
                exp, inputs["exposures"], inputs["events"], as_of=config.get("as_of"), **table
            )
        else:
            res = exp.analyze(
                exposures=inputs["exposures"],
                events=inputs.get("events"),
                as_of=config.get("as_of"),
                state=None if state is None else State(**state),
            )
        ctx = cls(config, spec, res)
        if shared is not None:
            ctx.cache["shared"] = shared
        return ctx

    # ---- presentation helpers (HTML strings; every user string escaped)

    def headline_html(self) -> str:
        """The first screen: the decision on the primary metric (each metric when none is
        primary), the trust status in one line, and the sample sizes."""
        e = html.escape
        res = self.result
        kinds = {m.name: m for m in res.metrics}
        shown = [
            mc
            for mc in res.comparisons
            if res.primary_metric is None or mc.metric == res.primary_metric
        ]
        blocking = res.data_quality.blocking
        if blocking:
            trust = (
                "<span class='abkit-blocking' style='color:#cf222e'><b>Do not use these lifts"
                "</b>: blocking trust finding(s) "
                + ", ".join(f"<code>{e(f.code)}</code>" for f in blocking)
                + " (see Trust checks)</span>"
            )
        else:
            warnings = sum(f.severity == "warning" for f in res.data_quality.findings)
            trust = (
                "<span class='abkit-ok' style='color:#1a7f37'><b>Trustworthy</b>: no "
                + ("blocking finding" + (f" ({warnings} warning(s) below)" if warnings else ""))
                + "</span>"
            )
        sizes = " · ".join(
            f"{e(v)} {n:,}" for v, n in zip(res.srm.variants, res.srm.observed, strict=True)
        )
        items = []
        for mc in shown:
            info, c = kinds[mc.metric], mc.comparison
            shade = tone(mc.decision, info.higher_is_better)
            color = TONE_COLORS[shade]
            p = mc.pvalue_decided
            how = ""
            if p is not None and mc.decision.startswith(("significantly", "no significant")):
                how = f" ({'p' if mc.correction in (None, 'none') else 'adjusted p'} "
                how += ("< 0.0001" if p < 1e-4 else f"= {p:.3g}") + ")"
            items.append(
                f"<li style='font-size:1.15em'><b>{e(info.label)}</b>, {e(mc.variant)} vs "
                f"{e(res.control)}: <b class='abkit-{shade}' style='color:{color}'>"
                f"{e(mc.decision)}</b>{how} — "
                f"{fmt_abs(c.abs_lift, info.kind)} "
                f"[{fmt_abs(c.abs_lift_ci_lower, info.kind)}, "
                f"{fmt_abs(c.abs_lift_ci_upper, info.kind)}], "
                f"{fmt_value(c.control_value, info.kind)} → "
                f"{fmt_value(c.treatment_value, info.kind)}</li>"
            )
        advice = "".join(
            f"<li><b class='abkit-{TONE[r.action]}' style='color:{TONE_COLORS[TONE[r.action]]}'>"
            f"{e(r.action.capitalize())}</b> {e(r.variant)}: {e(r.reason)}</li>"
            for r in res.recommendations()
        )
        when = f"as of {e(res.as_of.strftime('%Y-%m-%d %H:%M UTC'))}" if res.as_of else ""
        title = "Primary metric" if res.primary_metric else "Decisions"
        progress = self.progress()
        plan = ""
        if progress is not None:
            done = " abkit-ok" if progress.complete else ""
            label = res.metric(progress.metric).label
            plan = f"<p class='abkit-progress{done}'>{e(progress.text(label))}</p>"
        return (
            f"<div class='abkit-headline'><h2>{e(res.name)}</h2>"
            f"<p>{trust}</p><p>Units analysed: {sizes} {when}</p>{plan}"
            f"<h3>{title}</h3><ul>{''.join(items)}</ul>"
            f"<h3>Recommendation</h3><ul class='abkit-recommendation'>{advice}</ul></div>"
        )

    def truth_html(self) -> str:
        """For simulated data (``report.truth``): each day-N retention estimate beside the true
        value of the generating model, and whether the interval covers the true lift ("" when
        there is no truth file)."""
        import pandas as pd

        path = self.config.get("truth")
        if not path:
            return ""
        truth = pd.read_csv(path)
        true = {(str(r.variant), int(r.day)): float(r.retention) for r in truth.itertuples()}
        days = {
            m.name: m.day for m in self.spec.build_metrics() if isinstance(m, Retention) and m.day
        }
        e, res, rows = html.escape, self.result, []
        for mc in res.comparisons:
            day = days.get(mc.metric)
            c = mc.comparison
            t_c, t_t = true.get((res.control, day or -1)), true.get((mc.variant, day or -1))
            if day is None or t_c is None or t_t is None:
                continue
            lift = t_t - t_c
            lo, hi = c.abs_lift_ci_lower, c.abs_lift_ci_upper
            covered = lo is not None and hi is not None and lo <= lift <= hi
            rows.append(
                f"<tr><td>{e(res.metric(mc.metric).label)}</td><td>{e(mc.variant)}</td>"
                f"<td>{fmt_value(t_c, 'proportion')} → {fmt_value(t_t, 'proportion')}</td>"
                f"<td>{fmt_abs(lift, 'proportion')}</td>"
                f"<td>{fmt_abs(c.abs_lift, 'proportion')} [{fmt_abs(lo, 'proportion')}, "
                f"{fmt_abs(hi, 'proportion')}]</td><td>{'yes' if covered else 'no'}</td></tr>"
            )
        if not rows:
            return ""
        return (
            "<p>The data are simulated: the generating model's true retention beside the "
            "estimate. About 1 in 20 intervals miss the truth by chance.</p>"
            "<table class='abkit-truth'><thead><tr><th>metric</th><th>variant</th>"
            "<th>true control → treatment</th><th>true lift</th><th>estimated lift [CI]</th>"
            "<th>interval covers the truth</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
        )

    def header_html(self) -> str:
        e = html.escape
        res = self.result
        rows = [
            ("Experiment", e(res.name)),
            ("Variants", ", ".join(e(v) for v in res.variants) + f" (control: {e(res.control)})"),
            ("Planned weights", ", ".join(f"{w:.3g}" for w in res.srm.weights)),
            ("As of", e(res.as_of.isoformat()) if res.as_of else "per-unit table"),
            ("Significance", f"alpha = {res.alpha:g}, {e(res.alternative)}"),
            ("abkit", e(__version__)),
        ]
        readable = [e(m.text()) for m in self.maturity() if m.units_waiting]
        if readable:
            rows.insert(4, ("Readable", "<br>".join(readable)))
        if self.spec.description:
            rows.insert(1, ("Description", e(self.spec.description)))
        body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f"<table class='abkit-header'>{body}</table>"

    def trust_html(self) -> str:
        """The trust panel: SRM and every data-quality finding, blocking ones marked."""
        e = html.escape
        res = self.result
        srm = res.srm
        obs = ", ".join(
            f"{e(v)}: {o:,} (expected {x:,.0f})"
            for v, o, x in zip(srm.variants, srm.observed, srm.expected, strict=True)
        )
        p = "–" if srm.pvalue is None else f"{srm.pvalue:.3g}"
        verdict = "SAMPLE RATIO MISMATCH" if srm.flagged else "No sample ratio mismatch"
        cls = "abkit-blocking" if srm.flagged else "abkit-ok"
        parts = [
            f"<p class='{cls}'><b>{verdict}</b> — chi-square p = {p} "
            f"(flagged below {srm.threshold:g}). {obs}</p>"
        ]
        blocking = res.data_quality.blocking
        if blocking:
            parts.append(
                f"<p class='abkit-blocking'><b>{len(blocking)} blocking finding(s)</b>: the lifts "
                "below are not trustworthy until they are fixed.</p>"
            )
        parts.append(self._srm_breakdown_html())
        findings = res.data_quality.findings
        if findings:
            parts.append(
                "<table class='abkit-trust'><thead><tr><th>severity</th><th>finding</th>"
                "<th>count</th><th>share</th></tr></thead><tbody>"
            )
            for f in findings:
                share = "" if f.share is None else f"{f.share:.2%}"
                parts.append(
                    f"<tr class='abkit-{e(f.severity)}'><td>{e(f.severity)}</td>"
                    f"<td>{e(f.message)}</td><td>{f.count:,}</td><td>{share}</td></tr>"
                )
            parts.append("</tbody></table>")
        else:
            parts.append("<p>No data-quality findings.</p>")
        return "".join(parts)

    def _srm_breakdown_html(self) -> str:
        """Where a mismatch comes from: SRM per segment value and per exposure day."""
        e = html.escape
        res = self.result
        tables = []
        by_seg = res.srm_by_segment()
        cohorts = self.cohorts()
        if cohorts is not None:
            by_day = cohorts.result.srm_by_segment()
            if not by_day.empty:
                by_day["segment"] = "exposure day"
                tables.append(by_day)
        if not by_seg.empty:
            tables.insert(0, by_seg)
        if not tables:
            return ""
        import pandas as pd

        df = pd.concat(tables, ignore_index=True)
        flagged = df[df.flagged]
        mix = res.segment_mix()
        mix_flag = mix[mix.flagged] if not mix.empty else mix
        note = (
            "<p class='abkit-blocking'>Sample ratio mismatch located in: "
            + ", ".join(f"{e(str(r.segment))} = {e(str(r.value))}" for r in flagged.itertuples())
            + "</p>"
            if not flagged.empty
            else "<p class='abkit-ok'>No segment value or exposure day shows a sample ratio "
            f"mismatch ({len(df)} checked, Holm-corrected within each dimension).</p>"
        )
        if not mix_flag.empty:
            note += (
                "<p class='abkit-blocking'>The segment mix differs between arms for: "
                + ", ".join(e(str(s)) for s in mix_flag.segment)
                + " (chi-square p < 0.001).</p>"
            )
        worst = df.sort_values("pvalue_adjusted", na_position="last").head(5)
        rows = "".join(
            f"<tr{' class=abkit-blocking' if r.flagged else ''}><td>{e(str(r.segment))}</td>"
            f"<td>{e(str(r.value))}</td>"
            + f"<td>{fmt_p(r.pvalue)}</td><td>{fmt_p(r.pvalue_adjusted)}</td></tr>"
            for r in worst.itertuples()
        )
        return (
            note + "<table class='abkit-srm'><thead><tr><th>where</th><th>value</th><th>p</th>"
            f"<th>p (Holm)</th></tr></thead><tbody>{rows}</tbody></table>"
            "<p><small>The five smallest p-values are shown.</small></p>"
        )

    def guardrails_html(self) -> str:
        """Guardrail metrics: passed / breached, with the one-sided bound against the margin."""
        return guardrails_table(self.result)

    def definitions_html(self) -> str:
        e = html.escape
        items = "".join(
            f"<li><b>{e(m.label)}</b> (<code>{e(m.name)}</code>, {e(m.kind)}): {e(m.definition)}</li>"
            for m in self.result.metrics
        )
        return f"<ul>{items}</ul>"

    def verdicts_html(self) -> str:
        method = self.result.correction
        items = "".join(f"<li>{html.escape(v)}</li>" for v in self.result.verdicts())
        note = ""
        if method != "none":
            note = (
                f"<p><small>Significance after the {html.escape(CORRECTIONS[method])} correction across "
                f"{len(self.result.comparisons)} comparisons (metrics × treatments)"
                + (", primary metric uncorrected" if self.result.primary_metric else "")
                + ".</small></p>"
            )
        if self.result.data_quality.blocking:
            return (
                "<p class='abkit-blocking'><b>No verdict</b>: blocking trust findings (see "
                "Trust checks). The numbers are shown for diagnosis only.</p>"
                f"<ul>{items}</ul>{note}"
            )
        return f"<ul>{items}</ul>{note}"

    def segments_html(self) -> str:
        """Per-segment lifts with Benjamini–Hochberg adjusted p-values."""
        return segments_table(self.result)

    def summary(self) -> dict[str, Any]:
        progress = self.progress()
        return build_summary(
            self.result,
            design=None if progress is None else progress.to_dict(),
            maturity=[m.to_dict() for m in self.maturity()],
            long_term=long_term.long_term_summary(self) if self.has_events else None,
        )

    def write_summary(self) -> str:
        path = Path(self.config["summary_path"])
        write_json_atomic(path, self.summary())
        return str(path)


def _table_request(spec: ExperimentSpec) -> dict[str, Any] | None:
    """What the views of ``spec``'s report need of the shared per-unit table: the exposure
    columns to carry, the last day since exposure, novelty's calendar windows (None: no view
    reads it)."""
    r = spec.report
    k, novelty = r.churn_inactive_days, long_term.novelty_days_of(spec)
    views = max(r.curve_days, *r.cohort_days, 0)
    if not (k or novelty or views):
        return None
    return {
        "carry": tuple(spec.segments) if k else (),
        "last_day": max(r.churn_tau + k - 1 if k else 0, novelty or 0, views),
        "windows": calendar_windows(novelty) if novelty else None,
    }
