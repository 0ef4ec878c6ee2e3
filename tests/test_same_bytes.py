"""The same inputs give the same summary.json bytes: rows in another order, default threads.

Before exact sums (abkit.query.sums) the revenue, ratio and CUPED sums differed in the last
digits between runs over the same rows in another order, and so did the summary's p-values.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import abkit as ab
from abkit.report.context import ReportContext
from abkit.report.summary import build_summary
from abkit.spec import load_spec

SPEC = {
    "name": "bytes",
    "control": "control",
    "variants": ["control", "treatment"],
    "segments": ["channel"],
    "metrics": [
        {"retention": {"day": 7}},
        {"revenue": {"days": [0, 6]}},
        {"revenue": {"days": [0, 13], "cap": 50.0}},
        {"ratio": {"numerator": {"revenue": {"days": [0, 6]}},
                   "denominator": {"active_days": {"days": [0, 6]}}}},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def logs():
    exposures, events = ab.simulate.retention_experiment(n_units=20_000, seed=11)
    rng = np.random.default_rng(3)
    # skewed revenue with many significant digits: float sums of these depend on the order
    events = events.assign(
        value=np.where(rng.random(len(events)) < 0.2, rng.lognormal(0.5, 1.4, len(events)), 0.0)
    )
    return exposures, events


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _summary_bytes(exposures, events, as_of) -> str:
    spec = load_spec(SPEC)
    res = ab.Experiment.from_spec(spec).analyze(exposures=exposures, events=events, as_of=as_of)
    return json.dumps(build_summary(res), sort_keys=True)


def test_rows_in_another_order_give_the_same_bytes(logs):
    exposures, events = logs
    as_of = events.ts.max()
    first = _summary_bytes(exposures, events, as_of)
    for seed in (1, 2, 3):
        again = _summary_bytes(_shuffled(exposures, seed), _shuffled(events, seed), as_of)
        assert again == first, f"summary differs with rows shuffled (seed {seed})"


def test_the_report_summary_with_its_views_is_byte_identical(logs, tmp_path):
    exposures, events = logs
    docs = []
    for seed in (None, 7):
        ex, ev = (exposures, events) if seed is None else (_shuffled(exposures, seed),
                                                           _shuffled(events, seed))  # fmt: skip
        paths = {}
        for name, frame in (("exposures", ex), ("events", ev)):
            paths[name] = str(tmp_path / f"{name}-{seed}.parquet")
            frame.to_parquet(paths[name])
        spec = load_spec(SPEC)
        res = ab.Experiment.from_spec(spec).analyze(**paths)
        ctx = ReportContext({"inputs": paths}, spec, res)
        docs.append(json.dumps(ctx.summary(), sort_keys=True))
    assert docs[0] == docs[1]


def test_exact_sums_keep_the_statistics_of_plain_float_sums(logs):
    # the rounding to SCALE places is far below any printed digit: the same Welch statistics as
    # numpy's float64 sums of the same per-unit values (scipy's ttest_ind on the units)
    from scipy import stats

    exposures, events = logs
    as_of = events.ts.max()
    exp = ab.Experiment(metrics=[ab.Revenue(days=(0, 6))], control="control")
    res = exp.analyze(exposures=exposures, events=events, as_of=as_of)
    row = res.to_pandas().iloc[0]
    first = exposures.sort_values("exposed_at").drop_duplicates("unit_id")
    ev = events.merge(first[["unit_id", "exposed_at", "variant"]], on="unit_id")
    day = (ev.ts - ev.exposed_at) // pd.Timedelta(days=1)
    rev = ev[(day >= 0) & (day <= 6)].groupby("unit_id").value.sum()
    mature = first[(as_of - first.exposed_at) >= pd.Timedelta(days=7)]
    per_unit = mature.set_index("unit_id").assign(v=rev).fillna({"v": 0.0})
    t = per_unit[per_unit.variant == "treatment"].v
    c = per_unit[per_unit.variant == "control"].v
    welch = stats.ttest_ind(t, c, equal_var=False)
    assert row["pvalue"] == pytest.approx(welch.pvalue, rel=1e-9)
