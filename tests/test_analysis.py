"""End-to-end analysis: per-unit tables, exposure + event logs, bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import ibis
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from statsmodels.stats import proportion as smp
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

import abkit as ab
from abkit.errors import AbkitError, DataError, SpecError
from tests.conftest import ts

# --------------------------------------------------------------------------- real data: Cookie Cats

# Published figures for this data set (DataCamp project "Mobile Games A/B Testing with Cookie
# Cats", and every replication of it): 44,700 players in gate_30 and 45,489 in gate_40; 1-day
# retention 20,034 / 44,700 = 44.82% vs 20,119 / 45,489 = 44.23%; 7-day retention 8,502 / 44,700 =
# 19.02% vs 8,279 / 45,489 = 18.20%.
COOKIE_COUNTS = {
    "gate_30": {"n": 44_700, "retention_1": 20_034, "retention_7": 8_502},
    "gate_40": {"n": 45_489, "retention_1": 20_119, "retention_7": 8_279},
}


@pytest.fixture(scope="module")
def cookie_result(cookie_cats):
    exp = ab.Experiment(
        metrics=[
            ab.Proportion("retention_1"),
            ab.Proportion("retention_7"),
            ab.Mean("sum_game_rounds"),
        ],
        variant="version",
        control="gate_30",
    )
    return exp.analyze(units=cookie_cats, unit_id="userid")


def test_cookie_cats_counts_match_published(cookie_result):
    df = cookie_result.to_pandas().set_index("metric")
    for metric in ("retention_1", "retention_7"):
        row = df.loc[metric]
        assert row.n_control == COOKIE_COUNTS["gate_30"]["n"]
        assert row.n_treatment == COOKIE_COUNTS["gate_40"]["n"]
        assert_allclose(row.control_value, COOKIE_COUNTS["gate_30"][metric] / 44_700, rtol=1e-12)
        assert_allclose(row.treatment_value, COOKIE_COUNTS["gate_40"][metric] / 45_489, rtol=1e-12)


@pytest.mark.parametrize("metric", ["retention_1", "retention_7"])
def test_cookie_cats_proportions_match_statsmodels(cookie_result, cookie_cats, metric):
    g = cookie_cats.groupby("version")[metric].agg(["sum", "size"])
    c1, n1 = int(g.loc["gate_40", "sum"]), int(g.loc["gate_40", "size"])
    c0, n0 = int(g.loc["gate_30", "sum"]), int(g.loc["gate_30", "size"])
    # independent computation: statsmodels' Wald (unpooled) two-proportion test and interval
    _stat, p = smp.test_proportions_2indep(
        c1, n1, c0, n0, method="wald", compare="diff", correction=False
    )
    lo, hi = smp.confint_proportions_2indep(
        c1, n1, c0, n0, method="wald", compare="diff", correction=False
    )
    row = cookie_result.to_pandas().set_index("metric").loc[metric]
    assert_allclose(row.pvalue, p, rtol=1e-9)
    assert_allclose([row.abs_lift_ci_lower, row.abs_lift_ci_upper], [lo, hi], rtol=1e-9)
    assert_allclose(row.abs_lift, c1 / n1 - c0 / n0, rtol=1e-12)


def test_cookie_cats_welch_matches_statsmodels(cookie_result, cookie_cats):
    x1 = cookie_cats.loc[cookie_cats.version == "gate_40", "sum_game_rounds"].to_numpy(float)
    x0 = cookie_cats.loc[cookie_cats.version == "gate_30", "sum_game_rounds"].to_numpy(float)
    cm = CompareMeans(DescrStatsW(x1), DescrStatsW(x0))
    _stat, p, _ = cm.ttest_ind(usevar="unequal")
    lo, hi = cm.tconfint_diff(alpha=0.05, usevar="unequal")
    row = cookie_result.to_pandas().set_index("metric").loc["sum_game_rounds"]
    assert_allclose(row.pvalue, p, rtol=1e-9)
    assert_allclose([row.abs_lift_ci_lower, row.abs_lift_ci_upper], [lo, hi], rtol=1e-9)
    assert_allclose(row.treatment_value, x1.mean(), rtol=1e-12)


def test_cookie_cats_d7_is_significantly_lower(cookie_result):
    # the published conclusion: moving the gate to level 40 lowered 7-day retention
    row = cookie_result.to_pandas().set_index("metric").loc["retention_7"]
    assert row.abs_lift < 0 and row.pvalue < 0.01
    assert cookie_result.srm.pvalue is not None and not cookie_result.srm.flagged


def test_to_pandas_has_documented_columns(cookie_result):
    cols = set(cookie_result.to_pandas().columns)
    required = {
        "metric",
        "variant",
        "control_value",
        "treatment_value",
        "abs_lift",
        "abs_lift_ci_lower",
        "abs_lift_ci_upper",
        "rel_lift",
        "rel_lift_ci_lower",
        "rel_lift_ci_upper",
        "pvalue",
        "n_control",
        "n_treatment",
        "method",
    }
    assert required <= cols


def test_units_from_csv_path_equals_dataframe(cookie_result, tmp_path, cookie_cats):
    path = tmp_path / "cc.csv"
    cookie_cats.head(5000).to_csv(path, index=False)
    exp = ab.Experiment(
        metrics=[ab.Proportion("retention_1")], variant="version", control="gate_30"
    )
    a = exp.analyze(units=path, unit_id="userid").to_pandas()
    b = exp.analyze(units=cookie_cats.head(5000), unit_id="userid").to_pandas()
    pd.testing.assert_frame_equal(a, b)


# --------------------------------------------------------------------------- event logs, by hand

T0 = "2024-05-01T10:00:00"


def _logs(events: list[tuple[str, str]], exposures: list[tuple[str, str, str]] | None = None):
    exposures = exposures or [("a", "control", T0), ("b", "treatment", T0)]
    exp = pd.DataFrame(
        {
            "unit_id": [u for u, _, _ in exposures],
            "variant": [v for _, v, _ in exposures],
            "exposed_at": [ts(t) for _, _, t in exposures],
        }
    )
    ev = pd.DataFrame({"unit_id": [u for u, _ in events], "ts": [ts(t) for _, t in events]})
    return exp, ev


def _arm(res, metric, variant):
    return next(
        a for a in res.arms if a.metric == metric and a.variant == variant and a.segment is None
    )


def test_window_edges_rolling_days():
    # unit a: event at exactly t0 + 7*24h (day 7); unit b: exactly t0 + 8*24h (day 8, not day 7)
    exp, ev = _logs([("a", "2024-05-08T10:00:00"), ("b", "2024-05-09T10:00:00")])
    res = ab.Experiment(
        metrics=[ab.Retention(day=7), ab.Retention(day=8)], control="control"
    ).analyze(exposures=exp, events=ev, as_of="2024-06-01T00:00Z")
    assert _arm(res, "retention_d7", "control").mean == 1.0
    assert _arm(res, "retention_d7", "treatment").mean == 0.0
    assert _arm(res, "retention_d8", "treatment").mean == 1.0
    assert _arm(res, "retention_d8", "control").mean == 0.0


def test_one_microsecond_before_day_boundary_is_previous_day():
    exp, ev = _logs([("a", "2024-05-08T09:59:59.999999")])
    res = ab.Experiment(
        metrics=[ab.Retention(day=6), ab.Retention(day=7)], control="control"
    ).analyze(exposures=exp, events=ev, as_of="2024-06-01T00:00Z")
    assert _arm(res, "retention_d6", "control").mean == 1.0
    assert _arm(res, "retention_d7", "control").mean == 0.0


def test_maturity_excludes_units_whose_window_has_not_ended():
    exposures = [
        ("a", "control", T0),
        ("b", "treatment", T0),
        ("c", "control", "2024-05-05T10:00:00"),
    ]
    exp, ev = _logs([("a", "2024-05-02T11:00:00"), ("c", "2024-05-06T11:00:00")], exposures)
    # as_of = t0_a + 8 days exactly: a and b are mature for D7 (needs t0 + 8*24h), c is not
    res = ab.Experiment(
        metrics=[ab.Retention(day=1), ab.Retention(day=7)], control="control"
    ).analyze(exposures=exp, events=ev, as_of="2024-05-09T10:00:00Z")
    d7 = _arm(res, "retention_d7", "control")
    assert (d7.n, d7.immature) == (1, 1)
    d1 = _arm(res, "retention_d1", "control")
    assert (d1.n, d1.immature, d1.mean) == (2, 0, 1.0)
    assert res.data_quality.counts["immature_retention_d7"] == 1


def test_pre_exposure_and_after_as_of_events_do_not_count():
    exp, ev = _logs(
        [
            ("a", "2024-04-30T10:00:00"),  # day -1: before exposure
            ("b", "2024-05-03T10:30:00"),  # day 2, after as_of
            ("x", "2024-05-02T10:30:00"),
        ]  # never exposed
    )
    # as_of = t0 + 48h exactly: day 1 has just ended for both units
    res = ab.Experiment(metrics=[ab.Retention(day=1)], control="control").analyze(
        exposures=exp, events=ev, as_of="2024-05-03T10:00:00Z"
    )
    assert _arm(res, "retention_d1", "control").mean == 0.0
    assert _arm(res, "retention_d1", "treatment").n == 1  # mature exactly at as_of
    assert _arm(res, "retention_d1", "treatment").mean == 0.0
    c = res.data_quality.counts
    assert (c["events_before_exposure"], c["events_after_as_of"], c["events_unexposed_units"]) == (
        1,
        1,
        1,
    )


def test_multi_variant_units_excluded_and_repeats_collapse_to_first():
    exposures = [
        ("a", "control", T0),
        ("a", "control", "2024-05-03T00:00:00"),  # repeat: collapses
        ("b", "treatment", T0),
        ("b", "control", "2024-05-02T00:00:00"),  # conflict: excluded
        ("c", "treatment", T0),
    ]
    exp, ev = _logs([("a", "2024-05-02T11:00:00"), ("b", "2024-05-02T11:00:00")], exposures)
    res = ab.Experiment(metrics=[ab.Retention(day=1)], control="control").analyze(
        exposures=exp, events=ev, as_of="2024-05-10T00:00Z"
    )
    c = res.data_quality.counts
    assert c["units_multiple_variants"] == 1
    assert c["duplicate_exposures"] == 1
    assert c["units_analyzed"] == 2
    assert any(
        f.code == "multiple_variants" and f.severity == "blocking"
        for f in res.data_quality.findings
    )
    assert res.srm.observed == (1, 1)


def test_event_filter_and_counts():
    exp, ev = _logs(
        [("a", "2024-05-02T11:00:00"), ("a", "2024-05-02T12:00:00"), ("b", "2024-05-03T11:00:00")]
    )
    ev["event"] = ["purchase", "session", "session"]
    ev["value"] = [9.5, None, None]
    metrics = [
        ab.Retention(day=1, event="purchase", name="buy_d1"),
        ab.EventCount(days=(0, 6)),
        ab.ActiveDays(days=(1, 7)),
        ab.Revenue(days=(0, 6)),
    ]
    res = ab.Experiment(metrics=metrics, control="control").analyze(
        exposures=exp, events=ev, as_of="2024-05-20T00:00Z"
    )
    assert _arm(res, "buy_d1", "control").mean == 1.0
    assert _arm(res, "events_d0_6", "control").mean == 2.0
    assert _arm(res, "active_days_d1_7", "treatment").mean == 1.0
    assert _arm(res, "value_d0_6", "control").mean == 9.5
    assert _arm(res, "value_d0_6", "treatment").mean == 0.0


def test_naive_timestamps_rejected_unless_tz_given():
    exp, ev = _logs([("a", "2024-05-02T11:00:00")])
    exp["exposed_at"] = exp["exposed_at"].dt.tz_localize(None)
    ev["ts"] = ev["ts"].dt.tz_localize(None)
    with pytest.raises(DataError, match=r"timezone-naive.*tz="):
        ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(exposures=exp, events=ev)
    res = ab.Experiment(metrics=[ab.Retention(day=1)], tz="UTC").analyze(
        exposures=exp, events=ev, as_of="2024-05-10T00:00Z"
    )
    assert _arm(res, "retention_d1", "control").mean == 1.0


def test_naive_timestamps_in_a_named_zone_are_localised():
    # written in Shanghai wall-clock time (UTC+8): exposure 10:00 local, event 09:59 next day local
    exp, ev = _logs([("a", "2024-05-02T09:59:00")])
    exp["exposed_at"] = exp["exposed_at"].dt.tz_localize(None)
    ev["ts"] = ev["ts"].dt.tz_localize(None)
    res = ab.Experiment(metrics=[ab.Retention(day=0)], tz="Asia/Shanghai").analyze(
        exposures=exp, events=ev
    )
    # as_of defaults to the last event, 09:59 Shanghai = 01:59 UTC
    assert res.as_of == ts("2024-05-02T01:59:00").to_pydatetime()
    # exposure 02:00 UTC May 1 + 24h > as_of: day 0 has not ended, so the unit is immature
    assert _arm(res, "retention_d0", "control").immature == 1


# --------------------------------------------------------------------------- simulated truth


def test_simulated_estimates_land_near_truth():
    sim = ab.simulate.retention_experiment(n_units=20_000, seed=7)
    res = ab.Experiment(
        metrics=[ab.Retention(day=d) for d in (1, 7, 30)], control="control"
    ).analyze(exposures=sim.exposures, events=sim.events)
    for a in res.arms:
        day = int(a.metric.removeprefix("retention_d"))
        truth = sim.true_retention(day, a.variant)
        se = np.sqrt(truth * (1 - truth) / a.n)
        assert abs(a.mean - truth) < 4 * se, (a, truth)
    # maturity: units exposed in the last 30 days of the 40-day log are immature for D30
    assert res.data_quality.counts["immature_retention_d30"] > 0


def test_segments_reconcile_with_overall(small_sim):
    res = ab.Experiment(
        metrics=[ab.Retention(day=1)], control="control", segments=["channel"]
    ).analyze(exposures=small_sim.exposures, events=small_sim.events)
    seg = res.segments_to_pandas("channel")
    overall = res.to_pandas().iloc[0]
    assert seg.n_control.sum() == overall.n_control
    assert seg.n_treatment.sum() == overall.n_treatment
    assert seg.pvalue_adjusted.notna().all()
    assert (seg.pvalue_adjusted >= seg.pvalue - 1e-15).all()


def test_parquet_paths_and_ibis_tables_give_the_same_result(small_sim, tmp_path):
    import ibis

    exp_p, ev_p = tmp_path / "exp.parquet", tmp_path / "ev.parquet"
    small_sim.exposures.to_parquet(exp_p)
    small_sim.events.to_parquet(ev_p)
    experiment = ab.Experiment(
        metrics=[ab.Retention(day=1), ab.Retention(day=7)], control="control"
    )
    a = experiment.analyze(exposures=small_sim.exposures, events=small_sim.events).to_pandas()
    b = experiment.analyze(exposures=exp_p, events=ev_p).to_pandas()
    con = ibis.duckdb.connect()
    c = experiment.analyze(
        exposures=con.read_parquet(exp_p), events=con.read_parquet(ev_p)
    ).to_pandas()
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)


def test_result_renders(small_sim):
    res = ab.Experiment(metrics=[ab.Retention(day=1)], control="control", name="x<script>").analyze(
        exposures=small_sim.exposures, events=small_sim.events
    )
    html = res._repr_html_()
    assert "x&lt;script&gt;" in html and "<script>" not in html
    assert "Day-1 retention" in str(res)
    ax = res.plot()
    assert ax.get_title().startswith("x<script>")


# --------------------------------------------------------------------------- bad input


@pytest.fixture()
def tiny_logs():
    return _logs([("a", "2024-05-02T11:00:00")])


def test_missing_column_is_named(tiny_logs):
    exp, ev = tiny_logs
    with pytest.raises(DataError, match=r"missing required column.*'exposed_at'.*Available"):
        ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(
            exposures=exp.rename(columns={"exposed_at": "exposed"}), events=ev
        )


def test_missing_column_suggests_mapping(cookie_cats):
    with pytest.raises(DataError, match=r"'variant'.*Did you mean 'version'"):
        ab.Experiment(metrics=[ab.Proportion("retention_1")], control="gate_30").analyze(
            units=cookie_cats, unit_id="userid"
        )


def test_unknown_control_is_named(tiny_logs):
    exp, ev = tiny_logs
    with pytest.raises(DataError, match=r"control 'Control' is not among.*Did you mean 'control'"):
        ab.Experiment(metrics=[ab.Retention(day=1)], control="Control").analyze(
            exposures=exp, events=ev, as_of="2024-05-10T00:00Z"
        )


def test_single_variant_is_an_error(tiny_logs):
    exp, ev = tiny_logs
    exp["variant"] = "control"
    with pytest.raises(DataError, match="single value"):
        ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(
            exposures=exp, events=ev, as_of="2024-05-10T00:00Z"
        )


def test_empty_tables_are_errors(tiny_logs):
    exp, ev = tiny_logs
    with pytest.raises(DataError, match=r"no rows|no timestamps"):
        ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(
            exposures=exp.iloc[:0], events=ev.iloc[:0]
        )
    with pytest.raises(DataError, match="no rows"):
        ab.Experiment(metrics=[ab.Proportion("r")]).analyze(
            units=pd.DataFrame({"unit_id": [], "variant": [], "r": []})
        )


def test_proportion_column_must_be_binary(cookie_cats):
    with pytest.raises(DataError, match=r"sum_game_rounds.*0/1.*Mean"):
        ab.Experiment(
            metrics=[ab.Proportion("sum_game_rounds")], variant="version", control="gate_30"
        ).analyze(units=cookie_cats, unit_id="userid")


def test_tiny_arm_gets_no_pvalue():
    units = pd.DataFrame({"unit_id": [1, 2, 3], "variant": ["c", "c", "t"], "r": [1, 0, 1]})
    res = ab.Experiment(metrics=[ab.Proportion("r")], control="c").analyze(units=units)
    row = res.to_pandas().iloc[0]
    assert row.pvalue is None or np.isnan(row.pvalue)
    assert isinstance(row.note, str) and row.note


def test_bad_arguments_raise_spec_errors():
    with pytest.raises(SpecError):
        ab.Experiment(metrics=[])
    with pytest.raises(SpecError):
        ab.Experiment(metrics=[ab.Retention(day=1)], alternative="bigger")
    with pytest.raises(SpecError):
        ab.Experiment(metrics=[ab.Retention(day=1)]).analyze()
    with pytest.raises(AbkitError):
        ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(
            exposures=pd.DataFrame(), units=pd.DataFrame()
        )


def test_as_of_before_first_exposure_is_an_error(tiny_logs):
    exp, ev = tiny_logs
    with pytest.raises(DataError, match="before the first exposure"):
        ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(
            exposures=exp, events=ev, as_of="2024-01-01T00:00Z"
        )


def test_unsupported_source_type():
    with pytest.raises(DataError, match="unsupported input type"):
        ab.Experiment(metrics=[ab.Proportion("r")]).analyze(units=[1, 2, 3])


# --------------------------------------------------------------------------- calendar windows


def test_calendar_day_differs_from_rolling_day():
    # Shanghai = UTC+8. t0 = 23:00 local on May 1; the event at 01:00 local on May 2 is rolling
    # day 0 (2 hours later) but calendar day 1.
    exposures = [("a", "control", "2024-05-01T15:00:00"), ("b", "treatment", "2024-05-01T15:00:00")]
    exp, ev = _logs([("a", "2024-05-01T17:00:00")], exposures)
    metrics = [ab.Retention(day=0), ab.Retention(day=1, tz="Asia/Shanghai")]
    res = ab.Experiment(metrics=metrics, control="control").analyze(
        exposures=exp, events=ev, as_of="2024-05-03T16:00:00Z"
    )
    assert _arm(res, "retention_d0", "control").mean == 1.0
    assert _arm(res, "retention_d1_cal", "control").mean == 1.0
    assert "calendar day 1 in Asia/Shanghai" in res.metric("retention_d1_cal").definition


def test_calendar_maturity_is_local_midnight():
    exposures = [("a", "control", "2024-05-01T15:00:00"), ("b", "treatment", "2024-05-01T15:00:00")]
    exp, ev = _logs([("a", "2024-05-01T17:00:00")], exposures)
    m = [ab.Retention(day=1, tz="Asia/Shanghai")]
    # calendar day 2 starts at local midnight May 3 = 16:00 UTC May 2
    early = ab.Experiment(metrics=m).analyze(exposures=exp, events=ev, as_of="2024-05-02T15:59:59Z")
    assert _arm(early, "retention_d1_cal", "control").immature == 1
    ok = ab.Experiment(metrics=m).analyze(exposures=exp, events=ev, as_of="2024-05-02T16:00:00Z")
    assert _arm(ok, "retention_d1_cal", "control").n == 1


def test_calendar_days_across_a_dst_change():
    # New York springs forward on 2024-03-10 (02:00 EST -> 03:00 EDT): that local day has 23 hours.
    # t0 = 00:30 EST on Mar 10 (05:30 UTC); an event at 23:45 EDT on Mar 10 (03:45 UTC Mar 11) is
    # 22h15m later: rolling day 0 and calendar day 0. An event at 00:15 EDT Mar 11 (04:15 UTC) is
    # 22h45m later: still rolling day 0, but calendar day 1.
    exposures = [("a", "control", "2024-03-10T05:30:00"), ("b", "treatment", "2024-03-10T05:30:00")]
    exp, ev = _logs([("a", "2024-03-11T03:45:00"), ("b", "2024-03-11T04:15:00")], exposures)
    metrics = [ab.Retention(day=1, tz="America/New_York"), ab.Retention(day=0)]
    res = ab.Experiment(metrics=metrics).analyze(
        exposures=exp, events=ev, as_of="2024-03-20T00:00Z"
    )
    assert _arm(res, "retention_d1_cal", "control").mean == 0.0
    assert _arm(res, "retention_d1_cal", "treatment").mean == 1.0
    assert _arm(res, "retention_d0", "treatment").mean == 1.0


def test_unknown_zone_is_a_spec_error():
    with pytest.raises(SpecError, match="IANA"):
        ab.Retention(day=1, tz="Mars/Olympus")


# --------------------------------------------------------------------------- ratio metrics, caps


def test_ratio_metric_matches_a_direct_per_unit_computation(small_sim):
    from abkit.stats import RatioSums, compare_ratios

    ratio = ab.Ratio(ab.EventCount(days=(1, 7)), ab.ActiveDays(days=(1, 7)))
    res = ab.Experiment(metrics=[ratio], control="control").analyze(
        exposures=small_sim.exposures, events=small_sim.events
    )
    # the same per-unit numbers by hand in pandas
    exp = small_sim.exposures.sort_values("exposed_at").drop_duplicates("unit_id")
    ev = small_sim.events.merge(exp[["unit_id", "variant", "exposed_at"]], on="unit_id")
    as_of = small_sim.events.ts.max()
    ev = ev[(ev.ts >= ev.exposed_at) & (ev.ts <= as_of)]
    ev["day"] = (ev.ts - ev.exposed_at) // pd.Timedelta(days=1)
    win = ev[(ev.day >= 1) & (ev.day <= 7)]
    per_unit = win.groupby("unit_id").agg(x=("day", "size"), y=("day", "nunique"))
    mature = exp[exp.exposed_at + pd.Timedelta(days=8) <= as_of].set_index("unit_id")
    u = mature.join(per_unit).fillna({"x": 0, "y": 0})
    sums = {
        v: RatioSums(
            g.x.sum(), g.y.sum(), (g.x**2).sum(), (g.y**2).sum(), (g.x * g.y).sum(), len(g)
        )
        for v, g in u.groupby("variant")
    }
    expected = compare_ratios(sums["control"], sums["treatment"])
    row = res.to_pandas().iloc[0]
    assert row.control_value == pytest.approx(expected.control_value, rel=1e-12)
    assert row.pvalue == pytest.approx(expected.pvalue, rel=1e-9)
    assert row.n_control == sums["control"].n


def test_caps_apply_per_unit():
    units = pd.DataFrame(
        {"unit_id": range(6), "variant": ["c", "t"] * 3, "x": [1, 2, 50, 4, 5, 600.0]}
    )
    res = ab.Experiment(metrics=[ab.Mean("x", cap=10)], control="c").analyze(units=units)
    row = res.to_pandas().iloc[0]
    assert (row.control_value, row.treatment_value) == (
        pytest.approx(16 / 3),
        pytest.approx(16 / 3),
    )
    assert "capped at 10" in res.metrics[0].definition
    with pytest.raises(SpecError):
        ab.Mean("x", cap=float("inf"))
    with pytest.raises(SpecError, match="parts"):
        ab.Ratio(ab.Retention(day=1, tz="UTC"), ab.ActiveDays())


def test_quantile_cap_on_a_unit_table_matches_numpy_and_statsmodels(cookie_cats):
    # Reference: numpy.quantile's default (linear interpolation between order statistics,
    # Hyndman & Fan type 7) over all 90,189 players, both versions pooled; Welch's test on the
    # capped values by statsmodels. One player has 49,854 rounds: the cap matters.
    rounds = cookie_cats.sum_game_rounds.to_numpy(float)
    q = float(np.quantile(rounds, 0.99))
    assert q < rounds.max() / 100
    res = ab.Experiment(
        metrics=[ab.Mean("sum_game_rounds", cap_quantile=0.99)],
        variant="version",
        control="gate_30",
    ).analyze(units=cookie_cats, unit_id="userid")
    info = res.metrics[0]
    assert info.cap == pytest.approx(q, rel=1e-12)
    assert "0.99 quantile" in info.definition
    assert f"cap used: sum_game_rounds = {q:.6g}" in info.definition
    capped = np.minimum(rounds, q)
    x1 = capped[(cookie_cats.version == "gate_40").to_numpy()]
    x0 = capped[(cookie_cats.version == "gate_30").to_numpy()]
    cm = CompareMeans(DescrStatsW(x1), DescrStatsW(x0))
    _stat, p, _ = cm.ttest_ind(usevar="unequal")
    row = res.to_pandas().iloc[0]
    assert_allclose([row.control_value, row.treatment_value], [x0.mean(), x1.mean()], rtol=1e-12)
    assert_allclose(row.pvalue, p, rtol=1e-9)
    assert res.to_dict()["metrics"][0]["cap"] == info.cap


def test_quantile_cap_on_event_metric_pools_mature_analysed_units(small_sim):
    # Reference by hand in pandas: per-unit event counts on days 0-6 (0 without events) of the
    # units whose window has ended by as_of, both arms pooled, numpy.quantile's default.
    m = ab.EventCount(days=(0, 6), cap_quantile=0.9)
    exp = small_sim.exposures.sort_values("exposed_at").drop_duplicates("unit_id")
    as_of = exp.exposed_at.median() + pd.Timedelta(days=7)  # about half the units are mature
    res = ab.Experiment(metrics=[m], segments=["channel"]).analyze(
        exposures=small_sim.exposures, events=small_sim.events, as_of=as_of
    )
    exp = exp[exp.exposed_at <= as_of]
    ev = small_sim.events.merge(exp[["unit_id", "exposed_at"]], on="unit_id")
    ev = ev[(ev.ts >= ev.exposed_at) & (ev.ts <= as_of)]
    day = (ev.ts - ev.exposed_at) // pd.Timedelta(days=1)
    counts = ev[day <= 6].groupby("unit_id").size()
    mature = exp[exp.exposed_at + pd.Timedelta(days=7) <= as_of].set_index("unit_id")
    assert 0 < len(mature) < len(exp)  # some units are immature: they must not move the cap
    x = counts.reindex(mature.index, fill_value=0).astype(float)
    q = float(np.quantile(x.to_numpy(), 0.9))
    assert x.max() > q
    assert res.metrics[0].cap == pytest.approx(q, rel=1e-12)
    capped = np.minimum(x, q)
    row = res.to_pandas().iloc[0]
    means = capped.groupby(mature.variant).mean()
    assert_allclose(
        [row.control_value, row.treatment_value], [means["control"], means["treatment"]], rtol=1e-12
    )
    # segment breakdowns use the same cap: their arms add up to the overall arm
    arms = res.arms_to_pandas()
    arms = arms[arms.segment == "channel"]
    assert arms.segment_value.nunique() > 1
    for variant, g in arms.groupby("variant"):
        total = (g["mean"] * g["n"]).sum()
        assert total == pytest.approx(capped[mature.variant == variant].sum(), rel=1e-12)


def test_quantile_cap_arguments():
    with pytest.raises(SpecError, match="between 0 and 1"):
        ab.Mean("x", cap_quantile=99)
    with pytest.raises(SpecError, match="between 0 and 1"):
        ab.EventCount(cap_quantile=True)
    with pytest.raises(SpecError, match="not both"):
        ab.Revenue(cap=100, cap_quantile=0.99)
    assert (
        ab.metrics.metric_from_spec({"mean": {"column": "x", "cap_quantile": 0.95}}).cap_quantile
        == 0.95
    )
    stats = pd.DataFrame(
        {
            "variant": ["control", "treatment"],
            "x__n": [10, 10],
            "x__sum": [5.0, 6],
            "x__sumsq": [9.0, 9],
        }
    )
    with pytest.raises(SpecError, match=r"cap_quantile.*per-unit values"):
        ab.Experiment(metrics=[ab.Mean("x", cap_quantile=0.99)]).analyze_stats(stats)


def test_ratio_and_capped_metrics_validate_against_the_summary_schema(small_sim):
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads(
        (Path(ab.__file__).parent / "schemas" / "summary-v4.json").read_text(encoding="utf-8")
    )
    results = {"$defs": schema["$defs"], **schema["properties"]["results"]}
    metrics = [
        ab.Ratio(ab.EventCount(days=(0, 6), cap_quantile=0.95), ab.ActiveDays(days=(0, 6))),
        ab.Revenue(days=(0, 6), cap=50.0),
    ]
    events = small_sim.events.assign(value=1.0)
    res = ab.Experiment(metrics=metrics).analyze(exposures=small_sim.exposures, events=events)
    doc = json.loads(json.dumps(res.to_dict()))
    jsonschema.validate(doc, results)
    kinds = {m["name"]: (m["kind"], m["cap"]) for m in doc["metrics"]}
    assert kinds["value_d0_6"] == ("mean", 50.0)
    ratio = res.metrics[0]
    assert ratio.kind == "ratio" and ratio.cap is None
    assert "cap used: events_d0_6 = " in ratio.definition


@pytest.fixture(scope="module")
def returning_sim():
    # returning users: active before exposure with their own engagement, which CUPED uses
    return ab.simulate.retention_experiment(n_units=6000, seed=11, pre_days=14)


def _cuped_reference(sim, lookback, day_range, as_of):
    """Per mature unit, by hand in pandas: variant, y = active days in day_range after first
    exposure, x = active days in the lookback before it (day index floor((ts - t0) / 24h))."""
    exp = sim.exposures.sort_values("exposed_at").drop_duplicates("unit_id").set_index("unit_id")
    exp = exp[exp.exposed_at <= as_of]
    ev = sim.events.join(exp[["exposed_at"]], on="unit_id", how="inner")
    delta = ev.ts - ev.exposed_at
    ev = ev.assign(day=delta // pd.Timedelta(days=1))
    a, b = day_range
    post = ev[(delta >= pd.Timedelta(0)) & (ev.ts <= as_of) & ev.day.between(a, b)]
    pre = ev[(delta < pd.Timedelta(0)) & (delta >= -pd.Timedelta(days=lookback))]
    mature = exp[exp.exposed_at + pd.Timedelta(days=b + 1) <= as_of]
    y = post.groupby("unit_id").day.nunique().reindex(mature.index, fill_value=0)
    x = pre.groupby("unit_id").day.nunique().reindex(mature.index, fill_value=0)
    return mature.variant, y.astype(float), x.astype(float)


@pytest.mark.parametrize(
    ("metric", "day_range", "early"),
    [
        (ab.ActiveDays(days=(1, 7)), (1, 7), False),
        (ab.Retention(day=1), (1, 1), False),
        # as_of mid-experiment: many units immature for days 1-7, excluded from every sum
        (ab.ActiveDays(days=(1, 7)), (1, 7), True),
    ],
)
def test_cuped_from_logs_matches_ols_and_welch_on_adjusted_values(
    returning_sim, metric, day_range, early
):
    # References: statsmodels OLS y ~ 1 + treatment + x (the CUPED lift is its treatment
    # coefficient; the pooled within-arm slope is its x coefficient) and scipy's Welch test on
    # y - θx, from per-unit values computed by hand from the logs.
    import statsmodels.api as sm
    from scipy import stats

    as_of = returning_sim.events.ts.max()
    if early:
        as_of = returning_sim.exposures.exposed_at.min() + pd.Timedelta(days=14)
    variant, y, x = _cuped_reference(returning_sim, 14, day_range, as_of)
    if metric.kind == "proportion":
        y = (y > 0).astype(float)
    t = (variant == "treatment").astype(float).to_numpy()
    ols = sm.OLS(y.to_numpy(), np.column_stack([np.ones_like(t), t, x.to_numpy()])).fit()
    theta = ols.params[2]
    adj = y - theta * x
    welch = stats.ttest_ind(adj[t == 1], adj[t == 0], equal_var=False)
    kw = {"exposures": returning_sim.exposures, "events": returning_sim.events, "as_of": as_of}
    res = ab.Experiment(metrics=[metric], cuped=14).analyze(**kw)
    row = res.to_pandas().iloc[0]
    assert row.n_control + row.n_treatment == len(y)
    assert (row.immature_control + row.immature_treatment > 1000) == early
    assert_allclose(row.abs_lift, ols.params[1], rtol=1e-9)
    assert_allclose(row.pvalue, welch.pvalue, rtol=1e-7)
    assert "CUPED" in row.method and "variance of the lift" in row.note
    assert "CUPED" in res.metrics[0].definition and "14 days before" in res.metrics[0].definition
    plain = ab.Experiment(metrics=[metric]).analyze(**kw)
    p = plain.to_pandas().iloc[0]
    # the pre-period predicts the outcome: the interval narrows
    assert row.abs_lift_ci_upper - row.abs_lift_ci_lower < p.abs_lift_ci_upper - p.abs_lift_ci_lower
    # pre-exposure events are still reported as such; nothing else changes in the accounting
    assert res.data_quality.counts == plain.data_quality.counts
    assert res.data_quality.counts["events_before_exposure"] > 0
    # the same adjustment from pre-aggregated sums
    units = pd.DataFrame({"variant": variant, "y": y, "x": x})
    g = units.assign(yy=y * y, xx=x * x, xy=x * y).groupby("variant")
    name = metric.name
    stats_in = pd.DataFrame(
        {
            "variant": g.size().index,
            f"{name}__n": g.size().to_numpy(),
            f"{name}__sum": g.y.sum().to_numpy(),
            f"{name}__sumsq": g.yy.sum().to_numpy(),
            f"{name}__cx": g.x.sum().to_numpy(),
            f"{name}__cxx": g.xx.sum().to_numpy(),
            f"{name}__cxy": g.xy.sum().to_numpy(),
        }
    )
    pre = ab.Experiment(metrics=[metric]).analyze_stats(stats_in).to_pandas().iloc[0]
    assert_allclose([pre.abs_lift, pre.pvalue], [row.abs_lift, row.pvalue], rtol=1e-9)
    assert pre.method == row.method


def test_cuped_with_a_covariate_column_matches_ols():
    # a per-unit table with a pre-period column; reference: statsmodels OLS y ~ 1 + T + x and
    # scipy's Welch test on y - θx (null covariates count as 0)
    import statsmodels.api as sm
    from scipy import stats

    rng = np.random.default_rng(8)
    n = 4000
    pre = rng.gamma(2.0, 5.0, n)
    t = rng.random(n) < 0.5
    y = 3 + 0.8 * pre + 1.5 * t + rng.normal(0, 4, n)
    units = pd.DataFrame(
        {"unit_id": range(n), "variant": np.where(t, "treatment", "control"), "y": y}
    )
    units["y_pre"] = pre
    units.loc[::50, "y_pre"] = np.nan
    x = units.y_pre.fillna(0.0).to_numpy()
    ols = sm.OLS(y, np.column_stack([np.ones(n), t.astype(float), x])).fit()
    adj = y - ols.params[2] * x
    welch = stats.ttest_ind(adj[t], adj[~t], equal_var=False)
    res = ab.Experiment(metrics=[ab.Mean("y", covariate="y_pre")]).analyze(units=units)
    row = res.to_pandas().iloc[0]
    assert_allclose(row.abs_lift, ols.params[1], rtol=1e-9)
    assert_allclose(row.pvalue, welch.pvalue, rtol=1e-7)
    assert row.method.startswith("CUPED") and "'y_pre'" in res.metrics[0].definition
    # the variance falls by about the share of y's variance the pre-period explains
    assert float(row.note.split("lift ")[1].rstrip("%")) < -50
    # the same column read from an exposure log (the unit's first exposure row)
    exposures = units.assign(exposed_at=pd.Timestamp("2024-03-01", tz="UTC"))
    via_log = ab.Experiment(metrics=[ab.Mean("y", covariate="y_pre")]).analyze(exposures=exposures)
    assert_allclose(via_log.to_pandas().iloc[0].abs_lift, ols.params[1], rtol=1e-9)


def test_cuped_covariates_without_bit_masks_agree(returning_sim):
    # a lookback over 62 days is computed with COUNT(DISTINCT) instead of a bit mask; the logs
    # hold 14 days of pre-exposure activity, so both lookbacks see the same covariate
    metrics = [ab.Retention(day=7), ab.EventCount(days=(0, 6)), ab.Revenue(days=(0, 13))]
    kw = {"exposures": returning_sim.exposures, "events": returning_sim.events}
    a = ab.Experiment(metrics=metrics, cuped=14).analyze(**kw).to_pandas()
    b = ab.Experiment(metrics=metrics, cuped=90).analyze(**kw).to_pandas()
    cols = ["abs_lift", "abs_lift_ci_lower", "abs_lift_ci_upper", "pvalue"]
    assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), rtol=1e-10)
    assert a.note.str.contains("CUPED").all()


def test_cuped_arguments(cookie_cats):
    for bad in (0, True, 14.5, 400):
        with pytest.raises(SpecError, match="cuped"):
            ab.Experiment(metrics=[ab.Retention(day=1)], cuped=bad)
    exp = ab.Experiment(metrics=[ab.Proportion("retention_7")], variant="version", cuped=7)
    with pytest.raises(SpecError, match="exposure and event logs"):
        exp.analyze(units=cookie_cats.head(100), unit_id="userid")


def test_quantile_cap_ignores_units_of_unexpected_variants(small_sim):
    # 9 units of a variant the experiment does not analyse, with huge values, must not set the
    # cap (reference: numpy.quantile over the analysed units only)
    rng = np.random.default_rng(3)
    units = pd.DataFrame(
        {
            "unit_id": range(1009),
            "variant": ["control", "treatment"] * 500 + ["holdout"] * 9,
            "rev": np.r_[rng.exponential(10, 1000), np.full(9, 1e6)],
        }
    )
    exp = ab.Experiment(
        metrics=[ab.Mean("rev", cap_quantile=0.995)], variants=["control", "treatment"]
    )
    res = exp.analyze(units=units)
    assert res.metrics[0].cap == pytest.approx(np.quantile(units.rev[:1000], 0.995), rel=1e-12)
    # the same through the logs: units relabelled to another variant with many events
    ex = small_sim.exposures.copy()
    moved = ex.unit_id.drop_duplicates().iloc[:15]
    ex.loc[ex.unit_id.isin(moved), "variant"] = "holdout"
    extra = pd.DataFrame(
        {"unit_id": np.repeat(moved.to_numpy(), 500), "event": "session", "value": np.nan}
    )
    t0 = ex.groupby("unit_id").exposed_at.min()
    extra["ts"] = extra.unit_id.map(t0) + pd.Timedelta(hours=1)
    ev = pd.concat([small_sim.events, extra], ignore_index=True)
    m = ab.EventCount(days=(0, 6), cap_quantile=0.995)
    capped = ab.Experiment(metrics=[m], variants=["control", "treatment"]).analyze(
        exposures=ex, events=ev
    )
    clean = ab.Experiment(metrics=[m]).analyze(
        exposures=small_sim.exposures[~small_sim.exposures.unit_id.isin(moved)],
        events=small_sim.events,
    )
    assert capped.metrics[0].cap == clean.metrics[0].cap < 100


def test_quantile_cap_refused_where_the_quantile_is_not_exact(small_sim):
    exp = ab.Experiment(metrics=[ab.EventCount(days=(0, 6), cap_quantile=0.99)])
    kw = {
        "exposures": small_sim.exposures,
        "events": small_sim.events,
        "as_of": "2024-04-01T00:00Z",
    }
    for dialect in ("bigquery", "trino", "clickhouse"):
        with pytest.raises(SpecError, match=r"exact quantile.*fixed cap"):
            exp.to_sql(dialect=dialect, **kw)
    assert "PERCENTILE_CONT" in exp.to_sql(dialect="snowflake", **kw)


def test_cuped_says_which_metrics_it_did_not_adjust(returning_sim):
    metrics = [
        ab.Ratio(ab.EventCount(days=(0, 6)), ab.ActiveDays(days=(0, 6))),
        ab.Retention(day=1),
        ab.Mean("score"),
    ]
    exposures = returning_sim.exposures.assign(score=1.0)
    exposures["score"] += np.arange(len(exposures)) % 7
    res = ab.Experiment(metrics=metrics, cuped=14).analyze(
        exposures=exposures, events=returning_sim.events
    )
    notes = res.to_pandas().set_index("metric").note
    # a ratio of event metrics is adjusted for both parts' pre-exposure activity
    assert "CUPED: variance of the lift" in notes.iloc[0]
    assert "not CUPED-adjusted" not in notes.iloc[0]
    assert notes["retention_d1"].startswith("CUPED: variance")
    assert "not CUPED-adjusted: no covariate for this metric" in notes["score"]
    stats = pd.DataFrame(
        {"variant": ["control", "treatment"], "x__n": [10, 10], "x__sum": [5.0, 6]}
        | {"x__sumsq": [9.0, 9], "x__cxy": [3.0, 4]}
    )
    with pytest.raises(DataError, match=r"x__cx"):
        ab.Experiment(metrics=[ab.Mean("x")]).analyze_stats(stats)
    plain = ab.Experiment(metrics=[ab.Mean("x")], cuped=14).analyze_stats(
        stats.drop(columns="x__cxy")
    )
    assert "x__cx, __cxx and __cxy" in plain.to_pandas().note.iloc[0]
    with pytest.raises(SpecError, match="cuped"):
        ab.load_spec({"name": "e", "control": "control", "cuped": True})


def test_srm_is_located_in_the_broken_segment():
    sim = ab.simulate.retention_experiment(n_units=20_000, seed=5)
    exp = sim.exposures
    # a broken logging integration loses 40% of treatment units from 'social' only
    lost = exp[(exp.channel == "social") & (exp.variant == "treatment")].unit_id.drop_duplicates()
    lost = set(lost.sample(frac=0.4, random_state=1))
    exp = exp[~exp.unit_id.isin(lost)]
    res = ab.Experiment(metrics=[ab.Retention(day=1)], segments=["channel", "platform"]).analyze(
        exposures=exp, events=sim.events
    )
    assert res.srm.flagged
    by_seg = res.srm_by_segment().set_index(["segment", "value"])
    assert by_seg.loc[("channel", "social"), "flagged"]
    assert not by_seg.loc[("channel", "organic"), "flagged"]
    mix = res.segment_mix().set_index("segment")
    assert mix.loc["channel", "flagged"] and not mix.loc["platform", "flagged"]
    het = res.heterogeneity()
    assert set(het.segment) == {"channel", "platform"} and het.pvalue.notna().all()


def test_guardrails_on_ratio_metrics_use_the_delta_method(small_sim):
    from abkit.stats import noninferiority_ratios

    ratio = ab.Ratio(ab.EventCount(days=(1, 7)), ab.ActiveDays(days=(1, 7)))
    guard = {"metric": ratio.name, "margin": 0.05, "relative": True}
    # from pre-aggregated sums: the guardrail is exactly the delta-method non-inferiority test
    sums = {
        "control": (5860.0, 2938.0, 45644.0, 10670.0, 21290.0, 1000),
        "treatment": (5995.0, 3064.0, 48298.0, 11560.0, 22824.0, 1000),
    }
    cols = ("sum", "sumy", "sumsq", "sumyy", "sumxy", "n")
    stats = pd.DataFrame(
        [{"variant": v, **{f"{ratio.name}__{c}": x for c, x in zip(cols, s, strict=True)}}
         for v, s in sums.items()]
    )  # fmt: skip
    exp = ab.Experiment(metrics=[ratio], guardrails=[guard])
    (g,) = exp.analyze_stats(stats).guardrails
    ref = noninferiority_ratios(sums["control"], sums["treatment"], margin=0.05, relative=True)
    assert (g.pvalue, g.passed, g.bound) == (ref.pvalue, ref.passed, ref.bound)
    assert "ratio" in g.method
    # and from the logs, end to end
    res = exp.analyze(exposures=small_sim.exposures, events=small_sim.events)
    (g,) = res.guardrails
    assert g.metric == ratio.name and g.pvalue is not None and g.passed is not None


def test_analyze_stats_validates_its_input():
    exp = ab.Experiment(metrics=[ab.Retention(day=7)])
    good = {
        "variant": ["control", "treatment"],
        "retention_d7__n": [100, 100],
        "retention_d7__sum": [20, 25],
    }
    assert exp.analyze_stats(pd.DataFrame(good)).to_pandas().n_control.iloc[0] == 100
    with pytest.raises(DataError, match="finite numbers"):
        exp.analyze_stats(pd.DataFrame({**good, "retention_d7__n": ["a", 100]}))
    with pytest.raises(DataError, match="between 0 and retention_d7__n"):
        exp.analyze_stats(pd.DataFrame({**good, "retention_d7__sum": [120, 25]}))


def test_weights_must_cover_every_variant(tiny_logs):
    exp, ev = tiny_logs
    with pytest.raises(DataError, match="no planned weight"):
        ab.Experiment(metrics=[ab.Retention(day=1)], weights={"control": 1.0}).analyze(
            exposures=exp, events=ev, as_of="2024-05-10T00:00Z"
        )


def test_dollar_signs_in_names_do_not_break_plots(small_sim):
    res = ab.Experiment(metrics=[ab.Retention(day=1)], name="price $4.99 vs $x^$").analyze(
        exposures=small_sim.exposures, events=small_sim.events
    )
    ax = res.plot()
    ax.figure.canvas.draw()  # would raise a mathtext ParseException without escaping


def test_abkit_bugs_surface_and_engine_errors_are_translated(monkeypatch):
    import duckdb

    import abkit.analysis.experiment as experiment

    exposures, events = ab.simulate.retention_experiment(n_units=200, seed=3)
    exp = ab.Experiment(metrics=[ab.Retention(day=1)])

    def bug(*args, **kwargs):
        raise KeyError("a bug of abkit's own")

    monkeypatch.setattr(experiment, "collect_analysis", bug)
    with pytest.raises(KeyError, match="a bug of abkit's own"):  # not relabelled as bad data
        exp.analyze(exposures=exposures, events=events)

    def out_of_memory(*args, **kwargs):
        raise duckdb.OutOfMemoryException("failed to allocate 2.0 GiB")

    monkeypatch.setattr(experiment, "execute_with_sql", out_of_memory)
    with pytest.raises(DataError, match="OutOfMemoryException: failed to allocate"):
        exp.analyze(exposures=exposures, events=events)


def test_user_errors_are_abkit_errors():
    from abkit.query import build_analysis_query

    with pytest.raises(ab.AbkitError, match="n_units"):
        ab.simulate.retention_experiment(n_units=0)
    with pytest.raises(ab.AbkitError, match="weights"):
        ab.simulate.retention_experiment(n_units=10, weights=[0.9, 0.9])
    exposures, _ = ab.simulate.retention_experiment(n_units=20, seed=1)
    t = ibis.memtable(exposures)
    with pytest.raises(SpecError, match="computed from events"):
        build_analysis_query(
            t, None, [ab.Retention(day=1)], segments=(), carry=(), as_of=datetime.now(UTC)
        )


def test_public_face_reaches_every_documented_module():
    import abkit._version
    import abkit.design
    import abkit.engine
    import abkit.spec
    from abkit.errors import ConsistencyError

    assert ab.engine is abkit.engine and ab.design is abkit.design and ab.spec is abkit.spec
    assert ab.ConsistencyError is ConsistencyError and "ConsistencyError" in ab.__all__
    assert ab.__version__ == abkit._version.__version__


def test_an_event_filter_naming_an_absent_event_lists_the_events_that_occur():
    exposures, events = ab.simulate.retention_experiment(n_units=300, seed=2)
    exp = ab.Experiment(metrics=[ab.Retention(day=1), ab.Retention(day=7, event="purchse")])
    with pytest.raises(DataError, match=r"'purchse' \(did you mean 'purchase'\?\).*'session'"):
        exp.analyze(exposures=exposures, events=events)
    # an event that occurs but never in the window is a result (zero), not an error
    rare = events[events.event != "purchase"].copy()
    rare.loc[rare.index[:1], "event"] = "purchase"
    res = ab.Experiment(metrics=[ab.Retention(day=30, event="purchase")]).analyze(
        exposures=exposures, events=rare, as_of="2024-05-30T00:00Z"
    )
    assert res.to_pandas().treatment_value.iloc[0] >= 0
