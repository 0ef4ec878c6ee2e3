"""Do effects differ between segments, and is the segment mix the same in every arm?

* :func:`heterogeneity` — Cochran's Q test that segment-level lifts share one value:
  ``Q = Σ w_i (d_i − d̄)²`` with ``w_i = 1 / se_i²`` and the inverse-variance mean ``d̄``;
  ``Q ~ χ²(k − 1)`` under homogeneity; ``I² = max(0, (Q − (k − 1)) / Q)`` is the share of
  variation beyond chance (Higgins & Thompson 2002). Same as
  ``statsmodels.stats.meta_analysis.combine_effects``' homogeneity statistic.
* :func:`segment_mix` — Pearson chi-square test of independence between segment value and arm
  (``scipy.stats.chi2_contingency(correction=False)``): a different channel mix between arms
  points at a broken assignment or logging for some segment.

Example:
    >>> round(heterogeneity([0.01, 0.03], [0.01, 0.01]).statistic, 6)
    2.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from abkit.errors import StatsError

__all__ = ["HeterogeneityResult", "MixResult", "heterogeneity", "segment_mix"]


@dataclass(frozen=True, slots=True)
class HeterogeneityResult:
    """Cochran's Q test of equal effects across ``k`` segments."""

    statistic: float | None
    df: int
    pvalue: float | None
    i2: float | None
    pooled: float | None
    k: int
    note: str | None = None


@dataclass(frozen=True, slots=True)
class MixResult:
    """Chi-square test that the segment mix does not depend on the arm."""

    statistic: float | None
    df: int
    pvalue: float | None
    threshold: float
    note: str | None = None

    @property
    def flagged(self) -> bool:
        return self.pvalue is not None and self.pvalue < self.threshold


def heterogeneity(estimates: Sequence[float], std_errors: Sequence[float]) -> HeterogeneityResult:
    """Cochran's Q over segment-level estimates with their standard errors.

    Segments with a missing or zero standard error are left out; fewer than two usable segments
    give no test (``pvalue=None`` with a note).
    """
    d = np.asarray(estimates, dtype=float)
    se = np.asarray(std_errors, dtype=float)
    if d.shape != se.shape or d.ndim != 1:
        raise StatsError("estimates and std_errors must be 1-D and of the same length")
    ok = np.isfinite(d) & np.isfinite(se) & (se > 0)
    d, se = d[ok], se[ok]
    k = int(d.size)
    if k < 2:
        return HeterogeneityResult(
            None, max(k - 1, 0), None, None, None, k, "fewer than 2 segments with a standard error"
        )
    w = 1.0 / se**2
    pooled = float(np.sum(w * d) / np.sum(w))
    q = float(np.sum(w * (d - pooled) ** 2))
    df = k - 1
    p = float(special.chdtrc(df, q))  # chi-square survival function (scipy.stats.chi2.sf)
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    return HeterogeneityResult(q, df, p, i2, pooled, k)


def segment_mix(table: Sequence[Sequence[int]], *, threshold: float = 0.001) -> MixResult:
    """Chi-square test on a (segment value × arm) table of unit counts.

    Rows or columns that are all zero are dropped; a table with fewer than 2 rows or columns
    gives no test.
    """
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or np.any(t < 0) or not np.all(np.isfinite(t)):
        raise StatsError("the mix table must be a 2-D table of non-negative counts")
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0] if t.size else t
    if t.shape[0] < 2 or t.shape[1] < 2:
        df = max(t.shape[0] - 1, 0) * max(t.shape[1] - 1, 0) if t.ndim == 2 else 0
        return MixResult(None, df, None, threshold, "needs at least 2 segment values and 2 arms")
    # Pearson's statistic against the independence table, as scipy.stats.chi2_contingency(t,
    # correction=False) computes it (tests compare the two); the rows and columns are non-empty
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
    chi2 = float(np.sum((t - expected) ** 2 / expected))
    df = (t.shape[0] - 1) * (t.shape[1] - 1)
    p = float(special.chdtrc(df, chi2))
    return MixResult(chi2, df, p if not math.isnan(p) else None, threshold)
