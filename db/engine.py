"""Engine and session factory for SQLite (embedded) and PostgreSQL (shared)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

from db import sqlite_driver
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
    # would read outside its transaction. IMMEDIATE takes the write lock up front: writers
    # queue for it (on the driver's WriterGate within the process, on busy_timeout between
    # processes) instead of failing half-way with "database is locked". The driver sends it
    # together with the transaction's first statement.
    connection.exec_driver_sql(sqlite_driver.BEGIN_IMMEDIATE)


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer at a time, and every transaction here begins IMMEDIATE. The
        # connections of this process queue for the lock on the driver's WriterGate, first
        # come, first served (db/sqlite_driver.py); SQLite's own busy handler polls, with
        # sleeps of up to 100 ms, and is not fair. A few connections keep the next
        # transactions ready and the outbox sender going.
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 3)
        kwargs.setdefault("pool_timeout", 120)
        kwargs.setdefault("async_creator", sqlite_driver.async_creator(url))
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    # Updates are handled concurrently; SQLAlchemy's default pool keeps 5 connections and
    # closes every one beyond that as soon as it is handed back, so each burst of updates
    # opened (and prepared its statements on) new connections: the p99 of a busy minute.
    # Ten stay open and ten more may come and go: 20 a process, so several instances fit in
    # PostgreSQL's default of 100 connections. A connection that sat idle is pinged as it is
    # taken (`ping_when_idle`), so one the server closed is replaced instead of failing an update.
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        ping_when_idle(engine.sync_engine)
    return engine


PING_AFTER_IDLE = 1.0
"""Seconds a pooled connection may sit unused before it is pinged as it is taken again."""
_RETURNED_AT = "returned_at"


def ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's `pool_pre_ping`, only for connections that sat in the pool a while.

    A busy bot hands each connection back and takes it again within milliseconds; pinging it
    every time cost PostgreSQL three round trips per transaction (asyncpg's ping is BEGIN, a
    query and ROLLBACK, so that it works through PgBouncer), about 4% of the bot's CPU. This
    is SQLAlchemy's documented custom-ping recipe (pool `checkin`/`checkout` events, the
    dialect's `do_ping`): a ping that finds the connection gone raises
    `InvalidatePoolError`, and the pool connects anew; any other error is raised.
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


class BotSession(Session):
    """The ORM session of every transaction: writes what the questionnaire changed at commit
    (see `db.repositories.applications`)."""


applications.install(BotSession)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=BotSession)
