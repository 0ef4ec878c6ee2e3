"""The engine that runs abkit's queries: configuration of the default DuckDB, other backends.

abkit runs every analysis as Ibis expressions on one backend. By default that is an in-process
DuckDB made by :func:`connect` from the settings here; a Spark session, a DuckDB connection or any
Ibis backend (BigQuery, Snowflake, Trino, ClickHouse …) can be passed as ``con=`` instead.

Analyses of in-memory tables (pandas, Arrow) given no ``con=`` run on one connection kept per
thread (:func:`shared_connection`; opening one costs about 20 ms), their tables registered for
the duration of each analysis only.

Settings come from, in order: :func:`configure` in Python, environment variables
(``ABKIT_MEMORY_LIMIT``, ``ABKIT_TEMP_DIRECTORY``, ``ABKIT_THREADS``, ``ABKIT_PROGRESS``), and
abkit's defaults (a 2 GB memory limit — half of the machine's memory if that is less —, all
cores).

* ``memory_limit`` (e.g. ``"4GB"``; default 2 GB, :func:`default_memory_limit`; ``"duckdb"``:
  DuckDB's own default, 80% of RAM): DuckDB keeps its working memory under it and spills the
  rest of a large join or aggregation to ``temp_directory``, so an events table larger than RAM
  is analysed, not killed.
* ``temp_directory``: where to spill (default: a folder ``abkit-duckdb-<uid>`` in the system's
  temp directory, this user's alone: mode 0700, refused if it is a link or another user's). Put
  it on a disk with room for about the size of the events table.
* ``threads``: worker threads (default: all cores).
* ``progress``: ``"auto"`` (default) shows DuckDB's progress bar for queries that take more than
  two seconds when standard error is a terminal and the ``CI`` environment variable is unset;
  ``True`` / ``False`` force it on / off.

Example:
    >>> from abkit import engine
    >>> engine.configure(memory_limit="2GB", threads=2).memory_limit
    '2GB'
    >>> engine.configure(memory_limit=None).memory_limit is None
    True
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
import threading
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from abkit._files import known_cause
from abkit._spill import connection_spill_directory, default_spill_directory
from abkit.errors import DataError, SpecError, first_line

if TYPE_CHECKING:
    import ibis.expr.operations as ops
    import ibis.expr.schema as sch
    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends import BaseBackend
    from pyspark.sql import DataFrame as SparkDataFrame

__all__ = [
    "EngineConfig",
    "configure",
    "connect",
    "default_memory_limit",
    "execute",
    "execute_with_sql",
    "get_config",
    "resolve_backend",
]

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Settings of the DuckDB connection abkit makes when no ``con=`` is given."""

    memory_limit: str | None = None
    temp_directory: str | None = None
    threads: int | None = None
    progress: bool | Literal["auto"] = "auto"
    #: further DuckDB settings, e.g. ``{"max_temp_directory_size": "200GB"}``
    settings: dict[str, Any] = field(default_factory=dict)

    def duckdb_settings(self) -> dict[str, Any]:
        """The keyword arguments given to ``ibis.duckdb.connect``."""
        out: dict[str, Any] = {
            # results are aggregates: row order never matters, and not keeping it saves memory
            "preserve_insertion_order": False,
            "temp_directory": self.temp_directory or default_spill_directory(),
        }
        if self.memory_limit is None:
            out["memory_limit"] = default_memory_limit()
        elif self.memory_limit.strip().lower() != "duckdb":
            out["memory_limit"] = self.memory_limit
        if self.threads is not None:
            out["threads"] = self.threads
        out.update(self.settings)
        return out


#: abkit's default DuckDB memory limit, at most (and at most half of the machine's memory)
DEFAULT_MEMORY_LIMIT_MB = 2_000


def default_memory_limit() -> str:
    """The memory limit of abkit's DuckDB when none is set: 2 GB, or half of the machine's
    memory if that is less. DuckDB's own default (80 % of memory) let a 10M-unit analysis
    peak at 4.0 GB; under this limit it peaks at 2.4 GB and spills the rest
    (benchmarks/results_scale.md). ``memory_limit="duckdb"`` gives DuckDB's own default."""
    mb = DEFAULT_MEMORY_LIMIT_MB
    with contextlib.suppress(AttributeError, ValueError, OSError):  # not POSIX: the 2 GB
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mb = min(mb, max(256, total // 2 // 1_000_000))
    return f"{mb}MB"


def show_progress(progress: bool | Literal["auto"]) -> bool:
    """Whether to draw a progress bar: on a terminal, never in CI logs (``CI`` set)."""
    if progress == "auto":
        # inside a Jupyter kernel DuckDB would draw its bar with ipywidgets (not a dependency)
        in_kernel = "ipykernel" in sys.modules
        return bool(sys.stderr.isatty()) and not os.environ.get("CI") and not in_kernel
    return bool(progress)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _from_env() -> EngineConfig:
    """The settings of the ``ABKIT_*`` environment variables, each checked by name.

    Raises:
        SpecError: a variable holds a value abkit cannot use; the message names it and the fix.
    """
    threads = os.environ.get("ABKIT_THREADS", "").strip()
    if threads and not (threads.isdigit() and int(threads) >= 1):
        raise SpecError(
            f"ABKIT_THREADS={threads!r} is not a number of threads; set it to a whole number of "
            "at least 1 (e.g. ABKIT_THREADS=4), or unset it to use every core"
        )
    progress = os.environ.get("ABKIT_PROGRESS", "auto").strip().lower()
    if progress not in ("auto", *_TRUE, *_FALSE):
        raise SpecError(
            f"ABKIT_PROGRESS={progress!r} is not understood; set it to auto, 1 (on) or 0 (off)"
        )
    return EngineConfig(
        memory_limit=os.environ.get("ABKIT_MEMORY_LIMIT", "").strip() or None,
        temp_directory=os.environ.get("ABKIT_TEMP_DIRECTORY") or None,
        threads=int(threads) if threads else None,
        progress="auto" if progress == "auto" else progress in _TRUE,
    )


_config: EngineConfig | None = None
#: the settings :func:`configure` changed (the rest came from the environment)
_configured: set[str] = set()


def _config_from_env(name: str) -> bool:
    """Whether setting ``name`` came from its ``ABKIT_*`` variable, not from :func:`configure`."""
    return name not in _configured


def get_config() -> EngineConfig:
    """The current settings (from :func:`configure`, else the environment)."""
    global _config
    if _config is None:
        _configured.clear()
        _config = _from_env()
    return _config


def configure(
    *,
    memory_limit: str | None = _UNSET,
    temp_directory: str | os.PathLike[str] | None = _UNSET,
    threads: int | None = _UNSET,
    progress: bool | Literal["auto"] = _UNSET,
    **settings: Any,
) -> EngineConfig:
    """Change the settings of the DuckDB connections abkit makes from now on.

    Only the arguments given change; ``None`` restores DuckDB's default. Extra keyword arguments
    are DuckDB settings passed through (e.g. ``max_temp_directory_size="200GB"``).

    Raises:
        SpecError: a setting has the wrong type.
    """
    global _config
    cfg = get_config()
    changes: dict[str, Any] = {}
    if memory_limit is not _UNSET:
        if memory_limit is not None and not isinstance(memory_limit, str):
            raise SpecError(f"memory_limit must be a size such as '4GB', got {memory_limit!r}")
        changes["memory_limit"] = memory_limit
    if temp_directory is not _UNSET:
        changes["temp_directory"] = None if temp_directory is None else os.fspath(temp_directory)
    if threads is not _UNSET:
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise SpecError(f"threads must be a positive integer, got {threads!r}")
        changes["threads"] = threads
    if progress is not _UNSET:
        if progress not in (True, False, "auto"):
            raise SpecError(f"progress must be True, False or 'auto', got {progress!r}")
        changes["progress"] = progress
    if settings:
        changes["settings"] = {**cfg.settings, **settings}
    _configured.update(changes)
    _config = replace(cfg, **changes)
    return _config


def connect(**overrides: Any) -> BaseBackend:
    """A fresh in-process DuckDB connection through Ibis, with abkit's engine settings.

    Keyword arguments override settings for this connection only (DuckDB names:
    ``memory_limit="4GB"``, ``temp_directory="/big/disk"``, ``threads=2`` …).
    """
    import ibis

    quiet_known_warnings()
    cfg = get_config()
    settings = {**cfg.duckdb_settings(), **overrides}
    progress = settings.pop("progress", cfg.progress)
    spill = settings.get("temp_directory")
    private = None
    if spill and cfg.temp_directory is None and "temp_directory" not in overrides:
        # the default folder: each connection spills into a folder of its own inside it (two
        # DuckDB databases sharing one temp directory overwrite each other's spill files)
        private = settings["temp_directory"] = connection_spill_directory(spill)
    elif spill:
        Path(spill).mkdir(parents=True, exist_ok=True)
    try:
        con = ibis.duckdb.connect(**settings)
    except Exception as exc:
        if "memory" not in str(exc).lower():
            raise
        # the only setting DuckDB parses itself: name where it came from and the form it takes
        where = (
            "ABKIT_MEMORY_LIMIT"
            if "memory_limit" not in overrides and _config_from_env("memory_limit")
            else "memory_limit"
        )
        raise SpecError(
            f"{where}={settings.get('memory_limit')!r} is not a memory size ({first_line(exc)}); "
            "give a number with a unit, e.g. 4GB or 512MB"
        ) from None
    # a per-connection setting: DuckDB draws the bar for queries running over two seconds
    flag = "true" if show_progress(progress) else "false"
    # DuckDB refuses any change inside Jupyter without ipywidgets; keep its default there
    with contextlib.suppress(Exception):
        con.raw_sql(f"SET enable_progress_bar = {flag}")
    if private is not None:  # removed with the connection (or at exit)
        weakref.finalize(con, shutil.rmtree, private, True)
    return con


_local = threading.local()


def shared_connection() -> BaseBackend:
    """abkit's DuckDB connection for analyses of in-memory tables, made once and reused.

    Opening a DuckDB connection costs about 20 ms, as much as analysing a few thousand units;
    one is kept per thread (a DuckDB connection is not for concurrent use), per process and per
    engine settings (:func:`configure` makes a new one), and made by :func:`connect` as it is
    now (a replaced ``connect`` makes a new one too). Queries on it register the in-memory
    tables they read for their own duration only (:func:`execute`, :func:`bound_tables`), so
    nothing of the data stays pinned by the connection between analyses.
    """
    cfg = get_config()
    key = (os.getpid(), cfg, connect)
    held = getattr(_local, "held", None)
    if held is None or held[0] != key:
        held = (key, connect())
        _local.held = held
    quiet_known_warnings()
    con: BaseBackend = held[1]
    return con


def is_shared(con: Any) -> bool:
    """Whether ``con`` is this thread's :func:`shared_connection`."""
    held = getattr(_local, "held", None)
    return held is not None and held[1] is con


def resolve_backend(con: Any) -> BaseBackend | None:
    """An Ibis backend from what a user passed as ``con=``.

    Accepts an Ibis backend, a PySpark ``SparkSession`` or a ``duckdb.DuckDBPyConnection``.

    Raises:
        SpecError: ``con`` is something else.
    """
    if con is None:
        return None
    from ibis.backends import BaseBackend

    if isinstance(con, BaseBackend):
        return con
    mod = type(con).__module__
    if mod.startswith("pyspark") and type(con).__name__ == "SparkSession":
        return spark_backend(con)
    if "duckdb" in mod and type(con).__name__ == "DuckDBPyConnection":
        import ibis

        return ibis.duckdb.from_connection(con)
    raise SpecError(
        f"con= must be an Ibis backend, a SparkSession or a DuckDB connection, got "
        f"{type(con).__name__}"
    )


_SPARK: dict[int, Any] = {}


def spark_backend(session: Any) -> BaseBackend:
    """The Ibis PySpark backend over ``session`` (one per session)."""
    import ibis

    key = id(session)
    if key not in _SPARK:
        _SPARK[key] = ibis.pyspark.connect(session)
    return _SPARK[key]


def quiet_known_warnings() -> None:
    """Silence third-party warnings that are known to be harmless for abkit's use.

    Ibis 12 reads pandas' deprecated ``future.infer_string`` option on every pandas conversion,
    which pandas 3 answers with a ``Pandas4Warning``; it would print on every analysis.
    """
    import warnings

    warnings.filterwarnings("ignore", message="The 'future.infer_string' option is deprecated")


def is_spark_frame(obj: Any) -> TypeGuard[SparkDataFrame]:
    mod = type(obj).__module__
    return mod.startswith("pyspark.sql") and type(obj).__name__ == "DataFrame"


def backend_of(*tables: Any) -> BaseBackend | None:
    """The backend of the first Ibis table among ``tables`` that is bound to one, else None."""
    import ibis.expr.types as ir

    for t in tables:
        if is_spark_frame(t):
            return spark_backend(t.sparkSession)
        if isinstance(t, ir.Table):
            try:
                return t._find_backend(use_default=False)
            except Exception:  # an unbound table (memtable): any backend can run it
                continue
    return None


def foreign_errors() -> tuple[type[BaseException], ...]:
    """The exceptions of the engines and file readers abkit translates into a DataError.

    DuckDB, Ibis, Arrow, Spark (and the JVM bridge under it) and the operating system raise
    these on data they cannot run or read; anything else raised inside an analysis is a bug of
    abkit's and must surface as it is, not relabelled as bad data.
    """
    import duckdb
    import ibis.common.exceptions as ie
    import pyarrow as pa

    # Ibis errors that say the backend cannot do something (not the relation mix-ups and type
    # errors of an expression abkit built wrongly: those are abkit's bugs)
    ibis_says_no = (
        ie.TableNotFound,
        ie.OperationNotDefinedError,
        ie.UnsupportedOperationError,
        ie.UnsupportedBackendType,
        ie.TranslationError,
        ie.BackendConversionError,
    )
    found: list[type[BaseException]] = [duckdb.Error, *ibis_says_no, pa.ArrowException, OSError]
    for module, name in (
        ("pyspark.errors", "PySparkException"),
        ("py4j.protocol", "Py4JError"),
    ):
        if module.split(".")[0] in sys.modules:  # only when the user's data came from Spark
            with contextlib.suppress(ImportError, AttributeError):
                found.append(getattr(importlib.import_module(module), name))
    return tuple(found)


@contextlib.contextmanager
def engine_errors_as_data_errors(what: str = "the analysis") -> Iterator[None]:
    """Re-raise the engines' and file readers' errors (:func:`foreign_errors`) as a DataError
    that says what failed in one line; any other exception passes through unchanged."""
    try:
        yield
    except foreign_errors() as exc:
        fix = known_cause(exc)
        if fix is not None:
            raise DataError(fix) from None
        raise DataError(
            f"the engine could not run {what}: {type(exc).__name__}: {first_line(exc)}"
        ) from exc


def execute(expr: ir.Expr, con: BaseBackend) -> Any:
    """Run ``expr`` on ``con``: a pandas frame for a table, a Python value for a scalar.

    Every query abkit runs goes through here (or :func:`execute_with_sql`), on the backend the
    analysis resolved, so the engine settings (:func:`configure`) hold for all of them. On the
    :func:`shared_connection` the query's in-memory tables are registered for this query only
    (Ibis would keep them registered, and their data alive, as long as the connection lives);
    the SQL, and the conversion of its result, are Ibis' own.
    """
    tables = in_memory_tables(expr, con) if is_shared(con) else None
    if tables is None:
        return con.execute(expr)
    table = expr.as_table()
    con._register_udfs(table)
    sql = con.compile(table)
    with bound_tables(con, tables):
        frame = run_sql(con, sql, table.schema())
    return expr.__pandas_result__(frame)


#: the data of in-memory tables that can be registered again and again (a frame, not a stream)
_REREADABLE = ("PandasDataFrameProxy", "PyArrowTableProxy")


def in_memory_tables(expr: ir.Expr, con: BaseBackend) -> dict[str, ops.InMemoryTable] | None:
    """The in-memory tables ``expr`` reads that Ibis has not registered on ``con``, by name;
    None if one of them holds data that cannot be registered more than once."""
    import ibis.expr.operations as ops

    known = getattr(con, "_memtables", ())
    found = [m for m in expr.op().find(ops.InMemoryTable) if m not in known]
    if not all(rereadable(m) for m in found):
        return None
    return {m.name: m for m in found}


def rereadable(op: ops.InMemoryTable) -> bool:
    """Whether ``op``'s data can be registered on a connection more than once."""
    return type(op.data).__name__ in _REREADABLE


@contextlib.contextmanager
def bound_tables(con: BaseBackend, tables: Mapping[str, ops.InMemoryTable]) -> Iterator[None]:
    """Register the data of in-memory tables on DuckDB backend ``con`` under the given names,
    for the duration of the block (as Ibis registers a memtable, but then unregistered)."""
    raw = con.con
    done: list[str] = []
    try:
        for name, op in tables.items():
            raw.register(name, _arrow_data(op))
            done.append(name)
        yield
    finally:
        for name in done:
            with contextlib.suppress(Exception):  # a connection closed meanwhile
                raw.unregister(name)


#: Arrow data of in-memory tables converted from pandas, by table (while the table lives)
_ARROW: dict[int, tuple[Any, Any]] = {}
#: frames up to this many rows keep their Arrow copy for the next query of the same table
ARROW_KEEP_ROWS = 1_000_000


def _arrow_data(op: ops.InMemoryTable) -> Any:
    """The Arrow data Ibis registers for an in-memory table (so the engine reads the same values).

    A pandas frame is converted as Ibis converts it, but on one thread: for the small frames
    this is about, Arrow's thread pool costs more than it saves (it starts threads per call).
    An analysis runs a few queries on one table (the span of the events log, the analysis): a
    frame of up to :data:`ARROW_KEEP_ROWS` rows is converted once and its Arrow copy kept
    while the table lives.
    """
    import weakref

    kept = _ARROW.get(id(op))
    if kept is not None and kept[0]() is op:
        return kept[1]
    out = _convert_arrow(op)
    if getattr(out, "num_rows", ARROW_KEEP_ROWS + 1) <= ARROW_KEEP_ROWS:
        key = id(op)
        _ARROW[key] = (weakref.ref(op, lambda _: _ARROW.pop(key, None)), out)
    return out


def _convert_arrow(op: ops.InMemoryTable) -> Any:
    data = op.data
    if type(data).__name__ == "PandasDataFrameProxy" and hasattr(data, "to_frame"):
        import pyarrow as pa
        from ibis.formats.pyarrow import PyArrowSchema

        frame = data.to_frame()
        if not any(dtype.is_decimal() for dtype in op.schema.types):  # else: Ibis' own way
            return pa.Table.from_pandas(
                frame, schema=PyArrowSchema.from_ibis(op.schema), nthreads=1
            )
    try:
        return data.to_pyarrow_dataset(op.schema)
    except AttributeError:
        return data.to_pyarrow(op.schema)


def compile_sql(expr: ir.Expr, con: BaseBackend, *, inline_ctes: bool) -> str:
    """The DuckDB SQL text of ``expr`` as :func:`execute_with_sql` runs it (``inline_ctes``) or
    as ``ibis.to_sql`` prints it (without)."""
    query = con.compiler.to_sqlglot(expr)
    if inline_ctes:
        _inline_projection_ctes(query)
    sql: str = query.sql(dialect=con.dialect, pretty=True, copy=False)
    return sql


def execute_with_sql(expr: ir.Table, con: BaseBackend) -> tuple[pd.DataFrame, str | None]:
    """Run ``expr`` on ``con``; also return its SQL text (None if the backend cannot print it).

    On DuckDB the query is compiled once and that text is run: compiling a large analysis
    query costs a noticeable part of a second, and the SQL is kept on the result anyway.
    """
    import ibis

    if con.name == "duckdb":
        shared = is_shared(con)
        try:
            if not shared:
                con._run_pre_execute_hooks(expr)  # registers memtables
            sql = compile_sql(expr, con, inline_ctes=True)
        except Exception:  # an Ibis without these internals: compile twice, as elsewhere
            pass
        else:
            tables = in_memory_tables(expr, con) if shared else None
            if tables is None:
                if shared:
                    con._run_pre_execute_hooks(expr)  # registered as Ibis does it
                return run_sql(con, sql, expr.schema()), sql
            con._register_udfs(expr)
            with bound_tables(con, tables):
                return run_sql(con, sql, expr.schema()), sql
    frame = execute(expr, con)
    try:
        return frame, str(ibis.to_sql(expr, dialect=con.name))
    except Exception:  # some backends cannot print SQL for memtables; the analysis still ran
        return frame, None


def _inline_projection_ctes(query: Any) -> None:
    """Mark the CTEs that only project rows of one stored table ``NOT MATERIALIZED`` (in place).

    Ibis names every subexpression used twice as a CTE, and DuckDB materialises such CTEs: for
    the exposure log's column projection, read both by the per-unit grouping and by the row
    counts, that held the whole projected log in memory (about 0.5 GB at 10M units, and the
    spilling that follows under a memory limit). Reading the file twice is cheaper, and gives
    the same rows only when the body is deterministic: a CTE is inlined only if it selects from
    one stored table (not another CTE or a subquery) with no aggregate, window, join, sample,
    limit, random or uuid function, or function unknown to sqlglot. Others keep DuckDB's choice.
    """
    from sqlglot import exp

    names = {cte.alias for cte in query.find_all(exp.CTE)}
    unsafe = (
        exp.AggFunc, exp.Window, exp.Join, exp.Subquery, exp.Rand, exp.Uuid,
        exp.TableSample, exp.Limit, exp.Offset, exp.Anonymous,
    )  # fmt: skip
    for cte in query.find_all(exp.CTE):
        body = cte.this
        if not isinstance(body, exp.Select) or body.args.get("group") or body.find(*unsafe):
            continue
        sources = list(body.find_all(exp.Table))
        if len(sources) == 1 and sources[0].name not in names:
            cte.set("materialized", False)


def fetch_row(con: BaseBackend, sql: str) -> dict[str, Any]:
    """The first row of DuckDB SQL ``sql`` as Python values by column (for counts: no frame)."""
    rel = con.con.sql(sql)
    row = rel.fetchone()
    return dict(
        zip(rel.columns, row if row is not None else (None,) * len(rel.columns), strict=True)
    )


def fetch_instant(con: BaseBackend, sql: str) -> Any:
    """The first value of DuckDB SQL ``sql`` returning one timestamp: a pandas Timestamp (its
    zone the connection's) or NaT."""
    column = con.con.sql(sql).to_arrow_table().column(0)
    return column.to_pandas().iloc[0] if len(column) else None


def run_sql(con: BaseBackend, sql: str, schema: sch.Schema) -> pd.DataFrame:
    """The pandas frame of DuckDB SQL ``sql`` with ``schema``, as Ibis' ``execute`` makes it:
    ``DuckDBPandasData.convert_table`` of the frame of the result's columns (nested, encoded or
    with nulls as Python objects) — here column by column, and plain numbers from Arrow."""
    import pandas as pd
    from ibis.backends.duckdb.converter import DuckDBPandasData

    table = con.con.sql(sql).to_arrow_table()
    pairs = list(zip(table.column_names, table.columns, strict=True))
    if tuple(table.column_names) != schema.names or any(t.is_geospatial() for t in schema.types):
        df = pd.DataFrame({name: _raw(name, col) for name, col in pairs})
        frame: pd.DataFrame = DuckDBPandasData.convert_table(df, schema)  # its error, or geometry
        return frame
    columns = {}
    for (name, col), dtype in zip(pairs, schema.types, strict=True):
        plain = _plain_column(name, col, dtype)
        columns[name] = (
            plain if plain is not None else DuckDBPandasData.convert_column(_raw(name, col), dtype)
        )
    return pd.DataFrame(columns)


def _raw(name: str, col: Any) -> pd.Series:
    import pandas as pd
    import pyarrow.types as pat

    if pat.is_nested(col.type) or pat.is_dictionary(col.type) or col.null_count:
        return pd.Series(col.to_pylist(), name=name)
    return col.to_pandas().rename(name)


def _plain_column(name: str, col: Any, dtype: Any) -> pd.Series | None:
    """What Ibis' conversion makes of a column of numbers without nulls: those of the target's
    NumPy type as they are, other ints NumPy-cast (``Series.astype``), DuckDB's exact integer
    sums (decimals of scale 0) the same whole numbers as int64; None: another column."""
    if col.null_count or not (dtype.is_integer() or dtype.is_floating()):
        return None
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.types as pat
    from ibis.formats.pandas import PandasType

    target, kind = PandasType.from_ibis(dtype), col.type
    if (pat.is_integer(kind) or pat.is_floating(kind)) and kind.to_pandas_dtype() == target:
        return pd.Series(col.to_numpy(), name=name)
    if pat.is_integer(kind) or (pat.is_floating(kind) and dtype.is_floating()):
        return pd.Series(col.to_numpy().astype(target), name=name)
    if pat.is_decimal(kind) and kind.scale == 0 and target == np.int64:
        with contextlib.suppress(pa.ArrowInvalid):  # out of range: Ibis keeps the Decimals
            return pd.Series(col.cast(pa.int64()).to_numpy(), name=name)
    return None
