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
    assert con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0] == spill


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
