"""summary.json: the document, the exit code it calls for, and atomic JSON / text writes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abkit._files import atomic_path
from abkit._version import __version__
from abkit.report.exit_codes import EXIT_BLOCKED, EXIT_GUARDRAIL, EXIT_OK

if TYPE_CHECKING:
    from abkit.results import ExperimentResult

__all__ = [
    "SUMMARY_SCHEMA",
    "build_summary",
    "summary_exit_code",
    "write_json_atomic",
    "write_text_atomic",
]

#: identifier of the summary.json schema (see docs/reports.md and abkit/schemas/)
SUMMARY_SCHEMA = "abkit.summary/4"


def build_summary(
    res: ExperimentResult,
    *,
    design: Mapping[str, Any] | None = None,
    maturity: Sequence[Mapping[str, Any]] = (),
    long_term: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary.json document (schema ``abkit.summary/4``); ``design`` is the progress
    against the spec's plan (:meth:`abkit.design.PlanProgress.to_dict`), when it has one, and
    ``maturity`` when each windowed metric is readable
    (:class:`~abkit.report.progress.MetricMaturity`)."""
    blocking = [f.code for f in res.data_quality.blocking]
    doc: dict[str, Any] = {
        "schema": SUMMARY_SCHEMA,
        "abkit_version": __version__,
        "experiment": res.name,
        "as_of": None if res.as_of is None else res.as_of.isoformat(),
        "status": "blocked" if blocking else "ok",
        "blocking_findings": blocking,
        "guardrails_breached": sorted({g.metric for g in res.guardrails_breached}),
        "guardrails_untested": sorted({g.metric for g in res.guardrails if g.passed is None}),
        "results": res.to_dict(),
        "recommendations": [r.to_dict() for r in res.recommendations()],
    }
    if design is not None:
        doc["design"] = dict(design)
    if maturity:
        doc["maturity"] = [dict(m) for m in maturity]
    if long_term is not None:
        doc["long_term"] = dict(long_term)
    return doc


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


def write_json_atomic(path: Path, doc: Any) -> None:
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
