"""Regression adjustment (``adjust=``), relative intervals in Experiment (``rel_ci=``) and
segments computed in one pass (issue 16 items 1 and 4, issue 18 item 7).

References: statsmodels OLS on the per-unit table (the design and covariance named beside each
check), closed forms for the relative intervals, and the per-subset analysis for segments.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose

import abkit as ab
from abkit.errors import DataError, SpecError, StatsError
from abkit.simulate import new_user_experiment
from abkit.stats.adjust import OTHER, StratumSums, adjusted_compare, pool_strata

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)


# ---------------------------------------------------------------------------- helpers


def _units(n: int = 3_000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "unit_id": np.arange(n),
            "variant": rng.choice(["control", "treatment"], n),
            "channel": rng.choice(["ads", "organic", "social"], n, p=[0.5, 0.3, 0.2]),
            "platform": rng.choice(["ios", "web"], n),
            "pred": rng.normal(size=n),
            "pre": rng.gamma(2.0, 1.0, n),
        }
    )
    lin = 0.2 + 0.1 * (df.channel == "ads") + 0.06 * df.pred
    df["y"] = rng.binomial(1, np.clip(lin, 0.01, 0.99))
    df["rev"] = rng.exponential(1.0 + df.pred.abs()) + 0.8 * df.pre + 0.3 * (df.platform == "ios")
    return df


def _cell_sums(g: pd.DataFrame, y: str, zs: list[str]) -> StratumSums:
    v = g[y].to_numpy(float)
    z = g[zs].to_numpy(float)
    return StratumSums(
        len(g), v.sum(), (v * v).sum(), tuple(z.sum(0)), tuple(map(tuple, z.T @ z)), tuple(z.T @ v)
    )


def _arms(df: pd.DataFrame, y: str, strata: list[str], zs: list[str]) -> list[dict]:
    out = []
    for arm in ("control", "treatment"):
        d = df[df.variant == arm]
        groups = d.groupby(strata) if strata else [("all", d)]
        out.append({k: _cell_sums(g, y, zs) for k, g in groups})
    return out


def _dummies(df: pd.DataFrame, strata: list[str]) -> pd.DataFrame:
    if not strata:
        return pd.DataFrame(index=df.index)
    key = df[strata].astype(str).agg(" × ".join, axis=1)
    d = pd.get_dummies(key, drop_first=True).astype(float)
    return d - d.mean()  # centred at the pooled shares w


def _lin_reference(
    df: pd.DataFrame, y: str, strata: list[str], zs: list[str]
) -> tuple[float, float]:
    """statsmodels: per arm OLS(y, [1, D − w, Z − z̄]).fit() (classical covariance); the lift is
    the difference of the intercepts, its variance the sum of bse['const']²."""
    x = pd.concat([_dummies(df, strata), df[zs] - df[zs].mean()], axis=1)
    fits = [
        sm.OLS(df.loc[df.variant == a, y].astype(float), sm.add_constant(x[df.variant == a])).fit()
        for a in ("control", "treatment")
    ]
    est = fits[1].params["const"] - fits[0].params["const"]
    return est, fits[0].bse["const"] ** 2 + fits[1].bse["const"] ** 2


# ---------------------------------------------------------------------- the estimator


def test_cuped_per_arm_theta_is_the_interacted_ols_coefficient() -> None:
    df = _units()
    sums = []
    for arm in ("control", "treatment"):
        d = df[df.variant == arm]
        y, x = d.rev.to_numpy(), d.pre.to_numpy()
        sums.append((len(d), y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum()))
    r = ab.stats.cuped(*sums, theta="per-arm")
    # statsmodels: OLS(rev ~ T + (pre − mean) + T·(pre − mean)); the T coefficient
    xc = (df.pre - df.pre.mean()).rename("x")
    tr = (df.variant == "treatment").astype(float).rename("T")
    f = sm.OLS(df.rev, sm.add_constant(pd.concat([tr, xc, (tr * xc).rename("Tx")], axis=1))).fit()
    assert_allclose(r.comparison.abs_lift, f.params["T"], rtol=1e-9)
    assert_allclose(r.theta_arms[0], f.params["x"], rtol=1e-9)
    assert_allclose(r.theta_arms[1], f.params["x"] + f.params["Tx"], rtol=1e-9)
    # variance: per arm RSS_a / ((n_a − 1) n_a) (closed form: Var(y − θ_a x) / n_a)
    var = 0.0
    for arm, th in zip(("control", "treatment"), r.theta_arms, strict=True):
        d = df[df.variant == arm]
        var += np.var(d.rev - th * d.pre, ddof=1) / len(d)
    assert_allclose(r.comparison.std_error**2, var, rtol=1e-9)
    assert r.comparison.method.startswith("CUPED (per-arm θ)")
    pooled = ab.stats.cuped(*sums)
    assert pooled.theta_arms == (pooled.theta, pooled.theta) and pooled.theta == r.theta
    with pytest.raises(StatsError, match="theta"):
        ab.stats.cuped(*sums, theta="arm")
    # the same through Experiment (a column metric's covariate) and the spec
    exp = ab.Experiment(metrics=[ab.Mean("rev", covariate="pre")], cuped_theta="per-arm")
    c = exp.analyze(units=df).comparisons[0].comparison
    assert_allclose(
        [c.abs_lift, c.std_error], [r.comparison.abs_lift, r.comparison.std_error], rtol=1e-9
    )
    assert c.method.startswith("CUPED (per-arm θ)")
    spec = {
        "name": "x",
        "control": "control",
        "variants": ["control", "treatment"],
        "cuped_theta": "per-arm",
    }
    assert (
        ab.Experiment.from_spec({**spec, "metrics": [{"mean": {"column": "rev"}}]}).cuped_theta
        == "per-arm"
    )
    with pytest.raises(SpecError, match="cuped_theta"):
        ab.Experiment(metrics=[ab.Mean("rev")], cuped_theta="arm")


def test_post_stratification_equals_hc2_ols_on_the_interacted_design() -> None:
    df = _units()
    c, t = _arms(df, "rev", ["channel", "platform"], [])
    r = adjusted_compare(c, t)
    # statsmodels: OLS(y ~ T + (D − w) + T·(D − w)).fit(cov_type="HC2"), cell dummies of
    # channel × platform centred at their pooled shares; the T coefficient is the lift
    d = _dummies(df, ["channel", "platform"])
    tr = (df.variant == "treatment").astype(float).rename("T")
    design = sm.add_constant(pd.concat([tr, d, d.mul(tr, axis=0).add_suffix(":T")], axis=1))
    f = sm.OLS(df.rev, design).fit(cov_type="HC2")
    assert_allclose(r.comparison.abs_lift, f.params["T"], rtol=1e-9)
    assert_allclose(r.comparison.std_error, f.bse["T"], rtol=1e-9)
    assert r.comparison.method.startswith("post-stratified (6 strata)")
    # the variance removed, against the unadjusted Welch variance (closed form)
    g = df.groupby("variant").rev
    var_un = (g.var() / g.count()).sum()
    assert_allclose(r.variance_reduction, 1 - f.bse["T"] ** 2 / var_un, rtol=1e-9)


@pytest.mark.parametrize(
    ("strata", "zs"),
    [
        ([], ["pred"]),
        ([], ["pred", "pre"]),
        (["channel"], ["pred"]),
        (["channel", "platform"], ["pre"]),
    ],
)
def test_lin_regression_equals_per_arm_ols(strata: list[str], zs: list[str]) -> None:
    df = _units()
    r = adjusted_compare(*_arms(df, "rev", strata, zs))
    est, var = _lin_reference(df, "rev", strata, zs)
    assert_allclose(r.comparison.abs_lift, est, rtol=1e-9)
    assert_allclose(r.comparison.std_error**2, var, rtol=1e-9)
    # rev depends on pre linearly (0.8·pre): adjusting for it removes variance
    assert r.variance_reduction is not None and (r.variance_reduction > 0.1) == ("pre" in zs)
    # relative lift on the adjusted means: the delta method (closed form)
    mc, mt = r.mean_control, r.mean_treatment
    se = math.sqrt(r.var_mean_treatment / mc**2 + mt**2 * r.var_mean_control / mc**4)
    assert_allclose(r.comparison.rel_lift, mt / mc - 1, rtol=1e-12)
    assert_allclose(r.comparison.rel_lift_ci_lower, mt / mc - 1 - Z95 * se, rtol=1e-9)


def test_sparse_strata_are_pooled_and_named() -> None:
    c = {"a": StratumSums(50, 10.0, 10.0), "b": StratumSums(40, 8.0, 8.0)}
    c |= {"c": StratumSums(3, 1.0, 1.0), "d": StratumSums(9, 2.0, 2.0)}
    t = {"a": StratumSums(50, 12.0, 12.0), "b": StratumSums(40, 9.0, 9.0)}
    t |= {"c": StratumSums(4, 2.0, 2.0), "d": StratumSums(30, 6.0, 6.0)}
    pc, pt, pooled = pool_strata(c, t, min_units=10)
    assert pooled == ("c", "d") and set(pc) == {"a", "b", OTHER}
    assert pc[OTHER].n == 12 and pt[OTHER].n == 34
    r = adjusted_compare(c, t)
    assert r.pooled == ("c", "d") and r.strata == ("a", "b", OTHER)
    assert math.isfinite(r.comparison.abs_lift) and r.comparison.pvalue is not None
    # "other" still short: it joins the largest stratum
    pc, _, pooled = pool_strata(c, {**t, "d": StratumSums(5, 1.0, 1.0)}, min_units=10)
    assert set(pc) == {"a", "b"} and pc["a"].n == 50 + 3 + 9


def test_no_adjustment_cases_are_said() -> None:
    one = {"x": StratumSums(30, 10.0, 10.0)}
    r = adjusted_compare(one, {"x": StratumSums(30, 12.0, 12.0)})
    assert r.variance_reduction is None and "one stratum and no covariate" in r.note
    assert (r.comparison.abs_lift, r.comparison.std_error) == (
        r.unadjusted.abs_lift,
        r.unadjusted.std_error,
    )
    # a covariate without variance is left out
    z = StratumSums(30, 10.0, 10.0, (60.0,), ((120.0,),), (20.0,))
    r = adjusted_compare(
        {"x": z}, {"x": StratumSums(30, 12.0, 12.0, (60.0,), ((120.0,),), (24.0,))}
    )
    assert r.covariates_used == () and "no variance" in (r.note or "")
    with pytest.raises(StatsError):
        adjusted_compare({"x": StratumSums(0, 0.0, 0.0)}, one)
    with pytest.raises(StatsError):
        adjusted_compare(one, one, min_units=1)


# ------------------------------------------------------------------- through Experiment


def test_experiment_adjust_on_a_unit_table_matches_statsmodels() -> None:
    df = _units()
    df.loc[df.index[:25], "channel"] = None  # a null is its own stratum
    res = ab.Experiment(
        metrics=[ab.Proportion("y"), ab.Mean("rev")], adjust=["channel", "pred"]
    ).analyze(units=df)
    ref = df.assign(channel=df.channel.fillna("(null)"))
    for mc in res.comparisons:
        est, var = _lin_reference(ref, mc.metric, ["channel"], ["pred"])
        assert_allclose(mc.comparison.abs_lift, est, rtol=1e-9)
        assert_allclose(mc.comparison.std_error**2, var, rtol=1e-9)
        assert mc.variance_reduction is not None
        assert "adjusted for strata of channel, pred: variance of the lift" in mc.comparison.note
        assert mc.comparison.method.startswith("regression-adjusted (4 strata, 1 covariate(s)")


def test_adjust_combines_with_a_cuped_covariate_in_one_regression() -> None:
    df = _units()
    res = ab.Experiment(
        metrics=[ab.Mean("rev", covariate="pre")], adjust=["platform", "pred"]
    ).analyze(units=df)
    # statsmodels: per arm OLS(rev, [1, D_platform − w, pre − mean, pred − mean])
    est, var = _lin_reference(df, "rev", ["platform"], ["pre", "pred"])
    c = res.comparisons[0]
    assert_allclose(c.comparison.abs_lift, est, rtol=1e-9)
    assert_allclose(c.comparison.std_error**2, var, rtol=1e-9)
    assert "CUPED pre-period" in c.comparison.note


def test_segments_are_adjusted_too_and_match_the_subset_analysis() -> None:
    df = _units(4_000)
    exp = ab.Experiment(metrics=[ab.Mean("rev")], adjust=["channel", "pred"], segments=["platform"])
    res = exp.analyze(units=df)
    for sc in res.segment_comparisons:
        sub = ab.Experiment(metrics=[ab.Mean("rev")], adjust=["channel", "pred"]).analyze(
            units=df[df.platform == sc.segment_value]
        )
        one = sub.comparisons[0].comparison
        assert_allclose(sc.comparison.abs_lift, one.abs_lift, rtol=1e-9)
        assert_allclose(sc.comparison.std_error, one.std_error, rtol=1e-9)
        assert sc.variance_reduction is not None


def test_sparse_strata_finding_and_constant_attributes() -> None:
    df = _units()
    df["tiny"] = np.where(np.arange(len(df)) < 12, "rare", "common")  # 12 units: < 10 per arm
    df["same"] = "x"
    df["flat"] = 1.0
    res = ab.Experiment(metrics=[ab.Mean("rev")], adjust=["tiny", "same", "flat"]).analyze(units=df)
    codes = {f.code: f for f in res.data_quality.findings}
    assert "adjust_sparse_strata" in codes and "tiny=rare" in codes["adjust_sparse_strata"].message
    assert (
        "'same'" in codes["adjust_constant"].message or "'flat'" in codes["adjust_constant"].message
    )
    msgs = " ".join(f.message for f in res.data_quality.findings if f.code == "adjust_constant")
    assert "'same'" in msgs and "'flat'" in msgs
    c = res.comparisons[0].comparison
    assert (
        math.isfinite(c.abs_lift) and c.pvalue is not None and "not regression-adjusted" in c.note
    )


def test_bad_adjust_columns_are_clear_errors() -> None:
    df = _units(300)
    with pytest.raises(DataError, match="chanel"):
        ab.Experiment(metrics=[ab.Mean("rev")], adjust=["chanel"]).analyze(units=df)
    with pytest.raises(SpecError, match="distinct"):
        ab.Experiment(metrics=[ab.Mean("rev")], adjust=["channel", "channel"])
    with pytest.raises(SpecError, match="per-stratum sums"):
        ab.Experiment(metrics=[ab.ColumnQuantile("rev", q=0.5)], adjust=["channel"]).analyze(
            units=df
        )


def test_adjust_from_spec_and_pre_aggregated_strata() -> None:
    spec = {
        "name": "x",
        "control": "control",
        "variants": ["control", "treatment"],
        "metrics": [{"mean": {"column": "rev"}}],
        "adjust": ["channel"],
        "rel_ci": "delta",
    }
    exp = ab.Experiment.from_spec(spec)
    assert exp.adjust == ("channel",) and exp.rel_ci == "delta"
    df = _units()
    a = exp.analyze(units=df).comparisons[0].comparison
    # the same strata as pre-aggregated rows (one per variant × channel)
    g = df.groupby(["variant", "channel"]).rev
    stats = pd.DataFrame(
        {"rev__n": g.count(), "rev__sum": g.sum(), "rev__sumsq": g.apply(lambda s: (s * s).sum())}
    ).reset_index()
    b = exp.analyze_stats(stats).comparisons[0].comparison
    assert_allclose([a.abs_lift, a.std_error], [b.abs_lift, b.std_error], rtol=1e-9)
    assert a.method.startswith("post-stratified (3 strata)")


def test_adjust_on_logs_matches_statsmodels_on_per_unit_values_by_hand() -> None:
    sim = new_user_experiment(6_000, seed=11, days=12)
    as_of = pd.Timestamp("2024-03-12T00:00Z")
    res = ab.Experiment(
        metrics=[ab.Retention(day=1)], adjust=["channel", "platform", "predicted_d7"]
    ).analyze(exposures=sim.exposures, events=sim.events, as_of=as_of)
    # per unit by hand: D1 = an event in [t0 + 24 h, t0 + 48 h); mature once as_of >= t0 + 48 h
    x = sim.exposures.set_index("unit_id")
    ev = sim.events.join(x.exposed_at, on="unit_id")
    day = (ev.ts - ev.exposed_at) // pd.Timedelta(hours=24)
    d1 = set(ev.loc[(day == 1) & (ev.ts <= as_of), "unit_id"])
    units = x[x.exposed_at + pd.Timedelta(hours=48) <= as_of].reset_index()
    units["y"] = units.unit_id.isin(d1).astype(float)
    est, var = _lin_reference(units, "y", ["channel", "platform"], ["predicted_d7"])
    c = res.comparisons[0].comparison
    assert c.n_control + c.n_treatment == len(units)
    assert c.method.startswith("regression-adjusted (12 strata")  # none pooled
    assert_allclose(c.abs_lift, est, rtol=1e-9)
    assert_allclose(c.std_error**2, var, rtol=1e-9)


def test_adjust_with_cuped_on_logs_is_one_regression() -> None:
    sim = ab.simulate.retention_experiment(4_000, seed=2, pre_days=14, days=20)
    rng = np.random.default_rng(0)
    ids = sim.exposures.unit_id.unique()
    score = pd.Series(rng.normal(size=ids.size), index=ids)
    exposures = sim.exposures.assign(score=sim.exposures.unit_id.map(score))
    as_of = pd.Timestamp("2024-03-18T00:00Z")
    res = ab.Experiment(
        metrics=[ab.Retention(day=1)], cuped=14, adjust=["platform", "score"]
    ).analyze(exposures=exposures, events=sim.events, as_of=as_of)
    # by hand: first exposure t0; x = active days among the 14 before t0; y = active on day 1
    first = exposures.groupby("unit_id").agg(t0=("exposed_at", "min"), variant=("variant", "first"))
    units = first.join(
        exposures.drop_duplicates("unit_id").set_index("unit_id")[["platform", "score"]]
    )
    ev = sim.events[sim.events.ts <= as_of].join(units.t0, on="unit_id")
    day = (ev.ts - ev.t0) // pd.Timedelta(hours=24)
    x = ev[(day >= -14) & (day <= -1)].assign(day=day).groupby("unit_id").day.nunique()
    units["x"] = x.reindex(units.index).fillna(0.0)
    units["y"] = units.index.isin(set(ev.loc[day == 1, "unit_id"])).astype(float)
    units = units[units.t0 + pd.Timedelta(hours=48) <= as_of].reset_index()
    est, var = _lin_reference(units, "y", ["platform"], ["x", "score"])
    c = res.comparisons[0].comparison
    assert c.n_control + c.n_treatment == len(units)
    assert_allclose(c.abs_lift, est, rtol=1e-9)
    assert_allclose(c.std_error**2, var, rtol=1e-9)
    assert "CUPED pre-period, score" in c.note


def test_adjust_on_logs_of_a_new_user_experiment() -> None:
    sim = new_user_experiment(4_000, seed=3)
    res = ab.Experiment(
        metrics=[ab.Retention(day=1), ab.ActiveDays(days=(1, 13))],
        adjust=["channel", "platform", "predicted_d7"],
    ).analyze(exposures=sim.exposures, events=sim.events)
    for c in res.comparisons:
        assert c.variance_reduction is not None and c.variance_reduction > 0
        assert "channel × platform" in c.comparison.note


# --------------------------------------------------------------------- rel_ci (item 4)


def _fieller(pc: float, vc: float, pt: float, vt: float) -> tuple[float, float]:
    """Closed form: the roots ρ of (pt − ρ pc)² = z² (vt + ρ² vc), minus 1."""
    a = pc * pc - Z95**2 * vc
    b = -2 * pt * pc
    c = pt * pt - Z95**2 * vt
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a) - 1, (-b + root) / (2 * a) - 1


def test_rel_ci_defaults_to_fieller_overall_and_in_segments() -> None:
    stats = pd.DataFrame(
        {
            "variant": ["control", "treatment"] * 2,
            "seg": ["a", "a", "b", "b"],
            "r__n": [300, 300, 5000, 5000],
            "r__sum": [6, 9, 1000, 1100],
        }
    )
    res = ab.Experiment(metrics=[ab.Proportion("r")], segments=["seg"]).analyze_stats(stats)
    for c, (n, xc, xt) in [
        (res.comparisons[0].comparison, (5300, 1006, 1109)),
        (res.segment_comparisons[0].comparison, (300, 6, 9)),
    ]:
        pc, pt = xc / n, xt / n
        lo, hi = _fieller(pc, pc * (1 - pc) / n, pt, pt * (1 - pt) / n)  # Fieller's bound
        assert_allclose([c.rel_lift_ci_lower, c.rel_lift_ci_upper], [lo, hi], rtol=1e-9)
        assert c.method.endswith("Fieller relative CI (auto)")
    # rel_ci="delta": the delta-method bound (closed form)
    d = ab.Experiment(metrics=[ab.Proportion("r")], rel_ci="delta").analyze_stats(stats)
    c = d.comparisons[0].comparison
    pc, pt = 1006 / 5300, 1109 / 5300
    se = math.sqrt(pt * (1 - pt) / 5300 / pc**2 + pt**2 * pc * (1 - pc) / 5300 / pc**4)
    assert_allclose(c.rel_lift_ci_lower, pt / pc - 1 - Z95 * se, rtol=1e-9)
    assert c.method.endswith("delta-method relative CI")
    with pytest.raises(SpecError, match="rel_ci"):
        ab.Experiment(metrics=[ab.Proportion("r")], rel_ci="wald")


# --------------------------------------------------------- segments in one pass (issue 18)


def test_many_segment_values_equal_the_per_subset_analysis() -> None:
    df = _units(2_000)
    df["seg"] = (np.arange(len(df)) % 37).astype(str)
    res = ab.Experiment(metrics=[ab.Mean("rev")], segments=["seg"]).analyze(units=df)
    values = [c.segment_value for c in res.segment_comparisons]
    assert values == sorted(values, key=str) and len(values) == 37
    for sc in res.segment_comparisons[::6]:
        one = ab.Experiment(metrics=[ab.Mean("rev")]).analyze(units=df[df.seg == sc.segment_value])
        assert sc.comparison == one.comparisons[0].comparison


# ----------------------------------------------------------- calibration (slow, seeded)


def _stacked(n_experiments: int, n_units: int, effect: float, seed0: int) -> tuple:
    """``n_experiments`` seeded simulated experiments in one pair of logs, told apart by a
    ``rep`` column (unit ids prefixed by it), and the truth (the same for every one)."""
    import pandas as pd

    exposures, events = [], []
    for rep in range(n_experiments):
        sim = new_user_experiment(n_units, seed=seed0 + rep, effect=effect, days=10)
        key = f"r{rep:04d}"
        exposures.append(sim.exposures.assign(unit_id=key + ":" + sim.exposures.unit_id, rep=key))
        events.append(sim.events.assign(unit_id=key + ":" + sim.events.unit_id))
    return pd.concat(exposures, ignore_index=True), pd.concat(events, ignore_index=True), sim.truth


def _calibration(n_experiments: int, n_units: int = 1_500) -> tuple[float, float, float]:
    """(A/A share of p < 0.05, A/B coverage of the true lifts, mean stated variance reduction)
    over ``n_experiments`` seeded A/A and as many A/B (+5 %) experiments, D1 retention and
    active days 1–6 each, analysed from their logs with every kind of adjustment.

    The experiments are stacked in one pair of logs with the experiment as a segment: each
    segment's comparison is that experiment's own adjusted analysis (strata and regression
    within the segment — ``test_segments_are_adjusted_too_and_match_the_subset_analysis``), so the
    whole pipeline from logs runs once per arm of the study instead of 2,000 times."""
    exp = ab.Experiment(
        metrics=[ab.Retention(day=1), ab.ActiveDays(days=(1, 6))],
        adjust=["channel", "platform", "predicted_d7"],
        segments=["rep"],
        correction="none",
    )
    as_of = "2024-03-11T00:00:00Z"  # the simulated logs end after 10 days
    x, e, _ = _stacked(n_experiments, n_units, 0.0, 0)
    aa = exp.analyze(exposures=x, events=e, as_of=as_of).segment_comparisons
    rejected = sum(c.comparison.pvalue < 0.05 for c in aa)
    x, e, truth = _stacked(n_experiments, n_units, 0.05, 100_000)
    ab_ = exp.analyze(exposures=x, events=e, as_of=as_of).segment_comparisons
    r = truth.set_index(["variant", "day"]).retention
    lift = {k: r["treatment", k] - r["control", k] for k in range(1, 7)}
    # true lifts: D1 retention, and the expected active days 1–6 (a sum of daily rates)
    target = {"retention_d1": lift[1], "active_days_d1_6": sum(lift.values())}
    covered = sum(
        c.comparison.abs_lift_ci_lower <= target[c.metric] <= c.comparison.abs_lift_ci_upper
        for c in ab_
    )
    assert len(aa) == len(ab_) == 2 * n_experiments
    reductions = [c.variance_reduction for c in ab_]
    return rejected / len(aa), covered / len(ab_), float(np.mean(reductions))


@pytest.mark.slow
def test_adjusted_aa_false_positives_and_coverage_from_logs() -> None:
    """A/A: share of p < 0.05 in [0.04, 0.06]; A/B: 95 % CI coverage of the true lift in
    [0.94, 0.96]; 1,000 + 1,000 seeded experiments × 2 metrics, whole pipeline from logs."""
    fpr, coverage, reduction = _calibration(1_000)
    print(f"adjust= calibration: A/A FPR {fpr:.4f}, coverage {coverage:.4f}, VR {reduction:.3f}")
    assert 0.04 <= fpr <= 0.06
    assert 0.94 <= coverage <= 0.96


if __name__ == "__main__":  # the figures in docs/statistics.md: python tests/test_adjust.py
    print("A/A FPR, coverage, mean variance reduction:", _calibration(1_000))
