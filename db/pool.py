"""SQLAlchemy's asyncio connection pool, first come first served.

When every connection is out, SQLAlchemy's `AsyncAdaptedQueuePool` queues the waiting
transactions on an `asyncio.Queue`, which is not fair: a connection handed back is put in the
queue and the first waiter is only woken, so a transaction arriving before that waiter runs
takes the connection; the waiter finds the queue empty and queues again, at the back. Under a
burst of updates some people's updates waited seconds while others went through (the dispatch
benchmark's closed loop on PostgreSQL: p50 0.9 s, p99 3.1 s, max over 4 s).

`FairQueue` hands a connection that comes back straight to the longest waiter; a newcomer
takes one only when nobody is waiting. A waiter that gives up (its timeout, a cancelled
update) as a connection is handed to it passes the connection on. `FairPool` is SQLAlchemy's
pool with that queue, and `db.engine` uses it for both databases.

`ping_when_idle` is SQLAlchemy's `pool_pre_ping` for connections that have sat unused in the
pool for a while, and only for them (as HikariCP skips its check for a connection used within
the last half second). A busy bot hands each connection back and takes it again within
milliseconds; pinging it every time cost PostgreSQL three round trips per update (asyncpg's
ping is BEGIN, a query and ROLLBACK, so that it works through PgBouncer), about 4% of the
bot's CPU, before the update's first statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any, Generic, TypeVar

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_
from sqlalchemy.util.queue import Empty, Full, QueueCommon

_T = TypeVar("_T")


class FairQueue(QueueCommon[_T], Generic[_T]):
    """The subset of a queue SQLAlchemy's pool uses, serving waiters in arrival order."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._items: deque[_T] = deque()
        self._waiters: deque[asyncio.Future[_T]] = deque()

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: _T) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a waiter that gave up is skipped
                waiter.set_result(item)
                return
        if self.full():
            raise Full()
        self._items.append(item)

    def put(self, item: _T, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # the pool never waits to give a connection back

    def get_nowait(self) -> _T:
        if not self._items:
            raise Empty()
        return self._items.pop() if self.use_lifo else self._items.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> _T:
        if self._items or not block:
            return self.get_nowait()
        result: _T = await_(self._wait(timeout))
        return result

    async def _wait(self, timeout: float | None) -> _T:  # noqa: ASYNC109 (the pool's own)
        waiter: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # handed over as we gave up: pass it on
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            if isinstance(error, TimeoutError):
                raise Empty() from None
            raise


class FairPool(AsyncAdaptedQueuePool):
    _queue_class: Any = FairQueue


PING_AFTER_IDLE = 1.0
"""Seconds a connection may sit in the pool and still be taken without a ping."""

_RETURNED_AT = "win4ua_returned_at"


def ping_when_idle(engine: Engine) -> None:
    """Ping a connection taken from the pool when it was handed back `PING_AFTER_IDLE`
    seconds ago or more; a fresh connection and one in use a moment ago are not pinged.

    As with `pool_pre_ping`, a ping that finds the connection gone (the server restarted, or
    closed it while it sat idle) invalidates the pool's connections and the pool connects
    anew; any other error of the ping is raised.
    """
    dialect = engine.dialect

    def handed_back(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if dbapi_connection is not None:  # None: invalidated, the record will connect anew
            record.info[_RETURNED_AT] = time.monotonic()

    def taken(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        returned_at = record.info.pop(_RETURNED_AT, None)
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError(str(error)) from error
            raise

    event.listen(engine, "checkin", handed_back)
    event.listen(engine, "checkout", taken)
