"""Pre-aggregated input: sufficient statistics computed elsewhere, checked against the frame
schema of :mod:`abkit.query.frame` and completed with its defaults."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from abkit.errors import DataError, SpecError
from abkit.query.frame import (
    CUPED_FIELDS,
    IMMATURE,
    MAX,
    MIN,
    MISSING,
    N_UNITS,
    RATIO_CUPED_FIELDS,
    SUM,
    SUMSQ,
    VARIANT,
    N,
    is_stat_col,
    required_stats,
    stat_col,
)
from abkit.query.values import quantile_capped

if TYPE_CHECKING:
    import pandas as pd

    from abkit.metrics import Metric

__all__ = ["validate_stats"]


def validate_stats(stats: Any, metrics: Sequence[Metric], segments: Sequence[str]) -> pd.DataFrame:
    """``stats`` as a complete statistics frame, or a DataError naming what is wrong.

    Per metric: ``n``, Σx and (for means) Σx² (:func:`~abkit.query.frame.required_stats`;
    ratios their five sums); CUPED sums all three or none; counts finite, not negative, a
    rate's Σx between 0 and n. ``n_units`` defaults to the largest ``n`` of the row; ``immature``
    and ``missing`` to 0.

    Raises:
        SpecError: a metric has ``cap_quantile``, which needs per-unit values.
        DataError: a column is missing, not numeric, negative or out of range.
    """
    import numpy as np
    import pandas as pd

    capped = [m.name for m in quantile_capped(metrics)]
    if capped:
        raise SpecError(
            f"metrics {capped} have cap_quantile, which needs per-unit values; sufficient "
            "statistics are sums already. Cap the values before summing them and drop "
            "cap_quantile (or use cap= with the value you capped at)"
        )
    df = (stats if isinstance(stats, pd.DataFrame) else pd.DataFrame(stats)).copy()
    need = [VARIANT, *segments]
    for m in metrics:
        need += [stat_col(m, f) for f in required_stats(m)]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataError(
            f"stats: column(s) {missing} are missing; per metric give <name>__n, <name>__sum "
            "and (for means) <name>__sumsq; ratios <name>__sumy, __sumyy and __sumxy as well. "
            f"Available: {list(df.columns)}"
        )
    for m in metrics:
        cuped = [stat_col(m, f) for f in CUPED_FIELDS]
        given = [c for c in cuped if c in df.columns]
        if given and len(given) < len(CUPED_FIELDS):
            raise DataError(
                f"stats: CUPED needs all of {cuped} (Σx, Σx², Σxy of the covariate) and "
                f"{stat_col(m, SUMSQ)}; only {given} were given"
            )
        if given and stat_col(m, SUMSQ) not in df.columns:
            raise DataError(f"stats: CUPED needs {stat_col(m, SUMSQ)} (Σy²) next to {given}")
        ratio_cuped = [stat_col(m, f) for f in RATIO_CUPED_FIELDS]
        given = [c for c in ratio_cuped if c in df.columns]
        if given and (m.kind != "ratio" or len(given) < len(ratio_cuped)):
            raise DataError(
                f"stats: CUPED of a ratio metric needs all of {ratio_cuped} (Σx̃, Σỹ, Σx̃², Σỹ², "
                f"Σx̃ỹ, Σx·x̃, Σx·ỹ, Σy·x̃, Σy·ỹ); {given} were given"
                + ("" if m.kind == "ratio" else f", but {m.name!r} is not a ratio")
            )
    n_cols = [stat_col(m, N) for m in metrics]
    for c in [c for c in df.columns if is_stat_col(c)]:
        values = pd.to_numeric(df[c], errors="coerce").astype(float)
        bad_rows = df.index[~np.isfinite(values.fillna(np.inf).to_numpy())].tolist()
        if bad_rows:
            raise DataError(f"stats: column {c!r} must hold finite numbers; rows {bad_rows} do not")
        df[c] = values
    if (df[n_cols] < 0).any().any():
        raise DataError("stats: unit counts (__n) must not be negative")
    for m in metrics:
        if m.kind == "proportion":
            n, s = stat_col(m, N), stat_col(m, SUM)
            over = df.index[(df[s] > df[n]) | (df[s] < 0)]
            if len(over):
                raise DataError(
                    f"stats: {s} must lie between 0 and {n} for a rate; rows {over.tolist()} do not"
                )
    if N_UNITS not in df.columns:
        df[N_UNITS] = df[n_cols].max(axis=1)
    extra: dict[str, Any] = {}
    for m in metrics:
        if stat_col(m, SUMSQ) not in df.columns:
            extra[stat_col(m, SUMSQ)] = df[stat_col(m, SUM)]
        for f, default in ((IMMATURE, 0), (MISSING, 0), (MIN, np.nan), (MAX, np.nan)):
            if stat_col(m, f) not in df.columns:
                extra[stat_col(m, f)] = default
    df = pd.concat([df, pd.DataFrame(extra, index=df.index)], axis=1)
    for seg in segments:
        df[seg] = df[seg].astype(str)
    return df
