"""Sequential testing: always-valid confidence sequences and group-sequential alpha spending.

**Always-valid (mixture SPRT), as GrowthBook's sequential mode.** For an estimate ``d`` with
standard error ``se`` from ``N`` units in total (both arms), ``s² = N·se²`` and the normal-mixture
parameter ``ρ = sqrt((-2 ln α + ln(-2 ln α + 1)) / N*)`` with the tuning parameter ``N*`` (default
5000, the sample size at which the sequence is tightest; Waudby-Smith et al. 2023, eq. 161)::

    half-width = s · sqrt( 2 (N ρ² + 1) / (N² ρ²) · ln( sqrt(N ρ² + 1) / α ) )
    p-value    = min(1, sqrt(N ρ² + 1) · exp( -ρ² N² d² / (2 s² (N ρ² + 1)) ))

The interval and the p-value stay valid however often they are looked at (the p-value is
``1/e-value`` of the mixture martingale).

**One-sided** (``alternative="greater"`` / ``"less"``): the closed-form one-sided normal-mixture
boundary of Howard, Ramdas, McAuliffe & Sekhon (2021, "Time-uniform, nonparametric,
nonasymptotic confidence sequences", Ann. Statist. 49(2)), ``sqrt(2(V+ρ') ln(1 +
sqrt((V+ρ')/ρ')/(2α)))`` on the sum with intrinsic time ``V`` — slightly wider (0.02–1.7 %) than
the exact one-sided mixture boundary their ``confseq`` library solves for, hence valid — written
per unit of the estimate (GrowthBook's ``sequential_interval_halfwidth_one_sided``, with ``ρ``
from :func:`sequential_rho` at ``2α``)::

    half-width = s · sqrt( 2 (N ρ² + 1) / (N² ρ²) · ln( 1 + sqrt(N ρ² + 1) / (2α) ) )
    p-value    = min(1, sqrt(N ρ² + 1) / (2 (exp(Λ) - 1))),  Λ = ρ² N² d² / (2 s² (N ρ² + 1))

for an estimate on the tested side (``d > 0`` for "greater"; otherwise the p-value is 1). The
p-value is the smallest ``α`` whose bound excludes 0 at this look — the quantity GrowthBook finds
by bisection — so ``p < α`` exactly when the one-sided bound excludes 0. Both mixtures are the
mixture SPRT of Johari, Koomen, Pekelis & Walsh (2017, "Peeking at A/B tests", KDD) with a
normal mixing distribution.

**Group-sequential (Lan–DeMets).** Cumulative alpha spent at information fraction ``t`` in
each tail of level ``a`` (``a = α/2`` per tail for two-sided designs, ``a = α`` one-sided):
O'Brien–Fleming type ``a(t) = 2 - 2Φ(z_{1-a/2} / sqrt(t))`` and Pocock type
``a(t) = a ln(1 + (e - 1) t)`` — the convention of gsDesign (``sfLDOF``/``sfLDPocock``), rpact and
ldbounds, so two-sided α = 0.05 with five equal looks gives the familiar O'Brien–Fleming-type
boundaries 4.877, 3.357, 2.680, 2.290, 2.031. Boundaries ``c_k`` on
the z scale solve ``P_H0(first crossing at look k) = α(t_k) - α(t_{k-1})``, computed by the
numerical-integration recursion of Armitage, McPherson & Rowe on the score scale
``S_k = Z_k sqrt(t_k)`` (Jennison & Turnbull 2000, ch. 19) with Simpson's rule on 2001 nodes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from abkit.errors import StatsError
from abkit.stats._common import (
    FloatArray,
    check_alpha,
    check_alternative,
    check_choice,
    check_finite,
    norm_quantile,
)

__all__ = [
    "GroupSequentialDesign",
    "SequentialResult",
    "always_valid_test",
    "group_sequential_boundaries",
    "sequential_rho",
    "spending_function",
]

SPENDING: tuple[str, ...] = ("obrien-fleming", "pocock")


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """Always-valid inference for one estimate at one look."""

    estimate: float
    ci_lower: float | None
    ci_upper: float | None
    pvalue: float | None
    n: int
    alpha: float
    tuning: float
    rho: float
    method: str
    note: str | None = None

    @property
    def significant(self) -> bool:
        """``pvalue < alpha`` (False when no p-value could be computed)."""
        return self.pvalue is not None and self.pvalue < self.alpha


@dataclass(frozen=True, slots=True)
class GroupSequentialDesign:
    """Lan–DeMets boundaries for planned looks.

    ``boundaries[k]`` is the critical |z| (two-sided) or z (one-sided) at look ``k``;
    ``alpha_spent`` is cumulative; ``nominal_pvalues[k]`` is the fixed-sample p-value threshold
    equivalent to ``boundaries[k]``.
    """

    information_fractions: tuple[float, ...]
    spending: str
    alpha: float
    alternative: str
    alpha_spent: tuple[float, ...]
    boundaries: tuple[float, ...]
    nominal_pvalues: tuple[float, ...]

    def first_crossing(self, z_statistics: Sequence[float]) -> int | None:
        """Index of the first look whose z statistic crosses its boundary (``None`` if none).

        ``alternative="greater"`` crosses at ``z >= c``; "less" at ``z <= -c``; two-sided at
        ``|z| >= c``.
        """
        for k, (z, c) in enumerate(zip(z_statistics, self.boundaries, strict=False)):
            if self.alternative == "two-sided" and abs(z) >= c:
                return k
            if self.alternative == "greater" and z >= c:
                return k
            if self.alternative == "less" and z <= -c:
                return k
        return None


def sequential_rho(alpha: float, tuning: float, *, alternative: str = "two-sided") -> float:
    """Mixture parameter ``ρ = sqrt((-2 ln a + ln(-2 ln a + 1)) / N*)`` (GrowthBook).

    ``a = α`` for the two-sided sequence and ``a = 2α`` for a one-sided one (GrowthBook's
    ``sequential_rho(..., two_sided=False)``).

    Args:
        alpha: significance level.
        tuning: ``N*``, the total sample size at which the confidence sequence is tightest.
        alternative: "two-sided" (default), "greater" or "less".

    Returns:
        ``ρ``.

    Example:
        >>> round(sequential_rho(0.05, 5000), 6)
        0.03984
    """
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    if alternative != "two-sided":
        if alpha >= 0.5:
            raise StatsError(f"a one-sided always-valid test needs alpha < 0.5, got {alpha!r}.")
        alpha = 2.0 * alpha
    tuning = check_finite(tuning, "tuning")
    if tuning <= 0:
        raise StatsError(f"tuning must be > 0 (a sample size such as 5000), got {tuning!r}.")
    la = math.log(alpha)
    return math.sqrt((-2.0 * la + math.log(-2.0 * la + 1.0)) / tuning)


def always_valid_test(
    estimate: float,
    std_error: float,
    n: int,
    *,
    alpha: float = 0.05,
    tuning: float = 5000.0,
    alternative: str = "two-sided",
) -> SequentialResult:
    """Always-valid p-value and confidence sequence (GrowthBook's sequential mode).

    Args:
        estimate: the estimated lift (absolute or relative).
        std_error: its standard error.
        n: total units in both arms at this look.
        alpha: significance level.
        tuning: ``N*`` of :func:`sequential_rho` (default 5000); pick it from the plan with
            :func:`~abkit.stats.sequential_tuning`.
        alternative: "two-sided" (default), "greater" (treatment > control: a lower bound,
            upper ``inf``) or "less" — the one-sided sequence of Howard et al. (2021), see the
            module docstring.

    Returns:
        A :class:`SequentialResult`; ``pvalue`` is ``None`` with a note when ``n < 2`` or the
        standard error is 0.

    Raises:
        StatsError: non-finite input, negative ``std_error`` or ``n``, bad ``alpha``/``tuning``/
            ``alternative`` (one-sided needs ``alpha < 0.5``).

    Example:
        >>> r = always_valid_test(0.03, 0.0142, 2000)
        >>> round(r.pvalue, 4), round(r.ci_lower, 4), round(r.ci_upper, 4)
        (0.3743, -0.0144, 0.0744)
        >>> g = always_valid_test(0.03, 0.0142, 2000, alternative="greater")
        >>> round(g.pvalue, 4), round(g.ci_lower, 4), g.ci_upper
        (0.2378, -0.011, inf)
    """
    est = check_finite(estimate, "estimate")
    se = check_finite(std_error, "std_error")
    if se < 0:
        raise StatsError(f"std_error must be >= 0, got {se!r}.")
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise StatsError(f"n must be a non-negative integer (total units), got {n!r}.")
    n = int(n)
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    rho = sequential_rho(alpha, tuning, alternative=alternative)
    label = f"always-valid mixture SPRT (normal mixture, N*={tuning:g}), confidence sequence"
    if alternative != "two-sided":
        label = f"one-sided ({alternative}) " + label
    if n < 2 or se == 0:
        return SequentialResult(
            est, None, None, None, n, alpha, float(tuning), rho, label,
            "fewer than 2 units or zero standard error: no test",
        )  # fmt: skip
    s2 = se * se * n
    nr2 = n * rho * rho
    lam = rho * rho * n * n * est * est / (2.0 * s2 * (nr2 + 1.0))
    if alternative != "two-sided":
        half = math.sqrt(s2) * math.sqrt(
            2.0 * (nr2 + 1.0) / (nr2 * n) * math.log1p(math.sqrt(nr2 + 1.0) / (2.0 * alpha))
        )
        toward = est > 0 if alternative == "greater" else est < 0
        pvalue = 1.0
        if toward and lam > 0:
            # log(expm1(Λ)) without overflow for large Λ
            log_em1 = lam + math.log(-math.expm1(-lam))
            pvalue = min(1.0, math.exp(0.5 * math.log(nr2 + 1.0) - math.log(2.0) - log_em1))
        lo, hi = (est - half, math.inf) if alternative == "greater" else (-math.inf, est + half)
        return SequentialResult(est, lo, hi, pvalue, n, alpha, float(tuning), rho, label)
    half = math.sqrt(s2) * math.sqrt(
        2.0 * (nr2 + 1.0) / (nr2 * n) * math.log(math.sqrt(nr2 + 1.0) / alpha)
    )
    log_e = lam - 0.5 * math.log(nr2 + 1.0)
    pvalue = min(1.0, math.exp(-log_e)) if log_e > -700 else 1.0
    return SequentialResult(
        est, est - half, est + half, pvalue, n, alpha, float(tuning), rho, label
    )


def spending_function(
    t: float | Sequence[float] | FloatArray,
    *,
    alpha: float = 0.05,
    spending: str = "obrien-fleming",
    alternative: str = "two-sided",
) -> FloatArray:
    """Lan–DeMets cumulative alpha spent at information fraction(s) ``t``.

    Args:
        t: information fraction(s) in [0, 1].
        alpha: total significance level.
        spending: "obrien-fleming" or "pocock".
        alternative: "two-sided" (α/2 per tail, total returned) or "greater"/"less".

    Returns:
        Cumulative alpha spent, as an array.

    Example:
        >>> [round(float(a), 6) for a in spending_function([0.5, 1.0])]
        [0.003051, 0.05]
    """
    alpha = check_alpha(alpha)
    spending = check_choice(spending, "spending", SPENDING)
    tt = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    if spending == "pocock":
        out: FloatArray = alpha * np.log1p((math.e - 1.0) * tt)
        return out
    # Per tail, as gsDesign (sfLDOF), rpact (asOF) and ldbounds define it: a tail of level a
    # spends 2 - 2Φ(z_{1-a/2} / sqrt(t)).
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    z = -float(norm_quantile(tail / 2.0))
    with np.errstate(divide="ignore"):
        spent = 2.0 * special.ndtr(-z / np.sqrt(tt))
    total: FloatArray = (2.0 if alternative == "two-sided" else 1.0) * spent
    return total


def _simpson(lo: float, hi: float, m: int) -> tuple[FloatArray, FloatArray]:
    x = np.linspace(lo, hi, m)
    w = np.ones(m)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return x, w * (hi - lo) / (3.0 * (m - 1))


def group_sequential_boundaries(
    information_fractions: Sequence[float],
    *,
    alpha: float = 0.05,
    spending: str = "obrien-fleming",
    alternative: str = "two-sided",
    grid_points: int = 2001,
) -> GroupSequentialDesign:
    """Lan–DeMets group-sequential boundaries for planned looks.

    Args:
        information_fractions: increasing fractions in (0, 1] of the planned information (sample
            size) at each look; the last is usually 1.
        alpha: total significance level.
        spending: "obrien-fleming" (spends little early) or "pocock" (spends evenly).
        alternative: "two-sided" (symmetric boundaries), "greater" or "less".
        grid_points: Simpson nodes per look in the numerical integration (odd).

    Returns:
        A :class:`GroupSequentialDesign`.

    Raises:
        StatsError: fractions not strictly increasing in (0, 1], bad ``alpha``/``spending``/
            ``alternative``.

    Example:
        >>> d = group_sequential_boundaries([0.5, 1.0])
        >>> [round(c, 4) for c in d.boundaries]
        [2.9626, 1.9686]
    """
    alpha = check_alpha(alpha)
    spending = check_choice(spending, "spending", SPENDING)
    alternative = check_choice(alternative, "alternative", ("two-sided", "greater", "less"))
    t = np.asarray([check_finite(x, "information_fractions") for x in information_fractions])
    if t.size == 0 or np.any(t <= 0) or np.any(t > 1) or np.any(np.diff(t) <= 0):
        raise StatsError(
            "information_fractions must be strictly increasing values in (0, 1], e.g. "
            f"[0.25, 0.5, 0.75, 1.0]; got {list(information_fractions)}."
        )
    m = grid_points if grid_points % 2 == 1 else grid_points + 1
    two = alternative == "two-sided"
    spent = spending_function(t, alpha=alpha, spending=spending, alternative=alternative)
    increments = np.diff(np.concatenate([[0.0], spent]))
    bounds: list[float] = []
    # Sub-density of S_{k-1} on the continuation region (nodes, weights·density).
    nodes: FloatArray | None = None
    dens: FloatArray | None = None
    prev_t = 0.0
    for k, (tk, inc) in enumerate(zip(t, increments, strict=True)):
        dt = tk - prev_t
        sd = math.sqrt(dt)
        sk = math.sqrt(tk)

        def exit_prob(
            c: float, nodes: Any = nodes, dens: Any = dens, sd: float = sd, sk: float = sk
        ) -> float:
            b = c * sk
            if nodes is None:
                up = float(special.ndtr(-b / sd))
                return 2.0 * up if two else up
            up_arr = special.ndtr((nodes - b) / sd)
            total = float(np.sum(dens * up_arr))
            if two:
                total += float(np.sum(dens * special.ndtr((-b - nodes) / sd)))
            return total

        if inc <= 1e-15:
            c = math.inf
        else:
            from scipy import optimize  # heavy module: imported on first use

            c = optimize.brentq(
                lambda c, inc=inc: exit_prob(c) - inc, 0.0, 40.0, xtol=1e-13, rtol=1e-14
            )
        bounds.append(c)
        # Continuation region of S_k and its sub-density for the next look.
        if k < len(t) - 1:
            upper = c * sk if math.isfinite(c) else 12.0 * sk
            lower = -upper if two else -12.0 * sk
            new_nodes, w = _simpson(lower, upper, m)
            if nodes is None:
                f = np.exp(-0.5 * (new_nodes / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
            else:
                kern = np.exp(-0.5 * ((new_nodes[:, None] - nodes[None, :]) / sd) ** 2)
                f = kern @ dens / (sd * math.sqrt(2 * math.pi))
            nodes, dens = new_nodes, f * w
        prev_t = tk
    nominal = [
        float((2.0 if two else 1.0) * special.ndtr(-c)) if math.isfinite(c) else 0.0 for c in bounds
    ]
    return GroupSequentialDesign(
        information_fractions=tuple(float(x) for x in t),
        spending=spending,
        alpha=alpha,
        alternative=alternative,
        alpha_spent=tuple(float(x) for x in spent),
        boundaries=tuple(float(c) for c in bounds),
        nominal_pvalues=tuple(nominal),
    )
