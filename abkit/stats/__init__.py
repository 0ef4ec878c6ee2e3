"""abkit's statistics layer: pure functions on sufficient statistics returning frozen results.

No pandas, no Ibis: every function takes numbers (or numpy arrays in the vectorized path) and
returns a ``@dataclass(frozen=True, slots=True)`` result. See ``docs/statistics.md`` for formulas.
"""

from __future__ import annotations

from abkit.stats._types import ALTERNATIVES, Alternative, Comparison, SRMResult
from abkit.stats.lift import relative_lift
from abkit.stats.means import compare_means, moments_from_sums
from abkit.stats.proportions import compare_proportions
from abkit.stats.srm import srm_test

__all__ = [
    "ALTERNATIVES",
    "Alternative",
    "Comparison",
    "SRMResult",
    "compare_means",
    "compare_proportions",
    "moments_from_sums",
    "relative_lift",
    "srm_test",
]
