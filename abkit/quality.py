"""Data quality: what an analysis saw, dropped and excluded, as counts and findings.

Every result carries a :class:`DataQuality` (``res.data_quality``); the analysis records its
findings through a :class:`FindingsBuilder` while it runs. The rules that turn the analysis
query's counts into findings live here too, so every path (exposure logs, per-unit tables,
pre-aggregated statistics) words the same finding the same way.

Example:
    >>> dq = FindingsBuilder()
    >>> dq.add("null_ids", "warning", 3, 100, "3 exposure rows with a null unit id were dropped")
    >>> dq.freeze().findings[0].share
    0.03
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["DataQuality", "Finding", "FindingsBuilder", "Severity"]

Severity = Literal["info", "warning", "blocking"]


# --------------------------------------------------------------------------------------------------
# data-quality findings


@dataclass(frozen=True, slots=True)
class Finding:
    """One data-quality observation: what was seen, how much, how bad, and what to do."""

    code: str
    severity: Severity
    count: int
    share: float | None
    message: str


@dataclass(frozen=True, slots=True)
class DataQuality:
    """Counts of what the analysis saw, dropped and excluded, with findings ordered by severity.

    ``counts`` keys (all integers): ``exposure_rows``, ``exposure_null_ids``,
    ``exposure_null_variants``, ``exposures_after_as_of``, ``units_exposed`` (distinct ids),
    ``units_multiple_variants`` (excluded), ``duplicate_exposures`` (extra rows collapsed to the first),
    ``units_unknown_variant`` (variant not in the spec; excluded), ``units_analyzed``,
    ``event_rows``, ``event_null_ids``, ``event_null_times``, ``events_unexposed_units``,
    ``events_before_exposure``, ``events_after_as_of``, ``events_beyond_windows`` (later than the
    longest metric window), ``events_in_analysis``, ``units_without_valid_exposure``. Each event
    row is in exactly one of the ``event_*``/``events_*`` categories (first reason wins), so they
    add up to ``event_rows``.
    """

    counts: Mapping[str, int]
    findings: tuple[Finding, ...] = ()

    @property
    def blocking(self) -> tuple[Finding, ...]:
        """Findings that make the comparison untrustworthy until fixed."""
        return tuple(f for f in self.findings if f.severity == "blocking")

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": {k: int(v) for k, v in sorted(self.counts.items())},
            "findings": [
                {
                    "code": f.code,
                    "severity": f.severity,
                    "count": int(f.count),
                    "share": None if f.share is None else float(f.share),
                    "message": f.message,
                }
                for f in self.findings
            ],
        }

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            [(f.severity, f.code, f.count, f.share, f.message) for f in self.findings],
            columns=["severity", "code", "count", "share", "message"],
        )


@dataclass
class FindingsBuilder:
    """Collects findings while the data layer runs (mutable; frozen into :class:`DataQuality`)."""

    counts: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def add(
        self, code: str, severity: Severity, count: int, total: int | None, message: str
    ) -> None:
        share = (count / total) if total else None
        self.findings.append(Finding(code, severity, int(count), share, message))

    def freeze(self, accept: Sequence[str] = ()) -> DataQuality:
        """Freeze; blocking findings whose code is in ``accept`` become warnings, saying so."""
        order = {"blocking": 0, "warning": 1, "info": 2}
        found = [
            Finding(
                f.code,
                "warning",
                f.count,
                f.share,
                f.message + " [blocking finding accepted explicitly by the user]",
            )
            if f.severity == "blocking" and f.code in accept
            else f
            for f in self.findings
        ]
        found.sort(key=lambda f: (order[f.severity], f.code))
        return DataQuality(dict(self.counts), tuple(found))
