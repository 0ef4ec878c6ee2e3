"""Time the statistics layer: 10,000 two-arm comparisons, vectorized vs scalar vs statsmodels.

Run: ``.venv/bin/python benchmarks/bench_stats.py`` — writes ``benchmarks/results_stats.md``.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from statsmodels.stats.proportion import test_proportions_2indep

from abkit.stats import (
    compare_means,
    compare_means_many,
    compare_proportions,
    compare_proportions_many,
)

N = 10_000


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(1234)
    nc = rng.integers(1000, 100_000, size=N)
    nt = rng.integers(1000, 100_000, size=N)
    xc = rng.binomial(nc, 0.3)
    xt = rng.binomial(nt, 0.31)
    mc, mt = rng.normal(10, 1, size=N), rng.normal(10.1, 1, size=N)
    vc, vt = rng.gamma(4.0, 1.0, size=N), rng.gamma(4.0, 1.0, size=N)
    rows = [
        (
            "compare_proportions_many (10,000 at once)",
            best_of(lambda: compare_proportions_many(xc, nc, xt, nt)),
        ),
        (
            "compare_means_many (10,000 at once)",
            best_of(lambda: compare_means_many(mc, vc, nc, mt, vt, nt)),
        ),
        (
            "compare_proportions in a Python loop",
            best_of(
                lambda: [
                    compare_proportions(int(a), int(b), int(c), int(d))
                    for a, b, c, d in zip(xc, nc, xt, nt, strict=True)
                ],
                1,
            ),
        ),
        (
            "compare_means in a Python loop",
            best_of(
                lambda: [
                    compare_means(a, b, int(c), d, e, int(f))
                    for a, b, c, d, e, f in zip(mc, vc, nc, mt, vt, nt, strict=True)
                ],
                1,
            ),
        ),
        (
            "statsmodels test_proportions_2indep loop (reference)",
            best_of(
                lambda: [
                    test_proportions_2indep(
                        int(c), int(d), int(a), int(b), method="wald", correction=False
                    )
                    for a, b, c, d in zip(xc[:1000], nc[:1000], xt[:1000], nt[:1000], strict=True)
                ],
                1,
            )
            * 10,
        ),
    ]
    lines = [
        "# Statistics layer benchmark",
        "",
        f"{N:,} two-arm comparisons; best of 5 for the vectorized rows, one run for loops",
        "(the statsmodels row times 1,000 calls and scales by 10).",
        f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
        f"{platform.processor() or 'unknown CPU'}.",
        "",
        "| path | seconds | per comparison |",
        "|---|---:|---:|",
    ]
    for name, secs in rows:
        lines.append(f"| {name} | {secs:.4f} | {secs / N * 1e6:.2f} µs |")
    text = "\n".join(lines) + "\n"
    Path(__file__).with_name("results_stats.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
