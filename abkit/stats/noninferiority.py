"""Non-inferiority / guardrail tests: one-sided tests against a margin, reported as pass/fail.

For a metric where higher is better and margin ``m > 0`` on the absolute scale::

    H0: d <= -m    vs    H1: d > -m,     statistic (d + m) / se

(for lower-is-better metrics, e.g. crash rate, ``H0: d >= m`` and statistic ``(d - m)/se``). The
guardrail passes when the one-sided p-value is below ``alpha`` — equivalently when the
``1 - alpha`` one-sided confidence bound stays inside the margin. Proportions use the unpooled
Wald standard error (``test_proportions_2indep(value=-m, method="wald")``), means use Welch's t
(``CompareMeans.ttest_ind(value=-m, usevar="unequal")``), ratio metrics ``Σx/Σy`` the
delta-method z-test of :func:`~abkit.stats.compare_ratios`. With ``relative=True`` the margin is
a fraction of the control value and the test runs on the relative lift with its delta-method
standard error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from abkit.errors import StatsError
from abkit.stats._common import check_finite, pvalue_t, pvalue_z
from abkit.stats._types import Comparison
from abkit.stats.means import compare_means
from abkit.stats.proportions import compare_proportions
from abkit.stats.ratio import RatioSums, compare_ratios

__all__ = [
    "NonInferiorityResult",
    "noninferiority_means",
    "noninferiority_proportions",
    "noninferiority_ratios",
]


@dataclass(frozen=True, slots=True)
class NonInferiorityResult:
    """Outcome of a guardrail test. ``passed`` is ``None`` when no test was possible."""

    comparison: Comparison
    margin: float
    relative: bool
    higher_is_better: bool
    statistic: float | None
    pvalue: float | None
    bound: float | None
    passed: bool | None
    method: str
    note: str | None = None


def _finish(
    comp: Comparison, estimate: float | None, se: float | None, df: float | None,
    margin: float, relative: bool, higher_is_better: bool, label: str,
) -> NonInferiorityResult:  # fmt: skip
    if estimate is None or se is None or not (se > 0):
        return NonInferiorityResult(
            comp, margin, relative, higher_is_better, None, None, None, None, label,
            comp.note or "no standard error: no test",
        )  # fmt: skip
    shift = margin if higher_is_better else -margin
    stat = (estimate + shift) / se
    alt = "greater" if higher_is_better else "less"
    pvalue = float(pvalue_z(stat, alt) if df is None else pvalue_t(stat, df, alt))
    bound = comp.rel_lift_ci_lower if relative else comp.abs_lift_ci_lower
    if not higher_is_better:
        bound = comp.rel_lift_ci_upper if relative else comp.abs_lift_ci_upper
    return NonInferiorityResult(
        comp, margin, relative, higher_is_better, stat, pvalue, bound,
        pvalue < comp.alpha, label, comp.note,
    )  # fmt: skip


def _check_margin(margin: float) -> float:
    m = check_finite(margin, "margin")
    if m <= 0:
        raise StatsError(
            f"margin must be > 0 (the largest acceptable loss, e.g. 0.01), got {margin!r}."
        )
    return m


def noninferiority_proportions(
    count_control: int,
    nobs_control: int,
    count_treatment: int,
    nobs_treatment: int,
    *,
    margin: float,
    relative: bool = False,
    higher_is_better: bool = True,
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """Non-inferiority (guardrail) test for a rate.

    Args:
        count_control: successes in control.
        nobs_control: units in control.
        count_treatment: successes in treatment.
        nobs_treatment: units in treatment.
        margin: largest acceptable harm (> 0), absolute or relative to the control rate.
        relative: whether ``margin`` is relative.
        higher_is_better: ``False`` for metrics such as churn or crash rate.
        alpha: one-sided significance level.

    Returns:
        A :class:`NonInferiorityResult`; ``bound`` is the one-sided ``1 - alpha`` confidence bound.

    Example:
        >>> r = noninferiority_proportions(4000, 10000, 3950, 10000, margin=0.02)
        >>> r.passed, round(r.pvalue, 5)
        (True, 0.0151)
    """
    m = _check_margin(margin)
    alt = "greater" if higher_is_better else "less"
    comp = compare_proportions(
        count_control, nobs_control, count_treatment, nobs_treatment, alpha=alpha, alternative=alt
    )
    label = f"non-inferiority z-test (unpooled), {'relative' if relative else 'absolute'} margin"
    return _finish(comp, *_estimate(comp, relative), None, m, relative, higher_is_better, label)


def _estimate(comp: Comparison, relative: bool) -> tuple[float | None, float | None]:
    if comp.pvalue is None:
        return None, None
    if not relative:
        lo, hi = comp.abs_lift_ci_lower, comp.abs_lift_ci_upper
        est = comp.abs_lift
    else:
        lo, hi = comp.rel_lift_ci_lower, comp.rel_lift_ci_upper
        est = comp.rel_lift  # type: ignore[assignment]
        if est is None:
            return None, None
    # Recover the standard error from the one-sided bound: bound = est ∓ crit·se.
    bound = lo if lo is not None and math.isfinite(lo) else hi
    if bound is None:
        return None, None
    crit = _crit_of(comp)
    return est, abs(est - bound) / crit


def _crit_of(comp: Comparison) -> float:
    # The z critical value of the comparison's one-sided interval (proportions and relative CIs).
    from abkit.stats._common import crit_z

    return crit_z(comp.alpha, comp.alternative)


def noninferiority_means(
    mean_control: float,
    var_control: float,
    nobs_control: int,
    mean_treatment: float,
    var_treatment: float,
    nobs_treatment: int,
    *,
    margin: float,
    relative: bool = False,
    higher_is_better: bool = True,
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """Non-inferiority (guardrail) test for a mean, Welch t on the absolute scale.

    Args:
        mean_control: control mean.
        var_control: control sample variance (ddof=1).
        nobs_control: units in control.
        mean_treatment: treatment mean.
        var_treatment: treatment sample variance.
        nobs_treatment: units in treatment.
        margin: largest acceptable harm (> 0), absolute or relative to the control mean.
        relative: whether ``margin`` is relative (then a z-test on the delta-method relative lift).
        higher_is_better: ``False`` for metrics where an increase is harm.
        alpha: one-sided significance level.

    Returns:
        A :class:`NonInferiorityResult`.

    Example:
        >>> r = noninferiority_means(10.0, 4.0, 500, 9.9, 4.0, 500, margin=0.5)
        >>> r.passed, round(r.pvalue, 6)
        (True, 0.000806)
    """
    m = _check_margin(margin)
    alt = "greater" if higher_is_better else "less"
    comp = compare_means(
        mean_control, var_control, nobs_control, mean_treatment, var_treatment, nobs_treatment,
        alpha=alpha, alternative=alt,
    )  # fmt: skip
    if relative:
        label = "non-inferiority z-test on the relative lift (delta method), relative margin"
        return _finish(comp, *_estimate(comp, True), None, m, True, higher_is_better, label)
    label = "non-inferiority Welch t-test, absolute margin"
    if comp.pvalue is None:
        return _finish(comp, None, None, None, m, False, higher_is_better, label)
    a_c = float(var_control) / nobs_control
    a_t = float(var_treatment) / nobs_treatment
    se = math.sqrt(a_c + a_t)
    df = (a_c + a_t) ** 2 / (a_c**2 / (nobs_control - 1) + a_t**2 / (nobs_treatment - 1))
    return _finish(comp, comp.abs_lift, se, df, m, False, higher_is_better, label)


def noninferiority_ratios(
    control: RatioSums | Sequence[float],
    treatment: RatioSums | Sequence[float],
    *,
    margin: float,
    relative: bool = False,
    higher_is_better: bool = True,
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """Non-inferiority (guardrail) test for a ratio metric ``Σx/Σy`` (delta-method z-test).

    The estimate is the difference of the arms' ratios with the delta-method standard error of
    :func:`~abkit.stats.compare_ratios`; with ``relative=True``, the relative lift with its
    delta-method standard error.

    Args:
        control: control :class:`~abkit.stats.RatioSums` or
            ``(sum_x, sum_y, sum_x2, sum_y2, sum_xy, n)``.
        treatment: the same for treatment.
        margin: largest acceptable harm (> 0), absolute or relative to the control ratio.
        relative: whether ``margin`` is relative.
        higher_is_better: ``False`` for ratios where an increase is harm (e.g. errors per request).
        alpha: one-sided significance level.

    Returns:
        A :class:`NonInferiorityResult`.

    Example:
        Revenue per session (Σ revenue / Σ sessions) may drop by at most 0.1:

        >>> c = (5860.1, 2938.0, 45644.1, 10670.0, 21290.5, 1000)
        >>> t = (5995.0, 3064.0, 48298.2, 11560.0, 22824.8, 1000)
        >>> r = noninferiority_ratios(c, t, margin=0.1)
        >>> r.passed, round(r.pvalue, 6)
        (True, 0.010054)
    """
    m = _check_margin(margin)
    alt = "greater" if higher_is_better else "less"
    comp = compare_ratios(control, treatment, alpha=alpha, alternative=alt)
    if relative:
        label = (
            "non-inferiority z-test on the relative lift of a ratio (delta method), relative margin"
        )
        return _finish(comp, *_estimate(comp, True), None, m, True, higher_is_better, label)
    label = "non-inferiority delta-method z-test for a ratio, absolute margin"
    # no test (std_error None): _finish reports it with compare_ratios' note
    return _finish(comp, comp.abs_lift, comp.std_error, None, m, False, higher_is_better, label)
