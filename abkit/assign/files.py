"""Assignment of the ids in a CSV/Parquet file (the ``abkit assign`` command)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from abkit._files import atomic_path, input_problem
from abkit.assign.vectorized import SpecLike, assign
from abkit.errors import DataError
from abkit.spec import load_spec


def _file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise DataError(f"{path}: unknown file type; use .csv, .csv.gz or .parquet")


def _read_ids(path: Path, id_column: str | None, default: str) -> tuple[str, pa.ChunkedArray]:
    """The name of the id column and its values."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    problem = input_problem(path)  # missing, a folder, a FIFO or a device: never read
    if problem is not None:
        raise DataError(f"units file: {problem}")
    fmt = _file_format(path)
    if fmt == "parquet":
        columns = pq.read_schema(path).names
    else:
        with pacsv.open_csv(path) as reader:
            columns = reader.schema.names
    if id_column is None:
        if default in columns:
            id_column = default
        elif len(columns) == 1:
            id_column = columns[0]
        else:
            raise DataError(
                f"{path} has columns {columns} and none is named {default!r}; "
                "pass id_column= (CLI: --id-column) to say which one holds the unit ids."
            )
    elif id_column not in columns:
        raise DataError(f"{path} has no column {id_column!r}; its columns are {columns}")
    if fmt == "parquet":
        return id_column, pq.read_table(path, columns=[id_column]).column(id_column)
    # CSV has no types: ids are read as the text written ("007" stays "007"); empty cells are null
    opts = pacsv.ConvertOptions(
        column_types={id_column: pa.string()},
        include_columns=[id_column],
        strings_can_be_null=True,
        null_values=[""],
    )
    return id_column, pacsv.read_csv(path, convert_options=opts).column(id_column)


def assign_file(
    spec: SpecLike,
    units_path: str | Path,
    out_path: str | Path,
    *,
    id_column: str | None = None,
) -> int:
    """Assign the ids of a CSV/Parquet file and write ``<id column>, variant, status`` to ``out_path``.

    The id column is ``id_column``, else the spec's ``columns.unit_id`` (default ``unit_id``), else
    the file's only column; the output keeps its name (``user_id`` in, ``user_id`` out), except
    for an id column named ``variant`` or ``status``, which is written as ``unit_id``. CSV ids are
    read as text. The output format follows the extension
    (``.csv``, ``.csv.gz`` or ``.parquet``) and is written atomically (temporary file, then rename).

    Returns:
        The number of rows written (one per input row).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "units.csv").write_text("unit_id\\nu1\\nu2\\n")
        >>> assign_file({"name": "exp", "control": "a", "variants": ["a", "b"]},
        ...             d / "units.csv", d / "out.parquet")
        2
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    sp = load_spec(spec)
    src, dst = Path(units_path), Path(out_path)
    fmt = _file_format(dst)
    name, ids = _read_ids(src, id_column, sp.columns.get("unit_id", "unit_id"))
    df = assign(ids, sp, with_status=True)
    table = pa.table(
        {
            "unit_id" if name in ("variant", "status") else name: ids,
            "variant": pa.array(
                df["variant"].astype(object).where(df["variant"].notna(), None), type=pa.string()
            ),
            "status": pa.array(df["status"].astype(str).to_numpy(), type=pa.string()),
        }
    )
    with atomic_path(dst) as tmp:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        elif dst.name.lower().endswith(".gz"):
            with pa.CompressedOutputStream(tmp, "gzip") as stream:
                pacsv.write_csv(table, stream)
        else:
            pacsv.write_csv(table, tmp)
    n_rows: int = table.num_rows  # pyarrow is untyped
    return n_rows
