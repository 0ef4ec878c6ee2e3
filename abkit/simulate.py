"""Synthetic retention experiments with known true effects (the data behind ``abkit demo``).

The model, stated exactly so tests can check estimates against the truth:

* units arrive uniformly over ``enrollment_days`` from ``start``; each gets a variant (by ``weights``),
  an acquisition ``channel`` (``CHANNELS``, with a retention multiplier each) and a ``platform``;
* day 0 (the exposure day) is always active: an event at the exposure instant;
* on day ``k >= 1`` a unit is active with probability
  ``p = base · k^(-decay) · (1 + effect[variant] · f(k)) · channel_mult · z`` where
  ``z ~ 2·Beta(2, 2)`` is the unit's own propensity (mean 1, so days of one unit are correlated as
  in real logs) and ``f(k) = 1`` (a constant effect), or ``f(k) = exp(-k / effect_decay_days)``
  for an effect that fades with the days since exposure (a novelty effect);
* an active day has ``1 + Poisson(1)`` events at uniform times inside the day's 24-hour window; an
  event is a ``"purchase"`` with probability 0.05 and a log-normal ``value``, else a ``"session"``;
* no event is recorded after ``start + days``.

Hence the true DayN retention of a variant is
``base · N^(-decay) · (1 + effect · f(N)) · E[channel_mult]`` (and 1 for N = 0), available as
``SimulatedExperiment.truth``: the true relative lift on day N is ``effect · f(N)``.

Example:
    >>> from abkit.simulate import retention_experiment
    >>> exposures, events = retention_experiment(n_units=1_000, seed=3)
    >>> sorted(exposures.columns)
    ['channel', 'exposed_at', 'platform', 'unit_id', 'variant']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from abkit.errors import SpecError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CHANNELS",
    "NEW_USER_CHANNELS",
    "PLATFORMS",
    "SimulatedExperiment",
    "new_user_experiment",
    "retention_experiment",
]

#: acquisition channel → (share of units, retention multiplier)
CHANNELS: dict[str, tuple[float, float]] = {
    "organic": (0.40, 1.15),
    "paid_search": (0.30, 1.00),
    "social": (0.20, 0.80),
    "referral": (0.10, 1.10),
}
_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True, slots=True)
class SimulatedExperiment:
    """Exposures, events and the true retention curve. Unpacks as ``exposures, events``."""

    exposures: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame
    params: Mapping[str, Any]

    def __iter__(self) -> Iterator[pd.DataFrame]:
        yield self.exposures
        yield self.events

    def true_retention(self, day: int, variant: str) -> float:
        """The true DayN retention of ``variant`` under the generating model."""
        t = self.truth
        return float(t.loc[(t.day == day) & (t.variant == variant), "retention"].iloc[0])


def _daily_probability(day: np.ndarray, base: float, decay: float) -> np.ndarray:
    return np.where(day >= 1, base * np.maximum(day, 1).astype(float) ** (-decay), 1.0)


def _effect_fade(day: np.ndarray, decay_days: float | None) -> np.ndarray:
    """The share of the effect left on each day: 1, or ``exp(-day / decay_days)``."""
    if decay_days is None:
        return np.ones(day.shape)
    return np.exp(-day.astype(float) / float(decay_days))


def _pre_exposure_events(
    rng: np.random.Generator,
    pre_days: int,
    p: np.ndarray,
    t0_us: np.ndarray,
    unit_ids: np.ndarray,
) -> pd.DataFrame:
    """Events on the ``pre_days`` days before each unit's exposure (day -j: ``t0 - j·24h`` to
    ``t0 - (j-1)·24h``), each day active with the unit's probability ``p``."""
    import pandas as pd

    active = rng.random((p.size, pre_days)) < p[:, None]
    unit_of, j = np.nonzero(active)
    n_ev = 1 + rng.poisson(1.0, size=unit_of.size)
    ev_unit = np.repeat(unit_of, n_ev)
    start = t0_us[ev_unit] - (np.repeat(j, n_ev) + 1) * _US_PER_DAY
    ev_ts = start + rng.integers(0, _US_PER_DAY, size=ev_unit.size)
    purchase = rng.random(ev_unit.size) < 0.05
    value = np.where(purchase, np.round(rng.lognormal(1.0, 1.0, size=ev_unit.size), 2), np.nan)
    return pd.DataFrame(
        {
            "unit_id": unit_ids[ev_unit],
            "ts": pd.to_datetime(ev_ts, unit="us", utc=True),
            "event": np.where(purchase, "purchase", "session"),
            "value": value,
        }
    )


def retention_experiment(
    n_units: int = 20_000,
    *,
    seed: int | np.random.Generator = 0,
    variants: Sequence[str] = ("control", "treatment"),
    weights: Sequence[float] | None = None,
    effects: Mapping[str, float] | None = None,
    base: float = 0.40,
    decay: float = 0.35,
    start: str = "2024-03-01",
    enrollment_days: int = 14,
    days: int = 40,
    repeat_exposure_rate: float = 0.1,
    channels: Mapping[str, tuple[float, float]] | None = None,
    pre_days: int = 0,
    effect_decay_days: float | None = None,
) -> SimulatedExperiment:
    """Simulate an experiment's exposure and activity logs with known true retention.

    Args:
        n_units: number of exposed units.
        seed: seed or ``numpy.random.Generator``; equal seeds give equal data.
        variants: variant labels, control first.
        weights: traffic shares (equal if None).
        effects: relative change of the daily return probability per variant; default
            ``{"treatment": 0.08}`` (+8% on every day >= 1). Missing variants get 0.
        base: day-1 return probability of the average control unit before channel mix.
        decay: power-law decay of the daily return probability with the day index.
        start: first exposure date (UTC).
        enrollment_days: exposures are spread uniformly over this many days.
        days: the log ends ``days`` after ``start``: later units are immature for long windows.
        repeat_exposure_rate: share of units logged with a second exposure (same variant, later).
        channels: channel → (share, multiplier); default ``CHANNELS``.
        pre_days: returning users: each unit is also active on each of the ``pre_days`` days
            before its exposure with probability ``base · channel multiplier · z`` (its own
            engagement ``z``, no treatment effect), so pre-exposure activity predicts retention
            (what CUPED uses). 0: new users, no activity before exposure. Drawn after everything
            else: the other data are the same for any ``pre_days``.
        effect_decay_days: a fading (novelty) effect: the relative effect on day ``k`` is
            ``effect · exp(-k / effect_decay_days)``. None (default): the effect is the same on
            every day. A seed gives the same units (variant, channel, platform, first
            exposure, propensity) and the same daily uniforms either way; only the daily
            probabilities change, and with them the later draws (event times, repeats).

    Returns:
        A :class:`SimulatedExperiment` (``exposures``, ``events``, ``truth``, ``params``).

    Raises:
        SpecError: for parameters under which a daily probability would exceed 1, or bad sizes.
    """
    import pandas as pd

    if n_units < 1:
        raise SpecError(f"n_units must be positive, got {n_units}")
    rng = np.random.default_rng(seed)
    variants = tuple(variants)
    k = len(variants)
    w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (k,) or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise SpecError(f"weights must be {k} non-negative numbers summing to 1, got {weights}")
    eff = {"treatment": 0.08} if effects is None else dict(effects)
    eff_arr = np.array([eff.get(v, 0.0) for v in variants])
    if effect_decay_days is not None and not (
        isinstance(effect_decay_days, int | float) and 0 < effect_decay_days < float("inf")
    ):
        raise SpecError(f"effect_decay_days must be a positive number, got {effect_decay_days!r}")
    ch = dict(CHANNELS if channels is None else channels)
    ch_names = list(ch)
    ch_share = np.array([ch[c][0] for c in ch_names])
    ch_mult = np.array([ch[c][1] for c in ch_names])
    if not np.isclose(ch_share.sum(), 1.0):
        raise SpecError("channel shares must sum to 1")
    worst = base * (1 + eff_arr.max()) * ch_mult.max() * 2.0
    if worst > 1.0:
        raise SpecError(
            f"base={base} with effects up to {eff_arr.max()} and channel multipliers up to "
            f"{ch_mult.max()} gives daily probabilities above 1 (max {worst:.3f}); lower them"
        )

    start_ts = pd.Timestamp(start, tz="UTC")
    start_us = start_ts.value // 1000
    end_us = start_us + days * _US_PER_DAY

    variant_idx = rng.choice(k, size=n_units, p=w)
    channel_idx = rng.choice(len(ch_names), size=n_units, p=ch_share)
    platform = rng.choice(np.array(["ios", "android"]), size=n_units, p=[0.45, 0.55])
    t0_us = start_us + rng.integers(0, enrollment_days * _US_PER_DAY, size=n_units)
    z = 2.0 * rng.beta(2.0, 2.0, size=n_units)
    unit_ids = np.char.add("u", np.char.zfill(np.arange(1, n_units + 1).astype(str), 7))

    # activity matrix: units x days (day 0 always active)
    day_idx = np.arange(days + 1)
    fade = _effect_fade(day_idx, effect_decay_days)
    # the constant effect keeps its original order of products: a seed gives the same data as
    # before the option existed (floating-point products depend on their order)
    if effect_decay_days is None:
        unit = ((1 + eff_arr[variant_idx]) * ch_mult[channel_idx] * z)[:, None]
    else:
        lifted = 1 + eff_arr[variant_idx][:, None] * fade[None, :]
        unit = lifted * (ch_mult[channel_idx] * z)[:, None]
    p = (
        _daily_probability(day_idx, base, decay)[None, :]
        * np.where(day_idx >= 1, 1.0, 0.0)[None, :]
        * unit
    )
    p[:, 0] = 1.0
    active = rng.random(p.shape) < p
    # days whose window starts after the end of the log are not observed
    active &= (t0_us[:, None] + day_idx[None, :] * _US_PER_DAY) < end_us
    unit_of, day_of = np.nonzero(active)
    n_ev = 1 + rng.poisson(1.0, size=unit_of.size)
    ev_unit = np.repeat(unit_of, n_ev)
    ev_day = np.repeat(day_of, n_ev)
    ev_ts = t0_us[ev_unit] + ev_day * _US_PER_DAY + rng.integers(0, _US_PER_DAY, size=ev_unit.size)
    # the first event of each active day 0 is the exposure itself
    first_of_run = np.concatenate(([0], np.cumsum(n_ev)[:-1]))
    is_day0_first = np.zeros(ev_unit.size, dtype=bool)
    is_day0_first[first_of_run[day_of == 0]] = True
    ev_ts[is_day0_first] = t0_us[ev_unit[is_day0_first]]
    keep = ev_ts < end_us
    ev_unit, ev_ts = ev_unit[keep], ev_ts[keep]
    purchase = rng.random(ev_unit.size) < 0.05
    value = np.where(purchase, np.round(rng.lognormal(1.0, 1.0, size=ev_unit.size), 2), np.nan)
    order = np.argsort(ev_ts, kind="stable")

    events = pd.DataFrame(
        {
            "unit_id": unit_ids[ev_unit[order]],
            "ts": pd.to_datetime(ev_ts[order], unit="us", utc=True),
            "event": np.where(purchase[order], "purchase", "session"),
            "value": value[order],
        }
    )

    exposures = pd.DataFrame(
        {
            "unit_id": unit_ids,
            "variant": np.array(variants, dtype=object)[variant_idx],
            "exposed_at": pd.to_datetime(t0_us, unit="us", utc=True),
            "channel": np.array(ch_names, dtype=object)[channel_idx],
            "platform": platform,
        }
    )
    repeat = rng.random(n_units) < repeat_exposure_rate
    if repeat.any():
        again = exposures[repeat].copy()
        delay = rng.integers(1, 3 * _US_PER_DAY, size=int(repeat.sum()))
        again["exposed_at"] = again["exposed_at"] + pd.to_timedelta(delay, unit="us")
        again = again[again["exposed_at"] < pd.Timestamp(end_us * 1000, tz="UTC")]
        exposures = pd.concat([exposures, again], ignore_index=True)
    exposures = exposures.sort_values("exposed_at", kind="stable").reset_index(drop=True)
    if pre_days > 0:
        p_pre = base * ch_mult[channel_idx] * z
        pre = _pre_exposure_events(rng, pre_days, p_pre, t0_us, unit_ids)
        events = pd.concat([pre, events], ignore_index=True)
        events = events.sort_values("ts", kind="stable").reset_index(drop=True)

    mix = float(ch_share @ ch_mult)
    truth = pd.DataFrame(
        [
            {
                "variant": v,
                "day": int(d),
                "retention": 1.0
                if d == 0
                else float(base * d ** (-decay) * (1 + eff.get(v, 0.0) * fade[d]) * mix),
            }
            for v in variants
            for d in day_idx
        ]
    )
    params = {
        "n_units": n_units,
        "variants": variants,
        "weights": tuple(float(x) for x in w),
        "effects": {v: float(eff.get(v, 0.0)) for v in variants},
        "base": base,
        "decay": decay,
        "start": start_ts.isoformat(),
        "enrollment_days": enrollment_days,
        "days": days,
        "channels": ch,
        "effect_decay_days": effect_decay_days,
    }
    return SimulatedExperiment(exposures, events, truth, params)


#: new-user experiment: platform → (share of units, retention multiplier)
PLATFORMS: dict[str, tuple[float, float]] = {
    "ios": (0.45, 1.25),
    "android": (0.45, 0.85),
    "web": (0.10, 0.60),
}
#: new-user experiment: channel → (share, multiplier), wider apart than :data:`CHANNELS`
NEW_USER_CHANNELS: dict[str, tuple[float, float]] = {
    "organic": (0.35, 1.45),
    "paid_search": (0.30, 0.95),
    "social": (0.25, 0.55),
    "referral": (0.10, 1.20),
}


def new_user_experiment(
    n_units: int = 20_000,
    *,
    seed: int | np.random.Generator = 0,
    effect: float = 0.05,
    base: float = 0.25,
    decay: float = 0.35,
    start: str = "2024-03-01",
    enrollment_days: int = 14,
    days: int = 30,
    prediction_noise: float = 0.5,
) -> SimulatedExperiment:
    """A NEW-user experiment: no activity before exposure; channel and platform predict retention.

    Model (exact): a unit gets ``variant`` (control / treatment, equal shares), a ``channel``
    (:data:`NEW_USER_CHANNELS`) and a ``platform`` (:data:`PLATFORMS`), each with a retention
    multiplier, and a propensity ``z ~ 2·Beta(2, 2)`` (mean 1). It is active on day ``k ≥ 1``
    with probability ``base · k^(-decay) · (1 + effect·[treatment]) · m_channel · m_platform · z``
    (one event at a uniform time in the day; day 0 is the exposure event). The exposure log also
    carries ``predicted_d7``: what a model trained on an earlier cohort would predict from the
    signup attributes and a noisy view of ``z``, ``base · 7^(-decay) · m_channel · m_platform ·
    z·exp(ε)``, ``ε ~ N(0, prediction_noise²)`` — a CUPAC covariate, drawn before assignment.

    The true DayN retention of an arm is ``base · N^(-decay) · (1 + effect·[treatment]) ·
    E[m_channel] · E[m_platform]`` (``truth``), the true absolute lift its difference.

    Example:
        >>> sim = new_user_experiment(2_000, seed=1)
        >>> sorted(sim.exposures.columns)
        ['channel', 'exposed_at', 'platform', 'predicted_d7', 'unit_id', 'variant']
    """
    import pandas as pd

    if n_units < 1:
        raise SpecError(f"n_units must be positive, got {n_units}")
    rng = np.random.default_rng(seed)
    ch, pl = list(NEW_USER_CHANNELS), list(PLATFORMS)
    ch_share = np.array([NEW_USER_CHANNELS[c][0] for c in ch])
    ch_mult = np.array([NEW_USER_CHANNELS[c][1] for c in ch])
    pl_share = np.array([PLATFORMS[p][0] for p in pl])
    pl_mult = np.array([PLATFORMS[p][1] for p in pl])
    worst = base * (1 + max(effect, 0.0)) * ch_mult.max() * pl_mult.max() * 2.0
    if worst > 1.0:
        raise SpecError(f"base={base} gives daily probabilities above 1 (max {worst:.3f})")
    start_us = pd.Timestamp(start, tz="UTC").value // 1000
    end_us = start_us + days * _US_PER_DAY
    treated = rng.random(n_units) < 0.5
    ci = rng.choice(len(ch), size=n_units, p=ch_share)
    pi = rng.choice(len(pl), size=n_units, p=pl_share)
    z = 2.0 * rng.beta(2.0, 2.0, size=n_units)
    t0_us = start_us + rng.integers(0, enrollment_days * _US_PER_DAY, size=n_units)
    attr = ch_mult[ci] * pl_mult[pi]
    pred = base * 7.0 ** (-decay) * attr * z * np.exp(rng.normal(0.0, prediction_noise, n_units))
    day_idx = np.arange(days + 1)
    p = (
        _daily_probability(day_idx, base, decay)[None, :]
        * ((1.0 + effect * treated) * attr * z)[:, None]
    )
    p[:, 0] = 1.0
    active = rng.random(p.shape) < p
    active &= (t0_us[:, None] + day_idx[None, :] * _US_PER_DAY) < end_us
    unit_of, day_of = np.nonzero(active)
    offset = np.where(day_of == 0, 0, rng.integers(0, _US_PER_DAY, size=unit_of.size))
    ts = t0_us[unit_of] + day_of * _US_PER_DAY + offset
    keep = ts < end_us
    ids = np.char.add("n", np.char.zfill(np.arange(1, n_units + 1).astype(str), 7))
    events = pd.DataFrame(
        {"unit_id": ids[unit_of[keep]], "ts": pd.to_datetime(ts[keep], unit="us", utc=True)}
    )
    exposures = pd.DataFrame(
        {
            "unit_id": ids,
            "variant": np.where(treated, "treatment", "control").astype(object),
            "exposed_at": pd.to_datetime(t0_us, unit="us", utc=True),
            "channel": np.array(ch, dtype=object)[ci],
            "platform": np.array(pl, dtype=object)[pi],
            "predicted_d7": pred,
        }
    )
    mix = float(ch_share @ ch_mult) * float(pl_share @ pl_mult)
    truth = pd.DataFrame(
        [
            {
                "variant": v,
                "day": int(d),
                "retention": 1.0 if d == 0 else float(base * d ** (-decay) * (1 + e) * mix),
            }
            for v, e in (("control", 0.0), ("treatment", effect))
            for d in day_idx
        ]
    )
    params = {
        "n_units": n_units,
        "effect": effect,
        "base": base,
        "decay": decay,
        "days": days,
        "prediction_noise": prediction_noise,
    }
    return SimulatedExperiment(exposures, events, truth, params)
