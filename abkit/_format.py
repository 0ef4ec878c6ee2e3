"""Number formatting shared by results, plots and reports: one rule for every surface.

Rates in % and absolute lifts of rates in percentage points, both with two decimals (``20.70%``,
``+3.00 pp``, ``-0.01 pp``); relative lifts in % with one decimal (``+14.4%``); means and their
differences with 3 significant digits; p-values with 3 significant digits, ``< 0.0001`` below.

Example:
    >>> fmt_abs(0.03, "proportion"), fmt_abs(-0.0001, "proportion"), fmt_rel(-0.05), fmt_p(3e-6)
    ('+3.00 pp', '-0.01 pp', '-5.0%', '< 0.0001')
    >>> fmt_value(0.2071, "proportion"), fmt_abs(0.15, "mean"), fmt_abs(0.00004, "proportion")
    ('20.71%', '+0.15', '0.00 pp')
"""

from __future__ import annotations

import math

__all__ = ["fmt_abs", "fmt_p", "fmt_rel", "fmt_value", "p_clause"]


def _fmt(x: float | None, digits: int = 3) -> str:
    """3 significant digits (means, and anything without a unit)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def _fixed(x: float, decimals: int) -> str:
    """``x`` with a fixed number of decimals; infinities as ∞, NaN as –."""
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.{decimals}f}"


def _signed(s: str, x: float, signed: bool) -> str:
    return "+" + s if signed and x > 0 and not math.isinf(x) and not s.startswith("0.00") else s


def fmt_value(x: float | None, kind: str) -> str:
    """A metric value: proportions in % with two decimals, means with 3 significant digits."""
    if x is None:
        return "–"
    return f"{_fixed(100 * x, 2)}%" if kind == "proportion" else _fmt(x)


def fmt_abs(x: float | None, kind: str, signed: bool = True) -> str:
    """An absolute difference: of proportions in percentage points with two decimals
    (``+3.00 pp``, ``-0.01 pp``), of means with 3 significant digits."""
    if x is None:
        return "–"
    if kind == "proportion":
        return _signed(_fixed(100 * x, 2), x, signed) + " pp"
    return _signed(_fmt(x), x, signed)


def fmt_rel(x: float | None, signed: bool = True) -> str:
    """A relative difference in % with one decimal (``+14.4%``)."""
    if x is None:
        return "–"
    if math.isinf(x) or math.isnan(x):
        return _fmt(x)
    return _signed(_fixed(100 * x, 1), x, signed) + "%"


def fmt_p(p: float | None) -> str:
    """A p-value for a table cell: 3 significant digits, ``< 0.0001`` below that."""
    if p is None:
        return "–"
    return "< 0.0001" if p < 1e-4 else f"{p:.3g}"


def p_clause(p: float) -> str:
    """``p = 0.012`` or ``p < 0.0001`` for sentences."""
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.3g}"
