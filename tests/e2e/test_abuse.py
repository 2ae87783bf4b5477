"""Flooding, redelivered updates and hostile webhook requests change nothing they should not."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from bot.app import build_app
from bot.programme import PROGRAMMES_DIR
from bot.settings import Settings
from bot.webhook import MAX_BODY_BYTES, create_webhook_app
from db.models import Application, Event
from tests.e2e.conftest import TOKEN, onboard
from tests.e2e.test_host_journey import application_of, begin_as_host, pick_gmina
from tests.e2e.test_meetings import staff_member

SECRET = "webhook-secret-0123456789"


async def test_flooding_person_is_slowed_down_alone(start_bot, user_factory, tg) -> None:
    await start_bot(throttle_rate=0.5, throttle_burst=5)
    flooder, other = user_factory(), user_factory()
    for _ in range(12):
        await flooder.send("/help")
    texts = flooder.texts()
    assert sum("bardzo szybko" in t for t in texts) == 1  # one polite note, not one per message
    assert sum("Bot WIN4UA" in t for t in texts) == 5  # the burst was answered
    await other.send("/help")
    assert "Bot WIN4UA" in other.last_message().text  # nobody else is slowed


async def test_redelivered_update_is_processed_once(bot, user_factory, tg) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    update = {
        "update_id": 424242,
        "message": {"message_id": tg.new_message_id(user.chat_id), "date": 0,
                    "from": user.user, "chat": user.chat, "text": "Hel"},
    }
    await tg.deliver(dict(update))
    matches = len(tg.sent_messages(user.chat_id))
    await tg.deliver(dict(update))  # Telegram delivers the same update again
    assert len(tg.sent_messages(user.chat_id)) == matches


async def test_a_redelivered_answer_or_press_changes_nothing(bot, user_factory, tg) -> None:
    """An answer that moves the form on, delivered twice, is stored once; a redelivered press
    on a multiple-choice button does not toggle the choice back."""
    user = user_factory()
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Wadowice", "Wadowice · gmina miejsko-wiejska")
    typed = {"update_id": 525252, "message": {
        "message_id": tg.new_message_id(user.chat_id), "date": 0, "from": user.user,
        "chat": user.chat, "text": "Anna Kowalska"}}
    await tg.deliver(dict(typed))
    after_first = await application_of(bot, user)
    shown = len(tg.sent_messages(user.chat_id))
    await tg.deliver(dict(typed))
    after_second = await application_of(bot, user)
    assert after_first is not None and after_second is not None
    assert after_second.answers == after_first.answers
    assert after_second.current_question == after_first.current_question == "contact_position"
    assert len(tg.sent_messages(user.chat_id)) == shown  # and nothing was said twice
    calls = len(tg.calls())

    for answer in ("Sekretarz gminy", "anna@wadowice.pl", "600 100 200"):
        await user.send(answer)
    await user.press("Tak")
    await user.press("Nie")
    await user.send("Jan Nowak")
    await user.send("Kierownik")
    card = user.last_message()
    data = next(d for row in card.callback_data for d in row if d and d.startswith("qt:"))
    press = {"update_id": 535353, "callback_query": {
        "id": tg.new_callback_query_id(), "from": user.user,
        "message": tg.render_message(user.chat_id, card.message_id),
        "chat_instance": "1", "data": data}}
    await tg.deliver(dict(press))
    chosen = (await application_of(bot, user)).answers["mentor_languages"]
    assert len(chosen) == 1
    calls = len(tg.calls())
    await tg.deliver(dict(press))
    assert (await application_of(bot, user)).answers["mentor_languages"] == chosen
    assert len(tg.calls()) == calls


async def test_a_redelivered_step_of_a_staff_wizard_is_taken_once(start_bot, user_factory,
                                                                   tg) -> None:
    """A wizard's state lives outside the transaction: its steps are checked before they run.
    Taken twice, the duration (90) would also become the answer to the next step, capacity."""
    app = await start_bot()
    staff = await staff_member(app, user_factory)
    await staff.send("/newevent")
    await staff.press("spotkanie informacyjne")
    await staff.press("samorządy goszczące")
    await staff.send("15.04.2027 10:00")
    duration = {"update_id": 545454, "message": {
        "message_id": tg.new_message_id(staff.chat_id), "date": 0, "from": staff.user,
        "chat": staff.chat, "text": "90"}}
    await tg.deliver(dict(duration))
    shown = len(tg.sent_messages(staff.chat_id))
    await tg.deliver(dict(duration))
    assert len(tg.sent_messages(staff.chat_id)) == shown
    await staff.send("20")
    await staff.send("https://meet.example.org/april")
    await staff.send("Spotkanie\nЗустріч\nMeeting")
    await staff.press("Utwórz")
    async with app.sessionmaker() as session:
        event = await session.get(Event, 1)
    assert event is not None and (event.duration_minutes, event.capacity) == (90, 20)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_hostile_webhook_requests(tg, database_url, clock, user_factory) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/tg"
    settings = Settings(
        _env_file=None, bot_token=TOKEN, database_url=database_url,
        telegram_api_base=tg.base_url, webhook_url=url, webhook_secret=SECRET,
        programme_file=Path(PROGRAMMES_DIR / "demo.toml"), throttle_rate=0,
    )
    async with build_app(settings, clock=clock) as app:
        runner = web.AppRunner(create_webhook_app(app))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with aiohttp.ClientSession() as http:
                statuses = []
                for headers, body in (
                    ({}, b"{}"),
                    ({"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]}, b"{}"),
                    ({"X-Telegram-Bot-Api-Secret-Token": "zażółć-gęślą-jaźń-0123"}, b"{}"),
                    (good, b"not json"),
                    (good, b"[1, 2]"),
                    (good, b'{"update_id": "x"}'),
                    (good, b'{"update_id": 1, "message": {"chat": 5}}'),
                    (good, b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}"),
                ):
                    async with http.post(url, data=body, headers=headers) as response:
                        statuses.append(response.status)
            assert statuses == [401, 401, 401, 400, 400, 400, 400, 413]
            user = user_factory()
            await onboard(user, "Polski")  # and the real Telegram still gets through
            assert "Kogo Państwo" in user.last_message().text
            async with app.sessionmaker() as session:
                assert await session.scalar(select(func.count()).select_from(Application)) == 0
        finally:
            await runner.cleanup()
