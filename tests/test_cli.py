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
