"""Planning the always-valid test: the tuning ``N*`` from the plan, power and expected stopping.

**Tuning.** The confidence sequence of :func:`~abkit.stats.always_valid_test` is a normal mixture
with parameter ``ρ``; its half-width at ``n`` total units is ``s·sqrt(g(nρ²)/n)`` with
``g(x) = 2(1 + 1/x)·L(x)``, ``L(x) = ln(sqrt(1+x)/α)`` (two-sided) or
``ln(1 + sqrt(1+x)/(2α))`` (one-sided). Following Howard, Ramdas, McAuliffe & Sekhon (2021,
Ann. Statist. 49(2), §3.5: choose the mixture so the boundary is tightest at a planned intrinsic
time), :func:`sequential_tuning` minimises the half-width at the planned ``n``: ``x* = nρ²`` solves
``g'(x) = 0`` — for the two-sided sequence the fixed point ``x = -2 ln α + ln(1 + x)`` (8.2120 at
α = 0.05) — and is returned as the ``N*`` that :func:`~abkit.stats.sequential_rho` turns into that
``ρ``: ``N* = n·c/x*`` with ``c = -2 ln a + ln(1 - 2 ln a)`` (``a = α``, or ``2α`` one-sided), the
one-step approximation of ``x*`` GrowthBook uses. So ``N* ≈ 0.966 n`` at α = 0.05: "set ``N*`` to
the expected sample size" (GrowthBook's advice) is within 4 % of the optimum.

**Power.** At a look with ``n_j`` units the test rejects exactly when ``|Z_j| ≥ c_j`` with the
fixed-sample z statistic ``Z_j = d̂/se_j`` and ``c_j = sqrt(g(n_j ρ²))`` (one-sided: ``Z_j ≥ c_j``),
a boundary that depends only on ``n_j`` and ``ρ``. With a single (final) look this gives the
closed form GrowthBook's power calculator uses (the "sequential scaling factor" ``c/z_{1-α/2}``
inflating the standard error)::

    power_final = Φ(θ - c) + Φ(-θ - c)      (two-sided;  Φ(θ - c) for "greater")

with ``θ = effect / std_error`` at the planned ``n``. With interim looks the probability of
crossing at *some* look (and the distribution of the stopping look, hence the expected sample
size) is computed without simulation: the score ``S_j = Z_j sqrt(t_j)``, ``t_j = n_j/n``, is a
Brownian motion with drift ``θ`` observed at the looks, and the first-crossing probabilities
follow from the numerical-integration recursion of Armitage, McPherson & Rowe (1969; Jennison &
Turnbull 2000, ch. 19) on a Simpson grid — the same recursion as
:func:`~abkit.stats.group_sequential_boundaries`, with drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from abkit.errors import StatsError
from abkit.stats._common import FloatArray, check_alpha, check_alternative, check_finite
from abkit.stats.sequential import _simpson, sequential_rho

__all__ = ["SequentialPower", "always_valid_power", "sequential_tuning"]


def _mixture_c(alpha: float, one_sided: bool) -> float:
    a = 2.0 * alpha if one_sided else alpha
    return -2.0 * math.log(a) + math.log(1.0 - 2.0 * math.log(a))


def _optimal_x(alpha: float, one_sided: bool) -> float:
    """``x* = nρ²`` minimising the half-width at ``n`` (root of the log-derivative)."""
    if not one_sided:
        x = -2.0 * math.log(alpha)
        for _ in range(200):  # contraction (slope 1/(1+x) < 0.2): converges to machine precision
            x_new = -2.0 * math.log(alpha) + math.log1p(x)
            if abs(x_new - x) < 1e-15 * x_new:
                return x_new
            x = x_new
        return x

    def dlog(x: float) -> float:
        u = math.sqrt(1.0 + x)
        big_l = math.log1p(u / (2.0 * alpha))
        return -1.0 / (x * (1.0 + x)) + 1.0 / (2.0 * u * (2.0 * alpha + u) * big_l)

    from scipy import optimize  # heavy module: imported on first use

    return float(optimize.brentq(dlog, 1e-6, 1e6, xtol=1e-14, rtol=1e-15))


def sequential_tuning(
    expected_n: float, *, alpha: float = 0.05, alternative: str = "two-sided"
) -> float:
    """``N*`` for :func:`~abkit.stats.always_valid_test` that makes the sequence tightest at the plan.

    Args:
        expected_n: planned (expected) total units in both arms at the end of the experiment,
            e.g. ``PowerResult.nobs_total``.
        alpha: significance level of the sequential test.
        alternative: "two-sided", "greater" or "less" (the one-sided sequence has its own
            optimum).

    Returns:
        ``N*`` to pass as ``tuning=``; the half-width at ``expected_n`` units is the smallest any
        ``N*`` can give (about ``0.966 · expected_n`` at α = 0.05, two-sided).

    Raises:
        StatsError: ``expected_n`` not positive and finite, bad ``alpha``/``alternative``.

    Example:
        >>> round(sequential_tuning(400), 2)
        386.57
    """
    n = check_finite(expected_n, "expected_n")
    if n <= 0:
        raise StatsError(f"expected_n must be > 0 (total units planned), got {expected_n!r}.")
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    one = alternative != "two-sided"
    if one and alpha >= 0.5:
        raise StatsError(f"a one-sided always-valid test needs alpha < 0.5, got {alpha!r}.")
    return n * _mixture_c(alpha, one) / _optimal_x(alpha, one)


@dataclass(frozen=True, slots=True)
class SequentialPower:
    """Power and stopping of the always-valid test for an assumed effect.

    ``power`` is the probability of rejecting at some look; ``power_final_look`` the closed-form
    probability of rejecting at the last look alone (GrowthBook's sequential power, a lower
    bound of ``power``); ``stop_probabilities[j]`` the probability that look ``j`` is the first
    to reject; ``expected_n`` the expected total units when the experiment stops at the first
    rejection (or at the last look), ``boundaries`` the critical ``|z|`` at each look.
    """

    effect: float
    std_error: float
    n: float
    power: float
    power_final_look: float
    expected_n: float
    looks: tuple[float, ...]
    boundaries: tuple[float, ...]
    stop_probabilities: tuple[float, ...]
    alpha: float
    alternative: str
    tuning: float
    rho: float
    method: str


def _z_boundary(nj: FloatArray, rho: float, alpha: float, one_sided: bool) -> FloatArray:
    x = nj * rho * rho
    root = np.sqrt(x + 1.0)
    big_l = np.log1p(root / (2.0 * alpha)) if one_sided else np.log(root / alpha)
    out: FloatArray = np.sqrt(2.0 * (x + 1.0) / x * big_l)
    return out


def _first_crossing(
    t: FloatArray, upper: FloatArray, lower: FloatArray, drift: float, m: int
) -> FloatArray:
    """P(first exit at look j) for ``S(t) = B(t) + drift·t`` with continuation (lower, upper)."""
    out = np.zeros(t.size)
    nodes: FloatArray | None = None
    dens: FloatArray | None = None
    prev = 0.0
    for j in range(t.size):
        dt = t[j] - prev
        sd = math.sqrt(dt)
        mu = drift * dt
        b_hi, b_lo = float(upper[j]), float(lower[j])
        if nodes is None or dens is None:
            out[j] = float(special.ndtr((mu - b_hi) / sd) + special.ndtr((b_lo - mu) / sd))
        else:
            out[j] = float(
                np.sum(dens * special.ndtr((nodes + mu - b_hi) / sd))
                + np.sum(dens * special.ndtr((b_lo - nodes - mu) / sd))
            )
        if j < t.size - 1:
            # keep the bulk of the continuation region: beyond 10 sd around the drift line the
            # density is below 1e-22
            lo = max(b_lo, drift * t[j] - 10.0 * math.sqrt(t[j]))
            hi = min(b_hi, drift * t[j] + 10.0 * math.sqrt(t[j]))
            new_nodes, w = _simpson(lo, hi, m) if hi > lo else (np.zeros(1), np.zeros(1))
            norm = 1.0 / (sd * math.sqrt(2.0 * math.pi))
            if nodes is None or dens is None:
                f = norm * np.exp(-0.5 * ((new_nodes - mu) / sd) ** 2)
            else:
                kern = np.exp(-0.5 * ((new_nodes[:, None] - nodes[None, :] - mu) / sd) ** 2)
                f = norm * (kern @ dens)
            nodes, dens = new_nodes, f * w
        prev = float(t[j])
    return out


def always_valid_power(
    effect: float,
    std_error: float,
    n: float,
    *,
    looks: int | Sequence[float] = 1,
    alpha: float = 0.05,
    tuning: float | None = None,
    alternative: str = "two-sided",
    grid_points: int = 401,
) -> SequentialPower:
    """Power and expected stopping size of the always-valid test, without simulation.

    Args:
        effect: the assumed true lift (same scale as the test's estimate).
        std_error: standard error of the estimate at ``n`` total units (it scales as
            ``1/sqrt(units)`` at the other looks).
        n: planned total units in both arms (the last look unless ``looks`` says otherwise).
        looks: number of equally spaced looks up to ``n`` (1: only the final look), or the
            total units at each look (increasing).
        alpha: significance level.
        tuning: ``N*``; ``None`` (default) tunes the sequence to ``n`` with
            :func:`sequential_tuning`.
        alternative: "two-sided", "greater" or "less".
        grid_points: Simpson nodes per look for the recursion (odd; 401 is accurate to ~1e-8).

    Returns:
        A :class:`SequentialPower`.

    Raises:
        StatsError: non-positive ``std_error``/``n``, bad ``looks``, ``alpha``, ``tuning``,
            ``alternative``.

    Example:
        >>> r = always_valid_power(0.13, 0.0477, 400, looks=20)
        >>> round(r.power_final_look, 3), round(r.power, 3), round(r.expected_n)
        (0.378, 0.465, 331)
    """
    d = check_finite(effect, "effect")
    se = check_finite(std_error, "std_error")
    n_total = check_finite(n, "n")
    if se <= 0 or n_total <= 0:
        raise StatsError(f"std_error and n must be > 0, got {std_error!r} and {n!r}.")
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    one = alternative != "two-sided"
    n_star = (
        sequential_tuning(n_total, alpha=alpha, alternative=alternative)
        if tuning is None
        else tuning
    )
    rho = sequential_rho(alpha, n_star, alternative=alternative)
    if isinstance(looks, bool):
        raise StatsError(f"looks must be a count or a list of sample sizes, got {looks!r}.")
    if isinstance(looks, int | np.integer):
        if looks < 1:
            raise StatsError(f"looks must be >= 1, got {looks!r}.")
        nj = n_total * np.arange(1, int(looks) + 1) / int(looks)
    else:
        nj = np.asarray([check_finite(x, "looks") for x in looks], dtype=float)
        if nj.size == 0 or np.any(nj <= 0) or np.any(np.diff(nj) <= 0):
            raise StatsError(
                f"looks must be increasing positive sample sizes, e.g. [100, 200, 400]; got {looks!r}."
            )
    c = _z_boundary(nj, rho, alpha, one)
    t = nj / n_total
    theta = d / se
    if alternative == "less":  # mirror: "less" rejects at Z <= -c
        theta = -theta
    b = c * np.sqrt(t)
    lower = np.full_like(b, -np.inf) if one else -b
    m = grid_points if grid_points % 2 == 1 else grid_points + 1
    stops = _first_crossing(t, b, lower, theta, max(m, 101))
    c_last = float(c[-1])
    final = float(special.ndtr(theta * math.sqrt(t[-1]) - c_last))
    if not one:
        final += float(special.ndtr(-theta * math.sqrt(t[-1]) - c_last))
    power = float(min(max(np.sum(stops), 0.0), 1.0))
    expected_n = float(np.sum(stops * nj) + (1.0 - power) * nj[-1])
    return SequentialPower(
        effect=d,
        std_error=se,
        n=n_total,
        power=power,
        power_final_look=final,
        expected_n=expected_n,
        looks=tuple(float(x) for x in nj),
        boundaries=tuple(float(x) for x in c),
        stop_probabilities=tuple(float(x) for x in stops),
        alpha=alpha,
        alternative=alternative,
        tuning=float(n_star),
        rho=rho,
        method=(
            f"always-valid mixture SPRT (N*={n_star:g}), {nj.size} look(s); first-crossing "
            "recursion (Armitage–McPherson–Rowe) on the score scale"
        ),
    )
