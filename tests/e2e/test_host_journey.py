"""A Polish municipal contact from /start to a submitted application, over the fake Bot API."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.delivery import Sender
from bot.renderers import BATCHED_KINDS, renderers
from db.models import Application, Outbox, Person
from tests.e2e.conftest import STAFF_ID, onboard
from tests.fakes.user import FakeUser

LABELS = {
    "pl": {"role": "Reprezentuję polski samorząd", "gmina": "Gmina / miasto", "yes": "Tak",
           "no": "Nie", "done": "Gotowe", "skip": "Pomiń", "send": "Wyślij zgłoszenie",
           "back": "Wstecz", "language": "Polski", "lang_choice": "Angielski",
           "area": "Partycypacja społeczna", "question": "Pytanie", "zmp": "Związek Miast"},
    "uk": {"role": "Представляю польське самоврядування", "gmina": "Гміна / місто", "yes": "Так",
           "no": "Ні", "done": "Готово", "skip": "Пропустити", "send": "Надіслати заявку",
           "back": "Назад", "language": "Українська", "lang_choice": "Англійська",
           "area": "Громадська участь", "question": "Питання", "zmp": "Союз польських міст"},
}


async def application_of(app, user: FakeUser) -> Application | None:
    async with app.sessionmaker() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == user.user_id))
        if person is None:
            return None
        return await session.scalar(select(Application).where(Application.person_id == person.id))


async def begin_as_host(user: FakeUser, lang: str, payload: str | None = None) -> None:
    if payload:
        await user.start(payload)
    await onboard(user, LABELS[lang]["language"])
    await user.press(LABELS[lang]["role"])
    await user.press(LABELS[lang]["gmina"])


async def pick_gmina(user: FakeUser, query: str, button: str) -> None:
    await user.send(query)
    await user.press(button)


async def answer_rest(user: FakeUser, lang: str, *, heard_from: bool = True) -> None:
    words = LABELS[lang]
    await user.send("Anna Kowalska")
    await user.send("Sekretarz gminy")
    await user.send("anna.kowalska@wadowice.pl")
    await user.send("600 100 200")
    await user.press(words["yes"])  # open to a partnership
    await user.press(words["no"])  # no contacts in Ukraine yet
    await user.send("Jan Nowak")
    await user.send("Kierownik Referatu Promocji")
    await user.press(words["lang_choice"])
    await user.press(words["done"])
    await user.press(words["area"])
    await user.press(words["done"])
    await user.send("październik–listopad 2026")
    await user.press(words["yes"])  # study visits
    if heard_from:
        await user.press(words["zmp"])
    await user.press(words["skip"])  # comments


@pytest.mark.parametrize("lang", ["pl", "uk"])
async def test_whole_journey(bot, user_factory, tg, lang: str, clock) -> None:
    user = user_factory(language_code=lang)
    await begin_as_host(user, lang)
    card = user.last_message()
    assert f"{LABELS[lang]['question']} 2 {'z' if lang == 'pl' else 'з'} 16" in card.text

    await pick_gmina(user, "wadowice", "Wadowice ·")
    confirmation = user.messages()[-2].text
    assert "36\xa0475" in confirmation and "(GUS, 2023)" in confirmation and "✅" in confirmation
    await answer_rest(user, lang)

    summary = user.last_message()
    assert "anna.kowalska@wadowice.pl" in summary.text and "+48600100200" in summary.text
    assert any(LABELS[lang]["send"] in label for row in summary.buttons for label in row)
    await user.press(LABELS[lang]["send"])
    assert "✅" in user.last_message().text

    application = await application_of(bot, user)
    assert application.status == "eligible" and application.submitted_at is not None
    assert application.answers["gmina"]["teryt"] == "1218093"
    assert application.answers["gmina"]["population"] == 36475
    assert application.answers["mentor_languages"] == ["en"]
    assert application.answers["comments"] is None


async def test_deep_link_prefills_how_they_heard(bot, user_factory) -> None:
    user = user_factory()
    await begin_as_host(user, "pl", payload="zmp")
    await pick_gmina(user, "Gromadka", "Gromadka")
    await answer_rest(user, "pl", heard_from=False)
    assert "Związek Miast Polskich" in user.last_message().text  # in the summary
    assert (await application_of(bot, user)).answers["heard_from"] == "zmp"


async def test_validation_re_asks_politely(bot, user_factory) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Hel", "Hel")
    await user.send("A")
    assert "znaków" in user.last_message().text  # too short, asked again
    await user.send("x" * 500)
    assert "znaków" in user.last_message().text
    await user.send("Anna Kowalska")
    await user.send_sticker()
    assert "tylko tekst" in user.last_message().text
    await user.send("Burmistrz")
    await user.send("anna@")
    assert "adres e-mail" in user.last_message().text
    await user.send("anna@hel.pl")
    await user.send("12")
    assert "numer telefonu" in user.last_message().text
    await user.press("Udostępnij")  # the reply keyboard button shares the contact
    application = await application_of(bot, user)
    assert application.answers["phone"] == "+48600100200"
    assert application.answers["contact_name"] == "Anna Kowalska"
    assert application.current_question == "partnership_openness"
    await user.send("może")
    assert "przycisk" in user.last_message().text


async def test_someone_elses_contact_is_refused(bot, user_factory, tg) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Hel", "Hel")
    for text in ("Anna Kowalska", "Burmistrz", "anna@hel.pl"):
        await user.send(text)
    contact = {"phone_number": "+48500500500", "first_name": "Other", "user_id": 42}
    message = {"message_id": tg.new_message_id(user.chat_id), "from": user.user,
               "chat": user.chat, "date": 0, "contact": contact}
    await tg.deliver({"message": message})
    assert (await application_of(bot, user)).answers.get("phone") is None


async def test_back_and_edit(bot, user_factory) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Hel", "Hel")
    await user.send("Ana Kowalska")
    await user.press("Wstecz")
    card = user.last_message().text
    assert "Ana Kowalska" in card  # the current answer is shown when going back
    await user.send("Anna Kowalska")
    await answer_rest_from_position(user)
    await user.press("✏️ 3.")  # edit the contact name from the summary
    await user.send("Anna Maria Kowalska")
    summary = user.last_message().text
    assert "Anna Maria Kowalska" in summary and "Wyślij" in str(user.last_message().buttons)
    assert (await application_of(bot, user)).answers["contact_name"] == "Anna Maria Kowalska"


async def answer_rest_from_position(user: FakeUser) -> None:
    await user.send("Burmistrz")
    await user.send("anna@hel.pl")
    await user.send("+48 600 100 200")
    for label in ("Tak", "Nie"):
        await user.press(label)
    await user.send("Jan Nowak")
    await user.send("Sekretarz")
    for label in ("Angielski", "Gotowe", "Partycypacja społeczna", "Gotowe"):
        await user.press(label)
    await user.send("jesień 2026")
    await user.press("Tak")
    await user.press("Inne źródło")
    await user.press("Pomiń")


async def test_ambiguous_and_diacritic_free_names(bot, user_factory) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    await user.send("boleslawiec")
    labels = [row[0] for row in user.last_message().buttons]
    assert any("Bolesławiec" in label and "miejska" in label for label in labels)
    assert any("Bolesławiec" in label and "wiejska" in label for label in labels)
    await user.press("Brak na liście")
    await user.send("Wadowce")  # a typo
    assert "Czy chodziło" in user.last_message().text or "Wadowice" in str(
        user.last_message().buttons)
    await user.press("Wadowice ·")
    assert (await application_of(bot, user)).answers["gmina"]["name"] == "Wadowice"


async def test_over_the_limit_city_is_ineligible(bot, user_factory) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Warszawa", "Warszawa")
    assert "⚠️" in user.messages()[-2].text
    await answer_rest(user, "pl")
    await user.press("Wyślij zgłoszenie")
    verdict = user.last_message()
    assert "120\xa0000" in verdict.text and "1\xa0861\xa0599" in verdict.text
    assert "Powiadom mnie" in str(verdict.buttons)
    await user.press("Powiadom mnie")
    application = await application_of(bot, user)
    assert application.status == "ineligible"
    assert application.eligibility_reasons[0]["value"] == 1861599


async def test_lower_limit_is_a_programme_edit(start_bot, user_factory, tmp_path: Path) -> None:
    from bot.programme import PROGRAMMES_DIR

    real = (PROGRAMMES_DIR / "win4ua-2026.toml").read_text(encoding="utf-8")
    (tmp_path / "win4ua-2026.toml").write_text(
        real.replace("max_inhabitants = 120000", "max_inhabitants = 30000"), encoding="utf-8")
    (tmp_path / "demo.toml").write_text(
        (PROGRAMMES_DIR / "demo.toml").read_text(encoding="utf-8"), encoding="utf-8")
    app = await start_bot(programme=str(tmp_path / "demo.toml"))
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "wadowice", "Wadowice ·")
    assert "⚠️" in user.messages()[-2].text  # 36 475 is now over the limit
    await answer_rest(user, "pl")
    await user.press("Wyślij zgłoszenie")
    assert (await application_of(app, user)).status == "ineligible"
    assert "30\xa0000" in user.last_message().text


async def test_resume_after_restart(start_bot, user_factory) -> None:
    await start_bot()
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Hel", "Hel")
    await user.send("Anna Kowalska")
    await start_bot.stop()

    await start_bot()  # a new bot, dispatcher and engine on the same database
    await user.send("/start")
    card = user.last_message().text
    assert "Pytanie 4 z" in card and "stanowisko" in card.lower()
    await user.send("Burmistrz")
    assert (await application_of(await start_bot(), user)).answers["contact_position"] == (
        "Burmistrz")


async def test_deadline_passed(start_bot, user_factory, clock) -> None:
    clock.now = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    app = await start_bot(programme="win4ua-2026.toml")
    user = user_factory()
    await onboard(user, "Polski")
    closed = user.last_message()
    assert "zakończony" in closed.text and "30 czerwca 2026, 23:59" in closed.text
    await user.press("Powiadom mnie")
    async with app.sessionmaker() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == user.user_id))
    assert person.news_opt_in_at is not None
    await user.press_data("role:municipality")  # a forged role press after the deadline
    assert await application_of(app, user) is None


async def test_staff_are_told_in_one_message(bot, user_factory, tg, clock) -> None:
    for name in ("Hel", "Gromadka"):
        user = user_factory()
        await begin_as_host(user, "pl")
        await pick_gmina(user, name, name)
        await answer_rest(user, "pl")
        await user.press("Wyślij zgłoszenie")
    async with bot.sessionmaker() as session:
        rows = (await session.scalars(select(Outbox))).all()
    assert len(rows) == 2 and {r.chat_id for r in rows} == {STAFF_ID}

    clock.now = datetime.now(UTC) + timedelta(minutes=2)
    sender = Sender(bot.bot, bot.sessionmaker, bot.i18n, renderers(),
                    batched_kinds=BATCHED_KINDS, clock=clock)
    tg.register_chat(STAFF_ID)
    report = await sender.tick()
    assert report.claimed == 2
    staff_messages = tg.sent_messages(STAFF_ID)
    assert len(staff_messages) == 1
    assert "2 nowe zgłoszenia" in staff_messages[0].text
    assert "Hel" in staff_messages[0].text and "Gromadka" in staff_messages[0].text
    assert (await sender.tick()).claimed == 0  # sent once, never again


async def test_no_filter_runs_in_a_thread(bot, user_factory, monkeypatch) -> None:
    """aiogram runs a plain-function filter through asyncio.to_thread; ours stay on the loop."""
    threaded: list[object] = []
    original = asyncio.to_thread

    async def spy(func, /, *args, **kwargs):
        threaded.append(getattr(func, "func", func))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", spy)
    user = user_factory(language_code="pl")
    await begin_as_host(user, "pl")
    await pick_gmina(user, "wadowice", "Wadowice ·")
    await answer_rest(user, "pl")
    await user.send("/help")
    await user.send("/nosuchcommand")
    await user.send_sticker()
    assert threaded == []


async def test_a_journey_leaves_no_cyclic_garbage(bot, user_factory) -> None:
    """What an update allocates is freed by reference counting, not left to the cyclic collector.

    A cycle through an update's session (session.info once held its own transaction) left the
    session, its connection and the rows it loaded to the collector, and aiogram's
    `Response[...]` classes, held only weakly by pydantic, were rebuilt after each collection;
    the collector's pauses were the dispatch benchmark's p99. Here the collector saves what it
    finds, and a whole journey may leave a few SQL expression fragments, nothing more."""

    async def journey() -> None:
        user = user_factory(language_code="pl")
        await begin_as_host(user, "pl")
        await pick_gmina(user, "wadowice", "Wadowice ·")
        await answer_rest(user, "pl")
        await user.press(LABELS["pl"]["send"])

    await journey()  # what is built on first use is built
    gc.collect()
    gc.freeze()  # what exists now (other tests' leftovers too) is out of the collector's sight
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await journey()
        gc.collect()
        garbage = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.unfreeze()
    ours = ("sqlalchemy.orm", "sqlalchemy.engine", "db.", "bot.", "handlers.", "aiogram.")
    kept = [name for name in garbage if name.startswith(ours)]
    assert not kept, garbage.most_common(20)
    assert "pydantic._internal._model_construction.ModelMetaclass" not in garbage
    assert garbage.total() < 100, garbage.most_common(20)
