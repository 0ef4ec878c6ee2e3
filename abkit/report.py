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
but has blocking trust findings (e.g. sample ratio mismatch); 5 (only with ``--fail-on guardrail``)
the report was written and a guardrail metric is breached.
"""

from __future__ import annotations

import html
import json
import keyword
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    "EXIT_GUARDRAIL",
    "EXIT_INPUT",
    "EXIT_OK",
    "SUMMARY_SCHEMA",
    "ReportContext",
    "ReportOutcome",
    "run_all",
    "run_design",
    "run_report",
    "validate_parameters",
]

EXIT_OK, EXIT_INPUT, EXIT_FAILED, EXIT_BLOCKED, EXIT_GUARDRAIL = 0, 2, 3, 4, 5
#: identifier of the summary.json schema (see docs/reports.md and abkit/schemas/)
SUMMARY_SCHEMA = "abkit.summary/1"
REPORT_NOTEBOOK = "experiment_report.ipynb"
DESIGN_NOTEBOOK = "experiment_design.ipynb"


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
    #: views computed once per report (the cohort table feeds the trust panel and its section)
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_events(self) -> bool:
        """Whether the report was given exposure and event logs (not a per-unit table)."""
        return bool(self.config["inputs"].get("events"))

    def _view_args(self) -> dict[str, Any]:
        inputs = self.config["inputs"]
        s = self.spec
        return {
            "exposures": inputs["exposures"],
            "events": inputs["events"],
            "as_of": self.result.as_of,
            "columns": s.columns or None,
            "tz": s.tz,
        }

    def curve(self) -> Any:
        """Retention curve D0..D``report.curve_days`` (None when skipped or without events)."""
        days = self.spec.report.curve_days
        if not self.has_events or days == 0:
            return None
        from abkit.retention import retention_curve

        return retention_curve(
            max_day=days,
            control=self.spec.control,
            alpha=self.spec.alpha,
            variants=self.spec.variant_names,
            weights=dict(zip(self.spec.variant_names, self.spec.weights, strict=True)),
            name=self.spec.name,
            **self._view_args(),
        )

    def cohorts(self) -> Any:
        """Cohort triangle (None when skipped or without events); computed once."""
        days = self.spec.report.cohort_days
        if not self.has_events or not days:
            return None
        if "cohorts" in self.cache:
            return self.cache["cohorts"]
        from abkit.retention import cohort_table

        self.cache["cohorts"] = cohort_table(
            days=days,
            period=self.spec.report.cohort_period,
            control=self.spec.control,
            variants=self.spec.variant_names,
            weights=dict(zip(self.spec.variant_names, self.spec.weights, strict=True)),
            name=self.spec.name,
            **self._view_args(),
        )
        return self.cache["cohorts"]

    def churn(self) -> Any:
        """Time to churn (None when skipped or without events)."""
        k = self.spec.report.churn_inactive_days
        if not self.has_events or k == 0:
            return None
        from abkit.retention import churn_survival

        args = self._view_args()
        return churn_survival(
            args["exposures"],
            args["events"],
            inactive_days=k,
            tau=self.spec.report.churn_tau,
            control=self.spec.control,
            alpha=self.spec.alpha,
            as_of=args["as_of"],
            columns=args["columns"],
            tz=args["tz"],
        )

    def churn_html(self, churn: Any) -> str:
        from abkit.results import fmt_p

        e = html.escape

        def num(x: float | None, fmt: str = "+.3g") -> str:
            return "–" if x is None else format(x, fmt)

        rows = "".join(
            f"<tr><td>{e(r.variant)}</td><td>{num(r.rmst_control, '.3g')}</td>"
            f"<td>{num(r.rmst_treatment, '.3g')}</td><td>{num(r.extra_days)}</td>"
            f"<td>[{num(r.ci_lower)}, {num(r.ci_upper)}]</td><td>{fmt_p(r.pvalue)}</td>"
            f"<td>{fmt_p(r.logrank_pvalue)}</td></tr>"
            for r in churn.summary()
            .astype(object)
            .where(churn.summary().notna(), None)
            .itertuples()
        )
        level = round(100 * (1 - self.spec.alpha))
        return (
            f"<p>{e(churn.definition)}.</p><table><thead><tr><th>variant</th>"
            "<th>days retained (control)</th><th>days retained (treatment)</th>"
            f"<th>extra days</th><th>{level}% CI</th><th>p</th><th>log-rank p</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )

    def sequential_html(self) -> str:
        """Always-valid status per comparison: safe to read every day."""
        from abkit.results import fmt_abs, fmt_p

        tuning = self.spec.report.sequential_tuning
        if tuning is None:
            return "<p>Sequential monitoring is switched off in the spec.</p>"
        e = html.escape
        res = self.result
        kinds = {m.name: m for m in res.metrics}
        table = res.sequential(tuning=tuning)
        rows = "".join(
            f"<tr><td>{e(kinds[r.metric].label)}</td><td>{e(r.variant)}</td>"
            f"<td>{fmt_abs(r.abs_lift, kinds[r.metric].kind)}</td>"
            f"<td>[{fmt_abs(r.ci_lower, kinds[r.metric].kind)}, "
            f"{fmt_abs(r.ci_upper, kinds[r.metric].kind)}]</td><td>{fmt_p(r.pvalue)}</td>"
            f"<td>{e(r.decision)}</td></tr>"
            for r in table.itertuples()
        )
        return (
            f"<p>Always-valid confidence sequences (normal mixture, N* = {tuning:g}): unlike the "
            "fixed-horizon p-values above, these stay valid however often the report is read. "
            "Immature units are not counted, so D-N metrics gain information N days late.</p>"
            "<table><thead><tr><th>metric</th><th>variant</th><th>lift</th>"
            "<th>always-valid CI</th><th>always-valid p</th><th>status</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )

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
        parts.append(self._srm_breakdown_html())
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

    def _srm_breakdown_html(self) -> str:
        """Where a mismatch comes from: SRM per segment value and per exposure day."""
        from abkit.results import fmt_p

        e = html.escape
        res = self.result
        tables = []
        by_seg = res.srm_by_segment()
        cohorts = self.cohorts()
        if cohorts is not None:
            by_day = cohorts.result.srm_by_segment()
            if not by_day.empty:
                by_day["segment"] = "exposure day"
                tables.append(by_day)
        if not by_seg.empty:
            tables.insert(0, by_seg)
        if not tables:
            return ""
        import pandas as pd

        df = pd.concat(tables, ignore_index=True)
        flagged = df[df.flagged]
        mix = res.segment_mix()
        mix_flag = mix[mix.flagged] if not mix.empty else mix
        note = (
            "<p class='abkit-blocking'>Sample ratio mismatch located in: "
            + ", ".join(f"{e(str(r.segment))} = {e(str(r.value))}" for r in flagged.itertuples())
            + "</p>"
            if not flagged.empty
            else "<p class='abkit-ok'>No segment value or exposure day shows a sample ratio "
            f"mismatch ({len(df)} checked, Holm-corrected within each dimension).</p>"
        )
        if not mix_flag.empty:
            note += (
                "<p class='abkit-blocking'>The segment mix differs between arms for: "
                + ", ".join(e(str(s)) for s in mix_flag.segment)
                + " (chi-square p < 0.001).</p>"
            )
        worst = df.sort_values("pvalue_adjusted", na_position="last").head(5)
        rows = "".join(
            f"<tr{' class=abkit-blocking' if r.flagged else ''}><td>{e(str(r.segment))}</td>"
            f"<td>{e(str(r.value))}</td>"
            + f"<td>{fmt_p(r.pvalue)}</td><td>{fmt_p(r.pvalue_adjusted)}</td></tr>"
            for r in worst.itertuples()
        )
        return (
            note + "<table class='abkit-srm'><thead><tr><th>where</th><th>value</th><th>p</th>"
            f"<th>p (Holm)</th></tr></thead><tbody>{rows}</tbody></table>"
            "<p><small>The five smallest p-values are shown.</small></p>"
        )

    def guardrails_html(self) -> str:
        """Guardrail metrics: passed / breached, with the one-sided bound against the margin."""
        from abkit.results import fmt_p

        res = self.result
        if not res.guardrails:
            return "<p>No guardrails in the spec.</p>"
        e = html.escape
        labels = {m.name: m.label for m in res.metrics}
        rows = []
        for g in res.guardrails:
            state = {True: "passed", False: "BREACHED", None: "no test"}[g.passed]
            cls = {True: "abkit-ok", False: "abkit-blocking", None: ""}[g.passed]
            unit = " (relative)" if g.relative else ""
            direction = "higher is better" if g.higher_is_better else "lower is better"
            est = "–" if g.estimate is None else f"{g.estimate:+.3g}"
            bound = "–" if g.bound is None else f"{g.bound:+.3g}"
            rows.append(
                f"<tr><td>{e(labels.get(g.metric, g.metric))}</td><td>{e(g.variant)}</td>"
                f"<td>{g.margin:g}{unit}, {direction}</td><td>{est}</td><td>{bound}</td>"
                f"<td>{fmt_p(g.pvalue)}</td><td class='{cls}'>{state}"
                f"{' — ' + e(g.note) if g.note else ''}</td></tr>"
            )
        return (
            "<p>Non-inferiority tests: a guardrail passes when the one-sided "
            f"{round(100 * (1 - res.alpha))}% bound of the lift stays within the margin.</p>"
            "<table><thead><tr><th>metric</th><th>variant</th><th>margin</th><th>lift</th>"
            "<th>bound</th><th>p</th><th>status</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
        )

    def definitions_html(self) -> str:
        e = html.escape
        items = "".join(
            f"<li><b>{e(m.label)}</b> (<code>{e(m.name)}</code>, {e(m.kind)}): {e(m.definition)}</li>"
            for m in self.result.metrics
        )
        return f"<ul>{items}</ul>"

    def verdicts_html(self) -> str:
        method = self.spec.report.multiple_testing
        items = "".join(f"<li>{html.escape(v)}</li>" for v in self.result.verdicts(method))
        note = ""
        if method != "none":
            note = (
                f"<p><small>Significance after the {html.escape(method)} correction across "
                f"{len(self.result.comparisons)} comparisons (metrics × treatments)"
                + (", primary metric uncorrected" if self.result.primary_metric else "")
                + ".</small></p>"
            )
        if self.result.data_quality.blocking:
            return (
                "<p class='abkit-blocking'><b>No verdict</b>: blocking trust findings (see "
                "Trust checks). The numbers are shown for diagnosis only.</p>"
                f"<ul>{items}</ul>{note}"
            )
        return f"<ul>{items}</ul>{note}"

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
        "guardrails_breached": sorted({g.metric for g in res.guardrails_breached}),
        "guardrails_untested": sorted({g.metric for g in res.guardrails if g.passed is None}),
        "results": res.to_dict(),
    }


def write_json_atomic(path: Path, doc: Any) -> None:
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path: Path, text: str) -> None:
    from abkit._files import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


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


def summary_exit_code(summary: Mapping[str, Any], fail_on: Sequence[str] = ()) -> int:
    """The exit code a summary.json document calls for: 4 blocking trust findings; 5 a breached
    or untested guardrail when ``fail_on`` has ``"guardrail"``; else 0."""
    if summary["status"] == "blocked":
        return EXIT_BLOCKED
    # an untested guardrail cannot vouch for the treatment: under --fail-on it fails too
    if "guardrail" in fail_on and (
        summary["guardrails_breached"] or summary["guardrails_untested"]
    ):
        return EXIT_GUARDRAIL
    return EXIT_OK


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
            if head is not None and head["pvalue"] is not None:
                detail = (
                    f"{e(head['metric'])} {e(head['variant'])}: lift {head['abs_lift']:+.3g}, "
                    f"p = {head['pvalue']:.3g}"
                )
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


def _ipc_kernel_manager() -> type:
    """A Jupyter kernel manager that talks to the kernel over Unix sockets, not TCP.

    The report kernel is private to the run: over TCP it listens on localhost ports that any
    local user could connect to (ipykernel 7 warns about it on every run). The sockets get an
    absolute path of their own in the temp directory (Jupyter's default is relative to the
    working directory), short enough for macOS's 104-byte socket path limit, and are removed
    when the kernel shuts down.
    """
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

        @default("ip")
        def _default_ip(self) -> str:
            name = f"abkit-k-{uuid.uuid4().hex[:16]}-ipc"
            return os.path.join(tempfile.gettempdir(), name)

    return IPCKernelManager


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
    extra: dict[str, Any] = {}
    if os.name == "posix":  # local Unix sockets: no kernel ports open on the network
        extra["kernel_manager_class"] = _ipc_kernel_manager()
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
            **extra,
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
_DROP_ELEMENTS = re.compile(r"<(style|script)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)

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
table.abkit-trust td:nth-child(2), table.abkit-trust th:nth-child(2) {{ text-align: left; }}
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
    # warnings and logs written to stderr stay in the executed notebook (for debugging), not in
    # the page a reader sees; every finding a reader needs is in the trust panel
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")
            ]

    class _Sanitizer(SanitizeHTML):
        def sanitize_html_tags(self, html_str: str) -> str:
            # bleach's strip=True removes a disallowed tag but keeps its text; for <style> and
            # <script> that text is CSS or code, so drop those elements whole first
            return str(super().sanitize_html_tags(_DROP_ELEMENTS.sub("", html_str)))

    sanitizer = _Sanitizer(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, strip=True)
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
