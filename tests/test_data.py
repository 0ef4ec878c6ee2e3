"""Data layer: sources, the Ibis/sqlglot regression guard, engine SQL."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pytest

import abkit as ab
from abkit.data import connect, load_table
from abkit.errors import DataError


def test_sqlglot_create_table_regression():
    # Ibis 12 with sqlglot >= 30.11 (seen with 30.19 and 30.20 here) emits `DROP VIEW IF EXISTS`
    # without a name from DuckDB create_table on in-memory data; pyproject pins sqlglot below it.
    con = connect()
    con.create_table("t", pd.DataFrame({"a": [1, 2, 3]}))
    assert con.table("t").count().execute() == 3


def test_arrow_and_missing_file_and_unknown_suffix(tmp_path):
    con = connect()
    t = load_table(pa.table({"unit_id": ["a"], "variant": ["x"]}), con=con, role="units")
    assert t.columns == ("unit_id", "variant")
    with pytest.raises(DataError, match="does not exist"):
        load_table(tmp_path / "x.parquet", con=con, role="events")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(DataError, match="cannot tell the format"):
        load_table(tmp_path / "x.json", con=con, role="events")
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="could not read"):
        load_table(tmp_path / "broken.parquet", con=con, role="events")


def test_string_and_epoch_timestamps_are_rejected_with_a_fix():
    exp = pd.DataFrame(
        {
            "unit_id": ["a", "b"],
            "variant": ["control", "treatment"],
            "exposed_at": ["2024-01-01", "2024-01-01"],
        }
    )
    ev = pd.DataFrame({"unit_id": ["a"], "ts": pd.to_datetime(["2024-01-02"], utc=True)})
    with pytest.raises(DataError, match=r"'exposed_at' holds text.*pd.to_datetime"):
        ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(exposures=exp, events=ev)
    exp["exposed_at"] = [1704067200, 1704067200]
    with pytest.raises(DataError, match=r"epoch numbers"):
        ab.Experiment(metrics=[ab.Retention(day=1)]).analyze(exposures=exp, events=ev)


def test_result_carries_inspectable_sql():
    units = pd.DataFrame(
        {"unit_id": [1, 2, 3, 4], "variant": ["c", "c", "t", "t"], "r": [1, 0, 1, 1]}
    )
    res = ab.Experiment(metrics=[ab.Proportion("r")], control="c").analyze(units=units)
    assert res.sql is not None and "GROUP BY" in res.sql.upper()


def test_import_is_light():
    # heavy modules load on first use, not on `import abkit`
    code = (
        "import sys, abkit; "
        "print(sorted(m for m in ('pandas', 'ibis', 'papermill', 'matplotlib', 'scipy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_default_analysis_skips_heavy_statistics_modules():
    # scipy.stats and statsmodels cost ~1.5 s of imports; the default tests (z, Welch, Holm,
    # SRM, segment mix and heterogeneity) need only scipy.special
    code = (
        "import sys, abkit as ab\n"
        "x, e = ab.simulate.retention_experiment(n_units=2_000, seed=1)\n"
        "ab.Experiment(metrics=[ab.Retention(day=1), ab.Retention(day=7)], segments=['channel'],"
        " control='control').analyze(exposures=x, events=e).adjusted_pvalues()\n"
        "print(sorted(m for m in ('scipy.stats', 'scipy.optimize', 'scipy.integrate', "
        "'statsmodels') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]


def _sim_logs():
    exposures, events = ab.simulate.retention_experiment(n_units=200, seed=1)
    return exposures, events


def test_swapped_logs_are_named_as_such():
    exposures, events = _sim_logs()
    exp = ab.Experiment(metrics=[ab.Retention(day=1)])
    with pytest.raises(
        DataError, match=r"looks like an events log .*are exposures= and events= swapped\?"
    ):
        exp.analyze(exposures=events, events=exposures)
    # an exposure log given as the events (the exposures are fine): the events lack ts
    with pytest.raises(DataError, match=r"^events: .*looks like an exposure log .*swapped\?"):
        exp.analyze(exposures=exposures, events=exposures)
    # the swap question replaces the column hints it would make wrong ('exposed_at' -> 'ts')
    with pytest.raises(DataError) as info:
        exp.analyze(exposures=events, events=exposures)
    assert "Did you mean" not in str(info.value)


def test_a_renamed_column_is_not_taken_for_a_swap():
    exposures, events = _sim_logs()
    exp = ab.Experiment(metrics=[ab.Retention(day=1)])
    # exposure time stored as 'ts' (variant present): a mapping, not a swap
    with pytest.raises(DataError) as info:
        exp.analyze(exposures=exposures.rename(columns={"exposed_at": "ts"}), events=events)
    assert "Did you mean 'ts'? Pass columns={'exposed_at': 'ts'}" in str(info.value)
    assert "swapped" not in str(info.value)
    # events' time under another name: a mapping too
    with pytest.raises(DataError) as info:
        exp.analyze(exposures=exposures, events=events.rename(columns={"ts": "time"}))
    assert "Did you mean 'time'?" in str(info.value) and "swapped" not in str(info.value)


def test_pandas_schema_is_the_schema_ibis_infers():
    # load_table gives Ibis the schema of a pandas frame (abkit.data.load.pandas_schema, which
    # spots text columns without converting them); it must be the one Ibis infers itself
    import datetime as dt
    from decimal import Decimal

    import ibis.expr.schema as sch
    import numpy as np

    from abkit.data.load import pandas_schema

    n = float("nan")
    frame = pd.DataFrame(
        {
            "text": ["a", "b", None],
            "text_nan": ["a", n, pd.NA],
            "np_str": [np.str_("x"), "y", None],
            "all_none": [None, None, None],
            "ints": pd.array([1, 2, 3], dtype=object),
            "mixed": pd.array(["a", 1, None], dtype=object),
            "bytes": pd.array([b"a", b"b", None], dtype=object),
            "text_bytes": pd.array(["a", b"b", None], dtype=object),
            "decimals": pd.array([Decimal("1.5"), None, Decimal(2)], dtype=object),
            "dates": pd.array([dt.date(2024, 1, 1), None, dt.date(2024, 1, 2)], dtype=object),
            "stamps": pd.array([dt.datetime(2024, 1, 1), None, None], dtype=object),
            "text_time": pd.array(["a", pd.NaT, None], dtype=object),
            "bools": pd.array([True, None, False], dtype=object),
            "lists": pd.array([[1], [2, 3], None], dtype=object),
            "f": [1.0, n, 3.0],
            "i": [1, 2, 3],
            "b": [True, False, True],
            "t": pd.to_datetime(["2024-01-01", None, "2024-01-02"], utc=True),
            "naive": pd.to_datetime(["2024-01-01", None, "2024-01-02"]),
            "nullable": pd.array([1, None, 3], dtype="Int64"),
            "string": pd.array(["a", None, "c"], dtype="string"),
            "cat": pd.Categorical(["a", "b", "a"]),
        }
    )
    for name in frame.columns:
        one = frame[[name]]
        assert pandas_schema(one) == sch.infer(one), name
        assert pandas_schema(one.iloc[:0]) == sch.infer(one.iloc[:0]), name
    assert pandas_schema(frame) == sch.infer(frame)
    assert load_table(frame, con=connect(), role="units").schema() == sch.infer(frame)
    assert pandas_schema(frame)["text"].is_string() and not pandas_schema(frame)["ints"].is_string()


def test_sub_microsecond_parts_are_found_as_pandas_finds_them():
    # load_table floors nanosecond timestamps with a finer part than a microsecond; the check
    # reads the integers (abkit.data.load._sub_microsecond), pandas' `.dt.nanosecond > 0` is
    # the reference: before 1970 too, with NaT, naive and UTC
    import numpy as np

    from abkit.data.load import _sub_microsecond

    rng = np.random.default_rng(20261201)
    found = 0
    for trial in range(200):
        v = rng.integers(-(10**18), 10**18, int(rng.integers(1, 8)))
        if trial % 3:
            v = v // 1000 * 1000  # whole microseconds, but one row may keep its nanoseconds
            v[0] += int(rng.integers(0, 2)) * int(rng.integers(1, 1000))
        v[rng.random(len(v)) < 0.3] = np.iinfo(np.int64).min  # NaT
        s = pd.Series(pd.to_datetime(v, unit="ns"))
        if trial % 2:
            s = s.dt.tz_localize("UTC")
        expected = bool((s.dt.nanosecond > 0).any())
        assert _sub_microsecond(s) == expected, v
        found += expected
    assert 20 < found < 180  # both answers were checked
