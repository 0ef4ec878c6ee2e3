"""Frozen result objects: what ``Experiment.analyze`` returns.

Display conventions (notebooks, ``__str__``, reports): 3 significant digits, proportions and relative
lifts as percentages, absolute lifts of proportions in percentage points (pp), intervals as
``[lo, hi]``. ``to_pandas()`` and ``to_dict()`` carry the raw numbers (fractions, not percentages).
"""

from abkit._format import fmt_abs, fmt_p, fmt_rel, fmt_value, p_clause
from abkit.results.comparisons import (
    COMPARISON_COLUMNS,
    CORRECTIONS,
    ArmStats,
    GuardrailResult,
    MetricComparison,
    MetricInfo,
    decide,
)
from abkit.results.experiment import ExperimentResult

__all__ = [
    "COMPARISON_COLUMNS",
    "CORRECTIONS",
    "ArmStats",
    "ExperimentResult",
    "GuardrailResult",
    "MetricComparison",
    "MetricInfo",
    "decide",
    "fmt_abs",
    "fmt_p",
    "fmt_rel",
    "fmt_value",
    "p_clause",
]
