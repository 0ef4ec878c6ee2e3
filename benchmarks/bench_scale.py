"""Retention analysis at scale: abkit against pandas, one hand-written DuckDB query, tea-tasting.

Run from the repository root (generate the data first, see ``generate_data.py``)::

    .venv/bin/python benchmarks/bench_scale.py --sizes 100k 1m           # ~5 min
    .venv/bin/python benchmarks/bench_scale.py --sizes 10m --skip pandas  # pandas needs ~15 GB

The work, identical for every contender, on the same Parquet files: first exposure per unit (units
in several variants excluded, repeated exposures collapsed), events before exposure or after
``as_of`` ignored, maturity applied; then per variant D1 / D7 / D30 retention, the D0-D30 curve and
the D1 / D7 / D30 breakdown by acquisition channel, each with a two-proportion z-test.

* ``abkit``: one ``Experiment.analyze`` call (34 metrics, ``segments=["channel"]``); its result
  also carries the full data-quality report.
* ``sql``: one careful DuckDB SQL query (a bit mask of active days per unit) + scipy z-tests.
* ``sql_limited``: the same query under abkit's memory limit (``--memory-limit``), to separate
  the cost of the 2.5 GB memory target (spilling) from the cost of the query itself.
* ``pandas``: a hand-written pandas pipeline on ``pd.read_parquet`` + scipy z-tests.
* ``tea``: tea-tasting 1.x on Ibis/DuckDB, given per-unit flags built by an Ibis query with the
  SQL contender's bit-mask plan (the flags table is materialised once; tea-tasting has no
  segments, so it analyses each channel's slice as well).

Each repetition runs every contender once, in alternating order, each in a fresh process (imports
included: what a user waits for). Reported: median wall time, median peak resident memory
(``ru_maxrss`` of the worker), and whether the counts equal those of the SQL query.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
AS_OF = "2024-04-15T00:00:00Z"
CURVE = range(31)
HEADLINE = (1, 7, 30)
CONTENDERS = ("abkit", "abkit_duckdb_memory", "sql", "sql_limited", "pandas", "tea")
TITLES = {
    "abkit": "abkit",
    "abkit_duckdb_memory": "abkit, DuckDB's memory default",
    "sql": "one DuckDB SQL query",
    "sql_limited": "the same query, abkit's memory limit",
    "pandas": "pandas by hand",
    "tea": "tea-tasting (Ibis/DuckDB)",
}

# ------------------------------------------------------------------------------------- workers
# Each returns {"counts": {"variant|segment|day": [n, retained]}, ...}; segment "" is overall.


def _key(variant: str, segment: str, day: int) -> str:
    return f"{variant}|{segment}|{day}"


def _ztests(counts: dict[str, list[int]]) -> dict[str, float]:
    """Unpooled two-proportion z-test p-values for the headline days, overall and per channel."""
    import numpy as np
    from scipy import stats

    out = {}
    segs = sorted({k.split("|")[1] for k in counts})
    for seg in segs:
        for d in HEADLINE:
            n0, x0 = counts[_key("control", seg, d)]
            n1, x1 = counts[_key("treatment", seg, d)]
            p0, p1 = x0 / n0, x1 / n1
            se = np.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
            out[f"{seg}|{d}"] = float(2 * stats.norm.sf(abs(p1 - p0) / se))
    return out


def run_abkit(folder: Path) -> dict[str, Any]:
    res = _abkit_experiment().analyze(
        exposures=folder / "exposures.parquet", events=folder / "events.parquet", as_of=AS_OF
    )
    return _abkit_counts(res)


SQL = """
WITH first AS (
    SELECT unit_id, min(exposed_at) AS t0, arg_min(variant, exposed_at) AS variant,
           arg_min(channel, exposed_at) AS channel, min(variant) <> max(variant) AS several
    FROM read_parquet('{x}') WHERE exposed_at <= TIMESTAMPTZ '{as_of}'
    GROUP BY unit_id
), units AS (
    SELECT * FROM first WHERE NOT several
), days AS (
    SELECT e.unit_id,
           bit_or(1::BIGINT << ((epoch_us(e.ts) - epoch_us(u.t0)) // 86400000000)) AS mask
    FROM read_parquet('{e}') e JOIN units u USING (unit_id)
    WHERE e.ts >= u.t0 AND e.ts <= TIMESTAMPTZ '{as_of}'
      AND epoch_us(e.ts) - epoch_us(u.t0) < 31 * 86400000000
    GROUP BY e.unit_id
)
SELECT variant, channel,
       least((epoch_us(TIMESTAMPTZ '{as_of}') - epoch_us(t0)) // 86400000000, 31) AS age,
       count(*) AS n,
       {sums}
FROM units LEFT JOIN days USING (unit_id)
GROUP BY ALL
"""


def run_sql(folder: Path, memory_limit: str | None = None) -> dict[str, Any]:
    import duckdb

    sums = ",\n       ".join(f"sum(coalesce((mask >> {d}) & 1, 0)) AS d{d}" for d in CURVE)
    q = SQL.format(
        x=folder / "exposures.parquet", e=folder / "events.parquet", as_of=AS_OF, sums=sums
    )
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    rows = con.execute(q).fetchall()
    return {"counts": _counts_from_rows(rows)}


def _counts_from_rows(rows: list[tuple[Any, ...]]) -> dict[str, list[int]]:
    """(variant, channel, age, n, d0..d30) rows → counts; a unit counts for day d if age > d."""
    counts: dict[str, list[int]] = {}
    for variant, channel, age, n, *retained in rows:
        for d in CURVE:
            if age < d + 1:
                continue
            for seg in ("", channel) if d in HEADLINE else ("",):
                c = counts.setdefault(_key(variant, seg, d), [0, 0])
                c[0] += int(n)
                c[1] += int(retained[d])
    return counts


def run_pandas(folder: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    as_of = pd.Timestamp(AS_OF)
    x = pd.read_parquet(folder / "exposures.parquet")
    x = x[x.exposed_at <= as_of]
    several = x.groupby("unit_id").variant.nunique() > 1
    x = x.sort_values("exposed_at", kind="stable").drop_duplicates("unit_id")
    x = x[~x.unit_id.isin(several.index[several])]
    ev = pd.read_parquet(folder / "events.parquet")
    ev = ev.merge(
        x[["unit_id", "t0"]]
        if "t0" in x
        else x.rename(columns={"exposed_at": "t0"})[["unit_id", "t0"]],
        on="unit_id",
    )
    ev = ev[(ev.ts >= ev.t0) & (ev.ts <= as_of)]
    day = (ev.ts - ev.t0) // pd.Timedelta(days=1)
    ev = pd.DataFrame({"unit_id": ev.unit_id.to_numpy(), "day": day.to_numpy()})
    ev = ev[ev.day <= 30].drop_duplicates()
    units = x.rename(columns={"exposed_at": "t0"})[["unit_id", "variant", "channel", "t0"]]
    units["age"] = np.minimum((as_of - units.t0) // pd.Timedelta(days=1), 31)
    active = ev.merge(units[["unit_id", "variant", "channel", "age"]], on="unit_id")
    ret = active.groupby(["variant", "channel", "age", "day"]).size().unstack("day", fill_value=0)
    n = units.groupby(["variant", "channel", "age"]).size().rename("n")
    table = pd.concat([n, ret], axis=1).fillna(0)
    rows = [
        (v, c, int(a), int(r["n"]), *[int(r.get(d, 0)) for d in CURVE])
        for (v, c, a), r in table.iterrows()
    ]
    return {"counts": _counts_from_rows(rows)}


def run_tea(folder: Path) -> dict[str, Any]:
    import ibis
    import tea_tasting as tt

    con = ibis.duckdb.connect()
    con.raw_sql("SET preserve_insertion_order = false")
    as_of = ibis.literal(__import__("pandas").Timestamp(AS_OF).to_pydatetime())
    x = con.read_parquet(folder / "exposures.parquet")
    x = x.filter(x.exposed_at <= as_of)
    first = x.group_by("unit_id").aggregate(
        t0=x.exposed_at.min(),
        variant=x.variant.argmin(x.exposed_at),
        channel=x.channel.argmin(x.exposed_at),
        several=x.variant.min() != x.variant.max(),
    )
    units = first.filter(~first.several)
    ev = con.read_parquet(folder / "events.parquet")
    j = ev.join(units.select("unit_id", "t0"), "unit_id")
    j = j.filter((j.ts >= j.t0) & (j.ts <= as_of))
    j = j.mutate(day=(j.ts.delta(j.t0, unit="microsecond") // 86_400_000_000))
    j = j.filter(j.day <= max(CURVE))
    # the per-unit flags built as carefully as the SQL contender's: one bit mask of active days
    one = ibis.literal(1, "int64")
    masks = j.group_by("unit_id").aggregate(mask=(one << j.day).bit_or())
    age = as_of.delta(units.t0, unit="microsecond") // 86_400_000_000
    u = units.left_join(masks, "unit_id").mutate(age=age)
    mask = u.mask.fill_null(0)
    u = u.mutate(
        **{f"d{d}": ibis.ifelse(u.age > d, (mask >> d) & 1, ibis.null("int64")) for d in CURVE}
    )
    u = u.select("variant", "channel", *(f"d{d}" for d in CURVE))
    tbl = con.create_table("flags", u, temp=True)  # per-unit flags, computed once
    metrics = {f"d{d}": tt.Mean(f"d{d}") for d in CURVE}
    res = tt.Experiment(metrics).analyze(tbl, control="control")
    counts: dict[str, list[int]] = {}
    sizes = (
        tbl.group_by("variant")
        .aggregate(**{f"n{d}": tbl[f"d{d}"].count() for d in CURVE})
        .execute()
        .set_index("variant")
    )
    for row in res.to_dicts():
        d = int(row["metric"][1:])
        for v, mean in (("control", row["control"]), ("treatment", row["treatment"])):
            n = int(sizes.loc[v, f"n{d}"])
            counts[_key(v, "", d)] = [n, round(mean * n)]
    seg_metrics = {f"d{d}": tt.Mean(f"d{d}") for d in HEADLINE}
    channels = sorted(tbl.select("channel").distinct().execute()["channel"].tolist())
    for ch in channels:
        sub = tbl.filter(tbl.channel == ch)
        r = tt.Experiment(seg_metrics).analyze(sub, control="control")
        sz = (
            sub.group_by("variant")
            .aggregate(**{f"n{d}": sub[f"d{d}"].count() for d in HEADLINE})
            .execute()
            .set_index("variant")
        )
        for row in r.to_dicts():
            d = int(row["metric"][1:])
            for v, mean in (("control", row["control"]), ("treatment", row["treatment"])):
                n = int(sz.loc[v, f"n{d}"])
                counts[_key(v, ch, d)] = [n, round(mean * n)]
    return {"counts": counts}


def run_sql_limited(folder: Path) -> dict[str, Any]:
    """The SQL contender under abkit's memory limit (the same budget, so the same spilling)."""
    from abkit.engine import default_memory_limit

    return run_sql(
        folder, memory_limit=os.environ.get("ABKIT_MEMORY_LIMIT") or default_memory_limit()
    )


# ------------------------------------------------------------------------------ nightly refresh
# The morning CI job: yesterday's report left a refresh state; today's log has one more day.
# The logs are one Parquet file per day (as a daily export writes them, sorted by time), so a
# reader skips whole files by their time range. Contenders, on the same files and as_of:
# a full abkit run, abkit's refresh from yesterday's state, and the hand-written full-scan SQL.

NIGHTLY = ("abkit_full", "abkit_refresh", "abkit_refresh_seal", "sql_full")
NIGHTLY_TITLES = {
    "abkit_full": "full abkit run",
    "abkit_refresh": "abkit refresh (state=, default: reads only)",
    "abkit_refresh_seal": "abkit refresh that seals (seal_every_hours=0)",
    "sql_full": "one DuckDB SQL query (full scan)",
}
YESTERDAY = "2024-04-14T00:00:00Z"  # the previous refresh: one day before AS_OF


def _abkit_experiment() -> Any:
    import abkit as ab

    metrics = [ab.Retention(day=d) for d in HEADLINE]
    metrics += [ab.Retention(day=d, name=f"curve_d{d}") for d in CURVE]
    return ab.Experiment(metrics=metrics, control="control", segments=["channel"])


def _abkit_counts(res: Any) -> dict[str, Any]:
    counts: dict[str, list[int]] = {}
    for a in res.arms:
        if a.metric.startswith("curve_d") and a.segment is None:
            day, seg = int(a.metric.removeprefix("curve_d")), ""
        elif a.metric.startswith("retention_d") and a.segment is not None:
            day, seg = int(a.metric.removeprefix("retention_d")), str(a.segment_value)
        else:
            continue
        counts[_key(a.variant, seg, day)] = [a.n, round((a.mean or 0.0) * a.n)]
    pvalues = {
        f"|{c.metric.removeprefix('retention_d')}": c.comparison.pvalue for c in res.comparisons
    }
    return {"counts": counts, "pvalues": pvalues}


def daily_folder(size: str) -> Path:
    """``data/<size>/daily/{exposures,events}/<day>.parquet``: the size's logs split by day
    (made once from the size's files; each day sorted by time)."""
    import duckdb

    src, out = DATA / size, DATA / size / "daily"
    if (out / "done").exists():
        return out
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET memory_limit = '4GB'")
    out.mkdir(parents=True, exist_ok=True)
    for role, col in (("exposures", "exposed_at"), ("events", "ts")):
        parts = out / (role + ".parts")
        # one pass: a hive-partitioned copy by day, then one plain file per day
        con.execute(
            f"COPY (SELECT *, CAST({col} AS DATE)::VARCHAR AS _day "
            f"FROM read_parquet('{src / role}.parquet') ORDER BY {col}) "
            f"TO '{parts}' (FORMAT parquet, PARTITION_BY (_day), OVERWRITE_OR_IGNORE)"
        )
        (out / role).mkdir(parents=True, exist_ok=True)
        for d in sorted(parts.iterdir()):
            for k, f in enumerate(sorted(d.glob("*.parquet"))):
                f.rename(out / role / f"{d.name.removeprefix('_day=')}-{k}.parquet")
            d.rmdir()
        parts.rmdir()
    (out / "done").write_text("split by day\n")
    return out


def run_abkit_full(folder: Path) -> dict[str, Any]:
    res = _abkit_experiment().analyze(
        exposures=folder / "exposures", events=folder / "events", as_of=AS_OF
    )
    return _abkit_counts(res)


def run_abkit_refresh(folder: Path, seal_every_hours: float = 72) -> dict[str, Any]:
    from abkit.analysis.refresh import State

    state = State(os.environ["ABKIT_BENCH_STATE"], seal_every_hours=seal_every_hours)
    res = _abkit_experiment().analyze(
        exposures=folder / "exposures", events=folder / "events", as_of=AS_OF, state=state
    )
    late = [f.code for f in res.data_quality.findings if f.code in ("late_rows", "state_rebuilt")]
    if late:
        raise RuntimeError(f"the refresh did not reuse yesterday's state: {late}")
    return _abkit_counts(res)


def run_sql_full(folder: Path) -> dict[str, Any]:
    import duckdb

    sums = ",\n       ".join(f"sum(coalesce((mask >> {d}) & 1, 0)) AS d{d}" for d in CURVE)
    q = SQL.format(
        x=folder / "exposures" / "*.parquet",
        e=folder / "events" / "*.parquet",
        as_of=AS_OF,
        sums=sums,
    )
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    return {"counts": _counts_from_rows(con.execute(q).fetchall())}


def prepare_state(folder: Path, state: Path) -> None:
    """Yesterday's refresh: the state a nightly job finds in the morning (not timed)."""
    import shutil

    shutil.rmtree(state, ignore_errors=True)
    _abkit_experiment().analyze(
        exposures=folder / "exposures", events=folder / "events", as_of=YESTERDAY, state=state
    )


WORKERS = {
    "abkit": run_abkit,
    "abkit_duckdb_memory": run_abkit,  # run with ABKIT_MEMORY_LIMIT=duckdb (see run_once)
    "sql": run_sql,
    "sql_limited": run_sql_limited,
    "pandas": run_pandas,
    "tea": run_tea,
    "abkit_full": run_abkit_full,
    "abkit_refresh": run_abkit_refresh,
    "abkit_refresh_seal": lambda folder: run_abkit_refresh(folder, seal_every_hours=0),
    "sql_full": run_sql_full,
}


def worker(contender: str, size: str) -> None:
    folder = DATA / size / "daily" if contender in NIGHTLY else DATA / size
    out = WORKERS[contender](folder)
    if "pvalues" not in out:
        out["pvalues"] = _ztests(out["counts"])
    out["maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out))


# ------------------------------------------------------------------------------------- driver


def run_once(
    contender: str, size: str, memory_limit: str, extra_env: dict[str, str] | None = None
) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, "CI": "1", **(extra_env or {})}  # CI: no progress bars
    if contender == "abkit_duckdb_memory":
        memory_limit = "duckdb"  # DuckDB's own default (80 % of memory) instead of abkit's
    if memory_limit:
        env["ABKIT_MEMORY_LIMIT"] = memory_limit  # abkit's engine configuration
    cmd = [sys.executable, __file__, "--worker", contender, "--size", size]
    timed = Path("/usr/bin/time").exists()
    if timed:  # GNU time: the peak resident set of the whole process, as the issue measures it
        cmd = ["/usr/bin/time", "-f", "abkit-bench-time %e %M", *cmd]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{contender} on {size} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if timed:
        line = [x for x in proc.stderr.splitlines() if x.startswith("abkit-bench-time ")][-1]
        out["maxrss_bytes"] = int(line.split()[2]) * 1024
    return wall, out


def nightly(sizes: list[str], reps: int, memory_limit: str) -> dict[str, Any]:
    """Time the nightly scenario; each refresh starts from a fresh copy of yesterday's state."""
    import shutil
    import tempfile

    found: dict[str, Any] = {}
    for size in sizes:
        folder = daily_folder(size)
        n_new = _rows_after(folder, YESTERDAY)
        scratch = Path(tempfile.mkdtemp(prefix="abkit-nightly-"))
        pristine = scratch / "yesterday"
        t = time.perf_counter()
        prepare_state(folder, pristine)
        build_s = time.perf_counter() - t
        runs: dict[str, list[tuple[float, dict[str, Any]]]] = {c: [] for c in NIGHTLY}
        for rep in range(reps):
            order = NIGHTLY if rep % 2 == 0 else NIGHTLY[::-1]
            for c in order:
                env = None
                if c.startswith("abkit_refresh"):
                    work = scratch / f"state-{rep}-{c}"
                    shutil.copytree(pristine, work)
                    env = {"ABKIT_BENCH_STATE": str(work)}
                wall, out = run_once(c, size, memory_limit, env)
                runs[c].append((wall, out))
                print(
                    f"nightly {size} rep {rep + 1} {c}: {wall:.2f} s, "
                    f"{out['maxrss_bytes'] / 1e9:.2f} GB",
                    flush=True,
                )
        shutil.rmtree(scratch, ignore_errors=True)
        ref = runs["sql_full"][0][1]["counts"]
        found[size] = {
            "info": (DATA / size / "README").read_text().strip(),
            "new_event_rows": n_new,
            "state_build_s": build_s,
            "load": os.getloadavg(),
            "contenders": {
                c: {
                    "wall_s": statistics.median(w for w, _ in rs),
                    "rss_gb": statistics.median(o["maxrss_bytes"] for _, o in rs) / 1e9,
                    "same": all(rs[0][1]["counts"].get(k) == v for k, v in ref.items()),
                }
                for c, rs in runs.items()
            },
        }
    return found


def _rows_after(folder: Path, since: str) -> int:
    import duckdb

    q = f"SELECT count(*) FROM read_parquet('{folder}/events/*.parquet') WHERE ts > TIMESTAMPTZ '{since}'"
    return int(duckdb.connect().execute(q).fetchone()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["100k", "1m"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[], choices=CONTENDERS)
    ap.add_argument("--out", type=Path, default=HERE / "results_scale.md")
    ap.add_argument(
        "--memory-limit",
        default="",
        help="abkit's DuckDB memory limit (ABKIT_MEMORY_LIMIT; default: abkit's own, 2 GB)",
    )
    ap.add_argument(
        "--nightly",
        action="store_true",
        help="the nightly scenario only: full run vs refresh with one new day vs full-scan SQL",
    )
    ap.add_argument("--worker", choices=(*CONTENDERS, *NIGHTLY))
    ap.add_argument("--size")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.size)
        return
    if args.nightly:
        found = nightly(args.sizes, args.reps, args.memory_limit)
        path = args.out.with_name(args.out.stem + "_nightly.json")
        old = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**old, **found}, indent=1, sort_keys=True))
        old_scale = args.out.with_suffix(".json")
        write_table(json.loads(old_scale.read_text()) if old_scale.exists() else {}, args.out)
        print(args.out.read_text())
        return

    results: dict[str, dict[str, Any]] = {}
    for size in args.sizes:
        if not (DATA / size / "events.parquet").exists():
            sys.exit(f"no data for {size}: run benchmarks/generate_data.py --sizes {size}")
        info = (DATA / size / "README").read_text().strip()
        contenders = [c for c in CONTENDERS if c not in args.skip]
        runs: dict[str, list[tuple[float, dict[str, Any]]]] = {c: [] for c in contenders}
        for rep in range(args.reps):
            order = contenders if rep % 2 == 0 else contenders[::-1]
            for c in order:
                wall, out = run_once(c, size, args.memory_limit)
                runs[c].append((wall, out))
                print(
                    f"{size} rep {rep + 1} {c}: {wall:.2f} s, {out['maxrss_bytes'] / 1e9:.2f} GB",
                    flush=True,
                )
        ref = runs["sql"][0][1]["counts"] if "sql" in runs else None
        results[size] = {"info": info, "contenders": {}}
        for c, rs in runs.items():
            counts = rs[0][1]["counts"]
            same = None if ref is None else all(counts.get(k) == v for k, v in ref.items())
            results[size]["contenders"][c] = {
                "wall_s": statistics.median(w for w, _ in rs),
                "rss_gb": statistics.median(o["maxrss_bytes"] for _, o in rs) / 1e9,
                "same": same,
            }
    write_table(results, args.out)
    print(args.out.read_text())


def write_table(results: dict[str, dict[str, Any]], path: Path) -> None:
    old = (
        json.loads(path.with_suffix(".json").read_text())
        if path.with_suffix(".json").exists()
        else {}
    )
    for size, r in results.items():  # a run with --skip keeps the other contenders' last results
        prev = old.get(size, {}).get("contenders", {})
        old[size] = {"info": r["info"], "contenders": {**prev, **r["contenders"]}}
    path.with_suffix(".json").write_text(json.dumps(old, indent=1, sort_keys=True))
    lines = [
        "# Retention analysis at scale",
        "",
        "Generated by `benchmarks/bench_scale.py` (data: `benchmarks/generate_data.py`, seeded).",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}. Whole processes (imports included), median of "
        "the repetitions, alternating order; peak memory is the worker's maximum resident set.",
        "Work: D1/D7/D30 retention + D0-D30 curve + D1/D7/D30 by channel, z-tests, as_of = end "
        'of log. "same": every (variant, channel, day) count equals the SQL query\'s. abkit '
        "runs at its defaults (since 2026-12-01 a 2 GB DuckDB memory limit, spilling beyond it; "
        'earlier rows were measured with `ABKIT_MEMORY_LIMIT=2GB`, the same setting); "abkit, '
        "DuckDB's memory default\" with `ABKIT_MEMORY_LIMIT=duckdb` (80 % of RAM); the others "
        "with DuckDB defaults, except the SQL query's second column, which runs under abkit's "
        "2 GB limit. "
        '"abkit / fastest other" compares with the SQL query at DuckDB defaults and tea-tasting. '
        "The SQL and pandas contenders' z-tests import scipy.stats (about 1.4 s); abkit needs only "
        "scipy.special for the same tests.",
        "",
        "| units (events) | "
        + " | ".join(TITLES[c] for c in CONTENDERS)
        + " | abkit / fastest other | pandas / abkit |",
        "|---|" + "---|" * (len(CONTENDERS) + 2),
    ]
    order = sorted(old, key=lambda s: {"100k": 0, "1m": 1, "10m": 2}.get(s, 9))
    for size in order:
        r = old[size]
        ev = r["info"].split("events=")[1].split()[0]
        units = r["info"].split("units=")[1].split()[0]
        cells = []
        for c in CONTENDERS:
            x = r["contenders"].get(c)
            if x is None:
                cells.append("not run")
                continue
            same = "" if x["same"] is None else (" ✓" if x["same"] else " ✗ differs")
            cells.append(f"{x['wall_s']:.1f} s / {x['rss_gb']:.2f} GB{same}")
        # the target compares with the SQL query at DuckDB's defaults and tea-tasting
        others = [
            x["wall_s"]
            for c, x in r["contenders"].items()
            if c not in ("abkit", "abkit_duckdb_memory", "sql_limited")
        ]
        ratio = (
            f"{r['contenders']['abkit']['wall_s'] / min(others):.2f}"
            if others and "abkit" in r["contenders"]
            else ""
        )
        con = r["contenders"]
        speedup = (
            f"{con['pandas']['wall_s'] / con['abkit']['wall_s']:.1f}×"
            if "pandas" in con and "abkit" in con
            else ""
        )
        lines.append(
            f"| {int(units):,} ({int(ev) / 1e6:.1f}M) | "
            + " | ".join(cells)
            + f" | {ratio} | {speedup} |"
        )
    lines += nightly_table(path.with_name(path.stem + "_nightly.json"))
    # the report's and the small analyses' figures come from their own scripts: kept as written
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if KEPT in old:
        lines += ["", old[old.index(KEPT) :].rstrip("\n")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


#: the heading from which the results page is kept when it is rewritten
KEPT = "## The report and small analyses"


def nightly_table(path: Path) -> list[str]:
    """The nightly section of the results page (from ``results_scale_nightly.json``)."""
    if not path.exists():
        return []
    found = json.loads(path.read_text())
    lines = [
        "",
        "## Nightly refresh (issue 15)",
        "",
        "Command: `.venv/bin/python benchmarks/bench_scale.py --nightly --sizes 1m 10m --reps 2`. "
        "The logs split into one Parquet file per day (`data/<size>/daily/`, sorted by time); "
        "yesterday's refresh (`as_of` 2024-04-14, not timed) left a state, and today's job "
        "(`as_of` 2024-04-15) refreshes it: it reads the rows after the sealed watermark (the "
        "48 h restate buffer and the new day) and merges them. By default (`seal_every_hours` "
        "72) today's watermark does not move (it would move one day): the refresh only reads; "
        "every third day it seals, as the refresh with `seal_every_hours=0` does every day "
        "(it also settles the units whose windows closed). Each refresh starts from a fresh "
        "copy of yesterday's state. Same 34 metrics, segments and counts as above (✓: every count "
        "equals the SQL query's). Peak memory: GNU `/usr/bin/time` %M of the whole process. "
        "abkit runs at its defaults (2 GB memory limit). Ratios: against the default refresh; "
        "in brackets, against the refresh that seals.",
        "",
        "| units (events; after yesterday) | "
        + " | ".join(NIGHTLY_TITLES[c] for c in NIGHTLY)
        + " | full run / refresh | SQL / refresh | load (1, 5, 15 min) |",
        "|---|" + "---|" * (len(NIGHTLY) + 3),
    ]
    for size in sorted(found, key=lambda s: {"100k": 0, "1m": 1, "10m": 2}.get(s, 9)):
        r = found[size]
        c = r["contenders"]
        ev = int(r["info"].split("events=")[1].split()[0])
        units = int(r["info"].split("units=")[1].split()[0])
        cells = [
            f"{c[k]['wall_s']:.1f} s / {c[k]['rss_gb']:.2f} GB" + (" ✓" if c[k]["same"] else " ✗")
            if k in c
            else "not run"
            for k in NIGHTLY
        ]
        refresh = c["abkit_refresh"]["wall_s"]
        sealing = c.get("abkit_refresh_seal", {}).get("wall_s")
        load = ", ".join(f"{x:.1f}" for x in r["load"])

        def ratio(x: float, refresh: float = refresh, sealing: float | None = sealing) -> str:
            return f"{x / refresh:.1f}×" + (f" ({x / sealing:.1f}×)" if sealing else "")

        lines.append(
            f"| {units:,} ({ev / 1e6:.1f}M; {r['new_event_rows'] / 1e6:.2f}M) | "
            + " | ".join(cells)
            + f" | {ratio(c['abkit_full']['wall_s'])} | {ratio(c['sql_full']['wall_s'])} | {load} |"
        )
    return lines


if __name__ == "__main__":
    main()
