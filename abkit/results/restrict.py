"""One result seen through a subset of its metrics, decided as if it had been run alone.

A report computes its retention curve (D0..D30) and its cohort triangle (D1, D7, … per exposure
day) from one analysis of the logs instead of one each; each view is that analysis restricted to
its own metrics. The statistics of a metric do not depend on which other metrics were computed
with it (each metric's sums come from the same per-unit pass), so only the multiple-testing
decisions — which depend on the family of comparisons — are taken again, by :func:`decide`,
within the subset. ``tests/test_views_one_pass.py`` checks the views against separate runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from abkit.quality import DataQuality
from abkit.results.comparisons import decide

__all__ = ["restrict"]


def restrict(res: Any, metrics: Sequence[str], *, segments: bool = True) -> Any:
    """``res`` (an :class:`~abkit.results.ExperimentResult`) with only ``metrics`` (in the given
    order), without its segment comparisons unless ``segments``; decisions re-taken within them.

    Findings and counts that are about one metric (``immature_<name>``, ``missing_<name>``) are
    kept for the metrics kept only; the rest of the data-quality record is the analysis's own.
    """
    names = list(dict.fromkeys(metrics))
    unknown = [n for n in names if n not in {m.name for m in res.metrics}]
    if unknown:
        raise KeyError(f"no metrics {unknown}; metrics are {[m.name for m in res.metrics]}")
    keep = set(names)
    dropped = {m.name for m in res.metrics} - keep

    def about_dropped(code: str) -> bool:
        return any(code in (f"immature_{n}", f"missing_{n}") for n in dropped)

    order = {n: i for i, n in enumerate(names)}
    comps = sorted(
        (mc for mc in res.comparisons if mc.metric in keep), key=lambda c: order[c.metric]
    )
    seg = [mc for mc in res.segment_comparisons if mc.metric in keep] if segments else []
    primary = res.primary_metric if res.primary_metric in keep else None
    withheld = ", ".join(f.code for f in res.data_quality.blocking) or None
    decided = decide(
        (*comps, *seg),
        alpha=res.alpha,
        correction=res.correction,
        primary_metric=primary,
        withheld=withheld,
    )
    dq = res.data_quality
    quality = DataQuality(
        counts={k: v for k, v in dq.counts.items() if not about_dropped(k)},
        findings=tuple(f for f in dq.findings if not about_dropped(f.code)),
    )
    return replace(
        res,
        metrics=tuple(
            sorted((m for m in res.metrics if m.name in keep), key=lambda m: order[m.name])
        ),
        comparisons=decided[: len(comps)],
        segment_comparisons=decided[len(comps) :],
        arms=tuple(a for a in res.arms if a.metric in keep and (segments or a.segment is None)),
        segment_units=res.segment_units if segments else (),
        primary_metric=primary,
        guardrails=tuple(g for g in res.guardrails if g.metric in keep),
        data_quality=quality,
    )
