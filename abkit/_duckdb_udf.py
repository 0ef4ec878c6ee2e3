"""DuckDB built-in functions exposed to Ibis (a module of its own: Ibis reads the annotations at
definition time, so this file must not use ``from __future__ import annotations``)."""

import ibis
import ibis.expr.datatypes as dt


@ibis.udf.scalar.builtin(name="timezone")
def local_to_utc(zone: str, ts: dt.Timestamp()) -> dt.Timestamp(timezone="UTC"):  # type: ignore[valid-type]
    """DuckDB ``timezone(zone, naive)``: read a naive timestamp as wall-clock time in ``zone``."""


@ibis.udf.scalar.builtin(name="timezone")
def utc_to_local(zone: str, ts: dt.Timestamp(timezone="UTC")) -> dt.Timestamp():  # type: ignore[valid-type]
    """DuckDB ``timezone(zone, aware)``: the wall-clock time in ``zone`` of an aware timestamp."""
