"""The spec models: every key, its type, default, example and description (docs/spec.md is
generated from the strings under the fields), and the cross-field checks."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from abkit.errors import SpecError, StatsError
from abkit.metrics import metric_from_spec
from abkit.spec.words import did_you_mean, flow, metric_in_words
from abkit.stats.power import sample_size_proportions

__all__ = [
    "STANDARD_COLUMNS",
    "DataSources",
    "DesignSpec",
    "ExperimentSpec",
    "GuardrailSpec",
    "ReportOptions",
]

#: Column names abkit uses internally; ``columns`` in a spec maps these to the user's names.
STANDARD_COLUMNS = ("unit_id", "variant", "exposed_at", "ts", "event", "value")


def _valid_metric(item: Any) -> Any:
    """One ``metrics:`` entry is valid when it builds; errors start with its kind (``ratio: …``)."""
    try:
        metric_in_words(item)
    except SpecError as exc:
        raise ValueError(str(exc)) from None
    return item


#: one entry of ``metrics:``, validated on its own so that an error is located at ``metrics[i]``
MetricItem = Annotated[Any, AfterValidator(_valid_metric)]
#: the string under each field describes it: scripts/spec_reference.py reads it from this file
#: for docs/spec.md (``use_attribute_docstrings`` would parse this file on every import)
_CONFIG = ConfigDict(frozen=True, extra="forbid")


class ReportOptions(BaseModel):
    """What the report shows beyond the lift table (each section is skipped when set to 0/null)."""

    model_config = _CONFIG

    curve_days: int = Field(default=30, ge=0, le=365, examples=[14])
    """Last day N of the retention curve D0..DN (0: no curve)."""
    cohort_days: list[int] = Field(default_factory=lambda: [1, 7, 14, 30], examples=[[1, 7]])
    """Day-N columns of the cohort triangle (empty: no triangle)."""
    cohort_period: Literal["day", "week"] = Field(default="day", examples=["week"])
    """Cohorts by exposure day or by exposure week."""
    churn_inactive_days: int = Field(default=7, ge=0, le=90, examples=[14])
    """Days without activity that count as churn, in the time-to-churn section (0: none)."""
    churn_tau: int = Field(default=30, ge=1, le=365, examples=[60])
    """Horizon in days of the restricted mean time to churn (RMST)."""
    sequential_tuning: float | Literal["auto"] | None = Field(default="auto", examples=[10000])
    """N* of the always-valid sequential test shown as "can we stop yet?": auto tunes it to the
    planned sample of design: (else 5000); a number > 0 fixes it; null: no section."""
    multiple_testing: Literal["holm", "hochberg", "bonferroni", "fdr_bh", "fdr_by", "none"] = Field(
        default="holm", examples=["fdr_bh"]
    )
    """Correction of the decisions across metrics × treatments (the primary metric is not
    corrected)."""
    forecast_from_day: int | None = Field(default=7, ge=1, le=60, examples=[14])
    """Long-term section: forecast every retention metric that starts later than this day (D30)
    from the activity up to it — the surrogate index (null: no forecast)."""
    truth: str | None = Field(default=None, examples=["data/truth.csv"])
    """For simulated data: a CSV of the true retention (columns variant, day, retention; relative
    to the spec file), shown beside the estimates (``abkit demo`` and ``abkit simulate`` write
    one)."""

    @field_validator("sequential_tuning")
    @classmethod
    def _positive_tuning(cls, v: float | str | None) -> float | str | None:
        if isinstance(v, float | int) and not (math.isfinite(v) and v > 0):
            raise ValueError(f"expected a number > 0, auto or null, got {flow(v)}")
        return v


class DataSources(BaseModel):
    """Where ``abkit report``/``analyze`` find the data when no file is given on the command line."""

    model_config = _CONFIG

    exposures: str | None = Field(default=None, examples=["data/exposures.parquet"])
    """Exposure log (Parquet or CSV), relative to the spec file."""
    events: str | None = Field(default=None, examples=["data/events.parquet"])
    """Activity log (Parquet or CSV), relative to the spec file."""
    units: str | None = Field(default=None, examples=["data/units.parquet"])
    """Per-unit table (Parquet or CSV) instead of the two logs."""

    @model_validator(mode="after")
    def _one_kind(self) -> DataSources:
        if self.units is not None and (self.exposures is not None or self.events is not None):
            raise ValueError("give units:, or exposures: (+ events:), not both")
        if self.units is None and self.exposures is None:
            raise ValueError("give units:, or exposures: (+ events:)")
        return self


class DesignSpec(BaseModel):
    """The plan the experiment was sized with (``abkit design``); the report's first screen shows
    the progress against it: units so far / needed, days left."""

    model_config = _CONFIG

    baseline: float = Field(gt=0, lt=1, examples=[0.2])
    """Expected control value of the planned metric (a proportion, e.g. 0.20 for 20% D7)."""
    mde: float = Field(gt=0, examples=[0.05])
    """Smallest effect worth detecting: relative to baseline (0.05 = 5%), or in absolute terms
    with relative: false (0.01 = 1 pp)."""
    relative: bool = Field(default=True, examples=[False])
    """mde is relative to baseline."""
    daily_units: float = Field(gt=0, le=1e9, examples=[4000])
    """New units expected to enter the experiment per day (all arms)."""
    power: float = Field(default=0.8, gt=0, lt=1, examples=[0.9])
    """Target power of the planned test."""
    variance_reduction: float = Field(default=0.0, ge=0, lt=1, examples=[0.3])
    """Expected CUPED variance reduction in [0, 1)."""
    metric: str | None = Field(default=None, examples=["retention_d7"])
    """The metric the plan is for (default: primary_metric, else the first metric); a
    proportion such as retention or a Proportion column."""
    start: date | None = Field(default=None, examples=["2026-11-02"])
    """First day of enrolment (default: the day of the first exposure in the data)."""


class GuardrailSpec(BaseModel):
    """A metric that must not get worse by more than ``margin`` (a non-inferiority test)."""

    model_config = _CONFIG

    metric: str = Field(examples=["retention_d1"])
    """Name of one of the spec's metrics."""
    margin: float = Field(gt=0, examples=[0.01])
    """Largest acceptable harm: absolute (0.01 is 1 pp of a proportion), or relative to the
    control value with relative: true."""
    relative: bool = Field(default=False, examples=[True])
    """margin is relative to the control value."""
    higher_is_better: bool = Field(default=True, examples=[False])
    """Higher values are better (false for e.g. errors or load time)."""


class ExperimentSpec(BaseModel):
    """A validated experiment definition (see ``docs/spec.md`` for every key)."""

    model_config = _CONFIG

    name: str = Field(min_length=1, examples=["onboarding-v2"])
    """Experiment key; also the assignment seed unless seed is given."""
    control: str = Field(examples=["control"])
    """The control variant; one of variants."""
    variants: list[str] | dict[str, float] = Field(
        default_factory=lambda: ["control", "treatment"],
        examples=[["control", "treatment"], {"control": 0.5, "treatment": 0.5}],
    )
    """Variant names (equal weights), or a mapping of variant to planned traffic weight
    (summing to 1)."""
    metrics: list[MetricItem] = Field(
        default_factory=list, examples=[[{"retention": {"day": 1}}, {"retention": {"day": 7}}]]
    )
    """Metrics to analyse, each a one-key mapping kind: arguments (see Metrics below)."""
    seed: str | None = Field(default=None, examples=["onboarding-v2-rerun"])
    """Assignment seed (default: name); a new seed reshuffles the units."""
    hash_version: Literal[1, 2] = Field(default=2, examples=[1])
    """GrowthBook hashing version."""
    coverage: float = Field(default=1.0, examples=[0.5])
    """Share of the eligible units that take part, in [0, 1]."""
    namespace: tuple[str, float, float] | None = Field(
        default=None, examples=[["onboarding", 0.0, 0.5]]
    )
    """[namespace, start, end]: only units whose namespace hash falls in [start, end) take
    part, so experiments with disjoint ranges of one namespace share no unit."""
    overrides: dict[str, str] = Field(default_factory=dict, examples=[{"qa-user-1": "treatment"}])
    """Unit id to variant, forced (QA accounts); wins over every other rule."""
    holdout: float = Field(default=0.0, examples=[0.05])
    """Fraction of all units held out of every experiment (a global holdout), in [0, 1]."""
    segments: list[str] = Field(default_factory=list, examples=[["channel", "platform"]])
    """Exposure columns to break the results down by."""
    alpha: float = Field(default=0.05, examples=[0.01])
    """Significance level of the tests, in (0, 1)."""
    alternative: Literal["two-sided", "greater", "less"] = Field(
        default="two-sided", examples=["greater"]
    )
    """Direction of the tests."""
    tz: str | None = Field(default=None, examples=["Asia/Shanghai"])
    """IANA zone the timezone-naive timestamps were written in."""
    columns: dict[str, str] = Field(
        default_factory=dict, examples=[{"unit_id": "user_id", "ts": "event_time"}]
    )
    """abkit's column name to yours; the keys are unit_id, variant, exposed_at, ts, event,
    value."""
    primary_metric: str | None = Field(default=None, examples=["retention_d7"])
    """The metric the decision rests on (not corrected for multiple testing)."""
    description: str | None = Field(default=None, examples=["New onboarding flow"])
    """Free text shown in the report."""
    report: ReportOptions = Field(default_factory=ReportOptions, examples=[{"curve_days": 14}])
    """Report sections (see report below)."""
    data: DataSources | None = Field(
        default=None, examples=[{"exposures": "exposures.parquet", "events": "events.parquet"}]
    )
    """Data files, read when none is given on the command line (see data below)."""
    guardrails: list[GuardrailSpec] = Field(
        default_factory=list, examples=[[{"metric": "retention_d1", "margin": 0.02}]]
    )
    """Metrics that must not get worse than a margin (see guardrails below)."""
    accept_findings: list[str] = Field(default_factory=list, examples=[["srm"]])
    """Codes of blocking data-quality findings the team has investigated and accepts; they
    are shown as warnings."""
    cuped: int | None = Field(default=None, ge=1, le=365, strict=True, examples=[14])
    """Lookback in days of the pre-exposure activity that every event metric is CUPED-adjusted
    for."""
    adjust: list[str] = Field(default_factory=list, examples=[["channel", "platform"]])
    """Exposure columns every lift is adjusted for: text columns post-stratify, numeric ones
    (e.g. a model's prediction from pre-experiment data) enter a regression."""
    cuped_theta: Literal["pooled", "per-arm"] = Field(default="pooled", examples=["per-arm"])
    """CUPED's slope: pooled (one from both arms) or per-arm (each arm its own)."""
    rel_ci: Literal["auto", "fieller", "delta", "log"] = Field(default="auto", examples=["delta"])
    """Interval of the relative lifts: auto (Fieller's, which keeps its coverage when an arm
    has few events), fieller, delta (the delta method) or log (log-ratio)."""
    design: DesignSpec | None = Field(
        default=None, examples=[{"baseline": 0.2, "mde": 0.05, "daily_units": 4000}]
    )
    """The sample-size plan; the report shows progress against it (see design below)."""

    @field_validator("variants")
    @classmethod
    def _check_variants(cls, v: list[str] | dict[str, float]) -> list[str] | dict[str, float]:
        names = list(v) if isinstance(v, list) else list(v.keys())
        if len(names) < 2:
            raise ValueError(
                f"needs at least 2 variants, got {flow(names)}; e.g. [control, treatment]"
            )
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate variant names {flow(dupes)}")
        if any(not str(n).strip() for n in names):
            raise ValueError("variant names must be non-empty")
        if isinstance(v, dict):
            w = list(v.values())
            bad = [k for k, x in v.items() if not (math.isfinite(x) and 0 <= x <= 1)]
            if bad:
                raise ValueError(f"weights of {flow(bad)} are not in [0, 1]")
            if abs(sum(w) - 1.0) > 1e-6:
                raise ValueError(f"weights sum to {sum(w):.6g}, not 1; e.g. use {names[0]}: 0.5 …")
        return v

    @field_validator("coverage", "holdout")
    @classmethod
    def _check_fraction(cls, v: float) -> float:
        if not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ValueError(f"must be a fraction in [0, 1], got {flow(v)}")
        return v

    @field_validator("alpha")
    @classmethod
    def _check_alpha(cls, v: float) -> float:
        if not (0.0 < v < 1.0):
            raise ValueError(f"must be in (0, 1), e.g. 0.05; got {flow(v)}")
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
                    f"namespace range [{flow(start)}, {flow(end)}) must satisfy "
                    "0 <= start < end <= 1"
                )
        return v

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = [k for k in v if k not in STANDARD_COLUMNS]
        if unknown:
            raise ValueError(
                "\n".join(
                    f"{k}: unknown key"
                    + (
                        did_you_mean(k, STANDARD_COLUMNS)
                        or f"; the keys are abkit's column names {flow(STANDARD_COLUMNS)}, "
                        "the values yours"
                    )
                    for k in unknown
                )
            )
        return v

    @model_validator(mode="after")
    def _check_consistency(self) -> ExperimentSpec:
        problems = []  # one line per problem, each starting with the key it is about
        variants = list(self.variant_names)
        if self.control not in variants:
            problems.append(
                f"control: {self.control!r} is not one of the variants {flow(variants)}"
                + did_you_mean(self.control, variants)
            )
        for unit, v in self.overrides.items():
            if v not in variants:
                problems.append(
                    f"overrides.{unit}: {v!r} is not one of the variants {flow(variants)}"
                    + did_you_mean(v, variants)
                )
        if self.metrics:
            names = [metric_from_spec(m).name for m in self.metrics]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                problems.append(
                    f"metrics: metric names must be unique, got {flow(names)}; give one of the "
                    f"{flow(dupes)} a name, e.g. {{retention: {{day: 7, name: retention_d7_b}}}}"
                )
            if self.primary_metric is not None and self.primary_metric not in names:
                problems.append(
                    f"primary_metric: {self.primary_metric!r} is not one of the metrics "
                    f"{flow(names)}" + did_you_mean(self.primary_metric, names)
                )
            for i, g in enumerate(self.guardrails):
                if g.metric not in names:
                    problems.append(
                        f"guardrails[{i}].metric: {g.metric!r} is not one of the metrics "
                        f"{flow(names)}" + did_you_mean(g.metric, names)
                    )
            problems += self._design_problems(names)
        elif self.design is not None:
            problems.append("design: needs metrics: to plan for; list at least one metric")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _design_problems(self, names: list[str]) -> list[str]:
        if self.design is None:
            return []
        metric = self.design_metric
        if metric not in names:
            return [
                f"design.metric: {metric!r} is not one of the metrics {flow(names)}"
                + did_you_mean(metric, names)
            ]
        if not self.build_metrics()[names.index(metric)].binary:
            return [
                f"design.metric: {metric!r} is not a proportion; the design plans a proportion "
                "metric such as retention: {day: 7}"
            ]
        d = self.design
        try:
            sample_size_proportions(
                d.baseline, d.mde, relative=d.relative, alpha=self.alpha, power=d.power
            )
        except StatsError as exc:
            return [f"design: {exc}"]
        return []

    @property
    def design_metric(self) -> str | None:
        """The metric the design plans for: design.metric, else primary_metric, else the first."""
        if self.design is None or not self.metrics:
            return None
        if self.design.metric is not None:
            return self.design.metric
        return self.primary_metric or metric_from_spec(self.metrics[0]).name

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
