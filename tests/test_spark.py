"""The same Experiment.analyze on PySpark (local mode, through Ibis) as on DuckDB.

One Spark session for the whole module (it takes ~15 s to start). Small simulated data; the
assertions are exact: identical sufficient statistics (arm counts, sums, variances), identical
comparisons and identical data-quality counts.

Spark needs Java 17: without it (or without PySpark) the tests skip and say why — except in CI,
where they fail (``tests.conftest.require_spark``); ``.ci/run`` installs a JRE.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import abkit as ab
from tests.conftest import JAVA_FOR_SPARK, java_problem, require_spark

pytestmark = [
    pytest.mark.spark,
    # py4j leaves its gateway sockets to the garbage collector; not abkit's to fix
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def spark():
    require_spark()
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)  # type: ignore[attr-defined]
    session = (
        SparkSession.builder.master("local[2]")
        .appName("abkit-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def messy_logs():
    """Simulated logs plus every kind of defect the data-quality report counts."""
    sim = ab.simulate.retention_experiment(n_units=1_500, seed=5)
    exp = sim.exposures.copy()
    ev = sim.events.copy()
    t = exp.exposed_at.iloc[0]
    extra_exp = pd.DataFrame(
        {
            "unit_id": [None, exp.unit_id.iloc[0], "zz_late"],
            # second row: the first unit again, in the other variant (a conflict)
            "variant": [
                "control",
                "treatment" if exp.variant.iloc[0] == "control" else "control",
                "control",
            ],
            "exposed_at": [t, t + pd.Timedelta(hours=1), pd.Timestamp("2030-01-01", tz="UTC")],
            "channel": ["organic", "organic", None],
            "platform": ["ios", "ios", "ios"],
        }
    )
    exp = pd.concat([exp, extra_exp], ignore_index=True)
    extra_ev = pd.DataFrame(
        {
            "unit_id": [None, "nobody", exp.unit_id.iloc[5]],
            "ts": [t, t, t - pd.Timedelta(days=3)],  # null id, never exposed, before exposure
            "event": ["session"] * 3,
            "value": [np.nan] * 3,
        }
    )
    ev = pd.concat([ev, extra_ev], ignore_index=True)
    return exp, ev


METRICS = [
    ab.Retention(day=1),
    ab.Retention(day=7),
    ab.Retention(days=(7, 13)),
    ab.Retention(day=1, tz="Asia/Shanghai"),
    ab.Retention(day=1, event="purchase", name="buyer_d1"),
    ab.ActiveDays(days=(1, 7)),
    ab.EventCount(days=(0, 6)),
    ab.Revenue(days=(0, 13)),
    # a quantile cap: DuckDB's quantile_cont and Spark's percentile both interpolate linearly
    ab.EventCount(days=(0, 6), cap_quantile=0.8, name="events_d0_6_p80"),
]
AS_OF = "2024-04-05T00:00:00Z"


def _arms(res):
    return sorted(
        (
            a.metric,
            a.variant,
            a.segment or "",
            a.segment_value or "",
            a.n,
            a.immature,
            a.missing,
            a.mean,
            a.var,
        )
        for a in res.arms
    )


def _assert_same(duck, spark_res):
    a, b = _arms(duck), _arms(spark_res)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x[:7] == y[:7]
        np.testing.assert_allclose(
            [np.nan if v is None else v for v in x[7:]],
            [np.nan if v is None else v for v in y[7:]],
            rtol=1e-12,
            atol=1e-15,
        )
    pd.testing.assert_frame_equal(duck.to_pandas(), spark_res.to_pandas(), rtol=1e-10)
    assert dict(duck.data_quality.counts) == dict(spark_res.data_quality.counts)
    assert duck.as_of == spark_res.as_of
    assert [m.cap for m in duck.metrics] == [m.cap for m in spark_res.metrics]


def test_spark_dataframes_give_the_duckdb_result(spark, messy_logs):
    exp, ev = messy_logs
    experiment = ab.Experiment(metrics=METRICS, control="control", segments=["channel"])
    duck = experiment.analyze(exposures=exp, events=ev, as_of=AS_OF)
    s_res = experiment.analyze(
        exposures=spark.createDataFrame(exp), events=spark.createDataFrame(ev), as_of=AS_OF
    )
    _assert_same(duck, s_res)
    assert duck.metric("events_d0_6_p80").cap is not None
    # CUPED: on DuckDB the pre-exposure active days come from a bit mask, on Spark from
    # COUNT(DISTINCT); the covariate sums and the adjusted results must agree
    cup = ab.Experiment(
        metrics=[
            ab.Retention(day=1),
            ab.ActiveDays(days=(1, 7)),
            ab.Revenue(days=(0, 13)),
            # a ratio: each part adjusted for its own pre-exposure activity (days, events)
            ab.Ratio(ab.ActiveDays(days=(1, 7)), ab.EventCount(days=(0, 6))),
        ],
        control="control",
        cuped=7,
    )
    cup_duck = cup.analyze(exposures=exp, events=ev, as_of=AS_OF)
    cup_spark = cup.analyze(
        exposures=spark.createDataFrame(exp), events=spark.createDataFrame(ev), as_of=AS_OF
    )
    _assert_same(cup_duck, cup_spark)
    rows = cup_duck.to_pandas().set_index("metric")
    adjusted = ["retention_d1", "active_days_d1_7", "active_days_d1_7_per_events_d0_6"]
    assert rows.loc[adjusted, "method"].str.startswith("CUPED").all()
    # no purchase before exposure in these logs: nothing to adjust for, and the note says so
    assert "no CUPED adjustment" in rows.loc["value_d0_13", "note"]
    c = duck.data_quality.counts
    assert c["exposure_null_ids"] == 1 and c["units_multiple_variants"] == 1
    assert c["event_null_ids"] == 1 and c["events_unexposed_units"] >= 1
    assert c["events_before_exposure"] >= 1 and c["exposures_after_as_of"] >= 1
    assert s_res.sql is not None and "GROUP BY" in s_res.sql.upper()


def test_spark_session_as_con_with_pandas_input_and_default_as_of(spark, small_sim):
    experiment = ab.Experiment(
        metrics=[ab.Retention(day=1), ab.Retention(day=7)], control="control"
    )
    duck = experiment.analyze(exposures=small_sim.exposures, events=small_sim.events)
    s_res = experiment.analyze(exposures=small_sim.exposures, events=small_sim.events, con=spark)
    _assert_same(duck, s_res)


def test_spark_per_unit_table(spark, cookie_cats):
    experiment = ab.Experiment(
        metrics=[
            ab.Proportion("retention_7"),
            ab.Mean("sum_game_rounds"),
            ab.Mean("sum_game_rounds", cap_quantile=0.99, name="rounds_p99"),
        ],
        variant="version",
        control="gate_30",
    )
    units = cookie_cats.head(20_000)
    duck = experiment.analyze(units=units, unit_id="userid")
    s_res = experiment.analyze(units=spark.createDataFrame(units), unit_id="userid")
    _assert_same(duck, s_res)
    assert duck.metric("rounds_p99").cap is not None


# ------------------------------------------------------------------ without Java: skip, or fail in CI


def _fake_java(tmp_path: Path, version_line: str) -> Path:
    """A JAVA_HOME whose bin/java prints ``version_line`` to stderr, as ``java -version`` does."""
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n", encoding="utf-8")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    return tmp_path / "jdk"


def test_without_java_the_spark_tests_skip_and_say_why(tmp_path):
    pytest.importorskip("pyspark")
    no_java = {"PATH": str(tmp_path)}  # an empty directory: no java on PATH, no JAVA_HOME
    with pytest.raises(
        pytest.skip.Exception, match=f"needs Java {JAVA_FOR_SPARK}: no java on PATH"
    ):
        require_spark(no_java)
    with pytest.raises(pytest.skip.Exception, match=r"JAVA_HOME is .* not an executable"):
        require_spark({**no_java, "JAVA_HOME": str(tmp_path / "nowhere")})


def test_without_pyspark_the_spark_tests_skip_and_say_why(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a)
    )
    with pytest.raises(pytest.skip.Exception, match="PySpark is not installed"):
        require_spark({})


def test_in_ci_the_spark_tests_fail_without_java(tmp_path):
    pytest.importorskip("pyspark")
    with pytest.raises(pytest.fail.Exception, match="CI must run the Spark tests"):
        require_spark({"PATH": str(tmp_path), "CI": "true"})
    with pytest.raises(pytest.skip.Exception):  # CI=false is a developer machine
        require_spark({"PATH": str(tmp_path), "CI": "false"})


@pytest.mark.skipif(os.name != "posix", reason="a shell script stands in for java")
@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('openjdk version "17.0.15" 2025-04-15', None),
        ('openjdk version "21.0.4" 2024-07-16', None),
        ('openjdk version "11.0.24" 2024-07-16', "is Java 11; PySpark 4 needs Java 17"),
        ('java version "1.8.0_412"', "is Java 8; PySpark 4 needs Java 17"),
        ("no version here", "could not read a version"),
    ],
)
def test_the_java_version_is_checked(tmp_path, line, problem):
    found = java_problem({"JAVA_HOME": str(_fake_java(tmp_path, line)), "PATH": ""})
    assert found is None if problem is None else problem in found
