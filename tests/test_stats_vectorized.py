"""The vectorized path agrees with the scalar functions element by element."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from abkit.errors import StatsError
from abkit.stats import (
    compare_means,
    compare_means_many,
    compare_proportions,
    compare_proportions_many,
)

FIELDS = (
    "abs_lift_ci_lower", "abs_lift_ci_upper", "rel_lift", "rel_lift_ci_lower",
    "rel_lift_ci_upper", "pvalue", "statistic",
)  # fmt: skip


def _nan(x: float | None) -> float:
    return np.nan if x is None else x


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize(
    ("method", "rel_method"), [("unpooled-z", "delta"), ("pooled-z", "fieller")]
)
def test_proportions_many_equals_scalar(alternative: str, method: str, rel_method: str) -> None:
    rng = np.random.default_rng(1234)
    nc = rng.integers(0, 300, size=400)
    nt = rng.integers(0, 300, size=400)
    xc = rng.binomial(nc, 0.1)
    xt = rng.binomial(nt, 0.12)
    v = compare_proportions_many(
        xc, nc, xt, nt, alternative=alternative, method=method, rel_method=rel_method
    )
    for i in range(len(v)):
        s = compare_proportions(
            int(xc[i]), int(nc[i]), int(xt[i]), int(nt[i]),
            alternative=alternative, method=method, rel_method=rel_method,
        )  # fmt: skip
        for f in FIELDS:
            if s.pvalue is None and f.startswith("rel"):
                continue  # scalar drops relative bounds with the test
            assert_allclose(getattr(v, f)[i], _nan(getattr(s, f)), rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("method", ["welch", "student"])
def test_means_many_equals_scalar(method: str) -> None:
    rng = np.random.default_rng(1234)
    size = 300
    nc = rng.integers(0, 50, size=size)
    nt = rng.integers(0, 50, size=size)
    mc = rng.normal(5, 1, size=size)
    mt = rng.normal(5, 1, size=size)
    vc = rng.gamma(2.0, 1.0, size=size)
    vt = rng.gamma(2.0, 1.0, size=size)
    vc[:10] = 0.0
    vt[:10] = 0.0
    v = compare_means_many(mc, vc, nc, mt, vt, nt, method=method)
    for i in range(size):
        s = compare_means(mc[i], vc[i], int(nc[i]), mt[i], vt[i], int(nt[i]), method=method)
        for f in FIELDS:
            if s.pvalue is None and f.startswith(("rel", "abs")):
                continue
            assert_allclose(getattr(v, f)[i], _nan(getattr(s, f)), rtol=1e-11, equal_nan=True)


def test_vectorized_validation() -> None:
    with pytest.raises(StatsError, match="larger than its nobs"):
        compare_proportions_many([5], [4], [1], [4])
    with pytest.raises(StatsError, match="nobs_control"):
        compare_proportions_many([1], [-4], [1], [4])
    with pytest.raises(StatsError, match="variances"):
        compare_means_many([1.0], [-1.0], [5], [1.0], [1.0], [5])
    with pytest.raises(StatsError, match="method"):
        compare_means_many([1.0], [1.0], [5], [1.0], [1.0], [5], method="z")
