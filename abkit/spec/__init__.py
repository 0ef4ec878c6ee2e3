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

from abkit.spec.load import load_spec
from abkit.spec.model import (
    STANDARD_COLUMNS,
    DataSources,
    DesignSpec,
    ExperimentSpec,
    GuardrailSpec,
    ReportOptions,
)

__all__ = [
    "STANDARD_COLUMNS",
    "DataSources",
    "DesignSpec",
    "ExperimentSpec",
    "GuardrailSpec",
    "ReportOptions",
    "load_spec",
]
