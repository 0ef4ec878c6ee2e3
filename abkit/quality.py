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

import html
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from abkit._display import SEVERITY_COLORS, more_lines, severity_style, trust_text

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
    add up to ``event_rows``. With naive times under ``tz=``: ``local_times_exposures`` /
    ``local_times_events`` (times the zone skips or repeats).
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

    def __repr__(self) -> str:
        n = self.counts.get("units_analyzed")
        units = "" if n is None else f" {n:,} units analysed;"
        tally = ", ".join(
            f"{k} {sev}"
            for sev in SEVERITY_COLORS
            if (k := sum(f.severity == sev for f in self.findings))
        )
        k = len(self.findings)
        head = f"<DataQuality:{units} trust: {trust_text(self)}; {k} finding{'s' * (k != 1)}"
        lines = [f"  [{f.severity}] {f.message}" for f in self.findings]
        return "\n".join([head + (f" ({tally})>" if tally else ">"), *more_lines(lines)])

    def _repr_html_(self) -> str:
        """The findings as a table, the severity coloured inline (no style sheet needed)."""
        e = html.escape
        rows = "".join(
            f"<tr class='abkit-{e(f.severity)}'><td style='{severity_style(f.severity)}'>"
            f"{e(f.severity)}</td><td><code>{e(f.code)}</code></td><td>{f.count:,}</td>"
            f"<td>{'' if f.share is None else f'{f.share:.2%}'}</td><td>{e(f.message)}</td></tr>"
            for f in self.findings
        )
        n = self.counts.get("units_analyzed")
        units = "" if n is None else f"{n:,} units analysed; "
        head = f"<p>Data quality: {units}trust: {e(trust_text(self))}.</p>"
        if not rows:
            return f"<div class='abkit-quality'>{head}<p>No data-quality findings.</p></div>"
        return (
            f"<div class='abkit-quality'>{head}<table><thead><tr><th>severity</th><th>code</th>"
            f"<th>count</th><th>share</th><th>finding</th></tr></thead><tbody>{rows}</tbody>"
            "</table></div>"
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


# ---------------------------------------------------------------------------------------- rules
# Each rule turns counts of the analysis into findings; every path that sees the same thing
# (exposure logs, per-unit tables, pre-aggregated statistics) words it the same way.


def note_findings(notes: Sequence[str], dq: FindingsBuilder) -> None:
    """What the data layer changed on the way (e.g. float ids read as integers)."""
    for note in notes:
        dq.add("unit_id_types", "info", 0, None, note)


def exposure_findings(c: Mapping[str, int], dq: FindingsBuilder) -> None:
    """Findings on the exposure log, from the analysis query's exposure counts."""
    n_rows = c["x_rows"]
    dq.counts.update(
        exposure_rows=n_rows,
        exposure_null_ids=c["x_null_ids"],
        exposure_null_variants=c["x_null_variants"],
        exposure_null_times=c["x_null_times"],
        exposures_after_as_of=c["x_after"],
        units_exposed=c["units"],
        units_multiple_variants=c["multi"],
        duplicate_exposures=c["dup_rows"],
    )
    if c["x_null_ids"]:
        dq.add(
            "null_ids",
            "warning",
            c["x_null_ids"],
            n_rows,
            f"{c['x_null_ids']:,} exposure rows with a null unit id were dropped",
        )
    if c["x_null_variants"] or c["x_null_times"]:
        k = c["x_null_variants"] + c["x_null_times"]
        dq.add(
            "null_exposure_fields",
            "warning",
            k,
            n_rows,
            f"{k:,} exposure rows with a null variant or time were dropped",
        )
    if c["x_after"]:
        dq.add(
            "exposures_after_as_of",
            "info",
            c["x_after"],
            n_rows,
            f"{c['x_after']:,} exposure rows after as_of were ignored",
        )
    if c["multi"]:
        share = c["multi"] / max(c["units"], 1)
        sev: Severity = "blocking" if share > 0.01 else "warning"
        dq.add(
            "multiple_variants",
            sev,
            c["multi"],
            c["units"],
            f"{c['multi']:,} units ({share:.2%}) were exposed to more than one variant and "
            "were excluded; check the assignment integration",
        )
    if c["dup_rows"]:
        dq.add(
            "duplicate_exposures",
            "info",
            c["dup_rows"],
            n_rows,
            f"{c['dup_rows']:,} repeated exposure rows were collapsed to each unit's first",
        )
    no_valid = c["x_ids"] - c["units"]
    dq.counts["units_without_valid_exposure"] = no_valid
    if no_valid:
        dq.add(
            "units_without_valid_exposure",
            "warning",
            no_valid,
            c["x_ids"],
            f"{no_valid:,} units have no exposure row with a variant and a time by as_of; "
            "they were not analysed",
        )


def event_findings(
    c: Mapping[str, int], dq: FindingsBuilder, id_hint: Callable[[], str | None] | None = None
) -> None:
    """Findings on the event log, from the analysis query's event-row categories.

    ``id_hint`` (run only when (almost) no event belongs to an exposed unit) says how the ids
    of the two logs differ, from an example of each (:func:`id_mismatch_hint`).
    """
    rows = c["e_rows"]
    dq.counts.update(
        event_rows=rows,
        event_null_ids=c["e_null_ids"],
        event_null_times=c["e_null_times"],
        events_unexposed_units=c["e_unexposed"],
        events_before_exposure=c["e_before"],
        events_after_as_of=c["e_after"],
        events_beyond_windows=c["e_late"],
        events_in_analysis=c["e_in_window"],
    )
    if c["e_null_ids"] or c["e_null_times"]:
        k = c["e_null_ids"] + c["e_null_times"]
        dq.add(
            "null_event_fields",
            "warning",
            k,
            rows,
            f"{k:,} event rows with a null unit id or time were dropped",
        )
    matched = c["e_in_window"] + c["e_before"] + c["e_after"] + c["e_late"]
    if c["e_unexposed"] and matched < 0.01 * (matched + c["e_unexposed"]):
        hint = id_hint() if id_hint is not None else None
        dq.add(
            "events_match_no_unit",
            "blocking" if matched == 0 else "warning",
            c["e_unexposed"],
            rows,
            f"{'no' if matched == 0 else 'almost no'} event row ({matched:,} of {rows:,}) "
            "belongs to an exposed unit: "
            + (hint or "the unit ids of the two logs probably differ in form (42 vs '00042', "
               "1 vs 1.0, trailing spaces, accents composed or not); compare a few unit_id "
               "values of each log and make them equal")
            + ("" if matched == 0 else " (expected only if the events log covers many more "
               "units than the experiment)"),
        )  # fmt: skip
    for code, key, message in (
        ("events_unexposed_units", "e_unexposed", "events belong to units never exposed "
         "(by as_of); ignored"),
        ("events_before_exposure", "e_before", "events happened before the unit's first "
         "exposure; they do not count toward post-exposure metrics"),
        ("events_after_as_of", "e_after", "events after as_of were ignored"),
    ):  # fmt: skip
        if c[key]:
            dq.add(code, "info", c[key], rows, f"{c[key]:,} {message}")


def unit_table_findings(
    rows: int,
    null_ids: int,
    null_variants: int,
    duplicated: int,
    distinct: int,
    dq: FindingsBuilder,
) -> None:
    """Findings on a per-unit table: null ids or variants dropped, duplicated ids excluded."""
    dq.counts.update(
        unit_rows=rows,
        unit_null_ids=null_ids,
        unit_null_variants=null_variants,
        units_duplicated=duplicated,
    )
    for code, k, what in (("null_ids", null_ids, "unit id"), ("null_variants", null_variants,
                          "variant")):  # fmt: skip
        if k:
            dq.add(code, "warning", k, rows, f"{k:,} rows with a null {what} were dropped")
    if duplicated:
        dq.add(
            "duplicate_units",
            "warning",
            duplicated,
            distinct,
            f"{duplicated:,} unit ids appear on more than one row and were excluded; a per-unit "
            "table must have one row per unit",
        )


def unknown_variant_findings(
    unknown: Sequence[str], n_unknown: int, total: int, planned: Sequence[str], dq: FindingsBuilder
) -> None:
    """Units whose variant label is not in the spec: excluded; blocking above 1% of units."""
    dq.counts["units_unknown_variant"] = n_unknown
    sev: Severity = "blocking" if n_unknown > 0.01 * total else "warning"
    dq.add(
        "unknown_variants",
        sev,
        n_unknown,
        total,
        f"{n_unknown:,} units have variant labels {list(unknown)} that are not in the spec "
        f"{list(planned)}; they were excluded. Normalise labels (case, whitespace) "
        "or add them to the spec",
    )


#: letters of other scripts drawn like Latin ones (Unicode's confusables for the Latin alphabet)
_LOOK_ALIKE = str.maketrans(
    "аеорсухіјѕԁɡАВЕКМНОРСТХІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧοіν",
    "aeopcyxijsdgABEKMHOPCTXIJSABEZHIKMNOPTYXoiv",
)


def label_key(label: str) -> str:
    """What a reader sees of a label: Unicode-normalised (NFKC), without invisible characters
    (zero-width spaces, joiners, byte-order marks), letters of other scripts that look Latin
    mapped to Latin, outer white space stripped, case folded. Two labels with one key look the
    same in a report but are different arms.

    Example:
        >>> label_key("Cont\u200brol ") == label_key("control") == label_key("cоntrol")
        True
    """
    text = unicodedata.normalize("NFKC", label)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text.translate(_LOOK_ALIKE).strip().casefold()


def label_variant_findings(units_by_variant: Mapping[str, int], dq: FindingsBuilder) -> None:
    """Labels that look the same (case, white space, Unicode form, invisible characters, letters
    of another script) split one arm in two: blocking."""
    groups: dict[str, list[str]] = {}
    for v in sorted(units_by_variant):
        groups.setdefault(label_key(v), []).append(v)
    clashes = [sorted(g) for g in groups.values() if len(g) > 1]
    if clashes:
        n = sum(units_by_variant[v] for g in clashes for v in g)
        dq.add(
            "variant_label_variants",
            "blocking",
            n,
            sum(units_by_variant.values()),
            "variant labels "
            + "; ".join(" and ".join(ascii(v) for v in g) for g in clashes)
            + " look the same but "
            "differ in case, white space, Unicode form, invisible characters or look-alike "
            "letters of another script; they are analysed as separate arms. Normalise the "
            "labels in the source (e.g. unicodedata.normalize('NFKC', s).strip().lower() and "
            "remove zero-width characters)",
        )


def metric_exclusion_findings(
    metric: str, immature: int, missing: int, total: int, dq: FindingsBuilder
) -> None:
    """Units a metric left out: immature (window not ended by as_of) or with a null value."""
    if immature:
        dq.counts[f"immature_{metric}"] = immature
        dq.add(
            f"immature_{metric}",
            "info",
            immature,
            total,
            f"{metric}: {immature:,} units were excluded because their window had not ended "
            "by as_of (immature)",
        )
    if missing:
        dq.counts[f"missing_{metric}"] = missing
        dq.add(
            f"missing_{metric}",
            "warning",
            missing,
            total,
            f"{metric}: {missing:,} units have a null value and were excluded",
        )


def srm_finding(
    observed: Mapping[str, int], weights: Sequence[float], pvalue: float, threshold: float,
    dq: FindingsBuilder,
) -> None:  # fmt: skip
    """A sample ratio mismatch: blocking, shown before any lift."""
    dq.add(
        "srm",
        "blocking",
        0,
        None,
        f"sample ratio mismatch: observed {dict(observed)} vs planned weights {list(weights)} "
        f"(p = {pvalue:.2g} < {threshold}); do not trust the lifts until the cause is found",
    )


# ------------------------------------------------------------------------- unit ids of two logs


def id_form(value: Any, type_name: str) -> str:
    """How a unit id is written, in words, with the value itself.

    Example:
        >>> id_form("00042", "string")
        "zero-padded digits as text (e.g. '00042')"
        >>> id_form(42, "int64")
        'integers (e.g. 42)'
    """
    if type_name.startswith(("int", "uint")):  # compared as text when the other log's are
        return f"integers (e.g. {value})"
    if not isinstance(value, str):
        return f"{type_name} values (e.g. {value!r})"
    shown = ascii(value) if not value.isascii() else repr(value)
    if value != value.strip():
        form = "text with white space around it"
    elif unicodedata.normalize("NFC", value) != value:
        form = "text with decomposed accents (Unicode NFD)"
    elif value.isdigit() and value.startswith("0") and len(value) > 1:
        form = "zero-padded digits as text"
    elif value.replace(".", "", 1).isdigit() and "." in value:
        form = "decimal numbers as text"
    elif value.isdigit():
        form = "digits as text"
    else:
        form = "text"
    return f"{form} (e.g. {shown})"


#: how to make one log's ids like the other's, by the form found
_ID_FIXES = {
    "white space": "strip the white space (df['unit_id'].str.strip())",
    "NFD": "normalise both logs' ids (df['unit_id'].map(lambda s: "
    "unicodedata.normalize('NFC', s)))",
    "zero-padded": "read both as integers (df['unit_id'].astype('int64')) or pad both alike",
    "decimal": "write the ids as whole numbers (df['unit_id'].astype(float).astype('int64'))",
}


def id_mismatch_hint(exposure_id: Any, event_id: Any, types: tuple[str, str] | None) -> str:
    """What differs between an exposure id and an event id found in no exposure, and the fix.

    Example:
        >>> id_mismatch_hint(42, "00042", ("int64", "string"))[:60]
        "the exposures' unit ids are integers (e.g. 42), the events' "
    """
    tx, te = types or ("?", "?")
    a, b = id_form(exposure_id, tx), id_form(event_id, te)
    fix = next(
        (f for key, f in _ID_FIXES.items() if key in a or key in b),
        "compare a few unit_id values of each log and make them equal",
    )
    return f"the exposures' unit ids are {a}, the events' {b}; {fix}"


# --------------------------------------------------------------- when the events log runs


def _when(t: datetime) -> str:
    return t.isoformat(timespec="minutes").replace("+00:00", "Z")


def _days(d: timedelta) -> str:
    days = d.total_seconds() / 86_400
    return f"{days:,.0f} days" if days >= 10 else f"{days:.1f} days"


#: how far beyond the events log a window may start or end before it is a finding
SPAN_TOLERANCE = timedelta(days=1)


def span_findings(
    span: Any,
    as_of: datetime,
    defaulted: bool,
    dq: FindingsBuilder,
    stray_examples: Callable[[], Sequence[str]] = lambda: (),
) -> None:
    """Findings on when the events log runs (``span``: :class:`abkit.query.checks.EventSpan`).

    * ``stray_events`` (warning): ``as_of`` was defaulted to the end of the log's bulk, not to
      the latest event time, because stray rows follow it (named by ``stray_examples``);
    * ``events_start_late`` (warning): the events begin more than a day after the first
      exposure (a log missing its first days): the first units' metrics read too low;
    * ``as_of_after_events`` (warning): ``as_of`` is more than a day after the last event:
      windows ending after the log count as no activity.

    Each can move a headline number by more than noise, hence a warning (docs/data.md).
    """
    if span is None:
        return
    if defaulted and span.late_rows:
        shown = "; ".join(stray_examples())
        dq.add(
            "stray_events",
            "warning",
            span.late_rows,
            span.rows,
            f"as_of was set to {_when(span.last)}, the end of the events log's bulk, not to its "
            f"latest event time {_when(span.latest)}: {span.late_rows:,} event "
            + ("row comes" if span.late_rows == 1 else "rows come")
            + f" after {_days(span.late_gap)} without any event and "
            + ("looks" if span.late_rows == 1 else "look")
            + " clock-skewed"
            + (f" ({shown})" if shown else "")
            + "; counted as after as_of. Fix or drop such rows, or pass as_of=",
        )
    x_first = span.first_exposure
    if x_first is not None and span.first - x_first > SPAN_TOLERANCE:
        dq.add(
            "events_start_late",
            "warning",
            0,
            None,
            f"the events log begins {_when(span.first)}, {_days(span.first - x_first)} after "
            f"the first exposure {_when(x_first)}: units exposed before then have days the log "
            "does not cover, so their metrics read too low. Load the missing days, or analyse "
            f"only the units exposed from {_when(span.first)} on",
        )
    if as_of - span.last > SPAN_TOLERANCE:
        dq.add(
            "as_of_after_events",
            "warning",
            0,
            None,
            f"as_of {_when(as_of)} is {_days(as_of - span.last)} after the last loaded event "
            f"({_when(span.last)}): windows that end after the log count as no activity, so "
            "retention reads too low. Pass an as_of within the log (or leave it out), or load "
            "the missing days",
        )


def local_time_findings(items: Sequence[Any], dq: FindingsBuilder) -> None:
    """Naive times that the ``tz`` zone skips or repeats (:class:`abkit.query.checks.LocalTimes`).

    Counted; a warning when they are over 1% of the column's rows (a shift of an hour moves a
    daily window's edge, so beyond that it can move a rate by more than noise), else info.
    """
    for t in items:
        k = t.nonexistent + t.ambiguous
        dq.counts[f"local_times_{t.role}"] = k
        dq.add(
            "local_times",
            "warning" if k > 0.01 * max(t.rows, 1) else "info",
            k,
            t.rows,
            f"{t.role}: {k:,} naive times in {t.column!r} are not one instant in {t.zone} "
            f"({t.nonexistent:,} fall in a spring-forward gap and do not exist, {t.ambiguous:,} "
            f"in a repeated fall-back hour; e.g. {t.example}); the engine read each as one of "
            "the possible instants. Store UTC (or zone-aware) timestamps to remove the doubt",
        )
