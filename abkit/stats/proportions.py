"""Two-sample comparison of proportions (retention rates, conversion rates).

Formulas (arm ``i`` has ``x_i`` successes out of ``n_i``, ``p_i = x_i / n_i``; ``d = p_t - p_c``):

* ``"unpooled-z"`` (default, Wald): ``z = d / sqrt(p_c(1-p_c)/n_c + p_t(1-p_t)/n_t)``; this is
  ``statsmodels.stats.proportion.test_proportions_2indep(method="wald", compare="diff",
  correction=False)``.
* ``"pooled-z"``: ``z = d / sqrt(p(1-p)(1/n_c + 1/n_t))`` with the pooled
  ``p = (x_c+x_t)/(n_c+n_t)`` (the classic two-proportion z-test,
  ``statsmodels.stats.proportion.proportions_ztest``).

* ``"fisher"``: Fisher's exact (conditional) test, ``scipy.stats.fisher_exact``.
* ``"barnard"`` / ``"boschloo"``: exact unconditional tests, ``scipy.stats.barnard_exact`` /
  ``scipy.stats.boschloo_exact`` (more powerful than Fisher, but their cost grows roughly with
  ``n_c · n_t``: use them for small samples, up to a few hundred units per arm).
* ``"auto"``: Fisher when any expected cell of the 2×2 table (``row total · column total / N``)
  is below 5, the unpooled z-test otherwise.

The interval for ``d`` (``ci_method``) is the unpooled Wald interval ``d ± z_{1-α/2} · se``
(``confint_proportions_2indep(method="wald")``, default for the z-tests) or Newcombe's hybrid-score
interval built from the two Wilson intervals (``method="newcomb"`` there; default for the exact
tests). The relative-lift interval comes from :func:`abkit.stats.relative_lift` with
``Var(p_i) = p_i(1-p_i)/n_i``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from abkit.errors import StatsError
from abkit.stats._common import (
    FloatArray,
    check_alpha,
    check_alternative,
    check_choice,
    check_count,
    crit_z,
    interval,
    join_notes,
    pvalue_z,
)
from abkit.stats._types import Comparison
from abkit.stats.lift import REL_LABELS, REL_METHODS, rel_note, rel_scalar

__all__ = [
    "CI_METHODS",
    "PROPORTION_METHODS",
    "compare_proportions",
    "newcombe_interval",
    "wilson_interval",
]

PROPORTION_METHODS: tuple[str, ...] = (
    "unpooled-z",
    "pooled-z",
    "fisher",
    "barnard",
    "boschloo",
    "auto",
)
CI_METHODS: tuple[str, ...] = ("wald", "newcombe")
_EXACT = ("fisher", "barnard", "boschloo")

_METHOD_LABEL = {
    "unpooled-z": "two-proportion z-test (unpooled SE)",
    "pooled-z": "two-proportion z-test (pooled SE)",
    "fisher": "Fisher exact test",
    "barnard": "Barnard exact test",
    "boschloo": "Boschloo exact test",
}
_CI_LABEL = {
    ("unpooled-z", "wald"): "Wald CI",
    ("pooled-z", "wald"): "unpooled Wald CI",
    "wald": "Wald CI",
    "newcombe": "Newcombe hybrid-score CI",
}


def _check_arm(count: int, nobs: int, arm: str) -> tuple[int, int]:
    c = check_count(count, f"count_{arm}")
    n = check_count(nobs, f"nobs_{arm}")
    if c > n:
        raise StatsError(
            f"count_{arm}={c} is larger than nobs_{arm}={n}; a count of successes cannot exceed "
            "the number of units. Did you swap the arguments?"
        )
    return c, n


def _wilson_arrays(count: Any, nobs: Any, z: float) -> tuple[FloatArray, FloatArray]:
    x = np.asarray(count, dtype=float)
    n = np.asarray(nobs, dtype=float)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = n + z2
        centre = (x + z2 / 2.0) / denom
        half = z * np.sqrt(x * (n - x) / n + z2 / 4.0) / denom
    return centre - half, centre + half


def wilson_interval(
    count: int, nobs: int, *, alpha: float = 0.05, alternative: str = "two-sided"
) -> tuple[float, float]:
    """Wilson score interval for one proportion.

    ``(x + z²/2)/(n + z²) ± z·sqrt(x(n-x)/n + z²/4)/(n + z²)`` with ``z = z_{1-α/2}``
    (``z_{1-α}`` and one infinite-free bound of 0 or 1 for one-sided alternatives), as
    ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.

    Args:
        count: successes.
        nobs: trials (> 0).
        alpha: 1 - confidence level.
        alternative: "two-sided", "greater" (lower bound; upper is 1) or "less".

    Returns:
        ``(lower, upper)``.

    Raises:
        StatsError: ``count > nobs``, ``nobs == 0``, negative input, bad ``alpha``/``alternative``.

    Example:
        >>> lo, hi = wilson_interval(3, 10)
        >>> round(lo, 4), round(hi, 4)
        (0.1078, 0.6032)
    """
    x, n = _check_arm(count, nobs, "control")
    if n == 0:
        raise StatsError("nobs must be > 0 for a Wilson interval; there is nothing to estimate.")
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    lo, hi = _wilson_arrays(x, n, crit_z(alpha, alternative))
    lower, upper = float(lo), float(hi)
    if alternative == "greater":
        upper = 1.0
    elif alternative == "less":
        lower = 0.0
    return lower, upper


def _newcombe_arrays(
    xc: Any, nc: Any, xt: Any, nt: Any, z: float, alternative: str
) -> tuple[FloatArray, FloatArray]:
    pc = np.asarray(xc, dtype=float) / nc
    pt = np.asarray(xt, dtype=float) / nt
    lc, uc = _wilson_arrays(xc, nc, z)
    lt, ut = _wilson_arrays(xt, nt, z)
    diff = pt - pc
    lower = diff - np.sqrt((pt - lt) ** 2 + (uc - pc) ** 2)
    upper = diff + np.sqrt((ut - pt) ** 2 + (pc - lc) ** 2)
    if alternative == "greater":
        upper = np.full_like(upper, np.inf)
    elif alternative == "less":
        lower = np.full_like(lower, -np.inf)
    return lower, upper


def newcombe_interval(
    count_control: int,
    nobs_control: int,
    count_treatment: int,
    nobs_treatment: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> tuple[float, float]:
    """Newcombe's hybrid-score interval for ``p_t - p_c`` (method 10 of Newcombe, 1998).

    With Wilson intervals ``[l_i, u_i]`` per arm and ``d = p_t - p_c``::

        lower = d - sqrt((p_t - l_t)² + (u_c - p_c)²)
        upper = d + sqrt((u_t - p_t)² + (p_c - l_c)²)

    Same as ``statsmodels.stats.proportion.confint_proportions_2indep(count_t, nobs_t, count_c,
    nobs_c, method="newcomb")``. It keeps its coverage for small samples and proportions near 0
    or 1, where the Wald interval collapses.

    Args:
        count_control: successes in control.
        nobs_control: units in control (> 0).
        count_treatment: successes in treatment.
        nobs_treatment: units in treatment (> 0).
        alpha: 1 - confidence level.
        alternative: "two-sided", "greater" (upper bound ``inf``) or "less".

    Returns:
        ``(lower, upper)``.

    Raises:
        StatsError: impossible counts, an empty arm, bad ``alpha``/``alternative``.

    Example:
        >>> lo, hi = newcombe_interval(0, 20, 4, 20)
        >>> round(lo, 4), round(hi, 4)
        (-0.0005, 0.416)
    """
    xc, nc = _check_arm(count_control, nobs_control, "control")
    xt, nt = _check_arm(count_treatment, nobs_treatment, "treatment")
    if nc == 0 or nt == 0:
        raise StatsError("nobs_control and nobs_treatment must be > 0 for a Newcombe interval.")
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    lo, hi = _newcombe_arrays(xc, nc, xt, nt, crit_z(alpha, alternative), alternative)
    return float(lo), float(hi)


def _min_expected_cell(xc: int, nc: int, xt: int, nt: int) -> float:
    total = nc + nt
    successes = xc + xt
    failures = total - successes
    return min(n * k / total for n in (nc, nt) for k in (successes, failures))


def _exact_test(
    method: str, xc: int, nc: int, xt: int, nt: int, alternative: str
) -> tuple[float, float]:
    # Columns are the two binomial samples (treatment first), so "greater" means p_t > p_c for
    # all three scipy tests (for Fisher: odds ratio > 1).
    from scipy import stats  # heavy module: imported on first use

    table = np.array([[xt, xc], [nt - xt, nc - xc]])
    if method == "fisher":
        res = stats.fisher_exact(table, alternative=alternative)
    elif method == "barnard":
        res = stats.barnard_exact(table, alternative=alternative)
    else:
        res = stats.boschloo_exact(table, alternative=alternative)
    return float(res.statistic), min(float(res.pvalue), 1.0)


def compare_proportions(
    count_control: int,
    nobs_control: int,
    count_treatment: int,
    nobs_treatment: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    method: str = "unpooled-z",
    rel_method: str = "delta",
    ci_method: str | None = None,
) -> Comparison:
    """Compare two proportions: absolute and relative lift, intervals and a p-value.

    Args:
        count_control: successes (e.g. retained units) in control.
        nobs_control: units in control.
        count_treatment: successes in treatment.
        nobs_treatment: units in treatment.
        alpha: 1 - confidence level and the significance level.
        alternative: "two-sided", "greater" (treatment > control) or "less".
        method: "unpooled-z" (Wald; default), "pooled-z", "fisher", "barnard", "boschloo" or
            "auto" (Fisher when any expected cell is below 5, else "unpooled-z").
        rel_method: relative-lift interval, "delta" (default), "fieller", "log" or "auto"
            (see :func:`~abkit.stats.relative_lift`).
        ci_method: interval for the difference, "wald" or "newcombe"; ``None`` picks Wald for
            the z-tests and Newcombe for the exact tests.

    Returns:
        A :class:`~abkit.stats.Comparison`. ``pvalue`` is ``None`` (with a ``note``) when an arm
        has fewer than 2 units or no unit differs from any other (no variation in either arm);
        relative-lift fields are ``None`` when the control proportion is 0. ``statistic`` is the
        z statistic for the z-tests, the sample odds ratio for Fisher and scipy's Wald statistic
        for Barnard / Boschloo's Fisher p-value statistic for Boschloo.

    Raises:
        StatsError: negative counts, a count larger than its ``nobs``, bad ``alpha``,
            ``alternative``, ``method``, ``rel_method`` or ``ci_method``.

    Example:
        >>> r = compare_proportions(100, 1000, 130, 1000)
        >>> round(r.abs_lift, 3), round(r.pvalue, 4), r.significant
        (0.03, 0.0353, True)
        >>> compare_proportions(1, 12, 6, 11, method="auto").method
        'Fisher exact test, Newcombe hybrid-score CI, delta-method relative CI'
    """
    xc, nc = _check_arm(count_control, nobs_control, "control")
    xt, nt = _check_arm(count_treatment, nobs_treatment, "treatment")
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    method = check_choice(method, "method", PROPORTION_METHODS)
    rel_method = check_choice(rel_method, "rel_method", REL_METHODS)
    if ci_method is not None:
        check_choice(ci_method, "ci_method", CI_METHODS)
    notes: list[str | None] = []
    if method == "auto":
        if nc > 0 and nt > 0 and _min_expected_cell(xc, nc, xt, nt) < 5:
            method = "fisher"
            notes.append("auto: an expected cell is below 5, so Fisher's exact test was used")
        else:
            method = "unpooled-z"
    ci = ci_method or ("newcombe" if method in _EXACT else "wald")
    ci_label = _CI_LABEL.get((method, ci), _CI_LABEL[ci])
    label = f"{_METHOD_LABEL[method]}, {ci_label}, {REL_LABELS[rel_method]}"

    pc = xc / nc if nc > 0 else math.nan
    pt = xt / nt if nt > 0 else math.nan
    diff = pt - pc
    if nc < 2 or nt < 2:
        arms = [a for a, n in (("control", nc), ("treatment", nt)) if n < 2]
        notes.append(f"fewer than 2 units in {' and '.join(arms)}: no test or interval")
        return Comparison(
            control_value=pc,
            treatment_value=pt,
            abs_lift=diff,
            abs_lift_ci_lower=None,
            abs_lift_ci_upper=None,
            rel_lift=(pt / pc - 1.0) if nc > 0 and nt > 0 and pc > 0 else None,
            rel_lift_ci_lower=None,
            rel_lift_ci_upper=None,
            pvalue=None,
            statistic=None,
            n_control=nc,
            n_treatment=nt,
            method=label,
            alternative=alternative,
            alpha=alpha,
            note=join_notes(*notes),
        )

    var_c = pc * (1.0 - pc) / nc
    var_t = pt * (1.0 - pt) / nt
    se_wald = math.sqrt(var_c + var_t)
    pooled = (xc + xt) / (nc + nt)
    stat: float | None = None
    pvalue: float | None = None
    if method == "unpooled-z":
        if se_wald > 0:
            stat = diff / se_wald
    elif pooled not in (0.0, 1.0):
        if method == "pooled-z":
            stat = diff / math.sqrt(pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt))
        else:
            stat, pvalue = _exact_test(method, xc, nc, xt, nt, alternative)
    if stat is not None and pvalue is None:
        pvalue = float(pvalue_z(stat, alternative))
    if pvalue is None:
        notes.append("no variation: every unit in both arms has the same outcome, so no test")

    ci_lo: float | None = None
    ci_hi: float | None = None
    if ci == "newcombe":
        lo, hi = _newcombe_arrays(xc, nc, xt, nt, crit_z(alpha, alternative), alternative)
        ci_lo, ci_hi = float(lo), float(hi)
    elif se_wald > 0:
        lo, hi = interval(diff, crit_z(alpha, alternative) * se_wald, alternative)
        ci_lo, ci_hi = float(lo), float(hi)
    else:
        notes.append(
            "Wald interval degenerate (both proportions are 0 or 1); try ci_method='newcombe'"
        )

    rel_lo: float | None = None
    rel_hi: float | None = None
    rel: float | None = None
    if pc == 0.0:
        notes.append(rel_note(pc))
    else:
        rel, rel_lo, rel_hi, rel_msg = rel_scalar(
            pc, var_c, pt, var_t, alpha=alpha, alternative=alternative, method=rel_method,
            unbounded="control proportion not clearly above 0",
        )  # fmt: skip
        notes.append(rel_msg)
    return Comparison(
        control_value=pc,
        treatment_value=pt,
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
        std_error=se_wald if se_wald > 0 else None,
    )
