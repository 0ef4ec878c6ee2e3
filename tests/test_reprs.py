"""Every result object shows one short answer: a few-line ``repr`` (never the SQL nor a whole
DataFrame) with the decision each surface shows, an ``_repr_html_`` whose significance is visible
without the report's style sheet (inline colours), and ``to_pandas()``.

The golden reprs are built from ``abkit.simulate.retention_experiment(n_units=4000, seed=11)``
(the data of the "one answer everywhere" issue, tests/test_decisions.py) and from hand-made
sufficient statistics with a known significant good lift, a significant bad one and a
non-significant one.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

import abkit as ab
from abkit import retention as R
from abkit.assign import assign, audit_exposures, srm_diagnosis

GREEN, RED, GREY = "#1a7f37", "#cf222e", "#6e7781"
SPEC = {"name": "onboarding-v2", "control": "control", "variants": ["control", "treatment"]}
#: D7 +1.5 pp (good, significant), churned +2 pp (lower is better: bad, significant), D1 +0.1 pp
STATS = pd.DataFrame(
    {
        "variant": ["control", "treatment"],
        "retention_d7__n": [10_000, 10_000],
        "retention_d7__sum": [2_000, 2_150],
        "churned__n": [10_000, 10_000],
        "churned__sum": [3_000, 3_200],
        "retention_d1__n": [10_000, 10_000],
        "retention_d1__sum": [4_000, 4_010],
    }
)


@pytest.fixture(scope="module")
def sim():
    return ab.simulate.retention_experiment(n_units=4000, seed=11)


@pytest.fixture(scope="module")
def objects(sim):
    """Every result object, built once."""
    exp, ev = sim.exposures, sim.events
    metrics = [ab.Retention(day=1), ab.Retention(day=7), ab.Retention(day=30)]
    res = ab.Experiment(metrics=metrics, name="onboarding-v2").analyze(exposures=exp, events=ev)
    # an SRM located in one channel: 7 in 10 treatment units of "social" lost from the log
    lost = (exp.channel == "social") & (exp.variant == "treatment")
    lost &= exp.unit_id.str[-1].isin(list("0123456"))
    log = assign(exp.unit_id.tolist(), SPEC)
    log.loc[:4, "variant"] = "control"  # 2 of these 5 units were assigned treatment
    return {
        "result": res,
        "stats": _stats_result(),
        "data_quality": res.data_quality,
        "curve": R.retention_curve(exp, ev, max_day=14),
        "cohorts": R.cohort_table(exp, ev, days=(1, 7)),
        "churn": R.churn_survival(exp, ev),
        "funnel": R.funnel(exp, ev, ["session", "purchase"]),
        "drivers": R.retention_drivers(exp, ev),
        "srm": srm_diagnosis(exp[~lost], SPEC, segments=["channel"]),
        "audit": audit_exposures(log, SPEC),
    }


def _stats_result() -> ab.ExperimentResult:
    metrics = [
        ab.Retention(day=7),
        ab.Proportion("churned", higher_is_better=False),
        ab.Retention(day=1),
    ]
    return ab.Experiment(metrics=metrics, name="stats").analyze_stats(STATS)


GOLDEN = {
    "result": """\
<ExperimentResult 'onboarding-v2' as of 2024-04-09 23:55 UTC: control n=2,038, treatment n=1,962; trust: ok>
  Day-1 retention, treatment: -0.16 pp (-0.4%), no significant difference
  Day-7 retention, treatment: +3.00 pp (+14.4%), no significant difference
  Day-30 retention, treatment: +0.32 pp (+2.5%), no significant difference""",
    "stats": """\
<ExperimentResult 'stats': control n=10,000, treatment n=10,000; trust: ok>
  Day-7 retention, treatment: +1.50 pp (+7.5%), significantly higher
  churned, treatment: +2.00 pp (+6.7%), significantly higher
  Day-1 retention, treatment: +0.10 pp (+0.2%), no significant difference""",
    "data_quality": """\
<DataQuality: 4,000 units analysed; trust: ok; 2 findings (2 info)>
  [info] 378 repeated exposure rows were collapsed to each unit's first
  [info] retention_d30: 1,411 units were excluded because their window had not ended by as_of (immature)""",
    "curve": """\
<RetentionCurve D0..D14 as of 2024-04-09 23:55 UTC: control n=2,038, treatment n=1,962; trust: ok>
  D1 treatment: 41.90% vs 42.05%, -0.16 pp (-0.4%), no significant difference
  D7 treatment: 23.90% vs 20.90%, +3.00 pp (+14.4%), no significant difference
  D14 treatment: 16.97% vs 16.29%, +0.68 pp (+4.2%), no significant difference""",
    "cohorts": """\
<CohortTable D1, D7 × 14 daily cohorts 2024-03-01..2024-03-14 as of 2024-04-09 23:55 UTC: control \
n=2,038, treatment n=1,962; trust: ok>
  D1 treatment: 41.90% vs 42.05%, -0.16 pp (-0.4%), no significant difference
  D7 treatment: 23.90% vs 20.90%, +3.00 pp (+14.4%), significantly higher""",
    "churn": """\
<ChurnResult as of 2024-04-09 23:55 UTC: churn = 7 inactive days, tau = 30; control n=2,038, \
treatment n=1,962; log-rank p < 0.0001>
  treatment: RMST 12 vs 10.8 days, +1.2 days [+0.605, +1.79] (p < 0.0001), significantly higher""",
    "funnel": """\
<FunnelResult session → purchase within 7 days: control n=2,038, treatment n=1,962; tests uncorrected>
  session / units, treatment: 99.44% vs 99.75%, -0.32 pp (-0.3%), no significant difference
  purchase / units, treatment: 18.60% vs 17.42%, +1.18 pp (+6.8%), no significant difference
  purchase / session, treatment: 18.71% vs 17.46%, +1.25 pp (+7.1%), no significant difference""",
    "drivers": """\
<RetentionDrivers of retention_d7, behaviour in day 0, arm control (2,038 units): 2 candidates; \
exploratory, not causal>
  did 'purchase' in days 0-0: 25.70% vs 20.44% retained, +5.26 pp, BH p = 0.244
  did 'session' in days 0-0: 20.93% vs 19.57% retained, +1.37 pp, BH p = 0.817""",
    "srm": """\
<SRMDiagnosis SRM check (control/treatment planned 0.5:0.5, flag at p < 0.001): MISMATCH — \
control=2,038, treatment=1,675; p = 2.57e-09>
  flagged segments: channel=social (p_adj=4.73e-33)
  3,713 units from 4,065 rows; 0 null ids, 0 unknown variants, 0 units with several variants, 0 \
override units excluded""",
    "audit": """\
<ExposureAudit: MISMATCH; 2 of 4,000 units (0.050%) logged in a variant the spec does not assign; \
.examples: 2 rows>""",
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_repr(objects, name):
    assert repr(objects[name]) == GOLDEN[name]


@pytest.mark.parametrize("name", list(GOLDEN))
def test_repr_is_short_and_html_inline_styled(objects, name):
    obj = objects[name]
    text = repr(obj)
    assert len(text.splitlines()) <= 8 and "SELECT" not in text.upper()
    assert "dataframe" not in text.lower()
    html = obj._repr_html_()
    assert "style='color:#" in html  # significance / severity visible without a style sheet
    assert "<style" not in html and "<script" not in html
    assert isinstance(obj.to_pandas(), pd.DataFrame)


def test_repr_of_a_result_leaves_the_sql_out(objects):
    res = objects["result"]
    assert res.sql and "SELECT" in res.sql.upper()
    assert res.sql not in repr(res) and "sql" not in repr(res).lower()


def test_many_comparisons_are_cut_after_five(sim):
    metrics = [ab.Retention(day=d) for d in range(1, 8)]
    res = ab.Experiment(metrics=metrics).analyze(exposures=sim.exposures, events=sim.events)
    lines = repr(res).splitlines()
    assert len(lines) == 7 and lines[-1] == "  … 2 more"
    assert [line.split(",")[0].strip() for line in lines[1:6]] == [
        f"Day-{d} retention" for d in range(1, 6)
    ]


def test_hostile_labels_stay_on_one_line():
    units = pd.DataFrame(
        {"unit_id": range(40), "variant": ["control", "line\nbreak"] * 20, "r": [0, 1, 1, 0] * 10}
    )
    res = ab.Experiment(metrics=[ab.Proportion("r")], name="a\nb").analyze(units=units)
    text = repr(res)
    assert text.splitlines()[0] == (
        "<ExperimentResult 'a\\nb': control n=20, line break n=20; trust: ok>"
    )
    assert len(text.splitlines()) == 2


def _row(html: str, label: str) -> str:
    """The <tr> of the comparison row whose metric cell shows ``label``."""
    rows = re.findall(r"<tr[^>]*>.*?</tr>", html)
    return next(r for r in rows if f">{label}</td>" in r)


def test_significant_rows_are_coloured_by_direction(objects):
    res = objects["stats"]
    decisions = {mc.metric: mc.decision for mc in res.comparisons}
    assert decisions == {
        "retention_d7": "significantly higher",
        "churned": "significantly higher",
        "retention_d1": "no significant difference",
    }
    html = res._repr_html_()
    good, bad, flat = (_row(html, x) for x in ("Day-7 retention", "churned", "Day-1 retention"))
    assert f"style='color:{GREEN};font-weight:600'" in good and "abkit-sig" in good
    assert f"style='color:{RED};font-weight:600'" in bad and "abkit-sig" in bad
    assert f"style='color:{GREY}'" in flat and "abkit-sig" not in flat
    for row, decision in ((good, "significantly higher"), (flat, "no significant difference")):
        assert f"<td>{decision}</td>" in row  # the decision is a column of its own
    assert "<th>adj. p</th>" in html and "Holm" in html  # the corrected p-value beside the raw


def test_withheld_decisions_are_grey():
    stats = STATS.assign(n_units=[10_000, 8_000])  # a sample ratio mismatch blocks every verdict
    metrics = [ab.Retention(day=7), ab.Retention(day=1)]
    res = ab.Experiment(metrics=metrics).analyze_stats(stats)
    assert {mc.decision for mc in res.comparisons} == {"withheld: srm"}
    html = res._repr_html_()
    assert "abkit-sig" not in html and GREEN not in html
    assert f"<tr class='abkit-neutral' style='color:{GREY}'>" in html
    assert "MISMATCH" in html and f"color:{RED}" in html  # the SRM itself, in red
    assert "trust: BLOCKED (srm)" in repr(res)


def test_views_colour_their_decisions(objects):
    cohorts = objects["cohorts"]._repr_html_()  # D7 significantly higher after Holm over 2 days
    assert f"style='color:{GREEN};font-weight:600'>significantly higher</td>" in cohorts
    assert f"style='color:{GREY}'>no significant difference</td>" in cohorts
    churn = objects["churn"]._repr_html_()  # more days retained: good
    assert f"<tr class='abkit-sig abkit-good' style='color:{GREEN};font-weight:600'>" in churn
    funnel = objects["funnel"]._repr_html_()
    assert funnel.count(f"<tr class='abkit-neutral' style='color:{GREY}'>") == 3
    srm = objects["srm"]._repr_html_()
    assert srm.count(f"<tr style='color:{RED};font-weight:600'>") == 2  # overall and social
