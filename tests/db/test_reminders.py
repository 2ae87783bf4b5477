"""Reminder rows: written, moved and withdrawn with the booking; rendered at send time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.delivery import Rendered, Skip
from bot.i18n import create_i18n
from bot.renderers import renderers
from bot.services import booking as seats
from bot.services import events, reminders
from db.models import Outbox, Person
from tests.db.test_booking import NOW, PROGRAMME, applicant, meeting, outbox_rows, tx


class Clock:
    def __init__(self, now=NOW) -> None:
        self.now = now

    def __call__(self):
        return self.now


async def render(session, row: Outbox, clock: Clock) -> Rendered | Skip:
    """What the sender would do with this row now: render in the recipient's language."""
    person = await session.get(Person, row.person_id)
    i18n = create_i18n()
    with i18n.context(), i18n.use_locale(person.language):
        return await renderers(PROGRAMME, clock)[row.kind](session, [row], person)


async def test_offsets_come_from_the_programme(session) -> None:
    programme = PROGRAMME.model_copy(
        update={"reminder_offsets": (timedelta(days=2), timedelta(minutes=30))}
    )
    async with tx(session):
        event = await meeting(session)
        anna = await applicant(session, 1)
        seat = await seats.choose(session, programme, anna, event.id, NOW)
    rows = await outbox_rows(session, reminders.REMINDER)
    assert [r.due_at for r in rows] == [event.starts_at - timedelta(days=2),
                                        event.starts_at - timedelta(minutes=30)]
    assert {r.priority for r in rows} == {0} and {r.booking_id for r in rows} == {seat.booking.id}
    assert rows[1].idempotency_key.endswith(":30m:20260408T0800Z")


async def test_a_reminder_whose_moment_has_passed_is_not_queued(session) -> None:
    async with tx(session):
        event = await meeting(session, starts_at=NOW + timedelta(hours=5))
        anna = await applicant(session, 1)
        await seats.choose(session, PROGRAMME, anna, event.id, NOW)
    rows = await outbox_rows(session, reminders.REMINDER)
    assert [r.due_at for r in rows] == [event.starts_at - timedelta(hours=1)]


async def test_moving_an_event_replaces_reminders_and_tells_everyone(session) -> None:
    async with tx(session):
        event = await meeting(session, capacity=1)
        anna, bogdan = await applicant(session, 1), await applicant(session, 2, language="uk")
        seat = await seats.choose(session, PROGRAMME, anna, event.id, NOW)
        await seats.join_waitlist(session, PROGRAMME, bogdan, event.id, NOW)
    old = event.starts_at
    new = old + timedelta(days=2, hours=3)
    async with tx(session):
        assert await events.move(session, PROGRAMME, event, new, NOW) == 2
    rows = await outbox_rows(session, reminders.REMINDER)
    assert [(r.status, r.due_at) for r in rows] == [
        ("cancelled", old - timedelta(hours=24)),
        ("cancelled", old - timedelta(hours=1)),
        ("pending", new - timedelta(hours=24)),
        ("pending", new - timedelta(hours=1)),
    ]
    assert all(r.booking_id == seat.booking.id for r in rows)
    notices = await outbox_rows(session, reminders.EVENT_MOVED)
    assert sorted(n.chat_id for n in notices) == [1, 2]
    assert {n.payload["starts_at"] for n in notices} == {new.isoformat()}

    async with tx(session):  # and back again: the first rows return, no new ones
        await events.move(session, PROGRAMME, event, old, NOW)
    rows = await outbox_rows(session, reminders.REMINDER)
    assert [r.status for r in rows] == ["pending", "pending", "cancelled", "cancelled"]
    assert len(await outbox_rows(session, reminders.EVENT_MOVED)) == 4


async def test_a_sent_reminder_is_never_queued_again(session) -> None:
    async with tx(session):
        early = await meeting(session)
        late = await meeting(session, starts_at=NOW + timedelta(days=9))
        anna = await applicant(session, 1)
        await seats.choose(session, PROGRAMME, anna, early.id, NOW)
        await session.execute(
            update(Outbox).where(Outbox.idempotency_key.like("%:1440m:%")).values(status="sent")
        )
    async with tx(session):
        await seats.choose(session, PROGRAMME, anna, late.id, NOW)
        await seats.choose(session, PROGRAMME, anna, early.id, NOW)
    rows = await outbox_rows(session, reminders.REMINDER)
    early_rows = [r.status for r in rows if r.due_at < early.starts_at]
    assert early_rows == ["sent", "pending"]


async def test_cancelling_withdraws_rows_being_sent_too(session) -> None:
    async with tx(session):
        event = await meeting(session)
        anna = await applicant(session, 1)
        seat = await seats.choose(session, PROGRAMME, anna, event.id, NOW)
        await session.execute(
            update(Outbox).values(status="sending", lease_until=NOW + timedelta(seconds=60))
        )
    async with tx(session):
        await seats.cancel(session, PROGRAMME, anna, seat.booking.id, NOW)
    rows = await outbox_rows(session, reminders.REMINDER)
    # A sender that dies mid-send does not resend them when its lease runs out.
    assert {(r.status, r.lease_until) for r in rows} == {("cancelled", None)}


async def test_rendered_at_send_time_in_the_recipients_language_and_zone(session) -> None:
    async with tx(session):
        event = await meeting(session)
        anna = await applicant(session, 1)
        olena = await applicant(session, 2, language="uk")
        for person in (anna, olena):
            await seats.choose(session, PROGRAMME, person, event.id, NOW)
    async with tx(session):  # staff fix the link after the booking: the reminder shows the new
        await events.edit(session, PROGRAMME, event, {"join_link": "https://meet.example.org/2"},
                          NOW)
    rows = await outbox_rows(session, reminders.REMINDER)
    clock = Clock(event.starts_at - timedelta(hours=24))
    polish = await render(session, rows[0], clock)
    ukrainian = await render(session, rows[2], clock)
    assert isinstance(polish, Rendered) and isinstance(ukrainian, Rendered)
    assert "Przypomnienie" in polish.text and "za 24 godziny" in polish.text
    assert "środa, 8 kwietnia 2026, godz. 10:00" in polish.text
    assert "meet.example.org/2" in polish.text
    assert "середа, 8 квітня 2026, 11:00 за київським часом" in ukrainian.text

    clock.now = event.starts_at - timedelta(minutes=2)  # found late, still before the start
    late = await render(session, rows[0], clock)
    assert isinstance(late, Rendered) and "za 2 minuty" in late.text
    clock.now = event.starts_at + timedelta(seconds=1)
    assert await render(session, rows[0], clock) == Skip("expired", "the event has started")


async def test_a_reminder_for_a_booking_that_ended_is_skipped(session) -> None:
    async with tx(session):
        event = await meeting(session)
        anna = await applicant(session, 1)
        seat = await seats.choose(session, PROGRAMME, anna, event.id, NOW)
    rows = await outbox_rows(session, reminders.REMINDER)
    async with tx(session):
        await seats.cancel(session, PROGRAMME, anna, seat.booking.id, NOW)
    skipped = await render(session, rows[0], Clock())
    assert isinstance(skipped, Skip) and skipped.status == "cancelled"


async def test_announcement_reaches_eligible_people_without_a_date(session) -> None:
    async with tx(session):
        first = await meeting(session)
        booked = await applicant(session, 1)
        await seats.choose(session, PROGRAMME, booked, first.id, NOW)
        waiting = await applicant(session, 2)
        await applicant(session, 3, status="ineligible")
        await applicant(session, 4, audience="intern")
        second = await meeting(session, starts_at=NOW + timedelta(days=8))
    notices = (await session.scalars(
        select(Outbox).where(Outbox.kind == events.EVENT_PUBLISHED).order_by(Outbox.id)
    )).all()
    assert [n.chat_id for n in notices] == [waiting.telegram_id]
    assert notices[0].payload == {"event_id": second.id}
