"""What one comparison is, and the one decision every surface shows for it (:func:`decide`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from abkit.stats._types import Comparison
from abkit.stats.multiple import adjust_pvalues

__all__ = [
    "COMPARISON_COLUMNS",
    "CORRECTIONS",
    "ArmStats",
    "GuardrailResult",
    "MetricComparison",
    "MetricInfo",
    "decide",
]

#: columns of ``ExperimentResult.to_pandas()``, in order
COMPARISON_COLUMNS = (
    "metric",
    "variant",
    "control_value",
    "treatment_value",
    "abs_lift",
    "abs_lift_ci_lower",
    "abs_lift_ci_upper",
    "rel_lift",
    "rel_lift_ci_lower",
    "rel_lift_ci_upper",
    "pvalue",
    "pvalue_adjusted",
    "correction",
    "decision",
    "significant",
    "significant_raw",
    "n_control",
    "n_treatment",
    "immature_control",
    "immature_treatment",
    "method",
    "note",
)


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What a metric is: its key, title, kind and the exact definition behind its numbers.

    ``cap``: the value each unit's value was capped at (a fixed ``cap``, or the value a
    ``cap_quantile`` came to in this analysis); None without a cap.
    """

    name: str
    label: str
    kind: str
    definition: str
    cap: float | None = None
    #: the direction of a good change: significant lifts this way are good (green), the other
    #: way bad (red)
    higher_is_better: bool = True


@dataclass(frozen=True, slots=True)
class ArmStats:
    """Per-arm summary of one metric (overall, or within one segment value)."""

    metric: str
    variant: str
    n: int
    mean: float | None
    var: float | None
    immature: int
    missing: int
    segment: str | None = None
    segment_value: str | None = None


@dataclass(frozen=True, slots=True)
class MetricComparison:
    """One metric, one treatment arm against control (overall or within one segment value)."""

    metric: str
    variant: str
    comparison: Comparison
    immature_control: int = 0
    immature_treatment: int = 0
    segment: str | None = None
    segment_value: str | None = None
    pvalue_adjusted: float | None = None
    correction: str | None = None
    #: the one decision every surface shows (see :func:`decide`): "significantly higher",
    #: "significantly lower", "no significant difference", "withheld: <findings>" or
    #: "no test: <why>"
    decision: str = ""
    #: the share of the lift's variance a CUPED or regression adjustment (``adjust=``) removed
    #: (0.3: the interval about 16 % narrower); None without an adjustment
    variance_reduction: float | None = None

    @property
    def significant(self) -> bool:
        """The final decision: significant after the correction and not withheld."""
        return self.decision.startswith("significantly")

    @property
    def significant_raw(self) -> bool:
        """Significant on the raw (uncorrected) p-value, whatever any finding says."""
        return self.comparison.significant

    @property
    def pvalue_decided(self) -> float | None:
        """The p-value the decision was taken on (adjusted if corrected, else raw)."""
        return self.pvalue_adjusted if self.pvalue_adjusted is not None else self.comparison.pvalue


#: multiple-testing corrections across metrics × treatments, and how sentences name them
CORRECTIONS = {
    "holm": "Holm",
    "hochberg": "Hochberg",
    "bonferroni": "Bonferroni",
    "fdr_bh": "Benjamini–Hochberg",
    "fdr_by": "Benjamini–Yekutieli",
    "none": "no correction",
}


def _decision(mc: MetricComparison, p: float | None, alpha: float, withheld: str | None) -> str:
    c = mc.comparison
    if c.pvalue is None or p is None:
        return f"no test: {c.note or 'no p-value'}"
    if withheld:
        return f"withheld: {withheld}"
    if p < alpha:
        return "significantly " + ("higher" if c.abs_lift > 0 else "lower")
    return "no significant difference"


def decide(
    comparisons: tuple[MetricComparison, ...],
    *,
    alpha: float,
    correction: str,
    primary_metric: str | None = None,
    withheld: str | None = None,
) -> tuple[MetricComparison, ...]:
    """The comparisons with their decisions, taken once for every surface.

    Overall comparisons (no segment): p-values corrected by ``correction`` across metrics ×
    treatments, the pre-registered ``primary_metric`` left out of the family (uncorrected, a
    confirmatory test). Segment comparisons keep the Benjamini–Hochberg p-values adjusted
    across the values of their dimension. ``withheld`` (the codes of blocking data-quality
    findings) withholds every decision that had a test.
    """

    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {list(CORRECTIONS)}, got {correction!r}")
    out = list(comparisons)
    overall = [i for i, mc in enumerate(out) if mc.segment is None]
    family = [
        i
        for i in overall
        if out[i].metric != primary_metric and out[i].comparison.pvalue is not None
    ]
    adjusted: dict[int, float] = {}
    if correction != "none" and family:
        ps = [out[i].comparison.pvalue for i in family]
        fixed = adjust_pvalues(ps, method=correction, alpha=alpha).adjusted
        adjusted = {i: p for i, p in zip(family, fixed, strict=True) if p is not None}
    for i in overall:
        mc = out[i]
        p = adjusted.get(i, mc.comparison.pvalue)
        used = correction if i in adjusted else "none"
        out[i] = replace(
            mc,
            pvalue_adjusted=p if mc.comparison.pvalue is not None else None,
            correction=used,
            decision=_decision(mc, p, alpha, withheld),
        )
    for i, mc in enumerate(out):
        if mc.segment is not None:
            out[i] = replace(mc, decision=_decision(mc, mc.pvalue_decided, alpha, withheld))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class GuardrailResult:
    """A non-inferiority test of one guardrail metric for one treatment.

    ``passed`` is True when the one-sided ``1 - alpha`` bound stays within the margin, False when
    it does not (the guardrail is breached: harm larger than the margin cannot be ruled out),
    None when no test was possible (``note`` says why).
    """

    metric: str
    variant: str
    margin: float
    relative: bool
    higher_is_better: bool
    estimate: float | None
    bound: float | None
    pvalue: float | None
    passed: bool | None
    method: str
    note: str | None = None
