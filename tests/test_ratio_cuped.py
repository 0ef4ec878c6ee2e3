"""CUPED for ratio metrics (abkit/stats/ratio_cuped.py and its path through the query).

References: the linearised per-unit values ``ℓ = (x − R·y) / ȳ`` computed per arm from a per-unit
table and regressed on the pre-period covariates with statsmodels OLS (``ℓ ~ arm + x̃ + ỹ`` for
the pooled slope, ``ℓ ~ 1 + x̃ + ỹ`` within an arm for ``theta="per-arm"``); the adjusted ratio
``R − θᵀ(z̄_arm − z̄)``, its variance ``var(ℓ − θᵀz) / n`` (numpy, ddof=1) and scipy's normal
tail. End to end, the per-unit values are computed by hand in pandas from the simulated logs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from scipy import stats

import abkit as ab
from abkit.errors import StatsError
from abkit.stats import RatioCovariateSums, compare_ratios, ratio_cuped


def _sums(x, y, cx, cy) -> tuple:
    """One arm's 15 sums in the order of RatioCovariateSums."""
    return (
        len(x),
        *(float(np.sum(v)) for v in (x, y, x * x, y * y, x * y)),
        *(float(np.sum(v)) for v in (cx, cy, cx * cx, cy * cy, cx * cy)),
        *(float(np.sum(v)) for v in (x * cx, x * cy, y * cx, y * cy)),
    )


def _reference(x, y, cx, cy, t, *, per_arm=False, used=(0, 1), alpha=0.05) -> dict:
    """The adjusted comparison from per-unit values (control t == 0, treatment t == 1)."""
    z = np.column_stack([cx, cy])[:, list(used)]
    arms = [t == 0, t == 1]
    ell = np.empty_like(x)
    ratio = []
    for a in arms:
        r = x[a].sum() / y[a].sum()
        ell[a] = (x[a] - r * y[a]) / y[a].mean()
        ratio.append(r)
    dummies = np.column_stack([a.astype(float) for a in arms])
    pooled = sm.OLS(ell, np.column_stack([dummies, z])).fit().params[2:]
    z_bar = z.mean(axis=0)
    value, var = [], []
    for k, a in enumerate(arms):
        th = pooled
        if per_arm:
            th = sm.OLS(ell[a], sm.add_constant(z[a], has_constant="add")).fit().params[1:]
        value.append(ratio[k] - th @ (z[a].mean(axis=0) - z_bar))
        var.append(np.var(ell[a] - z[a] @ th, ddof=1) / a.sum())
    plain = sum(np.var(ell[a], ddof=1) / a.sum() for a in arms)
    diff = value[1] - value[0]
    se = np.sqrt(var[0] + var[1])
    half = stats.norm.ppf(1 - alpha / 2) * se
    return {
        "abs_lift": diff,
        "std_error": se,
        "pvalue": 2 * stats.norm.sf(abs(diff / se)),
        "ci": (diff - half, diff + half),
        "theta": pooled,
        "variance_reduction": 1 - se**2 / plain,
        "plain_var": plain,
        "values": value,
    }


def _units(n: int, seed: int, effect: float = 0.0, shift: float = 0.0):
    """Per-unit x, y and their pre-period x̃, ỹ: each unit has an activity level ``g`` and its
    own rate ``ρ`` of x per y, the same before and after exposure. The true ratio E x / E y is
    E ρ = 1.5 in control and 1.5 · (1 + effect) in treatment."""
    rng = np.random.default_rng(seed)
    t = (rng.random(n) < 0.5).astype(int)
    g = rng.gamma(2.0, 1.0, n)
    rho = rng.gamma(4.0, 0.375, n)
    cy = rng.poisson(3 * g).astype(float)
    cx = rng.poisson(rho * cy).astype(float) + shift * t
    y = rng.poisson(3 * g + 0.2).astype(float)
    x = rng.poisson(rho * (1 + effect * t) * y).astype(float)
    return x, y, cx, cy, t


def _compare(x, y, cx, cy, t, **kw):
    c, tr = t == 0, t == 1
    return ratio_cuped(_sums(x[c], y[c], cx[c], cy[c]), _sums(x[tr], y[tr], cx[tr], cy[tr]), **kw)


@pytest.mark.parametrize("theta", ["pooled", "per-arm"])
def test_ratio_cuped_matches_the_regression_of_linearised_values(theta) -> None:
    x, y, cx, cy, t = _units(3000, seed=5, effect=0.04)
    r = _compare(x, y, cx, cy, t, theta=theta)
    ref = _reference(x, y, cx, cy, t, per_arm=theta == "per-arm")
    c = r.comparison
    assert_allclose(c.abs_lift, ref["abs_lift"], rtol=1e-9)
    assert_allclose(c.std_error, ref["std_error"], rtol=1e-9)
    assert_allclose(c.pvalue, ref["pvalue"], rtol=1e-9)
    assert_allclose([c.abs_lift_ci_lower, c.abs_lift_ci_upper], ref["ci"], rtol=1e-9)
    assert_allclose([c.control_value, c.treatment_value], ref["values"], rtol=1e-9)
    assert_allclose(r.theta, ref["theta"], rtol=1e-9)
    assert_allclose(r.variance_reduction, ref["variance_reduction"], rtol=1e-9)
    assert r.variance_reduction > 0.3 and r.covariates_used == (0, 1)
    assert c.method.startswith(f"CUPED ({theta} θ) ratio metric")
    # the unadjusted comparison is the plain delta method, whose variance is var(ℓ) / n
    assert r.unadjusted == compare_ratios(
        (*_sums(x[t == 0], y[t == 0], cx[t == 0], cy[t == 0])[1:6], int((t == 0).sum())),
        (*_sums(x[t == 1], y[t == 1], cx[t == 1], cy[t == 1])[1:6], int((t == 1).sum())),
    )
    assert_allclose(r.unadjusted.std_error**2, ref["plain_var"], rtol=1e-9)
    assert not r.imbalanced and r.note is None


def test_ratio_cuped_degenerate_covariates_and_bad_input() -> None:
    x, y, cx, cy, t = _units(2000, seed=6)
    zero = np.zeros_like(cx)
    # no pre-period activity at all: no adjustment, the plain delta method, and a note
    r = _compare(x, y, zero, zero, t)
    assert r.theta is None and r.comparison == r.unadjusted
    assert "no CUPED adjustment: the covariates have no variance" in (r.note or "")
    # ỹ the same as x̃ (both parts count the same activity): x̃ alone is used
    r = _compare(x, y, cx, cx, t)
    ref = _reference(x, y, cx, cx, t, used=(0,))
    assert r.covariates_used == (0,) and r.theta is not None and r.theta[1] == 0
    assert_allclose(r.comparison.abs_lift, ref["abs_lift"], rtol=1e-9)
    assert_allclose(r.comparison.std_error, ref["std_error"], rtol=1e-9)
    # only ỹ varies
    r = _compare(x, y, zero, cy, t)
    ref = _reference(x, y, zero, cy, t, used=(1,))
    assert r.covariates_used == (1,)
    assert_allclose(r.comparison.pvalue, ref["pvalue"], rtol=1e-9)
    # an arm of one unit, a zero denominator
    one = _sums(x[:1], y[:1], cx[:1], cy[:1])
    full = _sums(x, y, cx, cy)
    assert "fewer than 2 units" in (ratio_cuped(one, full).note or "")
    no_y = (5, 3.0, 0.0, 3.0, 0.0, 0.0, *full[6:])
    assert "denominator sum is 0" in (ratio_cuped(no_y, full).note or "")
    # an imbalanced pre-period is flagged
    x, y, cx, cy, t = _units(4000, seed=7, shift=2.0)
    assert _compare(x, y, cx, cy, t).imbalanced
    with pytest.raises(StatsError, match=r"got 6 values"):
        ratio_cuped(full[:6], full)
    with pytest.raises(StatsError, match="theta"):
        ratio_cuped(full, full, theta="both")
    with pytest.raises(StatsError, match="sum_cx2"):
        ratio_cuped((*full[:8], -1.0, *full[9:]), full)
    assert ratio_cuped(RatioCovariateSums(*full), full).comparison.abs_lift == 0


def _calibration(n_experiments: int, n_units: int = 1000) -> tuple[float, float, float]:
    """(A/A share of p < 0.05, A/B 95 % coverage of the true lift, mean variance reduction)
    over ``n_experiments`` seeded A/A and as many A/B (+4 %) experiments of the pure function
    on simulated per-unit data whose true ratios are known (1.5 and 1.5 · 1.04)."""
    rejected = covered = 0
    reductions = []
    for k in range(n_experiments):
        x, y, cx, cy, t = _units(n_units, seed=10_000 + k)
        rejected += _compare(x, y, cx, cy, t).comparison.pvalue < 0.05
        x, y, cx, cy, t = _units(n_units, seed=50_000 + k, effect=0.04)
        r = _compare(x, y, cx, cy, t)
        covered += r.comparison.abs_lift_ci_lower <= 1.5 * 0.04 <= r.comparison.abs_lift_ci_upper
        reductions.append(r.variance_reduction)
    return rejected / n_experiments, covered / n_experiments, float(np.mean(reductions))


def test_ratio_cuped_aa_false_positives_and_coverage() -> None:
    """A/A: share of p < 0.05 in [0.04, 0.06]; A/B: coverage of the true lift in [0.94, 0.96];
    2,000 + 2,000 seeded experiments of 1,000 units."""
    fpr, coverage, reduction = _calibration(2_000)
    print(
        f"ratio CUPED calibration: A/A FPR {fpr:.4f}, coverage {coverage:.4f}, VR {reduction:.3f}"
    )
    assert 0.04 <= fpr <= 0.06
    assert 0.94 <= coverage <= 0.96
    assert reduction > 0.3


# ------------------------------------------------------------------------------ end to end


RATIO = ab.Ratio(ab.ActiveDays(days=(1, 7)), ab.EventCount(days=(0, 7)))


@pytest.fixture(scope="module")
def returning_sim():
    # returning users: active before exposure with their own engagement, which CUPED uses
    return ab.simulate.retention_experiment(n_units=6000, seed=11, pre_days=14)


def _per_unit(sim, lookback: int, as_of) -> pd.DataFrame:
    """Per mature unit, by hand in pandas: variant, x = active days 1-7 (day index
    floor((ts - t0) / 24h)), y = events on days 0-7, x̃ = active days and ỹ = events in the
    ``lookback`` days before exposure (pre-day ceil((t0 - ts) / 24h) in 1..lookback)."""
    exp = sim.exposures.sort_values("exposed_at").drop_duplicates("unit_id").set_index("unit_id")
    exp = exp[exp.exposed_at <= as_of]
    ev = sim.events.join(exp[["exposed_at"]], on="unit_id", how="inner")
    delta = ev.ts - ev.exposed_at
    day = delta // pd.Timedelta(days=1)
    ev = ev.assign(day=day, pre=-(delta // pd.Timedelta(days=1)))  # = ceil(-delta / 24h)
    post = ev[(delta >= pd.Timedelta(0)) & (ev.ts <= as_of)]
    pre = ev[(delta < pd.Timedelta(0)) & (delta >= -pd.Timedelta(days=lookback))]
    mature = exp[exp.exposed_at + pd.Timedelta(days=8) <= as_of]

    def per(s: pd.Series) -> np.ndarray:
        return s.reindex(mature.index, fill_value=0).to_numpy(dtype=float)

    return pd.DataFrame(
        {
            "t": (mature.variant == "treatment").astype(int).to_numpy(),
            "x": per(post[post.day.between(1, 7)].groupby("unit_id").day.nunique()),
            "y": per(post[post.day.between(0, 7)].groupby("unit_id").size()),
            "cx": per(pre.groupby("unit_id").pre.nunique()),
            "cy": per(pre.groupby("unit_id").size()),
        },
        index=mature.index,
    )


@pytest.mark.parametrize("early", [False, True])
def test_ratio_cuped_from_logs_matches_the_per_unit_regression(returning_sim, early) -> None:
    sim = returning_sim
    as_of = sim.events.ts.max()
    if early:  # many units immature: excluded from every sum, by age bucket
        as_of = sim.exposures.exposed_at.min() + pd.Timedelta(days=15)
    u = _per_unit(sim, 14, as_of)
    assert u.cx.sum() > 0 and u.cy.sum() > 0
    ref = _reference(u.x.to_numpy(), u.y.to_numpy(), u.cx.to_numpy(), u.cy.to_numpy(), u.t)
    kw = {"exposures": sim.exposures, "events": sim.events, "as_of": as_of}
    res = ab.Experiment(metrics=[RATIO], cuped=14, rel_ci="delta").analyze(**kw)
    row = res.to_pandas().iloc[0]
    assert row.n_control + row.n_treatment == len(u)
    assert (row.immature_control + row.immature_treatment > 1000) == early
    assert_allclose(row.abs_lift, ref["abs_lift"], rtol=1e-9)
    assert_allclose(row.pvalue, ref["pvalue"], rtol=1e-9)
    assert_allclose([row.abs_lift_ci_lower, row.abs_lift_ci_upper], ref["ci"], rtol=1e-9)
    cmp = res.comparisons[0]
    assert_allclose(cmp.variance_reduction, ref["variance_reduction"], rtol=1e-9)
    assert cmp.variance_reduction > 0.05
    assert row.method.startswith("CUPED (pooled θ) ratio metric")
    assert "CUPED: variance of the lift" in row.note and "not CUPED-adjusted" not in row.note
    definition = res.metrics[0].definition
    assert "adjusted by CUPED" in definition and "14 days before" in definition
    # without CUPED: the plain delta method on the same units
    plain_res = ab.Experiment(metrics=[RATIO], rel_ci="delta").analyze(**kw)
    plain = plain_res.comparisons[0].comparison
    ratios = [u.x[u.t == k].sum() / u.y[u.t == k].sum() for k in (0, 1)]
    assert_allclose(plain.abs_lift, ratios[1] - ratios[0], rtol=1e-9)
    assert_allclose(plain.std_error**2, ref["plain_var"], rtol=1e-9)
    assert cmp.comparison.std_error < plain.std_error
    assert plain_res.comparisons[0].variance_reduction is None


def test_ratio_cuped_per_arm_and_column_ratios_from_logs(returning_sim) -> None:
    sim = returning_sim
    as_of = sim.events.ts.max()
    u = _per_unit(sim, 14, as_of)
    ref = _reference(
        u.x.to_numpy(), u.y.to_numpy(), u.cx.to_numpy(), u.cy.to_numpy(), u.t, per_arm=True
    )
    kw = {"exposures": sim.exposures, "events": sim.events, "as_of": as_of}
    res = ab.Experiment(metrics=[RATIO], cuped=14, cuped_theta="per-arm").analyze(**kw)
    row = res.to_pandas().iloc[0]
    assert_allclose([row.abs_lift, row.pvalue], [ref["abs_lift"], ref["pvalue"]], rtol=1e-9)
    assert row.method.startswith("CUPED (per-arm θ)")
    # a ratio of columns has no pre-exposure activity: not adjusted, and the note says why
    exposures = sim.exposures.assign(a=1.0 + np.arange(len(sim.exposures)) % 5, b=2.0)
    res = ab.Experiment(metrics=[ab.Ratio("a", "b")], cuped=14).analyze(
        exposures=exposures, events=sim.events, as_of=as_of
    )
    assert (
        "not CUPED-adjusted: a ratio is adjusted when both its parts are event metrics"
        in (res.to_pandas().note.iloc[0])
    )


def _id_numbers(ids: pd.Series) -> np.ndarray:
    """The simulation's unit ids ``u`` + 7 digits as their numbers (``u0000042`` -> 42)."""
    raw = np.frombuffer(ids.to_numpy().astype("S8").tobytes(), dtype=np.uint8).reshape(-1, 8)
    digits = raw[:, 1:].astype(np.int64) - ord("0")
    assert (raw[:, 0] == ord("u")).all() and ((digits >= 0) & (digits <= 9)).all()
    return digits @ 10 ** np.arange(6, -1, -1)


def _stacked_from_logs(
    n_experiments: int, n_units: int, effect: float, seed: int, *, integer_ids: bool = True
):
    """One simulation of ``n_experiments · n_units`` returning users cut into experiments of
    ``n_units`` by a ``rep`` column (units are independent draws, so each cut is a seeded
    experiment of its own), analysed once with the experiment as a segment."""
    sim = ab.simulate.retention_experiment(
        n_units=n_experiments * n_units,
        seed=seed,
        pre_days=14,
        days=22,  # every unit mature for days 0-7 (exposed by day 14), half the events of 40
        effects={"treatment": effect},
    )
    exposures, events = sim.exposures, sim.events
    if integer_ids:  # the ids "u0000001", ... as 1, ... and only the columns the analysis
        # reads: the same units; converting the string columns for the engine took about half
        # of the analysis' CPU time
        exposures = exposures[["variant", "exposed_at"]].assign(
            unit_id=_id_numbers(exposures.unit_id)
        )
        events = pd.DataFrame({"unit_id": _id_numbers(events.unit_id), "ts": events.ts})
    # the k-th unit to appear is in experiment k mod n_experiments
    ids = exposures.unit_id.drop_duplicates()
    rep = pd.Series([f"r{k % n_experiments:04d}" for k in range(len(ids))], index=ids)
    exposures = exposures.assign(rep=exposures.unit_id.map(rep))
    exp = ab.Experiment(metrics=[RATIO], cuped=14, segments=["rep"], correction="none")
    return exp.analyze(exposures=exposures, events=events)


def test_the_stacked_calibration_is_the_same_with_integer_ids() -> None:
    """The calibration below hands the engine integer ids and only the columns it reads: every
    experiment's comparison is the same as with the simulation's own logs."""
    fast = _stacked_from_logs(30, 200, 0.05, seed=23)
    plain = _stacked_from_logs(30, 200, 0.05, seed=23, integer_ids=False)
    assert len(fast.segment_comparisons) == 30
    assert fast.segment_comparisons == plain.segment_comparisons
    assert fast.comparisons == plain.comparisons


@pytest.mark.slow
def test_ratio_cuped_calibration_from_logs() -> None:
    """The whole pipeline from logs: A/A share of p < 0.05 in [0.04, 0.06], A/B coverage in
    [0.94, 0.96] of the true lift (estimated by the ratio over all stacked units, whose error is
    1/√2000 of one experiment's), 2,000 + 2,000 seeded experiments of 400 units."""
    aa = _stacked_from_logs(2_000, 400, 0.0, seed=21).segment_comparisons
    fpr = float(np.mean([c.comparison.pvalue < 0.05 for c in aa]))
    res = _stacked_from_logs(2_000, 400, 0.05, seed=22)
    truth = res.comparisons[0].comparison
    lift = truth.treatment_value - truth.control_value
    ab_ = res.segment_comparisons
    covered = float(
        np.mean(
            [c.comparison.abs_lift_ci_lower <= lift <= c.comparison.abs_lift_ci_upper for c in ab_]
        )
    )
    reduction = float(np.mean([c.variance_reduction for c in ab_]))
    print(f"ratio CUPED from logs: A/A FPR {fpr:.4f}, coverage {covered:.4f}, VR {reduction:.3f}")
    assert len(aa) == len(ab_) == 2_000
    assert 0.04 <= fpr <= 0.06
    assert 0.94 <= covered <= 0.96


def test_ratio_cuped_from_pre_aggregated_sums() -> None:
    from abkit.errors import DataError
    from abkit.query.frame import RATIO_CUPED_FIELDS, RATIO_SUMS

    x, y, cx, cy, t = _units(2000, seed=3)
    rows = []
    for k, v in ((0, "control"), (1, "treatment")):
        s = _sums(x[t == k], y[t == k], cx[t == k], cy[t == k])
        rows.append(
            {"variant": v, "r__n": s[0]}
            | {f"r__{f}": val for f, val in zip(RATIO_SUMS, s[1:6], strict=True)}
            | {f"r__{f}": val for f, val in zip(RATIO_CUPED_FIELDS, s[6:], strict=True)}
        )
    stats_in = pd.DataFrame(rows)
    ratio = ab.Ratio("a", "b", name="r")
    res = ab.Experiment(metrics=[ratio]).analyze_stats(stats_in)
    ref = _reference(x, y, cx, cy, t)
    row = res.to_pandas().iloc[0]
    assert_allclose([row.abs_lift, row.pvalue], [ref["abs_lift"], ref["pvalue"]], rtol=1e-9)
    assert "covariates whose sums were given (r__rcx, …)" in res.metrics[0].definition
    with pytest.raises(DataError, match="r__y_rcy"):
        ab.Experiment(metrics=[ratio]).analyze_stats(stats_in.drop(columns="r__y_rcy"))
