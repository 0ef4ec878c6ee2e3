"""Sums that do not depend on the order of the rows: the same inputs give the same bytes.

A floating-point sum depends on the order of its terms (``(a + b) + c`` and ``a + (b + c)``
differ in the last bits), and an engine sums in whatever order its threads and the input hand
it the rows: two runs of the same analysis of revenue gave ``summary.json`` files that differed
in the 16th digit. Every sum of possibly fractional values in the analysis query is therefore
taken in exact fixed-point arithmetic: each value is rounded once to :data:`SCALE` decimal
places (``DECIMAL(38, 12)``, a 128-bit integer), the integers are added — exactly, so in any
order — and the total is read back as a float. Sums of integers (counts, active days, 0/1
retention) are exact already and stay integer sums.

Values of magnitude :data:`EXACT_BELOW` or more (and infinities, NaN) are added as doubles
beside the exact part, so nothing overflows and nothing is refused: such sums are still right,
only not guaranteed to the last bit in every row order. :data:`EXACT_BELOW` = 1e15 keeps the
128-bit total far from overflow (1e11 rows of it stay below 1.7e26); for a mean, whose squares
are summed too, it means per-unit values below about 3e7. docs/scale.md says the same.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXACT_BELOW", "SCALE", "exact_parts", "exact_sum"]

#: decimal places every summed value is rounded to (once, per value, before adding)
SCALE = 12
#: values of this magnitude or more are added as doubles (see the module docstring)
EXACT_BELOW = 1e15


def exact_sum(x: Any, where: Any = None) -> Any:
    """``Σ x`` (over rows where ``where`` holds) that does not depend on the order of the rows.

    ``x`` is a numeric Ibis expression. An integer one is summed as it is; otherwise the result
    is float64: the exactly-added total of the values below :data:`EXACT_BELOW` in magnitude,
    rounded to :data:`SCALE` places, converted to the nearest double, plus the double sum of
    the others (0 when there are none; NaN or ±inf as a plain sum would give).
    """
    import ibis
    import ibis.expr.datatypes as dt

    if x.type().is_integer():
        return x.sum(where=where)  # exact already (and cheaper)
    small = x.abs() < EXACT_BELOW  # false for NaN and ±inf
    exact = ibis.ifelse(small, x, 0.0).cast(dt.Decimal(38, SCALE)).sum(where=where)
    rest = ibis.ifelse(small, 0.0, x).sum(where=where)
    return exact.cast("float64") + rest


def exact_parts(total: Any) -> tuple[Any, Any] | None:
    """The two sums of an :func:`exact_sum` of floats — the fixed-point sum and the double sum
    of the huge values — or None for any other expression (an integer sum included).

    Grouped rows of disjoint sets of units add up exactly in these parts, not in their double
    total (the incremental refresh's settled units, :func:`abkit.query.plan.merge_frames`).
    """
    import ibis.expr.operations as ops

    op = total.op()
    if not isinstance(op, ops.Add):
        return None
    left, right = op.left, op.right
    if not (isinstance(left, ops.Cast) and isinstance(left.arg, ops.Sum)):
        return None
    if not (left.arg.dtype.is_decimal() and isinstance(right, ops.Sum)):
        return None
    return left.arg.to_expr(), right.to_expr()
