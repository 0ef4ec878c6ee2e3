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

from abkit.report.context import ReportContext
from abkit.report.exit_codes import EXIT_BLOCKED, EXIT_FAILED, EXIT_GUARDRAIL, EXIT_INPUT, EXIT_OK
from abkit.report.html import ALLOWED_ATTRIBUTES as ALLOWED_ATTRIBUTES
from abkit.report.html import ALLOWED_TAGS as ALLOWED_TAGS
from abkit.report.notebook import DESIGN_NOTEBOOK as DESIGN_NOTEBOOK
from abkit.report.notebook import REPORT_NOTEBOOK as REPORT_NOTEBOOK
from abkit.report.notebook import notebook_path as notebook_path
from abkit.report.notebook import notebook_to_html as notebook_to_html
from abkit.report.notebook import validate_parameters
from abkit.report.run import BatchItem as BatchItem
from abkit.report.run import ReportOutcome, run_all, run_design, run_report
from abkit.report.run import batch_exit_code as batch_exit_code
from abkit.report.run import resolve_inputs as resolve_inputs
from abkit.report.run import write_index as write_index
from abkit.report.summary import SUMMARY_SCHEMA
from abkit.report.summary import build_summary as build_summary
from abkit.report.summary import summary_exit_code as summary_exit_code
from abkit.report.summary import write_json_atomic as write_json_atomic
from abkit.report.summary import write_text_atomic as write_text_atomic

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
