"""Churn regression (Cox): against lifelines' CoxPHFitter and proportional_hazard_test.

lifelines handles ties by Efron's method only (``CoxPHFitter``'s docs; its
``_get_efron_values_*``), so abkit fits ``PHReg(ties="efron")`` and the two are compared on the
same per-unit rows (``ChurnRegression.counts`` expanded). lifelines' Newton-Raphson stops at
``precision=1e-7`` by default; it is run to ``1e-14`` here so the comparison measures the
methods, not the stopping rules. The proportional-hazards statistics use the ``km`` time
transform in both (``rank`` in lifelines depends on the order of tied rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test
from numpy.testing import assert_allclose

from abkit import retention as R
from abkit.errors import DataError, SpecError
from abkit.retention.hazards import churn_times, ph_test
from abkit.simulate import retention_experiment

T0 = pd.Timestamp("2024-05-01T10:00:00", tz="UTC")
DAY = pd.Timedelta(days=1)


def _lifelines(reg, strata=()):
    """lifelines on the same units: one row per unit, abkit's design columns."""
    c = reg.counts
    rows = c.loc[c.index.repeat(c.units)].reset_index(drop=True)
    numeric = [t.variable for t in reg.terms if t.level is None]
    rows = rows.dropna(subset=numeric).reset_index(drop=True)  # as abkit leaves them out
    x = pd.DataFrame(index=rows.index)
    for t in reg.terms:
        if t.level is None:
            x[t.term] = rows[t.variable].astype(float)
        else:
            col = rows[t.variable].astype(object).where(rows[t.variable].notna(), "(missing)")
            x[t.term] = (col.astype(str) == t.level).astype(float)
    for s in strata:
        x[s] = rows[s].astype(str)
    x["T"], x["E"] = rows.time.astype(float), rows.churned.astype(int)
    cph = CoxPHFitter().fit(
        x, "T", "E", strata=list(strata) or None, fit_options={"precision": 1e-14}
    )
    return cph, x


def _compare(reg, strata=()):
    cph, x = _lifelines(reg, strata)
    df = reg.to_pandas().set_index("term")
    names = list(df.index)
    assert_allclose(df.coef, cph.params_[names], rtol=1e-6, atol=1e-9)
    assert_allclose(df.se, cph.standard_errors_[names], rtol=1e-6)
    ci = np.exp(cph.confidence_intervals_.loc[names])
    assert_allclose(df.ci_lower, ci.iloc[:, 0], rtol=1e-6)
    assert_allclose(df.ci_upper, ci.iloc[:, 1], rtol=1e-6)
    assert_allclose(df.hazard_ratio, cph.hazard_ratios_[names], rtol=1e-6)
    ph = proportional_hazard_test(cph, x, time_transform="km").summary
    assert_allclose(df.ph_statistic, ph.test_statistic[names], rtol=1e-6)
    assert_allclose(df.ph_pvalue, ph.p[names], rtol=1e-6, atol=1e-12)
    return df


def test_matches_lifelines_without_a_violation():
    sim = retention_experiment(n_units=4_000, seed=2)
    reg = R.churn_regression(
        sim.exposures, sim.events, attributes=["channel", "platform"], inactive_days=3, tau=14
    )
    df = _compare(reg)
    assert list(df.index) == [
        "variant=treatment",
        "channel=paid_search",
        "channel=referral",
        "channel=social",
        "platform=ios",
    ]
    treat = df.loc["variant=treatment"]
    assert treat.hazard_ratio < 1 and not treat.ph_fails  # +8% return rate: fewer churns
    assert sum(reg.n.values()) + reg.immature == 4_000


def test_matches_lifelines_with_a_violation_and_warns():
    # a treatment effect that fades within days: the hazard ratio is not constant over time
    sim = retention_experiment(
        n_units=20_000, seed=5, base=0.3, effects={"treatment": 0.25}, effect_decay_days=2.0
    )
    reg = R.churn_regression(sim.exposures, sim.events, inactive_days=3, tau=21)
    df = _compare(reg)
    assert df.loc["variant=treatment", "ph_pvalue"] < 0.01
    assert bool(df.loc["variant=treatment", "ph_fails"])
    assert reg.warning is not None and "not constant over time" in reg.warning
    assert "churn_survival" in reg.warning
    assert reg.warning in repr(reg) and "(fails)" in reg._repr_html_()
    # the same effect, constant: the check passes
    calm = retention_experiment(n_units=20_000, seed=5, base=0.3, effects={"treatment": 0.25})
    ok = R.churn_regression(calm.exposures, calm.events, inactive_days=3, tau=21)
    assert _compare(ok).loc["variant=treatment", "ph_pvalue"] > 0.05 and ok.warning is None


def test_strata_match_lifelines():
    sim = retention_experiment(n_units=4_000, seed=6)
    reg = R.churn_regression(
        sim.exposures, sim.events, attributes=["channel"], strata=["platform"], inactive_days=3
    )
    assert [t.variable for t in reg.terms] == ["variant", "channel", "channel", "channel"]
    _compare(reg, strata=["platform"])
    assert "stratified by platform" in reg.definition


def test_ph_test_on_a_planted_violation_matches_lifelines():
    # x doubles the hazard before t = 5 and halves it after: a crossing, non-proportional effect
    rng = np.random.default_rng(3)
    n = 3_000
    x = rng.integers(0, 2, n).astype(float)
    z = rng.normal(size=n)
    early = rng.exponential(1 / (0.1 * np.where(x == 1, 2.0, 1.0)))
    late = 5 + rng.exponential(1 / (0.1 * np.where(x == 1, 0.5, 1.0)))
    t = np.where(early < 5, early, late)
    t, e = np.minimum(np.ceil(t), 20.0), (t <= 20).astype(int)  # whole days: ties
    from statsmodels.duration.hazard_regression import PHReg

    exog = np.column_stack([x, z])
    fit = PHReg(t, exog, status=e, ties="efron").fit(method="newton", tol=1e-12)
    stat, _, per_time = ph_test(t, e, exog, fit.params, fit.cov_params())
    df = pd.DataFrame({"x": x, "z": z, "T": t, "E": e})
    cph = CoxPHFitter().fit(df, "T", "E", fit_options={"precision": 1e-14})
    ph = proportional_hazard_test(cph, df, time_transform="km").summary
    assert_allclose(stat, ph.test_statistic[["x", "z"]], rtol=1e-6)
    assert ph.p["x"] < 1e-6 and ph.p["z"] > 0.01
    # the global test of one covariate is that covariate's test
    one, g, _ = ph_test(t, e, x[:, None], fit.params[:1], fit.cov_params()[:1, :1])
    assert_allclose(g, one[0], rtol=1e-12)
    assert per_time.shape == (np.unique(t[e == 1]).size, 4)


def test_churn_times_are_churn_survivals_definition():
    # the per-unit churn table grouped by (variant, time, churned) is churn_survival's counts
    sim = retention_experiment(n_units=1_500, seed=4)
    for k, tau in [(3, 10), (7, 30)]:
        km = R.churn_survival(sim.exposures, sim.events, inactive_days=k, tau=tau)
        reg = R.churn_regression(sim.exposures, sim.events, inactive_days=k, tau=tau)
        mine = reg.counts.groupby(["variant", "time", "churned"], as_index=False).units.sum()
        pd.testing.assert_frame_equal(
            mine.sort_values(["variant", "time", "churned"]).reset_index(drop=True),
            km.counts.astype(mine.dtypes.to_dict()),
            check_dtype=False,
        )
        assert reg.immature == km.immature


def test_churn_times_on_hand_built_logs():
    from abkit.engine import execute
    from abkit.retention._units import prepare

    rows = []
    active = {"a": [0, 1, 2], "b": [0, 4, 5], "c": list(range(20)), "f": []}
    for u, ds in active.items():
        rows += [(u, T0 + d * DAY + pd.Timedelta(hours=1)) for d in ds]
    exp = pd.DataFrame({"unit_id": list(active), "variant": "control", "exposed_at": T0})
    ev = pd.DataFrame(rows, columns=["unit_id", "ts"])
    p = prepare(exp, ev, as_of=T0 + 20 * DAY, columns=None, tz=None, con=None)
    u, immature = churn_times(p, p.units, inactive_days=3, tau=10)
    got = execute(u, p.con).set_index("unit_id").sort_index()
    assert got.time.to_dict() == {"a": 3, "b": 1, "c": 10, "f": 0}
    assert got.churned.to_dict() == {"a": 1, "b": 1, "c": 0, "f": 1}
    assert int(execute(immature, p.con)) == 0


def test_design_of_attributes():
    sim = retention_experiment(n_units=2_000, seed=7)
    exp = sim.exposures.copy()
    exp["age"] = exp.unit_id.str[-2:].astype(float)  # numeric: one coefficient
    exp.loc[exp.unit_id.str.endswith("7"), "age"] = np.nan  # missing numbers: units left out
    exp["country"] = np.where(exp.unit_id.str.endswith("3"), None, "cn")  # missing: a level
    exp["constant"] = "x"
    reg = R.churn_regression(
        exp, sim.events, attributes=["age", "country", "constant"], inactive_days=3
    )
    assert [t.term for t in reg.terms] == ["variant=treatment", "age", "country=cn"]
    assert any("'constant' has one value" in n for n in reg.notes)
    assert any("missing numeric attribute" in n for n in reg.notes)
    assert sum(reg.n.values()) < 2_000
    _compare(reg)
    for bad in (["time"], ["nope"]):
        with pytest.raises(SpecError, match="not an exposure column"):
            R.churn_regression(exp, sim.events, attributes=bad)


def test_views_of_the_result():
    sim = retention_experiment(n_units=3_000, seed=8, variants=("control", "a", "b"))
    reg = R.churn_regression(sim.exposures, sim.events, attributes=["platform"], inactive_days=3)
    df = reg.to_pandas()
    assert df.treatment.tolist() == [True, True, False]
    assert set(df.decision[df.treatment]) <= {
        "significantly lower",
        "significantly higher",
        "no significant difference",
    }
    assert df.decision[~df.treatment].tolist() == ["adjustment"]
    html = reg._repr_html_()
    assert "hazard ratio" in html and "global PH check" in html and "style='color:" in html
    assert repr(reg).startswith("<ChurnRegression as of")
    sch = reg.schoenfeld_to_pandas()
    assert set(sch.term) == set(df.term) and (sch.churned > 0).all()
    assert reg.plot().get_xscale() == "log"
    assert "variant=a" in reg.plot_schoenfeld().get_title()
    reg.plot_schoenfeld("platform=ios")


def test_nothing_to_model():
    exp = pd.DataFrame({"unit_id": ["a", "b"], "variant": ["control", "treatment"]})
    exp["exposed_at"] = T0
    ev = pd.DataFrame({"unit_id": ["a", "b"], "ts": [T0, T0]})
    with pytest.raises(DataError, match="whole days observed"):
        R.churn_regression(exp, ev, inactive_days=7, as_of=T0 + 2 * DAY)
    every_day = pd.DataFrame(
        [(u, T0 + d * DAY) for u in ("a", "b") for d in range(40)], columns=["unit_id", "ts"]
    )
    with pytest.raises(DataError, match="no unit churned"):
        R.churn_regression(exp, every_day, inactive_days=3, tau=10, as_of=T0 + 40 * DAY)


def test_runs_on_abkits_engine(monkeypatch):
    import ibis.expr.types as ir

    def refuse(self, *args, **kwargs):
        raise AssertionError("a query ran outside abkit.engine.execute")

    monkeypatch.setattr(ir.Expr, "execute", refuse)
    sim = retention_experiment(n_units=300, seed=5)
    R.churn_regression(sim.exposures, sim.events, attributes=["channel"], inactive_days=3)


def test_ph_test_on_counts_is_ph_test_on_the_repeated_rows():
    # weights are units per row: the statistics are those of the rows repeated (with strata,
    # several covariates, heavy ties); the formula itself is checked against lifelines above
    rng = np.random.default_rng(11)
    n = 200
    x = np.column_stack([rng.integers(0, 2, n), rng.integers(0, 3, n) == 1, rng.normal(size=n)])
    t, e = rng.integers(0, 6, n).astype(float), (rng.random(n) < 0.7).astype(int)
    s, w = rng.choice(["a", "b"], n), rng.integers(0, 30, n)
    b, v = np.array([0.2, -0.1, 0.3]), np.array([[0.5, 0.1, 0.0], [0.1, 0.4, 0.05], [0, 0.05, 0.3]])
    got = ph_test(t, e, x, b, v, s, weights=w)
    ref = ph_test(np.repeat(t, w), np.repeat(e, w), np.repeat(x, w, axis=0), b, v, np.repeat(s, w))
    for mine, rows in zip(got, ref, strict=True):
        assert_allclose(mine, rows, rtol=1e-10)
    assert got[2][:, 1].sum() == w @ e  # churns per (stratum, time)


def test_fit_on_counts_is_phreg_on_one_row_per_unit():
    # statsmodels 0.15.0 PHReg(ties="efron") on ChurnRegression.counts expanded to one row per
    # unit (what abkit fitted before it worked on the counts), to 1e-8 — lifelines (above) is
    # compared at 1e-6 only because of its own stopping rule
    from statsmodels.duration.hazard_regression import PHReg

    sim = retention_experiment(n_units=6_000, seed=12, variants=("control", "a", "b"))
    reg = R.churn_regression(
        sim.exposures, sim.events, attributes=["channel"], strata=["platform"], inactive_days=3
    )
    _, x = _lifelines(reg, strata=["platform"])
    names = [t.term for t in reg.terms]
    fit = PHReg(x["T"], x[names], status=x["E"], ties="efron", strata=x["platform"]).fit(
        method="newton", tol=1e-12
    )
    df = reg.to_pandas()
    assert_allclose(df.coef, fit.params, rtol=1e-8)
    assert_allclose(df.se, fit.bse, rtol=1e-8)
    stat, overall, _ = ph_test(
        x["T"], x["E"], x[names], fit.params, fit.cov_params(), x["platform"]
    )
    assert_allclose(df.ph_statistic, stat, rtol=1e-7)
    assert_allclose(reg.ph_global_statistic, overall, rtol=1e-7)


def test_a_covariate_the_fit_cannot_estimate_is_a_data_error():
    sim = retention_experiment(n_units=1_000, seed=13)
    exp = sim.exposures.assign(score=2.5)  # numeric, one value: no coefficient can be estimated
    with pytest.raises(DataError, match=r"cannot estimate \['score'\]"):
        R.churn_regression(exp, sim.events, attributes=["score"], inactive_days=3)
