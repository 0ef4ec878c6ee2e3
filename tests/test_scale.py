"""Scale features: one query per analysis, engine configuration, SQL inspection, pre-aggregated input.

Performance itself is measured by benchmarks/bench_scale.py, never asserted here.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest

import abkit as ab
from abkit import engine
from tests.conftest import ts

AS_OF = "2024-05-10T00:00:00Z"


@pytest.fixture()
def messy():
    """Every defect the data-quality report counts, with counts worked out by hand below."""
    t0 = "2024-05-01T10:00:00"
    exposures = pd.DataFrame(
        {
            "unit_id": ["a", "a", "b", "b", "c", None, "d", "e", "f"],
            "variant": [
                "control",
                "control",
                "treatment",
                "control",
                "treatment",
                "control",
                None,
                "control",
                "treatment",
            ],
            "exposed_at": [
                ts(t0),
                ts("2024-05-02T00:00"),
                ts(t0),
                ts("2024-05-02T00:00"),
                ts(t0),
                ts(t0),
                ts(t0),
                ts("2024-06-01T00:00"),
                pd.NaT,
            ],
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": ["a", "a", "a", "b", "c", "c", "x", None, "e", "a", "x", "c"],
            "ts": [
                ts("2024-05-02T11:00"),
                ts("2024-04-30T00:00"),
                ts("2024-05-20T00:00"),
                ts("2024-05-02T11:00"),
                ts("2024-05-02T11:00"),
                ts("2024-05-08T11:00"),
                ts("2024-05-02T11:00"),
                ts("2024-05-02T11:00"),
                ts("2024-05-02T11:00"),
                pd.NaT,
                pd.NaT,
                ts("2024-05-09T11:00"),
            ],
        }
    )
    return exposures, events


def test_data_quality_counts_from_the_single_pass(messy):
    exposures, events = messy
    res = ab.Experiment(metrics=[ab.Retention(day=1), ab.Retention(day=7)]).analyze(
        exposures=exposures, events=events, as_of=AS_OF
    )
    c = res.data_quality.counts
    expected = {
        "exposure_rows": 9,
        "exposure_null_ids": 1,
        "exposure_null_variants": 1,  # d
        "exposure_null_times": 1,  # f
        "exposures_after_as_of": 1,  # e
        "units_exposed": 3,  # a, b, c (d, e, f have no valid row)
        "units_multiple_variants": 1,  # b
        "duplicate_exposures": 1,  # a's repeat
        "units_analyzed": 2,
        "event_rows": 12,
        "event_null_ids": 1,
        "event_null_times": 2,  # a's NaT, and x's (a null time first: not also "unexposed")
        "events_unexposed_units": 2,  # x, and e (exposed only after as_of)
        "events_before_exposure": 1,
        "events_after_as_of": 1,
        "events_beyond_windows": 1,  # c on day 8: after D7, the longest window
        "events_in_analysis": 4,  # a day 1, b day 1 (excluded unit, still counted), c days 1, 7
    }
    assert {k: c[k] for k in expected} == expected
    d1 = {a.variant: a for a in res.arms if a.metric == "retention_d1"}
    assert (d1["control"].n, d1["control"].mean) == (1, 1.0)
    d7 = {a.variant: a for a in res.arms if a.metric == "retention_d7"}
    assert (d7["treatment"].n, d7["treatment"].mean) == (1, 1.0)


def test_one_query_reads_events_once(small_sim):
    sql = ab.Experiment(
        metrics=[ab.Retention(day=d) for d in range(31)], segments=["channel"]
    ).to_sql(exposures=small_sim.exposures, events=small_sim.events, as_of=AS_OF)
    tables = re.findall(r'FROM "(ibis_pandas_memtable_\w+)"', sql)
    # each log is named once: events in the single grouped pass, exposures in one CTE (read by
    # the per-unit grouping and by the cheap row counts; no COUNT(DISTINCT) pass)
    assert len(tables) == len(set(tables)) == 2
    assert "COUNT(DISTINCT" not in sql.upper()
    assert sql.upper().count("BIT_OR") == 1  # the whole D0-D30 curve from one aggregate


def test_to_sql_in_other_dialects(small_sim):
    exp = ab.Experiment(metrics=[ab.Retention(day=1)])
    for dialect in ("duckdb", "pyspark", "trino", "snowflake", "bigquery", "clickhouse"):
        sql = exp.to_sql(
            exposures=small_sim.exposures, events=small_sim.events, as_of=AS_OF, dialect=dialect
        )
        assert "GROUP BY" in sql.upper(), dialect


def test_result_sql_is_the_query(small_sim):
    res = ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(
        exposures=small_sim.exposures, events=small_sim.events
    )
    assert res.sql is not None and "BIT_OR" in res.sql.upper()


def test_pre_aggregated_statistics_give_the_same_result(small_sim):
    metrics = [ab.Retention(day=1), ab.Retention(day=7), ab.ActiveDays(days=(1, 7))]
    experiment = ab.Experiment(metrics=metrics, segments=["channel"])
    res = experiment.analyze(exposures=small_sim.exposures, events=small_sim.events)
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for a in res.arms:
        if a.segment is None:
            continue
        row = rows.setdefault((a.variant, a.segment_value), {"n_units": a.n + a.immature})
        var = 0.0 if a.var is None else a.var
        mean = 0.0 if a.mean is None else a.mean
        row[f"{a.metric}__n"] = a.n
        row[f"{a.metric}__sum"] = mean * a.n
        row[f"{a.metric}__sumsq"] = var * (a.n - 1) + mean * mean * a.n
    stats = pd.DataFrame([{"variant": v, "channel": s, **r} for (v, s), r in rows.items()])
    again = experiment.analyze_stats(stats, as_of=res.as_of)
    pd.testing.assert_frame_equal(res.to_pandas(), again.to_pandas(), rtol=1e-9)
    with pytest.raises(ab.DataError, match="__sum"):
        experiment.analyze_stats(stats.drop(columns=["retention_d1__sum"]))


def test_engine_configuration_reaches_duckdb(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "_config", None)
    engine.configure(memory_limit="300MB", temp_directory=tmp_path / "spill", threads=1)
    con = engine.connect()
    limit = con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit.replace(" ", "").upper() in ("286.1MIB", "300.0MB", "300MB")
    spill = con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0]
    assert spill == str(tmp_path / "spill") and (tmp_path / "spill").is_dir()
    with pytest.raises(ab.SpecError):
        engine.configure(threads="two")  # type: ignore[arg-type]


def test_default_memory_limit_is_two_gigabytes_or_half_the_memory(monkeypatch):
    """Without a setting, abkit's DuckDB keeps under 2 GB (half of memory if that is less):
    DuckDB's own 80 % let a 10M-unit analysis peak at 4.0 GB (benchmarks/results_scale.md);
    "duckdb" gives DuckDB's own default back."""
    monkeypatch.setattr(engine, "_config", None)
    monkeypatch.delenv("ABKIT_MEMORY_LIMIT", raising=False)

    def limit_bytes() -> float:
        text = engine.connect().raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
        value, unit = text.split()
        return float(value) * {"MiB": 2**20, "GiB": 2**30, "MB": 1e6, "GB": 1e9}[unit]

    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    # DuckDB prints the limit rounded to 0.1 GiB
    assert limit_bytes() == pytest.approx(min(2e9, total // 2 // 10**6 * 1e6), rel=0.05)
    engine.configure(memory_limit="duckdb")
    assert limit_bytes() > min(2e9, total / 2) * 1.2  # DuckDB's 80 % of memory
    engine.configure(memory_limit=None)


def test_out_of_memory_names_the_setting_to_raise():
    import duckdb

    from abkit._files import known_cause

    exc = duckdb.OutOfMemoryException(
        "Out of Memory Error: could not allocate block of size 256.0 KiB (1.8 GiB/1.8 GiB used)"
    )
    said = known_cause(exc)
    assert said is not None and "ABKIT_MEMORY_LIMIT=8GB" in said and "1.8 GiB used" in said


def test_engine_settings_from_environment(monkeypatch):
    monkeypatch.setattr(engine, "_config", None)
    monkeypatch.setenv("ABKIT_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("ABKIT_THREADS", "2")
    monkeypatch.setenv("ABKIT_PROGRESS", "false")
    cfg = engine.get_config()
    assert (cfg.memory_limit, cfg.threads, cfg.progress) == ("1GB", 2, False)


def test_no_progress_bar_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert engine.show_progress("auto") is False
    assert engine.show_progress(True) is True


def test_analysis_under_a_tight_memory_limit_spills_instead_of_failing(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "_config", None)
    engine.configure(memory_limit="64MB", temp_directory=tmp_path, threads=1)
    sim = ab.simulate.retention_experiment(n_units=30_000, seed=3)
    exp = ab.Experiment(metrics=[ab.Retention(day=d) for d in (1, 7)])
    res = exp.analyze(exposures=sim.exposures, events=sim.events)
    monkeypatch.setattr(engine, "_config", None)
    ref = exp.analyze(exposures=sim.exposures, events=sim.events)
    pd.testing.assert_frame_equal(res.to_pandas(), ref.to_pandas())


def test_duckdb_connection_and_bad_con(small_sim):
    import duckdb

    exp = ab.Experiment(metrics=[ab.Retention(day=1)])
    res = exp.analyze(exposures=small_sim.exposures, events=small_sim.events, con=duckdb.connect())
    assert np.isfinite(res.to_pandas().pvalue.iloc[0])
    with pytest.raises(ab.SpecError, match="con="):
        exp.analyze(exposures=small_sim.exposures, events=small_sim.events, con="duckdb")


def test_projection_ctes_are_not_materialized():
    import sqlglot

    from abkit.engine import _inline_projection_ctes

    q = sqlglot.parse_one(
        "WITH p AS (SELECT a, COALESCE(b, 'x') AS b FROM t), "
        "g AS (SELECT a, MIN(b) AS m FROM p GROUP BY a), "
        "j AS (SELECT p.a FROM p JOIN g ON p.a = g.a) "
        "SELECT * FROM g, j, p",
        read="duckdb",
    )
    _inline_projection_ctes(q)
    sql = q.sql(dialect="duckdb")
    assert "p AS NOT MATERIALIZED" in sql  # a row-wise projection: read twice, not held
    assert "g AS (" in sql and "j AS (" in sql  # aggregates and joins keep DuckDB's choice
    # a body that could give other rows on a second read stays materialised
    for body in (
        "SELECT a, RANDOM() AS r FROM t",
        "SELECT a FROM t USING SAMPLE 10%",
        "SELECT a FROM t LIMIT 5",
        "SELECT a, gen_random_uuid() AS u FROM t",
        "SELECT a FROM p",  # reads another CTE
    ):
        q = sqlglot.parse_one(
            f"WITH p AS (SELECT a FROM s), c AS ({body}) SELECT * FROM c, c AS c2", read="duckdb"
        )
        _inline_projection_ctes(q)
        assert "c AS NOT MATERIALIZED" not in q.sql(dialect="duckdb"), body


def test_executed_sql_reads_the_exposure_projection_twice(small_sim):
    res = ab.Experiment(metrics=[ab.Retention(day=1)], segments=["channel"]).analyze(
        exposures=small_sim.exposures, events=small_sim.events, as_of=AS_OF
    )
    assert res.sql is not None and "AS NOT MATERIALIZED" in res.sql


def test_calendar_window_rows_past_the_window_are_late_not_in_analysis():
    # worked by hand: t0 2024-05-01 10:00 UTC; calendar D1 in UTC is the date 2024-05-02, so
    # a's event on 05-02 counts; a's and b's events on 05-03 09:00/09:30 (calendar day 2) are
    # beyond it although their rolling day index (47 h, 47.5 h -> day 1) is inside D1
    x = pd.DataFrame(
        {
            "unit_id": ["a", "b"],
            "variant": ["control", "treatment"],
            "exposed_at": [ts("2024-05-01T10:00")] * 2,
        }
    )
    e = pd.DataFrame(
        {
            "unit_id": ["a", "a", "b"],
            "ts": [ts("2024-05-02T11:00"), ts("2024-05-03T09:00"), ts("2024-05-03T09:30")],
        }
    )
    res = ab.Experiment(metrics=[ab.Retention(day=1, tz="UTC")]).analyze(
        exposures=x, events=e, as_of=AS_OF
    )
    c = res.data_quality.counts
    assert (c["events_in_analysis"], c["events_beyond_windows"]) == (1, 2)
    assert {a.variant: a.mean for a in res.arms if a.segment is None} == {
        "control": 1.0,
        "treatment": 0.0,
    }
