"""Coverage of the relative-lift intervals (delta, Fieller, log-ratio, and threshold rules).

Measures how often the 95 % interval for ``treatment / control - 1`` contains the true relative
lift, for every method of :func:`abkit.stats.relative_lift`, over a grid of control rates (1, 2,
5, 20, 40 %), units per arm (100, 300, 1,000, 10,000) and true lifts (0 and +20 %):

* **proportions** — ``X ~ Binomial(n, p)`` per arm, intervals from
  :func:`abkit.stats.compare_proportions_many` (the same code the scalar functions run). Coverage
  is measured twice: by seeded simulation (``--sims`` experiments per cell, default 20,000; Monte
  Carlo standard error ≈ 0.0015) and *exactly*, by summing ``P(x_c) P(x_t)`` over every pair of
  counts within 10 standard deviations of the mean (no simulation error at all);
* **means** — a zero-inflated revenue metric: each unit converts with probability ``p`` (the
  grid's "control rate") and then spends ``LogNormal(0, 1)``; the treatment lifts the conversion
  rate. Per-arm means and sample variances come from the simulated units, intervals from
  :func:`abkit.stats.compare_means_many`.

Coverage is conditional on the relative lift being defined (control mean > 0); the share of
experiments where it is not is reported. "switch@X" is the rule "Fieller when an arm has fewer
than X effective events ``m²/Var(m)``, delta otherwise" (for a proportion ``m²/Var(m) =
x/(1-p)``, about the number of events).

Run: ``.venv/bin/python benchmarks/rel_ci_coverage.py`` (about a minute on 2 cores); it writes
``benchmarks/results_rel_ci.md``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from abkit.stats import compare_means_many, compare_proportions_many

RATES = (0.01, 0.02, 0.05, 0.2, 0.4)
SIZES = (100, 300, 1000, 10_000)
LIFTS = (0.0, 0.2)
METHODS = ("delta", "fieller", "log")
SWITCHES = (10, 30, 100)
SEED = 20_261_216
OUT = Path(__file__).with_name("results_rel_ci.md")

Bounds = dict[str, tuple[Any, Any]]


def _effective(m: Any, v: Any) -> Any:
    """``m²/v``, the squared z-score of an arm mean: 0 for a zero mean, inf for a zero variance."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m == 0, 0.0, np.where(v > 0, m * m / v, np.inf))


def _intervals(compare: Callable[..., Any], *args: Any) -> tuple[Bounds, Any]:
    """Bounds per method and per switch rule, plus the effective events of the weaker arm."""
    out: Bounds = {}
    for m in METHODS:
        r = compare(*args, rel_method=m)
        out[m] = (r.rel_lift_ci_lower, r.rel_lift_ci_upper)
    mc, mt = r.control_value, r.treatment_value
    with np.errstate(divide="ignore", invalid="ignore"):
        if compare is compare_proportions_many:
            n_c, n_t = args[1], args[3]
            v_c, v_t = mc * (1 - mc) / n_c, mt * (1 - mt) / n_t
        else:
            v_c, v_t = args[1] / args[2], args[4] / args[5]
        eff = np.minimum(_effective(mc, v_c), _effective(mt, v_t))
    for x in SWITCHES:
        use_fieller = eff < x
        lo = np.where(use_fieller, out["fieller"][0], out["delta"][0])
        hi = np.where(use_fieller, out["fieller"][1], out["delta"][1])
        out[f"switch@{x}"] = (lo, hi)
    return out, mc


def _covered(bounds: tuple[Any, Any], truth: float) -> Any:
    lo, hi = bounds
    return (lo <= truth) & (truth <= hi)


def proportions_cell(rng: np.random.Generator, p: float, n: int, lift: float, sims: int) -> dict:
    p_t = p * (1.0 + lift)
    xc = rng.binomial(n, p, size=sims)
    xt = rng.binomial(n, p_t, size=sims)
    sim, mc = _intervals(compare_proportions_many, xc, n, xt, n)
    defined = mc > 0
    row: dict[str, Any] = {"undefined": 1.0 - float(np.mean(defined))}
    for k, b in sim.items():
        row[f"sim_{k}"] = float(np.mean(_covered(b, lift)[defined]))

    # exact: every pair of counts within 10 sd, weighted by the two binomial probabilities
    def support(q: float) -> Any:
        mean, sd = n * q, max(np.sqrt(n * q * (1 - q)), 1.0)
        return np.arange(max(0, int(mean - 10 * sd)), min(n, int(mean + 10 * sd) + 1))

    sc, st = support(p), support(p_t)
    w = np.outer(stats.binom.pmf(sc, n, p), stats.binom.pmf(st, n, p_t))
    gc, gt = np.meshgrid(sc, st, indexing="ij")
    ex, _ = _intervals(compare_proportions_many, gc, n, gt, n)
    ok = gc > 0
    for k, b in ex.items():
        row[f"exact_{k}"] = float(np.sum(w * (_covered(b, lift) & ok)) / np.sum(w * ok))
    return row


def _lognormal_sums(rng: np.random.Generator, n: int, p: float, sims: int) -> tuple[Any, Any]:
    """Per-experiment mean and sample variance of n units: Bernoulli(p) × LogNormal(0, 1)."""
    s1 = np.empty(sims)
    s2 = np.empty(sims)
    chunk = 2000
    for a in range(0, sims, chunk):
        b = min(sims, a + chunk)
        k = rng.binomial(n, p, size=b - a)
        v = rng.lognormal(0.0, 1.0, size=int(k.sum()))
        edges = np.concatenate([[0], np.cumsum(k)])
        c1 = np.concatenate([[0.0], np.cumsum(v)])
        c2 = np.concatenate([[0.0], np.cumsum(v * v)])
        s1[a:b] = c1[edges[1:]] - c1[edges[:-1]]
        s2[a:b] = c2[edges[1:]] - c2[edges[:-1]]
    mean = s1 / n
    var = np.maximum(s2 - s1 * s1 / n, 0.0) / (n - 1)
    return mean, var


def means_cell(rng: np.random.Generator, p: float, n: int, lift: float, sims: int) -> dict:
    mc, vc = _lognormal_sums(rng, n, p, sims)
    mt, vt = _lognormal_sums(rng, n, p * (1.0 + lift), sims)
    res, _ = _intervals(compare_means_many, mc, vc, n, mt, vt, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = mc * mc / (vc / n)
    defined = mc > 0
    row: dict[str, Any] = {
        "undefined": 1.0 - float(np.mean(defined)),
        "eff": float(np.median(eff[defined])) if np.any(defined) else float("nan"),
    }
    for k, b in res.items():
        row[f"sim_{k}"] = float(np.mean(_covered(b, lift)[defined]))
    return row


def _fmt(x: float) -> str:
    return f"{x:.3f}" if x == x else "–"


def _mark(x: float) -> str:
    """Bold when outside [0.94, 0.96]."""
    s = _fmt(x)
    return s if 0.94 <= x <= 0.96 else f"**{s}**"


def _summary(rows: list[tuple[float, dict]], keys: list[str]) -> list[str]:
    bands = [
        (0, 5, "< 5"),
        (5, 10, "5–9"),
        (10, 20, "10–19"),
        (20, 50, "20–49"),
        (50, 1e12, "≥ 50"),
    ]
    lines = ["| events per arm (control) | " + " | ".join(keys) + " |"]
    lines.append("|---" * (len(keys) + 1) + "|")
    for lo, hi, label in bands:
        cells = [r for ev, r in rows if lo <= ev < hi]
        if not cells:
            continue
        out = []
        for k in keys:
            vals = [c[k] for c in cells if c[k] == c[k]]
            out.append(f"{min(vals):.3f}–{max(vals):.3f}" if vals else "–")
        lines.append(f"| {label} ({len(cells)} cells) | " + " | ".join(out) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sims", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    cols = [*METHODS, *(f"switch@{x}" for x in SWITCHES)]

    prop_rows: list[tuple[float, dict]] = []
    table = [
        "| p_c | n per arm | lift | control events | no control event | "
        + " | ".join(f"{m} sim / exact" for m in METHODS)
        + " | "
        + " | ".join(f"switch@{x} exact" for x in SWITCHES)
        + " |",
        "|---" * (5 + len(METHODS) + len(SWITCHES)) + "|",
    ]
    for p in RATES:
        for n in SIZES:
            for lift in LIFTS:
                r = proportions_cell(rng, p, n, lift, args.sims)
                prop_rows.append((n * p, {k: r[f"exact_{k}"] for k in cols}))
                table.append(
                    f"| {p:g} | {n:,} | {lift:+.0%} | {n * p:g} | {r['undefined']:.3f} | "
                    + " | ".join(
                        f"{_mark(r[f'sim_{m}'])} / {_mark(r[f'exact_{m}'])}" for m in METHODS
                    )
                    + " | "
                    + " | ".join(_mark(r[f"exact_switch@{x}"]) for x in SWITCHES)
                    + " |"
                )
    t_prop = time.perf_counter() - t0

    mean_rows: list[tuple[float, dict]] = []
    mtable = [
        "| conversion | n per arm | lift | converters (control) | median m²/Var(m) | "
        + " | ".join(cols)
        + " |",
        "|---" * (5 + len(cols)) + "|",
    ]
    for p in RATES:
        for n in SIZES:
            for lift in LIFTS:
                r = means_cell(rng, p, n, lift, args.sims)
                mean_rows.append((n * p, {k: r[f"sim_{k}"] for k in cols}))
                mtable.append(
                    f"| {p:g} | {n:,} | {lift:+.0%} | {n * p:g} | {_fmt(r['eff'])} | "
                    + " | ".join(_mark(r[f"sim_{k}"]) for k in cols)
                    + " |"
                )
    elapsed = time.perf_counter() - t0

    text = [
        "# Relative-lift interval coverage (`benchmarks/rel_ci_coverage.py`)",
        "",
        f"Seed {args.seed}, {args.sims:,} simulated experiments per cell, nominal level 95 %; "
        f"run time {elapsed:.0f} s (proportions {t_prop:.0f} s). Coverage outside "
        "[0.94, 0.96] is in bold. Coverage counts only experiments whose control mean is > 0 "
        "(otherwise the relative lift is undefined); an unbounded Fieller set (control not "
        "clearly above 0) counts as covering. Monte Carlo standard error ≈ 0.0015; the exact "
        "columns have none.",
        "",
        "## Summary: range of coverage by expected control events per arm (proportions, exact)",
        "",
        *_summary(prop_rows, cols),
        "",
        "## Summary: range of coverage by expected converters per arm (zero-inflated revenue)",
        "",
        *_summary(mean_rows, cols),
        "",
        '## Choice of `rel_method="auto"`',
        "",
        "* Fieller is the only method whose coverage never falls below 0.94 in either grid once "
        "the control arm has ~5 events, and it is within [0.94, 0.96] from ~10 effective "
        "events (`m_c²/Var(m_c) ≥ 10`) on. Below that it over-covers (0.96–0.99): many of those "
        "experiments cannot tell the control rate from 0 at level α, and their Fieller set is "
        "unbounded — the honest answer, not a defect to tune away.",
        "* The delta method under-covers until ~40 events per arm for proportions (0.90 at 2 % × "
        "300) and until several hundred converters for skewed revenue; the log-ratio interval is "
        "between the two for proportions and under-covers for skewed means.",
        '* A switch "Fieller below X effective events, delta above" is worse than either '
        "method alone near X (for every X tried: 10, 30, 100): the switch selects on the "
        "control count, and on each side of the threshold it keeps the method that fails "
        "there. So the rule has no threshold: **`auto` = Fieller at every count**; X ≈ 10 "
        "effective control events is where Fieller's coverage enters [0.94, 0.96].",
        "",
        "## Proportions",
        "",
        *table,
        "",
        "## Means: zero-inflated revenue (conversion × LogNormal(0, 1))",
        "",
        *mtable,
        "",
    ]
    args.out.write_text("\n".join(text), encoding="utf-8")
    print(f"wrote {args.out} in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
