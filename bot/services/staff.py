"""Staff roles: who may run the recruitment from Telegram, changed by admins or the CLI.

The role is read from the database on every update (see `handlers.filters.IsStaff`), so a
change takes effect at the next press. Every change is in the audit log. Command menus follow
the role: `bot.commands` shows staff their commands in their chat only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import people
from db.models import AuditLog, Person
from db.repositories import people as repo

# Telegram user ids are positive and, so far, below 2**52.
MAX_TELEGRAM_ID = 2**52


class RoleError(Exception):
    """`code`: not_admin, bad_id, self (an admin cannot demote themselves), unchanged."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class RoleChange:
    telegram_id: int
    before: str
    after: str
    language: str | None

    @property
    def is_staff(self) -> bool:
        return self.after in ("staff", "admin")


def parse_id(text: str | None) -> int:
    value = (text or "").strip()
    if not value.isdigit() or not 0 < int(value) < MAX_TELEGRAM_ID:
        raise RoleError("bad_id")
    return int(value)


async def change_role(
    session: AsyncSession, actor: Person | None, telegram_id: int, role: str
) -> RoleChange:
    """Make someone user, staff or admin. In Telegram only admins may; the CLI has no actor."""
    if actor is not None and actor.role != "admin":
        raise RoleError("not_admin")
    if actor is not None and actor.telegram_id == telegram_id and role != "admin":
        raise RoleError("self")
    existing = await repo.get_by_telegram_id(session, telegram_id)
    before = existing.role if existing else "user"
    if before == role:
        raise RoleError("unchanged")
    person = await people.set_role(session, telegram_id, role, actor)
    return RoleChange(telegram_id, before, role, person.language)


async def members(session: AsyncSession) -> Sequence[Person]:
    return await people.staff_members(session)


async def former_members(session: AsyncSession) -> list[int]:
    """Telegram ids whose staff role was taken away and who are not staff now."""
    demoted = await session.scalars(
        select(AuditLog.target).where(AuditLog.action == "staff.role").distinct()
    )
    ids = {int(t) for t in demoted if t and t.isdigit()}
    if not ids:
        return []
    current = await session.scalars(
        select(Person.telegram_id).where(
            Person.telegram_id.in_(ids), Person.role.in_(("staff", "admin"))
        )
    )
    return sorted(ids - set(current))


def audit_denied(
    session: AsyncSession, person: Person | None, action: str, detail: str | None = None
) -> None:
    """Someone without the role tried a staff action (a command or a forged button). Who is
    the person row (so /delete unlinks it, as for every audit entry), not a copy of their id."""
    repo.add_audit(
        session,
        action,
        actor=person,
        target=None,
        detail={"data": detail[:100]} if detail else None,
        allowed=False,
    )


REFUSED = "action.refused"


async def audit_refused(
    session: AsyncSession, telegram_id: int, data: str | None, reason: str | None = None
) -> None:
    """A press or command refused as stale or forged (someone else's booking, draft or form,
    an id that does not exist). The actor is the person row, so /delete unlinks it; `data` is
    callback data (opaque ids) or a bare command, never what someone typed."""
    person = await people.on_contact(session, telegram_id)
    detail: dict[str, object] = {}
    if data:
        detail["data"] = data[:100]
    if reason:
        detail["reason"] = reason[:60]
    prefix = data.split(":", 1)[0][:40] if data else None
    repo.add_audit(
        session, REFUSED, actor=person, target=prefix, detail=detail or None, allowed=False
    )


def audit(
    session: AsyncSession,
    person: Person,
    action: str,
    *,
    target: str | None = None,
    count: int | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    repo.add_audit(session, action, actor=person, target=target, count=count, detail=detail)


def audit_cli(
    session: AsyncSession, action: str, *, target: str | None = None, count: int | None = None
) -> None:
    """A staff action from the command line (whoever has shell access; no person to name)."""
    repo.add_audit(session, action, target=target, count=count, detail={"via": "cli"})
