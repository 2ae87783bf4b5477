"""Rough edges a newcomer meets (issue 17, item 12), over the fake Bot API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from db.models import Match
from tests.e2e.conftest import STAFF_ID, onboard
from tests.e2e.test_host_journey import begin_as_host, pick_gmina
from tests.e2e.test_intern_journey import (
    _eligible_host,
    finish_intern,
    intern_up_to_hromada,
    new_invite,
)
from tests.e2e.test_meetings import APRIL, add_event, eligible
from tests.fakes.user import FakeUser


async def test_no_dates_is_said_without_asking_to_choose_one(bot, user_factory) -> None:
    user = user_factory("pl")
    await eligible(bot, user)
    await user.send("/meetings")
    text = user.last_message().text
    assert "nie ma terminów" in text and "napiszemy" in text.lower()
    assert "Proszę wybrać" not in text  # nothing to choose from


async def test_change_the_date_with_no_other_date(start_bot, user_factory, clock) -> None:
    clock.now = APRIL
    app = await start_bot()
    await add_event(app, APRIL + timedelta(days=7))
    user = user_factory("pl")
    await eligible(app, user)
    await user.send("/meetings")
    await user.press(0)  # the only date
    await user.send("/meetings")
    await user.press("Zmień termin")
    card = user.last_message()
    assert "Nie ma jeszcze innego terminu" in card.text and "/meetings" in card.text
    assert "Proszę wybrać nowy termin" not in card.text
    assert [label for row in card.buttons for label in row] == ["← Wstecz"]


async def test_the_phone_question_mentions_the_share_button_once(bot, user_factory) -> None:
    user = user_factory("pl")
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Hel", "Hel")
    await user.send("Anna Kowalska")
    await user.send("Burmistrz")
    seen = len(user.messages())
    await user.send("anna@hel.pl")
    phone_step = [m.text for m in user.messages()[seen:]]
    assert "numer telefonu" in phone_step[0]
    assert sum("udostępni" in text.lower() for text in phone_step) == 1


async def test_staff_help_lists_the_staff_commands(bot, user_factory, tg) -> None:
    staff = FakeUser(tg, STAFF_ID, language_code="pl")
    await onboard(staff, "Polski")
    await staff.send("/help")
    text = staff.last_message().text
    for command in ("/stats", "/export", "/broadcast", "/events", "/newevent", "/invite",
                    "/match"):
        assert command in text, command
    user = user_factory("pl")
    await onboard(user, "Polski")
    await user.send("/help")
    assert "/stats" not in user.last_message().text and "/start" in user.last_message().text


async def test_match_confirmation_can_be_cancelled(bot, user_factory, tg) -> None:
    host, intern = user_factory(language_code="pl"), user_factory(language_code="uk")
    await _eligible_host(host)
    await intern_up_to_hromada(intern, await new_invite(bot))
    await finish_intern(intern)
    staff = FakeUser(tg, STAFF_ID, language_code="pl")
    await onboard(staff, "Polski")
    await staff.send("/match")
    await staff.press("Олена Коваль")
    await staff.press("Gromadka")
    assert "Potwierdzić przydział?" in staff.last_message().text
    await staff.press("Anuluj")
    back = staff.last_message()
    assert "Gromadka" in str(back.buttons)  # the ranked hosts again
    async with bot.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Match)) == 0
