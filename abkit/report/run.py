"""Running reports: one spec (:func:`run_report`), a folder of specs (:func:`run_all`, with an
``index.html``), and the design notebook (:func:`run_design`)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abkit._format import fmt_abs
from abkit.errors import AbkitError, ReportError
from abkit.report.exit_codes import EXIT_BLOCKED, EXIT_FAILED, EXIT_INPUT, EXIT_OK
from abkit.report.html import _PAGE
from abkit.report.notebook import (
    DESIGN_NOTEBOOK,
    _execute,
    notebook_path,
    notebook_to_html,
    validate_parameters,
)
from abkit.report.summary import summary_exit_code, write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from abkit.spec import ExperimentSpec

__all__ = [
    "BatchItem",
    "ReportOutcome",
    "batch_exit_code",
    "resolve_inputs",
    "run_all",
    "run_design",
    "run_report",
    "write_index",
]


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """Where a report was written and how it ended."""

    out_dir: Path
    notebook: Path
    html: Path
    summary: Path
    status: str
    exit_code: int
    guardrails_breached: tuple[str, ...] = ()


def _data_arg(value: Any, role: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | Path):
        p = Path(value).resolve()
        if not p.exists():
            raise ReportError(f"{role}: {p} does not exist", exit_code=EXIT_INPUT)
        return str(p)
    raise ReportError(
        f"{role}: reports read data from files (Parquet or CSV paths), got {type(value).__name__}; "
        "write the frame to Parquet first (df.to_parquet(path))",
        exit_code=EXIT_INPUT,
    )


def _truth_path(spec: Any, spec_obj: ExperimentSpec) -> str | None:
    """The spec's ``report.truth`` file, relative to the spec file, as an absolute path."""
    truth = spec_obj.report.truth
    if truth is None:
        return None
    base = Path(spec).parent if isinstance(spec, str | Path) else Path.cwd()
    return str((base / truth).resolve())


def resolve_inputs(
    spec: ExperimentSpec | Mapping[str, Any] | str | Path,
    exposures: str | Path | None,
    events: str | Path | None,
    units: str | Path | None,
) -> tuple[ExperimentSpec, str | Path | None, str | Path | None, str | Path | None]:
    """The loaded spec and the data to analyse: the given files, else the spec's ``data``.

    Paths in a spec file's ``data`` are relative to the spec file.

    Raises:
        ReportError: (exit code 2) the spec is invalid or names no data.
    """
    from abkit.spec import load_spec

    try:
        spec_obj = load_spec(spec)
    except AbkitError as exc:
        raise ReportError(str(exc), exit_code=EXIT_INPUT) from None
    if units is None and exposures is None and spec_obj.data is not None:
        base = Path(spec).parent if isinstance(spec, str | Path) else Path.cwd()
        d = spec_obj.data
        exposures, events, units = (
            None if x is None else base / x for x in (d.exposures, d.events, d.units)
        )
    if units is None and exposures is None:
        raise ReportError(
            "no data: give exposures (and events) or units, or a data: section in the spec",
            exit_code=EXIT_INPUT,
        )
    return spec_obj, exposures, events, units


def run_report(
    spec: ExperimentSpec | Mapping[str, Any] | str | Path,
    *,
    out: str | Path,
    exposures: str | Path | None = None,
    events: str | Path | None = None,
    units: str | Path | None = None,
    as_of: str | datetime | None = None,
    force: bool = False,
    timeout: int = 900,
    start_timeout: int = 120,
    kernel_name: str = "python3",
    fail_on: Sequence[str] = (),
) -> ReportOutcome:
    """Run the experiment report notebook and write ``report.ipynb``, ``report.html``, ``summary.json``.

    Args:
        spec: the experiment spec (object, dict or YAML path).
        out: output folder; created if needed.
        exposures, events, units: data files (Parquet or CSV).
        as_of: cut-off for the event data (ISO string with zone, or aware datetime).
        force: overwrite an existing report in ``out``.
        timeout: per-cell execution timeout in seconds.
        start_timeout: kernel start-up timeout in seconds.
        kernel_name: Jupyter kernel to run the notebook with.
        fail_on: ``("guardrail",)`` makes a breached guardrail exit code 5.

    Returns:
        A :class:`ReportOutcome`; ``exit_code`` is 4 when blocking trust findings were found, 5
        when ``fail_on`` has "guardrail" and a guardrail is breached.

    Raises:
        ReportError: with ``exit_code`` 2 (bad input) or 3 (the notebook failed; the executed
            notebook is kept as ``failed.ipynb`` in ``out``).
    """
    spec_obj, exposures, events, units = resolve_inputs(spec, exposures, events, units)
    out_dir = Path(out).resolve()
    final = {n: out_dir / n for n in ("report.ipynb", "report.html", "summary.json")}
    if not force and any(p.exists() for p in final.values()):
        raise ReportError(
            f"{out_dir} already holds a report; pass force=True (--force) to overwrite it",
            exit_code=EXIT_INPUT,
        )
    as_of_s = as_of.isoformat() if isinstance(as_of, datetime) else as_of
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".abkit-run-", dir=out_dir))
    try:
        config = {
            "spec": json.loads(spec_obj.model_dump_json()),
            "inputs": {
                "exposures": _data_arg(exposures, "exposures"),
                "events": _data_arg(events, "events"),
                "units": _data_arg(units, "units"),
            },
            "as_of": as_of_s,
            "summary_path": str(work / "summary.json"),
            "truth": _truth_path(spec, spec_obj),
        }
        config_path = work / "config.json"
        write_json_atomic(config_path, config)
        executed = work / "report.ipynb"
        _execute(
            notebook_path(),
            executed,
            {"config_path": str(config_path)},
            kernel_name=kernel_name,
            timeout=timeout,
            start_timeout=start_timeout,
            keep_failed=out_dir / "failed.ipynb",
            cwd=work,
        )
        try:
            html_text = notebook_to_html(executed, title=f"abkit report — {spec_obj.name}")
        except Exception as exc:
            shutil.copyfile(executed, out_dir / "failed.ipynb")
            raise ReportError(
                f"HTML conversion failed: {type(exc).__name__}: {exc}; the executed notebook is "
                f"kept at {out_dir / 'failed.ipynb'}",
                exit_code=EXIT_FAILED,
            ) from None
        (work / "report.html").write_text(html_text, encoding="utf-8")
        if not (work / "summary.json").is_file():
            raise ReportError("the notebook did not write summary.json", exit_code=EXIT_FAILED)
        summary = json.loads((work / "summary.json").read_text(encoding="utf-8"))
        for name, dest in final.items():
            os.replace(work / name, dest)
        (out_dir / "failed.ipynb").unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    breached = tuple(summary["guardrails_breached"]) + tuple(summary["guardrails_untested"])
    return ReportOutcome(
        out_dir,
        final["report.ipynb"],
        final["report.html"],
        final["summary.json"],
        summary["status"],
        summary_exit_code(summary, fail_on),
        breached,
    )


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One spec of a ``--all`` run and how it ended."""

    spec: Path
    name: str
    out_dir: Path | None
    status: str  # ok | blocked | failed | invalid
    exit_code: int
    message: str
    seconds: float


def run_all(
    folder: str | Path,
    *,
    out: str | Path,
    date: str | None = None,
    force: bool = False,
    timeout: int = 900,
    progress: bool | None = None,
) -> list[BatchItem]:
    """Run the report of every ``*.yaml`` / ``*.yml`` spec in ``folder``; one failure does not
    stop the others. Each report goes to ``out/<experiment name>/<date>/`` (date: today, UTC) and
    ``out/index.html`` links them all.

    Args:
        progress: draw a progress bar (default: when stderr is a terminal and ``CI`` is unset);
            otherwise one plain log line per experiment.
    """
    import datetime as _dt
    import sys
    import time

    from abkit.spec import load_spec

    specs = sorted(p for p in Path(folder).iterdir() if p.suffix in (".yaml", ".yml"))
    if not specs:
        raise ReportError(f"no *.yaml specs in {folder}", exit_code=EXIT_INPUT)
    day = date or _dt.datetime.now(_dt.UTC).date().isoformat()
    if progress is None:
        progress = sys.stderr.isatty() and not os.environ.get("CI")
    out_root = Path(out).resolve()
    items: list[BatchItem] = []
    for i, path in enumerate(specs, start=1):
        start = time.monotonic()
        if progress:
            bar = "#" * (20 * (i - 1) // len(specs))
            sys.stderr.write(f"\r[{bar:<20}] {i - 1}/{len(specs)} running {path.name} ")
            sys.stderr.flush()
        try:
            name = load_spec(path).name
        except AbkitError as exc:
            items.append(BatchItem(path, path.stem, None, "invalid", EXIT_INPUT, str(exc), 0.0))
            continue
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
        target = out_root / safe / day
        try:
            outcome = run_report(path, out=target, force=force, timeout=timeout)
            status, code, msg = outcome.status, outcome.exit_code, "report written"
        except ReportError as exc:
            status = "failed" if exc.exit_code == EXIT_FAILED else "invalid"
            code, msg = exc.exit_code, str(exc)
        items.append(BatchItem(path, name, target, status, code, msg, time.monotonic() - start))
        if not progress:
            print(
                f"abkit: [{i}/{len(specs)}] {name}: {status} ({items[-1].seconds:.1f} s)",
                file=sys.stderr,
            )
    if progress:
        sys.stderr.write(f"\r[{'#' * 20}] {len(specs)}/{len(specs)} done{' ' * 30}\n")
    write_index(out_root, items)
    return items


def write_index(out_root: Path, items: list[BatchItem]) -> Path:
    """``index.html`` linking every report of a batch, with its status and headline numbers."""
    e = html.escape
    rows = []
    for it in items:
        link = e(it.name)
        detail = e(it.message.splitlines()[0] if it.message else "")
        if it.out_dir is not None and (it.out_dir / "report.html").is_file():
            rel = (it.out_dir / "report.html").relative_to(out_root).as_posix()
            link = f"<a href='{e(rel)}'>{e(it.name)}</a>"
            summary = json.loads((it.out_dir / "summary.json").read_text(encoding="utf-8"))
            comps = summary["results"]["comparisons"]
            primary = summary["results"].get("primary_metric")
            head = next((c for c in comps if c["metric"] == primary), comps[0] if comps else None)
            if head is not None:
                info = next(m for m in summary["results"]["metrics"] if m["name"] == head["metric"])
                lift = head["abs_lift"]
                shown = fmt_abs(None if lift is None else float(lift), info["kind"])
                detail = f"{e(info['label'])}, {e(head['variant'])}: {shown}, {e(head['decision'])}"
        cls = {"ok": "abkit-ok", "blocked": "abkit-blocking"}.get(it.status, "abkit-blocking")
        rows.append(
            f"<tr><td>{link}</td><td class='{cls}'>{e(it.status)}</td><td>{detail}</td>"
            f"<td>{it.seconds:.1f} s</td></tr>"
        )
    body = (
        "<h1>abkit reports</h1><table><thead><tr><th>experiment</th><th>status</th>"
        "<th>headline</th><th>time</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    path = out_root / "index.html"
    write_text_atomic(path, _PAGE.format(title="abkit reports", body=body))
    return path


def batch_exit_code(items: list[BatchItem]) -> int:
    """3 if any report failed, 2 if any spec was invalid, 4 if any is blocked, else 0."""
    codes = {it.exit_code for it in items}
    for code in (EXIT_FAILED, EXIT_INPUT, EXIT_BLOCKED):
        if code in codes:
            return code
    return EXIT_OK


def run_design(
    *,
    out: str | Path,
    baseline: float,
    mde: float,
    daily_units: float,
    metric_day: int = 7,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    variance_reduction: float = 0.0,
    force: bool = False,
    timeout: int = 300,
    kernel_name: str = "python3",
) -> Path:
    """Run ``experiment_design.ipynb`` and write ``design.ipynb`` and ``design.html`` into ``out``.

    The plan is computed first in this process, so bad numbers fail fast with a clear error.
    """
    from abkit.design import plan_retention_test

    params = {
        "baseline": baseline,
        "mde": mde,
        "relative": relative,
        "daily_units": daily_units,
        "metric_day": metric_day,
        "alpha": alpha,
        "power": power,
        "variance_reduction": variance_reduction,
    }
    params = validate_parameters(params)
    try:
        plan_retention_test(
            baseline,
            mde,
            daily_units=daily_units,
            metric_day=metric_day,
            relative=relative,
            alpha=alpha,
            power=power,
            variance_reduction=variance_reduction,
        )
    except AbkitError as exc:
        raise ReportError(str(exc), exit_code=EXIT_INPUT) from None
    out_dir = Path(out).resolve()
    final_nb, final_html = out_dir / "design.ipynb", out_dir / "design.html"
    if not force and (final_nb.exists() or final_html.exists()):
        raise ReportError(
            f"{out_dir} already holds a design; pass force=True (--force) to overwrite it",
            exit_code=EXIT_INPUT,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".abkit-run-", dir=out_dir))
    try:
        executed = work / "design.ipynb"
        _execute(
            notebook_path(DESIGN_NOTEBOOK),
            executed,
            params,
            kernel_name=kernel_name,
            timeout=timeout,
            start_timeout=120,
            keep_failed=out_dir / "failed.ipynb",
            cwd=work,
        )
        html_text = notebook_to_html(executed, title="abkit experiment design")
        (work / "design.html").write_text(html_text, encoding="utf-8")
        os.replace(executed, final_nb)
        os.replace(work / "design.html", final_html)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final_html
