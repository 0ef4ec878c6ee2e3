"""Exit codes of ``abkit report`` (and of :func:`abkit.report.summary_exit_code`).

0 ok; 2 bad spec, data or arguments; 3 the notebook failed; 4 the report was written but has
blocking trust findings; 5 (only with ``--fail-on guardrail``) a guardrail metric is breached.
"""

from __future__ import annotations

__all__ = ["EXIT_BLOCKED", "EXIT_FAILED", "EXIT_GUARDRAIL", "EXIT_INPUT", "EXIT_OK"]

EXIT_OK, EXIT_INPUT, EXIT_FAILED, EXIT_BLOCKED, EXIT_GUARDRAIL = 0, 2, 3, 4, 5
