"""Shared helpers of the statistics layer: argument checks and distribution tails.

Everything here works on numpy scalars and arrays alike, so the scalar functions and the
vectorized path share one implementation. Tail probabilities use ``scipy.special`` (``ndtr``,
``stdtr`` …), the same routines ``scipy.stats`` calls, which keeps results identical to
statsmodels to the last few ulps while avoiding the per-call overhead of ``scipy.stats``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from abkit.errors import StatsError
from abkit.stats._types import ALTERNATIVES

FloatArray = npt.NDArray[np.float64]

_Z_INF = float("inf")


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Return ``alpha`` as a float, or raise when it is not strictly between 0 and 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise StatsError(f"{name} must be a number in (0, 1), got {alpha!r}; e.g. {name}=0.05.")
    value = float(alpha)
    if not (0.0 < value < 1.0):
        raise StatsError(
            f"{name} must be strictly between 0 and 1, got {alpha!r}; e.g. {name}=0.05."
        )
    return value


def check_alternative(alternative: str) -> str:
    """Return ``alternative`` unchanged, or raise when it is not one of scipy's three words."""
    if alternative not in ALTERNATIVES:
        raise StatsError(
            f"alternative must be one of {list(ALTERNATIVES)}, got {alternative!r}; "
            "'greater' means treatment > control."
        )
    return alternative


def check_choice(value: str, name: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` when it is one of ``choices``; otherwise raise naming the options."""
    if value not in choices:
        raise StatsError(f"unknown {name} {value!r}; choose one of {list(choices)}.")
    return value


def check_count(value: Any, name: str) -> int:
    """Return a non-negative integer count, or raise naming the argument.

    Integral floats (``10.0``, as sums from a database often are) are accepted.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise StatsError(f"{name} must be a non-negative integer count, got {value!r}.")
    if isinstance(value, numbers.Integral):
        count = int(value)
    else:
        as_float = float(value)
        if not (math.isfinite(as_float) and as_float.is_integer()):
            raise StatsError(f"{name} must be a non-negative integer count, got {value!r}.")
        count = int(as_float)
    if count < 0:
        raise StatsError(f"{name} must be a non-negative integer count, got {count}.")
    return count


def check_finite(value: Any, name: str, *, allow_nan: bool = False) -> float:
    """Return ``value`` as a finite float, or raise naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise StatsError(f"{name} must be a real number, got {value!r}.")
    result = float(value)
    if math.isnan(result) and allow_nan:
        return result
    if not math.isfinite(result):
        raise StatsError(
            f"{name} is {result!r}; it must be finite. Check the aggregation that produced it "
            "(a NaN usually means missing values were summed)."
        )
    return result


def check_nonnegative(value: Any, name: str, *, allow_nan: bool = False) -> float:
    """Return a finite float ``>= 0`` (a variance, a variance of a mean …) or raise."""
    result = check_finite(value, name, allow_nan=allow_nan)
    if result < 0:
        raise StatsError(f"{name} must be >= 0 (it is a variance), got {result!r}.")
    return result


# ----------------------------------------------------------------------------------------------
# Distribution helpers (vectorized)


def norm_quantile(prob: Any) -> Any:
    """Standard normal quantile (``scipy.stats.norm.ppf``)."""
    return special.ndtri(prob)


def t_quantile(prob: Any, df: Any) -> Any:
    """Student t quantile (``scipy.stats.t.ppf``)."""
    return special.stdtrit(df, prob)


def pvalue_z(stat: Any, alternative: str) -> Any:
    """P-value of a standard-normal statistic for ``alternative``."""
    if alternative == "two-sided":
        return 2.0 * special.ndtr(-np.abs(stat))
    if alternative == "greater":
        return special.ndtr(-np.asarray(stat, dtype=float))
    return special.ndtr(np.asarray(stat, dtype=float))


def pvalue_t(stat: Any, df: Any, alternative: str) -> Any:
    """P-value of a Student-t statistic with ``df`` degrees of freedom for ``alternative``."""
    if alternative == "two-sided":
        return 2.0 * special.stdtr(df, -np.abs(stat))
    if alternative == "greater":
        return special.stdtr(df, -np.asarray(stat, dtype=float))
    return special.stdtr(df, np.asarray(stat, dtype=float))


def crit_z(alpha: float, alternative: str) -> float:
    """Critical value ``z`` such that the interval ``est ± z·se`` has the requested coverage."""
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    return float(-special.ndtri(tail))


def crit_t(alpha: float, df: Any, alternative: str) -> Any:
    """Critical value of the t distribution (vectorized over ``df``)."""
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    return -special.stdtrit(df, tail)


def interval(est: Any, half_width: Any, alternative: str) -> tuple[Any, Any]:
    """Bounds ``est ± half_width`` for ``alternative`` (one infinite bound when one-sided)."""
    est_a = np.asarray(est, dtype=float)
    hw = np.asarray(half_width, dtype=float)
    lower = est_a - hw
    upper = est_a + hw
    if alternative == "greater":
        upper = np.full_like(upper, _Z_INF)
    elif alternative == "less":
        lower = np.full_like(lower, -_Z_INF)
    return lower, upper


def opt_float(value: Any) -> float | None:
    """A Python float, or ``None`` when the value is NaN (results never carry NaN p-values)."""
    result = float(value)
    return None if math.isnan(result) else result


def join_notes(*notes: str | None) -> str | None:
    """Join the non-empty notes with '; ' (``None`` when there is nothing to say)."""
    parts = [n for n in notes if n]
    return "; ".join(parts) if parts else None
