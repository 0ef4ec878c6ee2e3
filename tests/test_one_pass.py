"""The analysis and the report's per-unit table from one pass over the events.

``Experiment.analyze_with_table`` runs the analysis' per-unit pass once, keeps in it what the
report's views need (abkit.query.one_pass), and gives the result ``analyze`` gives and the table
``unit_days`` makes. Both are checked here against those two, run on their own, on logs with
every kind of row the data-quality report counts.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

import abkit as ab
from abkit.query.units_table import CalendarWindows, unit_days
from abkit.report.summary import build_summary
from abkit.retention._units import prepare


@pytest.fixture(scope="module")
def dirty():
    """Simulated logs with the rows the analysis counts apart: a unit in two variants, a null
    id, an unexposed unit, events before exposure, after as_of and beyond every window, a null
    segment value, an unexpected variant."""
    exposures, events = ab.simulate.retention_experiment(n_units=2500, seed=33)
    t0 = exposures.exposed_at.min()
    day = pd.Timedelta(days=1)
    exposures = exposures.copy()
    exposures.loc[exposures.index[:40], "channel"] = None
    exposures.loc[exposures.index[40:55], "variant"] = "Treatment"  # unexpected label
    extra_x = pd.DataFrame({"unit_id": [exposures.unit_id.iloc[60], None],
                            "variant": ["control", "treatment"],
                            "exposed_at": [t0 + 2 * day, t0 + day],
                            "channel": ["organic", "organic"], "platform": ["ios", "ios"]})  # fmt: skip
    first = exposures.unit_id.iloc[70]
    t_first = exposures.exposed_at.iloc[70]
    extra_e = pd.DataFrame({"unit_id": ["nobody", None, first, first, first],
                            "ts": [t0 + day, t0 + day, t_first - pd.Timedelta(hours=2),
                                   t_first + 45 * day, t_first + 90 * day],
                            "event": ["session"] * 5, "value": [0.0, 0.0, 0.0, 2.5, 0.0]})  # fmt: skip
    return (
        pd.concat([exposures, extra_x], ignore_index=True),
        pd.concat([events, extra_e], ignore_index=True),
    )


METRIC_SETS = {
    "retention": [ab.Retention(day=1), ab.Retention(day=7), ab.Retention(day=30)],
    "mixed": [
        ab.Retention(day=1),
        ab.ActiveDays(days=(0, 6)),
        ab.EventCount(days=(0, 13), event="purchase"),
        ab.Revenue(days=(0, 29), cap=50.0),
        ab.Retention(days=(1, 3), tz="America/New_York"),
        ab.Ratio(ab.Revenue(days=(0, 6)), ab.ActiveDays(days=(0, 6)), name="rev_per_day"),
        ab.Quantile(q=0.9, days=(0, 6)),
        ab.EventCount(days=(0, 6), cap_quantile=0.99),
    ],
}


@pytest.mark.parametrize("metrics", list(METRIC_SETS))
@pytest.mark.parametrize(
    ("options", "carry", "last_day", "windows"),
    [({"segments": ["channel"]}, ("channel",), 36, CalendarWindows(timedelta(days=3), 14)),
     ({"cuped": 7}, (), 30, None),
     ({"segments": ["platform"], "variants": ["control", "treatment"]}, ("platform", "channel"),
      61, CalendarWindows(timedelta(days=1), 5))],
)  # fmt: skip
def test_one_pass_gives_the_analysis_and_the_table_of_their_own_runs(
    dirty, metrics, options, carry, last_day, windows
):
    exposures, events = dirty
    exp = ab.Experiment(metrics=METRIC_SETS[metrics], **options)
    as_of = "2024-04-10T00:00:00Z"
    want = exp.analyze(exposures=exposures, events=events, as_of=as_of)
    got, table = exp.analyze_with_table(
        exposures=exposures, events=events, as_of=as_of, carry=carry, last_day=last_day,
        windows=windows,
    )  # fmt: skip
    # the result: every number, decision and data-quality count
    assert build_summary(got) == build_summary(want)
    pd.testing.assert_frame_equal(got.to_pandas(), want.to_pandas())
    pd.testing.assert_frame_equal(got.segments_to_pandas(), want.segments_to_pandas())
    assert got.data_quality == want.data_quality
    assert got.arms == want.arms
    # the table: what unit_days makes of the same logs, on the analysis' connection
    p = prepare(exposures, events, as_of=got.as_of, columns=None, tz=None, con=None)
    alone = unit_days(p.logs.exposures, p.events, as_of=p.as_of, con=p.con, carry=carry,
                      last_day=last_day, windows=windows)  # fmt: skip
    assert table is not None
    assert (table.last_day, table.carry, table.first_t0, table.windows_start, table.windows) == (
        alone.last_day, alone.carry, alone.first_t0, alone.windows_start, alone.windows,
    )  # fmt: skip
    a = table.table.to_pandas().sort_values("unit_id").reset_index(drop=True)
    b = alone.table.to_pandas().sort_values("unit_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert a.active.ne(0).any() and (windows is None or a.windows.ne(0).any())
