"""Seats, the waitlist and event changes against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from bot.programme import PROGRAMMES_DIR, load_programme
from bot.services import booking as seats
from bot.services import events, reminders
from bot.services.booking import BookingError
from db.engine import create_sessionmaker
from db.models import Application, AuditLog, Booking, Event, Outbox, Person

NOW = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
PROGRAMME = load_programme(PROGRAMMES_DIR / "demo.toml")


@asynccontextmanager
async def tx(session) -> AsyncIterator[None]:
    """A transaction, after ending the one a read between two of them began."""
    if session.in_transaction():
        await session.commit()
    async with session.begin():
        yield


async def applicant(
    session, telegram_id: int, *, audience: str = "municipality", language: str = "pl",
    status: str = "eligible",
) -> Person:
    zone = "Europe/Kyiv" if language == "uk" else "Europe/Warsaw"
    person = Person(telegram_id=telegram_id, language=language, time_zone=zone, role="user")
    session.add(person)
    await session.flush()
    session.add(
        Application(
            person_id=person.id, programme_id=PROGRAMME.id, audience=audience, status=status,
            answers={},
        )
    )
    await session.flush()
    return person


async def meeting(
    session, *, starts_at: datetime = NOW + timedelta(days=7), capacity: int | None = 2,
    audience: str = "municipality", now: datetime = NOW, kind: str = "info_meeting",
) -> Event:
    draft = events.EventDraft(
        kind=kind,
        audience=audience,
        title={"pl": "Spotkanie informacyjne", "uk": "Інформаційна зустріч", "en": "Info meeting"},
        starts_at=starts_at,
        capacity=capacity,
        join_link="https://meet.example.org/win4ua",
    )
    return await events.create(session, PROGRAMME, draft, now)


async def outbox_rows(session, kind: str | None = None) -> list[Outbox]:
    statement = select(Outbox).order_by(Outbox.id)
    if kind:
        statement = statement.where(Outbox.kind == kind)
    return list((await session.scalars(statement.execution_options(populate_existing=True))).all())


async def seats_taken(session, event: Event) -> int:
    return await session.scalar(
        select(Event.seats_taken).where(Event.id == event.id).execution_options(
            populate_existing=True
        )
    )


async def test_booking_takes_a_seat_and_queues_reminders_in_one_transaction(session) -> None:
    async with tx(session):
        event = await meeting(session)
        anna = await applicant(session, 1)
    async with tx(session):
        seat = await seats.choose(session, PROGRAMME, anna, event.id, NOW)
        assert seat.status == "booked" and seat.booking.status == "active"
        await session.rollback()  # the booking is undone — and so are its reminders
    await session.refresh(event)
    await session.refresh(anna)
    assert event.seats_taken == 0
    assert await outbox_rows(session, reminders.REMINDER) == []

    async with tx(session):
        seat = await seats.choose(session, PROGRAMME, anna, event.id, NOW)
    assert await seats_taken(session, event) == 1
    rows = await outbox_rows(session, reminders.REMINDER)
    assert [r.due_at for r in rows] == [event.starts_at - timedelta(hours=24),
                                        event.starts_at - timedelta(hours=1)]
    assert all(r.booking_id == seat.booking.id and r.status == "pending" for r in rows)
    assert rows[0].idempotency_key == f"reminder:{seat.booking.id}:1440m:20260408T0800Z"


async def test_full_event_waitlist_and_offer_when_a_seat_frees(session) -> None:
    async with tx(session):
        event = await meeting(session, capacity=1)
        anna, bogdan, celina = [await applicant(session, i) for i in (1, 2, 3)]
        first = await seats.choose(session, PROGRAMME, anna, event.id, NOW)
    async with tx(session):
        with pytest.raises(BookingError) as refused:
            await seats.choose(session, PROGRAMME, bogdan, event.id, NOW)
        assert refused.value.code == "full"
        queued = await seats.join_waitlist(session, PROGRAMME, bogdan, event.id, NOW)
        later = await seats.join_waitlist(
            session, PROGRAMME, celina, event.id, NOW + timedelta(minutes=1)
        )
        assert queued.status == "waitlisted"
        assert await seats.waitlist_position(session, later.booking) == 2

    async with tx(session):
        await seats.cancel(session, PROGRAMME, anna, first.booking.id, NOW + timedelta(hours=1))
    await session.refresh(queued.booking)
    assert queued.booking.status == "offered"
    assert queued.booking.offer_expires_at == NOW + timedelta(hours=1) + seats.OFFER_WINDOW
    assert await seats_taken(session, event) == 1  # the seat is held for the offer
    offers = await outbox_rows(session, reminders.WAITLIST_OFFER)
    assert [o.booking_id for o in offers] == [queued.booking.id]
    assert [r.status for r in await outbox_rows(session, reminders.REMINDER)] == ["cancelled"] * 2

    async with tx(session):  # nobody can take the held seat meanwhile
        dorota = await applicant(session, 4)
        with pytest.raises(BookingError):
            await seats.choose(session, PROGRAMME, dorota, event.id, NOW + timedelta(hours=2))
        taken = await seats.accept_offer(
            session, PROGRAMME, bogdan, queued.booking.id, NOW + timedelta(hours=2)
        )
    assert taken.booking.status == "active" and taken.booking.offer_expires_at is None
    assert await seats_taken(session, event) == 1
    pending = [r for r in await outbox_rows(session, reminders.REMINDER) if r.status == "pending"]
    assert {r.booking_id for r in pending} == {queued.booking.id}


async def test_lapsed_offer_passes_to_the_next_and_then_the_seat_returns(session) -> None:
    async with tx(session):
        event = await meeting(session, capacity=1)
        anna, bogdan, celina = [await applicant(session, i) for i in (1, 2, 3)]
        first = await seats.choose(session, PROGRAMME, anna, event.id, NOW)
        second = await seats.join_waitlist(session, PROGRAMME, bogdan, event.id, NOW)
        third = await seats.join_waitlist(session, PROGRAMME, celina, event.id, NOW)
        await seats.cancel(session, PROGRAMME, anna, first.booking.id, NOW)
    lapse = NOW + seats.OFFER_WINDOW + timedelta(seconds=1)
    async with tx(session):
        assert await seats.expire_offers(session, PROGRAMME, lapse - timedelta(seconds=2)) == 0
        assert await seats.expire_offers(session, PROGRAMME, lapse) == 1
    for row in (second.booking, third.booking):
        await session.refresh(row)
    assert (second.booking.status, third.booking.status) == ("expired", "offered")
    async with tx(session):
        with pytest.raises(BookingError) as late:
            await seats.accept_offer(session, PROGRAMME, bogdan, second.booking.id, lapse)
        assert late.value.code == "offer_over"
    async with tx(session):
        assert await seats.expire_offers(session, PROGRAMME, lapse + seats.OFFER_WINDOW) == 1
    assert await seats_taken(session, event) == 0  # nobody left in line: the seat is free again


async def test_changing_the_date_moves_the_seat_and_the_reminders(session) -> None:
    async with tx(session):
        early = await meeting(session)
        late = await meeting(session, starts_at=NOW + timedelta(days=9))
        anna = await applicant(session, 1)
        seat = await seats.choose(session, PROGRAMME, anna, early.id, NOW)
    async with tx(session):
        moved = await seats.choose(session, PROGRAMME, anna, late.id, NOW)
    assert moved.status == "moved" and moved.booking.id == seat.booking.id  # same calendar UID
    assert (await seats_taken(session, early), await seats_taken(session, late)) == (0, 1)
    rows = await outbox_rows(session, reminders.REMINDER)
    assert [(r.status, r.due_at) for r in rows] == [
        ("cancelled", early.starts_at - timedelta(hours=24)),
        ("cancelled", early.starts_at - timedelta(hours=1)),
        ("pending", late.starts_at - timedelta(hours=24)),
        ("pending", late.starts_at - timedelta(hours=1)),
    ]
    async with tx(session):  # and back: the first reminders come back to life
        await seats.choose(session, PROGRAMME, anna, early.id, NOW)
    rows = await outbox_rows(session, reminders.REMINDER)
    assert [r.status for r in rows] == ["pending", "pending", "cancelled", "cancelled"]


async def test_cutoff_closes_booking_and_changes(session) -> None:
    cutoff = PROGRAMME.booking_cutoff
    async with tx(session):
        soon = await meeting(session, starts_at=NOW + cutoff - timedelta(minutes=1))
        later = await meeting(session, starts_at=NOW + timedelta(days=3))
        anna = await applicant(session, 1)
        assert [e.id for e in await seats.open_events(session, PROGRAMME, "municipality", NOW)] \
            == [later.id]
        with pytest.raises(BookingError) as closed:
            await seats.choose(session, PROGRAMME, anna, soon.id, NOW)
        assert closed.value.code == "closed"
        seat = await seats.choose(session, PROGRAMME, anna, later.id, NOW)
    too_late = later.starts_at - cutoff + timedelta(seconds=1)
    async with tx(session):
        with pytest.raises(BookingError) as refused:
            await seats.cancel(session, PROGRAMME, anna, seat.booking.id, too_late)
        assert refused.value.code == "too_late"


async def test_only_eligible_applicants_of_the_audience_book(session) -> None:
    async with tx(session):
        for_interns = await meeting(session, audience="intern")
        for_hosts = await meeting(session)
        draft = await applicant(session, 1, status="draft")
        host = await applicant(session, 2)
        for person, event, code in ((draft, for_hosts, "not_eligible"), (host, for_interns,
                                                                          "closed")):
            with pytest.raises(BookingError) as refused:
                await seats.choose(session, PROGRAMME, person, event.id, NOW)
            assert refused.value.code == code


async def test_database_enforces_one_seat_per_person_and_capacity(session) -> None:
    async with tx(session):
        first = await meeting(session, capacity=1)
        second = await meeting(session, starts_at=NOW + timedelta(days=8))
        anna = await applicant(session, 1)
        await seats.choose(session, PROGRAMME, anna, first.id, NOW)
    first_id, second_id, anna_id = first.id, second.id, anna.id  # a rollback expires the rows
    with pytest.raises(IntegrityError):  # a second active booking in the same programme
        async with tx(session):
            session.add(Booking(event_id=second_id, person_id=anna_id,
                                programme_id=PROGRAMME.id, status="active"))
            await session.flush()
    with pytest.raises(IntegrityError):  # seats beyond capacity
        async with tx(session):
            await session.execute(update(Event).where(Event.id == first_id).values(seats_taken=2))


async def test_one_active_booking_per_kind_of_event(session) -> None:
    async with tx(session):
        info = await meeting(session)
        other_info = await meeting(session, starts_at=NOW + timedelta(days=8))
        visit = await meeting(session, starts_at=NOW + timedelta(days=9), kind="study_visit")
        other_visit = await meeting(session, starts_at=NOW + timedelta(days=10),
                                    kind="study_visit")
        anna = await applicant(session, 1)
    async with tx(session):
        meeting_seat = await seats.choose(session, PROGRAMME, anna, info.id, NOW)
        visit_seat = await seats.choose(session, PROGRAMME, anna, visit.id, NOW)
    assert (meeting_seat.status, visit_seat.status) == ("booked", "booked")
    assert (meeting_seat.booking.kind, visit_seat.booking.kind) == ("info_meeting", "study_visit")
    # Another date of a kind already held moves that booking; the other kind is untouched.
    async with tx(session):
        moved = await seats.choose(session, PROGRAMME, anna, other_visit.id, NOW)
    assert moved.status == "moved" and moved.booking.id == visit_seat.booking.id
    assert await seats_taken(session, visit) == 0
    entries = await seats.live_entries(session, anna, PROGRAMME.id)
    assert [(b.kind, e.id) for b, e in entries] == [("info_meeting", info.id),
                                                   ("study_visit", other_visit.id)]
    info_id, other_info_id, anna_id = info.id, other_info.id, anna.id
    with pytest.raises(IntegrityError):  # still never two active info meetings
        async with tx(session):
            session.add(Booking(event_id=other_info_id, person_id=anna_id,
                                programme_id=PROGRAMME.id, status="active"))
            await session.flush()
    kinds = (await session.scalars(
        select(Booking.kind).where(Booking.person_id == anna_id, Booking.status == "active")
        .order_by(Booking.event_id)
    )).all()
    assert list(kinds) == ["info_meeting", "study_visit"]
    assert info_id != other_info_id


async def test_changing_an_events_kind_moves_its_bookings_or_is_refused(session) -> None:
    async with tx(session):
        info = await meeting(session)
        visit = await meeting(session, starts_at=NOW + timedelta(days=9), kind="study_visit")
        anna = await applicant(session, 1)
        bogdan = await applicant(session, 2)
        await seats.choose(session, PROGRAMME, anna, info.id, NOW)
        await seats.choose(session, PROGRAMME, anna, visit.id, NOW)
        await seats.choose(session, PROGRAMME, bogdan, visit.id, NOW)
    visit_id = visit.id
    # Anna would hold two info meetings: refused, nothing changes.
    with pytest.raises(events.EventError) as refused:
        async with tx(session):
            await events.edit(session, PROGRAMME, visit, {"kind": "info_meeting"}, NOW)
    assert refused.value.code == "kind_taken"
    kinds = (await session.scalars(select(Booking.kind).where(Booking.event_id == visit_id))).all()
    assert set(kinds) == {"study_visit"}
    async with tx(session):
        visit = await session.get(Event, visit_id)
        await events.edit(session, PROGRAMME, visit, {"kind": "internship"}, NOW)
    kinds = (await session.scalars(
        select(Booking.kind).where(Booking.event_id == visit_id)
        .execution_options(populate_existing=True)
    )).all()
    assert set(kinds) == {"internship"}


async def test_many_people_at_once_never_overbook(engine) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        event = await meeting(session, capacity=5)
        people = [await applicant(session, 100 + i) for i in range(30)]

    async def book(person: Person) -> str:
        async with sessionmaker() as session, session.begin():
            try:
                await seats.choose(session, PROGRAMME, person, event.id, NOW)
            except BookingError as error:
                return error.code
            return "booked"

    outcomes = await asyncio.gather(*(book(p) for p in people))
    assert outcomes.count("booked") == 5 and outcomes.count("full") == 25
    async with sessionmaker() as session:
        assert await seats_taken(session, event) == 5
        active = await session.scalar(
            select(func.count()).select_from(Booking).where(Booking.status == "active")
        )
        assert active == 5


async def test_more_capacity_offers_seats_to_the_waitlist(session) -> None:
    async with tx(session):
        event = await meeting(session, capacity=1)
        people = [await applicant(session, i) for i in (1, 2, 3)]
        await seats.choose(session, PROGRAMME, people[0], event.id, NOW)
        for person in people[1:]:
            await seats.join_waitlist(session, PROGRAMME, person, event.id, NOW)
        with pytest.raises(events.EventError):
            await events.edit(session, PROGRAMME, event, {"capacity": 0}, NOW)
        await events.edit(session, PROGRAMME, event, {"capacity": 2}, NOW)
    statuses = (await session.scalars(select(Booking.status).order_by(Booking.id))).all()
    assert statuses == ["active", "offered", "waitlisted"]
    assert await seats_taken(session, event) == 2


async def test_cancelling_an_event_ends_every_booking_and_tells_everyone(session) -> None:
    async with tx(session):
        event = await meeting(session, capacity=1)
        anna, bogdan = await applicant(session, 1), await applicant(session, 2)
        await seats.choose(session, PROGRAMME, anna, event.id, NOW)
        await seats.join_waitlist(session, PROGRAMME, bogdan, event.id, NOW)
        assert await events.cancel(session, PROGRAMME, event, NOW) == 2
    statuses = (await session.scalars(select(Booking.status))).all()
    assert set(statuses) == {"cancelled"}
    assert await seats_taken(session, event) == 0
    assert {r.status for r in await outbox_rows(session, reminders.REMINDER)} == {"cancelled"}
    notices = await outbox_rows(session, reminders.EVENT_CANCELLED)
    assert sorted(n.chat_id for n in notices) == [1, 2]
    assert {n.payload["was"] for n in notices} == {"active", "waitlisted"}
    audit = (await session.scalars(select(AuditLog.action).order_by(AuditLog.id))).all()
    assert audit == ["event.create", "event.cancel"]


async def test_attendance_is_stored_and_audited(session) -> None:
    async with tx(session):
        event = await meeting(session)
        anna = await applicant(session, 1)
        seat = await seats.choose(session, PROGRAMME, anna, event.id, NOW)
        with pytest.raises(BookingError):  # not before the meeting
            await seats.mark_attendance(session, seat.booking.id, "attended", NOW)
        after = event.starts_at + timedelta(hours=1)
        await seats.mark_attendance(session, seat.booking.id, "no_show", after)
        await seats.mark_attendance(session, seat.booking.id, "attended", after)
    stored = await session.scalar(select(Booking.attendance).where(Booking.id == seat.booking.id))
    assert stored == "attended"
    marks = (await session.scalars(
        select(AuditLog.detail).where(AuditLog.action == "event.attendance")
    )).all()
    assert [m["to"] for m in marks] == ["no_show", "attended"]


async def test_local_times_are_read_in_warsaw_and_stored_in_utc() -> None:
    assert events.parse_local_time("2026-04-08 10:00", "Europe/Warsaw") == datetime(
        2026, 4, 8, 8, 0, tzinfo=UTC
    )
    assert events.parse_local_time("8.12.2026 10:00", "Europe/Warsaw") == datetime(
        2026, 12, 8, 9, 0, tzinfo=UTC
    )
    for wrong, code in (("2026-03-29 02:30", "no_such_time"), ("jutro", "bad_time"),
                        ("2026-02-30 10:00", "bad_time")):
        with pytest.raises(events.EventError) as refused:
            events.parse_local_time(wrong, "Europe/Warsaw")
        assert refused.value.code == code


async def test_seat_counter_matches_bookings(session) -> None:
    """After a mixed sequence, seats_taken equals active bookings plus open offers."""
    async with tx(session):
        event = await meeting(session, capacity=2)
        people = [await applicant(session, i) for i in range(1, 6)]
        a = await seats.choose(session, PROGRAMME, people[0], event.id, NOW)
        await seats.choose(session, PROGRAMME, people[1], event.id, NOW)
        for person in people[2:]:
            await seats.join_waitlist(session, PROGRAMME, person, event.id, NOW)
        await seats.cancel(session, PROGRAMME, people[0], a.booking.id, NOW)
        await seats.expire_offers(session, PROGRAMME, NOW + seats.OFFER_WINDOW * 2)
    held = await session.scalar(
        text("SELECT count(*) FROM booking WHERE status IN ('active', 'offered')")
    )
    assert await seats_taken(session, event) == held == 2


async def test_releasing_everything_before_an_erasure_frees_the_seat(session) -> None:
    async with tx(session):
        event = await meeting(session, capacity=1)
        anna, bogdan = await applicant(session, 1), await applicant(session, 2)
        await seats.choose(session, PROGRAMME, anna, event.id, NOW)
        queued = await seats.join_waitlist(session, PROGRAMME, bogdan, event.id, NOW)
        assert await seats.release_all(session, PROGRAMME, anna, NOW) == 1
    await session.refresh(queued.booking)
    assert queued.booking.status == "offered" and await seats_taken(session, event) == 1
