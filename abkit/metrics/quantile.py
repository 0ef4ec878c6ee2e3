"""Quantile metrics: a per-unit value summarised per arm by its ``q``-quantile, not its mean.

``Quantile("value", q=0.5, days=(0, 6))`` is the median over units of each unit's sum of event
value on days 0-6 (the per-unit value of :class:`~abkit.metrics.Revenue`); ``"events"`` and
``"active_days"`` take the per-unit values of :class:`~abkit.metrics.EventCount` and
:class:`~abkit.metrics.ActiveDays`. :class:`ColumnQuantile` does the same for a per-unit column.

The quantile is the sample quantile with linear interpolation between order statistics
(``numpy.quantile``'s default); the arms are compared by the order-statistic interval of
:func:`abkit.stats.compare_quantiles`, from a few order statistics the engine returns per arm
(:mod:`abkit.query.quantiles`): no resampling, exact on every engine abkit runs quantiles on.

Example:
    >>> m = Quantile("value", q=0.9, days=(0, 6))
    >>> m.name, m.kind, m.unit_value
    ('value_p90_d0_6', 'quantile', 'sum')
    >>> ColumnQuantile("sum_game_rounds").name
    'sum_game_rounds_p50'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from abkit.errors import SpecError
from abkit.metrics.base import (
    EventMetric,
    Kind,
    Metric,
    UnitValue,
    _check_day,
    _check_tz,
    _events_tuple,
)

__all__ = ["QUANTILE_OF", "ColumnQuantile", "Quantile"]

#: what a unit's value is, per ``of=``: the per-unit aggregate of its events in the window
QUANTILE_OF: dict[str, UnitValue] = {"value": "sum", "events": "count", "active_days": "days"}
_WHAT = {
    "value": "sum of event value (nulls count as 0)",
    "events": "number of events",
    "active_days": "number of distinct active days",
}


def _check_q(q: object) -> float:
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0 < q < 1:
        raise SpecError(f"q must be a number strictly between 0 and 1 (0.5: the median), got {q!r}")
    return float(q)


def _q_label(q: float) -> str:
    """``0.5`` -> ``p50``, ``0.99`` -> ``p99``, ``0.995`` -> ``p99_5``."""
    pct = f"{100 * q:.10g}"
    return "p" + pct.replace(".", "_")


def _q_text(q: float) -> str:
    return "median" if q == 0.5 else f"{q:g} quantile"


_DEFINITION_TAIL = (
    "; sample quantile per arm with linear interpolation between order statistics "
    "(numpy.quantile's default); difference and relative difference by the order-statistic "
    "(Price–Bonett / Deng–Knoblich–Lu) normal interval, no resampling"
)


@dataclass(frozen=True, slots=True)
class Quantile(EventMetric):
    """The ``q``-quantile over units of a per-unit event value in the window ``days=(a, b)``.

    Args:
        of: the per-unit value: ``"value"`` (sum of the events' ``value``, as
            :class:`~abkit.metrics.Revenue`), ``"events"`` (number of events, as
            :class:`~abkit.metrics.EventCount`) or ``"active_days"`` (distinct active days, as
            :class:`~abkit.metrics.ActiveDays`). Units without a qualifying event count as 0.
        q: the quantile, strictly between 0 and 1 (0.5: the median).
        days: inclusive window of day indexes after first exposure.
        event: event name(s) that count; all events when None.
        tz: IANA zone for calendar days (rolling 24-hour days when None).
        name: key in results; ``<of>_p<100q>_d<a>_<b>`` when not given.

    A unit counts once the window has ended by ``as_of``. Quantiles of values with many ties
    (counts, active days: mostly 0, 1, 2 …) have no normal interval; the comparison then says
    so. They suit values that are close to continuous (revenue, time, large counts).

    Example:
        >>> Quantile("events", q=0.5, days=(1, 7), event="open").definition.split(",")[0]
        'median over units of the number of events on days 1-7 after first exposure'
    """

    of: str = "value"
    q: float = 0.5
    days: tuple[int, int] = (0, 6)
    event: str | Sequence[str] | None = None
    tz: str | None = None
    name: str = ""
    higher_is_better: bool = True
    kind: ClassVar[Kind] = "quantile"

    def __post_init__(self) -> None:
        if self.of not in QUANTILE_OF:
            raise SpecError(
                f"Quantile of={self.of!r}: the per-unit value must be one of "
                f"{sorted(QUANTILE_OF)} (sum of event value, number of events, active days); "
                "for a per-unit column use ColumnQuantile(column)"
            )
        object.__setattr__(self, "q", _check_q(self.q))
        if not isinstance(self.days, Sequence) or len(self.days) != 2:
            raise SpecError(f"days must be a pair (first, last), got {self.days!r}")
        a, b = (_check_day("days[0]", self.days[0]), _check_day("days[1]", self.days[1]))
        if a > b:
            raise SpecError(f"days=({a}, {b}): the first day must not be after the last")
        object.__setattr__(self, "days", (a, b))
        object.__setattr__(self, "event", _events_tuple(self.event))
        _check_tz(self.tz)
        if not self.name:
            name = f"{self.of}_{_q_label(self.q)}_d{a}_{b}" + ("_cal" if self.tz else "")
            object.__setattr__(self, "name", name)

    @property
    def unit_value(self) -> UnitValue:  # type: ignore[override]
        """The per-unit aggregate the events pass computes (declared by ``of``)."""
        return QUANTILE_OF[self.of]

    @property
    def window(self) -> tuple[int, int]:
        return self.days

    @property
    def cuped_covariate(self) -> None:
        """Quantile metrics are not CUPED-adjusted."""
        return None

    @property
    def label(self) -> str:
        what = {"value": "Value", "events": "Events", "active_days": "Active days"}[self.of]
        return f"{what} per unit, {_q_text(self.q)}, days {self.days[0]}-{self.days[1]}"

    @property
    def definition(self) -> str:
        return (
            f"{_q_text(self.q)} over units of the {_WHAT[self.of]} on "
            + self._window_text()
            + _DEFINITION_TAIL
        )


@dataclass(frozen=True, slots=True)
class ColumnQuantile(Metric):
    """The ``q``-quantile over units of a numeric per-unit column (nulls are left out).

    Example:
        >>> ColumnQuantile("revenue", q=0.9).definition.split(";")[0]
        "0.9 quantile over units of the per-unit numeric column 'revenue'"
    """

    column: str
    q: float = 0.5
    name: str = ""
    higher_is_better: bool = True
    kind: ClassVar[Kind] = "quantile"

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column:
            raise SpecError(f"column must be a non-empty column name, got {self.column!r}")
        object.__setattr__(self, "q", _check_q(self.q))
        if not self.name:
            object.__setattr__(self, "name", f"{self.column}_{_q_label(self.q)}")

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def label(self) -> str:
        return f"{self.column}, {_q_text(self.q)}"

    @property
    def definition(self) -> str:
        return (
            f"{_q_text(self.q)} over units of the per-unit numeric column {self.column!r}"
            + _DEFINITION_TAIL
        )
