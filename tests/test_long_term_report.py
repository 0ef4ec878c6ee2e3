"""The report's Long-term section: each view as computed on its own, or the reason it is not."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

import abkit as ab
from abkit.cli import main
from abkit.report.context import ReportContext
from abkit.retention import churn_regression, novelty
from abkit.spec import load_spec

SPEC = {
    "name": "x",
    "control": "control",
    "variants": ["control", "treatment"],
    "segments": ["channel"],
    "metrics": [{"retention": {"day": 7}}, {"retention": {"day": 30}}],
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "--out", str(out), "--n-units", "6000", "--seed", "5"]) == 0
    return {"exposures": str(out / "exposures.parquet"), "events": str(out / "events.parquet")}


def _ctx(sim, as_of=None):
    spec = load_spec(SPEC)
    res = ab.Experiment.from_spec(spec).analyze(**sim, as_of=as_of)
    return ReportContext({"inputs": sim}, spec, res)


def test_the_section_shows_each_view_as_run_alone(sim):
    ctx = _ctx(sim)
    nov = ctx.novelty()
    alone = novelty(**sim, days=14, as_of=ctx.result.as_of)
    pd.testing.assert_frame_equal(nov.summary(), alone.summary())
    reg = ctx.hazards()
    ref = churn_regression(**sim, attributes=["channel"], inactive_days=7, tau=30,
                           as_of=ctx.result.as_of)  # fmt: skip
    pd.testing.assert_frame_equal(reg.to_pandas(), ref.to_pandas())
    doc = ctx.summary()
    schema = json.loads(
        (Path(ab.__file__).parent / "schemas" / "summary-v4.json").read_text(encoding="utf-8")
    )
    jsonschema.validate(doc, schema)
    lt = doc["long_term"]
    assert [r["variant"] for r in lt["novelty"]] == ["treatment"]
    assert [f["target"] for f in lt["forecasts"]] == ["retention_d30"]
    (term,) = lt["churn_regression"]["treatment_terms"]
    assert term["hazard_ratio"] == pytest.approx(
        reg.to_pandas().query("treatment").hazard_ratio.iloc[0]
    )
    assert lt["churn_regression"]["adjusted_for"] == ["channel"]


def test_too_early_the_section_says_why(sim):
    # three days in: nobody is mature for 14 days of novelty or for D30; the report stays
    first = pd.read_parquet(sim["exposures"]).exposed_at.min()
    ctx = _ctx(sim, as_of=(first + pd.Timedelta(days=3)).isoformat())
    assert ctx.novelty() is None and ctx.forecasts() == []
    assert "Not shown" in ctx.skipped_html("novelty") and "Not shown" in ctx.skipped_html(
        "forecast"
    )
    jsonschema.validate(
        ctx.summary(),
        json.loads((Path(ab.__file__).parent / "schemas" / "summary-v4.json").read_text("utf-8")),
    )
