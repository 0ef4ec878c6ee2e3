"""Deterministic, GrowthBook-compatible variant assignment — vectorized — and SRM diagnosis.

Production assigns users with a GrowthBook SDK; abkit reproduces those decisions offline, bucket for
bucket, for millions of ids at once. The frozen hashing scheme is written down in
``docs/assignment.md``; in short:

* ``fnv1a32(s)``: FNV-1a 32 over the UTF-16 code units of ``s`` (what the GrowthBook SDKs hash).
* hash version 1: ``fnv1a32(unit_id + seed) % 1000 / 1000``;
  version 2 (default): ``fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000``.
* bucket ranges: variant ``i`` gets ``[start_i, start_i + coverage * w_i)`` with ``start_i`` the
  cumulative weight; a unit whose hash lies in no range is not in the experiment.
* namespace ``(name, start, end)``: the unit is eligible if the version-1 hash with seed
  ``"__" + name`` lies in ``[start, end)``.

Example:
    >>> spec = {"name": "onboarding-v2", "control": "control", "variants": ["control", "treatment"]}
    >>> df = assign(["u1", "u2", "u3"], spec)
    >>> df.variant.tolist()
    ['treatment', 'treatment', 'control']
    >>> hash_unit("onboarding-v2", "u3")
    0.1406
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from abkit import _hashing as _h
from abkit.errors import DataError, SpecError
from abkit.spec import ExperimentSpec, load_spec
from abkit.stats import SRMResult, srm_test

__all__ = [
    "HOLDOUT_SEED",
    "MAX_SAFE_INTEGER",
    "STATUSES",
    "ExposureAudit",
    "SRMDiagnosis",
    "assign",
    "assign_file",
    "audit_exposures",
    "bucket_ranges",
    "choose_variant",
    "hash_unit",
    "in_namespace",
    "srm_diagnosis",
    "unit_id_to_str",
]

SpecLike = ExperimentSpec | dict[str, Any] | str | Path

#: Seed of the global holdout: a unit is held out when ``hash_unit(HOLDOUT_SEED, id, 2) < holdout``.
HOLDOUT_SEED: Final = "global-holdout"
#: Largest integer a JavaScript number (and so a GrowthBook SDK) holds exactly: ``2**53``.
MAX_SAFE_INTEGER: Final = 2**53

#: Why a unit has (or lacks) a variant, in the order the rules are applied.
STATUSES: Final = (
    "assigned",  # hashed into a variant's bucket range
    "override",  # forced by ``overrides`` in the spec (QA allow-list)
    "holdout",  # in the global holdout: sees the default experience, no variant
    "not_in_namespace",  # outside the spec's namespace range
    "not_in_coverage",  # hash fell in no bucket range (coverage < 1)
    "null_id",  # missing id (None, NaN, Arrow null)
    "invalid_id",  # an id GrowthBook cannot hash: "", 0, ±inf
)
_ASSIGNED, _OVERRIDE, _HOLDOUT, _NOT_NS, _NOT_COVERED, _NULL, _INVALID = range(len(STATUSES))

_ARROW_SLICE = 1 << 20  # rows per batch: bounds the temporaries at a few tens of MB
_OBJECT_SLICE = 1 << 19


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
        (0.5218, 0.469)
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
    """Bucket ranges ``[start, start + coverage * weight)`` per variant, as GrowthBook computes them.

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
                f"weights has {len(w)} entries for {n_variants} variants; give one weight per variant."
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
        >>> choose_variant(0.3, [(0.0, 0.25), (0.5, 0.75)]), choose_variant(0.6, [(0.0, 0.25), (0.5, 0.75)])
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
        >>> in_namespace("user-1", ("checkout", 0.0, 0.5)), in_namespace("user-1", ("checkout", 0.5, 1.0))
        (True, False)
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
            f"namespace {name!r} range [{start}, {end}) is empty or outside [0, 1]; it must satisfy "
            "0 <= start < end <= 1, otherwise no unit could ever be eligible."
        )
    return str(name), start, end


def unit_id_to_str(unit_id: object) -> str:
    """The string GrowthBook hashes for ``unit_id`` (JavaScript ``String(x)`` of a number).

    Rules: strings as they are; integers in decimal (``|x| <= 2**53``, else an error: a JavaScript
    number cannot hold them exactly); floats like JavaScript prints them (``3.0 -> "3"``,
    ``0.5 -> "0.5"``, ``1e21 -> "1e+21"``). Booleans, bytes, ``None`` and other types are errors.

    Example:
        >>> unit_id_to_str(123), unit_id_to_str(123.0), unit_id_to_str(1.5e-7), unit_id_to_str("007")
        ('123', '123', '1.5e-7', '007')
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


# ---------------------------------------------------------------------------------------------
# id normalisation: any column of ids -> string batches + null / invalid masks
# ---------------------------------------------------------------------------------------------

Rows = slice | npt.NDArray[np.int64]


@dataclass
class _Ids:
    """Ids reduced to text: an Arrow string array or an object array of ``str``."""

    n: int
    null: npt.NDArray[np.bool_]
    invalid: npt.NDArray[np.bool_]
    arrow: pa.ChunkedArray | None = None
    objects: npt.NDArray[np.object_] | None = None

    def batches(self) -> Iterator[tuple[Rows, _h.StringBatch]]:
        """(rows, batch) pairs covering every row; later pairs override earlier ones."""
        if self.objects is not None:
            for lo in range(0, self.n, _OBJECT_SLICE):
                hi = min(lo + _OBJECT_SLICE, self.n)
                yield slice(lo, hi), _h.batch_from_strings(self.objects[lo:hi])
            return
        assert self.arrow is not None
        start = 0
        for chunk in self.arrow.chunks:
            for lo in range(0, len(chunk), _ARROW_SLICE):
                part = chunk.slice(lo, _ARROW_SLICE)
                rows = slice(start + lo, start + lo + len(part))
                yield rows, _h.batch_from_arrow(part)
                flags = _h.arrow_is_ascii(part)
                if not flags.all():  # UTF-8 bytes are not UTF-16 units: re-encode those rows
                    local = np.flatnonzero(~flags)
                    strs = part.take(pa.array(local)).to_pylist()
                    yield local + (start + lo), _h.batch_from_strings(strs)
            start += len(chunk)

    def text(self, rows: npt.NDArray[np.int64]) -> list[str]:
        """The hashed strings of ``rows``."""
        if self.objects is not None:
            return [str(x) for x in self.objects[rows]]
        assert self.arrow is not None
        return [x if x is not None else "" for x in self.arrow.take(pa.array(rows)).to_pylist()]


def _ids_from(values: object) -> tuple[_Ids, pd.Series]:
    """Normalise ``values`` and also return them as the output's ``unit_id`` column."""
    if isinstance(values, str | bytes):
        raise DataError(
            f"unit_ids must be a collection of ids, got a single {type(values).__name__} "
            f"{values!r}; wrap it in a list."
        )
    if isinstance(values, pa.Array | pa.ChunkedArray):
        chunked = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
        return _ids_from_arrow(chunked), _arrow_to_series(chunked)
    if isinstance(values, pd.Index):
        values = pd.Series(values)
    if isinstance(values, pd.Series):
        series = values.reset_index(drop=True)
        return _ids_from_series(series), series.rename("unit_id")
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise DataError(f"unit_ids must be one-dimensional, got shape {values.shape}")
        arr = values
    elif isinstance(values, Iterable):
        arr = np.fromiter(values, dtype=object)
    else:
        raise DataError(
            f"unit_ids must be a list, numpy array, pandas Series or Arrow array, "
            f"got {type(values).__name__}"
        )
    return _ids_from_numpy(arr), pd.Series(arr, name="unit_id")


def _arrow_to_series(chunked: pa.ChunkedArray) -> pd.Series:
    if pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type):
        dtype = pd.StringDtype("pyarrow", na_value=np.nan)
        return pd.Series(chunked.to_pandas(types_mapper=lambda _: dtype), name="unit_id")
    return pd.Series(chunked.to_pandas(), name="unit_id")


def _ids_from_series(s: pd.Series) -> _Ids:
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = _ids_from_series(pd.Series(dtype.categories))
        return _take_ids(cats, s.cat.codes.to_numpy())
    if (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow") or (
        isinstance(dtype, pd.ArrowDtype)
    ):
        return _ids_from_arrow(pa.chunked_array(pa.array(s)))
    if isinstance(dtype, pd.StringDtype):
        return _ids_from_numpy(s.to_numpy(dtype=object, na_value=None))
    if pd.api.types.is_bool_dtype(dtype):
        raise DataError(_bool_message())
    if pd.api.types.is_integer_dtype(dtype) and s.hasnans:  # nullable Int64 with <NA>
        null = s.isna().to_numpy()
        return _ids_from_numbers(s.to_numpy(dtype="int64", na_value=0), null)
    if pd.api.types.is_numeric_dtype(dtype) or dtype == object:
        return _ids_from_numpy(s.to_numpy())
    raise DataError(f"unit ids of dtype {dtype} are not supported; ids must be strings or numbers")


def _take_ids(cats: _Ids, codes: npt.NDArray[np.integer]) -> _Ids:
    """Ids of a categorical column: the categories' texts taken by code (-1 is null)."""
    codes = np.asarray(codes, dtype=np.int64)
    null = codes < 0
    safe = np.where(null, 0, codes)
    if cats.n == 0:
        return _Ids(n=len(codes), null=null, invalid=np.zeros(len(codes), bool),
                    objects=np.full(len(codes), "", dtype=object))
    if cats.objects is not None:
        objects = cats.objects[safe]
        objects[null] = ""
        return _Ids(n=len(codes), null=null | cats.null[safe], invalid=cats.invalid[safe] & ~null,
                    objects=objects)
    assert cats.arrow is not None
    taken = cats.arrow.take(pa.array(np.where(null, -1, codes), mask=null))
    return _Ids(n=len(codes), null=null | cats.null[safe], invalid=cats.invalid[safe] & ~null,
                arrow=taken)


def _ids_from_arrow(chunked: pa.ChunkedArray) -> _Ids:
    t = chunked.type
    if pa.types.is_dictionary(t):
        chunked = chunked.cast(t.value_type)  # decode
        t = chunked.type
    n = len(chunked)
    if pa.types.is_null(t):
        return _Ids(n=n, null=np.ones(n, bool), invalid=np.zeros(n, bool),
                    objects=np.full(n, "", dtype=object))
    if pa.types.is_string_view(t):
        chunked = chunked.cast(pa.large_string())
        t = chunked.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        null = _arrow_null_mask(chunked)
        return _Ids(n=n, null=null, invalid=np.zeros(n, bool), arrow=chunked)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        null = _arrow_null_mask(chunked)
        filled = chunked.fill_null(0) if chunked.null_count else chunked
        return _ids_from_numbers(filled.to_numpy(), null)
    if pa.types.is_boolean(t):
        raise DataError(_bool_message())
    raise DataError(
        f"unit ids of Arrow type {t} are not supported; ids must be strings or numbers "
        "(decode binary ids to text first)."
    )


def _arrow_null_mask(chunked: pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    if chunked.null_count == 0:
        return np.zeros(len(chunked), bool)
    return np.asarray(chunked.is_null().to_numpy(), dtype=bool)


def _bool_message() -> str:
    return (
        "unit ids are booleans; an id column must hold strings or numbers. Did you pass a mask "
        "(e.g. df.user_id.isna()) instead of the ids?"
    )


def _ids_from_numpy(arr: np.ndarray) -> _Ids:
    kind = arr.dtype.kind
    n = len(arr)
    if kind == "U":
        chunked = pa.chunked_array([pa.array(arr, type=pa.large_string())])
        return _Ids(n=n, null=np.zeros(n, bool), invalid=np.zeros(n, bool), arrow=chunked)
    if kind in "iuf":
        return _ids_from_numbers(arr, np.zeros(n, bool))
    if kind == "b":
        raise DataError(_bool_message())
    if kind != "O":
        raise DataError(
            f"unit ids of dtype {arr.dtype} are not supported; ids must be strings or numbers"
        )
    null = np.asarray(pd.isna(arr), dtype=bool)
    inferred = pd.api.types.infer_dtype(arr, skipna=True)
    if inferred == "string":
        objects = arr
        if null.any():
            objects = arr.copy()
            objects[null] = ""
        return _Ids(n=n, null=null, invalid=np.zeros(n, bool), objects=objects)
    if inferred == "empty":
        return _Ids(n=n, null=np.ones(n, bool), invalid=np.zeros(n, bool),
                    objects=np.full(n, "", dtype=object))
    return _ids_from_mixed(arr, null)


def _ids_from_mixed(arr: npt.NDArray[np.object_], null: npt.NDArray[np.bool_]) -> _Ids:
    """Object arrays mixing strings and numbers: each element by :func:`unit_id_to_str` rules."""
    n = len(arr)
    is_str = np.fromiter(map(isinstance, arr, [str] * n), dtype=bool, count=n)
    is_num = np.fromiter(
        map(isinstance, arr, [(int, float, np.integer, np.floating)] * n), dtype=bool, count=n
    )
    is_bool = np.fromiter(map(isinstance, arr, [(bool, np.bool_)] * n), dtype=bool, count=n)
    bad = ~(is_str | is_num | null) | (is_bool & ~null)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"unit id at position {i} is {arr[i]!r} of type {type(arr[i]).__name__}; ids must be "
            f"strings or numbers ({int(bad.sum())} such values)."
        )
    objects = np.full(n, "", dtype=object)
    objects[is_str] = arr[is_str]
    invalid = np.zeros(n, bool)
    num = is_num & ~null
    if num.any():
        sub = arr[num]
        ints = np.fromiter(map(isinstance, sub, [(int, np.integer)] * len(sub)), bool, len(sub))
        texts = np.empty(len(sub), dtype=object)
        if ints.any():
            as_int = [int(x) for x in sub[ints]]
            big = [x for x in as_int if abs(x) > MAX_SAFE_INTEGER]
            if big:
                raise DataError(_big_int_message(big[0]))
            part = _ids_from_numbers(np.array(as_int, dtype=np.int64), np.zeros(len(as_int), bool))
            texts[ints] = part.text(np.arange(part.n))
            sub_invalid = np.zeros(len(sub), bool)
            sub_invalid[ints] = part.invalid
        else:
            sub_invalid = np.zeros(len(sub), bool)
        if (~ints).any():
            part = _ids_from_numbers(sub[~ints].astype(np.float64), np.zeros(int((~ints).sum()), bool))
            texts[~ints] = part.text(np.arange(part.n))
            sub_invalid[~ints] = part.invalid | part.null
        objects[num] = texts
        invalid[num] = sub_invalid
    return _Ids(n=n, null=null, invalid=invalid, objects=objects)


def _ids_from_numbers(values: np.ndarray, null: npt.NDArray[np.bool_]) -> _Ids:
    """Numeric ids -> JavaScript ``String(x)`` text; 0 and ±inf are invalid, NaN is null."""
    n = len(values)
    null = null.copy()
    if values.dtype.kind in "iu":
        if n and (values.max() > MAX_SAFE_INTEGER or (values.dtype.kind == "i" and
                                                       values.min() < -MAX_SAFE_INTEGER)):
            big = values[(values > MAX_SAFE_INTEGER) | (values < -MAX_SAFE_INTEGER)][0]
            raise DataError(_big_int_message(int(big)))
        invalid = (values == 0) & ~null
        text = pa.array(values.astype(np.int64)).cast(pa.string())
        return _Ids(n=n, null=null, invalid=invalid, arrow=pa.chunked_array([text]))
    x = values.astype(np.float64, copy=False)
    null |= np.isnan(x)
    invalid = (np.isinf(x) | (x == 0)) & ~null
    integral = (np.floor(x) == x) & (np.abs(x) <= MAX_SAFE_INTEGER)
    as_int = np.where(integral, x, 0).astype(np.int64)
    text = pa.array(as_int).cast(pa.string())
    exotic = ~integral & ~null & ~invalid
    if not exotic.any():
        return _Ids(n=n, null=null, invalid=invalid, arrow=pa.chunked_array([text]))
    objects = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    uniq, inverse = np.unique(x[exotic], return_inverse=True)
    formatted = np.array([_js_number_to_string(float(v)) for v in uniq], dtype=object)
    objects[exotic] = formatted[inverse]
    return _Ids(n=n, null=null, invalid=invalid, objects=objects)


# ---------------------------------------------------------------------------------------------
# vectorized assignment
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Everything ``assign`` needs from a spec, resolved once."""

    seed: str
    version: int
    variant_of_bucket: npt.NDArray[np.int16]  # bucket index -> variant index (-1: none)
    namespace: tuple[str, float, float] | None
    ns_ok: npt.NDArray[np.bool_] | None  # v1 bucket (0..999) -> eligible
    holdout: float
    held_bucket: npt.NDArray[np.bool_] | None  # v2 bucket (0..9999) -> held out
    overrides: dict[str, int] = field(default_factory=dict)


def _plan(spec: ExperimentSpec) -> _Plan:
    names = spec.variant_names
    ranges = bucket_ranges(len(names), spec.coverage, list(spec.weights))
    version = spec.hash_version
    div = 10_000 if version == 2 else 1000
    n = np.arange(div) / div  # the exact doubles Python's k / div gives
    table = np.full(div, -1, dtype=np.int16)
    for i, (lo, hi) in enumerate(ranges):
        table[(table == -1) & (lo <= n) & (n < hi)] = i
    ns_ok = None
    namespace = None
    if spec.namespace is not None:
        namespace = _check_namespace(spec.namespace)
        k = np.arange(1000) / 1000
        ns_ok = (namespace[1] <= k) & (k < namespace[2])
    held = None
    if spec.holdout > 0:
        held = np.arange(10_000) / 10_000 < spec.holdout
    index = {v: i for i, v in enumerate(names)}
    overrides = {str(u): index[v] for u, v in spec.overrides.items()}
    return _Plan(spec.hash_seed, version, table, namespace, ns_ok, spec.holdout, held, overrides)


def _codes(ids: _Ids, plan: _Plan) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int8]]:
    """Variant index (-1: none) and status code of every id."""
    n = ids.n
    variant = np.full(n, -1, dtype=np.int16)
    status = np.full(n, _ASSIGNED, dtype=np.int8)
    empty = np.zeros(n, dtype=bool)
    seed_state = _h.fnv1a32(plan.seed)
    holdout_state = _h.fnv1a32(HOLDOUT_SEED)
    override_keys = {k for k in plan.overrides if k}
    # the first-round hash of each override key, to find candidate rows without comparing text
    key_hashes = np.array(
        sorted(
            {
                _h.fnv1a32(k, seed_state) if plan.version == 2 else _h.fnv1a32(k + plan.seed)
                for k in override_keys
            }
        ),
        dtype=np.uint32,
    )
    candidates: list[npt.NDArray[np.int64]] = []
    for rows, batch in ids.batches():
        lengths = np.diff(batch.offsets)
        empty[rows] = lengths == batch.lead
        st = np.full(len(batch), _ASSIGNED, dtype=np.int8)
        id_state = None
        if plan.version == 1 or plan.ns_ok is not None:
            id_state = _h.fnv_batch(batch)  # fnv(id): shared by every version-1 hash
        if plan.version == 2:
            h1 = _h.fnv_batch(batch, seed_state)
            bucket = _h.second_round(h1) % np.uint32(10_000)
        else:
            assert id_state is not None
            h1 = _h.fnv_extend(id_state.copy(), plan.seed)
            bucket = h1 % np.uint32(1000)
        v = plan.variant_of_bucket[bucket]
        st[v < 0] = _NOT_COVERED
        if plan.ns_ok is not None:
            assert id_state is not None and plan.namespace is not None
            ns_hash = _h.fnv_extend(id_state, "__" + plan.namespace[0]) % np.uint32(1000)
            out = ~plan.ns_ok[ns_hash]
            st[out] = _NOT_NS
            v[out] = -1
        if plan.held_bucket is not None:
            hb = _h.second_round(_h.fnv_batch(batch, holdout_state)) % np.uint32(10_000)
            held = plan.held_bucket[hb]
            st[held] = _HOLDOUT
            v[held] = -1
        variant[rows] = v
        status[rows] = st
        if len(key_hashes):
            local = np.flatnonzero(np.isin(h1, key_hashes))
            if len(local):
                base = np.arange(n)[rows] if isinstance(rows, slice) else rows
                candidates.append(base[local])
    if candidates:  # hash matches are only candidates: confirm the text equals an override key
        rows_c = np.unique(np.concatenate(candidates))
        rows_c = rows_c[~ids.null[rows_c]]
        for r, text in zip(rows_c.tolist(), ids.text(rows_c), strict=True):
            if text in plan.overrides:
                variant[r] = plan.overrides[text]
                status[r] = _OVERRIDE
    bad = ids.invalid | (empty & ~ids.null)
    variant[bad | ids.null] = -1
    status[bad] = _INVALID
    status[ids.null] = _NULL
    return variant, status


def assign(unit_ids: object, spec: SpecLike, *, with_status: bool = False) -> pd.DataFrame:
    """Assign units to variants exactly as GrowthBook's SDKs would, for millions of ids at once.

    The rules, in order (see ``docs/assignment.md``): null or unhashable ids (``""``, ``0``,
    ``±inf``) get no variant; an id listed in ``overrides`` gets its forced variant; a unit in the
    global holdout (``hash_unit(HOLDOUT_SEED, id, 2) < holdout``) gets none; a unit outside the
    ``namespace`` gets none; otherwise the variant whose bucket range holds
    ``hash_unit(seed, id, hash_version)``, or none when coverage leaves the hash outside every range.

    Args:
        unit_ids: ids as a list, numpy array, pandas Series/Index (any string, categorical, numeric
            or object dtype) or Arrow (chunked) array. Non-string ids are stringified by
            :func:`unit_id_to_str` (JavaScript ``String(x)``).
        spec: an :class:`~abkit.spec.ExperimentSpec`, a dict of its YAML form, or a YAML path.
        with_status: add a categorical ``status`` column saying why each unit has (or lacks) a
            variant; one of :data:`STATUSES`.

    Returns:
        A DataFrame with one row per input id, in input order: ``unit_id`` (the ids as given) and
        ``variant`` (categorical over the spec's variants; missing when not in the experiment).

    Raises:
        SpecError: the spec is invalid.
        DataError: ids of an unsupported type (booleans, bytes, dates …) or integers beyond 2**53.

    Example:
        >>> spec = {"name": "exp", "control": "a", "variants": {"a": 0.5, "b": 0.5},
        ...         "coverage": 0.5, "overrides": {"qa-1": "b"}}
        >>> assign(["user-1", "qa-1", None, 7], spec, with_status=True)
          unit_id variant           status
        0  user-1     NaN  not_in_coverage
        1    qa-1       b         override
        2    None     NaN          null_id
        3       7       a         assigned
    """
    sp = load_spec(spec)
    plan = _plan(sp)
    ids, column = _ids_from(unit_ids)
    variant, status = _codes(ids, plan)
    out = pd.DataFrame(
        {
            "unit_id": column,
            "variant": pd.Categorical.from_codes(variant, categories=list(sp.variant_names)),
        }
    )
    if with_status:
        out["status"] = pd.Categorical.from_codes(status, categories=list(STATUSES))
    return out


# ---------------------------------------------------------------------------------------------
# files (CLI)
# ---------------------------------------------------------------------------------------------


def _file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise DataError(f"{path}: unknown file type; use .csv, .csv.gz or .parquet")


def _read_ids(path: Path, id_column: str | None, default: str) -> pa.ChunkedArray:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataError(f"units file {path} does not exist")
    fmt = _file_format(path)
    if fmt == "parquet":
        columns = pq.read_schema(path).names
    else:
        with pacsv.open_csv(path) as reader:
            columns = reader.schema.names
    if id_column is None:
        if default in columns:
            id_column = default
        elif len(columns) == 1:
            id_column = columns[0]
        else:
            raise DataError(
                f"{path} has columns {columns} and none is named {default!r}; "
                "pass id_column= (CLI: --id-column) to say which one holds the unit ids."
            )
    elif id_column not in columns:
        raise DataError(f"{path} has no column {id_column!r}; its columns are {columns}")
    if fmt == "parquet":
        return pq.read_table(path, columns=[id_column]).column(id_column)
    # CSV has no types: ids are read as the text written ("007" stays "007"); empty cells are null
    opts = pacsv.ConvertOptions(
        column_types={id_column: pa.string()},
        include_columns=[id_column],
        strings_can_be_null=True,
        null_values=[""],
    )
    return pacsv.read_csv(path, convert_options=opts).column(id_column)


def assign_file(
    spec: SpecLike,
    units_path: str | Path,
    out_path: str | Path,
    *,
    id_column: str | None = None,
) -> int:
    """Assign the ids of a CSV/Parquet file and write ``unit_id, variant, status`` to ``out_path``.

    The id column is ``id_column``, else the spec's ``columns.unit_id`` (default ``unit_id``), else
    the file's only column. CSV ids are read as text. The output format follows the extension
    (``.csv``, ``.csv.gz`` or ``.parquet``) and is written atomically (temporary file, then rename).

    Returns:
        The number of rows written (one per input row).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "units.csv").write_text("unit_id\\nu1\\nu2\\n")
        >>> assign_file({"name": "exp", "control": "a", "variants": ["a", "b"]},
        ...             d / "units.csv", d / "out.parquet")
        2
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    sp = load_spec(spec)
    src, dst = Path(units_path), Path(out_path)
    fmt = _file_format(dst)
    ids = _read_ids(src, id_column, sp.columns.get("unit_id", "unit_id"))
    df = assign(ids, sp, with_status=True)
    table = pa.table(
        {
            "unit_id": ids,
            "variant": pa.array(df["variant"].astype(object).where(df["variant"].notna(), None),
                                type=pa.string()),
            "status": pa.array(df["status"].astype(str).to_numpy(), type=pa.string()),
        }
    )
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
    os.close(fd)
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        elif dst.name.lower().endswith(".gz"):
            with pa.CompressedOutputStream(tmp, "gzip") as stream:
                pacsv.write_csv(table, stream)
        else:
            pacsv.write_csv(table, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return table.num_rows
