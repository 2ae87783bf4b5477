"""One bot per SQLite file.

SQLite has no `FOR UPDATE SKIP LOCKED`: two senders on one file could both take the same due
reminder between them. So a bot on SQLite holds an exclusive lock for as long as it runs; a
second one is refused with a clear message. The operating system drops the lock when the
process ends, even on kill -9, so a crash never leaves a stale lock behind. PostgreSQL needs
none: its senders claim rows with `FOR UPDATE SKIP LOCKED`, and any number of instances can
run.

The lock is keyed on the database file itself, not on its name: a lock file beside the name
(`win4ua.db.lock`) was bypassed by reaching the same file through a symlink or a hard link,
and two bots then ran on one file. On POSIX the lock is `flock` on a descriptor of the
database file (every name of a file opens the same inode). SQLite's own locks are `fcntl`
byte-range locks, which Linux and the BSDs keep apart from `flock`, so the bot's reads and
writes, and a CLI reading the file meanwhile, are not affected. (On NFS, where Linux emulates
`flock` with `fcntl` locks, another process could no longer read the file; SQLite on NFS is
unsafe anyway.) Windows' byte-range locks are mandatory, so there the lock is a file in the
temporary directory named after the file's volume and file index (`st_dev`, `st_ino`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url


class AnotherInstanceRunning(RuntimeError):
    pass


def database_path(database_url: str) -> Path | None:
    """The SQLite database file, or None when no lock is needed (PostgreSQL, in memory)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


@contextmanager
def instance_lock(database_url: str) -> Iterator[None]:
    path = database_path(database_url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # An empty file is an empty SQLite database: creating it here changes nothing.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        handle = _lock(fd)
        if handle is None:
            raise AnotherInstanceRunning(
                f"another bot is already running on {path} (or on another name of the same "
                "file); with SQLite run one instance (use PostgreSQL for several)"
            )
        try:
            yield
        finally:
            _unlock(handle)
    finally:
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - Windows
    import msvcrt

    def _lock(fd: int) -> int | None:
        identity = os.fstat(fd)
        name = f"win4ua-sqlite-{identity.st_dev:x}-{identity.st_ino:x}.lock"
        handle = os.open(Path(tempfile.gettempdir()) / name, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
        except OSError:
            os.close(handle)
            return None
        return handle

    def _unlock(handle: int) -> None:
        os.lseek(handle, 0, os.SEEK_SET)
        msvcrt.locking(handle, msvcrt.LK_UNLCK, 1)
        os.close(handle)

else:
    import fcntl

    def _lock(fd: int) -> int | None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None
        return fd

    def _unlock(handle: int) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)
