"""One bot per SQLite file.

SQLite has no `FOR UPDATE SKIP LOCKED`: two senders on one file could both take the same due
reminder between them. So a bot on SQLite holds an exclusive lock on a file next to the
database (`win4ua.db.lock`) for as long as it runs; a second one is refused with a clear
message. The operating system drops the lock when the process ends, even on kill -9, so a
crash never leaves a stale lock behind. PostgreSQL needs none: its senders claim rows with
`FOR UPDATE SKIP LOCKED`, and any number of instances can run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url


class AnotherInstanceRunning(RuntimeError):
    pass


def lock_path(database_url: str) -> Path | None:
    """The lock file for this database, or None when no lock is needed."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve().with_name(Path(url.database).name + ".lock")


@contextmanager
def instance_lock(database_url: str) -> Iterator[None]:
    path = lock_path(database_url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        if not _try_lock(handle.fileno()):
            raise AnotherInstanceRunning(
                f"another bot is already running on {path.with_suffix('')}; with SQLite run one "
                "instance (use PostgreSQL for several)"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            _unlock(handle.fileno())
    finally:
        handle.close()


if sys.platform == "win32":  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
