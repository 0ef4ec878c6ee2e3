"""Retention views: curve, cohorts, churn, funnel, drivers — exact counts on hand-built logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import abkit as ab
from abkit import retention as R
from abkit.errors import DataError, SpecError
from tests.conftest import ts

T0 = pd.Timestamp("2024-05-01T10:00:00", tz="UTC")
DAY = pd.Timedelta(days=1)


def _logs(active: dict[str, tuple[str, list[float]]], t0=T0, events=None):
    """units -> (variant, active day offsets); one 'session' event 1h into each active day."""
    exp = pd.DataFrame(
        {"unit_id": list(active), "variant": [v for v, _ in active.values()], "exposed_at": t0}
    )
    rows = [
        (u, t0 + d * DAY + pd.Timedelta(hours=1), "session")
        for u, (_, ds) in active.items()
        for d in ds
    ]
    rows += events or []
    ev = pd.DataFrame(rows, columns=["unit_id", "ts", "event"])
    return exp, ev


def test_curve_equals_single_metrics_and_lands_near_truth():
    sim = ab.simulate.retention_experiment(n_units=8_000, seed=3)
    curve = R.retention_curve(sim.exposures, sim.events, max_day=10)
    single = (
        ab.Experiment(metrics=[ab.Retention(day=7)])
        .analyze(exposures=sim.exposures, events=sim.events)
        .to_pandas()
        .iloc[0]
    )
    lift7 = curve.lifts_to_pandas().set_index("day").loc[7]
    assert lift7.pvalue == pytest.approx(single.pvalue, rel=1e-12)
    df = curve.to_pandas()
    assert set(df.day) == set(range(11)) and (df[df.day == 0].retention == 1.0).all()
    covered = [
        r.ci_lower <= sim.true_retention(r.day, r.variant) <= r.ci_upper
        for r in df[df.day >= 1].itertuples()
    ]
    assert np.mean(covered) >= 0.8  # 20 Wilson intervals at 95%: most cover the truth
    assert curve.plot().get_ylabel() == "retention (%)"
    curve.plot_lift()


def test_cohorts_split_units_by_first_exposure_date():
    exp1, ev1 = _logs({"a": ("control", [1]), "b": ("treatment", [])})
    exp2, ev2 = _logs({"c": ("control", []), "d": ("treatment", [1])}, t0=T0 + 2 * DAY)
    exp, ev = pd.concat([exp1, exp2]), pd.concat([ev1, ev2])
    table = R.cohort_table(exp, ev, days=(1,), as_of=ts("2024-06-01"))
    piv = table.pivot("control")
    assert piv.loc["2024-05-01", 1] == 1.0 and piv.loc["2024-05-03", 1] == 0.0
    assert table.pivot("treatment").loc["2024-05-03", 1] == 1.0
    weekly = R.cohort_table(exp, ev, days=(1,), period="week", as_of=ts("2024-06-01"))
    assert weekly.pivot("control").index.tolist() == ["2024-04-29"]  # the Monday of that week
    assert weekly.pivot("control").loc["2024-04-29", 1] == 0.5
    table.plot()


def test_churn_times_on_hand_built_logs():
    # K = 3 inactive days; tau = 10; as_of = t0 + 20 days (all windows observable)
    active = {
        "a": ("control", [0, 1, 2]),  # inactive 3, 4, 5 -> churn at 3
        "b": ("control", [0, 4, 5]),  # inactive 1, 2, 3 -> churn at 1
        "c": ("control", list(range(0, 20))),  # never inactive -> censored at tau
        "d": ("treatment", [0, 2, 4, 6, 8, 10, 12, 14]),  # gaps of 1 day only -> censored at tau
        "e": ("treatment", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),  # churn at 12 > tau -> censored
        "f": ("treatment", []),  # no events at all: inactive 0..2 -> churn at 0
    }
    exp, ev = _logs(active)
    res = R.churn_survival(exp, ev, inactive_days=3, tau=10, as_of=T0 + 20 * DAY)
    got = {(r.variant, r.time, r.churned): r.units for r in res.counts.itertuples()}
    assert got == {
        ("control", 1, 1): 1,
        ("control", 3, 1): 1,
        ("control", 10, 0): 1,
        ("treatment", 0, 1): 1,
        ("treatment", 10, 0): 2,
    }
    assert "3 consecutive inactive days" in res.definition


def test_churn_censoring_follows_as_of():
    # as_of = t0 + 5 days: days 0..4 observable. 'a' active 0,1 -> inactive 2,3,4 -> churn at 2.
    # 'b' active 0..4 -> no run can be checked beyond c = 5 - 3 = 2 -> censored at 2.
    # 'c' exposed 1 day before as_of: h = 1 < K -> no run can be checked: immature, excluded.
    exp, ev = _logs({"a": ("control", [0, 1]), "b": ("treatment", [0, 1, 2, 3, 4])})
    late = pd.DataFrame({"unit_id": ["c"], "variant": ["treatment"], "exposed_at": [T0 + 4 * DAY]})
    res = R.churn_survival(pd.concat([exp, late]), ev, inactive_days=3, tau=10, as_of=T0 + 5 * DAY)
    got = {(r.variant, r.time, r.churned): r.units for r in res.counts.itertuples()}
    assert got == {("control", 2, 1): 1, ("treatment", 2, 0): 1}
    assert res.immature == 1 and "immature (1)" in res.definition


def test_churn_on_simulation_finds_the_effect():
    sim = ab.simulate.retention_experiment(n_units=10_000, seed=4)
    res = R.churn_survival(sim.exposures, sim.events, inactive_days=7, tau=30)
    s = res.summary().iloc[0]
    assert s.extra_days > 0 and s.ci_lower > 0 and s.pvalue < 0.01  # the true effect is +8%
    assert res.logrank.pvalue < 0.01
    km = res.to_pandas()
    assert km.groupby("variant").survival.apply(lambda x: x.is_monotonic_decreasing).all()
    res.plot()


def test_funnel_is_ordered_and_windowed():
    extra = [
        ("a", T0 + pd.Timedelta(hours=2), "tutorial"),
        ("a", T0 + pd.Timedelta(hours=3), "purchase"),
        ("b", T0 + pd.Timedelta(hours=3), "purchase"),
        ("b", T0 + pd.Timedelta(hours=4), "tutorial"),
        ("c", T0 + 8 * DAY, "tutorial"),  # outside the 7-day window
        ("d", T0 + pd.Timedelta(hours=1), "tutorial"),
    ]
    exp, ev = _logs(
        {
            "a": ("control", []),
            "b": ("control", []),
            "c": ("treatment", []),
            "d": ("treatment", []),
        },
        events=extra,
    )
    res = R.funnel(exp, ev, ["tutorial", "purchase"], window_days=7, as_of=T0 + 10 * DAY)
    t = res.table.set_index(["variant", "step"]).reached
    assert t[("control", "tutorial")] == 2 and t[("control", "purchase")] == 1  # b bought first
    assert t[("treatment", "tutorial")] == 1 and t[("treatment", "purchase")] == 0
    step = res.to_pandas().query("step == 'purchase' and kind == 'step'").iloc[0]
    assert (step.control_value, step.treatment_value) == (0.5, 0.0)
    assert "at or after the time step k-1" in res.definition


def test_drivers_rank_a_planted_behaviour_first():
    rng = np.random.default_rng(1234)
    active, extra = {}, []
    for i in range(600):
        u = f"u{i}"
        tutorial = rng.random() < 0.5
        retained = rng.random() < (0.6 if tutorial else 0.2)
        active[u] = ("control", [0, 7] if retained else [0])
        if tutorial:
            extra.append((u, T0 + pd.Timedelta(hours=5), "tutorial"))
        if rng.random() < 0.5:
            extra.append((u, T0 + pd.Timedelta(hours=6), "share"))
    active["t1"] = ("treatment", [0])
    exp, ev = _logs(active, events=extra)
    res = R.retention_drivers(exp, ev, target=7, within_days=1, as_of=T0 + 10 * DAY)
    top = res.to_pandas().iloc[0]
    assert top.event == "tutorial" and top.ci_lower > 0.25 and top.pvalue_bh < 1e-6
    assert "not causal" in res.label or "not causal effects" in res.label
    plan = res.power_for_top(1)
    assert plan.n_per_arm.iloc[0] > 0


def test_bad_arguments():
    exp, ev = _logs({"a": ("control", [1]), "b": ("treatment", [])})
    with pytest.raises(SpecError):
        R.retention_curve(exp, ev, max_day=-1)
    with pytest.raises(SpecError):
        R.churn_survival(exp, ev, inactive_days=0)
    with pytest.raises(SpecError):
        R.funnel(exp, ev, [])
    with pytest.raises(SpecError, match="within_days"):
        R.retention_drivers(exp, ev, target=7, within_days=8)
    with pytest.raises(SpecError, match="period"):
        R.cohort_table(exp, ev, period="month")
    with pytest.raises(DataError, match="'event' column"):
        R.funnel(exp, ev.drop(columns="event"), ["x"], as_of=T0 + 10 * DAY)


def test_views_normalise_float_ids_like_analyze():
    exp = pd.DataFrame(
        {
            "unit_id": [1.0, 2.0, np.nan, 4.0],
            "variant": ["control", "treatment"] * 2,
            "exposed_at": T0,
        }
    )
    ev = pd.DataFrame(
        {"unit_id": [1, 2, 4], "ts": T0 + pd.Timedelta(hours=2), "event": ["open", "open", "open"]}
    )
    res = R.funnel(exp, ev, ["open"], window_days=1, as_of=T0 + 3 * DAY)
    assert res.table.set_index("variant").reached.to_dict() == {"control": 1, "treatment": 2}


def test_funnel_repeated_step_needs_a_second_event():
    extra = [
        ("a", T0 + pd.Timedelta(hours=1), "open"),
        ("b", T0 + pd.Timedelta(hours=1), "open"),
        ("b", T0 + pd.Timedelta(hours=5), "open"),
    ]
    exp, ev = _logs({"a": ("control", []), "b": ("treatment", [])}, events=extra)
    res = R.funnel(exp, ev, ["open", "open"], window_days=1, as_of=T0 + 3 * DAY)
    t = res.table.groupby("variant").reached.apply(list).to_dict()
    assert t == {"control": [1, 0], "treatment": [1, 1]}


def test_churn_with_no_variation_gives_no_logrank_p_instead_of_crashing():
    from abkit.stats.survival import logrank

    r = logrank([0, 0], [1, 1], ["a", "b"], [10, 10])
    assert r.pvalue is None and "no variation" in (r.note or "")


@pytest.fixture
def one_thread_engine(monkeypatch):
    """abkit's engine at threads=1 and a 1 GB limit; every connection it makes is kept, and a
    query that runs on Ibis's default backend instead (``Expr.execute``) fails the test."""
    import ibis.expr.types as ir

    from abkit import engine

    made = []
    real_connect = engine.connect

    def connect(**overrides):
        con = real_connect(**overrides)
        made.append(con)
        return con

    def refuse(self, *args, **kwargs):
        raise AssertionError("a query ran on Ibis's default backend, not on abkit's engine")

    monkeypatch.setattr(engine, "connect", connect)
    monkeypatch.setattr(ir.Expr, "execute", refuse)
    before = engine.get_config()
    engine.configure(memory_limit="1GB", threads=1)
    yield made
    engine.configure(memory_limit=before.memory_limit, threads=before.threads)


@pytest.mark.parametrize("view", ["curve", "cohorts", "churn", "funnel", "drivers", "analyze"])
def test_every_query_runs_on_abkits_engine(view, one_thread_engine):
    # before the redesign churn_survival, funnel and retention_drivers (and the as_of default,
    # and float-id checks) ran their queries with Expr.execute: all threads, no memory limit
    exposures, events = ab.simulate.retention_experiment(n_units=400, seed=5)
    exposures["unit_id"] = exposures["unit_id"].str[1:].astype(float)  # float ids: a check query
    events["unit_id"] = events["unit_id"].str[1:].astype(float)
    calls = {
        "curve": lambda: R.retention_curve(exposures, events, max_day=3),
        "cohorts": lambda: R.cohort_table(exposures, events, days=(1, 3)),
        "churn": lambda: R.churn_survival(exposures, events, inactive_days=3, tau=7),
        "funnel": lambda: R.funnel(exposures, events, ["session"], window_days=2),
        "drivers": lambda: R.retention_drivers(exposures, events, target=3, within_days=1),
        "analyze": lambda: ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(
            exposures=exposures, events=events
        ),
    }
    calls[view]()
    assert len(one_thread_engine) == 1, "the logs were loaded onto one connection"
    con = one_thread_engine[0]
    threads, limit = con.raw_sql(
        "SELECT current_setting('threads'), current_setting('memory_limit')"
    ).fetchone()
    assert int(threads) == 1
    assert limit.replace(" ", "").upper().startswith(("1.0GB", "1GB", "953.6MIB", "953MIB")), limit


def test_views_need_events():
    exposures, _ = ab.simulate.retention_experiment(n_units=50, seed=1)
    with pytest.raises(SpecError, match="events"):
        R.churn_survival(exposures, None)


def test_curve_days_come_from_the_metrics_not_their_names():
    # the day of each curve point is the Retention metric's own day; a name that does not spell
    # the day (here: custom names) must not change it
    exposures, events = ab.simulate.retention_experiment(n_units=300, seed=2)
    curve = R.retention_curve(exposures, events, max_day=2)
    renamed = tuple(ab.Retention(day=m.day, name=f"point{i}") for i, m in enumerate(curve.metrics))
    res = ab.Experiment(metrics=list(renamed)).analyze(exposures=exposures, events=events)
    other = R.RetentionCurve(res, 2, renamed)
    a = curve.to_pandas().drop(columns=[])
    b = other.to_pandas()
    pd.testing.assert_frame_equal(a, b)
    assert list(other.lifts_to_pandas().day) == [0, 1, 2]


def test_funnel_step_that_never_occurs_lists_the_events_that_do():
    exp, ev = _logs(
        {"a": ("control", [1]), "b": ("treatment", [1])},
        events=[("a", T0 + pd.Timedelta(hours=2), "purchase")],
    )
    with pytest.raises(DataError) as info:
        R.funnel(exp, ev, ["session", "purchse"], as_of=T0 + 10 * DAY)
    msg = str(info.value)
    assert "'purchse' (did you mean 'purchase'?)" in msg
    assert "the events that occur are: 'purchase', 'session'" in msg
    assert "'session' (" not in msg  # a step that occurs is not blamed
    # an event that occurs but that no unit reaches in its window is a step, not an error
    late = [("a", T0 + 20 * DAY, "refund")]
    exp, ev = _logs({"a": ("control", [1]), "b": ("treatment", [1])}, events=late)
    res = R.funnel(exp, ev, ["session", "refund"], window_days=7, as_of=T0 + 30 * DAY)
    assert res.table.query("step == 'refund'").reached.sum() == 0


def test_funnel_event_check_runs_on_abkits_engine(monkeypatch):
    import ibis.expr.types as ir

    def refuse(self, *args, **kwargs):
        raise AssertionError("a query ran outside abkit.engine.execute")

    monkeypatch.setattr(ir.Expr, "execute", refuse)
    exp, ev = _logs({"a": ("control", [1]), "b": ("treatment", [1])})
    with pytest.raises(DataError, match="name no event of the events log"):
        R.funnel(exp, ev, ["signup"], as_of=T0 + 10 * DAY)
