"""Engine and session factory for SQLite (embedded) and PostgreSQL (shared)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from db import postgres_driver, sqlite_driver
from db.pool import FairPool, ping_when_idle
from db.repositories import applications, updates


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the console, the sender and a CLI read while the bot writes; foreign keys are
    # off by default in SQLite; the busy timeout turns a brief lock into a wait, not an error.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # The sqlite3 module would defer BEGIN until the first write, so a read-then-write update
    # would read outside its transaction. IMMEDIATE takes the write lock up front: writers
    # queue for it (on the driver's WriterGate within the process, on busy_timeout between
    # processes) instead of failing half-way with "database is locked". The driver sends it
    # together with the transaction's first statement.
    connection.exec_driver_sql(sqlite_driver.BEGIN_IMMEDIATE)


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    url = make_url(database_url)
    # Transactions waiting for a connection get one in the order they asked (db/pool.py).
    kwargs.setdefault("poolclass", FairPool)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer at a time, and every transaction here begins IMMEDIATE. The
        # connections of this process queue for the lock on the driver's WriterGate, first
        # come, first served; SQLite's own busy handler polls, with sleeps of up to 100 ms,
        # which left the lock idle while writers slept (the dispatch benchmark's tail of up to
        # a second) and is not fair (waits past the timeout failed as "database is locked").
        # A few connections keep the next transactions ready and the outbox sender going;
        # beyond these, transactions wait in the pool.
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 3)
        kwargs.setdefault("pool_timeout", 120)
        kwargs.setdefault("async_creator", sqlite_driver.async_creator(url))
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    if url.get_driver_name() == "asyncpg":
        # asyncpg's connection, but for one step of the commit (see db.postgres_driver).
        connect_args = dict(kwargs.get("connect_args") or {})
        connect_args.setdefault("connection_class", postgres_driver.GuardedConnection)
        kwargs["connect_args"] = connect_args
    # Updates are handled concurrently; SQLAlchemy's default pool keeps 5 connections and
    # closes every one beyond that as soon as it is handed back, so each burst of updates
    # opened (and prepared its statements on) new connections: the p99 of a busy minute.
    # Ten stay open and ten more may come and go: 20 a process, so several instances fit in
    # PostgreSQL's default of 100 connections.
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        # A connection is pinged before use only when it has sat idle (see db.pool).
        ping_when_idle(engine.sync_engine)
    return engine


class BotSession(Session):
    """The ORM session of every transaction: writes what the questionnaire changed at commit
    (see `db.repositories.applications`) and knows its connection for `updates.seal`."""


applications.install(BotSession)
updates.install(BotSession)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=BotSession)
