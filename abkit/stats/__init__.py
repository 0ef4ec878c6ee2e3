"""abkit's statistics layer: pure functions on sufficient statistics returning frozen results.

No pandas, no Ibis: every function takes numbers (or numpy arrays in the vectorized path) and
returns a ``@dataclass(frozen=True, slots=True)`` result. See ``docs/statistics.md`` for formulas,
defaults and the provenance of the reference values the tests check them against.
"""

from __future__ import annotations

from abkit.stats._types import ALTERNATIVES, Alternative, Comparison, SRMResult
from abkit.stats.allocation import AllocationResult, optimal_allocation
from abkit.stats.bayes import BayesResult, bayes_means, bayes_proportions, prob_beta_greater
from abkit.stats.cuped import CovariateSums, CupedResult, cuped
from abkit.stats.lift import relative_lift
from abkit.stats.means import compare_means, moments_from_sums
from abkit.stats.multi_power import MetricPlan, MultiMetricPlan, decision_power, sample_size_multi
from abkit.stats.multiple import MultipleTestingResult, adjust_pvalues
from abkit.stats.noninferiority import (
    NonInferiorityResult,
    noninferiority_means,
    noninferiority_proportions,
    noninferiority_ratios,
)
from abkit.stats.power import (
    PowerResult,
    duration_days,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
)
from abkit.stats.proportions import compare_proportions, newcombe_interval, wilson_interval
from abkit.stats.quantile import QuantileEstimate, compare_quantiles, quantile_estimate
from abkit.stats.ratio import RatioSums, compare_ratios, ratio_moments
from abkit.stats.ratio_cuped import RatioCovariateSums, RatioCupedResult, ratio_cuped
from abkit.stats.segments import HeterogeneityResult, MixResult, heterogeneity, segment_mix
from abkit.stats.sequential import (
    GroupSequentialDesign,
    SequentialResult,
    always_valid_test,
    group_sequential_boundaries,
    sequential_rho,
    spending_function,
)
from abkit.stats.sequential_plan import SequentialPower, always_valid_power, sequential_tuning
from abkit.stats.srm import srm_test
from abkit.stats.survival import (
    KMCurve,
    LogRankResult,
    RMSTComparison,
    compare_rmst,
    kaplan_meier,
    logrank,
    rmst,
)
from abkit.stats.vectorized import ComparisonArrays, compare_means_many, compare_proportions_many

__all__ = [
    "ALTERNATIVES",
    "AllocationResult",
    "Alternative",
    "BayesResult",
    "Comparison",
    "ComparisonArrays",
    "CovariateSums",
    "CupedResult",
    "GroupSequentialDesign",
    "HeterogeneityResult",
    "KMCurve",
    "LogRankResult",
    "MetricPlan",
    "MixResult",
    "MultiMetricPlan",
    "MultipleTestingResult",
    "NonInferiorityResult",
    "PowerResult",
    "QuantileEstimate",
    "RMSTComparison",
    "RatioCovariateSums",
    "RatioCupedResult",
    "RatioSums",
    "SRMResult",
    "SequentialPower",
    "SequentialResult",
    "adjust_pvalues",
    "always_valid_power",
    "always_valid_test",
    "bayes_means",
    "bayes_proportions",
    "compare_means",
    "compare_means_many",
    "compare_proportions",
    "compare_proportions_many",
    "compare_quantiles",
    "compare_ratios",
    "compare_rmst",
    "cuped",
    "decision_power",
    "duration_days",
    "group_sequential_boundaries",
    "heterogeneity",
    "kaplan_meier",
    "logrank",
    "mde_means",
    "mde_proportions",
    "moments_from_sums",
    "newcombe_interval",
    "noninferiority_means",
    "noninferiority_proportions",
    "noninferiority_ratios",
    "optimal_allocation",
    "power_means",
    "power_proportions",
    "prob_beta_greater",
    "quantile_estimate",
    "ratio_cuped",
    "ratio_moments",
    "relative_lift",
    "rmst",
    "sample_size_means",
    "sample_size_multi",
    "sample_size_proportions",
    "segment_mix",
    "sequential_rho",
    "sequential_tuning",
    "spending_function",
    "srm_test",
    "wilson_interval",
]
