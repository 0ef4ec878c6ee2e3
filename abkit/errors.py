"""The abkit exception tree.

Every error abkit raises on purpose derives from :class:`AbkitError`, so a caller can catch them all
with one clause and still tell them apart::

    AbkitError
    ├── SpecError      the experiment spec or a metric definition is invalid
    ├── DataError      the input data does not fit the data contract (missing columns, bad types …)
    ├── StatsError     a statistic was asked for numbers it cannot work with
    ├── ReportError    a report run failed (parameters, papermill, nbconvert, output folder)
    └── ConsistencyError  abkit's own bookkeeping does not add up (a bug: please report it)

Messages name the culprit (column, value, rows) and say how to fix it.
"""

from __future__ import annotations


class AbkitError(Exception):
    """Base class of every error abkit raises on purpose."""


class SpecError(AbkitError, ValueError):
    """The experiment spec, a metric definition or an analysis option is invalid."""


class DataError(AbkitError, ValueError):
    """The input data does not satisfy abkit's data contract."""


class StatsError(AbkitError, ValueError):
    """A statistical routine received numbers it cannot work with (e.g. a count larger than n)."""


class ReportError(AbkitError, RuntimeError):
    """A report run failed: bad parameters, a failing notebook cell, or an output problem.

    Attributes:
        exit_code: the process exit code the CLI uses for this failure.
        notebook_path: the executed notebook kept for debugging, if any.
    """

    def __init__(self, message: str, *, exit_code: int = 2, notebook_path: str | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.notebook_path = notebook_path


class ConsistencyError(AbkitError, RuntimeError):
    """A conservation check failed: the units or events abkit counted do not add up.

    Every analysed unit must be in exactly one category (analysed, excluded for a stated reason),
    every event likewise. A mismatch means abkit lost or double-counted data; the result is
    withheld rather than shown with a footnote.
    """


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["AbkitError", "ConsistencyError", "DataError", "ReportError", "SpecError", "StatsError"]
