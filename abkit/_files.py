"""Atomic file publication with the permissions a plainly created file would have."""

from __future__ import annotations

import os


def publish(tmp: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Move the finished temporary file ``tmp`` over ``dst`` atomically.

    ``tempfile.mkstemp`` creates files readable by their owner only (0600); a report or an
    assignment file is meant to be read like any other output, so it gets ``0666 & ~umask``
    (usually 0644) first.
    """
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    os.replace(tmp, dst)
