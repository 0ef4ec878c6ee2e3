"""The spill folder: where DuckDB writes what does not fit in memory (rows of the data).

The default is ``abkit-duckdb-<uid>`` in the system's temp directory, this user's own (mode
0700, no links, no foreign owner), and inside it a folder per connection: two DuckDB databases
that share one temp directory overwrite each other's spill files ("Could not read enough
bytes from file …duckdb_temp_storage…" when two nightly jobs of one user ran at once).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path

from abkit.errors import SpecError, first_line

__all__ = ["connection_spill_directory", "default_spill_directory"]


def default_spill_directory() -> str:
    """The default spill folder: ``abkit-duckdb-<uid>`` in the system's temp directory.

    The temp directory is shared by every user of the machine, and spill files hold rows of the
    data: the folder is made with mode 0700 (tightened to it if this user made it looser), and
    refused if it is a symbolic link, not a folder, or another user's (who could read the spill
    files, or point the link elsewhere).

    Raises:
        SpecError: the folder cannot be made or is not this user's own; the message names it
            and the fix (``ABKIT_TEMP_DIRECTORY`` or ``engine.configure(temp_directory=…)``).
    """
    uid = os.getuid() if hasattr(os, "getuid") else None  # Windows: the temp dir is per user
    path = Path(tempfile.gettempdir()) / ("abkit-duckdb" if uid is None else f"abkit-duckdb-{uid}")
    fix = (
        "set ABKIT_TEMP_DIRECTORY (or engine.configure(temp_directory=...)) to a folder of your own"
    )
    try:
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        info = path.lstat()
    except OSError as exc:
        raise SpecError(f"cannot make the spill folder {path}: {first_line(exc)}; {fix}") from None
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a folder"
    elif uid is not None and info.st_uid != uid:
        problem = f"belongs to another user (uid {info.st_uid}, yours is {uid})"
    if problem:
        raise SpecError(
            f"the spill folder {path} {problem}; abkit will not spill data there. {fix}, "
            "or remove it"
        )
    if uid is not None and stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)  # ours, but open to others (or closed to us): spill files are data
    return str(path)


def connection_spill_directory(base: str) -> str:
    """A spill folder of one connection's own inside ``base``: ``<pid>-<random>``, mode 0700.

    Folders left in ``base`` by processes that no longer run (a killed job) are removed first,
    so spill files of finished work do not pile up.
    """
    # (POSIX only: elsewhere os.kill(pid, 0) is not a harmless probe)
    for child in Path(base).iterdir() if hasattr(os, "getuid") else ():
        pid = child.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            shutil.rmtree(child, ignore_errors=True)
    while True:  # as tempfile.mkdtemp does (not called: a test's patch of it is not for us)
        path = Path(base) / f"{os.getpid()}-{secrets.token_hex(4)}"
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
            return str(path)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it runs
        return True
    return True
