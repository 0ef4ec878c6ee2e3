"""The report's curve and cohort triangle from one analysis equal the views run on their own.

``curve_and_cohorts`` runs one analysis (D0..D``max_day`` ∪ the cohort days, segmented by
cohort) and restricts it to each view; before, a report ran one full analysis per view.
"""

from __future__ import annotations

import pandas as pd
import pytest

import abkit as ab
from abkit.results import restrict
from abkit.retention import cohort_table, retention_curve
from abkit.retention.curve import curve_and_cohorts


@pytest.fixture(scope="module")
def logs():
    return ab.simulate.retention_experiment(n_units=3000, seed=21)


@pytest.mark.parametrize(
    ("max_day", "days", "period"),
    [(30, (1, 7, 14, 30), "day"), (10, (1, 3, 21), "week"), (5, (), "day"), (None, (2, 4), "day")],
)
def test_views_equal_separate_runs(logs, max_day, days, period):
    exposures, events = logs
    opts = {"alpha": 0.1, "weights": {"control": 0.5, "treatment": 0.5}, "name": "x"}
    curve, cohorts = curve_and_cohorts(
        exposures, events, max_day=max_day, days=days, period=period, **opts
    )
    if max_day is None:
        assert curve is None
    else:
        alone = retention_curve(exposures, events, max_day=max_day, **opts)
        pd.testing.assert_frame_equal(curve.to_pandas(), alone.to_pandas())
        pd.testing.assert_frame_equal(curve.lifts_to_pandas(), alone.lifts_to_pandas())
        assert [mc.decision for mc in curve.result.comparisons] == [
            mc.decision for mc in alone.result.comparisons
        ]
        assert curve.result.srm == alone.result.srm
    if not days:
        assert cohorts is None
    else:
        alone = cohort_table(exposures, events, days=days, period=period, **opts)
        pd.testing.assert_frame_equal(cohorts.to_pandas(), alone.to_pandas())
        pd.testing.assert_frame_equal(
            cohorts.result.segments_to_pandas(), alone.result.segments_to_pandas()
        )
        pd.testing.assert_frame_equal(cohorts.result.to_pandas(), alone.result.to_pandas())
        pd.testing.assert_frame_equal(
            cohorts.result.srm_by_segment(), alone.result.srm_by_segment()
        )
        if max(days) <= (max_day or 0):  # same longest window: the same data-quality record
            assert cohorts.result.data_quality == alone.result.data_quality
            assert repr(cohorts) == repr(alone)


def test_restrict_retakes_the_decisions_within_the_subset(logs):
    exposures, events = logs
    metrics = [ab.Retention(day=1), ab.Retention(day=7), ab.Retention(day=30)]
    full = ab.Experiment(metrics=metrics).analyze(exposures=exposures, events=events)
    two = ab.Experiment(metrics=metrics[1:]).analyze(exposures=exposures, events=events)
    part = restrict(full, ["retention_d7", "retention_d30"])
    pd.testing.assert_frame_equal(part.to_pandas(), two.to_pandas())  # Holm over 2, not 3
    assert part.adjusted_pvalues().equals(two.adjusted_pvalues())
    assert [f.code for f in part.data_quality.findings] == [
        f.code for f in two.data_quality.findings
    ]
    with pytest.raises(KeyError, match="no metrics"):
        restrict(full, ["retention_d2"])


# ----------------------------------------------------------------- the shared per-unit table
#
# A report scans the logs once into a per-unit table (abkit.retention._units.share: first
# exposure, variant, attributes, a bit mask of the active days and of novelty's calendar
# windows); time to churn, the churn regression and novelty read it instead of the events. Each
# must give exactly what it gives from the logs.

from dataclasses import replace  # noqa: E402

from abkit.retention import churn_regression, churn_survival, novelty  # noqa: E402
from abkit.retention._novelty_sums import calendar_windows  # noqa: E402
from abkit.retention._units import prepare, share  # noqa: E402
from abkit.retention.hazards import churn_times, churn_times_shared  # noqa: E402


def _blind(shared):
    """The shared preparation with an empty events log: a view that still read the events would
    no longer equal the logs' result."""
    logs = shared.logs
    return replace(shared, logs=replace(logs, events=logs.events.limit(0)))


def _churn_equal(a, b):
    pd.testing.assert_frame_equal(a.counts, b.counts)
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas())
    pd.testing.assert_frame_equal(a.summary(), b.summary())
    assert (a.immature, a.note, repr(a)) == (b.immature, b.note, repr(b))


@pytest.mark.parametrize(
    ("k", "tau", "nov_days"), [(7, 30, 14), (1, 10, 2), (3, 58, 5), (14, 21, 9)]
)
def test_views_from_the_shared_table_equal_the_views_from_the_logs(logs, k, tau, nov_days):
    exposures, events = logs
    shared = share(
        exposures, events, as_of=None, columns=None, tz=None, carry=["platform", "channel"],
        last_day=tau + k - 1, windows=calendar_windows(nov_days),
    )  # fmt: skip
    assert shared.days is not None
    blind = _blind(shared)
    _churn_equal(
        churn_survival(exposures, events, inactive_days=k, tau=tau, shared=blind),
        churn_survival(exposures, events, inactive_days=k, tau=tau),
    )
    attrs = ["platform"]
    got = churn_regression(
        exposures, events, attributes=attrs, inactive_days=k, tau=tau, shared=blind
    )
    want = churn_regression(exposures, events, attributes=attrs, inactive_days=k, tau=tau)
    assert got == want  # every field: terms, PH checks, Schoenfeld rows, notes
    pd.testing.assert_frame_equal(got.counts, want.counts)
    got = novelty(exposures, events, days=nov_days, shared=blind)
    want = novelty(exposures, events, days=nov_days)
    assert got == want
    assert got.trends["treatment"].did is not None or nov_days == 2


def test_what_the_table_does_not_hold_is_read_from_the_logs(logs):
    exposures, events = logs
    shared = share(exposures, events, as_of=None, columns=None, tz=None, carry=["platform"],
                   last_day=10, windows=None)  # fmt: skip
    # beyond its days, an attribute it did not carry, an event filter: no table path …
    assert churn_times_shared(shared, inactive_days=7, tau=30) is None
    assert churn_times_shared(shared, inactive_days=3, tau=5, attributes=["channel"]) is None
    assert churn_times_shared(shared, inactive_days=3, tau=5, event="purchase") is None
    assert churn_times_shared(shared, inactive_days=3, tau=5) is not None
    # … and the views still equal the logs' (they read them)
    _churn_equal(
        churn_survival(exposures, events, inactive_days=7, tau=30, shared=shared),
        churn_survival(exposures, events, inactive_days=7, tau=30),
    )
    assert churn_regression(
        exposures, events, attributes=["channel"], inactive_days=3, tau=5, shared=shared
    ) == churn_regression(exposures, events, attributes=["channel"], inactive_days=3, tau=5)
    for kw in ({"days": 14}, {"days": 5, "metric": "events"}, {"days": 5, "event": "purchase"}):
        assert novelty(exposures, events, shared=shared, **kw) == novelty(exposures, events, **kw)


T0 = pd.Timestamp("2024-05-01T10:00:00", tz="UTC")
DAY = pd.Timedelta(days=1)


def _hand_logs():
    """Units whose active days are chosen by hand, and rows every view must ignore."""
    active = {  # unit -> days since its first exposure with an event (K = 3, tau = 10)
        "a": [0, 1, 2, 3],  # never 3 inactive days until day 4: churns at 4
        "b": [],  # no event at all: churns at 0
        "c": [0, 2, 4, 6, 8, 10, 12],  # gaps of 1: never churns, censored at min(h - K, tau)
        "d": [5],  # days 0..4 inactive: churns at 0
        "e": [0, 1, 4, 5, 6, 7, 8, 9],  # days 2, 3 inactive (2 < K); 10..12 are: churns at 10
        "f": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],  # churns at 13 > tau: not churned
        "g": [0],  # exposed late: h = 2 < K, immature
    }
    t0 = {u: T0 + pd.Timedelta(hours=i) for i, u in enumerate(active)}
    t0["g"] = T0 + 17 * DAY
    rows = [
        {"unit_id": u, "ts": t0[u] + d * DAY + pd.Timedelta(minutes=30 + d)}
        for u, days in active.items()
        for d in days
    ]
    rows += [
        {"unit_id": "a", "ts": t0["a"] - pd.Timedelta(hours=1)},  # before exposure
        {"unit_id": "b", "ts": T0 + 40 * DAY},  # after as_of
        {"unit_id": "x", "ts": T0 + 2 * DAY},  # never exposed
        {"unit_id": "m", "ts": T0 + 2 * DAY},  # a unit in two variants
        {"unit_id": None, "ts": T0 + 3 * DAY},  # null id
    ]
    exp = [{"unit_id": u, "variant": "treatment" if i % 2 else "control",
            "exposed_at": t0[u]} for i, u in enumerate(active)]  # fmt: skip
    exp += [{"unit_id": "m", "variant": v, "exposed_at": T0} for v in ("control", "treatment")]
    return pd.DataFrame(exp), pd.DataFrame(rows), T0 + 19 * DAY + pd.Timedelta(hours=12)


def test_churn_days_from_the_table_match_the_hand_count_and_the_logs():
    exposures, events, as_of = _hand_logs()
    p = prepare(exposures, events, as_of=as_of, columns=None, tz=None, con=None)
    shared = share(exposures, events, as_of=as_of, columns=None, tz=None, last_day=20)
    k, tau = 3, 10

    def per_unit(got):
        u, immature = got
        df = u.select("unit_id", "time", "churned").to_pandas()
        return df.sort_values("unit_id").reset_index(drop=True), int(immature.to_pandas())

    logs_rows, logs_imm = per_unit(churn_times(p, p.units, inactive_days=k, tau=tau))
    table_rows, table_imm = per_unit(churn_times_shared(shared, inactive_days=k, tau=tau))
    pd.testing.assert_frame_equal(table_rows, logs_rows)
    assert table_imm == logs_imm == 1  # g
    # by hand from the definition: h = min(whole days by as_of, tau + K) = 13 for a..f
    want = {"a": (4, 1), "b": (0, 1), "c": (10, 0), "d": (0, 1), "e": (10, 1), "f": (10, 0)}
    got = {r.unit_id: (r.time, r.churned) for r in table_rows.itertuples()}
    assert got == want


def test_the_shared_table_is_dropped_with_its_last_reference(logs):
    import gc

    def temp_tables():
        sql = "SELECT table_name FROM duckdb_tables() WHERE temporary"
        return {r[0] for r in con.con.execute(sql).fetchall()}

    exposures, events = logs
    shared = share(exposures, events, as_of=None, columns=None, tz=None, last_day=7)
    con = shared.con
    made = {t for t in temp_tables() if t.startswith("_abkit_unit_days_")}
    assert shared.days.table.get_name() in made and len(made) == 2  # and the units' table
    del shared
    gc.collect()
    assert not made & temp_tables()


@pytest.mark.parametrize(
    ("max_day", "days", "period", "tz"),
    [(30, (1, 7, 14, 30), "day", "UTC"), (10, (1, 3, 21), "week", "America/New_York"),
     (5, (), "day", "UTC"), (None, (2, 4), "day", "Asia/Shanghai")],
)  # fmt: skip
def test_curve_and_cohorts_from_the_shared_table_equal_those_from_the_logs(
    logs, max_day, days, period, tz
):
    exposures, events = logs
    opts = {"alpha": 0.1, "weights": {"control": 0.5, "treatment": 0.5}, "name": "x"}
    main = ab.Experiment(metrics=[ab.Retention(day=7)]).analyze(exposures=exposures, events=events)
    shared = share(exposures, events, as_of=main.as_of, columns=None, tz=None, last_day=30)
    views = {"max_day": max_day, "days": days, "period": period, "cohort_tz": tz}
    want = curve_and_cohorts(exposures, events, as_of=main.as_of, **views, **opts)
    got = curve_and_cohorts(
        exposures, events, as_of=main.as_of, shared=_blind(shared),
        data_quality=main.data_quality, **views, **opts,
    )  # fmt: skip
    for g, w in zip(got, want, strict=True):
        if w is None:
            assert g is None
            continue
        assert g.result.sql is None  # read from the table: no analysis query of the logs
        pd.testing.assert_frame_equal(g.to_pandas(), w.to_pandas())
        pd.testing.assert_frame_equal(g.result.to_pandas(), w.result.to_pandas())
        pd.testing.assert_frame_equal(g.result.segments_to_pandas(), w.result.segments_to_pandas())
        pd.testing.assert_frame_equal(g.result.srm_by_segment(), w.result.srm_by_segment())
        assert g.result.srm == w.result.srm
        assert g.result.arms == w.result.arms
        # the data-quality record is the given analysis's, with the views' own per-metric counts
        dq, own = g.result.data_quality, w.result.data_quality
        assert {k: v for k, v in dq.counts.items() if k.startswith("immature_")} == {
            k: v for k, v in own.counts.items() if k.startswith("immature_")
        }
        assert dq.counts["events_in_analysis"] == main.data_quality.counts["events_in_analysis"]


def test_views_the_table_does_not_hold_are_read_from_the_logs(logs):
    exposures, events = logs
    main = ab.Experiment(metrics=[ab.Retention(day=7)]).analyze(exposures=exposures, events=events)
    shared = share(exposures, events, as_of=main.as_of, columns=None, tz=None, last_day=30)
    # D0..D40 is beyond the table's 30 days: the views read the logs (and so cannot be blind)
    curve, _ = curve_and_cohorts(
        exposures, events, max_day=40, days=(), as_of=main.as_of, shared=shared,
        data_quality=main.data_quality,
    )  # fmt: skip
    assert curve.result.sql is not None
    alone = retention_curve(exposures, events, max_day=40, as_of=main.as_of)
    pd.testing.assert_frame_equal(curve.to_pandas(), alone.to_pandas())
    # without the data-quality record of an analysis the table is not used either
    curve, _ = curve_and_cohorts(
        exposures, events, max_day=5, days=(), as_of=main.as_of, shared=shared
    )
    assert curve.result.sql is not None
