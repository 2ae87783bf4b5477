"""Meetings over the fake Bot API: choosing a date, the calendar file, changing and cancelling,
the waitlist, reminders (moved events, restarts, late sends) and the staff commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar
from sqlalchemy import func, select

from bot.app import App
from bot.delivery import Sender
from bot.renderers import BATCHED_KINDS, renderers
from bot.services import booking as seats
from bot.services import events, people
from db.models import Application, AuditLog, Booking, Event, Outbox, Person
from tests.e2e.conftest import STAFF_ID, FakeClock
from tests.e2e.test_host_journey import answer_rest, application_of, begin_as_host, pick_gmina
from tests.fakes.user import FakeUser

APRIL = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)  # a Wednesday a week later: 8 April 2026
TITLES = {"pl": "Spotkanie informacyjne WIN4UA", "uk": "Інформаційна зустріч WIN4UA",
          "en": "WIN4UA information meeting"}


def sender_for(app: App, clock: FakeClock) -> Sender:
    return Sender(app.bot, app.sessionmaker, app.i18n, renderers(app.programme, clock),
                  batched_kinds=BATCHED_KINDS, clock=clock)


async def add_event(app: App, starts_at: datetime, *, capacity: int | None = 3,
                    now: datetime | None = None, kind: str = "info_meeting",
                    titles: dict[str, str] = TITLES) -> int:
    draft = events.EventDraft(title=titles, starts_at=starts_at, capacity=capacity, kind=kind,
                              join_link="https://meet.example.org/win4ua?x=1&y=2")
    async with app.sessionmaker() as session, session.begin():
        return (await events.create(session, app.programme, draft, now or APRIL)).id


async def eligible(app: App, user: FakeUser, language: str = "pl",
                   audience: str | None = "municipality") -> None:
    """Someone who has read the notice and sent an eligible application (audience None: no
    application, e.g. staff)."""
    async with app.sessionmaker() as session, session.begin():
        person = await people.on_contact(session, user.user_id)
        people.set_language(person, language)
        people.record_consent(person, people.PRIVACY_NOTICE_VERSION)
        if audience is not None:
            people.join_audience(person, app.programme, audience)
            session.add(Application(person_id=person.id, programme_id=app.programme.id,
                                    audience=audience, status="eligible", answers={},
                                    submitted_at=APRIL))


async def staff_member(app: App, user_factory) -> FakeUser:
    staff = user_factory("pl")
    staff.user_id = STAFF_ID  # made staff by STAFF_IDS when the bot started
    await eligible(app, staff, audience=None)
    return staff


async def booking_of(app: App, user: FakeUser) -> Booking | None:
    async with app.sessionmaker() as session:
        return await session.scalar(
            select(Booking).join(Person, Person.id == Booking.person_id)
            .where(Person.telegram_id == user.user_id).order_by(Booking.id.desc()).limit(1)
        )


def ics_of(message) -> tuple[Calendar, object]:
    calendar = Calendar.from_ical(message.file.content)
    return calendar, calendar.walk("VEVENT")[0]


async def test_eligible_host_chooses_a_date_gets_a_calendar_file_changes_and_cancels(
    bot, user_factory, tg, clock
) -> None:
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    first = await add_event(bot, soon, now=datetime.now(UTC))
    second = await add_event(bot, soon + timedelta(days=2), now=datetime.now(UTC))
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Hel", "Hel")
    await answer_rest(user, "pl")
    await user.press("Wyślij zgłoszenie")
    verdict, dates = user.messages()[-2:]
    assert "spełnia ono kryteria" in verdict.text
    assert "Proszę wybrać termin" in dates.text and "zostały 3 miejsca" in dates.text
    assert len(dates.buttons) == 2

    await user.press(0)
    card = next(m for m in user.messages() if "Mają Państwo rezerwację" in m.text)
    assert "meet.example.org" in card.text and card.message_id == dates.message_id  # edited
    calendar, entry = ics_of(user.documents()[-1])
    booking = await booking_of(bot, user)
    assert booking.status == "active" and booking.event_id == first
    assert str(entry["uid"]) == f"booking-{booking.id}@win4ua-bot"
    assert entry.decoded("dtstart") == soon and str(entry["dtstart"].params["TZID"]) == (
        "Europe/Warsaw")
    assert calendar.walk("VTIMEZONE")  # the zone travels with the file
    sequence = int(entry["sequence"])

    await user.send("/meetings")
    await user.press("Zmień termin")
    await user.press(0)  # the only other date
    assert "Termin został zmieniony" in user.messages()[-2].text
    _calendar, moved = ics_of(user.documents()[-1])
    assert str(moved["uid"]) == str(entry["uid"]) and int(moved["sequence"]) > sequence
    assert (await booking_of(bot, user)).event_id == second

    await user.send("/meetings")
    await user.press("Odwołaj rezerwację")
    await user.press("Tak, odwołaj")
    assert "Rezerwacja została odwołana" in user.last_message().text
    async with bot.sessionmaker() as session:
        taken = (await session.scalars(select(Event.seats_taken).order_by(Event.id))).all()
        pending = await session.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.kind == "reminder", Outbox.status == "pending"))
    assert taken == [0, 0] and pending == 0


async def test_eligible_submission_without_dates_promises_them(bot, user_factory) -> None:
    user = user_factory(language_code="uk")
    await begin_as_host(user, "uk")
    await pick_gmina(user, "Hel", "Hel")
    await answer_rest(user, "uk")
    await user.press("Надіслати заявку")
    assert "напишемо" in user.last_message().text  # the verdict's promise, nothing more
    assert (await application_of(bot, user)).status == "eligible"
    await user.send("/meetings")
    assert "Наразі немає дат" in user.last_message().text


async def test_dates_in_the_readers_language_zone_and_plural(start_bot, user_factory,
                                                              clock) -> None:
    clock.now = APRIL
    app = await start_bot()
    wednesday = APRIL + timedelta(days=7)  # 10:00 in Warsaw, 11:00 in Kyiv
    for capacity, days in ((3, 0), (5, 1), (22, 2), (1, 3)):
        await add_event(app, wednesday + timedelta(days=days), capacity=capacity)
    polish, ukrainian = user_factory("pl"), user_factory("uk")
    await eligible(app, polish, "pl")
    await eligible(app, ukrainian, "uk")
    await polish.send("/meetings")
    text = polish.last_message().text
    assert "środa, 8 kwietnia 2026, godz. 10:00 — zostały 3 miejsca" in text
    assert "zostało 5 miejsc" in text and "zostały 22 miejsca" in text
    assert "zostało 1 miejsce" in text and "(czas" not in text
    await ukrainian.send("/meetings")
    text = ukrainian.last_message().text
    # A host reading Ukrainian lives by Warsaw time all the same (interns: tests/e2e/test_times)
    assert "середа, 8 квітня 2026, 10:00 — залишилося 3 місця" in text and "часом" not in text
    assert "залишилося 5 місць" in text and "залишилося 1 місце" in text
    assert "залишилося 22 місця" in text


async def test_full_date_waitlist_offer_and_taking_the_seat(start_bot, user_factory, tg,
                                                             clock) -> None:
    clock.now = APRIL
    app = await start_bot()
    event_id = await add_event(app, APRIL + timedelta(days=7), capacity=1)
    anna, bogdan = user_factory("pl"), user_factory("pl")
    for user in (anna, bogdan):
        await eligible(app, user)
        await user.send("/meetings")
    await anna.press("8 kwi")
    await bogdan.press("8 kwi")
    assert "nie ma już wolnych miejsc" in bogdan.last_message().text
    await bogdan.press("listę rezerwową")
    assert "Pozycja na liście rezerwowej: 1" in bogdan.last_message().text

    await anna.send("/meetings")
    await anna.press("Odwołaj rezerwację")
    await anna.press("Tak, odwołaj")
    sender = sender_for(app, clock)
    await sender.drain()
    offer = bogdan.last_message()
    assert "Zwolniło się miejsce" in offer.text and offer.kind == "text"
    await bogdan.press("Biorę to miejsce")
    assert (await booking_of(app, bogdan)).status == "active"
    assert bogdan.documents()  # the calendar file came with the seat
    async with app.sessionmaker() as session:
        assert (await session.get(Event, event_id)).seats_taken == 1


async def test_an_offer_nobody_takes_passes_on(start_bot, user_factory, clock) -> None:
    clock.now = APRIL
    app = await start_bot()
    await add_event(app, APRIL + timedelta(days=7), capacity=1)
    anna, bogdan, celina = (user_factory("pl") for _ in range(3))
    for user in (anna, bogdan, celina):
        await eligible(app, user)
        await user.send("/meetings")
        await user.press("8 kwi")
        if user is not anna:
            await user.press("listę rezerwową")
    await anna.send("/meetings")
    await anna.press("Odwołaj rezerwację")
    await anna.press("Tak, odwołaj")
    sender = sender_for(app, clock)
    await sender.drain()
    assert "Zwolniło się miejsce" in bogdan.last_message().text

    clock.now = APRIL + seats.OFFER_WINDOW + timedelta(minutes=1)
    async with app.sessionmaker() as session, session.begin():
        assert await seats.expire_offers(session, app.programme, clock()) == 1
    await sender.drain()
    assert "Zwolniło się miejsce" in celina.last_message().text
    await bogdan.press("Biorę to miejsce")  # too late: the seat went on
    assert "nieaktualna" in bogdan.answers()[-1].text
    assert (await booking_of(app, bogdan)).status == "expired"


async def test_reminders_follow_a_moved_event_and_never_come_at_the_old_time(
    start_bot, user_factory, tg, clock
) -> None:
    clock.now = APRIL
    app = await start_bot()
    old = APRIL + timedelta(days=7)
    await add_event(app, old)
    user = user_factory("uk")
    await eligible(app, user, "uk")
    await user.send("/meetings")
    await user.press(0)
    staff = await staff_member(app, user_factory)
    await staff.send("/events")
    await staff.press("#1")
    await staff.press("Przenieś")
    await staff.send("10.04.2026 12:00")
    assert "powiadomimy 1 osobę" in staff.messages()[-1].text

    sender = sender_for(app, clock)
    await sender.drain()
    notice = user.last_message()
    assert notice.kind == "document" and "Дату змінено" in notice.text
    assert "пʼятниця" in notice.text or "п’ятниця" in notice.text
    _calendar, entry = ics_of(notice)
    new = datetime(2026, 4, 10, 10, 0, tzinfo=UTC)
    assert entry.decoded("dtstart") == new

    count = len(user.messages())
    for moment in (old - timedelta(hours=24), old - timedelta(hours=1), old):
        clock.now = moment + timedelta(seconds=1)
        await sender.drain()
    assert len(user.messages()) == count  # nothing at the old times

    clock.now = new - timedelta(hours=24) + timedelta(seconds=1)
    await sender.drain()
    await sender.drain()
    reminder = user.last_message().text
    assert "Нагадування" in reminder and "через 24 години" in reminder
    assert "meet.example.org" in reminder and len(user.messages()) == count + 1


async def test_a_restart_between_due_and_send_loses_nothing(start_bot, user_factory, tg,
                                                           clock) -> None:
    clock.now = APRIL
    app = await start_bot()
    start = APRIL + timedelta(days=2)
    await add_event(app, start)
    user = user_factory("pl")
    await eligible(app, user)
    await user.send("/meetings")
    await user.press(0)
    await start_bot.stop()  # the bot is down when the reminder falls due

    clock.now = start - timedelta(hours=23)  # an hour late, the meeting still ahead
    app = await start_bot()
    sender = sender_for(app, clock)
    await sender.drain()
    await sender.drain()
    reminders = [m for m in user.messages() if "Przypomnienie" in m.text]
    assert len(reminders) == 1 and "za 23 godziny" in reminders[0].text

    clock.now = start + timedelta(minutes=5)  # the 1 h reminder, found after the start
    await sender.drain()
    assert len([m for m in user.messages() if "Przypomnienie" in m.text]) == 1
    async with app.sessionmaker() as session:
        statuses = (await session.scalars(
            select(Outbox.status).where(Outbox.kind == "reminder").order_by(Outbox.due_at)
        )).all()
    assert statuses == ["sent", "expired"]


async def test_staff_commands_are_for_staff_only(bot, user_factory) -> None:
    user = user_factory("pl")
    await eligible(bot, user)
    await user.send("/events")
    assert "Nie znam tego polecenia" in user.last_message().text
    await user.press_data("se:cancel_yes:1")
    assert "nieaktywny" in user.answers()[-1].text


async def test_staff_create_an_event_and_applicants_hear_of_it(start_bot, user_factory,
                                                               clock) -> None:
    clock.now = APRIL
    app = await start_bot()
    applicant = user_factory("pl")
    await eligible(app, applicant)
    await applicant.send("/meetings")
    assert "nie ma terminów" in applicant.last_message().text
    staff = await staff_member(app, user_factory)
    await staff.send("/newevent")
    await staff.press("spotkanie informacyjne")
    await staff.press("samorządy goszczące")
    await staff.send("30.02.2026 10:00")
    assert "8.04.2026 10:00" in staff.last_message().text  # asked again, politely
    await staff.send("15.04.2026 10:00")
    await staff.send("90")
    await staff.send("20")
    await staff.send("https://meet.example.org/april")
    await staff.send("Spotkanie\nЗустріч\nMeeting")
    assert "Proszę sprawdzić" in staff.last_message().text
    await staff.press("Utwórz")
    assert "Utworzono wydarzenie #1" in staff.last_message().text
    async with app.sessionmaker() as session:
        event = await session.get(Event, 1)
        audit = (await session.scalars(select(AuditLog.action))).all()
    assert event.starts_at == datetime(2026, 4, 15, 8, 0, tzinfo=UTC)
    assert event.capacity == 20 and event.duration_minutes == 90 and "event.create" in audit

    clock.now = APRIL + events.ANNOUNCE_DELAY + timedelta(seconds=1)
    await sender_for(app, clock).drain()
    announcement = applicant.last_message()
    assert "Można już zapisywać się" in announcement.text
    assert "zostało 20 miejsc" in announcement.text
    await applicant.press("15 kwi")
    assert (await booking_of(app, applicant)).status == "active"


async def test_staff_mark_attendance_after_the_meeting(start_bot, user_factory, clock) -> None:
    clock.now = APRIL
    app = await start_bot()
    await add_event(app, APRIL + timedelta(days=1))
    user = user_factory("pl")
    await eligible(app, user)
    await user.send("/meetings")
    await user.press(0)
    clock.now = APRIL + timedelta(days=1, hours=1)
    staff = await staff_member(app, user_factory)
    await staff.send("/events")
    await staff.press("#1")
    await staff.press("Uczestnicy")
    await staff.press("✅ 1")
    assert "1. ✅" in staff.last_message().text
    assert (await booking_of(app, user)).attendance == "attended"


async def test_staff_edit_and_cancel_an_event_in_telegram(start_bot, user_factory, tg,
                                                          clock) -> None:
    clock.now = APRIL
    app = await start_bot()
    await add_event(app, APRIL + timedelta(days=7), capacity=1)
    user = user_factory("pl")
    await eligible(app, user)
    await user.send("/meetings")
    await user.press(0)
    staff = await staff_member(app, user_factory)
    await staff.send("/events")
    await staff.press("#1")
    await staff.press("Edytuj")
    await staff.press("liczba miejsc")
    await staff.send("0")  # no limit
    assert "Zapisano" in staff.last_message().text and "∞" in staff.last_message().text
    await staff.press("Odwołaj wydarzenie")
    assert "(1)" in staff.last_message().text
    await staff.press("Tak, odwołaj wydarzenie")
    assert "powiadomimy 1 osobę" in staff.last_message().text

    await sender_for(app, clock).drain()
    notice = user.last_message()
    assert notice.kind == "document" and "Odwołane" in notice.text
    _calendar, entry = ics_of(notice)
    assert str(entry["status"]) == "CANCELLED"
    async with app.sessionmaker() as session:
        actions = (await session.scalars(select(AuditLog.action).order_by(AuditLog.id))).all()
        booked = await session.scalar(select(Booking.status))
    assert actions[-2:] == ["event.edit", "event.cancel"] and booked == "cancelled"


def flat(rows: list[list]) -> list:
    return [item for row in rows for item in row]


async def test_a_meeting_and_a_study_visit_are_held_together(bot, user_factory) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    visit_titles = {"pl": "Wizyta studyjna", "uk": "Навчальний візит", "en": "Study visit"}
    meeting = await add_event(bot, now + timedelta(days=10), now=now)
    await add_event(bot, now + timedelta(days=11), now=now)
    visit = await add_event(bot, now + timedelta(days=20), now=now, kind="study_visit",
                            titles=visit_titles)
    user = user_factory("pl")
    await eligible(bot, user)
    await user.send("/meetings")
    await user.press(0)  # the first information meeting
    assert (await booking_of(bot, user)).event_id == meeting

    # /meetings shows the booking, and the study visit, the only kind not held, to choose.
    await user.send("/meetings")
    card, dates = user.messages()[-2:]
    assert "Mają Państwo rezerwację" in card.text and "Wizyta studyjna" not in card.text
    assert len(flat(dates.buttons)) == 1
    await user.press(0)  # the newest keyboard: the study visit
    async with bot.sessionmaker() as session:
        held = (await session.execute(
            select(Booking.kind, Booking.event_id).join(Person, Person.id == Booking.person_id)
            .where(Person.telegram_id == user.user_id, Booking.status == "active")
            .order_by(Booking.id)
        )).all()
    assert [tuple(row) for row in held] == [("info_meeting", meeting), ("study_visit", visit)]

    # Both cards now, nothing left to choose; changing the meeting offers meetings only.
    await user.send("/meetings")
    cards = user.messages()[-2:]
    assert all("Mają Państwo rezerwację" in m.text for m in cards)
    pairs = zip(flat(cards[0].buttons), flat(cards[0].callback_data), strict=True)
    change = next(data for label, data in pairs if "Zmień termin" in label)
    await user.press_data(change, cards[0].message_id)
    dates = next(m for m in user.messages() if m.message_id == cards[0].message_id)  # edited
    assert "Proszę wybrać nowy termin" in dates.text
    labels = flat(dates.buttons)
    assert len(labels) == 2 and not any("Wizyta" in label for label in labels)  # + "back"
