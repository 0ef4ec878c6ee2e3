"""``Experiment``: glue from a spec and data to results.

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
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from abkit.aggregate import CUPED_FIELDS
from abkit.errors import AbkitError, DataError, SpecError
from abkit.metrics import (
    EventMetric,
    Metric,
    Ratio,
    Revenue,
    column_parts,
    event_parts,
    metric_from_spec,
)
from abkit.stats._types import ALTERNATIVES

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends import BaseBackend

    from abkit.aggregate import StatsQuery
    from abkit.quality import FindingsBuilder, Severity
    from abkit.results import ExperimentResult, MetricInfo
    from abkit.spec import ExperimentSpec
    from abkit.stats import Comparison

__all__ = ["Experiment"]

_MIN_ARM = 2  # fewer units than this in an arm: no test


class Experiment:
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
        cuped: CUPED variance reduction with a lookback of this many days (e.g. 14): each event
            metric is adjusted for the same activity in the ``cuped`` days before the unit's
            first exposure (active days for retention and active days, events for event counts,
            value for revenue), computed in the same pass over the events. None: off.

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
    ) -> None:
        self.metrics: tuple[Metric, ...] = tuple(metric_from_spec(m) for m in metrics)
        if not self.metrics:
            raise SpecError("Experiment needs at least one metric, e.g. metrics=[Retention(day=7)]")
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise SpecError(
                f"metric names must be unique, got {names}; pass name=… to tell them apart"
            )
        if not isinstance(control, str) or not control:
            raise SpecError(f"control must be a variant label, got {control!r}")
        if not (isinstance(alpha, float | int) and 0 < alpha < 1):
            raise SpecError(f"alpha must be in (0, 1), got {alpha!r}")
        if alternative not in ALTERNATIVES:
            raise SpecError(f"alternative must be one of {list(ALTERNATIVES)}, got {alternative!r}")
        if primary_metric is not None and primary_metric not in names:
            raise SpecError(f"primary_metric {primary_metric!r} is not one of {names}")
        self.control = control
        self.columns = dict(columns or {})
        if variant is not None:
            self.columns["variant"] = variant
        self.variants = None if variants is None else tuple(str(v) for v in variants)
        if self.variants is not None and control not in self.variants:
            raise SpecError(f"control {control!r} is not among variants {list(self.variants)}")
        self.weights = _normalise_weights(weights, self.variants)
        self.segments = tuple(segments)
        self.alpha = float(alpha)
        self.alternative = alternative
        self.name = name
        self.primary_metric = primary_metric
        self.tz = tz
        from abkit.spec import GuardrailSpec

        try:
            self.guardrails = tuple(
                g if isinstance(g, GuardrailSpec) else GuardrailSpec.model_validate(dict(g))
                for g in guardrails
            )
        except Exception as exc:
            raise SpecError(f"invalid guardrail: {exc}") from None
        unknown = [g.metric for g in self.guardrails if g.metric not in names]
        if unknown:
            raise SpecError(f"guardrails name metrics {unknown} that are not in {names}")
        self.accept_findings = tuple(accept_findings)
        if cuped is not None and (
            isinstance(cuped, bool) or not isinstance(cuped, int) or not 1 <= cuped <= 365
        ):
            raise SpecError(
                f"cuped must be a lookback in whole days between 1 and 365 (e.g. 14), got {cuped!r}"
            )
        self.cuped = cuped

    @classmethod
    def from_spec(cls, spec: ExperimentSpec | Mapping[str, Any] | str) -> Experiment:
        """Build an Experiment from a spec object, its dict form, or a YAML path."""
        from abkit.spec import load_spec

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
        )

    def _metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)

    def __repr__(self) -> str:
        return (
            f"Experiment(name={self.name!r}, metrics={[m.name for m in self.metrics]}, "
            f"control={self.control!r})"
        )

    # ------------------------------------------------------------------------------------ analyze

    def analyze(
        self,
        *,
        exposures: Any = None,
        events: Any = None,
        units: Any = None,
        as_of: datetime | str | None = None,
        unit_id: str | None = None,
        con: BaseBackend | None = None,
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

        Raises:
            DataError: the data breaks the contract (missing columns, naive timestamps, no rows,
                control absent, a single variant …); the message names the column and the fix.
        """
        columns = dict(self.columns)
        if unit_id is not None:
            columns["unit_id"] = unit_id
        if units is not None and (exposures is not None or events is not None):
            raise SpecError("give either units= (a per-unit table) or exposures=/events=, not both")
        if units is None and exposures is None:
            raise SpecError("nothing to analyse: pass exposures= (and events=) or units=")
        try:
            if units is not None:
                return self._analyze_units(units, columns, con)
            return self._analyze_events(exposures, events, as_of, columns, con)
        except AbkitError:
            raise
        except Exception as exc:  # an engine error we did not foresee: say where, not a deep trace
            from abkit.errors import first_line

            raise DataError(
                f"the engine could not run the analysis: {type(exc).__name__}: {first_line(exc)}"
            ) from exc

    def to_sql(
        self,
        *,
        exposures: Any,
        events: Any = None,
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

        columns = dict(self.columns)
        if unit_id is not None:
            columns["unit_id"] = unit_id
        backend, _as_of, query = self._event_query(
            exposures, events, as_of, columns, con, dialect=dialect
        )
        name = dialect or backend.name
        with contextlib.suppress(Exception):  # some compilers read their backend's options
            getattr(ibis, name)
        return str(ibis.to_sql(query.expr, dialect=name))

    def analyze_stats(self, stats: Any, *, as_of: datetime | None = None) -> ExperimentResult:
        """Compare variants from sufficient statistics computed elsewhere (pre-aggregated input).

        Args:
            stats: a pandas DataFrame with one row per variant (or per variant and segment
                values): ``variant``, the experiment's segment columns, and per metric
                ``<name>__n`` (units), ``<name>__sum`` (Σx) and ``<name>__sumsq`` (Σx²; may be
                left out for 0/1 metrics, where it equals Σx). ``n_units`` (for the sample-ratio
                check) defaults to the largest ``__n`` of the row.
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
        import numpy as np
        import pandas as pd

        from abkit.aggregate import quantile_capped
        from abkit.quality import FindingsBuilder

        capped = [m.name for m in quantile_capped(self.metrics)]
        if capped:
            raise SpecError(
                f"metrics {capped} have cap_quantile, which needs per-unit values; sufficient "
                "statistics are sums already. Cap the values before summing them and drop "
                "cap_quantile (or use cap= with the value you capped at)"
            )
        if not isinstance(stats, pd.DataFrame):
            stats = pd.DataFrame(stats)
        df = stats.copy()
        need = ["variant", *self.segments]
        for m in self.metrics:
            need += [f"{m.name}__n", f"{m.name}__sum"]
            if m.kind != "proportion":
                need.append(f"{m.name}__sumsq")
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise DataError(
                f"stats: column(s) {missing} are missing; per metric give <name>__n, <name>__sum "
                f"and (for means) <name>__sumsq. Available: {list(df.columns)}"
            )
        for m in self.metrics:
            given = [f"{m.name}__{f}" for f in CUPED_FIELDS if f"{m.name}__{f}" in df.columns]
            if given and len(given) < len(CUPED_FIELDS):
                raise DataError(
                    f"stats: CUPED needs all of {[f'{m.name}__{f}' for f in CUPED_FIELDS]} (Σx, Σx², Σxy "
                    f"of the covariate) and {m.name}__sumsq; only {given} were given"
                )
            if given and f"{m.name}__sumsq" not in df.columns:
                raise DataError(f"stats: CUPED needs {m.name}__sumsq (Σy²) next to {given}")
        n_cols = [f"{m.name}__n" for m in self.metrics]
        num_cols = [c for c in df.columns if "__" in c or c == "n_units"]
        for c in num_cols:
            values = pd.to_numeric(df[c], errors="coerce").astype(float)
            bad_rows = df.index[~np.isfinite(values.fillna(np.inf).to_numpy())].tolist()
            if bad_rows:
                raise DataError(
                    f"stats: column {c!r} must hold finite numbers; rows {bad_rows} do not"
                )
            df[c] = values
        if (df[n_cols] < 0).any().any():
            raise DataError("stats: unit counts (__n) must not be negative")
        for m in self.metrics:
            if m.kind == "proportion":
                over = df.index[
                    (df[f"{m.name}__sum"] > df[f"{m.name}__n"]) | (df[f"{m.name}__sum"] < 0)
                ]
                if len(over):
                    raise DataError(
                        f"stats: {m.name}__sum must lie between 0 and {m.name}__n for a rate; rows "
                        f"{over.tolist()} do not"
                    )
        if "n_units" not in df.columns:
            df["n_units"] = df[n_cols].max(axis=1)
        extra: dict[str, Any] = {}
        for m in self.metrics:
            if f"{m.name}__sumsq" not in df.columns:
                extra[f"{m.name}__sumsq"] = df[f"{m.name}__sum"]
            for f, default in (("immature", 0), ("missing", 0), ("min", np.nan), ("max", np.nan)):
                if f"{m.name}__{f}" not in df.columns:
                    extra[f"{m.name}__{f}"] = default
        df = pd.concat([df, pd.DataFrame(extra, index=df.index)], axis=1)
        for seg in self.segments:
            df[seg] = df[seg].astype(str)
        dq = FindingsBuilder()
        return self._finish(df, dq, as_of=as_of, sql=None)

    # per-unit table path ---------------------------------------------------------------------------

    def _analyze_units(
        self, units: Any, columns: dict[str, str], con: BaseBackend | None
    ) -> ExperimentResult:
        from abkit.aggregate import build_unit_stats
        from abkit.data import (
            FindingsBuilder,
            backend_of,
            load_table,
            normalise_unit_ids,
            rename_columns,
        )
        from abkit.engine import connect, execute, resolve_backend

        if self.cuped is not None:
            raise SpecError(
                "cuped= adjusts event metrics for activity before exposure; it needs exposure "
                "and event logs (exposures=, events=), not a per-unit table"
            )
        event_metrics = [m.name for m in self.metrics if event_parts(m)]
        if event_metrics:
            raise SpecError(
                f"metrics {event_metrics} are computed from events; with a per-unit table use "
                "column metrics such as Proportion('retention_7') or Mean('revenue')"
            )
        con = resolve_backend(con) or backend_of(units) or connect()
        t = load_table(units, con=con, role="units")
        t = rename_columns(t, role="units", required=("unit_id", "variant"), columns=columns)
        self._check_columns(t, "units", [c for m in self.metrics for c in column_parts(m)])
        self._check_columns(t, "units", self.segments)
        t = t.mutate(variant=t.variant.cast("string"))
        t = _label_segments(t, self.segments)
        notes: list[str] = []
        t = normalise_unit_ids(t, role="units", blank_to_null=True, notes=notes)

        dq = FindingsBuilder()
        for note in notes:
            dq.add("unit_id_types", "info", 0, None, note)
        counts = execute(
            t.aggregate(
                rows=t.count(),
                null_ids=t.unit_id.isnull().cast("int64").sum(),
                null_variants=t.variant.isnull().cast("int64").sum(),
                distinct_ids=t.unit_id.nunique(),
            ),
            con,
        ).iloc[0]
        rows, null_ids = int(counts["rows"]), int(counts["null_ids"] or 0)
        if rows == 0:
            raise DataError("units: the table has no rows")
        dq.counts.update(unit_rows=rows, unit_null_ids=null_ids)
        null_variants = int(counts["null_variants"] or 0)
        dq.counts["unit_null_variants"] = null_variants
        if null_ids:
            dq.add(
                "null_ids",
                "warning",
                null_ids,
                rows,
                f"{null_ids:,} rows with a null unit id were dropped",
            )
        if null_variants:
            dq.add(
                "null_variants",
                "warning",
                null_variants,
                rows,
                f"{null_variants:,} rows with a null variant were dropped",
            )
        valid = t.filter(t.unit_id.notnull() & t.variant.notnull())
        per_id = valid.group_by("unit_id").aggregate(_rows=valid.count())
        dup_ids = per_id.filter(per_id._rows > 1)
        n_dup = int(con.execute(dup_ids.count()))
        dq.counts["units_duplicated"] = n_dup
        if n_dup:
            dq.add(
                "duplicate_units",
                "warning",
                n_dup,
                int(counts["distinct_ids"]),
                f"{n_dup:,} unit ids appear on more than one row and were excluded; a per-unit "
                "table must have one row per unit",
            )
            valid = valid.anti_join(dup_ids, "unit_id")
        query = build_unit_stats(
            valid, self.metrics, segments=self.segments, variants=self.variants
        )
        stats = execute(query.expr, con)
        sql = _try_sql(query.expr, con)
        return self._finish(stats, dq, as_of=None, sql=sql)

    # exposures + events path -----------------------------------------------------------------------

    def _event_query(
        self,
        exposures: Any,
        events: Any,
        as_of: datetime | str | None,
        columns: dict[str, str],
        con: Any,
        dialect: str | None = None,
        notes: list[str] | None = None,
    ) -> tuple[BaseBackend, datetime, StatsQuery]:
        """Load and check both logs; build the analysis query (nothing heavy runs yet).

        ``notes`` collects what the data layer changed on the way (recorded as findings).
        """
        notes = [] if notes is None else notes
        from abkit.aggregate import build_analysis_query
        from abkit.data import (
            backend_of,
            load_table,
            normalise_unit_ids,
            rename_columns,
            require_timestamp,
        )
        from abkit.engine import connect, resolve_backend

        event_metrics = [m for m in self.metrics if event_parts(m)]
        if event_metrics and events is None:
            raise SpecError(
                f"metrics {[m.name for m in event_metrics]} are computed from events; pass events="
            )
        con = resolve_backend(con) or backend_of(exposures, events) or connect()
        exp = load_table(exposures, con=con, role="exposures")
        exp = rename_columns(
            exp, role="exposures", required=("unit_id", "variant", "exposed_at"), columns=columns
        )
        carry = [*self.segments, *dict.fromkeys(c for m in self.metrics for c in column_parts(m))]
        self._check_columns(exp, "exposures", carry)
        exp = require_timestamp(exp, "exposed_at", role="exposures", tz=self.tz, con=con)
        exp = exp.mutate(variant=exp.variant.cast("string"))
        exp = _label_segments(exp, self.segments)
        exp = normalise_unit_ids(exp, role="exposures", blank_to_null=True, notes=notes)

        ev: ir.Table | None = None
        if events is not None:
            ev = load_table(events, con=con, role="events")
            ev = rename_columns(
                ev,
                role="events",
                required=("unit_id", "ts"),
                optional=("event", "value"),
                columns=columns,
            )
            ev = require_timestamp(ev, "ts", role="events", tz=self.tz, con=con)
            if "event" in ev.columns:
                ev = ev.mutate(event=ev.event.cast("string"))
            uses_value = any(isinstance(p, Revenue) for m in self.metrics for p in event_parts(m))
            if "value" in ev.columns and not uses_value:
                ev = ev.drop("value")  # no metric reads it: its type does not matter
            if "value" in ev.columns and not ev.value.type().is_numeric():
                raise DataError(
                    f"events: column 'value' has type {ev.value.type()}, expected numbers; convert "
                    "it (e.g. pd.to_numeric(df['value'], errors='coerce')) before analysing"
                )
            ev = normalise_unit_ids(ev, role="events", blank_to_null=False, notes=notes)
            exp, ev = _align_id_types(exp, ev)

        as_of_dt = self._resolve_as_of(as_of, exp, ev, check_first_exposure=False)
        query = build_analysis_query(
            exp,
            ev,
            self.metrics,
            segments=self.segments,
            carry=carry,
            as_of=as_of_dt,
            backend=dialect or str(con.name),
            cuped=self.cuped,
            variants=self.variants,
        )
        return con, as_of_dt, query

    def _analyze_events(
        self,
        exposures: Any,
        events: Any,
        as_of: datetime | str | None,
        columns: dict[str, str],
        con: Any,
    ) -> ExperimentResult:
        import pandas as pd

        from abkit.aggregate import (
            DQ_SUMS,
            STATUS_MULTI,
            STATUS_OK,
            STATUS_OTHER,
            X_COUNTS,
            collapse_categories,
            complete_stats,
        )
        from abkit.engine import execute_with_sql
        from abkit.quality import FindingsBuilder

        notes: list[str] = []
        con, as_of_dt, query = self._event_query(
            exposures, events, as_of, columns, con, notes=notes
        )
        ev_given = events is not None
        dq = FindingsBuilder()
        for note in notes:
            dq.add("unit_id_types", "info", 0, None, note)
        frame, sql = execute_with_sql(query.expr, con)  # compiled once: run and kept
        frame, ev_counts = collapse_categories(query.expand(frame), query.group_cols)
        if frame.empty:  # no exposure row and no event row
            c = {"x_rows": 0}
            first_exp = None
        else:
            sums = [k for k in DQ_SUMS if k not in ev_counts and k not in X_COUNTS]
            c = {k: int(0 if _isnull(frame[k].sum()) else frame[k].sum()) for k in sums}
            c |= ev_counts
            c |= {k: int(0 if _isnull(frame[k].iloc[0]) else frame[k].iloc[0]) for k in X_COUNTS}
            first_exp = frame["x_min"].iloc[0]
        if c["x_rows"] == 0:
            raise DataError("exposures: the table has no rows")
        if not _isnull(first_exp) and as_of_dt < pd.Timestamp(first_exp):
            raise DataError(
                f"as_of {pd.Timestamp(as_of_dt).isoformat()} is before the first exposure "
                f"{pd.Timestamp(first_exp).isoformat()}; nothing can be analysed"
            )
        status = frame["_status"]
        if not (status != STATUS_OTHER).any():
            raise DataError("exposures: no row has a unit id, a variant and a time by as_of")
        ok = frame[status == STATUS_OK]
        c["units"] = int(frame.loc[status != STATUS_OTHER, "n_units"].sum())
        c["multi"] = int(frame.loc[status == STATUS_MULTI, "n_units"].sum())
        c["dup_rows"] = int(ok["n_rows"].sum() - ok["n_units"].sum())
        self._exposure_findings(c, dq)
        if ev_given:
            self._event_findings(c, dq)
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
        drop = [k for k in ("_status", "x_min", *DQ_SUMS) if k in ok.columns]
        stats = ok.drop(columns=drop).reset_index(drop=True)
        stats = complete_stats(stats, self.metrics, query.group_cols[1:])
        res = self._finish(stats, dq, as_of=as_of_dt, sql=sql)
        _reconcile(res, c["x_ids"], events_given=ev_given)
        return res

    @staticmethod
    def _exposure_findings(c: dict[str, int], dq: FindingsBuilder) -> None:
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

    @staticmethod
    def _event_findings(c: dict[str, int], dq: FindingsBuilder) -> None:
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
        if c["e_unexposed"]:
            dq.add(
                "events_unexposed_units",
                "info",
                c["e_unexposed"],
                rows,
                f"{c['e_unexposed']:,} events belong to units never exposed (by as_of); ignored",
            )
        if c["e_before"]:
            dq.add(
                "events_before_exposure",
                "info",
                c["e_before"],
                rows,
                f"{c['e_before']:,} events happened before the unit's first exposure; they do "
                "not count toward post-exposure metrics",
            )
        if c["e_after"]:
            dq.add(
                "events_after_as_of",
                "info",
                c["e_after"],
                rows,
                f"{c['e_after']:,} events after as_of were ignored",
            )

    def _resolve_as_of(
        self,
        as_of: datetime | str | None,
        exp: ir.Table,
        ev: ir.Table | None,
        *,
        check_first_exposure: bool = True,
    ) -> datetime:
        """``as_of`` as an aware UTC datetime; the default is the last event (or exposure) time.

        The default costs no scan on Parquet: DuckDB answers ``max(ts)`` from the row-group
        statistics. With ``check_first_exposure=False`` the caller checks ``as_of`` against the
        first exposure itself (the analysis query returns it).
        """
        import pandas as pd

        if as_of is None:
            src = ev.ts if ev is not None else exp.exposed_at
            value = src.max().execute()
            if _isnull(value):
                raise DataError(
                    "cannot default as_of: the "
                    + ("events" if ev is not None else "exposures")
                    + " table has no timestamps; pass as_of= explicitly"
                )
            ts = pd.Timestamp(value)
        else:
            try:
                ts = pd.Timestamp(as_of)
            except (ValueError, TypeError) as exc:
                raise DataError(f"as_of={as_of!r} is not a timestamp: {exc}") from None
        if ts.tzinfo is None:
            if self.tz is None:
                raise DataError(
                    f"as_of={as_of!r} has no time zone; give one (e.g. '2024-05-01T00:00Z') or "
                    "set tz= on the Experiment"
                )
            ts = ts.tz_localize(self.tz)
        # the engines keep microseconds; a pandas Timestamp may carry nanoseconds
        ts = ts.tz_convert("UTC").floor("us")
        if not check_first_exposure:
            return ts.to_pydatetime().astimezone(UTC)
        first_exp = exp.exposed_at.min().execute()
        if not _isnull(first_exp) and ts < pd.Timestamp(first_exp):
            raise DataError(
                f"as_of {ts.isoformat()} is before the first exposure "
                f"{pd.Timestamp(first_exp).isoformat()}; nothing can be analysed"
            )
        return ts.to_pydatetime().astimezone(UTC)

    @staticmethod
    def _check_columns(t: ir.Table, role: str, needed: Sequence[str]) -> None:
        import difflib

        missing = [c for c in needed if c not in t.columns]
        if missing:
            hints = {c: difflib.get_close_matches(c, list(t.columns), n=1) for c in missing}
            tips = "; ".join(f"did you mean {h[0]!r} for {c!r}?" for c, h in hints.items() if h)
            raise DataError(
                f"{role}: column(s) {missing} used by the experiment are missing. "
                f"Available: {list(t.columns)}" + (f"; {tips}" if tips else "")
            )

    # ------------------------------------------------------------------------------ statistics

    def _finish(
        self,
        stats: pd.DataFrame,
        dq: FindingsBuilder,
        *,
        as_of: datetime | None,
        sql: str | None,
    ) -> ExperimentResult:
        from abkit.results import ExperimentResult

        stats = stats.copy()
        stats["variant"] = stats["variant"].astype(str)
        found = sorted(stats["variant"].unique().tolist())
        if self.variants is not None:
            variants = list(self.variants)
            unknown = [v for v in found if v not in variants]
            if unknown:
                n_unknown = int(stats.loc[stats.variant.isin(unknown), "n_units"].sum())
                dq.counts["units_unknown_variant"] = n_unknown
                sev: Severity = "blocking" if n_unknown > 0.01 * stats.n_units.sum() else "warning"
                dq.add(
                    "unknown_variants",
                    sev,
                    n_unknown,
                    int(stats.n_units.sum()),
                    f"{n_unknown:,} units have variant labels {unknown} that are not in the spec "
                    f"{variants}; they were excluded. Normalise labels (case, whitespace) "
                    "or add them to the spec",
                )
                stats = stats[~stats.variant.isin(unknown)]
        else:
            variants = found
        self._check_label_variants(found, stats, dq)
        if self.control not in found:
            raise DataError(
                f"control {self.control!r} is not among the variant values found in the data "
                f"{found}; pass control= one of them" + _case_hint(self.control, found)
            )
        if len(found) < 2 and self.variants is None:
            raise DataError(
                f"the variant column has a single value {found}; an A/B comparison needs at least "
                "two variants"
            )
        variants = [self.control, *[v for v in variants if v != self.control]]
        dq.counts["units_analyzed"] = int(stats["n_units"].sum())

        self._check_metric_values(stats)
        overall = _marginal(stats, ["variant"])
        srm = self._srm(overall, variants)
        if srm.flagged:
            dq.add(
                "srm",
                "blocking",
                0,
                None,
                f"sample ratio mismatch: observed {dict(zip(srm.variants, srm.observed, strict=True))} "
                f"vs planned weights {list(srm.weights)} (p = {srm.pvalue:.2g} < {srm.threshold}); "
                "do not trust the lifts until the cause is found",
            )
        arms, comps = self._compare(overall, variants, segment=None)
        guardrails = self._guardrails(overall, variants)
        seg_comps = []
        seg_units: list[tuple[str, str, str, int]] = []
        for seg in self.segments:
            table = _marginal(stats, ["variant", seg])
            seg_units.extend(
                (seg, str(r[seg]), str(r["variant"]), int(r["n_units"]))
                for _, r in table.iterrows()
            )
            for value in sorted(table[seg].unique().tolist(), key=str):
                sub = table[table[seg] == value]
                a, cmp = self._compare(sub, variants, segment=(seg, str(value)))
                arms.extend(a)
                seg_comps.extend(cmp)
        seg_comps = _adjust_segments(seg_comps)
        for m in self.metrics:
            imm = int(overall[f"{m.name}__immature"].sum())
            if imm:
                dq.counts[f"immature_{m.name}"] = imm
                dq.add(
                    f"immature_{m.name}",
                    "info",
                    imm,
                    int(overall["n_units"].sum()),
                    f"{m.name}: {imm:,} units were excluded because their window had not ended "
                    "by as_of (immature)",
                )
            miss = int(overall[f"{m.name}__missing"].sum())
            if miss:
                dq.counts[f"missing_{m.name}"] = miss
                dq.add(
                    f"missing_{m.name}",
                    "warning",
                    miss,
                    int(overall["n_units"].sum()),
                    f"{m.name}: {miss:,} units have a null value and were excluded",
                )
        order = sorted(self.metrics, key=lambda m: 0 if m.name == self.primary_metric else 1)
        comps.sort(key=lambda c: [m.name for m in order].index(c.metric))
        return ExperimentResult(
            name=self.name,
            control=self.control,
            variants=tuple(variants),
            as_of=as_of,
            alpha=self.alpha,
            alternative=self.alternative,
            metrics=tuple(_metric_info(m, stats, self.cuped) for m in order),
            comparisons=tuple(comps),
            segment_comparisons=tuple(seg_comps),
            arms=tuple(arms),
            srm=srm,
            data_quality=dq.freeze(accept=self.accept_findings),
            primary_metric=self.primary_metric,
            sql=sql,
            segment_units=tuple(sorted(seg_units)),
            guardrails=tuple(guardrails),
        )

    def _check_metric_values(self, stats: pd.DataFrame) -> None:
        import math as _math

        for m in self.metrics:
            lo_col, hi_col = f"{m.name}__min", f"{m.name}__max"
            if lo_col in stats.columns and hi_col in stats.columns:
                lo, hi = stats[lo_col].min(), stats[hi_col].max()
                if any(not _isnull(x) and _math.isinf(x) for x in (lo, hi)):
                    where = (
                        f"column {getattr(m, 'column', m.name)!r}"
                        if not isinstance(m, EventMetric)
                        else "the events' 'value' column"
                    )
                    raise DataError(
                        f"metric {m.name!r}: {where} holds infinite values (min {lo}, max {hi}); "
                        "replace them (e.g. df[col].replace([np.inf, -np.inf], np.nan)) or cap "
                        "them before analysing"
                    )
            if m.kind != "proportion" or isinstance(m, EventMetric):
                continue
            lo, hi = stats[f"{m.name}__min"].min(), stats[f"{m.name}__max"].max()
            s, ss = stats[f"{m.name}__sum"].sum(), stats[f"{m.name}__sumsq"].sum()
            if (not _isnull(lo) and lo < 0) or (not _isnull(hi) and hi > 1) or abs(s - ss) > 1e-6:
                raise DataError(
                    f"column {m.column!r} of Proportion metric {m.name!r} has values other than "  # type: ignore[attr-defined]
                    f"0/1 (min {lo}, max {hi}); use Mean({m.column!r}) for a numeric column or "  # type: ignore[attr-defined]
                    "recode it to 0/1"
                )

    @staticmethod
    def _check_label_variants(found: list[str], stats: pd.DataFrame, dq: FindingsBuilder) -> None:
        """Labels equal but for case or surrounding white space usually split one arm in two."""
        groups: dict[str, list[str]] = {}
        for v in found:
            groups.setdefault(v.strip().casefold(), []).append(v)
        clashes = [sorted(g) for g in groups.values() if len(g) > 1]
        if clashes:
            labels = [v for g in clashes for v in g]
            n = int(stats.loc[stats.variant.isin(labels), "n_units"].sum())
            dq.add(
                "variant_label_variants",
                "blocking",
                n,
                int(stats.n_units.sum()),
                f"variant labels {clashes} differ only in case or white space; they are analysed "
                "as separate arms. Normalise the labels (e.g. str.strip().lower()) in the source",
            )

    def _srm(self, overall: pd.DataFrame, variants: list[str]) -> Any:
        from abkit.stats import srm_test

        n = dict(zip(overall["variant"].astype(str), overall["n_units"].astype(int), strict=True))
        observed = [n.get(v, 0) for v in variants]
        if self.weights is not None and any(v not in self.weights for v in variants):
            missing = [v for v in variants if v not in self.weights]
            raise DataError(
                f"the data has variants {missing} with no planned weight in weights="
                f"{self.weights}; give every variant a weight or pass variants= to exclude them"
            )
        weights = None if self.weights is None else [self.weights[v] for v in variants]
        if weights is not None:
            total = sum(weights)
            weights = [w / total for w in weights]
        return srm_test(observed, weights, variants=variants)

    def _compare(
        self, table: pd.DataFrame, variants: list[str], segment: tuple[str, str] | None
    ) -> tuple[list[Any], list[Any]]:
        """Per-arm summaries and treatment-vs-control comparisons from one slice of statistics."""
        from abkit.results import ArmStats, MetricComparison

        rows = {str(r["variant"]): r for _, r in table.iterrows()}
        seg, segval = segment if segment is not None else (None, None)
        arms: list[ArmStats] = []
        comps: list[MetricComparison] = []
        for m in self.metrics:
            summary = {
                v: _arm_summary(rows.get(v), m.name, ratio=isinstance(m, Ratio)) for v in variants
            }
            arms.extend(
                ArmStats(m.name, v, a.n, a.mean, a.var, a.immature, a.missing, seg, segval)
                for v, a in summary.items()
            )
            ctl = summary[self.control]
            for v in variants[1:]:
                trt = summary[v]
                cmp = self._comparison(m, ctl, trt, v)
                if self.cuped and (ctl.covariate is None or trt.covariate is None):
                    cmp = _with_note(cmp, f"not CUPED-adjusted: {_no_cuped_reason(m)}")
                comps.append(
                    MetricComparison(m.name, v, cmp, ctl.immature, trt.immature, seg, segval)
                )
        return arms, comps

    def _guardrails(self, overall: pd.DataFrame, variants: list[str]) -> list[Any]:
        """Non-inferiority tests of the guardrail metrics, every treatment against control."""
        from abkit.results import GuardrailResult
        from abkit.stats import (
            RatioSums,
            noninferiority_means,
            noninferiority_proportions,
            noninferiority_ratios,
        )

        rows = {str(r["variant"]): r for _, r in overall.iterrows()}
        by_name = {m.name: m for m in self.metrics}
        out = []
        for g in self.guardrails:
            m = by_name[g.metric]
            ctl = _arm_summary(rows.get(self.control), m.name, ratio=isinstance(m, Ratio))
            for v in variants[1:]:
                trt = _arm_summary(rows.get(v), m.name, ratio=isinstance(m, Ratio))
                kw: dict[str, Any] = {
                    "margin": g.margin,
                    "relative": g.relative,
                    "higher_is_better": g.higher_is_better,
                    "alpha": self.alpha,
                }
                if ctl.n < 2 or trt.n < 2:
                    why = "fewer than 2 mature units in an arm"
                    out.append(
                        GuardrailResult(
                            g.metric,
                            v,
                            g.margin,
                            g.relative,
                            g.higher_is_better,
                            None,
                            None,
                            None,
                            None,
                            "none",
                            why,
                        )
                    )
                    continue
                if isinstance(m, Ratio):
                    assert ctl.ratio is not None and trt.ratio is not None
                    r = noninferiority_ratios(
                        RatioSums(*ctl.ratio, n=ctl.n), RatioSums(*trt.ratio, n=trt.n), **kw
                    )
                elif m.kind == "proportion":
                    r = noninferiority_proportions(
                        round(ctl.total), ctl.n, round(trt.total), trt.n, **kw
                    )
                else:
                    r = noninferiority_means(
                        ctl.mean or 0.0,
                        ctl.var or 0.0,
                        ctl.n,
                        trt.mean or 0.0,
                        trt.var or 0.0,
                        trt.n,
                        **kw,
                    )
                c = r.comparison
                est = c.rel_lift if g.relative else c.abs_lift
                out.append(
                    GuardrailResult(
                        g.metric,
                        v,
                        g.margin,
                        g.relative,
                        g.higher_is_better,
                        est,
                        r.bound,
                        r.pvalue,
                        r.passed,
                        r.method,
                        r.note,
                    )
                )
        return out

    def _comparison(self, m: Metric, ctl: _Arm, trt: _Arm, variant: str) -> Comparison:
        from abkit.stats import Comparison, compare_means, compare_proportions

        if ctl.n == 0 or trt.n == 0:
            empty = self.control if ctl.n == 0 else variant
            return Comparison(
                control_value=ctl.mean if ctl.mean is not None else math.nan,
                treatment_value=trt.mean if trt.mean is not None else math.nan,
                abs_lift=math.nan,
                abs_lift_ci_lower=None,
                abs_lift_ci_upper=None,
                rel_lift=None,
                rel_lift_ci_lower=None,
                rel_lift_ci_upper=None,
                pvalue=None,
                statistic=None,
                n_control=ctl.n,
                n_treatment=trt.n,
                method="none",
                alternative=self.alternative,
                alpha=self.alpha,
                note=f"no units with a mature {m.name} in {empty!r}",
            )
        if isinstance(m, Ratio):
            from abkit.stats import RatioSums, compare_ratios

            assert ctl.ratio is not None and trt.ratio is not None
            return compare_ratios(
                RatioSums(*ctl.ratio, n=ctl.n),
                RatioSums(*trt.ratio, n=trt.n),
                alpha=self.alpha,
                alternative=self.alternative,
            )
        if ctl.covariate is not None and trt.covariate is not None:
            from abkit.stats import CovariateSums, cuped

            r = cuped(
                CovariateSums(ctl.n, ctl.total, *ctl.covariate),
                CovariateSums(trt.n, trt.total, *trt.covariate),
                alpha=self.alpha,
                alternative=self.alternative,
            )
            # cuped() notes a missing adjustment or a pre-period imbalance
            c = _with_note(r.comparison, r.note) if r.note else r.comparison
            if r.variance_reduction is not None:
                c = _with_note(c, f"CUPED: variance of the lift {-r.variance_reduction:+.0%}")
            return c
        if m.kind == "proportion":
            return compare_proportions(
                round(ctl.total),
                ctl.n,
                round(trt.total),
                trt.n,
                alpha=self.alpha,
                alternative=self.alternative,
            )
        return compare_means(
            ctl.mean or 0.0,
            ctl.var or 0.0,
            ctl.n,
            trt.mean or 0.0,
            trt.var or 0.0,
            trt.n,
            alpha=self.alpha,
            alternative=self.alternative,
        )


class _Arm(NamedTuple):
    n: int
    total: float
    mean: float | None
    var: float | None
    immature: int
    missing: int
    ratio: tuple[float, float, float, float, float] | None = None  # Σx, Σy, Σx², Σy², Σxy
    #: CUPED: (Σy², Σx, Σx², Σxy) with x the pre-exposure covariate; None without
    covariate: tuple[float, float, float, float] | None = None


def _with_note(c: Comparison, note: str) -> Comparison:
    from dataclasses import replace

    return replace(c, note=f"{c.note}; {note}" if c.note else note)


def _no_cuped_reason(m: Metric) -> str:
    if isinstance(m, Ratio):
        return "ratio metrics are compared by the delta method without a covariate"
    return (
        "no covariate for this metric (give a column metric covariate='<pre-period column>'; "
        f"pre-aggregated statistics need {m.name}__cx, __cxx and __cxy)"
    )


def _arm_summary(row: Any, name: str, *, ratio: bool = False) -> _Arm:
    """One arm's sufficient statistics for metric ``name`` → n, sum, mean, variance (ddof=1).

    For a ratio metric the "mean" is ``Σx / Σy`` and ``ratio`` carries the five sums.
    """
    from abkit.stats import moments_from_sums

    if row is None:
        return _Arm(0, 0.0, None, None, 0, 0)
    n = int(row[f"{name}__n"])
    if ratio:
        sums = tuple(
            0.0 if _isnull(row[f"{name}__{f}"]) else float(row[f"{name}__{f}"])
            for f in ("sum", "sumy", "sumsq", "sumyy", "sumxy")
        )
        value = sums[0] / sums[1] if n >= 1 and sums[1] != 0 else None
        return _Arm(
            n,
            sums[0],
            value,
            None,
            int(row[f"{name}__immature"]),
            int(row[f"{name}__missing"]),
            sums,  # type: ignore[arg-type]
        )
    total = 0.0 if _isnull(row[f"{name}__sum"]) else float(row[f"{name}__sum"])
    total_sq = 0.0 if _isnull(row[f"{name}__sumsq"]) else float(row[f"{name}__sumsq"])
    mean: float | None = None
    var: float | None = None
    if n >= 1:
        mean, var = moments_from_sums(total, total_sq, n)
        if var is not None and math.isnan(var):
            var = None
    cov = None
    if f"{name}__cxy" in row.index:
        cx, cxx, cxy = (
            0.0 if _isnull(row[f"{name}__{f}"]) else float(row[f"{name}__{f}"])
            for f in CUPED_FIELDS
        )
        cov = (total_sq, cx, cxx, cxy)
    return _Arm(
        n,
        total,
        mean,
        var,
        int(row[f"{name}__immature"]),
        int(row[f"{name}__missing"]),
        covariate=cov,
    )


# ---------------------------------------------------------------------------------------- helpers


def _reconcile(res: ExperimentResult, distinct_ids: int, *, events_given: bool) -> None:
    """Conservation checks: every unit and every event is in exactly one category.

    Raises:
        ConsistencyError: the counts do not add up (withholding a result that lost data).
    """
    from abkit.errors import ConsistencyError

    c = res.data_quality.counts
    problems = []
    accounted = (
        c.get("units_analyzed", 0)
        + c.get("units_multiple_variants", 0)
        + c.get("units_unknown_variant", 0)
        + c.get("units_without_valid_exposure", 0)
    )
    if accounted != distinct_ids:
        problems.append(f"{distinct_ids:,} distinct unit ids but {accounted:,} accounted for")
    for m in res.metrics:
        arms = [a for a in res.arms if a.metric == m.name and a.segment is None]
        total = sum(a.n + a.immature + a.missing for a in arms)
        if total != c.get("units_analyzed", 0):
            problems.append(f"{m.name}: {total:,} units counted vs {c.get('units_analyzed', 0):,}")
    if events_given:
        parts = (
            "event_null_ids",
            "event_null_times",
            "events_unexposed_units",
            "events_before_exposure",
            "events_after_as_of",
            "events_beyond_windows",
            "events_in_analysis",
        )
        if sum(c.get(k, 0) for k in parts) != c.get("event_rows", 0):
            problems.append(
                f"{c.get('event_rows', 0):,} event rows but the categories sum to "
                f"{sum(c.get(k, 0) for k in parts):,}"
            )
    if problems:
        raise ConsistencyError(
            "conservation check failed (" + "; ".join(problems) + "); the result is withheld. "
            "This is a bug in abkit: please report it with res.data_quality counts"
        )


def _isnull(v: Any) -> bool:
    if v is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _case_hint(control: str, found: list[str]) -> str:
    near = [v for v in found if v.strip().lower() == control.strip().lower()]
    return f". Did you mean {near[0]!r}? (labels differ in case or whitespace)" if near else ""


def _normalise_weights(
    weights: Sequence[float] | Mapping[str, float] | None, variants: tuple[str, ...] | None
) -> dict[str, float] | None:
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        w = {str(k): float(v) for k, v in weights.items()}
        if variants is not None and set(w) != set(variants):
            raise SpecError(f"weights name {sorted(w)}, but variants are {list(variants)}")
    else:
        if variants is None:
            raise SpecError("weights as a list need variants= in the same order")
        if len(weights) != len(variants):
            raise SpecError(f"{len(weights)} weights for {len(variants)} variants")
        w = dict(zip(variants, (float(x) for x in weights), strict=True))
    if any(not math.isfinite(x) or x < 0 for x in w.values()) or sum(w.values()) <= 0:
        raise SpecError(f"weights must be non-negative and not all zero, got {w}")
    return w


def _label_segments(t: ir.Table, segments: Sequence[str]) -> ir.Table:
    """Segment columns as strings, nulls labelled "(null)" so they form their own group."""
    if not segments:
        return t
    return t.mutate(**{s: t[s].cast("string").fill_null("(null)") for s in segments})


def _align_id_types(exp: ir.Table, ev: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Unit ids of different types in the two tables (int vs text) are compared as text."""
    a, b = exp.unit_id.type(), ev.unit_id.type()
    if a == b or (a.is_integer() and b.is_integer()):
        return exp, ev
    return exp.mutate(unit_id=exp.unit_id.cast("string")), ev.mutate(
        unit_id=ev.unit_id.cast("string")
    )


def _metric_info(m: Metric, stats: pd.DataFrame, cuped: int | None = None) -> MetricInfo:
    """``m``'s :class:`MetricInfo`, with the values its quantile caps came to in ``stats`` and
    the CUPED covariate it was adjusted for."""
    from abkit.aggregate import cap_column, covariate_kind, quantile_capped
    from abkit.results import MetricInfo

    cap = getattr(m, "cap", None)
    used = []
    for p in quantile_capped([m]):
        col = cap_column(p)
        found = stats[col].dropna() if col in stats.columns else None
        value = float(found.max()) if found is not None and len(found) else None
        used.append(f"{p.name} = {value:.6g}" if value is not None else f"{p.name}: no unit")
        if p is m:
            cap = value
    definition = m.definition + (f"; cap used: {', '.join(used)}" if used else "")
    kind = covariate_kind(m)
    if f"{m.name}__cxy" in stats.columns:
        if cuped and kind:
            what = {"days": "active days", "count": "events", "value": "sum of value"}[kind]
            definition += (
                f"; lift adjusted by CUPED for the unit's {what} (same event filter) in the "
                f"{cuped} days before first exposure"
            )
        elif getattr(m, "covariate", None):
            definition += (
                f"; lift adjusted by CUPED for the per-unit column {m.covariate!r} "  # type: ignore[attr-defined]
                "(nulls count as 0)"
            )
        else:
            definition += (
                f"; lift adjusted by CUPED for the covariate whose sums were given "
                f"({m.name}__cx, __cxx, __cxy)"
            )
    return MetricInfo(m.name, m.label, m.kind, definition, None if cap is None else float(cap))


def _marginal(stats: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sum sufficient statistics over every group column not in ``by`` (min/max combine as such)."""
    from abkit.aggregate import combine

    cols = [c for c in stats.columns if "__" in c or c == "n_units"]
    agg = {c: combine(c) for c in cols}
    return stats.groupby(by, dropna=False, sort=True).agg(agg).reset_index()


def _adjust_segments(comps: list[Any]) -> list[Any]:
    """Benjamini–Hochberg across the values of each (segment dimension, metric, variant)."""
    from dataclasses import replace

    from abkit.stats.multiple import adjust_pvalues

    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, c in enumerate(comps):
        groups.setdefault((c.segment, c.metric, c.variant), []).append(i)
    out = list(comps)
    for idx in groups.values():
        with_p = [i for i in idx if comps[i].comparison.pvalue is not None]
        if not with_p:
            continue
        adj = adjust_pvalues([comps[i].comparison.pvalue for i in with_p], method="fdr_bh").adjusted
        for i, p in zip(with_p, adj, strict=True):
            out[i] = replace(comps[i], pvalue_adjusted=p, correction="fdr_bh")
    return out


def _try_sql(expr: Any, con: Any = None) -> str | None:
    import ibis

    try:
        if con is not None:
            return str(ibis.to_sql(expr, dialect=con.name))
        return str(ibis.to_sql(expr))
    except Exception:  # some backends cannot print SQL for memtables; the analysis still ran
        return None
