"""Ratio metrics (e.g. clicks per session, revenue per active day) by the delta method.

Each unit contributes a numerator ``x`` and a denominator ``y``; the metric of an arm is
``R = Σx / Σy``. With sample (co)variances ``s_x², s_y², s_xy`` (ddof=1) and ``ȳ = Σy/n``::

    Var(R) ≈ (s_x² - 2 R s_xy + R² s_y²) / (n ȳ²)

(first-order Taylor expansion of ``x̄ / ȳ``; identical to the variance of the mean of the
linearised values ``(x_i - R y_i) / ȳ``). Arms are compared with a z-test on ``R_t - R_c``; the
relative lift uses :func:`abkit.stats.relative_lift` with these variances.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from abkit.errors import StatsError
from abkit.stats._common import (
    check_alpha,
    check_alternative,
    check_choice,
    check_count,
    check_finite,
    check_nonnegative,
    crit_z,
    interval,
    join_notes,
    pvalue_z,
)
from abkit.stats._types import Comparison
from abkit.stats.lift import REL_LABELS, REL_METHODS, rel_scalar

__all__ = ["RatioSums", "compare_ratios", "ratio_moments"]


@dataclass(frozen=True, slots=True)
class RatioSums:
    """Sufficient statistics of a ratio metric in one arm (``x`` numerator, ``y`` denominator)."""

    sum_x: float
    sum_y: float
    sum_x2: float
    sum_y2: float
    sum_xy: float
    n: int


def _as_sums(value: RatioSums | Sequence[float], arm: str) -> RatioSums:
    if isinstance(value, RatioSums):
        raw: Sequence[float] = (
            value.sum_x, value.sum_y, value.sum_x2, value.sum_y2, value.sum_xy, value.n,
        )  # fmt: skip
    else:
        raw = tuple(value)
        if len(raw) != 6:
            raise StatsError(
                f"{arm} must be RatioSums or (sum_x, sum_y, sum_x2, sum_y2, sum_xy, n); "
                f"got {len(raw)} values."
            )
    sx = check_finite(raw[0], f"{arm}.sum_x")
    sy = check_finite(raw[1], f"{arm}.sum_y")
    sxx = check_nonnegative(raw[2], f"{arm}.sum_x2")
    syy = check_nonnegative(raw[3], f"{arm}.sum_y2")
    sxy = check_finite(raw[4], f"{arm}.sum_xy")
    n = check_count(raw[5], f"{arm}.n")
    return RatioSums(sx, sy, sxx, syy, sxy, n)


def _centred(ss: float, a: float, b: float, n: int) -> float:
    """``Σab - Σa·Σb/n`` in exact arithmetic on the given floats."""
    return float(Fraction(ss) - Fraction(a) * Fraction(b) / n)


def ratio_moments(sums: RatioSums | Sequence[float]) -> tuple[float, float]:
    """Ratio ``Σx/Σy`` of one arm and its delta-method variance.

    Args:
        sums: :class:`RatioSums` or ``(sum_x, sum_y, sum_x2, sum_y2, sum_xy, n)``.

    Returns:
        ``(ratio, variance_of_ratio)``; both NaN when ``n < 2`` or ``Σy == 0``.

    Raises:
        StatsError: non-finite sums, negative sums of squares or ``n``.

    Example:
        >>> r, v = ratio_moments((30.0, 20.0, 110.0, 50.0, 70.0, 10))
        >>> round(r, 3), round(v, 5)
        (1.5, 0.03472)
    """
    s = _as_sums(sums, "sums")
    if s.n < 2 or s.sum_y == 0:
        return math.nan, math.nan
    ratio = s.sum_x / s.sum_y
    var_x = max(_centred(s.sum_x2, s.sum_x, s.sum_x, s.n), 0.0) / (s.n - 1)
    var_y = max(_centred(s.sum_y2, s.sum_y, s.sum_y, s.n), 0.0) / (s.n - 1)
    cov = _centred(s.sum_xy, s.sum_x, s.sum_y, s.n) / (s.n - 1)
    mean_y = s.sum_y / s.n
    var_ratio = (var_x - 2.0 * ratio * cov + ratio * ratio * var_y) / (s.n * mean_y * mean_y)
    return ratio, max(var_ratio, 0.0)


def compare_ratios(
    control: RatioSums | Sequence[float],
    treatment: RatioSums | Sequence[float],
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    rel_method: str = "delta",
) -> Comparison:
    """Compare a ratio metric ``Σx/Σy`` between arms (delta method, z-test).

    Args:
        control: control :class:`RatioSums` or ``(sum_x, sum_y, sum_x2, sum_y2, sum_xy, n)``.
        treatment: the same for treatment.
        alpha: 1 - confidence level and the significance level.
        alternative: "two-sided", "greater" (treatment > control) or "less".
        rel_method: relative-lift interval, "delta" (default), "fieller", "log" or "auto"
            (see :func:`~abkit.stats.relative_lift`).

    Returns:
        A :class:`~abkit.stats.Comparison` (``control_value``/``treatment_value`` are the ratios);
        ``pvalue`` is ``None`` with a note when an arm has fewer than 2 units, a zero
        denominator sum, or both variances are 0.

    Raises:
        StatsError: malformed sums, bad ``alpha``, ``alternative`` or ``rel_method``.

    Example:
        >>> c = (30.0, 20.0, 110.0, 50.0, 70.0, 10)
        >>> t = (45.0, 21.0, 230.0, 51.0, 105.0, 10)
        >>> r = compare_ratios(c, t)
        >>> round(r.abs_lift, 3), round(r.pvalue, 4)
        (0.643, 0.0154)
    """
    sc = _as_sums(control, "control")
    st = _as_sums(treatment, "treatment")
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    rel_method = check_choice(rel_method, "rel_method", REL_METHODS)
    label = "ratio metric: delta-method z-test, normal CI, " + REL_LABELS[rel_method]
    rc, vc = ratio_moments(sc)
    rt, vt = ratio_moments(st)
    notes: list[str | None] = []
    for arm, s in (("control", sc), ("treatment", st)):
        if s.n < 2:
            notes.append(f"fewer than 2 units in {arm}: no test or interval")
        elif s.sum_y == 0:
            notes.append(f"denominator sum is 0 in {arm}: ratio undefined")
    if rc != rc:  # NaN → no ratio in control
        rc = sc.sum_x / sc.sum_y if sc.sum_y != 0 else math.nan
    if rt != rt:
        rt = st.sum_x / st.sum_y if st.sum_y != 0 else math.nan
    return ratio_z_comparison(
        rc, vc, sc.n, rt, vt, st.n, notes,
        alpha=alpha, alternative=alternative, rel_method=rel_method, label=label,
    )  # fmt: skip


def ratio_z_comparison(
    rc: float,
    vc: float,
    nc: int,
    rt: float,
    vt: float,
    nt: int,
    notes: list[str | None],
    *,
    alpha: float,
    alternative: str,
    rel_method: str,
    label: str,
) -> Comparison:
    """The z-test and intervals of ``rt - rc`` from two ratios and their variances (the shared
    tail of :func:`compare_ratios` and :func:`abkit.stats.ratio_cuped.ratio_cuped`); ``notes``
    that are not None mean no test."""
    notes = list(notes)
    diff = rt - rc
    se = math.sqrt(vc + vt) if not notes else math.nan
    stat: float | None = None
    pvalue: float | None = None
    ci_lo: float | None = None
    ci_hi: float | None = None
    rel: float | None = None
    rel_lo: float | None = None
    rel_hi: float | None = None
    if not notes and se == 0:
        notes.append("zero variance in both arms: no test or interval")
    if not notes:
        stat = diff / se
        pvalue = float(pvalue_z(stat, alternative))
        lo, hi = interval(diff, crit_z(alpha, alternative) * se, alternative)
        ci_lo, ci_hi = float(lo), float(hi)
    if rc == 0:
        notes.append("relative lift undefined: control mean is 0")
    elif rc == rc and rt == rt:
        rel = rt / rc - 1.0
        if pvalue is not None:
            rel, rel_lo, rel_hi, rel_msg = rel_scalar(
                rc, vc, rt, vt, alpha=alpha, alternative=alternative, method=rel_method
            )
            notes.append(rel_msg)
    return Comparison(
        control_value=rc,
        treatment_value=rt,
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
        std_error=se if stat is not None else None,
    )
