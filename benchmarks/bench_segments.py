"""Time ``Experiment(segments=["seg"]).analyze(units=...)`` against the number of segment values.

200,000 units, two arms, a 0/1 metric and a numeric one, one segment column with 2,500 to 50,000
distinct values. The time is the whole analysis (query, comparisons per value, result); the query
part is nearly constant, so growth with the number of values is the per-value work in
``abkit.analysis.finish`` / ``compare``.

Run: ``.venv/bin/python benchmarks/bench_segments.py [--label after] [--values 2500,5000]`` —
prints a Markdown table and appends it to ``benchmarks/results_segments.md``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

import abkit as ab

N_UNITS = 200_000


def units(n_values: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "unit_id": np.arange(N_UNITS),
            "variant": rng.choice(["control", "treatment"], N_UNITS),
            "seg": (rng.integers(0, n_values, N_UNITS)).astype(str),
            "y": rng.binomial(1, 0.3, N_UNITS),
            "v": rng.exponential(2.0, N_UNITS),
        }
    )


def time_one(n_values: int, repeat: int) -> float:
    df = units(n_values)
    exp = ab.Experiment(metrics=[ab.Proportion("y"), ab.Mean("v")], segments=["seg"])
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        exp.analyze(units=df)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", default="")
    ap.add_argument("--values", default="2500,5000,10000,50000")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    rows = []
    for k in (int(x) for x in args.values.split(",")):
        t = time_one(k, args.repeat)
        rows.append(f"| {k:,} | {t:.2f} s |")
        print(rows[-1], flush=True)
    head = (
        f"\n## {args.label or 'run'} — {N_UNITS:,} units, Python {platform.python_version()}, "
        f"{platform.machine()}, best of {args.repeat}\n\n| segment values | analyze |\n|---|---|\n"
    )
    out = Path(__file__).with_name("results_segments.md")
    if not out.exists():
        out.write_text(
            "# Segments: analysis time against the number of segment values\n\n"
            "Written by `benchmarks/bench_segments.py`.\n",
            encoding="utf-8",
        )
    with out.open("a", encoding="utf-8") as f:
        f.write(head + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
