"""Metric definitions: what to measure per unit, declared once, computed in the engine.

Two families:

* **event metrics** are computed from the activity log relative to each unit's first exposure ``t0``
  (``Retention``, ``ActiveDays``, ``EventCount``, ``Revenue``). Day ``k`` (rolling windows) is
  ``t0 + k·24h <= ts < t0 + (k+1)·24h``; a unit counts for a metric only once the metric's window has
  ended by ``as_of`` (the *maturity* rule); the rest are excluded and counted as immature.
* **column metrics** read a per-unit column that is already computed (``Proportion``, ``Mean``) —
  e.g. ``retention_7`` in a per-unit table such as the Cookie Cats data set.

Every metric exposes ``name`` (the key in results), ``label`` (a human title), ``kind``
(``"proportion"`` or ``"mean"``) and ``definition`` (the exact rule, printed in every result).

Example:
    >>> Retention(day=7).definition
    'active on day 7 after first exposure, i.e. t0 + 168h <= ts < t0 + 192h; units count once as_of >= t0 + 192h'
    >>> Retention(days=(7, 13)).name
    'retention_d7_13'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abkit.errors import SpecError
from abkit.metrics.base import MAX_DAY, EventMetric, Metric
from abkit.metrics.column import Mean, Proportion, Ratio
from abkit.metrics.event import ActiveDays, EventCount, Retention, Revenue
from abkit.metrics.quantile import ColumnQuantile, Quantile

__all__ = [
    "MAX_DAY",
    "ActiveDays",
    "ColumnQuantile",
    "EventCount",
    "EventMetric",
    "Mean",
    "Metric",
    "Proportion",
    "Quantile",
    "Ratio",
    "Retention",
    "Revenue",
    "metric_from_spec",
]

# --------------------------------------------------------------------------------------------------
# spec form

_REGISTRY: dict[str, type[Metric]] = {
    "retention": Retention,
    "active_days": ActiveDays,
    "events": EventCount,
    "revenue": Revenue,
    "proportion": Proportion,
    "mean": Mean,
    "ratio": Ratio,
    "quantile": Quantile,
    "column_quantile": ColumnQuantile,
}


def metric_from_spec(item: Metric | Mapping[str, Any] | str) -> Metric:
    """Build a metric from its spec form: ``{"retention": {"day": 7}}``, ``{"mean": "col"}`` …

    Example:
        >>> metric_from_spec({"retention": {"days": [7, 13]}}).name
        'retention_d7_13'
        >>> metric_from_spec({"proportion": "retention_1"}).column
        'retention_1'
    """
    if isinstance(item, Metric):
        return item
    if not isinstance(item, Mapping) or len(item) != 1:
        raise SpecError(
            f"a metric is a one-key mapping such as {{retention: {{day: 7}}}}, got {item!r}; "
            f"known kinds: {sorted(_REGISTRY)}"
        )
    ((kind, args),) = item.items()
    cls = _REGISTRY.get(str(kind))
    if cls is None:
        raise SpecError(f"unknown metric kind {kind!r}; known kinds: {sorted(_REGISTRY)}")
    if isinstance(args, str) and "column" in getattr(cls, "__dataclass_fields__", {}):
        args = {"column": args}
    if not isinstance(args, Mapping):
        raise SpecError(f"arguments of metric {kind!r} must be a mapping, got {args!r}")
    kwargs = dict(args)
    if "days" in kwargs and isinstance(kwargs["days"], list):
        kwargs["days"] = tuple(kwargs["days"])
    for part in ("numerator", "denominator"):
        if part in kwargs and isinstance(kwargs[part], Mapping):
            kwargs[part] = metric_from_spec(kwargs[part])
    try:
        return cls(**kwargs)
    except TypeError as exc:
        fields = [f for f in getattr(cls, "__dataclass_fields__", {}) if not f.startswith("_")]
        raise SpecError(f"metric {kind!r}: {exc}; allowed arguments: {fields}") from None
