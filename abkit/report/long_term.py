"""The report's Long-term section: novelty / primacy, the surrogate forecasts, churn regression.

Each view runs on the report's logs with the spec's control and alpha; one the data cannot
support yet (too few mature units, nobody churned) is skipped with its reason, never failing
the report. :func:`long_term_summary` is what ``summary.json`` carries under ``long_term``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from abkit.errors import DataError
from abkit.metrics import ActiveDays, Retention
from abkit.retention import churn_regression, novelty
from abkit.retention.surrogate import surrogate_forecast

if TYPE_CHECKING:
    from abkit.spec import ExperimentSpec

#: the views take the report's ReportContext (typed loosely: context imports this module)
ReportContext = Any

__all__ = [
    "NOVELTY_DAYS",
    "forecasts",
    "hazards",
    "long_term_summary",
    "novelty_days",
    "novelty_days_of",
    "novelty_view",
]

#: days since exposure the novelty trend spans (fewer when the log is shorter)
NOVELTY_DAYS = 14


def _skip(ctx: ReportContext, section: str, why: str) -> None:
    ctx.cache[f"skipped:{section}"] = why


def forecasts(ctx: ReportContext) -> list[Any]:
    """Surrogate-index forecasts of the long-term retention metrics (see ReportContext)."""
    k = ctx.spec.report.forecast_from_day
    if not ctx.has_events or k is None or ctx.result.as_of is None:
        return []
    if "forecasts" not in ctx.cache:
        out, notes = [], []
        surrogates: list[Retention | ActiveDays] = [ActiveDays(days=(1, k)), Retention(day=1)]
        surrogates += [Retention(day=k)] if k > 1 else []
        for m in ctx.spec.build_metrics():
            if not isinstance(m, Retention) or m.window[0] <= k or m.tz or m.event:
                continue
            try:
                out.append(
                    surrogate_forecast(
                        target=m,
                        surrogates=surrogates,
                        control=ctx.spec.control,
                        alpha=ctx.spec.alpha,
                        shared=ctx.shared(),
                        **ctx._view_args(),
                    )
                )
            except DataError as exc:
                notes.append(f"{m.label}: {exc}")
        ctx.cache["forecasts"] = out
        if notes:
            _skip(ctx, "forecast", "; ".join(notes))
    return list(ctx.cache["forecasts"])


def _once(ctx: ReportContext, section: str, view: Any, **kw: Any) -> Any:
    """``view(**kw)`` on the report's logs, computed once; None (and the reason, for
    ``skipped_html``) when the data cannot support it yet."""
    if section not in ctx.cache:
        try:
            args = {"control": ctx.spec.control, "alpha": ctx.spec.alpha, **ctx._view_args()}
            ctx.cache[section] = view(**kw, **args)
        except DataError as exc:
            ctx.cache[section] = None
            _skip(ctx, section, str(exc))
    return ctx.cache[section]


def novelty_days(ctx: ReportContext) -> int | None:
    """The days the novelty trend spans (None: the view is not shown)."""
    if not ctx.has_events or ctx.result.as_of is None:
        return None
    return novelty_days_of(ctx.spec)


def novelty_days_of(spec: ExperimentSpec) -> int | None:
    """The days the novelty trend of a report of ``spec`` on logs spans (None: not shown)."""
    days = int(spec.report.curve_days)
    return None if days == 0 else min(NOVELTY_DAYS, days)


def novelty_view(ctx: ReportContext) -> Any:
    """Does the lift fade or grow with the days since exposure? (None when not computable)."""
    days = novelty_days(ctx)
    if days is None:
        return None
    return _once(ctx, "novelty", novelty, days=days, shared=ctx.shared())


def hazards(ctx: ReportContext) -> Any:
    """Cox regression of the time to churn on the treatment and the spec's segments."""
    r = ctx.spec.report
    if not ctx.has_events or ctx.result.as_of is None or r.churn_inactive_days == 0:
        return None
    return _once(
        ctx,
        "hazards",
        churn_regression,
        attributes=ctx.spec.segments,
        inactive_days=r.churn_inactive_days,
        tau=r.churn_tau,
        shared=ctx.shared(),
    )


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x.item() if hasattr(x, "item") else x


def long_term_summary(ctx: ReportContext) -> dict[str, Any]:
    """``summary.json``'s ``long_term``: per treatment the novelty flag and slope, each
    forecast, and the treatment's adjusted hazard ratio with its proportional-hazards check."""
    nov, reg = novelty_view(ctx), hazards(ctx)
    doc: dict[str, Any] = {
        "novelty": []
        if nov is None
        else [{k: _clean(v) for k, v in row.items()} for row in nov.summary().to_dict("records")],
        "forecasts": [
            {"target": f.target, "surrogates": list(f.surrogates), "training": f.training}
            | {k: _clean(v) for k, v in row.items()}
            for f in forecasts(ctx)
            for row in f.to_pandas().to_dict("records")
        ],
        "churn_regression": None,
    }
    if reg is not None:
        cols = ["term", "hazard_ratio", "ci_lower", "ci_upper", "pvalue", "ph_pvalue", "ph_fails"]
        terms = reg.to_pandas()
        doc["churn_regression"] = {
            "treatment_terms": [
                {k: _clean(v) for k, v in row.items()}
                for row in terms[terms.treatment][cols].to_dict("records")
            ],
            "adjusted_for": list(reg.attributes),
            "warning": reg.warning,
        }
    return doc
