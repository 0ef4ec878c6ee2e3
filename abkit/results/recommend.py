"""One recommendation per treatment from all its metrics: Spotify's multi-metric decision rule.

Schultzberg, Kjellin & Rydberg (2024), "Risk-aware product decisions in A/B tests with multiple
metrics" (Spotify): ship a treatment only if at least one *success* metric is significantly
better and no *guardrail* is inferior — each guardrail's non-inferiority test must pass — and no
metric is significantly worse. abkit reads the decisions it already took (corrected across
metrics × treatments, primary metric uncorrected; :func:`abkit.results.decide`) and the
guardrails' non-inferiority tests; it adds no test of its own.

* success metrics: the primary metric when there is one, else every metric that is not a
  guardrail;
* ``withheld``: a blocking data-quality finding stands (no lift may be used);
* ``do not ship``: a success or guardrail metric is significantly worse (against its
  ``higher_is_better`` direction), or a guardrail's non-inferiority test failed;
* ``inconclusive``: a guardrail could not be tested, or no success metric is significantly
  better (yet);
* ``ship``: otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from abkit._display import tone

__all__ = ["Recommendation", "recommend"]

Action = Literal["ship", "do not ship", "inconclusive", "withheld"]


@dataclass(frozen=True, slots=True)
class Recommendation:
    """What to do with one treatment, and why (one sentence)."""

    variant: str
    action: Action
    reason: str
    success_metrics: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "action": self.action,
            "reason": self.reason,
            "success_metrics": list(self.success_metrics),
        }


def recommend(res: Any) -> tuple[Recommendation, ...]:
    """The recommendation for each treatment of ``res``, an
    :class:`~abkit.results.ExperimentResult` (see the module for the rule)."""
    guard = {g.metric for g in res.guardrails}
    names = [m.name for m in res.metrics]
    success = (
        (res.primary_metric,) if res.primary_metric else tuple(n for n in names if n not in guard)
    )
    blocking = [f.code for f in res.data_quality.blocking]
    out = []
    for variant in res.variants:
        if variant == res.control:
            continue
        mine = [mc for mc in res.comparisons if mc.variant == variant and mc.segment is None]
        # a guardrail's own direction wins over its metric's (``guardrails[i].higher_is_better``)
        up = {m.name: m.higher_is_better for m in res.metrics}
        up |= {g.metric: g.higher_is_better for g in res.guardrails if g.variant == variant}
        worse = [
            res.metric(mc.metric).label
            for mc in mine
            if (mc.metric in success or mc.metric in guard)
            and tone(mc.decision, up[mc.metric]) == "bad"
        ]
        better = [
            res.metric(mc.metric).label
            for mc in mine
            if mc.metric in success and tone(mc.decision, up[mc.metric]) == "good"
        ]
        gs = [g for g in res.guardrails if g.variant == variant]
        breached = [res.metric(g.metric).label for g in gs if g.passed is False]
        untested = [res.metric(g.metric).label for g in gs if g.passed is None]
        action: Action
        if blocking:
            action, reason = "withheld", f"blocking trust finding(s) {', '.join(blocking)}"
        elif worse or breached:
            action = "do not ship"
            reason = "; ".join(
                [f"{', '.join(worse)} significantly worse"] * bool(worse)
                + [f"guardrail {', '.join(breached)} not shown non-inferior"] * bool(breached)
            )
        elif untested:
            action, reason = "inconclusive", f"guardrail {', '.join(untested)} could not be tested"
        elif not better:
            action, reason = "inconclusive", "no success metric is significantly better"
        else:
            action = "ship"
            reason = f"{', '.join(better)} significantly better" + (
                f"; guardrails {', '.join(res.metric(g.metric).label for g in gs)} non-inferior"
                if gs
                else "; no guardrail set"
            )
        out.append(Recommendation(variant, action, reason, success))
    return tuple(out)
