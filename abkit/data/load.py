"""Sources → Ibis tables on one backend: files read as named, pandas and Arrow frames, Spark."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from abkit import engine
from abkit._files import known_cause
from abkit.engine import is_spark_frame, quiet_known_warnings
from abkit.errors import DataError, first_line
from abkit.query.checks import (
    refuse_ambiguous_dates,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa
    from ibis.backends import BaseBackend
    from pyspark.sql import DataFrame as SparkDataFrame

#: what abkit reads as a table: a pandas DataFrame, an Arrow table, a Parquet/CSV path (or a
#: folder of Parquet files), an Ibis table of any backend, or a Spark DataFrame
TableLike: TypeAlias = (
    "pd.DataFrame | pa.Table | str | os.PathLike[str] | ir.Table | SparkDataFrame"
)


# --------------------------------------------------------------------------------------------------
# sources


def connect(**config: Any) -> BaseBackend:
    """A fresh in-process DuckDB connection through Ibis (the default engine).

    Uses abkit's engine settings (:mod:`abkit.engine`: memory limit, spill directory, threads,
    progress bar); keyword arguments override them, e.g. ``memory_limit="4GB"``,
    ``temp_directory="/tmp/x"``, ``threads=2``.
    """
    return engine.connect(**config)


def load_table(source: TableLike, *, con: BaseBackend, role: str) -> ir.Table:
    """Turn ``source`` into an Ibis table that ``con`` can execute.

    Args:
        source: pandas DataFrame, Arrow table, Parquet/CSV path (or folder of Parquet files), or an
            Ibis table.
        con: the backend that will run the queries (used to read files).
        role: ``"exposures"``, ``"events"`` or ``"units"`` — named in error messages.

    Raises:
        DataError: the source type is not supported, a path does not exist or cannot be read.
    """
    import ibis
    import ibis.expr.types as ir

    quiet_known_warnings()
    if isinstance(source, ir.Table):
        return source
    if is_spark_frame(source):
        if con.name != "pyspark":
            raise DataError(
                f"{role}: a Spark DataFrame needs the Spark backend; pass con=spark (your "
                f"SparkSession) or leave con= unset, not a {con.name} backend"
            )
        import uuid

        view = f"abkit_{role}_{uuid.uuid4().hex[:12]}"
        source.createOrReplaceTempView(view)
        return _spark_instants(con.table(view), source)
    mod = type(source).__module__
    if mod.startswith("pandas"):
        import pandas as pd

        if isinstance(source, pd.DataFrame):
            frame = _prepare_pandas(source, role)
            return ibis.memtable(frame, schema=pandas_schema(frame))
    if mod.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(source, pa.Table):
            return ibis.memtable(source)
    if isinstance(source, str | Path):
        return _read_path(source, con=con, role=role)
    raise DataError(
        f"{role}: unsupported input type {type(source).__name__}; pass a pandas DataFrame, an Arrow "
        "table, a Parquet/CSV path or an Ibis table"
    )


def in_memory(source: Any) -> bool:
    """Whether ``source`` is a pandas DataFrame or an Arrow table (:func:`load_table` makes an
    in-memory table of it)."""
    mod = type(source).__module__
    if mod.startswith("pandas"):
        import pandas as pd

        return isinstance(source, pd.DataFrame)
    if mod.startswith("pyarrow"):
        import pyarrow as pa

        return isinstance(source, pa.Table)
    return False


def _read_path(source: str | os.PathLike[str], *, con: BaseBackend, role: str) -> ir.Table:
    """A file read as named, a folder of Parquet files, or (``glob:`` prefix) a pattern.

    A literal name is never expanded: ``ev[1].parquet`` is that file, not ``ev1.parquet``, and
    ``*`` or ``?`` in a real file name match only themselves.
    """
    from abkit._files import GLOB_CHARS, GLOB_PREFIX, arrow_source, input_problem, table_format

    if isinstance(source, str) and source.startswith(GLOB_PREFIX):
        path, pattern = Path(source[len(GLOB_PREFIX) :]), True
    else:
        path, pattern = Path(source), False
    problem = None if pattern else input_problem(path)
    if problem is not None:
        raise DataError(f"{role}: {problem}")
    fmt = "parquet" if path.is_dir() else table_format(path)
    if fmt is None:
        raise DataError(
            f"{role}: cannot tell the format of {source} (suffix {path.suffix!r}); use .parquet "
            "or .csv"
        )
    duck, name = con.name == "duckdb", str(path.absolute())
    try:
        if not pattern and GLOB_CHARS & set(name):  # an engine's reader would expand the name
            import ibis

            return ibis.memtable(arrow_source(path.absolute(), fmt))
        if path.is_dir() and not pattern:  # every Parquet file under it, partition folders too
            return con.read_parquet(name + "/**/*.parquet")
        opts = {"hive_partitioning": False} if duck and not pattern else {}
        if fmt == "parquet":
            return con.read_parquet(name, **opts)
        table = con.read_csv(name, **opts)
        if duck:
            refuse_ambiguous_dates(table, con=con, target=name, role=role, path=path)
        return table
    except DataError:
        raise
    except Exception as exc:
        fix = known_cause(exc)
        if fix is not None:
            raise DataError(f"{role}: {fix}") from None
        raise DataError(f"{role}: could not read {source}: {first_line(exc)}") from None


def pandas_schema(df: pd.DataFrame) -> Any:
    """The Ibis schema ``ibis.memtable(df)`` infers (``PandasData.infer_table``), the same types.

    Ibis learns an object column's type by converting the whole column to Arrow, and then
    throws the copy away (the data is converted again when a query reads it); for a column of
    text, the common case, pandas' ``infer_dtype`` says so in a fraction of the time. Other
    object columns are inferred by Ibis itself.

    Example:
        >>> import pandas as pd
        >>> [str(t) for t in pandas_schema(pd.DataFrame({"u": ["a", None], "n": [1, 2]})).types]
        ['string', 'int64']
    """
    import ibis.expr.schema as sch
    import numpy as np
    import pyarrow as pa
    from ibis.formats.pandas import PandasData, PandasType
    from ibis.formats.pyarrow import PyArrowType
    from pandas.api.types import infer_dtype

    text = PyArrowType.to_ibis(pa.string())  # what Ibis makes of Arrow's type for Python text
    pairs = []
    for name in df.columns:
        column = df[name]
        if column.dtype == np.object_:
            is_text = infer_dtype(column, skipna=True) == "string"
            pairs.append((name, text if is_text else PandasData.infer_column(column)))
        else:
            pairs.append((name, PandasType.to_ibis(column.dtype)))
    return sch.Schema.from_tuples(pairs)


def _spark_instants(table: ir.Table, frame: Any) -> ir.Table:
    """Type Spark ``TimestampType`` columns (instants) as UTC-aware; Ibis reads them as naive."""
    from pyspark.sql import types as st

    from abkit._duckdb_udf import spark_as_instant

    ltz = [
        f.name
        for f in frame.schema.fields
        if isinstance(f.dataType, st.TimestampType)
        and not isinstance(f.dataType, st.TimestampNTZType)
    ]
    return table.mutate(**{c: spark_as_instant(table[c]) for c in ltz}) if ltz else table


def _prepare_pandas(df: Any, role: str) -> Any:
    """Make a pandas frame safe for Ibis: string-named columns, unique names, timestamps in
    whole microseconds.

    The engines keep microseconds; pandas keeps nanoseconds. A timestamp column with a finer
    part is floored to the microsecond, as DuckDB reads such a Parquet column (the frame is not
    changed in place).
    """
    if not all(isinstance(c, str) for c in df.columns):
        df = df.rename(columns={c: str(c) for c in df.columns})
    dupes = df.columns[df.columns.duplicated()].tolist()
    if dupes:
        raise DataError(f"{role}: duplicate column names {dupes}; rename them before analysing")
    fine = [
        c
        for c, t in df.dtypes.items()
        if getattr(t, "kind", "") == "M"
        and getattr(t, "unit", "ns") == "ns"
        and _sub_microsecond(df[c])
    ]
    if fine:
        df = df.assign(**{c: df[c].dt.floor("us") for c in fine})
    return df


def _sub_microsecond(column: pd.Series) -> bool:
    """Whether a nanosecond timestamp column has a value with a part finer than a microsecond
    (``column.dt.nanosecond > 0`` somewhere; NaT has none), from its integers."""
    import numpy as np

    ns = np.asarray(column.array.asi8)
    return bool(((ns % 1000 != 0) & (ns != np.iinfo(np.int64).min)).any())
