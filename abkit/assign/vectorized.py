"""Vectorized assignment: a spec resolved to lookup tables, then millions of ids hashed at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from abkit.assign import _hashing as _h
from abkit.assign._ids import _Ids, _ids_from
from abkit.assign.growthbook import _check_namespace, bucket_ranges
from abkit.spec import ExperimentSpec, load_spec

SpecLike = ExperimentSpec | dict[str, Any] | str | Path

#: Seed of the global holdout: a unit is held out when ``hash_unit(HOLDOUT_SEED, id, 2) < holdout``.
HOLDOUT_SEED: Final = "global-holdout"

#: Why a unit has (or lacks) a variant, in the order the rules are applied.
STATUSES: Final = (
    "assigned",  # hashed into a variant's bucket range
    "override",  # forced by ``overrides`` in the spec (QA allow-list)
    "holdout",  # in the global holdout: sees the default experience, no variant
    "not_in_namespace",  # outside the spec's namespace range
    "not_in_coverage",  # hash fell in no bucket range (coverage < 1)
    "null_id",  # missing id (None, NaN, Arrow null)
    "invalid_id",  # an id GrowthBook cannot hash: "", 0, ±inf
)
_ASSIGNED, _OVERRIDE, _HOLDOUT, _NOT_NS, _NOT_COVERED, _NULL, _INVALID = range(len(STATUSES))


@dataclass(frozen=True)
class _Plan:
    """Everything ``assign`` needs from a spec, resolved once."""

    seed: str
    version: int
    variant_of_bucket: npt.NDArray[np.int16]  # bucket index -> variant index (-1: none)
    namespace: tuple[str, float, float] | None
    ns_ok: npt.NDArray[np.bool_] | None  # v1 bucket (0..999) -> eligible
    holdout: float
    held_bucket: npt.NDArray[np.bool_] | None  # v2 bucket (0..9999) -> held out
    overrides: dict[str, int] = field(default_factory=dict)


def _plan(spec: ExperimentSpec) -> _Plan:
    names = spec.variant_names
    ranges = bucket_ranges(len(names), spec.coverage, list(spec.weights))
    version = spec.hash_version
    div = 10_000 if version == 2 else 1000
    n = np.arange(div) / div  # the exact doubles Python's k / div gives
    table = np.full(div, -1, dtype=np.int16)
    for i, (lo, hi) in enumerate(ranges):
        table[(table == -1) & (lo <= n) & (n < hi)] = i
    ns_ok = None
    namespace = None
    if spec.namespace is not None:
        namespace = _check_namespace(spec.namespace)
        k = np.arange(1000) / 1000
        ns_ok = (namespace[1] <= k) & (k < namespace[2])
    held = None
    if spec.holdout > 0:
        held = np.arange(10_000) / 10_000 < spec.holdout
    index = {v: i for i, v in enumerate(names)}
    overrides = {str(u): index[v] for u, v in spec.overrides.items()}
    return _Plan(spec.hash_seed, version, table, namespace, ns_ok, spec.holdout, held, overrides)


def _codes(ids: _Ids, plan: _Plan) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int8]]:
    """Variant index (-1: none) and status code of every id."""
    n = ids.n
    variant = np.full(n, -1, dtype=np.int16)
    status = np.full(n, _ASSIGNED, dtype=np.int8)
    empty = np.zeros(n, dtype=bool)
    seed_state = _h.fnv1a32(plan.seed)
    holdout_state = _h.fnv1a32(HOLDOUT_SEED)
    override_keys = {k for k in plan.overrides if k}
    # the first-round hash of each override key, to find candidate rows without comparing text
    key_hashes = np.array(
        sorted(
            {
                _h.fnv1a32(k, seed_state) if plan.version == 2 else _h.fnv1a32(k + plan.seed)
                for k in override_keys
            }
        ),
        dtype=np.uint32,
    )
    candidates: list[npt.NDArray[np.int64]] = []
    for rows, batch in ids.batches():
        lengths = np.diff(batch.offsets)
        empty[rows] = lengths == batch.lead
        st = np.full(len(batch), _ASSIGNED, dtype=np.int8)
        id_state = None
        if plan.version == 1 or plan.ns_ok is not None:
            id_state = _h.fnv_batch(batch)  # fnv(id): shared by every version-1 hash
        if plan.version == 2:
            h1 = _h.fnv_batch(batch, seed_state)
            bucket = _h.second_round(h1) % np.uint32(10_000)
        else:
            assert id_state is not None
            h1 = _h.fnv_extend(id_state.copy(), plan.seed)
            bucket = h1 % np.uint32(1000)
        v = plan.variant_of_bucket[bucket]
        st[v < 0] = _NOT_COVERED
        if plan.ns_ok is not None:
            assert id_state is not None and plan.namespace is not None
            ns_hash = _h.fnv_extend(id_state, "__" + plan.namespace[0]) % np.uint32(1000)
            out = ~plan.ns_ok[ns_hash]
            st[out] = _NOT_NS
            v[out] = -1
        if plan.held_bucket is not None:
            hb = _h.second_round(_h.fnv_batch(batch, holdout_state)) % np.uint32(10_000)
            held = plan.held_bucket[hb]
            st[held] = _HOLDOUT
            v[held] = -1
        variant[rows] = v
        status[rows] = st
        if len(key_hashes):
            local = np.flatnonzero(np.isin(h1, key_hashes))
            if len(local):
                base = np.arange(n)[rows] if isinstance(rows, slice) else rows
                candidates.append(base[local])
    if candidates:  # hash matches are only candidates: confirm the text equals an override key
        rows_c = np.unique(np.concatenate(candidates))
        rows_c = rows_c[~ids.null[rows_c]]
        for r, text in zip(rows_c.tolist(), ids.text(rows_c), strict=True):
            if text in plan.overrides:
                variant[r] = plan.overrides[text]
                status[r] = _OVERRIDE
    bad = ids.invalid | (empty & ~ids.null)
    variant[bad | ids.null] = -1
    status[bad] = _INVALID
    status[ids.null] = _NULL
    return variant, status


def _categorical(codes: np.ndarray, categories: Sequence[str]) -> pd.Categorical:
    # codes are already validated (-1 or a category index): from_codes is zero-copy
    return cast(pd.Categorical, cast(Any, pd.Categorical).from_codes(codes, list(categories)))


def assign(unit_ids: object, spec: SpecLike, *, with_status: bool = False) -> pd.DataFrame:
    """Assign units to variants exactly as GrowthBook's SDKs would, for millions of ids at once.

    The rules, in order (see ``docs/assignment.md``): null or unhashable ids (``""``, ``0``,
    ``±inf``) get no variant; an id listed in ``overrides`` gets its forced variant; a unit in the
    global holdout (``hash_unit(HOLDOUT_SEED, id, 2) < holdout``) gets none; a unit outside the
    ``namespace`` gets none; otherwise the variant whose bucket range holds
    ``hash_unit(seed, id, hash_version)``, or none when coverage leaves the hash outside all ranges.

    Args:
        unit_ids: ids as a list, numpy array, pandas Series/Index (any string, categorical, numeric
            or object dtype) or Arrow (chunked) array. Non-string ids are stringified by
            :func:`unit_id_to_str` (JavaScript ``String(x)``).
        spec: an :class:`~abkit.spec.ExperimentSpec`, a dict of its YAML form, or a YAML path.
        with_status: add a categorical ``status`` column saying why each unit has (or lacks) a
            variant; one of :data:`STATUSES`.

    Returns:
        A DataFrame with one row per input id, in input order: ``unit_id`` (the ids as given) and
        ``variant`` (categorical over the spec's variants; missing when not in the experiment).

    Raises:
        SpecError: the spec is invalid.
        DataError: ids of an unsupported type (booleans, bytes, dates …) or integers beyond 2**53.

    Example:
        >>> spec = {"name": "exp", "control": "a", "variants": {"a": 0.5, "b": 0.5},
        ...         "coverage": 0.5, "overrides": {"qa-1": "b"}}
        >>> assign(["user-1", "user-2", "qa-1", None, 8], spec, with_status=True)
          unit_id variant           status
        0  user-1     NaN  not_in_coverage
        1  user-2       a         assigned
        2    qa-1       b         override
        3    None     NaN          null_id
        4       8       b         assigned
    """
    sp = load_spec(spec)
    plan = _plan(sp)
    ids, column = _ids_from(unit_ids)
    variant, status = _codes(ids, plan)
    out = pd.DataFrame(
        {
            "unit_id": column,
            "variant": _categorical(variant, sp.variant_names),
        }
    )
    if with_status:
        out["status"] = _categorical(status, STATUSES)
    return out
