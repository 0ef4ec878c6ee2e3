#!/usr/bin/env python3
"""Write docs/spec.md, the experiment-spec reference, from the spec models and the metric kinds.

    .venv/bin/python scripts/spec_reference.py           # rewrite docs/spec.md
    .venv/bin/python scripts/spec_reference.py --check   # exit 1 when docs/spec.md is out of date

Every key, its type and default come from the pydantic models of ``abkit/spec/model.py``
(``ExperimentSpec``, ``ReportOptions``, ``DataSources``, ``GuardrailSpec``), the examples from the
fields' ``examples=`` and the descriptions from the string under each field in that file. The
metric kinds and their arguments come from ``abkit.metrics._REGISTRY``; each kind's examples
below are built with abkit to show the metric name and definition they produce. A field without
a description or example, a metric argument without a description here and a type this script
has no words for all stop it with an error, so the page cannot silently fall behind the code:
``tests/test_spec.py`` checks that the committed page is what this writes.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import re
import sys
import types
import typing
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from abkit.metrics import _REGISTRY, Metric, metric_from_spec
from abkit.spec import (
    DataSources,
    DesignSpec,
    ExperimentSpec,
    GuardrailSpec,
    ReportOptions,
    load_spec,
)
from abkit.spec.model import MetricItem
from abkit.spec.words import flow as _flow

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "spec.md"

#: the nested models, each with the key it sits under and its section title
SECTIONS: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("report", ReportOptions, "`report:` — report sections"),
    ("data", DataSources, "`data:` — data files"),
    ("guardrails", GuardrailSpec, "`guardrails:` — each entry"),
    ("design", DesignSpec, "`design:` — the sample-size plan"),
)

#: what each metric argument means (a kind-specific entry, ``kind.argument``, wins)
ARGUMENTS = {
    "day": "DayN retention: active on day N exactly (day 1 is next-day retention).",
    "days": "Inclusive window [first, last] of day indexes after first exposure (day 0 starts "
    "at the exposure).",
    "retention.days": "Active on any day of the inclusive window [first, last], e.g. [7, 13] "
    "for week-1 retention.",
    "on_or_after": "First day of an open-ended window; needs horizon.",
    "horizon": "Last day observed for on_or_after (units are only comparable over a fixed "
    "horizon).",
    "event": "Event name, or a list of names, that counts; every event counts when not set.",
    "tz": "IANA zone: calendar days in that zone instead of rolling 24-hour days.",
    "name": "Key in the results; derived from the kind and the window (or the column) when not "
    "set.",
    "cap": "Fixed cap on each unit's value (winsorisation).",
    "cap_quantile": "Cap each unit's value at this quantile (between 0 and 1) of the analysed "
    "units' values, both arms pooled; not together with cap.",
    "column": "Per-unit column of the units table.",
    "covariate": "Per-unit pre-period column the lift is CUPED-adjusted for (nulls count as 0).",
    "numerator": "A metric (a one-key mapping such as {events: {days: [1, 7]}}) or a column name.",
    "denominator": "A metric or a column name, like numerator.",
    "of": "The per-unit value: value (sum of the events' value), events (number of events) or "
    "active_days (distinct active days) in the window.",
    "q": "The quantile, strictly between 0 and 1 (0.5: the median).",
    "higher_is_better": "Whether a higher value is good (false for e.g. churn or latency); "
    "colours and verdicts follow it.",
}

#: examples of each metric kind, in the spec's YAML form (the first one's definition is shown)
EXAMPLES: dict[str, list[Any]] = {
    "retention": [
        {"retention": {"day": 7}},
        {"retention": {"days": [7, 13]}},
        {"retention": {"on_or_after": 7, "horizon": 30}},
        {"retention": {"day": 1, "event": ["open", "purchase"], "tz": "Asia/Shanghai"}},
    ],
    "active_days": [{"active_days": {"days": [1, 7]}}],
    "events": [{"events": {"days": [0, 6], "event": "purchase", "cap_quantile": 0.99}}],
    "revenue": [{"revenue": {"days": [0, 29], "cap": 500}}],
    "proportion": [{"proportion": "retention_7"}, {"proportion": {"column": "converted"}}],
    "mean": [{"mean": {"column": "sum_game_rounds", "covariate": "rounds_before"}}],
    "ratio": [
        {"ratio": {"numerator": {"events": {"days": [1, 7]}}, "denominator": "sessions"}},
        {"ratio": {"numerator": "revenue", "denominator": "orders", "name": "order_value"}},
    ],
    "quantile": [{"quantile": {"of": "value", "q": 0.5, "days": [0, 6]}}],
    "column_quantile": [{"column_quantile": {"column": "revenue", "q": 0.9}}],
}

#: notes on one kind beyond its arguments
NOTES = {
    "retention": "Give exactly one of `day`, `days` or `on_or_after` (with `horizon`).",
    "ratio": "A unit counts once both parts are mature; units with a null part are left out. "
    "The parts use rolling days (no `tz`).",
    "quantile": "Compared by the q-quantile per arm (units without a qualifying event count as "
    "0) with an order-statistic interval; see docs/metrics.md.",
    "column_quantile": "The q-quantile of a per-unit column (nulls left out); see docs/metrics.md.",
}

#: words for the metric dataclasses' annotations (they are strings under postponed evaluation)
METRIC_TYPES = {
    "int | None": "whole number",
    "tuple[int, int] | None": "[first, last]",
    "tuple[int, int]": "[first, last]",
    "str | Sequence[str] | None": "text or list of text",
    "str | None": "text",
    "str": "text",
    "float | None": "number",
    "float": "number",
    "bool": "true or false",
    "Metric | str": "metric or column name",
}

SCALARS = {
    str: "text",
    int: "whole number",
    float: "number",
    bool: "true or false",
    date: "date (YYYY-MM-DD)",
}
BOUNDS = {Ge: (">=", "ge"), Gt: (">", "gt"), Le: ("<=", "le"), Lt: ("<", "lt")}


def type_words(t: Any) -> str:
    """A field type in YAML words: ``list of text``, ``one of `day`, `week` ``, ``[text, …]``."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if t == MetricItem:
        return "metric (see [Metrics](#metrics))"
    if origin in (typing.Union, types.UnionType):
        words = " or ".join(type_words(a) for a in args if a is not type(None))
        return words + (" or null" if type(None) in args else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{_flow(a)}`" for a in args)
    if origin is list:
        return f"list of {type_words(args[0])}"
    if origin is dict:
        return f"mapping of {type_words(args[0])} to {type_words(args[1])}"
    if origin is tuple:
        return "[" + ", ".join(type_words(a) for a in args) + "]"
    if isinstance(t, type) and issubclass(t, BaseModel):
        key = next(k for k, model, _ in SECTIONS if model is t)
        return f"mapping (see [{key}](#{key}))"
    if t in SCALARS:
        return SCALARS[t]
    raise ValueError(f"no words for the type {t!r}; add them to {Path(__file__).name}")


def constraint_words(info: FieldInfo) -> str:
    out = []
    for m in info.metadata:
        if type(m) in BOUNDS:
            sign, attr = BOUNDS[type(m)]
            out.append(f"{sign} {_flow(getattr(m, attr))}")
        elif isinstance(m, MinLen):
            out.append(f"at least {m.min_length} character" + ("s" if m.min_length > 1 else ""))
        elif type(m).__name__ != "Strict":
            raise ValueError(
                f"no words for the constraint {m!r}; add them to {Path(__file__).name}"
            )
    return f" ({', '.join(out)})" if out else ""


def default_words(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "the defaults below"
    return "not set" if value is None else f"`{_flow(value)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def field_docs(model: type[BaseModel]) -> dict[str, str]:
    """The string literal under each field of ``model`` in its source (its description)."""
    tree = ast.parse(Path(inspect.getfile(model)).read_text(encoding="utf-8"))
    node = next(
        n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == model.__name__
    )
    docs = {}
    for field, doc in itertools.pairwise(node.body):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(doc, ast.Expr)
            and isinstance(doc.value, ast.Constant)
            and isinstance(doc.value.value, str)
        ):
            docs[field.target.id] = inspect.cleandoc(doc.value.value)
    return docs


def model_table(model: type[BaseModel]) -> list[str]:
    rows = ["| key | type | default | description | example |", "|---|---|---|---|---|"]
    docs = field_docs(model)
    for key, info in model.model_fields.items():
        description = info.description or docs.get(key)
        if not description or not info.examples:
            raise ValueError(
                f"{model.__name__}.{key} needs a description (a string under the field) and examples=[…]"
            )
        example = " or ".join(f"`{key}: {_flow(x)}`" for x in info.examples)
        kind = type_words(info.annotation) + constraint_words(info)
        rows.append(
            f"| `{key}` | {_cell(kind)} | {default_words(info)} | {_cell(description)} "
            f"| {example} |"
        )
    return rows


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "").split("\n\n")[0]
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text).replace("``", "`")
    text = re.sub(r"`(\w+)=\(([^()]*)\)`", r"`\1: [\2]`", text)  # days=(a, b) -> days: [a, b]
    return " ".join(text.split())


def metric_section(kind: str, cls: type[Metric]) -> list[str]:
    if kind not in EXAMPLES:
        raise ValueError(f"metric kind {kind!r} needs examples in {Path(__file__).name}")
    fields = [f for f in dataclasses.fields(typing.cast(Any, cls)) if f.init]
    about = f"{_first_paragraph(cls.__doc__)} In Python: `abkit.{cls.__name__}`."
    lines = [f"### `{kind}`", "", about, ""]
    if kind in NOTES:
        lines += [NOTES[kind], ""]
    if "column" in [f.name for f in fields]:
        lines += [f"Short form: `{{{kind}: column_name}}`.", ""]
    lines += ["| argument | type | default | description |", "|---|---|---|---|"]
    for f in fields:
        if f.name.startswith("_"):
            continue
        words = METRIC_TYPES.get(str(f.type))
        about = ARGUMENTS.get(f"{kind}.{f.name}") or ARGUMENTS.get(f.name)
        if words is None or about is None:
            raise ValueError(
                f"{cls.__name__}.{f.name}: add its type {f.type!r} to METRIC_TYPES and a "
                f"description to ARGUMENTS in {Path(__file__).name}"
            )
        if f.default is not dataclasses.MISSING:
            default = "not set" if f.default in (None, "") else f"`{_flow(f.default)}`"
        else:
            default = "**required**"
        lines.append(f"| `{f.name}` | {words} | {default} | {_cell(about)} |")
    lines += ["", "Examples:", ""]
    for i, example in enumerate(EXAMPLES[kind]):
        m = metric_from_spec(example)
        lines.append(f"- `{_flow(example)}` → metric `{m.name}`")
        if i == 0:
            lines.append(f"  ({_cell(m.definition)})")
    return [*lines, ""]


def full_example() -> str:
    """A spec with every key, from the fields' first examples (it must load)."""
    spec = {k: info.examples[0] for k, info in ExperimentSpec.model_fields.items()}
    load_spec(spec)
    text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, allow_unicode=True)
    return text.rstrip("\n")


def reference_markdown() -> str:
    """The text of docs/spec.md."""
    for example in (x for xs in EXAMPLES.values() for x in xs):
        kind = next(iter(example))
        if kind not in _REGISTRY:
            raise ValueError(f"example of unknown metric kind {kind!r}")
    required = [k for k, info in ExperimentSpec.model_fields.items() if info.is_required()]
    lines = [
        "# Experiment spec reference",
        "",
        "<!-- Generated by scripts/spec_reference.py from abkit/spec/model.py and abkit/metrics/; "
        "do not edit by hand. -->",
        "",
        "An experiment spec is a YAML file that describes one experiment for assignment, "
        "analysis and reporting (`abkit assign`, `abkit analyze`, `abkit report`; in Python "
        "`abkit.load_spec(path)` and `abkit.Experiment.from_spec(path)`). Only "
        + " and ".join(f"`{k}`" for k in required)
        + " are required:",
        "",
        "```yaml",
        "name: onboarding-v2",
        "control: control",
        "variants: [control, treatment]",
        "metrics:",
        "  - retention: {day: 1}",
        "  - retention: {day: 7}",
        "```",
        "",
        "A wrong key is reported at its place in the file, in the file's words, e.g. "
        "`segment: unknown key; did you mean 'segments'?` or "
        "`metrics[2].ratio: unknown key 'num'; did you mean 'numerator'?`.",
        "",
        "## Top-level keys",
        "",
        *model_table(ExperimentSpec),
        "",
    ]
    for key, model, title in SECTIONS:
        lines += [f'<a id="{key}"></a>', "", f"## {title}", ""]
        lines += [_first_paragraph(model.__doc__), "", *model_table(model), ""]
    lines += [
        "## Metrics",
        "",
        "Each entry of `metrics:` is a one-key mapping, `kind: {argument: value, …}`. The kinds:",
        "",
    ]
    for kind, cls in _REGISTRY.items():
        lines += metric_section(kind, cls)
    lines += [
        "## A spec with every key",
        "",
        "Each key's first example above, together (a check that they fit, not a recommendation):",
        "",
        "```yaml",
        full_example(),
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check docs/spec.md")
    args = parser.parse_args(argv)
    text = reference_markdown()
    current = PAGE.read_text(encoding="utf-8") if PAGE.is_file() else ""
    if args.check:
        if current != text:
            print(f"{PAGE} is out of date; run: python scripts/spec_reference.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        PAGE.write_text(text, encoding="utf-8")
        print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
