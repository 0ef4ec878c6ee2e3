"""Matplotlib figures for results. Every function takes ``ax=None`` and returns the Axes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from abkit.results import ExperimentResult

__all__ = ["forest"]


def _axes(ax: Axes | None, height: float) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(7, max(1.6, height)))
    return ax


def forest(result: ExperimentResult, ax: Axes | None = None, *, relative: bool = True) -> Axes:
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
        labels.append(label)
        y.append(i)
        if est is None or (isinstance(est, float) and math.isnan(est)):
            continue
        finite = lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
        color = "#1f77b4" if c.significant else "#7f7f7f"
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
    ax.set_title(f"{result.name}: treatment vs {result.control}")
    ax.grid(axis="x", alpha=0.3)
    return ax
