"""GrowthBook-compatible scalar hashing and bucketing (the SDK functions one to one).

``hash_unit`` is the SDK's ``gbhash``, ``bucket_ranges`` its ``getBucketRanges``, ``choose_variant``
its ``chooseVariation`` and ``in_namespace`` its ``inNamespace``; ``unit_id_to_str`` is how a
non-string id is turned into the text that is hashed (JavaScript ``String(x)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from abkit.assign import _hashing as _h
from abkit.errors import DataError, SpecError

#: Largest integer a JavaScript number (and so a GrowthBook SDK) holds exactly: ``2**53``.
MAX_SAFE_INTEGER: Final = 2**53


# ---------------------------------------------------------------------------------------------
# scalar reference API (mirrors the GrowthBook SDK functions one to one)
# ---------------------------------------------------------------------------------------------


def hash_unit(seed: str, unit_id: object, version: int = 2) -> float | None:
    """GrowthBook's hash of ``unit_id`` under ``seed``: a float in [0, 1), ``None`` for an unknown
    ``version`` (like the SDK's ``gbhash``).

    Args:
        seed: the hashing seed (the experiment key unless the spec sets ``seed``).
        unit_id: the id; non-strings are stringified by :func:`unit_id_to_str`.
        version: 1 (``fnv(id + seed) % 1000 / 1000``) or 2 (``fnv(str(fnv(seed + id))) % 10000 /
            10000``).

    Example:
        >>> hash_unit("exp", "user-1"), hash_unit("exp", "user-1", version=1)
        (0.3004, 0.331)
        >>> hash_unit("exp", 42) == hash_unit("exp", "42")
        True
    """
    s = unit_id_to_str(unit_id)
    if version == 2:
        return (_h.fnv1a32(str(_h.fnv1a32(seed + s))) % 10_000) / 10_000
    if version == 1:
        return (_h.fnv1a32(s + seed) % 1000) / 1000
    return None


def bucket_ranges(
    n_variants: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[tuple[float, float]]:
    """Bucket ranges ``[start, start + coverage * weight)`` per variant, as GrowthBook has them.

    Unlike the SDK, which clamps a bad coverage and silently falls back to equal weights, abkit
    rejects invalid input.

    Raises:
        SpecError: ``n_variants < 1``; ``coverage`` outside [0, 1]; ``weights`` of the wrong length,
            negative, not finite, or not summing to 1 (within 1e-6).

    Example:
        >>> bucket_ranges(2, coverage=0.5)
        [(0.0, 0.25), (0.5, 0.75)]
        >>> bucket_ranges(3, weights=[0.2, 0.3, 0.5])
        [(0.0, 0.2), (0.2, 0.5), (0.5, 1.0)]
    """
    if isinstance(n_variants, bool) or not isinstance(n_variants, int | np.integer):
        raise SpecError(f"n_variants must be an integer, got {n_variants!r}")
    if n_variants < 1:
        raise SpecError(f"n_variants must be at least 1, got {n_variants}")
    if isinstance(coverage, bool) or not isinstance(coverage, int | float | np.number):
        raise SpecError(f"coverage must be a number in [0, 1], got {coverage!r}")
    if not (math.isfinite(coverage) and 0.0 <= coverage <= 1.0):
        raise SpecError(
            f"coverage must be in [0, 1], got {coverage}; it is the share of eligible units that "
            "enter the experiment (e.g. 0.2 for 20%)."
        )
    if weights is None:
        w = [1 / n_variants for _ in range(n_variants)]
    else:
        w = list(weights)
        if len(w) != n_variants:
            raise SpecError(
                f"weights has {len(w)} entries for {n_variants} variants; "
                "give one weight per variant."
            )
        bad = [
            x
            for x in w
            if isinstance(x, bool)
            or not isinstance(x, int | float | np.number)
            or not math.isfinite(x)
            or x < 0
        ]
        if bad:
            raise SpecError(f"weights must be finite numbers >= 0, got {w} (bad: {bad})")
        total = math.fsum(w)
        if abs(total - 1.0) > 1e-6:
            raise SpecError(
                f"weights {w} sum to {total:.6g}, not 1. GrowthBook would ignore them and split "
                "equally; abkit refuses. Rescale them (e.g. divide each by the sum)."
            )
    cumulative = 0.0
    ranges = []
    for x in w:
        start = cumulative
        cumulative += x
        ranges.append((start, start + coverage * x))
    return ranges


def choose_variant(n: float, ranges: Sequence[tuple[float, float]]) -> int:
    """Index of the first range with ``start <= n < end``; ``-1`` when ``n`` is in none.

    Example:
        >>> ranges = [(0.0, 0.25), (0.5, 0.75)]
        >>> choose_variant(0.3, ranges), choose_variant(0.6, ranges)
        (-1, 1)
    """
    for i, (start, end) in enumerate(ranges):
        if start <= n < end:
            return i
    return -1


def in_namespace(unit_id: object, namespace: tuple[str, float, float]) -> bool:
    """Whether ``unit_id`` falls in ``namespace = (name, start, end)``.

    Eligible when the version-1 hash with seed ``"__" + name`` lies in ``[start, end)``.

    Raises:
        SpecError: the range is empty or outside [0, 1].

    Example:
        >>> in_namespace("user-1", ("checkout", 0.0, 0.5))
        False
        >>> in_namespace("user-1", ("checkout", 0.5, 1.0))
        True
    """
    name, start, end = _check_namespace(namespace)
    n = hash_unit("__" + name, unit_id, 1)
    return n is not None and start <= n < end


def _check_namespace(namespace: Any) -> tuple[str, float, float]:
    try:
        name, start, end = namespace
        start, end = float(start), float(end)
    except (TypeError, ValueError):
        raise SpecError(
            f"namespace must be (name, start, end), e.g. ('checkout', 0.0, 0.5); got {namespace!r}"
        ) from None
    if not (0.0 <= start < end <= 1.0):
        raise SpecError(
            f"namespace {name!r} range [{start}, {end}) is empty or outside [0, 1]; it must "
            "satisfy 0 <= start < end <= 1, otherwise no unit could ever be eligible."
        )
    return str(name), start, end


def unit_id_to_str(unit_id: object) -> str:
    """The string GrowthBook hashes for ``unit_id`` (JavaScript ``String(x)`` of a number).

    Rules: strings as they are; integers in decimal (``|x| <= 2**53``, else an error: a JavaScript
    number cannot hold them exactly); floats like JavaScript prints them (``3.0 -> "3"``,
    ``0.5 -> "0.5"``, ``1e21 -> "1e+21"``). Booleans, bytes, ``None`` and other types are errors.

    Example:
        >>> [unit_id_to_str(x) for x in (123, 123.0, 1.5e-7, "007")]
        ['123', '123', '1.5e-7', '007']
    """
    if isinstance(unit_id, str):
        return unit_id
    if isinstance(unit_id, bool | np.bool_):
        raise DataError(f"unit id {unit_id!r} is a boolean; ids must be strings or numbers")
    if isinstance(unit_id, int | np.integer):
        v = int(unit_id)
        if abs(v) > MAX_SAFE_INTEGER:
            raise DataError(_big_int_message(v))
        return str(v)
    if isinstance(unit_id, float | np.floating):
        return _js_number_to_string(float(unit_id))
    raise DataError(
        f"unit id {unit_id!r} has type {type(unit_id).__name__}; ids must be strings or numbers"
    )


def _big_int_message(v: int) -> str:
    return (
        f"unit id {v} is an integer beyond 2**53 = {MAX_SAFE_INTEGER}; GrowthBook SDKs format "
        "numeric ids as JavaScript doubles, which cannot hold it exactly, so its bucket would "
        "depend on how production passed it. Convert the ids to strings (e.g. ids.astype(str)) "
        "if production passes them as strings."
    )


def _js_number_to_string(x: float) -> str:
    """JavaScript ``String(x)`` (ECMAScript Number::toString) for a double."""
    if math.isnan(x):
        return "NaN"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + _js_number_to_string(-x)
    if math.isinf(x):
        return "Infinity"
    mantissa, _, exp = repr(x).partition("e")
    whole, _, fraction = mantissa.partition(".")
    padded = (whole + fraction).lstrip("0")
    digits = padded.rstrip("0")
    k = len(digits)
    n = int(exp or "0") - len(fraction) + len(padded)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    mant = digits[0] + ("." + digits[1:] if k > 1 else "")
    return mant + "e" + ("+" if n > 0 else "-") + str(abs(n - 1))
