"""``Experiment``: a frozen set of analysis options, and the orchestration that runs them.

``analyze`` loads the logs (:func:`abkit.data.prepare_logs`), builds and runs one query
(:mod:`abkit.query`), records data-quality findings (:mod:`abkit.quality`) and hands the
statistics to :func:`abkit.analysis.finish.finish`.

Example:
    >>> import abkit as ab
    >>> exposures, events = ab.simulate.retention_experiment(n_units=2_000, seed=1)
    >>> exp = ab.Experiment(metrics=[ab.Retention(day=1)], control="control")
    >>> res = exp.analyze(exposures=exposures, events=events)
    >>> list(res.to_pandas().metric)
    ['retention_d1']
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abkit.analysis.finish import finish, reconcile
from abkit.analysis.one_pass import one_pass
from abkit.analysis.options import AnalysisOptions, normalise_weights
from abkit.analysis.refresh import State, refresh
from abkit.analysis.stats_input import validate_stats
from abkit.data import (
    Logs,
    TableLike,
    check_columns,
    label_segments,
    log_findings,
    log_span,
    prepare_logs,
    prepare_units,
    require_events_occur,
    resolve_as_of,
    unit_id_hint,
)
from abkit.engine import backend_of, engine_errors_as_data_errors, shared_connection
from abkit.errors import DataError, SpecError
from abkit.metrics import Metric, metric_from_spec
from abkit.quality import (
    FindingsBuilder,
    event_findings,
    exposure_findings,
    note_findings,
    unit_table_findings,
)
from abkit.query import build_analysis_query, build_unit_stats, collect_analysis
from abkit.query.cache import (
    Runner,
    execute_instant,
    execute_row,
    execute_with_sql,
    metrics_key,
    runner,
)
from abkit.query.fold import in_key_order
from abkit.query.frame import SUM, VARIANT, stat_col
from abkit.query.units_table import UNIT_DAYS_BACKENDS, CalendarWindows, UnitDays, carried
from abkit.spec import ExperimentSpec, load_spec

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from abkit.query import StatsQuery
    from abkit.results import ExperimentResult

__all__ = ["Experiment", "TableLike"]


class Experiment(AnalysisOptions):
    """A set of metrics to compare between variants, and how to compare them.

    Args:
        metrics: metric objects (``Retention(day=7)``, ``Mean("col")`` …) or their spec dicts.
        control: the control variant's label.
        variant: name of the variant column in your data (default ``"variant"``).
        variants: expected variant labels (control included). Units in other variants are
            excluded and reported; when None, the variants found in the data are used.
        weights: planned traffic share per variant, for the sample-ratio check (equal if None).
        segments: exposure (or unit) columns to break every metric down by, e.g. ``["channel"]``.
        alpha: significance level; intervals are ``1 - alpha``.
        alternative: ``"two-sided"``, ``"greater"`` (treatment above control) or ``"less"``.
        name: experiment name, shown in results and reports.
        primary_metric: the pre-registered primary metric (shown first).
        columns: mapping of abkit column names (``unit_id``, ``variant``, ``exposed_at``, ``ts``,
            ``event``, ``value``) to yours.
        tz: IANA zone in which timezone-naive timestamps were written (they are rejected otherwise).
        guardrails: non-inferiority tests (``{"metric": …, "margin": …}`` or ``GuardrailSpec``).
        accept_findings: codes of blocking data-quality findings to downgrade to warnings.
        cuped: CUPED variance reduction with a lookback of this many days (e.g. 14): each event
            metric is adjusted for the same activity in the ``cuped`` days before the unit's
            first exposure (active days for retention and active days, events for event counts,
            value for revenue), computed in the same pass over the events; a ratio of event
            metrics is adjusted for both parts' own activity (multivariate delta method,
            :func:`abkit.stats.ratio_cuped`). None: off.
        correction: multiple-testing correction across metrics × treatments that decides
            significance everywhere (``"holm"``, ``"hochberg"``, ``"bonferroni"``,
            ``"fdr_bh"``, ``"fdr_by"``, ``"none"``); the ``primary_metric`` stays uncorrected.
        rel_ci: the relative-lift interval, overall and per segment: ``"auto"`` (default:
            Fieller's, which keeps its coverage at small counts), ``"fieller"``, ``"delta"``
            or ``"log"`` (see :mod:`abkit.stats.lift` and docs/statistics.md).
        adjust: exposure (or unit) columns to adjust every lift for (regression adjustment,
            docs/statistics.md): text or boolean columns post-stratify (on their combinations;
            a null is its own stratum), numeric ones — a model's prediction from pre-experiment
            data too (CUPAC) — enter Lin's per-arm regression, with ``cuped``'s covariate if
            on. The result notes the share of the lift's variance removed.
        cuped_theta: CUPED's slope, ``"pooled"`` (default: one θ from both arms) or
            ``"per-arm"`` (each arm its own θ, Lin's interacted adjustment).

    The options are frozen once made; build another Experiment to change them.

    Example:
        >>> from abkit import Retention
        >>> Experiment(metrics=[Retention(day=7)], control="a").control
        'a'
    """

    def __init__(
        self,
        metrics: Sequence[Metric | Mapping[str, Any]],
        *,
        control: str = "control",
        variant: str | None = None,
        variants: Sequence[str] | None = None,
        weights: Sequence[float] | Mapping[str, float] | None = None,
        segments: Sequence[str] = (),
        alpha: float = 0.05,
        alternative: str = "two-sided",
        name: str = "experiment",
        primary_metric: str | None = None,
        columns: Mapping[str, str] | None = None,
        tz: str | None = None,
        guardrails: Sequence[Any] = (),
        accept_findings: Sequence[str] = (),
        cuped: int | None = None,
        correction: str = "holm",
        rel_ci: str = "auto",
        adjust: Sequence[str] = (),
        cuped_theta: str = "pooled",
    ) -> None:
        cols = dict(columns or {})
        if variant is not None:
            cols["variant"] = variant
        labels = None if variants is None else tuple(str(v) for v in variants)
        super().__init__(
            metrics=tuple(metric_from_spec(m) for m in metrics),
            control=control,
            variants=labels,
            weights=normalise_weights(weights, labels),
            segments=tuple(segments),
            alpha=alpha,
            alternative=alternative,
            name=name,
            primary_metric=primary_metric,
            columns=cols,
            tz=tz,
            guardrails=tuple(guardrails),
            accept_findings=tuple(accept_findings),
            cuped=cuped,
            correction=correction,
            rel_ci=rel_ci,
            adjust=tuple(adjust) if not isinstance(adjust, str) else (adjust,),
            cuped_theta=cuped_theta,
        )

    @classmethod
    def from_spec(cls, spec: ExperimentSpec | Mapping[str, Any] | str) -> Experiment:
        """Build an Experiment from a spec object, its dict form, or a YAML path."""
        s = load_spec(spec)
        if not s.metrics:
            raise SpecError(f"spec {s.name!r} lists no metrics; add e.g. `- retention: {{day: 7}}`")
        return cls(
            metrics=s.build_metrics(),
            control=s.control,
            variants=s.variant_names,
            weights=dict(zip(s.variant_names, s.weights, strict=True)),
            segments=s.segments,
            alpha=s.alpha,
            alternative=s.alternative,
            name=s.name,
            primary_metric=s.primary_metric,
            columns=s.columns,
            tz=s.tz,
            guardrails=s.guardrails,
            accept_findings=s.accept_findings,
            cuped=s.cuped,
            correction=s.report.multiple_testing,
            rel_ci=s.rel_ci,
            adjust=s.adjust,
            cuped_theta=s.cuped_theta,
        )

    def __repr__(self) -> str:
        return (
            f"Experiment(name={self.name!r}, metrics={[m.name for m in self.metrics]}, "
            f"control={self.control!r})"
        )

    # ------------------------------------------------------------------------------------ analyze

    def analyze(
        self,
        *,
        exposures: TableLike | None = None,
        events: TableLike | None = None,
        units: TableLike | None = None,
        as_of: datetime | str | None = None,
        unit_id: str | None = None,
        con: BaseBackend | None = None,
        state: State | str | os.PathLike[str] | None = None,
    ) -> ExperimentResult:
        """Compute every metric per variant in the engine and compare each treatment to control.

        Give either ``exposures`` (+ ``events`` for event metrics) or a per-unit table ``units``.

        Args:
            exposures: exposure log (``unit_id``, ``variant``, ``exposed_at`` …).
            events: activity log (``unit_id``, ``ts``, optional ``event``, ``value``).
            units: per-unit table with metric columns (column metrics only).
            as_of: cut-off for the event data; events after it are ignored and a unit counts for a
                metric only once its window has ended by then. Defaults to the last event time.
            unit_id: name of your unit id column (shortcut for ``columns={"unit_id": …}``).
            con: an Ibis backend to run on (default: the tables' own backend, else a fresh DuckDB).
            state: a folder (or :class:`~abkit.analysis.refresh.State`) holding a per-unit state
                of the logs: each analysis reads only the rows newer than its sealed watermark
                (48 h restate buffer) and gives a full run's results (docs/scale.md, "Nightly").

        Raises:
            DataError: the data breaks the contract (missing columns, naive timestamps, no rows,
                control absent, a single variant …) or the engine could not run the query; the
                message names the column and the fix.
        """
        columns = self._columns(unit_id)
        if units is not None and (exposures is not None or events is not None):
            raise SpecError("give either units= (a per-unit table) or exposures=/events=, not both")
        if units is None and exposures is None:
            raise SpecError("nothing to analyse: pass exposures= (and events=) or units=")
        with engine_errors_as_data_errors():  # an engine or file error: one line, not a trace
            con = _default_backend(con, units, exposures, events)
            if units is not None:
                if state is not None:
                    raise SpecError("state= keeps per-unit state of logs; a units table has none")
                return self._analyze_units(units, columns, con)
            logs = self._logs(exposures, events, columns, con)
            return self.analyze_logs(logs, as_of=as_of, state=state)

    def analyze_logs(
        self,
        logs: Logs,
        *,
        as_of: datetime | str | None = None,
        state: State | str | os.PathLike[str] | None = None,
    ) -> ExperimentResult:
        """Analyse logs already loaded by :func:`abkit.data.prepare_logs` (as ``analyze`` does).

        The retention views use this to load the logs once for several analyses.
        """
        return self._analyze_logs(logs, as_of=as_of, state=state)[0]

    def analyze_with_table(
        self,
        *,
        exposures: TableLike,
        events: TableLike,
        as_of: datetime | str | None = None,
        con: BaseBackend | None = None,
        carry: Sequence[str] = (),
        last_day: int,
        windows: CalendarWindows | None = None,
    ) -> tuple[ExperimentResult, UnitDays | None]:
        """:meth:`analyze` of the logs and, from the same pass over the events, the per-unit
        table a report's views share (:func:`abkit.query.units_table.unit_days` of the logs
        with these ``carry``, ``last_day`` and ``windows``; :mod:`abkit.query.one_pass`). The
        result is the one :meth:`analyze` gives. The table is None when the pass cannot keep it
        (a backend other than DuckDB): the views then scan the logs themselves.
        """
        with engine_errors_as_data_errors():
            con = _default_backend(con, exposures, events)
            logs = self._logs(exposures, events, self._columns(None), con)
            if str(logs.con.name) not in UNIT_DAYS_BACKENDS or logs.events is None:
                return self.analyze_logs(logs, as_of=as_of), None
            kept = carried(logs.exposures.columns, carry)
            return self._analyze_logs(logs, as_of=as_of, table=(kept, last_day, windows))

    def _analyze_logs(
        self,
        logs: Logs,
        *,
        as_of: datetime | str | None,
        state: State | str | os.PathLike[str] | None = None,
        table: tuple[Sequence[str], int, CalendarWindows | None] | None = None,
    ) -> tuple[ExperimentResult, UnitDays | None]:
        """:meth:`analyze_logs`; with ``table`` (carry, last day, windows; no ``state``) also
        the views' per-unit table, from the same pass (:meth:`analyze_with_table`)."""
        carry = self._carry(logs)
        defaulted = as_of is None
        refreshed = None
        units = None
        if state is not None:  # incremental: the stored per-unit state and the newest rows
            with engine_errors_as_data_errors():
                refreshed = refresh(self, logs, carry, as_of, state)
            frame, sql, query = refreshed.frame, refreshed.sql, refreshed.query
            span, as_of_dt = refreshed.span, refreshed.as_of
            assert as_of_dt is not None
        else:  # one runner: the tables registered once for both queries
            with runner(logs.con, (logs.exposures, logs.events)) as run:
                span = log_span(logs, run=run)  # when the events log runs (None without events)
                if defaulted and span is not None:
                    as_of = span.last  # the end of the log's bulk, not a stray row dated 2099
                if table is None:
                    frame, sql, query, as_of_dt = self._run_query(logs, carry, as_of, run)
                else:
                    with engine_errors_as_data_errors():
                        frame, sql, query, as_of_dt, units = one_pass(
                            self, logs, carry, as_of, *table
                        )
        got = collect_analysis(frame, query, self.metrics, as_of=as_of_dt)
        dq = FindingsBuilder()
        note_findings(logs.notes, dq)
        for finding in refreshed.findings if refreshed is not None else ():
            dq.add(*finding)
        exposure_findings(got.counts, dq)
        if logs.events is not None:
            event_findings(got.counts, dq, id_hint=lambda: unit_id_hint(logs))
        log_findings(logs, span, as_of_dt, defaulted=defaulted, dq=dq)
        self._check_event_filters(logs, got.stats)
        covariates = self.split_adjust(logs.exposures)[1]
        res = finish(self, got.stats, dq, as_of=as_of_dt, sql=sql, covariates=covariates)
        reconcile(res, got.counts["x_ids"], events_given=logs.events is not None)
        return res, units

    def _run_query(
        self, logs: Logs, carry: tuple[str, ...], as_of: datetime | str | None, run: Runner
    ) -> tuple[Any, str | None, StatsQuery, datetime]:
        """The analysis query's frame, SQL and query (cached plans: ``run``, a runner over the
        logs' tables), and the resolved as_of."""
        import pandas as pd

        # the queries' SQL is compiled once per metric set and schema (abkit.query.cache)
        if as_of is None:  # the last event (or exposure) time, as resolve_as_of defaults it
            last = execute_instant(run, "last time", (), _last_time)
            as_of = None if last is None or bool(pd.isna(last)) else last
        as_of_dt = resolve_as_of(as_of, logs, tz=self.tz, check_first_exposure=False)
        key = (
            metrics_key(self.metrics), self.segments, carry, self.cuped, self.variants,
            self.adjust,
        )  # fmt: skip

        def build(exposures: ir.Table, events: ir.Table | None, *, as_of: datetime) -> Any:
            return self._build(exposures, events, carry, as_of, str(logs.con.name))

        with engine_errors_as_data_errors():
            frame, sql, query = execute_with_sql(run, "analysis", key, build, as_of=as_of_dt)
        return frame, sql, query, as_of_dt

    def to_sql(
        self,
        *,
        exposures: TableLike,
        events: TableLike | None = None,
        as_of: datetime | str | None = None,
        unit_id: str | None = None,
        con: Any = None,
        dialect: str | None = None,
    ) -> str:
        """The SQL of the analysis query ``analyze`` would run, without running it.

        Args:
            exposures, events, as_of, unit_id, con: as for :meth:`analyze`.
            dialect: SQL dialect to print (``"duckdb"``, ``"pyspark"``, ``"bigquery"``,
                ``"snowflake"``, ``"trino"``, ``"clickhouse"`` …); default: the backend's.

        Example:
            >>> import abkit as ab
            >>> exposures, events = ab.simulate.retention_experiment(n_units=200, seed=1)
            >>> sql = ab.Experiment(metrics=[ab.Retention(day=1)]).to_sql(
            ...     exposures=exposures, events=events, as_of="2024-04-01T00:00Z")
            >>> "GROUP BY" in sql
            True
        """
        import ibis

        logs = self._logs(exposures, events, self._columns(unit_id), con)
        query, _ = self._query(logs, as_of, dialect=dialect)
        name = dialect or logs.con.name
        with contextlib.suppress(Exception):  # some compilers read their backend's options
            getattr(ibis, name)
        return str(ibis.to_sql(query.expr, dialect=name))

    def analyze_stats(self, stats: Any, *, as_of: datetime | None = None) -> ExperimentResult:
        """Compare variants from sufficient statistics computed elsewhere (pre-aggregated input).

        Args:
            stats: a pandas DataFrame with one row per variant (or per variant and segment
                values): ``variant``, the experiment's segment columns, and per metric
                ``<name>__n`` (units), ``<name>__sum`` (Σx) and ``<name>__sumsq`` (Σx²; may be
                left out for 0/1 metrics, where it equals Σx); ratio metrics also ``__sumy``,
                ``__sumyy`` and ``__sumxy``. ``n_units`` (for the sample-ratio check) defaults
                to the largest ``__n`` of the row. The schema is :mod:`abkit.query.frame`.
            as_of: shown in the result, if known.

        Raises:
            DataError: a required column is missing or a count is negative.

        Example:
            >>> import pandas as pd, abkit as ab
            >>> stats = pd.DataFrame({"variant": ["control", "treatment"],
            ...     "retention_d7__n": [10_000, 10_000], "retention_d7__sum": [2_000, 2_150]})
            >>> res = ab.Experiment(metrics=[ab.Retention(day=7)]).analyze_stats(stats)
            >>> round(float(res.to_pandas().abs_lift.iloc[0]), 3)
            0.015
        """
        # adjust= on pre-aggregated input: its columns are strata (group columns of the rows)
        groups = (*self.segments, *(c for c in self.adjust if c not in self.segments))
        df = validate_stats(stats, self.metrics, groups)
        df = in_key_order(df, [VARIANT, *groups])  # the same sums in any row order
        return finish(self, df, FindingsBuilder(), as_of=as_of, sql=None)

    # ------------------------------------------------------------------------------------ steps

    def _columns(self, unit_id: str | None) -> dict[str, str]:
        columns = dict(self.columns)
        if unit_id is not None:
            columns["unit_id"] = unit_id
        return columns

    def _logs(
        self, exposures: TableLike, events: TableLike | None, columns: dict[str, str], con: Any
    ) -> Logs:
        reads_value = any(p.unit_value == "sum" for m in self.metrics for p in m.event_parts)
        return prepare_logs(
            exposures, events, columns=columns, tz=self.tz, con=con, value=reads_value
        )

    def _query(
        self, logs: Logs, as_of: datetime | str | None, dialect: str | None = None
    ) -> tuple[StatsQuery, datetime]:
        """The analysis query over ``logs`` (nothing heavy runs yet) and the resolved as_of."""
        carry = self._carry(logs)
        as_of_dt = resolve_as_of(as_of, logs, tz=self.tz)  # one min() query: no SQL for nothing
        backend = dialect or str(logs.con.name)
        return self._build(logs.exposures, logs.events, carry, as_of_dt, backend), as_of_dt

    def _carry(self, logs: Logs) -> tuple[str, ...]:
        """The exposure columns the query carries per unit (segments, metric columns), checked."""
        event_metrics = [m.name for m in self.metrics if m.event_parts]
        if event_metrics and logs.events is None:
            raise SpecError(f"metrics {event_metrics} are computed from events; pass events=")
        carry = (*self.segments, *dict.fromkeys(c for m in self.metrics for c in m.columns))
        carry += tuple(c for c in self.adjust if c not in carry)
        check_columns(logs.exposures, "exposures", carry)
        return carry

    def _build(
        self,
        exposures: ir.Table,
        events: ir.Table | None,
        carry: Sequence[str],
        as_of: datetime,
        backend: str,
    ) -> StatsQuery:
        """The analysis query; reads nothing but its arguments and the options (a cache key)."""
        groups, covariates = self.group_columns(exposures)  # adjust=: strata join the segments
        return build_analysis_query(
            label_segments(exposures, groups),
            events,
            self.metrics,
            segments=groups,
            covariates=covariates,
            carry=list(carry),
            as_of=as_of,
            backend=backend,
            cuped=self.cuped,
            variants=self.variants,
        )

    def _check_event_filters(self, logs: Logs, stats: Any) -> None:
        """An event filter that matched nothing, or one of several names, may name an event the
        log does not hold: then it is an error listing the events that do (costs a query only
        for such filters)."""
        empty = [
            m
            for metric in self.metrics
            for m in metric.event_parts
            if m.event is not None
            and logs.events is not None
            and "event" in logs.events.columns
            and stat_col(m, SUM) in stats.columns
            and (len(m.event) > 1 or not stats[stat_col(m, SUM)].sum())
        ]
        for m in empty:
            names = [m.event] if isinstance(m.event, str) else list(m.event or ())
            assert logs.events is not None
            require_events_occur(logs.events, logs.con, names, what=f"metric {m.name!r}: event(s)")

    def _analyze_units(
        self, units: TableLike, columns: dict[str, str], con: BaseBackend | None
    ) -> ExperimentResult:
        if self.cuped is not None:
            raise SpecError(
                "cuped= adjusts event metrics for activity before exposure; it needs exposure "
                "and event logs (exposures=, events=), not a per-unit table"
            )
        event_metrics = [m.name for m in self.metrics if m.event_parts]
        if event_metrics:
            raise SpecError(
                f"metrics {event_metrics} are computed from events; with a per-unit table use "
                "column metrics such as Proportion('retention_7') or Mean('revenue')"
            )
        backend, t, notes = prepare_units(units, columns=columns, con=con)
        check_columns(t, "units", [c for m in self.metrics for c in m.columns])
        check_columns(t, "units", self.segments, grouped=True)
        check_columns(t, "units", self.adjust)
        groups, covariates = self.group_columns(t)  # adjust=: strata join the segments
        t = label_segments(t, groups)
        dq = FindingsBuilder()
        note_findings(notes, dq)
        with runner(backend, (t,)) as run:
            counts = execute_row(run, "unit counts", (), _unit_counts)
            rows = int(counts["rows"])
            if rows == 0:
                raise DataError("units: the table has no rows")
            n_dup = int(counts["dup_ids"])
            unit_table_findings(
                rows,
                int(counts["null_ids"] or 0),
                int(counts["null_variants"] or 0),
                n_dup,
                int(counts["distinct_ids"]),
                dq,
            )
            key = (metrics_key(self.metrics), self.segments, self.variants, n_dup > 0, self.adjust)

            def build(t: ir.Table) -> Any:
                valid, dup_ids = _valid_units(t)
                if n_dup:
                    valid = valid.anti_join(dup_ids, "unit_id")
                query = build_unit_stats(
                    valid,
                    self.metrics,
                    segments=groups,
                    variants=self.variants,
                    covariates=covariates,
                )
                return query.expr

            stats, sql, _ = execute_with_sql(run, "unit stats", key, build, inline_ctes=False)
        # the engine's rows in key order: the folds add in the same order every run
        stats = in_key_order(stats, [VARIANT, *groups])
        return finish(self, stats, dq, as_of=None, sql=sql, covariates=covariates)


def _default_backend(con: Any, *sources: Any) -> Any:
    """``con``; else, for tables all in memory (and none bound to a backend), the connection
    abkit reuses for them; else None (the loader's choice: the tables' backend, or a fresh one)."""
    if con is not None or backend_of(*sources) is not None:
        return con
    import ibis.expr.types as ir

    in_memory = all(
        s is None or isinstance(s, ir.Table) or type(s).__module__.startswith(("pandas", "pyarrow"))
        for s in sources
    )
    return shared_connection() if in_memory else None


def _valid_units(t: ir.Table) -> tuple[ir.Table, ir.Table]:
    """The rows of a per-unit table with an id and a variant, and the ids on several of them."""
    valid = t.filter(t.unit_id.notnull() & t.variant.notnull())
    per_id = valid.group_by("unit_id").aggregate(_rows=valid.count())
    return valid, per_id.filter(per_id._rows > 1)


def _unit_counts(t: ir.Table) -> ir.Table:
    """One row of a per-unit table's counts: rows, null ids and variants, ids, repeated ids."""
    _, dup_ids = _valid_units(t)
    counts = t.aggregate(
        rows=t.count(),
        null_ids=t.unit_id.isnull().cast("int64").sum(),
        null_variants=t.variant.isnull().cast("int64").sum(),
        distinct_ids=t.unit_id.nunique(),
    )
    return counts.cross_join(dup_ids.aggregate(dup_ids=dup_ids.count()))


def _last_time(exposures: ir.Table, events: ir.Table | None) -> Any:
    """The last event time (the last exposure time without events): the default as_of."""
    return (events.ts if events is not None else exposures.exposed_at).max()
