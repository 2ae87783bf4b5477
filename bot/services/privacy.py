"""People's rights: what we hold about a person (/mydata) and erasing it (/delete)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import AuditLog, Person
from db.repositories import people as repo


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def collect(session: AsyncSession, person: Person) -> dict[str, Any]:
    """Everything stored about this person, and nothing about anyone else."""
    profile = {
        "telegram_id": person.telegram_id,
        "language": person.language,
        "time_zone": person.time_zone,
        "role": person.role,
        "start_payload": person.start_payload,
        "privacy_notice": {"version": person.consent_version, "acknowledged_at": person.consent_at},
        "blocked_bot_at": person.blocked_at,
        "first_contact": person.created_at,
        "last_change": person.updated_at,
    }
    actions = await session.scalars(
        select(AuditLog).where(AuditLog.actor_id == person.id).order_by(AuditLog.id)
    )
    return {
        "generated_at": utcnow(),
        "profile": profile,
        "actions": [{"action": a.action, "at": a.created_at, "count": a.count} for a in actions],
    }


def to_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, default=_plain, ensure_ascii=False, indent=2).encode("utf-8")


async def erase(session: AsyncSession, person: Person) -> None:
    """Delete the person. Audit entries they made stay, without the link to them.

    The audit log must keep showing that a staff action happened (who did it is then unknown);
    an anonymous count of erasures is kept for programme reporting.
    """
    await session.execute(
        update(AuditLog).where(AuditLog.actor_id == person.id).values(actor_id=None)
    )
    await session.execute(delete(Person).where(Person.id == person.id))
    repo.add_audit(session, "privacy.erase")
