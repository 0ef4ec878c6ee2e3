"""Display helpers shared by every result object's short repr and inline-styled HTML, the
plots and the report: decision colours, one-line clips, trust status, lift lines.

Example:
    >>> tone("significantly lower", higher_is_better=False), tone("withheld: srm")
    ('good', 'neutral')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from abkit._format import fmt_abs, fmt_rel, fmt_value

__all__ = [
    "SEVERITY_COLORS",
    "TONE_COLORS",
    "arm_sizes",
    "clip",
    "decision_words",
    "fmt_when",
    "interval_scale",
    "interval_svg",
    "lift_line",
    "more_lines",
    "severity_style",
    "tone",
    "tone_attrs",
    "trust_text",
]

#: colours of a decision on every surface (table, plot, report): a significant change in the
#: metric's good direction, in its bad direction, and anything else (not significant, withheld,
#: no test); the report's style sheet has them as classes ``abkit-good`` / ``-bad`` / ``-neutral``
TONE_COLORS = {"good": "#1a7f37", "bad": "#cf222e", "neutral": "#6e7781"}
#: inline colours of a finding's severity (HTML shown without the report's style sheet)
SEVERITY_COLORS: dict[str, str] = {"blocking": "#cf222e", "warning": "#9a6700", "info": "#6e7781"}


def severity_style(severity: str) -> str:
    """``color:…`` for a severity; blocking and warning also bold."""
    bold = ";font-weight:600" if severity != "info" else ""
    return f"color:{SEVERITY_COLORS.get(severity, SEVERITY_COLORS['info'])}{bold}"


def clip(text: str, width: int = 100) -> str:
    """One line (runs of white space, newlines included, become one space), at most ``width``."""
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 1] + "…"


def more_lines(lines: Sequence[str], limit: int = 5, width: int = 120) -> list[str]:
    """The first ``limit`` lines, each clipped to ``width``, then "… N more" for the rest."""
    out = []
    for line in lines[:limit]:
        pad = len(line) - len(line.lstrip(" "))
        out.append(" " * pad + clip(line, width - pad))
    return out + ([f"  … {len(lines) - limit} more"] if len(lines) > limit else [])


def trust_text(dq: Any) -> str:
    """``ok``, ``ok (2 warnings)`` or ``BLOCKED (srm, …)``: the trust status in a few words."""
    if dq.blocking:
        return "BLOCKED (" + ", ".join(f.code for f in dq.blocking) + ")"
    k = sum(f.severity == "warning" for f in dq.findings)
    return f"ok ({k} warning{'s' if k > 1 else ''})" if k else "ok"


def tone(decision: str, higher_is_better: bool = True) -> str:
    """``good`` / ``bad``: a significant change in / against the good direction; else ``neutral``."""
    if not decision.startswith("significantly"):
        return "neutral"
    return "good" if decision.startswith("significantly higher") == higher_is_better else "bad"


def tone_attrs(decision: str, higher_is_better: bool = True) -> str:
    """`` class=… style=…`` for a row or cell showing ``decision``: inline colour, bold if significant."""
    t = tone(decision, higher_is_better)
    if t == "neutral":
        return f" class='abkit-neutral' style='color:{TONE_COLORS[t]}'"
    return f" class='abkit-sig abkit-{t}' style='color:{TONE_COLORS[t]};font-weight:600'"


#: geometry of the inline interval drawn in a results table row (pixels)
_BAR_W, _BAR_H, _BAR_PAD = 120, 14, 4


def interval_scale(bounds: Sequence[float | None]) -> float:
    """The half-width that the inline intervals of one table share: the largest finite
    ``|bound|`` (1 when there is none), so that every row is drawn on the same axis."""
    finite = [abs(b) for b in bounds if b is not None and math.isfinite(b)]
    return max(finite, default=0.0) or 1.0


def interval_svg(
    lower: float | None, estimate: float | None, upper: float | None, scale: float, shade: str
) -> str:
    """An interval drawn inline (as GrowthBook and Statsig tables do): a grey zero line, the
    interval as a bar in the decision's colour and the estimate as a tick; an infinite bound
    (one-sided test) runs to the edge. Presentation attributes only, no style or script, so it
    survives the report's sanitiser and reads without a style sheet. "" without an interval."""
    if lower is None or upper is None or estimate is None or not math.isfinite(estimate):
        return ""
    mid, half = _BAR_W / 2, _BAR_W / 2 - _BAR_PAD

    def x(v: float) -> float:
        v = max(-scale, min(scale, v)) if math.isfinite(v) else math.copysign(scale, v)
        return round(mid + half * v / scale, 1)

    color = TONE_COLORS[shade]
    lo, hi, at = x(lower), x(upper), x(estimate)
    return (
        f"<svg class='abkit-interval' width='{_BAR_W}' height='{_BAR_H}' role='img' "
        f"aria-label='interval {lower:.4g} to {upper:.4g}'>"
        f"<line x1='{mid}' y1='0' x2='{mid}' y2='{_BAR_H}' stroke='#8c959f' stroke-width='1'/>"
        f"<rect x='{lo}' y='{_BAR_H / 2 - 2}' width='{max(hi - lo, 1.0)}' height='4' "
        f"fill='{color}'/>"
        f"<rect x='{at - 1.5}' y='1' width='3' height='{_BAR_H - 2}' fill='{color}'/></svg>"
    )


def decision_words(pvalue: float | None, lift: float, significant: bool, note: str | None) -> str:
    """:func:`abkit.results.decide`'s words for one test outside an ExperimentResult (no correction)."""
    if pvalue is None:
        return f"no test: {note or 'no p-value'}"
    if significant:
        return "significantly " + ("higher" if lift > 0 else "lower")
    return "no significant difference"


def fmt_when(t: datetime) -> str:
    """``2024-04-09 23:55 UTC`` (naive times are taken as UTC)."""
    utc = t.astimezone(UTC) if t.tzinfo is not None else t
    return utc.strftime("%Y-%m-%d %H:%M UTC")


def arm_sizes(variants: Sequence[str], counts: Sequence[int]) -> str:
    """``control n=2,038, treatment n=1,962``."""
    return ", ".join(f"{clip(v, 30)} n={int(n):,}" for v, n in zip(variants, counts, strict=True))


def lift_line(label: str, c: Any, kind: str, decision: str, values: bool = False) -> str:
    """``  <label>: [t vs c, ]+3 pp (+15.2%), <decision>`` — one line of a short repr."""
    shown = f"{fmt_value(c.treatment_value, kind)} vs {fmt_value(c.control_value, kind)}, "
    lift = f"{fmt_abs(c.abs_lift, kind)} ({fmt_rel(c.rel_lift)})"
    return f"  {clip(label, 60)}: {shown * values}{lift}, {decision}"
