"""The hromada picker through the fake Bot API: pages, narrowing by region, look-alike rows,
the confirmation in the reader's language, and occupied territory as programme data."""

from __future__ import annotations

import re

from tests.e2e.test_host_journey import application_of
from tests.e2e.test_intern_journey import intern_up_to_hromada, new_invite
from tests.fakes.user import FakeUser

CYRILLIC = re.compile("[\u0400-\u04ff]")
ROW = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)


async def ukrainian_intern_at_hromada(bot, user_factory) -> FakeUser:
    user = user_factory(language_code="uk")
    await intern_up_to_hromada(user, await new_invite(bot))
    await user.press("Вище керівництво")
    return user


async def intern_at_hromada_in(bot, user_factory, language: str) -> FakeUser:
    """An intern who switched the notice to Polish or English, at the hromada question."""
    user = user_factory(language_code="uk")
    await user.start(await new_invite(bot))
    await user.press({"pl": "Polski", "en": "English"}[language])
    await user.press(0)
    await user.send("Olena Kowal")
    await user.send("Zastępczyni mera")
    await user.send("Wydział rozwoju")
    await user.press(0)  # a management level
    return user


def rows(text: str) -> dict[int, str]:
    return {int(number): row for number, row in ROW.findall(text)}


def place_buttons(user: FakeUser) -> list[str]:
    return [row[0] for row in user.last_message().buttons if re.match(r"^\d+\. ", row[0])]


async def test_pages_show_every_match_with_its_oblast(bot, user_factory) -> None:
    user = await ukrainian_intern_at_hromada(bot, user_factory)
    await user.send("Яблунівка")
    card = user.last_message()
    total = int(re.search(r"Знайдено (\d+)", card.text).group(1))
    assert total > 8
    assert "показано 1–8" in card.text
    assert len(place_buttons(user)) == 8
    assert "Наступні ▶" in str(card.buttons) and "◀ Попередні" not in str(card.buttons)

    seen: dict[int, str] = dict(rows(card.text))
    pages = 1
    while "Наступні ▶" in str(user.last_message().buttons):
        await user.press("Наступні ▶")
        assert user.last_message().message_id == card.message_id  # the same card, edited
        seen.update(rows(user.last_message().text))
        pages += 1
    assert sorted(seen) == list(range(1, total + 1))  # nobody lost between pages
    assert pages == -(-total // 8)
    for row in seen.values():
        assert "обл." in row and "р-н" in row, row  # every row has its oblast and raion
    assert len(set(seen.values())) == total  # no two rows read the same

    await user.press("◀ Попередні")
    assert f"показано {8 * (pages - 2) + 1}–{8 * (pages - 1)}" in user.last_message().text


async def test_a_pick_from_a_later_page_is_confirmed_in_full(bot, user_factory) -> None:
    user = await ukrainian_intern_at_hromada(bot, user_factory)
    await user.send("Яблунівка")
    await user.press("Наступні ▶")
    chosen = rows(user.last_message().text)[9]
    await user.press(place_buttons(user)[0])
    application = await application_of(bot, user)
    hromada = application.answers["hromada"]
    confirmation = user.messages()[-2].text
    assert confirmation.startswith(f"{hromada['name_uk']} ")
    assert "громада" in confirmation and "обл." in confirmation
    assert confirmation.split(" (")[0] in chosen
    assert "_place_search" not in application.answers  # the remembered query is gone


async def test_narrowing_by_oblast_in_ukrainian(bot, user_factory) -> None:
    user = await ukrainian_intern_at_hromada(bot, user_factory)
    await user.send("Яблунівка київська")
    found = rows(user.last_message().text)
    assert found and all("Київська обл." in row for row in found.values())
    assert "Наступні ▶" not in str(user.last_message().buttons)


async def test_narrowing_in_latin_and_the_english_card(bot, user_factory) -> None:
    user = await intern_at_hromada_in(bot, user_factory, "en")
    await user.send("yablunivka kyiv")
    found = rows(user.last_message().text)
    assert found and all("Kyivska oblast" in row for row in found.values())
    assert not CYRILLIC.search(user.last_message().text)


async def test_polish_screen_has_no_cyrillic_and_finds_the_exonym(bot, user_factory) -> None:
    user = await intern_at_hromada_in(bot, user_factory, "pl")
    await user.send("Biała Cerkiew")
    card = user.last_message()
    full = "hromada Biała Cerkiew, rejon Biała Cerkiew, obwód kijowski"
    assert rows(card.text)[1].startswith(full)
    assert not CYRILLIC.search(card.text + str(card.buttons))
    await user.press(place_buttons(user)[0])
    confirmation = user.messages()[-2].text
    assert confirmation.startswith(full)
    assert not CYRILLIC.search(confirmation)


async def test_polish_paging_and_narrowing(bot, user_factory) -> None:
    user = await intern_at_hromada_in(bot, user_factory, "pl")
    await user.send("Lwów")  # the Polish prompt's kind of example
    assert "obwód lwowski" in rows(user.last_message().text)[1]
    await user.send("Jabłuniwka")
    assert "Następne ▶" in str(user.last_message().buttons)
    assert not CYRILLIC.search(user.last_message().text)
    await user.send("Jabłuniwka kijowska")
    found = rows(user.last_message().text)
    assert found and all("obwód kijowski" in row for row in found.values())


async def test_look_alike_rows_are_told_apart(bot, user_factory) -> None:
    # Two Миколаївська hromadas in the Sumy raion, both centred on a Миколаївка: the Polish
    # rows would read "hromada Mykołajiwka, rejon Sumy, obwód sumski" twice.
    user = await intern_at_hromada_in(bot, user_factory, "pl")
    await user.send("Mykołajiwka sumski")
    found = list(rows(user.last_message().text).values())
    sumy = [row for row in found if row.startswith("hromada Mykołajiwka, rejon Sumy,")]
    assert len(sumy) == 2 and sumy[0] != sumy[1], found
    assert {row.rsplit(" — ", 1)[-1] for row in sumy} == {"osiedlowa", "wiejska"}


async def test_forged_or_stale_page_buttons_change_nothing(bot, user_factory) -> None:
    user = await ukrainian_intern_at_hromada(bot, user_factory)
    await user.send("Яблунівка")
    card = user.last_message()
    for data in ("qg:hromada:99", "qg:email:1", "qg:hromada:-1"):
        await user.press_data(data, card.message_id)
        assert user.last_message().text == card.text
    await user.press(place_buttons(user)[0])
    await user.press_data("qg:hromada:1", card.message_id)  # the question is answered now
    assert "Наступні" not in str(user.last_message().buttons)


async def test_occupied_communities_from_the_programme_are_explained(bot, user_factory) -> None:
    # demo.toml lists the Skadovsk raion (UA6508): Долматівка is not offered, and the person
    # reads why, as for Crimea.
    user = await ukrainian_intern_at_hromada(bot, user_factory)
    await user.send("Долматівка")
    text = user.last_message().text
    assert "тимчасово окупованих" in text and "Долматівськ" not in text
    await user.send("Симферополь")  # a typo of Сімферополь, still Crimea
    assert "тимчасово окупованих" in user.last_message().text
    await user.send("Біла Церква")
    await user.press_data("qp:hromada:UA65080050000077041", user.last_message().message_id)
    assert "тимчасово окупованих" in user.last_message().text
    assert "hromada" not in (await application_of(bot, user)).answers


async def test_stats_name_oblasts_in_the_staff_language(bot, tg, user_factory) -> None:
    from sqlalchemy import select

    from db.models import Application
    from tests.e2e.test_staff import ready, staff_user

    staff = staff_user(tg, "pl")
    await ready(bot, staff, language="pl")
    person = await ready(bot, user_factory("uk"), language="uk", status="eligible",
                         audience="intern")
    async with bot.sessionmaker() as session, session.begin():
        application = await session.scalar(
            select(Application).where(Application.person_id == person.id)
        )
        application.answers = {"hromada": {"katottg": "UA32020010000093088",
                                           "name_uk": "Білоцерківська",
                                           "oblast": "Київська область",
                                           "raion": "Білоцерківський район"}}
    await staff.send("/stats")
    text = staff.last_message().text
    assert "obwód kijowski: 1" in text and not CYRILLIC.search(text)


async def polish_host_at_powiat(user: FakeUser, lang: str = "pl") -> None:
    from tests.e2e.conftest import onboard

    await onboard(user, {"pl": "Polski", "uk": "Українська"}[lang])
    await user.press({"pl": "Reprezentuję polski samorząd",
                      "uk": "Представляю польський орган місцевого самоврядування"}[lang])
    await user.press({"pl": "Powiat", "uk": "Повіт"}[lang])


async def test_powiat_verdict_puts_the_word_powiat_first(bot, user_factory) -> None:
    user = user_factory(language_code="pl")
    await polish_host_at_powiat(user)
    await user.send("sejneński")
    assert "1. powiat sejneński (podlaskie)" in user.last_message().text
    await user.press("powiat sejneński")
    verdict = user.messages()[-2].text
    assert verdict.replace("\xa0", " ").startswith(
        "powiat sejneński — 18 645 mieszkańców (GUS, 2023)"
    ), verdict


async def test_a_city_with_powiat_rights_has_no_powiat_of_itself(bot, user_factory) -> None:
    user = user_factory(language_code="uk")
    await polish_host_at_powiat(user, "uk")
    await user.send("Tarnów")
    row = next(r for r in rows(user.last_message().text).values() if r.startswith("Tarnów ("))
    assert row == "Tarnów (місто на правах повіту, Малопольське воєводство)"
    assert "повіт Tarnów" not in user.last_message().text
