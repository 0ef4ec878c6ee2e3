"""Two-sample comparison of means from sufficient statistics (mean, sample variance, n).

* ``"welch"`` (default): ``t = d / sqrt(s_c²/n_c + s_t²/n_t)`` with Welch–Satterthwaite degrees of
  freedom ``ν = (a_c + a_t)² / (a_c²/(n_c-1) + a_t²/(n_t-1))``, ``a_i = s_i²/n_i``; the interval
  is ``d ± t_{ν,1-α/2} · se``. Same as ``statsmodels.stats.weightstats.ttest_ind(...,
  usevar="unequal")`` and ``CompareMeans(...).tconfint_diff(usevar="unequal")``.
* ``"student"``: pooled variance ``s² = ((n_c-1)s_c² + (n_t-1)s_t²)/(n_c+n_t-2)``,
  ``se = s·sqrt(1/n_c + 1/n_t)``, ``ν = n_c + n_t - 2`` (``usevar="pooled"``).

The relative lift uses ``Var(mean_i) = s_i² / n_i`` in :func:`abkit.stats.relative_lift`.
"""

from __future__ import annotations

import math
from fractions import Fraction

from abkit.errors import StatsError
from abkit.stats._common import (
    check_alpha,
    check_alternative,
    check_choice,
    check_count,
    check_finite,
    check_nonnegative,
    crit_t,
    interval,
    join_notes,
    pvalue_t,
)
from abkit.stats._types import Comparison
from abkit.stats.lift import REL_LABELS, REL_METHODS, rel_note, rel_scalar

__all__ = ["MEAN_METHODS", "compare_means", "moments_from_sums"]

MEAN_METHODS: tuple[str, ...] = ("welch", "student")

_METHOD_LABEL = {
    "welch": "Welch t-test (Welch–Satterthwaite df), t CI",
    "student": "Student t-test (pooled variance), t CI",
}


def moments_from_sums(total: float, total_sq: float, nobs: int) -> tuple[float, float]:
    """Mean and sample variance (ddof=1) from ``Σx``, ``Σx²`` and ``n``.

    The centred sum of squares ``Σx² - (Σx)²/n`` is evaluated in exact rational arithmetic on the
    given floats, so the only rounding is the one already present in the sums; a tiny negative
    value caused by that rounding is clipped to 0.

    Args:
        total: ``Σx``.
        total_sq: ``Σx²``.
        nobs: ``n``.

    Returns:
        ``(mean, variance)``; the mean is NaN when ``nobs == 0`` and the variance is NaN when
        ``nobs < 2`` (undefined, not an error: :func:`compare_means` then reports no p-value).

    Raises:
        StatsError: non-finite sums, negative ``total_sq`` or ``nobs``, or ``total_sq`` clearly
            smaller than ``total²/nobs`` (no real data has that).

    Example:
        >>> moments_from_sums(6.0, 14.0, 3)
        (2.0, 1.0)
    """
    s = check_finite(total, "total")
    ss = check_nonnegative(total_sq, "total_sq")
    n = check_count(nobs, "nobs")
    if n == 0:
        if s != 0.0 or ss != 0.0:
            raise StatsError(f"nobs is 0 but total={s!r}, total_sq={ss!r}; empty sums must be 0.")
        return math.nan, math.nan
    mean = s / n
    if n == 1:
        return mean, math.nan
    centred = Fraction(ss) - Fraction(s) * Fraction(s) / n
    if centred < 0:
        # Rounding in Σx² can leave it a few ulps short of (Σx)²/n when every value is equal.
        if float(-centred) > 1e-9 * ss:
            raise StatsError(
                f"total_sq={ss!r} is smaller than total²/nobs={s * s / n!r}; these sums cannot "
                "come from real data. Check that total_sq is the sum of squares, not a variance."
            )
        return mean, 0.0
    return mean, float(centred / (n - 1))


def compare_means(
    mean_control: float,
    var_control: float,
    nobs_control: int,
    mean_treatment: float,
    var_treatment: float,
    nobs_treatment: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    method: str = "welch",
    rel_method: str = "delta",
) -> Comparison:
    """Compare two means from (mean, sample variance with ddof=1, n) per arm.

    Args:
        mean_control: control mean.
        var_control: control sample variance (ddof=1); may be NaN when ``nobs_control < 2``.
        nobs_control: units in control.
        mean_treatment: treatment mean.
        var_treatment: treatment sample variance (ddof=1).
        nobs_treatment: units in treatment.
        alpha: 1 - confidence level and the significance level.
        alternative: "two-sided", "greater" (treatment > control) or "less".
        method: "welch" (default) or "student" (pooled variance).
        rel_method: relative-lift interval, "delta" (default), "fieller", "log" or "auto"
            (see :func:`~abkit.stats.relative_lift`).

    Returns:
        A :class:`~abkit.stats.Comparison`; ``pvalue`` is ``None`` with a ``note`` when an arm has
        fewer than 2 units or both variances are 0, and the relative fields are ``None`` when the
        control mean is 0.

    Raises:
        StatsError: NaN/inf means or variances (where n >= 2), negative variances or counts, bad
            ``alpha``, ``alternative``, ``method`` or ``rel_method``.

    Example:
        >>> r = compare_means(10.0, 4.0, 100, 11.0, 4.0, 100)
        >>> round(r.abs_lift, 2), round(r.pvalue, 6)
        (1.0, 0.000507)
    """
    nc = check_count(nobs_control, "nobs_control")
    nt = check_count(nobs_treatment, "nobs_treatment")
    mc = check_finite(mean_control, "mean_control", allow_nan=nc == 0)
    mt = check_finite(mean_treatment, "mean_treatment", allow_nan=nt == 0)
    vc = check_nonnegative(var_control, "var_control", allow_nan=nc < 2)
    vt = check_nonnegative(var_treatment, "var_treatment", allow_nan=nt < 2)
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    method = check_choice(method, "method", MEAN_METHODS)
    rel_method = check_choice(rel_method, "rel_method", REL_METHODS)
    label = f"{_METHOD_LABEL[method]}, {REL_LABELS[rel_method]}"
    diff = mt - mc

    if nc < 2 or nt < 2:
        arms = [a for a, n in (("control", nc), ("treatment", nt)) if n < 2]
        return Comparison(
            control_value=mc,
            treatment_value=mt,
            abs_lift=diff,
            abs_lift_ci_lower=None,
            abs_lift_ci_upper=None,
            rel_lift=(mt / mc - 1.0) if nc > 0 and nt > 0 and mc != 0 else None,
            rel_lift_ci_lower=None,
            rel_lift_ci_upper=None,
            pvalue=None,
            statistic=None,
            n_control=nc,
            n_treatment=nt,
            method=label,
            alternative=alternative,
            alpha=alpha,
            note=f"fewer than 2 units in {' and '.join(arms)}: no test or interval",
        )

    a_c = vc / nc
    a_t = vt / nt
    if method == "welch":
        var_diff = a_c + a_t
        df = var_diff**2 / (a_c**2 / (nc - 1) + a_t**2 / (nt - 1)) if var_diff > 0 else math.nan
    else:
        df = float(nc + nt - 2)
        pooled = ((nc - 1) * vc + (nt - 1) * vt) / df
        var_diff = pooled * (1.0 / nc + 1.0 / nt)
    se = math.sqrt(var_diff)

    notes: list[str | None] = []
    stat: float | None = None
    pvalue: float | None = None
    ci_lo: float | None = None
    ci_hi: float | None = None
    if se > 0:
        stat = diff / se
        pvalue = float(pvalue_t(stat, df, alternative))
        lo, hi = interval(diff, crit_t(alpha, df, alternative) * se, alternative)
        ci_lo, ci_hi = float(lo), float(hi)
    else:
        notes.append("zero variance in both arms: no test or interval")

    rel: float | None = None
    rel_lo: float | None = None
    rel_hi: float | None = None
    if mc == 0.0:
        notes.append(rel_note(mc))
    else:
        rel, lo_r, hi_r, rel_msg = rel_scalar(
            mc, a_c, mt, a_t, alpha=alpha, alternative=alternative, method=rel_method
        )
        if se > 0:
            rel_lo, rel_hi = lo_r, hi_r
            notes.append(rel_msg)
    return Comparison(
        control_value=mc,
        treatment_value=mt,
        abs_lift=diff,
        abs_lift_ci_lower=ci_lo,
        abs_lift_ci_upper=ci_hi,
        rel_lift=rel,
        rel_lift_ci_lower=rel_lo,
        rel_lift_ci_upper=rel_hi,
        pvalue=pvalue,
        statistic=stat,
        n_control=nc,
        n_treatment=nt,
        method=label,
        alternative=alternative,
        alpha=alpha,
        note=join_notes(*notes),
        std_error=se if se > 0 else None,
    )
