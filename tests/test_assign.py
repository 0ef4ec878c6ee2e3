"""abkit.assign: GrowthBook compatibility, determinism, proportions, bad input, SRM and audit.

The reference is the GrowthBook Python SDK (``growthbook`` 4.x, a test-only dependency): its
``gbhash``, ``getBucketRanges``, ``chooseVariation``, ``inNamespace`` and full ``GrowthBook.run``.
"""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import abkit.assign as A
from abkit.assign import (
    STATUSES,
    assign,
    assign_file,
    audit_exposures,
    bucket_ranges,
    choose_variant,
    hash_unit,
    in_namespace,
    srm_diagnosis,
    unit_id_to_str,
)
from abkit.assign import _hashing as _h
from abkit.assign import audit as _audit
from abkit.assign import files as _files
from abkit.assign import growthbook as _growthbook
from abkit.assign import vectorized as _vectorized
from abkit.errors import DataError, SpecError

gb_core = pytest.importorskip("growthbook.core")
growthbook = pytest.importorskip("growthbook")

# any text, including lone surrogates (Python-only strings) and astral characters (emoji)
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
IDS = st.one_of(
    ANY_TEXT,
    st.text(st.characters(codec="ascii"), max_size=300),  # long ASCII ids
    st.text(st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF), max_size=12),
)


def _spec(**kw: Any) -> dict[str, Any]:
    return {"name": "exp-1", "control": "a", "variants": ["a", "b"], **kw}


def _sdk_variant(uid: str, spec: dict[str, Any]) -> int:
    """Variant index GrowthBook's core functions give for a string id (-1: none)."""
    names = spec["variants"]
    weights = list(names.values()) if isinstance(names, dict) else None
    if uid == "":
        return -1
    ns = spec.get("namespace")
    if ns is not None and not gb_core.inNamespace(uid, tuple(ns)):
        return -1
    n = gb_core.gbhash(spec.get("seed") or spec["name"], uid, spec.get("hash_version", 2))
    ranges = gb_core.getBucketRanges(len(names), spec.get("coverage", 1.0), weights)
    return gb_core.chooseVariation(n, ranges)


def _codes(df: pd.DataFrame) -> np.ndarray:
    return df["variant"].cat.codes.to_numpy().astype(int)


def _random_ids(n: int, seed: int) -> list[str]:
    """Mixed ids: UUID-like hex, user_<k>, digits, non-ASCII, emoji, empty, very long."""
    rng = np.random.default_rng(seed)
    alphabet = [*"abcdef0123456789", "é", "ß", "中", "文", "😀", "\U0001f680", "-", " "]
    kinds = rng.choice(6, size=n, p=[0.3, 0.25, 0.15, 0.2, 0.01, 0.09])
    lengths = rng.integers(0, 40, n)
    out = []
    for kind, length in zip(kinds.tolist(), lengths.tolist(), strict=True):
        if kind == 0:
            out.append(f"{rng.integers(0, 2**62):032x}")
        elif kind == 1:
            out.append(f"user_{rng.integers(0, 10**9)}")
        elif kind == 2:
            out.append(str(rng.integers(0, 10**12)))
        elif kind == 3:
            out.append("".join(rng.choice(alphabet, size=length)))
        elif kind == 4:
            out.append("x" * int(rng.integers(100, 1000)))
        else:
            out.append("" if length < 2 else "usér-" + str(length))
    return out


# --------------------------------------------------------------------------- SDK agreement


@settings(max_examples=300)
@given(seed=ANY_TEXT, uid=IDS)
def test_hash_matches_sdk(seed: str, uid: str) -> None:
    assert hash_unit(seed, uid, 1) == gb_core.gbhash(seed, uid, 1)
    assert hash_unit(seed, uid, 2) == gb_core.gbhash(seed, uid, 2)
    assert hash_unit(seed, uid, 3) is None


@settings(max_examples=100)
@given(
    n=st.integers(1, 8),
    coverage=st.floats(0, 1),
    raw=st.lists(st.integers(0, 1000), min_size=8, max_size=8),
)
def test_bucket_ranges_match_sdk(n: int, coverage: float, raw: list[int]) -> None:
    w = raw[:n]
    weights = [x / sum(w) for x in w] if sum(w) else None
    assert bucket_ranges(n, coverage, weights) == gb_core.getBucketRanges(n, coverage, weights)
    ranges = bucket_ranges(n, coverage, weights)
    for k in range(0, 10_000, 97):
        assert choose_variant(k / 10_000, ranges) == gb_core.chooseVariation(k / 10_000, ranges)


@settings(max_examples=200)
@given(uid=IDS, name=ANY_TEXT, bounds=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_namespace_matches_sdk(uid: str, name: str, bounds: tuple[float, float]) -> None:
    start, end = sorted(bounds)
    if start == end:
        with pytest.raises(SpecError, match="empty"):
            in_namespace(uid, (name, start, end))
    else:
        assert in_namespace(uid, (name, start, end)) == gb_core.inNamespace(uid, (name, start, end))


SPECS = [
    _spec(),
    _spec(hash_version=1),
    _spec(variants={"a": 0.2, "b": 0.3, "c": 0.5}, coverage=0.7, seed="s33d"),
    _spec(namespace=["checkout", 0.25, 0.8], coverage=0.9),
    _spec(hash_version=1, namespace=["n", 0.0, 0.5], variants=["a", "b", "c"]),
]


@settings(max_examples=60)
@given(ids=st.lists(IDS, max_size=60))
def test_vectorized_assign_matches_sdk(ids: list[str]) -> None:
    for spec in SPECS:
        expected = [_sdk_variant(u, spec) for u in ids]
        got = _codes(assign(ids, spec))
        assert got.tolist() == expected
        # the Arrow route (what Parquet gives) agrees too, where Arrow can hold the text
        try:
            arr = pa.array(ids, type=pa.string())
        except (UnicodeEncodeError, pa.ArrowException):
            continue
        assert _codes(assign(arr, spec)).tolist() == expected


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: str(sorted(s)))
def test_100k_random_ids_match_sdk(spec: dict[str, Any]) -> None:
    ids = _random_ids(100_000, seed=7)
    expected = np.array([_sdk_variant(u, spec) for u in ids])
    assert np.array_equal(_codes(assign(ids, spec)), expected)
    assert np.array_equal(_codes(assign(pa.array(ids), spec)), expected)


def test_full_sdk_run_agrees_including_holdout_and_overrides() -> None:
    """End to end against ``GrowthBook.run``: holdout = an inline experiment run first."""
    spec = _spec(
        variants={"a": 0.4, "b": 0.6},
        coverage=0.8,
        namespace=["ns", 0.1, 0.9],
        holdout=0.1,
        overrides={"qa-7": "b"},
    )
    ids = [f"user-{i}" for i in range(3000)] + ["qa-7"]
    got = assign(ids, spec, with_status=True)
    for uid, v, status in zip(ids, got["variant"], got["status"], strict=True):
        gb = growthbook.GrowthBook(attributes={"id": uid})
        if uid == "qa-7":
            gb.forced_variations = {"exp-1": 1}
        hold = gb.run(
            growthbook.Experiment(
                key=A.HOLDOUT_SEED, variations=[True, False], weights=[0.1, 0.9], hashVersion=2
            )
        )
        res = gb.run(
            growthbook.Experiment(
                key="exp-1",
                variations=["a", "b"],
                weights=[0.4, 0.6],
                coverage=0.8,
                namespace=("ns", 0.1, 0.9),
                hashVersion=2,
            )
        )
        gb.destroy()
        if uid == "qa-7":
            assert (v, status) == ("b", "override")
        elif hold.value:
            assert status == "holdout" and pd.isna(v)
        elif res.inExperiment:
            assert (v, status) == (res.value, "assigned")
        else:
            assert pd.isna(v) and status in ("not_in_namespace", "not_in_coverage")


def test_known_values() -> None:
    """Frozen values (growthbook 4.0.0 ``gbhash``); they must never change."""
    assert hash_unit("", "a", 1) == 0.22
    assert hash_unit("seed", "a", 2) == 0.0505
    assert hash_unit("exp", "😀", 2) == gb_core.gbhash("exp", "😀", 2)
    assert _h.fnv1a32("a") == 0xE40C292C


# --------------------------------------------------------------------------- determinism


def test_deterministic_across_processes() -> None:
    code = (
        "from abkit.assign import assign\n"
        "ids = [f'user-{i}' for i in range(2000)] + ['é', '😀', '']\n"
        "spec = {'name': 'x', 'control': 'a', 'variants': ['a', 'b', 'c']}\n"
        "print(''.join(map(str, assign(ids, spec).variant.cat.codes + 1)))\n"
    )
    runs = set()
    for hashseed in ("0", "1", "random"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        runs.add(proc.stdout)
    ids = [f"user-{i}" for i in range(2000)] + ["é", "😀", ""]
    codes = assign(ids, _spec(name="x", variants=["a", "b", "c"])).variant.cat.codes + 1
    local = "".join(map(str, codes))
    assert runs == {local + "\n"}


def test_independent_of_row_order_and_of_other_rows() -> None:
    ids = np.array(_random_ids(5000, seed=3), dtype=object)
    spec = _spec(variants=["a", "b", "c"], coverage=0.8)
    full = dict(zip(ids, assign(ids, spec).variant.astype(object), strict=True))
    perm = np.random.default_rng(1).permutation(len(ids))
    shuffled = assign(ids[perm], spec)
    assert all(
        full[u] == v or (pd.isna(full[u]) and pd.isna(v))
        for u, v in zip(shuffled.unit_id, shuffled.variant.astype(object), strict=True)
    )
    subset = ids[::7]
    sub = assign(subset, spec)
    assert all(
        full[u] == v or (pd.isna(full[u]) and pd.isna(v))
        for u, v in zip(sub.unit_id, sub.variant.astype(object), strict=True)
    )


def test_split_proportions_within_binomial_tolerance() -> None:
    n = 200_000
    ids = [f"u{i}" for i in range(n)]
    spec = _spec(variants={"a": 0.2, "b": 0.3, "c": 0.5}, coverage=0.8)
    counts = assign(ids, spec).variant.value_counts(dropna=False)
    for name, p in (("a", 0.16), ("b", 0.24), ("c", 0.4)):
        sd = np.sqrt(n * p * (1 - p))
        assert abs(counts[name] - n * p) < 5 * sd, (name, counts[name])
    held = assign(ids, _spec(holdout=0.1), with_status=True).status
    share = (held == "holdout").mean()
    assert abs(share - 0.1) < 5 * np.sqrt(0.1 * 0.9 / n)


def test_changed_seed_reshuffles() -> None:
    ids = [f"u{i}" for i in range(20_000)]
    a = assign(ids, _spec()).variant
    b = assign(ids, _spec(seed="other")).variant
    agree = (a == b).mean()  # independent 50/50 assignments agree half of the time
    assert abs(agree - 0.5) < 5 * np.sqrt(0.25 / len(ids))


# --------------------------------------------------------------------------- input kinds


def test_input_kinds_agree() -> None:
    ids = [f"user-{i}" for i in range(500)] + ["é", "😀"]
    spec = _spec(variants=["a", "b", "c"])
    ref = _codes(assign(ids, spec))
    obj = np.array(ids, dtype=object)
    kinds = {
        "list": ids,
        "tuple": tuple(ids),
        "generator": (u for u in ids),
        "numpy object": obj,
        "numpy unicode": np.array(ids),
        "series str": pd.Series(ids),
        "series object": pd.Series(obj, dtype=object),
        "series python string": pd.Series(ids, dtype=pd.StringDtype("python")),
        "categorical": pd.Series(ids, dtype="category"),
        "index": pd.Index(ids),
        "arrow": pa.array(ids),
        "arrow large": pa.array(ids, type=pa.large_string()),
        "arrow view": pa.array(ids, type=pa.string_view()),
        "arrow chunked": pa.chunked_array([ids[:100], ids[100:]]),
        "arrow dictionary": pa.array(ids).dictionary_encode(),
        "arrow sliced": pa.array(["pad", *ids]).slice(1),
    }
    for label, values in kinds.items():
        assert _codes(assign(values, spec)).tolist() == ref.tolist(), label


def test_numeric_ids_follow_the_javascript_rule() -> None:
    spec = _spec()
    ints = np.array([1, 42, -7, 9_007_199_254_740_992], dtype=np.int64)
    as_text = [str(x) for x in ints]
    assert _codes(assign(ints, spec)).tolist() == _codes(assign(as_text, spec)).tolist()
    assert _codes(assign(pa.array(ints), spec)).tolist() == _codes(assign(as_text, spec)).tolist()
    floats = np.array([1.0, 42.0, 0.5, 1e21, 1.5e-7, np.nan, np.inf, 0.0])
    texts = ["1", "42", "0.5", "1e+21", "1.5e-7"]
    got = assign(floats, spec, with_status=True)
    assert _codes(got)[:5].tolist() == _codes(assign(texts, spec)).tolist()
    assert got.status.tolist()[5:] == ["null_id", "invalid_id", "invalid_id"]
    assert [unit_id_to_str(x) for x in (5, 5.0, -0.25, 123456789012.0)] == [
        "5",
        "5",
        "-0.25",
        "123456789012",
    ]
    for x in (1.0, 0.1, 1e21, 1e-7, 123.456, 2.0**60, -3.5):
        assert unit_id_to_str(x) == gb_core._js_number_to_string(x)
    nullable = pd.Series([1, None, 3], dtype="Int64")
    assert assign(nullable, spec, with_status=True).status.tolist()[1] == "null_id"
    mixed = np.array(["u1", 7, 7.0, None, 2.5], dtype=object)
    got = assign(mixed, spec, with_status=True)
    same = _codes(assign(["u1", "7", "7", "x", "2.5"], spec)).tolist()
    assert _codes(got).tolist() == [*same[:3], -1, same[4]]
    assert got.status.tolist()[3] == "null_id"


@settings(max_examples=50)
@given(
    ids=st.lists(st.one_of(IDS, st.none(), st.integers(-(2**53), 2**53), st.floats()), max_size=30)
)
def test_bad_input_never_crashes(ids: list[object]) -> None:
    """Any mix of text, numbers and nulls gives a frame (or a clean DataError), never a crash."""
    try:
        out = assign(ids, _spec(), with_status=True)
    except DataError:
        return
    assert len(out) == len(ids)
    assert set(out.status.astype(str)) <= set(STATUSES)
    nulls = [x is None or (isinstance(x, float) and np.isnan(x)) for x in ids]
    assert (out.status == "null_id").tolist() == nulls


# --------------------------------------------------------------------------- bad input


def test_nulls_and_unhashable_ids_are_reported_not_assigned() -> None:
    out = assign(["u1", None, "", np.nan, 0], _spec(), with_status=True)
    assert out.status.tolist() == ["assigned", "null_id", "invalid_id", "null_id", "invalid_id"]
    assert out.variant.isna().tolist() == [False, True, True, True, True]
    arrow = assign(pa.array(["u1", None, ""]), _spec(), with_status=True)
    assert arrow.status.tolist() == ["assigned", "null_id", "invalid_id"]


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        (np.array([True, False]), "booleans"),
        (pd.Series([True, False]), "booleans"),
        (pa.array([True]), "booleans"),
        (["a", b"b"], "bytes"),
        (["a", True], "bool"),
        ([2**60], "beyond 2\\*\\*53"),
        (np.array([2**60], dtype=np.int64), "beyond 2\\*\\*53"),
        (np.array([b"x"]), "not supported"),
        (pd.Series(pd.to_datetime(["2024-01-01"])), "not supported"),
        ("user-1", "single str"),
        (42, "must be a list"),
    ],
)
def test_unsupported_ids_raise_clear_errors(ids: object, match: str) -> None:
    with pytest.raises(DataError, match=match):
        assign(ids, _spec())


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"variants": {"a": 0.5, "b": 0.6}}, "sum to 1.1"),
        ({"coverage": 1.5}, "fraction in \\[0, 1\\]"),
        ({"coverage": -0.1}, "fraction in \\[0, 1\\]"),
        ({"variants": ["a", "a"]}, "duplicate variant"),
        ({"namespace": ["ns", 0.5, 0.5]}, "namespace"),
        ({"holdout": 2}, "fraction"),
    ],
)
def test_invalid_specs_raise_spec_errors(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        assign(["u1"], _spec(**kw))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((2, 1.5), "coverage must be in"),
        ((2, float("nan")), "coverage must be in"),
        ((2, 1.0, [0.5, 0.6]), "sum to 1.1"),
        ((2, 1.0, [0.5]), "1 entries for 2 variants"),
        ((2, 1.0, [1.5, -0.5]), ">= 0"),
        ((0,), "at least 1"),
    ],
)
def test_bucket_ranges_rejects_invalid_input(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        bucket_ranges(*args)


def test_overrides_win_and_match_stringified_ids() -> None:
    spec = _spec(coverage=0.0, holdout=1.0, overrides={"qa-1": "b", "42": "a"})
    out = assign(["qa-1", 42, "qa-2", "QA-1"], spec, with_status=True)
    assert out.variant.astype(object).tolist()[:2] == ["b", "a"]
    assert out.status.tolist() == ["override", "override", "holdout", "holdout"]
    v1 = assign(["qa-1", "x"], {**spec, "hash_version": 1}, with_status=True)
    assert v1.status.tolist() == ["override", "holdout"]


def test_spec_from_yaml_path(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("name: exp-1\ncontrol: a\nvariants: [a, b]\n", encoding="utf-8")
    ids = [f"u{i}" for i in range(50)]
    assert _codes(assign(ids, path)).tolist() == _codes(assign(ids, _spec())).tolist()


# --------------------------------------------------------------------------- files


def test_assign_file_csv_to_parquet_and_back(tmp_path: Path) -> None:
    src = tmp_path / "units.csv"
    src.write_text("user,country\n007,fr\n,de\nabc,us\n", encoding="utf-8")
    spec = _spec(columns={"unit_id": "user"})
    old_mask = os.umask(0o022)
    try:
        assert assign_file(spec, src, tmp_path / "out.parquet") == 3
    finally:
        os.umask(old_mask)
    assert (tmp_path / "out.parquet").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    out = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert out.user.tolist()[0] == "007"  # CSV ids are text: leading zeros kept; name kept
    assert out.status.tolist()[1] == "null_id"
    assert out.variant.tolist()[0] == assign(["007"], spec).variant[0]
    pq.write_table(pa.table({"id": pa.array([5, 6, None])}), tmp_path / "units.parquet")
    n = assign_file(_spec(), tmp_path / "units.parquet", tmp_path / "o.csv.gz")
    assert n == 3
    back = pd.read_csv(tmp_path / "o.csv.gz")
    assert back.status.tolist() == ["assigned", "assigned", "null_id"]
    assert not list(tmp_path.glob(".o.csv.gz.*"))  # atomic write leaves no temp file


def test_assign_file_errors(tmp_path: Path) -> None:
    src = tmp_path / "units.csv"
    src.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="id_column"):
        assign_file(_spec(), src, tmp_path / "out.csv")
    with pytest.raises(DataError, match="no column 'c'"):
        assign_file(_spec(), src, tmp_path / "out.csv", id_column="c")
    with pytest.raises(DataError, match="unknown file type"):
        assign_file(_spec(), src, tmp_path / "out.xlsx", id_column="a")
    with pytest.raises(DataError, match="does not exist"):
        assign_file(_spec(), tmp_path / "nope.csv", tmp_path / "out.csv")


# --------------------------------------------------------------------------- SRM and audit


def _exposure_log(n: int = 20_000, seed: int = 5) -> tuple[pd.DataFrame, dict[str, Any]]:
    spec = _spec(variants={"a": 0.5, "b": 0.5}, segments=["channel"])
    rng = np.random.default_rng(seed)
    ids = [f"user-{i}" for i in range(n)]
    log = assign(ids, spec)
    log["channel"] = rng.choice(["ads", "organic", "referral"], size=n)
    log["platform"] = rng.choice(["ios", "android"], size=n)
    day = rng.integers(0, 5, size=n)
    log["exposed_at"] = pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(day, "D")
    log["variant"] = log["variant"].astype(object)
    return log, spec


def test_srm_clean_log_is_not_flagged() -> None:
    log, spec = _exposure_log()
    repeats = log.sample(5000, random_state=1).assign(
        exposed_at=lambda d: d.exposed_at + pd.Timedelta("2h")
    )
    d = srm_diagnosis(pd.concat([log, repeats]), spec, segments=["channel", "platform"])
    assert not d.flagged
    assert d.n_units == len(log) and d.n_rows == len(log) + 5000
    assert set(d.by_segment.dimension) == {"channel", "platform"}
    assert len(d.by_day) == 5
    table = d.to_pandas()
    assert list(table.scope.unique()) == ["overall", "segment", "day"]
    assert {"n_a", "n_b", "share_a", "pvalue_adjusted", "flagged"} <= set(table.columns)
    assert "ok" in str(d) and "<div>" in d._repr_html_()


def test_srm_locates_the_broken_segment_and_day() -> None:
    log, spec = _exposure_log()
    lost = (log.channel == "ads") & (log.variant == "b") & (log.exposed_at.dt.day == 3)
    d = srm_diagnosis(log[~lost], spec)  # segments default to the spec's
    assert d.overall.flagged
    flagged = d.by_segment[d.by_segment.flagged]
    assert flagged.value.tolist() == ["ads"]
    days = d.by_day[d.by_day.flagged]
    assert [str(x) for x in days.value] == ["2024-03-03"]
    assert "MISMATCH" in str(d) and "channel=ads" in str(d)


def test_srm_counts_first_exposure_and_data_problems() -> None:
    spec = _spec(overrides={"qa": "b"})
    log = pd.DataFrame(
        {
            "uid": ["u1", "u1", "u2", None, "u3", "qa", "u4"],
            "arm": ["a", "b", "b", "a", "zz", "b", "a"],
        }
    )
    d = srm_diagnosis(log, spec, unit_id="uid", variant="arm")
    assert d.overall.observed == (2, 1)  # u1 -> a (first row), u2 -> b, u4 -> a
    assert (d.n_null_ids, d.n_unknown_variant, d.n_multiple_variants, d.n_overrides) == (1, 1, 1, 1)
    assert len(d.by_day) == 0 and any("per-day" in n for n in d.notes)
    with pytest.raises(DataError, match="none of which is a spec variant"):
        srm_diagnosis(log.assign(arm="x"), spec, unit_id="uid", variant="arm")
    with pytest.raises(DataError, match="no column"):
        srm_diagnosis(log, spec)


def test_srm_zero_weight_arm() -> None:
    spec = _spec(variants={"a": 1.0, "b": 0.0})
    ok = srm_diagnosis(pd.DataFrame({"unit_id": ["u1", "u2"], "variant": ["a", "a"]}), spec)
    assert ok.overall.pvalue is None and not ok.flagged
    bad = srm_diagnosis(pd.DataFrame({"unit_id": ["u1", "u2"], "variant": ["a", "b"]}), spec)
    assert bad.overall.flagged and bad.overall.pvalue == 0.0


def test_audit_exposures() -> None:
    log, spec = _exposure_log(2000)
    clean = audit_exposures(log, spec)
    assert clean.ok and clean.n_checked == 2000 and clean.mismatch_rate == 0
    broken = log.copy()
    broken.loc[:9, "variant"] = np.where(broken.loc[:9, "variant"] == "a", "b", "a")
    broken = pd.concat([broken, pd.DataFrame({"unit_id": [None], "variant": ["a"]})])
    audit = audit_exposures(broken, spec)
    assert (audit.n_mismatched, audit.n_wrong_variant, audit.n_null_ids) == (10, 10, 1)
    assert len(audit.examples) == 10 and "10 of 2,000" in str(audit)
    held = _spec(holdout=1.0)
    out = audit_exposures(pd.DataFrame({"unit_id": ["u1", "u2"], "variant": ["a", "a"]}), held)
    assert out.n_not_in_experiment == 2
    assert out.examples.expected_status.tolist() == ["holdout", "holdout"]
    assert out.to_pandas().n_mismatched.item() == 2


def test_doctests() -> None:
    for module in (A, _h, _growthbook, _vectorized, _files, _audit):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__


def test_assign_file_keeps_the_id_column_name(tmp_path: Path) -> None:
    src = tmp_path / "users.csv"
    src.write_text("country,user_id\nfr,007\nde,u2\n", encoding="utf-8")
    assert assign_file(_spec(), src, tmp_path / "out.csv", id_column="user_id") == 2
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert list(out.columns) == ["user_id", "variant", "status"]
    assert out.user_id.tolist() == ["007", "u2"]
    # the spec's columns.unit_id names it too; Parquet keeps the name as well
    pq.write_table(pa.table({"uid": ["a", "b"]}), tmp_path / "units.parquet")
    spec = _spec(columns={"unit_id": "uid"})
    assign_file(spec, tmp_path / "units.parquet", tmp_path / "out.parquet")
    assert pq.read_schema(tmp_path / "out.parquet").names == ["uid", "variant", "status"]
    # an id column called like an output column is written as unit_id
    (tmp_path / "v.csv").write_text("variant\nx\n", encoding="utf-8")
    assign_file(_spec(), tmp_path / "v.csv", tmp_path / "v_out.csv")
    assert pd.read_csv(tmp_path / "v_out.csv").columns.tolist() == ["unit_id", "variant", "status"]


def test_assign_refuses_a_fifo_instead_of_blocking(tmp_path):
    import os

    from abkit.assign.files import assign_file

    fifo = tmp_path / "units.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match=r"not a regular file|FIFO|named pipe"):
        assign_file({"name": "e", "control": "a", "variants": ["a", "b"]}, fifo, tmp_path / "o.csv")
