"""A report reads the logs for its long-term views once: one per-unit table, shared.

``ReportContext.shared()`` scans the logs once into a per-unit table (first exposure, variant,
the spec's segments, the active days); the curve, the cohort triangle, time to churn, the churn
regression, novelty and the forecasts read it.
Everything the report shows and writes must be what the same report computes from the logs,
view by view (``cache["shared"] = None`` makes each view read the logs, as before the table).
"""

from __future__ import annotations

import pandas as pd
import pytest

import abkit as ab
from abkit.cli import main
from abkit.report.context import ReportContext
from abkit.spec import load_spec

SPEC = {
    "name": "one-pass",
    "control": "control",
    "variants": ["control", "treatment"],
    "segments": ["channel"],
    "primary_metric": "retention_d7",
    "metrics": [{"retention": {"day": 1}}, {"retention": {"day": 7}}, {"retention": {"day": 30}}],
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "--out", str(out), "--n-units", "4000", "--seed", "7"]) == 0
    return {"exposures": str(out / "exposures.parquet"), "events": str(out / "events.parquet")}


def _ctx(sim, spec, *, shared):
    res = ab.Experiment.from_spec(spec).analyze(**sim)
    ctx = ReportContext({"inputs": sim}, spec, res)
    if not shared:
        ctx.cache["shared"] = None  # every view reads the logs
    return ctx


@pytest.mark.parametrize(
    "report",
    [{}, {"churn_inactive_days": 3, "churn_tau": 14, "curve_days": 7},
     {"churn_inactive_days": 0}, {"curve_days": 0}, {"churn_tau": 60}],
)  # fmt: skip
def test_the_report_from_one_table_equals_the_report_from_the_logs(sim, report):
    spec = load_spec({**SPEC, "report": report})
    one, logs = _ctx(sim, spec, shared=True), _ctx(sim, spec, shared=False)
    table = one.shared()
    r = spec.report
    assert table is not None and table.days is not None  # the curve, cohorts: always a view
    assert table.days.carry == (("channel",) if r.churn_inactive_days else ())
    assert one.summary() == logs.summary()  # summary.json's document, long_term included
    for view in ("curve", "cohorts"):
        a, b = getattr(one, view)(), getattr(logs, view)()
        assert (a is None) == (b is None)
        if a is not None:
            assert a.result.sql is None and b.result.sql is not None  # table vs logs
            pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas())
            assert a._repr_html_() == b._repr_html_()
    assert one.trust_html() == logs.trust_html()  # SRM by exposure day from the cohorts
    a, b = one.churn(), logs.churn()
    assert (a is None) == (b is None)
    if a is not None:
        pd.testing.assert_frame_equal(a.counts, b.counts)
        assert one.churn_html(a) == logs.churn_html(b)
    for view in ("novelty", "hazards"):
        a, b = getattr(one, view)(), getattr(logs, view)()
        assert a == b
        assert (a is None) or a._repr_html_() == b._repr_html_()
        assert one.skipped_html(view) == logs.skipped_html(view)
    assert one.skipped_html("churn") == logs.skipped_html("churn")


def test_the_table_is_built_once_per_report(sim):
    ctx = _ctx(sim, load_spec(SPEC), shared=True)
    ctx.churn(), ctx.novelty(), ctx.hazards()
    table = ctx.shared()
    assert ctx.shared() is table
    # the horizon of time to churn (tau + K days) and novelty's 14 days: both in the table
    assert table.days.last_day == 30 + 7 - 1
    assert table.days.windows == 14


def test_the_report_reads_the_events_once_for_its_analysis_and_its_table(sim, tmp_path):
    """``ReportContext.load`` runs the analysis and the shared table in one pass over the events
    (Experiment.analyze_with_table): the report equals the one of an analysis and a separate
    scan, view by view."""
    import json

    spec = load_spec(SPEC)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"spec": json.loads(spec.model_dump_json()),
                                  "inputs": {**sim, "units": None}, "as_of": None,
                                  "state": None}))  # fmt: skip
    one = ReportContext.load(str(config))
    table = one.cache["shared"]  # made by the analysis' pass, before any view asked
    assert table is not None and table.days is not None
    assert table.days.carry == ("channel",) and table.days.last_day == 30 + 7 - 1
    assert table.con is one.shared().con
    apart = _ctx(sim, spec, shared=True)  # the analysis, then share(): two scans
    assert one.summary() == apart.summary()
    assert one.trust_html() == apart.trust_html()
    for view in ("curve", "cohorts", "churn", "novelty", "hazards"):
        a, b = getattr(one, view)(), getattr(apart, view)()
        assert a._repr_html_() == b._repr_html_()
    assert [f.to_pandas().equals(g.to_pandas()) for f, g in
            zip(one.forecasts(), apart.forecasts(), strict=True)] == [True] * len(one.forecasts())  # fmt: skip
