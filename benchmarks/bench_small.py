"""Small analyses, timed in one warm process: the per-call cost a notebook loop pays.

Run from the repository root::

    .venv/bin/python benchmarks/bench_small.py                      # this tree
    git worktree add --detach /tmp/small_before HEAD                # an older tree, to compare
    .venv/bin/python benchmarks/bench_small.py --before /tmp/small_before --rounds 3

Cases (each: ``--warmup`` untimed calls, then ``--runs`` timed calls; median and p90 of the
wall-clock milliseconds, and the median CPU milliseconds of the process, DuckDB's threads
included):

* ``units``: ``Experiment(metrics=[Proportion("retention_7"), Mean("sum_game_rounds")])
  .analyze(units=...)`` on 3,000 rows of the real Cookie Cats table (``/work/shared/data``,
  sampled with ``random_state=7``; a simulated per-unit table of the same shape when the file
  is absent), beside ``scipy.stats.ttest_ind(equal_var=False)`` on the same ``sum_game_rounds``;
* ``units, resampled``: the same analysis of a bootstrap resample drawn afresh for each call;
* ``logs``: D1/D7/D30 retention from ``simulate.retention_experiment(n_units=2000, seed=1)``;
* ``logs, new data``: the same metrics on a different simulation for each call (20 made
  beforehand): new ids, new ``as_of``.

Each tree is timed in its own worker process (``--worker``, with ``PYTHONPATH`` set to the
tree); with ``--before`` the two trees' workers alternate for ``--rounds`` rounds, so a busy
machine slows both alike. Every worker also prints a digest of its results (``to_pandas()``
and the data-quality counts and findings, computed with DuckDB on one thread, where its sums
are reproducible): the two trees' digests must be equal. Writes ``results_small.md``; with
``--profile`` also prints where the time of this tree goes (cProfile, top functions).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
COOKIE_CATS = REPO.parent / "shared" / "data" / "cookie_cats.csv"
CASES = ("units", "scipy welch", "units, resampled", "logs", "logs, new data")


# ------------------------------------------------------------------------------------ worker


def _units_table() -> Any:
    import numpy as np
    import pandas as pd

    if COOKIE_CATS.is_file():
        return pd.read_csv(COOKIE_CATS).sample(3_000, random_state=7).reset_index(drop=True)
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "userid": np.arange(3_000),
            "version": rng.choice(["gate_30", "gate_40"], 3_000),
            "sum_game_rounds": rng.negative_binomial(1, 0.02, 3_000),
            "retention_1": rng.random(3_000) < 0.45,
            "retention_7": rng.random(3_000) < 0.19,
        }
    )


def _setup() -> dict[str, Callable[[], Any]]:
    """The timed calls, by case (data made here, outside the timing)."""
    import numpy as np
    from scipy import stats

    import abkit as ab

    units = _units_table()
    unit_exp = ab.Experiment(
        metrics=[ab.Proportion("retention_7"), ab.Mean("sum_game_rounds")],
        control="gate_30",
        columns={"unit_id": "userid", "variant": "version"},
    )
    a = units.loc[units.version == "gate_30", "sum_game_rounds"].to_numpy()
    b = units.loc[units.version == "gate_40", "sum_game_rounds"].to_numpy()
    rng = np.random.default_rng(11)
    log_exp = ab.Experiment(metrics=[ab.Retention(day=d) for d in (1, 7, 30)], control="control")
    exposures, events = ab.simulate.retention_experiment(n_units=2_000, seed=1)
    others = [ab.simulate.retention_experiment(n_units=2_000, seed=100 + i) for i in range(20)]
    turn = iter(range(10**9))

    def resampled() -> Any:
        rows = rng.integers(0, len(units), len(units))
        sample = units.iloc[rows].assign(userid=np.arange(len(units)))  # one row per unit
        return unit_exp.analyze(units=sample)

    def new_logs() -> Any:
        sim = others[next(turn) % len(others)]
        return log_exp.analyze(exposures=sim.exposures, events=sim.events)

    return {
        "units": lambda: unit_exp.analyze(units=units),
        "scipy welch": lambda: stats.ttest_ind(a, b, equal_var=False),
        "units, resampled": resampled,
        "logs": lambda: log_exp.analyze(exposures=exposures, events=events),
        "logs, new data": new_logs,
        "_digest": lambda: [
            unit_exp.analyze(units=units),
            log_exp.analyze(exposures=exposures, events=events),
        ],
    }


def _digest(results: list[Any]) -> str:
    h = hashlib.sha256()
    for res in results:
        h.update(res.to_pandas().to_json(double_precision=15, orient="split").encode())
        h.update(repr(res.to_pandas().to_dict("list")).encode())  # floats named exactly
        h.update(json.dumps(res.data_quality.to_dict(), sort_keys=True).encode())
    return h.hexdigest()[:16]


def worker(warmup: int, runs: int, profile: bool) -> dict[str, Any]:
    calls = _setup()
    out: dict[str, Any] = {"cases": {}}
    for case in CASES:
        fn = calls[case]
        for _ in range(warmup):
            fn()
        wall, cpu = [], []
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        out["cases"][case] = {"wall": wall, "cpu": cpu}
        if profile and case != "scipy welch":
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(max(5, runs // 5)):
                fn()
            prof.disable()
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(30)
            out.setdefault("profiles", {})[case] = text.getvalue()
    from abkit import engine

    engine.configure(threads=1)  # reproducible sums for the digest
    out["digest"] = _digest(calls["_digest"]())
    return out


# ------------------------------------------------------------------------------------ driver


def _run_worker(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree), "CI": "1"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    cmd += ["--warmup", str(args.warmup), "--runs", str(args.runs)]
    if args.profile and tree == REPO:
        cmd.append("--profile")
    done = subprocess.run(cmd, env=env, cwd="/", capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"worker for {tree} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--before", type=Path, help="an older source tree to compare against")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per tree")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="print this tree's profile")
    parser.add_argument("--out", type=Path, default=HERE / "results_small.md")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.warmup, args.runs, args.profile)))
        return

    trees = {"after": REPO} if args.before is None else {"before": args.before, "after": REPO}
    runs: dict[str, dict[str, dict[str, list[float]]]] = {t: {} for t in trees}
    digests: dict[str, set[str]] = {t: set() for t in trees}
    loads = [_load()]
    for r in range(args.rounds):
        for name, tree in trees.items():
            got = _run_worker(tree, args)
            digests[name].add(got["digest"])
            for case, times in got["cases"].items():
                slot = runs[name].setdefault(case, {"wall": [], "cpu": []})
                slot["wall"] += times["wall"]
                slot["cpu"] += times["cpu"]
            for case, text in got.get("profiles", {}).items():
                if r == 0:
                    print(f"\n## profile: {case}\n{text}")
            print(f"round {r + 1}/{args.rounds} {name}: digest {got['digest']}", file=sys.stderr)
        loads.append(_load())

    same = len(set().union(*digests.values())) == 1
    import duckdb
    import ibis
    import pandas as pd

    lines = [
        "# Small analyses: per-call time in a warm process",
        "",
        f"Command: `{' '.join(['.venv/bin/python', 'benchmarks/bench_small.py', *sys.argv[1:]])}`",
        "",
        f"{dt.date.today().isoformat()}; Python {platform.python_version()}, pandas "
        f"{pd.__version__}, Ibis {ibis.__version__}, DuckDB {duckdb.__version__}; "
        f"{os.cpu_count()} CPUs ({_cpu_model()}), {platform.machine()}, {platform.system()}. "
        f"Load average (1/5/15 min) before and after each round: {'; '.join(loads)}.",
        "",
        f"{args.rounds} round(s) per tree, each a fresh process: {args.warmup} warm-up calls, "
        f"then {args.runs} timed calls per case; wall-clock milliseconds (median, p90 over all "
        "rounds) and the process's CPU milliseconds (median; DuckDB's threads included).",
        "",
    ]
    if args.before is not None:
        lines += [
            f"before: `{args.before}`; after: `{REPO}`. Results identical (digest of "
            f"`to_pandas()` and data quality, one DuckDB thread): "
            f"{'yes' if same else 'NO'} ({', '.join(sorted(set().union(*digests.values())))}).",
            "",
            "| case | before median | before p90 | after median | after p90 | speed-up "
            "| before CPU | after CPU |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for case in CASES:
            b, a = runs["before"][case], runs["after"][case]
            bm, am = statistics.median(b["wall"]), statistics.median(a["wall"])
            lines.append(
                f"| {case} | {bm:.1f} ms | {_p90(b['wall']):.1f} ms | {am:.1f} ms | "
                f"{_p90(a['wall']):.1f} ms | {bm / am:.1f}× | {statistics.median(b['cpu']):.1f} ms "
                f"| {statistics.median(a['cpu']):.1f} ms |"
            )
    else:
        lines += ["| case | median | p90 | CPU |", "|---|---:|---:|---:|"]
        for case in CASES:
            a = runs["after"][case]
            lines.append(
                f"| {case} | {statistics.median(a['wall']):.1f} ms | {_p90(a['wall']):.1f} ms "
                f"| {statistics.median(a['cpu']):.1f} ms |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if not same:
        print("the trees' results differ", file=sys.stderr)
    prior = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
    keep = prior.split("\n## Notes", 1)[1] if "\n## Notes" in prior else ""
    args.out.write_text(text + ("\n## Notes" + keep if keep else ""), encoding="utf-8")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
