"""A forecast of a long-term retention lift from early behaviour: the surrogate index.

Athey, Chetty, Imbens & Kang (2019), "The Surrogate Index: Combining Short-Term Proxies to
Estimate Long-Term Treatment Effects More Rapidly and Precisely". D30 needs 31 days per unit;
the first week of activity is known after 8. abkit fits ``P(target | surrogates)`` — a logistic
regression (statsmodels GLM, frequency weights) of the long-term outcome on the short-term
surrogates — on units whose long-term window has matured, then averages the fitted
probabilities over every unit of each arm whose surrogates have matured: the *surrogate index*
of the arm. The forecast lift is the difference of the indexes.

* **Training units**: the control arm's units mature for the target (treatment units are never
  used: the model must not learn the treatment), or every mature unit of a ``reference`` pair of
  logs (a previous experiment, or pre-experiment cohorts).
* **What leaves the engine**: one grouped count per (variant, surrogate values, target mature,
  target value) — a few hundred rows at most, never a row per unit.
* **Interval**: a Poisson bootstrap over units (each unit's weight ~ Poisson(1), so each
  group's count is redrawn ~ Poisson(count)), refitting the model every time, so the interval
  carries the model's uncertainty as well as the arms' sampling noise; percentile interval.
* **Backtest**: on the units whose target has matured, the forecast made from their surrogates
  only (the model trained as above) beside the lift measured on the target itself.

The forecast rests on the **surrogacy assumption**: the treatment changes the long-term outcome
only through the surrogates. A treatment that acts on day 30 through a path the first week does
not show (a day-30 reminder, a price change that bites later) makes the forecast biased —
``docs/long_term.md`` shows such a case. The backtest is the check the data allow.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from abkit._display import TONE_COLORS, more_lines
from abkit._format import fmt_abs, fmt_value
from abkit.engine import execute
from abkit.errors import DataError, SpecError
from abkit.metrics import ActiveDays, Retention
from abkit.query import day_index
from abkit.query.units_table import bit_count
from abkit.query.values import in_window
from abkit.retention._units import Prepared, order_variants, shared_or_prepare
from abkit.stats import compare_proportions

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SURROGACY_LABEL", "SurrogateForecast", "surrogate_forecast"]

SURROGACY_LABEL = (
    "Forecast, not a measurement: it assumes the treatment changes the long-term outcome only "
    "through the early behaviours used as surrogates. Check the backtest, and read the measured "
    "value once it is mature."
)
#: the fewest training units (and of each outcome) a surrogate model is fitted on
MIN_TRAINING, MIN_OUTCOMES = 200, 20

Surrogate = Retention | ActiveDays


@dataclass(frozen=True, slots=True)
class SurrogateForecast:
    """The surrogate-index forecast of a long-term lift per treatment (see the module)."""

    target: str
    surrogates: tuple[str, ...]
    training: str
    n_training: int
    alpha: float
    as_of: datetime
    #: one row per treatment: forecast, interval, measured value and backtest (see to_pandas)
    table: pd.DataFrame
    label: str = SURROGACY_LABEL

    def to_pandas(self) -> pd.DataFrame:
        """Per treatment: ``index_control``, ``index_treatment``, ``forecast_lift``,
        ``ci_lower``, ``ci_upper``, ``n_control``, ``n_treatment`` (units with mature
        surrogates), ``measured_lift`` with its ``measured_ci_*`` and ``n_mature_*`` (units
        mature for the target; None when none is), ``backtest_forecast`` and
        ``backtest_measured`` (on those mature units)."""
        return self.table

    def __repr__(self) -> str:
        head = (
            f"<SurrogateForecast of {self.target} from {', '.join(self.surrogates)}; trained on "
            f"{self.training} ({self.n_training:,} units); a forecast under the surrogacy "
            "assumption>"
        )
        p, lines = "proportion", []
        for r in self.table.itertuples():
            line = (
                f"  {r.variant}: forecast {fmt_abs(r.forecast_lift, p)} [{fmt_abs(r.ci_lower, p)}, "
                f"{fmt_abs(r.ci_upper, p)}]"
            )
            if r.measured_lift is not None and not _nan(r.measured_lift):
                line += f"; measured so far {fmt_abs(r.measured_lift, p)} ({r.n_mature_treatment:,} units)"
            lines.append(line)
        return "\n".join([head, *more_lines(lines)])

    def _repr_html_(self) -> str:
        e, p = html.escape, "proportion"
        rows = []
        for r in self.table.itertuples():
            measured = (
                "not mature yet"
                if r.measured_lift is None or _nan(r.measured_lift)
                else f"{fmt_abs(r.measured_lift, p)} [{fmt_abs(r.measured_ci_lower, p)}, "
                f"{fmt_abs(r.measured_ci_upper, p)}]"
            )
            backtest = (
                "–"
                if _nan(r.backtest_forecast)
                else f"{fmt_abs(r.backtest_forecast, p)} vs {fmt_abs(r.backtest_measured, p)}"
            )
            rows.append(
                f"<tr><td>{e(r.variant)}</td><td>{fmt_value(r.index_control, p)} → "
                f"{fmt_value(r.index_treatment, p)}</td><td>{fmt_abs(r.forecast_lift, p)} "
                f"[{fmt_abs(r.ci_lower, p)}, {fmt_abs(r.ci_upper, p)}]</td><td>{measured}</td>"
                f"<td>{backtest}</td></tr>"
            )
        level = round(100 * (1 - self.alpha))
        return (
            f"<div class='abkit-surrogate'><h4>Forecast of {e(self.target)} (surrogate index)</h4>"
            "<table><thead><tr><th>variant</th><th>forecast control → treatment</th>"
            f"<th>forecast lift [{level}% CI]</th><th>measured lift so far</th>"
            "<th>backtest: forecast vs measured</th></tr></thead><tbody>"
            + "".join(rows)
            + f"</tbody></table><p style='color:{TONE_COLORS['neutral']}'><small>"
            f"{e(self.label)} Surrogates: {e(', '.join(self.surrogates))}; trained on "
            f"{e(self.training)} ({self.n_training:,} units).</small></p></div>"
        )


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _check(metric: Any, what: str) -> Surrogate:
    if not isinstance(metric, Retention | ActiveDays):
        raise SpecError(f"{what} must be Retention or ActiveDays metrics, got {metric!r}")
    if metric.tz is not None:
        raise SpecError(f"{what} use rolling days; drop tz= from {metric.name}")
    return metric


def _cells(
    exposures: Any,
    events: Any,
    target: Retention,
    surrogates: Sequence[Surrogate],
    as_of: datetime | str | None,
    columns: dict[str, str] | None,
    tz: str | None,
    con: Any,
    shared: Prepared | None = None,
) -> tuple[pd.DataFrame, datetime]:
    """Grouped counts: variant, one column per surrogate, ``_tm`` (target mature), ``_y``,
    ``n`` — over units whose surrogates have matured by as_of. With ``shared`` (the report's
    per-unit table) and no ``event=`` filter, from its ``active`` mask instead of the events."""
    import ibis

    p = shared_or_prepare(shared, exposures, events, as_of=as_of, columns=columns, tz=tz, con=con)
    be, as_lit = str(p.con.name), ibis.literal(p.as_of)
    s_days = max(m.mature_after_days for m in surrogates)
    if _reads_table(p, target, surrogates):
        return _finish(p, _cells_from_table(p, target, surrogates, s_days), len(surrogates))
    units = p.units.mutate(_age=day_index(be, p.units.t0, as_lit))
    units = units.filter(units._age >= s_days)  # whole days since t0: the windows have ended
    needs_event = any(m.event for m in (target, *surrogates))
    cols = ["unit_id", "ts", *(["event"] if needs_event and "event" in p.events.columns else [])]
    if needs_event and "event" not in p.events.columns:
        raise DataError("an event= filter needs an 'event' column (event names) in the events")
    j = p.events.select(*cols).join(units.select("unit_id", "t0"), "unit_id")
    j = j.filter((j.ts >= j.t0) & (j.ts <= as_lit)).mutate(_day=day_index(be, j.t0, j.ts))
    ev = j.event if needs_event else None

    def value(m: Surrogate) -> Any:
        flag = in_window(m, j._day, ev if m.event else None)
        if isinstance(m, ActiveDays):
            return j._day.nunique(where=flag).cast("int64")
        return flag.any().cast("int64")

    per_unit = j.group_by("unit_id").aggregate(
        _y=value(target), **{f"_s{i}": value(m) for i, m in enumerate(surrogates)}
    )
    u = units.left_join(per_unit, "unit_id")
    keys = {f"_s{i}": u[f"_s{i}"].fill_null(0) for i in range(len(surrogates))}
    mature = u._age >= target.mature_after_days
    u = u.mutate(_tm=mature.cast("int64"), _y=ibis.ifelse(mature, u._y.fill_null(0), 0), **keys)
    return _finish(p, u, len(surrogates))


def _reads_table(p: Prepared, target: Retention, surrogates: Sequence[Surrogate]) -> bool:
    """The shared per-unit table holds every window day of these metrics (and none filters
    events by name)."""
    metrics = (target, *surrogates)
    return (
        p.days is not None
        and not any(m.event for m in metrics)
        and max(m.window[1] for m in metrics) <= p.days.last_day
    )


def _cells_from_table(
    p: Prepared, target: Retention, surrogates: Sequence[Surrogate], s_days: int
) -> Any:
    """The per-unit values of :func:`_cells` from the ``active`` mask: active days in
    ``a..b`` = ``bit_count(active & bits(a..b))``, retained = any of those bits. The windows
    end before ``age`` (``age >= s_days``, or the target mature), so each of their days has
    ended by ``as_of`` and the mask holds it as the events would show it."""
    import ibis

    assert p.days is not None
    t = p.days.table
    u = t.filter(t.age >= s_days)

    def value(m: Surrogate) -> Any:
        a, b = m.window
        hit = u.active & ibis.literal((1 << (b + 1)) - (1 << a), "int64")
        if isinstance(m, ActiveDays):
            return bit_count(hit)
        return (hit != 0).cast("int64")

    mature = u.age >= target.mature_after_days
    keys = {f"_s{i}": value(m) for i, m in enumerate(surrogates)}
    zero = ibis.literal(0, "int64")
    return u.mutate(_tm=mature.cast("int64"), _y=ibis.ifelse(mature, value(target), zero), **keys)


def _finish(p: Prepared, u: Any, n_surrogates: int) -> tuple[pd.DataFrame, datetime]:
    """The grouped counts of the per-unit values ``u``, in a fixed order."""
    keys = [f"_s{i}" for i in range(n_surrogates)]
    grouped = u.group_by(["variant", *keys, "_tm", "_y"]).aggregate(n=u.count())
    df = execute(grouped, p.con)
    df["variant"] = df["variant"].astype(str)
    # the engine returns groups in any order; the bootstrap draws one count per row, so a fixed
    # order makes the same data and seed give the same interval
    order = ["variant", *keys, "_tm", "_y"]
    return df.sort_values(order, kind="stable").reset_index(drop=True), p.as_of


def _fit(x: np.ndarray, y: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Coefficients of the logistic regression of ``y`` on ``x`` (with an intercept column),
    frequency weights ``n`` (statsmodels GLM, Binomial family, IRLS)."""
    import statsmodels.api as sm

    keep = n > 0
    model = sm.GLM(y[keep], x[keep], family=sm.families.Binomial(), freq_weights=n[keep])
    return np.asarray(model.fit().params)


def _refit(x: np.ndarray, y: np.ndarray, n: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The same maximum-likelihood fit by Newton's method from ``start`` (the point estimate):
    a bootstrap replicate needs a few steps on a few hundred rows, not a GLM object each time
    (``tests/test_surrogate.py`` checks it against :func:`_fit` to 1e-9)."""
    beta = start.copy()
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        grad = x.T @ (n * (y - p))
        hess = (x * (n * p * (1 - p))[:, None]).T @ x
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.max(np.abs(step)) < 1e-12:
            return beta
    raise np.linalg.LinAlgError("the bootstrap fit did not converge")


def _index(beta: np.ndarray, x: np.ndarray, n: np.ndarray) -> float:
    """Mean fitted probability over the units counted by ``n`` (nan without units)."""
    total = n.sum()
    if total == 0:
        return math.nan
    return float(np.dot(n, 1.0 / (1.0 + np.exp(-(x @ beta)))) / total)


def surrogate_forecast(
    exposures: Any,
    events: Any,
    *,
    target: Retention | int = 30,
    surrogates: Sequence[Surrogate] | None = None,
    control: str = "control",
    reference: tuple[Any, Any] | None = None,
    as_of: datetime | str | None = None,
    alpha: float = 0.05,
    n_boot: int = 400,
    seed: int = 0,
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    con: Any = None,
    shared: Prepared | None = None,
) -> SurrogateForecast:
    """Forecast the lift of a long-term ``target`` (default D30 retention) from early
    ``surrogates`` (default: active days 1-7, D1 and D7 retention), per treatment.

    Args:
        exposures, events: the experiment's logs.
        target: the long-term Retention metric (or its day).
        surrogates: Retention / ActiveDays metrics whose windows end before the target's.
        control: the control arm (its mature units train the model unless ``reference``).
        reference: ``(exposures, events)`` of other data to train on instead (every unit mature
            for the target there; its variants are ignored).
        as_of: cut-off (default: the last event).
        alpha: 1 - the interval's level.
        n_boot, seed: the Poisson bootstrap's replicates and seed.
        columns, tz, con: as for ``Experiment.analyze``.
        shared: the report's per-unit table (:func:`abkit.retention._units.share`), read instead
            of the events when it holds every window day and no metric has ``event=`` (the
            same counts; otherwise the logs are read). ``reference`` is always read from its logs.

    Raises:
        DataError: too few mature training units (fewer than 200, or 20 of either outcome).

    Example:
        >>> import abkit as ab
        >>> exposures, events = ab.simulate.retention_experiment(n_units=3000, seed=3)
        >>> f = surrogate_forecast(exposures, events, target=21, n_boot=50)
        >>> list(f.to_pandas().variant)
        ['treatment']
    """
    import pandas as pd

    tgt = target if isinstance(target, Retention) else Retention(day=int(target))
    _check(tgt, "target")
    surr = [
        _check(m, "surrogates")
        for m in (
            surrogates
            if surrogates is not None
            else [ActiveDays(days=(1, 7)), Retention(day=1), Retention(day=7)]
        )
    ]
    if not surr:
        raise SpecError("give at least one surrogate metric")
    late = [m.name for m in surr if m.window[1] >= tgt.window[0]]
    if late:
        raise SpecError(
            f"surrogates {late} end on or after the target's window starts (day "
            f"{tgt.window[0]}); surrogates must be observed before the target"
        )
    if not (isinstance(n_boot, int) and 20 <= n_boot <= 100_000):
        raise SpecError(f"n_boot must be a whole number in 20..100000, got {n_boot!r}")
    if not 0 < alpha < 1:
        raise SpecError(f"alpha must be in (0, 1), got {alpha!r}")
    s_cols = [f"_s{i}" for i in range(len(surr))]
    cells, as_of_dt = _cells(exposures, events, tgt, surr, as_of, columns, tz, con, shared)
    variants = order_variants(cells.variant.unique().tolist(), control)
    ref = cells.iloc[0:0]
    if reference is not None:
        ref, _ = _cells(reference[0], reference[1], tgt, surr, None, columns, tz, con)

    def design(df: pd.DataFrame) -> np.ndarray:
        return np.column_stack([np.ones(len(df)), df[s_cols].to_numpy(dtype=float)])

    # the grouped counts as arrays; a bootstrap replicate only redraws the counts
    x, y, n = design(cells), cells._y.to_numpy(dtype=float), cells.n.to_numpy(dtype=float)
    arm = {v: (cells.variant == v).to_numpy() for v in variants}
    mature = (cells._tm == 1).to_numpy()
    if reference is not None:
        x_tr, y_tr, n_tr = design(ref), ref._y.to_numpy(dtype=float), ref.n.to_numpy(dtype=float)
        tr = (ref._tm == 1).to_numpy()
        training = "the reference data"
    else:
        x_tr, y_tr, n_tr, tr = x, y, n, arm[control] & mature
        training = f"the control arm's units mature for {tgt.name}"
    n_train, n_pos = int(n_tr[tr].sum()), int(n_tr[tr & (y_tr == 1)].sum())
    if n_train < MIN_TRAINING or min(n_pos, n_train - n_pos) < MIN_OUTCOMES:
        raise DataError(
            f"too few units to fit the surrogate model: {n_train:,} training units ({n_pos:,} "
            f"retained on {tgt.name}) in {training}; it needs {MIN_TRAINING} with at least "
            f"{MIN_OUTCOMES} of each outcome — wait for more units to mature, or pass "
            "reference=(exposures, events) of earlier data"
        )

    beta0 = _fit(x_tr[tr], y_tr[tr], n_tr[tr])

    def estimates(w: np.ndarray, w_tr: np.ndarray) -> dict[str, tuple[float, ...]]:
        """Per treatment: index of control and treatment, and both on the mature units."""
        beta = beta0 if w is n else _refit(x_tr[tr], y_tr[tr], w_tr[tr], beta0)
        c = arm[control]
        base, back_c = _index(beta, x[c], w[c]), _index(beta, x[c & mature], w[c & mature])
        return {
            v: (base, _index(beta, x[arm[v]], w[arm[v]]), back_c,
                _index(beta, x[arm[v] & mature], w[arm[v] & mature]))
            for v in variants[1:]
        }  # fmt: skip

    point = estimates(n, n_tr)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {v: [] for v in variants[1:]}
    for _ in range(n_boot):
        w = rng.poisson(n).astype(float)
        w_tr = w if reference is None else rng.poisson(n_tr).astype(float)
        try:
            for v, (b, t, _, _) in estimates(w, w_tr).items():
                draws[v].append(t - b)
        except (ValueError, np.linalg.LinAlgError):  # a replicate the model cannot be fit on
            continue
    rows = []
    for v in variants[1:]:
        b, t, back_c, back_t = point[v]
        lo, hi = np.quantile(draws[v], [alpha / 2, 1 - alpha / 2]) if draws[v] else (math.nan,) * 2
        c_m, t_m = arm[control] & mature, arm[v] & mature
        n_mc, n_mt = int(n[c_m].sum()), int(n[t_m].sum())
        measured = None
        if n_mc and n_mt:
            measured = compare_proportions(
                int(n[c_m & (y == 1)].sum()), n_mc, int(n[t_m & (y == 1)].sum()), n_mt, alpha=alpha
            )
        rows.append(
            {
                "variant": v,
                "index_control": b,
                "index_treatment": t,
                "forecast_lift": t - b,
                "ci_lower": float(lo),
                "ci_upper": float(hi),
                "n_control": int(n[arm[control]].sum()),
                "n_treatment": int(n[arm[v]].sum()),
                "measured_lift": None if measured is None else measured.abs_lift,
                "measured_ci_lower": None if measured is None else measured.abs_lift_ci_lower,
                "measured_ci_upper": None if measured is None else measured.abs_lift_ci_upper,
                "n_mature_control": n_mc,
                "n_mature_treatment": n_mt,
                "backtest_forecast": back_t - back_c,
                "backtest_measured": None if measured is None else measured.abs_lift,
                "bootstrap_se": float(np.std(draws[v], ddof=1)) if len(draws[v]) > 1 else math.nan,
                "bootstrap_replicates": len(draws[v]),
            }
        )
    return SurrogateForecast(
        tgt.name,
        tuple(m.name for m in surr),
        training,
        n_train,
        alpha,
        as_of_dt,
        pd.DataFrame(rows),
    )
