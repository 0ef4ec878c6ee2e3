"""Sample size for a decision on several metrics: success metrics and guardrails together.

The decision rule (Schultzberg, Kjellin & Rydberg 2024, "Risk-aware product decisions in A/B
tests with multiple metrics", Spotify; :mod:`abkit.results.recommend`): ship a treatment only if
at least one **success** metric is significantly better and every **guardrail** passes its
non-inferiority test. Its errors, and what the plan does about them:

* **false positive** (ship a treatment that improves no success metric): a success metric's false
  positive is enough, so the ``S`` success tests are Bonferroni-corrected, each at ``α / (S·T)``
  for ``T`` treatments. The guardrails need no correction for it: *every* one must pass (an
  intersection–union test), each at ``α``.
* **false negative** (not ship a treatment that improves a success metric by its MDE and harms no
  guardrail): the decision fails if the success test misses *or any* guardrail test misses, so
  each of the ``G + 1`` tests is powered at ``1 − β / (G + 1)``. By the union bound the decision's
  power is then at least ``1 − β`` — the paper's correction (its sample-size code: ``beta/(G+1)``).

Each metric's sample size is the usual closed form at its corrected error rates: a success metric
for its MDE (:func:`~abkit.stats.sample_size_proportions` / :func:`~abkit.stats.sample_size_means`,
the tests abkit runs), a guardrail for the one-sided non-inferiority test of margin ``m`` when the
true difference is 0, ``n_c = (z_{1−α} + z_{1−β'})² (v + v/r) / m²`` with ``v = p(1−p)`` or ``sd²``
(times ``1 − variance_reduction``). The experiment needs the largest of them (``binding``).
:func:`decision_power` gives the decision's power at any size: exactly, for independent metrics,
the product of the tests' powers (one success metric moved), and the union bound.

Example:
    >>> plan = sample_size_multi(
    ...     [MetricPlan("d7", 0.40, mde=0.05)],
    ...     [MetricPlan("d1", 0.60, margin=0.02), MetricPlan("crash", 0.01, margin=0.5)],
    ... )
    >>> plan.binding, plan.power_per_test
    ('d1', 0.9333333333333333)
    >>> plan.decision_power >= 0.8
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import special

from abkit.errors import StatsError
from abkit.stats._common import check_alpha, check_alternative, check_finite
from abkit.stats.power import (
    duration_days,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
)

__all__ = [
    "MetricPlan",
    "MetricSampleSize",
    "MultiMetricPlan",
    "decision_power",
    "sample_size_multi",
]


@dataclass(frozen=True, slots=True)
class MetricPlan:
    """One metric of a multi-metric plan.

    A success metric gives ``mde`` (the effect to detect), a guardrail ``margin`` (the largest
    acceptable harm, tested for non-inferiority); both relative to ``baseline`` unless
    ``relative=False``. ``sd`` None: a proportion (variance ``p(1−p)``); else a mean with that
    standard deviation. ``higher_is_better`` only names the direction; the sizes are symmetric.
    """

    name: str
    baseline: float
    mde: float | None = None
    margin: float | None = None
    sd: float | None = None
    relative: bool = True
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if (self.mde is None) == (self.margin is None):
            raise StatsError(
                f"metric {self.name!r}: give mde= (a success metric) or margin= (a guardrail), "
                "exactly one"
            )
        b = check_finite(self.baseline, "baseline")
        if self.sd is None and not 0 < b < 1:
            raise StatsError(f"metric {self.name!r}: a proportion's baseline must be in (0, 1)")
        for what in ("mde", "margin", "sd"):
            v = getattr(self, what)
            if v is not None and not check_finite(v, what) > 0:
                raise StatsError(f"metric {self.name!r}: {what} must be > 0, got {v!r}")

    @property
    def role(self) -> str:
        """``"success"`` or ``"guardrail"``."""
        return "success" if self.mde is not None else "guardrail"

    @property
    def effect_abs(self) -> float:
        """The MDE or the margin in the metric's units."""
        e = float(self.mde if self.mde is not None else self.margin)  # type: ignore[arg-type]
        return e * self.baseline if self.relative else e


@dataclass(frozen=True, slots=True)
class MetricSampleSize:
    """One metric's sample size at the plan's corrected error rates."""

    name: str
    role: str
    test: str
    alpha: float
    power: float
    effect_abs: float
    nobs_control: int
    nobs_treatment: int


@dataclass(frozen=True, slots=True)
class MultiMetricPlan:
    """The sample size of a multi-metric decision: the largest over its metrics.

    ``decision_power``: the decision's power at that size for independent metrics (one success
    metric moved by its MDE, the guardrails unchanged); ``decision_power_bound``: the union bound
    ``1 − Σ (1 − power_i)``, which holds whatever the metrics' correlation.
    """

    nobs_control: int
    nobs_treatment: int
    binding: str
    alpha: float
    power: float
    alpha_success: float
    power_per_test: float
    ratio: float
    alternative: str
    metrics: tuple[MetricSampleSize, ...]
    decision_power: float
    decision_power_bound: float
    enrollment_days: int | None = None
    duration_days: int | None = None
    method: str = (
        "Schultzberg, Kjellin & Rydberg (2024): success tests at alpha/(S·T), guardrail "
        "non-inferiority tests at alpha, every test powered at 1 - beta/(G+1)"
    )


def _z(p: float) -> float:
    return float(special.ndtri(p))


def _guardrail_n(m: MetricPlan, alpha: float, power: float, ratio: float, vr: float) -> int:
    v = (m.sd**2 if m.sd is not None else m.baseline * (1 - m.baseline)) * (1 - vr)
    n = (_z(1 - alpha) + _z(power)) ** 2 * (v + v / ratio) / m.effect_abs**2
    return math.ceil(n - 1e-9)


def _guardrail_power(m: MetricPlan, n_c: float, alpha: float, ratio: float, vr: float) -> float:
    v = (m.sd**2 if m.sd is not None else m.baseline * (1 - m.baseline)) * (1 - vr)
    se = math.sqrt(v / n_c + v / (n_c * ratio))
    return float(special.ndtr(m.effect_abs / se - _z(1 - alpha)))


def _success_n(
    m: MetricPlan, alpha: float, power: float, ratio: float, alternative: str, vr: float
) -> int:
    assert m.mde is not None
    kw = {"relative": m.relative, "alpha": alpha, "power": power, "ratio": ratio,
          "alternative": alternative, "variance_reduction": vr}  # fmt: skip
    if m.sd is None:
        r = sample_size_proportions(m.baseline, m.mde, **kw)  # type: ignore[arg-type]
    else:
        r = sample_size_means(m.baseline, m.sd, m.mde, **kw)  # type: ignore[arg-type]
    return int(r.nobs_control)


def _success_power(
    m: MetricPlan, n_c: float, alpha: float, ratio: float, alternative: str, vr: float
) -> float:
    assert m.mde is not None
    kw = {"relative": m.relative, "alpha": alpha, "ratio": ratio,
          "alternative": alternative, "variance_reduction": vr}  # fmt: skip
    if m.sd is None:
        return power_proportions(m.baseline, m.mde, n_c, **kw).power  # type: ignore[arg-type]
    return power_means(m.baseline, m.sd, m.mde, n_c, **kw).power  # type: ignore[arg-type]


def _check(
    success: Sequence[MetricPlan], guardrails: Sequence[MetricPlan], n_treatments: int
) -> tuple[list[MetricPlan], list[MetricPlan]]:
    s, g = list(success), list(guardrails)
    if not s:
        raise StatsError("a multi-metric plan needs at least one success metric (mde=)")
    if any(m.role != "success" for m in s) or any(m.role != "guardrail" for m in g):
        raise StatsError("success metrics take mde=, guardrails margin=")
    names = [m.name for m in (*s, *g)]
    if len(set(names)) != len(names):
        raise StatsError(f"metric names must be unique, got {names}")
    if isinstance(n_treatments, bool) or not isinstance(n_treatments, int) or n_treatments < 1:
        raise StatsError(f"n_treatments must be a whole number >= 1, got {n_treatments!r}")
    return s, g


def decision_power(
    success: Sequence[MetricPlan],
    guardrails: Sequence[MetricPlan],
    nobs_control: float,
    *,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    n_treatments: int = 1,
    variance_reduction: float = 0.0,
) -> tuple[float, float]:
    """The decision's power with ``nobs_control`` units in control: ``(independent, bound)``.

    The success metric moved by its MDE is the one with the lowest power (the others at 0
    effect count toward nothing); ``independent`` multiplies its power by every guardrail's
    (metrics independent), ``bound`` is ``1 − Σ (1 − power_i)`` (any correlation).

    Example:
        >>> p, bound = decision_power([MetricPlan("d7", 0.4, mde=0.05)],
        ...                           [MetricPlan("d1", 0.6, margin=0.02)], 20_000)
        >>> round(p, 3), round(bound, 3)
        (0.776, 0.772)
    """
    s, g = _check(success, guardrails, n_treatments)
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    a_s = alpha / (len(s) * n_treatments)
    ps = min(
        _success_power(m, nobs_control, a_s, ratio, alternative, variance_reduction) for m in s
    )
    pg = [_guardrail_power(m, nobs_control, alpha, ratio, variance_reduction) for m in g]
    return ps * math.prod(pg), 1.0 - (1.0 - ps) - sum(1.0 - p for p in pg)


def sample_size_multi(
    success: Sequence[MetricPlan],
    guardrails: Sequence[MetricPlan] = (),
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    n_treatments: int = 1,
    variance_reduction: float = 0.0,
    daily_units: float | None = None,
    metric_day: int | None = None,
) -> MultiMetricPlan:
    """Units per arm for a ship decision on success metrics and guardrails (see the module).

    Args:
        success: metrics of which at least one must improve significantly (each with ``mde``).
        guardrails: metrics that must not be inferior by more than their ``margin``.
        alpha: the decision's false-positive rate (success tests at ``alpha / (S·T)``;
            guardrails' one-sided non-inferiority tests at ``alpha``).
        power: the decision's power ``1 − β`` (each test at ``1 − β / (G + 1)``).
        ratio: ``n_treatment / n_control``.
        alternative: the success tests' alternative, as the analysis runs them ("two-sided" by
            default in abkit; the paper's success tests are one-sided, "greater").
        n_treatments: treatment arms (each compared to control; widens the success family).
        variance_reduction: expected CUPED variance reduction in [0, 1), for every metric.
        daily_units, metric_day: units per day (all arms) and the longest metric's day, for
            the enrolment and total duration.

    Raises:
        StatsError: no success metric, a metric with both or neither of mde and margin, bad
            error rates.
    """
    s, g = _check(success, guardrails, n_treatments)
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    power = check_alpha(power, "power")
    beta = 1.0 - power
    a_s = alpha / (len(s) * n_treatments)
    p_test = 1.0 - beta / (len(g) + 1)
    rows: list[MetricSampleSize] = []
    for m in s:
        n = _success_n(m, a_s, p_test, ratio, alternative, variance_reduction)
        test = f"{alternative} superiority at alpha/{len(s) * n_treatments}"
        rows.append(MetricSampleSize(m.name, "success", test, a_s, p_test, m.effect_abs, n,
                                     math.ceil(n * ratio - 1e-9)))  # fmt: skip
    for m in g:
        n = _guardrail_n(m, alpha, p_test, ratio, variance_reduction)
        rows.append(MetricSampleSize(m.name, "guardrail", "one-sided non-inferiority at alpha",
                                     alpha, p_test, m.effect_abs, n,
                                     math.ceil(n * ratio - 1e-9)))  # fmt: skip
    top = max(rows, key=lambda r: r.nobs_control)
    n_c = top.nobs_control
    n_t = math.ceil(n_c * ratio - 1e-9)
    dp, bound = decision_power(
        s, g, n_c, alpha=alpha, ratio=ratio, alternative=alternative,
        n_treatments=n_treatments, variance_reduction=variance_reduction,
    )  # fmt: skip
    enrol = total = None
    if daily_units is not None:
        units = n_c + n_t * n_treatments
        enrol = math.ceil(units / daily_units - 1e-9)
        total = duration_days(units, daily_units, metric_day=metric_day)
    return MultiMetricPlan(
        n_c, n_t, top.name, alpha, power, a_s, p_test, float(ratio), alternative, tuple(rows),
        dp, bound, enrol, total,
    )  # fmt: skip
