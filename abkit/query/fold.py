"""Folding statistics rows by group keys: pandas' group-by reductions, fast on small frames.

The analysis query returns a few dozen rows, and abkit folds them a few times (event categories,
age buckets, segments). ``frame.groupby(keys).agg(how)`` spends about a millisecond per call and
column on pandas' machinery, which made it the largest cost of a small analysis after the
engine. :func:`grouped` gives the same frame — the same dtypes, and the same values to the last
bit — by the same arithmetic done in a plain loop: pandas 2's group sums (Kahan-compensated for
floats, a plain running sum for object columns, missing values skipped, 0 for none), minima and
maxima (missing skipped; object columns' results as pandas infers them) and first non-missing
values.

Only frames of at most :data:`SMALL_ROWS` rows whose columns are integers, floats, datetimes or
objects holding numbers of one kind (Python ints and floats, or Decimals — DuckDB's exact sums —
for sums and first values) take the loop; any other frame is handed to pandas itself.
``tests/test_small_fast.py`` checks the two against each other on random frames.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SMALL_ROWS", "grouped", "in_key_order"]

#: frames up to this many rows are folded in a loop, larger ones by pandas
SMALL_ROWS = 2_000
#: the group key of missing key values (NaN is not equal to itself, so no dict key)
_NAN_KEY = object()


def in_key_order(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """``frame``'s rows sorted by ``keys`` (missing values last), the index reset.

    An engine returns a grouped result's rows in any order, and a floating-point sum over rows
    depends on their order: sorting the rows of a query by its (unique) group keys before any
    fold makes every later sum the same to the last bit, run after run. Keys of mixed types
    (which cannot be compared) are ordered by their text.
    """
    keys = [k for k in keys if k in frame.columns]
    if not keys or len(frame) < 2:
        return frame.reset_index(drop=True)
    order = _key_order(frame, keys) if len(frame) <= SMALL_ROWS else None
    if order is not None:  # pandas' stable sort's order, found in a loop
        if order == list(range(len(frame))):
            return frame.reset_index(drop=True)
        return frame.take(order).reset_index(drop=True)
    try:
        out = frame.sort_values(keys, kind="stable", na_position="last")
    except TypeError:
        text = frame[keys].apply(lambda c: c.map(lambda v: (v != v or v is None, str(v))))
        out = frame.iloc[text.sort_values(keys, kind="stable").index]
    return out.reset_index(drop=True)


def _key_order(frame: pd.DataFrame, keys: Sequence[str]) -> list[int] | None:
    """The row order of ``frame.sort_values(keys, kind="stable", na_position="last")`` for
    keys of integers or of text (with missing values); None: another kind of key."""
    parts = [_key_parts(frame[k]) for k in keys]
    if any(p is None for p in parts):
        return None
    columns = [[(1, "") if v is math.nan else (0, v) for v in p[0]] for p in parts if p is not None]
    rows = list(zip(*columns, strict=True))
    return sorted(range(len(rows)), key=rows.__getitem__)


def grouped(
    frame: pd.DataFrame, keys: Sequence[str], how: Mapping[str, str], *, sort: bool
) -> pd.DataFrame:
    """``frame.groupby(keys, dropna=False, sort=sort).agg(how).reset_index()``.

    ``how`` maps columns to ``"sum"``, ``"min"``, ``"max"`` or ``"first"``.

    Example:
        >>> import pandas as pd
        >>> f = pd.DataFrame({"k": ["b", "a", "b"], "x": [1.5, 2.0, 3.0], "y": [4, 5, 6]})
        >>> grouped(f, ["k"], {"x": "sum", "y": "max"}, sort=True).to_dict("list")
        {'k': ['a', 'b'], 'x': [2.0, 4.5], 'y': [5, 6]}
    """
    keys, how = list(keys), dict(how)
    fast = _small(frame, keys, how, sort) if 0 < len(frame) <= SMALL_ROWS and how else None
    if fast is not None:
        return fast
    return frame.groupby(keys, dropna=False, sort=sort).agg(how).reset_index()


def _kind(series: pd.Series, func: str) -> str | None:
    """How a column is folded in the loop: ``int``, ``float``, ``object``, ``time``; None: by
    pandas."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or dtype.kind == "M":
        return "time" if func in ("min", "max", "first") else None
    if dtype.kind in "iu" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return "int" if func != "sum" or dtype.itemsize == 8 else None  # no overflow to mimic
    if dtype == "float64" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return "float"
    if dtype.kind != "O":
        return None
    # numbers of one kind (the engine's exact sums come as Decimal), and missing values
    types = {type(v) for v in series.tolist() if not _missing(v)}
    if types <= {int, float} and all(type(v) is not int or abs(v) < 2**53 for v in series.tolist()):
        return "object"
    if types == {Decimal} and func in ("sum", "first"):
        return "object" if not any(v is not None and v.is_nan() for v in series.tolist()) else None
    return None


def _missing(v: Any) -> bool:
    return v is None or (type(v) is float and math.isnan(v))


def _key_parts(series: pd.Series) -> tuple[list[Any], bool] | None:
    """A key column's values (missing ones as NaN) and whether it is text; None: not handled."""
    import pandas as pd

    dtype = series.dtype
    if dtype.kind in "iu" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return series.tolist(), False
    if dtype.kind == "O":
        values = [math.nan if _missing(v) else v for v in series.tolist()]
        if all(type(v) is str or v is math.nan for v in values):  # text, and missing values
            return values, True
    return None


def _small(
    frame: pd.DataFrame, keys: list[str], how: dict[str, str], sort: bool
) -> pd.DataFrame | None:
    import numpy as np
    import pandas as pd

    kinds = {c: _kind(frame[c], f) for c, f in how.items()}
    parts = [_key_parts(frame[k]) for k in keys]
    if any(k is None for k in kinds.values()) or any(p is None for p in parts) or not keys:
        return None
    key_cols = [p[0] for p in parts if p is not None]
    # one group per distinct key tuple; NaN keys form one group (NaN != NaN as a dict key)
    rows = [
        tuple(_NAN_KEY if (type(v) is float and v != v) else v for v in t)
        for t in zip(*key_cols, strict=True)
    ]
    order: dict[tuple[Any, ...], int] = {}
    first_row: dict[int, int] = {}
    labels = []
    for i, r in enumerate(rows):
        g = order.setdefault(r, len(order))
        first_row.setdefault(g, i)
        labels.append(g)
    groups = list(range(len(order)))
    if sort:

        def sort_key(g: int) -> tuple[Any, ...]:
            out: list[Any] = []
            for col in key_cols:
                v = col[first_row[g]]
                nan = type(v) is float and v != v
                out.append((1, 0) if nan else (0, v))
            return tuple(out)

        try:
            groups.sort(key=sort_key)
        except TypeError:  # keys of mixed types: pandas' own ordering
            return None
    position = {g: i for i, g in enumerate(groups)}
    labels = [position[g] for g in labels]
    first_row = {position[g]: r for g, r in first_row.items()}
    m = len(groups)
    out: dict[str, Any] = {}
    for i, k in enumerate(keys):
        values = [key_cols[i][first_row[g]] for g in range(m)]
        source = frame[k]
        if source.dtype.kind != "O":
            out[k] = np.array(values, dtype=source.dtype)
        elif any(type(v) is str for v in values):
            out[k] = np.array(values, dtype=object)
        else:  # a key that is missing on every row: pandas makes it a float column
            out[k] = np.array(values, dtype="float64")
    for col, func in how.items():
        kind = kinds[col]
        series = frame[col]
        values = series.tolist() if kind != "time" else list(series.array)
        try:
            folded = _fold(values, labels, m, func, kind)
        except OverflowError:  # an int64 sum that wraps in pandas: let pandas do it
            return None
        if kind == "time":
            out[col] = pd.array(folded, dtype=series.dtype)
        elif kind == "object":
            arr = np.empty(m, dtype=object)
            arr[:] = folded
            out[col] = arr
        else:
            out[col] = np.array(folded, dtype=series.dtype)
    names = [*keys, *how]
    # the same frame; pandas builds it from the dict alone in half the time
    return pd.DataFrame(out) if list(out) == names else pd.DataFrame(out, columns=names)


def _fold(values: list[Any], labels: list[int], m: int, func: str, kind: str | None) -> list[Any]:
    """The reduction ``func`` of ``values`` per group label, as pandas' group kernels do it."""
    if kind == "time":
        import pandas as pd

        present = [(g, v) for g, v in zip(labels, values, strict=True) if v is not pd.NaT]
        out: list[Any] = [pd.NaT] * m
        for g, v in present:
            cur = out[g]
            if cur is pd.NaT or (func == "min" and v < cur) or (func == "max" and v > cur):
                out[g] = v
        return out
    if func == "first":
        empty = None if kind == "object" else math.nan
        out = [empty] * m
        seen = [False] * m
        for g, v in zip(labels, values, strict=True):
            if not seen[g] and not _missing(v):
                out[g], seen[g] = v, True
        return out
    if func in ("min", "max"):
        # missing values skipped, the first of equal values kept (as NumPy's reductions do)
        best: list[Any] = [None] * m
        for g, v in zip(labels, values, strict=True):
            if _missing(v):
                continue
            if best[g] is None or (v < best[g] if func == "min" else v > best[g]):
                best[g] = v
        if kind == "int":
            return best
        if kind == "object" and all(type(b) is int for b in best):
            return best  # pandas infers the results' type: whole numbers stay int
        return [math.nan if b is None else float(b) for b in best]
    # sum
    if kind == "int":
        total = [0] * m
        for g, v in zip(labels, values, strict=True):
            total[g] += v
        if any(not -(2**63) <= t < 2**63 for t in total):
            raise OverflowError("group sum out of int64 range")
        return total
    if kind == "object":
        acc: list[Any] = [0] * m
        nobs = [0] * m
        for g, v in zip(labels, values, strict=True):
            if _missing(v):
                continue
            nobs[g] += 1
            acc[g] = v if nobs[g] == 1 else acc[g] + v
        return acc
    sums = [0.0] * m
    comp = [0.0] * m
    for g, v in zip(labels, values, strict=True):
        if v != v:  # NaN
            continue
        y = v - comp[g]
        t = sums[g] + y
        c = t - sums[g] - y
        comp[g] = 0.0 if c != c else c  # an infinity: no compensation (pandas GH#53606)
        sums[g] = t
    return sums
