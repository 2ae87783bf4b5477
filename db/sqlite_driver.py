"""One thread round trip per SQLite statement.

aiosqlite runs each sqlite3 call on the connection's own thread and hands the result back to
the event loop. SQLAlchemy's adapter calls it once to open a cursor, once to execute, once to
fetch and once to close: four round trips, each waking a thread and then the loop, for a
statement SQLite itself answers in microseconds. On the bot's hot path those hand-offs cost
more CPU than the SQL.

`OneHopConnection` is aiosqlite's connection with a cursor that does all of that in a single
round trip: it executes, reads the first `PREFETCH_ROWS` rows and closes the sqlite3 cursor on
the worker thread, and keeps copies of what SQLAlchemy reads afterwards (description, rowcount,
lastrowid). A result longer than that keeps its cursor open and further fetches go to the
thread again, so streamed queries (`yield_per`, `stream`) still hold only a page in memory.
Everything else (transactions, errors, closing) is aiosqlite's own, unchanged, and all sqlite3
objects are still touched only on the connection's thread.

SQLite has one writer at a time, and every transaction here begins IMMEDIATE. Within a process
the connections of one engine queue for that lock on a `WriterGate` (first come, first served,
taken when BEGIN is sent and given back at COMMIT or ROLLBACK) rather than in SQLite's busy
handler, which polls with sleeps of up to 100 ms and so leaves the lock idle while writers
sleep. The busy handler still arbitrates between processes.

One more round trip is saved per transaction: `BEGIN IMMEDIATE` (see `db.engine`) is not sent
on its own but goes with the transaction's first statement.

Why it stays (issue 20): with SQLAlchemy's stock aiosqlite dialect instead (one connection a
process, so the gate's queueing was the pool's), the dispatch benchmark's update cost 4.63 →
7.20 ms of CPU and its p99 at 100 updates/s went 21 → 61 ms on a quiet two-core machine, past
the 25 ms target and the 15% of throughput a reach into a library's insides may save. It
relies on aiosqlite's private `Connection._conn`, `_execute` and `_thread` (aiosqlite 0.20 and
0.21 had no `_thread`: hence `aiosqlite>=0.22.1`); tests/unit/test_upstream_shapes.py
fingerprints the aiosqlite code it builds on and names the version when it changes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from typing import Any

import aiosqlite
from sqlalchemy.engine import URL

PREFETCH_ROWS = 500
BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"


class OneHopCursor:
    """The subset of aiosqlite's cursor that SQLAlchemy's adapter uses."""

    arraysize = 1

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self._cursor: sqlite3.Cursor | None = None  # open only while rows remain
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    # SQLAlchemy enters the cursor as an async context manager; there is nothing to open.
    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = ()) -> OneHopCursor:
        if sql == BEGIN_IMMEDIATE and not parameters:
            # Sent with the next statement (or dropped, if none comes before the end).
            await self.close()
            self.description, self.rowcount, self.lastrowid = None, -1, None
            self._connection._begin_pending = True
            return self
        await self._run(lambda cursor: cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Any) -> OneHopCursor:
        await self._run(lambda cursor: cursor.executemany(sql, parameters))
        return self

    async def _run(self, statement: Any) -> None:
        await self.close()
        connection = self._connection
        begin = await connection._begin_with_next_trip()

        def on_thread() -> tuple[sqlite3.Cursor | None, Any, int, int | None, list[Any]]:
            if begin:
                connection._conn.execute(BEGIN_IMMEDIATE)
            cursor = connection._conn.cursor()
            try:
                statement(cursor)
                rows = cursor.fetchmany(PREFETCH_ROWS) if cursor.description else []
            except BaseException:
                cursor.close()
                raise
            state = (cursor.description, cursor.rowcount, cursor.lastrowid, rows)
            if len(rows) < PREFETCH_ROWS:
                cursor.close()
                return (None, *state)
            return (cursor, *state)

        self._cursor, self.description, self.rowcount, self.lastrowid, rows = (
            await connection._execute(on_thread)
        )
        self._rows = deque(rows)

    async def _more(self, size: int | None) -> None:
        """Move up to `size` more rows (all when None) from the open cursor into the buffer."""
        cursor = self._cursor
        if cursor is None:
            return

        def on_thread() -> tuple[list[Any], bool]:
            rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
            done = size is None or len(rows) < size
            if done:
                cursor.close()
            return rows, done

        rows, done = await self._connection._execute(on_thread)
        self._rows.extend(rows)
        if done:
            self._cursor = None

    async def fetchone(self) -> Any:
        if not self._rows:
            await self._more(PREFETCH_ROWS)
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        if len(self._rows) < size:
            await self._more(max(size - len(self._rows), PREFETCH_ROWS))
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    async def fetchall(self) -> list[Any]:
        await self._more(None)
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            await self._connection._execute(cursor.close)


class WriterGate:
    """This process's queue for SQLite's write lock (see the module's docstring)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self._lock.locked():
            await self._lock.acquire()  # free: no timer needed
            return
        try:
            async with asyncio.timeout(self.timeout):
                await self._lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError(
                "database is locked (by a transaction of this process)"
            ) from None

    def release(self) -> None:
        self._lock.release()


class OneHopConnection(aiosqlite.Connection):
    _begin_pending = False
    _gate: WriterGate | None = None
    _holding_gate = False

    async def _begin_with_next_trip(self) -> bool:
        """True when a deferred BEGIN must go first in the next trip to the thread; its turn
        at the write lock (the gate) is taken here, before the trip."""
        begin, self._begin_pending = self._begin_pending, False
        if begin and self._gate is not None and not self._holding_gate:
            await self._gate.acquire()
            self._holding_gate = True
        return begin

    def _leave_gate(self) -> None:
        if self._holding_gate:
            self._holding_gate = False
            assert self._gate is not None
            self._gate.release()

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def commit(self) -> None:
        try:
            await self._commit()
        finally:
            self._leave_gate()

    async def _commit(self) -> None:
        if not self._begin_pending:  # a transaction that ran nothing has nothing to commit
            await super().commit()
        self._begin_pending = False

    async def rollback(self) -> None:
        self._begin_pending = False
        try:
            connection = self._connection
            if connection is not None and not connection.in_transaction:
                # Nothing to undo: the pool's reset of a connection handed back after a commit
                # costs no trip to the thread (reading the flag is safe from any thread).
                return
            await super().rollback()
        finally:
            self._leave_gate()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._leave_gate()


def async_creator(url: URL, busy_timeout: float = 30.0) -> Any:
    """`create_async_engine(..., async_creator=...)` for an `sqlite+aiosqlite://` URL; the
    connections it makes share one `WriterGate`, which waits at most `busy_timeout` seconds."""
    if url.query:
        raise ValueError("SQLite URL options are not supported; use connect_args instead")
    database = url.database or ":memory:"
    gate = WriterGate(busy_timeout)

    async def connect() -> OneHopConnection:
        connection = OneHopConnection(
            lambda: sqlite3.connect(database), iter_chunk_size=64
        )
        connection._gate = gate
        # As SQLAlchemy does for aiosqlite: a forgotten connection must not keep the process up.
        connection._thread.daemon = True
        await connection
        return connection

    return connect
