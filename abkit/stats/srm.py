"""Sample-ratio mismatch (SRM): are the arm sizes what the allocation planned?

Pearson's chi-square ``Σ (O_i - E_i)² / E_i`` with ``E_i = w_i · Σ O`` and ``k - 1`` degrees of
freedom (``scipy.stats.chisquare``). A p-value below ``threshold`` (default 0.001) flags the
experiment: the assignment or the logging is broken and lifts should not be trusted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from abkit.errors import StatsError
from abkit.stats._common import check_alpha, check_count, check_finite
from abkit.stats._types import SRMResult

__all__ = ["srm_test"]


def srm_test(
    observed: Sequence[int],
    weights: Sequence[float] | None = None,
    *,
    variants: Sequence[str] | None = None,
    threshold: float = 0.001,
) -> SRMResult:
    """Chi-square test of the observed arm sizes against the planned weights.

    Args:
        observed: units per arm (at least two arms).
        weights: planned allocation per arm (any positive scale; normalised to sum to 1).
            ``None`` means equal weights.
        variants: arm names for the result (default ``"0"``, ``"1"``, …).
        threshold: p-value below which the mismatch is flagged (default 0.001).

    Returns:
        An :class:`~abkit.stats.SRMResult`; ``pvalue`` is ``None`` with a note when no units were
        observed at all.

    Raises:
        StatsError: fewer than two arms, negative or non-integer counts, non-positive or
            non-finite weights, length mismatches, ``threshold`` outside (0, 1).

    Example:
        >>> r = srm_test([5000, 5200])
        >>> round(r.pvalue, 4), r.flagged
        (0.0477, False)
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
        )
    # Pearson's statistic and its chi-square tail, as scipy.stats.chisquare computes them (without
    # that function's per-call overhead, which dominates when thousands of checks run).
    obs = np.asarray(counts, dtype=float)
    exp = np.asarray(expected, dtype=float)
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
        note=None,
    )
