"""Engine built-in functions exposed to Ibis (a module of its own: Ibis reads the annotations at
definition time, so this file must not use ``from __future__ import annotations``).

DuckDB and Spark spell time-zone conversion differently; :func:`utc_to_local_for` and
:func:`local_to_utc_for` pick the right one for a backend name.
"""

import functools
from typing import Any

import ibis
import ibis.expr.datatypes as dt


@ibis.udf.scalar.builtin(name="timezone")
def local_to_utc(zone: str, ts: dt.Timestamp()) -> dt.Timestamp(timezone="UTC"):  # type: ignore[valid-type]
    """DuckDB ``timezone(zone, naive)``: read a naive timestamp as wall-clock time in ``zone``."""


@ibis.udf.scalar.builtin(name="timezone")
def utc_to_local(zone: str, ts: dt.Timestamp(timezone="UTC")) -> dt.Timestamp():  # type: ignore[valid-type]
    """DuckDB ``timezone(zone, aware)``: the wall-clock time in ``zone`` of an aware timestamp."""


@ibis.udf.scalar.builtin(name="from_utc_timestamp")
def spark_utc_to_local(ts: dt.Timestamp(timezone="UTC"), zone: str) -> dt.Timestamp():  # type: ignore[valid-type]
    """Spark ``from_utc_timestamp(ts, zone)``: the wall-clock time in ``zone`` of an instant."""


@ibis.udf.scalar.builtin(name="to_utc_timestamp")
def spark_local_to_utc(ts: dt.Timestamp(), zone: str) -> dt.Timestamp(timezone="UTC"):  # type: ignore[valid-type]
    """Spark ``to_utc_timestamp(ts, zone)``: read a wall-clock time in ``zone`` as an instant."""


#: backends whose SQL has a time-zone conversion abkit knows how to call
TZ_BACKENDS = ("duckdb", "pyspark")


def utc_to_local_for(backend: str, zone: str, ts: Any) -> Any:
    """Wall-clock time in ``zone`` of the UTC instant ``ts``, on ``backend`` (or None if unknown)."""
    if backend == "duckdb":
        return utc_to_local(ibis.literal(zone), ts)
    if backend == "pyspark":
        return spark_utc_to_local(ts, ibis.literal(zone))
    return None


def local_to_utc_for(backend: str, zone: str, ts: Any) -> Any:
    """UTC instant of the naive wall-clock time ``ts`` in ``zone``, on ``backend`` (or None)."""
    if backend == "duckdb":
        return local_to_utc(ibis.literal(zone), ts)
    if backend == "pyspark":
        return spark_local_to_utc(ts, ibis.literal(zone))
    return None


@functools.cache
def _duckdb_arg_min(arg_type: dt.DataType, key_type: dt.DataType) -> Any:
    # arg_min_null keeps a null ``arg`` of the first row (plain arg_min skips it), which is
    # what "the value at the first exposure" means; it is a hash aggregate, unlike FIRST(… ORDER BY)
    def arg_min_null(arg: Any, key: Any) -> Any:
        """DuckDB ``arg_min_null(arg, key)``."""

    return ibis.udf.agg.builtin(
        arg_min_null, name="arg_min_null", signature=((arg_type, key_type), arg_type)
    )


def arg_min(backend: str, arg: Any, key: Any, where: Any = None) -> Any:
    """``arg`` at the row with the smallest ``key``: DuckDB's hash aggregate, else Ibis' argmin."""
    if backend == "duckdb":
        fn = _duckdb_arg_min(arg.type(), key.type())
        return fn(arg, key, where=where)
    return arg.argmin(key, where=where)


@ibis.udf.scalar.builtin(name="epoch_us")
def _duckdb_epoch_us(ts: dt.Timestamp(timezone="UTC")) -> dt.int64:  # type: ignore[valid-type]
    """DuckDB ``epoch_us(ts)``: microseconds since 1970-01-01 UTC."""


@ibis.udf.scalar.builtin(name="unix_micros")
def _spark_unix_micros(ts: dt.Timestamp(timezone="UTC")) -> dt.int64:  # type: ignore[valid-type]
    """Spark ``unix_micros(ts)``: microseconds since 1970-01-01 UTC."""


def micros_between(backend: str, start: Any, end: Any) -> Any:
    """Exact microseconds from ``start`` to ``end`` as plain integer arithmetic.

    DuckDB's ``date_diff`` on time-zone-aware timestamps goes through ICU calendars and costs
    more than the rest of the query together; epoch microseconds are a subtraction.
    """
    if backend == "duckdb":
        return _duckdb_epoch_us(end) - _duckdb_epoch_us(start)
    if backend == "pyspark":
        return _spark_unix_micros(end) - _spark_unix_micros(start)
    return end.delta(start, unit="microsecond")


@ibis.udf.scalar.builtin(name="to_timestamp")
def spark_as_instant(ts: dt.Timestamp()) -> dt.Timestamp(timezone="UTC"):  # type: ignore[valid-type]
    """Spark ``to_timestamp(ts)`` on a ``TimestampType`` column: the same instant, typed aware.

    Spark's ``TimestampType`` is an instant (Ibis shows it as naive); ``TimestampNTZType`` is the
    naive one.
    """


@ibis.udf.scalar.builtin(name="divide")
def _duckdb_divide(a: dt.int64, b: dt.int64) -> dt.int64:
    """DuckDB ``divide(a, b)``: integer division (``a // b``, truncating toward zero)."""


def nonneg_floordiv(backend: str, a: Any, b: int) -> Any:
    """``a // b`` as a 64-bit integer, for ``a >= 0`` (or null) and ``b > 0``.

    Ibis spells floor division ``FLOOR(a / b)`` in DuckDB: a floating-point division per row.
    For non-negative ``a`` truncating integer division gives the same number without it.
    """
    if backend == "duckdb":
        return _duckdb_divide(a, ibis.literal(b, "int64"))
    return (a // b).cast("int64")
