"""Quantiles per arm and their difference, from a few order statistics (no resampling).

For one arm of ``n`` values with order statistics ``X_(1) <= … <= X_(n)``:

* the **point estimate** of the ``q``-quantile is the sample quantile with linear interpolation,
  ``h = (n-1)·q + 1``, ``Q = X_(⌊h⌋) + (h - ⌊h⌋)·(X_(⌊h⌋+1) - X_(⌊h⌋))`` — ``numpy.quantile``'s
  default and DuckDB's ``quantile_cont``;
* its **standard error** comes from the distribution-free interval ``[X_(L), X_(U)]`` at the ranks
  ``L = ⌊n·q - z₀·√(n·q(1-q))⌋`` and ``U = ⌈n·q + z₀·√(n·q(1-q))⌉`` (clamped to ``1..n``),
  ``z₀ = Φ⁻¹(0.975)`` (Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric
  Analytics", KDD, section on quantile metrics). The interval's exact coverage for a continuous
  distribution is ``c = P(L <= B <= U-1)``, ``B ~ Binomial(n, q)``, and the standard error is
  ``se = (X_(U) - X_(L)) / (2·Φ⁻¹((1+c)/2))`` — the rank-rounding correction of Price & Bonett
  (2001, "Estimating the variance of the sample median", J. Stat. Comput. Simul. 68, 295-305),
  whose median estimator this is for ``q = 0.5``.

Two independent arms are compared on the normal scale: ``Δ = Q_t - Q_c``, ``se_Δ = √(se_c² + se_t²)``,
``z = Δ / se_Δ``; the relative difference ``Q_t / Q_c - 1`` by the delta method (or Fieller / log,
:func:`abkit.stats.relative_lift`) with ``Var(Q_i) = se_i²``. The standard error is consistent when
the values have a positive density at the quantile; for values with ties there (counts, days)
the order statistics can coincide, ``se`` is 0 and no test is given.

Example:
    >>> import numpy as np
    >>> x = np.sort(np.random.default_rng(1).exponential(size=1001))
    >>> r = quantile_ranks(1001, 0.5)
    >>> e = quantile_estimate(0.5, 1001, *(x[k - 1] for k in r[:2]), *(x[k - 1] for k in r[2:]),
    ...                       lower_rank=r[2], upper_rank=r[3])
    >>> bool(np.isclose(e.value, np.quantile(x, 0.5)))
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from abkit.errors import StatsError
from abkit.stats._common import (
    check_alpha,
    check_alternative,
    check_choice,
    check_count,
    check_finite,
    crit_z,
    interval,
    join_notes,
    pvalue_z,
)
from abkit.stats._types import Comparison
from abkit.stats.lift import REL_LABELS, REL_METHODS, rel_scalar

__all__ = [
    "QUANTILE_Z",
    "QuantileEstimate",
    "compare_quantiles",
    "quantile_estimate",
    "quantile_ranks",
]

#: z of the order-statistic ranks that give the standard error (the query uses it; any fixed
#: value gives a consistent estimate, the intervals use ``alpha`` separately)
QUANTILE_Z = 1.959963984540054


def _check_q(q: float) -> float:
    q = check_finite(q, "q")
    if not 0 < q < 1:
        raise StatsError(f"q must be strictly between 0 and 1, got {q!r}")
    return q


def _raw_ranks(n: int, q: float, z: float) -> tuple[float, float]:
    half = z * math.sqrt(n * q * (1.0 - q))
    return math.floor(n * q - half), math.ceil(n * q + half)


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k) — scipy.special's ``bdtr`` (scipy.stats costs a second to import)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return float(special.bdtr(k, n, p))


def quantile_ranks(n: int, q: float, z: float = QUANTILE_Z) -> tuple[int, int, int, int]:
    """The 1-based ranks the estimate needs: ``(⌊h⌋, ⌊h⌋+1, L, U)``, each clamped to ``1..n``.

    Example:
        >>> quantile_ranks(100, 0.5)
        (50, 51, 40, 60)
    """
    n = check_count(n, "n")
    q = _check_q(q)
    if n == 0:
        raise StatsError("an arm with no values has no quantile")
    j = math.floor((n - 1) * q) + 1
    lo, hi = _raw_ranks(n, q, z)
    return j, min(j + 1, n), int(min(max(lo, 1), n)), int(min(max(hi, 1), n))


@dataclass(frozen=True, slots=True)
class QuantileEstimate:
    """One arm's ``q``-quantile: ``value``, its standard error, and the order statistics behind it.

    ``coverage``: exact coverage of ``[lower_value, upper_value]`` for a continuous distribution;
    ``std_error`` is None (with ``note``) when it cannot be estimated.
    """

    q: float
    n: int
    value: float
    std_error: float | None
    lower_rank: int
    upper_rank: int
    lower_value: float
    upper_value: float
    coverage: float
    note: str | None = None


def quantile_estimate(
    q: float,
    n: int,
    point_low: float,
    point_high: float,
    lower_value: float,
    upper_value: float,
    *,
    lower_rank: int,
    upper_rank: int,
    z: float = QUANTILE_Z,
) -> QuantileEstimate:
    """One arm's quantile and standard error from four order statistics.

    Args:
        q: the quantile.
        n: values in the arm.
        point_low, point_high: ``X_(⌊h⌋)`` and ``X_(⌊h⌋+1)`` (see :func:`quantile_ranks`).
        lower_value, upper_value: ``X_(L)`` and ``X_(U)``.
        lower_rank, upper_rank: ``L`` and ``U`` (as the engine clamped them).
        z: the ``z₀`` the ranks were computed with.

    Raises:
        StatsError: bad ``q`` or ``n``, non-finite values, or order statistics out of order.
    """
    q = _check_q(q)
    n = check_count(n, "n")
    if n == 0:
        raise StatsError("an arm with no values has no quantile")
    vals = [check_finite(v, k) for v, k in (
        (point_low, "point_low"), (point_high, "point_high"),
        (lower_value, "lower_value"), (upper_value, "upper_value"),
    )]  # fmt: skip
    a, b, lo, hi = vals
    if not (a <= b and lo <= hi):
        raise StatsError(
            f"order statistics out of order: X_(L)={lo!r}, X_(⌊h⌋)={a!r}, X_(⌊h⌋+1)={b!r}, "
            f"X_(U)={hi!r}"
        )
    if not 1 <= lower_rank <= upper_rank <= n:
        raise StatsError(f"ranks {lower_rank}, {upper_rank} are not within 1..{n} in order")
    h = (n - 1) * q + 1.0
    frac = h - math.floor(h)
    value = a + frac * (b - a)
    # P(X_(L) <= ξ_q < X_(U)) = P(L <= B <= U-1) for continuous F, B ~ Binomial(n, q)
    coverage = _binom_cdf(upper_rank - 1, n, q) - _binom_cdf(lower_rank - 1, n, q)
    raw_lo, raw_hi = _raw_ranks(n, q, z)
    note = None
    se: float | None = None
    if raw_lo < 1 or raw_hi > n:
        note = (
            f"{n} units are too few for the {q:g} quantile's interval (ranks "
            f"{raw_lo:g}..{raw_hi:g} outside 1..{n})"
        )
    elif hi == lo:
        note = (
            f"the order statistics around the {q:g} quantile are tied (all {lo:g}): the value "
            "has too many ties there for a normal interval; compare its mean instead"
        )
    else:
        se = (hi - lo) / (2.0 * float(special.ndtri((1.0 + coverage) / 2.0)))
    return QuantileEstimate(q, n, value, se, lower_rank, upper_rank, lo, hi, coverage, note)


def compare_quantiles(
    control: QuantileEstimate,
    treatment: QuantileEstimate,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    rel_method: str = "delta",
) -> Comparison:
    """Compare two arms' quantiles: difference and relative difference with normal intervals.

    Returns:
        A :class:`~abkit.stats.Comparison` (``control_value`` / ``treatment_value`` are the
        quantiles); ``pvalue`` is None with a ``note`` when an arm's standard error cannot be
        estimated; the relative fields are None when the control quantile is 0.

    Raises:
        StatsError: bad ``alpha``, ``alternative`` or ``rel_method``, or arms of different ``q``.

    Example:
        >>> c = QuantileEstimate(0.5, 1000, 10.0, 0.2, 469, 531, 9.6, 10.4, 0.95)
        >>> t = QuantileEstimate(0.5, 1000, 10.8, 0.2, 469, 531, 10.4, 11.2, 0.95)
        >>> r = compare_quantiles(c, t)
        >>> round(r.abs_lift, 2), round(r.abs_lift_ci_lower, 3), round(r.pvalue, 4)
        (0.8, 0.246, 0.0047)
    """
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    rel_method = check_choice(rel_method, "rel_method", REL_METHODS)
    if control.q != treatment.q:
        raise StatsError(f"arms of different quantiles: {control.q!r} vs {treatment.q!r}")
    label = (
        f"{control.q:g} quantile, order-statistic normal interval (Price–Bonett / "
        f"Deng–Knoblich–Lu), {REL_LABELS[rel_method]}"
    )
    qc, qt = control.value, treatment.value
    diff = qt - qc
    notes: list[str | None] = [control.note, treatment.note]
    lo = hi = stat = pvalue = se = None
    rel = rel_lo = rel_hi = None
    sc, st = control.std_error, treatment.std_error
    if sc is not None and st is not None and sc + st > 0:
        se = math.sqrt(sc * sc + st * st)
        stat = diff / se
        pvalue = float(pvalue_z(stat, alternative))
        lo_a, hi_a = interval(diff, crit_z(alpha, alternative) * se, alternative)
        lo, hi = float(lo_a), float(hi_a)
    elif sc is not None and st is not None:
        notes.append("both arms' quantile standard errors are 0: no test or interval")
    if qc == 0.0:
        notes.append("relative lift undefined: control quantile is 0")
    else:
        rel = qt / qc - 1.0
        if se is not None and sc is not None and st is not None:
            rel, rel_lo, rel_hi, msg = rel_scalar(
                qc, sc * sc, qt, st * st, alpha=alpha, alternative=alternative, method=rel_method,
                unbounded="control quantile not clearly different from 0",
            )  # fmt: skip
            notes.append(msg)
    return Comparison(
        control_value=qc,
        treatment_value=qt,
        abs_lift=diff,
        abs_lift_ci_lower=lo,
        abs_lift_ci_upper=hi,
        rel_lift=rel,
        rel_lift_ci_lower=rel_lo,
        rel_lift_ci_upper=rel_hi,
        pvalue=pvalue,
        statistic=stat,
        n_control=control.n,
        n_treatment=treatment.n,
        method=label,
        alternative=alternative,
        alpha=alpha,
        note=join_notes(*notes),
        std_error=se,
    )
