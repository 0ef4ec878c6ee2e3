"""Compiled queries, reused: an analysis of in-memory tables builds and compiles its SQL once.

Building an analysis query with Ibis and compiling it to SQL costs 20-200 ms, far more than
DuckDB needs to run it on a few thousand units, and a notebook that simulates, bootstraps or
loops over segments pays it on every call. The SQL depends only on the *shape* of the inputs —
their schemas and what the loader did to them (renames, casts) — and on the options, not on the
data. So a :class:`Runner` over in-memory tables on DuckDB replaces each of them by a placeholder
table of the same schema, builds and compiles every query on the placeholders once, and keeps
the SQL text (bounded, least recently used first out: :data:`PLANS`) under the key

    (query step, backend, the placeholder expressions, the caller's options key, CTE mode);

the placeholder expressions compare equal exactly when the schemas (names and types) and every
operation on them are equal. A later analysis with the same key registers its own tables under
fresh names (:func:`abkit.engine.bound_tables`, for the runner's duration only), substitutes
them into the SQL and runs it: the text a fresh compile gives, so the same numbers.

``as_of``, a literal of the analysis query, is a parameter as well: the query is compiled with a
sentinel instant and the literal's text replaced by the actual one's. A plan whose SQL shows the
sentinel in any other form (or a placeholder name left over) is not reused that way: it is kept
per ``as_of`` (or, for the names, every query of it runs the direct way).

Anything else runs the direct way, as before: other backends, tables read from files or bound
to a backend, and every query while ``PLANS.enabled`` is False (``ABKIT_PLAN_CACHE=0`` in the
environment sets it so at import).

The rule for callers: ``build`` may read only its table arguments (and ``as_of``) and values
that are part of ``key``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import secrets
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from abkit import engine
from abkit.query.plan import StatsQuery

if TYPE_CHECKING:
    import ibis.expr.operations as ops
    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends import BaseBackend

    from abkit.metrics import Metric

__all__ = [
    "PLANS",
    "PlanCache",
    "Runner",
    "execute",
    "execute_instant",
    "execute_row",
    "execute_with_sql",
    "metrics_key",
    "runner",
]

#: prefix of the placeholder tables' names (random per process: no user text can spell it)
_TOKEN = f"abkit_placeholder_{secrets.token_hex(6)}_"
#: the instant a query is compiled with when ``as_of`` is a parameter, and the digits that must
#: not appear in its SQL once the literal's text is taken out (the literal in another form)
_SENTINEL = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
_SENTINEL_MARKS = ("789012", "2001")


@dataclass(frozen=True, slots=True)
class Plan:
    """A query built and compiled on placeholder tables.

    ``built``: what the builder returned (a :class:`~abkit.query.plan.StatsQuery` or an
    expression); ``sql``: its text on the placeholder names; ``as_of_text``: the sentinel
    literal's text in ``sql``, to replace (None: no ``as_of`` in it); ``reusable``: False when
    the text cannot be reused safely (then the query runs the direct way).
    """

    built: Any
    expr: ir.Expr
    sql: str
    as_of_text: str | None
    reusable: bool


class PlanCache:
    """Compiled plans by key, at most ``maxsize`` of them, least recently used first out."""

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        #: False: every query is built and compiled as if nothing were cached
        self.enabled = True
        self.hits = 0
        self.misses = 0
        self._plans: OrderedDict[Hashable, Plan] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Plan]) -> Plan:
        """The plan under ``key``, made by ``make`` (and kept) when there is none."""
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                self.hits += 1
                return plan
        plan = make()  # outside the lock: building may take a while, or raise (nothing kept)
        with self._lock:
            self.misses += 1
            self._plans[key] = plan
            self._plans.move_to_end(key)
            while len(self._plans) > self.maxsize:
                self._plans.popitem(last=False)
        return plan

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._plans)


#: the plans of this process
PLANS = PlanCache()
PLANS.enabled = os.environ.get("ABKIT_PLAN_CACHE", "1").strip().lower() not in (
    "0",
    "false",
    "no",
    "off",
)


def placeholder(i: int, schema: Any) -> ops.UnboundTable:
    """The ``i``-th placeholder table a :class:`Runner` makes (for a table of ``schema``)."""
    import ibis.expr.operations as ops

    return ops.UnboundTable(name=f"{_TOKEN}{i}", schema=schema)


#: tables known to be a placeholder expression with its one placeholder replaced by an
#: in-memory table (:func:`remember`): the expression, the placeholder, the table
_ABSTRACT: weakref.WeakKeyDictionary[Any, tuple[Any, Any, Any]] = weakref.WeakKeyDictionary()


def remember(table: ir.Table, abstract: ir.Table, hole: ops.UnboundTable, leaf: Any) -> None:
    """Note that ``table`` is ``abstract`` with ``hole`` (:func:`placeholder`) replaced by the
    in-memory table ``leaf``: a runner over it then takes ``abstract`` as it is (while
    ``table`` lives) instead of searching ``table`` for its leaf and replacing it."""
    _ABSTRACT[table.op()] = (abstract.op(), hole, leaf)


def metrics_key(metrics: Sequence[Metric]) -> tuple[tuple[str, str], ...]:
    """A key part for ``metrics``: class and ``repr`` (every field; ``-0.0`` is not ``0.0``)."""
    return tuple((f"{type(m).__module__}.{type(m).__qualname__}", repr(m)) for m in metrics)


class Runner:
    """Runs the queries of one analysis over ``tables`` on ``con`` (see the module docstring).

    ``inputs`` holds the placeholder tables when plans are reused, None when every query runs
    the direct way.
    """

    def __init__(self, con: BaseBackend, tables: Sequence[ir.Table | None]) -> None:
        self.con = con
        self.tables = tuple(tables)
        self.inputs: tuple[ir.Table | None, ...] | None = None
        self._key: Hashable = None
        self._bindings: dict[str, ops.InMemoryTable] = {}
        self._names: dict[str, str] | None = None
        self._stack = contextlib.ExitStack()
        if PLANS.enabled and con.name == "duckdb" and hasattr(con, "con"):
            self._abstract()

    def _abstract(self) -> None:
        """Placeholders for the in-memory tables, when those are all the tables read."""
        import ibis.expr.operations as ops

        if self._remembered():
            return
        leaves: list[Any] = []
        for t in self.tables:
            if t is not None:
                leaves += t.op().find((ops.PhysicalTable, ops.SQLQueryResult, ops.SQLStringView))
        found = list(dict.fromkeys(leaves))
        if not found or not all(
            isinstance(m, ops.InMemoryTable) and engine.rereadable(m) for m in found
        ):
            return  # a table of a file or of a database: its contents may change under one name
        subst = {
            m: ops.UnboundTable(name=f"{_TOKEN}{i}", schema=m.schema) for i, m in enumerate(found)
        }
        self.inputs = tuple(
            None if t is None else t.op().replace(subst).to_expr() for t in self.tables
        )
        self._bindings = {p.name: m for m, p in subst.items()}
        self._key = (self.con.name, tuple(None if t is None else t.op() for t in self.inputs))

    def _remembered(self) -> bool:
        """Placeholders from :func:`remember`, when every table was noted there: the inputs
        :meth:`_abstract` would make (the same placeholders, in the same order), unsearched."""
        known = [None if t is None else _ABSTRACT.get(t.op()) for t in self.tables]
        pairs = [k[1:] for k in known if k is not None]
        if not pairs or len(pairs) != sum(t is not None for t in self.tables):
            return False
        if len({leaf for _, leaf in pairs}) != len(pairs) or not all(
            hole.name == f"{_TOKEN}{i}" and engine.rereadable(leaf)
            for i, (hole, leaf) in enumerate(pairs)
        ):
            return False
        self.inputs = tuple(None if k is None else k[0].to_expr() for k in known)
        self._bindings = {hole.name: leaf for hole, leaf in pairs}
        self._key = (self.con.name, tuple(None if t is None else t.op() for t in self.inputs))
        return True

    def close(self) -> None:
        """Unregister the tables registered for reused plans."""
        self._stack.close()

    def plan(
        self,
        step: str,
        key: Hashable,
        build: Callable[..., Any],
        as_of: datetime | None,
        inline: bool,
    ) -> Plan:
        """The plan of ``build`` for this runner's inputs (compiled now if not cached)."""
        base = (step, self._key, key, inline)
        if as_of is None:
            return PLANS.get(base, lambda: self._compile(build, None, inline))
        if as_of.tzinfo is UTC:
            plan = PLANS.get((*base, "as_of"), lambda: self._compile(build, _SENTINEL, inline))
            if plan.reusable:
                return plan
        return PLANS.get((*base, as_of), lambda: self._compile(build, as_of, inline))

    def _compile(self, build: Callable[..., Any], as_of: datetime | None, inline: bool) -> Plan:
        assert self.inputs is not None
        built = build(*self.inputs) if as_of is None else build(*self.inputs, as_of=as_of)
        expr = built.expr if isinstance(built, StatsQuery) else built
        sql = engine.compile_sql(expr.as_table(), self.con, inline_ctes=inline)
        rest = sql
        for name in self._bindings:
            rest = rest.replace(_quoted(name), "")
        reusable = _TOKEN not in rest and _reads_only(expr, set(self._bindings))
        as_of_text = None
        if as_of is _SENTINEL:
            as_of_text = _literal_sql(self.con, _SENTINEL)
            rest = rest.replace(as_of_text, "")
            reusable = reusable and not any(mark in rest for mark in _SENTINEL_MARKS)
        import ibis
        import ibis.expr.types as ir

        if isinstance(expr, ir.Table):  # keep the result's schema, not the query's graph
            light = ibis.table(expr.schema(), name="abkit_result")
            built = dataclasses.replace(built, expr=light) if expr is not built else light
            expr = light
        return Plan(built, expr, sql, as_of_text, reusable)

    def run(self, plan: Plan, as_of: datetime | None) -> tuple[pd.DataFrame, str]:
        """Run ``plan`` on this runner's tables: the frame (as DuckDB execution in
        :mod:`abkit.engine` makes it) and the SQL text run."""
        sql = self.render(plan, as_of)
        return engine.run_sql(self.con, sql, plan.expr.as_table().schema()), sql

    def render(self, plan: Plan, as_of: datetime | None) -> str:
        """``plan``'s SQL on this runner's tables (registered now if not yet) and ``as_of``."""
        if self._names is None:
            self._names = {p: f"abkit_input_{uuid.uuid4().hex}" for p in self._bindings}
            tables = {self._names[p]: m for p, m in self._bindings.items()}
            self._stack.enter_context(engine.bound_tables(self.con, tables))
        sql = plan.sql
        for p, name in self._names.items():
            sql = sql.replace(_quoted(p), _quoted(name))
        if plan.as_of_text is not None:
            assert as_of is not None
            sql = sql.replace(plan.as_of_text, _literal_sql(self.con, as_of))
        return sql


@contextlib.contextmanager
def runner(con: BaseBackend, tables: Sequence[ir.Table | None]) -> Iterator[Runner]:
    """A :class:`Runner` for the queries of one analysis; its tables unregistered at the end."""
    run = Runner(con, tables)
    try:
        yield run
    finally:
        run.close()


def execute(run: Runner, step: str, key: Hashable, build: Callable[..., Any]) -> Any:
    """``engine.execute(build(*run.tables), run.con)``, from a reused plan when possible."""
    if run.inputs is not None:
        plan = run.plan(step, key, build, None, inline=False)
        if plan.reusable:
            frame, _ = run.run(plan, None)
            return pandas_result(plan.expr, frame)
    return engine.execute(build(*run.tables), run.con)


def execute_row(run: Runner, step: str, key: Hashable, build: Callable[..., Any]) -> dict[str, Any]:
    """The first row of the table ``build`` makes, by column: Python values from a reused plan,
    the frame's values otherwise (for whole-number counts these are the same numbers)."""
    if run.inputs is not None:
        plan = run.plan(step, key, build, None, inline=False)
        if plan.reusable:
            return engine.fetch_row(run.con, run.render(plan, None))
    row: dict[str, Any] = engine.execute(build(*run.tables), run.con).iloc[0].to_dict()
    return row


def execute_instant(run: Runner, step: str, key: Hashable, build: Callable[..., Any]) -> Any:
    """The timestamp scalar ``build`` makes (a pandas Timestamp, or missing): the instant, not
    necessarily in the zone :func:`abkit.engine.execute` would give it."""
    if run.inputs is not None:
        plan = run.plan(step, key, build, None, inline=False)
        if plan.reusable:
            return engine.fetch_instant(run.con, run.render(plan, None))
    return engine.execute(build(*run.tables), run.con)


def execute_with_sql(
    run: Runner,
    step: str,
    key: Hashable,
    build: Callable[..., Any],
    *,
    as_of: datetime | None = None,
    inline_ctes: bool = True,
) -> tuple[pd.DataFrame, str | None, Any]:
    """Run the query ``build`` makes of the runner's tables (and ``as_of=``, if given).

    Returns the result frame, the SQL text (None if the backend cannot print it) and what
    ``build`` returned (on the placeholders when the plan was reused). ``inline_ctes``: run as
    :func:`abkit.engine.execute_with_sql` does (projection CTEs inlined; the analysis query),
    else as :func:`abkit.engine.execute` with the text of ``ibis.to_sql``.
    """
    if run.inputs is not None:
        plan = run.plan(step, key, build, as_of, inline_ctes)
        if plan.reusable:
            frame, sql = run.run(plan, as_of)
            if not inline_ctes:  # what Ibis' execute does after DuckDB's conversion
                frame = pandas_result(plan.expr, frame)
            return frame, sql, plan.built
    built = build(*run.tables) if as_of is None else build(*run.tables, as_of=as_of)
    expr = built.expr if isinstance(built, StatsQuery) else built
    if inline_ctes:
        frame, text = engine.execute_with_sql(expr, run.con)
        return frame, text, built
    return engine.execute(expr, run.con), _to_sql(expr, run.con), built


def pandas_result(expr: ir.Expr, frame: pd.DataFrame) -> Any:
    """``expr.__pandas_result__(frame)``, Ibis' conversion of DuckDB's frame; for a table whose
    columns are numbers or text already of its target's pandas dtype, the frame itself (the
    conversion would copy it into an equal frame)."""
    import ibis.expr.types as ir
    from ibis.formats.pandas import PandasType

    if isinstance(expr, ir.Table):
        schema = expr.schema()
        if schema.names == tuple(frame.columns) and all(
            (t.is_integer() or t.is_floating() or t.is_string())
            and frame[name].dtype == PandasType.from_ibis(t)
            for name, t in schema.items()
        ):
            return frame
    return expr.__pandas_result__(frame)


def _to_sql(expr: Any, con: Any) -> str | None:
    import ibis

    try:
        return str(ibis.to_sql(expr, dialect=con.name))
    except Exception:  # some backends cannot print SQL for memtables; the analysis still ran
        return None


def _quoted(name: str) -> str:
    return f'"{name}"'


def _reads_only(expr: ir.Expr, names: set[str]) -> bool:
    """Whether ``expr`` reads no table but the placeholders ``names`` and calls no Python UDF
    (those are registered per connection): then its SQL text is all there is to it."""
    import ibis.expr.operations as ops
    from ibis.expr.operations.udf import InputType

    op = expr.op()
    tables = op.find((ops.PhysicalTable, ops.SQLQueryResult, ops.SQLStringView))
    if not all(isinstance(t, ops.UnboundTable) and t.name in names for t in tables):
        return False
    udfs = op.find((ops.ScalarUDF, ops.AggUDF))
    return all(getattr(u, "__input_type__", None) is InputType.BUILTIN for u in udfs)


@functools.lru_cache(maxsize=256)
def _literal_text(backend: str, value: datetime) -> str:
    import ibis
    import ibis.backends.sql.compilers as sc

    compiler = getattr(sc, backend).compiler
    select = compiler.to_sqlglot(ibis.literal(value).name("v").as_table())
    text: str = select.expressions[0].this.sql(dialect=compiler.dialect)
    return text


def _literal_sql(con: BaseBackend, value: datetime) -> str:
    """The SQL text of ``ibis.literal(value)`` on ``con``'s dialect."""
    return _literal_text(str(con.name), value)
