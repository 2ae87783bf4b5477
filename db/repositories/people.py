from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditLog, Person


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


# Built once: every update looks its sender up, and building a statement costs more CPU than
# SQLite takes to answer it.
_BY_TELEGRAM_ID = select(Person).where(Person.telegram_id == bindparam("telegram_id"))


async def get_by_telegram_id(session: AsyncSession, telegram_id: int) -> Person | None:
    return await session.scalar(_BY_TELEGRAM_ID, {"telegram_id": telegram_id})


async def get_or_create(session: AsyncSession, telegram_id: int, **defaults: Any) -> Person:
    """The person for this Telegram id, created on first contact.

    Two updates from a new person can arrive at once; INSERT … ON CONFLICT DO NOTHING lets
    both transactions end up with the same row instead of one failing on the unique id.
    """
    person = await get_by_telegram_id(session, telegram_id)
    if person is not None:
        return person
    insert = _insert(session)
    await session.execute(
        insert(Person)
        .values(telegram_id=telegram_id, role="user", **defaults)
        .on_conflict_do_nothing(index_elements=[Person.telegram_id])
    )
    person = await get_by_telegram_id(session, telegram_id)
    assert person is not None
    return person


async def list_with_roles(session: AsyncSession, roles: Sequence[str]) -> Sequence[Person]:
    result = await session.scalars(
        select(Person).where(Person.role.in_(roles)).order_by(Person.telegram_id)
    )
    return result.all()


def add_audit(
    session: AsyncSession,
    action: str,
    *,
    actor: Person | None = None,
    target: str | None = None,
    count: int | None = None,
    detail: dict[str, Any] | None = None,
    allowed: bool = True,
) -> None:
    session.add(
        AuditLog(
            actor_id=actor.id if actor else None,
            action=action,
            target=target,
            count=count,
            detail=detail,
            allowed=allowed,
        )
    )
