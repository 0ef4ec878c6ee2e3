"""The `abkit` command."""

from __future__ import annotations

import json

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
