"""Matplotlib figures for results. Every function takes ``ax=None`` and returns the Axes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from abkit._display import TONE_COLORS, tone

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes


# What each figure reads of the object it draws (results.ExperimentResult, retention's views):
# the plots depend on these shapes, not on the result modules, which import this one.


class ResultLike(Protocol):
    """An experiment result: its arms, metrics and comparisons (``ExperimentResult``)."""

    @property
    def name(self) -> str: ...
    @property
    def control(self) -> str: ...
    @property
    def variants(self) -> Sequence[str]: ...
    @property
    def alpha(self) -> float: ...
    @property
    def metrics(self) -> Sequence[Any]: ...
    @property
    def comparisons(self) -> Sequence[Any]: ...


class CurveLike(Protocol):
    """A retention curve (``RetentionCurve``)."""

    @property
    def result(self) -> ResultLike: ...
    def to_pandas(self) -> pd.DataFrame: ...
    def lifts_to_pandas(self) -> pd.DataFrame: ...


class CohortsLike(Protocol):
    """A cohort triangle (``CohortTable``)."""

    @property
    def period(self) -> str: ...
    def pivot(self, variant: str, value: str = "retention") -> pd.DataFrame: ...
    def to_pandas(self) -> pd.DataFrame: ...


class ChurnLike(Protocol):
    """Time-to-churn curves (``ChurnResult``)."""

    @property
    def variants(self) -> Sequence[str]: ...
    @property
    def tau(self) -> int: ...
    @property
    def inactive_days(self) -> int: ...
    def to_pandas(self) -> pd.DataFrame: ...


class NoveltyLike(Protocol):
    """Per-day lifts and their trend (``NoveltyResult``)."""

    @property
    def control(self) -> str: ...
    @property
    def scale(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def flags(self) -> dict[str, str]: ...
    def to_pandas(self) -> pd.DataFrame: ...


class HazardsLike(Protocol):
    """A Cox model of time to churn (``ChurnRegression``)."""

    @property
    def alpha(self) -> float: ...
    @property
    def inactive_days(self) -> int: ...
    def to_pandas(self) -> pd.DataFrame: ...
    def schoenfeld_to_pandas(self) -> pd.DataFrame: ...


__all__ = [
    "cohort_heatmap",
    "curve_lift",
    "forest",
    "hazard_ratios",
    "km_curves",
    "novelty_trend",
    "retention_curve",
    "schoenfeld",
]


#: fonts tried after matplotlib's default for glyphs it lacks (Chinese, Japanese, Korean names)
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
    "Arial Unicode MS",
)


def _use_cjk_fallback() -> None:
    """Add installed CJK fonts as fallbacks so experiment names like 新手引导 render (mpl ≥ 3.6)."""
    import logging

    import matplotlib as mpl
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    extra = [f for f in CJK_FONTS if f in installed]
    family = list(mpl.rcParams["font.family"])
    if extra and extra[0] not in family:
        # fallback works across the entries of font.family, not within font.sans-serif
        mpl.rcParams["font.family"] = [*family, extra[0]]
        # some CJK fonts ship one weight; matplotlib logs a harmless note about using it
        logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def _text(s: object) -> str:
    """User text for titles and labels: a '$' must not start matplotlib's math mode."""
    return str(s).replace("$", r"\$")


def _axes(ax: Axes | None, height: float) -> Axes:
    _use_cjk_fallback()
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    # a figure abkit makes lays itself out when drawn (long tick labels stay inside it)
    _, ax = plt.subplots(figsize=(7, max(1.6, height)), layout="constrained")
    return ax


def forest(result: ResultLike, ax: Axes | None = None, *, relative: bool = True) -> Axes:
    """Lifts of every (metric, treatment) with their confidence intervals, control at 0.

    Relative lifts are in %, absolute lifts of proportions in percentage points. Rows without an
    interval (no test possible) are drawn as a grey point.
    """
    import math

    comps = list(result.comparisons)
    ax = _axes(ax, 0.45 * len(comps) + 1.0)
    kinds = {m.name: m for m in result.metrics}
    labels, y = [], []
    for i, mc in enumerate(reversed(comps)):
        c = mc.comparison
        info = kinds[mc.metric]
        scale = 100.0 if (relative or info.kind == "proportion") else 1.0
        est = c.rel_lift if relative else c.abs_lift
        lo = c.rel_lift_ci_lower if relative else c.abs_lift_ci_lower
        hi = c.rel_lift_ci_upper if relative else c.abs_lift_ci_upper
        label = info.label if len(result.variants) == 2 else f"{info.label} ({mc.variant})"
        label = _text(label)
        labels.append(label)
        y.append(i)
        if est is None or (isinstance(est, float) and math.isnan(est)):
            continue
        finite = lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
        color = TONE_COLORS[tone(mc.decision, info.higher_is_better)]
        if finite:
            assert lo is not None and hi is not None
            ax.errorbar(
                est * scale,
                i,
                xerr=[[(est - lo) * scale], [(hi - est) * scale]],
                fmt="o",
                color=color,
                capsize=3,
            )
        else:
            ax.plot(est * scale, i, "o", color=color)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    unit = "relative lift (%)" if relative else "absolute lift (pp for rates)"
    ax.set_xlabel(f"{unit}, {round(100 * (1 - result.alpha))}% CI")
    arms = ", ".join(v for v in result.variants if v != result.control)
    ax.set_title(_text(f"{result.name}: {arms} vs {result.control}"))
    ax.grid(axis="x", alpha=0.3)
    return ax


def _variant_colors(variants: list[str]) -> dict[str, str]:
    palette = ["#4c4c4c", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    return {v: palette[i % len(palette)] for i, v in enumerate(variants)}


def retention_curve(curve: CurveLike, ax: Axes | None = None) -> Axes:
    """DayN retention per variant with Wilson bands (in %), from day 1.

    Day 0 (the exposure day itself, close to 100%) would squash days 1-30 into a band at the
    bottom; its values are given in the title instead.
    """
    df = curve.to_pandas().dropna(subset=["retention"])
    day0 = df[df.day == 0]
    if (df.day > 0).any():
        df = df[df.day > 0]
    ax = _axes(ax, 4.0)
    variants = list(curve.result.variants)
    colors = _variant_colors(variants)
    for v in variants:
        d = df[df.variant == v]
        ax.plot(d.day, 100 * d.retention, marker="o", ms=3, color=colors[v], label=_text(v))
        ax.fill_between(
            d.day,
            100 * d.ci_lower.astype(float),
            100 * d.ci_upper.astype(float),
            color=colors[v],
            alpha=0.2,
            lw=0,
        )
    ax.set_xlabel("day after first exposure")
    ax.set_ylabel("retention (%)")
    title = f"{curve.result.name}: retention curve"
    if len(day0) and (df.day > 0).all():
        title += (
            " (day 0: "
            + ", ".join(
                f"{v} {100 * r:.1f}%" for v, r in zip(day0.variant, day0.retention, strict=True)
            )
            + ")"
        )
    ax.set_title(_text(title))
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def curve_lift(curve: CurveLike, ax: Axes | None = None) -> Axes:
    """Absolute lift (percentage points) per day with its confidence interval."""
    df = curve.lifts_to_pandas().dropna(subset=["abs_lift_ci_lower", "abs_lift_ci_upper"])
    ax = _axes(ax, 3.0)
    colors = _variant_colors(list(curve.result.variants))
    for v, d in df.groupby("variant", sort=False):
        ax.errorbar(
            d.day,
            100 * d.abs_lift,
            yerr=[
                100 * (d.abs_lift - d.abs_lift_ci_lower),
                100 * (d.abs_lift_ci_upper - d.abs_lift),
            ],
            fmt="o",
            ms=3,
            capsize=2,
            color=colors[str(v)],
            label=_text(f"{v} − {curve.result.control}"),
        )
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel("day after first exposure")
    ax.set_ylabel("lift (pp)")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def cohort_heatmap(table: CohortsLike, variant: str, ax: Axes | None = None) -> Axes:
    """Heatmap of one variant's cohort triangle (retention in %, blank where immature)."""
    import numpy as np

    piv = table.pivot(variant)
    ax = _axes(ax, max(2.5, 0.28 * len(piv) + 1.2))
    data = np.ma.masked_invalid(100 * piv.to_numpy(dtype=float))
    # one colour scale for every variant, so the triangles can be compared by colour
    everything = table.to_pandas()
    vmin, vmax = 100 * everything.retention.min(), 100 * everything.retention.max()
    im = ax.imshow(data, aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(piv.shape[1]))
    ax.set_xticklabels([f"D{d}" for d in piv.columns])
    # cohort sizes: units of the cohort in this variant (mature or not, the same on every day)
    mine = everything[everything.variant == variant]
    size = (mine.n + mine.immature).groupby(mine.cohort).max()
    ax.set_yticks(range(piv.shape[0]))
    ax.set_yticklabels([_text(f"{i} (n={int(size.get(i, 0)):,})") for i in piv.index])
    span = max(vmax - vmin, 1e-9)
    for (i, j), val in np.ndenumerate(data.filled(np.nan)):
        if not np.isnan(val):
            # viridis is light at the top of its scale: dark text there, white below
            color = "black" if (val - vmin) / span > 0.6 else "white"
            ax.text(j, i, f"{val:.0f}", ha="center", va="center", fontsize=7, color=color)
    ax.figure.colorbar(im, ax=ax, label="retention (%)")
    ax.set_title(_text(f"{variant}: retention by {table.period} of first exposure"))
    return ax


def km_curves(churn: ChurnLike, ax: Axes | None = None) -> Axes:
    """Kaplan–Meier curves of time to churn, with pointwise bands."""
    df = churn.to_pandas()
    ax = _axes(ax, 4.0)
    colors = _variant_colors(list(churn.variants))
    for v in churn.variants:
        d = df[df.variant == v]
        ax.step(d.day, 100 * d.survival, where="post", color=colors[v], label=_text(v))
        ax.fill_between(
            d.day, 100 * d.ci_lower, 100 * d.ci_upper, step="post", color=colors[v], alpha=0.2, lw=0
        )
    ax.set_xlim(0, churn.tau)
    ax.set_xlabel("days retained")
    ax.set_ylabel(f"not yet churned (%) — churn = {churn.inactive_days} inactive days")
    ax.set_title("time to churn (Kaplan–Meier)")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def novelty_trend(result: NoveltyLike, ax: Axes | None = None) -> Axes:
    """Lift per day since exposure with its interval, and the fitted trend with its band.

    Relative lifts in %, absolute lifts of active-day rates in percentage points; the legend
    names each treatment's flag (lift fading / growing / no trend detected).
    """
    df = result.to_pandas()
    ax = _axes(ax, 3.5)
    variants = [result.control, *dict.fromkeys(str(v) for v in df.variant)]
    colors = _variant_colors(variants)
    scale = 100.0 if result.scale == "relative" or result.metric == "active" else 1.0
    for v, d in df.groupby("variant", sort=False):
        c, flag = colors[str(v)], result.flags.get(str(v), "")
        ax.errorbar(
            d.day,
            scale * d.lift,
            yerr=[scale * (d.lift - d.ci_lower), scale * (d.ci_upper - d.lift)],
            fmt="o",
            ms=3,
            capsize=2,
            color=c,
            label=_text(f"{v} − {result.control}: {flag}"),
        )
        fit = d.dropna(subset=["fit"])
        if len(fit):
            ax.plot(fit.day, scale * fit.fit, color=c, lw=1.5)
            ax.fill_between(
                fit.day, scale * fit.fit_ci_lower, scale * fit.fit_ci_upper, color=c, alpha=0.15
            )
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel("day since first exposure")
    if result.scale == "relative":
        ax.set_ylabel("relative lift (%)")
    else:
        ax.set_ylabel("lift (pp)" if result.metric == "active" else "lift")
    ax.set_title(_text(f"lift by day since exposure ({result.metric})"))
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def hazard_ratios(model: HazardsLike, ax: Axes | None = None) -> Axes:
    """Adjusted hazard ratios of churn with their intervals on a log scale, 1 marked.

    Treatment terms are coloured by their decision (a lower churn hazard is good); attribute
    terms are grey. A term whose proportional-hazards check failed is marked with a ``*``.
    """
    df = model.to_pandas().iloc[::-1].reset_index(drop=True)
    ax = _axes(ax, 0.45 * len(df) + 1.0)
    for i, r in enumerate(df.itertuples()):
        color = TONE_COLORS[tone(r.decision, higher_is_better=False)] if r.treatment else "grey"
        ax.errorbar(
            r.hazard_ratio,
            i,
            xerr=[[r.hazard_ratio - r.ci_lower], [r.ci_upper - r.hazard_ratio]],
            fmt="o",
            color=color,
            capsize=3,
        )
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    # a few plain ratios (0.9, 1, 1.2 …) instead of powers of ten on a narrow log axis
    import numpy as np
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo, hi = float(df.ci_lower.min()), float(df.ci_upper.max())
    ticks = sorted({1.0, *(float(f"{x:.2g}") for x in np.geomspace(min(lo, 1), max(hi, 1), 5))})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.set_yticks(range(len(df)))
    marks = ["*" if r.ph_fails else "" for r in df.itertuples()]
    ax.set_yticklabels([_text(f"{t}{m}") for t, m in zip(df.term, marks, strict=True)])
    ax.set_xlabel(f"hazard ratio of churn, {round(100 * (1 - model.alpha))}% CI (log scale)")
    ax.set_title(f"Cox model of time to churn ({model.inactive_days} inactive days)")
    ax.grid(axis="x", alpha=0.3)
    return ax


def schoenfeld(model: HazardsLike, term: str | None = None, ax: Axes | None = None) -> Axes:
    """Scaled Schoenfeld residuals of one term against time: the coefficient β(t) each day.

    Each point is the mean scaled residual plus the coefficient over the churns of one day (its
    size: the number of churns); a flat cloud around the horizontal line (the fitted
    coefficient) is what proportional hazards look like, a trend is a violation.
    """
    df = model.schoenfeld_to_pandas()
    coefs = model.to_pandas()
    term = str(coefs.term.iloc[0]) if term is None else term
    d = df[df.term == term]
    ax = _axes(ax, 3.5)
    size = 200 * d.churned / max(float(d.churned.max()), 1.0) + 5
    ax.scatter(d.time, d.beta_t, s=size, color="#1f77b4", alpha=0.6, lw=0)
    coef = float(coefs.loc[coefs.term == term, "coef"].iloc[0])
    ax.axhline(coef, color="black", lw=1.0, label=f"fitted coefficient {coef:.3g}")
    ax.axhline(0.0, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("days retained (churn time)")
    ax.set_ylabel("β(t): scaled Schoenfeld residual + β")
    ax.set_title(_text(f"proportional-hazards check: {term}"))
    ax.grid(alpha=0.3)
    ax.legend()
    return ax
