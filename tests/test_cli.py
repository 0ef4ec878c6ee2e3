"""The `abkit` command."""

from __future__ import annotations

import argparse
import json
import math
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
    # the simulation's true effects beside the estimates (spec report.truth -> data/truth.csv)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Estimates beside the simulation" in html and "interval covers the truth" in html
    assert "<td>Day-7 retention</td><td>treatment</td>" in html


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
        (Path(ab.__file__).parent / "schemas" / "summary-v4.json").read_text(encoding="utf-8")
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
    capsys.readouterr()
    assert main(["power", *design, str(tmp_path / "design")]) == 0  # alias of design
    # the key numbers are printed, not only written into design.html
    from abkit.design import plan_retention_test

    plan = plan_retention_test(0.2, 0.05, daily_units=1000).result
    n_c, n_t = math.ceil(plan.nobs_control), math.ceil(plan.nobs_treatment)
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0] == f"units per arm: {n_c:,} in control, {n_t:,} in treatment ({n_c + n_t:,} in all)"
    )
    assert out[1].startswith(f"days needed: {plan.duration_days} ({plan.enrollment_days} days of ")
    assert out[2] == f"design: {(tmp_path / 'design' / 'design.html').resolve()}"
    # the library says force=True; the command says --force
    assert main(["design", *design, str(tmp_path / "design")]) == 2
    err = capsys.readouterr().err
    assert "pass --force to overwrite it" in err and "force=True" not in err


COMMANDS = ["demo", "simulate", "report", "analyze", "design", "assign"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_lists_examples_and_exit_codes(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"] if command else ["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    examples = text.split("examples:\n", 1)[1].split("\n\n", 1)[0]
    assert examples.strip().startswith("abkit ") and (command or "") in examples
    codes = text.split("exit codes:\n", 1)[1]
    assert "  0  " in codes and "  2  bad input" in codes
    if command in (None, "report", "analyze"):
        assert "  4  a blocking trust finding" in codes
        assert "  5  with --fail-on guardrail: a guardrail metric is breached" in codes
    if command in (None, "report", "demo", "design"):
        assert "  3  the notebook failed" in codes


def test_exit_code_texts_are_the_report_exit_codes():
    from abkit.cli import EXIT_CODES
    from abkit.report import exit_codes as codes

    assert set(EXIT_CODES) == {
        codes.EXIT_OK,
        codes.EXIT_INPUT,
        codes.EXIT_FAILED,
        codes.EXIT_BLOCKED,
        codes.EXIT_GUARDRAIL,
    }
    assert "blocking" in EXIT_CODES[codes.EXIT_BLOCKED]
    assert "--fail-on guardrail" in EXIT_CODES[codes.EXIT_GUARDRAIL]


def test_every_option_has_help():
    from abkit.cli import build_parser

    def walk(parser, where):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{where} {name}")
            else:
                yield where, action

    missing = [
        f"{where}: {action.option_strings or action.dest}"
        for where, action in walk(build_parser(), "abkit")
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert not missing


def _simulated(tmp_path, capsys, guardrails=""):
    assert main(["simulate", "--out", str(tmp_path), "--n-units", "3000", "--seed", "3"]) == 0
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: onb\ncontrol: control\nvariants: [control, treatment]\n"
        "metrics:\n  - retention: {day: 1}\n  - events: {days: [0, 6]}\n" + guardrails,
        encoding="utf-8",
    )
    capsys.readouterr()
    return spec, tmp_path / "exposures.parquet", tmp_path / "events.parquet"


def test_analyze_text_prints_one_line_per_guardrail(tmp_path, capsys):
    import abkit as ab

    spec, exposures, events = _simulated(
        tmp_path,
        capsys,
        "guardrails:\n  - {metric: retention_d1, margin: 0.5, relative: true}\n"
        "  - {metric: retention_d1, margin: 0.00001, higher_is_better: false}\n"
        "  - {metric: events_d0_6, margin: 0.1}\n",
    )
    args = ["analyze", str(spec), "--exposures", str(exposures), "--events", str(events)]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    res = ab.Experiment.from_spec(ab.load_spec(spec)).analyze(exposures=exposures, events=events)
    verdicts = [f"- {v}" for v in res.verdicts()]
    assert lines[-4:-3] == verdicts[-1:]  # the guardrails follow the verdicts
    g = lines[-3:]
    assert len(res.guardrails) == 3 and all(x.startswith("guardrail ") for x in g)
    assert g[0].startswith("guardrail retention_d1, treatment vs control: margin 50% relative — ")
    assert g[1].startswith(
        "guardrail retention_d1, treatment vs control: margin 0.001 pp (lower is better) — "
    )
    assert g[2].startswith("guardrail events_d0_6, treatment vs control: margin 0.1 — ")
    for line, gr in zip(g, res.guardrails, strict=True):
        state = {True: "passed (", False: "BREACHED (", None: "no test"}[gr.passed]
        assert f" — {state}" in line
    assert "BREACHED (" in g[1]  # the treatment raises day-1 retention: "harm" when lower is better
    assert main(["analyze", str(spec), "--exposures", str(exposures), "--events", str(events),
                 "--fail-on", "guardrail"]) == 5  # fmt: skip


def test_errors_speak_the_command_line(tmp_path, capsys):
    import pandas as pd

    spec, exposures, events = _simulated(tmp_path, capsys)
    # swapped logs: the events log given as --exposures
    args = ["analyze", str(spec), "--exposures", str(events), "--events", str(exposures)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "are --exposures and --events swapped?" in err and "exposures=" not in err
    # a column under another name: map it in the spec, not with columns={...}
    renamed = tmp_path / "renamed.parquet"
    pd.read_parquet(exposures).rename(columns={"variant": "group"}).to_parquet(renamed)
    args = ["analyze", str(spec), "--exposures", str(renamed), "--events", str(events)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Map it in the spec under columns: (columns: {variant: group})" in err
    assert "columns={" not in err
    # a spec error, at its key and in YAML words
    spec.write_text(spec.read_text(encoding="utf-8") + "segment: [channel]\n", encoding="utf-8")
    assert main(["analyze", str(spec), "--exposures", str(exposures)]) == 2
    assert "segment: unknown key; did you mean 'segments'?" in capsys.readouterr().err


def test_cli_words_translate_the_library_advice():
    from abkit.cli import cli_words

    assert cli_words("out already holds a report; pass force=True (--force) to overwrite it") == (
        "out already holds a report; pass --force to overwrite it"
    )
    assert "pass --id-column to say" in cli_words("pass id_column= (CLI: --id-column) to say")
    assert "set tz: in the spec" in cli_words("has no time zone; set tz= on the Experiment")
    assert "Set tz: UTC in the spec" in cli_words("Pass tz='UTC' (or the zone, e.g. tz='Asia/X')")
    assert cli_words("metric_day must be a non-negative integer", "design") == (
        "--metric-day must be a non-negative integer"
    )
    assert cli_words("alpha must be a number in (0, 1), got 2; e.g. alpha=0.05.", "power") == (
        "--alpha must be a number in (0, 1), got 2; e.g. --alpha 0.05."
    )


def test_assign_keeps_the_id_column_name(tmp_path, capsys):
    import pandas as pd

    spec = tmp_path / "spec.yaml"
    spec.write_text("name: onb\ncontrol: control\nvariants: [control, treatment]\n")
    units = tmp_path / "users.csv"
    units.write_text("user_id,country\nu1,fr\nu2,de\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["assign", str(spec), str(units), "--id-column", "user_id", "--out", str(out)]) == 0
    df = pd.read_csv(out, dtype=str)
    assert list(df.columns) == ["user_id", "variant", "status"]
    assert df.user_id.tolist() == ["u1", "u2"]
