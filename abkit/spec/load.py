"""Reading a spec: a YAML path, a dict of the YAML form, or an :class:`ExperimentSpec`."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from abkit.errors import SpecError
from abkit.spec.model import ExperimentSpec
from abkit.spec.words import format_validation_error

__all__ = ["MAX_SPEC_BYTES", "MAX_SPEC_VALUES", "load_spec", "read_yaml"]

#: a spec is a page of YAML; anything near these sizes is a mistake or an attack
MAX_SPEC_BYTES = 1_000_000
#: values a spec may hold once its aliases (``*name``) are expanded (a "billion laughs" bound)
MAX_SPEC_VALUES = 100_000


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
            raise SpecError(
                f"spec file {path} does not exist"
                if not path.exists()
                else f"spec file {path} is not a regular file; give the path of a YAML file"
            )
        data = read_yaml(path)
        if not isinstance(data, dict):
            raise SpecError(f"spec file {path} must hold a mapping (name:, control:, …)")
        source = data
    if not isinstance(source, Mapping):
        raise SpecError(f"expected a spec, a dict or a YAML path, got {type(source).__name__}")
    try:
        return ExperimentSpec.model_validate(dict(source))
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, where, source, ExperimentSpec)) from None


def read_yaml(path: Path) -> Any:
    """A YAML file as Python values, refusing what would make a spec mean something else than
    it says or cost more than a spec can: a key given twice in one mapping (YAML would keep
    the last silently), aliases that expand to more than :data:`MAX_SPEC_VALUES` values or refer
    to themselves, text that is not UTF-8, a file over :data:`MAX_SPEC_BYTES`.

    Raises:
        SpecError: naming the file, the line and the fix.
    """
    import yaml

    if path.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(
            f"spec file {path} is {path.stat().st_size:,} bytes; a spec is at most "
            f"{MAX_SPEC_BYTES:,} bytes of YAML — is this the right file?"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(
            f"spec file {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
            "save it as UTF-8"
        ) from None

    class _Loader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Hashable, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *defaults` keys may be overridden: that is what merges do
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if isinstance(key, Hashable) and key in seen:
                    raise SpecError(
                        f"spec file {path}: key {key!r} is given twice in one mapping (lines "
                        f"{seen[key]} and {line}); YAML would silently keep the last one — "
                        "remove the one you do not mean"
                    )
                if isinstance(key, Hashable):
                    seen[key] = line
            return super().construct_mapping(node, deep=deep)

    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, path)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise SpecError(f"spec file {path} is not valid YAML: {exc}") from None
    except RecursionError:
        raise SpecError(
            f"spec file {path} nests its values too deeply to be a spec; is this the right file?"
        ) from None
    finally:
        loader.dispose()


def _check_expansion(root: Any, path: Path) -> None:
    """Refuse a node graph whose aliases expand to more than MAX_SPEC_VALUES values, or loop."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise SpecError(
                f"spec file {path}: an alias refers to the value that contains it (line "
                f"{node.start_mark.line + 1}); a spec cannot be recursive"
            )
        open_.add(key)
        n = 1
        if isinstance(node.value, list):
            for item in node.value:
                parts = item if isinstance(item, tuple) else (item,)
                n += sum(size(p) for p in parts)
                if n > MAX_SPEC_VALUES:
                    break
        open_.discard(key)
        sizes[key] = n
        if n > MAX_SPEC_VALUES:
            raise SpecError(
                f"spec file {path}: its aliases (*name) expand to more than {MAX_SPEC_VALUES:,} "
                "values; write the values out, or use fewer nested aliases"
            )
        return n

    size(root)
