"""Output folders (issue 18, part 4): no planted link is followed, two runs cannot replace each
other, every spec of a batch has its own folder, a bad ``--out`` is a clear error (exit 2), and a
killed run leaves no work folder or kernel sockets behind."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import abkit.report.run as run_mod
from abkit._files import folder_lock
from abkit.cli import main
from abkit.errors import ReportError
from abkit.report import EXIT_FAILED, EXIT_INPUT, run_all, run_report
from abkit.report.notebook import KERNEL_PREFIX, _execute, sweep_kernel_folders

CLI = [sys.executable, "-c", "import sys; from abkit.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def sim_files(tmp_path_factory):
    from abkit.simulate import retention_experiment

    d = tmp_path_factory.mktemp("sim")
    sim = retention_experiment(n_units=2_000, seed=5)
    sim.exposures.to_parquet(d / "exposures.parquet")
    sim.events.to_parquet(d / "events.parquet")
    return d / "exposures.parquet", d / "events.parquet"


def _spec(folder: Path, name: str = "onb", file: str = "spec.yaml", **extra) -> Path:
    spec = {
        "name": name,
        "control": "control",
        "variants": ["control", "treatment"],
        "metrics": [{"retention": {"day": 1}}],
        "report": {"curve_days": 3, "cohort_days": [1], "churn_inactive_days": 0},
        **extra,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def _bad_exposures(tmp_path: Path) -> Path:
    """Exposures without a variant column: the analysis cell fails inside the kernel."""
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"unit_id": ["a"], "exposed_at": ["2024-01-01T00:00:00Z"]}).to_csv(
        bad, index=False
    )
    return bad


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------- planted links


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_link_named_failed_ipynb_is_replaced_not_followed(tmp_path, monkeypatch):
    # the preflight refuses the bad data before any kernel starts; off, to reach the kernel
    monkeypatch.setattr("abkit.report.run.preflight", lambda *args, **kwargs: None)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "failed.ipynb").symlink_to(victim)
    bad = _bad_exposures(tmp_path)
    with pytest.raises(ReportError, match=r"failed in cell") as info:
        run_report(_spec(tmp_path), out=out, exposures=bad, events=bad)
    assert info.value.exit_code == EXIT_FAILED
    assert victim.read_text(encoding="utf-8") == "keep me"  # before: the notebook was written here
    kept = out / "failed.ipynb"
    assert not kept.is_symlink() and json.loads(kept.read_text(encoding="utf-8"))["cells"]
    assert _leftovers(out) == []


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_batch_does_not_write_through_a_planted_folder_link(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "reports"
    out.mkdir()
    (out / "good").symlink_to(elsewhere, target_is_directory=True)
    folder = tmp_path / "specs"
    _spec(folder, "good", "a.yaml")
    _spec(folder, "other", "b.yaml")
    monkeypatch.setattr(run_mod, "run_report", _fake_report)
    items = run_all(folder, out=out, date="2024-05-01")
    assert [it.status for it in items] == ["invalid", "ok"]
    assert "symbolic link" in items[0].message
    assert list(elsewhere.iterdir()) == []


# ---------------------------------------------------------------- one folder, one run


def test_a_folder_another_run_holds_is_refused(sim_files, tmp_path):
    exposures, events = sim_files
    out = tmp_path / "out"
    out.mkdir()
    busy = pytest.raises(ReportError, match=r"another abkit run is writing to")
    with folder_lock(out), busy as info:  # the lock a run in progress holds
        run_report(_spec(tmp_path), out=out, exposures=exposures, events=events)
    assert info.value.exit_code == EXIT_INPUT
    assert list(out.iterdir()) == []
    with folder_lock(out):  # the refused run holds nothing
        pass


def test_two_cli_runs_on_one_folder_do_not_both_write(sim_files, tmp_path):
    exposures, events = sim_files
    spec = _spec(tmp_path)
    args = [*CLI, "report", str(spec), "--exposures", str(exposures), "--events", str(events)]
    args += ["--out", str(tmp_path / "out"), "--force"]
    first = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: any((tmp_path / "out").glob(".abkit-run-*")), 60)
    second = subprocess.run(args, stderr=subprocess.PIPE, text=True, timeout=120)
    assert second.returncode == EXIT_INPUT and "another abkit run is writing" in second.stderr
    first.communicate(timeout=180)
    assert first.returncode == 0
    assert (tmp_path / "out" / "report.html").is_file()


def test_a_stale_work_folder_is_removed_by_the_next_run(sim_files, tmp_path):
    exposures, events = sim_files
    out = tmp_path / "out"
    (out / ".abkit-run-dead1234").mkdir(parents=True)
    (out / ".abkit-run-dead1234" / "report.ipynb").write_text("{", encoding="utf-8")
    (out / ".summary.json.x1y2.tmp").write_text("{", encoding="utf-8")
    (out / "report.html").write_text("old", encoding="utf-8")  # refused without --force …
    with pytest.raises(ReportError, match="already holds a report"):
        run_report(_spec(tmp_path), out=out, exposures=exposures, events=events)
    assert _leftovers(out) == []  # … after the leftovers of a killed run were cleared
    assert (out / "report.html").read_text(encoding="utf-8") == "old"


# ---------------------------------------------------------------- report --all folders


def _fake_report(spec, *, out, force=False, timeout=900):
    """A stand-in for run_report: writes what a report writes, no notebook."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    name = yaml.safe_load(Path(spec).read_text(encoding="utf-8"))["name"]
    (out / "report.html").write_text(f"<p>{name}</p>", encoding="utf-8")
    (out / "summary.json").write_text(json.dumps({"name": name}), encoding="utf-8")
    return run_mod.ReportOutcome(
        out, out / "report.ipynb", out / "report.html", out / "summary.json", "ok", 0
    )


def test_every_spec_of_a_batch_gets_its_own_folder(tmp_path, monkeypatch):
    folder = tmp_path / "specs"
    names = ["onboarding v2", "onboarding/v2", "onboarding_v2", "x" * 300, "Dup", "dup"]
    for i, name in enumerate(names):
        _spec(folder, name, f"{i}.yaml")
    monkeypatch.setattr(run_mod, "run_report", _fake_report)
    items = run_all(folder, out=tmp_path / "reports", date="2024-05-01")
    assert [it.status for it in items] == ["ok"] * len(names)  # a 300-character name too
    dirs = [it.out_dir for it in items]
    assert len({str(d).casefold() for d in dirs}) == len(names)
    for it in items:  # each folder holds its own spec's report
        assert it.out_dir is not None
        assert (it.out_dir / "report.html").read_text(encoding="utf-8") == f"<p>{it.name}</p>"
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    links = [line for line in index.split("<a href='")[1:]]
    assert len({link.split("'")[0] for link in links}) == len(names)
    # a name keeps its folder from one batch to the next, whatever else is in the batch
    again = run_all(folder, out=tmp_path / "again", date="2024-05-02")
    assert [it.out_dir.parent.name for it in again] == [d.parent.name for d in dirs]  # type: ignore[union-attr]


def test_one_specs_surprise_does_not_abort_the_batch(tmp_path, monkeypatch):
    folder = tmp_path / "specs"
    _spec(folder, "boom", "a.yaml")
    _spec(folder, "fine", "b.yaml")

    def flaky(spec, **kw):
        if "a.yaml" in str(spec):
            raise OSError(errno.ENAMETOOLONG, "File name too long")
        return _fake_report(spec, **kw)

    monkeypatch.setattr(run_mod, "run_report", flaky)
    items = run_all(folder, out=tmp_path / "reports", date="2024-05-01")
    assert [it.status for it in items] == ["failed", "ok"]
    assert "File name too long" in items[0].message
    assert (tmp_path / "reports" / "index.html").is_file()


def test_colliding_names_get_two_real_reports(sim_files, tmp_path):
    exposures, events = sim_files
    folder = tmp_path / "specs"
    data = {"exposures": str(exposures), "events": str(events)}
    _spec(folder, "onboarding v2", "a.yaml", data=data)
    _spec(folder, "onboarding/v2", "b.yaml", data=data)
    out = tmp_path / "reports"
    assert main(["report", "--all", str(folder), "--out", str(out)]) == 0
    reports = sorted(out.glob("*/*/report.html"))
    assert len(reports) == 2  # before: one folder, the second report replaced the first
    summaries = {json.loads((r.parent / "summary.json").read_text())["experiment"] for r in reports}
    assert summaries == {"onboarding v2", "onboarding/v2"}


# ---------------------------------------------------------------- a bad --out


def test_out_that_is_a_file_is_a_clear_error(sim_files, tmp_path, capsys):
    exposures, events = sim_files
    out = tmp_path / "out"
    out.write_text("not a folder", encoding="utf-8")
    args = ["report", str(_spec(tmp_path)), "--exposures", str(exposures), "--events", str(events)]
    assert main([*args, "--out", str(out)]) == EXIT_INPUT  # before: FileExistsError traceback
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "Traceback" not in err
    assert main([*args, "--out", str(out / "sub")]) == EXIT_INPUT  # a file on the way
    assert "abkit: error:" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "not a folder"
    design = ["design", "--baseline", "0.2", "--mde", "0.05", "--daily-units", "1000"]
    assert main([*design, "--out", str(out)]) == EXIT_INPUT
    assert main(["report", "--all", str(tmp_path), "--out", str(out)]) == EXIT_INPUT


def test_analyze_json_into_a_folder_is_a_clear_error(sim_files, tmp_path, capsys):
    exposures, events = sim_files
    args = ["analyze", str(_spec(tmp_path)), "--exposures", str(exposures), "--events"]
    assert main([*args, str(events), "--json", str(tmp_path)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert f"--json {tmp_path} is a folder" in err and "Traceback" not in err


def _read_only(folder: Path):
    """Make ``folder`` read-only for this process (chmod; for root, the immutable attribute)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    if shutil.which("chattr") is None:
        pytest.skip("root without chattr: a folder cannot be made read-only")
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable attribute")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_a_read_only_out_is_a_clear_error(sim_files, tmp_path, capsys):
    exposures, events = sim_files
    out = tmp_path / "ro"
    out.mkdir()
    undo = _read_only(out)
    try:
        args = ["report", str(_spec(tmp_path)), "--exposures", str(exposures)]
        assert main([*args, "--events", str(events), "--out", str(out)]) == EXIT_INPUT
        err = capsys.readouterr().err
        assert str(out) in err and "Traceback" not in err
        assert list(out.iterdir()) == []
    finally:
        undo()


def test_a_permission_error_making_the_work_folder_is_exit_2(sim_files, tmp_path, monkeypatch):
    exposures, events = sim_files

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "out"))

    monkeypatch.setattr(run_mod.tempfile, "mkdtemp", denied)
    with pytest.raises(ReportError, match=r"cannot write to .*permission denied") as info:
        run_report(_spec(tmp_path), out=tmp_path / "out", exposures=exposures, events=events)
    assert info.value.exit_code == EXIT_INPUT


def test_a_full_disk_is_exit_2_and_leaves_no_partial_file(sim_files, tmp_path, monkeypatch):
    import papermill

    exposures, events = sim_files

    def full(source, dest, **kw):
        Path(dest).write_text('{"cells": [', encoding="utf-8")  # half a notebook
        raise OSError(errno.ENOSPC, "No space left on device", dest)

    monkeypatch.setattr(papermill, "execute_notebook", full)
    out = tmp_path / "out"
    with pytest.raises(ReportError, match=r"the disk is full") as info:
        run_report(_spec(tmp_path), out=out, exposures=exposures, events=events)
    assert info.value.exit_code == EXIT_INPUT  # before: 3, and the half notebook kept
    assert list(out.iterdir()) == []


def test_braces_in_out_are_a_literal_folder(tmp_path):
    # papermill formats output paths with the parameters: "a{x}" was written as "a2"
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("y = x + 1")]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    src = tmp_path / "nb.ipynb"
    nbformat.write(nb, src)
    dest = tmp_path / "a{x}" / "out.ipynb"
    dest.parent.mkdir()
    _execute(
        src, dest, {"x": 2}, kernel_name="python3", timeout=60, start_timeout=60,
        keep_failed=tmp_path / "failed.ipynb", cwd=tmp_path,
    )  # fmt: skip
    assert dest.is_file() and not (tmp_path / "a2").exists()


# ---------------------------------------------------------------- killed runs


def _wait_for(cond, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _kernel_dirs(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"{KERNEL_PREFIX}{pid}-*"))


def _processes_using(text: str) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if text in (p / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(p.name))
            except OSError:
                continue
    return found


def _start_report(sim_files, tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    exposures, events = sim_files
    out = tmp_path / "out"
    args = [*CLI, "report", str(_spec(tmp_path)), "--exposures", str(exposures)]
    proc = subprocess.Popen(
        [*args, "--events", str(events), "--out", str(out)], stderr=subprocess.PIPE, text=True
    )
    _wait_for(lambda: bool(_kernel_dirs(proc.pid)) or proc.poll() is not None, 60)
    assert proc.poll() is None, proc.communicate()[1]
    kernel_dir = _kernel_dirs(proc.pid)[0]
    _wait_for(lambda: any(kernel_dir.glob("kernel-*")) or not kernel_dir.exists(), 60)
    return proc, out, kernel_dir


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_terminated_run_leaves_nothing_behind(sim_files, tmp_path):
    proc, out, kernel_dir = _start_report(sim_files, tmp_path)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert _leftovers(out) == [] and not kernel_dir.exists()
    _wait_for(lambda: not _processes_using(kernel_dir.name), 30)  # the kernel went too


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_what_a_killed_run_left_is_cleared_by_the_next(sim_files, tmp_path):
    proc, out, kernel_dir = _start_report(sim_files, tmp_path)
    proc.kill()  # SIGKILL: nothing of the run can clean up
    proc.communicate(timeout=30)
    assert any(out.glob(".abkit-run-*")) and kernel_dir.exists()
    _wait_for(lambda: not _processes_using(kernel_dir.name), 30)  # the orphaned kernel exits
    sweep_kernel_folders()  # what every run does before it starts its kernel
    assert not kernel_dir.exists()
    exposures, events = sim_files
    (out / "report.html").write_text("old", encoding="utf-8")  # a cheap second run: refused
    with pytest.raises(ReportError, match="already holds"):
        run_report(_spec(tmp_path), out=out, exposures=exposures, events=events)
    assert _leftovers(out) == []


def test_kernel_folders_of_live_processes_are_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"{KERNEL_PREFIX}{dead.pid}-abc").mkdir()
    (tmp_path / f"{KERNEL_PREFIX}{os.getppid()}-def").mkdir()  # alive
    (tmp_path / f"{KERNEL_PREFIX}{os.getpid()}-ghi").mkdir()  # this process
    (tmp_path / f"{KERNEL_PREFIX}old-style").mkdir()  # no pid: not ours to judge
    sweep_kernel_folders(tmp_path)
    assert sorted(p.name.split("-")[2] for p in tmp_path.iterdir()) == sorted(
        [str(os.getppid()), str(os.getpid()), "old"]
    )
