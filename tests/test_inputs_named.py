"""Inputs are read as named (issue 18, part 2): literal file names, globbing only when asked,
ambiguous day/month CSV dates refused, non-regular files refused, no silently ignored CLI
arguments, and CSV exports whose cells cannot run as spreadsheet formulas."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pandas as pd
import pytest

import abkit as ab
from abkit._files import neutralise_csv_frame, neutralise_formula
from abkit.cli import main
from abkit.data import connect, load_table
from abkit.errors import DataError, ReportError
from abkit.report import resolve_inputs

T0 = pd.Timestamp("2024-05-01T10:00:00", tz="UTC")


def _rows(t) -> int:
    return int(t.count().execute())


def _frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"a": range(n)})


# ---------------------------------------------------------------- literal names, glob: on request


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_name_with_brackets_reads_that_file_not_its_glob_match(tmp_path, suffix):
    # before: DuckDB read "ev[1].parquet" as the pattern ev[1] -> ev1.parquet (2 rows, not 1)
    write = (
        (lambda df, p: df.to_parquet(p))
        if suffix == ".parquet"
        else (lambda df, p: df.to_csv(p, index=False))
    )
    write(_frame(1), tmp_path / f"ev[1]{suffix}")
    write(_frame(2), tmp_path / f"ev1{suffix}")
    t = load_table(str(tmp_path / f"ev[1]{suffix}"), con=connect(), role="events")
    assert _rows(t) == 1


def test_star_and_question_mark_in_a_real_name_match_only_themselves(tmp_path):
    _frame(3).to_parquet(tmp_path / "x*.parquet")
    _frame(5).to_parquet(tmp_path / "xa.parquet")
    _frame(1).to_csv(tmp_path / "q?.csv", index=False)
    _frame(4).to_csv(tmp_path / "qq.csv", index=False)
    con = connect()
    assert _rows(load_table(tmp_path / "x*.parquet", con=con, role="events")) == 3
    assert _rows(load_table(str(tmp_path / "q?.csv"), con=con, role="events")) == 1


def test_glob_prefix_opts_into_patterns(tmp_path, monkeypatch):
    for i in range(3):
        _frame(i + 1).to_parquet(tmp_path / f"ev-{i}.parquet")
    con = connect()
    t = load_table(f"glob:{tmp_path}/ev-*.parquet", con=con, role="events")
    assert _rows(t) == 1 + 2 + 3
    monkeypatch.chdir(tmp_path)  # a relative pattern is relative to the working directory
    assert _rows(load_table("glob:ev-[01].parquet", con=con, role="events")) == 3
    with pytest.raises(DataError, match=r"events: could not read glob:nothing-\*\.parquet"):
        load_table("glob:nothing-*.parquet", con=con, role="events")


def test_a_missing_name_with_glob_characters_points_to_glob(tmp_path):
    _frame(2).to_parquet(tmp_path / "ev1.parquet")
    with pytest.raises(DataError, match=r"does not exist; paths are read as named.*glob:"):
        load_table(str(tmp_path / "ev[1].parquet"), con=connect(), role="events")


def test_a_folder_keeps_reading_every_parquet_file_under_it(tmp_path):
    folder = tmp_path / "logs[2024]"  # glob characters in the folder's own name
    (folder / "day=1").mkdir(parents=True)
    _frame(2).to_parquet(folder / "a.parquet")
    _frame(3).to_parquet(folder / "day=1" / "b.parquet")
    _frame(7).to_parquet(tmp_path / "logs2.parquet")  # what the unescaped pattern would match
    assert _rows(load_table(folder, con=connect(), role="events")) == 5


def test_a_single_file_in_a_partition_folder_gains_no_column(tmp_path):
    # DuckDB's hive detection would add a column 'country' to a file read as named
    (tmp_path / "country=NL").mkdir()
    _frame(2).to_parquet(tmp_path / "country=NL" / "events.parquet")
    t = load_table(tmp_path / "country=NL" / "events.parquet", con=connect(), role="events")
    assert list(t.columns) == ["a"]


def test_other_engines_read_a_literal_name_without_their_globbing_reader(tmp_path):
    _frame(1).to_parquet(tmp_path / "ev[1].parquet")
    _frame(2).to_parquet(tmp_path / "ev1.parquet")

    class Engine:  # a backend whose readers glob: they must not be asked
        name = "other"

        def read_parquet(self, *a, **k):
            raise AssertionError("the globbing reader was used")

        read_csv = read_parquet

    t = load_table(str(tmp_path / "ev[1].parquet"), con=Engine(), role="events")  # type: ignore[arg-type]
    assert len(t.execute()) == 1


def test_the_analysis_reads_the_file_it_is_given(tmp_path):
    # end to end: exposures in "exp[1].parquet" beside a decoy "exp1.parquet" of other units.
    # DuckDB's escaped name (exp[[]1].parquet) was not enough: the analysis query inlines the
    # scan twice, and DuckDB 1.5 expanded the name again there (47 units of the decoy, not 400)
    sim = ab.simulate.retention_experiment(n_units=400, seed=3)
    sim.exposures.to_parquet(tmp_path / "exp[1].parquet")
    sim.exposures.iloc[:50].to_parquet(tmp_path / "exp1.parquet")
    sim.events.to_parquet(tmp_path / "ev.parquet")
    res = ab.Experiment(metrics=[ab.Retention(day=1)], control="control").analyze(
        exposures=str(tmp_path / "exp[1].parquet"), events=tmp_path / "ev.parquet"
    )
    assert sum(a.n for a in res.arms if a.segment is None) == 400


# ---------------------------------------------------------------- non-regular files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_refused_not_read(tmp_path, capsys):
    fifo = tmp_path / "events.csv"
    os.mkfifo(fifo)
    # a reader opening the FIFO would block forever; a watchdog writer unblocks every such open
    done = threading.Event()

    def unblock():
        while not done.wait(5):
            with open(fifo, "w") as f:
                f.write("unit_id,ts\n")

    threading.Thread(target=unblock, daemon=True).start()
    try:
        with pytest.raises(DataError, match=r"events: .*events\.csv is a named pipe \(FIFO\)"):
            load_table(fifo, con=connect(), role="events")
        with pytest.raises(ReportError, match=r"named pipe") as info:
            ab.report.run_report(_spec(tmp_path), out=tmp_path / "out", exposures=fifo)
        assert info.value.exit_code == 2
        assert main(["analyze", str(_spec(tmp_path)), "--exposures", str(fifo)]) == 2
        assert "named pipe (FIFO)" in capsys.readouterr().err
    finally:
        done.set()


# ---------------------------------------------------------------- day/month CSV dates


def _events_csv(tmp_path: Path, stamps: list[str], name: str = "events.csv") -> Path:
    p = tmp_path / name
    rows = "".join(f"u{i},{s}\n" for i, s in enumerate(stamps))
    p.write_text("unit_id,ts\n" + rows, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "stamps",
    [
        ["03/04/2024 10:00:00", "05/06/2024 11:00:00"],  # DuckDB read these as 3 April, 5 June
        ["03-04-2024 10:00:00"],
        ["03.04.2024 10:00:00", "12.11.2024 09:30:00"],
    ],
)
def test_ambiguous_day_month_csv_dates_are_refused(tmp_path, stamps):
    p = _events_csv(tmp_path, stamps)
    with pytest.raises(DataError) as info:
        load_table(p, con=connect(), role="events")
    msg = str(info.value)
    assert "column 'ts' of events.csv" in msg and repr(stamps[0]) in msg
    assert "'unit_id': 'u0'" in msg  # the example row
    assert "ISO 8601" in msg and "format='%d" in msg


def test_day_month_dates_the_values_settle_are_read(tmp_path):
    p = _events_csv(tmp_path, ["03/04/2024 10:00:00", "25/06/2024 11:00:00"])
    got = load_table(p, con=connect(), role="events").execute()["ts"].tolist()
    assert got == [pd.Timestamp("2024-04-03 10:00"), pd.Timestamp("2024-06-25 11:00")]


def test_iso_csv_dates_are_read_as_before(tmp_path):
    p = _events_csv(tmp_path, ["2024-04-03T10:00:00Z", "2024-05-06T11:00:00Z"])
    t = load_table(p, con=connect(), role="events")
    assert t.ts.type().is_timestamp()


def test_the_cli_says_convert_to_iso_without_python_advice(tmp_path, capsys):
    sim = ab.simulate.retention_experiment(n_units=200, seed=1)
    exposures = tmp_path / "exposures.csv"
    e = sim.exposures.copy()
    e["exposed_at"] = "03/04/2024 10:00:00"
    e.to_csv(exposures, index=False)
    spec = _spec(tmp_path)
    assert (
        main(["analyze", str(spec), "--exposures", str(exposures), "--events", str(exposures)]) == 2
    )
    err = capsys.readouterr().err
    assert "column 'exposed_at' of exposures.csv" in err and "ISO 8601" in err
    assert "pd." not in err and "Traceback" not in err


# ---------------------------------------------------------------- CLI combinations


def _spec(tmp_path: Path, data: str = "") -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: onb\ncontrol: control\nvariants: [control, treatment]\n"
        "metrics:\n  - retention: {day: 1}\n" + data,
        encoding="utf-8",
    )
    return spec


@pytest.fixture
def sim_dir(tmp_path):
    sim = ab.simulate.retention_experiment(n_units=600, seed=4)
    sim.exposures.to_parquet(tmp_path / "exposures.parquet")
    sim.events.to_parquet(tmp_path / "events.parquet")
    units = sim.exposures[["unit_id", "variant"]].assign(r=1)
    units.to_parquet(tmp_path / "units.parquet")
    return tmp_path


def test_units_with_logs_is_refused(sim_dir, capsys):
    spec = _spec(sim_dir)
    args = ["analyze", str(spec), "--units", str(sim_dir / "units.parquet")]
    # before: --exposures was silently ignored and the units table analysed
    assert main([*args, "--exposures", str(sim_dir / "exposures.parquet")]) == 2
    err = capsys.readouterr().err
    assert "give either --units or --exposures/--events, not both" in err
    assert main([*args, "--events", str(sim_dir / "events.parquet")]) == 2


def test_events_alone_while_the_spec_names_both_is_refused(sim_dir, capsys):
    spec = _spec(sim_dir, "data: {exposures: exposures.parquet, events: events.parquet}\n")
    other = sim_dir / "other-events.parquet"
    pd.read_parquet(sim_dir / "events.parquet").iloc[:10].to_parquet(other)
    # before: --events was ignored and the spec's events analysed
    assert main(["analyze", str(spec), "--events", str(other)]) == 2
    err = capsys.readouterr().err
    assert "--events was given without --exposures" in err and "names both" in err
    assert main(["analyze", str(spec), "--exposures", str(sim_dir / "exposures.parquet")]) == 2
    assert "--exposures was given without --events" in capsys.readouterr().err
    assert main(["analyze", str(spec)]) == 0  # neither: the spec's data


def test_events_complete_a_spec_that_names_only_exposures(sim_dir):
    spec = _spec(sim_dir, "data: {exposures: exposures.parquet}\n")
    got = resolve_inputs(spec, None, sim_dir / "events.parquet", None)
    assert got[1] == sim_dir / "exposures.parquet" and got[2] == sim_dir / "events.parquet"
    with pytest.raises(ReportError, match=r"events= was given without exposures=; pass"):
        resolve_inputs(_spec(sim_dir), None, sim_dir / "events.parquet", None)


def test_as_of_with_a_units_table_is_refused(sim_dir, capsys):
    spec = _spec(sim_dir)
    args = ["analyze", str(spec), "--units", str(sim_dir / "units.parquet")]
    assert main([*args, "--as-of", "2024-06-01T00:00Z"]) == 2
    assert "--as-of cuts event logs off" in capsys.readouterr().err


def test_spec_data_may_ask_for_a_glob(sim_dir):
    ev = pd.read_parquet(sim_dir / "events.parquet")
    (sim_dir / "parts").mkdir()
    half = len(ev) // 2
    ev.iloc[:half].to_parquet(sim_dir / "parts" / "ev-1.parquet")
    ev.iloc[half:].to_parquet(sim_dir / "parts" / "ev-2.parquet")
    data = "data: {exposures: exposures.parquet, events: 'glob:parts/ev-*.parquet'}\n"
    spec_obj, exposures, events, _ = resolve_inputs(_spec(sim_dir, data), None, None, None)
    assert events == f"glob:{sim_dir}/parts/ev-*.parquet"  # relative to the spec file
    exp = ab.Experiment.from_spec(spec_obj)
    split = exp.analyze(exposures=exposures, events=events)
    whole = exp.analyze(exposures=exposures, events=sim_dir / "events.parquet")
    assert [(a.variant, a.n, a.mean) for a in split.arms] == [
        (a.variant, a.n, a.mean) for a in whole.arms
    ]


def test_a_report_glob_that_matches_nothing_is_bad_input(sim_dir):
    data = "data: {exposures: exposures.parquet, events: 'glob:parts/none-*.parquet'}\n"
    with pytest.raises(
        ReportError, match=r"events: glob:.*none-\*\.parquet matches no file"
    ) as info:
        ab.report.run_report(_spec(sim_dir, data), out=sim_dir / "out")
    assert info.value.exit_code == 2


# ---------------------------------------------------------------- CSV exports


def test_formula_cells_are_neutralised_numbers_are_not():
    df = pd.DataFrame(
        {
            "variant": ['=HYPERLINK("x")', "+1", "-cmd", "@SUM(A1)", "\tx", "\rx", "ok"],
            "abs_lift": [-0.5, 0.1, -2.0, 0.0, 1.0, 2.0, -3.0],
            "pvalue": [None, 0.1, None, 0.5, 0.2, 0.3, 0.4],
        }
    )
    out = neutralise_csv_frame(df)
    assert out["variant"].tolist() == [
        "'=HYPERLINK(\"x\")", "'+1", "'-cmd", "'@SUM(A1)", "'\tx", "'\rx", "ok",
    ]  # fmt: skip
    assert out["abs_lift"].tolist() == df["abs_lift"].tolist()  # negative numbers stay numbers
    assert neutralise_formula(-1.5) == -1.5 and df["variant"][0].startswith("=")  # not in place


def test_analyze_csv_neutralises_user_labels(tmp_path, capsys):
    sim = ab.simulate.retention_experiment(n_units=600, seed=4)
    e = sim.exposures.copy()
    e["variant"] = e["variant"].map({"control": "=cmd|' /C calc'!A0", "treatment": "-treat"})
    e.to_parquet(tmp_path / "exposures.parquet")
    sim.events.to_parquet(tmp_path / "events.parquet")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: onb\ncontrol: \"=cmd|' /C calc'!A0\"\nvariants: [\"=cmd|' /C calc'!A0\", -treat]\n"
        "metrics:\n  - retention: {day: 1}\n",
        encoding="utf-8",
    )
    args = ["analyze", str(spec), "--exposures", str(tmp_path / "exposures.parquet")]
    assert main([*args, "--events", str(tmp_path / "events.parquet"), "--format", "csv"]) in (0, 4)
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    texts = [v for col in table.columns for v in table[col] if isinstance(v, str)]
    assert texts and not [v for v in texts if v[:1] in ("=", "+", "-", "@")]
    assert "'-treat" in table["variant"].tolist()
    numeric = table.select_dtypes("number")
    assert (numeric < 0).any().any() or (numeric <= 0).any().any()  # numbers stay numbers
