"""The report's result-only tables: a segment dimension with many values is capped on display."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

import abkit as ab
from abkit.report.tables import segments_table


def test_segment_table_shows_the_largest_values_and_counts_the_rest():
    rng = np.random.default_rng(4)
    n = 6000
    # 30 values of very different sizes: v00 is the largest, v29 the smallest
    weights = np.arange(30, 0, -1, dtype=float) ** 2
    values = rng.choice([f"v{i:02d}" for i in range(30)], size=n, p=weights / weights.sum())
    units = pd.DataFrame(
        {
            "unit_id": range(n),
            "variant": rng.choice(["control", "treatment"], size=n),
            "y": rng.binomial(1, 0.3, size=n),
            "utm": values,
            "platform": rng.choice(["ios", "android"], size=n),
        }
    )
    res = ab.Experiment(metrics=[ab.Proportion("y")], segments=["utm", "platform"]).analyze(
        units=units
    )
    page = segments_table(res, limit=5)
    listed = set(re.findall(r"<td>(v\d\d)</td>", page))
    sizes = units.utm.value_counts()
    largest = set(sizes.index[:5])
    assert listed == largest  # the five largest values, by units
    share = sizes.iloc[:5].sum() / n
    k = units.utm.nunique()  # the smallest values may not occur at all
    assert f"utm: the 5 largest of {k} values are shown ({share:.1%} of the units)" in page
    assert "platform:" not in page  # two values: nothing left out
    assert page.count("<td>ios</td>") == 1 and page.count("<td>android</td>") == 1
