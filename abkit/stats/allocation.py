"""Optimal allocation of units across arms for the sample-size calculator.

With ``k`` treatment arms each compared with one control, per-unit variances ``v_c`` (control)
and ``v_t`` (treatment) and a required standard error of each difference,
``v_c/n_c + v_t/n_t = const``, the total ``n_c + k·n_t`` is smallest at

    n_c / n_t = κ = sqrt(k · v_c / v_t)

(Lagrange multipliers; the square-root rule of Dunnett 1955 for ``k`` treatments with equal
variances). Weights are ``κ/(κ + k)`` for control and ``1/(κ + k)`` for each treatment — with one
treatment this is spotify-confidence's ``_optimal_kappa`` / ``_optimal_weights``
(``κ = sqrt(p(1-p) / (p'(1-p')))`` for a rate ``p`` and its alternative ``p'``); spotify uses the
same ``κ`` whatever ``k`` is, which is optimal only for ``k = 1``. Proportions use
``v = p(1-p)`` at the control rate and at the alternative rate; means ``sd²`` and
``sd_treatment²``. The sample sizes themselves come from :func:`sample_size_proportions` /
:func:`sample_size_means` at the optimal ratio, so they carry the same tests and rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from abkit.errors import StatsError
from abkit.stats.power import (
    PowerResult,
    _abs_effect,
    _check_common,
    _check_rate,
    _means_vars,
    _prop_vars,
    duration_days,
    sample_size_means,
    sample_size_proportions,
)

__all__ = ["AllocationResult", "optimal_allocation"]


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """Units per arm at the allocation that minimises the total for the requested power.

    ``weights`` are the traffic shares (control first, then each treatment; they sum to 1);
    ``ratio`` is ``n_treatment / n_control``; ``nobs_treatment`` is per treatment arm;
    ``nobs_total_equal`` is what equal weights would need for the same power, and ``plan`` the
    sample-size calculation of one treatment-versus-control comparison at the optimal ratio.
    """

    weights: tuple[float, ...]
    ratio: float
    nobs_control: float
    nobs_treatment: float
    nobs_total: float
    nobs_total_equal: float
    n_treatments: int
    plan: PowerResult
    duration_days: int | None
    method: str


def optimal_allocation(
    baseline: float,
    mde: float,
    *,
    sd: float | None = None,
    sd_treatment: float | None = None,
    relative: bool = True,
    n_treatments: int = 1,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    variance_reduction: float = 0.0,
    daily_units: float | None = None,
    metric_day: int | None = None,
) -> AllocationResult:
    """The allocation across arms that needs the fewest units in total (sample-size calculator).

    Args:
        baseline: control rate (proportions) or control mean (with ``sd``).
        mde: minimum detectable effect per comparison; relative unless ``relative=False``.
        sd: per-unit standard deviation of a mean metric; ``None`` plans for a rate.
        sd_treatment: standard deviation in treatment (means; default ``sd``).
        relative: whether ``mde`` is relative to ``baseline``.
        n_treatments: treatment arms, each compared with the one control.
        alpha: significance level of each comparison (adjust it yourself for multiplicity).
        power: target power of each comparison.
        alternative: "two-sided", "greater" or "less".
        variance_reduction: CUPED variance reduction in [0, 1).
        daily_units: new units per day in the whole experiment, for the duration.
        metric_day: ``N`` of a day-N metric, for the maturity delay.

    Returns:
        An :class:`AllocationResult`.

    Raises:
        StatsError: bad rates, effects, ``n_treatments`` or options (as the sample-size
            functions).

    Example:
        >>> r = optimal_allocation(0.40, 0.05, n_treatments=3)
        >>> [round(w, 3) for w in r.weights], r.nobs_total < r.nobs_total_equal
        ([0.364, 0.212, 0.212, 0.212], True)
    """
    if isinstance(n_treatments, bool) or int(n_treatments) != n_treatments or n_treatments < 1:
        raise StatsError(f"n_treatments must be an integer >= 1, got {n_treatments!r}.")
    k = int(n_treatments)
    _, _, _, vr = _check_common(alpha, alternative, 1.0, variance_reduction)
    if sd is None:
        p = _check_rate(baseline)
        v_c, v_t = _prop_vars(p, _abs_effect(p, mde, relative), vr)
    else:
        v_c, v_t = _means_vars(sd, sd_treatment, vr)
    kappa = math.sqrt(k * v_c / v_t)
    ratio = 1.0 / kappa

    def plan_at(r: float) -> PowerResult:
        if sd is None:
            return sample_size_proportions(
                baseline, mde, relative=relative, alpha=alpha, power=power, ratio=r,
                alternative=alternative, variance_reduction=variance_reduction,
            )  # fmt: skip
        return sample_size_means(
            baseline, sd, mde, relative=relative, sd_treatment=sd_treatment, alpha=alpha,
            power=power, ratio=r, alternative=alternative, variance_reduction=variance_reduction,
        )  # fmt: skip

    plan = plan_at(ratio)
    n_c = plan.nobs_control
    n_t = float(math.ceil(n_c * ratio - 1e-9))
    total = n_c + k * n_t
    equal = plan_at(1.0).nobs_control * (k + 1)
    days = None if daily_units is None else duration_days(total, daily_units, metric_day=metric_day)
    return AllocationResult(
        weights=(kappa / (kappa + k),) + (1.0 / (kappa + k),) * k,
        ratio=ratio,
        nobs_control=n_c,
        nobs_treatment=n_t,
        nobs_total=total,
        nobs_total_equal=equal,
        n_treatments=k,
        plan=plan,
        duration_days=days,
        method=f"square-root allocation n_c/n_t = sqrt(k·v_c/v_t) (k={k}); {plan.method}",
    )
