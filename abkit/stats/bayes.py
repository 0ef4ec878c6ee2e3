"""Bayesian comparisons: beta-binomial for proportions, normal model for means.

**Beta-binomial.** Prior ``Beta(a, b)`` on each arm's rate (default ``Beta(1, 1)``, uniform),
posterior ``Beta(a + x, b + n - x)``. Reported:

* chance to beat control ``P(p_t > p_c) = ∫ f_t(u) F_c(u) du`` (composite Gauss–Legendre
  quadrature over the bulk of the treatment posterior; error below 1e-9);
* expected loss of shipping treatment ``E[max(p_c - p_t, 0)] = m_c P(C' > T) - m_t P(C > T')``
  with the size-biased posteriors ``C' ~ Beta(a_c+1, b_c)``, ``T' ~ Beta(a_t+1, b_t)`` (and the
  mirror image for keeping control);
* equal-tailed credible intervals for ``p_t - p_c`` and ``p_t/p_c - 1`` from ``n_draws`` seeded
  Monte-Carlo draws (``rng``; deterministic by default).

**Normal model.** The difference of means has posterior ``N(μ, s²)``: with a flat prior
``μ = m_t - m_c`` and ``s² = v_t/n_t + v_c/n_c``; with a ``N(prior_mean, prior_var)`` prior on
the absolute lift, precision-weighted. Chance to beat ``Φ(μ/s)``, expected losses
``s φ(μ/s) - μ Φ(-μ/s)`` (treatment) and ``s φ(μ/s) + μ Φ(μ/s)`` (control), interval
``μ ± z s``. The relative lift comes from the same posterior: with a flat prior on the control
mean ``m_c`` and the prior on the lift ``d``, the posterior of ``(m_c, d)`` is bivariate normal —
``d ~ N(μ, s²)`` as above and ``m_c | d ~ N(a - (1-w) d, τ²)`` with ``w = v_t/(v_c+v_t)``,
``a = w m̂_c + (1-w) m̂_t``, ``τ² = v_c v_t/(v_c+v_t)`` (``v_i = s_i²/n_i``) — and
``d/m_c`` gets the delta method on that posterior (with a flat prior this is exactly the
delta-method interval of :func:`~abkit.stats.relative_lift`).

**Relative-scale normal model** (``relative=True``, GrowthBook's ``difference_type="relative"``):
the likelihood is ``r̂ ~ N(r, v_r)`` for the relative lift ``r̂ = m̂_t/m̂_c - 1`` with the
delta-method ``v_r``, and the ``N(prior_mean, prior_var)`` prior is on ``r``; the posterior
``N(μ_r, s_r²)`` gives the relative fields, and the absolute ones are that posterior scaled by
the control mean (``a = r·m̂_c``), so chance to beat and losses are computed on ``a``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from abkit.errors import StatsError
from abkit.stats._common import (
    check_alpha,
    check_count,
    check_finite,
    check_nonnegative,
    crit_z,
    join_notes,
)
from abkit.stats.lift import rel_lift_arrays

__all__ = ["BayesResult", "bayes_means", "bayes_proportions", "prob_beta_greater"]


@dataclass(frozen=True, slots=True)
class BayesResult:
    """Posterior summary of one treatment-versus-control comparison.

    ``chance_to_beat`` is ``P(treatment > control)``; ``expected_loss_treatment`` is the expected
    shortfall if treatment is shipped, ``E[max(control - treatment, 0)]``, and
    ``expected_loss_control`` the mirror image. Intervals are equal-tailed credible intervals at
    level ``1 - alpha``.
    """

    control_value: float
    treatment_value: float
    abs_lift: float
    abs_lift_ci_lower: float | None
    abs_lift_ci_upper: float | None
    rel_lift: float | None
    rel_lift_ci_lower: float | None
    rel_lift_ci_upper: float | None
    chance_to_beat: float | None
    expected_loss_treatment: float | None
    expected_loss_control: float | None
    n_control: int
    n_treatment: int
    method: str
    prior: tuple[float, float]
    alpha: float = 0.05
    note: str | None = None


def _rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(96)


def _beta_bulk(a: float, b: float) -> tuple[float, float]:
    return float(special.betaincinv(a, b, 1e-15)), float(special.betaincinv(a, b, 1.0 - 1e-15))


def prob_beta_greater(a_t: float, b_t: float, a_c: float, b_c: float) -> float:
    """``P(T > C)`` for independent ``T ~ Beta(a_t, b_t)``, ``C ~ Beta(a_c, b_c)``.

    Computed as ``∫ f_T(u) F_C(u) du`` by composite Gauss–Legendre quadrature (96 nodes per
    panel) over the bulk of ``T`` (outside its 1e-15 tails), with extra panel breaks at the
    bulk of ``C`` so a sharp ``F_C`` is resolved (absolute error below 1e-9). A density that is
    unbounded at 0 or 1 (shape < 1) is integrated with QUADPACK's algebraic weight instead.

    Args:
        a_t: first shape parameter of T (> 0).
        b_t: second shape parameter of T (> 0).
        a_c: first shape parameter of C (> 0).
        b_c: second shape parameter of C (> 0).

    Returns:
        The probability.

    Raises:
        StatsError: a non-positive or non-finite shape parameter.

    Example:
        >>> round(prob_beta_greater(2, 1, 1, 1), 10)
        0.6666666667
    """
    for name, v in (("a_t", a_t), ("b_t", b_t), ("a_c", a_c), ("b_c", b_c)):
        if not (math.isfinite(v) and v > 0):
            raise StatsError(f"{name} must be a positive finite shape parameter, got {v!r}.")
    if a_t < 1.0 or b_t < 1.0:
        # The density of T is unbounded at an end point: integrate F_C against the algebraic
        # weight u^(a_t-1) (1-u)^(b_t-1) instead, which QUADPACK handles exactly.
        from scipy import integrate  # heavy module: imported on first use

        value, _ = integrate.quad(
            lambda u: float(special.betainc(a_c, b_c, u)),
            0.0,
            1.0,
            weight="alg",
            wvar=(a_t - 1.0, b_t - 1.0),
            epsabs=1e-13,
            limit=200,
        )
        p = float(value / math.exp(special.betaln(a_t, b_t)))
        return min(max(p, 0.0), 1.0)
    lo, hi = _beta_bulk(a_t, b_t)
    lo_c, hi_c = _beta_bulk(a_c, b_c)
    mode_t = a_t / (a_t + b_t)
    breaks = sorted({lo, hi, *(p for p in (lo_c, hi_c, mode_t) if lo < p < hi)})
    # Split each panel further so no panel is much wider than the narrower posterior's bulk.
    edges: list[float] = []
    width = min(hi - lo, hi_c - lo_c) / 4.0
    for left, right in itertools.pairwise(breaks):
        k = max(1, min(64, math.ceil((right - left) / width))) if width > 0 else 1
        edges.extend(np.linspace(left, right, k + 1)[:-1].tolist())
    edges.append(breaks[-1])
    e = np.asarray(edges)
    half = (e[1:] - e[:-1]) / 2.0
    mid = (e[1:] + e[:-1]) / 2.0
    u = (mid[:, None] + half[:, None] * _GL_NODES[None, :]).ravel()
    w = (half[:, None] * _GL_WEIGHTS[None, :]).ravel()
    u = np.clip(u, 1e-300, 1.0 - 1e-16)
    log_pdf = (a_t - 1.0) * np.log(u) + (b_t - 1.0) * np.log1p(-u) - special.betaln(a_t, b_t)
    value = float(np.sum(w * np.exp(log_pdf) * special.betainc(a_c, b_c, u)))
    return min(max(value, 0.0), 1.0)


def bayes_proportions(
    count_control: int,
    nobs_control: int,
    count_treatment: int,
    nobs_treatment: int,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    alpha: float = 0.05,
    n_draws: int = 100_000,
    rng: int | np.random.Generator | None = None,
) -> BayesResult:
    """Beta-binomial comparison of two proportions.

    Args:
        count_control: successes in control.
        nobs_control: units in control.
        count_treatment: successes in treatment.
        nobs_treatment: units in treatment.
        prior: ``(a, b)`` of the ``Beta(a, b)`` prior used for both arms (default uniform).
        alpha: 1 - credible level.
        n_draws: Monte-Carlo draws for the credible intervals.
        rng: seed or Generator for those draws (``None`` means seed 0: reproducible).

    Returns:
        A :class:`BayesResult` (values are posterior means).

    Raises:
        StatsError: impossible counts, non-positive prior parameters, bad ``alpha``.

    Example:
        >>> r = bayes_proportions(100, 1000, 130, 1000)
        >>> round(r.chance_to_beat, 4), round(r.expected_loss_treatment, 6)
        (0.9822, 9.2e-05)
    """
    xc = check_count(count_control, "count_control")
    nc = check_count(nobs_control, "nobs_control")
    xt = check_count(count_treatment, "count_treatment")
    nt = check_count(nobs_treatment, "nobs_treatment")
    for x, n, arm in ((xc, nc, "control"), (xt, nt, "treatment")):
        if x > n:
            raise StatsError(f"count_{arm}={x} is larger than nobs_{arm}={n}.")
    a0, b0 = (check_finite(v, "prior") for v in prior)
    if a0 <= 0 or b0 <= 0:
        raise StatsError(f"prior must be two positive Beta parameters (a, b), got {prior!r}.")
    alpha = check_alpha(alpha)
    if n_draws < 100:
        raise StatsError(f"n_draws must be >= 100, got {n_draws}.")
    ac, bc = a0 + xc, b0 + nc - xc
    at, bt = a0 + xt, b0 + nt - xt
    mc, mt = ac / (ac + bc), at / (at + bt)
    ctb = prob_beta_greater(at, bt, ac, bc)
    # E[C·1{C>T}] = m_c·P(C'>T) with C' the size-biased posterior (and likewise for T).
    loss_t = mc * (1.0 - prob_beta_greater(at, bt, ac + 1, bc)) - mt * (
        1.0 - prob_beta_greater(at + 1, bt, ac, bc)
    )
    loss_c = mt * prob_beta_greater(at + 1, bt, ac, bc) - mc * prob_beta_greater(at, bt, ac + 1, bc)
    gen = _rng(rng)
    draws_c = gen.beta(ac, bc, size=n_draws)
    draws_t = gen.beta(at, bt, size=n_draws)
    q = [alpha / 2.0, 1.0 - alpha / 2.0]
    abs_lo, abs_hi = np.quantile(draws_t - draws_c, q)
    rel_lo, rel_hi = np.quantile(draws_t / draws_c - 1.0, q)
    return BayesResult(
        control_value=mc,
        treatment_value=mt,
        abs_lift=mt - mc,
        abs_lift_ci_lower=float(abs_lo),
        abs_lift_ci_upper=float(abs_hi),
        rel_lift=mt / mc - 1.0,
        rel_lift_ci_lower=float(rel_lo),
        rel_lift_ci_upper=float(rel_hi),
        chance_to_beat=ctb,
        expected_loss_treatment=max(loss_t, 0.0),
        expected_loss_control=max(loss_c, 0.0),
        n_control=nc,
        n_treatment=nt,
        method=f"beta-binomial, Beta({a0:g}, {b0:g}) prior, quadrature; MC credible intervals",
        prior=(a0, b0),
        alpha=alpha,
        note=None,
    )


def bayes_means(
    mean_control: float,
    var_control: float,
    nobs_control: int,
    mean_treatment: float,
    var_treatment: float,
    nobs_treatment: int,
    *,
    prior_mean: float = 0.0,
    prior_var: float = math.inf,
    alpha: float = 0.05,
    relative: bool = False,
) -> BayesResult:
    """Normal-model Bayesian comparison of two means (closed form).

    Args:
        mean_control: control mean.
        var_control: control sample variance (ddof=1).
        nobs_control: units in control.
        mean_treatment: treatment mean.
        var_treatment: treatment sample variance.
        nobs_treatment: units in treatment.
        prior_mean: mean of the normal prior on the lift (absolute, or relative when
            ``relative=True``, e.g. 0.0).
        prior_var: variance of that prior (``inf``, the default, is the flat prior).
        alpha: 1 - credible level.
        relative: put the normal model (and the prior) on the relative lift, GrowthBook's
            convention; default ``False`` (absolute lift).

    Returns:
        A :class:`BayesResult` (``control_value``/``treatment_value`` are the observed means;
        lifts, intervals, chance to beat and losses are posterior). ``chance_to_beat`` etc. are
        ``None`` with a note when an arm has fewer than 2 units or both variances are 0, or —
        with ``relative=True`` — when the control mean is 0.

    Raises:
        StatsError: non-finite input, negative variances, ``prior_var <= 0``, bad ``alpha``.

    Example:
        >>> r = bayes_means(10.0, 4.0, 100, 10.5, 4.0, 100)
        >>> round(r.chance_to_beat, 4), round(r.abs_lift_ci_lower, 4)
        (0.9615, -0.0544)
        >>> q = bayes_means(10.0, 4.0, 100, 10.5, 4.0, 100, prior_var=0.01, relative=True)
        >>> round(q.rel_lift, 4), round(q.rel_lift_ci_lower, 4), round(q.chance_to_beat, 4)
        (0.0461, -0.0085, 0.9511)
    """
    nc = check_count(nobs_control, "nobs_control")
    nt = check_count(nobs_treatment, "nobs_treatment")
    mc = check_finite(mean_control, "mean_control", allow_nan=nc == 0)
    mt = check_finite(mean_treatment, "mean_treatment", allow_nan=nt == 0)
    vc = check_nonnegative(var_control, "var_control", allow_nan=nc < 2)
    vt = check_nonnegative(var_treatment, "var_treatment", allow_nan=nt < 2)
    pm = check_finite(prior_mean, "prior_mean")
    pv = float(prior_var)
    if not (pv > 0):
        raise StatsError(f"prior_var must be > 0 (inf for a flat prior), got {prior_var!r}.")
    alpha = check_alpha(alpha)
    label = "normal model, " + ("flat prior" if math.isinf(pv) else f"N({pm:g}, {pv:g}) prior")
    if relative:
        label = "normal model on the relative lift, " + label.split(", ", 1)[1]
    base = {
        "control_value": mc,
        "treatment_value": mt,
        "n_control": nc,
        "n_treatment": nt,
        "method": label,
        "prior": (pm, pv),
        "alpha": alpha,
    }
    s2 = vc / nc + vt / nt if nc >= 2 and nt >= 2 else math.nan
    if not (s2 > 0) or (relative and mc == 0):
        why = "fewer than 2 units in an arm" if nc < 2 or nt < 2 else "zero variance in both arms"
        if s2 > 0:
            why = "the relative model needs a non-zero control mean"
        return BayesResult(
            abs_lift=mt - mc,
            abs_lift_ci_lower=None,
            abs_lift_ci_upper=None,
            rel_lift=None if mc == 0 or mc != mc else mt / mc - 1.0,
            rel_lift_ci_lower=None,
            rel_lift_ci_upper=None,
            chance_to_beat=None,
            expected_loss_treatment=None,
            expected_loss_control=None,
            note=f"{why}: no posterior",
            **base,  # type: ignore[arg-type]
        )
    if relative:
        return _relative_model(mc, vc / nc, mt, vt / nt, pm, pv, alpha, base)
    d = mt - mc
    if math.isinf(pv):
        mu, s = d, math.sqrt(s2)
    else:
        prec = 1.0 / pv + 1.0 / s2
        mu, s = (pm / pv + d / s2) / prec, math.sqrt(1.0 / prec)
    zscore = mu / s
    ctb = float(special.ndtr(zscore))
    pdf = math.exp(-0.5 * zscore * zscore) / math.sqrt(2.0 * math.pi)
    loss_t = s * pdf - mu * float(special.ndtr(-zscore))
    loss_c = s * pdf + mu * ctb
    z = crit_z(alpha, "two-sided")
    notes: list[str | None] = []
    rel: float | None = None
    rel_lo: float | None = None
    rel_hi: float | None = None
    if mc == 0:
        notes.append("relative lift undefined: control mean is 0")
    elif math.isinf(pv):
        r, lo, hi = rel_lift_arrays(
            mc, vc / nc, mt, vt / nt, alpha=alpha, alternative="two-sided", method="delta"
        )
        rel, rel_lo, rel_hi = float(r), float(lo), float(hi)
    else:
        rel, sd_rel = posterior_relative(mc, vc / nc, mt, vt / nt, mu, s)
        if rel is None:
            notes.append("relative lift undefined: posterior control mean is 0")
        else:
            rel_lo, rel_hi = rel - z * sd_rel, rel + z * sd_rel
    return BayesResult(
        abs_lift=mu,
        abs_lift_ci_lower=mu - z * s,
        abs_lift_ci_upper=mu + z * s,
        rel_lift=rel,
        rel_lift_ci_lower=rel_lo,
        rel_lift_ci_upper=rel_hi,
        chance_to_beat=ctb,
        expected_loss_treatment=max(loss_t, 0.0),
        expected_loss_control=max(loss_c, 0.0),
        note=join_notes(*notes),
        **base,  # type: ignore[arg-type]
    )


def posterior_relative(
    mean_c: float, var_mean_c: float, mean_t: float, var_mean_t: float, mu: float, s: float
) -> tuple[float | None, float]:
    """Posterior mean and sd (delta method) of ``d/m_c`` given ``d ~ N(mu, s²)`` a posterior.

    The joint posterior of ``(m_c, d)`` under a flat prior on ``m_c``: ``m_c | d`` is normal
    with mean ``a - (1-w) d`` and variance ``τ²`` (module docstring), so
    ``E m_c = a - (1-w) mu``, ``Var m_c = τ² + (1-w)² s²``, ``Cov(m_c, d) = -(1-w) s²``.
    """
    v_sum = var_mean_c + var_mean_t
    w = var_mean_t / v_sum
    a = w * mean_c + (1.0 - w) * mean_t
    tau2 = var_mean_c * var_mean_t / v_sum
    m = a - (1.0 - w) * mu
    if m == 0:
        return None, math.nan
    var_c = tau2 + (1.0 - w) ** 2 * s * s
    cov = -(1.0 - w) * s * s
    var_r = s * s / m**2 + mu * mu * var_c / m**4 - 2.0 * mu * cov / m**3
    return mu / m, math.sqrt(max(var_r, 0.0))


def _relative_model(
    mc: float,
    a_c: float,
    mt: float,
    a_t: float,
    pm: float,
    pv: float,
    alpha: float,
    base: dict[str, Any],
) -> BayesResult:
    """Normal model on the relative lift (GrowthBook's ``difference_type="relative"``)."""
    # data: the relative lift and its delta-method variance (as relative_lift's "delta")
    r_hat = mt / mc - 1.0
    v_r = a_t / mc**2 + (mt / mc) ** 2 * a_c / mc**2
    z = crit_z(alpha, "two-sided")
    if math.isinf(pv):
        mu_r, s_r = r_hat, math.sqrt(v_r)
    else:
        prec = 1.0 / pv + 1.0 / v_r
        mu_r, s_r = (pm / pv + r_hat / v_r) / prec, math.sqrt(1.0 / prec)
    # the absolute lift implied by the relative posterior: a = r·m_c
    mu, s = mu_r * mc, s_r * abs(mc)
    zscore = mu / s
    ctb = float(special.ndtr(zscore))
    pdf = math.exp(-0.5 * zscore * zscore) / math.sqrt(2.0 * math.pi)
    return BayesResult(
        abs_lift=mu,
        abs_lift_ci_lower=mu - z * s,
        abs_lift_ci_upper=mu + z * s,
        rel_lift=mu_r,
        rel_lift_ci_lower=mu_r - z * s_r,
        rel_lift_ci_upper=mu_r + z * s_r,
        chance_to_beat=ctb,
        expected_loss_treatment=max(s * pdf - mu * float(special.ndtr(-zscore)), 0.0),
        expected_loss_control=max(s * pdf + mu * ctb, 0.0),
        note=None,
        **base,
    )
