"""The report's tables that need nothing but a result: guardrails, segments, time to churn.

Every user string is escaped; the numbers follow :mod:`abkit._format`.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from abkit._display import tone_attrs
from abkit._format import fmt_abs, fmt_p, fmt_rel, fmt_value

if TYPE_CHECKING:
    from abkit.results import ExperimentResult

__all__ = ["MAX_SEGMENT_VALUES", "churn_table", "guardrails_table", "segments_table"]


def guardrails_table(res: ExperimentResult) -> str:
    """Guardrail metrics: passed / breached, with the one-sided bound against the margin."""
    if not res.guardrails:
        return ""
    e = html.escape
    labels = {m.name: m.label for m in res.metrics}
    rows = []
    for g in res.guardrails:
        state = {True: "passed", False: "BREACHED", None: "no test"}[g.passed]
        cls = {True: "abkit-ok", False: "abkit-blocking", None: ""}[g.passed]
        unit = " (relative)" if g.relative else ""
        direction = "higher is better" if g.higher_is_better else "lower is better"
        est = "–" if g.estimate is None else f"{g.estimate:+.3g}"
        bound = "–" if g.bound is None else f"{g.bound:+.3g}"
        rows.append(
            f"<tr><td>{e(labels.get(g.metric, g.metric))}</td><td>{e(g.variant)}</td>"
            f"<td>{g.margin:g}{unit}, {direction}</td><td>{est}</td><td>{bound}</td>"
            f"<td>{fmt_p(g.pvalue)}</td><td class='{cls}'>{state}"
            f"{' — ' + e(g.note) if g.note else ''}</td></tr>"
        )
    return (
        "<p>Non-inferiority tests: a guardrail passes when the one-sided "
        f"{round(100 * (1 - res.alpha))}% bound of the lift stays within the margin.</p>"
        "<table><thead><tr><th>metric</th><th>variant</th><th>margin</th><th>lift</th>"
        "<th>bound</th><th>p</th><th>status</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


#: segment values a report lists per dimension (the largest by units); the rest are counted
MAX_SEGMENT_VALUES = 20


def segments_table(res: ExperimentResult, limit: int = MAX_SEGMENT_VALUES) -> str:
    """Per-segment lifts with Benjamini–Hochberg adjusted p-values: the ``limit`` largest values
    of each dimension (by units), and a line saying how many smaller ones are left out."""
    e = html.escape
    if not res.segment_comparisons:
        return ""
    kinds = {m.name: m for m in res.metrics}
    size: dict[tuple[str | None, str | None], int] = {}
    for mc in res.segment_comparisons:
        key, n = (mc.segment, mc.segment_value), mc.comparison.n_control + mc.comparison.n_treatment
        size[key] = max(size.get(key, 0), n)
    shown: set[tuple[str | None, str | None]] = set()
    notes = []
    for dim in dict.fromkeys(k[0] for k in size):
        values = sorted((k for k in size if k[0] == dim), key=lambda k: (-size[k], str(k[1])))
        shown.update(values[:limit])
        if len(values) > limit:
            share = sum(size[k] for k in values[:limit]) / max(1, sum(size[k] for k in values))
            notes.append(
                f"<p class='abkit-note'>{e(str(dim))}: the {limit} largest of {len(values):,} "
                f"values are shown ({share:.1%} of the units); every value is in "
                "<code>res.segments_to_pandas()</code>.</p>"
            )
    head = (
        "<table class='abkit-segments'><thead><tr><th>segment</th><th>value</th>"
        "<th>metric</th><th>variant</th><th>control</th><th>treatment</th><th>abs. lift</th>"
        "<th>rel. lift</th><th>p</th><th>p (BH)</th><th>decision</th><th>n (c / t)</th></tr>"
        "</thead><tbody>"
    )
    rows = []
    for mc in res.segment_comparisons:
        if (mc.segment, mc.segment_value) not in shown:
            continue
        c, info = mc.comparison, kinds[mc.metric]
        rows.append(
            f"<tr{tone_attrs(mc.decision, info.higher_is_better)}><td>{e(mc.segment or '')}</td>"
            f"<td>{e(mc.segment_value or '')}</td><td>{e(info.label)}</td>"
            f"<td>{e(mc.variant)}</td><td>{fmt_value(c.control_value, info.kind)}</td>"
            f"<td>{fmt_value(c.treatment_value, info.kind)}</td>"
            f"<td>{fmt_abs(c.abs_lift, info.kind)}</td><td>{fmt_rel(c.rel_lift)}</td>"
            f"<td>{fmt_p(c.pvalue)}</td><td>{fmt_p(mc.pvalue_adjusted)}</td>"
            f"<td>{e(mc.decision)}</td><td>{c.n_control:,} / {c.n_treatment:,}</td></tr>"
        )
    return head + "".join(rows) + "</tbody></table>" + "".join(notes)


def churn_table(churn: Any, alpha: float) -> str:
    """The time-to-churn section: a note when the RMST is not computed, the definition and
    the RMST table (``churn`` is an :class:`abkit.retention.ChurnResult`)."""
    e = html.escape

    def num(x: float | None, fmt: str = "+.3g") -> str:
        return "–" if x is None else format(x, fmt)

    rows = "".join(
        f"<tr><td>{e(r.variant)}</td><td>{num(r.rmst_control, '.3g')}</td>"
        f"<td>{num(r.rmst_treatment, '.3g')}</td><td>{num(r.extra_days)}</td>"
        f"<td>[{num(r.ci_lower)}, {num(r.ci_upper)}]</td><td>{fmt_p(r.pvalue)}</td>"
        f"<td>{fmt_p(r.logrank_pvalue)}</td></tr>"
        for r in churn.summary().astype(object).where(churn.summary().notna(), None).itertuples()
    )
    level = round(100 * (1 - alpha))
    return (
        (f"<p>{e(churn.note)}.</p>" if churn.note else "")
        + f"<p>{e(churn.definition)}.</p><table><thead><tr><th>variant</th>"
        "<th>days retained (control)</th><th>days retained (treatment)</th>"
        f"<th>extra days</th><th>{level}% CI</th><th>p</th><th>log-rank p</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
