"""Progress against the spec's ``design:`` and the intervals drawn inline in the results table.

The plan's numbers come from :func:`abkit.stats.power.sample_size_proportions` (checked against
statsmodels in tests/test_design.py); what is checked here is the bookkeeping around it, by hand.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from pathlib import Path

import bleach
import jsonschema
import pandas as pd
import pytest

import abkit as ab
from abkit._display import interval_scale, interval_svg
from abkit.cli import main
from abkit.design import plan_progress, plan_retention_test
from abkit.errors import SpecError
from abkit.report.context import ReportContext
from abkit.report.html import ALLOWED_ATTRIBUTES, ALLOWED_TAGS
from abkit.spec import load_spec

BASE = {"name": "onb", "control": "control", "variants": ["control", "treatment"]}


def test_progress_counts_and_days_by_hand():
    plan = plan_retention_test(0.2, 0.1, daily_units=1000, metric_day=1)
    n_c = math.ceil(plan.result.nobs_control)
    p = plan_progress(
        plan,
        metric="retention_d1",
        weights={"c": 0.5, "t1": 0.25, "t2": 0.25},
        control="c",
        exposed={"c": 3000, "t1": 1500, "t2": 1200},
        mature={"c": 2500, "t1": 1250, "t2": 1000},
        start=date(2026, 11, 1),
        as_of=datetime(2026, 11, 7, 12),
    )
    # the treatments need their weight's share of the control's units
    assert p.needed == {"c": n_c, "t1": math.ceil(n_c / 2), "t2": math.ceil(n_c / 2)}
    assert p.elapsed_days == 6  # Nov 1 .. Nov 6 have ended
    # enrolment days for all the units at 1,000 a day, then 2 days for day 1 to end
    assert p.planned_days == math.ceil(2 * n_c / 1000) + 2
    assert p.days_left == p.planned_days - 6
    assert p.share == pytest.approx(1000 / math.ceil(n_c / 2))  # t2 is the slowest arm
    # t2 enrols 200 a day: its need takes ceil(need / 200) days, the last one matures 2 days on
    enrol = math.ceil(math.ceil(n_c / 2) / 200)
    assert p.projected_end == date(2026, 11, 1) + pd.Timedelta(days=enrol + 1)
    assert not p.complete and "day 6 of" in p.text() and "left" in p.text()
    doc = p.to_dict()
    assert doc["units_needed"]["t2"] == math.ceil(n_c / 2) and doc["days_left"] == p.days_left

    done = plan_progress(
        plan,
        metric="retention_d1",
        weights={"c": 0.5, "t": 0.5},
        control="c",
        exposed={"c": 9000, "t": 9000},
        mature={"c": n_c, "t": n_c + 5},
        start=date(2026, 11, 1),
        as_of=datetime(2026, 12, 30),
    )
    assert done.complete and done.days_left == 0 and done.share == 1.0
    assert done.text().endswith("the planned sample is complete.")


@pytest.mark.parametrize(
    ("design", "metrics", "message"),
    [
        (
            {"baseline": 0.2, "mde": 0.05, "daily_units": 10, "metric": "retention_d3"},
            [{"retention": {"day": 7}}],
            "design.metric: 'retention_d3' is not one of the metrics [retention_d7]; "
            "did you mean 'retention_d7'?",
        ),
        (
            {"baseline": 0.2, "mde": 0.05, "daily_units": 10},
            [{"active_days": {"days": [1, 7]}}],
            "design.metric: 'active_days_d1_7' is not a proportion",
        ),
        (
            {"baseline": 0.9, "mde": 0.5, "daily_units": 10},
            [{"retention": {"day": 7}}],
            "design: baseline 0.9 plus the effect 0.45 gives 1.35, outside (0, 1)",
        ),
        (
            {"baseline": 0.2, "mde": 0.05, "daily_unit": 10},
            [{"retention": {"day": 7}}],
            "design.daily_unit: unknown key; did you mean 'daily_units'?",
        ),
        (
            {"baseline": 0.2, "mde": 0.05, "daily_units": 1e300},
            [{"retention": {"day": 7}}],
            "design.daily_units: expected a number <= 1e+09, got 1e+300",
        ),
        ({"baseline": 0.2, "mde": 0.05, "daily_units": 10}, [], "design: needs metrics:"),
    ],
)
def test_design_errors_are_located_at_the_key(design, metrics, message):
    with pytest.raises(SpecError) as err:
        load_spec({**BASE, "metrics": metrics, "design": design})
    assert message in str(err.value)


def test_design_metric_defaults_to_primary_then_first():
    metrics = [{"retention": {"day": 1}}, {"retention": {"day": 7}}]
    design = {"baseline": 0.2, "mde": 0.05, "daily_units": 10}
    assert load_spec({**BASE, "metrics": metrics, "design": design}).design_metric == (
        "retention_d1"
    )
    spec = load_spec(
        {**BASE, "metrics": metrics, "design": design, "primary_metric": "retention_d7"}
    )
    assert spec.design_metric == "retention_d7"
    assert load_spec({**BASE, "metrics": metrics}).design_metric is None


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "--out", str(out), "--n-units", "4000", "--seed", "11"]) == 0
    return out


def test_report_first_screen_and_summary_show_the_progress(sim: Path):
    spec = load_spec(
        {
            **BASE,
            "primary_metric": "retention_d7",
            "metrics": [{"retention": {"day": 1}}, {"retention": {"day": 7}}],
            "design": {"baseline": 0.2, "mde": 0.1, "daily_units": 300},
        }
    )
    as_of = "2024-03-12T00:00Z"
    inputs = {"exposures": str(sim / "exposures.parquet"), "events": str(sim / "events.parquet")}
    res = ab.Experiment.from_spec(spec).analyze(**inputs, as_of=as_of)
    ctx = ReportContext({"inputs": inputs}, spec, res)
    p = ctx.progress()
    assert p is not None
    exposures = pd.read_parquet(sim / "exposures.parquet")
    assert p.start == exposures.exposed_at.min().date()  # 2024-03-01
    assert p.elapsed_days == 11
    (d7,) = [mc.comparison for mc in res.comparisons if mc.metric == "retention_d7"]
    assert p.mature == {"control": d7.n_control, "treatment": d7.n_treatment}
    assert p.exposed == dict(zip(res.srm.variants, res.srm.observed, strict=True))
    plan = plan_retention_test(0.2, 0.1, daily_units=300, metric_day=7)
    assert p.needed == {"control": math.ceil(plan.result.nobs_control)} | {
        "treatment": math.ceil(plan.result.nobs_treatment)
    }
    head = ctx.headline_html()
    assert "abkit-progress" in head and f"{d7.n_control:,} / {p.needed['control']:,}" in head
    summary = ctx.summary()
    schema = json.loads(
        (Path(ab.__file__).parent / "schemas" / "summary-v4.json").read_text(encoding="utf-8")
    )
    jsonschema.validate(summary, schema)
    assert summary["design"]["days_left"] == p.days_left == p.planned_days - 11

    # when each metric is readable: every unit exposed by as_of is either mature or waiting
    last = exposures.exposed_at[exposures.exposed_at <= pd.Timestamp(as_of)].max()
    by_metric = {m.metric: m for m in ctx.maturity()}
    for name, delay in (("retention_d1", 2), ("retention_d7", 8)):
        m = by_metric[name]
        assert m.mature_after_days == delay
        assert m.units_mature + m.units_waiting == sum(res.srm.observed)
        assert m.all_enrolled_mature_on == (last + pd.Timedelta(days=delay)).date()
    assert by_metric["retention_d7"].planned_sample_mature_on == p.projected_end
    assert by_metric["retention_d1"].planned_sample_mature_on == p.projected_end - pd.Timedelta(
        days=6
    )
    (d7_doc,) = [m for m in summary["maturity"] if m["metric"] == "retention_d7"]
    assert d7_doc["units_waiting"] == by_metric["retention_d7"].units_waiting
    assert "Readable" in ctx.header_html() and "of units mature" in ctx.header_html()

    # the sequential section is tuned to the plan's sample (N* from abkit.stats.sequential_tuning)
    from abkit.stats import sequential_tuning

    planned = sum(p.needed.values())
    n_star = sequential_tuning(planned, alpha=0.05)
    assert f"N* = {n_star:,.0f}, tuned to the plan's {planned:,} units" in ctx.sequential_html()

    # a start given in the spec wins over the data's first exposure; a per-unit table has none
    later = spec.model_copy(
        update={"design": spec.design.model_copy(update={"start": date(2024, 3, 5)})}
    )
    assert ReportContext({"inputs": inputs}, later, res).progress().elapsed_days == 7
    no_design = spec.model_copy(update={"design": None})
    assert "design" not in ReportContext({"inputs": inputs}, no_design, res).summary()


def test_interval_bar_geometry():
    # half-width 56 px around x = 60: -0.1 of a 0.2 scale is 28 px left of the zero line
    svg = interval_svg(-0.1, 0.05, 0.2, 0.2, "good")
    rects = re.findall(r"<rect x='([\d.]+)' y='[\d.]+' width='([\d.]+)'", svg)
    assert rects[0] == ("32.0", "84.0")  # the interval: 32 .. 116
    assert float(rects[1][0]) == 60 + 56 * 0.25 - 1.5  # the estimate's tick
    assert "fill='#1a7f37'" in svg
    one_sided = interval_svg(0.01, 0.05, math.inf, 0.2, "neutral")
    assert re.search(r"<rect x='62.8' y='[\d.]+' width='53.2'", one_sided)  # runs to the edge
    assert interval_svg(None, 0.1, 0.2, 1.0, "good") == ""
    assert interval_scale([-0.3, 0.1, math.inf, None]) == 0.3 and interval_scale([None]) == 1.0


def test_interval_bars_survive_the_report_sanitiser_and_nothing_else_does(sim: Path):
    res = ab.Experiment(metrics=[ab.Retention(day=1), ab.Retention(day=7)]).analyze(
        exposures=sim / "exposures.parquet", events=sim / "events.parquet"
    )
    page = res._repr_html_()
    assert page.count("<svg class='abkit-interval'") == 2
    clean = bleach.clean(page, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, strip=True)
    assert clean.count("<svg") == 2 and clean.count("<rect") == 4 and "fill=" in clean
    hostile = "<svg onload='alert(1)'><rect x='1' style='x' fill='red'/><a href='javascript:alert(1)'>a</a></svg>"
    out = bleach.clean(hostile, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, strip=True)
    assert "onload" not in out and "style" not in out and "javascript" not in out


def test_one_sided_experiments_get_the_one_sided_always_valid_test(sim: Path):
    from abkit.stats import always_valid_test

    inputs = {"exposures": sim / "exposures.parquet", "events": sim / "events.parquet"}
    res = ab.Experiment(metrics=[ab.Retention(day=1)], alternative="greater").analyze(**inputs)
    (row,) = res.sequential(tuning=1000).itertuples()
    c = res.comparisons[0].comparison
    ref = always_valid_test(c.abs_lift, c.std_error, c.n_control + c.n_treatment,
                            tuning=1000, alternative="greater")  # fmt: skip
    assert row.decision != "no test" and row.pvalue == ref.pvalue and row.ci_lower == ref.ci_lower
