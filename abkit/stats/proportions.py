"""Two-sample comparison of proportions (retention rates, conversion rates).

Formulas (arm ``i`` has ``x_i`` successes out of ``n_i``, ``p_i = x_i / n_i``; ``d = p_t - p_c``):

* ``"unpooled-z"`` (default, Wald): ``z = d / sqrt(p_c(1-p_c)/n_c + p_t(1-p_t)/n_t)``; this is
  ``statsmodels.stats.proportion.test_proportions_2indep(method="wald", compare="diff",
  correction=False)``.
* ``"pooled-z"``: ``z = d / sqrt(p(1-p)(1/n_c + 1/n_t))`` with the pooled ``p = (x_c+x_t)/(n_c+n_t)``
  (the classic two-proportion z-test, ``statsmodels.stats.proportion.proportions_ztest``).

The interval for ``d`` is the unpooled Wald interval ``d ± z_{1-α/2} · se`` in both cases
(``confint_proportions_2indep(method="wald")``); the relative-lift interval comes from
:func:`abkit.stats.relative_lift` with ``Var(p_i) = p_i(1-p_i)/n_i``.
"""

from __future__ import annotations

import math

import numpy as np

from abkit.errors import StatsError
from abkit.stats._common import (
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
from abkit.stats.lift import REL_METHODS, rel_lift_arrays, rel_note

__all__ = ["PROPORTION_METHODS", "compare_proportions"]

PROPORTION_METHODS: tuple[str, ...] = ("unpooled-z", "pooled-z")

_METHOD_LABEL = {
    "unpooled-z": "two-proportion z-test (unpooled SE), Wald CI",
    "pooled-z": "two-proportion z-test (pooled SE), unpooled Wald CI",
}
_REL_LABEL = {"delta": "delta-method relative CI", "fieller": "Fieller relative CI"}


def _check_arm(count: int, nobs: int, arm: str) -> tuple[int, int]:
    c = check_count(count, f"count_{arm}")
    n = check_count(nobs, f"nobs_{arm}")
    if c > n:
        raise StatsError(
            f"count_{arm}={c} is larger than nobs_{arm}={n}; a count of successes cannot exceed "
            "the number of units. Did you swap the arguments?"
        )
    return c, n


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
) -> Comparison:
    """Compare two proportions: absolute and relative lift, intervals and a p-value.

    Args:
        count_control: successes (e.g. retained units) in control.
        nobs_control: units in control.
        count_treatment: successes in treatment.
        nobs_treatment: units in treatment.
        alpha: 1 - confidence level and the significance level.
        alternative: "two-sided", "greater" (treatment > control) or "less".
        method: "unpooled-z" (Wald; default) or "pooled-z".
        rel_method: relative-lift interval, "delta" (default) or "fieller".

    Returns:
        A :class:`~abkit.stats.Comparison`. ``pvalue`` is ``None`` (with a ``note``) when an arm
        has fewer than 2 units or the standard error is 0 (no variation in either arm);
        relative-lift fields are ``None`` when the control proportion is 0.

    Raises:
        StatsError: negative counts, a count larger than its ``nobs``, bad ``alpha``,
            ``alternative``, ``method`` or ``rel_method``.

    Example:
        >>> r = compare_proportions(100, 1000, 130, 1000)
        >>> round(r.abs_lift, 3), round(r.pvalue, 4), r.significant
        (0.03, 0.0353, True)
    """
    xc, nc = _check_arm(count_control, nobs_control, "control")
    xt, nt = _check_arm(count_treatment, nobs_treatment, "treatment")
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    method = check_choice(method, "method", PROPORTION_METHODS)
    rel_method = check_choice(rel_method, "rel_method", REL_METHODS)
    label = f"{_METHOD_LABEL[method]}, {_REL_LABEL[rel_method]}"

    pc = xc / nc if nc > 0 else math.nan
    pt = xt / nt if nt > 0 else math.nan
    diff = pt - pc
    common = {
        "control_value": pc,
        "treatment_value": pt,
        "abs_lift": diff,
        "n_control": nc,
        "n_treatment": nt,
        "method": label,
        "alternative": alternative,
        "alpha": alpha,
    }
    if nc < 2 or nt < 2:
        arms = [a for a, n in (("control", nc), ("treatment", nt)) if n < 2]
        note = f"fewer than 2 units in {' and '.join(arms)}: no test or interval"
        return Comparison(
            abs_lift_ci_lower=None,
            abs_lift_ci_upper=None,
            rel_lift=(pt / pc - 1.0) if nc > 0 and nt > 0 and pc > 0 else None,
            rel_lift_ci_lower=None,
            rel_lift_ci_upper=None,
            pvalue=None,
            statistic=None,
            note=note,
            **common,  # type: ignore[arg-type]
        )

    var_c = pc * (1.0 - pc) / nc
    var_t = pt * (1.0 - pt) / nt
    se_wald = math.sqrt(var_c + var_t)
    if method == "pooled-z":
        pooled = (xc + xt) / (nc + nt)
        se_test = math.sqrt(pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt))
    else:
        se_test = se_wald

    notes: list[str | None] = []
    if se_test > 0:
        stat: float | None = diff / se_test
        pvalue: float | None = float(pvalue_z(stat, alternative))
    else:
        stat = pvalue = None
        notes.append("no variation: every unit in both arms has the same outcome, so no test")
    if se_wald > 0:
        lo, hi = interval(diff, crit_z(alpha, alternative) * se_wald, alternative)
        ci_lo: float | None = float(lo)
        ci_hi: float | None = float(hi)
    else:
        ci_lo = ci_hi = None
        notes.append("Wald interval degenerate (both proportions are 0 or 1)")

    rel_lo: float | None = None
    rel_hi: float | None = None
    rel: float | None = None
    if pc == 0.0:
        notes.append(rel_note(pc))
    else:
        r, lo_r, hi_r = rel_lift_arrays(
            pc, var_c, pt, var_t, alpha=alpha, alternative=alternative, method=rel_method
        )
        rel, rel_lo, rel_hi = float(r), float(lo_r), float(hi_r)
        if rel_method == "fieller" and not (np.isfinite(rel_lo) or np.isfinite(rel_hi)):
            notes.append("Fieller interval unbounded: control proportion not clearly above 0")
    return Comparison(
        abs_lift_ci_lower=ci_lo,
        abs_lift_ci_upper=ci_hi,
        rel_lift=rel,
        rel_lift_ci_lower=rel_lo,
        rel_lift_ci_upper=rel_hi,
        pvalue=pvalue,
        statistic=stat,
        note=join_notes(*notes),
        **common,  # type: ignore[arg-type]
    )
