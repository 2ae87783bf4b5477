"""Events staff create: information meetings, internships, study visits.

Times are entered in the programme's zone (Europe/Warsaw) and stored in UTC. Moving or
cancelling an event changes everyone's reminders and tells everyone booked, in the same
transaction as the change, through the outbox. Every staff action is audit-logged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.programme import Programme
from bot.services import booking as seats
from bot.services import outbox, reminders
from db.models import Application, Booking, Event, Person
from db.repositories import people as people_repo

KINDS = ("info_meeting", "internship", "study_visit", "other")
AUDIENCES = ("municipality", "intern", "all")
TITLE_LANGUAGES = ("pl", "uk", "en")
EDITABLE = ("title", "duration_minutes", "capacity", "join_link", "place", "audience", "kind")
# People who may book are told of a new information meeting a few minutes after it is
# created, in one message per person however many dates staff add in that time.
EVENT_PUBLISHED = "event.published"
ANNOUNCE_DELAY = timedelta(minutes=5)

_LOCAL_TIME_RES = (
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})[ T](?P<H>\d{1,2}):(?P<M>\d{2})$"),
    re.compile(r"^(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4}),? (?P<H>\d{1,2}):(?P<M>\d{2})$"),
)


class EventError(Exception):
    """Staff input that cannot be used: `code` says why (bad_time, no_such_time, past,
    unknown, cancelled, capacity, title, kind, kind_taken, audience, duration, link)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass
class EventDraft:
    kind: str = "info_meeting"
    audience: str = "municipality"
    title: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    duration_minutes: int = 60
    capacity: int | None = None
    join_link: str | None = None
    place: str | None = None


def parse_local_time(text: str, zone: str) -> datetime:
    """Read "2026-04-08 10:00" or "8.04.2026 10:00" in `zone` → an aware UTC datetime."""
    for pattern in _LOCAL_TIME_RES:
        match = pattern.match(text.strip())
        if match:
            break
    else:
        raise EventError("bad_time")
    parts = {k: int(v) for k, v in match.groupdict().items()}
    try:
        naive = datetime(parts["y"], parts["m"], parts["d"], parts["H"], parts["M"])  # noqa: DTZ001
    except ValueError:
        raise EventError("bad_time") from None
    local = naive.replace(tzinfo=ZoneInfo(zone))
    moment = local.astimezone(UTC)
    if moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None) != naive:
        raise EventError("no_such_time")  # skipped when the clocks went forward
    return moment


def _validate(draft: EventDraft, now: datetime) -> None:
    if draft.kind not in KINDS:
        raise EventError("kind")
    if draft.audience not in AUDIENCES:
        raise EventError("audience")
    missing = [lang for lang in TITLE_LANGUAGES if not (draft.title.get(lang) or "").strip()]
    if missing or any(len(text) > 200 for text in draft.title.values()):
        raise EventError("title")
    if draft.starts_at is None or draft.starts_at <= now:
        raise EventError("past")
    if not 5 <= draft.duration_minutes <= 60 * 24 * 60:
        raise EventError("duration")
    if draft.capacity is not None and draft.capacity < 1:
        raise EventError("capacity")
    if draft.join_link and not draft.join_link.startswith(("https://", "http://")):
        raise EventError("link")


async def create(
    session: AsyncSession,
    programme: Programme,
    draft: EventDraft,
    now: datetime,
    *,
    actor: Person | None = None,
) -> Event:
    _validate(draft, now)
    event = Event(
        programme_id=programme.id,
        kind=draft.kind,
        audience=draft.audience,
        title={lang: draft.title[lang].strip() for lang in TITLE_LANGUAGES},
        starts_at=draft.starts_at,
        duration_minutes=draft.duration_minutes,
        capacity=draft.capacity,
        seats_taken=0,
        join_link=draft.join_link or None,
        place=draft.place or None,
        status="scheduled",
    )
    session.add(event)
    await session.flush()
    _audit(session, "event.create", event, actor, {"starts_at": event.starts_at.isoformat()})
    if event.kind == "info_meeting":
        await announce(session, programme, event, now)
    return event


async def announce(session: AsyncSession, programme: Programme, event: Event, now: datetime) -> int:
    """Tell eligible applicants without a date that a new one can be booked.

    The verdict after submitting promises it. The message lists the open dates as they are
    when it is sent; people who booked meanwhile are skipped then.
    """
    audiences = ("municipality", "intern") if event.audience == "all" else (event.audience,)
    booked = select(Booking.person_id).where(
        Booking.programme_id == programme.id, Booking.status.in_(seats.LIVE)
    )
    people = await session.scalars(
        select(Person)
        .join(Application, Application.person_id == Person.id)
        .where(
            Application.programme_id == programme.id,
            Application.status == "eligible",
            Application.audience.in_(audiences),
            Person.blocked_at.is_(None),
            Person.id.not_in(booked),
        )
    )
    queued = 0
    for person in people.all():
        queued += await outbox.enqueue(
            session,
            kind=EVENT_PUBLISHED,
            chat_id=person.telegram_id,
            person_id=person.id,
            due_at=now + ANNOUNCE_DELAY,
            key=f"{EVENT_PUBLISHED}:{event.id}:{person.id}",
            payload={"event_id": event.id},
        )
    return queued


async def get(session: AsyncSession, programme: Programme, event_id: int) -> Event:
    event = await session.get(Event, event_id)
    if event is None or event.programme_id != programme.id:
        raise EventError("unknown", event_id=event_id)
    return event


async def listing(
    session: AsyncSession, programme: Programme, now: datetime, *, past_days: int | None = 7
) -> Sequence[Event]:
    """Events from `past_days` ago on (all of them with None), soonest first."""
    statement = select(Event).where(Event.programme_id == programme.id)
    if past_days is not None:
        statement = statement.where(Event.starts_at >= now - timedelta(days=past_days))
    return (await session.scalars(statement.order_by(Event.starts_at, Event.id))).all()


async def edit(
    session: AsyncSession,
    programme: Programme,
    event: Event,
    changes: dict[str, Any],
    now: datetime,
    *,
    actor: Person | None = None,
) -> Event:
    """Change what an event is (title, link, place, duration, capacity); not when — see move."""
    if event.status != "scheduled":
        raise EventError("cancelled")
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    draft = EventDraft(
        kind=event.kind,
        audience=event.audience,
        title=dict(event.title),
        starts_at=event.starts_at,
        duration_minutes=event.duration_minutes,
        capacity=event.capacity,
        join_link=event.join_link,
        place=event.place,
    )
    for name, value in changes.items():
        setattr(draft, name, {**draft.title, **value} if name == "title" else value)
    _validate(draft, min(now, event.starts_at - timedelta(seconds=1)))
    event = await seats.reload_event(session, event.id, lock=True)
    if draft.capacity is not None and draft.capacity < event.seats_taken:
        raise EventError("capacity_taken", taken=event.seats_taken)
    before = {name: getattr(event, name) for name in changes}
    if draft.kind != event.kind:
        # Bookings carry their event's kind (one active booking per person and kind): someone
        # holding a seat of the new kind elsewhere blocks the change; staff decide.
        try:
            async with session.begin_nested():
                await session.execute(
                    update(Booking)
                    .where(Booking.event_id == event.id)
                    .values(kind=draft.kind)
                    .execution_options(synchronize_session=False)
                )
        except IntegrityError:
            raise EventError("kind_taken") from None
    for name in changes:
        setattr(event, name, getattr(draft, name))
    touch_calendar = {"title", "duration_minutes", "join_link", "place"} & set(changes)
    if touch_calendar:
        seats.touch(event)
    await session.flush()
    _audit(session, "event.edit", event, actor, {"from": _plain(before), "to": _plain(changes)})
    if "capacity" in changes:
        await seats.fill_from_waitlist(session, programme, event, now)
    return event


async def move(
    session: AsyncSession,
    programme: Programme,
    event: Event,
    starts_at: datetime,
    now: datetime,
    *,
    actor: Person | None = None,
) -> int:
    """Move an event to a new start; returns how many people were told."""
    if event.status != "scheduled":
        raise EventError("cancelled")
    if starts_at <= now:
        raise EventError("past")
    # Taking the row lock first makes concurrent bookings wait and then see the new time.
    event = await seats.reload_event(session, event.id, lock=True)
    old = event.starts_at
    if starts_at == old:
        return 0
    event.starts_at = starts_at
    seats.touch(event)
    await session.flush()
    entries = await seats.bookings_of(session, event.id)
    await reminders.withdraw(session, [b.id for b, _person in entries])
    stamp = reminders.stamp(starts_at)
    for booking, person in entries:
        if booking.status == "offered" and booking.offer_expires_at is not None:
            # A fresh offer, at the new time; it never outlasts the new booking cut-off.
            closes = seats.closes_at(programme, event)
            booking.offer_expires_at = min(booking.offer_expires_at, max(closes, now))
            await reminders.notify(
                session, reminders.WAITLIST_OFFER, booking, person, now, key_suffix=f"offer:{stamp}"
            )
            continue
        if booking.status == "active":
            seats.touch(booking)
            await reminders.schedule(
                session, booking, event, person, programme.reminder_offsets, now
            )
        await reminders.notify(
            session,
            reminders.EVENT_MOVED,
            booking,
            person,
            now,
            key_suffix=f"{stamp}:{now.timestamp():.6f}",
            payload={"old_starts_at": old.isoformat(), "starts_at": starts_at.isoformat()},
        )
    _audit(
        session,
        "event.move",
        event,
        actor,
        {"from": old.isoformat(), "to": starts_at.isoformat()},
        count=len(entries),
    )
    return len(entries)


async def cancel(
    session: AsyncSession,
    programme: Programme,
    event: Event,
    now: datetime,
    *,
    actor: Person | None = None,
) -> int:
    """Cancel an event: every booking and queue entry ends, and everyone is told."""
    if event.status != "scheduled":
        raise EventError("cancelled")
    event = await seats.reload_event(session, event.id, lock=True)
    entries = await seats.bookings_of(session, event.id)
    ids = [b.id for b, _person in entries]
    await session.execute(
        update(Event)
        .where(Event.id == event.id)
        .values(status="cancelled", seats_taken=0)
        .execution_options(synchronize_session=False)
    )
    if ids:
        await session.execute(
            update(Booking)
            .where(Booking.id.in_(ids), Booking.status.in_(seats.LIVE))
            .values(status="cancelled", offer_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    await reminders.withdraw(session, ids)
    event = await seats.reload_event(session, event.id)
    seats.touch(event)
    for booking, person in entries:
        was = booking.status
        await session.refresh(booking)
        seats.touch(booking)
        await reminders.notify(
            session,
            reminders.EVENT_CANCELLED,
            booking,
            person,
            now,
            key_suffix="cancelled",
            payload={"was": was},
        )
    _audit(session, "event.cancel", event, actor, None, count=len(entries))
    return len(entries)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _audit(
    session: AsyncSession,
    action: str,
    event: Event,
    actor: Person | None,
    detail: dict[str, Any] | None,
    *,
    count: int | None = None,
) -> None:
    people_repo.add_audit(
        session,
        action,
        actor=actor,
        target=f"event:{event.id}",
        count=count,
        detail={**(detail or {}), "via": "telegram" if actor else "cli"},
    )
