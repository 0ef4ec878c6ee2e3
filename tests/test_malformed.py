"""A corpus of malformed inputs: each builder is named for what is wrong, and states the outcome.

Outcome is either ``Error(cls, pattern)`` — a specific AbkitError subclass whose message names the
column and the fix — or ``Recorded(counts=…, codes=…)`` — a result whose data-quality report
records exactly what was dropped or excluded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import abkit as ab
from abkit.errors import AbkitError, DataError

T0 = pd.Timestamp("2024-05-01T10:00:00", tz="UTC")
H = pd.Timedelta(hours=1)
D = pd.Timedelta(days=1)
AS_OF = T0 + 40 * D


@dataclass(frozen=True)
class Error:
    cls: type[AbkitError]
    pattern: str


@dataclass(frozen=True)
class Recorded:
    counts: dict[str, int] = field(default_factory=dict)
    codes: tuple[str, ...] = ()
    check: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class Case:
    inputs: dict[str, Any]
    outcome: Error | Recorded
    experiment: dict[str, Any] = field(default_factory=dict)


def _exp(units=("a", "b", "c", "d"), variants=("control", "treatment") * 2, t0=T0, **extra):
    df = pd.DataFrame({"unit_id": list(units), "variant": list(variants), "exposed_at": t0})
    for k, v in extra.items():
        df[k] = v
    return df


def _ev(rows=(("a", 1), ("b", 1), ("c", 7))):
    return pd.DataFrame({"unit_id": [u for u, _ in rows], "ts": [T0 + d * D + H for _, d in rows]})


def _logs(exposures=None, events=None, **kw):
    return {
        "exposures": _exp() if exposures is None else exposures,
        "events": _ev() if events is None else events,
        "as_of": AS_OF,
        **kw,
    }


CORPUS: dict[str, Callable[[Path], Case]] = {}


def case(fn: Callable[[Path], Case]) -> Callable[[Path], Case]:
    CORPUS[fn.__name__] = fn
    return fn


# ------------------------------------------------------------------ columns and types


@case
def missing_unit_id_column(tmp: Path) -> Case:
    return Case(_logs(_exp().drop(columns="unit_id")), Error(DataError, r"'unit_id'.*Available"))


@case
def renamed_variant_column(tmp: Path) -> Case:
    e = _exp().rename(columns={"variant": "group"})
    return Case(_logs(e), Error(DataError, r"'variant'.*Did you mean 'group'"))


@case
def missing_ts_column_in_events(tmp: Path) -> Case:
    return Case(
        _logs(events=_ev().rename(columns={"ts": "time"})),
        Error(DataError, r"events: missing.*'ts'.*Did you mean 'time'"),
    )


@case
def duplicate_column_names(tmp: Path) -> Case:
    e = _exp()
    e.columns = ["unit_id", "unit_id", "exposed_at"]
    return Case(_logs(e), Error(DataError, r"duplicate column names \['unit_id'\]"))


@case
def ids_as_floats_with_dot_zero(tmp: Path) -> Case:
    e = _exp(units=(1.0, 2.0, 3.0, 4.0))
    v = pd.DataFrame({"unit_id": [1, 2], "ts": [T0 + D + H, T0 + D + H]})

    def check(res):
        d1 = {a.variant: a.mean for a in res.arms if a.segment is None}
        assert d1 == {"control": 0.5, "treatment": 0.5}  # ids 1 and 2 matched across tables

    return Case(_logs(e, v), Recorded(counts={"events_unexposed_units": 0}, check=check))


@case
def ids_int_in_one_table_text_in_other(tmp: Path) -> Case:
    v = pd.DataFrame({"unit_id": ["1", "2"], "ts": [T0 + D + H, T0 + D + H]})
    return Case(_logs(_exp(units=(1, 2, 3, 4)), v), Recorded(counts={"events_unexposed_units": 0}))


@case
def timestamps_as_iso_strings(tmp: Path) -> Case:
    e = _exp()
    e["exposed_at"] = "2024-05-01T10:00:00Z"
    return Case(_logs(e), Error(DataError, r"'exposed_at' holds text.*to_datetime"))


@case
def timestamps_in_mixed_formats(tmp: Path) -> Case:
    v = _ev()
    v["ts"] = ["2024-05-02 11:00", "02/05/2024 11:00", "1714647600"]
    return Case(_logs(events=v), Error(DataError, r"'ts' holds text"))


@case
def epoch_integer_timestamps(tmp: Path) -> Case:
    v = _ev()
    v["ts"] = (v["ts"].astype("int64") // 10**9).astype("int64")
    return Case(_logs(events=v), Error(DataError, r"'ts' has type int64.*epoch"))


@case
def timezone_naive_timestamps(tmp: Path) -> Case:
    e = _exp()
    e["exposed_at"] = e["exposed_at"].dt.tz_localize(None)
    return Case(_logs(e), Error(DataError, r"timezone-naive.*tz="))


@case
def mixed_timezone_aware_timestamps(tmp: Path) -> Case:
    v = _ev()
    v["ts"] = pd.Series(
        [
            pd.Timestamp("2024-05-02T11:00+08:00"),
            pd.Timestamp("2024-05-02T11:00+00:00"),
            pd.Timestamp("2024-05-08T11:00-05:00"),
        ],
        dtype=object,
    )

    def check(res):  # aware timestamps are instants: offsets are honoured, not dropped
        arms = {a.variant: a.mean for a in res.arms if a.segment is None}
        assert arms == {"control": 0.0, "treatment": 0.5}

    return Case(_logs(events=v), Recorded(check=check))


@case
def value_column_as_text(tmp: Path) -> Case:
    v = _ev()
    v["value"] = ["1.5", "2", "n/a"]
    return Case(
        _logs(events=v),
        Error(DataError, r"'value'.*numbers"),
        {"metrics": [ab.Revenue(days=(0, 6))]},
    )


@case
def value_column_as_text_unused(tmp: Path) -> Case:
    # no metric reads 'value': its type is irrelevant, the retention result stands
    v = _ev()
    v["value"] = ["1.5", "2", "n/a"]
    return Case(_logs(events=v), Recorded(counts={"events_unexposed_units": 0}))


# ------------------------------------------------------------------ ids and rows


@case
def nan_ids_in_exposures(tmp: Path) -> Case:
    e = _exp(units=("a", "b", None, np.nan))
    return Case(
        _logs(e),
        Recorded(counts={"exposure_null_ids": 2, "units_analyzed": 2}, codes=("null_ids",)),
    )


@case
def empty_and_blank_string_ids(tmp: Path) -> Case:
    e = _exp(units=("a", "b", "", "   "))
    return Case(
        _logs(e),
        Recorded(counts={"exposure_null_ids": 2, "units_analyzed": 2}, codes=("null_ids",)),
    )


@case
def duplicate_exposure_rows(tmp: Path) -> Case:
    e = pd.concat([_exp(), _exp().iloc[:2]], ignore_index=True)
    return Case(
        _logs(e),
        Recorded(
            counts={"duplicate_exposures": 2, "units_analyzed": 4}, codes=("duplicate_exposures",)
        ),
    )


@case
def unit_in_three_variants(tmp: Path) -> Case:
    e = pd.concat([_exp(), _exp(units=("a", "a"), variants=("treatment", "t2"))], ignore_index=True)
    return Case(
        _logs(e),
        Recorded(
            counts={"units_multiple_variants": 1, "units_analyzed": 3}, codes=("multiple_variants",)
        ),
    )


@case
def null_exposure_times(tmp: Path) -> Case:
    e = _exp()
    e.loc[1, "exposed_at"] = pd.NaT
    return Case(_logs(e), Recorded(counts={"exposure_null_times": 1, "units_analyzed": 3}))


@case
def huge_integer_ids(tmp: Path) -> Case:
    big = 2**62
    e = _exp(units=(big, big + 1, big + 2, big + 3))
    v = pd.DataFrame({"unit_id": [big + 1], "ts": [T0 + D + H]})

    def check(res):  # ids beyond 2**53 must not be rounded through floats
        t = next(a for a in res.arms if a.variant == "treatment" and a.segment is None)
        assert t.mean == 0.5

    return Case(_logs(e, v), Recorded(counts={"events_unexposed_units": 0}, check=check))


@case
def events_for_units_never_exposed(tmp: Path) -> Case:
    v = _ev((("a", 1), ("zz", 1), ("zz", 2)))
    return Case(
        _logs(events=v),
        Recorded(counts={"events_unexposed_units": 2}, codes=("events_unexposed_units",)),
    )


# ------------------------------------------------------------------ variants


@case
def single_variant(tmp: Path) -> Case:
    return Case(_logs(_exp(variants=("control",) * 4)), Error(DataError, r"single value"))


@case
def control_label_absent(tmp: Path) -> Case:
    e = _exp(variants=("A", "B", "A", "B"))
    return Case(_logs(e), Error(DataError, r"control 'control' is not among.*\['A', 'B'\]"))


@case
def variant_with_zero_units(tmp: Path) -> Case:
    def check(res):
        t2 = next(c for c in res.comparisons if c.variant == "t2").comparison
        assert t2.pvalue is None and t2.note
        assert res.srm.flagged is False or res.srm.pvalue is not None

    return Case(_logs(), Recorded(check=check), {"variants": ["control", "treatment", "t2"]})


@case
def labels_differing_only_by_case_and_whitespace(tmp: Path) -> Case:
    e = _exp(
        units=list("abcdef"),
        variants=("control", "treatment", "Control ", "treatment", "control", " Treatment"),
    )
    return Case(_logs(e), Recorded(codes=("variant_label_variants",)))


@pytest.mark.parametrize(
    "twin", ["contro\u0301l", "cont\u200brol", "c\u043entrol", "CONTROL\ufeff"]
)
def test_look_alike_variant_labels_block(twin):
    """NFD accents, zero-width characters, a Cyrillic о, a byte-order mark: one arm in two."""
    import unicodedata

    control = unicodedata.normalize("NFC", "contro\u0301l") if "\u0301" in twin else "control"
    e = _exp(
        units=list("abcdef"), variants=(control, "treatment", twin, "treatment", control, twin)
    )
    res = ab.Experiment(metrics=[ab.Retention(day=1)], control=control).analyze(
        **_logs(e, as_of=AS_OF)
    )
    (f,) = [f for f in res.data_quality.findings if f.code == "variant_label_variants"]
    assert f.severity == "blocking" and ascii(twin) in f.message and f.count == 4


@case
def events_whose_ids_match_no_exposed_unit(tmp: Path) -> Case:
    # exposures keyed 1, 2, 3, 4; events keyed '00001'…: as text they never meet
    e = _exp(units=(1, 2, 3, 4))
    v = _ev((("00001", 1), ("00002", 1), ("00003", 2)))

    def check(res):
        (f,) = [f for f in res.data_quality.findings if f.code == "events_match_no_unit"]
        assert f.severity == "blocking" and f.count == 3
        # each log's id form, with an example id of each, and the fix
        assert (
            "integers (e.g. 1)" in f.message
            and "zero-padded digits as text (e.g. '00001')" in f.message
        )
        assert "astype('int64')" in f.message

    return Case(_logs(e, v), Recorded(codes=("events_match_no_unit",), check=check))


@case
def non_ascii_variant_labels(tmp: Path) -> Case:
    e = _exp(variants=("对照组", "实验组") * 2)
    return Case(_logs(e), Recorded(counts={"units_analyzed": 4}), {"control": "对照组"})


@case
def unknown_variant_label_against_spec(tmp: Path) -> Case:
    e = _exp(units=list("abcde"), variants=("control", "treatment", "control", "treatment", "tr"))
    return Case(
        _logs(e),
        Recorded(counts={"units_unknown_variant": 1}, codes=("unknown_variants",)),
        {"variants": ["control", "treatment"]},
    )


# ------------------------------------------------------------------ time


@case
def all_units_immature(tmp: Path) -> Case:
    def check(res):
        c = res.comparisons[0].comparison
        assert c.pvalue is None and "mature" in (c.note or "")

    return Case(_logs(as_of=T0 + 2 * D), Recorded(check=check), {"metrics": [ab.Retention(day=7)]})


@case
def events_only_before_exposure(tmp: Path) -> Case:
    v = pd.DataFrame({"unit_id": ["a", "b"], "ts": [T0 - D, T0 - H]})
    return Case(
        _logs(events=v), Recorded(counts={"events_before_exposure": 2, "events_in_analysis": 0})
    )


@case
def as_of_before_experiment_start(tmp: Path) -> Case:
    return Case(_logs(as_of=T0 - 10 * D), Error(DataError, r"before the first exposure"))


@case
def empty_events_without_as_of(tmp: Path) -> Case:
    v = _ev()[:0]
    return Case({"exposures": _exp(), "events": v}, Error(DataError, r"no timestamps.*as_of"))


# ------------------------------------------------------------------ values


@case
def infinite_values_in_mean_column(tmp: Path) -> Case:
    u = pd.DataFrame(
        {
            "unit_id": [1, 2, 3, 4],
            "variant": ["control", "treatment"] * 2,
            "x": [1.0, np.inf, 2.0, 3.0],
        }
    )
    return Case({"units": u}, Error(DataError, r"'x'.*infinite"), {"metrics": [ab.Mean("x")]})


@case
def nan_values_in_mean_column(tmp: Path) -> Case:
    u = pd.DataFrame(
        {
            "unit_id": [1, 2, 3, 4, 5],
            "variant": ["control", "treatment"] * 2 + ["control"],
            "x": [1.0, np.nan, 2.0, 3.0, 5.0],
        }
    )
    return Case(
        {"units": u},
        Recorded(counts={"missing_x": 1}, codes=("missing_x",)),
        {"metrics": [ab.Mean("x")]},
    )


@case
def negative_values_in_revenue(tmp: Path) -> Case:
    v = _ev()
    v["value"] = [-5.0, 3.0, 2.0]  # refunds are negative revenue: kept, not an error

    def check(res):
        c = next(a for a in res.arms if a.variant == "control" and a.segment is None)
        assert c.mean == -2.5

    return Case(_logs(events=v), Recorded(check=check), {"metrics": [ab.Revenue(days=(0, 6))]})


@case
def extremely_skewed_values(tmp: Path) -> Case:
    rng = np.random.default_rng(1234)
    x = rng.pareto(1.1, size=400) * 10
    u = pd.DataFrame({"unit_id": range(400), "variant": ["control", "treatment"] * 200, "x": x})

    def check(res):
        c = res.comparisons[0].comparison
        assert c.pvalue is not None and 0 <= c.pvalue <= 1

    return Case({"units": u}, Recorded(check=check), {"metrics": [ab.Mean("x")]})


@case
def proportion_column_with_a_two(tmp: Path) -> Case:
    u = pd.DataFrame(
        {"unit_id": [1, 2, 3, 4], "variant": ["control", "treatment"] * 2, "r": [0, 1, 2, 1]}
    )
    return Case({"units": u}, Error(DataError, r"'r'.*0/1"), {"metrics": [ab.Proportion("r")]})


@case
def duplicate_ids_in_unit_table(tmp: Path) -> Case:
    u = pd.DataFrame(
        {
            "unit_id": [1, 1, 2, 3],
            "variant": ["control", "treatment", "control", "treatment"],
            "r": [0, 1, 1, 0],
        }
    )
    return Case(
        {"units": u},
        Recorded(counts={"units_duplicated": 1}, codes=("duplicate_units",)),
        {"metrics": [ab.Proportion("r")]},
    )


# ------------------------------------------------------------------ files


@case
def empty_csv_file(tmp: Path) -> Case:
    p = tmp / "exposures.csv"
    p.write_text("", encoding="utf-8")
    return Case(_logs(p), Error(DataError, r"exposures"))


@case
def header_only_csv(tmp: Path) -> Case:
    p = tmp / "units.csv"
    p.write_text("unit_id,variant,r\n", encoding="utf-8")
    return Case({"units": p}, Error(DataError, r"no rows"), {"metrics": [ab.Proportion("r")]})


@case
def csv_with_a_byte_order_mark(tmp: Path) -> Case:
    p = tmp / "units.csv"
    p.write_bytes(
        "\ufeffunit_id,variant,r\n1,control,1\n2,treatment,0\n3,control,0\n4,treatment,1\n".encode()
    )
    return Case(
        {"units": p}, Recorded(counts={"units_analyzed": 4}), {"metrics": [ab.Proportion("r")]}
    )


@case
def parquet_with_unexpected_schema(tmp: Path) -> Case:
    p = tmp / "events.parquet"
    v = _ev()
    v["ts"] = v["ts"].astype(str)
    v.to_parquet(p)
    return Case(_logs(events=p), Error(DataError, r"events: column 'ts' holds text"))


# ------------------------------------------------------------------ the test


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_malformed_input(name, tmp_path):
    c = CORPUS[name](tmp_path)
    opts = {"metrics": [ab.Retention(day=1)], "control": "control", **c.experiment}
    exp = ab.Experiment(**opts)
    if isinstance(c.outcome, Error):
        with pytest.raises(c.outcome.cls, match=c.outcome.pattern):
            exp.analyze(**c.inputs)
        return
    res = exp.analyze(**c.inputs)
    counts = res.data_quality.counts
    for key, value in c.outcome.counts.items():
        assert counts.get(key, 0) == value, (key, counts)
    codes = {f.code for f in res.data_quality.findings}
    assert set(c.outcome.codes) <= codes, codes
    if c.outcome.check is not None:
        c.outcome.check(res)
    for mc in res.comparisons:  # never a NaN passed off as an estimate
        p = mc.comparison.pvalue
        assert p is None or 0 <= p <= 1


def test_corpus_size():
    assert len(CORPUS) >= 30
