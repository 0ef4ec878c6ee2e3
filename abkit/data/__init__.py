"""Data layer: any source → an Ibis table on one backend, with abkit's standard column names.

Accepted sources: pandas DataFrames, Arrow tables, Parquet / CSV paths (a folder of Parquet files
too) and Ibis tables of any backend. DuckDB (in-process) is the default engine.

The data contract (see ``docs/data.md``):

* **exposures** — ``unit_id``, ``variant``, ``exposed_at`` (+ any segment / covariate columns);
* **events** — ``unit_id``, ``ts`` (+ optional ``event``, ``value``);
* **units** — one row per unit with ``unit_id``, ``variant`` and metric columns.

Modules: :mod:`~abkit.data.load` (sources), :mod:`~abkit.data.columns` (names),
:mod:`~abkit.data.logs` (the logs, ``as_of``, plausibility findings).

Names are mapped with ``columns={"unit_id": "userid", …}`` (abkit name → your name).
"""

from abkit.data.columns import SYNONYMS, check_columns, rename_columns, suggest_column
from abkit.data.load import TableLike, connect, load_table
from abkit.data.logs import (
    Logs,
    align_id_types,
    log_findings,
    log_span,
    normalise_unit_ids,
    parse_as_of,
    prepare_logs,
    prepare_units,
    require_timestamp,
    resolve_as_of,
    unit_id_hint,
)
from abkit.engine import backend_of
from abkit.quality import DataQuality, Finding
from abkit.query.checks import require_events_occur
from abkit.query.exposures import NULL_LABEL, label_segments

# DataQuality, Finding (now in abkit.quality) and backend_of (abkit.engine) stay importable here
__all__ = [
    "NULL_LABEL",
    "SYNONYMS",
    "DataQuality",
    "Finding",
    "Logs",
    "TableLike",
    "align_id_types",
    "backend_of",
    "check_columns",
    "connect",
    "label_segments",
    "load_table",
    "log_findings",
    "log_span",
    "normalise_unit_ids",
    "parse_as_of",
    "prepare_logs",
    "prepare_units",
    "rename_columns",
    "require_events_occur",
    "require_timestamp",
    "resolve_as_of",
    "suggest_column",
    "unit_id_hint",
]
