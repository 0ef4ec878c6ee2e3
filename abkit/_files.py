"""Files: atomic writes, copies that never follow a planted link, folder locks, input paths read
by their exact names, and CSV cells a spreadsheet will not run as formulas."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from abkit.errors import first_line

#: the prefix that makes an input string a glob pattern (``glob:data/events-*.parquet``); any
#: other path is read as named, whatever characters it holds
GLOB_PREFIX = "glob:"
#: the characters the engines' file readers expand (``**`` is two ``*``)
GLOB_CHARS = frozenset("*?[")
#: a text cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@contextlib.contextmanager
def atomic_path(dst: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary path beside ``dst`` to write to; it replaces ``dst`` only if the block succeeds.

    Readers never see a half-written file, and a failure leaves ``dst`` as it was. The file
    gets ``0666 & ~umask`` (usually 0644) — ``tempfile.mkstemp`` alone would leave it readable
    by its owner only, and a report or an assignment file is read like any other output.
    ``os.replace`` replaces a symbolic link at ``dst`` itself, never the file it points to.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name[:100]}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def copy_atomic(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Copy ``src`` to ``dst`` through :func:`atomic_path`: a link planted at ``dst`` is
    replaced, its target never written (``shutil.copyfile`` would write through it)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def not_regular(path: Path) -> str | None:
    """What ``path`` is when it exists but is neither a regular file nor a folder (after links):
    a FIFO would block a reader forever, a device or socket is no table."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def input_problem(path: Path) -> str | None:
    """Why the literal input ``path`` cannot be read as a table (None: it can be tried).

    Example:
        >>> input_problem(Path("/no/such/ev[1].parquet"))  # doctest: +ELLIPSIS
        'file /no/such/ev[1].parquet does not exist; paths are read as named — ... glob:...'
    """
    if not path.exists():
        tip = ""
        if GLOB_CHARS & set(str(path)):
            tip = (
                "; paths are read as named — to read every file matching a pattern, write "
                f"{GLOB_PREFIX}{path}"
            )
        return f"file {path} does not exist{tip}"
    kind = not_regular(path)
    if kind is not None:
        return (
            f"{path} is {kind}, not a file; abkit reads Parquet or CSV files or a folder of "
            "Parquet files"
        )
    return None


def table_format(path: Path) -> str | None:
    """``"parquet"`` or ``"csv"`` by the file's suffix (compressed CSV too), else None."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "csv" if suffix in (".csv", ".tsv", ".txt", ".gz") else None


def arrow_source(path: Path, fmt: str) -> Any:
    """The file (or folder of Parquet files) at ``path`` through Arrow, read by its exact name.

    For names that hold glob characters: the engines' readers expand them, and DuckDB's escaped
    form (``ev[[]1].parquet``) is expanded again when a query inlines the scan (DuckDB 1.5 read
    ``ev1.parquet`` then). Parquet stays lazy (a dataset, scanned by the engine); CSV is read
    whole, with Arrow's type inference (no day/month guessing).
    """
    import pyarrow.csv as pacsv
    import pyarrow.dataset as ds

    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.parquet") if p.is_file())
        return ds.dataset(
            files, format="parquet", partitioning="hive", partition_base_dir=str(path)
        )
    if fmt == "parquet":
        return ds.dataset(str(path), format="parquet")
    delimiter = "\t" if path.name.lower().endswith((".tsv", ".tsv.gz")) else ","
    return pacsv.read_csv(str(path), parse_options=pacsv.ParseOptions(delimiter=delimiter))


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``folder`` for the block (yields whether locking is supported).

    The lock is taken on the folder itself (``flock`` on a descriptor of it), so no lock file is
    left behind, and the kernel releases it when the process dies, however it dies.

    Raises:
        BlockingIOError: another process holds the lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield False
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield True
    finally:
        os.close(fd)


def neutralise_formula(value: Any) -> Any:
    """A text cell that starts like a formula, prefixed with ``'`` (OWASP's advice for CSV
    exports); anything else — numbers, including negative ones — unchanged.

    Example:
        >>> neutralise_formula("=HYPERLINK(1)"), neutralise_formula(-5), neutralise_formula("a")
        ("'=HYPERLINK(1)", -5, 'a')
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_csv_frame(frame: Any) -> Any:
    """A copy of a pandas frame whose text cells and column names cannot run as formulas when
    the CSV is opened in a spreadsheet (see :func:`neutralise_formula`); numeric columns are
    left as they are."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) in ("string", "str", "category"):
            out[col] = out[col].astype(object).map(neutralise_formula)
    out.columns = [neutralise_formula(c) for c in out.columns]
    return out


def known_cause(exc: BaseException) -> str | None:
    """The cause and the fix of an engine error abkit recognises, in words; else None.

    A CSV file that is not UTF-8 (e.g. Latin-1 or Windows-1252, as spreadsheet programs save
    it) fails when DuckDB meets the first byte it cannot decode, which may be at read time or,
    deep in a large file, only when a query reaches it.

    Example:
        >>> known_cause(ValueError("CSV Error on Line: 2 ... This file is not utf-8 encoded."))[:40]
        'a CSV file is not UTF-8 text (line 2 hol'
    """
    text = str(exc)
    if "out of memory" in text.lower():
        return (
            f"the engine ran out of memory ({first_line(exc)}). abkit's DuckDB keeps under a "
            "2 GB memory limit by default and spills to its temp directory; raise the limit "
            "(ABKIT_MEMORY_LIMIT=8GB, or engine.configure(memory_limit='8GB')), give the spill "
            "folder room (ABKIT_TEMP_DIRECTORY), or use ABKIT_MEMORY_LIMIT=duckdb for DuckDB's "
            "own default (80% of memory)"
        )
    if "not utf-8 encoded" not in text.lower():
        return None
    line = re.search(r"CSV Error on Line: (\d+)", text)
    name = re.search(r"^\s*file = (.+)$", text, flags=re.MULTILINE)
    where = f"{name[1].strip()} " if name else ""
    return (
        f"a CSV file {where}is not UTF-8 text"
        + (f" (line {line[1]} holds bytes that are not UTF-8)" if line else "")
        + "; it was probably saved as Latin-1 or Windows-1252. Convert it to UTF-8 (e.g. "
        "iconv -f latin1 -t utf-8 in.csv > out.csv), or read it in Python with its encoding "
        "(pd.read_csv(path, encoding='latin-1')) and pass the frame"
    )
