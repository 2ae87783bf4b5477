from __future__ import annotations

import weakref
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Table, bindparam, delete, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from db.base import utcnow
from db.models import ProcessedUpdate
from db.postgres_driver import GuardedConnection
from db.sqlite_driver import OneHopConnection

# Built once per dialect: it runs on every update. On the table, not the ORM class: an ORM
# insert given parameters would be a bulk insert, which reports no row count.
_TABLE = cast(Table, ProcessedUpdate.__table__)
_RECORD = {
    name: insert(_TABLE)
    .values(update_id=bindparam("update_id"))
    .on_conflict_do_nothing(index_elements=[_TABLE.c.update_id])
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


# The same INSERT as SQLite's driver takes it, for `seal`; received_at as SQLAlchemy stores a
# DateTime in SQLite (UTC).
_SQLITE_RECORD = (
    f"INSERT INTO {_TABLE.name} (update_id, received_at) VALUES (?, ?) "
    "ON CONFLICT (update_id) DO NOTHING"
)
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
# And as PostgreSQL's driver takes it (db.postgres_driver): now() is the transaction's start.
_POSTGRESQL_RECORD = (
    f"INSERT INTO {_TABLE.name} (update_id, received_at) VALUES ({{update_id}}, now())"
)


class AlreadyProcessed(Exception):
    """The update was processed before (Telegram delivered it again): nothing of it is kept."""


async def record(session: AsyncSession, update_id: int) -> bool:
    """Note the update as processed in the update's own transaction; False if it already was."""
    result = await session.execute(
        _RECORD[session.get_bind().dialect.name], {"update_id": update_id}
    )
    return bool(cast(CursorResult[Any], result).rowcount)


async def seal(session: AsyncSession, update_id: int) -> None:
    """Record the update as processed, as the last thing its transaction does.

    If it already was, the transaction keeps nothing: the commit (where the record rides
    along with the COMMIT: our SQLite and PostgreSQL drivers) or this call (elsewhere) raises
    AlreadyProcessed, and the caller rolls back. Call it inside the transaction, after the
    update's work.
    """
    driver: Any = _driver_of_transaction(session.sync_session)
    if driver is None and session.get_bind().dialect.name == "sqlite":
        # The transaction has not touched the database yet: SQLite's driver begins it with
        # the COMMIT's trip. (On PostgreSQL the record then goes on its own.)
        connection = await (await session.connection()).get_raw_connection()
        found = connection.driver_connection
        driver = found if isinstance(found, OneHopConnection) else None
    rejected = partial(AlreadyProcessed, update_id)
    if isinstance(driver, OneHopConnection):
        moment = utcnow().strftime(_SQLITE_TIME)
        driver.guard_commit(_SQLITE_RECORD, (update_id, moment), rejected)
        return
    if isinstance(driver, GuardedConnection):
        # A simple query carries no parameters: the id, an int, is written in.
        sql = _POSTGRESQL_RECORD.format(update_id=int(update_id))
        if driver.guard_commit(sql, _TABLE.name, rejected):
            return
    if not await record(session, update_id):
        raise AlreadyProcessed(update_id)


_DRIVER = "updates.driver"


def _note_driver(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    """As a transaction takes a connection of our drivers, keep it at hand for `seal`: asking
    the session for it again costs two trips through SQLAlchemy's greenlet bridge. The
    transaction is held weakly: a strong reference would close a cycle (session → info →
    transaction → session) and leave every update's session, its connection and the objects
    it loaded to the cyclic garbage collector, whose pauses were the benchmark's p99."""
    driver = connection.connection.driver_connection
    if isinstance(driver, OneHopConnection | GuardedConnection):
        session.info[_DRIVER] = (weakref.ref(transaction), driver)


def _driver_of_transaction(session: Session) -> OneHopConnection | GuardedConnection | None:
    noted = session.info.get(_DRIVER)
    transaction = session.get_transaction()
    if noted is None or transaction is None or noted[0]() is not transaction:
        return None
    driver: OneHopConnection | GuardedConnection = noted[1]
    return driver


def install(session_class: type[Session]) -> None:
    """`seal` finds the transaction's connection without asking. Once per session class."""
    if not event.contains(session_class, "after_begin", _note_driver):
        event.listen(session_class, "after_begin", _note_driver)


async def purge_before(session: AsyncSession, moment: datetime) -> int:
    result = await session.execute(
        delete(ProcessedUpdate).where(ProcessedUpdate.received_at < moment)
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)
