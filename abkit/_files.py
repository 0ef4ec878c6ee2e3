"""Atomic file writes with the permissions a plainly created file would have."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(dst: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary path beside ``dst`` to write to; it replaces ``dst`` only if the block succeeds.

    Readers never see a half-written file, and a failure leaves ``dst`` as it was. The file
    gets ``0666 & ~umask`` (usually 0644) — ``tempfile.mkstemp`` alone would leave it readable
    by its owner only, and a report or an assignment file is read like any other output.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
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
