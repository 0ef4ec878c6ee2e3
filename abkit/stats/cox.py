"""Cox proportional-hazards model with Efron's ties on frequency-weighted rows.

A row stands for ``weight`` units (a whole number) that share a time, a status and covariates, so
a million units that fall into a few thousand distinct rows cost a few thousand rows here. The
numbers are those of the expanded data — one row per unit — under
``statsmodels.duration.hazard_regression.PHReg(ties="efron")`` (and lifelines' ``CoxPHFitter``,
whose only ties method is Efron's).

Efron's partial log-likelihood, within each stratum: at a churn time with ``m`` churned units
(the summed weight of the churned rows there),

``ℓ_t = Σ_churned w·xβ − Σ_{l<m} log(R0 − (l/m)·D0)``

with ``R`` the sums of ``w·exp(xβ)`` (and ``·x``, ``·xxᵀ`` for the score and the information) over
the risk set (time ≥ t) and ``D`` the same over the units churned at t. Written with
``A = R − D`` (the risk set without those churned at t, summed directly rather than subtracted)
and ``g = (m − l)/m``, each denominator is ``A0 + g·D0``; the sums over ``l`` are vectorised
(arrays of up to 2²⁰ terms at a time, never a Python loop over units). Newton–Raphson from
``β = 0`` (step-halving when a step lowers the likelihood); the covariance is the inverse
information.

Example:
    >>> t, e = [1.0, 2, 2, 3, 4, 5], [1, 1, 1, 1, 0, 1]
    >>> fit = cox_efron(t, e, [[1.0], [1], [0], [0], [1], [0]])
    >>> round(fit.params[0], 6), fit.converged  # PHReg(ties="efron") on these rows: 0.403173
    (0.403173, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from abkit.errors import StatsError

__all__ = ["CoxFit", "cox_efron", "schoenfeld_sums"]


@dataclass(frozen=True, slots=True)
class CoxFit:
    """Maximum partial-likelihood estimate of a Cox model (Efron's ties)."""

    params: tuple[float, ...]
    #: the inverse of the observed information at ``params``
    cov: tuple[tuple[float, ...], ...]
    loglik: float
    #: True: a fit that does not converge raises :class:`~abkit.errors.StatsError` instead
    converged: bool
    iterations: int

    @property
    def se(self) -> tuple[float, ...]:
        return tuple(float(np.sqrt(self.cov[i][i])) for i in range(len(self.params)))


@dataclass(frozen=True, slots=True)
class _Risk:
    """The data arranged by churn time: everything that does not depend on ``β``."""

    x: np.ndarray  # covariates of the rows that are at risk at some churn time
    w: np.ndarray  # their weights
    dead: np.ndarray  # bool: churned
    bin: np.ndarray  # index of the last churn time (of their stratum) at or before their time
    segments: tuple[tuple[int, int], ...]  # churn-time index range of each stratum
    times: np.ndarray  # the churn times (sorted by stratum, then time)
    stratum: np.ndarray  # stratum code of each churn time
    m: np.ndarray  # churned weight at each churn time
    sx: np.ndarray  # Σ w·x over the churned at each churn time
    ll_const: np.ndarray  # Σ w·x over all churned rows
    #: the Efron terms ``l = 0 … m−1`` of all churn times in pieces of at most ``_PIECE``:
    #: (churn times, first l, last l + 1) of each piece
    pieces: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]


def _bins(index: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """``np.bincount`` with weights, always float (it returns integers for no rows)."""
    return np.bincount(index, weights=weights, minlength=size).astype(float, copy=False)


def _risk(time: Any, status: Any, exog: Any, weights: Any, strata: Any) -> _Risk:
    t = np.asarray(time, dtype=float)
    e = np.asarray(status)
    x = np.asarray(exog, dtype=float)
    n = t.size
    if x.ndim == 1:
        x = x[:, None]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if t.ndim != 1 or e.shape != t.shape or w.shape != t.shape or x.ndim != 2 or len(x) != n:
        raise StatsError(
            "time, status and weights must be 1-D arrays of one length, exog one row per row"
        )
    if x.shape[1] == 0:
        raise StatsError("the Cox model needs at least one covariate")
    if np.any(~np.isfinite(w)) or np.any(w < 0) or np.any(w != np.round(w)):
        raise StatsError("weights must be non-negative whole numbers (units per row)")
    keep = w > 0  # a row of no unit is left out whatever it holds
    if not (np.isfinite(t[keep]).all() and np.isfinite(x[keep]).all()):
        raise StatsError("times and covariates must be finite numbers")
    if np.any((e != 0) & (e != 1)):
        raise StatsError("status must be 0 (censored) or 1 (event)")
    s = np.zeros(n, dtype=np.int64)
    if strata is not None:
        labels = np.asarray(strata)
        if labels.shape != t.shape:
            raise StatsError("strata must have one label per row")
        s = np.unique(labels, return_inverse=True)[1].reshape(n).astype(np.int64)
    t, dead, x, w, s = t[keep], e[keep] == 1, x[keep], w[keep], s[keep]
    if not dead.any():
        raise StatsError("no events: the Cox model needs at least one churned unit")
    # one integer key per (stratum, time), ordered by stratum then time
    uniq_t, tcode = np.unique(t, return_inverse=True)
    key = s * uniq_t.size + tcode.reshape(t.size)
    fkeys = np.unique(key[dead])
    b = np.searchsorted(fkeys, key, side="right") - 1
    f_stratum = fkeys // uniq_t.size
    # at risk at some churn time of its own stratum (censored before the first one: never)
    inside = (b >= 0) & (f_stratum[np.maximum(b, 0)] == s)
    x, w, dead, b = x[inside], w[inside], dead[inside], b[inside]
    # centred: the model is the same (a shift of x cancels in every term), the variances within
    # the risk sets are not differences of large mean squares
    x = x - (w @ x) / w.sum()
    n_f = fkeys.size
    m = _bins(b[dead], w[dead], n_f)
    sx = np.column_stack([_bins(b[dead], w[dead] * x[dead, j], n_f) for j in range(x.shape[1])])
    starts = np.flatnonzero(np.r_[True, f_stratum[1:] != f_stratum[:-1]])
    ends = np.r_[starts[1:], n_f]
    return _Risk(
        x=x,
        w=w,
        dead=dead,
        bin=b,
        segments=tuple(zip(starts.tolist(), ends.tolist(), strict=True)),
        times=uniq_t[fkeys % uniq_t.size],
        stratum=f_stratum,
        m=m,
        sx=sx,
        ll_const=sx.sum(axis=0),
        pieces=_pieces(m.astype(np.int64)),
    )


#: Efron terms evaluated at once (bounds the memory: a few arrays of this length)
_PIECE = 1 << 20


def _pieces(m: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """Cut the sequence of Efron terms (``m_k`` of them at churn time ``k``, one after the other)
    into pieces of ``_PIECE`` terms; a churn time may span pieces (its sums over ``l`` add)."""
    end = np.cumsum(m)
    start = end - m
    out = []
    for lo in range(0, int(end[-1]), _PIECE):
        hi = min(lo + _PIECE, int(end[-1]))
        ks = np.arange(np.searchsorted(end, lo, "right"), np.searchsorted(end, hi - 1, "right") + 1)
        first = np.maximum(start[ks], lo) - start[ks]
        last = np.minimum(end[ks], hi) - start[ks]
        out.append((ks, first, last))
    return tuple(out)


def _efron_sums(r: _Risk, a0: np.ndarray, d0: np.ndarray, second: bool) -> np.ndarray:
    """Per churn time, with ``c_l = A0 + g_l·D0`` and ``g_l = (m − l)/m``: the sums over
    ``l < m`` of ``log c, 1/c, g/c`` (and ``1/c², g/c², g²/c²``), as rows of one array."""
    out = np.zeros((6 if second else 3, r.m.size))
    for ks, first, last in r.pieces:
        n = last - first
        at = np.cumsum(n) - n  # where each churn time's terms start in the piece

        def spread(v: np.ndarray, ks: np.ndarray = ks, n: np.ndarray = n) -> np.ndarray:
            return np.repeat(v[ks], n)

        m = r.m
        l_of = np.arange(int(n.sum())) - np.repeat(at - first, n)
        g = (spread(m) - l_of) / spread(m)
        c = spread(a0) + g * spread(d0)
        inv = 1.0 / c
        gi = g * inv
        terms = [np.log(c), inv, gi]
        if second:
            terms += [inv * inv, gi * inv, gi * gi]
        for i, v in enumerate(terms):
            out[i, ks] += np.add.reduceat(v, at)
    return out


def _sums(r: _Risk, q: np.ndarray, rows: np.ndarray, second: bool) -> tuple[np.ndarray, ...]:
    """Σ q, Σ q·x (and Σ q·xxᵀ) of the selected rows, per churn-time bin."""
    n_f, p = r.m.size, r.x.shape[1]
    b, qq, xx = r.bin[rows], q[rows], r.x[rows]
    s0 = _bins(b, qq, n_f)
    s1 = np.column_stack([_bins(b, qq * xx[:, j], n_f) for j in range(p)])
    if not second:
        return s0, s1
    s2 = np.empty((n_f, p, p))
    for j in range(p):
        qx = qq * xx[:, j]
        for k in range(j, p):
            s2[:, j, k] = s2[:, k, j] = _bins(b, qx * xx[:, k], n_f)
    return s0, s1, s2


def _at_risk_after(r: _Risk, alive: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """``A`` per churn time: the censored rows of its bin plus every row of the later bins of its
    stratum (a reverse cumulative sum within each stratum, no subtraction)."""
    out = alive.copy()
    for a, z in r.segments:
        total = alive[a:z] + dead[a:z]
        tail = np.cumsum(total[::-1], axis=0)[::-1]
        out[a : z - 1] += tail[1:]
    return out


def _evaluate(r: _Risk, beta: np.ndarray, second: bool = True) -> tuple[Any, ...]:
    """Log-likelihood, per-time score contributions (the Schoenfeld sums) and information."""
    eta = r.x @ beta
    shift = float(eta.max())
    q = r.w * np.exp(eta - shift)  # the shift cancels within each churn time's terms
    n0, n1, *n2 = _sums(r, q, ~r.dead, second)
    d0, d1, *d2 = _sums(r, q, r.dead, second)
    a0 = _at_risk_after(r, n0, d0)
    a1 = _at_risk_after(r, n1, d1)
    sums = _efron_sums(r, a0, d0, second)
    u0, u1 = sums[1], sums[2]
    loglik = float(r.ll_const @ beta) - float(sums[0].sum()) - shift * float(r.m.sum())
    score_t = r.sx - a1 * u0[:, None] - d1 * u1[:, None]
    if not second:
        return loglik, score_t
    a2 = _at_risk_after(r, n2[0], d2[0])
    v0, v1, v2 = sums[3], sums[4], sums[5]
    # E[xxᵀ] part of the information (the variance is it minus E[x]E[x]ᵀ): its diagonal is the
    # scale against which a variance counts as none
    raw = np.einsum("kij,k->ij", a2, u0) + np.einsum("kij,k->ij", d2[0], u1)
    cross = np.einsum("ki,kj,k->ij", a1, d1, v1)
    info = (
        raw
        - np.einsum("ki,kj,k->ij", a1, a1, v0)
        - cross
        - cross.T
        - np.einsum("ki,kj,k->ij", d1, d1, v2)
    )
    return loglik, score_t, info, np.diag(raw)


def _names(p: int, names: Sequence[str] | None) -> list[str]:
    return list(names) if names is not None else [f"covariate {j}" for j in range(p)]


def _singular(info: np.ndarray, raw: np.ndarray, names: list[str]) -> tuple[str, list[str]] | None:
    """Why the information is singular and which covariates: ``("flat", …)`` for covariates
    without variation among the units at risk (a variance that is rounding error of the mean
    square ``raw``), ``("collinear", …)``; None when it is not."""
    d = np.diag(info)
    flat = [names[j] for j in np.flatnonzero(~(d > 1e-10 * raw))]
    if flat:
        return "flat", flat
    scale = 1.0 / np.sqrt(d)
    vals, vecs = np.linalg.eigh(info * scale[:, None] * scale[None, :])
    if vals[0] > 1e-10 * vals[-1]:
        return None
    v = np.abs(vecs[:, 0])
    return "collinear", [names[j] for j in np.flatnonzero(v > 0.1 * v.max())]


def _check_start(info: np.ndarray, raw: np.ndarray, names: list[str]) -> None:
    """At ``β = 0``: the data cannot identify some coefficient whatever the fit does."""
    why = _singular(info, raw, names)
    if why is None:
        return
    kind, culprits = why
    if kind == "flat":
        raise StatsError(
            f"the Cox model cannot estimate {culprits}: no variation among the units at risk at "
            "the churn times (a level with no such units, or one every unit shares); drop it"
        )
    raise StatsError(
        f"the Cox model's covariates {culprits} are collinear among the units at risk (the "
        "information matrix is singular): drop one of them or merge levels"
    )


def _diverged(names: list[str], beta: np.ndarray, steps: int, last: float) -> StatsError:
    """The coefficients run off (monotone likelihood): a covariate separates the churners."""
    big = [names[j] for j in np.flatnonzero(np.abs(beta) > 5)] or names
    return StatsError(
        f"the Cox model did not converge ({steps} Newton steps, last step {last:.3g}): {big} "
        "may separate churners from the rest (a level in which every unit churns first, or none "
        "does) and its coefficient runs off to ±∞; drop or merge it"
    )


def cox_efron(
    time: Any,
    status: Any,
    exog: Any,
    *,
    weights: Any = None,
    strata: Any = None,
    names: Sequence[str] | None = None,
    tol: float = 1e-10,
    maxiter: int = 100,
) -> CoxFit:
    """Fit a Cox model with Efron's ties to (frequency-weighted) right-censored rows.

    Args:
        time: time of each row (churn or censoring).
        status: 1 for an event (churn), 0 for censoring.
        exog: covariates, one row per row (2-D; a 1-D array is one covariate).
        weights: units each row stands for (whole numbers; 1 each if None).
        strata: a label per row; each stratum has its own baseline hazard.
        names: covariate names, for the error messages.
        tol: convergence when no Newton step moves a coefficient by more than
            ``tol · max(1, max|β|)``.
        maxiter: Newton steps allowed.

    Raises:
        StatsError: bad input, no event, a singular information matrix (a covariate without
            variation among the units at risk, or collinear covariates), or no convergence
            within ``maxiter`` steps (typically a covariate that separates churners from the
            rest: its coefficient runs off to ±∞).

    Example:
        >>> x = [[0.0], [1], [0], [1]]
        >>> fit = cox_efron([1, 2, 3, 4], [1, 1, 0, 1], x, weights=[3, 2, 4, 1])
        >>> [round(v, 6) for v in (fit.params[0], fit.se[0], fit.loglik)]  # PHReg on 10 rows: same
        [0.197554, 0.916954, -10.294045]
    """
    r = _risk(time, status, exog, weights, strata)
    p = r.x.shape[1]
    labels = _names(p, names)
    beta = np.zeros(p)
    loglik, score_t, info, raw = _evaluate(r, beta)
    _check_start(info, raw, labels)
    converged, it, step_size = False, 0, math.inf
    while not converged:
        if it == maxiter:
            raise _diverged(labels, beta, it, step_size)
        it += 1
        step = np.linalg.solve(info, score_t.sum(axis=0))
        for _ in range(40):  # step-halving: the partial likelihood is concave, rarely needed
            new = _evaluate(r, beta + step)
            if np.isfinite(new[0]) and new[0] >= loglik - 1e-12 * abs(loglik):
                break
            step = step / 2
        beta = beta + step
        loglik, score_t, info, raw = new
        step_size = float(np.max(np.abs(step)))
        if _singular(info, raw, labels) is not None:  # fine at β = 0, not here: β runs off
            raise _diverged(labels, beta, it, step_size)
        converged = step_size <= tol * max(1.0, float(np.max(np.abs(beta))))
    cov = np.linalg.inv(info)
    return CoxFit(
        params=tuple(float(v) for v in beta),
        cov=tuple(tuple(float(v) for v in row) for row in cov),
        loglik=loglik,
        converged=True,
        iterations=it,
    )


def schoenfeld_sums(
    time: Any,
    status: Any,
    exog: Any,
    params: Any,
    *,
    weights: Any = None,
    strata: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (stratum, churn time): the Efron Schoenfeld residuals summed over the churned units.

    At a churn time with ``m`` churned units the sum is
    ``Σ_churned w·x − Σ_{l<m} (R1 − (l/m)·D1)/(R0 − (l/m)·D0)`` (each unit's residual is the sum
    over ``m``, as lifelines and R compute it). Returns ``(stratum code, time, m, sums)`` ordered
    by stratum (sorted labels) then time.

    Example:
        >>> x = [[1.0], [0], [1], [0]]
        >>> _, times, m, s = schoenfeld_sums([1, 2, 2, 3], [1, 1, 1, 0], x, [0.0])
        >>> times.tolist(), m.tolist(), s[:, 0].round(4).tolist()  # 1 − 2/4; 1 − (1/3 + 1/4)
        ([1.0, 2.0], [1.0, 2.0], [0.5, 0.4167])
    """
    r = _risk(time, status, exog, weights, strata)
    beta = np.asarray(params, dtype=float).reshape(r.x.shape[1])
    _, score_t = _evaluate(r, beta, second=False)
    return r.stratum, r.times, r.m, score_t
