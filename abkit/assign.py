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
    0.1684
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

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
    ids = _ids_from_numpy(arr)
    if arr.dtype.kind == "U" and ids.arrow is not None:
        return ids, _arrow_to_series(ids.arrow)
    return ids, pd.Series(arr, name="unit_id", dtype=arr.dtype)


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
        return _ids_from_numpy(np.asarray(s.array, dtype=object))
    if pd.api.types.is_bool_dtype(dtype):
        raise DataError(_bool_message())
    if pd.api.types.is_integer_dtype(dtype) and s.hasnans:  # nullable Int64 with <NA>
        null = s.isna().to_numpy()
        return _ids_from_numbers(s.to_numpy(dtype="int64", na_value=0), null)
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return _ids_from_numpy(s.to_numpy())
    raise DataError(f"unit ids of dtype {dtype} are not supported; ids must be strings or numbers")


def _take_ids(cats: _Ids, codes: npt.NDArray[np.integer]) -> _Ids:
    """Ids of a categorical column: the categories' texts taken by code (-1 is null)."""
    codes = np.asarray(codes, dtype=np.int64)
    null = codes < 0
    safe = np.where(null, 0, codes)
    if cats.n == 0:
        return _Ids(
            n=len(codes),
            null=null,
            invalid=np.zeros(len(codes), bool),
            objects=np.full(len(codes), "", dtype=object),
        )
    if cats.objects is not None:
        objects = cats.objects[safe]
        objects[null] = ""
        return _Ids(
            n=len(codes),
            null=null | cats.null[safe],
            invalid=cats.invalid[safe] & ~null,
            objects=objects,
        )
    assert cats.arrow is not None
    taken = cats.arrow.take(pa.array(np.where(null, -1, codes), mask=null))
    return _Ids(
        n=len(codes), null=null | cats.null[safe], invalid=cats.invalid[safe] & ~null, arrow=taken
    )


def _ids_from_arrow(chunked: pa.ChunkedArray) -> _Ids:
    t = chunked.type
    if pa.types.is_dictionary(t):
        chunked = chunked.cast(t.value_type)  # decode
        t = chunked.type
    n = len(chunked)
    if pa.types.is_null(t):
        return _Ids(
            n=n,
            null=np.ones(n, bool),
            invalid=np.zeros(n, bool),
            objects=np.full(n, "", dtype=object),
        )
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
    if pd.api.types.infer_dtype(arr, skipna=False) == "string":  # all str: the common case
        return _Ids(n=n, null=np.zeros(n, bool), invalid=np.zeros(n, bool), objects=arr)
    null = np.asarray(pd.isna(arr), dtype=bool)
    inferred = pd.api.types.infer_dtype(arr, skipna=True)
    if inferred == "string":
        objects = arr
        if null.any():
            objects = arr.copy()
            objects[null] = ""
        return _Ids(n=n, null=null, invalid=np.zeros(n, bool), objects=objects)
    if inferred == "empty":
        return _Ids(
            n=n,
            null=np.ones(n, bool),
            invalid=np.zeros(n, bool),
            objects=np.full(n, "", dtype=object),
        )
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
            part = _ids_from_numbers(
                sub[~ints].astype(np.float64), np.zeros(int((~ints).sum()), bool)
            )
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
        if n and (
            values.max() > MAX_SAFE_INTEGER
            or (values.dtype.kind == "i" and values.min() < -MAX_SAFE_INTEGER)
        ):
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


def _categorical(codes: np.ndarray, categories: Sequence[str]) -> pd.Categorical:
    # codes are already validated (-1 or a category index): from_codes is zero-copy
    return cast(pd.Categorical, cast(Any, pd.Categorical).from_codes(codes, list(categories)))


def assign(unit_ids: object, spec: SpecLike, *, with_status: bool = False) -> pd.DataFrame:
    """Assign units to variants exactly as GrowthBook's SDKs would, for millions of ids at once.

    The rules, in order (see ``docs/assignment.md``): null or unhashable ids (``""``, ``0``,
    ``±inf``) get no variant; an id listed in ``overrides`` gets its forced variant; a unit in the
    global holdout (``hash_unit(HOLDOUT_SEED, id, 2) < holdout``) gets none; a unit outside the
    ``namespace`` gets none; otherwise the variant whose bucket range holds
    ``hash_unit(seed, id, hash_version)``, or none when coverage leaves the hash outside all ranges.

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
        >>> assign(["user-1", "user-2", "qa-1", None, 8], spec, with_status=True)
          unit_id variant           status
        0  user-1     NaN  not_in_coverage
        1  user-2       a         assigned
        2    qa-1       b         override
        3    None     NaN          null_id
        4       8       b         assigned
    """
    sp = load_spec(spec)
    plan = _plan(sp)
    ids, column = _ids_from(unit_ids)
    variant, status = _codes(ids, plan)
    out = pd.DataFrame(
        {
            "unit_id": column,
            "variant": _categorical(variant, sp.variant_names),
        }
    )
    if with_status:
        out["status"] = _categorical(status, STATUSES)
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
            "variant": pa.array(
                df["variant"].astype(object).where(df["variant"].notna(), None), type=pa.string()
            ),
            "status": pa.array(df["status"].astype(str).to_numpy(), type=pa.string()),
        }
    )
    from abkit._files import atomic_path

    with atomic_path(dst) as tmp:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        elif dst.name.lower().endswith(".gz"):
            with pa.CompressedOutputStream(tmp, "gzip") as stream:
                pacsv.write_csv(table, stream)
        else:
            pacsv.write_csv(table, tmp)
    return table.num_rows


# ---------------------------------------------------------------------------------------------
# SRM diagnosis and exposure audit
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SRMDiagnosis:
    """Where a sample-ratio mismatch comes from: overall, per segment value and per exposure day.

    Units are counted once, by their first exposure. Tables share one layout: ``dimension``,
    ``value``, ``units``, ``n_<variant>``, ``share_<variant>``, ``statistic``, ``pvalue``,
    ``pvalue_adjusted`` (corrected over the values of one dimension), ``flagged``
    (``pvalue_adjusted < threshold``) and ``note``.
    """

    overall: SRMResult
    by_segment: pd.DataFrame
    by_day: pd.DataFrame
    variants: tuple[str, ...]
    weights: tuple[float, ...]
    threshold: float
    correction: str
    n_rows: int
    n_units: int
    n_null_ids: int
    n_unknown_variant: int
    n_multiple_variants: int
    n_overrides: int
    notes: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        """True when the overall split, any segment value or any day is flagged."""
        return bool(
            self.overall.flagged or self.by_segment["flagged"].any() or self.by_day["flagged"].any()
        )

    def to_pandas(self) -> pd.DataFrame:
        """One table: the overall test, then segments, then days (column ``scope``)."""
        overall = _srm_rows([("overall", "", self.overall)], self.variants)
        parts = [
            overall.assign(
                scope="overall", pvalue_adjusted=overall["pvalue"], flagged=self.overall.flagged
            ),
            self.by_segment.assign(scope="segment"),
            self.by_day.assign(scope="day"),
        ]
        parts = [p for p in parts if len(p)]
        out = pd.concat(parts, ignore_index=True)
        return out[["scope", *[c for c in out.columns if c != "scope"]]]

    def __str__(self) -> str:
        o = self.overall
        plan = ":".join(f"{w:.3g}" for w in self.weights)
        verdict = "MISMATCH" if o.flagged else "ok"
        p = "n/a" if o.pvalue is None else f"{o.pvalue:.3g}"
        counts = ", ".join(f"{v}={c:,}" for v, c in zip(self.variants, o.observed, strict=True))
        lines = [
            f"SRM check ({'/'.join(self.variants)} planned {plan}, flag at p < {self.threshold:g}):"
            f" {verdict} — {counts}; p = {p}"
        ]
        for name, table in (("segments", self.by_segment), ("days", self.by_day)):
            bad = table[table["flagged"]]
            if len(bad):
                items = ", ".join(
                    f"{r.dimension}={r.value} (p_adj={r.pvalue_adjusted:.3g})"
                    for r in bad.itertuples()
                )
                lines.append(f"  flagged {name}: {items}")
        lines.append(
            f"  {self.n_units:,} units from {self.n_rows:,} rows; {self.n_null_ids:,} null ids, "
            f"{self.n_unknown_variant:,} unknown variants, {self.n_multiple_variants:,} units with "
            f"several variants, {self.n_overrides:,} override units excluded"
        )
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        head = "<br>".join(html.escape(line) for line in str(self).splitlines())
        return f"<div><p>{head}</p>{self.to_pandas().to_html(index=False, na_rep='')}</div>"


@dataclass(frozen=True, slots=True)
class ExposureAudit:
    """Logged variants recomputed from the spec: how many units were logged in the wrong arm.

    ``n_checked`` counts distinct units; a unit is mismatched when any variant logged for it
    differs from the one the spec assigns (``n_not_in_experiment`` of them should have had no
    variant at all: holdout, namespace, coverage). ``examples`` shows up to ``max_examples``
    mismatching (unit, logged variant) pairs.
    """

    n_rows: int
    n_checked: int
    n_mismatched: int
    n_not_in_experiment: int
    n_wrong_variant: int
    n_null_ids: int
    examples: pd.DataFrame

    @property
    def mismatch_rate(self) -> float:
        """``n_mismatched / n_checked`` (0 when nothing was checked)."""
        return self.n_mismatched / self.n_checked if self.n_checked else 0.0

    @property
    def ok(self) -> bool:
        """True when every logged variant agrees with the spec."""
        return self.n_mismatched == 0

    def to_pandas(self) -> pd.DataFrame:
        """The counts as a one-row table."""
        return pd.DataFrame(
            [
                {
                    "n_rows": self.n_rows,
                    "n_checked": self.n_checked,
                    "n_mismatched": self.n_mismatched,
                    "mismatch_rate": self.mismatch_rate,
                    "n_not_in_experiment": self.n_not_in_experiment,
                    "n_wrong_variant": self.n_wrong_variant,
                    "n_null_ids": self.n_null_ids,
                }
            ]
        )

    def __str__(self) -> str:
        return (
            f"exposure audit: {self.n_mismatched:,} of {self.n_checked:,} units "
            f"({self.mismatch_rate:.3%}) logged in a variant the spec does not assign "
            f"({self.n_wrong_variant:,} wrong variant, {self.n_not_in_experiment:,} should not be "
            f"in the experiment); {self.n_null_ids:,} rows with null ids skipped"
        )


def _exposure_frame(exposures: object) -> pd.DataFrame:
    if isinstance(exposures, pd.DataFrame):
        return exposures
    if isinstance(exposures, str | Path):
        path = Path(exposures)
        if not path.is_file():
            raise DataError(f"exposures file {path} does not exist")
        if _file_format(path) == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"unit_id": str})
    to_pandas = getattr(exposures, "to_pandas", None)
    if callable(to_pandas):  # Arrow tables, Ibis expressions
        frame = to_pandas()
        if isinstance(frame, pd.DataFrame):
            return frame
    raise DataError(
        f"exposures must be a pandas DataFrame, an Arrow table or a CSV/Parquet path, "
        f"got {type(exposures).__name__}"
    )


def _need_columns(df: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(
            f"{what} has no column(s) {missing}; its columns are {list(df.columns)}. Pass the "
            "right names (unit_id=, variant=, exposed_at=) or set `columns` in the spec."
        )


def _srm(counts: Sequence[int], sp: ExperimentSpec, threshold: float) -> SRMResult:
    """``srm_test`` against the spec's weights; an arm planned at weight 0 that got units is an
    infinite mismatch."""
    names, weights = sp.variant_names, sp.weights
    counts = [int(c) for c in counts]
    pos = [i for i, w in enumerate(weights) if w > 0]
    total = sum(counts)
    expected = tuple(total * w for w in weights)
    if any(counts[i] > 0 for i, w in enumerate(weights) if w <= 0):
        return SRMResult(
            names,
            tuple(counts),
            expected,
            tuple(weights),
            math.inf,
            0.0,
            len(pos) - 1,
            threshold,
            "units in an arm planned at weight 0",
        )
    if len(pos) < 2:
        return SRMResult(
            names,
            tuple(counts),
            expected,
            tuple(weights),
            None,
            None,
            0,
            threshold,
            "fewer than 2 arms with positive weight: nothing to test",
        )
    res = srm_test(
        [counts[i] for i in pos],
        [weights[i] for i in pos],
        variants=[names[i] for i in pos],
        threshold=threshold,
    )
    note = res.note
    if note is None and total and min(total * weights[i] for i in pos) < 5:
        note = "expected count below 5 in some arm: chi-square p-value is approximate"
    return SRMResult(
        names,
        tuple(counts),
        expected,
        tuple(weights),
        res.statistic,
        res.pvalue,
        res.df,
        threshold,
        note,
    )


def _srm_rows(
    items: Sequence[tuple[str, object, SRMResult]], variants: Sequence[str]
) -> pd.DataFrame:
    rows = []
    for dim, value, r in items:
        total = sum(r.observed)
        row: dict[str, Any] = {"dimension": dim, "value": value, "units": total}
        for v, c in zip(variants, r.observed, strict=True):
            row[f"n_{v}"] = c
        for v, c in zip(variants, r.observed, strict=True):
            row[f"share_{v}"] = c / total if total else math.nan
        row["statistic"] = math.nan if r.statistic is None else r.statistic
        row["pvalue"] = math.nan if r.pvalue is None else r.pvalue
        row["note"] = r.note
        rows.append(row)
    cols = [
        "dimension",
        "value",
        "units",
        *[f"n_{v}" for v in variants],
        *[f"share_{v}" for v in variants],
        "statistic",
        "pvalue",
        "note",
    ]
    return pd.DataFrame(rows, columns=cols)


def _srm_table(
    codes: npt.NDArray[np.int64],
    groups: pd.Series,
    dim: str,
    sp: ExperimentSpec,
    threshold: float,
    correction: str,
) -> pd.DataFrame:
    """One SRM test per value of ``groups``, p-values corrected over those values."""
    from statsmodels.stats.multitest import multipletests

    k = len(sp.variant_names)
    grp = pd.Categorical(groups)
    g = grp.codes.astype(np.int64)
    labels = list(grp.categories)
    if (g < 0).any():
        labels.append("(missing)")
        g = np.where(g < 0, len(labels) - 1, g)
    counts = np.bincount(g * k + codes, minlength=len(labels) * k).reshape(len(labels), k)
    items = [(dim, lab, _srm(counts[i].tolist(), sp, threshold)) for i, lab in enumerate(labels)]
    table = _srm_rows(items, sp.variant_names)
    p = table["pvalue"].to_numpy(dtype=float)
    adj = np.full(len(p), np.nan)
    ok = ~np.isnan(p)
    if ok.sum():
        adj[ok] = multipletests(p[ok], method=correction)[1]
    at = list(table.columns).index("note")
    table.insert(at, "pvalue_adjusted", adj)
    table.insert(at + 1, "flagged", adj < threshold)
    return table


def _col(name: str | None, sp: ExperimentSpec, key: str) -> str:
    return name if name is not None else sp.columns.get(key, key)


def srm_diagnosis(
    exposures: object,
    spec: SpecLike,
    *,
    segments: Sequence[str] | None = None,
    unit_id: str | None = None,
    variant: str | None = None,
    exposed_at: str | None = None,
    threshold: float = 0.001,
    correction: str = "holm",
) -> SRMDiagnosis:
    """Sample-ratio-mismatch diagnosis of an exposure log against the spec's planned weights.

    Each unit counts once, in the variant of its first exposure (by ``exposed_at`` when present).
    Null ids, variants the spec does not know and units listed in ``overrides`` (not randomized) are
    left out and counted. The overall chi-square test is followed by one test per value of each
    segment column and per day of first exposure (in the spec's ``tz`` for tz-aware timestamps),
    with p-values corrected over the values of each dimension (``correction``: any
    ``statsmodels.stats.multitest.multipletests`` method; Holm by default).

    Args:
        exposures: a DataFrame (or Arrow table, CSV/Parquet path) with one row per exposure.
        spec: the experiment spec (its weights are the plan).
        segments: columns to break the check down by; default the spec's ``segments``.
        unit_id, variant, exposed_at: column names; default the spec's ``columns`` mapping, else
            ``unit_id``, ``variant``, ``exposed_at``. Without an ``exposed_at`` column there is no
            per-day table.
        threshold: flag at p (adjusted p for breakdowns) below this (default 0.001).
        correction: multiple-testing correction over the values of one dimension.

    Raises:
        DataError: missing columns, or a variant column that shares no value with the spec.

    Example:
        >>> spec = {"name": "exp", "control": "a", "variants": ["a", "b"]}
        >>> log = assign([f"u{i}" for i in range(2000)], spec)
        >>> log["channel"] = ["ads", "organic"] * 1000
        >>> log = log[~((log.channel == "ads") & (log.variant == "b") & (log.index % 3 == 0))]
        >>> d = srm_diagnosis(log, spec, segments=["channel"])
        >>> d.overall.flagged, d.by_segment.set_index("value").flagged.to_dict()
        (True, {'ads': True, 'organic': False})
    """
    sp = load_spec(spec)
    df = _exposure_frame(exposures)
    uid, var = _col(unit_id, sp, "unit_id"), _col(variant, sp, "variant")
    ts = _col(exposed_at, sp, "exposed_at")
    segs = list(sp.segments if segments is None else segments)
    _need_columns(df, [uid, var, *segs], "exposures")
    has_ts = ts in df.columns
    if exposed_at is not None and not has_ts:
        _need_columns(df, [ts], "exposures")
    notes: list[str] = []
    n_rows = len(df)
    null = df[uid].isna().to_numpy()
    df = df.loc[~null, [c for c in dict.fromkeys([uid, var, *segs, *([ts] if has_ts else [])])]]
    if has_ts:
        stamps = df[ts]
        if not pd.api.types.is_datetime64_any_dtype(stamps):
            try:
                stamps = pd.to_datetime(stamps, format="ISO8601")
            except (ValueError, TypeError) as exc:
                raise DataError(f"exposures column {ts!r} is not a timestamp: {exc}") from None
        df = df.assign(**{ts: stamps}).sort_values(ts, kind="stable")
    else:
        notes.append(f"no {ts!r} column: per-day table skipped; first row per unit counts")
    pairs = df[[uid, var]].drop_duplicates()
    dup = pairs[uid].duplicated()
    n_multi = int(pairs.loc[dup, uid].nunique())
    first = df.drop_duplicates(subset=[uid], keep="first")
    if sp.overrides:
        ids, _ = _ids_from(first[uid])
        text = np.array(ids.text(np.arange(ids.n)), dtype=object)
        forced = np.isin(text, list(sp.overrides)) & ~ids.null
        n_over = int(forced.sum())
        first = first.loc[~forced]
    else:
        n_over = 0
    names = list(sp.variant_names)
    logged = first[var]
    logged_text = logged.astype(str).where(logged.notna(), None)
    codes = pd.Index(names).get_indexer(pd.Index(logged_text))
    codes = codes.astype(np.int64)
    unknown = codes < 0
    n_unknown = int(unknown.sum())
    if n_unknown and n_unknown == len(codes):
        seen = sorted(map(str, pd.unique(logged.dropna())))[:10]
        raise DataError(
            f"variant column {var!r} has values {seen}, none of which is a spec variant {names}; "
            "map the logged values to the spec's variant names first."
        )
    if n_unknown:
        seen = sorted(map(str, pd.unique(logged[unknown].dropna())))[:10]
        notes.append(f"{n_unknown:,} units logged with variants not in the spec: {seen}")
    first = first.loc[~unknown]
    codes = codes[~unknown]
    overall = _srm(np.bincount(codes, minlength=len(names)).tolist(), sp, threshold)
    seg_tables = [_srm_table(codes, first[s], s, sp, threshold, correction) for s in segs]
    empty = _srm_table(codes[:0], pd.Series([], dtype=object), "", sp, threshold, correction)
    by_segment = pd.concat(seg_tables, ignore_index=True) if seg_tables else empty
    if has_ts and len(first):
        stamps = first[ts]
        if getattr(stamps.dt, "tz", None) is not None and sp.tz:
            stamps = stamps.dt.tz_convert(sp.tz)
        by_day = _srm_table(codes, stamps.dt.date, "day", sp, threshold, correction)
    else:
        by_day = empty
    return SRMDiagnosis(
        overall=overall,
        by_segment=by_segment,
        by_day=by_day,
        variants=tuple(names),
        weights=tuple(sp.weights),
        threshold=threshold,
        correction=correction,
        n_rows=n_rows,
        n_units=len(codes),
        n_null_ids=int(null.sum()),
        n_unknown_variant=n_unknown,
        n_multiple_variants=n_multi,
        n_overrides=n_over,
        notes=tuple(notes),
    )


def audit_exposures(
    exposures: object,
    spec: SpecLike,
    *,
    unit_id: str | None = None,
    variant: str | None = None,
    max_examples: int = 20,
) -> ExposureAudit:
    """Recompute every logged unit's variant from the spec and count the disagreements.

    Example:
        >>> spec = {"name": "exp", "control": "a", "variants": ["a", "b"]}
        >>> log = assign([f"u{i}" for i in range(100)], spec)
        >>> log.loc[:4, "variant"] = "a"
        >>> audit = audit_exposures(log, spec)
        >>> audit.n_checked, audit.n_mismatched
        (100, 2)
    """
    sp = load_spec(spec)
    df = _exposure_frame(exposures)
    uid, var = _col(unit_id, sp, "unit_id"), _col(variant, sp, "variant")
    _need_columns(df, [uid, var], "exposures")
    null = df[uid].isna().to_numpy()
    pairs = df.loc[~null, [uid, var]].drop_duplicates()
    units = pd.unique(pairs[uid])
    expected = assign(pd.Series(units, dtype=pairs[uid].dtype), sp, with_status=True)
    pos = pd.Index(units).get_indexer(pd.Index(pairs[uid]))
    exp_var = expected["variant"].astype(object).to_numpy()[pos]
    exp_status = expected["status"].astype(object).to_numpy()[pos]
    lv = pairs[var]
    logged = lv.astype(str).where(lv.notna(), None).to_numpy(dtype=object)
    exp_missing = pd.isna(exp_var)
    bad = exp_missing | (logged != exp_var)
    unit_arr = pairs[uid].to_numpy()
    bad_units = pd.unique(unit_arr[bad])
    n_not_in = len(pd.unique(unit_arr[bad & exp_missing]))
    examples = pd.DataFrame(
        {
            "unit_id": pairs[uid].to_numpy()[bad][:max_examples],
            "logged_variant": lv.to_numpy()[bad][:max_examples],
            "expected_variant": exp_var[bad][:max_examples],
            "expected_status": exp_status[bad][:max_examples],
        }
    )
    return ExposureAudit(
        n_rows=len(df),
        n_checked=len(units),
        n_mismatched=len(bad_units),
        n_not_in_experiment=n_not_in,
        n_wrong_variant=len(bad_units) - n_not_in,
        n_null_ids=int(null.sum()),
        examples=examples,
    )
