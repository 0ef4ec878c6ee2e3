"""Regression adjustment on exposure attributes: post-stratification and Lin's estimator.

The inputs are sufficient statistics per arm and **stratum** (a combination of categorical
attribute values, e.g. ``("ads", "ios")``): ``n, Σy, Σy²`` and, for ``p`` numeric covariates
``z`` (numeric attributes, a model's prediction — CUPAC —, a pre-period covariate), ``Σz_j``,
``Σz_j z_l`` and ``Σz_j y``. Sums are additive, so one grouped query returns them for every
stratum, overall and per segment.

**Strata.** A stratum with fewer than ``min_units`` units in some arm is pooled into one
``"other"`` stratum (and ``"other"``, if still short, into the largest stratum); the result
names the pooled strata. ``w_k = N_k / N`` is stratum ``k``'s share of all units (both arms).

**Estimator.** Within each arm ``a`` (control, treatment) ``y`` is regressed on
``[1, D − w, Z − z̄]`` — ``D`` the dummies of strata 2…K, ``Z`` the numeric covariates, ``z̄``
their mean over both arms (Lin 2013: separate slopes per arm, centred at the pooled mean). The
intercept ``μ̂_a`` is the arm's adjusted mean; the lift is ``μ̂_t − μ̂_c`` and the relative lift
``μ̂_t / μ̂_c − 1`` (interval: ``rel_method``, on the adjusted means and their variances).

**Variance of an arm's adjusted mean.**

* strata only (post-stratification): ``μ̂_a = Σ_k w_k ȳ_ak`` and
  ``V_a = Σ_k w_k² s²_ak / n_ak`` (``s²`` with ddof 1) — Miratrix, Sekhon & Yu (2013)'s
  stratified variance conditional on the stratum counts; ``V_c + V_t`` equals the HC2 variance
  of the treatment coefficient of statsmodels OLS on the per-unit interacted design
  ``y ~ T + (D − w) + T·(D − w)``;
* with numeric covariates: the classical OLS variance of the intercept of the arm's own fit,
  ``V_a = σ̂²_a [(X_aᵀX_a)⁻¹]₀₀`` with ``X_a = [1, D − w, Z − z̄]`` and
  ``σ̂²_a = RSS_a / (n_a − q_a)`` (``q_a`` columns), built from the sums above:
  ``X_aᵀX_a`` and ``X_aᵀy`` from ``n, ΣD, ΣZ, ΣZZᵀ, ΣDZ`` (the per-stratum ``ΣZ``),
  ``RSS_a = Σy² − β̂ᵀX_aᵀy``. This is statsmodels ``OLS(y_a, X_a).fit().bse[0]²``. The intercept
  at the arm's centred design is the mean of the arm's residuals plus a term of order ``1/n``,
  so this variance does not need homoskedasticity to first order.

The test is Welch's t on the adjusted means (``compare_means`` with ``var = V_a·n_a``).
``variance_reduction = 1 − (V_c + V_t) / (s²_c/n_c + s²_t/n_t)``.

Numeric covariates without variance over both arms are left out (named in the note); a
covariate set that leaves an arm with fewer units than columns + 1 is not used.

Example:
    >>> c = {"ios": StratumSums(50, 10.0, 10.0), "web": StratumSums(50, 30.0, 30.0)}
    >>> t = {"ios": StratumSums(50, 12.0, 12.0), "web": StratumSums(50, 33.0, 33.0)}
    >>> r = adjusted_compare(c, t)
    >>> round(r.comparison.abs_lift, 4), round(r.variance_reduction, 3)
    (0.05, 0.164)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from abkit.errors import StatsError
from abkit.stats._common import check_alpha, join_notes
from abkit.stats._types import Comparison
from abkit.stats.means import compare_means

__all__ = ["OTHER", "AdjustResult", "StratumSums", "adjusted_compare", "pool_strata"]

#: the key of the stratum sparse strata are pooled into
OTHER = "(other)"
#: default minimum units per arm in a stratum (fewer: pooled)
MIN_UNITS = 10


@dataclass(frozen=True, slots=True)
class StratumSums:
    """One arm's sufficient statistics in one stratum.

    ``sum_z[j] = Σz_j``, ``sum_zz[j][l] = Σz_j·z_l`` (a full symmetric ``p × p``),
    ``sum_zy[j] = Σz_j·y``; all empty without numeric covariates.
    """

    n: int
    sum_y: float
    sum_y2: float
    sum_z: tuple[float, ...] = ()
    sum_zz: tuple[tuple[float, ...], ...] = ()
    sum_zy: tuple[float, ...] = ()

    def __add__(self, other: StratumSums) -> StratumSums:
        p = max(len(self.sum_z), len(other.sum_z))
        a, b = self.padded(p), other.padded(p)
        return StratumSums(
            a.n + b.n,
            a.sum_y + b.sum_y,
            a.sum_y2 + b.sum_y2,
            tuple(x + y for x, y in zip(a.sum_z, b.sum_z, strict=True)),
            tuple(
                tuple(x + y for x, y in zip(ra, rb, strict=True))
                for ra, rb in zip(a.sum_zz, b.sum_zz, strict=True)
            ),
            tuple(x + y for x, y in zip(a.sum_zy, b.sum_zy, strict=True)),
        )

    def padded(self, p: int) -> StratumSums:
        """These sums with ``p`` covariates (zeros where none were given: an empty stratum)."""
        if len(self.sum_z) == p:
            return self
        if self.sum_z:
            raise StatsError(f"strata carry {len(self.sum_z)} and {p} covariates; give the same")
        zero = (0.0,) * p
        return replace(self, sum_z=zero, sum_zz=(zero,) * p, sum_zy=zero)


@dataclass(frozen=True, slots=True)
class AdjustResult:
    """A regression-adjusted comparison, with the unadjusted one for reference.

    ``mean_*``/``var_mean_*``: each arm's adjusted mean and its variance; ``strata``: the strata
    used (after pooling), ``pooled``: the strata pooled into ``"(other)"`` (or into the largest
    stratum), ``covariates_used``: indices of the numeric covariates in the regression.
    """

    comparison: Comparison
    unadjusted: Comparison
    mean_control: float
    mean_treatment: float
    var_mean_control: float
    var_mean_treatment: float
    variance_reduction: float | None
    strata: tuple[Hashable, ...]
    pooled: tuple[Hashable, ...] = ()
    covariates_used: tuple[int, ...] = ()
    note: str | None = None


def pool_strata(
    control: Mapping[Hashable, StratumSums],
    treatment: Mapping[Hashable, StratumSums],
    *,
    min_units: int = MIN_UNITS,
) -> tuple[dict[Hashable, StratumSums], dict[Hashable, StratumSums], tuple[Hashable, ...]]:
    """Strata with at least ``min_units`` units in each arm; the others pooled.

    Sparse strata go into :data:`OTHER`; if that is still short in an arm, it joins the
    largest stratum. Returns the pooled control and treatment strata (same keys, in order of
    ``str(key)``) and the keys that were pooled.
    """
    keys = sorted({*control, *treatment}, key=str)
    empty = StratumSums(0, 0.0, 0.0)
    c = {k: control.get(k, empty) for k in keys}
    t = {k: treatment.get(k, empty) for k in keys}
    sparse = tuple(k for k in keys if min(c[k].n, t[k].n) < min_units)
    if not sparse or len(keys) == 1:
        return c, t, sparse if len(keys) == 1 else ()
    for arm in (c, t):
        rest = [arm.pop(k) for k in sparse]
        arm[OTHER] = sum(rest[1:], rest[0])
    if min(c[OTHER].n, t[OTHER].n) < min_units and len(c) > 1:
        largest = max((k for k in c if k != OTHER), key=lambda k: c[k].n + t[k].n)
        for arm in (c, t):
            arm[largest] = arm[largest] + arm.pop(OTHER)
    return c, t, sparse


def _moments(s: StratumSums) -> tuple[float, float]:
    """Mean and variance (ddof 1; 0 for a single unit) of ``y`` in one cell."""
    mean = s.sum_y / s.n
    var = max(s.sum_y2 - s.sum_y * mean, 0.0) / (s.n - 1) if s.n > 1 else 0.0
    return mean, var


def _regression(
    cells: list[StratumSums], w: np.ndarray, zbar: np.ndarray, use: list[int]
) -> tuple[float, float] | None:
    """One arm's intercept and its classical OLS variance on ``[1, D − w, Z − z̄]``."""
    k, p = len(cells), len(use)
    q = 1 + (k - 1) + p
    n = sum(s.n for s in cells)
    if n <= q:
        return None
    # uncentred cross-products of the raw design [1, D_2..D_K, Z]
    xtx = np.zeros((q, q))
    xty = np.zeros(q)
    syy = 0.0
    for i, s in enumerate(cells):
        z = np.asarray(s.sum_z, dtype=float)[use]
        zz = np.asarray(s.sum_zz, dtype=float)[np.ix_(use, use)]
        zy = np.asarray(s.sum_zy, dtype=float)[use]
        d = np.zeros(k - 1)
        if i > 0:
            d[i - 1] = 1.0
        # the cell's rows share their dummies: Σ over the cell of x xᵀ and x y
        head = np.concatenate(([1.0], d))
        xtx[:k, :k] += s.n * np.outer(head, head)
        xtx[:k, k:] += np.outer(head, z)
        xtx[k:, :k] += np.outer(z, head)
        xtx[k:, k:] += zz
        xty[:k] += head * s.sum_y
        xty[k:] += zy
        syy += s.sum_y2
    # centre the columns at the pooled means: X_c = X L with L = [[1, -m], [0, I]]
    m = np.concatenate((w[1:], zbar))
    lmat = np.eye(q)
    lmat[0, 1:] = -m
    g = lmat.T @ xtx @ lmat
    b = lmat.T @ xty
    try:
        ginv = np.linalg.inv(g)
    except np.linalg.LinAlgError:
        return None
    beta = ginv @ b
    rss = max(syy - float(beta @ b), 0.0)
    sigma2 = rss / (n - q)
    return float(beta[0]), float(sigma2 * ginv[0, 0])


def adjusted_compare(
    control: Mapping[Hashable, StratumSums],
    treatment: Mapping[Hashable, StratumSums],
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    rel_method: str = "delta",
    min_units: int = MIN_UNITS,
) -> AdjustResult:
    """Regression-adjusted comparison of means from per-stratum sums (see the module docstring).

    Args:
        control: stratum key → :class:`StratumSums` of the control arm (one stratum, e.g.
            ``{"all": …}``, for numeric covariates alone).
        treatment: the same for treatment.
        alpha, alternative, rel_method: as for :func:`~abkit.stats.compare_means`.
        min_units: strata with fewer units in an arm are pooled (at least 2).

    Returns:
        An :class:`AdjustResult`; when nothing can be adjusted for (a single stratum and no
        covariate with variance) ``comparison`` is the unadjusted one, with a note.

    Raises:
        StatsError: an arm has no units, inconsistent covariate counts, bad arguments.
    """
    check_alpha(alpha)
    if isinstance(min_units, bool) or not isinstance(min_units, int) or min_units < 2:
        raise StatsError(f"min_units must be an integer >= 2, got {min_units!r}")
    c, t, pooled = pool_strata(control, treatment, min_units=min_units)
    p = max((len(s.sum_z) for s in (*c.values(), *t.values())), default=0)
    c = {k: s.padded(p) for k, s in c.items()}
    t = {k: s.padded(p) for k, s in t.items()}
    tot_c, tot_t = (
        sum(c.values(), StratumSums(0, 0.0, 0.0).padded(p)),
        sum(t.values(), StratumSums(0, 0.0, 0.0).padded(p)),
    )
    if tot_c.n == 0 or tot_t.n == 0:
        raise StatsError("an arm has no units; nothing to adjust")
    kw = {"alpha": alpha, "alternative": alternative, "rel_method": rel_method}
    (mc, vc), (mt, vt) = _moments(tot_c), _moments(tot_t)
    unadjusted = compare_means(mc, vc, tot_c.n, mt, vt, tot_t.n, **kw)  # type: ignore[arg-type]
    keys = tuple(c)
    n_all = tot_c.n + tot_t.n
    w = np.array([(c[k].n + t[k].n) / n_all for k in keys])
    # numeric covariates with variance over both arms
    both = tot_c + tot_t
    zbar = np.array(both.sum_z) / n_all if p else np.zeros(0)
    use = [
        j
        for j in range(p)
        if both.sum_zz[j][j] - both.sum_z[j] * zbar[j] > 1e-12 * max(abs(both.sum_zz[j][j]), 1.0)
    ]
    notes: list[str | None] = []
    if len(use) < p:
        notes.append(f"covariate(s) {[j for j in range(p) if j not in use]} have no variance")
    small = min(min(s.n for s in c.values()), min(s.n for s in t.values())) < 2
    if (len(keys) == 1 and not use) or small:
        why = "fewer than 2 units in a stratum" if small else "one stratum and no covariate"
        return AdjustResult(
            replace(unadjusted, note=join_notes(unadjusted.note, f"no adjustment: {why}")),
            unadjusted, mc, mt, vc / tot_c.n, vt / tot_t.n, None, keys, pooled, (),
            join_notes(f"no adjustment: {why}", *notes),
        )  # fmt: skip
    if not use:
        # post-stratification: Σ w_k ȳ_ak and Σ w_k² s²_ak / n_ak
        fits = []
        for arm in (c, t):
            mom = [_moments(arm[k]) for k in keys]
            mean = float(sum(wk * m for wk, (m, _) in zip(w, mom, strict=True)))
            var = float(
                sum(wk**2 * v / arm[k].n for wk, (_, v), k in zip(w, mom, keys, strict=True))
            )
            fits.append((mean, var))
        label = f"post-stratified ({len(keys)} strata)"
    else:
        got = [_regression([arm[k] for k in keys], w, zbar[use], use) for arm in (c, t)]
        if got[0] is None or got[1] is None:
            return AdjustResult(
                replace(unadjusted, note=join_notes(unadjusted.note, "no adjustment: too few "
                        "units for the covariates")),
                unadjusted, mc, mt, vc / tot_c.n, vt / tot_t.n, None, keys, pooled, (),
                join_notes("no adjustment: too few units in an arm for the covariates", *notes),
            )  # fmt: skip
        fits = [got[0], got[1]]
        strata = f"{len(keys)} strata, " if len(keys) > 1 else ""
        label = f"regression-adjusted ({strata}{len(use)} covariate(s), Lin)"
    (ac, va_c), (at, va_t) = fits
    adjusted = compare_means(
        ac,
        va_c * tot_c.n,
        tot_c.n,
        at,
        va_t * tot_t.n,
        tot_t.n,
        **kw,  # type: ignore[arg-type]
    )
    var_unadj = vc / tot_c.n + vt / tot_t.n
    reduction = 1.0 - (va_c + va_t) / var_unadj if var_unadj > 0 else None
    if reduction is not None and not math.isfinite(reduction):
        reduction = None
    return AdjustResult(
        comparison=replace(adjusted, method=f"{label} {adjusted.method}"),
        unadjusted=unadjusted,
        mean_control=ac,
        mean_treatment=at,
        var_mean_control=va_c,
        var_mean_treatment=va_t,
        variance_reduction=reduction,
        strata=keys,
        pooled=pooled,
        covariates_used=tuple(use),
        note=join_notes(*notes),
    )


def stratum_sums(n: int, sum_y: float, sum_y2: float, z: Sequence[float] = (),
                 zz: Sequence[Sequence[float]] = (), zy: Sequence[float] = ()) -> StratumSums:  # fmt: skip
    """:class:`StratumSums` from plain sequences (tuples made here)."""
    return StratumSums(
        int(n), float(sum_y), float(sum_y2), tuple(float(x) for x in z),
        tuple(tuple(float(x) for x in r) for r in zz), tuple(float(x) for x in zy),
    )  # fmt: skip
