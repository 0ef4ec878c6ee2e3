"""Spec errors in the spec's own words, located at the key that is wrong.

``metrics[2].ratio: unknown key 'num'; did you mean 'numerator'?`` rather than pydantic's
``metrics.2.ratio.num: Extra inputs are not permitted``: values are written as YAML flow text,
types as words ("a whole number"), and every line starts with the key path it is about.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from abkit.errors import SpecError
from abkit.metrics import _REGISTRY, Metric, metric_from_spec

__all__ = [
    "closest",
    "did_you_mean",
    "flow",
    "format_validation_error",
    "got",
    "metric_in_words",
    "yaml_words",
]


def flow(value: Any) -> str:
    """A value as YAML flow text: ``[a, b]``, ``{a: 0.5}``, ``null``, ``true``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{flow(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return text if text else "''"


def got(value: Any, width: int = 80) -> str:
    """A value a user wrote, for ``got …``: text quoted, the rest as YAML; at most ``width``
    characters (a long value is cut with "…")."""
    text = repr(value) if isinstance(value, str) else flow(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def closest(word: Any, options: Sequence[Any]) -> str | None:
    """difflib's closest option to ``word``, else one that ``word`` abbreviates (num: numerator)."""
    w, names = str(word), [str(o) for o in options]
    close = difflib.get_close_matches(w, names, n=1)
    close = close or [n for n in names if len(w) >= 2 and n.startswith(w) and n != w][:1]
    return close[0] if close else None


def did_you_mean(word: Any, options: Sequence[Any]) -> str:
    """``; did you mean 'segments'?``, or nothing when no option is close."""
    close = closest(word, options)
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


def _walk(loc: Sequence[Any], root: type[BaseModel]) -> tuple[type[BaseModel] | None, Any, int]:
    """The model ``loc`` points into, the last field it names, and that field's position."""
    model: type[BaseModel] | None = root
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
        + f" like {flow(x)}"
        for x in examples
    )


def _at(loc: Sequence[Any], line: str) -> str:
    """``line`` located at ``loc``; a line that starts with a key continues the location."""
    where = _loc_text(loc)
    if not where:
        return line
    return f"{where}.{line}" if _KEY_PATH.match(line) else f"{where}: {line}"


def _problem(loc: tuple[Any, ...], e: Any, data: Any, root: type[BaseModel]) -> list[str]:
    """One pydantic error in the spec's words, located at its key."""
    kind, ctx, value = e["type"], e.get("ctx") or {}, e.get("input")
    _, info, at = _walk(loc, root)
    if kind == "value_error":
        return [_at(loc, line) for line in str(e["msg"]).removeprefix("Value error, ").splitlines()]
    if kind == "extra_forbidden":
        model = _walk(loc[:-1], root)[0]
        keys = list(model.model_fields) if model is not None else []
        hint = did_you_mean(loc[-1], keys) or f"; the keys here are {', '.join(keys)}"
        return [_at(loc, "unknown key" + hint)]
    shaped = info is not None and _model_of(info.annotation) is None
    forms = [info.annotation, *typing.get_args(info.annotation)] if info else []
    if shaped and at < len(loc) - 1 and any(typing.get_origin(a) is tuple for a in forms):
        # inside a fixed-shape value (namespace: [name, start, end]): say what the whole looks like
        whole = loc[: at + 1]
        return [_at(whole, f"expected {_like(info)}, got {got(_value_at(data, whole))}")]
    if kind == "missing":
        example = f", e.g. {loc[-1]}: {flow(info.examples[0])}" if info and info.examples else ""
        return [_at(loc, f"missing; this key is required{example}")]
    if kind == "string_too_short":
        return [_at(loc, "must not be empty")]
    if kind in _BOUNDS:
        expected = f"a number {_BOUNDS[kind]} {flow(next(iter(ctx.values()), None))}"
    elif kind == "literal_error":
        expected = f"one of {ctx.get('expected')}"
        if isinstance(value, str):
            options = re.findall(r"'([^']*)'", str(ctx.get("expected")))
            expected += f", got {value!r}{did_you_mean(value, options)}"
            return [_at(loc, "expected " + expected)]
    elif kind in _EXPECTED:
        expected = _EXPECTED[kind]
        if expected in ("a list", "a mapping") and at == len(loc) - 1 and _like(info):
            expected = _like(info)
    else:
        return [_at(loc, str(e["msg"]))]
    text = f"expected {expected}, got {got(value)}"
    number = r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*"
    if expected.startswith(("a number", "a whole")) and re.fullmatch(number, str(value)):
        text += " (text: write the number without quotes)" if isinstance(value, str) else ""
    return [_at(loc, text)]


def _union(
    head: tuple[Any, ...], branches: list[tuple[str, Any]], data: Any, root: type[BaseModel]
) -> list[str]:
    """The errors of a key that takes one of several forms (variants: a list or a mapping)."""
    value = _value_at(data, head)
    shape = "dict" if isinstance(value, Mapping) else "list" if isinstance(value, list) else "-"
    deeper = [e for tag, e in branches if tag.startswith(shape) and len(e["loc"]) > len(head) + 1]
    if deeper:
        return [
            p
            for e in deeper
            for p in _problem(head + tuple(e["loc"])[len(head) + 1 :], e, data, root)
        ]
    return [_at(head, f"expected {_like(_walk(head, root)[1])}, got {got(value)}")]


def metric_in_words(item: Any) -> Metric:
    """:func:`abkit.metrics.metric_from_spec`, with errors in the spec's words, one per line and
    each starting with the kind (and a ratio's part) it is about: ``ratio.numerator.events: …``."""
    if isinstance(item, Metric) or not (isinstance(item, Mapping) and len(item) == 1):
        return metric_from_spec(item)  # a Metric, or metric_from_spec's word on what a metric is
    ((kind, args),) = item.items()
    cls = _REGISTRY.get(str(kind))
    if cls is None:
        hint = did_you_mean(kind, list(_REGISTRY)) or f"; known kinds: {', '.join(_REGISTRY)}"
        raise SpecError(f"unknown metric kind {kind!r}{hint}")
    if isinstance(args, Mapping):
        fields = [f for f in dataclasses.fields(cast(Any, cls)) if f.init]
        names = [f.name for f in fields if not f.name.startswith("_")]
        meant = {k: closest(k, names) for k in args if k not in names}
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
            problems.append(f"{kind}.days: expected [first, last] such as [1, 7], got {got(days)}")
        if problems:
            raise SpecError("\n".join(problems))
        args = dict(args)
        for part in ("numerator", "denominator"):
            if isinstance(args.get(part), Mapping):
                try:
                    args[part] = metric_in_words(args[part])
                except SpecError as exc:
                    lines = str(exc).splitlines()
                    raise SpecError("\n".join(_at((kind, part), x) for x in lines)) from None
    elif not isinstance(args, str):
        raise SpecError(f"{kind}: expected a mapping of arguments, got {got(args)}")
    try:
        return metric_from_spec({kind: args})
    except SpecError as exc:
        raise SpecError(f"{kind}: {yaml_words(str(exc), cls.__name__)}") from None


def yaml_words(text: str, class_name: str) -> str:
    """A metric's message in the spec's words: ``days=(7, 3)`` -> ``{days: [7, 3]}``,
    ``day=N`` -> ``{day: N}``, ``horizon=`` -> ``horizon``; no leading ``Retention(…)``."""
    text = re.sub(r"\b(\w+)=\(([^()]*)\)", r"{\1: [\2]}", text)
    text = re.sub(r"\b(\w+)=(?=[\s,;.)]|$)", r"\1", text)
    text = re.sub(r"\b(\w+)=([^\s,;:()]+)", r"{\1: \2}", text)
    return re.sub(rf"^{class_name}(\([^()]*\))? ", "", text)


def format_validation_error(
    err: ValidationError, source: str, data: Any, root: type[BaseModel]
) -> str:
    """A pydantic error of ``root`` in the spec's words: one line per problem, at its key."""
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
            order += [("text", p) for p in _problem(loc, e, data, root)]
            continue
        head = loc[:tag]
        if head not in unions:
            unions[head] = []
            order.append(("union", head))
        unions[head].append((str(loc[tag]), e))
    for what, item in order:
        problems += [item] if what == "text" else _union(item, unions[item], data, root)
    lines += [f"  - {p}" for p in dict.fromkeys(problems)]
    return "\n".join(lines)
