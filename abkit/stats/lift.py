"""Relative lift ``treatment / control - 1`` and its confidence interval.

Interval methods (``method=``), all for independent arms with means ``m_i`` and variances of the
means ``v_i``:

* **delta** (the default of every existing function): first-order Taylor expansion of the ratio
  ``R = m_t / m_c``::

      Var(R) ≈ v_t / m_c² + m_t² · v_c / m_c⁴

  and ``R - 1 ± z · sqrt(Var(R))``.
* **fieller**: the exact-under-normality set of ratios ``ρ`` that the test of
  ``m_t - ρ·m_c = 0`` does not reject, ``(m_t - ρ m_c)² ≤ z² (v_t + ρ² v_c)``. It is
  bounded only when the control mean is clearly non-zero (``m_c² > z² v_c``); otherwise the
  set is unbounded and both bounds are reported as infinite.
* **log**: the delta method on the log scale, ``log R ± z · sqrt(v_t/m_t² + v_c/m_c²)``,
  exponentiated (for proportions this is Katz's log interval for the risk ratio,
  ``statsmodels.stats.proportion.confint_proportions_2indep(compare="ratio", method="log")``).
  Undefined (NaN bounds) when a mean is 0 or the two means have opposite signs.
* **auto**: the measured recommendation, today **Fieller at every count**.
  ``benchmarks/rel_ci_coverage.py`` (results in ``benchmarks/results_rel_ci.md``) measured the
  coverage of all three methods over control rates 1–40 %, 100–10,000 units per arm and lifts 0 /
  +20 %, for proportions and for zero-inflated revenue means: Fieller stays within [0.94, 0.96]
  whenever the control arm has about ``m_c²/v_c ≥ 10`` "effective events" (events, for a rare
  proportion) and over-covers (0.96–0.98, unbounded sets) below; delta needs ~40 events (means:
  several hundred); a data-dependent switch "Fieller below X events, delta above" dips to
  0.92–0.94 near X for every X tried (10–100), because it selects on the control count.

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

REL_METHODS: tuple[str, ...] = ("delta", "fieller", "log", "auto")
#: what ``method="auto"`` resolves to (see the module docstring for the measurements)
AUTO_REL_METHOD = "fieller"
REL_LABELS: dict[str, str] = {
    "delta": "delta-method relative CI",
    "fieller": "Fieller relative CI",
    "log": "log-ratio relative CI",
    "auto": "Fieller relative CI (auto)",
}


def resolve_rel_method(method: str) -> str:
    """The interval actually computed for ``method`` ("auto" → :data:`AUTO_REL_METHOD`)."""
    return AUTO_REL_METHOD if method == "auto" else method


def _delta_arrays(
    mean_c: Any, var_mean_c: Any, mean_t: Any, var_mean_t: Any, z: float, alternative: str
) -> tuple[Any, Any, Any]:
    """Vectorized delta-method relative lift; NaN where the control mean is 0."""
    mc = np.asarray(mean_c, dtype=float)
    mt = np.asarray(mean_t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
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
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
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


def _log_arrays(
    mean_c: Any, var_mean_c: Any, mean_t: Any, var_mean_t: Any, z: float, alternative: str
) -> tuple[Any, Any, Any]:
    """Vectorized log-ratio interval; NaN bounds where ``m_t/m_c <= 0`` (log undefined)."""
    mc = np.asarray(mean_c, dtype=float)
    mt = np.asarray(mean_t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = mt / mc
        ok = ratio > 0
        se = np.sqrt(np.asarray(var_mean_t, dtype=float) / mt**2 + var_mean_c / mc**2)
        log_r = np.log(np.where(ok, ratio, 1.0))
        lo, hi = interval(log_r, z * se, alternative)
        lower = np.where(ok, np.exp(lo) - 1.0, np.nan)
        upper = np.where(ok, np.exp(hi) - 1.0, np.nan)
    if alternative == "less":
        lower = np.where(ok, -np.inf, np.nan)
    bad = mc == 0
    if np.any(bad):
        ratio = np.where(bad, np.nan, ratio)
    return ratio - 1.0, lower, upper


_ARRAYS = {"delta": _delta_arrays, "fieller": _fieller_arrays, "log": _log_arrays}


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
    fn = _ARRAYS[resolve_rel_method(method)]
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
        method: "delta" (default), "fieller", "log" (log-ratio delta method) or "auto" (the
            measured recommendation: Fieller; see the module docstring).

    Returns:
        ``(rel_lift, lower, upper)``. All three are ``None`` when the control mean is 0 (the
        relative lift is undefined). Fieller bounds are ``-inf``/``inf`` when the control mean is
        not clearly different from 0 at level ``alpha`` (the confidence set is unbounded). Log
        bounds are ``None`` when a mean is 0 or the means have opposite signs.

    Raises:
        StatsError: non-finite means, negative variances, bad ``alpha``/``alternative``/``method``.

    Example:
        >>> rel, lo, hi = relative_lift(0.10, 0.0001, 0.12, 0.0001)
        >>> round(rel, 4), round(lo, 4), round(hi, 4)
        (0.2, -0.1062, 0.5062)
        >>> _, lo, hi = relative_lift(0.02, 0.0196 / 300, 0.03, 0.0291 / 300, method="auto")
        >>> round(lo, 4), round(hi, 4)
        (-0.5335, 6.5858)
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
    rel, lower, upper, _ = rel_scalar(
        mc, vc, mt, vt, alpha=alpha, alternative=alternative, method=method
    )
    return rel, lower, upper


def rel_scalar(
    mean_c: float,
    var_mean_c: float,
    mean_t: float,
    var_mean_t: float,
    *,
    alpha: float,
    alternative: str,
    method: str,
    unbounded: str = "control mean not clearly different from 0",
) -> tuple[float, float | None, float | None, str | None]:
    """Scalar relative lift for the comparison functions: ``(rel, lower, upper, note)``.

    Bounds are ``None`` (never NaN) when the method cannot give one (the log interval of a ratio
    that is not positive); the note says why, or that a Fieller set is unbounded (``unbounded``
    completes that sentence). Arguments unchecked; the control mean must be non-zero.
    """
    r, lo, hi = rel_lift_arrays(
        mean_c, var_mean_c, mean_t, var_mean_t, alpha=alpha, alternative=alternative, method=method
    )
    lower, upper = float(lo), float(hi)
    if math.isnan(lower) or math.isnan(upper):
        why = (
            "log-ratio interval undefined: a mean is 0 or the two means have opposite signs"
            if resolve_rel_method(method) == "log"
            else "relative interval not computable: the control mean is too close to 0"
        )
        return float(r), None, None, why
    note = None
    if resolve_rel_method(method) == "fieller" and not (
        math.isfinite(lower) or math.isfinite(upper)
    ):
        note = f"Fieller interval unbounded: {unbounded}"
    return float(r), lower, upper, note


def rel_note(mean_control: float) -> str | None:
    """The note explaining a missing relative lift (``None`` when it is defined)."""
    if mean_control == 0.0 or (isinstance(mean_control, float) and math.isnan(mean_control)):
        return "relative lift undefined: control mean is 0"
    return None
