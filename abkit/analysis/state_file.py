"""The refresh state's file: its lock, its manifest, and writing a new one atomically.

``DIR/state.duckdb`` holds the per-unit tables of :mod:`abkit.analysis.refresh` and a manifest
(table ``abkit_manifest``: format, versions, fingerprint, sealed watermark and counts); it is
attached to the analysis' DuckDB connection, read-only. A refresh writes a new file beside it
(``DIR/.state-<random>.duckdb.tmp``), checkpoints and closes it, and renames it over the old
one: a reader sees the old state or the new one, never half of one. ``DIR/manifest.json`` is a
copy of the manifest for people and CI. ``DIR/.lock`` serialises refreshes of one folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abkit._version import __version__
from abkit.engine import bound_tables, compile_sql, execute, in_memory_tables, is_shared
from abkit.errors import DataError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

__all__ = ["LOCK_FILE", "MANIFEST_FILE", "STATE_FILE", "StateError"]

STATE_FILE, LOCK_FILE, MANIFEST_FILE = "state.duckdb", ".lock", "manifest.json"
#: 2: settled units kept as statistics rows (abkit.analysis.settle)
FORMAT, FORMAT_VERSION = "abkit-refresh-state", 2
_MANIFEST_TABLE = "abkit_manifest"


class StateError(DataError):
    """The refresh state cannot be used: unreadable, foreign, or held by another refresh."""


@contextlib.contextmanager
def locked(folder: Path, timeout: float) -> Iterator[None]:
    """Hold ``folder/.lock`` (an advisory lock, released when the process ends)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: refreshes are not serialised there
        yield
        return
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StateError(
                        f"another refresh holds the state {folder} (lock {path}) for more than "
                        f"{timeout:g} s; wait for it to finish, or give a longer lock_timeout"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def fix_hint(folder: Path) -> str:
    return (
        f"rebuild it from the full logs with --rebuild (abkit report/analyze) or "
        f"state=State({str(folder)!r}, rebuild=True), or delete the folder {folder}"
    )


def read_manifest(con: BaseBackend, alias: str, path: Path) -> dict[str, Any]:
    try:
        rows = con.raw_sql(f'SELECT value FROM "{alias}".main.{_MANIFEST_TABLE}').fetchall()
        manifest = json.loads(rows[0][0])
    except Exception:  # any failure here means: not a state abkit wrote
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StateError(
            f"{path} is not an abkit refresh state (a DuckDB file without abkit's manifest: a "
            f"foreign or damaged file); {fix_hint(path.parent)}"
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:  # older: rebuilt (fingerprint)
        raise StateError(
            f"{path} has refresh-state format {manifest.get('format_version')!r}; this abkit "
            f"reads format {FORMAT_VERSION}. {fix_hint(path.parent)}"
        )
    return manifest


def attach(con: BaseBackend, path: Path, *, read_only: bool) -> str:
    alias = "abkit_state_" + uuid.uuid4().hex[:12]
    mode = " (READ_ONLY)" if read_only else ""
    try:
        con.raw_sql(f"ATTACH '{_sql_text(str(path))}' AS \"{alias}\"{mode}")
    except Exception as exc:  # duckdb.Error: not a database file, or an unreadable one
        raise StateError(
            f"cannot open the refresh state {path} ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); {fix_hint(path.parent)}"
        ) from None
    return alias


def _sql_text(s: str) -> str:
    return s.replace("'", "''")


def detach(con: BaseBackend, alias: str) -> None:
    with contextlib.suppress(Exception):
        con.raw_sql(f'DETACH "{alias}"')


def create_table(con: BaseBackend, target: str, expr: ir.Table, *, temp: bool = False) -> None:
    """``CREATE TABLE target AS expr`` (the in-memory inputs registered as engine.execute does).

    Integer columns are stored as the BIGINT Ibis types them: DuckDB's sums of BIGINT are
    HUGEINT (which Ibis does not cast back), and a HUGEINT column scans many times slower.
    """
    shared = is_shared(con)
    if not shared:
        con._run_pre_execute_hooks(expr)
    cols = [
        f'CAST("{c}" AS BIGINT) AS "{c}"' if t.is_integer() and t.nbytes == 8 else f'"{c}"'
        for c, t in expr.schema().items()
    ]
    sql = f"SELECT {', '.join(cols)} FROM ({compile_sql(expr, con, inline_ctes=False)})"
    tables = in_memory_tables(expr, con) if shared else None
    if tables is None:
        if shared:
            con._run_pre_execute_hooks(expr)
        con.raw_sql(f"CREATE {'TEMP ' if temp else ''}TABLE {target} AS {sql}")
        return
    con._register_udfs(expr)
    with bound_tables(con, tables):
        con.raw_sql(f"CREATE {'TEMP ' if temp else ''}TABLE {target} AS {sql}")


def scalar(expr: Any, con: BaseBackend) -> Any:
    import pandas as pd

    v = execute(expr, con)
    return None if v is None or bool(pd.isna(v)) else v


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat()


def parse_iso(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s)


def unlink_state(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@dataclass(slots=True)
class NewState:
    """A new state file being written beside the old one (renamed over it by :meth:`commit`)."""

    con: BaseBackend
    folder: Path
    tmp: Path
    alias: str
    sealed: dict[str, Any]
    seal: datetime

    def commit(self, manifest: Mapping[str, Any]) -> None:
        """Write the manifest, close the file and rename it over the state (atomically)."""
        text = _sql_text(json.dumps(manifest, sort_keys=True))
        db = f'"{self.alias}".main'
        self.con.raw_sql(
            f"CREATE TABLE {db}.{_MANIFEST_TABLE} AS SELECT 'manifest' AS key, '{text}' AS value"
        )
        self.con.raw_sql(f'CHECKPOINT "{self.alias}"')
        self.con.raw_sql(f'DETACH "{self.alias}"')
        with open(self.tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(self.tmp, self.folder / STATE_FILE)
        with contextlib.suppress(OSError):  # the rename itself made durable where possible
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        write_sidecar(self.folder, manifest)


def make_manifest(
    fingerprint: str,
    depends: Mapping[str, Any],
    seal: datetime | None,
    sealed: Mapping[str, Any],
    *,
    action: str,
    as_of: datetime,
    buffer_hours: float,
) -> dict[str, Any]:
    """The manifest of a state: what it depends on, how far it is sealed, what it holds."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "abkit_version": __version__,
        "fingerprint": fingerprint,
        "depends_on": dict(depends),
        "sealed_through": iso(seal),
        "buffer_hours": buffer_hours,
        "sealed": dict(sealed),
        "as_of": iso(as_of),
        "action": action,
        "written_at": datetime.now(UTC).isoformat(),
    }


def update_manifest(con: BaseBackend, alias: str, manifest: Mapping[str, Any]) -> None:
    """Replace the attached state's manifest (inside the caller's transaction)."""
    text = _sql_text(json.dumps(manifest, sort_keys=True))
    con.raw_sql(f"UPDATE \"{alias}\".main.{_MANIFEST_TABLE} SET value = '{text}'")


def write_sidecar(folder: Path, manifest: Mapping[str, Any]) -> None:
    """``folder/manifest.json``: a copy for people and CI (abkit reads the state file's own)."""
    side = folder / (MANIFEST_FILE + ".tmp")
    side.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(side, folder / MANIFEST_FILE)


@contextlib.contextmanager
def transaction(con: BaseBackend) -> Iterator[None]:
    """A DuckDB transaction: committed at the end of the block, rolled back on any error."""
    con.raw_sql("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            con.raw_sql("ROLLBACK")
        raise
    con.raw_sql("COMMIT")


def scalar_count(v: Any) -> int:
    import pandas as pd

    return 0 if v is None or bool(pd.isna(v)) else int(v)


def timestamp(v: Any) -> datetime | None:
    import pandas as pd

    if v is None or bool(pd.isna(v)):
        return None
    ts = pd.Timestamp(v)
    out: datetime = (ts.tz_localize(UTC) if ts.tzinfo is None else ts).to_pydatetime()
    return out


def drop_table(con: BaseBackend, target: str) -> None:
    with contextlib.suppress(Exception):
        con.raw_sql(f"DROP TABLE IF EXISTS {target}")
