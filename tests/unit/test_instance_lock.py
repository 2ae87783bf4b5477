"""The SQLite single-instance guard is keyed on the file, not on its name (issue 21, item 5)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.instance_lock import AnotherInstanceRunning, instance_lock


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "win4ua.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
    return path


def test_a_symlink_to_the_database_is_the_same_database(database: Path, tmp_path: Path) -> None:
    alias = tmp_path / "elsewhere.db"
    alias.symlink_to(database)
    with (
        instance_lock(url(database)),
        pytest.raises(AnotherInstanceRunning),
        instance_lock(url(alias)),
    ):
        pass
    with (
        instance_lock(url(alias)),
        pytest.raises(AnotherInstanceRunning),
        instance_lock(url(database)),
    ):
        pass


def test_a_hard_link_to_the_database_is_the_same_database(database: Path, tmp_path: Path) -> None:
    other_directory = tmp_path / "other"
    other_directory.mkdir()
    link = other_directory / "copy.db"
    os.link(database, link)
    with (
        instance_lock(url(link)),
        pytest.raises(AnotherInstanceRunning),
        instance_lock(url(database)),
    ):
        pass


def test_another_database_and_a_relative_path_are_judged_by_the_file(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.db"
    with instance_lock(url(database)), instance_lock(url(other)):
        monkeypatch.chdir(database.parent)
        with pytest.raises(AnotherInstanceRunning), instance_lock("sqlite+aiosqlite:///win4ua.db"):
            pass
    with instance_lock(url(database)):  # released when the first holder ended
        pass


def test_the_locked_database_is_still_read_and_written(database: Path) -> None:
    """SQLite's own locks are fcntl locks, kept apart from the flock held on the file: the bot
    writes, and another process (a CLI, a backup) reads, while the guard is held."""
    with instance_lock(url(database)):
        with sqlite3.connect(database) as connection:
            connection.execute("INSERT INTO t VALUES (1)")
        read = subprocess.run(
            [sys.executable, "-c",
             "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("
             "'SELECT count(*) FROM t').fetchone()[0])", str(database)],
            capture_output=True, text=True, timeout=30, check=True,
        )
        assert read.stdout.strip() == "1"
