"""What the dashboard reads about one application and about events: a few queries each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.dashboard.queries import LIVE_BOOKING
from db.models import Application, AuditLog, Booking, Event, Match, Outbox, Person


@dataclass
class Detail:
    application: Application
    person: Person
    bookings: list[tuple[Booking, Event]]
    messages: Sequence[Outbox]
    history: list[tuple[AuditLog, Person | None]]
    match: Match | None
    counterpart: Application | None
    candidates: list[Application]


async def detail(session: AsyncSession, application_id: int, programme_id: str) -> Detail | None:
    found = (
        await session.execute(
            select(Application, Person)
            .join(Person, Person.id == Application.person_id)
            .where(Application.id == application_id, Application.programme_id == programme_id)
        )
    ).first()
    if found is None:
        return None
    application, person = found
    bookings = [
        (b, e)
        for b, e in (
            await session.execute(
                select(Booking, Event)
                .join(Event, Event.id == Booking.event_id)
                .where(Booking.person_id == person.id, Booking.programme_id == programme_id)
                .order_by(Event.starts_at, Booking.id)
            )
        ).all()
    ]
    messages = (
        await session.scalars(
            select(Outbox)
            .where(Outbox.person_id == person.id)
            .order_by(Outbox.due_at.desc(), Outbox.id.desc())
            .limit(100)
        )
    ).all()
    match, counterpart = await _current_match(session, application)
    candidates: list[Application] = []
    if application.audience == "municipality" and application.status == "eligible":
        from bot.services import matching

        candidates = await matching.unmatched_interns(session, programme_id)
    history = await _history(session, application, person, [b.id for b, _e in bookings])
    return Detail(
        application, person, bookings, messages, history, match, counterpart, candidates
    )


async def _current_match(
    session: AsyncSession, application: Application
) -> tuple[Match | None, Application | None]:
    """For an intern: their match; for a host: its most recent one (a host may take several
    interns; the page lists them all in `hosted`)."""
    column = (
        Match.intern_application_id
        if application.audience == "intern"
        else Match.host_application_id
    )
    match = await session.scalar(
        select(Match)
        .where(column == application.id, Match.ended_at.is_(None))
        .order_by(Match.id.desc())
        .limit(1)
    )
    if match is None:
        return None, None
    other_id = (
        match.host_application_id
        if application.audience == "intern"
        else match.intern_application_id
    )
    return match, await session.get(Application, other_id)


async def hosted(session: AsyncSession, host_id: int) -> list[tuple[Match, Application]]:
    """The interns a host has now."""
    found = await session.execute(
        select(Match, Application)
        .join(Application, Application.id == Match.intern_application_id)
        .where(Match.host_application_id == host_id, Match.ended_at.is_(None))
        .order_by(Match.id)
    )
    return [(m, a) for m, a in found.all()]


async def _history(
    session: AsyncSession, application: Application, person: Person, booking_ids: list[int]
) -> list[tuple[AuditLog, Person | None]]:
    """Audit rows about this application: matches made or ended, attendance marked on its
    bookings, and what the person did that was refused."""
    aid = str(application.id)
    about = [
        AuditLog.target == aid,
        AuditLog.target.like(f"{aid}->%"),
        AuditLog.target.like(f"%->{aid}"),
        AuditLog.actor_id == person.id,
    ]
    if booking_ids:
        about.append(AuditLog.target.in_([f"booking:{b}" for b in booking_ids]))
    actor = aliased(Person)
    found = await session.execute(
        select(AuditLog, actor)
        .outerjoin(actor, actor.id == AuditLog.actor_id)
        .where(
            or_(*about),
            AuditLog.action.in_(("match.create", "match.end", "event.attendance"))
            | (AuditLog.actor_id == person.id),
        )
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(100)
    )
    return [(row, who) for row, who in found.all()]


@dataclass(frozen=True)
class EventRow:
    event: Event
    booked: int
    waiting: int
    entries: list[tuple[Booking, Application | None]]


async def events(session: AsyncSession, programme_id: str) -> list[EventRow]:
    """Every event of the programme (scheduled first by date, then cancelled) with its
    seats, waiting list and live bookings, in two queries."""
    found = (
        await session.scalars(
            select(Event)
            .where(Event.programme_id == programme_id)
            .order_by((Event.status == "cancelled"), Event.starts_at.desc())
        )
    ).all()
    ids = [e.id for e in found]
    entries: dict[int, list[tuple[Booking, Application | None]]] = {i: [] for i in ids}
    if ids:
        rows = await session.execute(
            select(Booking, Application)
            .outerjoin(
                Application,
                (Application.person_id == Booking.person_id)
                & (Application.programme_id == Booking.programme_id),
            )
            .where(Booking.event_id.in_(ids), Booking.status.in_(LIVE_BOOKING))
            .order_by(Booking.status, Booking.created_at, Booking.id)
        )
        for booking, application in rows.all():
            entries[booking.event_id].append((booking, application))
    return [
        EventRow(
            event,
            sum(1 for b, _a in entries[event.id] if b.status == "active"),
            sum(1 for b, _a in entries[event.id] if b.status != "active"),
            entries[event.id],
        )
        for event in found
    ]
