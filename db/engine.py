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

from db.repositories import applications


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
    # would read outside its transaction. IMMEDIATE takes the write lock up front, so a
    # transaction never fails half-way with "database is locked". (SQLAlchemy's documented
    # recipe for pysqlite/aiosqlite transactions.)
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer at a time, and every transaction here begins IMMEDIATE: one
        # connection a process, so this process's transactions queue for it in SQLAlchemy's
        # pool. Several would queue in SQLite's busy handler instead, which polls with sleeps
        # of up to 100 ms and leaves the lock idle meanwhile (a tail of up to a second at 100
        # updates a second). busy_timeout still arbitrates between processes (a CLI command
        # beside the bot).
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 120)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    # Updates are handled concurrently; SQLAlchemy's default pool keeps 5 connections and
    # closes every one beyond that as soon as it is handed back, so each burst of updates
    # opened (and prepared its statements on) new connections: the p99 of a busy minute.
    # Ten stay open and ten more may come and go: 20 a process, so several instances fit in
    # PostgreSQL's default of 100 connections. A connection is pinged as it is taken, so one
    # the server closed while it sat idle is replaced instead of failing an update.
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class BotSession(Session):
    """The ORM session of every transaction: writes what the questionnaire changed at commit
    (see `db.repositories.applications`)."""


applications.install(BotSession)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=BotSession)
