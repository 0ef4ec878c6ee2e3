"""Time to churn per variant: Kaplan–Meier curves, log-rank test, RMST difference."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit import plot
from abkit._display import arm_sizes, decision_words, fmt_when, more_lines, tone_attrs
from abkit._format import fmt_p, p_clause
from abkit.engine import execute
from abkit.errors import DataError
from abkit.retention._units import (
    Prepared,
    order_variants,
    positive_days,
    require_activity_events,
    shared_or_prepare,
)
from abkit.retention.hazards import churn_times, churn_times_shared
from abkit.stats.survival import (
    KMCurve,
    LogRankResult,
    RMSTComparison,
    compare_rmst,
    kaplan_meier,
    logrank,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["ChurnResult", "churn_survival"]


@dataclass(frozen=True, slots=True)
class ChurnResult:
    """Time to churn per variant: KM curves, log-rank test, RMST difference up to ``tau``.

    Churn at day ``c``: the unit is inactive on days ``c .. c+K-1`` (K = ``inactive_days``), the
    first such run after exposure; its time is ``c`` (days retained). A unit without such a run is
    censored at the last ``c`` that could have been observed by ``as_of``; everything is
    restricted to ``tau``.
    """

    control: str
    variants: tuple[str, ...]
    inactive_days: int
    tau: int
    as_of: datetime
    curves: dict[str, KMCurve]
    logrank: LogRankResult
    rmst: dict[str, RMSTComparison]
    counts: pd.DataFrame
    immature: int = 0
    #: why there is no RMST comparison (tau beyond the follow-up), else None
    note: str | None = None

    def to_pandas(self) -> pd.DataFrame:
        """KM curves in long form: variant, day, survival, ci_lower, ci_upper, at_risk, churned."""
        import pandas as pd

        rows = []
        for v, c in self.curves.items():
            rows.append(
                {
                    "variant": v,
                    "day": 0.0,
                    "survival": 1.0,
                    "ci_lower": 1.0,
                    "ci_upper": 1.0,
                    "at_risk": c.n,
                    "churned": 0,
                }
            )
            for i, t in enumerate(c.times):
                rows.append(
                    {
                        "variant": v,
                        "day": t,
                        "survival": c.survival[i],
                        "ci_lower": c.ci_lower[i],
                        "ci_upper": c.ci_upper[i],
                        "at_risk": c.at_risk[i],
                        "churned": c.events[i],
                    }
                )
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """One row per treatment: RMST per arm, the difference ("extra retained days"), CI, p."""
        import pandas as pd

        columns = ["variant", "tau", "rmst_control", "rmst_treatment", "extra_days", "ci_lower"]
        columns += ["ci_upper", "pvalue", "logrank_pvalue"]
        return pd.DataFrame(
            [
                {
                    "variant": v,
                    "tau": r.tau,
                    "rmst_control": r.rmst_control,
                    "rmst_treatment": r.rmst_treatment,
                    "extra_days": r.difference,
                    "ci_lower": r.ci_lower,
                    "ci_upper": r.ci_upper,
                    "pvalue": r.pvalue,
                    "logrank_pvalue": self.logrank.pvalue,
                }
                for v, r in self.rmst.items()
            ],
            columns=columns,
        )

    @property
    def definition(self) -> str:
        k = self.inactive_days
        return (
            f"churn = the first day c after exposure that starts {k} consecutive inactive days "
            f"(days c..c+{k - 1} with no event); time = c days retained; units without such a "
            f"run are censored at the last day that as_of lets us check; restricted to tau = "
            f"{self.tau} days; units with fewer than {k} whole days observed are excluded as "
            f"immature ({self.immature:,})"
        )

    def _decision(self, r: RMSTComparison) -> str:
        significant = r.pvalue is not None and r.pvalue < r.alpha
        return decision_words(r.pvalue, r.difference, significant, r.note)

    def __repr__(self) -> str:
        sizes = arm_sizes(self.variants, [self.curves[v].n for v in self.variants])
        head = (
            f"<ChurnResult as of {fmt_when(self.as_of)}: churn = {self.inactive_days} inactive "
            f"days, tau = {self.tau}; {sizes}; log-rank {_p(self.logrank.pvalue)}>"
        )
        lines = [
            f"  {v}: RMST {r.rmst_treatment:.3g} vs {r.rmst_control:.3g} days, "
            f"{_days(r.difference)} days [{_days(r.ci_lower)}, {_days(r.ci_upper)}] "
            f"({_p(r.pvalue)}), {self._decision(r)}"
            for v, r in self.rmst.items()
        ]
        return "\n".join([head, *more_lines(lines), *([f"  {self.note}"] if self.note else [])])

    def _repr_html_(self) -> str:
        """The RMST summary (extra days retained up to ``tau``), each decision coloured inline."""
        e = html.escape
        rows = "".join(
            f"<tr{tone_attrs(self._decision(r))}><td>{e(v)}</td><td>{r.rmst_control:.3g}</td>"
            f"<td>{r.rmst_treatment:.3g}</td><td>{_days(r.difference)} [{_days(r.ci_lower)}, "
            f"{_days(r.ci_upper)}]</td><td>{e(fmt_p(r.pvalue))}</td>"
            f"<td>{e(self._decision(r))}</td></tr>"
            for v, r in self.rmst.items()
        )
        level = int(100 * (1 - next(iter(self.rmst.values())).alpha)) if self.rmst else 95
        return (
            f"<div class='abkit-churn'><h4>Time to churn (tau = {self.tau} days)</h4><table>"
            f"<thead><tr><th>variant</th><th>RMST {e(self.control)}</th><th>RMST variant</th>"
            f"<th>extra days [CI]</th><th>p-value</th><th>decision</th></tr></thead><tbody>{rows}"
            f"</tbody></table>{f'<p>{e(self.note)}</p>' if self.note else ''}"
            f"<p><small>Log-rank p = {e(fmt_p(self.logrank.pvalue))}; {level}% "
            "intervals; uncorrected tests; green / red: significantly more / fewer days retained, "
            f"grey: not significant or untested. {e(self.definition)}.</small></p></div>"
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Kaplan–Meier curves with their bands."""
        return plot.km_curves(self, ax=ax)


def _p(p: float | None) -> str:
    return "p = –" if p is None else p_clause(p)


def _days(x: float | None) -> str:
    """Retained days, signed, 3 significant digits."""
    return "–" if x is None else f"{x:+.3g}"


def churn_survival(
    exposures: Any,
    events: Any,
    *,
    inactive_days: int = 7,
    tau: int = 30,
    control: str = "control",
    event: str | Sequence[str] | None = None,
    as_of: datetime | str | None = None,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    con: Any = None,
    shared: Prepared | None = None,
) -> ChurnResult:
    """Time until ``inactive_days`` consecutive inactive days, per variant (see :class:`ChurnResult`).

    The per-unit churn day is found in the engine with one window function over distinct active
    days; only ``(variant, time, churned, units)`` counts come back. With ``shared`` (the
    per-unit table a report shares, :func:`abkit.retention._units.share`, of the same logs and
    ``as_of``) the churn days are read from that table instead of the events, when it holds them.
    """
    positive_days(inactive_days=inactive_days, tau=tau)
    p = shared_or_prepare(shared, exposures, events, as_of=as_of, columns=columns, tz=tz, con=con)
    require_activity_events(p, event, "churn_survival")
    k = inactive_days
    got = churn_times_shared(p, inactive_days=k, tau=tau, event=event)
    u, immature = got or churn_times(p, p.units, inactive_days=k, tau=tau, event=event)
    n_immature = int(execute(immature, p.con))
    counts = execute(u.group_by(["variant", "time", "churned"]).aggregate(units=u.count()), p.con)
    if counts.empty:
        if n_immature:
            raise DataError(
                f"no unit has {k} whole days observed by as_of ({fmt_when(p.as_of)}), so churn "
                f"after {k} inactive days cannot be checked yet; lower inactive_days "
                "(report.churn_inactive_days in a spec) or wait for more data"
            )
        raise DataError("no analysable units: check exposures and as_of")
    counts["variant"] = counts["variant"].astype(str)
    variants = order_variants(counts.variant.unique().tolist(), control)
    arms = {
        v: (g.time.to_numpy(), g.churned.to_numpy(), g.units.to_numpy())
        for v, g in counts.groupby("variant")
    }
    curves = {v: kaplan_meier(*arms[v], alpha=alpha) for v in variants}
    lr = logrank(counts.time, counts.churned, counts.variant, counts.units)
    # the KM curve says nothing beyond an arm's longest follow-up: an RMST restricted to a later
    # tau would integrate an extrapolated flat tail (as survRM2 refuses, so does abkit)
    follow = {v: int(arms[v][0].max()) for v in variants}
    short = min(variants, key=lambda v: follow[v])
    note = None
    if follow[short] < tau:
        note = (
            f"RMST not computed: tau = {tau} days is beyond the longest follow-up by as_of "
            f"({follow[short]} days in {short}); set tau (report.churn_tau) to at most "
            f"{follow[short]}, or wait for more data"
        )
    rm = {
        v: compare_rmst(arms[control], arms[v], tau=tau, alpha=alpha, alternative=alternative)
        for v in (variants[1:] if note is None else [])
    }
    counts = counts.sort_values(["variant", "time", "churned"]).reset_index(drop=True)
    return ChurnResult(
        control, tuple(variants), k, tau, p.as_of, curves, lr, rm, counts, n_immature, note
    )
