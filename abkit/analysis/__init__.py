"""The analysis: from a spec and data to results.

* :mod:`~abkit.analysis.experiment` — :class:`Experiment`, the orchestration;
* :mod:`~abkit.analysis.options` — the frozen options record it is;
* :mod:`~abkit.analysis.compare` — arm summaries, the metric → test dispatch, SRM;
* :mod:`~abkit.analysis.finish` — result assembly and the conservation checks;
* :mod:`~abkit.analysis.stats_input` — validation of pre-aggregated statistics.
"""

from abkit.analysis.experiment import Experiment, TableLike

__all__ = ["Experiment", "TableLike"]
