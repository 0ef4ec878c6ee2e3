"""Exploratory: early behaviours associated with later retention (correlation, not causation),
with the sample size an experiment would need to verify them."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit._display import TONE_COLORS, clip, more_lines
from abkit._format import fmt_abs, fmt_p, fmt_value
from abkit.engine import execute
from abkit.errors import DataError, SpecError
from abkit.metrics import Retention
from abkit.query import DAY_US, day_index
from abkit.query.values import in_window
from abkit.retention._units import prepare, require_event_column
from abkit.stats import compare_proportions
from abkit.stats.multiple import adjust_pvalues
from abkit.stats.power import sample_size_proportions

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CORRELATION_LABEL", "RetentionDrivers", "retention_drivers"]

CORRELATION_LABEL = (
    "Exploratory: these are associations within one arm, not causal effects. Units who do X may "
    "differ from those who don't in ways that also drive retention. Verify with an experiment."
)


@dataclass(frozen=True, slots=True)
class RetentionDrivers:
    """Early behaviours ranked by their association with later retention (not causal)."""

    target: str
    within_days: int
    arm: str | None
    table: pd.DataFrame
    label: str = CORRELATION_LABEL

    def to_pandas(self) -> pd.DataFrame:
        return self.table

    def __repr__(self) -> str:
        units = f" ({int(self.table.units.iloc[0]):,} units)" if len(self.table) else ""
        arm = "all arms" if self.arm is None else f"arm {clip(self.arm, 30)}"
        head = (
            f"<RetentionDrivers of {self.target}, behaviour in {_days(self.within_days)}, "
            f"{arm}{units}: {len(self.table)} candidates; exploratory, not causal>"
        )
        p = "proportion"
        lines = [
            f"  {r.behaviour}: {fmt_value(r.retention_doers, p)} vs "
            f"{fmt_value(r.retention_others, p)} retained, {fmt_abs(r.difference, p)}, "
            f"BH p = {fmt_p(_num(r.pvalue_bh))}"
            for r in self.table.itertuples()
        ]
        return "\n".join([head, *more_lines(lines)])

    def _repr_html_(self) -> str:
        """The ranking; rows whose interval includes 0 in grey (inline style). Associations,
        not effects: no green or red."""
        e, p, grey = html.escape, "proportion", TONE_COLORS["neutral"]
        rows = []
        for r in self.table.itertuples():
            lo, hi = _num(r.ci_lower), _num(r.ci_upper)
            clear = lo is not None and hi is not None and (lo > 0 or hi < 0)
            style = "" if clear else f" style='color:{grey}'"
            rows.append(
                f"<tr{style}><td>{e(str(r.behaviour))}</td><td>{fmt_value(r.share_doing, p)}</td>"
                f"<td>{fmt_value(r.retention_doers, p)}</td>"
                f"<td>{fmt_value(r.retention_others, p)}</td><td>{fmt_abs(r.difference, p)} "
                f"[{fmt_abs(lo, p)}, {fmt_abs(hi, p)}]</td><td>{e(fmt_p(_num(r.pvalue)))}</td>"
                f"<td>{e(fmt_p(_num(r.pvalue_bh)))}</td></tr>"
            )
        arm = "all arms" if self.arm is None else f"arm {self.arm}"
        return (
            f"<div class='abkit-drivers'><h4>Retention drivers of {e(self.target)} "
            f"({e(arm)})</h4><p><b>{e(self.label)}</b></p><table><thead><tr><th>behaviour</th>"
            "<th>share doing</th><th>retained (doers)</th><th>retained (others)</th>"
            "<th>difference [CI]</th><th>p-value</th><th>p (BH)</th></tr></thead><tbody>"
            f"{''.join(rows)}</tbody></table><p><small>Grey: the interval includes 0.</small>"
            "</p></div>"
        )

    def power_for_top(
        self, n: int = 3, *, share_of_gap: float = 0.5, alpha: float = 0.05, power: float = 0.8
    ) -> pd.DataFrame:
        """Units per arm to detect ``share_of_gap`` × the observed gap for the top candidates.

        The hypothesis handed to the next experiment: "a treatment that makes more units do X
        raises retention by part of the doers' advantage". Sample sizes from
        :func:`abkit.stats.power.sample_size_proportions`.
        """
        import pandas as pd

        rows = []
        for r in self.table.head(n).itertuples():
            mde = share_of_gap * (r.retention_doers - r.retention_others)
            if mde <= 0 or r.retention_others <= 0:
                continue
            res = sample_size_proportions(
                baseline=r.overall_retention, mde=mde, relative=False, alpha=alpha, power=power
            )
            rows.append(
                {
                    "behaviour": r.behaviour,
                    "baseline": r.overall_retention,
                    "mde_abs": mde,
                    "n_per_arm": int(res.nobs_control),
                }
            )
        return pd.DataFrame(rows)


def _days(within: int) -> str:
    return "day 0" if within == 1 else f"days 0-{within - 1}"


def _num(x: Any) -> float | None:
    """A frame cell as a float, None for a missing value."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def retention_drivers(
    exposures: Any,
    events: Any,
    *,
    target: Retention | int = 7,
    within_days: int = 1,
    candidates: Sequence[str] | None = None,
    arm: str | None = "control",
    top_events: int = 20,
    as_of: datetime | str | None = None,
    alpha: float = 0.05,
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    con: Any = None,
) -> RetentionDrivers:
    """Rank early behaviours ("did event X within the first ``within_days`` days") by how much
    more often the units who did them are retained on the ``target`` (default Day-7).

    Computed within one arm (default control, so the treatment does not confound it), on units
    mature for the target. Differences come with Wald intervals and Benjamini–Hochberg adjusted
    p-values across candidates. Correlation, not causation: see ``RetentionDrivers.label``.
    """
    import ibis
    import pandas as pd

    tgt = target if isinstance(target, Retention) else Retention(day=int(target))
    if tgt.tz is not None:
        raise SpecError("retention_drivers uses rolling-day targets; drop tz= from the target")
    a, b = tgt.window
    if (
        isinstance(within_days, bool)
        or not isinstance(within_days, int)
        or not 1 <= within_days <= a
    ):
        raise SpecError(
            f"within_days must be 1..{a} so the behaviour is observed before the target window "
            f"starts (day {a}); got {within_days!r}"
        )
    p = prepare(exposures, events, as_of=as_of, columns=columns, tz=tz, con=con)
    require_event_column(p, "retention drivers")
    as_lit = ibis.literal(p.as_of)
    units = p.units
    if arm is not None:
        units = units.filter(units.variant == arm)
    units = units.filter(as_lit.delta(units.t0, unit="microsecond") >= (b + 1) * DAY_US)
    j = p.events.select("unit_id", "ts", "event").join(units.select("unit_id", "t0"), "unit_id")
    j = j.filter((j.ts >= j.t0) & (j.ts <= as_lit)).mutate(
        _day=day_index(str(p.con.name), j.t0, j.ts)
    )
    early = j.filter(j._day < within_days)
    if candidates is None:
        top = early.group_by("event").aggregate(n=early.unit_id.nunique())
        ranked = top.order_by(ibis.desc("n")).limit(top_events)
        candidates = execute(ranked, p.con)["event"].tolist()
    candidates = [str(c) for c in candidates]
    if not candidates:
        raise DataError("no events in the early window to rank")
    target_flag = in_window(tgt, j._day, j.event if tgt.event else None)
    per_unit = j.group_by("unit_id").aggregate(
        _ret=target_flag.any().cast("int64"),
        **{
            f"_x{i}": ((j._day < within_days) & (j.event == c)).any().cast("int64")
            for i, c in enumerate(candidates)
        },
    )
    u = units.left_join(per_unit, "unit_id")
    aggs: dict[str, Any] = {"n": u.count(), "ret": u._ret.fill_null(0).sum()}
    for i in range(len(candidates)):
        x = u[f"_x{i}"].fill_null(0)
        aggs[f"d{i}"] = x.sum()
        aggs[f"rd{i}"] = (x * u._ret.fill_null(0)).sum()
    s = execute(u.aggregate(**aggs), p.con).iloc[0]
    n, ret = int(s["n"]), int(s["ret"])
    if n == 0:
        raise DataError(f"no units in arm {arm!r} are mature for {tgt.name} by as_of")
    rows = []
    for i, c in enumerate(candidates):
        doers, ret_doers = int(s[f"d{i}"]), int(s[f"rd{i}"])
        others, ret_others = n - doers, ret - ret_doers
        if doers == 0 or others == 0:
            continue
        cmp = compare_proportions(ret_others, others, ret_doers, doers, alpha=alpha)
        rows.append(
            {
                "behaviour": f"did '{c}' in days 0-{within_days - 1}",
                "event": c,
                "share_doing": doers / n,
                "retention_doers": cmp.treatment_value,
                "retention_others": cmp.control_value,
                "difference": cmp.abs_lift,
                "ci_lower": cmp.abs_lift_ci_lower,
                "ci_upper": cmp.abs_lift_ci_upper,
                "pvalue": cmp.pvalue,
                "overall_retention": ret / n,
                "units": n,
            }
        )
    table = pd.DataFrame(rows)
    if not table.empty:
        ok = table.pvalue.notna()
        table["pvalue_bh"] = math.nan
        if ok.any():
            adj = adjust_pvalues(table.loc[ok, "pvalue"].tolist(), method="fdr_bh")
            table.loc[ok, "pvalue_bh"] = list(adj.adjusted)
        table = table.sort_values("difference", ascending=False, kind="stable").reset_index(
            drop=True
        )
    return RetentionDrivers(tgt.name, within_days, arm, table)
