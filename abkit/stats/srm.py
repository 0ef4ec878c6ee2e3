"""Sample-ratio mismatch (SRM): are the arm sizes what the allocation planned?

``method="chi2"`` (default): Pearson's chi-square ``Σ (O_i - E_i)² / E_i`` with
``E_i = w_i · Σ O`` and ``k - 1`` degrees of freedom (``scipy.stats.chisquare``).
``method="g-test"``: the likelihood-ratio statistic ``G = 2 Σ O_i ln(O_i / E_i)`` (``0 ln 0 = 0``)
on the same ``k - 1`` degrees of freedom (``scipy.stats.power_divergence(...,
lambda_="log-likelihood")``). ``method="exact"`` (two arms): the exact binomial test of the
control count against ``w_0``, two-sided by the "minimum likelihood" rule of R's
``binom.test`` and ``scipy.stats.binomtest`` (sum the probabilities of all counts no more likely
than the observed one). ``correction=True`` applies Yates' continuity correction to the two-arm
chi-square and G statistics — each count moves half a unit toward its expectation (never past
it), as ``scipy.stats.chi2_contingency(correction=True)`` does for one degree of freedom; with
more arms it is not applied (noted). A p-value below ``threshold`` (default 0.001) flags the
experiment: the assignment or the logging is broken and lifts should not be trusted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from abkit.errors import StatsError
from abkit.stats._common import check_alpha, check_choice, check_count, check_finite
from abkit.stats._types import SRMResult

__all__ = ["SRM_METHODS", "srm_test"]

SRM_METHODS: tuple[str, ...] = ("chi2", "g-test", "exact")
_LABEL = {"chi2": "Pearson chi-square", "g-test": "G-test", "exact": "exact binomial test"}


def srm_test(
    observed: Sequence[int],
    weights: Sequence[float] | None = None,
    *,
    variants: Sequence[str] | None = None,
    threshold: float = 0.001,
    method: str = "chi2",
    correction: bool = False,
) -> SRMResult:
    """Test of the observed arm sizes against the planned weights (chi-square by default).

    Args:
        observed: units per arm (at least two arms).
        weights: planned allocation per arm (any positive scale; normalised to sum to 1).
            ``None`` means equal weights.
        variants: arm names for the result (default ``"0"``, ``"1"``, …).
        threshold: p-value below which the mismatch is flagged (default 0.001).
        method: "chi2" (Pearson, default), "g-test" (likelihood ratio) or "exact" (exact
            binomial test; two arms only).
        correction: Yates' continuity correction for two arms ("chi2" and "g-test"; the
            exact test needs none).

    Returns:
        An :class:`~abkit.stats.SRMResult` (``statistic`` is ``None`` for the exact test);
        ``pvalue`` is ``None`` with a note when no units were observed at all.

    Raises:
        StatsError: fewer than two arms, negative or non-integer counts, non-positive or
            non-finite weights, length mismatches, ``threshold`` outside (0, 1), an unknown
            ``method``, ``method="exact"`` with more than two arms.

    Example:
        >>> r = srm_test([5000, 5200])
        >>> round(r.pvalue, 4), r.flagged
        (0.0477, False)
        >>> [round(srm_test([5000, 5200], method=m).pvalue, 4) for m in ("g-test", "exact")]
        [0.0477, 0.0488]
    """
    counts = tuple(check_count(c, f"observed[{i}]") for i, c in enumerate(observed))
    k = len(counts)
    if k < 2:
        raise StatsError(f"observed needs at least 2 arms, got {k}; pass one count per variant.")
    if weights is None:
        w = tuple(1.0 / k for _ in range(k))
    else:
        raw = tuple(check_finite(x, f"weights[{i}]") for i, x in enumerate(weights))
        if len(raw) != k:
            raise StatsError(
                f"weights has {len(raw)} entries but observed has {k}; pass one weight per arm."
            )
        if any(x <= 0 for x in raw):
            raise StatsError(
                f"weights must all be > 0, got {list(raw)}; drop arms that were planned to get "
                "no traffic before testing."
            )
        total_w = math.fsum(raw)
        w = tuple(x / total_w for x in raw)
    if variants is None:
        names = tuple(str(i) for i in range(k))
    else:
        names = tuple(str(v) for v in variants)
        if len(names) != k:
            raise StatsError(
                f"variants has {len(names)} names but observed has {k}; pass one name per arm."
            )
    threshold = check_alpha(threshold, "threshold")
    method = check_choice(method, "method", SRM_METHODS)
    if method == "exact" and k != 2:
        raise StatsError(
            f"method='exact' is the binomial test of two arms, got {k}; use method='chi2' or "
            "'g-test' for more arms."
        )
    corrected = correction and k == 2 and method != "exact"
    label = _LABEL[method] + (" with continuity correction" if corrected else "")
    total = sum(counts)
    expected = tuple(total * x for x in w)
    if total == 0:
        return SRMResult(
            variants=names,
            observed=counts,
            expected=expected,
            weights=w,
            statistic=None,
            pvalue=None,
            df=k - 1,
            threshold=threshold,
            note="no units observed in any arm: nothing to test",
            method=label,
        )
    # Pearson's statistic and its chi-square tail, as scipy.stats.chisquare computes them (without
    # that function's per-call overhead, which dominates when thousands of checks run).
    obs = np.asarray(counts, dtype=float)
    exp = np.asarray(expected, dtype=float)
    note = None
    statistic: float | None
    if method == "exact":
        from scipy import stats  # heavy module: imported on first use

        statistic = None
        pvalue = min(float(stats.binomtest(counts[0], total, w[0]).pvalue), 1.0)
    else:
        if corrected:
            # Yates: move each count half a unit toward its expectation, never past it
            obs = obs - np.sign(obs - exp) * np.minimum(0.5, np.abs(obs - exp))
        elif correction:
            note = f"continuity correction applies to two arms only; not applied to {k} arms"
        if method == "g-test":
            with np.errstate(divide="ignore", invalid="ignore"):
                terms = np.where(obs > 0, obs * np.log(obs / exp), 0.0)
            statistic = max(float(2.0 * np.sum(terms)), 0.0)
        else:
            statistic = float(np.sum((obs - exp) ** 2 / exp))
        pvalue = float(special.chdtrc(k - 1, statistic))
    return SRMResult(
        variants=names,
        observed=counts,
        expected=expected,
        weights=w,
        statistic=statistic,
        pvalue=pvalue,
        df=k - 1,
        threshold=threshold,
        note=note,
        method=label,
    )
