"""Wording the glossary asks for, as people see it: dates after "until" in the genitive, a time
zone note without double brackets, language names as words, examples that fit the reader."""

from __future__ import annotations

from datetime import timedelta

from tests.e2e.conftest import onboard
from tests.e2e.test_intern_journey import intern_up_to_hromada, new_invite
from tests.e2e.test_meetings import APRIL, add_event, eligible


def booking_card(user) -> str:
    """The booking card (the calendar file follows it)."""
    texts = [m.text for m in user.messages()]
    return next(t for t in reversed(texts) if "✅" in t)


async def test_booking_card_reads_naturally_in_polish_and_ukrainian(
    start_bot, user_factory, clock
) -> None:
    clock.now = APRIL
    app = await start_bot()
    await add_event(app, APRIL + timedelta(days=7), capacity=5)  # Wed 8 April, 10:00 Warsaw
    polish, ukrainian = user_factory("pl"), user_factory("uk")
    await eligible(app, polish, "pl")
    await eligible(app, ukrainian, "uk")

    await polish.send("/meetings")
    await polish.press("8 kwi")
    card = booking_card(polish)
    assert "środa, 8 kwietnia 2026, godz. 10:00, 60 min" in card
    assert "Link do spotkania: https://meet.example.org/" in card
    # Bookings close two hours before the start: 8:00 in Warsaw, no leading zero in Polish.
    assert (
        "Rezerwację można zmienić lub odwołać do środy, 8 kwietnia 2026, godz. 8:00 (czas "
        "warszawski)." in card
    )

    await ukrainian.send("/meetings")
    await ukrainian.press("8 квіт")
    card = booking_card(ukrainian)
    # A host reading Ukrainian lives by Warsaw time (interns' Kyiv time: tests/e2e/test_times.py)
    assert "середа, 8 квітня 2026, 10:00, 60 хв" in card
    assert "Посилання на зустріч: https://meet.example.org/" in card
    assert (
        "Змінити дату або скасувати запис можна до середи, 8 квітня 2026, 08:00 за варшавським "
        "часом." in card
    )


async def test_changing_the_language_names_it_as_a_word(bot, user_factory) -> None:
    user = user_factory()
    await onboard(user, "Українська")
    await user.send("/language")
    await user.press("Polski")
    assert user.last_message().text == "Zmieniono język na polski."


async def test_interns_get_ukrainian_examples(bot, user_factory) -> None:
    user = user_factory(language_code="uk")
    await intern_up_to_hromada(user, await new_invite(bot))
    await user.press("Середня ланка")
    await user.send("біла церква")
    await user.press("Білоцерківська")
    await user.send("olena(at)rada")
    asked = user.last_message().text
    assert "name@rada.gov.ua" in asked and "gmina.pl" not in asked
    await user.send("olena@bc-rada.gov.ua")
    await user.send("12")
    asked = user.last_message().text
    assert "+380 67 123 45 67" in asked and "+48" not in asked
