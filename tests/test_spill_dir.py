"""The default spill folder is this user's own: ``abkit-duckdb-<uid>``, mode 0700, no links."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest

import abkit as ab
from abkit import engine

pytestmark = pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")


@pytest.fixture
def tmp_root(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(engine, "_config", None)
    monkeypatch.delenv("ABKIT_TEMP_DIRECTORY", raising=False)
    return tmp_path


def test_default_spill_folder_is_per_user_and_private(tmp_root):
    old = os.umask(0o022)  # a umask that leaves folders readable by all
    try:
        spill = engine.get_config().duckdb_settings()["temp_directory"]
    finally:
        os.umask(old)
    assert spill == str(tmp_root / f"abkit-duckdb-{os.getuid()}")
    info = os.lstat(spill)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == os.getuid()
    con = engine.connect()
    # each connection spills into a private folder of its own inside it
    mine = con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0]
    assert os.path.dirname(mine) == spill and os.path.basename(mine).startswith(f"{os.getpid()}-")
    assert stat.S_IMODE(os.lstat(mine).st_mode) == 0o700


def test_concurrent_connections_never_share_spill_files(tmp_root):
    # before: every abkit process of a user spilled into one folder, and a second DuckDB
    # database there overwrote the first one's temp files ("Could not read enough bytes")
    a, b = engine.connect(), engine.connect()
    folders = [c.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0] for c in (a, b)]
    assert folders[0] != folders[1]
    del a, b
    import gc

    gc.collect()
    assert not any(os.path.exists(f) for f in folders)  # removed with their connection


def test_folders_of_processes_that_no_longer_run_are_removed(tmp_root):
    base = tmp_root / f"abkit-duckdb-{os.getuid()}"
    base.mkdir(mode=0o700)
    dead, alive = base / "999999999-x", base / f"{os.getppid()}-y"
    for d in (dead, alive):
        d.mkdir()
        (d / "duckdb_temp_block-1.block").write_bytes(b"rows")
    engine.connect()
    assert not dead.exists() and alive.exists()


def test_a_looser_folder_of_ours_is_tightened(tmp_root):
    folder = tmp_root / f"abkit-duckdb-{os.getuid()}"
    folder.mkdir()
    folder.chmod(0o777)
    engine.default_spill_directory()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_link_is_refused(tmp_root):
    elsewhere = tmp_root / "elsewhere"
    elsewhere.mkdir()
    (tmp_root / f"abkit-duckdb-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(ab.SpecError, match="symbolic link") as info:
        engine.connect()
    assert "ABKIT_TEMP_DIRECTORY" in str(info.value)
    assert str(tmp_root / f"abkit-duckdb-{os.getuid()}") in str(info.value)


def test_a_file_is_refused(tmp_root):
    (tmp_root / f"abkit-duckdb-{os.getuid()}").write_text("not a folder")
    with pytest.raises(ab.SpecError, match="not a folder"):
        engine.default_spill_directory()


def test_another_users_folder_is_refused(tmp_root, monkeypatch):
    # the folder of the name this "user" would use exists and belongs to someone else
    ours = os.getuid()
    other = ours + 1
    (tmp_root / f"abkit-duckdb-{other}").mkdir(mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: other)
    with pytest.raises(ab.SpecError, match="belongs to another user") as info:
        engine.default_spill_directory()
    assert "ABKIT_TEMP_DIRECTORY" in str(info.value)


def test_an_explicit_folder_is_used_as_given(tmp_root, monkeypatch):
    chosen = tmp_root / "my-spill"
    monkeypatch.setenv("ABKIT_TEMP_DIRECTORY", str(chosen))
    monkeypatch.setattr(engine, "_config", None)
    assert engine.get_config().duckdb_settings()["temp_directory"] == str(chosen)
    assert not (tmp_root / f"abkit-duckdb-{os.getuid()}").exists()
