"""The `abkit` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abkit.cli import main


def test_demo_writes_a_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--n-units", "4000"]) == 0
    for name in ("report.html", "report.ipynb", "summary.json", "spec.yaml"):
        assert (out / name).is_file()
    doc = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert doc["experiment"] == "onboarding-demo" and doc["status"] == "ok"
    assert {c["metric"] for c in doc["results"]["comparisons"]} >= {
        "retention_d1",
        "retention_d7",
        "retention_d30",
    }
    assert "report.html" in capsys.readouterr().out


def test_simulate_and_version(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path), "--n-units", "200"]) == 0
    assert (tmp_path / "exposures.parquet").is_file() and (tmp_path / "events.parquet").is_file()
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and "abkit" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_assign_command(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: onb\ncontrol: control\nvariants: [control, treatment]\n", encoding="utf-8"
    )
    units = tmp_path / "units.csv"
    units.write_text(
        "unit_id\n" + "\n".join(f"user_{i}" for i in range(1000)) + "\n", encoding="utf-8"
    )
    out = tmp_path / "assignments.csv"
    assert main(["assign", str(spec), str(units), "--out", str(out)]) == 0
    import pandas as pd

    from abkit.assign import hash_unit

    df = pd.read_csv(out, dtype=str)
    assert len(df) == 1000 and set(df.variant) == {"control", "treatment"}
    # GrowthBook v2 hashing with equal weights: hash < 0.5 -> control
    row = df.iloc[0]
    expected = "control" if hash_unit("onb", row.unit_id) < 0.5 else "treatment"
    assert row.variant == expected
    assert "1,000 assignments" in capsys.readouterr().out


def test_analyze_command_matches_the_python_api(tmp_path, capsys):
    import jsonschema

    import abkit as ab
    from abkit.report import build_summary

    assert main(["simulate", "--out", str(tmp_path), "--n-units", "3000", "--seed", "3"]) == 0
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: onb\ncontrol: control\nvariants: [control, treatment]\nsegments: [channel]\n"
        "metrics:\n  - retention: {day: 1}\n  - events: {days: [0, 6], cap_quantile: 0.95}\n"
        "guardrails:\n  - {metric: retention_d1, margin: 0.5, relative: true}\n"
        "data: {exposures: exposures.parquet, events: events.parquet}\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    summary_path = tmp_path / "out" / "summary.json"
    code = main(["analyze", str(spec), "--format", "json", "--json", str(summary_path)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads(summary_path.read_text(encoding="utf-8"))
    assert printed == written
    schema = json.loads(
        (Path(ab.__file__).parent / "schemas" / "summary-v1.json").read_text(encoding="utf-8")
    )
    jsonschema.validate(written, schema)
    # the same numbers as the Python API on the same files
    res = ab.Experiment.from_spec(ab.load_spec(spec)).analyze(
        exposures=tmp_path / "exposures.parquet", events=tmp_path / "events.parquet"
    )
    expected = json.loads(json.dumps(build_summary(res), allow_nan=False))
    assert written["results"]["comparisons"] == expected["results"]["comparisons"]
    assert written["results"]["metrics"][1]["cap"] == res.metrics[1].cap is not None

    assert main(["analyze", str(spec)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Experiment 'onb'") and "Day-1 retention" in text
    assert main(["analyze", str(spec), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("metric,") and len(lines) == 3


def test_analyze_command_exit_codes(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path), "--n-units", "2000"]) == 0
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: onb\ncontrol: control\nvariants: {control: 0.9, treatment: 0.1}\n"
        "metrics:\n  - retention: {day: 1}\n",
        encoding="utf-8",
    )
    args = ["analyze", str(spec), "--exposures", str(tmp_path / "exposures.parquet")]
    args += ["--events", str(tmp_path / "events.parquet")]
    assert main(args) == 4  # planned 90/10, observed 50/50: sample ratio mismatch blocks
    assert "BLOCKED" in capsys.readouterr().err
    assert main(["analyze", str(spec)]) == 2  # no data given and none in the spec
    assert "no data" in capsys.readouterr().err
    assert main([*args[:2], "--units", str(tmp_path / "missing.csv")]) == 2
    design = ["--baseline", "0.2", "--mde", "0.05", "--daily-units", "1000", "--out"]
    assert main(["power", *design, str(tmp_path / "design")]) == 0  # alias of design
