"""Experiment specs: the YAML form, errors in YAML words at the wrong key, the generated reference."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from abkit import Experiment, Retention
from abkit.errors import SpecError
from abkit.metrics import _REGISTRY
from abkit.spec import DataSources, ExperimentSpec, GuardrailSpec, ReportOptions, load_spec

ISSUE_FORM = """\
name: onboarding-v2            # experiment key; also the assignment seed
control: control
variants: [control, treatment] # or a mapping of variant -> planned weight
metrics:
  - retention: {day: 1}
  - retention: {day: 7}
  - retention: {day: 30}
"""


def test_the_documented_yaml_form_loads(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(ISSUE_FORM, encoding="utf-8")
    spec = load_spec(path)
    assert spec.name == "onboarding-v2" and spec.hash_seed == "onboarding-v2"
    assert spec.variant_names == ("control", "treatment") and spec.weights == (0.5, 0.5)
    assert [m.name for m in spec.build_metrics()] == [
        "retention_d1",
        "retention_d7",
        "retention_d30",
    ]
    exp = Experiment.from_spec(path)
    assert exp.weights == {"control": 0.5, "treatment": 0.5}


def test_weight_mapping_and_bom(tmp_path):
    path = tmp_path / "spec.yaml"
    text = ISSUE_FORM.replace("[control, treatment]", "{control: 0.25, treatment: 0.75}")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_spec(path).weights == (0.25, 0.75)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"control": "ctrl"}, r"- control: 'ctrl' is not one of the variants"),
        ({"variants": ["a"]}, r"- variants: needs at least 2 variants"),
        ({"variants": ["a", "a"]}, r"- variants: duplicate variant names \[a\]"),
        ({"variants": {"control": 0.6, "treatment": 0.6}}, r"- variants: weights sum to 1\.2"),
        ({"variants": {"control": -0.5, "treatment": 1.5}}, r"not in \[0, 1\]"),
        ({"coverage": 1.5}, r"- coverage: must be a fraction"),
        ({"alpha": 0}, r"- alpha: must be in \(0, 1\)"),
        ({"alternative": "bigger"}, r"- alternative: expected one of 'two-sided'"),
        ({"metrics": [{"retention": {"week": 1}}]}, r"retention: unknown key 'week'; allowed arg"),
        ({"metrics": [{"retentoin": {"day": 1}}]}, r"unknown metric kind 'retentoin'"),
        ({"metrics": [{"retention": {"day": -1}}]}, r"whole number of days from 0 to 3650"),
        (
            {"metrics": [{"retention": {"day": 1}}, {"retention": {"day": 1}}]},
            r"- metrics: .*unique",
        ),
        ({"metrics": [{"retention": {"on_or_after": 7}}]}, r"retention: needs \{horizon: H\}"),
        ({"columns": {"user": "uid"}}, r"- columns\.user: unknown key; the keys are abkit's"),
        ({"namespace": ["ns", 0.5, 0.5]}, r"- namespace: namespace range"),
        ({"typo_key": 1}, r"- typo_key: unknown key; the keys here are name, control"),
        ({"primary_metric": "d7"}, r"- primary_metric: 'd7' is not one of the metrics"),
    ],
)
def test_bad_specs_name_the_problem(change, message):
    base = {
        "name": "x",
        "control": "control",
        "variants": ["control", "treatment"],
        "metrics": [{"retention": {"day": 1}}],
    }
    with pytest.raises(SpecError, match=message):
        load_spec({**base, **change})


def test_file_problems(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    bad.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(SpecError, match="must hold a mapping"):
        load_spec(bad)
    with pytest.raises(SpecError, match="expected a spec"):
        load_spec(42)  # type: ignore[arg-type]


def test_spec_without_metrics_cannot_be_analysed():
    with pytest.raises(SpecError, match="lists no metrics"):
        Experiment.from_spec({"name": "x", "control": "a", "variants": ["a", "b"]})


def test_python_metric_objects_are_accepted():
    spec = load_spec(
        {"name": "x", "control": "a", "variants": ["a", "b"], "metrics": [Retention(days=(7, 13))]}
    )
    assert spec.build_metrics()[0].name == "retention_d7_13"


# --------------------------------------------------------------------------- errors in YAML words

BASE = {
    "name": "x",
    "control": "control",
    "variants": ["control", "treatment"],
    "metrics": [{"retention": {"day": 1}}, {"retention": {"day": 7}}],
}


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            {"metrics": [*BASE["metrics"], {"ratio": {"num": "a", "denominator": "b"}}]},
            "metrics[2].ratio: unknown key 'num'; did you mean 'numerator'?",
        ),
        ({"segment": ["channel"]}, "segment: unknown key; did you mean 'segments'?"),
        (
            {"variants": "control"},
            "variants: expected a list like [control, treatment] or a mapping like "
            "{control: 0.5, treatment: 0.5}, got 'control'",
        ),
        (
            {"variants": {"control": "half", "treatment": 0.5}},
            "variants.control: expected a number",
        ),
        (
            {"report": {"curve_dayz": 14}},
            "report.curve_dayz: unknown key; did you mean 'curve_days'?",
        ),
        (
            {"report": {"cohort_period": "wek"}},
            "report.cohort_period: expected one of 'day' or 'week', got 'wek'; did you mean 'week'?",
        ),
        (
            {"data": {"exposure": "e.parquet"}},
            "data.exposure: unknown key; did you mean 'exposures'?",
        ),
        (
            {"guardrails": [{"metric": "retention_d1", "margin": -1}]},
            "guardrails[0].margin: expected a number > 0, got -1",
        ),
        (
            {"guardrails": [{"metric": "retention_d2", "margin": 0.1}]},
            "guardrails[0].metric: 'retention_d2' is not one of the metrics "
            "[retention_d1, retention_d7]; did you mean 'retention_d7'?",
        ),
        (
            {"cuped": "14"},
            "cuped: expected a whole number, got '14' (text: write the number without quotes)",
        ),
        (
            {"namespace": ["ns", 0.5]},
            "namespace: expected a list like [onboarding, 0, 0.5], got [ns, 0.5]",
        ),
        ({"columns": {"unitid": "uid"}}, "columns.unitid: unknown key; did you mean 'unit_id'?"),
        (
            {"control": "Control"},
            "control: 'Control' is not one of the variants [control, treatment]; did you mean 'control'?",
        ),
        (
            {"primary_metric": "retention_d3"},
            "primary_metric: 'retention_d3' is not one of the metrics",
        ),
        (
            {"metrics": [{"retentoin": {"day": 1}}]},
            "metrics[0]: unknown metric kind 'retentoin'; did you mean 'retention'?",
        ),
        (
            {"metrics": [{"ratio": {"numerator": "a"}}]},
            "metrics[0].ratio: missing key 'denominator'",
        ),
        (
            {"metrics": [{"active_days": {"days": 7}}]},
            "metrics[0].active_days.days: expected [first, last] such as [1, 7], got 7",
        ),
        (
            {
                "metrics": [
                    {"ratio": {"numerator": {"events": {"dayz": [1, 7]}}, "denominator": "b"}}
                ]
            },
            "metrics[0].ratio.numerator.events: unknown key 'dayz'; did you mean 'days'?",
        ),
        (
            {"metrics": [{"retention": {"days": [7, 3]}}]},
            "metrics[0].retention: {days: [7, 3]}: the first day must not be after the last",
        ),
        (
            {"metrics": [{"retention": {"on_or_after": 7}}]},
            "metrics[0].retention: needs {horizon: H}",
        ),
        ({"name": None}, "name: expected text, got null"),
    ],
)
def test_errors_are_in_yaml_words_at_the_wrong_key(change, line):
    with pytest.raises(SpecError) as info:
        load_spec({**BASE, **change})
    assert f"\n  - {line}" in str(info.value)
    assert "Input should" not in str(info.value) and "__init__" not in str(info.value)


def test_a_missing_key_is_named_with_an_example(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("name: x\nvariants: [a, b]\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value) == (
        f"invalid experiment spec {path}:\n  - control: missing; this key is required, e.g. "
        "control: control"
    )


def test_every_problem_is_listed_once():
    with pytest.raises(SpecError) as info:
        load_spec(
            {**BASE, "segment": ["c"], "alpha": 2, "metrics": [{"ratio": {"num": 1, "den": 2}}]}
        )
    lines = str(info.value).splitlines()[1:]
    assert lines == [
        "  - metrics[0].ratio: unknown key 'num'; did you mean 'numerator'?",
        "  - metrics[0].ratio: unknown key 'den'; did you mean 'denominator'?",
        "  - alpha: must be in (0, 1), e.g. 0.05; got 2",
        "  - segment: unknown key; did you mean 'segments'?",
    ]


# --------------------------------------------------------------------------- docs/spec.md

ROOT = Path(__file__).resolve().parents[1]


def _reference():
    spec = importlib.util.spec_from_file_location(
        "spec_reference", ROOT / "scripts" / "spec_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_spec_md_is_generated_from_the_model():
    text = _reference().reference_markdown()
    committed = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    assert committed == text, "docs/spec.md is out of date: run python scripts/spec_reference.py"
    for key in ExperimentSpec.model_fields:
        assert f"| `{key}` |" in text
    for kind in _REGISTRY:
        assert f"### `{kind}`" in text
    assert "| `numerator` | metric or column name | **required** |" in text


def test_the_reference_refuses_an_undocumented_key():
    from pydantic import BaseModel

    class Undocumented(BaseModel):
        days: int = 3

    with pytest.raises(ValueError, match="needs a description"):
        _reference().model_table(Undocumented)


def test_every_example_of_the_reference_loads():
    for key, info in ExperimentSpec.model_fields.items():
        for example in info.examples:
            load_spec({**BASE, key: example})
    for key, info in ReportOptions.model_fields.items():
        for example in info.examples:
            load_spec({**BASE, "report": {key: example}})
    for key, info in DataSources.model_fields.items():
        for example in info.examples:
            load_spec(
                {
                    **BASE,
                    "data": {key: example} if key == "units" else {"exposures": "e", key: example},
                }
            )
    for key, info in GuardrailSpec.model_fields.items():
        for example in info.examples:
            load_spec(
                {**BASE, "guardrails": [{"metric": "retention_d1", "margin": 0.1, key: example}]}
            )
