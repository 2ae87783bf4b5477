"""Staff roles: who may run the recruitment from Telegram, changed by admins or the CLI.

The role is read from the database on every update (the `IsStaff` filter in
handlers/filters.py), so a change takes effect at the next press. Every change is in the audit
log. Command menus follow the role: `bot.commands` shows staff their commands in their chat only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import people
from db.base import utcnow
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


async def audit_denied(
    session: AsyncSession, person: Person | None, action: str, detail: str | None = None
) -> None:
    """Someone without the role tried a staff action (a command or a forged button). Who is
    the person row (so /delete unlinks it, as for every audit entry), not a copy of their id."""
    await _audit_refusal(session, person, action, None, detail[:100] if detail else None, None)


REFUSED = "action.refused"
# Refusals are folded: one row per person, kind of refusal and hour, with a count, the first
# and the last thing tried and a few distinct ones. Each refused press wrote a row before,
# so anyone could grow the audit table without bound by pressing forged buttons (1,206 rows
# from 2,000 presses); now one person adds at most one row of each kind an hour.
REFUSAL_WINDOW = timedelta(hours=1)
REFUSAL_SAMPLES = 8


def refusal_window_start(moment: datetime) -> datetime:
    seconds = int(REFUSAL_WINDOW.total_seconds())
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, tz=UTC)


async def audit_refused(
    session: AsyncSession, telegram_id: int, data: str | None, reason: str | None = None
) -> None:
    """A press or command refused as stale or forged (someone else's booking, draft or form,
    an id that does not exist). The actor is the person row, so /delete unlinks it; `data` is
    callback data (opaque ids) or a bare command, never what someone typed."""
    person = await people.on_contact(session, telegram_id)
    prefix = data.split(":", 1)[0][:40] if data else None
    await _audit_refusal(
        session, person, REFUSED, prefix, data[:100] if data else None,
        reason[:60] if reason else None,
    )


async def _audit_refusal(
    session: AsyncSession,
    person: Person | None,
    action: str,
    target: str | None,
    data: str | None,
    reason: str | None,
) -> None:
    now = utcnow()
    row = None
    if person is not None and person.id is not None:
        # FOR UPDATE (PostgreSQL): two refusals of one person at once add to one count.
        row = await session.scalar(
            select(AuditLog)
            .where(
                AuditLog.actor_id == person.id,
                AuditLog.action == action,
                AuditLog.allowed.is_(False),
                AuditLog.created_at >= refusal_window_start(now),
            )
            .order_by(AuditLog.id.desc())
            .limit(1)
            .with_for_update()
        )
    if row is None:
        detail: dict[str, object] = {}
        if data:
            detail["data"] = data
        if reason:
            detail["reason"] = reason
        repo.add_audit(
            session, action, actor=person, target=target, count=1, detail=detail or None,
            allowed=False,
        )
        return
    folded = dict(row.detail or {})
    samples = list(folded.get("samples") or ([folded["data"]] if "data" in folded else []))
    if data:
        folded.setdefault("data", data)
        folded["last"] = data
        if data not in samples and len(samples) < REFUSAL_SAMPLES:
            samples.append(data)
    if samples:
        folded["samples"] = samples
    if reason:
        folded["last_reason"] = reason
    folded["last_at"] = now.isoformat(timespec="seconds")
    row.count = (row.count or 1) + 1
    row.detail = folded  # a new dict: the JSON column sees the change


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
