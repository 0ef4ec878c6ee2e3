"""SRM diagnosis and exposure audit of a logged experiment against its spec."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from abkit._display import TONE_COLORS, clip, more_lines, severity_style
from abkit._format import fmt_p
from abkit.assign._ids import _ids_from
from abkit.assign.files import _file_format
from abkit.assign.vectorized import SpecLike, assign
from abkit.errors import DataError
from abkit.spec import ExperimentSpec, load_spec
from abkit.stats import SRMResult, srm_test


@dataclass(frozen=True, slots=True)
class SRMDiagnosis:
    """Where a sample-ratio mismatch comes from: overall, per segment value and per exposure day.

    Units are counted once, by their first exposure. Tables share one layout: ``dimension``,
    ``value``, ``units``, ``n_<variant>``, ``share_<variant>``, ``statistic``, ``pvalue``,
    ``pvalue_adjusted`` (corrected over the values of one dimension), ``flagged``
    (``pvalue_adjusted < threshold``) and ``note``.
    """

    overall: SRMResult
    by_segment: pd.DataFrame
    by_day: pd.DataFrame
    variants: tuple[str, ...]
    weights: tuple[float, ...]
    threshold: float
    correction: str
    n_rows: int
    n_units: int
    n_null_ids: int
    n_unknown_variant: int
    n_multiple_variants: int
    n_overrides: int
    notes: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        """True when the overall split, any segment value or any day is flagged."""
        return bool(
            self.overall.flagged or self.by_segment["flagged"].any() or self.by_day["flagged"].any()
        )

    def to_pandas(self) -> pd.DataFrame:
        """One table: the overall test, then segments, then days (column ``scope``)."""
        overall = _srm_rows([("overall", "", self.overall)], self.variants)
        parts = [
            overall.assign(
                scope="overall", pvalue_adjusted=overall["pvalue"], flagged=self.overall.flagged
            ),
            self.by_segment.assign(scope="segment"),
            self.by_day.assign(scope="day"),
        ]
        parts = [p for p in parts if len(p)]
        out = pd.concat(parts, ignore_index=True)
        return out[["scope", *[c for c in out.columns if c != "scope"]]]

    def __str__(self) -> str:
        o = self.overall
        plan = ":".join(f"{w:.3g}" for w in self.weights)
        verdict = "MISMATCH" if o.flagged else "ok"
        p = "n/a" if o.pvalue is None else f"{o.pvalue:.3g}"
        counts = ", ".join(f"{v}={c:,}" for v, c in zip(self.variants, o.observed, strict=True))
        lines = [
            f"SRM check ({'/'.join(self.variants)} planned {plan}, flag at p < {self.threshold:g}):"
            f" {verdict} — {counts}; p = {p}"
        ]
        for name, table in (("segments", self.by_segment), ("days", self.by_day)):
            bad = table[table["flagged"]]
            if len(bad):
                items = ", ".join(
                    f"{r.dimension}={r.value} (p_adj={r.pvalue_adjusted:.3g})"
                    for r in bad.itertuples()
                )
                lines.append(f"  flagged {name}: {items}")
        lines.append(
            f"  {self.n_units:,} units from {self.n_rows:,} rows; {self.n_null_ids:,} null ids, "
            f"{self.n_unknown_variant:,} unknown variants, {self.n_multiple_variants:,} units with "
            f"several variants, {self.n_overrides:,} override units excluded"
        )
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        first, *rest = str(self).splitlines()
        return "\n".join([f"<SRMDiagnosis {clip(first, 200)}>", *more_lines(rest, 6, 130)])

    def _repr_html_(self) -> str:
        """The summary, then the table (overall, segments, days); flagged rows in red, inline."""
        e = html.escape
        head = "<br>".join(e(line) for line in str(self).splitlines())
        color = TONE_COLORS["bad" if self.overall.flagged else "good"]
        table = self.to_pandas()
        cols = list(table.columns)
        rows = []
        for r in table.itertuples(index=False):
            cells = [_srm_cell(c, v) for c, v in zip(cols, r, strict=True)]
            style = f" style='{severity_style('blocking')}'" if r.flagged else ""
            rows.append(f"<tr{style}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return (
            f"<div><p class='abkit-srm' style='color:{color}'>{head}</p><table><thead><tr>"
            + "".join(f"<th>{e(c)}</th>" for c in cols)
            + f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        )


@dataclass(frozen=True, slots=True)
class ExposureAudit:
    """Logged variants recomputed from the spec: how many units were logged in the wrong arm.

    ``n_checked`` counts distinct units; a unit is mismatched when any variant logged for it
    differs from the one the spec assigns (``n_not_in_experiment`` of them should have had no
    variant at all: holdout, namespace, coverage). ``examples`` shows up to ``max_examples``
    mismatching (unit, logged variant) pairs.
    """

    n_rows: int
    n_checked: int
    n_mismatched: int
    n_not_in_experiment: int
    n_wrong_variant: int
    n_null_ids: int
    examples: pd.DataFrame

    @property
    def mismatch_rate(self) -> float:
        """``n_mismatched / n_checked`` (0 when nothing was checked)."""
        return self.n_mismatched / self.n_checked if self.n_checked else 0.0

    @property
    def ok(self) -> bool:
        """True when every logged variant agrees with the spec."""
        return self.n_mismatched == 0

    def to_pandas(self) -> pd.DataFrame:
        """The counts as a one-row table."""
        return pd.DataFrame(
            [
                {
                    "n_rows": self.n_rows,
                    "n_checked": self.n_checked,
                    "n_mismatched": self.n_mismatched,
                    "mismatch_rate": self.mismatch_rate,
                    "n_not_in_experiment": self.n_not_in_experiment,
                    "n_wrong_variant": self.n_wrong_variant,
                    "n_null_ids": self.n_null_ids,
                }
            ]
        )

    def __repr__(self) -> str:
        shown = f"; .examples: {len(self.examples)} rows" if len(self.examples) else ""
        return (
            f"<ExposureAudit: {'ok' if self.ok else 'MISMATCH'}; {self.n_mismatched:,} of "
            f"{self.n_checked:,} units ({self.mismatch_rate:.3%}) logged in a variant the spec "
            f"does not assign{shown}>"
        )

    def _repr_html_(self) -> str:
        """The summary in green (no mismatch) or red, then the examples."""
        e = html.escape
        color = TONE_COLORS["good" if self.ok else "bad"]
        examples = self.examples.to_html(index=False, na_rep="") if len(self.examples) else ""
        return (
            f"<div class='abkit-audit'><p style='color:{color}'>{e(str(self))}</p>{examples}</div>"
        )

    def __str__(self) -> str:
        return (
            f"exposure audit: {self.n_mismatched:,} of {self.n_checked:,} units "
            f"({self.mismatch_rate:.3%}) logged in a variant the spec does not assign "
            f"({self.n_wrong_variant:,} wrong variant, {self.n_not_in_experiment:,} should not be "
            f"in the experiment); {self.n_null_ids:,} rows with null ids skipped"
        )


def _srm_cell(column: str, value: Any) -> str:
    """One cell of the SRM table: shares as %, p-values as abkit prints them, blanks for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if column.startswith("share_"):
        return f"{100 * value:.3g}%"
    if column.startswith("pvalue"):
        return html.escape(fmt_p(float(value)))
    if column == "statistic":
        return f"{value:.3g}"
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return f"{int(value):,}"
    return html.escape(str(value))


def _exposure_frame(exposures: object) -> pd.DataFrame:
    if isinstance(exposures, pd.DataFrame):
        return exposures
    if isinstance(exposures, str | Path):
        path = Path(exposures)
        if not path.is_file():
            raise DataError(f"exposures file {path} does not exist")
        if _file_format(path) == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"unit_id": str})
    to_pandas = getattr(exposures, "to_pandas", None)
    if callable(to_pandas):  # Arrow tables, Ibis expressions
        frame = to_pandas()
        if isinstance(frame, pd.DataFrame):
            return frame
    raise DataError(
        f"exposures must be a pandas DataFrame, an Arrow table or a CSV/Parquet path, "
        f"got {type(exposures).__name__}"
    )


def _need_columns(df: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(
            f"{what} has no column(s) {missing}; its columns are {list(df.columns)}. Pass the "
            "right names (unit_id=, variant=, exposed_at=) or set `columns` in the spec."
        )


def _srm(counts: Sequence[int], sp: ExperimentSpec, threshold: float) -> SRMResult:
    """``srm_test`` against the spec's weights; an arm planned at weight 0 that got units is an
    infinite mismatch."""
    names, weights = sp.variant_names, sp.weights
    counts = [int(c) for c in counts]
    pos = [i for i, w in enumerate(weights) if w > 0]
    total = sum(counts)
    expected = tuple(total * w for w in weights)
    if any(counts[i] > 0 for i, w in enumerate(weights) if w <= 0):
        return SRMResult(
            names,
            tuple(counts),
            expected,
            tuple(weights),
            math.inf,
            0.0,
            len(pos) - 1,
            threshold,
            "units in an arm planned at weight 0",
        )
    if len(pos) < 2:
        return SRMResult(
            names,
            tuple(counts),
            expected,
            tuple(weights),
            None,
            None,
            0,
            threshold,
            "fewer than 2 arms with positive weight: nothing to test",
        )
    res = srm_test(
        [counts[i] for i in pos],
        [weights[i] for i in pos],
        variants=[names[i] for i in pos],
        threshold=threshold,
    )
    note = res.note
    if note is None and total and min(total * weights[i] for i in pos) < 5:
        note = "expected count below 5 in some arm: chi-square p-value is approximate"
    return SRMResult(
        names,
        tuple(counts),
        expected,
        tuple(weights),
        res.statistic,
        res.pvalue,
        res.df,
        threshold,
        note,
    )


def _srm_rows(
    items: Sequence[tuple[str, object, SRMResult]], variants: Sequence[str]
) -> pd.DataFrame:
    rows = []
    for dim, value, r in items:
        total = sum(r.observed)
        row: dict[str, Any] = {"dimension": dim, "value": value, "units": total}
        for v, c in zip(variants, r.observed, strict=True):
            row[f"n_{v}"] = c
        for v, c in zip(variants, r.observed, strict=True):
            row[f"share_{v}"] = c / total if total else math.nan
        row["statistic"] = math.nan if r.statistic is None else r.statistic
        row["pvalue"] = math.nan if r.pvalue is None else r.pvalue
        row["note"] = r.note
        rows.append(row)
    cols = [
        "dimension",
        "value",
        "units",
        *[f"n_{v}" for v in variants],
        *[f"share_{v}" for v in variants],
        "statistic",
        "pvalue",
        "note",
    ]
    return pd.DataFrame(rows, columns=cols)


def _srm_table(
    codes: npt.NDArray[np.int64],
    groups: pd.Series,
    dim: str,
    sp: ExperimentSpec,
    threshold: float,
    correction: str,
) -> pd.DataFrame:
    """One SRM test per value of ``groups``, p-values corrected over those values."""
    from statsmodels.stats.multitest import multipletests

    k = len(sp.variant_names)
    grp = pd.Categorical(groups)
    g = grp.codes.astype(np.int64)
    labels = list(grp.categories)
    if (g < 0).any():
        labels.append("(missing)")
        g = np.where(g < 0, len(labels) - 1, g)
    counts = np.bincount(g * k + codes, minlength=len(labels) * k).reshape(len(labels), k)
    items = [(dim, lab, _srm(counts[i].tolist(), sp, threshold)) for i, lab in enumerate(labels)]
    table = _srm_rows(items, sp.variant_names)
    p = table["pvalue"].to_numpy(dtype=float)
    adj = np.full(len(p), np.nan)
    ok = ~np.isnan(p)
    if ok.sum():
        adj[ok] = multipletests(p[ok], method=correction)[1]
    at = list(table.columns).index("note")
    table.insert(at, "pvalue_adjusted", adj)
    table.insert(at + 1, "flagged", adj < threshold)
    return table


def _col(name: str | None, sp: ExperimentSpec, key: str) -> str:
    return name if name is not None else sp.columns.get(key, key)


def srm_diagnosis(
    exposures: object,
    spec: SpecLike,
    *,
    segments: Sequence[str] | None = None,
    unit_id: str | None = None,
    variant: str | None = None,
    exposed_at: str | None = None,
    threshold: float = 0.001,
    correction: str = "holm",
) -> SRMDiagnosis:
    """Sample-ratio-mismatch diagnosis of an exposure log against the spec's planned weights.

    Each unit counts once, in the variant of its first exposure (by ``exposed_at`` when present).
    Null ids, variants the spec does not know and units listed in ``overrides`` (not randomized) are
    left out and counted. The overall chi-square test is followed by one test per value of each
    segment column and per day of first exposure (in the spec's ``tz`` for tz-aware timestamps),
    with p-values corrected over the values of each dimension (``correction``: any
    ``statsmodels.stats.multitest.multipletests`` method; Holm by default).

    Args:
        exposures: a DataFrame (or Arrow table, CSV/Parquet path) with one row per exposure.
        spec: the experiment spec (its weights are the plan).
        segments: columns to break the check down by; default the spec's ``segments``.
        unit_id, variant, exposed_at: column names; default the spec's ``columns`` mapping, else
            ``unit_id``, ``variant``, ``exposed_at``. Without an ``exposed_at`` column there is no
            per-day table.
        threshold: flag at p (adjusted p for breakdowns) below this (default 0.001).
        correction: multiple-testing correction over the values of one dimension.

    Raises:
        DataError: missing columns, or a variant column that shares no value with the spec.

    Example:
        >>> spec = {"name": "exp", "control": "a", "variants": ["a", "b"]}
        >>> log = assign([f"u{i}" for i in range(2000)], spec)
        >>> log["channel"] = ["ads", "organic"] * 1000
        >>> log = log[~((log.channel == "ads") & (log.variant == "b") & (log.index % 3 == 0))]
        >>> d = srm_diagnosis(log, spec, segments=["channel"])
        >>> d.overall.flagged, d.by_segment.set_index("value").flagged.to_dict()
        (True, {'ads': True, 'organic': False})
    """
    sp = load_spec(spec)
    df = _exposure_frame(exposures)
    uid, var = _col(unit_id, sp, "unit_id"), _col(variant, sp, "variant")
    ts = _col(exposed_at, sp, "exposed_at")
    segs = list(sp.segments if segments is None else segments)
    _need_columns(df, [uid, var, *segs], "exposures")
    has_ts = ts in df.columns
    if exposed_at is not None and not has_ts:
        _need_columns(df, [ts], "exposures")
    notes: list[str] = []
    n_rows = len(df)
    null = df[uid].isna().to_numpy()
    df = df.loc[~null, [c for c in dict.fromkeys([uid, var, *segs, *([ts] if has_ts else [])])]]
    if has_ts:
        stamps = df[ts]
        if not pd.api.types.is_datetime64_any_dtype(stamps):
            try:
                stamps = pd.to_datetime(stamps, format="ISO8601")
            except (ValueError, TypeError) as exc:
                raise DataError(f"exposures column {ts!r} is not a timestamp: {exc}") from None
        df = df.assign(**{ts: stamps}).sort_values(ts, kind="stable")
    else:
        notes.append(f"no {ts!r} column: per-day table skipped; first row per unit counts")
    pairs = df[[uid, var]].drop_duplicates()
    dup = pairs[uid].duplicated()
    n_multi = int(pairs.loc[dup, uid].nunique())
    first = df.drop_duplicates(subset=[uid], keep="first")
    if sp.overrides:
        ids, _ = _ids_from(first[uid])
        text = np.array(ids.text(np.arange(ids.n)), dtype=object)
        forced = np.isin(text, list(sp.overrides)) & ~ids.null
        n_over = int(forced.sum())
        first = first.loc[~forced]
    else:
        n_over = 0
    names = list(sp.variant_names)
    logged = first[var]
    logged_text = logged.astype(str).where(logged.notna(), None)
    codes = pd.Index(names).get_indexer(pd.Index(logged_text))
    codes = codes.astype(np.int64)
    unknown = codes < 0
    n_unknown = int(unknown.sum())
    if n_unknown and n_unknown == len(codes):
        seen = sorted(map(str, pd.unique(logged.dropna())))[:10]
        raise DataError(
            f"variant column {var!r} has values {seen}, none of which is a spec variant {names}; "
            "map the logged values to the spec's variant names first."
        )
    if n_unknown:
        seen = sorted(map(str, pd.unique(logged[unknown].dropna())))[:10]
        notes.append(f"{n_unknown:,} units logged with variants not in the spec: {seen}")
    first = first.loc[~unknown]
    codes = codes[~unknown]
    overall = _srm(np.bincount(codes, minlength=len(names)).tolist(), sp, threshold)
    seg_tables = [_srm_table(codes, first[s], s, sp, threshold, correction) for s in segs]
    empty = _srm_table(codes[:0], pd.Series([], dtype=object), "", sp, threshold, correction)
    by_segment = pd.concat(seg_tables, ignore_index=True) if seg_tables else empty
    if has_ts and len(first):
        stamps = first[ts]
        if getattr(stamps.dt, "tz", None) is not None and sp.tz:
            stamps = stamps.dt.tz_convert(sp.tz)
        by_day = _srm_table(codes, stamps.dt.date, "day", sp, threshold, correction)
    else:
        by_day = empty
    return SRMDiagnosis(
        overall=overall,
        by_segment=by_segment,
        by_day=by_day,
        variants=tuple(names),
        weights=tuple(sp.weights),
        threshold=threshold,
        correction=correction,
        n_rows=n_rows,
        n_units=len(codes),
        n_null_ids=int(null.sum()),
        n_unknown_variant=n_unknown,
        n_multiple_variants=n_multi,
        n_overrides=n_over,
        notes=tuple(notes),
    )


def audit_exposures(
    exposures: object,
    spec: SpecLike,
    *,
    unit_id: str | None = None,
    variant: str | None = None,
    max_examples: int = 20,
) -> ExposureAudit:
    """Recompute every logged unit's variant from the spec and count the disagreements.

    Example:
        >>> spec = {"name": "exp", "control": "a", "variants": ["a", "b"]}
        >>> log = assign([f"u{i}" for i in range(100)], spec)
        >>> log.loc[:4, "variant"] = "a"
        >>> audit = audit_exposures(log, spec)
        >>> audit.n_checked, audit.n_mismatched
        (100, 2)
    """
    sp = load_spec(spec)
    df = _exposure_frame(exposures)
    uid, var = _col(unit_id, sp, "unit_id"), _col(variant, sp, "variant")
    _need_columns(df, [uid, var], "exposures")
    null = df[uid].isna().to_numpy()
    pairs = df.loc[~null, [uid, var]].drop_duplicates()
    units = pd.unique(pairs[uid])
    expected = assign(pd.Series(units, dtype=pairs[uid].dtype), sp, with_status=True)
    pos = pd.Index(units).get_indexer(pd.Index(pairs[uid]))
    exp_var = expected["variant"].astype(object).to_numpy()[pos]
    exp_status = expected["status"].astype(object).to_numpy()[pos]
    lv = pairs[var]
    logged = lv.astype(str).where(lv.notna(), None).to_numpy(dtype=object)
    exp_missing = pd.isna(exp_var)
    bad = exp_missing | (logged != exp_var)
    unit_arr = pairs[uid].to_numpy()
    bad_units = pd.unique(unit_arr[bad])
    n_not_in = len(pd.unique(unit_arr[bad & exp_missing]))
    examples = pd.DataFrame(
        {
            "unit_id": pairs[uid].to_numpy()[bad][:max_examples],
            "logged_variant": lv.to_numpy()[bad][:max_examples],
            "expected_variant": exp_var[bad][:max_examples],
            "expected_status": exp_status[bad][:max_examples],
        }
    )
    return ExposureAudit(
        n_rows=len(df),
        n_checked=len(units),
        n_mismatched=len(bad_units),
        n_not_in_experiment=n_not_in,
        n_wrong_variant=len(bad_units) - n_not_in,
        n_null_ids=int(null.sum()),
        examples=examples,
    )
