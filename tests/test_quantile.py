"""Quantile metrics: point estimates against numpy, standard errors against a closed form and a
bootstrap, interval coverage by seeded simulation, and the pipeline from logs and unit tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import abkit as ab
from abkit.errors import SpecError, StatsError
from abkit.metrics import ColumnQuantile, Quantile, metric_from_spec
from abkit.query.quantiles import with_quantile_ranks
from abkit.stats.quantile import (
    QUANTILE_Z,
    QuantileEstimate,
    compare_quantiles,
    quantile_estimate,
    quantile_ranks,
)


def _estimate(x: np.ndarray, q: float) -> QuantileEstimate:
    """The estimate from numpy-sorted values (the engine returns these order statistics)."""
    xs = np.sort(np.asarray(x, dtype=float))
    j, k, lo, hi = quantile_ranks(len(xs), q)
    return quantile_estimate(
        q, len(xs), xs[j - 1], xs[k - 1], xs[lo - 1], xs[hi - 1], lower_rank=lo, upper_rank=hi
    )


# ------------------------------------------------------------------------------ pure statistics


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1001, 5000])
@pytest.mark.parametrize("q", [0.01, 0.1, 0.25, 0.5, 0.9, 0.99])
def test_point_estimate_is_numpy_quantile(n: int, q: float) -> None:
    x = np.random.default_rng(n).normal(size=n) * 10
    # reference: numpy.quantile, method="linear" (the default)
    assert _estimate(x, q).value == pytest.approx(float(np.quantile(x, q)), rel=1e-13, abs=1e-13)


def test_ranks_and_exact_coverage() -> None:
    # ranks: n·q ± z·sqrt(n·q(1-q)) = 50 ± 9.8 -> floor 40, ceil 60; h = 99·0.5 + 1 = 50.5
    assert quantile_ranks(100, 0.5) == (50, 51, 40, 60)
    e = quantile_estimate(0.5, 100, 0.0, 1.0, -1.0, 2.0, lower_rank=40, upper_rank=60)
    # coverage of [X_(40), X_(60)]: P(40 <= B <= 59), B ~ Bin(100, 0.5) (scipy)
    assert e.coverage == pytest.approx(
        stats.binom.cdf(59, 100, 0.5) - stats.binom.cdf(39, 100, 0.5)
    )
    assert e.value == 0.5  # halfway between X_(50) and X_(51)
    assert e.std_error == pytest.approx(3.0 / (2 * stats.norm.ppf((1 + e.coverage) / 2)))


def test_standard_error_matches_the_asymptotic_closed_form() -> None:
    # exponential(1): the q-quantile is -log(1-q), density there 1-q, and the sample quantile's
    # variance is q(1-q) / (n f²) (asymptotic normality of sample quantiles); averaged over 200
    # seeded samples the estimator's relative error is a few percent, its mean within 3%
    n, q = 20_000, 0.9
    rng = np.random.default_rng(11)
    truth = math.sqrt(q * (1 - q) / (n * (1 - q) ** 2))
    ses = [_estimate(rng.exponential(size=n), q).std_error for _ in range(200)]
    assert np.mean(ses) == pytest.approx(truth, rel=0.03)


def test_standard_error_agrees_with_a_bootstrap() -> None:
    # reference: a seeded nonparametric bootstrap (1,000 resamples per arm) of the difference of
    # medians. Tolerance 15 %: the bootstrap SE's Monte Carlo error is ~1/sqrt(2·1000) ≈ 2 %,
    # the order-statistic SE's own error ~1/sqrt(2·z·sqrt(n/4)) ≈ 6 % per arm (≈ 4 % for the
    # difference) at n = 20,000, so 15 % is over three standard deviations of both together;
    # a wrong factor (2, or z instead of 2z) is 40 % or more off
    rng = np.random.default_rng(5)
    n = 20_000
    c, t = rng.lognormal(0.0, 1.0, n), rng.lognormal(0.05, 1.0, n)
    r = compare_quantiles(_estimate(c, 0.5), _estimate(t, 0.5))
    boot = np.random.default_rng(6)
    b = 1_000
    mc = np.median(c[boot.integers(0, n, (b, n))], axis=1)
    mt = np.median(t[boot.integers(0, n, (b, n))], axis=1)
    assert r.std_error == pytest.approx(float(np.std(mt - mc, ddof=1)), rel=0.15)
    # the point estimate is the plain difference of numpy medians
    assert r.abs_lift == pytest.approx(float(np.median(t) - np.median(c)), rel=1e-12)


def test_compare_quantiles_closed_form() -> None:
    c = QuantileEstimate(0.5, 1000, 10.0, 0.2, 469, 531, 9.6, 10.4, 0.95)
    t = QuantileEstimate(0.5, 1000, 10.8, 0.3, 469, 531, 10.2, 11.4, 0.95)
    r = compare_quantiles(c, t, rel_method="delta")
    se = math.sqrt(0.2**2 + 0.3**2)
    z = stats.norm.ppf(0.975)
    assert r.abs_lift == pytest.approx(0.8, rel=1e-12)
    assert r.std_error == pytest.approx(se, rel=1e-12)
    assert r.abs_lift_ci_lower == pytest.approx(0.8 - z * se, rel=1e-12)
    assert r.pvalue == pytest.approx(2 * stats.norm.sf(0.8 / se), rel=1e-10)
    # delta method for Q_t/Q_c - 1: var = se_t²/Q_c² + Q_t²·se_c²/Q_c⁴
    rel_se = math.sqrt(0.3**2 / 100 + 10.8**2 * 0.2**2 / 10**4)
    assert r.rel_lift == pytest.approx(0.08, rel=1e-12)
    assert r.rel_lift_ci_upper == pytest.approx(0.08 + z * rel_se, rel=1e-10)
    one = compare_quantiles(c, t, alternative="greater")
    assert one.pvalue == pytest.approx(stats.norm.sf(0.8 / se), rel=1e-10)
    assert one.abs_lift_ci_upper == math.inf


def test_ties_and_tiny_arms_get_no_test_but_a_reason() -> None:
    tied = _estimate(np.r_[np.zeros(700), np.arange(300.0)], 0.5)
    assert tied.std_error is None and "tied" in (tied.note or "")
    r = compare_quantiles(tied, tied)
    assert r.pvalue is None and "tied" in (r.note or "")
    tiny = _estimate(np.arange(5.0), 0.5)
    assert tiny.std_error is None and "too few" in (tiny.note or "")
    with pytest.raises(StatsError, match="q must be"):
        quantile_ranks(10, 1.0)
    with pytest.raises(StatsError, match="no values"):
        quantile_ranks(0, 0.5)
    with pytest.raises(StatsError, match="different quantiles"):
        compare_quantiles(_estimate(np.arange(100.0), 0.5), _estimate(np.arange(100.0), 0.9))


def _coverage(q: float, n: int, reps: int, seed: int) -> tuple[float, float]:
    """Coverage of the 95 % interval of the difference and of the relative difference when the
    treatment is the control scaled by 1.1 (lognormal: true quantiles exp(Φ⁻¹(q)) and 1.1×)."""
    rng = np.random.default_rng(seed)
    true_c = math.exp(stats.norm.ppf(q))
    hit_abs = hit_rel = 0
    for _ in range(reps):
        c, t = rng.lognormal(0, 1, n), 1.1 * rng.lognormal(0, 1, n)
        r = compare_quantiles(_estimate(c, q), _estimate(t, q), rel_method="delta")
        assert r.abs_lift_ci_lower is not None and r.rel_lift_ci_lower is not None
        hit_abs += r.abs_lift_ci_lower <= 0.1 * true_c <= r.abs_lift_ci_upper
        hit_rel += r.rel_lift_ci_lower <= 0.1 <= r.rel_lift_ci_upper
    return hit_abs / reps, hit_rel / reps


def test_coverage_of_the_median_difference() -> None:
    # 4,000 seeded runs: the coverage's own standard error is 0.0034, [0.94, 0.96] is ±2.9 of it
    abs_cov, rel_cov = _coverage(0.5, 500, 4_000, seed=2024)
    assert 0.94 <= abs_cov <= 0.96
    assert 0.94 <= rel_cov <= 0.96


@pytest.mark.parametrize("q", [0.1, 0.9])
def test_coverage_of_other_quantiles(q: float) -> None:
    abs_cov, rel_cov = _coverage(q, 1_000, 4_000, seed=7)
    assert 0.94 <= abs_cov <= 0.96
    assert 0.94 <= rel_cov <= 0.96


# ------------------------------------------------------------------------------ metric and spec


def test_metric_declarations_and_spec_form() -> None:
    m = Quantile("value", q=0.9, days=(0, 6))
    assert (m.name, m.kind, m.unit_value, m.mature_after_days) == (
        "value_p90_d0_6",
        "quantile",
        "sum",
        7,
    )
    assert Quantile("active_days", days=(1, 7)).unit_value == "days"
    assert metric_from_spec({"quantile": {"of": "events", "q": 0.5, "days": [1, 7]}}).name == (
        "events_p50_d1_7"
    )
    assert metric_from_spec({"column_quantile": "revenue"}) == ColumnQuantile("revenue")
    assert ColumnQuantile("x", q=0.995).name == "x_p99_5"
    with pytest.raises(SpecError, match="per-unit value must be one of"):
        Quantile("revenue")
    with pytest.raises(SpecError, match="strictly between 0 and 1"):
        Quantile("value", q=1)
    with pytest.raises(SpecError, match="allowed arguments"):  # not CUPED-adjusted
        metric_from_spec({"column_quantile": {"column": "x", "covariate": "y"}})
    spec = ab.load_spec(
        {
            "name": "q",
            "control": "control",
            "variants": ["control", "treatment"],
            "metrics": [{"quantile": {"of": "value", "q": 0.5, "days": [0, 6]}}],
        }
    )
    assert [m.name for m in spec.build_metrics()] == ["value_p50_d0_6"]


# ------------------------------------------------------------------------------ through the engine


def _units(seed: int = 0, n: int = 3_001) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "unit_id": np.arange(2 * n),
            "variant": ["control"] * n + ["treatment"] * n,
            "rev": np.r_[rng.lognormal(0, 1, n), rng.lognormal(0.1, 1, n)],
            "seg": rng.choice(["a", "b", "c"], 2 * n),
        }
    )
    df.loc[[3, 5], "rev"] = np.nan  # nulls are left out, and counted as missing
    return df


def test_unit_table_quantiles_are_numpys_overall_and_per_segment() -> None:
    df = _units()
    res = ab.Experiment(
        metrics=[ColumnQuantile("rev", q=0.75), ab.Mean("rev")], segments=["seg"]
    ).analyze(units=df)
    c = res.comparisons[0].comparison

    def ref(sub: pd.DataFrame, v: str) -> QuantileEstimate:
        return _estimate(sub.loc[sub.variant == v, "rev"].dropna().to_numpy(), 0.75)

    rc, rt = ref(df, "control"), ref(df, "treatment")
    assert c.control_value == pytest.approx(
        np.quantile(df.rev[df.variant == "control"].dropna(), 0.75), rel=1e-13
    )
    assert (c.n_control, c.n_treatment) == (2_999, 3_001)
    want = compare_quantiles(rc, rt, rel_method="auto")
    assert c.std_error == pytest.approx(want.std_error, rel=1e-12)
    assert c.pvalue == pytest.approx(want.pvalue, rel=1e-9)
    seen = 0
    for sc in res.segment_comparisons:
        if sc.metric != "rev_p75":
            continue
        sub = df[df.seg == sc.segment_value]
        assert sc.comparison.control_value == pytest.approx(ref(sub, "control").value, rel=1e-13)
        assert sc.comparison.treatment_value == pytest.approx(
            ref(sub, "treatment").value, rel=1e-13
        )
        seen += 1
    assert seen == 3
    row = res.to_pandas().set_index("metric").loc["rev_p75"]
    assert "order-statistic" in row.method
    assert res.metric("rev_p75").kind == "quantile"


def test_log_quantiles_match_per_unit_values_from_pandas() -> None:
    exposures, events = ab.simulate.retention_experiment(n_units=3_000, seed=4)
    rng = np.random.default_rng(1)
    events = events.assign(value=rng.lognormal(0, 1, len(events)))
    metric = Quantile("value", q=0.5, days=(0, 6))
    res = ab.Experiment(metrics=[metric], segments=["channel"]).analyze(
        exposures=exposures, events=events, as_of="2024-06-01T00:00Z"
    )
    # reference: each unit's sum of value on rolling days 0-6 (0 without events), in pandas
    first = exposures.sort_values("exposed_at").groupby("unit_id").first()
    ev = events.join(first[["exposed_at"]], on="unit_id")
    age = ev.ts - ev.exposed_at
    inside = (age >= pd.Timedelta(0)) & (age < pd.Timedelta(days=7))
    per_unit = ev[inside].groupby("unit_id").value.sum().reindex(first.index, fill_value=0.0)
    for arm, col in (("control", "control_value"), ("treatment", "treatment_value")):
        x = per_unit[first.variant == arm].to_numpy()
        assert getattr(res.comparisons[0].comparison, col) == pytest.approx(np.median(x), rel=1e-12)
    c = res.comparisons[0].comparison
    want = compare_quantiles(
        _estimate(per_unit[first.variant == "control"].to_numpy(), 0.5),
        _estimate(per_unit[first.variant == "treatment"].to_numpy(), 0.5),
        rel_method="auto",
    )
    assert c.std_error == pytest.approx(want.std_error, rel=1e-12)
    for sc in res.segment_comparisons:
        sub = first.channel == sc.segment_value
        x = per_unit[sub & (first.variant == "control")].to_numpy()
        assert sc.comparison.control_value == pytest.approx(np.median(x), rel=1e-12)


def test_immature_units_are_left_out_of_the_ranks() -> None:
    exposures, events = ab.simulate.retention_experiment(n_units=2_000, seed=4)
    events = events.assign(value=1.0)
    last = exposures.exposed_at.max()
    res = ab.Experiment(metrics=[Quantile("events", q=0.5, days=(0, 13))]).analyze(
        exposures=exposures, events=events, as_of=last + pd.Timedelta(days=3)
    )
    arms = [a for a in res.arms if a.segment is None]
    assert all(a.immature > 0 for a in arms)
    c = res.comparisons[0].comparison
    assert (c.n_control, c.n_treatment) == tuple(a.n for a in arms)


def test_refusals() -> None:
    import ibis

    t = ibis.memtable(_units())
    with pytest.raises(SpecError, match="exact order statistics"):
        with_quantile_ranks(
            t,
            [ColumnQuantile("rev")],
            lambda m: t.rev,
            lambda m: t.variant.notnull(),
            segments=(),
            backend="clickhouse",
        )
    stats_in = pd.DataFrame(
        {"variant": ["control", "treatment"], "rev_p50__n": [10, 10], "rev_p50__sum": [5.0, 6.0],
         "rev_p50__sumsq": [5.0, 6.0]}
    )  # fmt: skip
    with pytest.raises(SpecError, match="pre-aggregated"):
        ab.Experiment(metrics=[ColumnQuantile("rev")]).analyze_stats(stats_in)


def test_quantile_guardrail_says_why_it_has_no_test() -> None:
    res = ab.Experiment(
        metrics=[ColumnQuantile("rev")], guardrails=[{"metric": "rev_p50", "margin": 0.1}]
    ).analyze(units=_units())
    (g,) = res.guardrails
    assert g.passed is None and "quantile" in (g.note or "")


def test_query_z_is_the_documented_constant() -> None:
    assert stats.norm.ppf(0.975) == pytest.approx(QUANTILE_Z, rel=1e-15)


@pytest.mark.slow
def test_aa_false_positive_rate_through_the_pipeline() -> None:
    # 1,000 seeded A/A unit tables through Experiment.analyze: the rejection rate's standard
    # error is 0.0069, so [0.035, 0.065] is ±2.2 of it
    rng = np.random.default_rng(99)
    exp = ab.Experiment(metrics=[ColumnQuantile("rev", q=0.5)], correction="none")
    n = 400
    rejected = 0
    reps = 1_000
    for _ in range(reps):
        df = pd.DataFrame(
            {"unit_id": np.arange(2 * n), "variant": ["control"] * n + ["treatment"] * n,
             "rev": rng.lognormal(0, 1, 2 * n)}
        )  # fmt: skip
        p = exp.analyze(units=df).comparisons[0].comparison.pvalue
        rejected += p is not None and p < 0.05
    assert 0.035 <= rejected / reps <= 0.065


def test_spec_and_cli_show_a_quantile_like_other_metrics(tmp_path, capsys) -> None:
    import json

    from abkit.cli import main

    assert main(["simulate", "--out", str(tmp_path), "--n-units", "3000", "--seed", "3"]) == 0
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: onb\ncontrol: control\nvariants: [control, treatment]\nsegments: [channel]\n"
        "metrics:\n  - retention: {day: 1}\n  - quantile: {of: events, q: 0.9, days: [0, 13]}\n"
        "data: {exposures: exposures.parquet, events: events.parquet}\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    out = tmp_path / "summary.json"
    assert main(["analyze", str(spec), "--json", str(out)]) == 0
    assert "Events per unit, 0.9 quantile, days 0-13" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert "events_p90_d0_13" in text and "order-statistic" in text
    res = ab.Experiment.from_spec(ab.load_spec(spec)).analyze(
        exposures=tmp_path / "exposures.parquet", events=tmp_path / "events.parquet"
    )
    assert res.metric("events_p90_d0_13").kind == "quantile"
    assert "events_p90_d0_13" in json.dumps(res.to_dict(), default=str)
