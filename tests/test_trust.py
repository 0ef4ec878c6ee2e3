"""Trust: determinism, row-order independence, conservation, interrupted reports, hostile strings."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import abkit as ab
from abkit.report import build_summary, run_report

METRICS = [ab.Retention(day=1), ab.Retention(day=7), ab.ActiveDays(days=(1, 7))]


@pytest.fixture(scope="module")
def sim():
    return ab.simulate.retention_experiment(n_units=4_000, seed=21)


def _summary_bytes(res) -> bytes:
    doc = build_summary(res)
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False).encode()


def test_same_inputs_give_byte_identical_summaries(sim):
    exp = ab.Experiment(metrics=METRICS, segments=["channel"])
    a = exp.analyze(exposures=sim.exposures, events=sim.events)
    b = exp.analyze(exposures=sim.exposures, events=sim.events)
    assert _summary_bytes(a) == _summary_bytes(b)


def test_results_do_not_depend_on_row_order(sim):
    rng = np.random.default_rng(1234)
    exp = ab.Experiment(metrics=METRICS, segments=["channel"])
    a = exp.analyze(exposures=sim.exposures, events=sim.events)
    shuffled_exp = sim.exposures.sample(frac=1.0, random_state=rng.integers(1 << 31))
    shuffled_ev = sim.events.sample(frac=1.0, random_state=rng.integers(1 << 31))
    b = exp.analyze(exposures=shuffled_exp, events=shuffled_ev)
    assert _summary_bytes(a) == _summary_bytes(b)


def test_conservation_holds_on_messy_data(sim):
    exposures = sim.exposures.copy()
    exposures.loc[:9, "unit_id"] = None  # null ids
    exposures.loc[10:19, "variant"] = None  # null variants
    extra = exposures.iloc[20:30].copy()
    extra["variant"] = "treatment" if (extra["variant"] == "control").all() else "control"
    exposures = pd.concat([exposures, extra])  # some units in two variants
    events = pd.concat(
        [sim.events, pd.DataFrame({"unit_id": ["ghost"] * 5, "ts": sim.events.ts.iloc[:5].values})]
    )
    res = ab.Experiment(metrics=METRICS).analyze(exposures=exposures, events=events)
    c = res.data_quality.counts
    distinct = exposures.unit_id.dropna().nunique()
    assert distinct == (
        c["units_analyzed"] + c["units_multiple_variants"] + c["units_without_valid_exposure"]
    )
    assert c["events_unexposed_units"] >= 5


def test_interrupted_report_leaves_nothing_behind(sim, tmp_path, monkeypatch):
    import abkit.report.run as report

    sim.exposures.to_parquet(tmp_path / "e.parquet")
    sim.events.to_parquet(tmp_path / "v.parquet")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "_execute", interrupted)
    spec = {
        "name": "x",
        "control": "control",
        "variants": ["control", "treatment"],
        "metrics": [{"retention": {"day": 1}}],
    }
    with pytest.raises(KeyboardInterrupt):
        run_report(
            spec,
            out=tmp_path / "out",
            exposures=tmp_path / "e.parquet",
            events=tmp_path / "v.parquet",
        )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


HOSTILE = [
    "</script><script>alert(1)</script>",
    "{{ 7*7 }}",
    "a\\nb\"c'd",
    "<img src=x onerror=alert(1)>",
    "line\nbreak",
]


@pytest.mark.parametrize("label", HOSTILE)
def test_hostile_variant_labels_are_escaped_in_html(label):
    units = pd.DataFrame(
        {"unit_id": range(40), "variant": ["control", label] * 20, "r": [0, 1, 1, 0] * 10}
    )
    res = ab.Experiment(metrics=[ab.Proportion("r")], control="control", name=label).analyze(
        units=units
    )
    html = res._repr_html_()
    tags: list[tuple[str, list]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, attrs))

    Collect().feed(html)
    assert not {t for t, _ in tags} & {"script", "img", "style"}
    assert not [a for _, attrs in tags for a, _ in attrs if a.startswith("on")]
    text = unescape(re.sub(r"<[^>]+>", "", html))
    assert label.replace("\n", " ").split()[0] in text.replace("\n", " ")  # shown, as text
    doc = json.loads(_summary_bytes(res))
    assert doc["experiment"] == label and doc["results"]["comparisons"][0]["variant"] == label
