from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ProcessedUpdate

# Built once per dialect: it runs on every update. On the table, not the ORM class: an ORM
# insert given parameters would be a bulk insert, which reports no row count.
_TABLE = cast(Table, ProcessedUpdate.__table__)
_RECORD = {
    name: insert(_TABLE)
    .values(update_id=bindparam("update_id"))
    .on_conflict_do_nothing(index_elements=[_TABLE.c.update_id])
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


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

    If it already was (Telegram delivered it again), this raises AlreadyProcessed and the
    caller rolls the whole transaction back, replies unsent. One plain INSERT … ON CONFLICT DO
    NOTHING inside the transaction, after the update's work: the id is taken only if the
    transaction commits. Call it inside the transaction.
    """
    if not await record(session, update_id):
        raise AlreadyProcessed(update_id)


async def purge_before(session: AsyncSession, moment: datetime) -> int:
    result = await session.execute(
        delete(ProcessedUpdate).where(ProcessedUpdate.received_at < moment)
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)
