"""Running reports: one spec (:func:`run_report`), a folder of specs (:func:`run_all`, with an
``index.html``), and the design notebook (:func:`run_design`)."""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abkit._files import GLOB_PREFIX, copy_atomic, folder_lock, input_problem
from abkit._format import fmt_abs
from abkit.analysis.experiment import Experiment
from abkit.analysis.refresh import State, as_state
from abkit.engine import engine_errors_as_data_errors
from abkit.errors import AbkitError, DataError, ReportError, SpecError
from abkit.report.exit_codes import EXIT_BLOCKED, EXIT_FAILED, EXIT_INPUT, EXIT_OK
from abkit.report.html import _PAGE
from abkit.report.notebook import (
    DESIGN_NOTEBOOK,
    _execute,
    notebook_path,
    notebook_to_html,
    validate_parameters,
    write_error,
)
from abkit.report.summary import summary_exit_code, write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from abkit.spec import ExperimentSpec

__all__ = [
    "BatchItem",
    "ReportOutcome",
    "batch_exit_code",
    "folder_names",
    "output_folder",
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
    if isinstance(value, str) and value.startswith(GLOB_PREFIX):  # a pattern, asked for
        import glob

        pattern = str(Path(value[len(GLOB_PREFIX) :]).absolute())
        if not any(Path(p).is_file() for p in glob.iglob(pattern, recursive=True)):
            raise ReportError(f"{role}: {value} matches no file", exit_code=EXIT_INPUT)
        return GLOB_PREFIX + pattern
    if isinstance(value, str | Path):
        p = Path(value).resolve()
        problem = input_problem(p)
        if problem is not None:
            raise ReportError(f"{role}: {problem}", exit_code=EXIT_INPUT)
        return str(p)
    raise ReportError(
        f"{role}: reports read data from files (Parquet or CSV paths), got {type(value).__name__}; "
        "write the frame to Parquet first (df.to_parquet(path))",
        exit_code=EXIT_INPUT,
    )


def _beside(base: Path, name: str) -> str | Path:
    """A path of the spec's ``data:`` relative to the spec file (a ``glob:`` pattern too)."""
    if name.startswith(GLOB_PREFIX):
        return GLOB_PREFIX + str(base / name[len(GLOB_PREFIX) :])
    return base / name


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
    *,
    as_of: str | datetime | None = None,
) -> tuple[ExperimentSpec, str | Path | None, str | Path | None, str | Path | None]:
    """The loaded spec and the data to analyse: the given files, else the spec's ``data``.

    Paths in a spec file's ``data`` are relative to the spec file. A combination that would
    leave something given unread is refused: ``units`` with ``exposures``/``events``, ``as_of``
    with a units table, or ``events`` alone while the spec's ``data`` names its own (with
    ``data: exposures:`` alone, the given events complete it).

    Raises:
        ReportError: (exit code 2) the spec is invalid, names no data, or the inputs conflict.
    """
    from abkit.spec import load_spec

    try:
        spec_obj = load_spec(spec)
    except AbkitError as exc:
        raise ReportError(str(exc), exit_code=EXIT_INPUT) from None
    if units is not None and (exposures is not None or events is not None):
        raise ReportError(
            "give either units= (a per-unit table) or exposures=/events=, not both",
            exit_code=EXIT_INPUT,
        )
    d = spec_obj.data
    base = Path(spec).parent if isinstance(spec, str | Path) else Path.cwd()
    both = d is not None and d.exposures is not None and d.events is not None
    if units is None and (exposures is None) != (events is None) and both:
        given, other = ("events", "exposures") if exposures is None else ("exposures", "events")
        raise ReportError(
            f"{given}= was given without {other}=, while the spec's data: names both exposures "
            f"and events; give {other}= too, or neither to read the spec's data",
            exit_code=EXIT_INPUT,
        )
    if units is None and exposures is None and events is not None:
        if d is None or d.exposures is None:
            raise ReportError(
                "events= was given without exposures=; pass exposures= (the exposure log) too",
                exit_code=EXIT_INPUT,
            )
        exposures = _beside(base, d.exposures)  # data: exposures: alone, completed by events=
    elif units is None and exposures is None and d is not None:
        exposures, events, units = (
            None if x is None else _beside(base, x) for x in (d.exposures, d.events, d.units)
        )
    if units is None and exposures is None:
        raise ReportError(
            "no data: give exposures (and events) or units, or a data: section in the spec",
            exit_code=EXIT_INPUT,
        )
    if units is not None and as_of is not None:
        raise ReportError(
            "as_of= cuts event logs off; a units table has no event times to cut (drop as_of=, "
            "or give exposures=/events=)",
            exit_code=EXIT_INPUT,
        )
    return spec_obj, exposures, events, units


def preflight(
    spec_obj: ExperimentSpec, inputs: Mapping[str, str | None], as_of: str | datetime | None
) -> None:
    """Read the inputs as the report notebook will, before any kernel starts.

    An ``as_of`` that is not a timestamp, has no zone or precedes the first exposure, a missing
    or misnamed column, text or naive timestamps … is bad input: exit code 2 here, not a failed
    notebook cell (exit 3). Builds the analysis query without running it (with any as_of when
    none is given); a per-unit table, cheap to analyse, is analysed.

    Raises:
        ReportError: (exit code 2) the message of the DataError or SpecError found.
    """
    try:
        with engine_errors_as_data_errors("the check of the inputs"):
            exp = Experiment.from_spec(spec_obj)
            if inputs.get("units"):
                exp.analyze(units=inputs["units"])
            else:  # no as_of: the default (a count of every event per day) is the analysis'
                x, e, t = inputs["exposures"], inputs.get("events"), as_of or "2999-12-31T00Z"
                exp.to_sql(exposures=x, events=e, as_of=t)
    except (DataError, SpecError) as exc:
        raise ReportError(str(exc), exit_code=EXIT_INPUT) from None


#: the prefix of a run's private work folder inside the output folder
WORK_PREFIX = ".abkit-run-"


def output_folder(out: str | Path) -> Path:
    """``out`` as an absolute folder, created if needed, that this process can write to.

    Raises:
        ReportError: (exit code 2) ``out`` is a file, cannot be created, or is not writable.
    """
    out_dir = Path(out).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(
            f"the output folder {out_dir} is a file, not a folder; give a folder (it is "
            "created if needed)",
            exit_code=EXIT_INPUT,
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(out_dir, exc) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ReportError(
            f"the output folder {out_dir} is not writable; give a folder you can write to",
            exit_code=EXIT_INPUT,
        )
    return out_dir


def _sweep(out_dir: Path, names: Sequence[str]) -> None:
    """Remove what a killed run left in ``out_dir``: its work folder and half-written files.

    Called under the folder's lock, so no other run is using them.
    """
    for p in out_dir.iterdir():
        stale = p.name.startswith(WORK_PREFIX) or (
            p.name.endswith(".tmp") and any(p.name.startswith(f".{n}.") for n in names)
        )
        if not stale:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(out_dir: Path, names: Sequence[str]) -> Iterator[None]:
    """Hold ``out_dir``'s lock for the block; another run holding it is refused (exit 2)."""
    with contextlib.ExitStack() as stack:
        try:
            locked = stack.enter_context(folder_lock(out_dir))
        except BlockingIOError:
            raise ReportError(
                f"another abkit run is writing to {out_dir}; wait for it to finish or give "
                "another output folder",
                exit_code=EXIT_INPUT,
            ) from None
        except OSError as exc:
            raise write_error(out_dir, exc) from None
        if locked:
            _sweep(out_dir, names)
        yield


@contextlib.contextmanager
def _claimed(
    out: str | Path, what: str, names: Sequence[str], force: bool
) -> Iterator[tuple[Path, Path]]:
    """The output folder, locked, and a private work folder in it, removed after the block.

    Refuses (exit 2) a folder that holds ``names`` already (unless ``force``); a file system
    error (no space, no permission …) becomes a ReportError with exit code 2.
    """
    out_dir = output_folder(out)
    with _locked(out_dir, [*names, "failed.ipynb"]):
        if not force and any(os.path.lexists(out_dir / n) for n in names):
            raise ReportError(
                f"{out_dir} already holds a {what}; pass force=True (--force) to overwrite it",
                exit_code=EXIT_INPUT,
            )
        try:
            work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=out_dir))
        except OSError as exc:
            raise write_error(out_dir, exc) from None
        try:
            yield out_dir, work
        except OSError as exc:
            raise write_error(out_dir, exc) from None
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _state_arg(state: State | str | Path | None) -> dict[str, Any] | None:
    """The refresh state as the notebook's config holds it (an absolute folder: the notebook
    runs in a scratch folder)."""
    if state is None:
        return None
    st = as_state(state)
    kept = ("buffer_hours", "rebuild", "lock_timeout", "seal_every_hours")
    return {"path": str(Path(st.path).resolve()), **{k: getattr(st, k) for k in kept}}


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
    state: State | str | Path | None = None,
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
        state: the analysis' incremental-refresh state (a folder or
            :class:`~abkit.analysis.refresh.State`; see docs/scale.md).

    Returns:
        A :class:`ReportOutcome`; ``exit_code`` is 4 when blocking trust findings were found, 5
        when ``fail_on`` has "guardrail" and a guardrail is breached.

    Raises:
        ReportError: with ``exit_code`` 2 (bad input) or 3 (the notebook failed; the executed
            notebook is kept as ``failed.ipynb`` in ``out``).
    """
    spec_obj, exposures, events, units = resolve_inputs(spec, exposures, events, units, as_of=as_of)
    inputs = {
        "exposures": _data_arg(exposures, "exposures"),
        "events": _data_arg(events, "events"),
        "units": _data_arg(units, "units"),
    }
    preflight(spec_obj, inputs, as_of)
    as_of_s = as_of.isoformat() if isinstance(as_of, datetime) else as_of
    with _claimed(out, "report", ("report.ipynb", "report.html", "summary.json"), force) as (
        out_dir,
        work,
    ):
        final = {n: out_dir / n for n in ("report.ipynb", "report.html", "summary.json")}
        config = {
            "spec": json.loads(spec_obj.model_dump_json()),
            "inputs": inputs,
            "as_of": as_of_s,
            "state": _state_arg(state),
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
            copy_atomic(executed, out_dir / "failed.ipynb")
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
            os.replace(work / name, dest)  # a link planted at dest is replaced, not followed
        (out_dir / "failed.ipynb").unlink(missing_ok=True)
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


def folder_names(names: Sequence[str]) -> list[str]:
    """A folder name for each experiment name, no two alike (not even by case).

    A name that is safe as it is stays as it is; one that had to change (``onboarding v2``,
    ``onboarding/v2``, a 300-character name) gets a short hash of the exact name, so two names
    never share a folder and a name keeps its folder from one batch to the next. The same name
    twice (two spec files) is told apart by ``-2``, ``-3`` … in the order of the files.

    Example:
        >>> folder_names(["onboarding v2", "onboarding/v2", "good", "good"])
        ['onboarding_v2-b3b3d0f1', 'onboarding_v2-34202e9c', 'good', 'good-2']
    """
    out: list[str] = []
    used: set[str] = set()
    for name in names:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80] or "experiment"
        if safe != name:
            safe += "-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        key, n = safe, 2
        while key.casefold() in used:
            key, n = f"{safe}-{n}", n + 1
        used.add(key.casefold())
        out.append(key)
    return out


def _batch_target(out_root: Path, folder: str, day: str) -> Path:
    """``out_root/folder/day``, refusing a link planted on the way (it would be written through)."""
    target = out_root / folder / day
    for p in (out_root / folder, target):
        if p.is_symlink():
            raise ReportError(
                f"{p} is a symbolic link; abkit does not write through links in the output "
                "folder — remove it",
                exit_code=EXIT_INPUT,
            )
    return target


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
    stop the others. Each report goes to ``out/<experiment folder>/<date>/`` (date: today, UTC;
    the folder is the experiment's name, see :func:`folder_names`) and ``out/index.html`` links
    them all.

    Args:
        progress: draw a progress bar (default: when stderr is a terminal and ``CI`` is unset);
            otherwise one plain log line per experiment.
    """
    import datetime as _dt
    import sys
    import time

    from abkit.spec import load_spec

    if not Path(folder).is_dir():
        raise ReportError(f"{folder} is not a folder of *.yaml specs", exit_code=EXIT_INPUT)
    specs = sorted(p for p in Path(folder).iterdir() if p.suffix in (".yaml", ".yml"))
    if not specs:
        raise ReportError(f"no *.yaml specs in {folder}", exit_code=EXIT_INPUT)
    day = date or _dt.datetime.now(_dt.UTC).date().isoformat()
    if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", day):
        raise ReportError(
            f"date {day!r} is not a folder name, e.g. 2024-05-01", exit_code=EXIT_INPUT
        )
    if progress is None:
        progress = sys.stderr.isatty() and not os.environ.get("CI")
    out_root = output_folder(out)
    loaded: list[tuple[Path, str, str | None]] = []  # spec file, name, error
    for path in specs:
        try:
            loaded.append((path, load_spec(path).name, None))
        except AbkitError as exc:
            loaded.append((path, path.stem, str(exc)))
    folders = folder_names([name for _, name, error in loaded if error is None])
    items: list[BatchItem] = []
    with _locked(out_root, ["index.html"]):
        for i, (path, name, error) in enumerate(loaded, start=1):
            start = time.monotonic()
            if progress:
                bar = "#" * (20 * (i - 1) // len(specs))
                sys.stderr.write(f"\r[{bar:<20}] {i - 1}/{len(specs)} running {path.name} ")
                sys.stderr.flush()
            if error is not None:
                items.append(BatchItem(path, name, None, "invalid", EXIT_INPUT, error, 0.0))
                continue
            target: Path | None = None
            try:
                target = _batch_target(out_root, folders.pop(0), day)
                outcome = run_report(path, out=target, force=force, timeout=timeout)
                status, code, msg = outcome.status, outcome.exit_code, "report written"
            except ReportError as exc:
                status = "failed" if exc.exit_code == EXIT_FAILED else "invalid"
                code, msg = exc.exit_code, str(exc)
            except Exception as exc:  # one spec's surprise must not cost the others their report
                status, code, msg = "failed", EXIT_FAILED, f"{type(exc).__name__}: {exc}"
            seconds = time.monotonic() - start
            items.append(BatchItem(path, name, target, status, code, msg, seconds))
            if not progress:
                print(
                    f"abkit: [{i}/{len(specs)}] {name}: {status} ({seconds:.1f} s)",
                    file=sys.stderr,
                )
        if progress:
            sys.stderr.write(f"\r[{'#' * 20}] {len(specs)}/{len(specs)} done{' ' * 30}\n")
        try:
            write_index(out_root, items)
        except OSError as exc:
            raise write_error(out_root, exc) from None
    return items


def _headline(out_dir: Path) -> str | None:
    """The index's headline of one report: primary metric, variant, lift, decision."""
    e = html.escape
    try:
        summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
        comps = summary["results"]["comparisons"]
        primary = summary["results"].get("primary_metric")
        head = next((c for c in comps if c["metric"] == primary), comps[0] if comps else None)
        if head is None:
            return None
        info = next(m for m in summary["results"]["metrics"] if m["name"] == head["metric"])
        lift = head["abs_lift"]
        shown = fmt_abs(None if lift is None else float(lift), info["kind"])
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None  # an unreadable summary: the row keeps the run's own message
    return f"{e(info['label'])}, {e(head['variant'])}: {shown}, {e(head['decision'])}"


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
            detail = _headline(it.out_dir) or detail
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
    with _claimed(out, "design", ("design.ipynb", "design.html"), force) as (out_dir, work):
        final_nb, final_html = out_dir / "design.ipynb", out_dir / "design.html"
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
    return final_html
