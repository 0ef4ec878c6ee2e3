"""Vectorized FNV-1a 32 over UTF-16 code units: the engine behind :mod:`abkit.assign`.

Private module. Everything here works on *batches*: a flat array of UTF-16 code units (``uint8``
when every unit is ASCII, ``uint16`` otherwise) plus row offsets, so that millions of ids are hashed
with a few dozen numpy passes instead of a Python loop per id.

How the vectorized FNV works. FNV-1a is sequential per unit (``h = (h ^ c) * P mod 2**32``),
so rows of different lengths cannot share one loop directly. We right-align the rows of a chunk in
a zero-padded matrix and process it column by column. A zero unit maps ``h`` to ``h * P``, and
``P`` is odd, hence invertible modulo ``2**32``: a row with ``m`` pad cells simply starts from
``state * P**-m`` and reaches ``state`` exactly when its first real unit arrives. Every column is
then one ``xor`` and one ``multiply`` over the whole chunk, with no masks and no gathers.

The second round of hash version 2 hashes the decimal digits of a ``uint32``. It is a pure function
of that number, so we tabulate the FNV state after ``str(x // 10_000)`` once (429,497 entries) and
finish with the four zero-padded low digits.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from operator import methodcaller

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "FNV_OFFSET",
    "FNV_PRIME",
    "StringBatch",
    "batch_from_arrow",
    "batch_from_strings",
    "fnv1a32",
    "fnv_batch",
    "fnv_extend",
    "second_round",
]

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF
_PRIME_INV = pow(FNV_PRIME, -1, 1 << 32)
_P = np.uint32(FNV_PRIME)

U32 = npt.NDArray[np.uint32]
#: Rows hashed per numpy pass; with the cell budget this keeps a chunk in the L2/L3 cache.
_CHUNK_ROWS = 1 << 15
_CELL_BUDGET = _CHUNK_ROWS * 64
#: Which unit of a 32-bit word comes first in memory (shift index, in bits per unit).
_UNIT_ORDER = {
    n: tuple(range(n)) if sys.byteorder == "little" else tuple(reversed(range(n))) for n in (2, 4)
}


def utf16_units(s: str) -> list[int]:
    """UTF-16 code units of ``s`` (lone surrogates kept as they are, like JavaScript strings)."""
    if s.isascii():
        return list(s.encode("ascii"))
    data = s.encode("utf-16-le", "surrogatepass")
    return [data[i] | (data[i + 1] << 8) for i in range(0, len(data), 2)]


def fnv1a32(s: str, state: int = FNV_OFFSET) -> int:
    """FNV-1a 32 of ``s`` over its UTF-16 code units, continuing from ``state``.

    Example:
        >>> hex(fnv1a32("a"))
        '0xe40c292c'
    """
    h = state
    for c in utf16_units(s):
        h = ((h ^ c) * FNV_PRIME) & _MASK
    return h


@dataclass(frozen=True, slots=True)
class StringBatch:
    """Rows of code units: row ``i`` is ``units[offsets[i]:offsets[i + 1]]``.

    ``lead`` leading zero units of every row are separators, not content (see
    :func:`batch_from_strings`); they act like the zero padding and are accounted for in the start
    state.
    """

    units: npt.NDArray[np.uint8] | npt.NDArray[np.uint16]
    offsets: npt.NDArray[np.int32] | npt.NDArray[np.int64]
    lead: int = 0

    def __len__(self) -> int:
        return len(self.offsets) - 1


def batch_from_strings(strings: Sequence[str] | npt.NDArray[np.object_]) -> StringBatch:
    """Encode Python strings into one flat buffer with C-level ``join`` and ``encode`` calls.

    The strings are joined with a NUL separator (plus one in front), so every row is ``"\\0" + s``
    and row boundaries are the positions of the NUL units. When an id itself contains NUL, the
    lengths come from ``len`` instead (still no Python-level loop body).
    """
    n = len(strings)
    joined = "\x00" + "\x00".join(strings)
    units: npt.NDArray[np.uint8] | npt.NDArray[np.uint16]
    ascii_only = joined.isascii()
    if ascii_only:
        units = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    else:
        units = np.frombuffer(joined.encode("utf-16-le", "surrogatepass"), dtype="<u2")
    del joined
    seps = np.flatnonzero(units == 0)
    offsets = np.empty(n + 1, dtype=np.int64)
    if len(seps) == n:
        offsets[:n] = seps
        offsets[n] = len(units)
    else:  # some id contains "\0": take the lengths from the strings themselves
        if ascii_only:
            lengths = np.fromiter(map(len, strings), dtype=np.int64, count=n)
        else:
            enc = map(methodcaller("encode", "utf-16-le", "surrogatepass"), strings)
            lengths = np.fromiter(map(len, enc), dtype=np.int64, count=n) // 2
        offsets[0] = 0
        np.cumsum(lengths + 1, out=offsets[1:])
    return StringBatch(units=units, offsets=offsets, lead=1)


def batch_from_arrow(arr: pa.Array) -> StringBatch:
    """Zero-copy view of an all-ASCII Arrow ``string``/``large_string`` array (nulls are empty)."""
    if pa.types.is_large_string(arr.type):
        off_dtype: type[np.integer] = np.int64
    elif pa.types.is_string(arr.type):
        off_dtype = np.int32
    else:  # pragma: no cover - callers cast first
        raise TypeError(f"expected a string array, got {arr.type}")
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=off_dtype)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return StringBatch(units=data, offsets=offsets, lead=0)


def arrow_is_ascii(arr: pa.Array) -> npt.NDArray[np.bool_]:
    """Per-row ASCII flags of an Arrow string array (nulls count as ASCII)."""
    batch = batch_from_arrow(arr)
    data = batch.units[int(batch.offsets[0]) : int(batch.offsets[-1])] if len(arr) else batch.units
    if not len(data) or int(data.max()) < 0x80:  # one pass over the bytes settles the usual case
        return np.ones(len(arr), dtype=bool)
    flags = pc.fill_null(pc.string_is_ascii(arr), True)
    return np.asarray(flags.to_numpy(zero_copy_only=False), dtype=bool)


@functools.lru_cache(maxsize=256)
def _start_table(state: int, width: int) -> U32:
    """``table[m] = state * P**-m``: the start state of a row preceded by ``m`` zero units."""
    out = np.empty(width + 1, dtype=np.uint32)
    s = state
    for m in range(width + 1):
        out[m] = s
        s = (s * _PRIME_INV) & _MASK
    out.flags.writeable = False
    return out


def fnv_batch(batch: StringBatch, state: int = FNV_OFFSET) -> U32:
    """FNV-1a of every row of ``batch``, each starting from ``state`` (a seed prefix's state)."""
    n = len(batch)
    out = np.empty(n, dtype=np.uint32)
    offsets = batch.offsets
    scratch = np.empty(_CELL_BUDGET + 4 * _CHUNK_ROWS, dtype=batch.units.dtype)
    for lo in range(0, n, _CHUNK_ROWS):
        hi = min(lo + _CHUNK_ROWS, n)
        off = offsets[lo : hi + 1].astype(np.int64)
        lengths = np.diff(off)
        width = int(lengths.max()) if hi > lo else 0
        if width * (hi - lo) <= _CELL_BUDGET:
            out[lo:hi] = _hash_block(
                batch.units[off[0] : off[-1]], lengths, width, state, batch.lead, scratch
            )
        else:
            _hash_ragged(batch, off, lengths, state, out[lo:hi])
    return out


def _hash_block(
    units: npt.NDArray[np.uint8] | npt.NDArray[np.uint16],
    lengths: npt.NDArray[np.int64],
    width: int,
    state: int,
    lead: int,
    scratch: npt.NDArray[np.uint8] | npt.NDArray[np.uint16],
) -> U32:
    """Hash consecutive rows whose units are the contiguous ``units`` (right-aligned, padded).

    The padded matrix is read as 32-bit words (4 ASCII bytes or 2 UTF-16 units each): copying a
    word column and shifting the units out of it is about three times faster than reading a
    strided column of single bytes.
    """
    k = len(lengths)
    per_word = 4 // units.itemsize
    width = -(-width // per_word) * per_word  # extra left padding is free (start-state table)
    if k and lead == 0 and int(lengths.min()) == width and units.ctypes.data % 4 == 0:
        matrix = units.reshape(k, width)  # fixed-width ids (e.g. UUIDs): hash in place
    else:
        matrix = scratch[: k * width].reshape(k, width)
        shortest = int(lengths.min()) if k else 0
        if k and shortest == int(lengths.max()):  # one length: a strided block copy
            matrix[:, : width - shortest] = 0
            matrix[:, width - shortest :] = units.reshape(k, shortest)
        elif width:
            matrix.fill(0)
            matrix[np.arange(width) >= (width - lengths)[:, None]] = units
    h = _start_table(state, width)[width - lengths + lead]
    if not width:
        return h
    words = matrix.view(np.uint32)
    bits = 8 * units.itemsize
    low = np.uint32((1 << bits) - 1)
    col = np.empty(k, dtype=np.uint32)
    tmp = np.empty(k, dtype=np.uint32)
    for w in range(words.shape[1]):
        col[:] = words[:, w]
        for u in _UNIT_ORDER[per_word]:
            if u == 0:
                np.bitwise_and(col, low, out=tmp)
            elif u == per_word - 1:
                np.right_shift(col, np.uint32(bits * u), out=tmp)
            else:
                np.right_shift(col, np.uint32(bits * u), out=tmp)
                np.bitwise_and(tmp, low, out=tmp)
            np.bitwise_xor(h, tmp, out=h)
            np.multiply(h, _P, out=h)
    return h


def _hash_ragged(
    batch: StringBatch,
    off: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    state: int,
    out: U32,
) -> None:
    """Rows too long to pad together: group them by length so each padded block stays small."""
    order = np.argsort(lengths, kind="stable")
    i = 0
    k = len(order)
    while i < k:
        # grow the group while its padded size (rows x longest row) fits the budget
        j = i + 1
        while j < k and (j + 1 - i) * int(lengths[order[j]]) <= _CELL_BUDGET:
            j += 1
        rows = order[i:j]
        width = int(lengths[rows[-1]])
        if len(rows) == 1:
            r = int(rows[0])
            seg = batch.units[off[r] + batch.lead : off[r + 1]]
            h = state
            for c in seg.tolist():
                h = ((h ^ c) * FNV_PRIME) & _MASK
            out[r] = h
        else:
            starts = off[rows]
            ln = lengths[rows]
            cum = np.concatenate([[0], np.cumsum(ln)])
            idx = np.arange(int(cum[-1]), dtype=np.int64) + np.repeat(starts - cum[:-1], ln)
            scratch = np.empty(len(rows) * (width + 4), dtype=batch.units.dtype)
            out[rows] = _hash_block(batch.units[idx], ln, width, state, batch.lead, scratch)
        i = j


def fnv_extend(h: U32, suffix: str) -> U32:
    """Continue every hash state in ``h`` over the units of ``suffix`` (in place; returns ``h``)."""
    for c in utf16_units(suffix):
        np.bitwise_xor(h, np.uint32(c), out=h)
        np.multiply(h, _P, out=h)
    return h


@functools.cache
def _decimal_tables() -> tuple[U32, U32, npt.NDArray[np.uint8]]:
    """FNV states after ``str(a)`` for ``a < 429_497``, final hashes of ``str(b)`` for
    ``b < 10_000``, and the four ASCII digits of ``f"{b:04d}"`` (column-major)."""
    a = np.arange(429_497, dtype=np.uint32)
    ndig = np.ones(len(a), dtype=np.int64)
    for p in range(1, 6):
        ndig += a >= 10**p
    h = _start_table(FNV_OFFSET, 6)[6 - ndig]
    for k in range(6):
        q = a // np.uint32(10 ** (5 - k))
        started = (q > 0) | (k == 5)
        digit = (q % np.uint32(10) + np.uint32(48)) * started
        np.bitwise_xor(h, digit.astype(np.uint32), out=h)
        np.multiply(h, _P, out=h)
    small = h[:10_000].copy()
    b = np.arange(10_000)
    digits = np.stack([(b // 10 ** (3 - k)) % 10 + 48 for k in range(4)]).astype(np.uint8)
    for t in (h, small, digits):
        t.flags.writeable = False
    return h, small, digits


def second_round(h1: U32) -> U32:
    """``fnv1a32(str(x))`` for every ``x`` in ``h1`` (the outer hash of version 2)."""
    high_tab, small_tab, digits = _decimal_tables()
    hi = h1 // np.uint32(10_000)
    lo = h1 - hi * np.uint32(10_000)
    h: U32 = high_tab[hi]  # numpy types an index by an array as Any
    for k in range(4):
        np.bitwise_xor(h, digits[k][lo], out=h)
        np.multiply(h, _P, out=h)
    small = hi == 0
    if small.any():  # str(x) has no zero padding when x < 10_000
        h[small] = small_tab[lo[small]]
    return h
