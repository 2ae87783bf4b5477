"""People's rights: what we hold about a person (/mydata) and erasing it (/delete)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.programme import Programme
from bot.services import booking, questionnaire
from db.base import utcnow
from db.models import Application, AuditLog, Booking, Event, Invite, Match, Outbox, Person
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
        "news_about_next_edition_since": person.news_opt_in_at,
        "first_contact": person.created_at,
        "last_change": person.updated_at,
    }
    applications = (
        await session.scalars(select(Application).where(Application.person_id == person.id))
    ).all()
    application_ids = [a.id for a in applications]
    bookings = await session.execute(
        select(Booking, Event)
        .join(Event, Event.id == Booking.event_id)
        .where(Booking.person_id == person.id)
        .order_by(Booking.id)
    )
    matches = (
        await session.scalars(
            select(Match).where(
                Match.intern_application_id.in_(application_ids)
                | Match.host_application_id.in_(application_ids)
            )
        )
    ).all()
    messages = await session.scalars(
        select(Outbox).where(Outbox.person_id == person.id).order_by(Outbox.id)
    )
    invite = await session.scalar(select(Invite).where(Invite.used_by_id == person.id))
    actions = await session.scalars(
        select(AuditLog).where(AuditLog.actor_id == person.id).order_by(AuditLog.id)
    )
    return {
        "generated_at": utcnow(),
        "profile": profile,
        "applications": [
            {
                "programme": a.programme_id,
                "audience": a.audience,
                "status": a.status,
                "answers": {k: v for k, v in a.answers.items() if not k.startswith("_")},
                "eligibility_reasons": a.eligibility_reasons,
                "flagged_for_review": a.needs_review,
                "submitted_at": a.submitted_at,
                "last_change": a.updated_at,
            }
            for a in applications
        ],
        "bookings": [
            {
                "event": event.title,
                "starts_at": event.starts_at,
                "status": booking.status,
                "attendance": booking.attendance,
                "booked_at": booking.created_at,
            }
            for booking, event in bookings.all()
        ],
        # That a match exists, not the other side's details: those are someone else's data.
        "matches": [{"matched_at": m.created_at, "ended_at": m.ended_at} for m in matches],
        "messages": [
            {"kind": m.kind, "due_at": m.due_at, "status": m.status, "sent_at": m.sent_at}
            for m in messages
        ],
        "invitation": {"used_at": invite.used_at} if invite else None,
        "actions": [{"action": a.action, "at": a.created_at, "count": a.count} for a in actions],
    }


def to_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, default=_plain, ensure_ascii=False, indent=2).encode("utf-8")


async def erase(
    session: AsyncSession,
    person: Person,
    programme: Programme | None = None,
    now: datetime | None = None,
) -> None:
    """Erase the person. Seats they held go to the waiting list first; then their row goes, and
    with it (by the foreign keys) their applications, bookings, matches and queued messages.

    The audit log keeps that staff actions happened, without the link to who did them; one
    anonymous "privacy.erase" entry counts erasures for programme reporting.
    """
    if programme is not None:
        await booking.release_all(session, programme, person, now or utcnow())
    await session.execute(
        update(AuditLog).where(AuditLog.actor_id == person.id).values(actor_id=None)
    )
    await session.execute(delete(Person).where(Person.id == person.id))
    questionnaire.forget(session)  # the row went with the person, by the foreign key
    repo.add_audit(session, "privacy.erase")
