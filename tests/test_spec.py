"""Experiment specs: the YAML form of the foundation issue, and clear errors for bad specs."""

from __future__ import annotations

import pytest

from abkit import Experiment, Retention
from abkit.errors import SpecError
from abkit.spec import load_spec

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
        ({"control": "ctrl"}, r"control 'ctrl' is not one of the variants"),
        ({"variants": ["a"]}, r"at least 2 variants"),
        ({"variants": ["a", "a"]}, r"duplicate variant names \['a'\]"),
        ({"variants": {"control": 0.6, "treatment": 0.6}}, r"weights sum to 1\.2"),
        ({"variants": {"control": -0.5, "treatment": 1.5}}, r"not in \[0, 1\]"),
        ({"coverage": 1.5}, r"coverage: must be a fraction"),
        ({"alpha": 0}, r"alpha must be in"),
        ({"alternative": "bigger"}, r"alternative"),
        ({"metrics": [{"retention": {"week": 1}}]}, r"allowed arguments"),
        ({"metrics": [{"retentoin": {"day": 1}}]}, r"unknown metric kind 'retentoin'"),
        ({"metrics": [{"retention": {"day": -1}}]}, r"non-negative integer"),
        ({"metrics": [{"retention": {"day": 1}}, {"retention": {"day": 1}}]}, r"unique"),
        ({"metrics": [{"retention": {"on_or_after": 7}}]}, r"needs horizon"),
        ({"columns": {"user": "uid"}}, r"unknown keys \['user'\]"),
        ({"namespace": ["ns", 0.5, 0.5]}, r"namespace range"),
        ({"typo_key": 1}, r"typo_key"),
        ({"primary_metric": "d7"}, r"primary_metric 'd7'"),
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
