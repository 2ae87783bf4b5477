"""Finding one's way in the form: /cancel leaves the current question (answers stay saved),
Back shows the answer given with a one-tap way to keep it, and /mydata and the status on
/start render the reasons as the verdict did."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import update

from db.models import Application
from tests.e2e.test_host_journey import application_of, begin_as_host, pick_gmina
from tests.e2e.test_meetings import eligible


async def test_cancel_in_the_form_pauses_and_start_resumes(bot, user_factory) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Hel", "Hel")
    await user.send("Anna Kowalska")
    await user.send("/cancel")  # today: "Nie ma czego przerywać"
    assert "Wstrzymano na pytaniu 4" in user.last_message().text
    await user.send("Burmistrz")  # not taken as the answer while paused
    assert "/start" in user.last_message().text
    application = await application_of(bot, user)
    assert "contact_position" not in application.answers
    assert application.answers["contact_name"] == "Anna Kowalska"  # answers stay saved
    await user.send("/start")
    assert "Pytanie 4 z" in user.last_message().text
    await user.send("Burmistrz")
    assert (await application_of(bot, user)).answers["contact_position"] == "Burmistrz"


async def test_a_press_on_the_form_ends_the_pause(bot, user_factory) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Hel", "Hel")
    for text in ("Anna Kowalska", "Burmistrz", "anna@hel.pl", "600 100 200"):
        await user.send(text)
    await user.send("/cancel")
    await user.press("Tak")  # the partnership card is still there: pressing it is coming back
    await user.send("może")  # typed again: an answer to the next question, refused politely
    assert "przycisk" in user.last_message().text
    assert (await application_of(bot, user)).answers["partnership_openness"] is True


async def test_cancel_at_the_summary_and_with_nothing_to_cancel(bot, user_factory) -> None:
    nobody = user_factory()
    await nobody.send("/cancel")
    assert "Nie ma czego przerywać" in nobody.last_message().text
    sent = user_factory()
    await eligible(bot, sent)
    await sent.send("/cancel")
    assert "Nie ma czego przerywać" in sent.last_message().text


async def test_back_offers_to_keep_the_answer_with_one_tap(bot, user_factory) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Hel", "Hel")
    await user.send("Anna Kowalska")
    await user.send("Burmistrz")
    await user.press("Wstecz")
    card = user.last_message()
    assert "Pytanie 4 z" in card.text and "Burmistrz" in card.text
    assert ["✓ Bez zmian: Burmistrz"] in card.buttons
    await user.press("Wstecz")
    await user.press("Bez zmian: Anna Kowalska")  # kept, on to the next open question
    assert "Pytanie 5 z" in user.last_message().text
    await user.press("Wstecz")  # a place answer is kept the same way
    await user.press("Wstecz")
    await user.press("Wstecz")
    labels = [label for row in user.last_message().buttons for label in row]
    keep = next(label for label in labels if label.startswith("✓ Bez zmian: Hel"))
    await user.press(keep)
    application = await application_of(bot, user)
    assert application.answers["gmina"]["name"] == "Hel"
    assert application.answers["contact_position"] == "Burmistrz"
    assert application.current_question == "email"


async def test_back_on_a_choice_marks_the_answer_given(bot, user_factory) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Hel", "Hel")
    for text in ("Anna Kowalska", "Burmistrz", "anna@hel.pl", "600 100 200"):
        await user.send(text)
    await user.press("Tak")
    await user.press("Wstecz")
    assert ["✓ Tak", "Nie"] in user.last_message().buttons
    await user.press("✓ Tak")
    assert (await application_of(bot, user)).current_question == "ukraine_contacts"


async def test_mydata_and_start_render_the_reasons(bot, user_factory) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Warszawa", "Warszawa")
    await user.press("Zakończ w tym miejscu")
    await user.send("/mydata")
    data = json.loads(user.documents()[-1].file.content)
    [entry] = data["applications"]
    assert entry["status"] == "ineligible"
    [reason] = entry["eligibility_reasons"]
    assert "120\xa0000" in reason and "1\xa0861\xa0599" in reason and "{" not in reason


async def test_a_reason_stored_before_fields_were_kept_still_renders(bot, user_factory) -> None:
    """Reasons stored by earlier versions have no field: a bool is still Tak/Nie."""
    user = user_factory()
    await eligible(bot, user)
    async with bot.sessionmaker() as session, session.begin():
        await session.execute(
            update(Application)
            .where(Application.status == "eligible")
            .values(status="ineligible", submitted_at=datetime.now(UTC), eligibility_reasons=[
                {"texts": {"pl": "Odpowiedź: {value}, wymagane: {limit}.", "uk": "{value}",
                           "en": "{value}"}, "value": False, "limit": True},
            ])
        )
    await user.send("/start")
    assert "Odpowiedź: Nie, wymagane: Tak." in user.messages()[-2].text + user.last_message().text
    await user.send("/mydata")
    data = json.loads(user.documents()[-1].file.content)
    assert data["applications"][0]["eligibility_reasons"] == ["Odpowiedź: Nie, wymagane: Tak."]
