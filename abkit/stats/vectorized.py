"""Vectorized comparisons: many (metric × segment × variant) comparisons in one numpy pass.

Same formulas as :func:`abkit.stats.compare_proportions` (``"unpooled-z"``/``"pooled-z"``) and
:func:`abkit.stats.compare_means` (``"welch"``/``"student"``), over arrays that broadcast
together. Undefined entries (an arm with fewer than 2 units, zero variance, control mean 0 for
the relative lift) are NaN here — the scalar functions turn them into ``None`` with a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from abkit.errors import StatsError
from abkit.stats._common import (
    FloatArray,
    check_alpha,
    check_alternative,
    check_choice,
    crit_t,
    crit_z,
    interval,
    pvalue_t,
    pvalue_z,
)
from abkit.stats.lift import REL_LABELS, REL_METHODS, rel_lift_arrays

__all__ = ["ComparisonArrays", "compare_means_many", "compare_proportions_many"]


@dataclass(frozen=True, slots=True)
class ComparisonArrays:
    """Column-wise :class:`~abkit.stats.Comparison` for many comparisons (NaN = undefined)."""

    control_value: FloatArray
    treatment_value: FloatArray
    abs_lift: FloatArray
    abs_lift_ci_lower: FloatArray
    abs_lift_ci_upper: FloatArray
    rel_lift: FloatArray
    rel_lift_ci_lower: FloatArray
    rel_lift_ci_upper: FloatArray
    pvalue: FloatArray
    statistic: FloatArray
    n_control: FloatArray
    n_treatment: FloatArray
    method: str
    alternative: str
    alpha: float

    def __len__(self) -> int:
        return int(self.pvalue.size)

    @property
    def significant(self) -> FloatArray:
        """Boolean array ``pvalue < alpha`` (False where undefined)."""
        with np.errstate(invalid="ignore"):
            return np.asarray(self.pvalue < self.alpha)


def _arr(value: Any, name: str) -> FloatArray:
    a = np.asarray(value, dtype=float)
    if np.any(np.isinf(a)):
        raise StatsError(f"{name} contains infinite values.")
    return a


def _counts(value: Any, name: str) -> FloatArray:
    a = _arr(value, name)
    if np.any(np.isnan(a)) or np.any(a < 0) or np.any(a != np.floor(a)):
        raise StatsError(f"{name} must hold non-negative integer counts (no NaN).")
    return a


def compare_proportions_many(
    count_control: Any,
    nobs_control: Any,
    count_treatment: Any,
    nobs_treatment: Any,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    method: str = "unpooled-z",
    rel_method: str = "delta",
) -> ComparisonArrays:
    """Vectorized :func:`~abkit.stats.compare_proportions` (z-tests, Wald CI).

    Args:
        count_control: successes in control (array-like).
        nobs_control: units in control.
        count_treatment: successes in treatment.
        nobs_treatment: units in treatment.
        alpha: significance level.
        alternative: "two-sided", "greater" or "less".
        method: "unpooled-z" or "pooled-z".
        rel_method: "delta", "fieller", "log" or "auto" (NaN bounds where undefined).

    Returns:
        A :class:`ComparisonArrays`.

    Raises:
        StatsError: negative/non-integer/NaN counts, a count above its ``nobs``, bad options.

    Example:
        >>> r = compare_proportions_many([100, 40], [1000, 400], [130, 41], [1000, 400])
        >>> [round(float(p), 4) for p in r.pvalue]
        [0.0353, 0.9067]
    """
    xc = _counts(count_control, "count_control")
    nc = _counts(nobs_control, "nobs_control")
    xt = _counts(count_treatment, "count_treatment")
    nt = _counts(nobs_treatment, "nobs_treatment")
    if np.any(xc > nc) or np.any(xt > nt):
        raise StatsError("a count is larger than its nobs; check count_* <= nobs_* elementwise.")
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    method = check_choice(method, "method", ("unpooled-z", "pooled-z"))
    rel_method = check_choice(rel_method, "rel_method", REL_METHODS)
    xc, nc, xt, nt = np.broadcast_arrays(xc, nc, xt, nt)
    with np.errstate(divide="ignore", invalid="ignore"):
        pc = xc / nc
        pt = xt / nt
        var_c = pc * (1 - pc) / nc
        var_t = pt * (1 - pt) / nt
        se_wald = np.sqrt(var_c + var_t)
        if method == "pooled-z":
            pooled = (xc + xt) / (nc + nt)
            se = np.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt))
        else:
            se = se_wald
        ok = (nc >= 2) & (nt >= 2)
        diff = pt - pc
        stat = np.where(ok & (se > 0), diff / se, np.nan)
        pvalue = pvalue_z(stat, alternative)
        ci_ok = ok & (se_wald > 0)
        lo, hi = interval(diff, crit_z(alpha, alternative) * se_wald, alternative)
        lo = np.where(ci_ok, lo, np.nan)
        hi = np.where(ci_ok, hi, np.nan)
        rel, rlo, rhi = rel_lift_arrays(
            pc, var_c, pt, var_t, alpha=alpha, alternative=alternative, method=rel_method
        )
    label = (
        f"two-proportion z-test ({'pooled' if method == 'pooled-z' else 'unpooled'} SE), "
        f"Wald CI, {REL_LABELS[rel_method]}"
    )
    return ComparisonArrays(
        pc, pt, diff, lo, hi, np.asarray(rel), np.where(ok, rlo, np.nan), np.where(ok, rhi, np.nan),
        np.asarray(pvalue, dtype=float), stat, nc, nt, label, alternative, alpha,
    )  # fmt: skip


def compare_means_many(
    mean_control: Any,
    var_control: Any,
    nobs_control: Any,
    mean_treatment: Any,
    var_treatment: Any,
    nobs_treatment: Any,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    method: str = "welch",
    rel_method: str = "delta",
) -> ComparisonArrays:
    """Vectorized :func:`~abkit.stats.compare_means` (Welch or Student t).

    Args:
        mean_control: control means (array-like).
        var_control: control sample variances (ddof=1).
        nobs_control: units in control.
        mean_treatment: treatment means.
        var_treatment: treatment sample variances.
        nobs_treatment: units in treatment.
        alpha: significance level.
        alternative: "two-sided", "greater" or "less".
        method: "welch" or "student".
        rel_method: "delta", "fieller", "log" or "auto" (NaN bounds where undefined).

    Returns:
        A :class:`ComparisonArrays`.

    Raises:
        StatsError: negative variances or counts, infinite values, bad options.

    Example:
        >>> r = compare_means_many([10.0], [4.0], [100], [11.0], [4.0], [100])
        >>> round(float(r.pvalue[0]), 6)
        0.000507
    """
    mc = _arr(mean_control, "mean_control")
    mt = _arr(mean_treatment, "mean_treatment")
    vc = _arr(var_control, "var_control")
    vt = _arr(var_treatment, "var_treatment")
    nc = _counts(nobs_control, "nobs_control")
    nt = _counts(nobs_treatment, "nobs_treatment")
    if np.any(vc < 0) or np.any(vt < 0):
        raise StatsError("var_control and var_treatment must be >= 0 (they are variances).")
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    method = check_choice(method, "method", ("welch", "student"))
    rel_method = check_choice(rel_method, "rel_method", REL_METHODS)
    mc, vc, nc, mt, vt, nt = np.broadcast_arrays(mc, vc, nc, mt, vt, nt)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_c = vc / nc
        a_t = vt / nt
        if method == "welch":
            var_diff = a_c + a_t
            df = var_diff**2 / (a_c**2 / (nc - 1) + a_t**2 / (nt - 1))
        else:
            df = nc + nt - 2
            var_diff = ((nc - 1) * vc + (nt - 1) * vt) / df * (1 / nc + 1 / nt)
        se = np.sqrt(var_diff)
        ok = (nc >= 2) & (nt >= 2) & (se > 0)
        diff = mt - mc
        stat = np.where(ok, diff / se, np.nan)
        pvalue = pvalue_t(stat, df, alternative)
        lo, hi = interval(diff, crit_t(alpha, df, alternative) * se, alternative)
        rel, rlo, rhi = rel_lift_arrays(
            mc, a_c, mt, a_t, alpha=alpha, alternative=alternative, method=rel_method
        )
    label = (
        "Welch t-test (Welch–Satterthwaite df)" if method == "welch" else "Student t-test"
    ) + f", t CI, {REL_LABELS[rel_method]}"
    nan = np.nan
    return ComparisonArrays(
        mc, mt, diff, np.where(ok, lo, nan), np.where(ok, hi, nan), np.asarray(rel),
        np.where(ok, rlo, nan), np.where(ok, rhi, nan), np.where(ok, pvalue, nan), stat,
        nc, nt, label, alternative, alpha,
    )  # fmt: skip
