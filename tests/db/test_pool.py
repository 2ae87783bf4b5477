"""The engine's pool, as SQLAlchemy ships it, with a ping for connections that sat idle: a
connection the server dropped is replaced, and one in use a moment ago is not pinged."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from db import engine as engine_module
from db.engine import create_engine, create_sessionmaker


async def _backend_pid(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session, session.begin():
        return int(await session.scalar(text("SELECT pg_backend_pid()")))


async def test_only_a_connection_idle_for_a_while_is_pinged(
    backend: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite connections are files: nothing to ping")
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", 0.2)
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
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", 0.2)
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
