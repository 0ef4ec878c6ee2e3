"""Number formatting shared by results, plots and reports: one rule for every surface.

3 significant digits; proportions as %, absolute lifts of proportions in percentage points (pp),
relative lifts as %; p-values below 0.0001 as ``<0.0001``.

Example:
    >>> fmt_abs(0.0209, "proportion"), fmt_rel(-0.05), fmt_p(3e-6)
    ('+2.09 pp', '-5%', '<0.0001')
"""

from __future__ import annotations

import math

__all__ = ["fmt_abs", "fmt_p", "fmt_rel", "fmt_value", "p_clause"]


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def fmt_value(x: float | None, kind: str) -> str:
    """A metric value: proportions as %, means as 3 significant digits."""
    if x is None:
        return "–"
    return f"{_fmt(100 * x)}%" if kind == "proportion" else _fmt(x)


def fmt_abs(x: float | None, kind: str, signed: bool = True) -> str:
    """An absolute difference: proportions in percentage points."""
    if x is None:
        return "–"
    s = _fmt(100 * x if kind == "proportion" else x)
    if signed and x > 0 and not math.isinf(x):
        s = "+" + s
    return s + (" pp" if kind == "proportion" else "")


def fmt_rel(x: float | None, signed: bool = True) -> str:
    if x is None:
        return "–"
    s = _fmt(100 * x) + "%" if not math.isinf(x) else _fmt(x)
    return ("+" + s) if signed and x > 0 and not math.isinf(x) else s


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.0001" if p < 1e-4 else f"{p:.3g}"


def p_clause(p: float) -> str:
    """``p = 0.012`` or ``p < 0.0001`` for sentences."""
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.3g}"
