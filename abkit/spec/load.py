"""Reading a spec: a YAML path, a dict of the YAML form, or an :class:`ExperimentSpec`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from abkit.errors import SpecError
from abkit.spec.model import ExperimentSpec
from abkit.spec.words import format_validation_error

__all__ = ["load_spec"]


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
        raise SpecError(format_validation_error(exc, where, source, ExperimentSpec)) from None
