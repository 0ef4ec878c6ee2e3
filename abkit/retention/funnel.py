"""Ordered funnels per variant, with a test at every step."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit._display import arm_sizes, decision_words, more_lines, tone_attrs
from abkit._format import fmt_abs, fmt_p, fmt_rel, fmt_value
from abkit.data import require_events_occur
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

    def _shown(self) -> list[tuple[str, str, Any]]:
        """(step, base, row) for each comparison; step 1's step rate repeats its overall rate."""
        out = []
        for r in self.comparisons.itertuples():
            if r.kind == "step" and r.step_index == 1:
                continue
            base = "units" if r.kind == "overall" else self.steps[r.step_index - 2]
            out.append((str(r.step), base, r))
        return out

    def __repr__(self) -> str:
        n = self.table.drop_duplicates("variant").set_index("variant")["n"]
        sizes = arm_sizes(self.variants, [int(n.get(v, 0)) for v in self.variants])
        head = f"<FunnelResult {' → '.join(self.steps)} within {self.window_days} days: {sizes}"
        head += "; tests uncorrected>"
        lines = [
            f"  {step} / {base}, {r.variant}: {fmt_value(r.treatment_value, 'proportion')} vs "
            f"{fmt_value(r.control_value, 'proportion')}, {fmt_abs(r.abs_lift, 'proportion')} "
            f"({fmt_rel(_num(r.rel_lift))}), {_decision(r)}"
            for step, base, r in self._shown()
        ]
        return "\n".join([head, *more_lines(lines)])

    def _repr_html_(self) -> str:
        """The comparisons (share of units reaching a step, and of the previous step's), each
        decision coloured inline."""
        e, k = html.escape, "proportion"
        rows = "".join(
            f"<tr{tone_attrs(_decision(r))}><td>{e(step)}</td><td>{e(base)}</td>"
            f"<td>{e(str(r.variant))}</td><td>{fmt_value(r.control_value, k)}</td>"
            f"<td>{fmt_value(r.treatment_value, k)}</td><td>{fmt_abs(r.abs_lift, k)} "
            f"[{fmt_abs(_num(r.abs_lift_ci_lower), k)}, {fmt_abs(_num(r.abs_lift_ci_upper), k)}]"
            f"</td><td>{fmt_rel(_num(r.rel_lift))}</td><td>{e(fmt_p(_num(r.pvalue)))}</td>"
            f"<td>{e(_decision(r))}</td><td>{r.n_control:,} / {r.n_treatment:,}</td></tr>"
            for step, base, r in self._shown()
        )
        return (
            f"<div class='abkit-funnel'><h4>Funnel {e(' → '.join(self.steps))}</h4><table><thead>"
            "<tr><th>step</th><th>of</th><th>variant</th><th>control</th><th>treatment</th>"
            "<th>abs. lift [CI]</th><th>rel. lift</th><th>p-value</th><th>decision</th>"
            f"<th>n (c / t)</th></tr></thead><tbody>{rows}</tbody></table><p><small>Uncorrected "
            "tests, significant when the interval excludes 0; green / red: significantly higher "
            f"/ lower, grey: not significant or untested. {e(self.definition)}.</small></p></div>"
        )

    @property
    def definition(self) -> str:
        return (
            f"step k is reached when an event named steps[k] happens at or after the time step "
            f"k-1 was reached (step 1: at or after first exposure), within {self.window_days} "
            f"days (t0 <= ts < t0 + {24 * self.window_days}h); units count once as_of >= t0 + "
            f"{24 * self.window_days}h. 'overall' = reached / units; 'step' = reached / reached "
            "the previous step"
        )


def _num(x: Any) -> float | None:
    """A frame cell as a float, None for a missing value."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _decision(r: Any) -> str:
    """The decision of one funnel comparison: its (Wald) interval at the funnel's alpha excludes
    0 exactly when its p-value is below alpha."""
    lo, hi = _num(r.abs_lift_ci_lower), _num(r.abs_lift_ci_upper)
    sig = lo is not None and hi is not None and (lo > 0 or hi < 0)
    return decision_words(_num(r.pvalue), r.abs_lift, sig, r.note)


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
    require_events_occur(p.events, p.con, steps, what="funnel step(s)")
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
