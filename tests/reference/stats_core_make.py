# ruff: noqa: E501
"""Regenerate ``tests/reference/stats_core.py`` (the reference values of the core stats tests).

Run from the repository root::

    .venv/bin/python tests/reference/stats_core_make.py > tests/reference/stats_core.py
    .venv/bin/ruff format tests/reference/stats_core.py

Every number comes from statsmodels / scipy (or, for the relative-lift intervals that no library
implements, from the textbook formula evaluated in 50-digit ``decimal`` arithmetic); the call that
produced it is written next to it. abkit itself is never imported here.
Versions used: see the ``VERSIONS`` constant in the generated file.
"""

from __future__ import annotations

import decimal
import sys
from pathlib import Path

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportions_ztest,
    test_proportions_2indep,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

SM_ALT = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}
COOKIE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cookie_cats.csv"
out: list[str] = []


def emit(line: str = "") -> None:
    out.append(line)


def r(x: float) -> str:
    value = float(x)
    if value in (float("inf"), float("-inf")):
        return "INF" if value > 0 else "-INF"
    return repr(value)


def cookie_cats() -> dict[str, dict[str, float]]:
    import pandas as pd

    df = pd.read_csv(COOKIE)
    res: dict[str, dict[str, float]] = {}
    for version, g in df.groupby("version"):
        res[str(version)] = {
            "n": len(g),
            "r1": int(g["retention_1"].sum()),
            "r7": int(g["retention_7"].sum()),
            "rounds": g["sum_game_rounds"].to_numpy(dtype=float),
        }
    return res


def proportion_case(name, xc, nc, xt, nt, alternative, alpha):  # type: ignore[no-untyped-def]
    sm_alt = SM_ALT[alternative]
    t = test_proportions_2indep(
        xt, nt, xc, nc, method="wald", compare="diff", correction=False, alternative=sm_alt
    )
    ci_alpha = alpha if alternative == "two-sided" else 2 * alpha
    lo, hi = confint_proportions_2indep(
        xt, nt, xc, nc, method="wald", compare="diff", alpha=ci_alpha
    )
    if alternative == "greater":
        hi = float("inf")
    elif alternative == "less":
        lo = float("-inf")
    zp, pp = proportions_ztest([xt, xc], [nt, nc], alternative=sm_alt)
    emit("    {")
    emit(f"        'name': {name!r},")
    emit(
        f"        'args': ({xc}, {nc}, {xt}, {nt}), 'alternative': {alternative!r}, 'alpha': {alpha!r},"
    )
    emit("        # test_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',")
    emit(f"        #     correction=False, alternative={sm_alt!r})")
    emit(f"        'unpooled_statistic': {r(t.statistic)}, 'unpooled_pvalue': {r(t.pvalue)},")
    emit(f"        # proportions_ztest([xt, xc], [nt, nc], alternative={sm_alt!r})")
    emit(f"        'pooled_statistic': {r(zp)}, 'pooled_pvalue': {r(pp)},")
    emit("        # confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff',")
    emit(f"        #     alpha={ci_alpha!r})  (one-sided: the bound of the 1-2*alpha two-sided CI)")
    emit(f"        'ci': ({r(lo)}, {r(hi)}),")
    emit("    },")


def mean_case(name, c, t, alternative, alpha):  # type: ignore[no-untyped-def]
    sm_alt = SM_ALT[alternative]
    cm = CompareMeans(DescrStatsW(t), DescrStatsW(c))
    emit("    {")
    emit(f"        'name': {name!r},")
    emit(
        f"        'args': ({r(np.mean(c))}, {r(np.var(c, ddof=1))}, {len(c)}, "
        f"{r(np.mean(t))}, {r(np.var(t, ddof=1))}, {len(t)}),"
    )
    emit(f"        'alternative': {alternative!r}, 'alpha': {alpha!r},")
    for usevar, key in (("unequal", "welch"), ("pooled", "student")):
        ts, p, df = cm.ttest_ind(alternative=sm_alt, usevar=usevar)
        lo, hi = cm.tconfint_diff(alpha=alpha, alternative=sm_alt, usevar=usevar)
        emit("        # CompareMeans(DescrStatsW(t), DescrStatsW(c)).ttest_ind(")
        emit(f"        #     alternative={sm_alt!r}, usevar={usevar!r}) and")
        emit(
            f"        #     .tconfint_diff(alpha={alpha!r}, alternative={sm_alt!r}, usevar={usevar!r})"
        )
        emit(f"        '{key}_statistic': {r(ts)}, '{key}_pvalue': {r(p)}, '{key}_df': {r(df)},")
        emit(f"        '{key}_ci': ({r(lo)}, {r(hi)}),")
    emit("    },")


D = decimal.Decimal


def rel_case(mc, vc, mt, vt, alternative, alpha):  # type: ignore[no-untyped-def]
    decimal.getcontext().prec = 50
    tail = alpha / 2 if alternative == "two-sided" else alpha
    z = float(stats.norm.isf(tail))
    Dmc, Dvc, Dmt, Dvt, Dz = D(mc), D(vc), D(mt), D(vt), D(z)
    ratio = Dmt / Dmc
    se = (Dvt / Dmc**2 + Dmt**2 * Dvc / Dmc**4).sqrt()
    d_lo, d_hi = ratio - 1 - Dz * se, ratio - 1 + Dz * se
    a = Dmc**2 - Dz**2 * Dvc
    b = Dmt * Dmc
    c = Dmt**2 - Dz**2 * Dvt
    disc = b * b - a * c
    if a > 0:
        f_lo, f_hi = (b - disc.sqrt()) / a - 1, (b + disc.sqrt()) / a - 1
    else:
        f_lo, f_hi = D("-Infinity"), D("Infinity")
    # "greater" = treatment above control; with a negative control mean that makes the relative
    # lift mt/mc - 1 smaller, so the bound kept is the upper one
    keep_lower = (alternative == "greater") == (mc > 0)
    if alternative != "two-sided" and keep_lower:
        d_hi = f_hi = D("Infinity")
    elif alternative != "two-sided":
        d_lo = f_lo = D("-Infinity")
    emit("    {")
    emit(f"        'args': ({r(mc)}, {r(vc)}, {r(mt)}, {r(vt)}), 'alternative': {alternative!r},")
    emit(f"        'alpha': {alpha!r},  # z = scipy.stats.norm.isf({tail!r}) = {z!r}")
    emit(f"        'rel': {r(ratio - 1)},")
    emit("        # delta: R-1 ± z*sqrt(vt/mc² + mt²·vc/mc⁴), 50-digit decimal")
    emit(f"        'delta': ({r(d_lo)}, {r(d_hi)}),")
    emit("        # fieller: roots of ρ²(mc²-z²vc) - 2ρ·mt·mc + (mt²-z²vt) = 0, minus 1, 50 digits")
    emit(f"        'fieller': ({r(f_lo)}, {r(f_hi)}),")
    emit("    },")


def main() -> None:
    emit('"""Reference values for tests/test_stats_core.py — GENERATED, do not edit by hand.')
    emit("")
    emit("Produced by ``.venv/bin/python tests/reference/stats_core_make.py``; each value is")
    emit("preceded by the exact statsmodels / scipy call (t = treatment, c = control; statsmodels")
    emit("compares its first sample minus its second, so treatment is passed first).")
    emit('"""')
    emit("")
    emit('INF = float("inf")')
    emit(
        f"VERSIONS = {{'scipy': {scipy.__version__!r}, 'statsmodels': {statsmodels.__version__!r}, 'numpy': {np.__version__!r}}}"
    )
    emit("")
    cc = cookie_cats()
    c30, c40 = cc["gate_30"], cc["gate_40"]
    emit("# Aggregates of shared/data/cookie_cats.csv (control gate_30, treatment gate_40):")
    emit("# pandas.read_csv(...).groupby('version') → size, retention_1.sum(), retention_7.sum(),")
    emit("# sum_game_rounds mean and var(ddof=1).")
    emit("COOKIE_CATS = {")
    for key, g in (("gate_30", c30), ("gate_40", c40)):
        emit(
            f"    {key!r}: {{'n': {g['n']}, 'retention_1': {g['r1']}, 'retention_7': {g['r7']}, "
            f"'rounds_mean': {r(np.mean(g['rounds']))}, 'rounds_var': {r(np.var(g['rounds'], ddof=1))}}},"
        )
    emit("}")
    emit("")
    emit("PROPORTIONS = [")
    for alt in ("two-sided", "greater", "less"):
        proportion_case(
            "cookie_cats retention_1", c30["r1"], c30["n"], c40["r1"], c40["n"], alt, 0.05
        )
        proportion_case(
            "cookie_cats retention_7", c30["r7"], c30["n"], c40["r7"], c40["n"], alt, 0.05
        )
    proportion_case("small", 7, 40, 15, 45, "two-sided", 0.05)
    proportion_case("small alpha 0.1", 7, 40, 15, 45, "greater", 0.1)
    proportion_case("large lift", 1200, 10000, 1420, 10300, "two-sided", 0.01)
    proportion_case("unbalanced", 30, 500, 410, 5000, "less", 0.05)
    emit("]")
    emit("")
    rng = np.random.default_rng(1234)
    emit("MEANS = [")
    for alt in ("two-sided", "greater", "less"):
        mean_case("cookie_cats sum_game_rounds", c30["rounds"], c40["rounds"], alt, 0.05)
    c = rng.lognormal(1.0, 1.0, size=15)
    t = rng.lognormal(1.3, 0.6, size=23)
    mean_case("lognormal small (default_rng(1234))", c, t, "two-sided", 0.05)
    mean_case("lognormal small (default_rng(1234))", c, t, "greater", 0.1)
    c = rng.normal(10.0, 3.0, size=400)
    t = rng.normal(10.4, 5.0, size=350)
    mean_case(
        "normal unequal var (default_rng(1234), after the lognormal draws)", c, t, "two-sided", 0.01
    )
    emit("]")
    emit("")
    emit("RELATIVE = [")
    p30, p40 = c30["r1"] / c30["n"], c40["r1"] / c40["n"]
    for alt in ("two-sided", "greater", "less"):
        rel_case(p30, p30 * (1 - p30) / c30["n"], p40, p40 * (1 - p40) / c40["n"], alt, 0.05)
    rel_case(0.1, 0.0004, 0.14, 0.0005, "two-sided", 0.05)
    rel_case(2.0, 0.9, 3.0, 0.5, "two-sided", 0.05)  # control mean barely above 0: Fieller wide
    rel_case(0.5, 0.1, 0.6, 0.1, "two-sided", 0.05)  # m_c² < z²·v_c: Fieller unbounded
    rel_case(-4.0, 0.25, -5.0, 0.36, "greater", 0.1)  # negative means
    emit("]")
    emit("")
    emit("SRM = [")
    for obs, w in (
        ([5000, 5200], None),
        ([1000, 1100, 2100], [1, 1, 2]),
        ([50, 70], [0.3, 0.7]),
        ([10133, 9867], None),
    ):
        f_exp = None if w is None else np.asarray(w, float) / np.sum(w) * np.sum(obs)
        res = stats.chisquare(obs, f_exp)
        emit(
            f"    # scipy.stats.chisquare({obs}, f_exp={None if f_exp is None else [float(x) for x in f_exp]})"
        )
        emit(
            f"    {{'observed': {obs}, 'weights': {w}, 'statistic': {r(res.statistic)}, 'pvalue': {r(res.pvalue)}}},"
        )
    emit("]")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
