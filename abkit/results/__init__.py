"""Frozen result objects: what ``Experiment.analyze`` returns.

Display conventions (notebooks, ``repr``, reports; :mod:`abkit._format`): rates in % and lifts
of rates in percentage points with two decimals, relative lifts in % with one decimal, means with
3 significant digits, intervals as ``[lo, hi]``. ``to_pandas()`` and ``to_dict()`` carry the raw
numbers (fractions, not percentages). Every comparison carries the one decision every surface
shows (:func:`decide`).
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
from abkit.results.recommend import Recommendation, recommend
from abkit.results.restrict import restrict

__all__ = [
    "COMPARISON_COLUMNS",
    "CORRECTIONS",
    "ArmStats",
    "ExperimentResult",
    "GuardrailResult",
    "MetricComparison",
    "MetricInfo",
    "Recommendation",
    "decide",
    "fmt_abs",
    "fmt_p",
    "fmt_rel",
    "fmt_value",
    "p_clause",
    "recommend",
    "restrict",
]
