"""One answer everywhere: every surface shows the same decision per comparison.

The two cases of the issue that found the defect, built from ``abkit simulate --n-units 4000
--seed 11`` and the README's three-metric spec (D1, D7, D30):

* D7 has raw p = 0.0228 and Holm-adjusted p = 0.0685 across the three metrics: "no significant
  difference" everywhere (before, the CLI text, ``summary.json`` and the table's bold rows said
  significant);
* with planned weights 0.6 / 0.4 the sample ratio mismatch blocks every verdict: "withheld: srm"
  everywhere, ``significant`` false, exit code 4.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

import abkit as ab
from abkit.cli import main
from abkit.report import build_summary

SPEC = """name: onboarding-v2
control: control
variants: {variants}
metrics:
  - retention: {{day: 1}}
  - retention: {{day: 7}}
  - retention: {{day: 30}}
"""
CASES = {
    "holm": ("[control, treatment]", "no significant difference", 0),
    "srm": ("{control: 0.6, treatment: 0.4}", "withheld: srm", 4),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "--out", str(out), "--n-units", "4000", "--seed", "11"]) == 0
    return out


def _spec(tmp_path: Path, case: str) -> Path:
    p = tmp_path / f"{case}.yaml"
    p.write_text(SPEC.format(variants=CASES[case][0]), encoding="utf-8")
    return p


def _result(data: Path, spec: Path) -> ab.ExperimentResult:
    return ab.Experiment.from_spec(str(spec)).analyze(
        exposures=data / "exposures.parquet", events=data / "events.parquet"
    )


def test_holm_decides_d7_as_statsmodels_does(data, tmp_path):
    res = _result(data, _spec(tmp_path, "holm"))
    table = res.adjusted_pvalues()
    assert list(table.columns) == [
        "metric", "variant", "pvalue", "pvalue_adjusted", "correction", "decision",
    ]  # fmt: skip
    # reference: statsmodels' Holm on the same three raw p-values
    _, want, _, _ = multipletests(table.pvalue.to_numpy(), method="holm")
    assert table.pvalue_adjusted.to_numpy() == pytest.approx(want, rel=1e-12)
    d7 = table.set_index("metric").loc["retention_d7"]
    assert round(d7.pvalue, 4) == 0.0228 and round(d7.pvalue_adjusted, 4) == 0.0685
    assert d7.decision == "no significant difference" and d7.correction == "holm"


@pytest.mark.parametrize("case", list(CASES))
def test_every_surface_shows_the_same_decision(case, data, tmp_path, capsys):
    spec = _spec(tmp_path, case)
    _, d7_decision, exit_code = CASES[case]
    res = _result(data, spec)
    d7 = next(mc for mc in res.comparisons if mc.metric == "retention_d7")
    assert d7.decision == d7_decision and not d7.significant
    assert d7.significant_raw  # raw p = 0.0228 < 0.05: kept under a name that says so

    # the result in a notebook
    row = res.to_pandas().set_index("metric").loc["retention_d7"]
    assert row.decision == d7_decision and not row.significant and row.significant_raw
    assert "abkit-sig" not in res._repr_html_()
    d7_line = next(v for v in res.verdicts() if v.startswith("Day-7"))
    assert d7_decision in d7_line and "significantly" not in d7_line
    assert d7_decision in str(res)

    # summary.json
    doc = build_summary(res)
    c = next(x for x in doc["results"]["comparisons"] if x["metric"] == "retention_d7")
    assert (c["decision"], c["significant"], c["significant_raw"]) == (d7_decision, False, True)
    assert c["pvalue_adjusted"] == pytest.approx(d7.pvalue_adjusted)

    # abkit analyze: text, csv, json — and the exit code
    args = ["analyze", str(spec), "--exposures", str(data / "exposures.parquet")]
    args += ["--events", str(data / "events.parquet")]
    assert main([*args, "--format", "text"]) == exit_code
    text = capsys.readouterr().out
    day7 = next(line for line in text.splitlines() if "Day-7" in line)
    assert d7_decision in day7 and "significantly" not in text
    assert main([*args, "--format", "csv"]) == exit_code
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    csv_d7 = next(r for r in rows if r["metric"] == "retention_d7")
    assert csv_d7["decision"] == d7_decision and csv_d7["significant"] == "False"
    assert main([*args, "--format", "json"]) == exit_code
    js = json.loads(capsys.readouterr().out)
    assert [x["decision"] for x in js["results"]["comparisons"]] == [
        x["decision"] for x in doc["results"]["comparisons"]
    ]

    # the forest plot: D7 drawn as not significant (grey), titled with the arms
    import matplotlib

    matplotlib.use("Agg")
    ax = res.plot()
    assert ax.get_title() == "onboarding-v2: treatment vs control"
    colors = {tuple(line.get_color()) if not isinstance(line.get_color(), str) else
              line.get_color() for line in ax.lines if line.get_marker() == "o"}  # fmt: skip
    assert colors == {"#6e7781"}  # grey: no decision to colour good or bad


def test_report_shows_the_decision(data, tmp_path):
    from abkit.report import run_report

    spec = _spec(tmp_path, "holm")
    outcome = run_report(
        str(spec),
        out=tmp_path / "r",
        exposures=data / "exposures.parquet",
        events=data / "events.parquet",
    )
    assert outcome.exit_code == 0
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "no significant difference after Holm" in html
    assert "significantly higher" not in html
    summary = json.loads((tmp_path / "r" / "summary.json").read_text(encoding="utf-8"))
    assert summary["schema"] == "abkit.summary/4"
    assert summary["results"]["correction"] == "holm"
    assert not any(c["significant"] for c in summary["results"]["comparisons"])


def test_primary_metric_is_uncorrected_and_withheld_is_not_significant():
    stats = pd.DataFrame(
        {
            "variant": ["control", "treatment"],
            "a__n": [1000, 1000],
            "a__sum": [100, 140],
            "b__n": [1000, 1000],
            "b__sum": [100, 130],
        }
    )
    metrics = [ab.Proportion("a"), ab.Proportion("b")]
    res = ab.Experiment(metrics=metrics, primary_metric="b").analyze_stats(stats)
    table = res.adjusted_pvalues().set_index("metric")
    assert table.loc["b", "correction"] == "none"
    assert table.loc["b", "pvalue_adjusted"] == table.loc["b", "pvalue"]
    assert table.loc["a", "correction"] == "holm"  # a family of one: Holm leaves p as it is
    assert math.isclose(table.loc["a", "pvalue_adjusted"], table.loc["a", "pvalue"])
    none = ab.Experiment(metrics=metrics, correction="none").analyze_stats(stats)
    assert set(none.adjusted_pvalues().correction) == {"none"}
    with pytest.raises(ab.SpecError, match="correction"):
        ab.Experiment(metrics=metrics, correction="sidak")


def test_nightly_index_shows_the_label_the_lift_in_pp_and_the_decision(data, tmp_path):
    import yaml

    folder = tmp_path / "experiments"
    folder.mkdir()
    spec = yaml.safe_load(SPEC.format(variants=CASES["holm"][0]))
    spec["primary_metric"] = "retention_d7"
    spec["data"] = {
        "exposures": str(data / "exposures.parquet"),
        "events": str(data / "events.parquet"),
    }
    spec["report"] = {"curve_days": 0, "cohort_days": [], "churn_inactive_days": 0}
    (folder / "onb.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert main(["report", "--all", str(folder), "--out", str(tmp_path / "nightly")]) == 0
    index = (tmp_path / "nightly" / "index.html").read_text(encoding="utf-8")
    # the primary metric is decided uncorrected (raw p = 0.0228)
    assert "Day-7 retention, treatment: +3.00 pp, significantly higher" in index
    assert "retention_d7" not in index and "+0.03" not in index
