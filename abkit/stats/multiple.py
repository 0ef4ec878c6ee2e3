"""Multiple-comparison corrections (statsmodels ``multipletests`` underneath).

Methods: ``"holm"`` (default; computed directly, identical to statsmodels), ``"hochberg"``,
``"bonferroni"`` (family-wise error rate), ``"fdr_bh"`` (Benjamini–Hochberg) and ``"fdr_by"``
(Benjamini–Yekutieli) for the false-discovery rate. A designated ``primary`` metric can be left
uncorrected: it is tested at ``alpha`` on its own and the correction runs over the remaining
p-values. Missing p-values (``None``) stay ``None`` and are not counted as tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from abkit.errors import StatsError
from abkit.stats._common import check_alpha, check_choice

__all__ = ["MULTITEST_METHODS", "MultipleTestingResult", "adjust_pvalues"]

MULTITEST_METHODS: tuple[str, ...] = ("holm", "hochberg", "bonferroni", "fdr_bh", "fdr_by")
_SM_METHOD = {m: m for m in MULTITEST_METHODS} | {"hochberg": "simes-hochberg"}


@dataclass(frozen=True, slots=True)
class MultipleTestingResult:
    """Adjusted p-values and decisions, in the order of the input."""

    names: tuple[str, ...]
    pvalues: tuple[float | None, ...]
    adjusted: tuple[float | None, ...]
    reject: tuple[bool, ...]
    method: str
    alpha: float
    primary: str | None = None


def _holm(p: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    # Holm's step-down procedure, computed directly because statsmodels 0.15's
    # multipletests(method="holm") takes ~50 ms per call. Adjusted p-values
    # max_{j<=i} min(1, (m - j + 1) p_(j)); decisions from the raw p-values against alpha / (m - j + 1)
    # up to the first non-rejection, exactly as statsmodels decides (comparing the adjusted
    # values with alpha can differ by a rounding unit at the boundary). Tests compare the two.
    order = np.argsort(p, kind="stable")
    m = p.size
    ps = p[order]
    factor = m - np.arange(m)
    adjusted = np.minimum(1.0, np.maximum.accumulate(factor * ps))
    fails = np.nonzero(ps > alpha / factor)[0]
    reject = np.arange(m) < (fails[0] if fails.size else m)
    return _unsort(order, adjusted), _unsort(order, reject)


def _bh(p: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    # Benjamini-Hochberg step-up procedure, as statsmodels' multipletests(method="fdr_bh")
    # computes it, without its import: adjusted min_{j>=i} min(1, p_(j) / (j / m)); rejected up
    # to the largest j with p_(j) <= alpha j / m. Tests compare the two, boundary cases included.
    order = np.argsort(p, kind="stable")
    m = p.size
    ps = p[order]
    ecdf = np.arange(1, m + 1) / m
    adjusted = np.minimum(1.0, np.minimum.accumulate((ps / ecdf)[::-1])[::-1])
    passes = np.nonzero(ps <= ecdf * alpha)[0]
    reject = np.arange(m) <= (passes[-1] if passes.size else -1)
    return _unsort(order, adjusted), _unsort(order, reject)


def _unsort(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    out[order] = values
    return out


_DIRECT = {"holm": _holm, "fdr_bh": _bh}


def adjust_pvalues(
    pvalues: Sequence[float | None],
    *,
    method: str = "holm",
    alpha: float = 0.05,
    names: Sequence[str] | None = None,
    primary: int | str | None = None,
) -> MultipleTestingResult:
    """Adjust p-values for multiple comparisons.

    Args:
        pvalues: raw p-values (``None`` for tests that could not be computed).
        method: "holm", "hochberg", "bonferroni", "fdr_bh" or "fdr_by".
        alpha: family-wise error rate or false-discovery rate.
        names: labels (default ``"0"``, ``"1"``, …).
        primary: index or name of a primary metric to leave uncorrected.

    Returns:
        A :class:`MultipleTestingResult`.

    Raises:
        StatsError: p-values outside [0, 1] or NaN, unknown ``method`` or ``primary``, bad
            ``alpha``, length mismatch.

    Example:
        >>> r = adjust_pvalues([0.01, 0.04, 0.03], method="holm")
        >>> [round(p, 2) for p in r.adjusted], r.reject
        ([0.03, 0.06, 0.06], (True, False, False))
    """
    method = check_choice(method, "method", MULTITEST_METHODS)
    alpha = check_alpha(alpha)
    raw: list[float | None] = []
    for i, p in enumerate(pvalues):  # decisions follow statsmodels: reject when p_adj <= alpha
        if p is None:
            raw.append(None)
            continue
        value = float(p)
        if not (0.0 <= value <= 1.0):
            raise StatsError(f"pvalues[{i}] = {p!r} is not a probability in [0, 1].")
        raw.append(value)
    labels = tuple(str(n) for n in names) if names is not None else tuple(map(str, range(len(raw))))
    if len(labels) != len(raw):
        raise StatsError(f"names has {len(labels)} entries but pvalues has {len(raw)}.")
    primary_index: int | None = None
    if primary is not None:
        if isinstance(primary, str):
            if primary not in labels:
                raise StatsError(f"primary {primary!r} is not one of names {list(labels)}.")
            primary_index = labels.index(primary)
        else:
            if not 0 <= int(primary) < len(raw):
                raise StatsError(
                    f"primary index {primary} is out of range for {len(raw)} p-values."
                )
            primary_index = int(primary)
    adjusted: list[float | None] = list(raw)
    decisions = [False] * len(raw)
    idx = [i for i, p in enumerate(raw) if p is not None and i != primary_index]
    if idx:
        values = np.array([raw[i] for i in idx], dtype=float)
        if method in _DIRECT:
            corrected, rejected = _DIRECT[method](values, alpha)
        else:
            from statsmodels.stats.multitest import multipletests  # ~1 s import: on first use

            rejected, corrected, _, _ = multipletests(
                values, alpha=alpha, method=_SM_METHOD[method]
            )
        for i, value, rej in zip(idx, corrected, rejected, strict=True):
            adjusted[i] = float(value)
            decisions[i] = bool(rej)
    if primary_index is not None:
        p0 = raw[primary_index]
        decisions[primary_index] = p0 is not None and p0 <= alpha
    reject = tuple(decisions)
    return MultipleTestingResult(
        names=labels,
        pvalues=tuple(raw),
        adjusted=tuple(adjusted),
        reject=reject,
        method=method,
        alpha=alpha,
        primary=labels[primary_index] if primary_index is not None else None,
    )
