"""Ordered funnels per variant, with a test at every step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit.engine import execute
from abkit.errors import DataError, SpecError
from abkit.query import DAY_US
from abkit.retention._units import order_variants, prepare, require_event_column
from abkit.stats import compare_proportions

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FunnelResult", "funnel"]


@dataclass(frozen=True, slots=True)
class FunnelResult:
    """Ordered funnel per variant: units reaching each step, conversion and step-to-step rates."""

    steps: tuple[str, ...]
    window_days: int
    control: str
    variants: tuple[str, ...]
    table: pd.DataFrame  # variant, step, reached, n (mature units)
    comparisons: (
        pd.DataFrame
    )  # step, variant, kind (overall|step), control/treatment rates, lift, CI, p

    def to_pandas(self) -> pd.DataFrame:
        return self.comparisons

    @property
    def definition(self) -> str:
        return (
            f"step k is reached when an event named steps[k] happens at or after the time step "
            f"k-1 was reached (step 1: at or after first exposure), within {self.window_days} "
            f"days (t0 <= ts < t0 + {24 * self.window_days}h); units count once as_of >= t0 + "
            f"{24 * self.window_days}h. 'overall' = reached / units; 'step' = reached / reached "
            "the previous step"
        )


def funnel(
    exposures: Any,
    events: Any,
    steps: Sequence[str],
    *,
    window_days: int = 7,
    control: str = "control",
    as_of: datetime | str | None = None,
    alpha: float = 0.05,
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    con: Any = None,
) -> FunnelResult:
    """Ordered funnel within ``window_days`` of first exposure, with a test at every step."""
    import ibis
    import pandas as pd

    steps = tuple(steps)
    if len(steps) < 1 or not all(isinstance(s, str) and s for s in steps):
        raise SpecError(f"steps must be a non-empty list of event names, got {steps!r}")
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise SpecError(f"window_days must be a positive whole number, got {window_days!r}")
    p = prepare(exposures, events, as_of=as_of, columns=columns, tz=tz, con=con)
    require_event_column(p, "a funnel")
    as_lit = ibis.literal(p.as_of)
    units = p.units.filter(as_lit.delta(p.units.t0, unit="microsecond") >= window_days * DAY_US)
    ev = p.events.filter(p.events.event.isin(list(steps))).select("unit_id", "ts", "event")
    ev = ev.join(units.select("unit_id", "t0"), "unit_id")
    ev = ev.filter(
        (ev.ts >= ev.t0) & (ev.ts.delta(ev.t0, unit="microsecond") < window_days * DAY_US)
    )
    reached = units.select("unit_id", "variant", _r0=units.t0)
    for i, step in enumerate(steps, start=1):
        prev = reached.select("unit_id", _prev=reached[f"_r{i - 1}"])
        cand = ev.filter(ev.event == step).join(prev, "unit_id")
        # a step repeated right after itself needs a later event, not the same one again
        later = cand.ts > cand._prev if i >= 2 and steps[i - 2] == step else cand.ts >= cand._prev
        cand = cand.filter(later)
        first = cand.group_by("unit_id").aggregate(**{f"_r{i}": cand.ts.min()})
        reached = reached.left_join(first, "unit_id").drop("unit_id_right")
    aggs = {"n": reached.count()}
    for i in range(1, len(steps) + 1):
        aggs[f"s{i}"] = reached[f"_r{i}"].notnull().cast("int64").sum()
    table = execute(reached.group_by("variant").aggregate(**aggs), p.con)
    if table.empty:
        raise DataError(f"no units have a complete {window_days}-day window by as_of")
    table["variant"] = table["variant"].astype(str)
    variants = order_variants(table.variant.tolist(), control)
    t = table.set_index("variant")
    long_rows, comp_rows = [], []
    for v in variants:
        for i, step in enumerate(steps, start=1):
            long_rows.append(
                {
                    "variant": v,
                    "step": step,
                    "reached": int(t.loc[v, f"s{i}"]),
                    "n": int(t.loc[v, "n"]),
                }
            )
    for i, step in enumerate(steps, start=1):
        for v in variants[1:]:
            for kind in ("overall", "step"):
                den = "n" if (kind == "overall" or i == 1) else f"s{i - 1}"
                nc, nt = int(t.loc[control, den]), int(t.loc[v, den])
                xc, xt = int(t.loc[control, f"s{i}"]), int(t.loc[v, f"s{i}"])
                if nc == 0 or nt == 0:
                    continue
                c = compare_proportions(xc, nc, xt, nt, alpha=alpha)
                comp_rows.append(
                    {
                        "step": step,
                        "step_index": i,
                        "kind": kind,
                        "variant": v,
                        "control_value": c.control_value,
                        "treatment_value": c.treatment_value,
                        "abs_lift": c.abs_lift,
                        "abs_lift_ci_lower": c.abs_lift_ci_lower,
                        "abs_lift_ci_upper": c.abs_lift_ci_upper,
                        "rel_lift": c.rel_lift,
                        "pvalue": c.pvalue,
                        "n_control": nc,
                        "n_treatment": nt,
                        "note": c.note,
                    }
                )
    return FunnelResult(
        steps,
        window_days,
        control,
        tuple(variants),
        pd.DataFrame(long_rows),
        pd.DataFrame(comp_rows),
    )
