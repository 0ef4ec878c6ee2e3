"""Metric definitions: names, windows, printed definitions and validation."""

from __future__ import annotations

import pytest

from abkit import ActiveDays, EventCount, Mean, Proportion, Retention, Revenue
from abkit.errors import SpecError
from abkit.metrics import metric_from_spec


def test_retention_modes_and_windows():
    assert Retention(day=7).window == (7, 7)
    assert Retention(days=(7, 13)).window == (7, 13)
    assert Retention(on_or_after=7, horizon=30).window == (7, 30)
    assert Retention(day=7).mature_after_days == 8
    assert Retention(on_or_after=7, horizon=30).name == "retention_d7plus_h30"


def test_definitions_print_the_exact_window():
    d = Retention(day=1).definition
    assert "t0 + 24h <= ts < t0 + 48h" in d and "as_of >= t0 + 48h" in d
    assert "days 7-13" in Retention(days=(7, 13)).definition
    assert "events: purchase" in Retention(day=1, event="purchase").definition
    assert "distinct active days" in ActiveDays(days=(1, 7)).definition
    assert "'retention_7'" in Proportion("retention_7").definition


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"day": 1, "days": (1, 2)},
        {"day": -1},
        {"day": 1.5},
        {"day": True},
        {"days": (5, 2)},
        {"days": (1, 2, 3)},
        {"on_or_after": 3},
        {"on_or_after": 9, "horizon": 3},
        {"day": 1, "horizon": 3},
        {"day": 1, "event": []},
    ],
)
def test_invalid_retention(kwargs):
    with pytest.raises(SpecError):
        Retention(**kwargs)


def test_other_metrics_validate():
    with pytest.raises(SpecError):
        ActiveDays(days=(3, 1))
    with pytest.raises(SpecError):
        Mean("")
    assert EventCount(days=(0, 6), event=["a", "b"]).name == "events_a_b_d0_6"
    assert Revenue().kind == "mean" and Retention(day=1).kind == "proportion"


def test_spec_forms():
    assert metric_from_spec({"retention": {"day": 7, "name": "d7"}}).name == "d7"
    assert metric_from_spec({"mean": "rounds"}).column == "rounds"
    assert metric_from_spec({"active_days": {"days": [1, 7]}}).window == (1, 7)
    with pytest.raises(SpecError, match="one-key mapping"):
        metric_from_spec({"retention": {"day": 1}, "mean": "x"})
    with pytest.raises(SpecError, match="must be a mapping"):
        metric_from_spec({"retention": 7})


def test_metrics_are_frozen_and_hashable():
    m = Retention(day=1)
    with pytest.raises(AttributeError):
        m.day = 2
    assert hash(m) == hash(Retention(day=1)) and m == Retention(day=1)


def test_a_metric_is_compiled_from_its_declarations_alone():
    # a metric class abkit has never seen: "made a purchase on days 0-6" declares a 0/1 unit
    # value ("any" qualifying event in the window), so the query compiler, the CUPED covariate
    # and the test dispatch follow from its declarations — no isinstance anywhere knows it
    from dataclasses import dataclass
    from typing import ClassVar

    import pandas as pd

    import abkit as ab
    from abkit.metrics import EventMetric

    @dataclass(frozen=True, slots=True)
    class Purchased(EventMetric):
        days: tuple[int, int] = (0, 6)
        event: tuple[str, ...] | None = ("purchase",)
        tz: str | None = None
        name: str = "purchased_d0_6"
        kind: ClassVar[str] = "proportion"
        unit_value: ClassVar[str] = "any"

        @property
        def window(self) -> tuple[int, int]:
            return self.days

        @property
        def label(self) -> str:
            return "Purchased in week 1"

        @property
        def definition(self) -> str:
            return "made a purchase on " + self._window_text()

    assert Purchased().binary and Purchased().cuped_covariate == "days"
    exposures, events = ab.simulate.retention_experiment(n_units=1_500, seed=4, pre_days=7)
    events.loc[events.index % 5 == 0, "event"] = "purchase"
    same = ab.Retention(days=(0, 6), event="purchase", name="purchased_d0_6")
    got, want = (
        ab.Experiment(metrics=[m], cuped=7).analyze(exposures=exposures, events=events)
        for m in (Purchased(), same)
    )
    pd.testing.assert_frame_equal(got.to_pandas(), want.to_pandas())
    assert "CUPED" in got.to_pandas().note.iloc[0]


def test_the_metrics_package_keeps_every_name_and_its_examples() -> None:
    # abkit/metrics.py became a package (base, event, column, quantile): the same public names
    import doctest
    import importlib

    import abkit.metrics as M

    for name in ("ActiveDays", "EventCount", "EventMetric", "Mean", "Metric", "Proportion",
                 "Ratio", "Retention", "Revenue", "Quantile", "ColumnQuantile", "MAX_DAY",
                 "metric_from_spec", "_REGISTRY"):  # fmt: skip
        assert hasattr(M, name), name
    assert {"quantile", "column_quantile"} <= set(M._REGISTRY)
    for mod in ("abkit.metrics", "abkit.metrics.base", "abkit.metrics.event",
                "abkit.metrics.column", "abkit.metrics.quantile"):  # fmt: skip
        result = doctest.testmod(importlib.import_module(mod))
        assert result.failed == 0, mod
