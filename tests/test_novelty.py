"""Novelty / primacy: per-day lifts, their trend, calendar-matched cohorts; the simulate option.

The slope's variance is checked against statsmodels' cluster-robust covariance of a regression on
the per-unit-day rows (a computation that shares nothing with abkit's SQL cross-products); the
flag is calibrated on simulations. The calibration figures in docs/long_term.md come from

    .venv/bin/python -m tests.test_novelty   # (about 4 minutes of one core)
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose

from abkit import retention as R
from abkit.errors import SpecError
from abkit.retention.novelty import lift_trend, trend_flag
from abkit.simulate import retention_experiment

T0 = pd.Timestamp("2024-05-01T10:00:00", tz="UTC")
DAY = pd.Timedelta(days=1)


def _logs(active: dict[str, tuple[str, list[int]]], t0=T0, per_day: int = 1):
    """units -> (variant, active days); ``per_day`` 'session' events on each active day."""
    exp = pd.DataFrame(
        {"unit_id": list(active), "variant": [v for v, _ in active.values()], "exposed_at": t0}
    )
    rows = [
        (u, t0 + d * DAY + pd.Timedelta(hours=1 + i), "session")
        for u, (_, ds) in active.items()
        for d in ds
        for i in range(per_day)
    ]
    return exp, pd.DataFrame(rows, columns=["unit_id", "ts", "event"])


# ----------------------------------------------------------------------------- simulate option


def _digest(sim) -> str:
    h = hashlib.sha256()
    for df in (sim.exposures, sim.events, sim.truth):
        h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(
    ("kwargs", "digest"),
    [
        # digests of the data before effect_decay_days existed (same pandas, same numpy)
        ({"n_units": 500, "seed": 7}, "e87b260488777402"),
        (
            {"n_units": 800, "seed": 3, "pre_days": 3, "effects": {"treatment": 0.05}},
            "b032ae1bc765eea8",
        ),
        (
            {
                "n_units": 300,
                "seed": 1,
                "variants": ("a", "b", "c"),
                "effects": {"b": 0.05, "c": -0.05},
            },
            "d0eb1869dac180e6",
        ),
    ],
)
def test_existing_seeds_give_the_same_data(kwargs, digest):
    assert _digest(retention_experiment(**kwargs)) == digest
    assert _digest(retention_experiment(**kwargs, effect_decay_days=None)) == digest


def test_fading_effect_changes_only_the_daily_probabilities():
    plain = retention_experiment(n_units=400, seed=9)
    fading = retention_experiment(n_units=400, seed=9, effect_decay_days=3.0)

    def first(sim):  # each unit's first exposure: the draws made before any activity
        return sim.exposures.sort_values("exposed_at", kind="stable").groupby("unit_id").first()

    pd.testing.assert_frame_equal(first(plain), first(fading))
    t = fading.truth.pivot(index="day", columns="variant", values="retention")
    lift = t.treatment / t.control - 1
    assert_allclose(lift.loc[1:], 0.08 * np.exp(-np.arange(1, 41) / 3.0), rtol=1e-9)
    assert fading.params["effect_decay_days"] == 3.0 and plain.params["effect_decay_days"] is None
    # fewer treatment events on late days than under the constant effect
    assert len(fading.events) < len(plain.events)
    for bad in (0, -1.0, float("inf"), "7"):
        with pytest.raises(SpecError, match="effect_decay_days"):
            retention_experiment(n_units=10, effect_decay_days=bad)


# ----------------------------------------------------------------------------- exact numbers


def test_per_day_lifts_on_hand_built_logs():
    # days 1..3, as_of = t0 + 10 days: every unit is mature; a's day-0 event does not count
    logs = {
        "a": ("control", [0, 1, 2]),
        "b": ("control", [1]),
        "e": ("control", [3]),
        "c": ("treatment", [1, 2, 3]),
        "d": ("treatment", [2]),
        "f": ("treatment", []),
    }
    exp, ev = _logs(logs)
    r = R.novelty(exp, ev, days=3, scale="absolute", as_of=T0 + 10 * DAY)
    t = r.trends["treatment"]
    assert r.n == {"control": 3, "treatment": 3} and r.immature == 0
    assert t.days == (1, 2, 3)
    assert_allclose(t.control_means, [2 / 3, 1 / 3, 1 / 3], rtol=1e-15)
    assert_allclose(t.treatment_means, [1 / 3, 2 / 3, 1 / 3], rtol=1e-15)
    assert_allclose(t.lifts, [-1 / 3, 1 / 3, 0], atol=1e-15)
    # by hand: Var(mean) = p(1-p)/n = 2/27 in each arm on each day, so equal weights; the
    # slope of (-1/3, 1/3, 0) on (1, 2, 3) is 1/6 with contrast c = (-1/2, 0, 1/2), and
    # Cov(lift_1, lift_3) = (0/3 - 2/3·1/3)/3 + (1/3 - 1/3·1/3)/3 = 0 (control: nobody active
    # on both days; treatment: c is), so Var(slope) = (4/27 + 4/27) / 4 = 2/27
    assert_allclose(np.square(t.lift_se), [4 / 27] * 3, rtol=1e-12)
    assert_allclose([t.slope, t.cov[1][1], t.center], [1 / 6, 2 / 27, 2.0], rtol=1e-12)
    events = R.novelty(exp, ev, days=3, metric="events", scale="absolute", as_of=T0 + 10 * DAY)
    assert_allclose(events.trends["treatment"].lifts, t.lifts, atol=1e-15)  # one event a day
    exp2, ev2 = _logs(logs, per_day=2)
    doubled = R.novelty(exp2, ev2, days=3, metric="events", scale="absolute", as_of=T0 + 10 * DAY)
    assert_allclose(doubled.trends["treatment"].lifts, 2 * np.array(t.lifts), atol=1e-15)
    same = R.novelty(exp2, ev2, days=3, scale="absolute", as_of=T0 + 10 * DAY)  # active: 0/1
    assert_allclose(same.trends["treatment"].lifts, t.lifts, atol=1e-15)
    alone = _logs({"a": ("control", [1, 2]), "b": ("treatment", [1, 2])})
    r1 = R.novelty(*alone, days=2, scale="absolute", as_of=T0 + 10 * DAY)
    assert r1.trends["treatment"].pvalue is None  # one unit per arm: no variance at all
    assert "fewer than 2 days" in (r1.trends["treatment"].note or "")
    assert "no test" in repr(r1) and "no test" in r1._repr_html_()


def test_immature_units_are_left_out_and_counted():
    exp1, ev1 = _logs({"a": ("control", [1, 2]), "b": ("treatment", [1])})
    exp2, ev2 = _logs({"c": ("control", [1]), "d": ("treatment", [2])}, t0=T0 + 5 * DAY)
    exp, ev = pd.concat([exp1, exp2]), pd.concat([ev1, ev2])
    r = R.novelty(exp, ev, days=3, as_of=T0 + 6 * DAY)  # c, d: only 1 day observed
    assert r.n == {"control": 1, "treatment": 1} and r.immature == 2
    assert "2 immature units left out" in r.definition


def _long_table(sim, days: int, metric: str) -> pd.DataFrame:
    """Per (mature unit, day 1..D): y = active (0/1) or the number of events, from pandas."""
    first = sim.exposures.sort_values("exposed_at", kind="stable").groupby("unit_id")
    units = first.agg(t0=("exposed_at", "min"), variant=("variant", "first")).reset_index()
    as_of = sim.events.ts.max()
    units = units[(as_of - units.t0) >= (days + 1) * DAY]
    ev = sim.events.merge(units, on="unit_id")
    ev = ev.assign(day=((ev.ts - ev.t0) // DAY).astype(int))
    ev = ev[(ev.day >= 1) & (ev.day <= days)]
    y = ev.groupby(["unit_id", "day"]).size()
    y = y.clip(upper=1) if metric == "active" else y
    grid = pd.MultiIndex.from_product([units.unit_id, range(1, days + 1)], names=["unit_id", "day"])
    long = y.reindex(grid, fill_value=0).rename("y").reset_index()
    return long.merge(units[["unit_id", "variant"]], on="unit_id")


@pytest.mark.parametrize("scale", ["relative", "absolute"])
@pytest.mark.parametrize("metric", ["active", "events"])
def test_slope_variance_equals_cluster_robust_ols_on_unit_days(scale, metric):
    days = 6
    sim = retention_experiment(n_units=1_500, seed=4, effect_decay_days=4.0)
    res = R.novelty(sim.exposures, sim.events, days=days, scale=scale, metric=metric)
    t = res.trends["treatment"]
    long = _long_table(sim, days, metric)
    # cell means (arm x day) by OLS, covariance clustered on units without small-sample factors
    cells = pd.get_dummies(long.variant + ":" + long.day.astype(str)).astype(float)
    groups = pd.factorize(long.unit_id)[0]
    fit = sm.OLS(long.y.astype(float), cells).fit(
        cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}
    )
    ic = [f"control:{d}" for d in range(1, days + 1)]
    it = [f"treatment:{d}" for d in range(1, days + 1)]
    mc, mt = fit.params[ic].to_numpy(), fit.params[it].to_numpy()
    v = fit.cov_params().loc[ic + it, ic + it].to_numpy()
    if scale == "absolute":
        jac, lifts = np.hstack([-np.eye(days), np.eye(days)]), mt - mc
    else:  # delta method for mt/mc - 1
        jac, lifts = np.hstack([np.diag(-mt / mc**2), np.diag(1 / mc)]), mt / mc - 1
    cov = jac @ v @ jac.T
    assert_allclose(t.lifts, lifts, rtol=1e-12, atol=1e-15)
    assert_allclose(np.square(t.lift_se), np.diag(cov), rtol=1e-9)
    # the WLS line through the lifts with weights 1/Var(lift_d), by statsmodels
    d = np.arange(1, days + 1, dtype=float)
    wls = sm.WLS(lifts, sm.add_constant(d - t.center), weights=1 / np.diag(cov)).fit()
    assert_allclose([t.level, t.slope], wls.params, rtol=1e-9)
    # its sandwich variance: (X'WX)^-1 X'W V W X (X'WX)^-1 with V the lifts' covariance
    x, w = sm.add_constant(d - t.center), np.diag(1 / np.diag(cov))
    bread = np.linalg.inv(x.T @ w @ x)
    sandwich = bread @ x.T @ w @ cov @ w @ x @ bread
    assert_allclose(np.array(t.cov), sandwich, rtol=1e-9)
    assert_allclose(lift_trend(d, lifts, cov)[2], sandwich, rtol=1e-9)  # the pure function


def test_cohort_difference_equals_an_independent_computation():
    sim = retention_experiment(n_units=2_000, seed=8, enrollment_days=14, days=40)
    res = R.novelty(sim.exposures, sim.events, days=10, cohort_days=5)
    did = res.trends["treatment"].did
    assert did is not None and did.windows == 10
    first = sim.exposures.sort_values("exposed_at", kind="stable").groupby("unit_id")
    units = first.agg(t0=("exposed_at", "min"), variant=("variant", "first")).reset_index()
    start = units.t0.min()
    units = units[units.t0 < start + 10 * DAY]
    units["cohort"] = np.where(units.t0 < start + 5 * DAY, "early", "late")
    w0 = start + 11 * DAY
    assert did.windows_start == w0.to_pydatetime()
    ev = sim.events[(sim.events.ts >= w0) & (sim.events.ts < w0 + 10 * DAY)]
    ev = ev.assign(w=((ev.ts - w0) // DAY).astype(int))
    k = ev.groupby("unit_id").w.nunique().rename("k")
    units = units.merge(k, on="unit_id", how="left").fillna({"k": 0})
    units["m"] = units.k / 10
    lifts, var = {}, {}
    for c in ("early", "late"):
        g = units[units.cohort == c]
        # two means with HC0 variances (OLS on arm dummies, heteroskedasticity-robust)
        x = pd.get_dummies(g.variant).astype(float)
        fit = sm.OLS(g.m, x).fit(cov_type="HC0")
        mc, mt = fit.params["control"], fit.params["treatment"]
        vc, vt = fit.cov_params().loc["control", "control"], fit.cov_params().iloc[1, 1]
        lifts[c], var[c] = mt / mc - 1, vt / mc**2 + mt**2 * vc / mc**4
    assert_allclose(did.estimate, lifts["early"] - lifts["late"], rtol=1e-9)
    assert_allclose(did.se**2, var["early"] + var["late"], rtol=1e-9)
    age = (w0 - units.t0) / DAY
    gap = age[units.cohort == "early"].mean() - age[units.cohort == "late"].mean()
    assert_allclose(did.age_gap, gap, rtol=1e-9)


def test_trend_flag_direction():
    assert trend_flag(0.05, -0.01, 0.001, 0.05) == "lift fading"
    assert trend_flag(0.05, 0.01, 0.001, 0.05) == "lift growing"
    assert trend_flag(-0.05, 0.01, 0.001, 0.05) == "lift fading"  # a harm wearing off
    assert trend_flag(-0.05, -0.01, 0.001, 0.05) == "lift growing"
    assert trend_flag(0.05, -0.01, 0.2, 0.05) == "no trend detected"
    assert trend_flag(0.05, -0.01, None, 0.05) == "no test"


# ----------------------------------------------------------------------------- behaviour


def test_fading_effect_is_flagged_and_constant_is_not():
    fading = retention_experiment(n_units=20_000, seed=2, effect_decay_days=5.0)
    r = R.novelty(fading.exposures, fading.events, days=14)
    assert r.flags == {"treatment": "lift fading"}
    t = r.trends["treatment"]
    assert t.slope < 0 and t.slope_ci[1] < 0
    constant = retention_experiment(n_units=20_000, seed=2)
    r0 = R.novelty(constant.exposures, constant.events, days=14)
    t0 = r0.trends["treatment"]
    assert r0.flags == {"treatment": "no trend detected"}
    assert t0.level == pytest.approx(0.08, abs=0.03)  # the constant relative lift
    # shown everywhere with the flag and (when flagged) the caveat
    assert "lift fading" in repr(r) and "lift fading" in r._repr_html_()
    assert "not proof of a novelty" in r._repr_html_()
    assert "not proof of a novelty" not in r0._repr_html_()
    df, summary = r.to_pandas(), r.summary()
    assert list(df.day.unique()) == list(range(1, 15)) and summary.flag.tolist() == ["lift fading"]
    assert r.plot().get_ylabel() == "relative lift (%)"


def test_several_treatments_and_absolute_scale():
    sim = retention_experiment(
        n_units=3_000, seed=3, variants=("control", "a", "b"), effects={"a": 0.05, "b": -0.05}
    )
    r = R.novelty(sim.exposures, sim.events, days=7, scale="absolute")
    assert set(r.trends) == {"a", "b"} and r.variants == ("control", "a", "b")
    assert " pp" in repr(r)
    r.plot()


def test_no_cohort_comparison_before_the_windows_start():
    sim = retention_experiment(n_units=500, seed=1, enrollment_days=14, days=20)
    r = R.novelty(sim.exposures, sim.events, days=5, cohort_days=7)  # windows start on day 15
    assert r.trends["treatment"].did is not None  # 5 days of windows by day 20
    r = R.novelty(sim.exposures, sim.events, days=5, cohort_days=10)  # windows would start day 21
    assert r.trends["treatment"].did is None and "not yet" in (r.did_note or "")
    assert "cohorts: not yet" in repr(r)


def test_bad_arguments():
    exp, ev = _logs({"a": ("control", [1]), "b": ("treatment", [1])})
    for kwargs, match in [
        ({"days": 1}, "at least 2"),
        ({"days": 0}, "positive whole number"),
        ({"metric": "value"}, "metric must be"),
        ({"scale": "log"}, "scale must be"),
        ({"cohort_days": 0}, "positive whole number"),
    ]:
        with pytest.raises(SpecError, match=match):
            R.novelty(exp, ev, **kwargs)


def test_runs_on_abkits_engine(monkeypatch):
    import ibis.expr.types as ir

    def refuse(self, *args, **kwargs):
        raise AssertionError("a query ran outside abkit.engine.execute")

    monkeypatch.setattr(ir.Expr, "execute", refuse)
    sim = retention_experiment(n_units=300, seed=5)
    R.novelty(sim.exposures, sim.events, days=3, event="session")


# ----------------------------------------------------------------------------- calibration

DAY_US = 86_400_000_000


def _us(ts: pd.Series) -> np.ndarray:
    """Epoch microseconds (the simulation's times are whole microseconds)."""
    return ts.astype("int64").to_numpy() // 1_000


def experiment_sums(sim, *, days: int = 14, cohort_days: int = 7) -> tuple:
    """The sufficient statistics ``novelty(sim.exposures, sim.events, days=days)`` reads from
    the engine for metric ``active``, computed here in numpy: per arm the number of units, the
    sums ``S_dd' = Σ_u x_ud x_ud'`` (rows like ``_cross_products``) and per (cohort, arm) the
    count, sum and sum of squares of the units' window means with their mean exposure age
    (rows like ``_cohort_sums``), and the windows ``(C, start)``.

    It relies on what the calibration's model guarantees (asserted): one variant per unit, every
    unit mature for ``days`` days and all the cohort windows ended well before the last event
    (14 days of enrolment, a 40-day log), so the default as_of leaves nothing out.
    ``test_calibration_sums_equal_the_engines`` checks the result against novelty() itself."""
    x, e = sim.exposures, sim.events
    index = pd.Index(x.unit_id.drop_duplicates())
    ux = index.get_indexer(x.unit_id)
    t0 = np.full(len(index), np.iinfo(np.int64).max)
    np.minimum.at(t0, ux, _us(x.exposed_at))
    treated = np.zeros(len(index), dtype=bool)
    treated[ux] = (x.variant == "treatment").to_numpy()
    assert np.array_equal(treated[ux], (x.variant == "treatment").to_numpy())  # one variant
    ue, ts = index.get_indexer(e.unit_id), _us(e.ts)
    assert (ue >= 0).all()
    first = int(t0.min())
    start = first + (2 * cohort_days + 1) * DAY_US  # the cohorts' calendar windows
    assert int(t0.max()) + (days + 1) * DAY_US <= start + days * DAY_US < int(ts.max()) - DAY_US
    arms = {"control": ~treated, "treatment": treated}
    # per (unit, day 1..D): active; per arm the cross-products of the days
    day = (ts - t0[ue]) // DAY_US
    k = (ts >= t0[ue]) & (day >= 1) & (day <= days)
    active = np.zeros((len(index), days), dtype=np.int64)
    active[ue[k], day[k] - 1] = 1
    d1, d2 = np.triu_indices(days)
    rows = []
    for v, arm in arms.items():
        s2 = active[arm].T @ active[arm]
        rows.append(pd.DataFrame({"variant": v, "d1": d1 + 1, "d2": d2 + 1, "s2": s2[d1, d2],
                                  "s1": np.diag(s2)[d1]}))  # fmt: skip
    sums = pd.concat(rows, ignore_index=True)
    n = {v: int(arm.sum()) for v, arm in arms.items()}
    # per unit of the two cohorts: active calendar windows w = floor((ts - start) / 24h) < C
    since = t0 - first
    cohort = np.where(since < cohort_days * DAY_US, "early", "late")
    w = (ts - start) // DAY_US
    k = (ts >= start) & (w < days)
    windows = np.zeros((len(index), days), dtype=bool)
    windows[ue[k], w[k]] = True
    active_windows = windows.sum(axis=1)
    age = (start - t0).astype(float) / DAY_US
    groups = []
    for c in ("early", "late"):
        for v, arm in arms.items():
            g = arm & (cohort == c) & (since < 2 * cohort_days * DAY_US)
            kg = active_windows[g]
            groups.append((c, v, int(g.sum()), int(kg.sum()) / days,
                           int((kg * kg).sum()) / days**2, float(age[g].sum()) / g.sum()))  # fmt: skip
    groups = pd.DataFrame(groups, columns=["cohort", "variant", "n", "s1", "s2", "age"])
    window_start = pd.Timestamp(start, unit="us", tz="UTC").to_pydatetime()
    return n, sums, groups, (days, window_start)


def calibration_trend(sim, *, days: int = 14, cohort_days: int = 7):
    """The treatment's trend as ``R.novelty(sim.exposures, sim.events, days=days)`` gives it:
    novelty's own statistics (``_trend``: per-day moments, lifts, the WLS line and its
    cluster-robust variance, the flag; ``_did``: the cohort difference) on the sums of
    :func:`experiment_sums` — the engine's queries replaced by numpy on the same rows."""
    import importlib

    N = importlib.import_module("abkit.retention.novelty")  # the module, not the function
    n, sums, groups, info = experiment_sums(sim, days=days, cohort_days=cohort_days)
    trend = N._trend("treatment", "control", n, sums, days, "relative", 0.05)
    if trend.pvalue is not None:
        trend = replace(trend, did=N._did(groups, info, "control", "treatment", "relative", 0.05))
    return trend


def calibrate(
    reps: int, *, n_units: int, decay_days: float | None, seed: int = 0, days: int = 14
) -> dict[str, float]:
    """Share of simulated experiments flagged (any direction, and "lift fading"), and share in
    which the cohort difference is significant, at alpha = 0.05 (novelty's statistics on each
    experiment's sums: :func:`calibration_trend`)."""
    flagged = fading = did = 0
    for i in range(reps):
        sim = retention_experiment(n_units=n_units, seed=seed + i, effect_decay_days=decay_days)
        t = calibration_trend(sim, days=days)
        flagged += t.flag.startswith("lift ")
        fading += t.flag == "lift fading"
        did += t.did is not None and t.did.pvalue is not None and t.did.pvalue < 0.05
    return {"flag": flagged / reps, "fading": fading / reps, "did": did / reps, "reps": reps}


def test_calibration_sums_equal_the_engines():
    """The calibration's path gives, on each of these experiments, the trend that novelty()
    gives on the experiment's logs with its default as_of: every per-day mean, lift, variance,
    the slope, its covariance, p-values, flag and cohort difference exactly (the sums are
    integers), the cohort age gap (a float sum) to 1e-12."""
    for seed, decay in [(31, None), (32, 7.0), (33, 3.0)]:
        sim = retention_experiment(n_units=3_000, seed=seed, effect_decay_days=decay)
        alone = R.novelty(sim.exposures, sim.events, days=14).trends["treatment"]
        ours = calibration_trend(sim)
        assert alone.did is not None and ours.did is not None and alone.pvalue is not None
        assert_allclose(ours.did.age_gap, alone.did.age_gap, rtol=1e-12)
        assert replace(ours, did=replace(ours.did, age_gap=alone.did.age_gap)) == alone, seed
    # and it reads the data as the engine does: every event of day 3 moved to day 4
    sim = retention_experiment(n_units=3_000, seed=31)
    x = sim.exposures.sort_values("exposed_at").drop_duplicates("unit_id").set_index("unit_id")
    day3 = sim.events[(sim.events.ts - sim.events.unit_id.map(x.exposed_at)) // DAY == 3]
    moved = sim.events.copy()
    moved.loc[day3.index, "ts"] += DAY
    changed = replace(sim, events=moved)
    alone = R.novelty(changed.exposures, changed.events, days=14).trends["treatment"]
    assert calibration_trend(changed).lifts == alone.lifts != calibration_trend(sim).lifts


@pytest.mark.slow
def test_calibration_constant_effect_flags_at_most_alpha():
    reps = 200
    rates = calibrate(reps, n_units=4_000, decay_days=None, seed=10_000)
    mc = math.sqrt(0.05 * 0.95 / reps)
    assert rates["flag"] <= 0.05 + 2 * mc, rates
    assert rates["did"] <= 0.05 + 2 * mc, rates


@pytest.mark.slow
def test_calibration_fading_effect_is_found():
    # relative effect 8% on day 1 fading with exp(-d/7); docs/long_term.md has the power table
    rates = calibrate(60, n_units=20_000, decay_days=7.0, seed=20_000)
    assert rates["fading"] >= 0.6, rates
    assert rates["fading"] == rates["flag"]  # never the wrong direction


if __name__ == "__main__":  # the calibration figures of docs/long_term.md
    import sys

    scenarios = [
        ("constant effect", 4_000, None, 400),
        ("constant effect", 20_000, None, 100),
        ("fading, decay 7 days", 4_000, 7.0, 100),
        ("fading, decay 7 days", 20_000, 7.0, 100),
        ("fading, decay 3 days", 20_000, 3.0, 100),
    ]
    print("| scenario | units | reps | flagged | lift fading | cohorts significant |")
    print("|---|---|---|---|---|---|")
    for k, (name, n, decay, reps) in enumerate(scenarios):
        r = calibrate(reps, n_units=n, decay_days=decay, seed=100_000 * (k + 1))
        print(
            f"| {name} | {n:,} | {reps} | {r['flag']:.3f} | {r['fading']:.3f} | {r['did']:.3f} |",
            flush=True,
        )
    sys.exit(0)
