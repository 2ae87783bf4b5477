"""The outbox: one delivery path for reminders, broadcasts and staff notices.

Writers add rows in the same transaction as the change that causes them (a booking, a
submission), with an idempotency key so the same message is never queued twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Outbox

PRIORITY_REMINDER = 0
PRIORITY_NOTICE = 5
PRIORITY_BROADCAST = 10


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    chat_id: int,
    person_id: int | None,
    due_at: datetime,
    key: str,
    payload: dict[str, Any] | None = None,
    priority: int = PRIORITY_NOTICE,
    expires_at: datetime | None = None,
) -> bool:
    """Queue a message; False when a row with this idempotency key already exists."""
    result = await session.execute(
        _ENQUEUE[session.get_bind().dialect.name],
        {
            "kind": kind,
            "chat_id": chat_id,
            "person_id": person_id,
            "due_at": due_at,
            "priority": priority,
            "payload": payload or {},
            "idempotency_key": key,
            "expires_at": expires_at,
        },
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# On the table, not the ORM class: an ORM insert given parameters is a bulk insert, which
# reports no row count.
_TABLE = cast(Table, Outbox.__table__)
_ENQUEUE = {
    name: insert(_TABLE)
    .values(
        {
            **{
                column: bindparam(column, type_=_TABLE.c[column].type)
                for column in (
                    "kind",
                    "chat_id",
                    "person_id",
                    "due_at",
                    "priority",
                    "payload",
                    "idempotency_key",
                    "expires_at",
                )
            },
            "status": "pending",
            "attempts": 0,
        }
    )
    .on_conflict_do_nothing(index_elements=[_TABLE.c.idempotency_key])
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}  # built once per dialect: submissions, bookings and broadcasts queue through it
