"""The loader's expressions, built once per shape of in-memory inputs and reused.

Loading (:func:`abkit.data.logs.prepare_logs`, :func:`~abkit.data.logs.prepare_units`) renames,
casts and checks columns: Ibis expressions that depend on the inputs' schemas and the loader's
options alone — unless a check must read the data (floating-point ids, naive times in a zone
with clock changes, a time column of another type). Building them costs a few milliseconds, as
much as the rest of a small analysis' Python. So for in-memory tables (pandas, Arrow) the loader
runs once per (schemas, options) on placeholder tables, with a stand-in backend that runs no
query; a later load of the same shape puts its own tables in the kept expressions' place: the
expressions a direct load builds (``tests/test_small_fast.py`` compares them). A shape whose
loading needed the data is remembered as such and loads the direct way, as does every input
that is not in memory, every load whose placeholder run raised (the direct load then raises the
same error in its own words), and everything while the query plans are off
(``abkit.query.cache.PLANS.enabled``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from abkit.query import cache

if TYPE_CHECKING:
    import ibis.expr.operations as ops
    import ibis.expr.types as ir

__all__ = ["SHAPES", "reuse", "swap"]

T = TypeVar("T")


class _NeedsData(Exception):
    """A loader step asked the stand-in backend for something: it reads the data."""


class _NoQueries:
    """The stand-in backend of a placeholder load: it has a name, and runs nothing."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        raise _NeedsData(attr)


@dataclass(frozen=True, slots=True)
class Shape:
    """What the loader made of placeholder tables (``holes``, None for an absent input)."""

    holes: tuple[ops.UnboundTable | None, ...]
    made: Any


class ShapeCache:
    """Loads by shape, at most ``maxsize`` of them, least recently used first out; a shape whose
    load needs the data is kept as None."""

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self.hits = 0
        self._shapes: OrderedDict[Hashable, Shape | None] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, key: Hashable) -> tuple[bool, Shape | None]:
        with self._lock:
            if key not in self._shapes:
                return False, None
            self._shapes.move_to_end(key)
            self.hits += 1
            return True, self._shapes[key]

    def keep(self, key: Hashable, shape: Shape | None) -> None:
        with self._lock:
            self._shapes[key] = shape
            self._shapes.move_to_end(key)
            while len(self._shapes) > self.maxsize:
                self._shapes.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._shapes.clear()
            self.hits = 0

    def __len__(self) -> int:
        return len(self._shapes)


#: the loads of this process
SHAPES = ShapeCache()


def reuse(
    step: str,
    key: Hashable,
    tables: Sequence[ir.Table | None],
    backend: str,
    load: Callable[[Any, tuple[ir.Table | None, ...]], T],
) -> tuple[T, dict[ops.Node, ops.Node]] | None:
    """What ``load(con, tables)`` made of placeholders of ``tables``' shape, and the
    substitution that puts ``tables`` in their place (:func:`swap`); None: load directly.

    ``tables``: in-memory tables as :func:`abkit.data.load.load_table` made them (None for an
    absent input); ``key``: the loader's options (hashable); ``load`` may read only its
    arguments and what ``key`` holds.
    """
    import ibis.expr.operations as ops

    if not cache.PLANS.enabled:
        return None
    leaves = tuple(None if t is None else t.op() for t in tables)
    if not all(o is None or isinstance(o, ops.InMemoryTable) for o in leaves):
        return None
    full = (step, backend, key, tuple(None if o is None else o.schema for o in leaves))
    try:
        hash(full)
    except TypeError:  # an option that cannot be a key: no reuse
        return None
    known, shape = SHAPES.lookup(full)
    if not known:
        # the placeholders a query runner would make of these tables: it can take the loaded
        # expressions as they are (abkit.query.cache.remember)
        holes = tuple(
            None if o is None else cache.placeholder(i, o.schema) for i, o in enumerate(leaves)
        )
        try:
            made = load(
                _NoQueries(backend), tuple(None if h is None else h.to_expr() for h in holes)
            )
        except _NeedsData:
            shape = None
        except Exception:  # the direct load raises it, in its own words
            return None
        else:
            shape = Shape(holes, made)
        SHAPES.keep(full, shape)
    if shape is None:
        return None
    subst: dict[ops.Node, ops.Node] = {
        h: o for h, o in zip(shape.holes, leaves, strict=True) if h is not None and o is not None
    }
    return shape.made, subst


def swap(expr: ir.Table, subst: dict[ops.Node, ops.Node]) -> ir.Table:
    """``expr`` with the placeholders of ``subst`` replaced by their tables (noted for the query
    runner when it reads one of them)."""
    import ibis.expr.operations as ops

    out: ir.Table = expr.op().replace(subst).to_expr()
    holes = [h for h in expr.op().find(ops.UnboundTable) if h in subst]
    if len(holes) == 1:
        cache.remember(out, expr, holes[0], subst[holes[0]])
    return out
