"""What a nightly report costs: ``abkit report`` against ``abkit analyze`` on the same data.

Run from the repository root after generating the data (``generate_data.py``)::

    .venv/bin/python benchmarks/bench_report.py --size 1m --reps 2 [--old /tmp/oldtree]

Each run is a fresh process of the ``abkit`` command (imports, kernel start, notebook, HTML
included) under ``/usr/bin/time -f "%e %M"`` (wall seconds, peak RSS in KB of the largest
process — for ``report`` that is the notebook's kernel, which does the analysis). The spec is
the report a team would run: D1/D7/D30 by channel with the default report sections (curve
D0..D30, cohorts D1/D7/D14/D30, time to churn, sequential monitoring). ``tiny`` is the same
report on 2,000 simulated units: the notebook's fixed overhead. With ``--old`` the same
commands run from another source tree (``PYTHONPATH``), alternating old/new so a busy machine
slows both alike.

The issue's target: a report costs at most 1.3 × the analysis plus the fixed overhead, i.e.
``(report - tiny report) / analyze <= 1.3``. Writes ``results_report.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "data"
AS_OF = "2024-04-15T00:00:00Z"
SPEC = """name: bench-report
control: control
variants: [control, treatment]
segments: [channel]
primary_metric: retention_d7
metrics:
  - retention: {day: 1}
  - retention: {day: 7}
  - retention: {day: 30}
"""


def _run(cmd: list[str], tree: Path | None) -> tuple[float, int]:
    env = {**os.environ, "CI": "1"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    with tempfile.NamedTemporaryFile(suffix=".time") as t:
        full = ["/usr/bin/time", "-f", "%e %M", "-o", t.name, *cmd]
        # from a neutral folder: `python -m` puts the working directory first on sys.path, which
        # would import the checkout the command is started from instead of PYTHONPATH's tree
        done = subprocess.run(
            full, env=env, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir()
        )
        if done.returncode not in (0, 4):
            raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        wall, rss = Path(t.name).read_text().split()[-2:]
    return float(wall), int(rss)


def _commands(work: Path, data: Path, as_of: str | None) -> dict[str, list[str]]:
    spec = work / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    files = [
        "--exposures",
        str(data / "exposures.parquet"),
        "--events",
        str(data / "events.parquet"),
    ]
    files += ["--as-of", as_of] if as_of else []
    exe = [sys.executable, "-m", "abkit.cli"]
    return {
        "analyze": [*exe, "analyze", str(spec), *files, "--format", "json", "--json",
                    str(work / "summary.json")],
        "report": [*exe, "report", str(spec), *files, "--out", str(work / "report"), "--force"],
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1m", help="folder under benchmarks/data")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--old", type=Path, default=None, help="another source tree to compare")
    ap.add_argument("--new", type=Path, default=REPO, help="the tree measured (default: this one)")
    args = ap.parse_args()
    trees: dict[str, Path | None] = {"new": args.new}
    if args.old is not None:
        trees = {"old": args.old, "new": args.new}
    rows: dict[str, dict[str, list[tuple[float, int]]]] = {t: {} for t in trees}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tiny = work / "tiny"
        subprocess.run(
            [sys.executable, "-m", "abkit.cli", "simulate", "--out", str(tiny), "--n-units", "2000",
             "--seed", "1"], check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        jobs = _commands(work, DATA / args.size, AS_OF)
        (work / "t").mkdir()
        jobs["tiny report"] = _commands(work / "t", tiny, None)["report"]
        for _ in range(args.reps):
            for name, cmd in jobs.items():
                for tree_name, tree in trees.items():
                    rows[tree_name].setdefault(name, []).append(_run(cmd, tree))
                    print(tree_name, name, rows[tree_name][name][-1], flush=True)
    load_after = os.getloadavg()
    med = {
        t: {n: (statistics.median(w for w, _ in r), max(m for _, m in r)) for n, r in by.items()}
        for t, by in rows.items()
    }
    lines = [
        f"# abkit report vs abkit analyze ({args.size} units)",
        "",
        f"`{' '.join(['benchmarks/bench_report.py', *sys.argv[1:]])}` on {platform.node()} "
        f"({os.cpu_count()} CPUs), Python {platform.python_version()}; medians of {args.reps} "
        "fresh processes, peak RSS the largest of them. Load average (1, 5, 15 min) "
        f"{' / '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' / '.join(f'{x:.2f}' for x in load_after)} after.",
        "",
        "| tree | analyze s | report s | tiny report s | (report − tiny) / analyze | "
        "analyze peak MB | report peak MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for t, m in med.items():
        ratio = (m["report"][0] - m["tiny report"][0]) / m["analyze"][0]
        lines.append(
            f"| {t} | {m['analyze'][0]:.1f} | {m['report'][0]:.1f} | {m['tiny report'][0]:.1f} | "
            f"{ratio:.2f} | {m['analyze'][1] / 1024:.0f} | {m['report'][1] / 1024:.0f} |"
        )
    (HERE / "results_report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (HERE / "results_report.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
