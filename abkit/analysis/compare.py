"""Arm summaries and tests: from rows of the statistics frame to comparisons and guardrails.

The metric → test dispatch is here once (:func:`_run`): a metric's ``kind`` picks the test, the
same for comparisons (:data:`_COMPARE`) and for guardrails (:data:`_NONINFERIORITY`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from abkit.errors import DataError
from abkit.query.frame import (
    CUPED_FIELDS,
    CX,
    CXY,
    IMMATURE,
    MISSING,
    N_UNITS,
    RATIO_CUPED_FIELDS,
    RATIO_SUMS,
    SUM,
    SUMSQ,
    VARIANT,
    N,
    stat_col,
)
from abkit.query.quantiles import quantile_arm
from abkit.query.values import adjust_field
from abkit.results import ArmStats, GuardrailResult, MetricComparison
from abkit.stats import (
    Comparison,
    CovariateSums,
    RatioCovariateSums,
    RatioSums,
    compare_means,
    compare_proportions,
    compare_quantiles,
    compare_ratios,
    cuped,
    moments_from_sums,
    noninferiority_means,
    noninferiority_proportions,
    noninferiority_ratios,
    ratio_cuped,
    srm_test,
)
from abkit.stats._types import SRMResult
from abkit.stats.adjust import StratumSums, adjusted_compare
from abkit.stats.multiple import adjust_pvalues

if TYPE_CHECKING:
    import pandas as pd

    from abkit.analysis.options import AnalysisOptions
    from abkit.metrics import Metric

__all__ = ["adjust_segments", "compare_slice", "guardrails", "records", "split_rows", "srm"]


class Arm(NamedTuple):
    """One arm's sufficient statistics for one metric."""

    n: int
    total: float
    mean: float | None
    var: float | None
    immature: int
    missing: int
    ratio: tuple[float, float, float, float, float] | None = None  # Σx, Σy, Σx², Σy², Σxy
    #: CUPED: (Σy², Σx, Σx², Σxy) with x the pre-exposure covariate; for a ratio the nine
    #: sums of :data:`~abkit.query.frame.RATIO_CUPED_FIELDS`; None without
    covariate: tuple[float, ...] | None = None


def _num(v: Any) -> float:
    return 0.0 if v is None or v != v else float(v)


def arm_summary(row: Any, m: Metric) -> Arm:
    """One arm's statistics of metric ``m`` from its row of the frame (None: no units).

    n, sum, mean and variance (ddof=1); for a ratio metric the "mean" is ``Σx / Σy`` and
    ``ratio`` carries the five sums.
    """
    if row is None:
        return Arm(0, 0.0, None, None, 0, 0)
    n = int(row[stat_col(m, N)])
    counts = int(row[stat_col(m, IMMATURE)]), int(row[stat_col(m, MISSING)])
    if m.kind == "ratio":
        sx, sy, sxx, syy, sxy = (_num(row[stat_col(m, f)]) for f in RATIO_SUMS)
        value = sx / sy if n >= 1 and sy != 0 else None
        rcov = None
        if stat_col(m, RATIO_CUPED_FIELDS[-1]) in row:
            rcov = tuple(_num(row[stat_col(m, f)]) for f in RATIO_CUPED_FIELDS)
        return Arm(n, sx, value, None, *counts, ratio=(sx, sy, sxx, syy, sxy), covariate=rcov)
    total, total_sq = _num(row[stat_col(m, SUM)]), _num(row[stat_col(m, SUMSQ)])
    mean: float | None = None
    var: float | None = None
    if n >= 1:
        mean, var = moments_from_sums(total, total_sq, n)
        if var is not None and math.isnan(var):
            var = None
    cov = None
    if stat_col(m, CXY) in row:
        cx, cxx, cxy = (_num(row[stat_col(m, f)]) for f in CUPED_FIELDS)
        cov = (total_sq, cx, cxx, cxy)
    return Arm(n, total, mean, var, *counts, covariate=cov)


def _inputs(m: Metric, a: Arm) -> tuple[Any, ...]:
    """An arm's statistics in the shape the tests of ``m.kind`` take them."""
    if m.kind == "ratio":
        assert a.ratio is not None
        return (RatioSums(*a.ratio, n=a.n),)
    if m.kind == "proportion":
        return (round(a.total), a.n)
    return (a.mean or 0.0, a.var or 0.0, a.n)


#: metric kind → fixed-horizon comparison, and → non-inferiority test (same argument shapes)
_COMPARE: Mapping[str, Callable[..., Comparison]] = {
    "ratio": compare_ratios,
    "proportion": compare_proportions,
    "mean": compare_means,
}
_NONINFERIORITY: Mapping[str, Callable[..., Any]] = {
    "ratio": noninferiority_ratios,
    "proportion": noninferiority_proportions,
    "mean": noninferiority_means,
}


def _run(tests: Mapping[str, Callable[..., Any]], m: Metric, ctl: Arm, trt: Arm, **kw: Any) -> Any:
    """The test of ``m``'s kind from ``tests``, on control and treatment statistics."""
    return tests[m.kind](*_inputs(m, ctl), *_inputs(m, trt), **kw)


def with_note(c: Comparison, note: str) -> Comparison:
    """``c`` with ``note`` appended to its notes."""
    return replace(c, note=f"{c.note}; {note}" if c.note else note)


def _no_cuped_reason(m: Metric) -> str:
    if m.kind == "ratio":
        return (
            "a ratio is adjusted when both its parts are event metrics (each part for its own "
            "activity before exposure)"
        )
    if m.kind == "quantile":
        return "quantile metrics are compared by their order statistics without a covariate"
    return (
        "no covariate for this metric (give a column metric covariate='<pre-period column>'; "
        f"pre-aggregated statistics need {stat_col(m, CX)}, __cxx and __cxy)"
    )


def _comparison(
    opts: AnalysisOptions,
    m: Metric,
    ctl: Arm,
    trt: Arm,
    variant: str,
    cells: Cells | None = None,
) -> tuple[Comparison, float | None]:
    """The comparison of ``m`` between two arms, and the share of the lift's variance a
    CUPED or regression adjustment removed (None without one)."""
    kw: dict[str, Any] = {"alpha": opts.alpha, "alternative": opts.alternative}
    if ctl.n == 0 or trt.n == 0:
        empty = opts.control if ctl.n == 0 else variant
        return Comparison.untested(
            ctl.mean if ctl.mean is not None else math.nan,
            trt.mean if trt.mean is not None else math.nan,
            ctl.n,
            trt.n,
            note=f"no units with a mature {m.name} in {empty!r}",
            **kw,
        ), None
    # the relative interval's method goes to the tests, not to the empty comparison above
    kw["rel_method"] = opts.rel_ci
    if cells is not None and m.kind != "ratio":
        return cells.compare(m, opts.control, variant, kw)
    if m.kind == "ratio" and ctl.covariate is not None and trt.covariate is not None:
        assert ctl.ratio is not None and trt.ratio is not None
        rr = ratio_cuped(
            RatioCovariateSums(ctl.n, *ctl.ratio, *ctl.covariate),
            RatioCovariateSums(trt.n, *trt.ratio, *trt.covariate),
            theta=opts.cuped_theta,
            **kw,
        )
        c = with_note(rr.comparison, rr.note) if rr.note else rr.comparison
        if rr.variance_reduction is not None:
            c = with_note(c, f"CUPED: variance of the lift {-rr.variance_reduction:+.0%}")
        return c, rr.variance_reduction
    if m.kind != "ratio" and ctl.covariate is not None and trt.covariate is not None:
        r = cuped(
            CovariateSums(ctl.n, ctl.total, *ctl.covariate),
            CovariateSums(trt.n, trt.total, *trt.covariate),
            theta=opts.cuped_theta,
            **kw,
        )
        # cuped() notes a missing adjustment or a pre-period imbalance
        c = with_note(r.comparison, r.note) if r.note else r.comparison
        if r.variance_reduction is not None:
            c = with_note(c, f"CUPED: variance of the lift {-r.variance_reduction:+.0%}")
        return c, r.variance_reduction
    result: Comparison = _run(_COMPARE, m, ctl, trt, **kw)
    return result, None


def _rows(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Each variant's row of ``table`` as a mapping column → value (Python numbers)."""
    return {str(r[VARIANT]): r for r in records(table)}


def split_rows(table: pd.DataFrame, key: str) -> dict[Any, dict[str, dict[str, Any]]]:
    """The rows of ``table`` by value of column ``key``, then by variant, in one pass.

    ``split_rows(t, k)[v]`` is ``_rows(t[t[k] == v])``: one pass over the table instead of
    a boolean mask per value, which made many segment values quadratic.
    """
    out: dict[Any, dict[str, dict[str, Any]]] = {}
    for r in records(table):
        out.setdefault(r[key], {})[str(r[VARIANT])] = r
    return out


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """``table.to_dict("records")``: its rows as mappings column → Python value, faster."""
    columns = [table[c].tolist() for c in table.columns]
    names = list(table.columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _quantile_comparison(
    opts: AnalysisOptions,
    m: Metric,
    control: Mapping[str, Any] | None,
    treatment: Mapping[str, Any] | None,
    segment: str | None,
) -> Comparison:
    """Quantile metric ``m`` compared from the order statistics of two rows of the frame
    (``segment``: the dimension the rows are a value of; None overall)."""
    c, t = quantile_arm(control, m, segment), quantile_arm(treatment, m, segment)
    if c is None or t is None:
        return Comparison.untested(
            math.nan if c is None else c.value,
            math.nan if t is None else t.value,
            0 if c is None else c.n,
            0 if t is None else t.n,
            note=f"no units with a value of {m.name} in an arm",
            alpha=opts.alpha,
            alternative=opts.alternative,
        )
    return compare_quantiles(
        c, t, alpha=opts.alpha, alternative=opts.alternative, rel_method=opts.rel_ci
    )


def compare_slice(
    opts: AnalysisOptions,
    table: pd.DataFrame | Mapping[str, Mapping[str, Any]],
    variants: list[str],
    segment: tuple[str, str] | None,
    cells: Cells | None = None,
) -> tuple[list[ArmStats], list[MetricComparison]]:
    """Per-arm summaries and treatment-vs-control comparisons from one slice of statistics.

    ``table``: the slice's rows (one per variant), or those rows already keyed by variant
    (:func:`split_rows`). ``cells``: the slice's rows per stratum, for ``adjust=``.
    """
    rows = table if isinstance(table, Mapping) else _rows(table)
    seg, segval = segment if segment is not None else (None, None)
    arms: list[ArmStats] = []
    comps: list[MetricComparison] = []
    for m in opts.metrics:
        summary = {v: arm_summary(rows.get(v), m) for v in variants}
        arms.extend(
            ArmStats(m.name, v, a.n, a.mean, a.var, a.immature, a.missing, seg, segval)
            for v, a in summary.items()
        )
        ctl = summary[opts.control]
        for v in variants[1:]:
            trt = summary[v]
            reduced = None
            if m.kind == "quantile" and ctl.n and trt.n:  # order statistics, not moments
                cmp = _quantile_comparison(opts, m, rows.get(opts.control), rows.get(v), seg)
            else:
                cmp, reduced = _comparison(opts, m, ctl, trt, v, cells)
            if opts.cuped and (ctl.covariate is None or trt.covariate is None):
                cmp = with_note(cmp, f"not CUPED-adjusted: {_no_cuped_reason(m)}")
            if cells is not None and m.kind == "ratio" and ctl.n and trt.n:
                cmp = with_note(cmp, "not regression-adjusted: ratio metrics are not (yet)")
            comps.append(
                MetricComparison(
                    m.name,
                    v,
                    cmp,
                    ctl.immature,
                    trt.immature,
                    seg,
                    segval,
                    variance_reduction=reduced,
                )
            )
    return arms, comps


def guardrails(
    opts: AnalysisOptions, overall: pd.DataFrame, variants: list[str]
) -> list[GuardrailResult]:
    """Non-inferiority tests of the guardrail metrics, every treatment against control."""
    if not opts.guardrails:
        return []
    rows = _rows(overall)
    out = []
    for g in opts.guardrails:
        m = opts.metric(g.metric)
        ctl = arm_summary(rows.get(opts.control), m)
        for v in variants[1:]:
            trt = arm_summary(rows.get(v), m)
            head = (g.metric, v, g.margin, g.relative, g.higher_is_better)
            if ctl.n < 2 or trt.n < 2:
                why = "fewer than 2 mature units in an arm"
                out.append(GuardrailResult(*head, None, None, None, None, "none", why))
                continue
            if m.kind == "quantile":
                why = "no non-inferiority test for quantile metrics; guard the mean instead"
                out.append(GuardrailResult(*head, None, None, None, None, "none", why))
                continue
            r = _run(
                _NONINFERIORITY,
                m,
                ctl,
                trt,
                margin=g.margin,
                relative=g.relative,
                higher_is_better=g.higher_is_better,
                alpha=opts.alpha,
            )
            c = r.comparison
            est = c.rel_lift if g.relative else c.abs_lift
            out.append(GuardrailResult(*head, est, r.bound, r.pvalue, r.passed, r.method, r.note))
    return out


def srm(opts: AnalysisOptions, overall: pd.DataFrame, variants: list[str]) -> SRMResult:
    """The sample-ratio check of analysed units against the planned weights.

    Raises:
        DataError: the data has variants without a planned weight.
    """
    n = dict(zip(overall[VARIANT].astype(str), overall[N_UNITS].astype(int), strict=True))
    observed = [n.get(v, 0) for v in variants]
    weights = opts.weights
    if weights is not None and any(v not in weights for v in variants):
        missing = [v for v in variants if v not in weights]
        raise DataError(
            f"the data has variants {missing} with no planned weight in weights="
            f"{dict(weights)}; give every variant a weight or pass variants= to exclude them"
        )
    shares = None
    if weights is not None:
        total = sum(weights[v] for v in variants)
        shares = [weights[v] / total for v in variants]
    return srm_test(observed, shares, variants=variants)


def adjust_segments(comps: list[MetricComparison]) -> list[MetricComparison]:
    """Benjamini–Hochberg across the values of each (segment dimension, metric, variant)."""
    groups: dict[tuple[str | None, str, str], list[int]] = {}
    for i, c in enumerate(comps):
        groups.setdefault((c.segment, c.metric, c.variant), []).append(i)
    out = list(comps)
    for idx in groups.values():
        with_p = [i for i in idx if comps[i].comparison.pvalue is not None]
        if not with_p:
            continue
        ps = [comps[i].comparison.pvalue for i in with_p]
        adj = adjust_pvalues(ps, method="fdr_bh").adjusted
        for i, p in zip(with_p, adj, strict=True):
            out[i] = replace(comps[i], pvalue_adjusted=p, correction="fdr_bh")
    return out


# ------------------------------------------------------------------ regression adjustment


class Cells:
    """One slice's rows per arm and stratum, and what ``adjust=`` adjusts for.

    ``rows[variant][stratum]``: a row of the statistics frame summed to (variant, strata…);
    ``covariates``: the numeric ``adjust`` columns (each two covariates in the frame: value,
    is-null; see :func:`~abkit.query.values.covariate_values`). ``pooled`` collects, per
    metric, the strata pooled for sparseness (for the data-quality finding).
    """

    def __init__(
        self,
        rows: Mapping[str, Mapping[Any, Mapping[str, Any]]],
        strata: tuple[str, ...],
        covariates: tuple[str, ...],
        pooled: dict[str, set[Any]] | None = None,
    ) -> None:
        self.rows, self.strata, self.covariates = rows, strata, covariates
        self.pooled = pooled if pooled is not None else {}

    def sums(self, m: Metric, variant: str) -> dict[Any, StratumSums]:
        """``m``'s :class:`StratumSums` per stratum of one arm."""
        out = {}
        for key, row in self.rows.get(variant, {}).items():
            n = int(_num(row[stat_col(m, N)]))
            if n == 0:
                continue
            y = (_num(row[stat_col(m, SUM)]), _num(row[stat_col(m, SUMSQ)]))
            out[key] = StratumSums(n, *y, *self._covariate_sums(m, row))
        return out

    def _covariate_sums(self, m: Metric, row: Mapping[str, Any]) -> tuple[Any, Any, Any]:
        """(Σz, Σzzᵀ, Σzy) of ``m`` in one row: CUPED's covariate first, then the numeric
        ``adjust`` columns' value and is-null pairs."""
        k = 2 * len(self.covariates)
        cuped = stat_col(m, CXY) in row

        def get(kind: str, j: int, i: int | None = None) -> float:
            return _num(row.get(stat_col(m, adjust_field(kind, j, i))))

        z = [get("z", j) for j in range(k)]
        zy = [get("zy", j) for j in range(k)]
        zz = [[get("zz", min(a, b), max(a, b)) for b in range(k)] for a in range(k)]
        if cuped:
            cx, cxx, cxy = (_num(row[stat_col(m, f)]) for f in CUPED_FIELDS)
            xz = [get("xz", j) for j in range(k)]
            z, zy = [cx, *z], [cxy, *zy]
            zz = [[cxx, *xz], *[[xz[a], *zz[a]] for a in range(k)]]
        return tuple(z), tuple(tuple(r) for r in zz), tuple(zy)

    def names(self, m: Metric, row: Mapping[str, Any]) -> list[str]:
        """The covariates' names in the order of :meth:`_covariate_sums`."""
        pairs = [n for c in self.covariates for n in (c, f"{c} is null")]
        return (["CUPED pre-period"] if stat_col(m, CXY) in row else []) + pairs

    def compare(
        self, m: Metric, control: str, variant: str, kw: Mapping[str, Any]
    ) -> tuple[Comparison, float | None]:
        """The regression-adjusted comparison of ``m`` (:func:`abkit.stats.adjust`)."""
        c, t = self.sums(m, control), self.sums(m, variant)
        r = adjusted_compare(c, t, **kw)
        row = next(iter(next(iter(self.rows.values())).values()))
        names = self.names(m, row)
        used = [names[j] for j in r.covariates_used]
        what = [f"strata of {' × '.join(self.strata)}"] if len(r.strata) > 1 else []
        what += [n for n in used]
        cmp = r.comparison
        if r.pooled and len(r.strata) >= 1:
            self.pooled.setdefault(m.name, set()).update(r.pooled)
            shown = ", ".join(map(_label, sorted(r.pooled, key=str)[:5]))
            more = f" and {len(r.pooled) - 5} more" if len(r.pooled) > 5 else ""
            cmp = with_note(cmp, f"sparse strata pooled: {shown}{more}")
        if r.variance_reduction is None:
            why = (r.note or "nothing to adjust for").split("; ")[0].removeprefix("no adjustment: ")
            cmp = with_note(cmp, f"not regression-adjusted: {why}")
            return cmp, None
        cmp = with_note(
            cmp,
            f"adjusted for {', '.join(what)}: variance of the lift {-r.variance_reduction:+.0%}",
        )
        return cmp, r.variance_reduction


def _label(key: Any) -> str:
    """A stratum key as text: its values joined by " × "."""
    return " × ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def strata_rows(
    table: pd.DataFrame, strata: tuple[str, ...], by: str | None = None
) -> dict[Any, dict[str, dict[Any, dict[str, Any]]]]:
    """Rows of ``table`` by value of ``by`` (one key ``None`` without), variant and stratum."""
    out: dict[Any, dict[str, dict[Any, dict[str, Any]]]] = {}
    for r in records(table):
        key = tuple(r[s] for s in strata) if strata else "all"
        block = out.setdefault(r[by] if by is not None else None, {})
        block.setdefault(str(r[VARIANT]), {})[key] = r
    return out
