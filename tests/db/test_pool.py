"""The connection pool serves waiting transactions in the order they asked (db/pool.py)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty, Full

from db import pool as pool_module
from db.engine import create_engine, create_sessionmaker
from db.pool import FairPool, FairQueue


async def _get(queue: FairQueue[str], timeout: float | None = None) -> str:  # noqa: ASYNC109
    result: str = await greenlet_spawn(queue.get, True, timeout)
    return result


async def test_waiters_are_served_in_order_and_newcomers_do_not_barge() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=2)
    served: list[tuple[int, str]] = []

    async def wait(n: int) -> None:
        served.append((n, await _get(queue)))

    waiting = [asyncio.create_task(wait(n)) for n in range(3)]
    await asyncio.sleep(0)
    queue.put_nowait("a")
    # Before the first waiter runs, a newcomer asks: the connection is not there for it.
    assert queue.empty()
    with pytest.raises(Empty):
        queue.get_nowait()
    queue.put_nowait("b")
    queue.put_nowait("c")
    await asyncio.gather(*waiting)
    assert served == [(0, "a"), (1, "b"), (2, "c")]


async def test_a_waiter_that_gives_up_passes_the_connection_on() -> None:
    queue: FairQueue[str] = FairQueue()
    first = asyncio.create_task(_get(queue))
    second = asyncio.create_task(_get(queue))
    await asyncio.sleep(0)
    queue.put_nowait("a")  # handed to the first waiter…
    first.cancel()  # …which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second == "a"


async def test_a_timeout_is_empty_and_leaves_no_waiter_behind() -> None:
    queue: FairQueue[str] = FairQueue()
    with pytest.raises(Empty):
        await _get(queue, timeout=0.01)
    queue.put_nowait("a")
    assert queue.qsize() == 1 and queue.get_nowait() == "a"


def test_maxsize_and_lifo() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=2, use_lifo=True)
    queue.put_nowait("a")
    queue.put_nowait("b")
    assert queue.full()
    with pytest.raises(Full):
        queue.put_nowait("c")
    assert queue.get(block=False) == "b"


async def test_people_in_a_row_take_turns_at_a_busy_pool(database_url: str) -> None:
    """The engines use the fair pool: three people each sending five updates in a row through
    one connection take turns."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    assert isinstance(engine.pool, FairPool)
    sessions = create_sessionmaker(engine)
    order: list[int] = []

    async def person(n: int) -> None:
        for _ in range(5):
            async with sessions() as session, session.begin():
                await session.execute(text("SELECT 1"))
                order.append(n)
                await asyncio.sleep(0.002)

    try:
        await asyncio.gather(*(person(n) for n in range(3)))
    finally:
        await engine.dispose()
    assert order == [0, 1, 2] * 5


async def _backend_pid(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session, session.begin():
        return int(await session.scalar(text("SELECT pg_backend_pid()")))


async def test_only_a_connection_idle_for_a_while_is_pinged(
    backend: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite connections are files: nothing to ping")
    monkeypatch.setattr(pool_module, "PING_AFTER_IDLE", 0.2)
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    pings: list[object] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or ping(c))
    sessions = create_sessionmaker(engine)
    try:
        first = await _backend_pid(sessions)  # a fresh connection
        for _ in range(3):  # taken again at once
            assert await _backend_pid(sessions) == first
        assert pings == []
        await asyncio.sleep(0.3)
        assert await _backend_pid(sessions) == first
        assert len(pings) == 1
    finally:
        await engine.dispose()


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    backend: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL restarted, or closed an idle session: the next update gets a new connection
    instead of an error."""
    if backend != "postgresql":
        pytest.skip("SQLite connections are files: nothing to ping")
    monkeypatch.setattr(pool_module, "PING_AFTER_IDLE", 0.2)
    engine = create_engine(database_url, pool_size=2, max_overflow=0)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as a, a.begin(), sessions() as b, b.begin():
            pids = {
                int(await a.scalar(text("SELECT pg_backend_pid()"))),
                int(await b.scalar(text("SELECT pg_backend_pid()"))),
            }
        admin_engine = create_async_engine(database_url, poolclass=NullPool)
        async with admin_engine.connect() as admin:
            for pid in pids:
                await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await admin_engine.dispose()
        await asyncio.sleep(0.3)
        assert await _backend_pid(sessions) not in pids
        assert await _backend_pid(sessions) not in pids
    finally:
        await engine.dispose()
