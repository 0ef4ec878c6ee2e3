"""Result types of the statistics layer (pure data; no pandas, no Ibis)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Alternative = Literal["two-sided", "greater", "less"]
ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")


@dataclass(frozen=True, slots=True)
class Comparison:
    """One treatment-versus-control comparison of one metric.

    ``abs_lift = treatment_value - control_value`` and
    ``rel_lift = treatment_value / control_value - 1``. Confidence bounds are for the chosen
    ``alternative`` (a one-sided test has one infinite bound). ``pvalue`` is ``None`` — never NaN —
    when the test cannot be computed; ``note`` then says why (e.g. "fewer than 2 units in control").
    """

    control_value: float
    treatment_value: float
    abs_lift: float
    abs_lift_ci_lower: float | None
    abs_lift_ci_upper: float | None
    rel_lift: float | None
    rel_lift_ci_lower: float | None
    rel_lift_ci_upper: float | None
    pvalue: float | None
    statistic: float | None
    n_control: int
    n_treatment: int
    method: str
    alternative: str = "two-sided"
    alpha: float = 0.05
    note: str | None = None
    #: standard error of ``abs_lift`` (unpooled for proportions, Welch for means, delta method for
    #: ratios); ``None`` where none is defined (zero variance, empty arm)
    std_error: float | None = None

    @property
    def significant(self) -> bool:
        """``pvalue < alpha`` (False when no p-value could be computed)."""
        return self.pvalue is not None and self.pvalue < self.alpha

    @classmethod
    def untested(
        cls,
        control_value: float,
        treatment_value: float,
        n_control: int,
        n_treatment: int,
        *,
        note: str,
        alpha: float = 0.05,
        alternative: str = "two-sided",
    ) -> Comparison:
        """A comparison that cannot be tested (an arm without units): no lift, no p-value, the
        reason in ``note``."""
        return cls(
            control_value=control_value,
            treatment_value=treatment_value,
            abs_lift=math.nan,
            abs_lift_ci_lower=None,
            abs_lift_ci_upper=None,
            rel_lift=None,
            rel_lift_ci_lower=None,
            rel_lift_ci_upper=None,
            pvalue=None,
            statistic=None,
            n_control=n_control,
            n_treatment=n_treatment,
            method="none",
            alternative=alternative,
            alpha=alpha,
            note=note,
        )


@dataclass(frozen=True, slots=True)
class SRMResult:
    """Sample-ratio-mismatch check: observed arm sizes vs planned weights (``method`` says how)."""

    variants: tuple[str, ...]
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    weights: tuple[float, ...]
    statistic: float | None
    pvalue: float | None
    df: int
    threshold: float = 0.001
    note: str | None = None
    #: the test that produced ``pvalue`` ("Pearson chi-square", "G-test", "exact binomial" …)
    method: str = "Pearson chi-square"

    @property
    def flagged(self) -> bool:
        """True when ``pvalue < threshold``: the split is not what was planned."""
        return self.pvalue is not None and self.pvalue < self.threshold
