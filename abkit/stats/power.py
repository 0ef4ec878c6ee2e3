"""Power, sample size, minimum detectable effect and duration (statsmodels power classes).

The tests planned for are the ones abkit runs: the unpooled two-proportion z-test and Welch's
t-test. With control variance ``v_c``, treatment variance ``v_t``, allocation ratio
``r = n_t / n_c`` and absolute effect ``d``, statsmodels' ``NormalIndPower`` (proportions) and
``TTestIndPower`` (means) are called with the standardised effect

    es = d / sqrt((v_c + v_t / r) / (1 + 1/r))

which makes their ``es · sqrt(n_c / (1 + 1/r))`` equal to ``d / sqrt(v_c/n_c + v_t/n_t)``.
For proportions ``v = p(1 - p)`` at the control rate and at the alternative rate; for means
``v = sd²`` (``sd_treatment`` defaults to ``sd``). A CUPED ``variance_reduction`` ``ρ²`` scales
both variances by ``1 - ρ²``.

**Welch degrees of freedom** (``df_method="welch"`` in the ``*_means`` functions; default
``"pooled"``, the ``TTestIndPower`` convention ``ν = n_c + n_t - 2``): the test abkit runs on
means is Welch's, whose degrees of freedom with unequal arms are far fewer than the pooled ones,
``ν = (a_c + a_t)² / (a_c²/(n_c-1) + a_t²/(n_t-1))``, ``a_i = v_i/n_i``. Power is then
``P(T > t_{ν,1-α/2}) + P(T < -t_{ν,1-α/2})`` for ``T`` non-central t with ``ν`` degrees of
freedom and non-centrality ``d / sqrt(a_c + a_t)`` (``scipy.special.nctdtr``; with equal arms
and variances this is ``TTestIndPower`` exactly).

**Duration.** A day-N metric (retention on day N, or a bracket ending on day N) counts a unit only
once it is mature: units exposed in the last ``N + 1`` days are not yet in the denominator. To
collect ``n`` mature units at ``daily_units`` new units a day the experiment must enrol for
``ceil(n / daily_units)`` days and then wait ``N + 1`` more days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from abkit.errors import StatsError
from abkit.stats._common import check_alpha, check_alternative, check_choice, check_finite

__all__ = [
    "PowerResult",
    "duration_days",
    "mde_means",
    "mde_proportions",
    "power_means",
    "power_proportions",
    "sample_size_means",
    "sample_size_proportions",
]

_SM_ALT = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


@dataclass(frozen=True, slots=True)
class PowerResult:
    """A power calculation. Sample sizes are per arm, rounded up when solved for."""

    nobs_control: float
    nobs_treatment: float
    power: float
    mde_abs: float
    mde_rel: float | None
    baseline: float
    alpha: float
    alternative: str
    ratio: float
    variance_reduction: float
    method: str
    enrollment_days: int | None = None
    duration_days: int | None = None
    note: str | None = None

    @property
    def nobs_total(self) -> float:
        """Units in both arms."""
        return self.nobs_control + self.nobs_treatment


def duration_days(nobs_total: float, daily_units: float, *, metric_day: int | None = None) -> int:
    """Calendar days needed to collect ``nobs_total`` mature units.

    Args:
        nobs_total: units needed in all arms together.
        daily_units: new units entering the experiment per day (after coverage and allocation).
        metric_day: last day ``N`` of the metric window (``N`` for day-N retention); ``None`` for
            metrics that mature at exposure.

    Returns:
        ``ceil(nobs_total / daily_units) + (N + 1)`` days (no maturity delay without
        ``metric_day``).

    Example:
        >>> duration_days(10_000, 1_000, metric_day=7)
        18
    """
    n = check_finite(nobs_total, "nobs_total")
    d = check_finite(daily_units, "daily_units")
    if n < 0 or d <= 0:
        raise StatsError(f"need nobs_total >= 0 and daily_units > 0, got {n!r} and {d!r}.")
    if metric_day is not None and (int(metric_day) != metric_day or metric_day < 0):
        raise StatsError(f"metric_day must be a non-negative integer, got {metric_day!r}.")
    wait = 0 if metric_day is None else int(metric_day) + 1
    return math.ceil(n / d - 1e-12) + wait


def _check_common(
    alpha: float, alternative: str, ratio: float, variance_reduction: float
) -> tuple[float, str, float, float]:
    alpha = check_alpha(alpha)
    alternative = check_alternative(alternative)
    ratio = check_finite(ratio, "ratio")
    if ratio <= 0:
        raise StatsError(f"ratio (n_treatment / n_control) must be > 0, got {ratio!r}.")
    vr = check_finite(variance_reduction, "variance_reduction")
    if not 0.0 <= vr < 1.0:
        raise StatsError(
            f"variance_reduction must be in [0, 1) (e.g. 0.3 for a 30% CUPED reduction), got {vr!r}."
        )
    return alpha, alternative, ratio, vr


def _effect_size(d: float, v_c: float, v_t: float, ratio: float) -> float:
    return d / math.sqrt((v_c + v_t / ratio) / (1.0 + 1.0 / ratio))


DF_METHODS: tuple[str, ...] = ("pooled", "welch")


def _welch_power(
    es: float, n_c: float, alpha: float, ratio: float, alternative: str, v_c: float, v_t: float
) -> float:
    """Power of Welch's t-test (non-central t with Welch–Satterthwaite df)."""
    n_t = n_c * ratio
    if n_c <= 1.0 or n_t <= 1.0:
        return 0.0
    d = es * math.sqrt((v_c + v_t / ratio) / (1.0 + 1.0 / ratio))
    a_c, a_t = v_c / n_c, v_t / n_t
    df = (a_c + a_t) ** 2 / (a_c * a_c / (n_c - 1.0) + a_t * a_t / (n_t - 1.0))
    ncp = d / math.sqrt(a_c + a_t)
    if alternative == "less":
        ncp, alternative = -ncp, "greater"
    elif alternative == "two-sided":
        ncp = abs(ncp)
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    crit = float(special.stdtrit(df, 1.0 - tail))
    pw = 1.0 - float(special.nctdtr(df, ncp, crit))
    if alternative == "two-sided":
        pw += float(special.nctdtr(df, ncp, -crit))
    return min(max(pw, 0.0), 1.0)


def _power(
    kind: str, es: float, n_c: float, alpha: float, ratio: float, alternative: str,
    welch: tuple[float, float] | None = None,
) -> float:  # fmt: skip
    if welch is not None:
        return _welch_power(es, n_c, alpha, ratio, alternative, *welch)
    from statsmodels.stats.power import NormalIndPower, TTestIndPower  # heavy: on first use

    cls = NormalIndPower() if kind == "proportion" else TTestIndPower()
    # statsmodels' one-sided power is for the effect in the tested direction; orient it.
    if alternative == "less":
        es = -es
        alternative = "greater"
    elif alternative == "two-sided":
        es = abs(es)
    return float(
        cls.power(
            effect_size=es, nobs1=n_c, alpha=alpha, ratio=ratio, alternative=_SM_ALT[alternative]
        )
    )


def _prop_vars(p: float, mde_abs: float, vr: float) -> tuple[float, float]:
    p_t = p + mde_abs
    if not 0.0 < p_t < 1.0:
        raise StatsError(
            f"baseline {p!r} plus the effect {mde_abs!r} gives {p_t!r}, outside (0, 1)."
        )
    return p * (1 - p) * (1 - vr), p_t * (1 - p_t) * (1 - vr)


def _abs_effect(baseline: float, mde: float, relative: bool) -> float:
    mde = check_finite(mde, "mde")
    if mde == 0:
        raise StatsError("mde must be non-zero: a zero effect cannot be detected.")
    return baseline * mde if relative else mde


def _check_rate(p: float) -> float:
    p = check_finite(p, "baseline")
    if not 0.0 < p < 1.0:
        raise StatsError(f"baseline must be a rate in (0, 1), got {p!r}.")
    return p


def _result(
    kind: str, baseline: float, d: float, n_c: float, ratio: float, power: float, alpha: float,
    alternative: str, vr: float, daily_units: float | None, metric_day: int | None,
    welch: bool = False,
) -> PowerResult:  # fmt: skip
    total = n_c * (1 + ratio)
    enrol = None if daily_units is None else duration_days(total, daily_units)
    dur = None if daily_units is None else duration_days(total, daily_units, metric_day=metric_day)
    test = "two-proportion z-test (unpooled)" if kind == "proportion" else "two-sample t-test"
    engine = "statsmodels " + ("NormalIndPower" if kind == "proportion" else "TTestIndPower")
    if welch:
        test, engine = "Welch t-test", "non-central t with Welch–Satterthwaite df"
    return PowerResult(
        nobs_control=n_c,
        nobs_treatment=n_c * ratio,
        power=power,
        mde_abs=d,
        mde_rel=d / baseline if baseline != 0 else None,
        baseline=baseline,
        alpha=alpha,
        alternative=alternative,
        ratio=ratio,
        variance_reduction=vr,
        method=f"{test}, {engine}",
        enrollment_days=enrol,
        duration_days=dur,
    )


def _solve_n(
    kind: str, es: float, power: float, alpha: float, ratio: float, alternative: str,
    welch: tuple[float, float] | None = None,
) -> float:  # fmt: skip
    if not 0.0 < power < 1.0:
        raise StatsError(f"power must be in (0, 1), e.g. 0.8; got {power!r}.")
    if (alternative == "greater" and es <= 0) or (alternative == "less" and es >= 0):
        raise StatsError(
            f"the effect has the wrong sign for alternative={alternative!r}; no sample size "
            "reaches the requested power."
        )

    def f(n: float) -> float:
        return _power(kind, es, n, alpha, ratio, alternative, welch) - power

    hi = 4.0
    while f(hi) < 0:
        hi *= 2.0
        if hi > 1e13:
            raise StatsError("the effect is too small to reach the requested power.")
    from scipy import optimize  # heavy module: imported on first use

    n = optimize.brentq(f, 2.0 if f(2.0) < 0 else 1.0, hi, xtol=1e-10, rtol=1e-14)
    return float(math.ceil(n - 1e-9))


def sample_size_proportions(
    baseline: float,
    mde: float,
    *,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    variance_reduction: float = 0.0,
    daily_units: float | None = None,
    metric_day: int | None = None,
) -> PowerResult:
    """Units per arm needed to detect ``mde`` on a rate with the unpooled z-test.

    Args:
        baseline: control rate, e.g. 0.40 for 40 % day-1 retention.
        mde: minimum detectable effect; relative (0.05 = +5 %) unless ``relative=False``.
        relative: whether ``mde`` is relative to ``baseline``.
        alpha: significance level.
        power: target power.
        ratio: ``n_treatment / n_control``.
        alternative: "two-sided", "greater" or "less".
        variance_reduction: CUPED variance reduction ``ρ²`` in [0, 1).
        daily_units: new units per day in the experiment (both arms) to compute the duration.
        metric_day: ``N`` of a day-N metric, for the maturity delay.

    Returns:
        A :class:`PowerResult` with ``nobs_control`` rounded up.

    Example:
        >>> r = sample_size_proportions(0.40, 0.05, daily_units=2000, metric_day=7)
        >>> r.nobs_control, r.duration_days
        (9490.0, 18)
    """
    p = _check_rate(baseline)
    alpha, alternative, ratio, vr = _check_common(alpha, alternative, ratio, variance_reduction)
    d = _abs_effect(p, mde, relative)
    v_c, v_t = _prop_vars(p, d, vr)
    n_c = _solve_n("proportion", _effect_size(d, v_c, v_t, ratio), power, alpha, ratio, alternative)
    achieved = _power(
        "proportion", _effect_size(d, v_c, v_t, ratio), n_c, alpha, ratio, alternative
    )
    return _result(
        "proportion", p, d, n_c, ratio, achieved, alpha, alternative, vr, daily_units, metric_day
    )


def power_proportions(
    baseline: float,
    mde: float,
    nobs_control: float,
    *,
    relative: bool = True,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    variance_reduction: float = 0.0,
) -> PowerResult:
    """Power of the unpooled z-test for an effect ``mde`` with ``nobs_control`` units in control.

    Args:
        baseline: control rate.
        mde: effect (relative unless ``relative=False``).
        nobs_control: units in control (treatment has ``ratio`` times as many).
        relative: whether ``mde`` is relative to ``baseline``.
        alpha: significance level.
        ratio: ``n_treatment / n_control``.
        alternative: "two-sided", "greater" or "less".
        variance_reduction: CUPED variance reduction in [0, 1).

    Returns:
        A :class:`PowerResult`.

    Example:
        >>> round(power_proportions(0.40, 0.05, 9490).power, 4)
        0.8
    """
    p = _check_rate(baseline)
    alpha, alternative, ratio, vr = _check_common(alpha, alternative, ratio, variance_reduction)
    n_c = check_finite(nobs_control, "nobs_control")
    if n_c < 2:
        raise StatsError(f"nobs_control must be >= 2, got {n_c!r}.")
    d = _abs_effect(p, mde, relative)
    v_c, v_t = _prop_vars(p, d, vr)
    pw = _power("proportion", _effect_size(d, v_c, v_t, ratio), n_c, alpha, ratio, alternative)
    return _result("proportion", p, d, n_c, ratio, pw, alpha, alternative, vr, None, None)


def mde_proportions(
    baseline: float,
    nobs_control: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    variance_reduction: float = 0.0,
) -> PowerResult:
    """Smallest positive absolute lift detectable with the given power (negative for "less").

    Args:
        baseline: control rate.
        nobs_control: units in control.
        alpha: significance level.
        power: target power.
        ratio: ``n_treatment / n_control``.
        alternative: "two-sided", "greater" or "less".
        variance_reduction: CUPED variance reduction in [0, 1).

    Returns:
        A :class:`PowerResult` whose ``mde_abs`` / ``mde_rel`` hold the answer.

    Example:
        >>> round(mde_proportions(0.40, 9490).mde_rel, 4)
        0.05
    """
    p = _check_rate(baseline)
    alpha, alternative, ratio, vr = _check_common(alpha, alternative, ratio, variance_reduction)
    n_c = check_finite(nobs_control, "nobs_control")
    if not 0.0 < power < 1.0:
        raise StatsError(f"power must be in (0, 1), got {power!r}.")
    sign = -1.0 if alternative == "less" else 1.0
    limit = (p if sign < 0 else 1.0 - p) * (1 - 1e-9)

    def f(d: float) -> float:
        v_c, v_t = _prop_vars(p, sign * d, vr)
        es = _effect_size(sign * d, v_c, v_t, ratio)
        return _power("proportion", es, n_c, alpha, ratio, alternative) - power

    if f(limit) < 0:
        raise StatsError("no lift within (0, 1) reaches the requested power with this sample.")
    from scipy import optimize  # heavy module: imported on first use

    d = sign * optimize.brentq(f, 1e-12, limit, xtol=1e-14, rtol=1e-12)
    return _result("proportion", p, d, n_c, ratio, power, alpha, alternative, vr, None, None)


def _means_vars(sd: float, sd_treatment: float | None, vr: float) -> tuple[float, float]:
    s_c = check_finite(sd, "sd")
    s_t = s_c if sd_treatment is None else check_finite(sd_treatment, "sd_treatment")
    if s_c <= 0 or s_t <= 0:
        raise StatsError("sd and sd_treatment must be > 0.")
    return s_c * s_c * (1 - vr), s_t * s_t * (1 - vr)


def _welch_vars(df_method: str, v_c: float, v_t: float) -> tuple[float, float] | None:
    check_choice(df_method, "df_method", DF_METHODS)
    return (v_c, v_t) if df_method == "welch" else None


def sample_size_means(
    baseline: float,
    sd: float,
    mde: float,
    *,
    relative: bool = True,
    sd_treatment: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    variance_reduction: float = 0.0,
    daily_units: float | None = None,
    metric_day: int | None = None,
    df_method: str = "pooled",
) -> PowerResult:
    """Units per arm needed to detect ``mde`` on a mean (two-sample t-test).

    Args:
        baseline: control mean (used for a relative ``mde``).
        sd: standard deviation per unit in control.
        mde: minimum detectable effect; relative unless ``relative=False``.
        relative: whether ``mde`` is relative to ``baseline``.
        sd_treatment: standard deviation in treatment (default ``sd``).
        alpha: significance level.
        power: target power.
        ratio: ``n_treatment / n_control``.
        alternative: "two-sided", "greater" or "less".
        variance_reduction: CUPED variance reduction in [0, 1).
        daily_units: new units per day (both arms) to compute the duration.
        metric_day: ``N`` of a day-N metric, for the maturity delay.
        df_method: "pooled" (default; statsmodels ``TTestIndPower``, ``ν = n_c + n_t - 2``) or
            "welch" (Welch–Satterthwaite df: right for unequal arms, see the module docstring).

    Returns:
        A :class:`PowerResult`.

    Example:
        >>> sample_size_means(50.0, 100.0, 0.1).nobs_control
        6281.0
        >>> sample_size_means(50.0, 100.0, 0.1, ratio=0.1, df_method="welch").nobs_control
        34551.0
    """
    base = check_finite(baseline, "baseline")
    alpha, alternative, ratio, vr = _check_common(alpha, alternative, ratio, variance_reduction)
    d = _abs_effect(base, mde, relative)
    v_c, v_t = _means_vars(sd, sd_treatment, vr)
    welch = _welch_vars(df_method, v_c, v_t)
    es = _effect_size(d, v_c, v_t, ratio)
    n_c = _solve_n("mean", es, power, alpha, ratio, alternative, welch)
    achieved = _power("mean", es, n_c, alpha, ratio, alternative, welch)
    return _result(
        "mean", base, d, n_c, ratio, achieved, alpha, alternative, vr, daily_units, metric_day,
        welch is not None,
    )  # fmt: skip


def power_means(
    baseline: float,
    sd: float,
    mde: float,
    nobs_control: float,
    *,
    relative: bool = True,
    sd_treatment: float | None = None,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    variance_reduction: float = 0.0,
    df_method: str = "pooled",
) -> PowerResult:
    """Power of the two-sample t-test for an effect ``mde`` on a mean.

    Args:
        baseline: control mean.
        sd: standard deviation per unit.
        mde: effect (relative unless ``relative=False``).
        nobs_control: units in control.
        relative: whether ``mde`` is relative to ``baseline``.
        sd_treatment: standard deviation in treatment (default ``sd``).
        alpha: significance level.
        ratio: ``n_treatment / n_control``.
        alternative: "two-sided", "greater" or "less".
        variance_reduction: CUPED variance reduction in [0, 1).
        df_method: "pooled" (default; statsmodels ``TTestIndPower``, ``ν = n_c + n_t - 2``) or
            "welch" (Welch–Satterthwaite df: right for unequal arms, see the module docstring).

    Returns:
        A :class:`PowerResult`.

    Example:
        >>> round(power_means(50.0, 100.0, 0.1, 6281).power, 3)
        0.8
    """
    base = check_finite(baseline, "baseline")
    alpha, alternative, ratio, vr = _check_common(alpha, alternative, ratio, variance_reduction)
    n_c = check_finite(nobs_control, "nobs_control")
    if n_c < 2:
        raise StatsError(f"nobs_control must be >= 2, got {n_c!r}.")
    d = _abs_effect(base, mde, relative)
    v_c, v_t = _means_vars(sd, sd_treatment, vr)
    welch = _welch_vars(df_method, v_c, v_t)
    pw = _power("mean", _effect_size(d, v_c, v_t, ratio), n_c, alpha, ratio, alternative, welch)
    return _result(
        "mean", base, d, n_c, ratio, pw, alpha, alternative, vr, None, None, welch is not None
    )


def mde_means(
    baseline: float,
    sd: float,
    nobs_control: float,
    *,
    sd_treatment: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
    variance_reduction: float = 0.0,
    df_method: str = "pooled",
) -> PowerResult:
    """Smallest absolute lift on a mean detectable with the given power.

    Args:
        baseline: control mean (for ``mde_rel``).
        sd: standard deviation per unit.
        nobs_control: units in control.
        sd_treatment: standard deviation in treatment (default ``sd``).
        alpha: significance level.
        power: target power.
        ratio: ``n_treatment / n_control``.
        alternative: "two-sided", "greater" or "less".
        variance_reduction: CUPED variance reduction in [0, 1).
        df_method: "pooled" (default; statsmodels ``TTestIndPower``, ``ν = n_c + n_t - 2``) or
            "welch" (Welch–Satterthwaite df: right for unequal arms, see the module docstring).

    Returns:
        A :class:`PowerResult`.

    Example:
        >>> round(mde_means(50.0, 100.0, 6281).mde_abs, 3)
        5.0
        >>> round(mde_means(0.3636, 0.658, 22, ratio=1010 / 22, df_method="welch").mde_abs, 4)
        0.4158
    """
    base = check_finite(baseline, "baseline")
    alpha, alternative, ratio, vr = _check_common(alpha, alternative, ratio, variance_reduction)
    n_c = check_finite(nobs_control, "nobs_control")
    if not 0.0 < power < 1.0:
        raise StatsError(f"power must be in (0, 1), got {power!r}.")
    v_c, v_t = _means_vars(sd, sd_treatment, vr)
    welch = _welch_vars(df_method, v_c, v_t)
    sign = -1.0 if alternative == "less" else 1.0
    test_alt = "two-sided" if alternative == "two-sided" else "greater"
    # The smallest standardised effect with the requested power (t-test, statsmodels power),
    # bracketed around the normal-approximation answer (the non-central t is NaN far out).
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    es_normal = (-float(special.ndtri(tail)) + float(special.ndtri(power))) / math.sqrt(
        n_c / (1.0 + 1.0 / ratio)
    )
    from scipy import optimize  # heavy module: imported on first use

    def f(e: float) -> float:
        return _power("mean", e, n_c, alpha, ratio, test_alt, welch) - power

    hi = 1.5 * es_normal
    while welch is not None and f(hi) < 0:  # few Welch df: the effect can be far above normal
        hi *= 2.0
        if hi > 1e6 * es_normal:
            raise StatsError("no effect reaches the requested power with this sample.")
    es = optimize.brentq(f, 0.5 * es_normal, hi, xtol=1e-15, rtol=1e-14)
    d = sign * es * math.sqrt((v_c + v_t / ratio) / (1.0 + 1.0 / ratio))
    return _result(
        "mean", base, d, n_c, ratio, power, alpha, alternative, vr, None, None, welch is not None
    )
