"""Id normalisation: any column of ids -> string batches plus null / invalid masks.

Private module behind :func:`abkit.assign.assign`. Strings stay as they are, numbers become their
JavaScript ``String(x)`` text (:func:`abkit.assign.growthbook.unit_id_to_str` rules, vectorized).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from abkit.assign import _hashing as _h
from abkit.assign.growthbook import MAX_SAFE_INTEGER, _big_int_message, _js_number_to_string
from abkit.errors import DataError

_ARROW_SLICE = 1 << 20  # rows per batch: bounds the temporaries at a few tens of MB
_OBJECT_SLICE = 1 << 19


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
