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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

from abkit.errors import SpecError

__all__ = [
    "ActiveDays",
    "EventCount",
    "Mean",
    "Metric",
    "Proportion",
    "Ratio",
    "Retention",
    "Revenue",
    "metric_from_spec",
]

Kind = Literal["proportion", "mean", "ratio"]
Source = Literal["events", "column"]
#: how an event metric turns a unit's qualifying events in its window into one value
UnitValue = Literal["any", "days", "count", "sum"]
CovariateKind = Literal["days", "count", "value"]
_COVARIATE_OF: dict[str, CovariateKind] = {
    "any": "days",
    "days": "days",
    "count": "count",
    "sum": "value",
}


def _events_tuple(event: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if event is None:
        return None
    if isinstance(event, str):
        return (event,)
    out = tuple(event)
    if not out or not all(isinstance(e, str) for e in out):
        raise SpecError(f"event= must be a name or a non-empty list of names, got {event!r}")
    return out


def _check_tz(tz: str | None) -> None:
    if tz is None:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise SpecError(
            f"tz={tz!r} is not an IANA time zone name (e.g. 'Asia/Shanghai', 'UTC')"
        ) from None


def _check_cap(cap: float | None, cap_quantile: float | None = None) -> None:
    import math

    if cap is not None and (
        isinstance(cap, bool) or not isinstance(cap, int | float) or not math.isfinite(cap)
    ):
        raise SpecError(
            f"cap must be a finite number (the per-unit value is capped at it), got {cap!r}"
        )
    if cap_quantile is None:
        return
    if (
        isinstance(cap_quantile, bool)
        or not isinstance(cap_quantile, int | float)
        or not 0 < cap_quantile < 1
    ):
        raise SpecError(
            "cap_quantile must be a number between 0 and 1 (e.g. 0.99: each unit's value is "
            f"capped at the 99th percentile of all analysed units' values), got {cap_quantile!r}"
        )
    if cap is not None:
        raise SpecError(
            f"give cap (a fixed value, here {cap!r}) or cap_quantile (a percentile of the "
            f"experiment's own values, here {cap_quantile!r}), not both"
        )


def _cap_text(cap: float | None, cap_quantile: float | None = None) -> str:
    if cap_quantile is not None:
        return (
            f"; per-unit value capped at the {cap_quantile:g} quantile of the analysed units' "
            "values (both arms pooled, linear interpolation)"
        )
    return "" if cap is None else f"; per-unit value capped at {cap:g}"


MAX_DAY = 3650  #: the longest window a metric may read, in days (ten years)


def _check_day(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAY:
        raise SpecError(
            f"{name} must be a whole number of days from 0 to {MAX_DAY} (ten years), got {value!r}"
        )
    return value


class Metric:
    """Base class: what every metric declares. Subclasses are frozen dataclasses.

    The query compiler and the analysis read these declarations instead of testing classes:

    * ``kind`` — how arms are compared: ``"proportion"`` (two-proportion test), ``"mean"``
      (Welch), ``"ratio"`` (delta method on five sums);
    * ``unit_value`` — for event metrics, how a unit's qualifying events in the window become
      its value: ``"any"`` (1 if there is one, else 0), ``"days"`` (distinct active days),
      ``"count"`` (events), ``"sum"`` (sum of the events' ``value``); None for column metrics;
    * ``cap`` / ``cap_quantile`` — a fixed per-unit cap, or the percentile of the analysed
      units' values to cap at (None: no cap);
    * ``covariate`` — a per-unit pre-period column the lift is CUPED-adjusted for;
    * ``parts`` — the metrics it is computed from (itself; a ratio's numerator and denominator);
    * ``higher_is_better`` — the direction of a good change (False for e.g. churn, latency).
    """

    name: str
    kind: ClassVar[Kind]
    unit_value: ClassVar[UnitValue | None] = None
    cap: float | None = None
    cap_quantile: float | None = None
    covariate: str | None = None
    tz: str | None = None
    #: the direction of a good change (False for e.g. churn or latency): colours and verdicts
    higher_is_better: bool = True

    @property
    def label(self) -> str:  # pragma: no cover - overridden
        return self.name

    @property
    def definition(self) -> str:  # pragma: no cover - overridden
        return self.name

    @property
    def parts(self) -> tuple[Metric, ...]:
        """The metrics this one is computed from: itself, or a ratio's two parts."""
        return (self,)

    @property
    def event_parts(self) -> tuple[EventMetric, ...]:
        """The event metrics among :attr:`parts` (computed from the activity log)."""
        return tuple(p for p in self.parts if isinstance(p, EventMetric))

    @property
    def source(self) -> Source:
        """``"events"`` when any part is computed from the activity log, else ``"column"``."""
        return "events" if self.event_parts else "column"

    @property
    def columns(self) -> tuple[str, ...]:
        """The per-unit columns this metric reads (column metrics and their covariates)."""
        return ()

    @property
    def binary(self) -> bool:
        """The per-unit value is 0/1 by construction (Σx² = Σx; min and max follow from n, Σx)."""
        return self.unit_value == "any"

    @property
    def cuped_covariate(self) -> CovariateKind | None:
        """The pre-exposure covariate CUPED adjusts this metric for, or None (not adjustable).

        ``"days"``: active days in the lookback (for ``any`` and ``days`` metrics);
        ``"count"``: events; ``"value"``: the sum of ``value``. The event filter is the metric's.
        """
        return None if self.unit_value is None else _COVARIATE_OF[self.unit_value]

    @property
    def mature_after_days(self) -> int:
        """Days after ``t0`` at which the metric's window has ended (0: no window)."""
        return max((p.mature_after_days for p in self.event_parts), default=0)


# --------------------------------------------------------------------------------------------------
# event metrics


class EventMetric(Metric):
    """A metric computed from the events of each unit inside a day window ``[first_day, last_day]``."""

    #: event names that count (a name or names; normalised to a tuple); None: every event
    event: str | Sequence[str] | None

    @property
    def window(self) -> tuple[int, int]:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def mature_after_days(self) -> int:
        """Days after ``t0`` at which the window has ended: the unit counts once ``as_of`` is past it."""
        return self.window[1] + 1

    def _window_text(self) -> str:
        a, b = self.window
        days = f"day {a}" if a == b else f"days {a}-{b}"
        ev = "" if self.event is None else f" (events: {', '.join(self.event)})"
        if self.tz is not None:
            span = f"= {a}" if a == b else f"in {a}..{b}"
            return (
                f"calendar {days} in {self.tz} after first exposure, i.e. local_date(ts) - "
                f"local_date(t0) {span}{ev}; units count once as_of >= local midnight starting "
                f"calendar day {b + 1}"
            )
        return (
            f"{days} after first exposure, i.e. t0 + {24 * a}h <= ts < t0 + {24 * (b + 1)}h{ev}; "
            f"units count once as_of >= t0 + {24 * (b + 1)}h"
        )


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


# --------------------------------------------------------------------------------------------------
# column metrics


@dataclass(frozen=True, slots=True)
class _ColumnMetric(Metric):
    column: str
    name: str = ""
    higher_is_better: bool = True
    #: a per-unit pre-period column (e.g. the same measure before the experiment): the lift is
    #: CUPED-adjusted for it (nulls count as 0)
    covariate: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column:
            raise SpecError(f"column must be a non-empty column name, got {self.column!r}")
        if self.covariate is not None and (
            not isinstance(self.covariate, str) or not self.covariate
        ):
            raise SpecError(f"covariate must be a column name, got {self.covariate!r}")
        if not self.name:
            object.__setattr__(self, "name", self.column)

    @property
    def label(self) -> str:
        return self.name

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) if self.covariate is None else (self.column, self.covariate)


@dataclass(frozen=True, slots=True)
class Proportion(_ColumnMetric):
    """Share of units whose 0/1 (or boolean) per-unit column is 1.

    Example:
        >>> Proportion("retention_7").definition
        "mean of the per-unit 0/1 column 'retention_7'"
    """

    kind: ClassVar[Kind] = "proportion"

    @property
    def definition(self) -> str:
        return f"mean of the per-unit 0/1 column {self.column!r}"


@dataclass(frozen=True, slots=True)
class Mean(_ColumnMetric):
    """Mean of a numeric per-unit column (compared with Welch's t-test).

    ``cap`` caps each unit's value (winsorisation at a fixed value, e.g. a pre-period p99) so a
    few whales do not swamp the variance; ``cap_quantile=0.99`` caps it at the 99th percentile of
    the experiment's own values instead (computed in the engine over all analysed units, both
    arms pooled, so both arms are capped alike; the value used is printed in the result).

    Example:
        >>> Mean("sum_game_rounds").kind
        'mean'
        >>> Mean("revenue", cap=500).definition
        "mean of the per-unit numeric column 'revenue'; per-unit value capped at 500"
        >>> Mean("revenue", cap_quantile=0.99).cap_quantile
        0.99
        >>> Mean("revenue", covariate="revenue_before").covariate  # CUPED on this column
        'revenue_before'
    """

    cap: float | None = None
    cap_quantile: float | None = None
    kind: ClassVar[Kind] = "mean"

    def __post_init__(self) -> None:
        _ColumnMetric.__post_init__(self)
        _check_cap(self.cap, self.cap_quantile)

    @property
    def definition(self) -> str:
        return f"mean of the per-unit numeric column {self.column!r}" + _cap_text(
            self.cap, self.cap_quantile
        )


@dataclass(frozen=True, slots=True)
class Ratio(Metric):
    """A ratio of sums, ``Σ numerator / Σ denominator`` over units (e.g. events per active day),
    compared between arms by the delta method (:func:`abkit.stats.compare_ratios`).

    Numerator and denominator are metrics (event or column metrics) or column names. A unit
    counts once both parts are mature; units with a null part are left out.

    Example:
        >>> r = Ratio(EventCount(days=(1, 7)), ActiveDays(days=(1, 7)))
        >>> r.name, r.kind
        ('events_d1_7_per_active_days_d1_7', 'ratio')
        >>> Ratio("revenue", "sessions").name
        'revenue_per_sessions'
    """

    numerator: Metric | str
    denominator: Metric | str
    name: str = ""
    higher_is_better: bool = True
    kind: ClassVar[Kind] = "ratio"

    def __post_init__(self) -> None:
        parts = []
        for part in (self.numerator, self.denominator):
            m = Mean(part) if isinstance(part, str) else part
            if not isinstance(m, Metric) or isinstance(m, Ratio):
                raise SpecError(f"a ratio's parts are metrics or column names, got {part!r}")
            if isinstance(m, EventMetric) and m.tz is not None:
                raise SpecError("ratio parts use rolling days; drop tz= from the parts")
            parts.append(m)
        object.__setattr__(self, "numerator", parts[0])
        object.__setattr__(self, "denominator", parts[1])
        if not self.name:
            object.__setattr__(self, "name", f"{parts[0].name}_per_{parts[1].name}")

    @property
    def parts(self) -> tuple[Metric, Metric]:
        return cast(Metric, self.numerator), cast(Metric, self.denominator)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for p in self.parts for c in p.columns))

    @property
    def label(self) -> str:
        return f"{self.parts[0].label} per {self.parts[1].label.lower()}"

    @property
    def definition(self) -> str:
        num, den = self.parts
        return (
            f"sum over units of [{num.definition}] divided by the sum of [{den.definition}]; "
            "delta-method variance"
        )


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
    if isinstance(args, str) and issubclass(cls, _ColumnMetric):
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
