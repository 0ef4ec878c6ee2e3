"""Throughput of abkit.assign against the GrowthBook Python SDK's per-unit loop, on the same ids.

Run from the repository root::

    .venv/bin/python benchmarks/bench_assign.py               # 10M ids, writes results_assign.md
    .venv/bin/python benchmarks/bench_assign.py --n 1000000   # quicker

For each id family (36-character UUIDs; ``user_N`` ids of varying length) the script builds the
ids once as an Arrow string array and as Python strings, then times:

* the GrowthBook SDK loop: ``gbhash`` + ``chooseVariation`` per id (bucket ranges computed once),
  on the first ``--sdk-n`` ids (a full 10M loop takes minutes; the rate is per id either way);
* ``abkit.assign`` on a pandas Series of Python strings (object dtype), on a numpy object array,
  on the Arrow array (what Parquet gives) and on the Arrow array with a namespace and a holdout
  (three hashes per id).

Wall time is the best of ``--repeat`` runs; peak memory is the largest resident-set growth over
the process's size before the call, sampled every 2 ms by a background thread. Before timing, the
script checks that abkit and the SDK agree on every id of the SDK sample.
"""

from __future__ import annotations

import argparse
import gc
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
from growthbook.core import chooseVariation, gbhash, getBucketRanges

import abkit
from abkit.assign import assign

SPEC: dict[str, Any] = {
    "name": "onboarding-v2",
    "control": "control",
    "variants": {"control": 0.5, "treatment": 0.5},
    "hash_version": 2,
}
SPEC_FULL = {**SPEC, "namespace": ["growth", 0.0, 0.8], "holdout": 0.05}


def uuid_ids(n: int, rng: np.random.Generator) -> pa.Array:
    """``n`` random lower-case UUID strings (36 characters), built without a Python loop."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    hexchars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 15
    text = hexchars[nibbles]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for dst, src in ((0, 0), (9, 8), (14, 12), (19, 16), (24, 20)):
        width = {0: 8, 9: 4, 14: 4, 19: 4, 24: 12}[dst]
        out[:, dst : dst + width] = text[:, src : src + width]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.tobytes()))


def user_ids(n: int, rng: np.random.Generator) -> pa.Array:
    """``user_N`` ids with ``N`` of 1 to 10 digits (variable length, 6 to 15 characters)."""
    digits = rng.integers(1, 11, size=n)
    k = (rng.random(n) * 10.0**digits).astype(np.int64)
    return pa.compute.binary_join_element_wise("user_", pa.array(k).cast(pa.string()), "")


class PeakRSS:
    """Largest RSS growth (bytes) over the RSS at entry, sampled by a thread."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        gc.collect()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall time over ``repeat`` runs and the peak RSS growth (MB) of the first run."""
    best = float("inf")
    peak = 0.0
    for i in range(repeat):
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            result = fn()
            dt = time.perf_counter() - t0
        del result
        best = min(best, dt)
        if i == 0:
            peak = mem.growth_mb
    return best, peak


def sdk_loop(ids: list[str], spec: dict[str, Any]) -> list[int]:
    seed = spec["name"]
    ranges = getBucketRanges(len(spec["variants"]), 1, list(spec["variants"].values()))
    return [chooseVariation(gbhash(seed, u, 2), ranges) for u in ids]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000, help="ids per family (default 10M)")
    ap.add_argument("--sdk-n", type=int, default=300_000, help="ids timed in the SDK loop")
    ap.add_argument("--repeat", type=int, default=3, help="runs per case; the best time counts")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results_assign.md"))
    args = ap.parse_args()
    rng = np.random.default_rng(20240601)
    rows = []
    for family, make in (("uuid (36 chars)", uuid_ids), ("user_N (6-15 chars)", user_ids)):
        arrow = make(args.n, rng)
        objects = arrow.to_numpy(zero_copy_only=False)
        series = pd.Series(objects, dtype=object)
        sample = objects[: args.sdk_n].tolist()

        expected = sdk_loop(sample, SPEC)
        got = assign(arrow.slice(0, len(sample)), SPEC)["variant"].cat.codes.to_numpy()
        if not np.array_equal(np.asarray(expected), got):
            raise SystemExit(f"{family}: abkit and the GrowthBook SDK disagree")
        assign(arrow.slice(0, 1000), SPEC_FULL)  # warm the lookup tables

        sdk_t, sdk_mem = timed(lambda s=sample: sdk_loop(s, SPEC), 1)
        sdk_rate = len(sample) / sdk_t
        rows.append(
            (
                family,
                f"GrowthBook SDK loop ({len(sample):,} ids)",
                len(sample),
                sdk_t,
                sdk_rate,
                1.0,
                sdk_mem,
            )
        )
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("abkit, pandas Series (object)", lambda s=series: assign(s, SPEC)),
            ("abkit, numpy object array", lambda o=objects: assign(o, SPEC)),
            ("abkit, Arrow string array", lambda a=arrow: assign(a, SPEC)),
            ("abkit, Arrow + namespace + holdout", lambda a=arrow: assign(a, SPEC_FULL)),
        ]
        for label, fn in cases:
            t, mem = timed(fn, args.repeat)
            rate = args.n / t
            rows.append((family, label, args.n, t, rate, rate / sdk_rate, mem))
            print(
                f"{family:24} {label:38} {t:7.2f} s {rate / 1e6:6.2f} M ids/s "
                f"{rate / sdk_rate:6.1f}x  peak +{mem:,.0f} MB",
                flush=True,
            )
        print(f"{family:24} {'GrowthBook SDK loop':38} {sdk_rate / 1e3:7.0f} k ids/s", flush=True)
        del arrow, objects, series, sample
        gc.collect()

    cpu = platform.processor() or platform.machine()
    lines = [
        "# abkit.assign throughput",
        "",
        f"`{' '.join(['benchmarks/bench_assign.py', *[f'--n {args.n}']])}` on {cpu}, "
        f"{psutil.cpu_count(logical=True)} logical CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}, pyarrow {pa.__version__}, pandas {pd.__version__}, "
        f"abkit {abkit.__version__}; single-threaded. Best of {args.repeat} runs; peak memory is "
        "the resident-set growth during the call (input excluded).",
        "",
        "| ids | method | n | seconds | ids/s | × SDK | peak MB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for family, label, n, t, rate, speedup, mem in rows:
        lines.append(
            f"| {family} | {label} | {n:,} | {t:.2f} | {rate / 1e6:.2f} M | {speedup:.0f}× "
            f"| {mem:,.0f} |"
        )
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
