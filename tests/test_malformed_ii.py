"""Malformed inputs, second corpus (issue 18): plausibility of the logs, the report's up-front
checks, and errors that name the fix.

Every test states its expected outcome class in :data:`OUTCOMES` — a *precise error* (an
AbkitError naming the column or setting and the fix), a *counted finding* (a data-quality
finding with its count and the severity the rule asks for: a finding that can move a headline
number by more than noise is at least a warning, one that makes the result meaningless blocks),
or a *correct result* (the number a clean input gives). Each failed before its fix.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import abkit as ab
from abkit import engine
from abkit.errors import DataError, ReportError, SpecError
from abkit.query.checks import event_span

D = pd.Timedelta(days=1)
H = pd.Timedelta(hours=1)
T0 = pd.Timestamp("2024-05-01T10:00:00", tz="UTC")

OUTCOMES = {
    "test_stray_event_dated_2099_does_not_move_the_default_as_of": "correct result + warning",
    "test_stray_rule_keeps_a_partial_last_day_and_a_small_log": "correct result",
    "test_stray_rule_trims_a_far_batch_and_an_early_row": "correct result",
    "test_events_log_missing_its_first_days_warns": "counted finding (warning)",
    "test_as_of_long_after_the_last_event_warns": "counted finding (warning)",
    "test_ids_that_never_match_name_both_forms": "counted finding (blocking)",
    "test_ids_that_almost_never_match_warn_with_both_forms": "counted finding (warning)",
    "test_one_unknown_name_in_an_event_list_is_an_error": "precise error",
    "test_a_view_whose_event_occurs_nowhere_is_an_error": "precise error",
    "test_local_times_a_zone_skips_or_repeats_are_counted": "counted finding",
    "test_boolean_unit_ids_are_refused": "precise error",
    "test_null_segment_and_the_word_null_stay_apart": "correct result",
    "test_report_refuses_bad_input_before_any_kernel": "precise error (exit 2)",
    "test_columns_named_like_internal_ones_are_refused_by_name": "precise error",
    "test_columns_named_like_internal_ones_work_when_not_used": "correct result",
    "test_nanosecond_pandas_timestamps_are_floored": "correct result",
    "test_engine_variables_are_named": "precise error",
    "test_latin1_csv_names_the_encoding_fix": "precise error",
    "test_header_only_csv_is_an_empty_table": "precise error",
    "test_absurd_metric_days_are_refused": "precise error",
    "test_every_case_states_its_outcome": "the corpus itself",
}

R7 = [ab.Retention(day=7)]


@pytest.fixture(scope="module")
def sim():
    # 20 days of events, enrolment over 14: units of the last week are immature for day 7
    return ab.simulate.retention_experiment(n_units=1_500, seed=3, days=20)


def _finding(res, code):
    found = [f for f in res.data_quality.findings if f.code == code]
    assert len(found) == 1, [f.code for f in res.data_quality.findings]
    return found[0]


# ------------------------------------------------------------------------- item 1: plausibility


def test_stray_event_dated_2099_does_not_move_the_default_as_of(sim):
    exposures, events = sim
    clean = ab.Experiment(metrics=R7).analyze(exposures=exposures, events=events)
    stray = pd.DataFrame(
        {"unit_id": ["u0000902"], "ts": [pd.Timestamp("2099-01-01", tz="UTC")],
         "event": ["session"], "value": [np.nan]}
    )  # fmt: skip
    dirty = pd.concat([events, stray], ignore_index=True)
    res = ab.Experiment(metrics=R7).analyze(exposures=exposures, events=dirty)
    # the clean log's answer: the same as_of, the same units mature, the same D7
    assert res.as_of == clean.as_of == events.ts.max()
    assert res.to_pandas().control_value[0] == clean.to_pandas().control_value[0]
    assert res.data_quality.counts["immature_retention_d7"] > 0
    f = _finding(res, "stray_events")
    assert f.severity == "warning" and f.count == 1
    assert "2099-01-01" in f.message and "u0000902" in f.message and "as_of=" in f.message
    assert res.data_quality.counts["events_after_as_of"] == 1
    # what the old default (the latest event) gave: every unit mature, D7 lower
    naive = ab.Experiment(metrics=R7).analyze(
        exposures=exposures, events=dirty, as_of="2099-01-01T00:00Z"
    )
    assert naive.to_pandas().control_value[0] < clean.to_pandas().control_value[0] - 0.01


def _days(rows):
    """event_days-like rows: (day since 1970, rows, first hour, last hour)."""
    base = pd.Timestamp("2024-01-01", tz="UTC")
    days = pd.DataFrame(
        [(d, n, base + d * D + a * H, base + d * D + b * H) for d, n, a, b in rows],
        columns=["day", "n", "lo", "hi"],
    )
    return days.assign(x_lo=base, x_hi=base + 10 * D)


def test_stray_rule_keeps_a_partial_last_day_and_a_small_log():
    # a log cut 10 minutes into its last day: few rows, but no empty day before them
    span = event_span(_days([(0, 700, 0, 23), (1, 650, 0, 23), (2, 5, 0, 0.16)]))
    assert span.late_rows == 0 and span.last == span.latest
    # a tiny log (3 events) has no bulk to measure a stray row against: nothing is trimmed
    span = event_span(_days([(0, 2, 11, 11), (6, 1, 11, 11)]))
    assert span.late_rows == 0 and span.early_rows == 0
    # a log resuming after an outage day with a normal day's rows is not stray
    span = event_span(_days([(0, 700, 0, 23), (1, 650, 0, 23), (3, 600, 0, 23)]))
    assert span.late_rows == 0


def test_stray_rule_trims_a_far_batch_and_an_early_row():
    # 40 rows of one device with its clock years ahead: more than 1% of a day, under 1% of
    # all rows, after an empty stretch longer than the whole log
    bulk = [(d, 700, 0, 23) for d in range(30)]
    span = event_span(_days([(-19_000, 1, 3, 3), *bulk, (2_000, 40, 5, 9)]))
    assert (span.early_rows, span.late_rows) == (1, 40)
    assert span.first == pd.Timestamp("2024-01-01", tz="UTC")
    assert span.last == pd.Timestamp("2024-01-30T23:00", tz="UTC")


def test_events_log_missing_its_first_days_warns(sim):
    exposures, events = sim
    cut = events[events.ts >= events.ts.min() + 8 * D]
    res = ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(exposures=exposures, events=cut)
    f = _finding(res, "events_start_late")
    assert f.severity == "warning" and "8.0 days after the first exposure" in f.message
    assert cut.ts.min().strftime("%Y-%m-%dT%H:%M") in f.message
    clean = ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(exposures=exposures, events=events)
    assert not [x for x in clean.data_quality.findings if x.code == "events_start_late"]


def test_as_of_long_after_the_last_event_warns(sim):
    exposures, events = sim
    late = events.ts.max() + 26 * D
    res = ab.Experiment(metrics=R7).analyze(exposures=exposures, events=events, as_of=late)
    f = _finding(res, "as_of_after_events")
    assert f.severity == "warning" and "26 days after the last loaded event" in f.message
    ok = ab.Experiment(metrics=R7).analyze(exposures=exposures, events=events, as_of=late - 26 * D)
    assert not [x for x in ok.data_quality.findings if x.code == "as_of_after_events"]


def _id_logs(exp_ids, ev_ids):
    exposures = pd.DataFrame(
        {"unit_id": exp_ids, "variant": ["control", "treatment"] * (len(exp_ids) // 2),
         "exposed_at": T0}
    )  # fmt: skip
    events = pd.DataFrame({"unit_id": ev_ids, "ts": T0 + D + H})
    return exposures, events


NFD_E = unicodedata.normalize("NFD", "é")


@pytest.mark.parametrize(
    ("exp_ids", "ev_ids", "words"),
    [
        ([1, 2, 3, 4], ["00001", "00002"], ["integers (e.g. 1)", "zero-padded", "'00001'"]),
        (["u1", "u2", "u3", "u4"], ["u1 ", "u2 "], ["white space", "'u1 '", "str.strip()"]),
        (["é1", "é2", "é3", "é4"], [NFD_E + "1", NFD_E + "2"], ["(Unicode NFD)", "'NFC'"]),
        ([1, 2, 3, 4], ["1.0", "2.0"], ["integers (e.g. 1)", "decimal numbers as text", "'1.0'"]),
    ],
    ids=["zero-padded", "trailing-space", "nfd", "decimal"],
)
def test_ids_that_never_match_name_both_forms(exp_ids, ev_ids, words):
    exposures, events = _id_logs(exp_ids, ev_ids)
    res = ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(
        exposures=exposures, events=events, as_of=T0 + 10 * D
    )
    f = _finding(res, "events_match_no_unit")
    assert f.severity == "blocking" and f.count == len(ev_ids)  # every D1 is 0: meaningless
    for w in words:
        assert w in f.message, (w, f.message)


def test_ids_that_almost_never_match_warn_with_both_forms():
    ids = [f"u{i}" for i in range(100)]
    stray = [f"u{i} " for i in range(100)] * 20  # 2,000 rows with a trailing space
    exposures, events = _id_logs(ids, ["u1", "u2", *stray])
    res = ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(
        exposures=exposures, events=events, as_of=T0 + 10 * D
    )
    f = _finding(res, "events_match_no_unit")
    assert f.severity == "warning" and "almost no event row (2 of 2,002)" in f.message
    assert "white space" in f.message and "'u0 '" in f.message


def test_one_unknown_name_in_an_event_list_is_an_error(sim):
    exposures, events = sim
    metric = ab.EventCount(days=(0, 6), event=["session", "purchse"])
    with pytest.raises(DataError, match=r"'purchse' \(did you mean 'purchase'\?\).*'session'"):
        ab.Experiment(metrics=[metric]).analyze(exposures=exposures, events=events)


def test_local_times_a_zone_skips_or_repeats_are_counted():
    # New York, 2024: 10 March 02:00-03:00 does not exist, 3 November 01:00-02:00 happens twice
    walls = ["2024-03-10 02:30", "2024-03-10 02:59", "2024-11-03 01:15", "2024-03-11 09:00"]
    exposures = pd.DataFrame(
        {"unit_id": list("abcd"), "variant": ["control", "treatment"] * 2,
         "exposed_at": pd.Timestamp("2024-03-01 09:00")}
    )  # fmt: skip
    events = pd.DataFrame({"unit_id": list("abcd"), "ts": pd.to_datetime(walls)})
    res = ab.Experiment(metrics=[ab.Retention(day=1)], tz="America/New_York").analyze(
        exposures=exposures, events=events, as_of="2024-12-01T00:00Z"
    )
    (f,) = [f for f in res.data_quality.findings if f.code == "local_times"]
    assert f.count == 3 and res.data_quality.counts["local_times_events"] == 3
    assert "2 fall in a spring-forward gap" in f.message and "1 in a repeated" in f.message
    assert f.severity == "warning"  # 3 of 4 rows: an hour's doubt on most of the log
    assert "local_times_exposures" not in res.data_quality.counts  # 09:00 is one instant


def test_boolean_unit_ids_are_refused():
    exposures, events = _id_logs([True, False, True, False], [True])
    with pytest.raises(DataError, match=r"'unit_id' holds true/false values.*columns="):
        ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(
            exposures=exposures, events=events, as_of=T0 + 10 * D
        )


def test_null_segment_and_the_word_null_stay_apart(sim):
    exposures, events = sim
    x = exposures.copy()
    x["channel"] = x["channel"].astype(object)
    x.loc[:99, "channel"] = None
    x.loc[100:199, "channel"] = "(null)"
    res = ab.Experiment(metrics=[ab.Retention(day=1)], segments=["channel"]).analyze(
        exposures=x, events=events
    )
    n = {
        a.segment_value: 0 for a in res.arms if a.segment == "channel"
    }  # every value shown once per arm
    for a in res.arms:
        if a.segment == "channel":
            n[a.segment_value] += a.n
    first = x.sort_values("exposed_at").drop_duplicates("unit_id")
    assert n["(null)"] == int(first.channel.isna().sum())
    assert n["'(null)'"] == int((first.channel == "(null)").sum())


# ------------------------------------------------------------------- item 3: report up front


@pytest.mark.parametrize(
    ("spec_extra", "as_of", "pattern"),
    [
        ({}, "garbage", r"as_of='garbage' is not a timestamp"),
        ({}, "2024-04-01", r"has no time zone"),
        ({}, "2020-01-01T00:00Z", r"before the first exposure"),
        ({"segments": ["country"]}, None, r"'country'.*missing"),
        ({"segments": ["utm__source"]}, None, r"'utm__source' cannot be a segment"),
    ],
    ids=["not-a-time", "no-zone", "before-exposure", "missing-segment", "internal-name"],
)
def test_report_refuses_bad_input_before_any_kernel(
    tmp_path, monkeypatch, spec_extra, as_of, pattern
):
    from abkit.report import run

    def no_kernel(*args, **kwargs):
        raise AssertionError("a kernel was started for bad input")

    monkeypatch.setattr(run, "_execute", no_kernel)
    exposures, events = ab.simulate.retention_experiment(n_units=200, seed=1)
    exposures["utm__source"] = "x"
    exposures.to_parquet(tmp_path / "e.parquet")
    events.to_parquet(tmp_path / "v.parquet")
    spec = {"name": "t", "control": "control", "metrics": [{"retention": {"day": 1}}],
            **spec_extra}  # fmt: skip
    with pytest.raises(ReportError, match=pattern) as err:
        run.run_report(
            spec, out=tmp_path / "out", exposures=tmp_path / "e.parquet",
            events=tmp_path / "v.parquet", as_of=as_of,
        )  # fmt: skip
    assert err.value.exit_code == 2
    assert not (tmp_path / "out").exists()  # nothing written, not even the folder


# ------------------------------------------------------------------- item 6: errors with a fix


@pytest.mark.parametrize(
    "name",
    ["utm__source", "t0", "n_units", "_status", "_age", "x_min", "n_rows", "e_rows",
     "n_variants", "retention_d1__sum", "variant", "unit_id"],
)  # fmt: skip
@pytest.mark.parametrize("use", ["segment", "metric", "units-segment"])
def test_columns_named_like_internal_ones_are_refused_by_name(name, use):
    exposures, events = ab.simulate.retention_experiment(n_units=200, seed=1)
    metrics: list = [ab.Retention(day=1)]
    if use == "units-segment":
        units = pd.DataFrame({"unit_id": range(40), "variant": ["control", "treatment"] * 20,
                              "p": np.arange(40) % 2})  # fmt: skip
        if name not in ("unit_id", "variant"):
            units[name] = np.arange(40) % 3
        exp = ab.Experiment(metrics=[ab.Proportion("p")], segments=[name])
        call = {"units": units}
    else:
        if name not in ("unit_id", "variant"):
            exposures[name] = np.arange(len(exposures)) % 2
        if use == "metric":
            metrics.append(ab.Mean(name))
        exp = ab.Experiment(metrics=metrics, segments=[name] if use == "segment" else [])
        call = {"exposures": exposures, "events": events}
    with pytest.raises(DataError, match=rf"column '{name}' cannot be a segment or metric column"):
        exp.analyze(**call)


def test_columns_named_like_internal_ones_work_when_not_used():
    exposures, events = ab.simulate.retention_experiment(n_units=200, seed=1)
    exposures["_status"] = "x"
    exposures["utm__source"] = "y"
    res = ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(exposures=exposures, events=events)
    assert res.data_quality.counts["units_analyzed"] == 200


def test_nanosecond_pandas_timestamps_are_floored():
    exposures, events = ab.simulate.retention_experiment(n_units=300, seed=2)
    fine_x = exposures.assign(exposed_at=exposures.exposed_at + pd.Timedelta(999, "ns"))
    fine_e = events.assign(ts=events.ts + pd.Timedelta(1, "ns"))
    exp = ab.Experiment(metrics=[ab.Retention(day=1), ab.Retention(day=7)])
    got = exp.analyze(exposures=fine_x, events=fine_e).to_pandas()
    want = exp.analyze(
        exposures=fine_x.assign(exposed_at=fine_x.exposed_at.dt.floor("us")),
        events=fine_e.assign(ts=fine_e.ts.dt.floor("us")),
    ).to_pandas()
    pd.testing.assert_frame_equal(got, want)
    assert (fine_x.exposed_at.dt.nanosecond == 999).all()  # the caller's frame is untouched


@pytest.mark.parametrize(
    ("var", "value", "pattern"),
    [
        ("ABKIT_THREADS", "abc", r"ABKIT_THREADS='abc'.*whole number of at least 1"),
        ("ABKIT_THREADS", "0", r"ABKIT_THREADS='0'"),
        ("ABKIT_THREADS", "1.5", r"ABKIT_THREADS='1.5'"),
        ("ABKIT_PROGRESS", "maybe", r"ABKIT_PROGRESS='maybe'.*auto, 1"),
        ("ABKIT_MEMORY_LIMIT", "10%", r"ABKIT_MEMORY_LIMIT='10%' is not a memory size.*4GB"),
    ],
)
def test_engine_variables_are_named(monkeypatch, var, value, pattern):
    monkeypatch.setattr(engine, "_config", None)
    monkeypatch.setenv(var, value)
    with pytest.raises(SpecError, match=pattern):
        engine.connect()
    monkeypatch.setattr(engine, "_config", None)
    monkeypatch.delenv(var)
    with pytest.raises(SpecError, match=r"threads must be a positive integer"):
        engine.configure(threads=0)


def test_latin1_csv_names_the_encoding_fix(tmp_path):
    small = tmp_path / "units.csv"
    small.write_bytes("unit_id,variant,r\n1,contrôle,1\n2,traité,0\n".encode("latin-1"))
    fix = r"is not UTF-8 text.*iconv -f latin1 -t utf-8.*encoding='latin-1'"
    with pytest.raises(DataError, match=r"units: a CSV file .*units.csv " + fix):
        ab.Experiment(metrics=[ab.Proportion("r")], control="contrôle").analyze(units=small)
    # a Latin-1 byte far beyond what DuckDB samples fails only when the query reaches it
    big = tmp_path / "big.csv"
    rows = "".join(f"{i},{'control' if i % 2 else 'treatment'},{i % 2}\n" for i in range(60_000))
    big.write_bytes(("unit_id,variant,r\n" + rows).encode() + "60001,traité,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=fix):
        ab.Experiment(metrics=[ab.Proportion("r")]).analyze(units=big)


@pytest.mark.parametrize("role", ["exposures", "events"])
def test_header_only_csv_is_an_empty_table(tmp_path, role):
    exposures, events = ab.simulate.retention_experiment(n_units=100, seed=1)
    files = {"exposures": tmp_path / "x.parquet", "events": tmp_path / "e.parquet"}
    exposures.to_parquet(files["exposures"])
    events.to_parquet(files["events"])
    header = "unit_id,variant,exposed_at\n" if role == "exposures" else "unit_id,ts\n"
    files[role] = tmp_path / f"{role}.csv"
    Path(files[role]).write_text(header, encoding="utf-8")
    with pytest.raises(DataError, match=rf"{role}: the table is empty .*no rows"):
        ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(**files, as_of=T0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ab.Retention(day=10**23),
        lambda: ab.Retention(day=-1),
        lambda: ab.Retention(day=True),
        lambda: ab.ActiveDays(days=(0, 10**23)),
    ],
    ids=["day-1e23", "day-negative", "day-bool", "window-1e23"],
)
def test_absurd_metric_days_are_refused(make):
    with pytest.raises(SpecError, match=r"whole number of days from 0 to 3650"):
        make()


@pytest.mark.parametrize("view", ["churn_survival", "churn_regression", "novelty"])
def test_a_view_whose_event_occurs_nowhere_is_an_error(view):
    # before: a churn curve of "sesion" activity (nobody is ever active) came back silently
    from abkit import retention

    exposures, events = ab.simulate.retention_experiment(n_units=300, seed=1)
    with pytest.raises(
        DataError, match=r"'sesion' \(did you mean 'session'\?\).*'purchase', 'session'"
    ):
        getattr(retention, view)(exposures, events, event="sesion")


def test_every_case_states_its_outcome():
    assert {n for n in globals() if n.startswith("test_")} == set(OUTCOMES)
