from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Application, AuditLog, Person


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


# Built once: every update looks its sender up, and building a statement costs more CPU than
# SQLite takes to answer it.
_BY_TELEGRAM_ID = select(Person).where(Person.telegram_id == bindparam("telegram_id"))


async def get_by_telegram_id(session: AsyncSession, telegram_id: int) -> Person | None:
    return await session.scalar(_BY_TELEGRAM_ID, {"telegram_id": telegram_id})


# The sender and their application to the running programme in one statement: almost every
# update needs both, and a statement costs more than the join.
_WITH_APPLICATION = (
    select(Person, Application)
    .outerjoin(
        Application,
        (Application.person_id == Person.id)
        & (Application.programme_id == bindparam("programme_id")),
    )
    .where(Person.telegram_id == bindparam("telegram_id"))
)


async def get_with_application(
    session: AsyncSession, telegram_id: int, programme_id: str
) -> tuple[Person, Application | None] | None:
    """The person and their application to `programme_id` (None if they have none yet); None
    if there is no such person."""
    row = (
        await session.execute(
            _WITH_APPLICATION, {"telegram_id": telegram_id, "programme_id": programme_id}
        )
    ).first()
    return None if row is None else (row[0], row[1])


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


_WITH_ROLES = (
    select(Person)
    .where(Person.role.in_(bindparam("roles", expanding=True)))
    .order_by(Person.telegram_id)
)  # built once: every submission looks the staff up


async def list_with_roles(session: AsyncSession, roles: Sequence[str]) -> Sequence[Person]:
    result = await session.scalars(_WITH_ROLES, {"roles": list(roles)})
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
