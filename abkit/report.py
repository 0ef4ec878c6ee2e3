"""Reports: run the parameterized report notebook through papermill, then write HTML and summary.json.

A report run:

1. validates the spec and the inputs, and writes them into one ``config.json`` in a private work
   folder; the notebook receives a single parameter, the path to that file (papermill writes
   parameter values into Python source, so nothing else — no experiment names, no labels — is ever
   passed as a parameter; :func:`validate_parameters` checks names and values anyway);
2. executes ``notebooks/experiment_report.ipynb`` with papermill (kernel ``python3``, execution and
   start-up timeouts);
3. converts the executed notebook to HTML with nbconvert (inputs hidden, ``sanitize_html=True``,
   images embedded, no external scripts);
4. moves ``report.ipynb``, ``report.html`` and ``summary.json`` into the output folder atomically.

Exit codes (``abkit report``): 0 ok; 2 bad spec, data or arguments; 3 the notebook failed (the
executed notebook is kept as ``failed.ipynb`` and the failing cell is named); 4 the report was written
but has blocking trust findings (e.g. sample ratio mismatch).
"""

from __future__ import annotations

import html
import json
import keyword
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import abkit
from abkit.errors import AbkitError, ReportError

if TYPE_CHECKING:
    from abkit.results import ExperimentResult
    from abkit.spec import ExperimentSpec

__all__ = [
    "EXIT_BLOCKED",
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_OK",
    "SUMMARY_SCHEMA",
    "ReportContext",
    "ReportOutcome",
    "run_report",
    "validate_parameters",
]

EXIT_OK, EXIT_INPUT, EXIT_FAILED, EXIT_BLOCKED = 0, 2, 3, 4
#: identifier of the summary.json schema (see docs/reports.md and abkit/schemas/)
SUMMARY_SCHEMA = "abkit.summary/1"
REPORT_NOTEBOOK = "experiment_report.ipynb"


# ------------------------------------------------------------------------------------ parameters


def _is_json_primitive(value: Any, depth: int = 0) -> bool:
    if depth > 10:
        return False
    if value is None or type(value) in (str, bool, int):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_is_json_primitive(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json_primitive(v, depth + 1) for k, v in value.items())
    return False


def validate_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Check notebook parameters before papermill writes them into Python source.

    Names must be Python identifiers (not keywords, not dunder); values must be JSON primitives
    (str, int, float, bool, None, and lists / dicts of those) — exact types, so a ``Path``, a numpy
    scalar, a date or a ``str`` subclass (whose ``repr`` papermill would trust) is rejected.

    Raises:
        ReportError: naming the offending parameter.

    Example:
        >>> validate_parameters({"config_path": "/tmp/config.json"})
        {'config_path': '/tmp/config.json'}
    """
    out = {}
    for name, value in parameters.items():
        if (
            type(name) is not str
            or not name.isidentifier()
            or keyword.iskeyword(name)
            or name.startswith("__")
        ):
            raise ReportError(
                f"notebook parameter name {name!r} is not a plain Python identifier; it would be "
                "written into the notebook's source",
                exit_code=EXIT_INPUT,
            )
        if not _is_json_primitive(value):
            raise ReportError(
                f"notebook parameter {name!r} has a value of type {type(value).__name__}; only JSON "
                "primitives (str, int, float, bool, None, lists and dicts of those) are passed to "
                "notebooks — convert it (e.g. str(path))",
                exit_code=EXIT_INPUT,
            )
        out[name] = value
    return out


# ------------------------------------------------------------------------------------ notebooks


def notebook_path(name: str = REPORT_NOTEBOOK) -> Path:
    """Where a bundled notebook lives (installed package, or the source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_notebooks" / name, here.parent / "notebooks" / name):
        if candidate.is_file():
            return candidate
    raise ReportError(f"notebook {name} is not installed with abkit", exit_code=EXIT_FAILED)


# ------------------------------------------------------------------------------------ context


@dataclass(frozen=True, slots=True)
class ReportContext:
    """What the report notebook works with: the spec, the result, and how to present them.

    The notebook calls ``ReportContext.load(config_path)`` and only displays what this returns.
    """

    config: Mapping[str, Any]
    spec: ExperimentSpec
    result: ExperimentResult

    @classmethod
    def load(cls, config_path: str) -> ReportContext:
        from abkit.analysis import Experiment
        from abkit.spec import load_spec

        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
        spec = load_spec(config["spec"])
        exp = Experiment.from_spec(spec)
        inputs = config["inputs"]
        if inputs.get("units"):
            res = exp.analyze(units=inputs["units"])
        else:
            res = exp.analyze(
                exposures=inputs["exposures"],
                events=inputs.get("events"),
                as_of=config.get("as_of"),
            )
        return cls(config, spec, res)

    # ---- presentation helpers (HTML strings; every user string escaped)

    def header_html(self) -> str:
        e = html.escape
        res = self.result
        rows = [
            ("Experiment", e(res.name)),
            ("Description", e(self.spec.description or "")),
            ("Variants", ", ".join(e(v) for v in res.variants) + f" (control: {e(res.control)})"),
            ("Planned weights", ", ".join(f"{w:.3g}" for w in res.srm.weights)),
            ("As of", e(res.as_of.isoformat()) if res.as_of else "per-unit table"),
            ("Significance", f"alpha = {res.alpha:g}, {e(res.alternative)}"),
            ("abkit", e(abkit.__version__)),
        ]
        body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f"<table class='abkit-header'>{body}</table>"

    def trust_html(self) -> str:
        """The trust panel: SRM and every data-quality finding, blocking ones marked."""
        e = html.escape
        res = self.result
        srm = res.srm
        obs = ", ".join(
            f"{e(v)}: {o:,} (expected {x:,.0f})"
            for v, o, x in zip(srm.variants, srm.observed, srm.expected, strict=True)
        )
        p = "–" if srm.pvalue is None else f"{srm.pvalue:.3g}"
        verdict = "SAMPLE RATIO MISMATCH" if srm.flagged else "No sample ratio mismatch"
        cls = "abkit-blocking" if srm.flagged else "abkit-ok"
        parts = [
            f"<p class='{cls}'><b>{verdict}</b> — chi-square p = {p} "
            f"(flagged below {srm.threshold:g}). {obs}</p>"
        ]
        blocking = res.data_quality.blocking
        if blocking:
            parts.append(
                f"<p class='abkit-blocking'><b>{len(blocking)} blocking finding(s)</b>: the lifts "
                "below are not trustworthy until they are fixed.</p>"
            )
        findings = res.data_quality.findings
        if findings:
            parts.append(
                "<table class='abkit-trust'><thead><tr><th>severity</th><th>finding</th>"
                "<th>count</th><th>share</th></tr></thead><tbody>"
            )
            for f in findings:
                share = "" if f.share is None else f"{f.share:.2%}"
                parts.append(
                    f"<tr class='abkit-{e(f.severity)}'><td>{e(f.severity)}</td>"
                    f"<td>{e(f.message)}</td><td>{f.count:,}</td><td>{share}</td></tr>"
                )
            parts.append("</tbody></table>")
        else:
            parts.append("<p>No data-quality findings.</p>")
        return "".join(parts)

    def definitions_html(self) -> str:
        e = html.escape
        items = "".join(
            f"<li><b>{e(m.label)}</b> (<code>{e(m.name)}</code>, {e(m.kind)}): {e(m.definition)}</li>"
            for m in self.result.metrics
        )
        return f"<ul>{items}</ul>"

    def verdicts_html(self) -> str:
        items = "".join(f"<li>{html.escape(v)}</li>" for v in self.result.verdicts())
        return f"<ul>{items}</ul>"

    def segments_html(self) -> str:
        """Per-segment lifts with Benjamini–Hochberg adjusted p-values."""
        from abkit.results import fmt_abs, fmt_p, fmt_rel, fmt_value

        e = html.escape
        res = self.result
        if not res.segment_comparisons:
            return "<p>No segments in the spec.</p>"
        kinds = {m.name: m for m in res.metrics}
        head = (
            "<table class='abkit-segments'><thead><tr><th>segment</th><th>value</th>"
            "<th>metric</th><th>variant</th><th>control</th><th>treatment</th><th>abs. lift</th>"
            "<th>rel. lift</th><th>p</th><th>p (BH)</th><th>n (c / t)</th></tr></thead><tbody>"
        )
        rows = []
        for mc in res.segment_comparisons:
            c, info = mc.comparison, kinds[mc.metric]
            sig = mc.pvalue_adjusted is not None and mc.pvalue_adjusted < res.alpha
            rows.append(
                f"<tr{' class=abkit-sig' if sig else ''}><td>{e(mc.segment or '')}</td>"
                f"<td>{e(mc.segment_value or '')}</td><td>{e(info.label)}</td>"
                f"<td>{e(mc.variant)}</td><td>{fmt_value(c.control_value, info.kind)}</td>"
                f"<td>{fmt_value(c.treatment_value, info.kind)}</td>"
                f"<td>{fmt_abs(c.abs_lift, info.kind)}</td><td>{fmt_rel(c.rel_lift)}</td>"
                f"<td>{fmt_p(c.pvalue)}</td><td>{fmt_p(mc.pvalue_adjusted)}</td>"
                f"<td>{c.n_control:,} / {c.n_treatment:,}</td></tr>"
            )
        return head + "".join(rows) + "</tbody></table>"

    def summary(self) -> dict[str, Any]:
        return build_summary(self.result)

    def write_summary(self) -> str:
        path = Path(self.config["summary_path"])
        write_json_atomic(path, self.summary())
        return str(path)


def build_summary(res: ExperimentResult) -> dict[str, Any]:
    """The summary.json document (schema ``abkit.summary/1``)."""
    blocking = [f.code for f in res.data_quality.blocking]
    return {
        "schema": SUMMARY_SCHEMA,
        "abkit_version": abkit.__version__,
        "experiment": res.name,
        "as_of": None if res.as_of is None else res.as_of.isoformat(),
        "status": "blocked" if blocking else "ok",
        "blocking_findings": blocking,
        "results": res.to_dict(),
    }


def write_json_atomic(path: Path, doc: Any) -> None:
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------ runner


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """Where a report was written and how it ended."""

    out_dir: Path
    notebook: Path
    html: Path
    summary: Path
    status: str
    exit_code: int


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

    Returns:
        A :class:`ReportOutcome`; ``exit_code`` is 4 when blocking trust findings were found.

    Raises:
        ReportError: with ``exit_code`` 2 (bad input) or 3 (the notebook failed; the executed
            notebook is kept as ``failed.ipynb`` in ``out``).
    """
    from abkit.spec import load_spec

    try:
        spec_obj = load_spec(spec)
    except AbkitError as exc:
        raise ReportError(str(exc), exit_code=EXIT_INPUT) from None
    if units is None and exposures is None:
        raise ReportError("a report needs exposures= (and events=) or units=", exit_code=EXIT_INPUT)
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
    status = summary["status"]
    return ReportOutcome(
        out_dir,
        final["report.ipynb"],
        final["report.html"],
        final["summary.json"],
        status,
        EXIT_BLOCKED if status == "blocked" else EXIT_OK,
    )


def _execute(
    source: Path,
    dest: Path,
    parameters: Mapping[str, Any],
    *,
    kernel_name: str,
    timeout: int,
    start_timeout: int,
    keep_failed: Path,
    cwd: Path,
) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    params = validate_parameters(parameters)
    try:
        pm.execute_notebook(
            str(source),
            str(dest),
            parameters=params,
            kernel_name=kernel_name,
            execution_timeout=timeout,
            start_timeout=start_timeout,
            progress_bar=False,
            log_output=False,
            cwd=str(cwd),
        )
    except PapermillExecutionError as exc:
        if dest.exists():
            shutil.copyfile(dest, keep_failed)
        raise ReportError(
            f"report notebook failed in cell {exc.exec_count} ({exc.ename}: {exc.evalue}); "
            f"the executed notebook is kept at {keep_failed}",
            exit_code=EXIT_FAILED,
            notebook_path=str(keep_failed),
        ) from None
    except Exception as exc:  # kernel died, timeout, missing kernel …
        if dest.exists():
            shutil.copyfile(dest, keep_failed)
        raise ReportError(
            f"report notebook could not run: {type(exc).__name__}: {exc}",
            exit_code=EXIT_FAILED,
            notebook_path=str(keep_failed) if keep_failed.exists() else None,
        ) from None


#: HTML that survives sanitising: enough for headings, tables and lists, nothing that runs.
ALLOWED_TAGS = [
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
]
ALLOWED_ATTRIBUTES = {"*": ["class", "title"], "a": ["href"], "td": ["colspan"], "th": ["colspan"]}

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }}
table {{ border-collapse: collapse; margin: .6em 0; font-size: 0.92em; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; }}
h1 {{ font-size: 1.6em; }} h2 {{ font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #eee; }}
.jp-InputPrompt, .jp-OutputPrompt {{ display: none; }}
.abkit-ok {{ color: #1b7f3b; }} .abkit-blocking, tr.abkit-blocking td {{ color: #b00020; }}
tr.abkit-warning td {{ color: #a15c00; }} tr.abkit-info td {{ color: #444; }}
tr.abkit-sig td {{ font-weight: 600; }}
table.abkit-header th {{ text-align: left; padding-right: 2em; }}
table.abkit-header td {{ text-align: left; }}
table.abkit-trust td:nth-child(2) {{ text-align: left; }}
</style></head>
<body>
{body}
</body></html>
"""


def notebook_to_html(path: Path, *, title: str) -> str:
    """Executed notebook → one self-contained HTML page (no inputs, sanitized, no external scripts).

    Every HTML and Markdown output goes through nbconvert's ``SanitizeHTML`` (bleach) with the
    allow-list above (scripts, styles, event handlers and unknown tags are stripped; JavaScript
    outputs are dropped). nbconvert's own ``sanitize_html=True`` uses a fixed list without
    headings or table headers, which would print them as literal text; ours is that same
    sanitiser with a list a report needs.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors.sanitize import SanitizeHTML

    nb = nbformat.read(str(path), as_version=4)
    sanitizer = SanitizeHTML(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, strip=True)
    nb, _ = sanitizer.preprocess(nb, {})
    exporter = HTMLExporter(
        template_name="basic",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        anchor_link_text="",
    )
    body, _ = exporter.from_notebook_node(nb)
    return _PAGE.format(title=html.escape(title), body=body)
