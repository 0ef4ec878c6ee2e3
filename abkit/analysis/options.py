"""The frozen options of an analysis: which metrics, which arms, how to compare them.

:class:`~abkit.analysis.Experiment` is this record plus the methods that run it; the comparison
and assembly steps (:mod:`~abkit.analysis.compare`, :mod:`~abkit.analysis.finish`) read only
the record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from abkit.errors import SpecError
from abkit.metrics import Metric, metric_from_spec
from abkit.results import CORRECTIONS
from abkit.spec import GuardrailSpec
from abkit.stats._types import ALTERNATIVES
from abkit.stats.lift import REL_METHODS

__all__ = ["AnalysisOptions"]


@dataclass(frozen=True, eq=False)
class AnalysisOptions:
    """Validated analysis options (see :class:`~abkit.analysis.Experiment` for each field).

    ``metrics`` and ``guardrails`` accept their spec forms and are normalised; ``weights`` is a
    mapping variant → planned share (None: equal shares).
    """

    metrics: tuple[Metric, ...]
    control: str = "control"
    variants: tuple[str, ...] | None = None
    weights: Mapping[str, float] | None = None
    segments: tuple[str, ...] = ()
    alpha: float = 0.05
    alternative: str = "two-sided"
    name: str = "experiment"
    primary_metric: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    tz: str | None = None
    guardrails: tuple[GuardrailSpec, ...] = ()
    accept_findings: tuple[str, ...] = ()
    cuped: int | None = None
    correction: str = "holm"
    #: relative-lift interval: "auto" (Fieller, see abkit.stats.lift), "fieller", "delta", "log"
    rel_ci: str = "auto"
    #: regression adjustment on exposure (or unit) attributes: categorical columns stratify,
    #: numeric ones (a model's prediction too: CUPAC) enter Lin's regression
    adjust: tuple[str, ...] = ()
    #: CUPED's slope: "pooled" (one θ from both arms) or "per-arm" (each arm its own)
    cuped_theta: str = "pooled"

    def __post_init__(self) -> None:
        metrics = tuple(metric_from_spec(m) for m in self.metrics)
        if not metrics:
            raise SpecError("Experiment needs at least one metric, e.g. metrics=[Retention(day=7)]")
        names = [m.name for m in metrics]
        if len(set(names)) != len(names):
            raise SpecError(
                f"metric names must be unique, got {names}; pass name=… to tell them apart"
            )
        control, alpha = self.control, self.alpha
        if not isinstance(control, str) or not control:
            raise SpecError(f"control must be a variant label, got {control!r}")
        if not (isinstance(alpha, float | int) and 0 < alpha < 1):
            raise SpecError(f"alpha must be in (0, 1), got {alpha!r}")
        if self.alternative not in ALTERNATIVES:
            raise SpecError(
                f"alternative must be one of {list(ALTERNATIVES)}, got {self.alternative!r}"
            )
        if self.primary_metric is not None and self.primary_metric not in names:
            raise SpecError(f"primary_metric {self.primary_metric!r} is not one of {names}")
        variants = None if self.variants is None else tuple(str(v) for v in self.variants)
        if variants is not None and control not in variants:
            raise SpecError(f"control {control!r} is not among variants {list(variants)}")
        weights = normalise_weights(self.weights, variants)
        try:
            guardrails = tuple(
                g if isinstance(g, GuardrailSpec) else GuardrailSpec.model_validate(dict(g))
                for g in self.guardrails
            )
        except Exception as exc:  # pydantic's ValidationError, or a guardrail that is no mapping
            raise SpecError(f"invalid guardrail: {exc}") from None
        unknown = [g.metric for g in guardrails if g.metric not in names]
        if unknown:
            raise SpecError(f"guardrails name metrics {unknown} that are not in {names}")
        cuped = self.cuped
        if cuped is not None and (
            isinstance(cuped, bool) or not isinstance(cuped, int) or not 1 <= cuped <= 365
        ):
            raise SpecError(
                f"cuped must be a lookback in whole days between 1 and 365 (e.g. 14), got {cuped!r}"
            )
        if self.rel_ci not in REL_METHODS:
            raise SpecError(
                f"rel_ci must be one of {list(REL_METHODS)} (the relative-lift interval), "
                f"got {self.rel_ci!r}"
            )
        adjust = tuple(self.adjust) if not isinstance(self.adjust, str) else (self.adjust,)
        if any(not isinstance(c, str) or not c for c in adjust) or len(set(adjust)) != len(adjust):
            raise SpecError(
                f"adjust must name distinct columns, e.g. adjust=['channel', 'platform'], "
                f"got {list(adjust)!r}"
            )
        if self.cuped_theta not in ("pooled", "per-arm"):
            raise SpecError(f"cuped_theta must be 'pooled' or 'per-arm', got {self.cuped_theta!r}")
        if self.correction not in CORRECTIONS:
            raise SpecError(
                f"correction must be one of {list(CORRECTIONS)} (across metrics × treatments), "
                f"got {self.correction!r}"
            )
        fixed: dict[str, Any] = {
            "metrics": metrics,
            "variants": variants,
            "weights": weights,
            "segments": tuple(self.segments),
            "alpha": float(alpha),
            "columns": dict(self.columns),
            "guardrails": guardrails,
            "accept_findings": tuple(self.accept_findings),
            "adjust": adjust,
        }
        for k, v in fixed.items():
            object.__setattr__(self, k, v)

    def metric(self, name: str) -> Metric:
        """The metric called ``name``."""
        return next(m for m in self.metrics if m.name == name)

    def split_adjust(self, table: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The ``adjust`` columns of Ibis table ``table`` as (strata, numeric covariates).

        Text, boolean and other non-numeric columns stratify (their combinations are the
        strata); numeric columns are regression covariates. Cast a numeric code to text to
        stratify on it.

        Raises:
            SpecError: adjust= is combined with a metric that has no additive statistics.
        """
        if not self.adjust:
            return (), ()
        odd = [m.name for m in self.metrics if m.kind not in ("proportion", "mean", "ratio")]
        if odd:
            raise SpecError(
                f"adjust= needs per-stratum sums, which metrics {odd} (kind "
                f"{self.metric(odd[0]).kind!r}) do not have; analyse them without adjust="
            )
        schema = table.schema()
        numeric = tuple(
            c
            for c in self.adjust
            if c in schema and schema[c].is_numeric() and not schema[c].is_boolean()
        )
        return tuple(c for c in self.adjust if c not in numeric), numeric

    def group_columns(self, table: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The query's group columns (segments, then the strata of ``adjust`` that are not
        segments) and the numeric covariates of ``adjust``, for Ibis table ``table``."""
        strata, numeric = self.split_adjust(table)
        return (*self.segments, *(c for c in strata if c not in self.segments)), numeric


def normalise_weights(
    weights: Sequence[float] | Mapping[str, float] | None, variants: tuple[str, ...] | None
) -> dict[str, float] | None:
    """Planned weights as a mapping variant → weight (a list is in the order of ``variants``)."""
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        w = {str(k): float(v) for k, v in weights.items()}
        if variants is not None and set(w) != set(variants):
            raise SpecError(f"weights name {sorted(w)}, but variants are {list(variants)}")
    else:
        if variants is None:
            raise SpecError("weights as a list need variants= in the same order")
        if len(weights) != len(variants):
            raise SpecError(f"{len(weights)} weights for {len(variants)} variants")
        w = dict(zip(variants, (float(x) for x in weights), strict=True))
    if any(not math.isfinite(x) or x < 0 for x in w.values()) or sum(w.values()) <= 0:
        raise SpecError(f"weights must be non-negative and not all zero, got {w}")
    return w
