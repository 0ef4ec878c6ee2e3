"""The metric declarations every metric shares: :class:`Metric`, :class:`EventMetric` and the
argument checks (days, caps, event filters, time zones) the concrete metrics use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from abkit.errors import SpecError

__all__ = ["MAX_DAY", "CovariateKind", "EventMetric", "Kind", "Metric", "Source", "UnitValue"]

Kind = Literal["proportion", "mean", "ratio", "quantile"]
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
