"""Deterministic, GrowthBook-compatible variant assignment — vectorized — and SRM diagnosis.

Production assigns users with a GrowthBook SDK; abkit reproduces those decisions offline, bucket for
bucket, for millions of ids at once. The frozen hashing scheme is written down in
``docs/assignment.md``; in short:

* ``fnv1a32(s)``: FNV-1a 32 over the UTF-16 code units of ``s`` (what the GrowthBook SDKs hash).
* hash version 1: ``fnv1a32(unit_id + seed) % 1000 / 1000``;
  version 2 (default): ``fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000``.
* bucket ranges: variant ``i`` gets ``[start_i, start_i + coverage * w_i)`` with ``start_i`` the
  cumulative weight; a unit whose hash lies in no range is not in the experiment.
* namespace ``(name, start, end)``: the unit is eligible if the version-1 hash with seed
  ``"__" + name`` lies in ``[start, end)``.

Example:
    >>> spec = {"name": "onboarding-v2", "control": "control", "variants": ["control", "treatment"]}
    >>> df = assign(["u1", "u2", "u3"], spec)
    >>> df.variant.tolist()
    ['treatment', 'treatment', 'control']
    >>> hash_unit("onboarding-v2", "u3")
    0.1684
"""

from __future__ import annotations

from abkit.assign.audit import ExposureAudit, SRMDiagnosis, audit_exposures, srm_diagnosis
from abkit.assign.files import assign_file
from abkit.assign.growthbook import (
    MAX_SAFE_INTEGER,
    bucket_ranges,
    choose_variant,
    hash_unit,
    in_namespace,
    unit_id_to_str,
)
from abkit.assign.vectorized import HOLDOUT_SEED, STATUSES, assign
from abkit.assign.vectorized import SpecLike as SpecLike  # spec argument type of the API

__all__ = [
    "HOLDOUT_SEED",
    "MAX_SAFE_INTEGER",
    "STATUSES",
    "ExposureAudit",
    "SRMDiagnosis",
    "assign",
    "assign_file",
    "audit_exposures",
    "bucket_ranges",
    "choose_variant",
    "hash_unit",
    "in_namespace",
    "srm_diagnosis",
    "unit_id_to_str",
]
