"""A manager from a Ukrainian hromada: invitation link → Ukrainian → questionnaire → match."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.delivery import Sender
from bot.renderers import BATCHED_KINDS, renderers
from bot.services import invites
from db.models import AuditLog, Invite, Match
from tests.e2e.conftest import STAFF_ID, onboard
from tests.e2e.test_host_journey import answer_rest, application_of, begin_as_host, pick_gmina
from tests.fakes.user import FakeUser


async def new_invite(app, **kwargs) -> str:
    async with app.sessionmaker() as session, session.begin():
        [invite] = await invites.create(session, 1, **kwargs)
        return invite.code


async def intern_up_to_hromada(user: FakeUser, code: str) -> None:
    await user.start(code)
    assert "Як ми обробляємо Ваші персональні дані" in user.last_message().text
    await user.press("Зрозуміло")
    assert "Питання 1 з" in user.last_message().text  # no role question: the link says who
    await user.send("Олена Коваль")
    await user.send("Заступниця міського голови")
    await user.send("Управління економічного розвитку")


async def finish_intern(user: FakeUser, level: str = "Середня ланка") -> None:
    await user.press(level)
    await user.send("біла церква")
    await user.press("Білоцерківська")
    await user.send("olena@bc-rada.gov.ua")
    await user.send("067 123 4567")
    await user.press("Початковий")
    await user.press("Вільний")
    await user.press("Громадська участь")
    await user.press("Залучення зовнішніх коштів")
    await user.press("Готово")
    await user.send("жовтень 2026")
    await user.send("Хочу навчитися залучати зовнішні кошти та налагодити партнерство.")
    await user.press("Пропустити")
    await user.press("Надіслати заявку")


async def test_invited_intern_applies_in_ukrainian(bot, user_factory) -> None:
    code = await new_invite(bot)
    user = user_factory(language_code="en")  # the link, not the phone, sets the language
    await intern_up_to_hromada(user, code)
    await finish_intern(user)
    assert "✅" in user.last_message().text
    application = await application_of(bot, user)
    assert application.audience == "intern" and application.status == "eligible"
    assert application.answers["hromada"]["katottg"].startswith("UA32")  # Київська область
    assert application.answers["hromada"]["name_uk"] == "Білоцерківська"
    assert application.answers["phone"] == "+380671234567"
    assert application.answers["interests"] == ["participation", "external_funds"]


async def test_specialist_is_ineligible_with_a_respectful_reason(bot, user_factory) -> None:
    user = user_factory(language_code="uk")
    await intern_up_to_hromada(user, await new_invite(bot))
    await user.press("Спеціаліст")
    card = user.last_message().text  # said at once, with two ways on
    assert "керівників середньої та вищої ланки" in card
    await user.press("Зупинитися тут")
    assert "керівників середньої та вищої ланки" in user.last_message().text
    assert (await application_of(bot, user)).status == "ineligible"


async def test_invite_can_switch_language_on_the_notice(bot, user_factory) -> None:
    user = user_factory(language_code="uk")
    await user.start(await new_invite(bot))
    await user.press("Polski")
    assert "Jak przetwarzamy Państwa dane" in user.last_message().text
    await user.press(0)
    assert "Pytanie 1 z" in user.last_message().text


async def test_village_finds_its_hromada_and_crimea_is_explained(bot, user_factory) -> None:
    user = user_factory(language_code="uk")
    await intern_up_to_hromada(user, await new_invite(bot))
    await user.press("Вище керівництво")
    await user.send("Сімферополь")
    assert "тимчасово окупованих" in user.last_message().text
    await user.send("Яблунівка")
    assert "(Яблунівка)" in user.last_message().text  # found through the village


async def test_invite_lifecycle(bot, user_factory) -> None:
    code = await new_invite(bot, note="Біла Церква")
    owner, other = user_factory(language_code="uk"), user_factory(language_code="uk")
    await owner.start(code)
    await owner.press("Зрозуміло")
    await owner.start(code)  # the owner may open their own link again
    assert "вже використано" not in owner.last_message().text

    await other.start(code)
    assert "вже використано" in other.messages()[0].text
    await other.start("inv-ThisCodeDoesNotExist")
    assert "недійсне" in other.last_message().text or "недійсн" in other.messages()[-2].text

    revoked = await new_invite(bot)
    async with bot.sessionmaker() as session, session.begin():
        assert await invites.revoke(session, revoked, datetime.now(UTC))
    third = user_factory(language_code="uk")
    await third.start(revoked)
    assert "відкликано" in third.messages()[0].text
    async with bot.sessionmaker() as session:
        invite = await session.scalar(select(Invite).where(Invite.code == code))
    assert invite.used_by_id is not None and invite.used_at is not None


async def test_without_an_invitation_interns_are_asked_for_one(bot, user_factory) -> None:
    user = user_factory(language_code="uk")
    await onboard(user, "Українська")
    await user.press("Працюю в українській громаді")
    assert "запрошення" in user.last_message().text
    assert await application_of(bot, user) is None


async def _eligible_host(user: FakeUser) -> None:
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Gromadka", "Gromadka")
    await answer_rest(user, "pl")
    await user.press("Wyślij zgłoszenie")


async def test_staff_match_and_both_sides_are_told(bot, user_factory, tg, clock) -> None:
    host, intern = user_factory(language_code="pl"), user_factory(language_code="uk")
    await _eligible_host(host)
    await intern_up_to_hromada(intern, await new_invite(bot))
    await finish_intern(intern)
    staff = FakeUser(tg, STAFF_ID, language_code="pl")
    await onboard(staff, "Polski")

    await staff.send("/match")
    await staff.press("Олена Коваль")
    suggestion = staff.last_message()
    assert "Gromadka" in str(suggestion.buttons) and "1★" in str(suggestion.buttons)
    await staff.press("Gromadka")
    await staff.press("✅")
    matched = staff.last_message()
    assert "Przydzielono" in matched.text or "✅" not in str(matched.buttons)

    clock.now = datetime.now(UTC) + timedelta(minutes=5)
    sender = Sender(bot.bot, bot.sessionmaker, bot.i18n, renderers(bot.programme),
                    batched_kinds=BATCHED_KINDS, clock=clock)
    await sender.drain()
    to_intern = intern.last_message().text
    to_host = host.last_message().text
    assert "Gromadka" in to_intern and "Jan Nowak" in to_intern and "Добра новина" in to_intern
    assert "Олена Коваль" in to_host and "olena@bc-rada.gov.ua" in to_host
    assert "Dobra wiadomość" in to_host
    # The hromada in the host's language: no Cyrillic place name on a Polish screen.
    assert "Hromada: hromada Biała Cerkiew, rejon Biała Cerkiew, obwód kijowski" in to_host
    assert "Gromadka (сільська гміна, повіт bolesławiecki, Нижньосілезьке воєводство)" in to_intern
    async with bot.sessionmaker() as session:
        assert len((await session.scalars(select(Match))).all()) == 1
        actions = (await session.scalars(select(AuditLog.action))).all()
    assert "match.create" in actions


async def test_interns_cannot_use_staff_actions(bot, user_factory) -> None:
    host, intern = user_factory(language_code="pl"), user_factory(language_code="uk")
    await _eligible_host(host)
    await intern_up_to_hromada(intern, await new_invite(bot))
    await finish_intern(intern)
    intern_app, host_app = await application_of(bot, intern), await application_of(bot, host)
    await intern.send("/match")
    assert "Такої команди немає" in intern.last_message().text
    await intern.send("/invite 5")
    assert "Такої команди немає" in intern.last_message().text
    for data in (f"mi:{intern_app.id}", f"mh:{intern_app.id}:{host_app.id}:1"):
        await intern.press_data(data)
    async with bot.sessionmaker() as session:
        assert (await session.scalars(select(Match))).all() == []
        assert (await session.scalars(select(Invite))).all() != []  # only the one we made
        refused = (await session.scalars(select(AuditLog).where(AuditLog.allowed.is_(False)))).all()
    assert refused == [] or all(entry.actor_id is not None for entry in refused)
