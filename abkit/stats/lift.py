"""Relative lift ``treatment / control - 1`` and its confidence interval.

Two interval methods, both for independent arms:

* **delta** (default): first-order Taylor expansion of the ratio ``R = m_t / m_c``::

      Var(R) ≈ Var(m_t) / m_c² + m_t² · Var(m_c) / m_c⁴

  and ``R - 1 ± z · sqrt(Var(R))``.
* **fieller**: the exact-under-normality set of ratios ``ρ`` that the test of
  ``m_t - ρ·m_c = 0`` does not reject, ``(m_t - ρ m_c)² ≤ z² (Var(m_t) + ρ² Var(m_c))``. It is
  bounded only when the control mean is clearly non-zero (``m_c² > z² Var(m_c)``); otherwise the
  set is unbounded and both bounds are reported as infinite.

Never divide the absolute-difference interval by the control mean: that ignores the
uncertainty of the denominator and under-covers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from abkit.stats._common import (
    check_alpha,
    check_alternative,
    check_choice,
    check_finite,
    check_nonnegative,
    crit_z,
    interval,
)

__all__ = ["REL_METHODS", "relative_lift"]

REL_METHODS: tuple[str, ...] = ("delta", "fieller")


def _delta_arrays(
    mean_c: Any, var_mean_c: Any, mean_t: Any, var_mean_t: Any, z: float, alternative: str
) -> tuple[Any, Any, Any]:
    """Vectorized delta-method relative lift; NaN where the control mean is 0."""
    mc = np.asarray(mean_c, dtype=float)
    mt = np.asarray(mean_t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mt / mc
        se = np.sqrt(np.asarray(var_mean_t, dtype=float) / mc**2 + ratio**2 * var_mean_c / mc**2)
    lower, upper = interval(ratio - 1.0, z * se, alternative)
    bad = mc == 0
    if np.any(bad):
        ratio = np.where(bad, np.nan, ratio)
        lower = np.where(bad, np.nan, lower)
        upper = np.where(bad, np.nan, upper)
    return ratio - 1.0, lower, upper


def _fieller_arrays(
    mean_c: Any, var_mean_c: Any, mean_t: Any, var_mean_t: Any, z: float, alternative: str
) -> tuple[Any, Any, Any]:
    """Vectorized Fieller interval for ``m_t/m_c - 1``; infinite bounds when unbounded."""
    mc = np.asarray(mean_c, dtype=float)
    mt = np.asarray(mean_t, dtype=float)
    vc = np.asarray(var_mean_c, dtype=float)
    vt = np.asarray(var_mean_t, dtype=float)
    z2 = z * z
    a = mc * mc - z2 * vc
    # With a > 0 the discriminant equals z²·vc·mt² + z²·vt·a >= 0, so write it that way: it is
    # non-negative by construction and avoids cancellation.
    disc = z2 * vc * mt * mt + z2 * vt * a
    bounded = a > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mt / mc
        root = np.sqrt(np.where(bounded, disc, 0.0))
        lo = np.where(bounded, (mt * mc - root) / a, -np.inf)
        hi = np.where(bounded, (mt * mc + root) / a, np.inf)
    lower = lo - 1.0
    upper = hi - 1.0
    if alternative == "greater":
        upper = np.full_like(upper, np.inf)
    elif alternative == "less":
        lower = np.full_like(lower, -np.inf)
    bad = mc == 0
    if np.any(bad):
        ratio = np.where(bad, np.nan, ratio)
        lower = np.where(bad, np.nan, lower)
        upper = np.where(bad, np.nan, upper)
    return ratio - 1.0, lower, upper


def rel_lift_arrays(
    mean_c: Any,
    var_mean_c: Any,
    mean_t: Any,
    var_mean_t: Any,
    *,
    alpha: float,
    alternative: str,
    method: str,
) -> tuple[Any, Any, Any]:
    """Array version of :func:`relative_lift` (NaN where undefined); arguments unchecked."""
    z = crit_z(alpha, alternative)
    fn = _delta_arrays if method == "delta" else _fieller_arrays
    rel, lower, upper = fn(mean_c, var_mean_c, mean_t, var_mean_t, z, alternative)
    neg = np.asarray(mean_c, dtype=float) < 0
    if alternative != "two-sided" and np.any(neg):
        # with a negative control mean the relative lift falls as the treatment mean rises
        # ("greater" means mt/mc - 1 < 0): the one-sided bound is on the other side
        other = "less" if alternative == "greater" else "greater"
        _, lo2, hi2 = fn(mean_c, var_mean_c, mean_t, var_mean_t, z, other)
        lower, upper = np.where(neg, lo2, lower), np.where(neg, hi2, upper)
    return rel, lower, upper


def relative_lift(
    mean_control: float,
    var_mean_control: float,
    mean_treatment: float,
    var_mean_treatment: float,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    method: str = "delta",
) -> tuple[float | None, float | None, float | None]:
    """Relative lift ``mean_treatment / mean_control - 1`` with a confidence interval.

    Args:
        mean_control: control arm mean (or proportion).
        var_mean_control: variance of the control *mean*, e.g. ``var / n`` or ``p(1-p)/n``.
        mean_treatment: treatment arm mean.
        var_mean_treatment: variance of the treatment mean.
        alpha: 1 - confidence level.
        alternative: "two-sided", "greater" (lower bound only; upper is ``inf``) or "less".
        method: "delta" (default) or "fieller".

    Returns:
        ``(rel_lift, lower, upper)``. All three are ``None`` when the control mean is 0 (the
        relative lift is undefined). Fieller bounds are ``-inf``/``inf`` when the control mean is
        not clearly different from 0 at level ``alpha`` (the confidence set is unbounded).

    Raises:
        StatsError: non-finite means, negative variances, bad ``alpha``/``alternative``/``method``.

    Example:
        >>> rel, lo, hi = relative_lift(0.10, 0.0001, 0.12, 0.0001)
        >>> round(rel, 4), round(lo, 4), round(hi, 4)
        (0.2, -0.1062, 0.5062)
    """
    mc = check_finite(mean_control, "mean_control")
    mt = check_finite(mean_treatment, "mean_treatment")
    vc = check_nonnegative(var_mean_control, "var_mean_control")
    vt = check_nonnegative(var_mean_treatment, "var_mean_treatment")
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    method = check_choice(method, "rel_method", REL_METHODS)
    if mc == 0.0:
        return None, None, None
    rel, lower, upper = rel_lift_arrays(
        mc, vc, mt, vt, alpha=alpha, alternative=alternative, method=method
    )
    return float(rel), float(lower), float(upper)


def rel_note(mean_control: float) -> str | None:
    """The note explaining a missing relative lift (``None`` when it is defined)."""
    if mean_control == 0.0 or (isinstance(mean_control, float) and math.isnan(mean_control)):
        return "relative lift undefined: control mean is 0"
    return None
