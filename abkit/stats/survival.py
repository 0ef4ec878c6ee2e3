"""Time to churn: Kaplan–Meier curves, the log-rank test and restricted mean survival time (RMST).

Inputs are *aggregated* survival data — distinct ``(time, event)`` pairs with the number of units
that share them — so millions of units cost nothing here. ``event = 1`` is an observed churn at
``time`` (days retained); ``event = 0`` is right-censoring at ``time`` (the unit is known to have
survived past ``time``).

* Kaplan–Meier: ``statsmodels.duration.survfunc.SurvfuncRight`` with ``freq_weights``; pointwise
  intervals on the log(-log) scale from Greenwood's variance (the default of lifelines and R's
  ``survfit(conf.type = "log-log")``).
* Log-rank: the statistic of ``statsmodels.duration.survfunc.survdiff`` (observed minus expected
  churns per group and their (k − 1) × (k − 1) variance, the first group the reference), summed
  from the counts per (time, group) instead of one row per unit.
* RMST up to ``tau``: the area under the KM step function on ``[0, tau]``; its variance is
  ``Σ_{t_i ≤ tau} A_i² d_i / (n_i (n_i − d_i))`` with ``A_i = ∫_{t_i}^{tau} S(u) du`` (Klein &
  Moeschberger, *Survival Analysis*, 2nd ed., §4.5). The difference between arms is tested with a
  normal approximation (independent arms).

Example:
    >>> km = kaplan_meier([1, 2, 3], [1, 1, 0], [10, 5, 5])
    >>> [round(s, 3) for s in km.survival]
    [0.5, 0.25]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from abkit.errors import StatsError
from abkit.stats._common import check_alpha, check_alternative, crit_z, interval, pvalue_z

__all__ = [
    "KMCurve",
    "LogRankResult",
    "RMSTComparison",
    "compare_rmst",
    "kaplan_meier",
    "logrank",
    "rmst",
]


@dataclass(frozen=True, slots=True)
class KMCurve:
    """Kaplan–Meier estimate at each distinct event time, with pointwise log(-log) bands."""

    times: tuple[float, ...]
    survival: tuple[float, ...]
    ci_lower: tuple[float, ...]
    ci_upper: tuple[float, ...]
    at_risk: tuple[int, ...]
    events: tuple[int, ...]
    n: int
    alpha: float

    def survival_at(self, t: float) -> float:
        """S(t): the step function, 1 before the first event time."""
        idx = np.searchsorted(np.asarray(self.times), t, side="right") - 1
        return 1.0 if idx < 0 else float(self.survival[idx])


@dataclass(frozen=True, slots=True)
class LogRankResult:
    """Log-rank test of equal survival curves (chi-square with ``df`` degrees of freedom)."""

    statistic: float | None
    pvalue: float | None
    df: int
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RMSTComparison:
    """Restricted mean survival time per arm up to ``tau`` and their difference (treatment − control)."""

    tau: float
    rmst_control: float
    rmst_treatment: float
    difference: float
    ci_lower: float | None
    ci_upper: float | None
    se: float
    pvalue: float | None
    alternative: str
    alpha: float
    note: str | None = None


def _arrays(times: Any, events: Any, counts: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=float)
    e = np.asarray(events, dtype=int)
    w = np.ones_like(t) if counts is None else np.asarray(counts, dtype=float)
    if not (t.shape == e.shape == w.shape) or t.ndim != 1:
        raise StatsError("times, events and counts must be 1-D arrays of the same length")
    if t.size == 0 or w.sum() <= 0:
        raise StatsError("no units: survival needs at least one unit")
    if np.any(~np.isfinite(t)) or np.any(t < 0):
        raise StatsError("times must be finite and non-negative")
    if np.any((e != 0) & (e != 1)):
        raise StatsError("events must be 0 (censored) or 1 (churned)")
    if np.any(w < 0) or np.any(w != np.round(w)):
        raise StatsError("counts must be non-negative whole numbers")
    return t, e, w


def _table(t: np.ndarray, e: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct event times with deaths d_i and numbers at risk n_i."""
    uniq, code = np.unique(t, return_inverse=True)
    deaths = np.bincount(code, weights=w * e, minlength=uniq.size)
    # at risk at u: everyone with time >= u
    at_risk = np.cumsum(np.bincount(code, weights=w, minlength=uniq.size)[::-1])[::-1]
    keep = deaths > 0
    return uniq[keep], deaths[keep], at_risk[keep]


def kaplan_meier(times: Any, events: Any, counts: Any = None, *, alpha: float = 0.05) -> KMCurve:
    """Kaplan–Meier survival curve from (possibly aggregated) right-censored data.

    Args:
        times: survival or censoring time of each row.
        events: 1 for an observed event (churn), 0 for censoring.
        counts: number of units each row stands for (1 each if None).
        alpha: 1 − confidence level of the pointwise bands.

    Example:
        >>> kaplan_meier([1, 1, 2], [1, 0, 1]).survival
        (0.6666666666666667, 0.0)
    """
    from statsmodels.duration.survfunc import SurvfuncRight

    check_alpha(alpha)
    t, e, w = _arrays(times, events, counts)
    keep = w > 0
    sf = SurvfuncRight(t[keep], e[keep], freq_weights=w[keep])
    surv = np.asarray(sf.surv_prob, dtype=float)
    # Greenwood's variance from the counts (statsmodels' surv_prob_se ignores freq_weights)
    _, d, n = _table(t, e, w)
    z = float(special.ndtri(1 - alpha / 2))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        green = np.cumsum(np.where(n - d > 0, d / (n * (n - d)), np.inf))
        se = surv * np.sqrt(green)
        log_s = np.log(surv)
        theta_se = se / (surv * np.abs(log_s))
        lo = np.exp(-np.exp(np.log(-log_s) + z * theta_se))
        hi = np.exp(-np.exp(np.log(-log_s) - z * theta_se))
    # S = 1 or S = 0 make the log(-log) transform degenerate: the band collapses onto the estimate
    lo = np.where(np.isfinite(lo), lo, surv)
    hi = np.where(np.isfinite(hi), hi, surv)
    return KMCurve(
        times=tuple(float(x) for x in sf.surv_times),
        survival=tuple(float(x) for x in surv),
        ci_lower=tuple(float(x) for x in lo),
        ci_upper=tuple(float(x) for x in hi),
        at_risk=tuple(round(float(x)) for x in sf.n_risk),
        events=tuple(round(float(x)) for x in sf.n_events),
        n=int(w.sum()),
        alpha=alpha,
    )


def logrank(times: Any, events: Any, groups: Any, counts: Any = None) -> LogRankResult:
    """Log-rank test that all groups share one survival curve.

    Example:
        >>> r = logrank([1, 2, 3, 1, 2, 3], [1, 1, 0, 0, 0, 0], ["a", "a", "a", "b", "b", "b"])
        >>> round(r.statistic, 4), round(r.pvalue, 4)
        (2.0, 0.1573)
    """
    t, e, w = _arrays(times, events, counts)
    g = np.asarray(groups)
    if g.shape != t.shape:
        raise StatsError("groups must have one label per row")
    keep = w > 0
    labels, gi = np.unique(g[keep], return_inverse=True)
    k = labels.size
    if k < 2:
        raise StatsError("the log-rank test needs at least two groups with units")
    t, e, w = t[keep], e[keep], w[keep]
    if e @ w == 0:
        return LogRankResult(statistic=0.0, pvalue=1.0, df=k - 1)
    # units at risk and churned per (time, group): survdiff's sums, from the counts
    uniq, code = np.unique(t, return_inverse=True)
    cell = code.reshape(t.size) * k + gi.reshape(t.size)
    size = uniq.size * k
    at = np.bincount(cell, weights=w, minlength=size).reshape(uniq.size, k)
    obs = np.bincount(cell, weights=w * e, minlength=size).reshape(uniq.size, k)
    risk = np.cumsum(at[::-1], axis=0)[::-1]
    n, d = risk.sum(axis=1), obs.sum(axis=1)
    inside = n > 1  # as survdiff: a time with one unit at risk carries no variance
    r = risk[inside, 1:] / n[inside, None]  # the first group is the reference
    oe = (obs[inside, 1:] - r * d[inside, None]).sum(axis=0)
    scale = d[inside] * (n[inside] - d[inside]) / (n[inside] - 1)
    var = np.diag((scale[:, None] * r).sum(axis=0)) - np.einsum("ti,tj,t->ij", r, r, scale)
    try:
        stat = float(oe @ np.linalg.solve(var, oe))
    except np.linalg.LinAlgError:
        return LogRankResult(None, None, k - 1, "no variation in churn times: no log-rank test")
    # chdtrc is chi2.sf without importing scipy.stats (a second of start-up the analysis of a
    # report does not otherwise pay)
    return LogRankResult(statistic=stat, pvalue=float(special.chdtrc(k - 1, stat)), df=k - 1)


def rmst(times: Any, events: Any, counts: Any = None, *, tau: float) -> tuple[float, float]:
    """Restricted mean survival time up to ``tau`` and its variance.

    Example:
        >>> m, v = rmst([1, 2, 3], [1, 1, 0], [10, 5, 5], tau=3)
        >>> round(m, 4)
        1.75
    """
    t, e, w = _arrays(times, events, counts)
    if not (np.isfinite(tau) and tau > 0):
        raise StatsError(f"tau must be a positive number of days, got {tau}")
    ut, d, n = _table(t, e, w)
    inside = ut <= tau
    ut, d, n = ut[inside], d[inside], n[inside]
    surv = np.cumprod(1.0 - d / n)
    # step function: S = 1 on [0, t1), surv[i] on [t_i, t_{i+1}), last up to tau
    edges = np.concatenate(([0.0], ut, [tau]))
    levels = np.concatenate(([1.0], surv))
    widths = np.diff(edges)
    area = float(np.sum(levels * widths))
    # A_i = area under S from t_i to tau
    tail = np.cumsum((levels * widths)[::-1])[::-1][1:]  # A_i for each event time
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n - d > 0, tail**2 * d / (n * (n - d)), 0.0)
    return area, float(np.sum(terms))


def compare_rmst(
    control: tuple[Any, Any, Any],
    treatment: tuple[Any, Any, Any],
    *,
    tau: float,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> RMSTComparison:
    """Difference in RMST (treatment − control) up to ``tau``: "extra retained days".

    Args:
        control, treatment: ``(times, events, counts)`` of each arm.
        tau: restriction time in days.

    Example:
        >>> c = ([1, 2, 3], [1, 1, 0], [10, 5, 5])
        >>> t = ([1, 2, 3], [1, 1, 0], [5, 5, 10])
        >>> round(compare_rmst(c, t, tau=3).difference, 3)
        0.5
    """
    check_alpha(alpha)
    check_alternative(alternative)
    m_c, v_c = rmst(*control, tau=tau)
    m_t, v_t = rmst(*treatment, tau=tau)
    diff = m_t - m_c
    se = float(np.sqrt(v_c + v_t))
    if se == 0:
        return RMSTComparison(
            tau=float(tau),
            rmst_control=m_c,
            rmst_treatment=m_t,
            difference=diff,
            ci_lower=None,
            ci_upper=None,
            se=0.0,
            pvalue=None,
            alternative=alternative,
            alpha=alpha,
            note="no churn variation before tau in either arm; no test is possible",
        )
    z = diff / se
    p = float(pvalue_z(z, alternative))
    lo, hi = interval(diff, crit_z(alpha, alternative) * se, alternative)
    return RMSTComparison(
        tau=float(tau),
        rmst_control=m_c,
        rmst_treatment=m_t,
        difference=diff,
        ci_lower=float(lo),
        ci_upper=float(hi),
        se=se,
        pvalue=p,
        alternative=alternative,
        alpha=alpha,
    )
