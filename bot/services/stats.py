"""Where the recruitment stands, in numbers, straight from the database (nothing is cached)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import broadcast, outbox
from bot.services.segments import LIVE_APPLICATION, region_of_application
from db.models import Application, Booking, Broadcast, Event, Match, Outbox, Person


@dataclass(frozen=True)
class EventLine:
    title: dict[str, str]
    starts_at: datetime
    booked: int
    capacity: int | None
    free: int | None
    waitlisted: int


@dataclass
class Stats:
    # audience → status → how many
    applications: dict[str, dict[str, int]] = field(default_factory=dict)
    eligible_by_voivodeship: list[tuple[str, int]] = field(default_factory=list)
    interns_by_oblast: list[tuple[str, int]] = field(default_factory=list)
    events: list[EventLine] = field(default_factory=list)
    waitlisted: int = 0
    matches: int = 0
    # "reminders" / "broadcasts" → outbox status → how many
    messages: dict[str, dict[str, int]] = field(default_factory=dict)
    broadcasts: int = 0
    unreachable: int = 0


async def _by_region(
    session: AsyncSession, programme_id: str, *conditions: Any
) -> list[tuple[str, int]]:
    region = region_of_application().label("region")
    rows = await session.execute(
        select(region, func.count())
        .where(Application.programme_id == programme_id, *conditions)
        .group_by(region)
        .order_by(func.count().desc(), region)
    )
    return [(name or "?", int(n)) for name, n in rows.all()]


async def _events(session: AsyncSession, programme_id: str, now: datetime) -> list[EventLine]:
    waiting = (
        select(Booking.event_id, func.count().label("n"))
        .where(Booking.status.in_(("waitlisted", "offered")))
        .group_by(Booking.event_id)
        .subquery()
    )
    booked = (
        select(Booking.event_id, func.count().label("n"))
        .where(Booking.status == "active")
        .group_by(Booking.event_id)
        .subquery()
    )
    rows = await session.execute(
        select(Event, func.coalesce(booked.c.n, 0), func.coalesce(waiting.c.n, 0))
        .outerjoin(booked, booked.c.event_id == Event.id)
        .outerjoin(waiting, waiting.c.event_id == Event.id)
        .where(
            Event.programme_id == programme_id,
            Event.status == "scheduled",
            Event.starts_at >= now,
        )
        .order_by(Event.starts_at)
    )
    return [
        EventLine(
            title=event.title or {},
            starts_at=event.starts_at,
            booked=int(n_booked),
            capacity=event.capacity,
            free=None if event.capacity is None else event.capacity - event.seats_taken,
            waitlisted=int(n_waiting),
        )
        for event, n_booked, n_waiting in rows.all()
    ]


async def collect(session: AsyncSession, programme_id: str, now: datetime) -> Stats:
    stats = Stats()
    applications: dict[str, dict[str, int]] = defaultdict(dict)
    rows = await session.execute(
        select(Application.audience, Application.status, func.count())
        .where(Application.programme_id == programme_id)
        .group_by(Application.audience, Application.status)
    )
    for audience, status, n in rows.all():
        applications[audience][status] = int(n)
    stats.applications = dict(applications)
    stats.eligible_by_voivodeship = await _by_region(
        session,
        programme_id,
        Application.audience == "municipality",
        Application.status == "eligible",
    )
    stats.interns_by_oblast = await _by_region(
        session,
        programme_id,
        Application.audience == "intern",
        Application.status.in_(LIVE_APPLICATION),
    )
    stats.events = await _events(session, programme_id, now)
    stats.waitlisted = int(
        await session.scalar(
            select(func.count()).where(
                Booking.programme_id == programme_id,
                Booking.status.in_(("waitlisted", "offered")),
            )
        )
        or 0
    )
    stats.matches = int(
        await session.scalar(
            select(func.count()).where(Match.programme_id == programme_id, Match.ended_at.is_(None))
        )
        or 0
    )
    messages: dict[str, dict[str, int]] = {"reminders": {}, "broadcasts": {}}
    family = Outbox.broadcast_id.is_not(None)
    for name, condition in (
        ("reminders", Outbox.priority == outbox.PRIORITY_REMINDER),
        ("broadcasts", family),
    ):
        counted = await session.execute(
            select(Outbox.status, func.count()).where(condition).group_by(Outbox.status)
        )
        messages[name] = {status: int(n) for status, n in counted.all()}
    # Rows of broadcasts finished long ago are purged; their counts stay on the broadcast.
    kept = await broadcast.kept_counts(session)
    for status, n in (
        ("sent", kept.sent),
        ("failed", kept.blocked + kept.failed),
        ("cancelled", kept.cancelled),
    ):
        if n:
            messages["broadcasts"][status] = messages["broadcasts"].get(status, 0) + n
    stats.messages = messages
    stats.broadcasts = int(
        await session.scalar(
            select(func.count()).where(
                Broadcast.programme_id == programme_id,
                Broadcast.status.in_(("running", "done", "cancelled")),
            )
        )
        or 0
    )
    stats.unreachable = int(
        await session.scalar(select(func.count()).where(Person.blocked_at.is_not(None))) or 0
    )
    return stats
