"""Two source trees of abkit against each other on bench_scale.py's abkit worker (old vs new).

Run from the repository root (generate the data first, see ``generate_data.py``)::

    git worktree add /tmp/oldtree <commit>          # a checkout of the older commit
    .venv/bin/python benchmarks/bench_commits.py --old /tmp/oldtree --sizes 1m 10m --reps 6 3

The work is exactly bench_scale's ``abkit`` contender: one ``Experiment.analyze`` call (34
retention metrics, ``segments=["channel"]``) on ``benchmarks/data/<size>``, run as
``bench_scale.py --worker abkit`` in a fresh process (imports included) with the environment
bench_scale's driver gives it (``CI=1``, ``ABKIT_MEMORY_LIMIT`` = bench_scale's default
``--memory-limit``), under ``/usr/bin/time -f "%e %M"`` (wall seconds, peak RSS in KB). Only
``PYTHONPATH`` differs between the two trees; each tree's own ``benchmarks/bench_scale.py`` is
used when the two define the same abkit worker, otherwise the new tree's file is used for both.

Runs alternate old, new, old, new … (``--reps`` pairs per size, after ``--warmup`` untimed
pairs), so a busy machine slows both sides alike. Every run's output (counts and p-values) must
be identical between the trees. Writes ``results_commits.md`` and the raw runs as ``.json``.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "data"
TIME = "/usr/bin/time"
TIME_FORMAT = "%e %M"
# the parts of bench_scale.py that make up its abkit worker: if these are the same in both
# trees, each tree's own file runs its worker; otherwise one file runs both
WORKER_PARTS = ("_key", "run_abkit", "worker", "HEADLINE", "CURVE", "AS_OF", "DATA")
ORDER = {"100k": 0, "1m": 1, "10m": 2}
CONTENDED = 0.2
QUIET_SAMPLE_S = 3.0  # "calm": the CPUs were less than --quiet-below busy over this long


# ------------------------------------------------------------------------------ the two trees


def bench_scale_file(tree: Path) -> Path:
    return tree / "benchmarks" / "bench_scale.py"


def _top_level(path: Path) -> dict[str, str]:
    """Name → source dump of each top-level function and assignment of a Python file."""
    mod = ast.parse(path.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for node in mod.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = ast.dump(node, include_attributes=False)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = ast.dump(node.value, include_attributes=False)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            out[node.target.id] = ast.dump(node.value, include_attributes=False)
    return out


def default_memory_limit(path: Path) -> str | None:
    """The default of bench_scale's ``--memory-limit`` option (what its abkit contender gets)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
            and any(isinstance(a, ast.Constant) and a.value == "--memory-limit" for a in node.args)
        ):
            for kw in node.keywords:
                if kw.arg == "default" and isinstance(kw.value, ast.Constant):
                    return str(kw.value.value) if kw.value.value else None
    return None


def choose_bench_scale(old: Path, new: Path, mode: str) -> tuple[dict[str, Path], str]:
    """Which bench_scale.py runs each tree's worker, and why."""
    files = {"old": bench_scale_file(old), "new": bench_scale_file(new)}
    if mode == "new":
        return {"old": files["new"], "new": files["new"]}, "the new tree's file for both (forced)"
    if mode == "old":
        return {"old": files["old"], "new": files["old"]}, "the old tree's file for both (forced)"
    missing = [k for k, f in files.items() if not f.exists()]
    if missing:
        if mode == "each" or "new" in missing:
            sys.exit(f"no bench_scale.py in the {' and '.join(missing)} tree")
        return {"old": files["new"], "new": files["new"]}, (
            "the new tree's file for both (the old tree has no bench_scale.py)"
        )
    parts = {k: _top_level(f) for k, f in files.items()}
    differ = [p for p in WORKER_PARTS if parts["old"].get(p) != parts["new"].get(p)]
    identical = files["old"].read_bytes() == files["new"].read_bytes()
    if not differ:
        why = "each tree's own file (" + (
            "byte-for-byte identical)" if identical else "the abkit worker code is the same)"
        )
        return files, why
    if mode == "each":
        sys.exit(f"the trees' bench_scale.py differ in their abkit worker: {', '.join(differ)}")
    return {"old": files["new"], "new": files["new"]}, (
        f"the new tree's file for both (the worker differs between the trees: {', '.join(differ)})"
    )


def fingerprint(tree: Path, script: Path) -> str:
    """A hash of the tree's ``abkit`` sources and the bench_scale file that runs them."""
    h = hashlib.sha256()
    files = [*sorted((tree / "abkit").rglob("*.py")), script]
    for f in files:
        try:
            data = f.read_bytes()
        except OSError:  # a file removed while we look
            continue
        h.update(str(f.relative_to(tree) if f.is_relative_to(tree) else f).encode())
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()[:12]


def git_state(tree: Path) -> dict[str, Any]:
    """Commit and uncommitted changes of a tree (read-only git: no index refresh, no locks)."""

    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(tree), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip() if proc.returncode == 0 else ""

    dirty = [line for line in git("status", "--porcelain", "--", "abkit").splitlines() if line]
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "subject": git("log", "-1", "--format=%s")[:100],
        "dirty_abkit_files": dirty,
    }


def worker_env(tree: Path, memory_limit: str | None) -> dict[str, str]:
    """bench_scale's ``run_once`` environment, with ``PYTHONPATH`` pointing at the tree."""
    env = {**os.environ, "CI": "1", "PYTHONPATH": str(tree)}
    env.pop("ABKIT_MEMORY_LIMIT", None)
    if memory_limit:
        env["ABKIT_MEMORY_LIMIT"] = memory_limit
    return env


def check_import(tree: Path, script: Path, env: dict[str, str]) -> str:
    """The ``abkit`` the worker imports (same interpreter, environment and ``sys.path[0]``)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import abkit; print(abkit.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=script.parent,  # -c puts the working directory where the script's folder would be
        check=False,
    )
    path = Path(proc.stdout.strip()).resolve() if proc.returncode == 0 else None
    if path is None or not path.is_relative_to((tree / "abkit").resolve()):
        sys.exit(f"with PYTHONPATH={tree} abkit comes from {path or proc.stderr[-500:]}")
    return str(path)


# ------------------------------------------------------------------------------------- a run


def _busy_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, None where there is none."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def worker_command(script: Path, size_dir: Path) -> list[str]:
    """``/usr/bin/time -f … python bench_scale.py --worker abkit --size <absolute folder>``.

    bench_scale's worker reads ``DATA / size``; an absolute ``--size`` makes that the folder
    itself, so every tree's bench_scale.py reads the same files (this repo's ``data``).
    """
    worker = ["--worker", "abkit", "--size", str(size_dir)]
    return [TIME, "-f", TIME_FORMAT, sys.executable, str(script), *worker]


def busy_share(seconds: float = 1.0) -> float:
    """The share of all CPUs busy over the next ``seconds`` (0 where /proc/stat is missing)."""
    a = _busy_jiffies()
    time.sleep(seconds)
    b = _busy_jiffies()
    if a is None or b is None or b[1] == a[1]:
        return 0.0
    return (b[0] - a[0]) / (b[1] - a[1])


def wait_quiet(threshold: float, timeout: float) -> tuple[float, float]:
    """Wait (up to ``timeout`` s) until other processes use less than ``threshold`` of the CPUs.

    Returns (seconds waited, last busy share). The runs still alternate; this only keeps a run
    from starting in the middle of somebody else's test suite where that can be avoided.
    """
    t = time.perf_counter()
    share = busy_share(QUIET_SAMPLE_S)
    while share >= threshold and time.perf_counter() - t < timeout:
        share = busy_share(QUIET_SAMPLE_S)
    return time.perf_counter() - t, share


def run_once(label: str, tree: Path, script: Path, size_dir: Path, env: dict[str, str]) -> dict:
    """One fresh worker process under /usr/bin/time; its timings, memory and output."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        source = fingerprint(tree, script)  # what the worker is about to import
        cmd = worker_command(script, size_dir)
        cmd[1:1] = ["-o", tf.name]  # time's report to a file: the worker's stderr stays its own
        load = os.getloadavg()[0]
        cpu0, ru0 = _busy_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
        started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, check=False)
        wall_parent = time.perf_counter() - t
        cpu1, ru1 = _busy_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
        timed = tf.read().strip().splitlines()
    run: dict[str, Any] = {
        "tree": label,
        "started": started,
        "returncode": proc.returncode,
        "wall_parent_s": round(wall_parent, 3),
        "load1_before": round(load, 2),
        "fingerprint": source,
    }
    # CPU the worker used, and CPU anything else on the machine used during its run
    own = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    run["worker_cpu_s"] = round(own, 2)
    if cpu0 and cpu1:
        busy = (cpu1[0] - cpu0[0]) / os.sysconf("SC_CLK_TCK")
        run["others_cpu_s"] = round(max(busy - own, 0.0), 2)
        run["others_share"] = round(run["others_cpu_s"] / (wall_parent * (os.cpu_count() or 1)), 3)
    if proc.returncode != 0 or not timed:
        run["stderr"] = proc.stderr[-3000:]
        return run
    wall, maxrss_kb = timed[-1].split()
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    run.update(
        wall_s=float(wall),
        maxrss_kb=int(maxrss_kb),
        worker_maxrss_bytes=out.pop("maxrss_bytes", None),
        output=out,
    )
    return run


def timed_run(
    label: str, tree: Path, script: Path, size_dir: Path, env: dict[str, str], quiet: tuple
) -> dict:
    """A run, tried a second time if it fails (the new tree may be mid-edit); both recorded."""
    waited, share = wait_quiet(*quiet) if quiet[1] > 0 else (0.0, busy_share())
    run = run_once(label, tree, script, size_dir, env)
    run["waited_for_quiet_s"], run["busy_share_before"] = round(waited, 1), round(share, 3)
    if "wall_s" in run:
        return run
    print(f"  {label} failed (rc {run['returncode']}), retrying:\n{run['stderr'][-800:]}")
    waited, share = wait_quiet(*quiet) if quiet[1] > 0 else (0.0, busy_share())
    again = run_once(label, tree, script, size_dir, env)
    again["waited_for_quiet_s"], again["busy_share_before"] = round(waited, 1), round(share, 3)
    again["failed_before"] = run
    if "wall_s" not in again:
        sys.exit(f"{label} failed twice on {size_dir}:\n{again['stderr']}")
    return again


# ------------------------------------------------------------------------------- comparison


def _canon(output: dict[str, Any]) -> str:
    return json.dumps(output, sort_keys=True)


def compare_outputs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether every run of both trees printed the same counts and p-values, and if not, how."""
    distinct = {
        label: {_canon(r["output"]) for r in runs if r["tree"] == label} for label in ("old", "new")
    }
    identical = len(distinct["old"] | distinct["new"]) == 1
    res: dict[str, Any] = {
        "identical": identical,
        "distinct_outputs": {k: len(v) for k, v in distinct.items()},
    }
    if identical:
        res["n_counts"] = len(runs[0]["output"]["counts"])
        res["n_pvalues"] = len(runs[0]["output"]["pvalues"])
        return res
    old = next(r["output"] for r in runs if r["tree"] == "old")
    new = next(r["output"] for r in runs if r["tree"] == "new")
    keys = set(old["counts"]) | set(new["counts"])
    res["counts_differ"] = sorted(k for k in keys if old["counts"].get(k) != new["counts"].get(k))
    pkeys = set(old["pvalues"]) | set(new["pvalues"])
    res["pvalue_keys_differ"] = sorted(pkeys ^ (set(old["pvalues"]) & set(new["pvalues"])))
    diffs = [
        abs(old["pvalues"][k] - new["pvalues"][k])
        for k in set(old["pvalues"]) & set(new["pvalues"])
        if old["pvalues"][k] is not None and new["pvalues"][k] is not None
    ]
    res["max_abs_pvalue_diff"] = max(diffs, default=0.0)
    return res


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    timed = [r for r in runs if not r.get("warmup")]
    s: dict[str, Any] = {}
    for label in ("old", "new"):
        rs = [r for r in timed if r["tree"] == label]
        walls = [r["wall_s"] for r in rs]
        s[label] = {
            "median_s": statistics.median(walls),
            "min_s": min(walls),
            "max_s": max(walls),
            "median_rss_gb": statistics.median(r["maxrss_kb"] for r in rs) * 1024 / 1e9,
            # user + system CPU of the worker: less sensitive to a busy machine than wall time
            "median_cpu_s": statistics.median(r["worker_cpu_s"] for r in rs),
            "fingerprints": sorted({r["fingerprint"] for r in rs}),
        }
    s["ratio"] = s["new"]["median_s"] / s["old"]["median_s"]
    s["cpu_ratio"] = s["new"]["median_cpu_s"] / s["old"]["median_cpu_s"]
    olds = [r["wall_s"] for r in timed if r["tree"] == "old"]
    news = [r["wall_s"] for r in timed if r["tree"] == "new"]
    pair = [n / o for o, n in zip(olds, news, strict=True)]
    s["pair_ratios"] = [round(p, 3) for p in pair]
    s["pairs"] = len(pair)
    # a pair is "contended" if other processes took more than CONTENDED of the CPUs in either run
    quiet = [
        (o, n)
        for o, n in zip(
            [r for r in timed if r["tree"] == "old"],
            [r for r in timed if r["tree"] == "new"],
            strict=True,
        )
        if max(o.get("others_share", 0), n.get("others_share", 0)) <= CONTENDED
    ]
    s["quiet_pairs"] = len(quiet)
    if quiet:
        qo = statistics.median(o["wall_s"] for o, _ in quiet)
        qn = statistics.median(n["wall_s"] for _, n in quiet)
        s["quiet"] = {"old_median_s": qo, "new_median_s": qn, "ratio": qn / qo}
    shares = [r["others_share"] for r in timed if "others_share" in r]
    s["others_share_median"] = statistics.median(shares) if shares else None
    s["others_share_max"] = max(shares) if shares else None
    s["identity"] = compare_outputs(runs)
    return s


# ------------------------------------------------------------------------------------ output


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = 0.0
    return (
        f"{os.cpu_count()} cores {model}".strip()
        + f", {mem:.0f} GiB, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def _git_words(tree: dict[str, Any]) -> str:
    """'at abc1234 (clean)', or the commits before and after the size's runs if they differ."""

    def one(g: dict[str, Any]) -> str:
        if not g["commit"]:
            return "(not a git checkout)"
        dirty = g["dirty_abkit_files"]
        changes = f"uncommitted changes in {len(dirty)} abkit file(s)" if dirty else "clean"
        return f"`{g['commit']}` ({changes})"

    start = tree.get("git_start")
    if start is None:  # runs recorded before the start was: the state when the size finished
        return f"at {one(tree['git'])} when the size finished"
    if start == tree["git"]:
        return f"at {one(start)}"
    return f"at {one(start)} when the size started, {one(tree['git'])} when it finished"


def write_results(results: dict[str, Any], path: Path) -> None:
    """Raw runs to ``path.json`` (sizes of earlier runs kept), the table to ``path``."""
    jpath = path.with_suffix(".json")
    old = json.loads(jpath.read_text()) if jpath.exists() else {}
    merged = {**old.get("sizes", {}), **results["sizes"]}
    doc = {**results, "sizes": merged}
    jpath.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    lines = [
        "# abkit: old tree against new tree",
        "",
        "Generated by `benchmarks/bench_commits.py` (data: `benchmarks/generate_data.py`, seeded; "
        "raw runs in `results_commits.json`).",
        "Work: bench_scale.py's `abkit` contender (`Experiment.analyze`, 34 retention metrics, "
        "`segments=['channel']`), each run a fresh process under "
        f'`/usr/bin/time -f "{TIME_FORMAT}"` (wall time, peak RSS), runs alternating old, new, '
        "old, new …; only `PYTHONPATH` differs. Ratio: median new / median old (< 1: new is "
        'faster); "per pair": new / old of the runs next to each other. "identical": every '
        "run of both trees printed the same counts and p-values (exact JSON equality).",
        "",
        "| size (units / events) | old median s | new median s | ratio new/old | per pair "
        "new/old (median, min-max) | old min-max s | new min-max s | old peak RSS median | new "
        "peak RSS median | identical results | pairs | date | machine |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sorted(merged, key=lambda s: ORDER.get(s, 9)):
        r = merged[size]
        s = r["summary"]
        o, n, pr = s["old"], s["new"], s["pair_ratios"]
        ident = s["identity"]
        same = "yes" if ident["identical"] else "**no**"
        lines.append(
            f"| {size} ({r['info']}) | {o['median_s']:.2f} | {n['median_s']:.2f} | "
            f"{s['ratio']:.3f} | {statistics.median(pr):.3f} ({min(pr):.3f}-{max(pr):.3f}) | "
            f"{o['min_s']:.2f}-{o['max_s']:.2f} | {n['min_s']:.2f}-{n['max_s']:.2f} | "
            f"{o['median_rss_gb']:.2f} GB | {n['median_rss_gb']:.2f} GB | {same} | "
            f"{s['pairs']} | {r['date']} | {r['machine']} |"
        )
    lines += ["", "## Setup", ""]
    for size in sorted(merged, key=lambda s: ORDER.get(s, 9)):
        r = merged[size]
        s = r["summary"]
        lines.append(f"**{size}** ({r['date']}):")
        for label in ("old", "new"):
            t = r["trees"][label]
            lines.append(
                f"- {label}: `{t['path']}`, git {_git_words(t)}, worker `{t['bench_scale']}`, "
                f"abkit from `{t['abkit_file']}`, source "
                f"fingerprint(s) during the runs: {', '.join(s[label]['fingerprints'])}"
            )
        ident = s["identity"]
        detail = (
            f"{ident['n_counts']} counts and {ident['n_pvalues']} p-values, the same in every run"
            if ident["identical"]
            else f"differences: {json.dumps({k: v for k, v in ident.items() if k != 'identical'})}"
        )
        lines += [
            f"- bench_scale.py: {r['bench_scale_choice']}",
            f"- environment: `CI=1`, `ABKIT_MEMORY_LIMIT={r['memory_limit']}` (bench_scale's default "
            f"`--memory-limit`), {r['warmup']} untimed warm-up pair(s) first",
            f"- results: {detail}",
            f"- other processes' share of the CPUs during the timed runs: median "
            f"{s['others_share_median']:.0%}, max {s['others_share_max']:.0%}; load average "
            f"{r['load_before']} before, {r['load_after']} after",
            f"- per-pair ratios: {', '.join(f'{p:.3f}' for p in s['pair_ratios'])}",
            f"- worker CPU time (user + system), median: old {s['old']['median_cpu_s']:.2f} s, new "
            f"{s['new']['median_cpu_s']:.2f} s, ratio {s['cpu_ratio']:.3f}",
            f"- pairs in which other processes took at most {CONTENDED:.0%} of the CPUs in both "
            f"runs: {s['quiet_pairs']} of {s['pairs']}"
            + (
                f"; their medians: old {s['quiet']['old_median_s']:.2f} s, new "
                f"{s['quiet']['new_median_s']:.2f} s, ratio {s['quiet']['ratio']:.3f}"
                if s.get("quiet")
                else ""
            ),
            f"- waiting for a calm machine before each run: up to {r['quiet_wait']:.0f} s "
            f"(CPUs < {r['quiet_below']:.0%} busy over {QUIET_SAMPLE_S:.0f} s)"
            if r.get("quiet_wait")
            else "- no waiting for a calm machine before the runs",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


# -------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", type=Path, help="the older source tree (required unless --rerender)")
    ap.add_argument("--new", type=Path, default=REPO, help="the newer tree (default: this repo)")
    ap.add_argument("--sizes", nargs="+", default=["1m"])
    ap.add_argument(
        "--reps", type=int, nargs="+", default=[3], help="pairs: one number, or one per size"
    )
    ap.add_argument("--warmup", type=int, default=1, help="untimed pairs before the timed ones")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of the generated sizes")
    ap.add_argument(
        "--bench-scale",
        choices=("auto", "each", "new", "old"),
        default="auto",
        help="auto: each tree's own bench_scale.py if their abkit worker is the same, else new's",
    )
    ap.add_argument(
        "--memory-limit", help="ABKIT_MEMORY_LIMIT (default: bench_scale's --memory-limit default)"
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each run wait up to this many seconds for the other processes to calm down",
    )
    ap.add_argument(
        "--quiet-below",
        type=float,
        default=0.15,
        help=f"'calm': the CPUs are less than this share busy ({QUIET_SAMPLE_S:.0f} s sample)",
    )
    ap.add_argument("--out", type=Path, default=HERE / "results_commits.md")
    ap.add_argument(
        "--rerender",
        action="store_true",
        help="no runs: recompute the summaries from the runs in the .json and rewrite both files",
    )
    args = ap.parse_args()
    if args.rerender:
        jpath = args.out.with_suffix(".json")
        doc = json.loads(jpath.read_text())
        for r in doc["sizes"].values():
            r["summary"] = summarise(r["runs"])
        write_results(doc, args.out)
        print(args.out.read_text())
        return

    if args.old is None:
        sys.exit("--old is required")
    if not Path(TIME).exists():
        sys.exit(f"{TIME} is missing: apt-get install -y time")
    if len(args.reps) not in (1, len(args.sizes)):
        sys.exit("--reps: one number, or one per size")
    reps = dict(
        zip(
            args.sizes,
            args.reps * len(args.sizes) if len(args.reps) == 1 else args.reps,
            strict=True,
        )
    )
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    scripts, choice = choose_bench_scale(trees["old"], trees["new"], args.bench_scale)
    limits = {k: default_memory_limit(f) for k, f in scripts.items()}
    if args.memory_limit is None and limits["old"] != limits["new"]:
        sys.exit(f"the bench_scale files' default memory limits differ: {limits}")
    memory_limit = args.memory_limit if args.memory_limit is not None else limits["new"]
    envs = {k: worker_env(t, memory_limit) for k, t in trees.items()}
    imports = {k: check_import(trees[k], scripts[k], envs[k]) for k in trees}
    print(f"bench_scale.py: {choice}; ABKIT_MEMORY_LIMIT={memory_limit}")
    for k in trees:
        print(f"  {k}: {trees[k]} (abkit from {imports[k]}, worker {scripts[k]})")

    results: dict[str, Any] = {"sizes": {}}
    for size in args.sizes:
        size_dir = (args.data / size).resolve()
        if not (size_dir / "events.parquet").exists():
            sys.exit(f"no data for {size}: run benchmarks/generate_data.py --sizes {size}")
        info = dict(kv.split("=", 1) for kv in (size_dir / "README").read_text().split())
        runs: list[dict[str, Any]] = []
        load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        git_start = {k: git_state(t) for k, t in trees.items()}
        for i in range(args.warmup + reps[size]):
            warm = i < args.warmup
            for label in ("old", "new"):
                quiet = (args.quiet_below, args.quiet_wait)
                run = timed_run(label, trees[label], scripts[label], size_dir, envs[label], quiet)
                run["pair"] = i - args.warmup + 1
                run["warmup"] = warm
                runs.append(run)
                tag = "warm-up" if warm else f"pair {run['pair']}/{reps[size]}"
                print(
                    f"{size} {tag} {label}: {run['wall_s']:.2f} s, "
                    f"{run['maxrss_kb'] / 1e6:.2f} GB (load {run['load1_before']}, "
                    f"waited {run['waited_for_quiet_s']} s, "
                    f"others {run.get('others_share', 0):.0%})",
                    flush=True,
                )
        results["sizes"][size] = {
            "info": f"{int(info['units']):,} / {int(info['events']) / 1e6:.1f}M",
            "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "machine": machine(),
            "memory_limit": memory_limit,
            "warmup": args.warmup,
            "quiet_wait": args.quiet_wait,
            "quiet_below": args.quiet_below,
            "bench_scale_choice": choice,
            "load_before": load_before,
            "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "trees": {
                k: {
                    "path": str(trees[k]),
                    "git_start": git_start[k],
                    "git": git_state(trees[k]),
                    "bench_scale": str(scripts[k]),
                    "abkit_file": imports[k],
                    "command": worker_command(scripts[k], size_dir),
                    "env": {
                        "PYTHONPATH": str(trees[k]),
                        "CI": "1",
                        "ABKIT_MEMORY_LIMIT": memory_limit,
                    },
                }
                for k in trees
            },
            "summary": summarise(runs),
            "runs": runs,
        }
        write_results(results, args.out)  # after each size, so a later failure keeps it
        s = results["sizes"][size]["summary"]
        print(
            f"{size}: old {s['old']['median_s']:.2f} s, new {s['new']['median_s']:.2f} s, "
            f"ratio {s['ratio']:.3f}, identical {s['identity']['identical']}"
        )
    print(args.out.read_text())


if __name__ == "__main__":
    main()
