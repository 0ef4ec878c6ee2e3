"""Churn regression: a Cox proportional-hazards model of time to churn, adjusted for exposure
attributes, with a check of its proportional-hazards assumption.

Time to churn is the definition of :func:`abkit.retention.churn_survival` (the first day ``c``
that starts ``inactive_days`` consecutive inactive days; censored at what ``as_of`` lets us
check; restricted to ``tau``), computed per unit in the engine by :func:`churn_times`.

* **Model.** Cox with Efron's method for tied times (time to churn is in whole days, so ties
  are the rule; Efron's is also the one method of lifelines' ``CoxPHFitter``), fitted by
  :func:`abkit.stats.cox.cox_efron` on the engine's count rows as frequency weights (the
  numbers of statsmodels' ``PHReg(ties="efron")`` on one row per unit). Covariates: one
  indicator per treatment variant (control is the reference), one per level of each
  categorical attribute (its first level in sorted order is the reference; a missing value is
  its own level ``(missing)``), numeric attributes as they are. ``strata=`` columns get a
  baseline hazard each instead of a coefficient. Standard errors from the inverse information;
  hazard-ratio intervals ``exp(β ± z·se)``; Wald p-values.
* **Proportional-hazards check** (Grambsch & Therneau 1994, as in R's ``cox.zph`` before 2019
  and lifelines' ``proportional_hazard_test``): scaled Schoenfeld residuals against
  ``g(t) = 1 − KM(t)`` (the ``km`` transform, R's default). Per term ``j``:
  ``T_j = d·(U V)_j² / (V_jj Σ_i (g_i − ḡ)²)`` with ``U = Σ_i (g_i − ḡ) r_i`` over the ``d``
  churns, ``r_i`` the (Efron) Schoenfeld residuals and ``V`` the coefficients' covariance;
  ``T_j ~ χ²₁``; the global test ``d·U V Uᵀ / Σ (g_i − ḡ)² ~ χ²_p``.

Example:
    >>> import abkit as ab
    >>> sim = ab.simulate.retention_experiment(n_units=1_000, seed=2)
    >>> reg = ab.retention.churn_regression(sim.exposures, sim.events, attributes=["platform"],
    ...                                     inactive_days=3, tau=14)
    >>> reg.to_pandas().term.tolist()
    ['variant=treatment', 'platform=ios']
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from abkit import plot
from abkit._display import (
    SEVERITY_COLORS,
    arm_sizes,
    clip,
    decision_words,
    fmt_when,
    more_lines,
    tone_attrs,
)
from abkit._format import fmt_p
from abkit.engine import execute
from abkit.errors import DataError, SpecError, StatsError
from abkit.query import day_index, first_exposures
from abkit.query.units_table import bit_count
from abkit.retention._units import (
    event_names,
    order_variants,
    positive_days,
    require_activity_events,
    shared_or_prepare,
)
from abkit.stats._common import check_alpha, crit_z
from abkit.stats.cox import cox_efron, schoenfeld_sums

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    from matplotlib.axes import Axes

    from abkit.retention._units import Prepared

__all__ = [
    "ChurnRegression",
    "HazardTerm",
    "churn_regression",
    "churn_times",
    "churn_times_shared",
    "ph_test",
]

#: columns of the per-unit churn table; an attribute may not be called so
RESERVED = ("unit_id", "variant", "t0", "time", "churned", "units")


def churn_times(
    p: Prepared,
    units: ir.Table,
    *,
    inactive_days: int,
    tau: int,
    event: str | Sequence[str] | None = None,
) -> tuple[ir.Table, ir.IntegerScalar]:
    """Each mature unit's time to churn: ``units`` (``unit_id``, ``t0`` and any other columns)
    with ``time`` and ``churned`` added, and the number of immature units (as an expression).

    The churn day is found with one window function over the unit's distinct active days (a
    sentinel at the horizon closes the trailing run). A unit with fewer than ``inactive_days``
    whole days observed by ``as_of`` is immature: no run can be checked yet.
    """
    import ibis

    be, k, horizon = str(p.con.name), inactive_days, tau + inactive_days
    units = units.mutate(_h=ibis.least(day_index(be, units.t0, ibis.literal(p.as_of)), horizon))
    ev = p.events
    names = event_names(event)
    if names is not None:
        if "event" not in ev.columns:
            raise SpecError("event= needs an 'event' column in the events table")
        ev = ev.filter(ev.event.isin(names))
    j = ev.select("unit_id", "ts").join(units.select("unit_id", "t0", "_h"), "unit_id")
    j = j.filter(j.ts >= j.t0).mutate(_day=day_index(be, j.t0, j.ts))
    active = j.filter(j._day < j._h).select("unit_id", "_day").distinct()
    # a sentinel row at day h closes the trailing run of inactive days
    days = active.union(units.select("unit_id", _day=units._h), distinct=False)
    w = ibis.window(group_by="unit_id", order_by="_day")
    days = days.mutate(_prev=days._day.lag().over(w).fill_null(-1))
    days = days.mutate(_c=ibis.ifelse(days._day - days._prev - 1 >= k, days._prev + 1, ibis.null()))
    churn = days.group_by("unit_id").aggregate(_c=days._c.min())
    u = units.left_join(churn, "unit_id")
    # fewer than K whole days observed: no run of K inactive days can be checked yet, so the
    # unit carries no information about churn — it is immature, not "survived day 0"
    return _churn_rows(u, k, tau)


def _churn_rows(u: ir.Table, k: int, tau: int) -> tuple[ir.Table, ir.IntegerScalar]:
    """Units with ``_h`` whole days observed (capped) and ``_c`` the first day of their first
    run of ``k`` inactive days (null: none): the units old enough, their time and churn flag
    (censored at ``tau``), and the count of the others (immature)."""
    import ibis

    immature = u.filter(u._h < k).count()
    u = u.filter(u._h >= k)
    churned = u._c.notnull() & (u._c <= tau)
    time = ibis.ifelse(churned, u._c, ibis.least(ibis.greatest(u._h - k, 0), tau))
    u = u.mutate(time=time.cast("int64"), churned=churned.cast("int64"))
    return u.drop("_h", "_c"), immature


def churn_times_shared(
    p: Prepared,
    *,
    inactive_days: int,
    tau: int,
    event: str | Sequence[str] | None = None,
    attributes: Sequence[str] = (),
) -> tuple[ir.Table, ir.IntegerScalar] | None:
    """:func:`churn_times` of the units (with ``attributes``) from the report's per-unit table
    (:func:`abkit.retention._units.share`), the same rows without reading the events; None when
    the table does not hold what the definition needs (an ``event=`` filter, a horizon
    ``tau + inactive_days`` beyond its days, an attribute it did not carry).

    With ``h = min(age, tau + K)`` and ``I`` the mask of inactive days ``0..h-1``, bit ``c`` of
    ``I & (I >> 1) & … & (I >> K-1)`` is set when days ``c..c+K-1`` are all inactive and before
    ``h``: its lowest set bit is the first such run, which is where :func:`churn_times`' window
    over the active days (and the sentinel at ``h``) finds the first gap of ``K`` or more days.
    """
    import ibis

    ud, k = p.days, inactive_days
    if (
        ud is None
        or event_names(event) is not None
        or tau + k > ud.last_day + 1
        or not set(attributes) <= set(ud.carry)
    ):
        return None
    t = ud.table
    one = ibis.literal(1, "int64")
    h = ibis.least(t.age, tau + k)
    inactive = ~t.active & ((one << h) - one)
    run = inactive
    for shift in range(1, k):
        run = run & (inactive >> shift)
    first_run = ibis.ifelse(run == 0, ibis.null("int64"), bit_count((run & -run) - one))
    u = t.select("unit_id", "variant", "t0", *attributes, _h=h, _c=first_run)
    return _churn_rows(u, k, tau)


# ----------------------------------------------------------------------------- pure statistics


def _km_transform(time: np.ndarray, status: np.ndarray, w: np.ndarray) -> dict[float, float]:
    """``1 − KM(t)`` at each churn time, from every unit (lifelines' and R's ``km``)."""
    uniq, code = np.unique(time, return_inverse=True)
    at_time = np.bincount(code, weights=w, minlength=uniq.size)
    at_risk = np.cumsum(at_time[::-1])[::-1]
    deaths = np.bincount(code, weights=w * status, minlength=uniq.size)
    surv = np.cumprod(1.0 - deaths / at_risk)
    return {float(t): float(1.0 - s) for t, s in zip(uniq, surv, strict=True)}


def ph_test(
    time: Any,
    status: Any,
    exog: Any,
    params: Any,
    cov: Any,
    strata: Any = None,
    weights: Any = None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Grambsch–Therneau test of proportional hazards from Efron Schoenfeld residuals.

    Returns ``(T_j per term, the global T, per-time table)``; the per-time table has rows
    ``(time, churns, mean scaled residual per term…)``. Schoenfeld residuals with Efron's
    ties: at a time with ``m`` churns, ``r_i = x_i − (1/m) Σ_{l<m} (R1 − l/m·D1)/(R0 − l/m·D0)``,
    ``R`` the risk-set and ``D`` the churners' sums of ``exp(xβ)`` and ``exp(xβ)·x``
    (:func:`abkit.stats.cox.schoenfeld_sums`). ``weights`` are the units each row stands for:
    the statistics are those of the rows repeated that many times.

    Example:
        >>> t, e = np.array([1.0, 2, 2, 3, 4, 5]), np.array([1, 1, 1, 1, 0, 1])
        >>> x = np.array([[1.0], [1], [0], [0], [1], [0]])
        >>> stat, overall, per_time = ph_test(t, e, x, [0.0], [[0.5]])
        >>> round(float(stat[0]), 6), per_time[:, 0].tolist()
        (0.420473, [1.0, 2.0, 3.0, 5.0])
    """
    t, e = np.asarray(time, dtype=float), np.asarray(status, dtype=int)
    x, v = np.asarray(exog, dtype=float), np.asarray(cov, dtype=float)
    w = np.ones(t.size) if weights is None else np.asarray(weights, dtype=float)
    keep = w > 0
    g_of = _km_transform(t[keep], e[keep], w[keep])
    _, times, m, resid = schoenfeld_sums(t, e, x, params, weights=w, strata=strata)
    deaths = float(m.sum())
    g = np.array([g_of[float(u)] for u in times])
    g_bar = float(m @ g / deaths)
    sgg = float(m @ (g - g_bar) ** 2)
    u = (g - g_bar) @ resid
    if sgg > 0:
        stat, overall = deaths * (u @ v) ** 2 / (np.diag(v) * sgg), float(deaths * u @ v @ u / sgg)
    else:  # every churn at one time (or g constant): no trend over time can be seen
        stat, overall = np.full(x.shape[1], np.nan), math.nan
    per_time = np.column_stack([times, m, deaths * (resid / m[:, None]) @ v])
    return stat, overall, per_time


# ----------------------------------------------------------------------------- the result


@dataclass(frozen=True, slots=True)
class HazardTerm:
    """One coefficient of the Cox model: its hazard ratio and its proportional-hazards check."""

    term: str
    variable: str
    level: str | None
    treatment: bool
    coef: float
    se: float
    hazard_ratio: float
    ci_lower: float
    ci_upper: float
    pvalue: float
    ph_statistic: float
    ph_pvalue: float
    decision: str
    #: the check fails: ``ph_pvalue < alpha`` for a treatment term, ``< alpha / m`` for one of
    #: the ``m`` attribute terms (Bonferroni: adjustment terms are many and secondary)
    ph_fails: bool


@dataclass(frozen=True, slots=True)
class ChurnRegression:
    """Adjusted hazard ratios of churn (Cox model) and the proportional-hazards check.

    A hazard ratio below 1 means fewer churns per day among those still retained, whatever
    the attributes; it is an average over the follow-up if the check fails (see ``warning``).
    """

    control: str
    variants: tuple[str, ...]
    attributes: tuple[str, ...]
    strata: tuple[str, ...]
    inactive_days: int
    tau: int
    as_of: datetime
    alpha: float
    terms: tuple[HazardTerm, ...]
    ph_global_statistic: float
    ph_global_df: int
    ph_global_pvalue: float
    n: dict[str, int]
    churned: int
    immature: int
    #: plain-language warning when the check fails (None if it passes)
    warning: str | None
    #: (time, churns, mean scaled residual + coefficient per term …) per churn time
    schoenfeld: tuple[tuple[float, ...], ...] = ()
    notes: tuple[str, ...] = ()
    #: what left the engine: units per (variant, attributes, strata, time, churned)
    counts: pd.DataFrame | None = field(default=None, compare=False)

    def to_pandas(self) -> pd.DataFrame:
        """One row per term: coefficient, hazard ratio [CI], p-value, decision, PH check."""
        import pandas as pd

        return pd.DataFrame([{f: getattr(t, f) for f in HazardTerm.__slots__} for t in self.terms])

    def schoenfeld_to_pandas(self) -> pd.DataFrame:
        """Long form: time, term, churned (churns that day), beta_t (mean scaled residual + β)."""
        import pandas as pd

        rows = [
            {"time": r[0], "term": t.term, "churned": int(r[1]), "beta_t": r[2 + i] + t.coef}
            for r in self.schoenfeld
            for i, t in enumerate(self.terms)
        ]
        return pd.DataFrame(rows, columns=["time", "term", "churned", "beta_t"])

    @property
    def definition(self) -> str:
        k, adj = self.inactive_days, ", ".join(self.attributes) or "nothing"
        strata = f"; stratified by {', '.join(self.strata)}" if self.strata else ""
        return (
            f"Cox model (Efron ties) of the time to churn = the first day that starts {k} "
            f"consecutive inactive days, censored at what as_of lets us check and at tau = "
            f"{self.tau}; adjusted for {adj}{strata}; {self.immature:,} immature units left "
            "out; PH check: scaled Schoenfeld residuals vs 1 − KM(t)"
        )

    def __repr__(self) -> str:
        sizes = arm_sizes(self.variants, [self.n.get(v, 0) for v in self.variants])
        head = (
            f"<ChurnRegression as of {fmt_when(self.as_of)}: churn = {self.inactive_days} "
            f"inactive days, tau = {self.tau}; {sizes}; {self.churned:,} churned; PH global "
            f"{fmt_p(self.ph_global_pvalue)}>"
        )
        lines = [
            f"  {t.term}: HR {t.hazard_ratio:.3g} [{t.ci_lower:.3g}, {t.ci_upper:.3g}] "
            f"(p {fmt_p(t.pvalue)}), {_words(t)}; PH check p {fmt_p(t.ph_pvalue)}"
            f"{' (fails)' if t.ph_fails else ''}"
            for t in self.terms
        ]
        tail = [f"  {x}" for x in (self.warning, *self.notes) if x]
        return "\n".join([head, *more_lines(lines), *tail])

    def _repr_html_(self) -> str:
        """The hazard ratios (treatment rows coloured by decision: a lower hazard is green),
        the PH check per term, and the warning when it fails."""
        e = html.escape
        rows = "".join(
            f"<tr{tone_attrs(t.decision, higher_is_better=False) if t.treatment else ''}>"
            f"<td>{e(t.term)}</td><td>{t.hazard_ratio:.3g} [{t.ci_lower:.3g}, "
            f"{t.ci_upper:.3g}]</td><td>{e(fmt_p(t.pvalue))}</td><td>{e(_words(t))}</td>"
            f"<td>{e(fmt_p(t.ph_pvalue))}{' (fails)' if t.ph_fails else ''}</td>"
            "</tr>"
            for t in self.terms
        )
        color = SEVERITY_COLORS["warning"]
        warn = f"<p style='color:{color};font-weight:600'>{e(self.warning or '')}</p>"
        return (
            "<div class='abkit-hazards'><h4>Churn regression (Cox)</h4><table><thead><tr>"
            "<th>term</th><th>hazard ratio [CI]</th><th>p-value</th><th>decision</th>"
            f"<th>PH check p</th></tr></thead><tbody>{rows}</tbody></table>"
            f"{warn if self.warning else ''}<p><small>{int(100 * (1 - self.alpha))}% "
            f"intervals; global PH check p = {e(fmt_p(self.ph_global_pvalue))}; green / red: "
            f"a significantly lower / higher churn hazard. {e(self.definition)}."
            f"{''.join(' ' + e(x) + '.' for x in self.notes)}</small></p>"
            "</div>"
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Hazard ratios with their intervals (log scale)."""
        return plot.hazard_ratios(self, ax=ax)

    def plot_schoenfeld(self, term: str | None = None, ax: Axes | None = None) -> Axes:
        """β(t) from the scaled Schoenfeld residuals of ``term`` (default: the first treatment)."""
        return plot.schoenfeld(self, term, ax=ax)


def _words(t: HazardTerm) -> str:
    """The decision as a reader takes it: about the churn hazard."""
    return t.decision + " churn hazard" if t.decision.startswith("significantly") else t.decision


# ----------------------------------------------------------------------------- the model


def churn_regression(
    exposures: Any,
    events: Any,
    *,
    attributes: Sequence[str] = (),
    strata: Sequence[str] = (),
    inactive_days: int = 7,
    tau: int = 30,
    control: str = "control",
    event: str | Sequence[str] | None = None,
    as_of: datetime | str | None = None,
    alpha: float = 0.05,
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    con: Any = None,
    shared: Prepared | None = None,
) -> ChurnRegression:
    """Cox proportional-hazards model of the time to churn (see :class:`ChurnRegression`).

    Args:
        attributes: exposure columns (taken at the first exposure) to adjust for.
        strata: exposure columns whose levels each get their own baseline hazard (the remedy
            when an attribute fails the proportional-hazards check).
        inactive_days, tau, event, as_of: the churn definition of
            :func:`~abkit.retention.churn_survival`.
        alpha: level of the intervals, of the treatment tests and of the PH check.
        shared: the per-unit table a report shares (:func:`abkit.retention._units.share`, of
            the same logs and ``as_of``): read instead of the events when it holds the
            definition's days and the attributes.

    What leaves the engine: the counts of units per (variant, attributes, strata, time,
    churned) — for categorical attributes a few thousand rows at most; a numeric attribute
    with many values makes it about one row per unit. The fit and the check work on these rows
    (units as weights), never on one row per unit.
    """
    positive_days(inactive_days=inactive_days, tau=tau)
    check_alpha(alpha)
    attributes, strata = tuple(attributes), tuple(strata)
    cols = tuple(dict.fromkeys((*attributes, *strata)))
    p = shared_or_prepare(shared, exposures, events, as_of=as_of, columns=columns, tz=tz, con=con)
    require_activity_events(p, event, "churn_regression")
    for c in cols:
        if c in RESERVED or c not in p.logs.exposures.columns:
            have = sorted(set(p.logs.exposures.columns) - set(RESERVED))
            raise SpecError(f"attribute {c!r} is not an exposure column; the exposures have {have}")
    got = churn_times_shared(p, inactive_days=inactive_days, tau=tau, event=event, attributes=cols)
    if got is None:
        be = str(p.con.name)
        first = first_exposures(p.logs.exposures, as_of=p.as_of, carry=cols, backend=be)
        units = first.filter(first.n_variants == 1).select("unit_id", "variant", "t0", *cols)
        got = churn_times(p, units, inactive_days=inactive_days, tau=tau, event=event)
    u, immature = got
    counts = execute(
        u.group_by(["variant", *cols, "time", "churned"]).aggregate(units=u.count()), p.con
    )
    n_immature = int(execute(immature, p.con))
    if counts.empty:
        raise DataError(
            f"no unit has {inactive_days} whole days observed by as_of ({fmt_when(p.as_of)}): "
            "churn cannot be checked yet"
            if n_immature
            else "no analysable units: check exposures and as_of"
        )
    counts["variant"] = counts["variant"].astype(str)
    # the engine returns the groups in any order; the fit's sums follow the row order
    counts = counts.sort_values(list(counts.columns[:-1]), kind="stable").reset_index(drop=True)
    variants = order_variants(counts.variant.unique().tolist(), control)
    if len(variants) < 2:
        raise DataError(f"only {control!r} has mature units: there is no treatment to compare")
    return _fit(
        counts, variants, attributes, strata, inactive_days, tau, p.as_of, alpha, n_immature
    )


def _design(
    counts: pd.DataFrame, variants: list[str], attributes: tuple[str, ...]
) -> tuple[np.ndarray, list[tuple[str, str, str | None, bool]], list[str], np.ndarray]:
    """The covariates of every count row; the terms; notes; rows kept (numeric nulls dropped)."""
    import pandas as pd

    keep = np.ones(len(counts), dtype=bool)
    columns: list[np.ndarray] = []
    terms: list[tuple[str, str, str | None, bool]] = []
    notes: list[str] = []
    for v in variants[1:]:
        columns.append((counts.variant == v).to_numpy(dtype=float))
        terms.append((f"variant={v}", "variant", v, True))
    for a in attributes:
        col = counts[a]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            keep &= col.notna().to_numpy()
            columns.append(col.to_numpy(dtype=float))
            terms.append((a, a, None, False))
            continue
        text = col.astype(object).where(col.notna(), "(missing)").astype(str)
        levels = sorted(text.unique())
        if len(levels) < 2:
            notes.append(f"attribute {a!r} has one value ({levels[0]!r}): left out")
        for level in levels[1:]:
            columns.append((text == level).to_numpy(dtype=float))
            terms.append((f"{a}={level}", a, level, False))
    dropped = int(counts.units[~keep].sum())
    if dropped:
        notes.append(f"{dropped:,} units with a missing numeric attribute left out")
    return np.column_stack(columns), terms, notes, keep


def _fit(
    counts: pd.DataFrame,
    variants: list[str],
    attributes: tuple[str, ...],
    strata: tuple[str, ...],
    inactive_days: int,
    tau: int,
    as_of: datetime,
    alpha: float,
    n_immature: int,
) -> ChurnRegression:
    from scipy import stats

    x, terms, notes, keep = _design(counts, variants, attributes)
    units = counts.units.to_numpy(dtype=np.int64) * keep
    time = counts.time.to_numpy(dtype=float)
    status = counts.churned.to_numpy(dtype=np.int64)
    groups = None
    if strata:
        groups = counts[list(strata)].astype(str).agg("\x1f".join, axis=1).to_numpy()
    deaths = float(units @ status)
    if deaths == 0:
        raise DataError("no unit churned before tau: there is no hazard to model")
    # the count rows as frequency weights: the numbers of PHReg(ties="efron") on one row per unit
    try:
        fit = cox_efron(time, status, x, weights=units, strata=groups, names=[t[0] for t in terms])
    except StatsError as exc:
        raise DataError(f"churn regression: {exc}") from exc
    b, cov = np.asarray(fit.params), np.asarray(fit.cov)
    se = np.sqrt(np.diag(cov))
    stat, g_stat, per_time = ph_test(time, status, x, b, cov, groups, weights=units)
    ph_p = stats.chi2.sf(stat, 1)
    z = crit_z(alpha, "two-sided")
    out = []
    n_adjust = max(1, sum(not t[3] for t in terms))
    for i, (term, var, level, treatment) in enumerate(terms):
        pv = float(2 * stats.norm.sf(abs(b[i] / se[i])))
        word = decision_words(pv, b[i], pv < alpha, None) if treatment else "adjustment"
        out.append(
            HazardTerm(
                term,
                var,
                level,
                treatment,
                float(b[i]),
                float(se[i]),
                math.exp(b[i]),
                math.exp(b[i] - z * se[i]),
                math.exp(b[i] + z * se[i]),
                pv,
                float(stat[i]),
                float(ph_p[i]),
                word,
                bool(ph_p[i] < (alpha if treatment else alpha / n_adjust)),
            )
        )
    g_p = float(stats.chi2.sf(g_stat, len(terms)))
    n = {v: int(counts.units[(counts.variant == v).to_numpy() & keep].sum()) for v in variants}
    return ChurnRegression(
        variants[0],
        tuple(variants),
        attributes,
        strata,
        inactive_days,
        tau,
        as_of,
        alpha,
        tuple(out),
        g_stat,
        len(terms),
        g_p,
        n,
        int(deaths),
        n_immature,
        _warning(out, g_p, alpha, tau),
        tuple(tuple(map(float, r)) for r in per_time),
        tuple(notes),
        counts.sort_values(list(counts.columns[:-1]), kind="stable").reset_index(drop=True),
    )


def _warning(terms: list[HazardTerm], global_p: float, alpha: float, tau: int) -> str | None:
    """Plain words for a failed proportional-hazards check (None when it passes)."""
    bad = [t for t in terms if t.ph_fails]
    treat = [t for t in bad if t.treatment]
    other = sorted({t.variable for t in bad if not t.treatment})
    parts = []
    for t in treat:
        parts.append(
            f"The treatment's effect on churn is not constant over time ({t.term}: "
            f"proportional-hazards check p = {fmt_p(t.ph_pvalue)}): the hazard ratio "
            f"{t.hazard_ratio:.3g} is an average over the first {tau} days and can hide an "
            "early effect that fades, or one that grows. Read the Kaplan–Meier curves and the "
            "difference in restricted mean survival time (churn_survival) instead."
        )
    if other:
        parts.append(
            f"The effect of {', '.join(clip(o, 30) for o in other)} on churn changes over time; "
            f"the treatment's adjusted ratio is more trustworthy with strata={other!r}."
        )
    if not parts and global_p < alpha:
        parts.append(
            f"The global proportional-hazards check fails (p = {fmt_p(global_p)}) though no "
            "single term does: read the hazard ratios as averages over the follow-up."
        )
    return " ".join(parts) or None
