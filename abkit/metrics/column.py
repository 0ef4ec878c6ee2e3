"""Column metrics (a per-unit column already computed) and ratios of sums."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

from abkit.errors import SpecError
from abkit.metrics.base import EventMetric, Kind, Metric, _cap_text, _check_cap

__all__ = ["Mean", "Proportion", "Ratio"]


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
        >>> from abkit.metrics import ActiveDays, EventCount
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
