"""The surrogate forecasts from the report's shared per-unit table equal those from the logs.

Reference: the same forecast computed from the events (``shared=None``, the path that existed
before the table). The table path is handed a preparation whose events log is empty, so a
forecast that still read the events would no longer match; the fallbacks (``event=``, windows
past the table's days) are checked to read the logs.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

import abkit as ab
from abkit.errors import DataError
from abkit.metrics import ActiveDays, Retention
from abkit.retention import surrogate as S
from abkit.retention._units import share
from abkit.retention.surrogate import surrogate_forecast


@pytest.fixture(scope="module")
def logs():
    # 40 days of log, 14 of enrolment: D30 is mature for the first units only
    return ab.simulate.retention_experiment(n_units=3000, seed=21)


def _as_of(events, early):
    """Five days before the log ends (D30 mature for the first few days' units only), or
    ``early``: 16 days after the first event (some units' surrogate windows still open)."""
    if early:
        return pd.Timestamp(events.ts.min()) + pd.Timedelta(days=16)
    return pd.Timestamp(events.ts.max()) - pd.Timedelta(days=5)


def _blind(shared):
    """The shared preparation with an empty events log."""
    return replace(shared, logs=replace(shared.logs, events=shared.logs.events.limit(0)))


def _equal(a, b):
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas())
    assert (a.n_training, a.as_of, a.training, repr(a)) == (
        b.n_training,
        b.as_of,
        b.training,
        repr(b),
    )


SETS = [
    (Retention(day=21), None, False),
    (Retention(day=30), [ActiveDays(days=(1, 7)), Retention(day=1), Retention(day=7)], False),
    (Retention(days=(10, 14)), [ActiveDays(days=(0, 3)), Retention(days=(4, 6))], False),
    (Retention(on_or_after=20, horizon=25), [ActiveDays(days=(2, 9))], False),
    (Retention(day=9), [ActiveDays(days=(1, 3)), Retention(day=5)], True),
]


@pytest.mark.parametrize(("target", "surrogates", "early"), SETS)
def test_forecasts_from_the_shared_table_equal_the_forecasts_from_the_logs(
    logs, target, surrogates, early
):
    exposures, events = logs
    as_of = _as_of(events, early)
    shared = share(exposures, events, as_of=as_of, columns=None, tz=None, last_day=30)
    assert shared.days is not None and shared.days.last_day == 30
    blind = _blind(shared)
    surr = surrogates or [ActiveDays(days=(1, 7)), Retention(day=1), Retention(day=7)]
    assert S._reads_table(blind, target, surr)
    # the grouped counts themselves, dtypes included
    got, at = S._cells(exposures, events, target, surr, as_of, None, None, None, blind)
    want, at_logs = S._cells(exposures, events, target, surr, as_of, None, None, None)
    pd.testing.assert_frame_equal(got, want)
    assert at == at_logs
    assert int(got.n.sum()) > 0 and (got._tm == 1).any()
    if target.window[1] >= 25 or early:  # both mature and immature units
        assert set(got._tm) == {0, 1}
    if early:  # and units too young for the surrogates, left out
        age = shared.days.table.age.to_pandas()
        assert (age < 6).any() and int(got.n.sum()) == int((age >= 6).sum())
    kw = {"target": target, "surrogates": surrogates, "n_boot": 50, "as_of": as_of}
    _equal(
        surrogate_forecast(exposures, events, shared=blind, **kw),
        surrogate_forecast(exposures, events, **kw),
    )


def test_the_table_path_reads_the_mask_not_the_events(logs):
    # the blind preparation with the table removed falls back to its (empty) events: the
    # forecast then fails, so the equality above did come from the table
    exposures, events = logs
    shared = share(exposures, events, as_of=None, columns=None, tz=None, last_day=30)
    with pytest.raises(DataError, match="too few units"):
        surrogate_forecast(exposures, events, target=21, shared=replace(_blind(shared), days=None))


def test_what_the_table_does_not_hold_is_read_from_the_logs(logs):
    exposures, events = logs
    shared = share(exposures, events, as_of=None, columns=None, tz=None, last_day=20)
    assert shared.days is not None and shared.days.last_day == 30  # at least SHARED_MIN_DAYS
    surr = [ActiveDays(days=(1, 7)), Retention(day=1)]
    cases = [
        (Retention(day=35), surr),  # past the table's last day
        (Retention(day=21), [ActiveDays(days=(1, 7), event="purchase"), Retention(day=1)]),
        (Retention(day=21, event="session"), surr),
    ]
    for target, surrogates in cases:
        assert not S._reads_table(shared, target, surrogates)
        got, _ = S._cells(exposures, events, target, surrogates, None, None, None, None, shared)
        want, _ = S._cells(exposures, events, target, surrogates, None, None, None, None)
        pd.testing.assert_frame_equal(got, want)
    kw = {"target": Retention(day=21, event="session"), "surrogates": surr, "n_boot": 50}
    _equal(
        surrogate_forecast(exposures, events, shared=shared, **kw),
        surrogate_forecast(exposures, events, **kw),
    )
