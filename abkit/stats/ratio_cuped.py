"""CUPED for ratio metrics: the delta method's linearisation, regression-adjusted.

Each unit ``i`` of an arm has a numerator ``x_i``, a denominator ``y_i`` and the pre-exposure
covariates ``z_i = (x̃_i, ỹ_i)``: the same two parts measured over the lookback before exposure.
Per arm, with ``n`` units, ``R = Σx / Σy`` and ``ȳ = Σy / n``, the delta method linearises the
ratio: ``R̂ ≈ R + mean(ℓ)`` with the influence values

    ``ℓ_i = (x_i − R·y_i) / ȳ``.

Their within-arm (co)variances follow from the sums, with ``s_ab`` the sample covariance
(ddof=1, ``s_ab = (Σab − Σa·Σb/n) / (n − 1)``):

* ``s_ℓℓ = (s_xx − 2R·s_xy + R²·s_yy) / ȳ²`` (the plain delta method: ``Var R̂ = s_ℓℓ / n``);
* ``s_zℓ = (s_zx − R·s_zy) / ȳ``, a 2-vector (``s_x̃x, s_ỹx`` and ``s_x̃y, s_ỹy``);
* ``S_zz``, the 2×2 covariance matrix of ``(x̃, ỹ)``.

The adjustment regresses ``ℓ`` on ``z`` (multivariate delta method: the adjusted statistic is
``R̂ − θᵀ(z̄_arm − z̄)``, a smooth function of the arm's means of ``(x, y, x̃, ỹ)``):

* pooled ``θ = (C_zz,c + C_zz,t)⁻¹ (C_zℓ,c + C_zℓ,t)`` with ``C = (n − 1)·S`` the within-arm
  centred sums: the common within-arm slope, i.e. the ``z`` coefficients of OLS
  ``ℓ ~ arm + x̃ + ỹ``; ``theta="per-arm"``: ``θ_arm = S_zz,arm⁻¹ s_zℓ,arm``;
* adjusted ratio ``R̂_adj = R̂ − θᵀ(z̄_arm − z̄)`` with ``z̄`` the mean of ``z`` over both arms;
* its variance ``(s_ℓℓ − 2θᵀ s_zℓ + θᵀ S_zz θ) / n`` (the variance of the mean of
  ``ℓ − θᵀz``; θ treated as fixed, the usual large-sample approximation);
* the arms are compared by a z-test on ``R̂_adj,t − R̂_adj,c`` (as :func:`compare_ratios`);
  ``variance_reduction = 1 − Var(adjusted diff) / Var(unadjusted diff)``.

A covariate without variance within arms is dropped, and ``ỹ`` when it is collinear with ``x̃``
(e.g. both parts count the same thing); with neither left no adjustment is made. The
pre-period imbalance check is the Wald test of ``z̄_t − z̄_c = 0`` (χ² with one degree of
freedom per covariate used).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from abkit.errors import StatsError
from abkit.stats._common import (
    check_alpha,
    check_alternative,
    check_choice,
    check_count,
    check_finite,
    check_nonnegative,
    join_notes,
)
from abkit.stats._types import Comparison
from abkit.stats.lift import REL_LABELS, REL_METHODS
from abkit.stats.ratio import _centred, compare_ratios, ratio_z_comparison

__all__ = ["RatioCovariateSums", "RatioCupedResult", "ratio_cuped"]

_FIELDS = (
    "n", "sum_x", "sum_y", "sum_x2", "sum_y2", "sum_xy",
    "sum_cx", "sum_cy", "sum_cx2", "sum_cy2", "sum_cxcy",
    "sum_x_cx", "sum_x_cy", "sum_y_cx", "sum_y_cy",
)  # fmt: skip
_SQUARES = {"sum_x2", "sum_y2", "sum_cx2", "sum_cy2"}


@dataclass(frozen=True, slots=True)
class RatioCovariateSums:
    """One arm's sums of a ratio ``x / y`` and its pre-period covariates ``cx`` (x̃), ``cy`` (ỹ).

    The names spell the products: ``sum_x_cy`` is ``Σ x·ỹ``, ``sum_cxcy`` is ``Σ x̃·ỹ``.
    """

    n: int
    sum_x: float
    sum_y: float
    sum_x2: float
    sum_y2: float
    sum_xy: float
    sum_cx: float
    sum_cy: float
    sum_cx2: float
    sum_cy2: float
    sum_cxcy: float
    sum_x_cx: float
    sum_x_cy: float
    sum_y_cx: float
    sum_y_cy: float


@dataclass(frozen=True, slots=True)
class RatioCupedResult:
    """CUPED-adjusted comparison of a ratio metric, with the unadjusted one for reference.

    ``theta``: the pooled slopes on ``(x̃, ỹ)`` (0 for a covariate not used), None without an
    adjustment; ``theta_arms``: the slopes used in (control, treatment), both ``theta`` when
    pooled; ``covariates_used``: indexes into ``("x̃", "ỹ")``.
    """

    comparison: Comparison
    unadjusted: Comparison
    theta: tuple[float, float] | None
    variance_reduction: float | None
    pre_imbalance_pvalue: float | None
    imbalance_threshold: float = 0.001
    note: str | None = None
    theta_arms: tuple[tuple[float, float], tuple[float, float]] | None = None
    covariates_used: tuple[int, ...] = ()

    @property
    def imbalanced(self) -> bool:
        """True when the pre-period covariates differ between arms at ``imbalance_threshold``."""
        p = self.pre_imbalance_pvalue
        return p is not None and p < self.imbalance_threshold


def _as_sums(value: RatioCovariateSums | Sequence[float], arm: str) -> RatioCovariateSums:
    raw = (
        [getattr(value, f) for f in _FIELDS]
        if isinstance(value, RatioCovariateSums)
        else list(value)
    )
    if len(raw) != len(_FIELDS):
        raise StatsError(
            f"{arm} must be RatioCovariateSums or ({', '.join(_FIELDS)}); got {len(raw)} values."
        )
    out: list[float | int] = [check_count(raw[0], f"{arm}.n")]
    for f, v in zip(_FIELDS[1:], raw[1:], strict=True):
        check = check_nonnegative if f in _SQUARES else check_finite
        out.append(check(v, f"{arm}.{f}"))
    return RatioCovariateSums(*out)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _Arm:
    n: int
    ratio: float
    s_ll: float  # variance of ℓ
    s_zl: np.ndarray  # covariances of z with ℓ
    s_zz: np.ndarray  # covariance matrix of z
    z_bar: np.ndarray


def _moments(s: RatioCovariateSums) -> _Arm:
    """One arm's ratio and the (co)variances of ``ℓ`` and ``z`` (needs n ≥ 2 and Σy ≠ 0)."""
    n, d = s.n, s.n - 1
    r = s.sum_x / s.sum_y
    y_bar = s.sum_y / n

    def cov(ab: float, a: float, b: float) -> float:
        return _centred(ab, a, b, n) / d

    s_xx = max(cov(s.sum_x2, s.sum_x, s.sum_x), 0.0)
    s_yy = max(cov(s.sum_y2, s.sum_y, s.sum_y), 0.0)
    s_xy = cov(s.sum_xy, s.sum_x, s.sum_y)
    s_ll = max((s_xx - 2.0 * r * s_xy + r * r * s_yy) / (y_bar * y_bar), 0.0)
    s_zx = np.array([cov(s.sum_x_cx, s.sum_x, s.sum_cx), cov(s.sum_x_cy, s.sum_x, s.sum_cy)])
    s_zy = np.array([cov(s.sum_y_cx, s.sum_y, s.sum_cx), cov(s.sum_y_cy, s.sum_y, s.sum_cy)])
    c11 = max(cov(s.sum_cx2, s.sum_cx, s.sum_cx), 0.0)
    c22 = max(cov(s.sum_cy2, s.sum_cy, s.sum_cy), 0.0)
    c12 = cov(s.sum_cxcy, s.sum_cx, s.sum_cy)
    return _Arm(
        n=n,
        ratio=r,
        s_ll=s_ll,
        s_zl=(s_zx - r * s_zy) / y_bar,
        s_zz=np.array([[c11, c12], [c12, c22]]),
        z_bar=np.array([s.sum_cx / n, s.sum_cy / n]),
    )


def _usable(s_zz: np.ndarray) -> list[int]:
    """The covariates to regress on: those with variance, ``ỹ`` dropped when collinear."""
    used = [j for j in (0, 1) if s_zz[j, j] > 0]
    if len(used) == 2:
        r2 = s_zz[0, 1] ** 2 / (s_zz[0, 0] * s_zz[1, 1])
        if 1.0 - r2 < 1e-10:
            used = [0]
    return used


def _slope(s_zz: np.ndarray, s_zl: np.ndarray, used: list[int]) -> np.ndarray:
    theta = np.zeros(2)
    ix = np.ix_(used, used)
    theta[used] = np.linalg.solve(s_zz[ix], s_zl[used])
    return theta


def ratio_cuped(
    control: RatioCovariateSums | Sequence[float],
    treatment: RatioCovariateSums | Sequence[float],
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    rel_method: str = "delta",
    imbalance_threshold: float = 0.001,
    theta: str = "pooled",
) -> RatioCupedResult:
    """CUPED-adjusted comparison of a ratio metric ``Σx / Σy`` from sufficient statistics.

    The formulas are in the module docstring (and docs/statistics.md).

    Args:
        control: :class:`RatioCovariateSums` or its 15 fields in order (``n, Σx, Σy, Σx², Σy²,
            Σxy, Σx̃, Σỹ, Σx̃², Σỹ², Σx̃ỹ, Σx·x̃, Σx·ỹ, Σy·x̃, Σy·ỹ``).
        treatment: the same for treatment.
        alpha: 1 - confidence level and the significance level.
        alternative: "two-sided", "greater" (treatment > control) or "less".
        rel_method: relative-lift interval, "delta", "fieller", "log" or "auto".
        imbalance_threshold: p-value below which the pre-period check flags imbalance.
        theta: ``"pooled"`` (one slope vector from both arms, the default) or ``"per-arm"``
            (each arm its own; an arm whose covariates are singular uses the pooled one).

    Returns:
        A :class:`RatioCupedResult`. When no covariate has variance within arms, an arm has
        fewer than 2 units or a zero denominator sum, no adjustment is made (``theta`` None)
        and ``comparison`` equals ``unadjusted``, with a note.

    Raises:
        StatsError: malformed sums, bad ``alpha``, ``alternative``, ``rel_method``, ``theta``
            or ``imbalance_threshold``.

    Example:
        >>> c = (20, 150.0, 60.0, 1352.0, 222.0, 544.0, 152.0, 60.0, 1346.0, 222.0,
        ...      539.0, 1284.0, 522.0, 523.0, 214.0)
        >>> t = (20, 197.0, 75.0, 2231.0, 321.0, 830.0, 186.0, 75.0, 1926.0, 315.0,
        ...      774.0, 1998.0, 811.0, 763.0, 310.0)
        >>> r = ratio_cuped(c, t)
        >>> round(r.unadjusted.abs_lift, 4), round(r.comparison.abs_lift, 4)
        (0.1267, 0.1747)
        >>> round(r.variance_reduction, 3)
        0.049
    """
    if theta not in ("pooled", "per-arm"):
        raise StatsError(f"theta must be 'pooled' or 'per-arm', got {theta!r}")
    per_arm = theta == "per-arm"
    sc = _as_sums(control, "control")
    st = _as_sums(treatment, "treatment")
    imbalance_threshold = check_alpha(imbalance_threshold, "imbalance_threshold")
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    rel_method = check_choice(rel_method, "rel_method", REL_METHODS)
    kw: dict[str, Any] = {"alpha": alpha, "alternative": alternative, "rel_method": rel_method}

    def sums(s: RatioCovariateSums) -> tuple[float, float, float, float, float, int]:
        return s.sum_x, s.sum_y, s.sum_x2, s.sum_y2, s.sum_xy, s.n

    unadjusted = compare_ratios(sums(sc), sums(st), **kw)

    def unadjusted_only(why: str, pre_p: float | None = None) -> RatioCupedResult:
        return RatioCupedResult(
            comparison=unadjusted,
            unadjusted=unadjusted,
            theta=None,
            variance_reduction=None,
            pre_imbalance_pvalue=pre_p,
            imbalance_threshold=imbalance_threshold,
            note=f"no CUPED adjustment: {why}",
        )

    if sc.n < 2 or st.n < 2:
        return unadjusted_only("fewer than 2 units in an arm")
    if sc.sum_y == 0 or st.sum_y == 0:
        return unadjusted_only("the denominator sum is 0 in an arm")
    ac, at = _moments(sc), _moments(st)
    c_zz = (ac.n - 1) * ac.s_zz + (at.n - 1) * at.s_zz
    used = _usable(c_zz)
    pre_p = _imbalance(ac, at, used)
    if not used:
        return unadjusted_only("the covariates have no variance within arms", pre_p)
    pooled = _slope(c_zz, (ac.n - 1) * ac.s_zl + (at.n - 1) * at.s_zl, used)
    thetas = [pooled, pooled]
    if per_arm:
        for k, a in enumerate((ac, at)):
            if _usable(a.s_zz) == used:
                thetas[k] = _slope(a.s_zz, a.s_zl, used)
    z_bar = (ac.n * ac.z_bar + at.n * at.z_bar) / (ac.n + at.n)
    adj: list[tuple[float, float]] = []
    for a, th in zip((ac, at), thetas, strict=True):
        value = a.ratio - float(th @ (a.z_bar - z_bar))
        var = a.s_ll - 2.0 * float(th @ a.s_zl) + float(th @ a.s_zz @ th)
        adj.append((value, max(var, 0.0) / a.n))
    label = (
        f"CUPED ({'per-arm' if per_arm else 'pooled'} θ) ratio metric: delta-method z-test, "
        "normal CI, " + REL_LABELS[rel_method]
    )
    (rc, vc), (rt, vt) = adj
    notes: list[str | None] = []
    if vc + vt == 0:
        notes.append("zero variance in both arms: no test or interval")
    adjusted = ratio_z_comparison(rc, vc, sc.n, rt, vt, st.n, notes, label=label, **kw)
    var_unadj = (ac.s_ll / ac.n) + (at.s_ll / at.n)
    reduction = 1.0 - (vc + vt) / var_unadj if var_unadj > 0 else None
    note = None
    if pre_p is not None and pre_p < imbalance_threshold:
        note = (
            f"pre-period imbalance: the covariates differ between arms (p={pre_p:.3g}); "
            "check the assignment before trusting the adjusted lift"
        )
    return RatioCupedResult(
        comparison=replace(adjusted, method=label),
        unadjusted=unadjusted,
        theta=(float(pooled[0]), float(pooled[1])),
        variance_reduction=reduction,
        pre_imbalance_pvalue=pre_p,
        imbalance_threshold=imbalance_threshold,
        note=join_notes(note),
        theta_arms=tuple((float(t[0]), float(t[1])) for t in thetas),  # type: ignore[arg-type]
        covariates_used=tuple(used),
    )


def _imbalance(ac: _Arm, at: _Arm, used: list[int]) -> float | None:
    """Wald test of ``z̄_t − z̄_c = 0`` on the covariates used: its χ² p-value, or None."""
    if not used:
        return None
    ix = np.ix_(used, used)
    v = ac.s_zz[ix] / ac.n + at.s_zz[ix] / at.n
    d = (at.z_bar - ac.z_bar)[used]
    try:
        q = float(d @ np.linalg.solve(v, d))
    except np.linalg.LinAlgError:
        return None
    if not math.isfinite(q) or q < 0:
        return None
    # χ² survival function: 1 dof erfc(√(q/2)), 2 dof exp(−q/2)
    return math.erfc(math.sqrt(q / 2.0)) if len(used) == 1 else math.exp(-q / 2.0)
