"""Incremental refresh: analyse the logs from a stored per-unit state plus the newest rows.

``Experiment.analyze(..., state=DIR)`` keeps in ``DIR/state.duckdb`` what the analysis query's
first two steps make of the *sealed* rows — exposure and event rows whose time is at or before
the sealed watermark — and a manifest of what the state depends on. A refresh reads only the
rows after the watermark (the restate buffer, default 48 hours, and the new rows; rows with a
null time are always read), merges them with the state (:mod:`abkit.query.state`) and runs
the query's third step, the one a full run uses: the results are a full run's. It then seals
the rows older than ``min(as_of, last event) - buffer`` into a new state file, written beside
the old one and renamed over it (a refresh that fails leaves the old state). One refresh at a
time holds ``DIR/.lock``; another waits up to ``lock_timeout`` seconds, then fails.

What the state depends on (metrics, segments, variants, zone, the inputs' schemas, the buffer,
abkit's version) is fingerprinted: a state made for anything else is rebuilt from the full logs,
and the result says so (an info finding ``state_rebuilt``). Rows at or before the watermark
that arrive after it was sealed are not in the state: they are counted and reported (finding
``late_rows``) with the command that rebuilds, never silently dropped or counted twice.

Example:
    >>> import tempfile, abkit as ab
    >>> exposures, events = ab.simulate.retention_experiment(n_units=500, seed=1)
    >>> exp = ab.Experiment(metrics=[ab.Retention(day=1)])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     a = exp.analyze(exposures=exposures, events=events, state=folder)  # made
    ...     b = exp.analyze(exposures=exposures, events=events, state=folder)  # refreshed
    >>> a.to_pandas().equals(b.to_pandas())
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abkit._version import __version__
from abkit.analysis.options import AnalysisOptions
from abkit.analysis.seal import SEALED_X_COUNTS, seal_in_place, write_new_state
from abkit.analysis.settle import A_SETTLED, SETTLED, X_SETTLED, Settler, drop_settled_parts
from abkit.analysis.state_file import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    STATE_FILE,
    StateError,
    attach,
    detach,
    fix_hint,
    locked,
    make_manifest,
    parse_iso,
    read_manifest,
    scalar,
    transaction,
    update_manifest,
    write_sidecar,
)
from abkit.data import Logs, label_segments, log_span, resolve_as_of
from abkit.engine import execute, execute_with_sql
from abkit.errors import SpecError
from abkit.quality import Severity
from abkit.query.checks import EventSpan, day_histogram, event_span, exposure_range, merge_days
from abkit.query.events import per_unit_events
from abkit.query.exposures import backend_name
from abkit.query.frame import X_COUNTS, X_MIN
from abkit.query.plan import StatsQuery, all_event_parts, build_statistics, exposure_counts
from abkit.query.state import (
    EU,
    ORPHAN_ROWS,
    T0,
    activity_layout,
    as_first,
    category_rows,
    exposure_parts,
    in_window_rows,
    merge_activity,
    merge_exposures,
    mergeable_parts,
    split_merge,
    state_per_unit,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends import BaseBackend

__all__ = ["MANIFEST_FILE", "STATE_FILE", "State", "StateError", "refresh"]

#: a finding to record: (code, severity, count, total, message), as FindingsBuilder.add takes it
FindingArgs = tuple[str, Severity, int, int | None, str]


@dataclass(frozen=True, slots=True)
class State:
    """Where and how an incremental refresh keeps its state (``analyze(state=...)``).

    Args:
        path: the state folder (made if missing); the state is ``path/state.duckdb``.
        buffer_hours: the restate buffer: rows this many hours before ``min(as_of, last event)``
            are read again on every refresh, so late rows inside it are counted.
        rebuild: build the state anew from the full logs.
        lock_timeout: seconds to wait for another refresh of the same folder.
        seal_every_hours: the watermark moves only once it can move this far (default 72):
            the refreshes in between read the rows after it and write nothing (a seal rewrites
            the per-unit rows the sealed rows touch and settles units: the costly part), so
            two nightly refreshes of three only read; 0 seals on every refresh.

    Example:
        >>> State("state/onboarding", buffer_hours=72).buffer_hours
        72
    """

    path: str | os.PathLike[str]
    buffer_hours: float = 48
    rebuild: bool = False
    lock_timeout: float = 600.0
    seal_every_hours: float = 72

    def __post_init__(self) -> None:
        for name in ("buffer_hours", "seal_every_hours"):
            b = getattr(self, name)
            if isinstance(b, bool) or not isinstance(b, int | float) or not 0 <= b <= 24 * 366:
                raise SpecError(f"{name} must be a number of hours from 0 to 8784, got {b!r}")


def as_state(state: State | str | os.PathLike[str]) -> State:
    """``state`` as a :class:`State` (a folder name: the default options)."""
    return state if isinstance(state, State) else State(state)


@dataclass(frozen=True, slots=True)
class Refreshed:
    """The analysis query's result from a refresh, and what the refresh found and did."""

    frame: pd.DataFrame
    sql: str | None
    query: StatsQuery
    #: (code, severity, count, total, message) of the findings to record
    findings: tuple[FindingArgs, ...] = ()
    #: "created", "refreshed" or "rebuilt (<reason>)"
    action: str = "refreshed"
    manifest: Mapping[str, Any] = field(default_factory=dict)
    #: the analysis' as_of (the default resolved from the span) and the events log's span
    as_of: datetime | None = None
    span: EventSpan | None = None


# --------------------------------------------------------------------------------------- lock


# ----------------------------------------------------------------------------------- manifest


def _depends_on(opts: AnalysisOptions, logs: Logs, carry: Sequence[str]) -> dict[str, Any]:
    """Everything the stored per-unit state depends on (its fingerprint's input); not the
    buffer: a state sealed with any buffer holds exactly the rows up to its watermark."""
    return {
        "state_format": FORMAT_VERSION,
        "abkit_version": __version__,
        "metrics": sorted(repr(m) for m in opts.metrics),
        "segments": list(opts.segments),
        "adjust": list(opts.adjust),
        "carry": list(carry),
        "variants": None if opts.variants is None else list(opts.variants),
        "tz": opts.tz,
        "cuped": opts.cuped,
        "exposures_schema": str(logs.exposures.schema()),
        "events_schema": None if logs.events is None else str(logs.events.schema()),
    }


def _fingerprint(depends: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(depends, sort_keys=True).encode()).hexdigest()


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """What differs between two ``_depends_on`` records, in words."""
    said = []
    for k in new:
        if old.get(k) == new[k]:
            continue
        if k == "metrics":
            a, b = set(old.get(k) or ()), set(new[k])
            said.append(f"metrics added {sorted(b - a)}, removed {sorted(a - b)}")
        else:
            said.append(f"{k} {old.get(k)!r} -> {new[k]!r}")
    return "; ".join(said) or "the state's fingerprint differs"


# ------------------------------------------------------------------------------------ running


def _late_findings(
    logs: Logs, manifest: Mapping[str, Any], sealed: datetime, folder: Path
) -> list[FindingArgs]:
    """Rows at or before the sealed watermark, or with no time, whose count differs from the
    rows sealed: all rows less those after the watermark (a row count and a filter that a
    Parquet reader answers from its metadata and row-group time ranges, no scan of old rows).
    """
    import ibis

    lit = ibis.literal(sealed)
    found: list[FindingArgs] = []
    checks = [("exposures", "exposed_at", logs.exposures, manifest["sealed"]["exposure_rows"])]
    if logs.events is not None:
        checks.append(("events", "ts", logs.events, manifest["sealed"]["event_rows"]))
    for role, col, t, held in checks:
        total = int(scalar(t.count(), logs.con) or 0)
        now = total - int(scalar(t.filter(t[col] > lit).count(), logs.con) or 0)
        if now == held:
            continue
        diff = now - held
        rows = (
            f"{role} rows with {col} at or before the state's sealed watermark "
            f"{sealed.isoformat()} or with no {col}"
        )
        what = (
            f"{diff:,} {rows} arrived after it was sealed (more than the restate buffer late, "
            "or with no time to place them after it); they are not in this analysis"
            if diff > 0
            else f"{-diff:,} {rows} were removed from the log after it was sealed; the state "
            f"still counts them"
        )
        found.append(
            (
                "late_rows",
                "warning",
                abs(diff),
                now,
                f"{what} (the log has {now:,} such rows, the state sealed {held:,}). To include "
                f"them, {fix_hint(folder)}; a longer buffer_hours (--state-buffer) keeps rows this "
                "late inside the buffer",
            )
        )
    return found


def refresh(
    opts: AnalysisOptions,
    logs: Logs,
    carry: Sequence[str],
    as_of: datetime | str | None,
    state: State | str | os.PathLike[str],
) -> Refreshed:
    """Run the analysis query of ``opts`` on ``logs`` from the state in ``state`` (made,
    refreshed or rebuilt), and seal the rows older than the restate buffer into it.

    ``as_of`` None: the end of the events log's bulk, as a full analysis defaults it; the
    log's span (:func:`abkit.query.checks.event_span`) comes from the state's per-day counts of
    the sealed events and the newer rows' (no scan of the sealed rows).

    Raises:
        SpecError: the options need something a state cannot merge (CUPED, a backend other
            than DuckDB, distinct days past day 62).
        StateError: the state file is damaged or foreign, ``as_of`` is before its sealed
            watermark, or another refresh holds it for longer than ``lock_timeout``.
    """
    st = as_state(state)
    if opts.cuped is not None:
        raise SpecError(
            "cuped= cannot be refreshed incrementally yet (its pre-exposure covariate would need "
            "every unit's events before a first exposure that may come later); run without "
            "state=, or drop cuped"
        )
    be = backend_name(logs.exposures, logs.events)
    if be != "duckdb":
        raise SpecError(
            f"state= keeps its per-unit state in DuckDB; these logs are on {be!r}. Run the full "
            "analysis there (no state=), or read the logs through DuckDB (Parquet files, frames)"
        )
    folder = Path(st.path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot make the state folder {folder}: {exc.strerror}") from None
    if not folder.is_dir():
        raise StateError(f"the state path {folder} is not a folder")
    with locked(folder, st.lock_timeout):
        return _refresh_locked(opts, logs, carry, as_of, st, folder)


def _refresh_locked(
    opts: AnalysisOptions,
    logs: Logs,
    carry: Sequence[str],
    as_of_arg: datetime | str | None,
    st: State,
    folder: Path,
) -> Refreshed:
    con = logs.con
    path = folder / STATE_FILE
    depends = _depends_on(opts, logs, carry)
    fingerprint = _fingerprint(depends)
    findings: list[FindingArgs] = []
    with contextlib.ExitStack() as stack:
        alias: str | None = None
        manifest: dict[str, Any] | None = None
        action = "created"
        if path.exists() and not st.rebuild:
            alias = attach(con, path, read_only=False)
            stack.callback(detach, con, alias)
            manifest = read_manifest(con, alias, path)
            if manifest["fingerprint"] != fingerprint:
                reason = _changes(manifest.get("depends_on", {}), depends)
                action = f"rebuilt ({reason})"
                findings.append(
                    (
                        "state_rebuilt",
                        "info",
                        0,
                        None,
                        f"the refresh state {path} was made for other options ({reason}); it "
                        "was rebuilt from the full logs, not reused",
                    )
                )
                detach(con, alias)
                manifest, alias = None, None
            else:
                action = "refreshed"
        elif path.exists():
            action = "rebuilt (asked for)"
        sealed = parse_iso(manifest["sealed_through"]) if manifest else None
        span = _span(logs, manifest, sealed)
        if as_of_arg is None and span is not None:
            as_of_arg = span.last  # the end of the log's bulk, as a full analysis defaults it
        as_of = resolve_as_of(as_of_arg, logs, tz=opts.tz, check_first_exposure=False)
        if sealed is not None and as_of < sealed:
            raise StateError(
                f"as_of {as_of.isoformat()} is before the state's sealed watermark "
                f"{sealed.isoformat()} (the rows up to it are merged in {path}); analyse that "
                f"as_of without state=, or {fix_hint(folder)}"
            )
        if manifest is not None and sealed is not None:
            findings += _late_findings(logs, manifest, sealed, folder)

        # adjust= strata are group columns beside the segments, as in the full analysis
        groups, covariates = opts.group_columns(logs.exposures)
        exposures = label_segments(logs.exposures, groups)
        events = logs.events
        last: datetime | None = None
        if events is not None:  # the last event, from the per-day counts
            last = None if span is None else span.latest
        else:
            got = scalar(exposures.exposed_at.max(), con)
            last = None if got is None else got.to_pydatetime()
        seal = sealed
        if last is not None:
            end = min(as_of, last) - timedelta(hours=st.buffer_hours)
            step = timedelta(hours=st.seal_every_hours)
            # the watermark moves in steps: the refreshes in between only read
            seal = end if seal is None else (end if end - seal >= step else seal)
        event_metrics = all_event_parts(opts.metrics)
        proxies = mergeable_parts(event_metrics)
        counts: dict[str, Any] = dict(manifest["sealed"]) if manifest else _no_rows()
        new_seal = seal is not None and (sealed is None or seal > sealed)
        args = (as_of, exposures, events, carry, event_metrics, proxies)

        def stats_of(first: ir.Table, per_unit: Any, settled: ir.Table | None = None) -> StatsQuery:
            """The statistics of the units in ``first`` (raw grouped rows, no x_counts)."""
            return build_statistics(
                first,
                per_unit,
                None,
                opts.metrics,
                segments=groups,
                as_of=as_of,
                backend="duckdb",
                variants=opts.variants,
                covariates=covariates,
                settled=settled,
            )

        settler = None if events is None else Settler.of(stats_of, event_metrics, carry)

        def manifest_now() -> dict[str, Any]:
            return make_manifest(
                fingerprint,
                depends,
                seal,
                counts,
                action=action,
                as_of=as_of,
                buffer_hours=st.buffer_hours,
            )

        new = None
        if manifest is None and seal is not None:  # a first build, or a rebuild: a new file
            new = write_new_state(con, folder, stack, seal, *args, counts, settler)
            counts, alias = new.sealed, new.alias
        elif manifest is not None and new_seal:  # a refresh: updated in place, atomically
            assert alias is not None and seal is not None
            with transaction(con):
                counts = seal_in_place(con, alias, sealed, seal, *args, counts, settler)
                manifest = manifest_now()
                update_manifest(con, alias, manifest)
            write_sidecar(folder, manifest)  # after the commit: the copy for people
        # the analysis reads the committed state (a scan inside the writing transaction would
        # check every row against its own deletions: several times slower)
        frame, sql, query = _analysis(opts, con, alias, seal, counts, groups, covariates, *args)
        if new is not None:
            manifest = manifest_now()
            new.commit(manifest)
    return Refreshed(frame, sql, query, tuple(findings), action, manifest or {}, as_of, span)


def _span(
    logs: Logs, manifest: Mapping[str, Any] | None, sealed: datetime | None
) -> EventSpan | None:
    """The events log's span: from the state's per-day counts of the sealed events and the
    rows after the watermark (a filter Parquet answers from row-group time ranges), or from
    the whole log when there is no state to reuse."""
    import ibis
    import pandas as pd

    if logs.events is None:
        return None
    stored = None if manifest is None else manifest["sealed"].get("days")
    if stored is None or sealed is None:
        return log_span(logs)
    ev, xp, lit = logs.events, logs.exposures, ibis.literal(sealed)
    fresh = execute(day_histogram(ev.filter(ev.ts > lit), backend="duckdb"), logs.con)
    days = merge_days([pd.DataFrame(stored, columns=["day", "n", "lo", "hi"]), fresh])
    # the exposures' range: the sealed rows' (kept) and the newer rows'
    x = execute(exposure_range(xp.filter(xp.exposed_at > lit), backend="duckdb"), logs.con)
    held = manifest["sealed"] if manifest is not None else {}
    lo = _known([_micros(held.get("x_min")), x["x_lo"].iloc[0]])
    hi = _known([_micros(held.get("x_max")), x["x_hi"].iloc[0]])
    return event_span(days.assign(x_lo=min(lo) if lo else None, x_hi=max(hi) if hi else None))


def _micros(iso_time: str | None) -> int | None:
    """An ISO time of the manifest as epoch microseconds (as exposure_range gives them)."""
    if iso_time is None:
        return None
    t = datetime.fromisoformat(iso_time) - datetime(1970, 1, 1, tzinfo=UTC)
    return (t.days * 86_400 + t.seconds) * 1_000_000 + t.microseconds


def _known(values: list[Any]) -> list[int]:
    """The values that are not missing, as integers."""
    import pandas as pd

    return [int(v) for v in values if v is not None and not bool(pd.isna(v))]


def _analysis(
    opts: AnalysisOptions,
    con: BaseBackend,
    alias: str | None,
    seal: datetime | None,
    counts: Mapping[str, Any],
    groups: Sequence[str],
    covariates: Sequence[str],
    as_of: datetime,
    exposures: ir.Table,
    events: ir.Table | None,
    carry: Sequence[str],
    event_metrics: Sequence[Any],
    proxies: Sequence[Any],
) -> tuple[pd.DataFrame, str | None, StatsQuery]:
    """The analysis query from the stored state (``alias``; None: none) and the rows after
    ``seal`` (all rows without one): the stored rows of untouched units pass as they are, the
    settled units' statistics rows are added group by group (:mod:`abkit.analysis.settle`)."""
    import ibis

    def after(t: ir.Table, col: str) -> ir.Table:
        """Rows after the seal (rows with no time are sealed with the first seal): a filter a
        Parquet reader answers from its row groups' time ranges."""
        return t if seal is None else t.filter(t[col] > ibis.literal(seal))

    db = None if alias is None else (alias, "main")
    x_rest = after(exposures, "exposed_at")
    fresh_x = exposure_parts(x_rest, as_of=as_of, carry=carry, backend="duckdb")

    def merge_x(p: list[ir.Table]) -> ir.Table:
        return merge_exposures(p, carry=carry, backend="duckdb")

    settled_x = settled = None
    stored_x = stored_a = None
    if db is not None:
        stored_x = con.table("exposed", database=db)
        stored_a = con.table("activity", database=db)
        if counts.get("settled_units") is not None:
            xs = con.table(X_SETTLED, database=db)
            if _touches(con, fresh_x, xs):
                # a settled unit has a new valid exposure row (a later, conflicting variant):
                # this analysis merges every unit (the next seal moves it back)
                stored_x = stored_x.union(xs, distinct=False)
                stored_a = stored_a.union(con.table(A_SETTLED, database=db), distinct=False)
            else:
                fresh_x = drop_settled_parts(fresh_x, xs)
                settled_x, settled = xs, con.table(SETTLED, database=db)
    if stored_x is None:
        merged = merge_x([fresh_x])
    else:
        untouched, touched = split_merge(
            stored_x.cast(fresh_x.schema()), fresh_x, "unit_id", merge_x
        )
        merged = untouched.union(touched, distinct=False)
    first = as_first(merged, carry)
    per_unit = None
    if events is not None:
        e_rest = after(events, "ts")
        # the settled units' first exposures classify their new events (after the windows)
        known = first if settled_x is None else _with_settled(first, settled_x)
        pu = per_unit_events(e_rest, known, proxies, as_of=as_of, backend="duckdb")
        layout = activity_layout(pu, event_metrics, proxies)
        rows = in_window_rows(pu.table, layout)
        orphans = None
        if stored_a is None:
            units = merge_activity([rows], layout)
        else:
            untouched_a, touched_a = split_merge(
                stored_a.cast(rows.schema()), rows, EU, lambda p: merge_activity(p, layout)
            )
            units = untouched_a.union(touched_a, distinct=False)
            assert db is not None
            orphans = con.table("orphans", database=db).cast({ORPHAN_ROWS: "int64"})
        cats = category_rows(
            pu.table, {int(k): int(v) for k, v in counts["categories"].items()}, orphans, first
        )
        per_unit = state_per_unit(units, cats, layout, first.unit_id.type())
    query = build_statistics(
        first,
        per_unit,
        _x_counts(x_rest, as_of, counts),
        opts.metrics,
        segments=groups,
        as_of=as_of,
        backend="duckdb",
        cuped=None,
        variants=opts.variants,
        covariates=covariates,
        settled=settled,
    )
    frame, sql = execute_with_sql(query.expr, con)
    return frame, sql, query


def _touches(con: BaseBackend, fresh_x: ir.Table, settled_x: ir.Table) -> bool:
    """Whether exposure parts ``fresh_x`` give a settled unit a valid row."""
    valid = fresh_x.filter(fresh_x[T0].notnull()).select(_k=fresh_x.unit_id)
    hit = valid.semi_join(settled_x, valid._k == settled_x.unit_id)
    return bool(scalar(hit.count(), con))


def _with_settled(first: ir.Table, settled_x: ir.Table) -> ir.Table:
    """``first``'s ids and first exposures, and the settled units' (for classifying events)."""
    cols = {"unit_id": first.unit_id.type(), T0: first[T0].type()}
    return first.select(*cols).union(settled_x.select(*cols).cast(cols), distinct=False)


def _no_rows() -> dict[str, Any]:
    """The sealed counts of an empty state."""
    return {
        "exposure_rows": 0,
        "x_null_ids": 0,
        "x_null_variants": 0,
        "x_null_times": 0,
        "x_min": None,
        "x_max": None,
        "event_rows": 0,
        "categories": {},
        "days": [],
    }


def _x_counts(x_rest: ir.Table, as_of: datetime, sealed: Mapping[str, Any]) -> ir.Table:
    """The exposure counts of the unsealed rows plus the sealed ones (one row)."""
    import ibis

    t = exposure_counts(x_rest, as_of)
    held = [sealed[k] for k in SEALED_X_COUNTS]
    add = dict(zip(X_COUNTS[:4], held, strict=True))
    cols: dict[str, Any] = {
        # (the sums of no rows are null)
        k: (t[k].fill_null(0) + ibis.literal(v, "int64")).cast("int64")
        for k, v in add.items()
    }
    if sealed["x_min"] is not None:
        lo = ibis.literal(datetime.fromisoformat(sealed["x_min"]))
        cols[X_MIN] = ibis.ifelse(t[X_MIN].isnull() | (t[X_MIN] > lo), lo, t[X_MIN])
    return t.mutate(**cols).select(*X_COUNTS, X_MIN)
