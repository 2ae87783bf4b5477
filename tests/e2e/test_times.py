"""Time in the reader's zone, labelled (issue 17, item 8): interns read Kyiv time and hosts
Warsaw time whatever language they pick; a deadline always says its zone; staff see an event at
the same time in /stats and /events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.i18n import format_datetime
from bot.services import events
from db.models import Application, Person
from tests.e2e.conftest import STAFF_ID, onboard
from tests.e2e.test_intern_journey import new_invite
from tests.e2e.test_meetings import APRIL, TITLES, eligible
from tests.e2e.test_staff import ready
from tests.fakes.user import FakeUser

WEDNESDAY = APRIL + timedelta(days=7)  # 8 April 2026, 10:00 in Warsaw, 11:00 in Kyiv


async def add_event(app, audience: str, starts_at: datetime = WEDNESDAY) -> None:
    draft = events.EventDraft(title=TITLES, starts_at=starts_at, capacity=5, audience=audience,
                              join_link="https://meet.example.org/win4ua")
    async with app.sessionmaker() as session, session.begin():
        await events.create(session, app.programme, draft, starts_at - timedelta(days=7))


async def test_an_intern_reading_polish_sees_kyiv_time_labelled(bot, user_factory) -> None:
    # Today: the demo programme is open around the real date only.
    starts_at = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    starts_at += timedelta(days=10)
    await add_event(bot, "intern", starts_at)
    app = bot
    code = await new_invite(app, language="pl")
    user = user_factory(language_code="pl")
    await user.start(code)
    await user.press(0)  # the notice, in Polish: the questionnaire begins
    async with app.sessionmaker() as session, session.begin():
        person = await session.scalar(select(Person).where(Person.telegram_id == user.user_id))
        assert person is not None and person.language == "pl"
        assert person.time_zone == "Europe/Kyiv"
        await session.execute(update(Application).where(Application.person_id == person.id)
                              .values(status="eligible", submitted_at=APRIL))
    await user.send("/meetings")
    text = user.last_message().text
    kyiv = format_datetime(starts_at, "pl", "Europe/Kyiv")
    assert f"{kyiv} (czas kijowski)" in text
    assert format_datetime(starts_at, "pl", "Europe/Warsaw") not in text


async def test_a_host_reading_ukrainian_sees_warsaw_time(start_bot, user_factory, clock) -> None:
    clock.now = APRIL
    app = await start_bot()
    await add_event(app, "municipality")
    user = user_factory(language_code="uk")
    await eligible(app, user, "uk")
    await user.send("/meetings")
    text = user.last_message().text
    assert "середа, 8 квітня 2026, 10:00 —" in text and "11:00" not in text
    await user.press(0)
    card = next(m.text for m in user.messages() if "meet.example.org" in m.text)
    # the booking's own deadline carries its zone even in the reader's own zone
    assert "8 квітня 2026, 08:00 за варшавським часом" in card


async def test_the_call_deadline_is_said_in_warsaw_time_to_everyone(start_bot, user_factory,
                                                                    clock) -> None:
    clock.now = datetime(2026, 7, 2, 9, 0, tzinfo=UTC)  # the call closed on 30 June
    await start_bot("win4ua-2026.toml")
    polish, ukrainian = user_factory(language_code="pl"), user_factory(language_code="uk")
    await onboard(polish, "Polski")
    await onboard(ukrainian, "Українська")
    assert "30 czerwca 2026, godz. 23:59 (czas warszawski)" in polish.last_message().text
    # not "1 липня 2026, 00:59": the moment in Kyiv time reads as another day
    assert "30 червня 2026, 23:59 за варшавським часом" in ukrainian.last_message().text


async def test_stats_and_events_show_an_event_at_the_same_time(start_bot, tg, clock) -> None:
    clock.now = APRIL
    app = await start_bot()
    await add_event(app, "municipality")
    staff = FakeUser(tg, STAFF_ID, language_code="uk")
    await ready(app, staff, language="uk")
    await staff.send("/stats")
    stats = staff.last_message().text
    await staff.send("/events")
    listing = staff.last_message().text
    assert "8 квіт., 10:00" in stats and "8 квіт. 2026, 10:00" in listing
    assert "11:00" not in stats and "11:00" not in listing
