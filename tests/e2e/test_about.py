"""The programme's facts and its team's contact in the bot (issue 17, items 9 and 10): /about and
the home screen's button, from the programme file; invitation problems in the invitation's
language with the team's contact; the contact in /help; /about in the command menu."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.commands import register_commands
from bot.programme import PROGRAMMES_DIR
from bot.services import invites
from tests.e2e.conftest import onboard
from tests.e2e.test_intern_journey import intern_up_to_hromada, new_invite

EMAIL = "win4ua@solidarityfund.pl"
NBSP = "\xa0"

FACTS = {
    "pl": [
        "Fundacja Solidarności Międzynarodowej", "Związkiem Miast Polskich",
        "Związkiem Gmin Wiejskich RP", "Ministerstwa Spraw Zagranicznych RP",
        f"do 120{NBSP}000 mieszkańców", "opiekuna (mentora)", "współpracy partnerskiej",
        "średniego lub wyższego szczebla kierowniczego", "30 samorządowców",
        "jedno z dwóch spotkań informacyjnych online", "partycypacja społeczna",
        "pozyskiwanie środków zewnętrznych", "współpraca międzygminna i międzynarodowa",
        "10 małych projektów", "(czas warszawski)", f"Zespół programu: {EMAIL}",
    ],
    "uk": [
        "Фонд міжнародної солідарності", "ZMP", "ZGWRP", "Міністерство закордонних справ",
        f"до 120{NBSP}000 мешканців", "наставника", "30 посадовців",
        "одну з двох інформаційних онлайн-зустрічей", "залучення зовнішніх коштів",
        "10 малих проєктів", "за варшавським часом", EMAIL,
    ],
    "en": [
        "Solidarity Fund PL", "Association of Polish Cities", "ZGWRP",
        "Ministry of Foreign Affairs", "up to 120,000 inhabitants", "mentor (opiekun)",
        "middle or senior managers", "one of two online information meetings",
        "social participation", "10 small projects", "(Warsaw time)", EMAIL,
    ],
}
LANGUAGE_LABELS = {"pl": "Polski", "uk": "Українська", "en": "English"}


@pytest.mark.parametrize("language", ["pl", "uk", "en"])
async def test_about_says_the_programmes_facts(bot, user_factory, language: str) -> None:
    user = user_factory(language_code=language)
    await onboard(user, LANGUAGE_LABELS[language])
    await user.send("/about")
    text = user.last_message().text
    for fact in FACTS[language]:
        assert fact in text, fact


async def test_the_home_screen_has_an_about_button(bot, user_factory) -> None:
    user = user_factory(language_code="pl")
    await onboard(user, "Polski")
    home = user.last_message()
    assert "Kto może gościć stażystę" not in home.text
    await user.press("ℹ️ O programie")
    assert "Kto może gościć stażystę" in user.last_message().text
    assert user.messages()[-2].text == home.text  # the home card stays as it was


async def test_about_takes_the_limit_from_the_programme_file(start_bot, user_factory,
                                                             tmp_path: Path) -> None:
    edited = tmp_path / "eighty.toml"
    edited.write_text(f'extends = "{PROGRAMMES_DIR / "demo.toml"}"\n\n[limits]\n'
                      "max_inhabitants = 80000\n", encoding="utf-8")
    await start_bot(str(edited))
    user = user_factory(language_code="pl")
    await onboard(user, "Polski")
    await user.send("/about")
    text = user.last_message().text
    assert f"do 80{NBSP}000 mieszkańców" in text and "120" not in text


async def test_help_gives_the_programme_teams_contact(bot, user_factory) -> None:
    user = user_factory(language_code="uk")
    await onboard(user, "Українська")
    await user.send("/help")
    text = user.last_message().text
    assert f"Команда програми: {EMAIL}" in text and "/about" in text


async def test_about_is_in_the_command_menu(bot, tg) -> None:
    await register_commands(bot.bot, bot.i18n)
    for language, description in (("pl", "O programie"), ("uk", "Про програму"),
                                  ("en", "About the programme")):
        menu = {c["command"]: c["description"] for c in tg.commands(None, language)}
        assert menu["about"] == description


@pytest.mark.parametrize(
    ("telegram_language", "expected"),
    [(None, "недійсне"), ("ru", "недійсне"), ("pl", "nieprawidłowy")],
)
async def test_an_unknown_invitation_is_explained_in_ukrainian_unless_telegram_says_otherwise(
    bot, user_factory, telegram_language: str | None, expected: str
) -> None:
    user = user_factory(language_code=telegram_language)
    await user.start("inv-ThisCodeDoesNotExist")
    problem = user.messages()[0].text
    assert expected in problem and EMAIL in problem


async def test_a_used_or_withdrawn_invitation_is_explained_in_its_language(bot,
                                                                           user_factory) -> None:
    code = await new_invite(bot, language="pl")
    owner, other = user_factory(language_code="pl"), user_factory(language_code="en")
    await owner.start(code)
    await other.start(code)
    problem = other.messages()[0].text
    assert "został już wykorzystany" in problem and EMAIL in problem

    withdrawn = await new_invite(bot)  # Ukrainian, the default
    async with bot.sessionmaker() as session, session.begin():
        assert await invites.revoke(session, withdrawn, datetime.now(UTC))
    third = user_factory(language_code="en")
    await third.start(withdrawn)
    problem = third.messages()[0].text
    assert "відкликано" in problem and EMAIL in problem


async def test_interns_without_an_invitation_are_given_the_contact(bot, user_factory) -> None:
    user = user_factory(language_code="uk")
    await onboard(user, "Українська")
    await user.press("Працюю в українській громаді")
    assert EMAIL in user.last_message().text


async def test_a_community_in_crimea_is_pointed_to_the_programme_team(bot, user_factory) -> None:
    user = user_factory(language_code="uk")
    await intern_up_to_hromada(user, await new_invite(bot))
    await user.press("Вище керівництво")
    await user.send("Сімферополь")
    assert "окупованих територій" in user.last_message().text
    assert EMAIL in user.last_message().text
