"""Small analyses reuse their compiled SQL (abkit.query.cache) and fold rows in a loop
(abkit.query.fold): the results must be those of an analysis that builds everything afresh.

"Afresh" here is the path without reuse: ``PLANS.enabled = False`` and a fresh DuckDB
connection (what every analysis did before), where Ibis builds, compiles and runs each query.
DuckDB runs on one thread here: on several, its sums of doubles may differ in the last bit from
one run of the same query to the next (with or without reuse), which would hide what these
tests look for.
Results are compared exactly: ``to_pandas()`` with ``check_exact``, every float by its bits
(``repr`` of a float names it exactly), the data-quality counts and findings, the SQL text up
to the names of the registered tables. Specs are run in a row, alternating, so that a plan
reused under the wrong key would be caught.
"""

from __future__ import annotations

import dataclasses
import math
import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import abkit as ab
from abkit import engine
from abkit.data import prepare_logs, prepare_units, shapes
from abkit.errors import DataError
from abkit.query import cache, fold
from abkit.query.cache import PLANS, PlanCache

# ------------------------------------------------------------------------------------ helpers


@pytest.fixture(autouse=True)
def fresh_plans(monkeypatch):
    monkeypatch.setattr(engine, "_config", None)
    engine.configure(threads=1)
    PLANS.clear()
    shapes.SHAPES.clear()
    PLANS.enabled = True
    yield
    PLANS.enabled = True
    PLANS.clear()
    shapes.SHAPES.clear()


def _names(sql: str | None) -> str | None:
    """``sql`` with the registered tables' names replaced by their order of appearance."""
    if sql is None:
        return None
    seen: dict[str, str] = {}
    pattern = (
        r'"((?:ibis_pandas_memtable|ibis_pyarrow_memtable|ibis_read_parquet|abkit_input)_\w+)"'
    )
    return re.sub(pattern, lambda m: seen.setdefault(m[1], f'"table{len(seen)}"'), sql)


def fingerprint(res: ab.ExperimentResult) -> dict[str, str]:
    """Every field of a result as text that names each float exactly (``repr``)."""
    out = {f.name: repr(getattr(res, f.name)) for f in dataclasses.fields(res) if f.name != "sql"}
    out["sql"] = str(_names(res.sql))
    return out


def assert_same(a: ab.ExperimentResult, b: ab.ExperimentResult) -> None:
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas(), check_exact=True)
    pd.testing.assert_frame_equal(a.arms_to_pandas(), b.arms_to_pandas(), check_exact=True)
    assert a.data_quality.to_dict() == b.data_quality.to_dict()
    fa, fb = fingerprint(a), fingerprint(b)
    for key in fa:
        assert fa[key] == fb[key], key


def afresh(exp: ab.Experiment, **data):
    """The analysis with nothing reused: no plan cache, a fresh connection."""
    PLANS.enabled = False
    try:
        return exp.analyze(**data, con=engine.connect())
    finally:
        PLANS.enabled = True


def reused(exp: ab.Experiment, **data):
    """The analysis as a user runs it (abkit's connection, plans reused when they fit)."""
    return exp.analyze(**data)


# ----------------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def units(cookie_cats):
    df = cookie_cats.sample(3_000, random_state=7).reset_index(drop=True)
    df["retention_7"] = df["retention_7"].astype(int)
    df["retention_1"] = df["retention_1"].astype(int)
    df["level"] = np.where(df.sum_game_rounds > 30, "high", "low")
    df["pre_rounds"] = (df.sum_game_rounds * 0.7).round()
    return df


@pytest.fixture(scope="module")
def sims():
    a = ab.simulate.retention_experiment(n_units=1_200, seed=4)
    b = ab.simulate.retention_experiment(n_units=1_500, seed=5)
    return a, b


def _unit_specs():
    cols = {"unit_id": "userid", "variant": "version"}
    return [
        ab.Experiment(
            metrics=[ab.Proportion("retention_7"), ab.Mean("sum_game_rounds")],
            control="gate_30",
            columns=cols,
        ),
        ab.Experiment(
            metrics=[
                ab.Mean("sum_game_rounds", cap_quantile=0.99, covariate="pre_rounds"),
                ab.Ratio("retention_7", "retention_1", name="r7_over_r1"),
                ab.Proportion("retention_1"),
            ],
            control="gate_30",
            columns=cols,
            segments=["level"],
            guardrails=[{"metric": "retention_1", "margin": 0.02}],
        ),
        ab.Experiment(
            metrics=[ab.Mean("sum_game_rounds", cap=100)],
            control="gate_30",
            columns=cols,
            variants=["gate_30", "gate_40"],
            alternative="greater",
        ),
    ]


def _log_specs():
    return [
        ab.Experiment(metrics=[ab.Retention(day=d) for d in (1, 7, 30)], control="control"),
        ab.Experiment(
            metrics=[
                ab.Retention(day=1),
                ab.ActiveDays(days=(1, 7)),
                ab.Revenue(days=(0, 6)),
                ab.EventCount(days=(0, 6), event="purchase", cap_quantile=0.95),
            ],
            control="control",
            segments=["channel"],
            cuped=7,
            guardrails=[{"metric": "retention_d1", "margin": 0.02}],
        ),
        ab.Experiment(
            metrics=[
                ab.Ratio(ab.EventCount(days=(1, 7)), ab.ActiveDays(days=(1, 7))),
                ab.Retention(day=3, tz="Europe/Berlin"),
            ],
            control="control",
            segments=["platform", "channel"],
        ),
    ]


# ---------------------------------------------------------------------------------- tests


def test_per_unit_tables_give_the_results_of_a_fresh_analysis(units):
    specs = _unit_specs()
    expected = [afresh(exp, units=units) for exp in specs]
    for _ in range(2):  # the first round compiles, the second reuses: both must agree
        for exp, ref in zip(specs, expected, strict=True):
            assert_same(reused(exp, units=units), ref)
    assert PLANS.hits > 0


def test_duplicate_and_null_ids_take_their_own_plan(units):
    exp = _unit_specs()[0]
    broken = units.copy()
    broken.loc[:9, "userid"] = broken.loc[10:19, "userid"].to_numpy()  # 10 ids on two rows
    broken.loc[20:24, "userid"] = None
    for data in (units, broken, units, broken):
        assert_same(reused(exp, units=data), afresh(exp, units=data))
    res = reused(exp, units=broken)
    assert {f.code for f in res.data_quality.findings} >= {"duplicate_unit_ids"} or any(
        "duplicate" in f.code for f in res.data_quality.findings
    )


def test_logs_give_the_results_of_a_fresh_analysis(sims):
    specs = _log_specs()
    runs = [(exp, sim) for _ in range(2) for exp in specs for sim in sims]
    expected = {}
    for exp, sim in runs:
        key = (id(exp), id(sim))
        if key not in expected:
            expected[key] = afresh(exp, exposures=sim.exposures, events=sim.events)
        got = reused(exp, exposures=sim.exposures, events=sim.events)
        assert_same(got, expected[key])
    assert PLANS.hits > 0


def test_as_of_is_a_parameter_of_the_reused_plan(sims):
    sim = sims[0]
    exp = _log_specs()[1]
    instants = [
        "2024-03-20T00:00:00Z",  # whole seconds: MAKE_TIMESTAMPTZ(..., 0.0, ...)
        "2024-03-22T13:14:15.123456Z",
        "2024-03-21T23:59:59.999999+02:00",
        None,  # the last event time
        "2024-04-01T00:00:00.5Z",
    ]
    for as_of in instants:
        got = exp.analyze(exposures=sim.exposures, events=sim.events, as_of=as_of)
        PLANS.enabled = False
        ref = exp.analyze(
            exposures=sim.exposures, events=sim.events, as_of=as_of, con=engine.connect()
        )
        PLANS.enabled = True
        assert_same(got, ref)
    # one plan for every as_of (plus the default's query), not one per instant
    analysis_plans = [k for k in PLANS._plans if k[0] == "analysis"]
    assert len(analysis_plans) == 1, analysis_plans


def test_a_cached_plan_is_not_used_for_another_schema(sims):
    # the same column names, other types: the plan of the first must not serve the second
    sim = sims[0]
    exp = ab.Experiment(metrics=[ab.Retention(day=1), ab.Revenue(days=(0, 6))])
    exposures, events = sim.exposures, sim.events
    as_int = exposures.assign(unit_id=exposures.unit_id.str[1:].astype("int64"))
    ev_int = events.assign(unit_id=events.unit_id.str[1:].astype("int64"))
    ev_float_value = events.assign(value=events.value.fillna(0).round().astype("int64"))
    variants_int = exposures.assign(variant=(exposures.variant == "treatment").astype(int))
    cases = [
        (exposures, events, "control"),
        (as_int, ev_int, "control"),
        (exposures, ev_float_value, "control"),
        (variants_int, events, "0"),
        (exposures, events, "control"),
    ]
    misses = []
    for x, e, control in cases:
        exp_c = ab.Experiment(metrics=list(exp.metrics), control=control)
        before = PLANS.misses
        got = reused(exp_c, exposures=x, events=e)
        misses.append(PLANS.misses - before)
        assert_same(got, afresh(exp_c, exposures=x, events=e))
    assert all(m > 0 for m in misses[:4]) and misses[4] == 0, misses


def test_a_cached_plan_is_not_used_for_another_column_mapping_or_spec(units):
    cols = {"unit_id": "userid", "variant": "version"}
    renamed = units.rename(columns={"sum_game_rounds": "rounds", "retention_7": "sum_game_rounds"})
    units = units.assign(other_id=units.userid * 7 + 3)
    a = ab.Experiment(metrics=[ab.Mean("sum_game_rounds")], control="gate_30", columns=cols)
    b = ab.Experiment(metrics=[ab.Mean("sum_game_rounds", cap=5)], control="gate_30", columns=cols)
    c = ab.Experiment(
        metrics=[ab.Mean("sum_game_rounds")],
        control="gate_30",
        columns={**cols, "unit_id": "other_id"},
    )
    for exp, data in [(a, units), (a, renamed), (b, units), (c, units), (a, units)]:
        assert_same(reused(exp, units=data), afresh(exp, units=data))


def test_sql_text_is_the_text_a_fresh_compile_gives(sims, units):
    sim = sims[1]
    for exp in _log_specs():
        for as_of in ("2024-03-20T06:00:00Z", "2024-03-25T06:30:00.25Z"):
            fresh = afresh(exp, exposures=sim.exposures, events=sim.events, as_of=as_of)
            for _ in range(2):
                got = reused(exp, exposures=sim.exposures, events=sim.events, as_of=as_of)
                assert _names(got.sql) == _names(fresh.sql)
    exp = _unit_specs()[1]
    assert _names(reused(exp, units=units).sql) == _names(afresh(exp, units=units).sql)


def test_nothing_stays_registered_on_the_shared_connection(sims):
    sim = sims[0]
    exp = _log_specs()[0]
    for _ in range(3):
        exp.analyze(exposures=sim.exposures, events=sim.events)
    con = engine.shared_connection()
    left = con.con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    assert left == []


def test_the_data_is_not_kept_alive(units):
    # neither the shared connection nor the plans hold on to an analysed frame
    import gc
    import weakref

    exp = _unit_specs()[0]
    frame = units.copy()
    exp.analyze(units=frame)
    exp.analyze(units=frame)
    ref = weakref.ref(frame)
    del frame
    gc.collect()
    assert ref() is None


def test_threads_each_get_their_own_connection_and_the_same_results(sims):
    from concurrent.futures import ThreadPoolExecutor

    sim = sims[0]
    exp = _log_specs()[1]
    expected = afresh(exp, exposures=sim.exposures, events=sim.events)
    main = engine.shared_connection()  # alive throughout: its id is no other connection's

    def one(_: int) -> tuple[ab.ExperimentResult, int]:
        res = exp.analyze(exposures=sim.exposures, events=sim.events)
        return res, id(engine.shared_connection())

    with ThreadPoolExecutor(max_workers=3) as pool:
        done = list(pool.map(one, range(6)))
    for res, _ in done:
        assert_same(res, expected)
    assert id(main) not in {con for _, con in done}


def test_other_inputs_run_the_direct_way(sims, tmp_path):
    sim = sims[0]
    path = tmp_path / "events.parquet"
    sim.events.to_parquet(path)
    exp = _log_specs()[0]
    before = len(PLANS)
    got = exp.analyze(exposures=sim.exposures, events=path)
    assert len(PLANS) == before  # a file's contents may change under its name: no plan kept
    assert_same(got, afresh(exp, exposures=sim.exposures, events=path))


def test_plan_cache_is_bounded_and_least_recently_used_goes_first():
    plans = PlanCache(maxsize=2)
    made = []

    def make(tag):
        def build():
            made.append(tag)
            return cache.Plan(None, None, tag, None, True)  # type: ignore[arg-type]

        return build

    plans.get("a", make("a"))
    plans.get("b", make("b"))
    plans.get("a", make("a"))  # a is now the most recent
    plans.get("c", make("c"))  # b goes
    plans.get("a", make("a"))
    plans.get("b", make("b"))
    assert made == ["a", "b", "c", "b"] and len(plans) == 2


def test_metric_keys_tell_apart_what_equality_does_not():
    assert cache.metrics_key([ab.Mean("x", cap=0.0)]) != cache.metrics_key([ab.Mean("x", cap=-0.0)])
    assert cache.metrics_key([ab.Retention(day=1)]) != cache.metrics_key([ab.Retention(day=2)])


# ------------------------------------------------------------------------------- folding


def _random_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    def objects(kind: str) -> pd.api.extensions.ExtensionArray:
        out: list[object] = []
        for _ in range(n):
            r = rng.random()
            if r < 0.3:
                out.append(None)
            elif r < 0.35 and kind != "decimal":
                out.append(float("nan"))
            elif kind == "int":
                out.append(int(rng.integers(-(10**6), 10**6)))
            elif kind == "decimal":
                out.append(Decimal(int(rng.integers(-(10**12), 10**12))))
            else:
                out.append(float(rng.normal() * 10.0 ** rng.integers(-3, 9)))
        return pd.array(out, dtype=object)

    floats = rng.normal(size=n) * 10.0 ** rng.integers(-5, 12, n)
    r = rng.random(n)
    floats[r < 0.2] = np.nan
    floats[(r > 0.2) & (r < 0.25)] = -0.0
    floats[(r > 0.25) & (r < 0.27)] = np.inf
    floats[(r > 0.27) & (r < 0.28)] = -np.inf
    times = pd.Series(pd.to_datetime(rng.integers(0, 10**15, n), unit="us", utc=True))
    return pd.DataFrame(
        {
            "k1": pd.array(rng.choice(["a", "b", "c", None], n), dtype=object),
            "k2": rng.integers(0, 3, n).astype(rng.choice(["int8", "int64"])),
            "k3": rng.integers(0, 2, n),
            "f": floats,
            "i": rng.integers(-(10**9), 10**9, n),
            "i8": rng.integers(0, 5, n).astype("int8"),
            "oi": objects("int"),
            "of": objects("float"),
            "od": objects("decimal"),
            "t": times.where(rng.random(n) > 0.2).astype("datetime64[us, UTC]"),
        }
    )


def _same_bits(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for col in a.columns:
        for x, y in zip(a[col].tolist(), b[col].tolist(), strict=True):
            assert type(x) is type(y) or (pd.isna(x) and pd.isna(y)), (col, x, y)
            if isinstance(x, float) and not math.isnan(x):
                assert repr(x) == repr(y), (col, x, y)  # -0.0 is not 0.0


def test_folding_matches_pandas_group_by_to_the_bit():
    rng = np.random.default_rng(20261201)
    funcs = ("sum", "min", "max", "first")
    columns = ("f", "i", "i8", "oi", "of", "od", "t")
    looped = 0
    for trial in range(400):
        frame = _random_frame(rng, int(rng.integers(1, 60)))
        how: dict[str, str] = {}
        for col in rng.permutation(columns)[: int(rng.integers(1, len(columns) + 1))]:
            func = str(rng.choice(funcs))
            how[str(col)] = "first" if col == "t" and func == "sum" else func
        keys = [["k1"], ["k2"], ["k1", "k2"], ["k3", "k1", "k2"]][trial % 4]
        sort = bool(trial % 3)
        expected = frame.groupby(keys, dropna=False, sort=sort).agg(how).reset_index()
        _same_bits(fold.grouped(frame, keys, how, sort=sort), expected)
        looped += fold._small(frame, keys, how, sort) is not None
    assert looped > 200  # most frames took the loop, not pandas


def test_folding_hands_other_frames_to_pandas():
    frame = pd.DataFrame({"k": ["a", "b", "a"], "x": pd.array([1, None, 3], dtype="Int64")})
    assert fold._small(frame, ["k"], {"x": "sum"}, True) is None
    big = pd.DataFrame({"k": ["a", "b"] * 1_500, "x": np.arange(3_000.0)})
    expected = big.groupby(["k"], dropna=False, sort=True).agg({"x": "sum"}).reset_index()
    _same_bits(fold.grouped(big, ["k"], {"x": "sum"}, sort=True), expected)


# ------------------------------------------------------------------------- result frames


def _same_frame(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert list(a.dtypes) == list(b.dtypes)
    for col in a.columns:
        for x, y in zip(a[col].tolist(), b[col].tolist(), strict=True):
            assert type(x) is type(y), (col, x, y)
            assert repr(x) == repr(y), (col, x, y)  # -0.0, NaN and None told apart


def _ibis_frame(table, schema):
    """The frame of DuckDB's Arrow result as Ibis' DuckDB backend makes it (through one frame;
    engine.run_sql before it converted column by column)."""
    import pyarrow.types as pat
    from ibis.backends.duckdb.converter import DuckDBPandasData

    df = pd.DataFrame(
        {
            name: (
                col.to_pylist()
                if pat.is_nested(col.type) or pat.is_dictionary(col.type) or col.null_count
                else col.to_pandas()
            )
            for name, col in zip(table.column_names, table.columns, strict=True)
        }
    )
    return DuckDBPandasData.convert_table(df, schema)


def test_result_frames_are_the_frames_ibis_makes():
    # engine.run_sql converts DuckDB's result column by column, plain numbers from Arrow: the
    # frame Ibis makes for the result types abkit's queries make and more (nulls, decimals,
    # nested, times, empty); cache.pandas_result skips a conversion that changes nothing
    import ibis

    con = engine.shared_connection()
    t = ibis.memtable(
        pd.DataFrame(
            {
                "k": ["a", "b", None, "a"],
                "x": [1.5, -0.0, np.nan, 2.0],
                "i": [1, 2, 3, 4],
                "s": ["p", None, "q", "r"],
                "b": [True, False, True, False],
                "t": pd.to_datetime(["2024-01-01", "2024-02-01", None, "2024-03-01"], utc=True),
            }
        )
    )
    exprs = [
        t.group_by("k").aggregate(
            n=t.count(), sx=t.x.sum(), mi=t.x.min(), si=t.i.sum(), lo=t.t.min(), any_b=t.b.any()
        ),
        t.select(
            "k",
            "x",
            "i",
            "s",
            "b",
            "t",
            d=t.i.cast("decimal(38, 0)"),
            d2=(t.x * 10).cast("decimal(20, 3)"),
            nb=ibis.ifelse(t.i > 2, t.b, ibis.null("boolean")),
            ni=ibis.ifelse(t.i > 2, t.i, ibis.null("int64")),
            arr=ibis.array([t.i, t.i]),
            st=ibis.struct({"a": t.i}),
            day=t.t.date(),
            i8=t.i.cast("int8"),
            f32=t.x.cast("float32"),
            flag=ibis.ifelse(t.i > 2, 1, 0),  # int8 to Ibis, an int32 from DuckDB
        ),
        t.filter(t.i > 10).select("k", "x", "t"),  # no rows
        t.aggregate(n=t.count(), lo=t.t.min(), top=t.s.max()),
    ]
    for expr in exprs:
        sql = engine.compile_sql(expr, con, inline_ctes=False)
        tables = engine.in_memory_tables(expr, con) or {}
        with engine.bound_tables(con, tables):
            got = engine.run_sql(con, sql, expr.schema())
            ref = _ibis_frame(con.con.sql(sql).to_arrow_table(), expr.schema())
        _same_frame(got, ref)
        _same_frame(cache.pandas_result(expr, got), expr.__pandas_result__(ref))
    # the frame itself when Ibis' conversion would give an equal one (numbers, text)
    frame = engine.execute(exprs[0].select("k", "n", "sx"), con)
    assert cache.pandas_result(exprs[0].select("k", "n", "sx"), frame) is frame


# --------------------------------------------------------------------------- loader shapes


def _canonical(*tables):
    """The tables' expressions with their in-memory leaves named by order of appearance."""
    import ibis.expr.operations as ops

    leaves = list(
        dict.fromkeys(m for t in tables if t is not None for m in t.op().find(ops.InMemoryTable))
    )
    subst = {m: ops.UnboundTable(name=f"t{i}", schema=m.schema) for i, m in enumerate(leaves)}
    return [None if t is None else t.op().replace(subst) for t in tables]


def _direct(fn, *args, **kwargs):
    PLANS.enabled = False  # switches the loader's shapes off as well
    try:
        return fn(*args, **kwargs)
    finally:
        PLANS.enabled = True


def _outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except DataError as exc:
        return str(exc)


def test_loads_of_a_known_shape_are_the_loads_built_afresh(sims):
    # abkit.data.shapes: the loader's expressions, built once per shape on placeholders and
    # given each load's own tables, are the expressions the direct load builds; a shape that
    # needs the data (float ids, naive times in a zone with clock changes) loads directly; an
    # error is the direct load's, word for word
    x, e = sims[0].exposures, sims[0].events
    naive_x = x.assign(exposed_at=x.exposed_at.dt.tz_localize(None))
    naive_e = e.assign(ts=e.ts.dt.tz_localize(None))
    int_x = x.assign(unit_id=x.unit_id.str[1:].astype("int64"))
    int_e = e.assign(unit_id=e.unit_id.str[1:].astype("int64"))
    cases = [
        ((x, e), {}),
        ((x, e), {"value": True}),
        ((x, None), {}),
        ((pa.Table.from_pandas(x), pa.Table.from_pandas(e)), {}),
        ((x.rename(columns={"variant": "group"}), e), {"columns": {"variant": "group"}}),
        ((x.assign(variant2=x.variant), e), {"columns": {"variant": "variant2"}}),  # a drop
        ((int_x, int_e), {}),
        ((int_x, e), {}),  # ids of two types: compared as text
        ((naive_x, naive_e), {"tz": "UTC"}),
        ((naive_x, naive_e), {"tz": "Europe/Berlin"}),  # reads the data
        ((x.assign(unit_id=int_x.unit_id.astype(float)), e), {}),  # reads the data
        ((x, e.drop(columns=["event"])), {}),
        ((x, e.assign(value=e.value.astype(str))), {"value": True}),  # an error
        ((x.drop(columns=["variant"]), e), {}),  # an error
        ((naive_x, e), {}),  # an error
    ]
    for (xs, es), opts in cases * 2:  # the second round reuses the shapes of the first
        con = engine.shared_connection()
        got = _outcome(prepare_logs, xs, es, con=con, **opts)
        ref = _outcome(_direct, prepare_logs, xs, es, con=con, **opts)
        if isinstance(ref, str):
            assert got == ref, opts
            continue
        assert _canonical(got.exposures, got.events) == _canonical(ref.exposures, ref.events)
        assert (got.notes, got.local_times, got.id_types, got.con) == (
            ref.notes, ref.local_times, ref.id_types, ref.con,
        )  # fmt: skip
    assert shapes.SHAPES.hits == len(cases) - 3  # the second round, but for the errors
    assert sum(shape is None for shape in shapes.SHAPES._shapes.values()) == 2  # read the data


def test_units_of_a_known_shape_are_the_units_loaded_afresh(units):
    cols = {"unit_id": "userid", "variant": "version"}
    cases = [
        (units, cols),
        (units.assign(userid=units.userid.astype(str)), cols),
        (units.assign(userid=units.userid.astype(float)), cols),  # reads the data
        (units, {}),  # an error: no unit_id
    ]
    for frame, columns in cases * 2:
        con = engine.shared_connection()
        got = _outcome(prepare_units, frame, columns=columns, con=con)
        ref = _outcome(_direct, prepare_units, frame, columns=columns, con=con)
        if isinstance(ref, str):
            assert got == ref
            continue
        assert _canonical(got[1]) == _canonical(ref[1]) and got[2] == ref[2]
        assert got[0] is ref[0]
    assert shapes.SHAPES.hits == 3  # the second round, but for the error


def test_key_order_is_pandas_stable_sort():
    # fold.in_key_order sorts small frames by integer and text keys in a loop: the rows of
    # pandas' stable sort (missing values last), in the same order
    rng = np.random.default_rng(20261202)
    looped = 0
    for trial in range(300):
        n = int(rng.integers(2, 40))
        frame = pd.DataFrame(
            {
                "s": pd.array(rng.choice(["b", "a", "ab", "B", "", None], n), dtype=object),
                "i8": rng.integers(-3, 3, n).astype("int8"),
                "i": rng.integers(0, 4, n),
                "f": rng.choice([1.0, np.nan, 0.5], n),  # not a loop key: pandas sorts
                "x": rng.normal(size=n),
            }
        )
        if trial % 5 == 0:
            frame.loc[frame.index[0], "s"] = np.nan
        keys = [["s"], ["i8", "s"], ["i", "s", "i8"], ["s", "f"], ["i"]][trial % 5]
        expected = frame.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)
        _same_bits(fold.in_key_order(frame, keys), expected)
        looped += fold._key_order(frame, keys) is not None
    assert looped == 240  # every frame but those keyed by a float column


def test_runners_take_the_loaded_placeholders_as_they_are(sims, units):
    # tables loaded from a shape are noted (cache.remember): a runner over them takes the
    # placeholder expressions as they are; they must be what it makes by searching the tables
    con = engine.shared_connection()
    x, e = sims[0].exposures, sims[0].events
    loaded = [
        (lambda: prepare_logs(x, e, con=con), lambda r: (r.exposures, r.events)),
        (lambda: prepare_logs(x, None, con=con), lambda r: (r.exposures, None)),
        (lambda: prepare_units(units, columns={"unit_id": "userid", "variant": "version"}, con=con),
         lambda r: (r[1],)),
    ]  # fmt: skip
    for load, tables in loaded:
        for _ in range(2):
            got = tables(load())
            remembered = cache.Runner(con, got)
            assert remembered._remembered()
            saved = dict(cache._ABSTRACT)
            cache._ABSTRACT.clear()
            try:
                searched = cache.Runner(con, got)
            finally:
                cache._ABSTRACT.update(saved)
            assert [t.op() for t in remembered.inputs if t is not None] == [
                t.op() for t in searched.inputs if t is not None
            ]
            assert [t is None for t in remembered.inputs] == [t is None for t in searched.inputs]
            assert remembered._bindings == searched._bindings
            assert remembered._key == searched._key
    # a table changed after loading is searched as before
    logs = prepare_logs(x, e, con=con)
    assert not cache.Runner(con, (logs.exposures.mutate(k=1), logs.events))._remembered()
