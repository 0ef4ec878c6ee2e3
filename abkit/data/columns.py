"""The user's column names → abkit's: renames, suggestions, and the columns a query may carry."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from abkit.errors import DataError

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: common names for abkit's columns, used to suggest a ``columns=`` mapping
SYNONYMS: dict[str, tuple[str, ...]] = {
    "unit_id": ("user_id", "userid", "uid", "user", "device_id", "customer_id", "account_id", "id"),
    "variant": ("group", "version", "arm", "bucket", "treatment", "variation", "experiment_group"),
    "exposed_at": ("timestamp", "ts", "time", "assigned_at", "exposure_time", "first_seen"),
    "ts": ("timestamp", "event_time", "time", "created_at", "event_ts", "datetime"),
    "event": ("event_name", "name", "action", "type"),
    "value": ("revenue", "amount", "price"),
}


def suggest_column(std: str, user: str, have: Sequence[str]) -> str | None:
    """The user's column that most likely plays abkit's role ``std``, if any."""
    close = difflib.get_close_matches(user, have, n=1)
    if close:
        return close[0]
    lowered = {c.lower(): c for c in have}
    for alias in SYNONYMS.get(std, ()):
        if alias in lowered:
            return lowered[alias]
    return None


def rename_columns(
    table: ir.Table,
    *,
    role: str,
    required: Sequence[str],
    optional: Sequence[str] = (),
    columns: Mapping[str, str] | None = None,
) -> ir.Table:
    """Rename the user's columns to abkit's names; raise a DataError naming what is missing.

    ``columns`` maps abkit names to the user's names. Required columns must exist; optional ones are
    used when present.
    """
    columns = dict(columns or {})
    have = list(table.columns)
    renames: dict[str, str] = {}
    missing = []
    for std in [*required, *optional]:
        user = columns.get(std, std)
        if user in have:
            if user != std:
                if std in have and std not in columns.values():
                    # the user's table already has a column with abkit's name: drop it from view
                    table = table.drop(std)
                    have.remove(std)
                renames[std] = user
        elif std in required:
            missing.append((std, user))
    if missing:
        swapped = _swapped_hint(role, [std for std, _ in missing], have, columns)
        parts = []
        for std, user in missing:
            hint = None if swapped else suggest_column(std, user, have)
            alias = "" if std == user else f" (mapped from abkit's {std!r})"
            tip = f" Did you mean {hint!r}? Pass columns={{{std!r}: {hint!r}}}." if hint else ""
            parts.append(f"{user!r}{alias}.{tip}")
        raise DataError(
            f"{role}: missing required column(s): {' '.join(parts)} Available columns: {have}"
            + swapped
        )
    return table.rename(renames) if renames else table


def _swapped_hint(
    role: str, missing: Sequence[str], have: Sequence[str], columns: Mapping[str, str]
) -> str:
    """The question to ask when the table looks like the other log: exposures with ``ts`` and
    no exposure columns, or events with ``exposed_at``/``variant`` and no ``ts``."""
    present = {std for std in ("variant", "exposed_at", "ts") if columns.get(std, std) in have}
    if role == "exposures" and {"variant", "exposed_at"} <= set(missing) and "ts" in present:
        looks = "an events log (a 'ts' column, no 'variant' or 'exposed_at')"
    elif role == "events" and "ts" in missing and present & {"variant", "exposed_at"}:
        found = " and ".join(repr(c) for c in ("variant", "exposed_at") if c in present)
        looks = f"an exposure log ({found}, no 'ts')"
    else:
        return ""
    return f". The {role} table looks like {looks}: are exposures= and events= swapped?"


def check_columns(
    t: ir.Table, role: str, needed: Sequence[str], *, grouped: bool | None = None
) -> None:
    """Raise a DataError naming the ``needed`` columns ``t`` lacks (with close matches).

    With ``grouped`` (default: for the exposures, whose columns the query carries per unit), a
    needed column named like one of the query's own (``utm__source``, ``_status``, ``t0``,
    ``n_units`` …; :func:`abkit.query.frame.internal_name`) is refused by name with a rename to
    make, rather than left to collide inside the query.
    """
    from abkit.query.frame import internal_name

    if grouped is None:
        grouped = role == "exposures"
    for c in needed if grouped else ():
        if c in ("unit_id", "variant"):
            raise DataError(
                f"{role}: column {c!r} cannot be a segment or metric column: "
                + ("every result is already split by variant" if c == "variant" else "it "
                   "identifies the units (one group per unit)")
                + "; remove it from segments/metrics"
            )  # fmt: skip
        why = internal_name(c)
        if why is not None:
            safe = re.sub(r"_+", "_", c).strip("_") or "col"
            if internal_name(safe) is not None:
                safe = f"my_{safe}"
            raise DataError(
                f"{role}: column {c!r} cannot be a segment or metric column: {why}. Rename it, "
                f"e.g. df.rename(columns={{{c!r}: {safe!r}}}) (and use {safe!r} in the spec)"
            )
    missing = [c for c in needed if c not in t.columns]
    if missing:
        hints = {c: difflib.get_close_matches(c, list(t.columns), n=1) for c in missing}
        tips = "; ".join(f"did you mean {h[0]!r} for {c!r}?" for c, h in hints.items() if h)
        raise DataError(
            f"{role}: column(s) {missing} used by the experiment are missing. "
            f"Available: {list(t.columns)}" + (f"; {tips}" if tips else "")
        )
