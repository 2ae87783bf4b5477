"""The outbox: one delivery path for reminders, broadcasts and staff notices.

Writers add rows in the same transaction as the change that causes them (a booking, a
submission), with an idempotency key so the same message is never queued twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = await session.execute(
        insert(Outbox)
        .values(
            kind=kind,
            chat_id=chat_id,
            person_id=person_id,
            due_at=due_at,
            priority=priority,
            payload=payload or {},
            idempotency_key=key,
            expires_at=expires_at,
            status="pending",
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=[Outbox.idempotency_key])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
