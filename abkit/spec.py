"""Experiment specs: one object describes an experiment for assignment, analysis and reporting.

A spec is written in YAML (or built in Python) and validated on load::

    name: onboarding-v2            # experiment key; also the assignment seed
    control: control
    variants: [control, treatment] # or a mapping variant -> planned weight
    metrics:
      - retention: {day: 1}
      - retention: {day: 7}
      - retention: {day: 30}

Optional keys: ``seed``, ``hash_version`` (1 or 2), ``coverage``, ``namespace`` ([name, start, end]),
``overrides`` (unit id -> variant), ``holdout`` (fraction), ``segments`` (exposure columns to break
results down by), ``alpha``, ``alternative``, ``tz`` (IANA zone for naive timestamps and calendar
windows), ``columns`` (mapping of abkit column names to yours), ``primary_metric``, ``description``,
``guardrails`` (metrics that must not get worse than a margin: ``metric``, ``margin``,
``relative``, ``higher_is_better``), ``accept_findings`` (codes of blocking data-quality findings
the team has investigated and accepts, e.g. ``[srm]``; they are shown as warnings),
``report`` (report sections, see :class:`ReportOptions`), ``data`` (paths of the data relative
to the spec file: ``exposures``, ``events`` or ``units``; used by ``abkit report``), ``cuped``
(lookback in days of the pre-exposure covariate that event metrics are adjusted for, e.g. 14).

Example:
    >>> spec = ExperimentSpec.model_validate(
    ...     {"name": "onb", "control": "a", "variants": {"a": 0.5, "b": 0.5},
    ...      "metrics": [{"retention": {"day": 7}}]})
    >>> spec.variant_names, spec.weights
    (('a', 'b'), (0.5, 0.5))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from abkit.errors import SpecError
from abkit.metrics import metric_from_spec

__all__ = ["ExperimentSpec", "GuardrailSpec", "ReportOptions", "load_spec"]

#: Column names abkit uses internally; ``columns`` in a spec maps these to the user's names.
STANDARD_COLUMNS = ("unit_id", "variant", "exposed_at", "ts", "event", "value")


class ReportOptions(BaseModel):
    """What the report shows beyond the lift table (each section is skipped when set to 0/None).

    ``curve_days``: retention curve D0..Dn; ``cohort_days``: columns of the cohort triangle;
    ``cohort_period``: ``day`` or ``week``; ``churn_inactive_days``/``churn_tau``: time to churn
    (K inactive days, RMST horizon); ``sequential_tuning``: N* of the always-valid test shown as
    "can we stop yet?"; ``multiple_testing``: correction across metrics × treatments.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    curve_days: int = Field(default=30, ge=0, le=365)
    cohort_days: list[int] = Field(default_factory=lambda: [1, 7, 14, 30])
    cohort_period: Literal["day", "week"] = "day"
    churn_inactive_days: int = Field(default=7, ge=0, le=90)
    churn_tau: int = Field(default=30, ge=1, le=365)
    sequential_tuning: float | None = Field(default=5000.0, gt=0)
    multiple_testing: Literal["holm", "hochberg", "bonferroni", "fdr_bh", "fdr_by", "none"] = "holm"


class DataSources(BaseModel):
    """Where a report finds the data (paths relative to the spec file), for ``abkit report --all``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exposures: str | None = None
    events: str | None = None
    units: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> DataSources:
        if self.units is not None and (self.exposures is not None or self.events is not None):
            raise ValueError("give either units or exposures (+ events), not both")
        if self.units is None and self.exposures is None:
            raise ValueError("give units, or exposures (+ events)")
        return self


class GuardrailSpec(BaseModel):
    """A metric that must not get worse by more than ``margin`` (a non-inferiority test)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    margin: float = Field(gt=0)
    relative: bool = False
    higher_is_better: bool = True


class ExperimentSpec(BaseModel):
    """A validated experiment definition (see the module docstring for the YAML form)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    control: str
    variants: list[str] | dict[str, float] = Field(default_factory=lambda: ["control", "treatment"])
    metrics: list[Any] = Field(default_factory=list)
    seed: str | None = None
    hash_version: Literal[1, 2] = 2
    coverage: float = 1.0
    namespace: tuple[str, float, float] | None = None
    overrides: dict[str, str] = Field(default_factory=dict)
    holdout: float = 0.0
    segments: list[str] = Field(default_factory=list)
    alpha: float = 0.05
    alternative: Literal["two-sided", "greater", "less"] = "two-sided"
    tz: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    primary_metric: str | None = None
    description: str | None = None
    report: ReportOptions = Field(default_factory=ReportOptions)
    data: DataSources | None = None
    guardrails: list[GuardrailSpec] = Field(default_factory=list)
    accept_findings: list[str] = Field(default_factory=list)
    cuped: int | None = Field(default=None, ge=1, le=365, strict=True)

    @field_validator("variants")
    @classmethod
    def _check_variants(cls, v: list[str] | dict[str, float]) -> list[str] | dict[str, float]:
        names = list(v) if isinstance(v, list) else list(v.keys())
        if len(names) < 2:
            raise ValueError(f"needs at least 2 variants, got {names}")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate variant names {dupes}")
        if any(not str(n).strip() for n in names):
            raise ValueError("variant names must be non-empty")
        if isinstance(v, dict):
            w = list(v.values())
            bad = [k for k, x in v.items() if not (math.isfinite(x) and 0 <= x <= 1)]
            if bad:
                raise ValueError(f"weights of {bad} are not in [0, 1]")
            if abs(sum(w) - 1.0) > 1e-6:
                raise ValueError(f"weights sum to {sum(w):.6g}, not 1; e.g. use {names[0]}: 0.5 …")
        return v

    @field_validator("coverage", "holdout")
    @classmethod
    def _check_fraction(cls, v: float) -> float:
        if not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ValueError(f"must be a fraction in [0, 1], got {v}")
        return v

    @field_validator("alpha")
    @classmethod
    def _check_alpha(cls, v: float) -> float:
        if not (0.0 < v < 1.0):
            raise ValueError(f"alpha must be in (0, 1), got {v}")
        return v

    @field_validator("namespace")
    @classmethod
    def _check_namespace(
        cls, v: tuple[str, float, float] | None
    ) -> tuple[str, float, float] | None:
        if v is not None:
            _, start, end = v
            if not (0.0 <= start < end <= 1.0):
                raise ValueError(
                    f"namespace range [{start}, {end}) must satisfy 0 <= start < end <= 1"
                )
        return v

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(STANDARD_COLUMNS))
        if unknown:
            raise ValueError(f"unknown keys {unknown}; allowed: {list(STANDARD_COLUMNS)}")
        return v

    @model_validator(mode="after")
    def _check_consistency(self) -> ExperimentSpec:
        if self.control not in self.variant_names:
            raise ValueError(
                f"control {self.control!r} is not one of the variants {list(self.variant_names)}"
            )
        bad = {u: v for u, v in self.overrides.items() if v not in self.variant_names}
        if bad:
            raise ValueError(f"overrides name unknown variants {bad}")
        if self.metrics:
            built = [metric_from_spec(m) for m in self.metrics]
            names = [m.name for m in built]
            if len(set(names)) != len(names):
                raise ValueError(f"metric names must be unique, got {names}")
            if self.primary_metric is not None and self.primary_metric not in names:
                raise ValueError(f"primary_metric {self.primary_metric!r} is not one of {names}")
            unknown = [g.metric for g in self.guardrails if g.metric not in names]
            if unknown:
                raise ValueError(f"guardrails name metrics {unknown} that are not in {names}")
        return self

    @property
    def variant_names(self) -> tuple[str, ...]:
        """Variant names in spec order."""
        return tuple(self.variants)  # list order, or the mapping's key order

    @property
    def weights(self) -> tuple[float, ...]:
        """Planned traffic weights, equal unless the spec gives a mapping."""
        if isinstance(self.variants, dict):
            return tuple(float(x) for x in self.variants.values())
        k = len(self.variants)
        return tuple(1.0 / k for _ in range(k))

    @property
    def hash_seed(self) -> str:
        """The assignment seed: ``seed`` if given, else the experiment ``name``."""
        return self.seed if self.seed is not None else self.name

    def build_metrics(self) -> list[Any]:
        """The metric objects (``abkit.metrics``) this spec lists."""

        return [metric_from_spec(m) for m in self.metrics]


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid experiment spec{source}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def load_spec(source: ExperimentSpec | Mapping[str, Any] | str | Path) -> ExperimentSpec:
    """Load and validate a spec from a YAML path, a dict of the YAML form, or pass a spec through.

    Raises:
        SpecError: the file is missing or not YAML, or a field is invalid; the message lists every
            problem with its location.

    Example:
        >>> load_spec({"name": "x", "control": "a", "variants": ["a", "b"]}).weights
        (0.5, 0.5)
    """
    if isinstance(source, ExperimentSpec):
        return source
    where = ""
    if isinstance(source, str | Path):
        path = Path(source)
        where = f" {path}"
        if not path.is_file():
            raise SpecError(f"spec file {path} does not exist")
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except yaml.YAMLError as exc:
            raise SpecError(f"spec file {path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise SpecError(f"spec file {path} must hold a mapping (name:, control:, …)")
        source = data
    if not isinstance(source, Mapping):
        raise SpecError(f"expected a spec, a dict or a YAML path, got {type(source).__name__}")
    try:
        return ExperimentSpec.model_validate(dict(source))
    except ValidationError as exc:
        raise SpecError(_format_validation_error(exc, where)) from None
