"""Property-based tests: whatever the logs, analyze() returns reconciled counts or an AbkitError."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import abkit as ab
from abkit.errors import AbkitError

T0 = pd.Timestamp("2024-05-01", tz="UTC")
AS_OF = T0 + pd.Timedelta(days=12)

ids = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e", "f", "", " g", "Ü"]))
variants = st.one_of(st.none(), st.sampled_from(["control", "treatment", "Control", "t2"]))
offsets = st.one_of(st.none(), st.floats(min_value=-3, max_value=15, allow_nan=False))


def _ts(off):
    return pd.NaT if off is None else T0 + pd.Timedelta(days=off)


exposure_rows = st.lists(st.tuples(ids, variants, offsets), min_size=0, max_size=25)
event_rows = st.lists(st.tuples(ids, offsets), min_size=0, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exposure_rows, event_rows, st.booleans())
def test_analyze_reconciles_or_raises_an_abkit_error(exp_rows, ev_rows, with_spec):
    exposures = pd.DataFrame(
        {
            "unit_id": pd.Series([r[0] for r in exp_rows], dtype=object),
            "variant": pd.Series([r[1] for r in exp_rows], dtype=object),
            "exposed_at": pd.Series([_ts(r[2]) for r in exp_rows], dtype="datetime64[us, UTC]"),
        }
    )
    events = pd.DataFrame(
        {
            "unit_id": pd.Series([r[0] for r in ev_rows], dtype=object),
            "ts": pd.Series([_ts(r[1]) for r in ev_rows], dtype="datetime64[us, UTC]"),
        }
    )
    metrics = [ab.Retention(day=1), ab.Retention(day=7), ab.ActiveDays(days=(1, 3))]
    kw = {"variants": ["control", "treatment"]} if with_spec else {}
    exp = ab.Experiment(metrics=metrics, control="control", **kw)
    try:
        res = exp.analyze(exposures=exposures, events=events, as_of=AS_OF)
    except AbkitError:
        return
    c = res.data_quality.counts
    ids_in = {str(u) for u in exposures.unit_id.dropna() if str(u).strip()}
    # every distinct id is analysed or sits in exactly one excluded category
    assert len(ids_in) == (
        c["units_analyzed"]
        + c["units_multiple_variants"]
        + c.get("units_unknown_variant", 0)
        + c.get("units_without_valid_exposure", 0)
    ), c
    # every analysed unit counts for a metric or is reported immature
    for m in metrics:
        for v in res.variants:
            a = next(
                a for a in res.arms if a.metric == m.name and a.variant == v and a.segment is None
            )
            assert a.mean is None or (not math.isnan(a.mean))
        total = sum(a.n + a.immature for a in res.arms if a.metric == m.name and a.segment is None)
        assert total == c["units_analyzed"], (m.name, total, c)
    # events reconcile too
    ev_total = len(events)
    assert ev_total == (
        c["event_null_ids"]
        + c["event_null_times"]
        + c["events_unexposed_units"]
        + c["events_before_exposure"]
        + c["events_after_as_of"]
        + c["events_beyond_windows"]
        + c["events_in_analysis"]
    ), c
    for mc in res.comparisons:
        p = mc.comparison.pvalue
        assert p is None or 0.0 <= p <= 1.0
