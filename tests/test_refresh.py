"""Incremental refresh (``analyze(state=...)``): equal to a full run, day after day.

Seeded simulated logs (abkit.simulate) are split into daily batches: the log seen on day ``k``
holds the rows that had *arrived* by then. Most rows arrive on the day of their time; some
arrive late (inside or outside the 48 h restate buffer), a unit's conflicting second exposure
arrives days after its first, units active before their exposure leave events that are "never
exposed" until they are exposed, and a few rows have null ids or times. The reference for every
refresh is a full analysis of the same log: ``summary.json`` as a dict, compared whole.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import abkit as ab
from abkit.analysis.refresh import MANIFEST_FILE, STATE_FILE, State, StateError
from abkit.errors import SpecError
from abkit.report import build_summary

START = pd.Timestamp("2024-03-01", tz="UTC")
DAY = pd.Timedelta(days=1)
METRICS = [
    ab.Retention(day=1),
    ab.Retention(day=7),
    ab.Retention(days=(1, 3), event="purchase"),
    ab.Retention(day=1, tz="Asia/Shanghai"),
    ab.ActiveDays(days=(1, 7)),
    ab.EventCount(days=(0, 6), cap_quantile=0.95),
    ab.Revenue(days=(0, 6)),
]


def _summary(res: object) -> dict:
    # summary.json as written (NaN-free JSON); it holds no timing fields, nothing is removed
    return json.loads(json.dumps(build_summary(res), allow_nan=False))


def _experiment(metrics=METRICS) -> ab.Experiment:
    return ab.Experiment(metrics=metrics, control="control", segments=["channel"])


#: METRICS without the quantile cap: statistics that add up group by group, so settled units
#: are kept as statistics rows (abkit.analysis.settle); METRICS keeps every unit per unit
SETTLING = [m for m in METRICS if not getattr(m, "cap_quantile", None)]


def _logs(
    seed: int = 11,
    n_units: int = 1_200,
    late_share: float = 0.02,
    late_days: int = 1,
    settled_conflicts: int = 0,
):
    """Exposures and events with the day each row arrives (``_day``); ``settled_conflicts``
    units of the first day get a conflicting exposure 12 days later, once they are settled."""
    sim = ab.simulate.retention_experiment(
        n_units=n_units, seed=seed, enrollment_days=8, days=16, pre_days=3
    )
    rng = np.random.default_rng(seed)
    x, e = sim.exposures.copy(), sim.events.copy()
    x["_day"] = (x.exposed_at - START) // DAY
    e["_day"] = (e.ts - START) // DAY
    late = rng.random(len(e)) < late_share
    e.loc[late, "_day"] += late_days
    # units whose conflicting second exposure (the other variant) arrives three days later
    multi = x.drop_duplicates("unit_id").sample(15, random_state=seed)
    multi = multi.assign(
        variant=np.where(multi.variant == "control", "treatment", "control"),
        exposed_at=multi.exposed_at + 3 * DAY,
        _day=multi._day + 3,
    )
    # null ids and times, a null variant, and ids that are never exposed
    odd_x = x.iloc[:3].copy()
    odd_x["unit_id"] = [None, "u_null_variant", "u_null_time"]
    odd_x["variant"] = ["control", None, "control"]
    odd_x["exposed_at"] = [START + 2 * DAY, START + 2 * DAY, pd.NaT]
    # rows with no time are sealed with the first seal (day 2 here); one that arrives later is
    # a late row (test_a_row_with_no_time_arriving_later_is_a_late_row)
    odd_x["_day"] = [2, 2, 2]
    odd_e = e.iloc[:4].copy()
    odd_e["unit_id"] = [None, "ghost", "ghost", e.unit_id.iloc[0]]
    odd_e["ts"] = [START + 3 * DAY, START + DAY, START + 5 * DAY, pd.NaT]
    odd_e["_day"] = [3, 1, 5, 2]
    first_day = x[(x._day == 0) & ~x.unit_id.isin(multi.unit_id)].drop_duplicates("unit_id")
    late_multi = first_day.sample(settled_conflicts, random_state=seed + 1)
    late_multi = late_multi.assign(
        variant=np.where(late_multi.variant == "control", "treatment", "control"),
        exposed_at=late_multi.exposed_at + 12 * DAY,
        _day=late_multi._day + 12,
    )
    x = pd.concat([x, multi, late_multi, odd_x], ignore_index=True)
    e = pd.concat([e, odd_e], ignore_index=True)
    return x, e


def _seen(t: pd.DataFrame, day: int) -> pd.DataFrame:
    return t[t._day <= day].drop(columns="_day").reset_index(drop=True)


def _refresh_days(tmp_path, days, half_days, metrics=METRICS, settled_conflicts=0, seal_every=72):
    x, e = _logs(settled_conflicts=settled_conflicts)
    exp = _experiment(metrics)
    folder = tmp_path / "state"
    seals = []
    for day in days:
        xs, es = _seen(x, day), _seen(e, day)
        offsets = (1, 1.5) if day in half_days else (1,)
        for as_of in (START + (day + k) * DAY for k in offsets):
            full = exp.analyze(exposures=xs, events=es, as_of=as_of)
            state = State(folder, seal_every_hours=seal_every)
            inc = exp.analyze(exposures=xs, events=es, as_of=as_of, state=state)
            assert _summary(inc) == _summary(full), (day, as_of)
            assert not [f for f in inc.data_quality.findings if f.code == "late_rows"]
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        seals.append(manifest["sealed_through"])
    # the state did seal (and moved forward), so the refreshes read only the newest rows
    assert seals == sorted(seals) and len(set(seals)) >= len(days) - 2
    assert manifest["sealed"]["event_rows"] > len(e) / 2
    # the conflicting units are excluded as in several variants, by refresh and full run alike
    assert full.data_quality.counts["units_multiple_variants"] == 15 + settled_conflicts
    return manifest


def test_refreshes_equal_full_runs(tmp_path):
    """Refresh after refresh, with late rows inside the buffer, a conflicting second exposure
    on a later day, null ids and times, pre-exposure events and as_of moving forward."""
    _refresh_days(tmp_path, [2, 4, 7, 11, 16], half_days={11})


def test_settled_units_refresh_exactly(tmp_path):
    """Units whose windows closed are kept as statistics rows: the refreshes still equal full
    runs, also when a settled unit's conflicting exposure arrives later (it is moved back)."""
    manifest = _refresh_days(tmp_path, [2, 4, 7, 11, 13, 16], {11}, SETTLING, settled_conflicts=4)
    # t0 + 8 days (the widest window, D7, and a day) before the last seal: most of the units
    assert 600 < manifest["sealed"]["settled_units"] < 1_200


def test_the_watermark_moves_in_steps_and_the_refreshes_between_only_read(tmp_path):
    """With the default seal_every_hours=72 a refresh a day later reads the rows after the
    watermark and writes nothing (the state file is unchanged); once the watermark can move
    three days it seals. Each result equals a full run's."""
    x, e = _logs()
    exp = _experiment(SETTLING)
    folder = tmp_path / "state"
    seals = []
    for day in (6, 7, 8, 9):
        xs, es = _seen(x, day), _seen(e, day)
        before = _contents(folder / STATE_FILE) if (folder / STATE_FILE).exists() else None
        inc = exp.analyze(exposures=xs, events=es, as_of=START + (day + 1) * DAY, state=folder)
        full = exp.analyze(exposures=xs, events=es, as_of=START + (day + 1) * DAY)
        assert _summary(inc) == _summary(full), day
        seals.append(json.loads((folder / MANIFEST_FILE).read_text())["sealed_through"])
        if day in (7, 8):
            assert _contents(folder / STATE_FILE) == before, day  # read only
    assert seals[0] == seals[1] == seals[2] < seals[3]
    with pytest.raises(SpecError, match="seal_every_hours"):
        State(folder, seal_every_hours=-1)


def test_quantile_caps_keep_every_unit_per_unit(tmp_path):
    """A cap (a quantile over every unit) does not add up group by group: nothing settles."""
    x, e = _logs()
    folder = tmp_path / "state"
    _experiment().analyze(exposures=x, events=e, as_of=START + 17 * DAY, state=folder)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["sealed"]["settled_units"] is None
    _experiment(SETTLING).analyze(exposures=x, events=e, as_of=START + 17 * DAY, state=folder)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["sealed"]["settled_units"] > 600


@pytest.mark.slow
def test_daily_refreshes_equal_full_runs(tmp_path):
    """The same, every day of the log and twice a day, sealing on every refresh (about 45 s)."""
    _refresh_days(tmp_path, range(2, 17), half_days=set(range(2, 17)), seal_every=0)


def test_adjusted_lifts_refresh_exactly(tmp_path):
    """adjust= strata (a text column) and a numeric covariate come from the state as well."""
    x, e = _logs(seed=21, n_units=900)
    ids = x.unit_id.fillna("none")
    x["score"] = (pd.util.hash_pandas_object(ids, index=False) % 100).astype(float) / 10.0
    exp = ab.Experiment(
        metrics=[ab.Retention(day=1), ab.ActiveDays(days=(1, 7))],
        segments=["channel"],
        adjust=["platform", "score"],
    )
    for day in (3, 7, 11, 15):
        xs, es = _seen(x, day), _seen(e, day)
        full = exp.analyze(exposures=xs, events=es)
        inc = exp.analyze(exposures=xs, events=es, state=tmp_path)
        assert _summary(inc) == _summary(full), day


def _sealed_in_time(x, e, folder, exp, days, buffer_hours=48):
    """Refresh day after day; the rows the state could take in (arrived before being sealed)."""
    seal, prev = None, -1
    ok_x, ok_e = np.ones(len(x), bool), np.ones(len(e), bool)
    found = []
    for day in days:
        if seal is not None:  # rows new since the last refresh, timed at or before its seal
            ok_x &= ~(x._day.between(prev + 1, day) & (x.exposed_at <= seal))
            ok_e &= ~(e._day.between(prev + 1, day) & (e.ts <= seal))
        prev = day
        res = exp.analyze(
            exposures=_seen(x, day),
            events=_seen(e, day),
            as_of=START + (day + 1) * DAY,
            state=State(folder, buffer_hours=buffer_hours),
        )
        found.append(res)
        seal = pd.Timestamp(json.loads((folder / MANIFEST_FILE).read_text())["sealed_through"])
    return found, ok_x, ok_e


def test_rows_later_than_the_buffer_are_a_finding_never_dropped_silently(tmp_path):
    x, e = _logs(seed=12, late_share=0.01, late_days=4)
    exp = _experiment(METRICS[:2] + METRICS[4:5])
    folder = tmp_path / "state"
    days = [2, 3, 4, 6, 8, 11, 14]
    results, ok_x, ok_e = _sealed_in_time(x, e, folder, exp, days)
    last, day = results[-1], days[-1]
    too_late = int((~ok_e & (e._day <= day)).sum())
    assert too_late > 0
    late = [f for f in last.data_quality.findings if f.code == "late_rows"]
    assert len(late) == 1 and late[0].count == too_late and late[0].severity == "warning"
    assert "--rebuild" in late[0].message and "events" in late[0].message
    # the refresh is exactly a full run of the rows it took in: no row dropped or doubled
    kept = exp.analyze(
        exposures=_seen(x[ok_x], day), events=_seen(e[ok_e], day), as_of=START + (day + 1) * DAY
    )
    got, want = _summary(last), _summary(kept)
    for s in (got, want):
        s["results"]["data_quality"]["findings"] = [
            f for f in s["results"]["data_quality"]["findings"] if f["code"] != "late_rows"
        ]
    assert got == want
    # rebuilt, the state takes every row in: a full run's result, and no finding
    full = exp.analyze(exposures=_seen(x, day), events=_seen(e, day), as_of=START + (day + 1) * DAY)
    rebuilt = exp.analyze(
        exposures=_seen(x, day),
        events=_seen(e, day),
        as_of=START + (day + 1) * DAY,
        state=State(folder, rebuild=True),
    )
    assert _summary(rebuilt) == _summary(full)


def test_a_row_with_no_time_arriving_later_is_a_late_row(tmp_path):
    """A row with no time cannot be placed after the watermark: one that arrives after the
    first seal is a late row, counted and named, never silently dropped or counted twice."""
    x, e = _logs()
    exp = _experiment(SETTLING)
    folder = tmp_path / "state"
    xs, es = _seen(x, 9), _seen(e, 9)
    exp.analyze(exposures=xs, events=es, as_of=START + 10 * DAY, state=folder)
    row = es.iloc[[5]].copy()
    row["ts"] = pd.Series([pd.NaT], index=row.index, dtype=es.ts.dtype)  # the same schema
    es2 = pd.concat([es, row], ignore_index=True)
    res = exp.analyze(exposures=xs, events=es2, as_of=START + 10 * DAY, state=folder)
    late = [f for f in res.data_quality.findings if f.code == "late_rows"]
    assert len(late) == 1 and late[0].count == 1 and "or with no ts" in late[0].message
    # the comparisons are those of the log without the row (it is not in the analysis)
    full = exp.analyze(exposures=xs, events=es, as_of=START + 10 * DAY)
    assert res.to_pandas().equals(full.to_pandas())


def test_a_longer_buffer_takes_the_same_late_rows_in(tmp_path):
    x, e = _logs(seed=12, late_share=0.01, late_days=4)
    exp = _experiment(METRICS[:2])
    results, ok_x, ok_e = _sealed_in_time(x, e, tmp_path / "s", exp, [2, 4, 7, 11], 6 * 24)
    assert ok_x.all() and ok_e.all()
    day = 11
    full = exp.analyze(exposures=_seen(x, day), events=_seen(e, day), as_of=START + 12 * DAY)
    assert _summary(results[-1]) == _summary(full)


def test_a_changed_spec_rebuilds_the_state_and_says_so(tmp_path):
    x, e = _logs(seed=13)
    xs, es = _seen(x, 12), _seen(e, 12)
    folder = tmp_path / "state"
    _experiment(METRICS[:1]).analyze(exposures=_seen(x, 9), events=_seen(e, 9), state=folder)
    exp = _experiment(METRICS[:1] + METRICS[4:5])  # ActiveDays added
    res = exp.analyze(exposures=xs, events=es, state=folder)
    notes = [f for f in res.data_quality.findings if f.code == "state_rebuilt"]
    assert len(notes) == 1 and notes[0].severity == "info"
    assert "active_days_d1_7" in notes[0].message and "rebuilt" in notes[0].message
    got, want = _summary(res), _summary(exp.analyze(exposures=xs, events=es))
    got["results"]["data_quality"]["findings"] = [
        f for f in got["results"]["data_quality"]["findings"] if f["code"] != "state_rebuilt"
    ]
    assert got == want
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["action"].startswith("rebuilt (metrics added")
    again = exp.analyze(exposures=xs, events=es, state=folder)
    assert _summary(again) == want  # the rebuilt state is reused, with no note


@pytest.mark.parametrize("content", ["garbage", "foreign"])
def test_a_damaged_or_foreign_state_file_is_a_clear_error(tmp_path, content):
    import duckdb

    x, e = _logs(seed=14, n_units=400)
    folder = tmp_path / "state"
    folder.mkdir()
    path = folder / STATE_FILE
    if content == "garbage":
        path.write_bytes(b"not a database\x00" * 100)
    else:
        with duckdb.connect(str(path)) as con:
            con.execute("CREATE TABLE t AS SELECT 1 AS x")
    exp = _experiment(METRICS[:1])
    with pytest.raises(StateError) as err:
        exp.analyze(exposures=_seen(x, 10), events=_seen(e, 10), state=folder)
    msg = str(err.value)
    assert str(path) in msg and "--rebuild" in msg and "delete the folder" in msg
    res = exp.analyze(
        exposures=_seen(x, 10), events=_seen(e, 10), state=State(folder, rebuild=True)
    )
    assert _summary(res) == _summary(exp.analyze(exposures=_seen(x, 10), events=_seen(e, 10)))


def test_as_of_before_the_sealed_watermark_is_refused(tmp_path):
    x, e = _logs(seed=15, n_units=400)
    exp = _experiment(METRICS[:1])
    exp.analyze(exposures=_seen(x, 12), events=_seen(e, 12), state=tmp_path)
    with pytest.raises(StateError, match="before the state's sealed watermark"):
        exp.analyze(
            exposures=_seen(x, 12), events=_seen(e, 12), as_of=START + 4 * DAY, state=tmp_path
        )


def test_what_a_state_cannot_merge_is_refused(tmp_path):
    x, e = _logs(seed=15, n_units=300)
    with pytest.raises(SpecError, match="cuped"):
        ab.Experiment(metrics=METRICS[:1], cuped=3).analyze(
            exposures=_seen(x, 9), events=_seen(e, 9), state=tmp_path
        )
    with pytest.raises(SpecError, match="distinct days"):
        _experiment([ab.ActiveDays(days=(1, 70))]).analyze(
            exposures=_seen(x, 9), events=_seen(e, 9), state=tmp_path
        )
    units = pd.DataFrame({"unit_id": ["a", "b"], "variant": ["control", "treatment"], "y": [1, 0]})
    with pytest.raises(SpecError, match="units table"):
        ab.Experiment(metrics=[ab.Proportion("y")]).analyze(units=units, state=tmp_path)


def _hold_lock(folder: Path, seconds: float) -> threading.Thread:
    folder.mkdir(exist_ok=True)
    held = threading.Event()

    def hold() -> None:
        with open(folder / ".lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            held.set()
            time.sleep(seconds)
            fcntl.flock(f, fcntl.LOCK_UN)

    t = threading.Thread(target=hold)
    t.start()
    held.wait()
    return t


def test_a_refresh_waits_for_the_lock_or_fails_cleanly(tmp_path):
    x, e = _logs(seed=16, n_units=300)
    xs, es = _seen(x, 10), _seen(e, 10)
    exp = _experiment(METRICS[:1])
    folder = tmp_path / "state"
    holder = _hold_lock(folder, 1.0)
    with pytest.raises(StateError, match="another refresh holds the state"):
        exp.analyze(exposures=xs, events=es, state=State(folder, lock_timeout=0.2))
    assert not (folder / STATE_FILE).exists()  # the refused refresh wrote nothing
    res = exp.analyze(exposures=xs, events=es, state=State(folder, lock_timeout=30))
    holder.join()
    assert _summary(res) == _summary(exp.analyze(exposures=xs, events=es))


def _contents(path: Path) -> str:
    """A digest of every table of a state file (read-only), and its manifest."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        rows = {n: sorted(map(repr, con.execute(f'SELECT * FROM "{n}"').fetchall())) for n in names}
    return hashlib.sha256(repr(sorted(rows.items())).encode()).hexdigest()


def test_a_failed_refresh_leaves_the_old_state_whole(tmp_path, monkeypatch):
    import abkit.analysis.refresh as refresh

    x, e = _logs(seed=17, n_units=400)
    exp = _experiment(METRICS[:2])
    folder = tmp_path / "state"
    exp.analyze(exposures=_seen(x, 8), events=_seen(e, 8), state=folder)
    before = _contents(folder / STATE_FILE)
    sidecar = (folder / MANIFEST_FILE).read_text()

    def boom(*args, **kwargs):
        raise RuntimeError("killed mid-refresh")

    # killed after the new rows were merged in, before the transaction committed
    monkeypatch.setattr(refresh, "update_manifest", boom)
    with pytest.raises(RuntimeError, match="killed"):
        exp.analyze(exposures=_seen(x, 12), events=_seen(e, 12), state=folder)
    monkeypatch.undo()
    assert _contents(folder / STATE_FILE) == before
    assert (folder / MANIFEST_FILE).read_text() == sidecar
    assert sorted(p.name for p in folder.iterdir()) == [".lock", MANIFEST_FILE, STATE_FILE]
    # killed after the commit (in the analysis): the state is the new one, whole
    monkeypatch.setattr(refresh, "execute_with_sql", boom)
    with pytest.raises(RuntimeError, match="killed"):
        exp.analyze(exposures=_seen(x, 12), events=_seen(e, 12), state=folder)
    monkeypatch.undo()
    assert _contents(folder / STATE_FILE) != before
    xs, es = _seen(x, 12), _seen(e, 12)
    res = exp.analyze(exposures=xs, events=es, state=folder)
    assert _summary(res) == _summary(exp.analyze(exposures=xs, events=es))
    # a first build killed before its rename leaves no state and no scratch file behind
    fresh = tmp_path / "fresh"
    monkeypatch.setattr(refresh, "execute_with_sql", boom)
    with pytest.raises(RuntimeError, match="killed"):
        exp.analyze(exposures=xs, events=es, state=fresh)
    monkeypatch.undo()
    assert sorted(p.name for p in fresh.iterdir()) == [".lock"]


_RACER = """
import json, sys
import abkit as ab
from abkit.report import build_summary
exp = ab.Experiment(metrics=[ab.Retention(day=1), ab.ActiveDays(days=(1, 7))], segments=["channel"])
res = exp.analyze(exposures=sys.argv[1], events=sys.argv[2], state=sys.argv[3])
print(json.dumps(build_summary(res), sort_keys=True))
"""


def test_two_refreshes_racing_on_one_state(tmp_path):
    x, e = _logs(seed=18, n_units=500)
    xs, es = _seen(x, 12), _seen(e, 12)
    xs.to_parquet(tmp_path / "x.parquet")
    es.to_parquet(tmp_path / "e.parquet")
    folder = tmp_path / "state"
    args = [str(tmp_path / "x.parquet"), str(tmp_path / "e.parquet"), str(folder)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1].decode()[-2000:] for o in outs]
    a, b = (json.loads(o[0]) for o in outs)
    assert a == b
    exp = ab.Experiment(
        metrics=[ab.Retention(day=1), ab.ActiveDays(days=(1, 7))], segments=["channel"]
    )
    full = json.loads(
        json.dumps(build_summary(exp.analyze(exposures=xs, events=es)), sort_keys=True)
    )
    assert a == full
    assert sorted(p.name for p in folder.iterdir()) == [".lock", MANIFEST_FILE, STATE_FILE]


def test_cli_state_and_rebuild(tmp_path, capsys):
    from abkit.cli import main

    x, e = _logs(seed=19, n_units=800)
    _seen(x, 12).to_parquet(tmp_path / "exposures.parquet")
    _seen(e, 12).to_parquet(tmp_path / "events.parquet")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: onb\ncontrol: control\nvariants: [control, treatment]\nsegments: [channel]\n"
        "metrics:\n  - retention: {day: 1}\n  - active_days: {days: [1, 7]}\n"
        "data: {exposures: exposures.parquet, events: events.parquet}\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    code = main(["analyze", str(spec), "--format", "json"])
    assert code == 4  # blocked: the units in both variants (the same exit code with --state)
    full = json.loads(capsys.readouterr().out)
    state = str(tmp_path / "state")
    for extra in ([], [], ["--rebuild"], ["--state-buffer", "72"]):
        assert main(["analyze", str(spec), "--format", "json", "--state", state, *extra]) == code
        out = capsys.readouterr()
        assert json.loads(out.out) == full, extra
    (tmp_path / "state" / STATE_FILE).write_bytes(b"junk" * 64)
    assert main(["analyze", str(spec), "--state", state]) == 2
    err = capsys.readouterr().err
    assert STATE_FILE in err and "--rebuild" in err
    assert main(["analyze", str(spec), "--format", "json", "--state", state, "--rebuild"]) == code
    assert json.loads(capsys.readouterr().out) == full
    assert main(["analyze", str(spec), "--rebuild"]) == 2
    assert "--state DIR" in capsys.readouterr().err
    out = str(tmp_path / "reports")
    assert main(["report", str(tmp_path), "--all", "--out", out, "--state", state]) == 2
    assert "without --all" in capsys.readouterr().err


@pytest.mark.slow
def test_report_with_a_state_matches_the_report_without(tmp_path):
    """``abkit report --state``: the state travels through the notebook's config (two report
    runs, about 40 s)."""
    from abkit.report import run_report

    x, e = _logs(seed=20, n_units=800)
    _seen(x, 12).to_parquet(tmp_path / "exposures.parquet")
    _seen(e, 12).to_parquet(tmp_path / "events.parquet")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: onb\ncontrol: control\nvariants: [control, treatment]\n"
        "metrics:\n  - retention: {day: 1}\n  - active_days: {days: [1, 7]}\n"
        "data: {exposures: exposures.parquet, events: events.parquet}\n"
        "accept_findings: [multiple_variants]\n",
        encoding="utf-8",
    )
    plain = run_report(spec, out=tmp_path / "plain")
    kept = run_report(spec, out=tmp_path / "kept", state=tmp_path / "state")
    a, b = (json.loads((o.out_dir / "summary.json").read_text()) for o in (plain, kept))
    assert a["results"] == b["results"]
    assert json.loads((tmp_path / "state" / MANIFEST_FILE).read_text())["action"] == "created"
