"""abkit — A/B experiments on user retention: assign, measure, test, report.

The public API is small; everything heavy (pandas, Ibis, papermill, matplotlib) is imported on first
use so that ``import abkit`` stays fast.

Example:
    >>> import abkit as ab
    >>> exposures, events = ab.simulate.retention_experiment(n_units=2_000, seed=7)
    >>> exp = ab.Experiment(metrics=[ab.Retention(day=1), ab.Retention(day=7)], control="control")
    >>> res = exp.analyze(exposures=exposures, events=events)
    >>> res.to_pandas().shape[0]
    2
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from abkit._version import __version__
from abkit.errors import (
    AbkitError,
    ConsistencyError,
    DataError,
    ReportError,
    SpecError,
    StatsError,
)
from abkit.metrics import (
    ActiveDays,
    ColumnQuantile,
    EventCount,
    Mean,
    Proportion,
    Quantile,
    Ratio,
    Retention,
    Revenue,
)

if TYPE_CHECKING:
    from abkit import assign, retention, simulate, stats
    from abkit.analysis import Experiment
    from abkit.analysis.refresh import State, StateError
    from abkit.report import run_report
    from abkit.results import ExperimentResult
    from abkit.spec import ExperimentSpec, load_spec

_LAZY = {
    "Experiment": ("abkit.analysis", "Experiment"),
    "ExperimentResult": ("abkit.results", "ExperimentResult"),
    "ExperimentSpec": ("abkit.spec", "ExperimentSpec"),
    "load_spec": ("abkit.spec", "load_spec"),
    "run_report": ("abkit.report", "run_report"),
    # the incremental refresh's options and error (analyze(state=ab.State(...)))
    "State": ("abkit.analysis.refresh", "State"),
    "StateError": ("abkit.analysis.refresh", "StateError"),
}
_SUBMODULES = {
    "design",
    "engine",
    "spec",
    "assign",
    "simulate",
    "stats",
    "report",
    "plot",
    "data",
    "metrics",
    "results",
    "retention",
}

__all__ = [
    "AbkitError",
    "ActiveDays",
    "ColumnQuantile",
    "ConsistencyError",
    "DataError",
    "EventCount",
    "Experiment",
    "ExperimentResult",
    "ExperimentSpec",
    "Mean",
    "Proportion",
    "Quantile",
    "Ratio",
    "ReportError",
    "Retention",
    "Revenue",
    "SpecError",
    "State",
    "StateError",
    "StatsError",
    "__version__",
    "assign",
    "load_spec",
    "retention",
    "run_report",
    "simulate",
    "stats",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"abkit.{name}")
    raise AttributeError(f"module 'abkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | _SUBMODULES)
