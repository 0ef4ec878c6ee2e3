"""Experiment specs: one object describes an experiment for assignment, analysis and reporting.

A spec is written in YAML (or built in Python) and validated on load::

    name: onboarding-v2            # experiment key; also the assignment seed
    control: control
    variants: [control, treatment] # or a mapping variant -> planned weight
    metrics:
      - retention: {day: 1}
      - retention: {day: 7}
      - retention: {day: 30}

Every key, its type, default and an example is in ``docs/spec.md``, generated from the models
below (their field descriptions and examples) by ``scripts/spec_reference.py``. Errors are given
in the spec's own words, located at the key that is wrong, e.g.
``metrics[2].ratio: unknown key 'num'; did you mean 'numerator'?``.

Example:
    >>> spec = ExperimentSpec.model_validate(
    ...     {"name": "onb", "control": "a", "variants": {"a": 0.5, "b": 0.5},
    ...      "metrics": [{"retention": {"day": 7}}]})
    >>> spec.variant_names, spec.weights
    (('a', 'b'), (0.5, 0.5))
"""

from __future__ import annotations

import difflib
import math
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from abkit.errors import SpecError
from abkit.metrics import _REGISTRY, Metric, metric_from_spec

__all__ = ["DataSources", "ExperimentSpec", "GuardrailSpec", "ReportOptions", "load_spec"]

#: Column names abkit uses internally; ``columns`` in a spec maps these to the user's names.
STANDARD_COLUMNS = ("unit_id", "variant", "exposed_at", "ts", "event", "value")


def _valid_metric(item: Any) -> Any:
    """One ``metrics:`` entry is valid when it builds; errors start with its kind (``ratio: …``)."""
    try:
        _metric_in_words(item)
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
    sequential_tuning: float | None = Field(default=5000.0, gt=0, examples=[10000])
    """N* of the always-valid sequential test shown as "can we stop yet?" (null: none)."""
    multiple_testing: Literal["holm", "hochberg", "bonferroni", "fdr_bh", "fdr_by", "none"] = Field(
        default="holm", examples=["fdr_bh"]
    )
    """Correction of the decisions across metrics × treatments (the primary metric is not
    corrected)."""
    truth: str | None = Field(default=None, examples=["data/truth.csv"])
    """For simulated data: a CSV of the true retention (columns variant, day, retention; relative
    to the spec file), shown beside the estimates (``abkit demo`` and ``abkit simulate`` write
    one)."""


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

    @field_validator("variants")
    @classmethod
    def _check_variants(cls, v: list[str] | dict[str, float]) -> list[str] | dict[str, float]:
        names = list(v) if isinstance(v, list) else list(v.keys())
        if len(names) < 2:
            raise ValueError(
                f"needs at least 2 variants, got {_flow(names)}; e.g. [control, treatment]"
            )
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate variant names {_flow(dupes)}")
        if any(not str(n).strip() for n in names):
            raise ValueError("variant names must be non-empty")
        if isinstance(v, dict):
            w = list(v.values())
            bad = [k for k, x in v.items() if not (math.isfinite(x) and 0 <= x <= 1)]
            if bad:
                raise ValueError(f"weights of {_flow(bad)} are not in [0, 1]")
            if abs(sum(w) - 1.0) > 1e-6:
                raise ValueError(f"weights sum to {sum(w):.6g}, not 1; e.g. use {names[0]}: 0.5 …")
        return v

    @field_validator("coverage", "holdout")
    @classmethod
    def _check_fraction(cls, v: float) -> float:
        if not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ValueError(f"must be a fraction in [0, 1], got {_flow(v)}")
        return v

    @field_validator("alpha")
    @classmethod
    def _check_alpha(cls, v: float) -> float:
        if not (0.0 < v < 1.0):
            raise ValueError(f"must be in (0, 1), e.g. 0.05; got {_flow(v)}")
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
                    f"namespace range [{_flow(start)}, {_flow(end)}) must satisfy "
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
                        _did_you_mean(k, STANDARD_COLUMNS)
                        or f"; the keys are abkit's column names {_flow(STANDARD_COLUMNS)}, "
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
                f"control: {self.control!r} is not one of the variants {_flow(variants)}"
                + _did_you_mean(self.control, variants)
            )
        for unit, v in self.overrides.items():
            if v not in variants:
                problems.append(
                    f"overrides.{unit}: {v!r} is not one of the variants {_flow(variants)}"
                    + _did_you_mean(v, variants)
                )
        if self.metrics:
            names = [metric_from_spec(m).name for m in self.metrics]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                problems.append(
                    f"metrics: metric names must be unique, got {_flow(names)}; give one of the "
                    f"{_flow(dupes)} a name, e.g. {{retention: {{day: 7, name: retention_d7_b}}}}"
                )
            if self.primary_metric is not None and self.primary_metric not in names:
                problems.append(
                    f"primary_metric: {self.primary_metric!r} is not one of the metrics "
                    f"{_flow(names)}" + _did_you_mean(self.primary_metric, names)
                )
            for i, g in enumerate(self.guardrails):
                if g.metric not in names:
                    problems.append(
                        f"guardrails[{i}].metric: {g.metric!r} is not one of the metrics "
                        f"{_flow(names)}" + _did_you_mean(g.metric, names)
                    )
        if problems:
            raise ValueError("\n".join(problems))
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


# --------------------------------------------------------------------------------------------------
# errors in the spec's own words


def _flow(value: Any) -> str:
    """A value as YAML flow text: ``[a, b]``, ``{a: 0.5}``, ``null``, ``true``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return text if text else "''"


def _got(value: Any) -> str:
    """A value a user wrote, for ``got …``: text quoted, the rest as YAML."""
    return repr(value) if isinstance(value, str) else _flow(value)


def _closest(word: Any, options: Sequence[Any]) -> str | None:
    """difflib's closest option to ``word``, else one that ``word`` abbreviates (num: numerator)."""
    w, names = str(word), [str(o) for o in options]
    close = difflib.get_close_matches(w, names, n=1)
    close = close or [n for n in names if len(w) >= 2 and n.startswith(w) and n != w][:1]
    return close[0] if close else None


def _did_you_mean(word: Any, options: Sequence[Any]) -> str:
    """``; did you mean 'segments'?``, or nothing when no option is close."""
    close = _closest(word, options)
    return "" if close is None else f"; did you mean {close!r}?"


#: a message that starts with the key it is about (``ratio: …``, ``guardrails[0].metric: …``)
_KEY_PATH = re.compile(r"^[A-Za-z_][\w\-]*(?:\[\d+\]|\.[\w\-]+)*: ")
#: a union member pydantic puts into an error's location (``variants.list[str].0``)
_UNION_TAG = re.compile(r"[a-z-]+\[.*\]|str|int|float|bool|none")
_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUNDS = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The spec model inside a field's type (``list[GuardrailSpec]``, ``DataSources | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, map(_model_of, typing.get_args(annotation))), None)


def _walk(loc: Sequence[Any]) -> tuple[type[BaseModel] | None, Any, int]:
    """The model ``loc`` points into, the last field it names, and that field's position."""
    model: type[BaseModel] | None = ExperimentSpec
    info, at = None, -1
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None, info, at
        info, at = model.model_fields[part], i
        model = _model_of(info.annotation)
    return model, info, at


def _value_at(data: Any, loc: Sequence[Any]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _loc_text(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _like(info: Any) -> str:
    """``a list like [control, treatment] or a mapping like {…}``, from a field's examples."""
    examples = getattr(info, "examples", None) or []
    return " or ".join(
        ("a mapping" if isinstance(x, Mapping) else "a list" if isinstance(x, list) else "a value")
        + f" like {_flow(x)}"
        for x in examples
    )


def _at(loc: Sequence[Any], line: str) -> str:
    """``line`` located at ``loc``; a line that starts with a key continues the location."""
    where = _loc_text(loc)
    if not where:
        return line
    return f"{where}.{line}" if _KEY_PATH.match(line) else f"{where}: {line}"


def _problem(loc: tuple[Any, ...], e: Any, data: Any) -> list[str]:
    """One pydantic error in the spec's words, located at its key."""
    kind, ctx, value = e["type"], e.get("ctx") or {}, e.get("input")
    _, info, at = _walk(loc)
    if kind == "value_error":
        return [_at(loc, line) for line in str(e["msg"]).removeprefix("Value error, ").splitlines()]
    if kind == "extra_forbidden":
        model = _walk(loc[:-1])[0]
        keys = list(model.model_fields) if model is not None else []
        hint = _did_you_mean(loc[-1], keys) or f"; the keys here are {', '.join(keys)}"
        return [_at(loc, "unknown key" + hint)]
    shaped = info is not None and _model_of(info.annotation) is None
    forms = [info.annotation, *typing.get_args(info.annotation)] if info else []
    if shaped and at < len(loc) - 1 and any(typing.get_origin(a) is tuple for a in forms):
        # inside a fixed-shape value (namespace: [name, start, end]): say what the whole looks like
        whole = loc[: at + 1]
        return [_at(whole, f"expected {_like(info)}, got {_got(_value_at(data, whole))}")]
    if kind == "missing":
        example = f", e.g. {loc[-1]}: {_flow(info.examples[0])}" if info and info.examples else ""
        return [_at(loc, f"missing; this key is required{example}")]
    if kind == "string_too_short":
        return [_at(loc, "must not be empty")]
    if kind in _BOUNDS:
        expected = f"a number {_BOUNDS[kind]} {_flow(next(iter(ctx.values()), None))}"
    elif kind == "literal_error":
        expected = f"one of {ctx.get('expected')}"
        if isinstance(value, str):
            options = re.findall(r"'([^']*)'", str(ctx.get("expected")))
            expected += f", got {value!r}{_did_you_mean(value, options)}"
            return [_at(loc, "expected " + expected)]
    elif kind in _EXPECTED:
        expected = _EXPECTED[kind]
        if expected in ("a list", "a mapping") and at == len(loc) - 1 and _like(info):
            expected = _like(info)
    else:
        return [_at(loc, str(e["msg"]))]
    text = f"expected {expected}, got {_got(value)}"
    number = r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*"
    if expected.startswith(("a number", "a whole")) and re.fullmatch(number, str(value)):
        text += " (text: write the number without quotes)" if isinstance(value, str) else ""
    return [_at(loc, text)]


def _union(head: tuple[Any, ...], branches: list[tuple[str, Any]], data: Any) -> list[str]:
    """The errors of a key that takes one of several forms (variants: a list or a mapping)."""
    value = _value_at(data, head)
    shape = "dict" if isinstance(value, Mapping) else "list" if isinstance(value, list) else "-"
    deeper = [e for tag, e in branches if tag.startswith(shape) and len(e["loc"]) > len(head) + 1]
    if deeper:
        return [
            p for e in deeper for p in _problem(head + tuple(e["loc"])[len(head) + 1 :], e, data)
        ]
    return [_at(head, f"expected {_like(_walk(head)[1])}, got {_got(value)}")]


def _metric_in_words(item: Any) -> Metric:
    """:func:`abkit.metrics.metric_from_spec`, with errors in the spec's words, one per line and
    each starting with the kind (and a ratio's part) it is about: ``ratio.numerator.events: …``."""
    import dataclasses

    if isinstance(item, Metric) or not (isinstance(item, Mapping) and len(item) == 1):
        return metric_from_spec(item)  # a Metric, or metric_from_spec's word on what a metric is
    ((kind, args),) = item.items()
    cls = _REGISTRY.get(str(kind))
    if cls is None:
        hint = _did_you_mean(kind, list(_REGISTRY)) or f"; known kinds: {', '.join(_REGISTRY)}"
        raise SpecError(f"unknown metric kind {kind!r}{hint}")
    if isinstance(args, Mapping):
        fields = [f for f in dataclasses.fields(cast(Any, cls)) if f.init]
        names = [f.name for f in fields if not f.name.startswith("_")]
        meant = {k: _closest(k, names) for k in args if k not in names}
        problems = [
            f"{kind}: unknown key {k!r}"
            + (f"; did you mean {m!r}?" if m else f"; allowed arguments: {', '.join(names)}")
            for k, m in meant.items()
        ]
        problems += [
            f"{kind}: missing key {f.name!r}"
            for f in fields
            if f.default is f.default_factory is dataclasses.MISSING
            and f.name not in args
            and f.name not in meant.values()
        ]
        days = args.get("days")
        if days is not None and not (isinstance(days, list | tuple) and len(days) == 2):
            problems.append(f"{kind}.days: expected [first, last] such as [1, 7], got {_got(days)}")
        if problems:
            raise SpecError("\n".join(problems))
        args = dict(args)
        for part in ("numerator", "denominator"):
            if isinstance(args.get(part), Mapping):
                try:
                    args[part] = _metric_in_words(args[part])
                except SpecError as exc:
                    lines = str(exc).splitlines()
                    raise SpecError("\n".join(_at((kind, part), x) for x in lines)) from None
    elif not isinstance(args, str):
        raise SpecError(f"{kind}: expected a mapping of arguments, got {_got(args)}")
    try:
        return metric_from_spec({kind: args})
    except SpecError as exc:
        raise SpecError(f"{kind}: {_yaml_words(str(exc), cls.__name__)}") from None


def _yaml_words(text: str, class_name: str) -> str:
    """A metric's message in the spec's words: ``days=(7, 3)`` -> ``{days: [7, 3]}``,
    ``day=N`` -> ``{day: N}``, ``horizon=`` -> ``horizon``; no leading ``Retention(…)``."""
    text = re.sub(r"\b(\w+)=\(([^()]*)\)", r"{\1: [\2]}", text)
    text = re.sub(r"\b(\w+)=(?=[\s,;.)]|$)", r"\1", text)
    text = re.sub(r"\b(\w+)=([^\s,;:()]+)", r"{\1: \2}", text)
    return re.sub(rf"^{class_name}(\([^()]*\))? ", "", text)


def _format_validation_error(err: ValidationError, source: str, data: Any = None) -> str:
    lines = [f"invalid experiment spec{source}:"]
    problems: list[str] = []
    unions: dict[tuple[Any, ...], list[tuple[str, Any]]] = {}
    order: list[tuple[str, Any]] = []  # a problem's text, or the head of a union's errors
    for e in err.errors():
        loc = tuple(e["loc"])
        tag = next(
            (i for i, p in enumerate(loc) if isinstance(p, str) and _UNION_TAG.fullmatch(p)), None
        )
        if tag is None:
            order += [("text", p) for p in _problem(loc, e, data)]
            continue
        head = loc[:tag]
        if head not in unions:
            unions[head] = []
            order.append(("union", head))
        unions[head].append((str(loc[tag]), e))
    for what, item in order:
        problems += [item] if what == "text" else _union(item, unions[item], data)
    lines += [f"  - {p}" for p in dict.fromkeys(problems)]
    return "\n".join(lines)


def load_spec(source: ExperimentSpec | Mapping[str, Any] | str | Path) -> ExperimentSpec:
    """Load and validate a spec from a YAML path, a dict of the YAML form, or pass a spec through.

    Raises:
        SpecError: the file is missing or not YAML, or a key is invalid; the message lists every
            problem at the key that is wrong, in the spec's words (``segment: unknown key; did
            you mean 'segments'?``).

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
        raise SpecError(_format_validation_error(exc, where, source)) from None
