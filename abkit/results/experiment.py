"""``ExperimentResult``: everything one analysis produced, and its tabular and display forms."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit._display import (
    arm_sizes,
    fmt_when,
    interval_scale,
    interval_svg,
    lift_line,
    more_lines,
    severity_style,
    tone,
    tone_attrs,
    trust_text,
)
from abkit._format import fmt_abs, fmt_p, fmt_rel, fmt_value, p_clause
from abkit.plot import forest
from abkit.quality import DataQuality
from abkit.results.comparisons import (
    COMPARISON_COLUMNS,
    CORRECTIONS,
    ArmStats,
    GuardrailResult,
    MetricComparison,
    MetricInfo,
    decide,
)
from abkit.results.recommend import Recommendation, recommend
from abkit.stats import srm_test
from abkit.stats._common import crit_z
from abkit.stats._types import SRMResult
from abkit.stats.multiple import adjust_pvalues
from abkit.stats.segments import heterogeneity, segment_mix
from abkit.stats.sequential import always_valid_test

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["ExperimentResult"]


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    """Everything one analysis produced. Render it in Jupyter, or call ``to_pandas()``/``to_dict()``.

    Attributes:
        name: experiment name.
        control: control variant.
        variants: all analysed variants, control first.
        as_of: the analysis cut-off (UTC) for event data; None for per-unit tables.
        metrics: the metric definitions, in the order given.
        comparisons: one per (metric, treatment variant), overall.
        segment_comparisons: the same within each value of each segment dimension, with
            Benjamini–Hochberg adjusted p-values across the values of one dimension.
        arms: per-arm summaries (overall and per segment value).
        srm: sample-ratio-mismatch check of analysed units against the planned weights.
        data_quality: counts of what was dropped or excluded, and findings.
    """

    name: str
    control: str
    variants: tuple[str, ...]
    as_of: datetime | None
    alpha: float
    alternative: str
    metrics: tuple[MetricInfo, ...]
    comparisons: tuple[MetricComparison, ...]
    segment_comparisons: tuple[MetricComparison, ...]
    arms: tuple[ArmStats, ...]
    srm: SRMResult
    data_quality: DataQuality
    primary_metric: str | None = None
    sql: str | None = None
    #: analysed units per (segment dimension, value, variant), for the segment-mix check
    segment_units: tuple[tuple[str, str, str, int], ...] = ()
    guardrails: tuple[GuardrailResult, ...] = ()
    #: the multiple-testing correction the decisions of ``comparisons`` use (see :func:`decide`)
    correction: str = "holm"

    @property
    def guardrails_breached(self) -> tuple[GuardrailResult, ...]:
        """Guardrails that did not pass (harm beyond the margin not ruled out)."""
        return tuple(g for g in self.guardrails if g.passed is False)

    # ---------------------------------------------------------------------------- tabular forms

    def metric(self, name: str) -> MetricInfo:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"no metric {name!r}; metrics are {[m.name for m in self.metrics]}")

    def _rows(self, comparisons: tuple[MetricComparison, ...]) -> list[dict[str, Any]]:
        rows = []
        for mc in comparisons:
            c = mc.comparison
            row: dict[str, Any] = {
                "metric": mc.metric,
                "variant": mc.variant,
                "control_value": c.control_value,
                "treatment_value": c.treatment_value,
                "abs_lift": c.abs_lift,
                "abs_lift_ci_lower": c.abs_lift_ci_lower,
                "abs_lift_ci_upper": c.abs_lift_ci_upper,
                "rel_lift": c.rel_lift,
                "rel_lift_ci_lower": c.rel_lift_ci_lower,
                "rel_lift_ci_upper": c.rel_lift_ci_upper,
                "pvalue": c.pvalue,
                "pvalue_adjusted": mc.pvalue_adjusted,
                "correction": mc.correction,
                "decision": mc.decision,
                "significant": mc.significant,
                "significant_raw": mc.significant_raw,
                "n_control": c.n_control,
                "n_treatment": c.n_treatment,
                "immature_control": mc.immature_control,
                "immature_treatment": mc.immature_treatment,
                "method": c.method,
                "note": c.note,
            }
            if mc.segment is not None:
                row = {"segment": mc.segment, "segment_value": mc.segment_value, **row}
            rows.append(row)
        return rows

    def to_pandas(self) -> pd.DataFrame:
        """One row per (metric, treatment variant); rates are fractions (0.19, not 19)."""
        import pandas as pd

        return pd.DataFrame(self._rows(self.comparisons), columns=list(COMPARISON_COLUMNS))

    def segments_to_pandas(self, segment: str | None = None) -> pd.DataFrame:
        """One row per (segment dimension, value, metric, treatment variant)."""
        import pandas as pd

        comps = tuple(
            c for c in self.segment_comparisons if segment is None or c.segment == segment
        )
        cols = ["segment", "segment_value", *COMPARISON_COLUMNS]
        return pd.DataFrame(self._rows(comps), columns=cols)

    def arms_to_pandas(self) -> pd.DataFrame:
        """Per-arm summaries: n, mean, variance, immature and missing counts."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "metric": a.metric,
                    "variant": a.variant,
                    "segment": a.segment,
                    "segment_value": a.segment_value,
                    "n": a.n,
                    "mean": a.mean,
                    "var": a.var,
                    "immature": a.immature,
                    "missing": a.missing,
                }
                for a in self.arms
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``results`` part of ``summary.json``); deterministic order."""
        return {
            "name": self.name,
            "control": self.control,
            "variants": list(self.variants),
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "alpha": self.alpha,
            "alternative": self.alternative,
            "primary_metric": self.primary_metric,
            "correction": self.correction,
            "metrics": [
                {
                    "name": m.name,
                    "label": m.label,
                    "kind": m.kind,
                    "definition": m.definition,
                    "cap": m.cap,
                    "higher_is_better": m.higher_is_better,
                }
                for m in self.metrics
            ],
            "srm": {
                "variants": list(self.srm.variants),
                "observed": list(self.srm.observed),
                "expected": list(self.srm.expected),
                "weights": list(self.srm.weights),
                "statistic": self.srm.statistic,
                "pvalue": self.srm.pvalue,
                "threshold": self.srm.threshold,
                "flagged": self.srm.flagged,
                "note": self.srm.note,
            },
            "data_quality": self.data_quality.to_dict(),
            "comparisons": _jsonable(self._rows(self.comparisons)),
            "guardrails": _jsonable(
                [
                    {
                        "metric": g.metric,
                        "variant": g.variant,
                        "margin": g.margin,
                        "relative": g.relative,
                        "higher_is_better": g.higher_is_better,
                        "estimate": g.estimate,
                        "bound": g.bound,
                        "pvalue": g.pvalue,
                        "passed": g.passed,
                        "method": g.method,
                        "note": g.note,
                    }
                    for g in self.guardrails
                ]
            ),
            "segment_comparisons": _jsonable(self._rows(self.segment_comparisons)),
        }

    # ---------------------------------------------------------------------------- inference extras

    def _decided(self, correction: str | None) -> tuple[MetricComparison, ...]:
        """The overall comparisons as decided with ``correction`` (None: the result's own)."""
        if correction is None or correction == self.correction:
            return self.comparisons
        withheld = ", ".join(f.code for f in self.data_quality.blocking) or None
        return decide(
            self.comparisons,
            alpha=self.alpha,
            correction=correction,
            primary_metric=self.primary_metric,
            withheld=withheld,
        )

    def adjusted_pvalues(self, method: str | None = None) -> pd.DataFrame:
        """P-values of ``comparisons`` corrected across metrics × treatments, as a table.

        ``method`` is one of ``holm``, ``hochberg``, ``bonferroni``, ``fdr_bh``, ``fdr_by`` or
        ``none``; None (default) is the correction the result's decisions use (``correction``).
        The pre-registered ``primary_metric`` (if any) is left uncorrected, as a confirmatory
        test; the others form the corrected family. Columns: metric, variant, pvalue,
        pvalue_adjusted, correction, decision.
        """
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "metric": mc.metric,
                    "variant": mc.variant,
                    "pvalue": mc.comparison.pvalue,
                    "pvalue_adjusted": mc.pvalue_adjusted,
                    "correction": mc.correction,
                    "decision": mc.decision,
                }
                for mc in self._decided(method)
            ],
            columns=["metric", "variant", "pvalue", "pvalue_adjusted", "correction", "decision"],
        )

    def sequential(self, tuning: float = 5000.0) -> pd.DataFrame:
        """Always-valid (anytime) inference for each comparison: "can we stop yet?".

        Uses :func:`abkit.stats.sequential.always_valid_test` (GrowthBook's normal-mixture
        confidence sequence, ``N* = tuning``) on the absolute lift, with the standard error read
        off the fixed-horizon interval. Safe to look at daily: the false-positive rate stays at
        ``alpha`` however often it is checked; one-sided when the experiment's ``alternative``
        is (Howard et al. 2021's one-sided mixture bound).
        """
        import pandas as pd

        rows = []
        z = crit_z(self.alpha, "two-sided")
        for mc in self.comparisons:
            c = mc.comparison
            lo, hi = c.abs_lift_ci_lower, c.abs_lift_ci_upper
            row: dict[str, Any] = {
                "metric": mc.metric,
                "variant": mc.variant,
                "abs_lift": c.abs_lift,
                "n": c.n_control + c.n_treatment,
            }
            se = c.std_error
            if se is None and self.alternative == "two-sided" and lo is not None and hi is not None:
                se = (hi - lo) / (2 * z) if math.isfinite(lo) and math.isfinite(hi) else None
            if se is None or not math.isfinite(se) or math.isnan(c.abs_lift):
                row.update(ci_lower=None, ci_upper=None, pvalue=None, decision="no test")
            else:
                r = always_valid_test(
                    c.abs_lift,
                    se,
                    row["n"],
                    alpha=self.alpha,
                    tuning=tuning,
                    alternative=self.alternative,
                )
                decision = (
                    "keep running"
                    if not r.significant
                    else (
                        "can stop: treatment better"
                        if c.abs_lift > 0
                        else "can stop: treatment worse"
                    )
                )
                row.update(
                    ci_lower=r.ci_lower,
                    ci_upper=r.ci_upper,
                    pvalue=r.pvalue,
                    decision=decision if r.pvalue is not None else "no test",
                )
            rows.append(row)
        return pd.DataFrame(rows)

    def heterogeneity(self) -> pd.DataFrame:
        """Does the lift differ across the values of a segment? Cochran's Q per (segment
        dimension, metric, treatment) on the segment-level absolute lifts (two-sided intervals
        give the standard errors). One row each: Q, df, p-value, I², the pooled lift."""
        import pandas as pd

        z = crit_z(self.alpha, "two-sided")
        groups: dict[tuple[str, str, str], tuple[list[float], list[float]]] = {}
        for mc in self.segment_comparisons:
            c = mc.comparison
            lo, hi = c.abs_lift_ci_lower, c.abs_lift_ci_upper
            ok = (
                self.alternative == "two-sided"
                and lo is not None
                and hi is not None
                and math.isfinite(lo)
                and math.isfinite(hi)
            )
            est, se = groups.setdefault((mc.segment or "", mc.metric, mc.variant), ([], []))
            est.append(c.abs_lift)
            if c.std_error is not None:
                se.append(c.std_error)
            else:
                se.append((hi - lo) / (2 * z) if ok else math.nan)  # type: ignore[operator]
        rows = []
        for (seg, metric, variant), (est, se) in groups.items():
            r = heterogeneity(est, se)
            rows.append(
                {
                    "segment": seg,
                    "metric": metric,
                    "variant": variant,
                    "q": r.statistic,
                    "df": r.df,
                    "pvalue": r.pvalue,
                    "i2": r.i2,
                    "pooled_lift": r.pooled,
                    "segments": r.k,
                    "note": r.note,
                }
            )
        return pd.DataFrame(
            rows,
            columns=[
                "segment",
                "metric",
                "variant",
                "q",
                "df",
                "pvalue",
                "i2",
                "pooled_lift",
                "segments",
                "note",
            ],
        )

    def srm_by_segment(self, correction: str = "holm") -> pd.DataFrame:
        """Sample-ratio check within each segment value, so a mismatch can be located.

        One chi-square test per (segment dimension, value) against the planned weights; p-values
        are corrected (Holm by default) across the values of a dimension and flagged below the
        SRM threshold (0.001).
        """
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for seg in sorted({s for s, _, _, _ in self.segment_units}):
            counts = {(v, var): n for s, v, var, n in self.segment_units if s == seg}
            values = sorted({v for v, _ in counts})
            tests = []
            for v in values:
                obs = [counts.get((v, var), 0) for var in self.srm.variants]
                tests.append(
                    (
                        v,
                        obs,
                        srm_test(obs, list(self.srm.weights), variants=list(self.srm.variants)),
                    )
                )
            ps = [t.pvalue for _, _, t in tests]
            adj = list(adjust_pvalues(ps, method=correction).adjusted) if len(ps) > 1 else ps
            for (v, obs, t), p in zip(tests, adj, strict=True):
                row: dict[str, Any] = {"segment": seg, "value": v}
                row |= {f"n_{k}": o for k, o in zip(self.srm.variants, obs, strict=True)}
                row |= {
                    "pvalue": t.pvalue,
                    "pvalue_adjusted": p,
                    "flagged": p is not None and p < self.srm.threshold,
                }
                rows.append(row)
        return pd.DataFrame(rows)

    def segment_mix(self, threshold: float = 0.001) -> pd.DataFrame:
        """Is the segment mix the same in every arm? A chi-square test per segment dimension on
        analysed units (segment value × variant); flagged below ``threshold``."""
        import pandas as pd

        rows = []
        for seg in sorted({s for s, _, _, _ in self.segment_units}):
            values = sorted({v for s, v, _, _ in self.segment_units if s == seg})
            counts = {(v, var): n for s, v, var, n in self.segment_units if s == seg}
            table = [[counts.get((v, var), 0) for var in self.variants] for v in values]
            r = segment_mix(table, threshold=threshold)
            rows.append(
                {
                    "segment": seg,
                    "chi2": r.statistic,
                    "df": r.df,
                    "pvalue": r.pvalue,
                    "flagged": r.flagged,
                    "note": r.note,
                }
            )
        return pd.DataFrame(rows, columns=["segment", "chi2", "df", "pvalue", "flagged", "note"])

    def recommendations(self) -> tuple[Recommendation, ...]:
        """Ship / do not ship / inconclusive / withheld per treatment, from all its metrics
        (Spotify's rule: a success metric significantly better, no guardrail inferior, nothing
        significantly worse; see :mod:`abkit.results.recommend`)."""
        return recommend(self)

    # ---------------------------------------------------------------------------- display

    def verdicts(self, correction: str | None = None) -> list[str]:
        """One plain-language sentence per (metric, treatment): the lift, its interval and the
        decision every surface shows (corrected by the result's ``correction``, withheld under
        a blocking finding). ``correction`` asks what another correction would decide.
        """
        out = []
        kinds = {m.name: m for m in self.metrics}
        corrected = (correction or self.correction) != "none"
        for mc in self._decided(correction):
            info = kinds[mc.metric]
            c = mc.comparison
            ci = f"[{fmt_abs(c.abs_lift_ci_lower, info.kind)}, {fmt_abs(c.abs_lift_ci_upper, info.kind)}]"
            verdict = mc.decision
            p = mc.pvalue_decided
            if mc.decision.startswith(("significantly", "no significant")) and p is not None:
                if mc.correction not in (None, "none"):
                    verdict += f" after {CORRECTIONS[mc.correction]}"
                elif mc.metric == self.primary_metric and corrected:
                    verdict += " (primary metric, uncorrected)"
                verdict += f" ({p_clause(p)})"
            out.append(
                f"{info.label}, {mc.variant} vs {self.control}: "
                f"{fmt_abs(c.abs_lift, info.kind)} {ci}, {verdict}"
            )
        return out

    def __str__(self) -> str:
        head = f"Experiment {self.name!r}: " + ", ".join(
            f"{v} n={n:,}" for v, n in zip(self.srm.variants, self.srm.observed, strict=True)
        )
        if self.as_of is not None:
            head += f"; as of {self.as_of.isoformat()}"
        lines = [head]
        if self.srm.flagged:
            lines.append(f"!! sample ratio mismatch: p = {fmt_p(self.srm.pvalue)} (< 0.001)")
        for f in self.data_quality.findings:
            if f.severity != "info":
                lines.append(f"[{f.severity}] {f.message}")
        lines.extend("- " + v for v in self.verdicts())
        return "\n".join(lines)

    def __repr__(self) -> str:
        when = "" if self.as_of is None else f" as of {fmt_when(self.as_of)}"
        head = (
            f"<ExperimentResult {self.name!r}{when}: {arm_sizes(self.srm.variants, self.srm.observed)}"
            f"; trust: {trust_text(self.data_quality)}>"
        )
        kinds = {m.name: m for m in self.metrics}
        lines = []
        for mc in self.comparisons:
            info = kinds[mc.metric]
            label = info.label + " (primary)" * (mc.metric == self.primary_metric)
            lines.append(lift_line(f"{label}, {mc.variant}", mc.comparison, info.kind, mc.decision))
        return "\n".join([head, *more_lines(lines)])

    def _repr_html_(self) -> str:
        """The result for a notebook; decisions coloured inline (readable without a style sheet)."""
        return _result_html(self)

    def plot(self, ax: Axes | None = None, *, relative: bool = True) -> Axes:
        """Forest plot of the lifts with their confidence intervals."""

        return forest(self, ax=ax, relative=relative)


def _result_html(res: ExperimentResult) -> str:
    """:meth:`ExperimentResult._repr_html_`: a significant row green or red (good or bad direction),
    the others grey, all inline."""
    e, srm = html.escape, res.srm
    kinds = {m.name: m for m in res.metrics}
    arms = ", ".join(f"{e(v)}: {n:,}" for v, n in zip(srm.variants, srm.observed, strict=True))
    status = f"<b class='abkit-blocking' style='{severity_style('blocking')}'>MISMATCH</b>"
    when = "" if res.as_of is None else f" As of {e(res.as_of.isoformat())}."
    parts = [
        f"<div class='abkit-result'><h4>Experiment {e(res.name)}</h4><p>Units analysed — "
        f"{arms}. Sample ratio check: {status if srm.flagged else 'OK'} (p = "
        f"{e(fmt_p(srm.pvalue))}).{when}</p>"
    ]
    warn = [f for f in res.data_quality.findings if f.severity != "info"]
    if warn:
        parts.append("<ul>")
        parts.extend(
            f"<li style='{severity_style(f.severity)}'><b>{e(f.severity)}</b>: {e(f.message)}</li>"
            for f in warn
        )
        parts.append("</ul>")
    adjusted = any(mc.correction not in (None, "none") for mc in res.comparisons)
    parts.append(
        "<table><thead><tr><th>metric</th><th>variant</th><th>control</th><th>treatment</th>"
        "<th>abs. lift [CI]</th><th>rel. lift [CI]</th><th>interval (rel.)</th><th>p-value</th>"
        + ("<th>adj. p</th>" if adjusted else "")
        + "<th>decision</th><th>n (c / t)</th></tr></thead><tbody>"
    )
    scale = interval_scale(
        [
            b
            for mc in res.comparisons
            for b in (mc.comparison.rel_lift_ci_lower, mc.comparison.rel_lift_ci_upper)
        ]
    )
    for mc in res.comparisons:
        c, info = mc.comparison, kinds[mc.metric]
        k = info.kind
        adj = f"<td>{e(fmt_p(mc.pvalue_adjusted))}</td>" if adjusted else ""
        bar = interval_svg(
            c.rel_lift_ci_lower,
            c.rel_lift,
            c.rel_lift_ci_upper,
            scale,
            tone(mc.decision, info.higher_is_better),
        )
        parts.append(
            f"<tr{tone_attrs(mc.decision, info.higher_is_better)}><td title='"
            f"{e(info.definition)}'>{e(info.label)}</td><td>{e(mc.variant)}</td>"
            f"<td>{fmt_value(c.control_value, k)}</td><td>{fmt_value(c.treatment_value, k)}</td>"
            f"<td>{fmt_abs(c.abs_lift, k)} [{fmt_abs(c.abs_lift_ci_lower, k)}, "
            f"{fmt_abs(c.abs_lift_ci_upper, k)}]</td>"
            f"<td>{fmt_rel(c.rel_lift)} [{fmt_rel(c.rel_lift_ci_lower)}, "
            f"{fmt_rel(c.rel_lift_ci_upper)}]</td><td>{bar}</td><td>{e(fmt_p(c.pvalue))}</td>{adj}"
            f"<td>{e(mc.decision)}</td><td>{c.n_control:,} / {c.n_treatment:,}</td></tr>"
        )
    parts.append("</tbody></table>")
    notes = [
        f"<li>{e(kinds[mc.metric].label)}, {e(mc.variant)}: {e(mc.comparison.note)}</li>"
        for mc in res.comparisons
        if mc.comparison.note
    ]
    if notes:
        parts.append(f"<ul class='abkit-notes' style='font-size:smaller'>{''.join(notes)}</ul>")
    how = f"decisions after the {CORRECTIONS[res.correction]} correction across metrics × "
    how += "treatments" + ("; primary metric uncorrected" if res.primary_metric else "")
    parts.append(
        f"<p><small>{int(100 * (1 - res.alpha))}% intervals, {e(res.alternative)}; "
        + (how if res.correction != "none" else "decisions on raw p-values")
        + f". The bars draw the relative intervals on one axis (±{scale:.1%}) around a grey "
        "zero line. Green / red: a significant change in / against the metric's good direction; "
        "grey: not significant, withheld or untested. Hover a metric for its exact "
        "definition.</small></p></div>"
    )
    return "".join(parts)


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        clean: dict[str, Any] = {}
        for k, v in r.items():
            if isinstance(v, float) and not math.isfinite(v):
                clean[k] = None if math.isnan(v) else ("inf" if v > 0 else "-inf")
            elif hasattr(v, "item"):
                clean[k] = v.item()
            else:
                clean[k] = v
        out.append(clean)
    return out
