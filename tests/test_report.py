"""Report runner: real papermill runs of the real notebook, HTML and summary.json checked by parsing."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml

import abkit
from abkit.cli import main
from abkit.errors import ReportError
from abkit.report import EXIT_BLOCKED, EXIT_FAILED, EXIT_INPUT, run_report, validate_parameters

SCHEMA = json.loads(
    (Path(abkit.__file__).parent / "schemas" / "summary-v4.json").read_text(encoding="utf-8")
)
HOSTILE_NAME = "exp\"'</script><script>alert(1)</script>{{ x }}\\n"


class _Collector(HTMLParser):
    """Collects tags, headings and visible text of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.headings: list[str] = []
        self.text: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_heading = tag in ("h1", "h2")

    def handle_endtag(self, tag):
        if tag in ("h1", "h2"):
            self._in_heading = False

    def handle_data(self, data):
        if self._in_heading and data.strip():
            self.headings.append(data.strip())
        self.text.append(data)


def _parse(path: Path) -> _Collector:
    c = _Collector()
    c.feed(path.read_text(encoding="utf-8"))
    return c


@pytest.fixture(scope="module")
def sim_files(tmp_path_factory):
    from abkit.simulate import retention_experiment

    d = tmp_path_factory.mktemp("sim")
    sim = retention_experiment(n_units=3_000, seed=5)
    sim.exposures.to_parquet(d / "exposures.parquet")
    sim.events.to_parquet(d / "events.parquet")
    return d / "exposures.parquet", d / "events.parquet"


def _spec(tmp_path: Path, **extra) -> Path:
    spec = {
        "name": "onboarding-v2",
        "control": "control",
        "variants": ["control", "treatment"],
        "segments": ["channel"],
        "metrics": [
            {"retention": {"day": 1}},
            {"retention": {"day": 7}},
            {"retention": {"day": 30}},
        ],
        **extra,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


@contextlib.contextmanager
def _fd2_to(path: Path) -> Iterator[None]:
    """File descriptor 2 of this process — and of the kernels it starts, which inherit it —
    written to ``path`` (what a terminal would show under ``abkit report``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("wb") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@pytest.fixture(scope="module")
def report(sim_files, tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    exposures, events = sim_files
    with _fd2_to(d / "stderr.txt"):
        outcome = run_report(_spec(d), out=d / "out", exposures=exposures, events=events)
    return outcome


def test_report_writes_three_files(report):
    for p in (report.notebook, report.html, report.summary):
        assert p.is_file() and p.stat().st_size > 0
    assert report.exit_code == 0 and report.status == "ok"
    leftovers = [p.name for p in report.out_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_successful_run_prints_no_kernel_error(report):
    # jupyter_client interrupted the idle kernel before shutting it down, and ipykernel printed
    # "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." under a successful report
    err = (report.out_dir.parent / "stderr.txt").read_text(encoding="utf-8", errors="replace")
    assert "KeyboardInterrupt" not in err
    assert "ERROR |" not in err


def test_summary_validates_and_holds_the_metrics(report):
    doc = json.loads(report.summary.read_text(encoding="utf-8"))
    jsonschema.validate(doc, SCHEMA)
    metrics = [c["metric"] for c in doc["results"]["comparisons"]]
    assert metrics == ["retention_d1", "retention_d7", "retention_d30"]
    for c in doc["results"]["comparisons"]:
        assert 0 <= c["control_value"] <= 1 and 0 <= c["pvalue"] <= 1
        assert c["abs_lift_ci_lower"] <= c["abs_lift"] <= c["abs_lift_ci_upper"]


def test_html_has_sections_numbers_and_no_code(report):
    page = _parse(report.html)
    for section in (
        "Experiment report",
        "Trust checks",
        "Results",
        "Verdicts",
        "Lifts with confidence intervals",
        "Segments",
        "Metric definitions",
    ):
        assert section in page.headings
    assert page.headings.index("Trust checks") < page.headings.index("Results")
    assert "script" not in page.tags and "style" in page.tags  # only our own stylesheet
    text = "".join(page.text)
    assert "Day-7 retention" in text and "organic" in text
    assert "ReportContext" not in text  # inputs hidden
    assert "img" in page.tags  # the forest plot, embedded
    doc = json.loads(report.summary.read_text(encoding="utf-8"))
    d1 = doc["results"]["comparisons"][0]
    assert f"{100 * d1['treatment_value']:.2f}%" in text  # the number rule: rates with 2 decimals
    html = report.html.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # opens offline


def test_existing_report_is_not_overwritten(report, sim_files, tmp_path):
    exposures, events = sim_files
    with pytest.raises(ReportError, match="--force") as info:
        run_report(_spec(tmp_path), out=report.out_dir, exposures=exposures, events=events)
    assert info.value.exit_code == EXIT_INPUT


def test_hostile_names_are_escaped_and_not_run(sim_files, tmp_path):
    exposures, events = sim_files
    marker = tmp_path / "pwned"
    name = HOSTILE_NAME + f"__import__('pathlib').Path({str(marker)!r}).touch()"
    spec = _spec(tmp_path, name=name, description="<img src=x onerror=alert(1)>")
    outcome = run_report(spec, out=tmp_path / "out", exposures=exposures, events=events)
    html = outcome.html.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert (
        "onerror" not in html or "onerror=alert" not in html.replace("&lt;", "<").split("<img")[0]
    )
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html
    assert "script" not in _parse(outcome.html).tags
    assert not marker.exists()
    doc = json.loads(outcome.summary.read_text(encoding="utf-8"))
    assert doc["experiment"] == name


@pytest.mark.parametrize(
    "params",
    [
        {"bad name": "x"},
        {"x=1;import os;y": "x"},
        {"__import__": "x"},
        {"class": "x"},
        {"p": Path("/tmp")},
        {"p": np.float64(1.0)},
        {"p": float("nan")},
        {"p": (1, 2)},
        {"p": {"a": {1, 2}}},
        {"p": {1: "a"}},
        {"p": type("S", (str,), {"__repr__": lambda self: "__import__('os')"})("x")},
    ],
)
def test_crafted_parameters_are_rejected(params):
    with pytest.raises(ReportError) as info:
        validate_parameters(params)
    assert info.value.exit_code == EXIT_INPUT


def test_primitive_parameters_pass():
    ok = {
        "config_path": "a\"b'\nc",
        "n": 3,
        "x": 0.5,
        "flag": True,
        "none": None,
        "l": [1, "a", {"k": []}],
    }
    assert validate_parameters(ok) == ok


def test_failing_notebook_names_the_cell_and_keeps_it(tmp_path, monkeypatch):
    # exposures without the variant column: the analysis cell fails inside the kernel (the
    # preflight, which refuses such data before any kernel starts, is switched off to get there)
    import pandas as pd

    monkeypatch.setattr("abkit.report.run.preflight", lambda *args, **kwargs: None)

    bad = tmp_path / "exposures.csv"
    pd.DataFrame({"unit_id": ["a"], "exposed_at": ["2024-01-01T00:00:00Z"]}).to_csv(
        bad, index=False
    )
    with pytest.raises(ReportError, match=r"failed in cell \d+ \(DataError: .*'variant'") as info:
        run_report(_spec(tmp_path), out=tmp_path / "out", exposures=bad, events=bad)
    assert info.value.exit_code == EXIT_FAILED
    assert (tmp_path / "out" / "failed.ipynb").is_file()
    assert not (tmp_path / "out" / "report.html").exists()


def test_cli_report_and_exit_codes(sim_files, tmp_path, capsys):
    exposures, events = sim_files
    spec = _spec(tmp_path, variants={"control": 0.9, "treatment": 0.1})  # a planned 90/10 split
    args = [
        "report",
        str(spec),
        "--exposures",
        str(exposures),
        "--events",
        str(events),
        "--out",
        str(tmp_path / "out"),
    ]
    # the data were simulated 50/50, so against 90/10 the sample ratio check must block
    assert main(args) == EXIT_BLOCKED
    doc = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert doc["status"] == "blocked" and "srm" in doc["blocking_findings"]
    assert main(args) == EXIT_INPUT  # exists, no --force
    assert "--force" in capsys.readouterr().err
    assert (
        main(
            [
                "report",
                str(tmp_path / "missing.yaml"),
                "--exposures",
                str(exposures),
                "--out",
                str(tmp_path / "o2"),
            ]
        )
        == EXIT_INPUT
    )


def test_report_all_runs_every_spec_and_writes_an_index(sim_files, tmp_path):
    exposures, events = sim_files
    folder = tmp_path / "experiments"
    folder.mkdir()
    good = {
        "name": "good",
        "control": "control",
        "variants": ["control", "treatment"],
        "metrics": [{"retention": {"day": 1}}],
        "data": {"exposures": str(exposures), "events": str(events)},
        "report": {"curve_days": 3, "cohort_days": [1], "churn_inactive_days": 0},
    }
    (folder / "a_good.yaml").write_text(yaml.safe_dump(good), encoding="utf-8")
    broken = {**good, "name": "broken", "data": {"exposures": str(tmp_path / "nope.parquet")}}
    (folder / "b_broken.yaml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    (folder / "c_invalid.yaml").write_text("name: x\ncontrol: a\nvariants: [a]\n", encoding="utf-8")
    out = tmp_path / "reports"
    code = main(["report", "--all", str(folder), "--out", str(out)])
    assert code == EXIT_INPUT  # an invalid spec and a missing file; the good one still ran
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "good" in index and "broken" in index and "invalid" in index
    reports = list((out / "good").glob("*/report.html"))
    assert len(reports) == 1
    assert "Retention curve" in reports[0].read_text(encoding="utf-8")


def test_guardrail_breach_and_fail_on(sim_files, tmp_path):
    exposures, events = sim_files
    # the simulated treatment raises activity; a "lower is better" guardrail on active days is
    # breached on purpose
    spec = _spec(
        tmp_path,
        metrics=[{"retention": {"day": 1}}, {"active_days": {"days": [1, 7]}}],
        guardrails=[
            {
                "metric": "active_days_d1_7",
                "margin": 0.01,
                "relative": True,
                "higher_is_better": False,
            },
            {"metric": "retention_d1", "margin": 0.05},
        ],
        report={"curve_days": 0, "cohort_days": [], "churn_inactive_days": 0},
    )
    args = ["report", str(spec), "--exposures", str(exposures), "--events", str(events)]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0  # breach reported, not failing
    assert main([*args, "--out", str(tmp_path / "b"), "--fail-on", "guardrail"]) == 5
    doc = json.loads((tmp_path / "b" / "summary.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, SCHEMA)
    assert doc["guardrails_breached"] == ["active_days_d1_7"]
    g = {x["metric"]: x for x in doc["results"]["guardrails"]}
    assert g["active_days_d1_7"]["passed"] is False and g["retention_d1"]["passed"] is True
    html = (tmp_path / "b" / "report.html").read_text(encoding="utf-8")
    assert "BREACHED" in html and "Guardrails" in html


def test_accepted_blocking_finding_is_downgraded(sim_files, tmp_path):
    exposures, events = sim_files
    spec = _spec(
        tmp_path,
        variants={"control": 0.9, "treatment": 0.1},
        accept_findings=["srm"],
        report={"curve_days": 0, "cohort_days": [], "churn_inactive_days": 0},
    )
    outcome = run_report(spec, out=tmp_path / "o", exposures=exposures, events=events)
    assert outcome.exit_code == 0 and outcome.status == "ok"
    assert "accepted explicitly" in outcome.html.read_text(encoding="utf-8")


def test_planned_unequal_split_is_not_a_false_srm(tmp_path):
    from abkit.simulate import retention_experiment

    sim = retention_experiment(n_units=4_000, seed=8, weights=[0.9, 0.1])
    sim.exposures.to_parquet(tmp_path / "e.parquet")
    sim.events.to_parquet(tmp_path / "v.parquet")
    spec = _spec(
        tmp_path,
        variants={"control": 0.9, "treatment": 0.1},
        report={"curve_days": 0, "cohort_days": [1], "churn_inactive_days": 0},
    )
    outcome = run_report(
        spec, out=tmp_path / "o", exposures=tmp_path / "e.parquet", events=tmp_path / "v.parquet"
    )
    html = outcome.html.read_text(encoding="utf-8")
    assert outcome.status == "ok" and "No segment value or exposure day shows" in html


def test_untested_guardrail_fails_the_gate(tmp_path):
    from abkit.simulate import retention_experiment

    sim = retention_experiment(n_units=300, seed=8, days=10)
    sim.exposures.to_parquet(tmp_path / "e.parquet")
    sim.events.to_parquet(tmp_path / "v.parquet")
    # day-30 retention cannot mature in a 10-day log: its guardrail cannot be tested
    spec = _spec(
        tmp_path,
        guardrails=[{"metric": "retention_d30", "margin": 0.01}],
        report={"curve_days": 0, "cohort_days": [], "churn_inactive_days": 0},
    )
    args = [
        "report",
        str(spec),
        "--exposures",
        str(tmp_path / "e.parquet"),
        "--events",
        str(tmp_path / "v.parquet"),
        "--out",
        str(tmp_path / "o"),
        "--fail-on",
        "guardrail",
    ]
    assert main(args) == 5
    doc = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))
    assert doc["guardrails_untested"] == ["retention_d30"]


def _two_cell_notebook(tmp_path: Path, source: str) -> Path:
    """A python3 notebook: a parameters cell (x = 1), then ``source``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(source),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    src = tmp_path / "nb.ipynb"
    nbformat.write(nb, src)
    return src


@pytest.mark.parametrize(
    ("source", "timeout", "message"),
    [
        ("import os\nos._exit(1)", 60, r"could not run: DeadKernelError"),  # the kernel dies
        ("import time\ntime.sleep(60)", 3, r"could not run: .*(Timeout|timed out)"),
    ],
)
def test_dead_or_hung_kernel_is_a_report_error(tmp_path, source, timeout, message):
    from abkit.report.notebook import _execute

    src = _two_cell_notebook(tmp_path, source)
    with pytest.raises(ReportError, match=message) as info:
        _execute(
            src,
            tmp_path / "out.ipynb",
            {"x": 2},
            kernel_name="python3",
            timeout=timeout,
            start_timeout=60,
            keep_failed=tmp_path / "failed.ipynb",
            cwd=tmp_path,
        )
    assert info.value.exit_code == EXIT_FAILED


def _execute_two_cells(tmp_path: Path, source: str) -> Any:
    """Run :func:`_two_cell_notebook` through the report runner; the executed notebook."""
    import nbformat

    from abkit.report.notebook import _execute

    _execute(
        _two_cell_notebook(tmp_path, source), tmp_path / "out.ipynb", {"x": 2},
        kernel_name="python3", timeout=60, start_timeout=60,
        keep_failed=tmp_path / "failed.ipynb", cwd=tmp_path,
    )  # fmt: skip
    return nbformat.read(tmp_path / "out.ipynb", as_version=4)


@pytest.mark.skipif(os.name != "posix", reason="Unix sockets")
def test_report_kernel_talks_over_private_unix_sockets(tmp_path, capfd):
    # over TCP the kernel listens on localhost ports (and ipykernel 7 warns on every run). The
    # connection file and the sockets live in a directory of this run alone, so this test looks
    # at that directory only (other runs, e.g. other pytest workers, share the temp directory)
    out = _execute_two_cells(
        tmp_path,
        "import json, os\n"
        "cf = get_ipython().kernel.config['IPKernelApp']['connection_file']\n"
        "d = os.path.dirname(cf)\n"
        "print(json.dumps({'cfg': json.load(open(cf)), 'file': cf, 'dir': d,\n"
        "                  'mode': os.stat(d).st_mode & 0o777, 'ls': os.listdir(d)}))",
    )
    seen = json.loads(out.cells[-1].outputs[0]["text"])
    run_dir = Path(seen["dir"])
    assert seen["cfg"]["transport"] == "ipc"
    assert run_dir.name.startswith("abkit-k-") and seen["mode"] == 0o700  # the user's only
    assert run_dir.parent.resolve() == Path(tempfile.gettempdir()).resolve()
    assert Path(seen["cfg"]["ip"]).parent == run_dir  # the sockets are <ip>-<n> in it
    sockets = [n for n in seen["ls"] if n != "kernel.json"]
    assert "kernel.json" in seen["ls"] and len(sockets) == 5  # shell iopub stdin control hb
    assert all(n.startswith(Path(seen["cfg"]["ip"]).name + "-") for n in sockets)
    assert "without encryption" not in capfd.readouterr().err
    # the directory goes with the run, and nothing is left in the working directory
    assert not run_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb", "out.ipynb"]


def test_a_finished_kernel_is_asked_to_shut_down_not_interrupted(tmp_path, capfd):
    # jupyter_client sends SIGINT before every shutdown; when it landed in the handler of
    # papermill's last request, ipykernel printed "KeyboardInterrupt caught in kernel." under a
    # successful run. The kernel here records any SIGINT that reaches it outside a handler
    # (ipykernel restores saved_sigint_handler after each request), so the check is not a race.
    marker = tmp_path / "interrupted"
    _execute_two_cells(
        tmp_path,
        "def _seen(*args):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "get_ipython().kernel.saved_sigint_handler = _seen",
    )
    assert not marker.exists()
    assert "KeyboardInterrupt" not in capfd.readouterr().err


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    # mkstemp makes 0600 files; a published summary must be readable like any other output
    import os

    from abkit.report import write_json_atomic

    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "summary.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o644
