"""Event metrics: computed from the activity log relative to each unit's first exposure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from abkit.errors import SpecError
from abkit.metrics.base import (
    EventMetric,
    Kind,
    UnitValue,
    _cap_text,
    _check_cap,
    _check_day,
    _check_tz,
    _events_tuple,
)

__all__ = ["ActiveDays", "EventCount", "Retention", "Revenue"]


@dataclass(frozen=True, slots=True)
class Retention(EventMetric):
    """Share of units active in a day window after first exposure (次日 / 七日 / 三十日留存).

    Exactly one of the modes:

    * ``day=N`` — active on day ``N`` exactly (classic DayN retention; ``day=1`` is next-day retention);
    * ``days=(a, b)`` — active on any day ``a..b`` (e.g. week-1 retention ``days=(7, 13)``);
    * ``on_or_after=N, horizon=H`` — active on any day ``N..H`` (unbounded return needs a fixed horizon).

    Args:
        day: the day index for DayN retention.
        days: an inclusive bracket of day indexes.
        on_or_after: first day of an open-ended window; requires ``horizon``.
        horizon: last day observed for ``on_or_after``.
        event: event name(s) that count as activity; all events count when ``None``.
        name: key in results; derived from the window if not given.

    Example:
        >>> Retention(day=1).name, Retention(day=1).label
        ('retention_d1', 'Day-1 retention')
    """

    day: int | None = None
    days: tuple[int, int] | None = None
    on_or_after: int | None = None
    horizon: int | None = None
    event: str | Sequence[str] | None = None
    tz: str | None = None
    name: str = ""
    higher_is_better: bool = True
    kind: ClassVar[Kind] = "proportion"
    unit_value: ClassVar[UnitValue | None] = "any"

    def __post_init__(self) -> None:
        modes = [m for m in ("day", "days", "on_or_after") if getattr(self, m) is not None]
        if len(modes) != 1:
            raise SpecError(
                "Retention needs exactly one of day=N, days=(a, b) or on_or_after=N "
                f"(with horizon=H); got {modes or 'none'}"
            )
        if self.day is not None:
            _check_day("day", self.day)
        if self.days is not None:
            if not isinstance(self.days, Sequence) or len(self.days) != 2:
                raise SpecError(f"days must be a pair (first, last), got {self.days!r}")
            a, b = (_check_day("days[0]", self.days[0]), _check_day("days[1]", self.days[1]))
            if a > b:
                raise SpecError(f"days=({a}, {b}): the first day must not be after the last")
            object.__setattr__(self, "days", (a, b))
        if self.on_or_after is not None:
            _check_day("on_or_after", self.on_or_after)
            if self.horizon is None:
                raise SpecError(
                    f"Retention(on_or_after={self.on_or_after}) needs horizon=H: an open-ended "
                    "window is only comparable between units over a fixed observation horizon"
                )
            _check_day("horizon", self.horizon)
            if self.horizon < self.on_or_after:
                raise SpecError(f"horizon={self.horizon} is before on_or_after={self.on_or_after}")
        elif self.horizon is not None:
            raise SpecError("horizon= is only used with on_or_after=")
        object.__setattr__(self, "event", _events_tuple(self.event))
        _check_tz(self.tz)
        if not self.name:
            a, b = self.window
            if self.day is not None:
                name = f"retention_d{a}"
            elif self.days is not None:
                name = f"retention_d{a}_{b}"
            else:
                name = f"retention_d{a}plus_h{b}"
            object.__setattr__(self, "name", name + ("_cal" if self.tz else ""))

    @property
    def window(self) -> tuple[int, int]:
        if self.day is not None:
            return (self.day, self.day)
        if self.days is not None:
            return self.days
        assert self.on_or_after is not None and self.horizon is not None
        return (self.on_or_after, self.horizon)

    @property
    def label(self) -> str:
        a, b = self.window
        if self.day is not None:
            return f"Day-{a} retention"
        if self.days is not None:
            return f"Day {a}-{b} retention"
        return f"Day-{a}+ retention (horizon {b})"

    @property
    def definition(self) -> str:
        return "active on " + self._window_text()


def _init_window(m: Any, prefix: str) -> None:
    """Validate and normalise a ``days=(a, b)`` metric's fields; name it ``<prefix>_d<a>_<b>``."""
    a, b = (_check_day("days[0]", m.days[0]), _check_day("days[1]", m.days[1]))
    if a > b:
        raise SpecError(f"days=({a}, {b}): the first day must not be after the last")
    object.__setattr__(m, "days", (a, b))
    object.__setattr__(m, "event", _events_tuple(m.event))
    _check_tz(m.tz)
    if not m.name:
        object.__setattr__(m, "name", f"{prefix}_d{a}_{b}" + ("_cal" if m.tz else ""))


@dataclass(frozen=True, slots=True)
class ActiveDays(EventMetric):
    """Number of distinct active days in the window ``days=(a, b)`` (inclusive) per unit.

    Example:
        >>> ActiveDays(days=(1, 7)).name
        'active_days_d1_7'
    """

    days: tuple[int, int] = (1, 7)
    event: str | Sequence[str] | None = None
    tz: str | None = None
    name: str = ""
    higher_is_better: bool = True
    kind: ClassVar[Kind] = "mean"
    unit_value: ClassVar[UnitValue | None] = "days"

    def __post_init__(self) -> None:
        _init_window(self, "active_days")

    @property
    def window(self) -> tuple[int, int]:
        return self.days

    @property
    def label(self) -> str:
        return f"Active days {self.days[0]}-{self.days[1]}"

    @property
    def definition(self) -> str:
        return "number of distinct active days among " + self._window_text()


@dataclass(frozen=True, slots=True)
class EventCount(EventMetric):
    """Number of events per unit in the window ``days=(a, b)``.

    ``cap`` / ``cap_quantile`` cap each unit's count at a fixed value or at a percentile of the
    analysed units' counts (see :class:`Mean`).

    Example:
        >>> EventCount(days=(0, 6), event="purchase").name
        'events_purchase_d0_6'
    """

    days: tuple[int, int] = (0, 6)
    event: str | Sequence[str] | None = None
    tz: str | None = None
    cap: float | None = None
    cap_quantile: float | None = None
    name: str = ""
    higher_is_better: bool = True
    kind: ClassVar[Kind] = "mean"
    unit_value: ClassVar[UnitValue | None] = "count"

    def __post_init__(self) -> None:
        _check_cap(self.cap, self.cap_quantile)
        ev = _events_tuple(self.event)
        _init_window(self, "events" + ("" if ev is None else "_" + "_".join(ev)))

    @property
    def window(self) -> tuple[int, int]:
        return self.days

    @property
    def label(self) -> str:
        return f"Events per unit, days {self.days[0]}-{self.days[1]}"

    @property
    def definition(self) -> str:
        return "number of events on " + self._window_text() + _cap_text(self.cap, self.cap_quantile)


@dataclass(frozen=True, slots=True)
class Revenue(EventMetric):
    """Sum of the events' ``value`` column per unit in the window ``days=(a, b)`` (e.g. revenue).

    ``cap`` / ``cap_quantile`` cap each unit's sum at a fixed value or at a percentile of the
    analysed units' sums (see :class:`Mean`).

    Example:
        >>> Revenue(days=(0, 29)).name
        'value_d0_29'
    """

    days: tuple[int, int] = (0, 29)
    event: str | Sequence[str] | None = None
    tz: str | None = None
    cap: float | None = None
    cap_quantile: float | None = None
    name: str = ""
    higher_is_better: bool = True
    kind: ClassVar[Kind] = "mean"
    unit_value: ClassVar[UnitValue | None] = "sum"

    def __post_init__(self) -> None:
        _check_cap(self.cap, self.cap_quantile)
        _init_window(self, "value")

    @property
    def window(self) -> tuple[int, int]:
        return self.days

    @property
    def label(self) -> str:
        return f"Value per unit, days {self.days[0]}-{self.days[1]}"

    @property
    def definition(self) -> str:
        return (
            "sum of event value (nulls count as 0) on "
            + self._window_text()
            + _cap_text(self.cap, self.cap_quantile)
        )
