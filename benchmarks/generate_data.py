"""Seeded generator of large exposure / event Parquet files for the scale benchmark.

Run from the repository root::

    .venv/bin/python benchmarks/generate_data.py --sizes 100k 1m      # ~1 min
    .venv/bin/python benchmarks/generate_data.py --sizes 10m          # ~105M events, ~1.5 GB

Writes ``benchmarks/data/<size>/exposures.parquet`` and ``events.parquet`` (gitignored). Equal
arguments give byte-for-byte equal data: units are generated in fixed blocks, each from its own
seed ``(seed, block)``, so a size's data does not depend on the machine or on the block order.

The model (a mid-size app, a fortnight of enrolment, a 45-day log):

* units are enrolled uniformly over 14 days from 2024-03-01 UTC; 50/50 control/treatment; a
  ``channel`` (organic / paid_search / social / referral) with a retention multiplier each;
* 5% of units are logged with a repeated exposure (same variant, later) and 0.1% with a second,
  conflicting variant (abkit excludes those units; the hand-written contenders do too);
* day 0 is always active; day ``k >= 1`` is active with probability
  ``0.4 · k^-0.35 · channel_mult · z · (1.03 for treatment)``, ``z ~ 2·Beta(2, 2)`` per unit;
  a unit may also be active on days -2 and -1 (before exposure: those events must not count);
* an active day has ``1 + Poisson(0.35)`` events at uniform times in its 24 hours; no event is
  logged after the end of the log (2024-04-15 UTC), so every unit is mature for day 30;
* 2% of the events' unit ids were never exposed (another experiment's users).

About 10.5 events per unit: 1M units give ~10.5M events.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SIZES = {"100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
DATA = Path(__file__).resolve().parent / "data"
START_US = 1_709_251_200_000_000  # 2024-03-01T00:00:00Z in microseconds
DAY_US = 86_400_000_000
ENROL_DAYS = 14
LOG_DAYS = 45
AS_OF = "2024-04-15T00:00:00Z"  # START + LOG_DAYS: the end of the log
BLOCK = 250_000
CHANNELS = np.array(["organic", "paid_search", "social", "referral"])
CH_SHARE = np.array([0.40, 0.30, 0.20, 0.10])
CH_MULT = np.array([1.15, 1.00, 0.80, 1.10])
TS = pa.timestamp("us", tz="UTC")


def _block(seed: int, b: int, n: int, first_id: int) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng([seed, b])
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    treat = rng.random(n) < 0.5
    ch = rng.choice(4, size=n, p=CH_SHARE)
    t0 = START_US + rng.integers(0, ENROL_DAYS * DAY_US, size=n)
    z = 2.0 * rng.beta(2.0, 2.0, size=n)

    days = np.arange(-2, LOG_DAYS)
    k = np.maximum(days, 1).astype(float)
    p = 0.4 * k[None, :] ** -0.35 * (CH_MULT[ch] * z * np.where(treat, 1.03, 1.0))[:, None]
    p[:, days < 0] *= 0.5
    active = rng.random(p.shape) < p
    active[:, days == 0] = True
    unit_of, day_pos = np.nonzero(active)
    n_ev = 1 + rng.poisson(0.35, size=unit_of.size)
    ev_unit = np.repeat(unit_of, n_ev)
    ev_ts = (
        t0[ev_unit]
        + days[np.repeat(day_pos, n_ev)] * DAY_US
        + rng.integers(0, DAY_US, size=ev_unit.size)
    )
    end = START_US + LOG_DAYS * DAY_US
    keep = ev_ts < end
    ev_ids, ev_ts = ids[ev_unit[keep]], ev_ts[keep]
    # events of units outside the experiment
    stray = rng.random(ev_ids.size) < 0.02
    ev_ids = np.where(stray, -ev_ids, ev_ids)
    order = np.argsort(ev_ts, kind="stable")  # logs arrive in time order
    events = pa.table({"unit_id": pa.array(ev_ids[order]), "ts": pa.array(ev_ts[order], type=TS)})

    variant = np.where(treat, "treatment", "control")
    rep = rng.random(n) < 0.05
    conflict = rng.random(n) < 0.001
    extra = np.flatnonzero(rep | conflict)
    x_ids = np.concatenate([ids, ids[extra]])
    x_var = np.concatenate(
        [
            variant,
            np.where(
                conflict[extra], np.where(treat[extra], "control", "treatment"), variant[extra]
            ),
        ]
    )
    x_t = np.concatenate([t0, t0[extra] + rng.integers(1, 3 * DAY_US, size=extra.size)])
    x_ch = np.concatenate([ch, ch[extra]])
    exposures = pa.table(
        {
            "unit_id": pa.array(x_ids),
            "variant": pa.array(x_var),
            "exposed_at": pa.array(x_t, type=TS),
            "channel": pa.array(CHANNELS[x_ch]),
        }
    )
    return exposures, events


def generate(size: str, seed: int = 20240301, out: Path = DATA) -> Path:
    """Write ``out/<size>/{exposures,events}.parquet``; returns the folder."""
    n_units = SIZES[size]
    folder = out / size
    folder.mkdir(parents=True, exist_ok=True)
    tmp_x, tmp_e = folder / "exposures.parquet.tmp", folder / "events.parquet.tmp"
    wx = we = None
    n_events = 0
    try:
        for b, first in enumerate(range(0, n_units, BLOCK)):
            n = min(BLOCK, n_units - first)
            x, e = _block(seed, b, n, first + 1)
            if wx is None:
                wx = pq.ParquetWriter(tmp_x, x.schema)
                we = pq.ParquetWriter(tmp_e, e.schema)
            assert we is not None
            wx.write_table(x)
            we.write_table(e, row_group_size=1 << 20)
            n_events += e.num_rows
    finally:
        if wx is not None:
            wx.close()
        if we is not None:
            we.close()
    tmp_x.replace(folder / "exposures.parquet")
    tmp_e.replace(folder / "events.parquet")
    (folder / "README").write_text(
        f"units={n_units} events={n_events} seed={seed} as_of={AS_OF}\n", encoding="utf-8"
    )
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["100k", "1m"], choices=list(SIZES))
    ap.add_argument("--seed", type=int, default=20240301)
    ap.add_argument("--out", type=Path, default=DATA)
    args = ap.parse_args()
    for size in args.sizes:
        t = time.perf_counter()
        folder = generate(size, args.seed, args.out)
        info = (folder / "README").read_text().strip()
        print(f"{size}: {info} in {time.perf_counter() - t:.1f} s -> {folder}")


if __name__ == "__main__":
    main()
