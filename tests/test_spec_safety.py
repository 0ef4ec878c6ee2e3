"""Specs that mean one thing, numbers in range, and report options the data cannot honour.

Each case failed before the fix: a second ``alpha: 0.5`` silently won; a 342-byte alias bomb was
expanded by pydantic (minutes, gigabytes); a latin-1 file gave a raw UnicodeDecodeError;
``Retention(day=10**23)`` and ``metric_day=10**9`` were accepted; ``churn_tau`` beyond the log
integrated an extrapolated Kaplan–Meier tail (RMST 44 days out of 40 days of data); more
inactive days than the log covers killed the whole report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import abkit as ab
from abkit.cli import main
from abkit.design import plan_retention_test
from abkit.errors import DataError, SpecError
from abkit.report.context import ReportContext
from abkit.retention import churn_survival
from abkit.spec import load_spec
from abkit.spec.load import MAX_SPEC_VALUES

HEAD = "name: x\ncontrol: a\nvariants: [a, b]\nmetrics:\n  - retention: {day: 7}\n"


def _write(tmp_path: Path, text: str | bytes, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path):
    p = _write(tmp_path, HEAD.replace("control: a\n", "control: a\nalpha: 0.05\n") + "alpha: 0.5\n")
    with pytest.raises(
        SpecError, match=r"key 'alpha' is given twice in one mapping \(lines 3 and 7\)"
    ):
        load_spec(p)
    nested = HEAD + "report:\n  curve_days: 7\n  curve_days: 14\n"
    with pytest.raises(SpecError, match="key 'curve_days' is given twice"):
        load_spec(_write(tmp_path, nested))


def test_merge_keys_may_still_override(tmp_path):
    text = (
        "name: x\ncontrol: a\nvariants: [a, b]\nmetrics:\n"
        "  - retention: &d7 {day: 7}\n  - retention: {<<: *d7, day: 1}\n"
    )
    spec = load_spec(_write(tmp_path, text))
    assert [m.name for m in spec.build_metrics()] == ["retention_d7", "retention_d1"]


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    p = _write(tmp_path, HEAD + "\n".join(lines) + "\n")
    assert p.stat().st_size < 1000  # 9**9 ≈ 387 million values once expanded
    with pytest.raises(SpecError, match=f"expand to more than {MAX_SPEC_VALUES:,} values") as err:
        load_spec(p)
    assert "lol" not in str(err.value)  # the structure is never written into the message


def test_recursive_and_deeply_nested_yaml_are_refused(tmp_path):
    with pytest.raises(SpecError, match="an alias refers to the value that contains it"):
        load_spec(_write(tmp_path, "name: &a [x, *a]\n"))
    with pytest.raises(SpecError, match="nests its values too deeply"):
        load_spec(_write(tmp_path, "name: " + "[" * 5000 + "]" * 5000 + "\n"))


def test_long_values_are_cut_in_messages():
    with pytest.raises(SpecError) as err:
        load_spec({"name": "x", "control": "a", "variants": "a" * 10_000})
    assert len(str(err.value)) < 400 and "…" in str(err.value)


def test_a_spec_that_is_not_utf8_is_a_spec_error_and_exit_2(tmp_path, capsys):
    p = _write(tmp_path, (HEAD + "description: café\n").encode("latin-1"))
    with pytest.raises(
        SpecError, match=r"not UTF-8 text \(byte 0xe9 on line 6\); save it as UTF-8"
    ):
        load_spec(p)
    ab.simulate  # noqa: B018 - the CLI path below must not need the data to refuse the spec
    assert main(["report", str(p), "--units", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "Traceback" not in err


def test_a_spec_path_that_is_a_directory_is_named(tmp_path):
    with pytest.raises(SpecError, match="is not a regular file"):
        load_spec(tmp_path)


@pytest.mark.parametrize("day", [10**23, 3651, -1, True])
def test_metric_days_are_range_checked(day):
    with pytest.raises(SpecError, match="day must be a whole number of days from 0 to 3650"):
        ab.Retention(day=day)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric_day": 10**9}, "metric_day must be a whole number of days from 0 to 365"),
        ({"daily_units": 1e300}, r"daily_units must be a number of units per day in \(0, 1e9\]"),
        ({"daily_units": float("nan")}, "daily_units must be a number"),
    ],
)
def test_design_inputs_are_range_checked(kwargs, message):
    with pytest.raises(SpecError, match=message):
        plan_retention_test(0.2, 0.05, **{"daily_units": 4000, **kwargs})


def test_design_cli_refuses_a_huge_metric_day_before_any_notebook(tmp_path, capsys):
    code = main(
        ["design", "--baseline", "0.2", "--mde", "0.05", "--daily-units", "4000",
         "--metric-day", "1000000000", "--out", str(tmp_path / "d")]
    )  # fmt: skip
    assert code == 2 and not (tmp_path / "d").exists()
    assert "--metric-day must be a whole number of days from 0 to 365" in capsys.readouterr().err


def test_mde_curve_stays_bounded_for_a_tiny_effect():
    plan = plan_retention_test(0.2, 0.0005, daily_units=100, metric_day=7)
    assert plan.result.duration_days > 10_000  # decades: the summary says so
    assert len(plan.mde_by_duration()) <= 730


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "--out", str(out), "--n-units", "2000", "--seed", "3"]) == 0
    return out


def test_rmst_beyond_the_follow_up_is_not_computed(sim):
    # 14 days of enrolment and 40 of activity: nobody is followed for 365 days
    res = churn_survival(
        sim / "exposures.parquet", sim / "events.parquet", inactive_days=7, tau=365
    )
    assert res.rmst == {} and res.summary().empty
    assert "tau = 365 days is beyond the longest follow-up" in res.note
    assert "RMST not computed" in repr(res) and "RMST not computed" in res._repr_html_()
    ok = churn_survival(sim / "exposures.parquet", sim / "events.parquet", inactive_days=7, tau=20)
    assert ok.note is None and len(ok.summary()) == 1


def test_too_many_inactive_days_skips_the_section_not_the_report(sim):
    with pytest.raises(DataError, match="no unit has 90 whole days observed by as_of"):
        churn_survival(sim / "exposures.parquet", sim / "events.parquet", inactive_days=90)
    spec = load_spec(
        {"name": "x", "control": "control", "variants": ["control", "treatment"],
         "metrics": [{"retention": {"day": 1}}], "report": {"churn_inactive_days": 90}}
    )  # fmt: skip
    inputs = {"exposures": str(sim / "exposures.parquet"), "events": str(sim / "events.parquet")}
    res = ab.Experiment.from_spec(spec).analyze(**inputs)
    ctx = ReportContext({"inputs": inputs}, spec, res)
    assert ctx.skipped_html("churn") == ""
    assert ctx.churn() is None
    assert "Not shown: no unit has 90 whole days observed" in ctx.skipped_html("churn")
