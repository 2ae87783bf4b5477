"""Seats at events: booking, changing the date, cancelling, and the waitlist.

Capacity is the database's job, not Python's: a seat is taken by one conditional UPDATE
(`seats_taken = seats_taken + 1 … WHERE seats_taken < capacity`), in the same transaction as
the booking row and its reminders, so fifty people pressing at once for the last seats never
make fifty-one. `seats_taken` counts active bookings and open waitlist offers; a check
constraint keeps it within capacity, and a partial unique index allows one active booking per
person per programme. Every change of a booking's status is a conditional UPDATE too, so a
double press or a race with the offer-expiry job changes it once.

A person has at most one live entry per programme: a seat (active), a place in the queue
(waitlisted) or a held seat on offer (offered). Choosing another date replaces it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.programme import Programme
from bot.services import reminders
from db.base import utcnow
from db.models import Application, Booking, Event, Person
from db.repositories import people as people_repo

log = logging.getLogger(__name__)

# How long a freed seat is held for the first person on the waitlist before it passes to the
# next. Twelve hours: long enough to see the message in a working day, short enough that a
# seat freed two days before a meeting can still reach the third person in line. An offer
# never runs past the booking cut-off of the event.
OFFER_WINDOW = timedelta(hours=12)
LIVE = ("active", "waitlisted", "offered")
ATTENDANCE = ("attended", "no_show")


class BookingError(Exception):
    """Why a booking action cannot be done: `code` is one of closed (the event is cancelled,
    over or past its cut-off), full, not_eligible, already, too_late, offer_over, not_started,
    stale (an old or forged button)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Seat:
    """The result of choosing a date: booked (a new seat), moved (the seat changed date),
    waitlisted, or same (the person already holds this date)."""

    status: str
    booking: Booking
    event: Event
    previous: Event | None = None


def closes_at(programme: Programme, event: Event) -> datetime:
    return event.starts_at - programme.booking_cutoff


def is_open(programme: Programme, event: Event, now: datetime) -> bool:
    return event.status == "scheduled" and closes_at(programme, event) > now


def seats_left(event: Event) -> int | None:
    """None when the event has no capacity limit."""
    return None if event.capacity is None else max(0, event.capacity - event.seats_taken)


def touch(row: Booking | Event) -> None:
    """Mark a change people's calendars must pick up: the calendar file's SEQUENCE is read from
    `updated_at` in whole seconds, so it must grow even for two changes within a second."""
    row.updated_at = max(utcnow(), row.updated_at + timedelta(seconds=1))


# ------------------------------------------------------------------------------ reading


async def eligible_audience(
    session: AsyncSession, person: Person, programme: Programme
) -> str | None:
    """The audience of the person's eligible application, or None (no seat for them yet)."""
    return await session.scalar(
        select(Application.audience).where(
            Application.person_id == person.id,
            Application.programme_id == programme.id,
            Application.status == "eligible",
        )
    )


# The statements below are built once: each submission and most meeting screens run them.
_OPEN_EVENTS = (
    select(Event)
    .where(
        Event.programme_id == bindparam("programme_id"),
        Event.status == "scheduled",
        or_(Event.audience == bindparam("audience"), Event.audience == "all"),
        Event.starts_at > bindparam("after"),
    )
    .order_by(Event.starts_at, Event.id)
)
# The person's live bookings in the programme, with their events.
_LIVE = (
    select(Booking, Event)
    .join(Event, Event.id == Booking.event_id)
    .where(
        Booking.person_id == bindparam("person_id"),
        Booking.programme_id == bindparam("programme_id"),
        Booking.status.in_(LIVE),
    )
)
_LIVE_SOONEST_FIRST = _LIVE.order_by(Event.starts_at, Booking.id)
_LIVE_NEWEST = _LIVE.order_by(Booking.id.desc()).limit(1)
_LIVE_NEWEST_OF_KIND = _LIVE_NEWEST.where(Booking.kind == bindparam("kind"))


async def open_events(
    session: AsyncSession, programme: Programme, audience: str, now: datetime
) -> Sequence[Event]:
    """Dates a person of this audience can still book, soonest first (full ones included)."""
    result = await session.scalars(
        _OPEN_EVENTS,
        {
            "programme_id": programme.id,
            "audience": audience,
            "after": now + programme.booking_cutoff,
        },
    )
    return result.all()


async def live_entries(
    session: AsyncSession, person: Person, programme_id: str
) -> list[tuple[Booking, Event]]:
    """The person's live bookings in the programme, at most one per kind of event, soonest
    event first."""
    result = await session.execute(
        _LIVE_SOONEST_FIRST, {"person_id": person.id, "programme_id": programme_id}
    )
    found: dict[str, tuple[Booking, Event]] = {}
    for booking, event in result:
        found.setdefault(booking.kind, (booking, event))
    return list(found.values())


async def live_entry(
    session: AsyncSession, person: Person, programme_id: str, kind: str | None = None
) -> tuple[Booking, Event] | None:
    """The person's live booking for this kind of event (any kind when None)."""
    params = {"person_id": person.id, "programme_id": programme_id}
    if kind is None:
        row = (await session.execute(_LIVE_NEWEST, params)).first()
    else:
        row = (await session.execute(_LIVE_NEWEST_OF_KIND, {**params, "kind": kind})).first()
    return (row[0], row[1]) if row else None


async def load(session: AsyncSession, booking_id: int) -> tuple[Booking, Event] | None:
    row = (
        await session.execute(
            select(Booking, Event)
            .join(Event, Event.id == Booking.event_id)
            .where(Booking.id == booking_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def load_many(
    session: AsyncSession, booking_ids: Iterable[int]
) -> dict[int, tuple[Booking, Event]]:
    """`load` for many bookings in one query (the sender reads a batch of reminders at once)."""
    ids = list(set(booking_ids))
    if not ids:
        return {}
    result = await session.execute(
        select(Booking, Event)
        .join(Event, Event.id == Booking.event_id)
        .where(Booking.id.in_(ids))
        .execution_options(populate_existing=True)
    )
    return {booking.id: (booking, event) for booking, event in result}


async def waitlist_position(session: AsyncSession, booking: Booking) -> int:
    ahead = await session.scalars(
        select(Booking.id).where(
            Booking.event_id == booking.event_id,
            Booking.status == "waitlisted",
            or_(
                Booking.created_at < booking.created_at,
                (Booking.created_at == booking.created_at) & (Booking.id < booking.id),
            ),
        )
    )
    return len(ahead.all()) + 1


async def _own(session: AsyncSession, person: Person, booking_id: int) -> tuple[Booking, Event]:
    found = await load(session, booking_id)
    if found is None or found[0].person_id != person.id:
        raise BookingError("stale")
    return found


async def reload_event(session: AsyncSession, event_id: int, *, lock: bool = False) -> Event:
    statement = select(Event).where(Event.id == event_id)
    if lock:  # PostgreSQL: serialise seat hand-overs of one event; SQLite is serial anyway
        statement = statement.with_for_update()
    event = await session.scalar(statement.execution_options(populate_existing=True))
    assert event is not None
    return event


async def lock_events(session: AsyncSession, *event_ids: int) -> None:
    """Lock these events' rows (PostgreSQL), lowest id first, before any booking of them.

    The order of locks is the whole of deadlock freedom here: the event row first, always,
    and several events in id order. Changing a booking twice in one transaction (its status,
    then `touch`) makes PostgreSQL check the booking's foreign key again, which takes a KEY
    SHARE lock on its event; two cancels that each held that lock and then asked for the
    event FOR UPDATE (to pass the seat on) waited for each other: a deadlock, nine of ten
    cancels failed. With the event locked first, the second cancel waits at the start.
    """
    for event_id in sorted(set(event_ids)):
        await reload_event(session, event_id, lock=True)


async def _refresh(session: AsyncSession, booking: Booking) -> None:
    await session.refresh(booking)


# ------------------------------------------------------------------------------ seats


async def _take_seat(
    session: AsyncSession, programme: Programme, event_id: int, now: datetime
) -> bool:
    result = await session.execute(
        update(Event)
        .where(
            Event.id == event_id,
            Event.programme_id == programme.id,
            Event.status == "scheduled",
            Event.starts_at > now + programme.booking_cutoff,
            or_(Event.capacity.is_(None), Event.seats_taken < Event.capacity),
        )
        .values(seats_taken=Event.seats_taken + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _why_not(
    session: AsyncSession, programme: Programme, event_id: int, now: datetime
) -> BookingError:
    event = await reload_event(session, event_id)
    if is_open(programme, event, now) and seats_left(event) == 0:
        log.info("booking: event %s is full (the last seat went to another press)", event_id)
        return BookingError("full", event_id=event_id)
    return BookingError("closed")


async def _transition(
    session: AsyncSession, booking: Booking, expected: str, **values: Any
) -> bool:
    """Change a booking only if it is still in the `expected` status (one press wins)."""
    result = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await _refresh(session, booking)
    return True


async def _pass_seat(
    session: AsyncSession, programme: Programme, event_id: int, now: datetime
) -> Booking | None:
    """A seat of this event was freed: offer it to the first in line, or give it back."""
    event = await reload_event(session, event_id, lock=True)
    if is_open(programme, event, now):
        expires = min(now + OFFER_WINDOW, closes_at(programme, event))
        queue = await session.scalars(
            select(Booking)
            .where(Booking.event_id == event_id, Booking.status == "waitlisted")
            .order_by(Booking.created_at, Booking.id)
            .limit(20)
        )
        for candidate in queue.all():
            if await _transition(
                session, candidate, "waitlisted", status="offered", offer_expires_at=expires
            ):
                person = await session.get(Person, candidate.person_id)
                assert person is not None
                await reminders.notify(
                    session, reminders.WAITLIST_OFFER, candidate, person, now, key_suffix="offer"
                )
                return candidate
    await session.execute(
        update(Event)
        .where(Event.id == event_id, Event.seats_taken > 0)
        .values(seats_taken=Event.seats_taken - 1)
        .execution_options(synchronize_session=False)
    )
    return None


async def fill_from_waitlist(
    session: AsyncSession, programme: Programme, event: Event, now: datetime
) -> int:
    """Offer seats that are free (capacity was raised) to the people waiting for them."""
    offered = 0
    while await session.scalar(
        select(Booking.id)
        .where(Booking.event_id == event.id, Booking.status == "waitlisted")
        .limit(1)
    ):
        if not await _take_seat(session, programme, event.id, now):
            break
        if await _pass_seat(session, programme, event.id, now) is None:
            break
        offered += 1
    return offered


# ------------------------------------------------------------------------------ actions


async def choose(
    session: AsyncSession, programme: Programme, person: Person, event_id: int, now: datetime
) -> Seat:
    """Book this date, or move the person's seat (or queue entry) to it."""
    audience = await eligible_audience(session, person, programme)
    if audience is None:
        raise BookingError("not_eligible")
    event = await session.get(Event, event_id)
    allowed = (audience, "all")
    if event is None or event.programme_id != programme.id or event.audience not in allowed:
        raise BookingError("closed")
    current = await live_entry(session, person, programme.id, event.kind)
    if current is not None and current[1].id == event_id:
        return Seat("same", *current)
    if current is not None and current[0].status == "active":
        if closes_at(programme, current[1]) <= now:
            raise BookingError("too_late")
        return await _move(session, programme, person, current[0], current[1], event_id, now)
    if current is not None:  # its seat (an offer) may pass on: both events, in order
        await lock_events(session, event_id, current[1].id)
    try:
        async with session.begin_nested():
            if not await _take_seat(session, programme, event_id, now):
                raise await _why_not(session, programme, event_id, now)
            if current is not None:  # a queue entry or an offer elsewhere gives way
                await _end(session, programme, current[0], now)
            booking = Booking(
                event_id=event_id,
                person_id=person.id,
                programme_id=programme.id,
                kind=event.kind,
                status="active",
                created_at=now,
            )
            session.add(booking)
            await session.flush()
    except IntegrityError:  # another press of the person's (another instance) booked first
        log.info("booking: event %s: a concurrent press of the same person booked first",
                 event_id)
        raise BookingError("already") from None
    event = await reload_event(session, event_id)
    await reminders.schedule(session, booking, event, person, programme.reminder_offsets, now)
    return Seat("booked", booking, event)


async def _move(
    session: AsyncSession,
    programme: Programme,
    person: Person,
    booking: Booking,
    old: Event,
    event_id: int,
    now: datetime,
) -> Seat:
    # Both events in id order, so two people swapping dates cannot deadlock.
    await lock_events(session, old.id, event_id)
    async with session.begin_nested():
        if not await _take_seat(session, programme, event_id, now):
            raise await _why_not(session, programme, event_id, now)
        if not await _transition(session, booking, "active", event_id=event_id):
            raise BookingError("stale")
    touch(booking)
    await reminders.withdraw(session, [booking.id])
    await _pass_seat(session, programme, old.id, now)
    event = await reload_event(session, event_id)
    await reminders.schedule(session, booking, event, person, programme.reminder_offsets, now)
    return Seat("moved", booking, event, previous=old)


async def join_waitlist(
    session: AsyncSession, programme: Programme, person: Person, event_id: int, now: datetime
) -> Seat:
    """Queue for a full date; a seat that freed meanwhile is booked straight away."""
    if await eligible_audience(session, person, programme) is None:
        raise BookingError("not_eligible")
    target = await session.get(Event, event_id)
    if target is None or target.programme_id != programme.id:
        raise BookingError("closed")
    current = await live_entry(session, person, programme.id, target.kind)
    if current is not None:
        if current[1].id == event_id:
            return Seat("same", *current)
        if current[0].status == "active":
            raise BookingError("already")  # keep the seat; cancel it first to queue elsewhere
    await lock_events(session, event_id, *([current[1].id] if current is not None else []))
    # Read again under the lock: the same press through another instance (a double tap) may
    # have queued the person meanwhile.
    current = await live_entry(session, person, programme.id, target.kind)
    if current is not None:
        if current[1].id == event_id:
            log.info("booking: event %s already holds this entry (a press raced)", event_id)
            return Seat("same", *current)
        if current[0].status == "active":
            raise BookingError("already")
    event = await reload_event(session, event_id)
    if event.programme_id != programme.id or not is_open(programme, event, now):
        raise BookingError("closed")
    if seats_left(event) != 0:
        return await choose(session, programme, person, event_id, now)
    booking = Booking(
        event_id=event_id,
        person_id=person.id,
        programme_id=programme.id,
        kind=event.kind,
        status="waitlisted",
        created_at=now,
    )
    try:
        async with session.begin_nested():
            if current is not None:
                await _end(session, programme, current[0], now)
            session.add(booking)
            await session.flush()
    except IntegrityError:
        log.info("booking: event %s: a concurrent press queued first", event_id)
        raise BookingError("already") from None
    return Seat("waitlisted", booking, event)


async def _end(
    session: AsyncSession, programme: Programme, booking: Booking, now: datetime
) -> None:
    """Cancel a live entry; a seat it held goes to the next in line."""
    held = booking.status in ("active", "offered")
    if not await _transition(
        session, booking, booking.status, status="cancelled", offer_expires_at=None
    ):
        log.info("booking %s changed meanwhile (another press or the expiry job)", booking.id)
        raise BookingError("stale")
    touch(booking)
    await reminders.withdraw(session, [booking.id])
    if held:
        await _pass_seat(session, programme, booking.event_id, now)


async def cancel(
    session: AsyncSession, programme: Programme, person: Person, booking_id: int, now: datetime
) -> tuple[Booking, Event]:
    """Give up a seat, leave the queue, or decline an offer."""
    booking, event = await _own(session, person, booking_id)
    await lock_events(session, event.id)
    booking, event = await _own(session, person, booking_id)  # as it is now that it is ours
    if booking.status not in LIVE:
        log.info("booking %s was ended meanwhile (a second press, or the expiry job)", booking.id)
        raise BookingError("stale")
    if booking.status == "active" and closes_at(programme, event) <= now:
        raise BookingError("too_late")
    await _end(session, programme, booking, now)
    return booking, event


async def accept_offer(
    session: AsyncSession, programme: Programme, person: Person, booking_id: int, now: datetime
) -> Seat:
    booking, event = await _own(session, person, booking_id)
    await lock_events(session, event.id)
    booking, event = await _own(session, person, booking_id)
    if booking.status == "active":
        return Seat("same", booking, event)
    if booking.status != "offered":
        raise BookingError("offer_over")
    if booking.offer_expires_at is None or booking.offer_expires_at <= now:
        raise BookingError("offer_over")
    try:
        async with session.begin_nested():
            if not await _transition(
                session, booking, "offered", status="active", offer_expires_at=None
            ):
                raise BookingError("offer_over")
    except IntegrityError:
        raise BookingError("already") from None
    touch(booking)
    await reminders.withdraw(session, [booking.id], kinds=(reminders.WAITLIST_OFFER,))
    await reminders.schedule(session, booking, event, person, programme.reminder_offsets, now)
    return Seat("booked", booking, event)


async def expire_offers(session: AsyncSession, programme: Programme, now: datetime) -> int:
    """Offers nobody took in time pass to the next in line (a scheduler job runs this)."""
    lapsed = await session.scalars(
        select(Booking)
        .where(
            Booking.programme_id == programme.id,
            Booking.status == "offered",
            Booking.offer_expires_at <= now,
        )
        .order_by(Booking.offer_expires_at, Booking.id)
        .limit(200)
    )
    expired = 0
    for booking in sorted(lapsed.all(), key=lambda b: (b.event_id, b.id)):
        await lock_events(session, booking.event_id)
        if await _transition(session, booking, "offered", status="expired", offer_expires_at=None):
            await reminders.withdraw(session, [booking.id])
            await _pass_seat(session, programme, booking.event_id, now)
            expired += 1
    return expired


async def mark_attendance(
    session: AsyncSession,
    booking_id: int,
    mark: str | None,
    now: datetime,
    *,
    actor: Person | None = None,
    programme_id: str | None = None,
) -> tuple[Booking, Event]:
    """Staff record that a booked person came (attended) or did not (no_show); None clears.
    With `programme_id` (the chat and the dashboard), a booking of another programme is stale."""
    if mark is not None and mark not in ATTENDANCE:
        raise BookingError("stale")
    found = await load(session, booking_id)
    if found is None or found[0].status != "active":
        raise BookingError("stale")
    if programme_id is not None and found[0].programme_id != programme_id:
        raise BookingError("stale")
    booking, event = found
    if event.starts_at > now:
        raise BookingError("not_started")
    previous, booking.attendance = booking.attendance, mark
    people_repo.add_audit(
        session,
        "event.attendance",
        actor=actor,
        target=f"booking:{booking.id}",
        detail={"event_id": event.id, "from": previous, "to": mark},
    )
    return booking, event


async def bookings_of(
    session: AsyncSession, event_id: int, statuses: Sequence[str] = LIVE
) -> Sequence[tuple[Booking, Person]]:
    result = await session.execute(
        select(Booking, Person)
        .join(Person, Person.id == Booking.person_id)
        .where(Booking.event_id == event_id, Booking.status.in_(list(statuses)))
        .order_by(Booking.status, Booking.created_at, Booking.id)
    )
    return [(booking, person) for booking, person in result.all()]


async def counts(session: AsyncSession, event_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Live bookings per event and status: {event_id: {"active": 3, "waitlisted": 1}}."""
    if not event_ids:
        return {}
    rows = await session.execute(
        select(Booking.event_id, Booking.status, func.count())
        .where(Booking.event_id.in_(list(event_ids)), Booking.status.in_(LIVE))
        .group_by(Booking.event_id, Booking.status)
    )
    found: dict[int, dict[str, int]] = {}
    for event_id, status, number in rows.all():
        found.setdefault(event_id, {})[status] = number
    return found


async def attendees(
    session: AsyncSession, event: Event
) -> Sequence[tuple[Booking, Application | None]]:
    """Live bookings of an event with the applications behind them, for staff."""
    result = await session.execute(
        select(Booking, Application)
        .outerjoin(
            Application,
            (Application.person_id == Booking.person_id)
            & (Application.programme_id == Booking.programme_id),
        )
        .where(Booking.event_id == event.id, Booking.status.in_(LIVE))
        .order_by(Booking.status, Booking.created_at, Booking.id)
    )
    return [(booking, application) for booking, application in result.all()]


async def release_all(
    session: AsyncSession, programme: Programme, person: Person, now: datetime
) -> int:
    """For erasure (/delete): end every live entry of the person, cut-off or not; seats they
    held go to the next in line, their reminders are withdrawn. Deleting the person row alone
    would leave their seats counted as taken."""
    live = select(Booking).where(
        Booking.person_id == person.id,
        Booking.programme_id == programme.id,
        Booking.status.in_(LIVE),
    )
    await lock_events(session, *(entry.event_id for entry in await session.scalars(live)))
    # Read again now that the events are locked: an offer may have lapsed meanwhile.
    entries = await session.scalars(live.execution_options(populate_existing=True))
    ended = 0
    for entry in entries.all():
        await _end(session, programme, entry, now)
        ended += 1
    return ended
