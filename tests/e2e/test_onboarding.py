"""First contact: /start → language → data notice, in each language, and the manners around it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.services.people import PRIVACY_NOTICE_VERSION
from db.models import Person
from tests.e2e.conftest import onboard

NOTICE_MARKERS = {
    "Polski": ("Administrator", "Prezesa Urzędu Ochrony Danych Osobowych"),
    "Українська": ("Контролер даних", "Prezes UODO"),
    "English": ("Controller", "Personal Data Protection Office"),
}
HOME_MARKERS = {"Polski": "Kogo Państwo", "Українська": "Кого", "English": "Who are you"}


async def _person(app, telegram_id: int) -> Person | None:
    async with app.sessionmaker() as session:
        return await session.scalar(select(Person).where(Person.telegram_id == telegram_id))


async def test_first_greeting_offers_three_languages(bot, user_factory) -> None:
    user = user_factory(language_code="de")
    await user.send("/start")
    message = user.last_message()
    assert "Choose your language" in message.text and "Оберіть мову" in message.text
    assert [row[0] for row in message.buttons] == ["🇵🇱 Polski", "🇺🇦 Українська", "🇬🇧 English"]


@pytest.mark.parametrize(("label", "code"), [("Polski", "pl"), ("Українська", "uk"),
                                             ("English", "en")])
async def test_language_then_notice_then_home(bot, user_factory, label: str, code: str) -> None:
    user = user_factory(language_code=None)
    await user.send("/start")
    await user.press(label)
    notice = user.last_message()
    for marker in NOTICE_MARKERS[label]:
        assert marker in notice.text
    assert len(notice.buttons) == 1
    person = await _person(bot, user.user_id)
    assert person.language == code and person.consent_at is None

    await user.press(0)
    person = await _person(bot, user.user_id)
    assert person.consent_version == PRIVACY_NOTICE_VERSION
    assert person.consent_at is not None
    assert person.time_zone is None  # the audience sets it, not the language (tests/e2e/test_times)
    # the notice keeps its text but loses its button; the home card follows
    assert user.messages()[-2].buttons == []
    assert HOME_MARKERS[label] in user.last_message().text


async def test_nothing_happens_before_the_notice(bot, user_factory) -> None:
    user = user_factory()
    await user.send("/start")
    await user.press("Polski")
    await user.send("Wadowice")
    assert "Zanim zaczniemy" in user.messages()[-2].text
    assert "Administrator" in user.last_message().text


async def test_deep_link_payload_is_kept(bot, user_factory) -> None:
    user = user_factory()
    await user.start("zmp")
    assert (await _person(bot, user.user_id)).start_payload == "zmp"


async def test_language_switch_persists(bot, user_factory) -> None:
    user = user_factory()
    await onboard(user, "Polski")
    await user.send("/language")
    await user.press("Українська")
    assert "Мову змінено на українську." in user.last_message().text
    await user.send("/help")
    assert "Бот WIN4UA" in user.last_message().text
    assert (await _person(bot, user.user_id)).language == "uk"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (lambda u: u.send_sticker(), "tylko tekst"),
        (lambda u: u.send_photo(), "tylko tekst"),
        (lambda u: u.send_voice(), "tylko tekst"),
        (lambda u: u.send_location(52.0, 21.0), "tylko tekst"),
        (lambda u: u.send("/nonsense"), "Nie znam tego polecenia"),
        (lambda u: u.edit_last("zmiana"), "Nie odczytuję zmian"),
    ],
)
async def test_unexpected_input_gets_a_polite_answer(bot, user_factory, action, expected) -> None:
    user = user_factory()
    await onboard(user, "Polski")
    await user.send("/help")
    await action(user)
    assert expected in user.last_message().text


async def test_ten_thousand_characters_do_no_harm(bot, user_factory, tg) -> None:
    user = user_factory()
    await onboard(user, "English")
    await user.send("/help")
    await user.send("ż" * 10_000)
    assert "did not understand" in user.last_message().text
    assert all(call.ok for call in tg.calls("sendMessage", chat_id=user.chat_id))


async def test_groups_and_channels_are_ignored_and_nothing_is_stored(bot, user_factory, tg) -> None:
    user = user_factory()
    await user.group_message("/start", chat_id=-100123)
    await user.channel_post("hello")
    assert tg.calls("sendMessage") == []
    assert await _person(bot, user.user_id) is None
    async with bot.sessionmaker() as session:  # only the staff member from STAFF_IDS
        assert await session.scalar(select(func.count()).select_from(Person)) == 1


async def test_forged_and_stale_buttons_change_nothing(bot, user_factory) -> None:
    user = user_factory()
    await onboard(user, "Polski")
    before = len(user.answers())
    for data in ("lang:xx", "qa:lg_type:gmina", "bogus", "x" * 64, "ack:2026-11-22"):
        await user.press_data(data)
    answers = user.answers()[before:]
    assert len(answers) == 5  # every press answered
    assert all("nieaktywny" in answer.text for answer in answers[:4])
    person = await _person(bot, user.user_id)
    assert person.language == "pl" and person.consent_version == PRIVACY_NOTICE_VERSION


async def test_every_button_press_is_answered(bot, user_factory, tg) -> None:
    user = user_factory()
    await onboard(user, "Polski")
    presses = [c for c in tg.calls() if c.method == "answerCallbackQuery"]
    assert len(presses) == 2


async def test_mydata_and_delete(bot, user_factory) -> None:
    user = user_factory()
    await onboard(user, "Polski")
    await user.send("/mydata")
    document = user.documents()[-1]
    data = json.loads(document.file.content)
    assert data["profile"]["telegram_id"] == user.user_id
    assert data["profile"]["language"] == "pl"

    await user.send("/delete")
    await user.press("Nie, zachowaj")
    assert await _person(bot, user.user_id) is not None
    await user.send("/delete")
    await user.press("Tak, usuń moje dane")
    assert "zostały usunięte" in user.last_message().text
    assert await _person(bot, user.user_id) is None


async def test_command_menu_in_each_language(bot, tg) -> None:
    from bot.commands import register_commands

    await register_commands(bot.bot, bot.i18n)
    polish = {c["command"]: c["description"] for c in tg.commands(language_code="pl")}
    ukrainian = {c["command"]: c["description"] for c in tg.commands(language_code="uk")}
    assert polish["language"] == "Zmień język"
    assert ukrainian["language"] == "Змінити мову"
    assert {c["command"] for c in tg.commands()} == set(polish)
