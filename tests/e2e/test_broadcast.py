"""Broadcasts over the fake Bot API: the wizard end to end, scheduling and cancelling, long
texts, 2,000 recipients with floods and blocked chats, a graceful restart and a kill -9."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bot.app import App
from bot.broadcast_watch import watch_broadcasts
from bot.delivery import Sender
from bot.renderers import BATCHED_KINDS, renderers
from bot.services import broadcast
from bot.services.segments import Segment
from db.models import AuditLog, Broadcast, Outbox, Person
from tests.e2e.conftest import STAFF_ID, TOKEN, FakeClock
from tests.e2e.test_staff import ready, staff_user
from tests.fakes.telegram_server import FakeTelegram, FileData
from tests.fakes.user import FakeUser

ROOT = Path(__file__).resolve().parents[2]
FIRST = 800_000_000


async def until(condition, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def sender_for(app: App, clock: FakeClock, **options) -> Sender:
    options.setdefault("rate", 1000)
    return Sender(
        app.bot,
        app.sessionmaker,
        app.i18n,
        renderers(app.programme, clock),
        batched_kinds=BATCHED_KINDS,
        clock=clock,
        **options,
    )


async def run(app: App, sender: Sender, clock: FakeClock, seconds: float = 60) -> Broadcast:
    """What the scheduler does: the broadcast job and the sender, until the newest broadcast
    is over and its report has gone out."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        await watch_broadcasts(app.bot, app.sessionmaker, app.i18n, clock, sender.limiter)
        handled = await sender.drain(max_seconds=10)
        async with app.sessionmaker() as session:
            item = await session.scalar(select(Broadcast).order_by(Broadcast.id.desc()))
            open_rows = await session.scalar(
                select(func.count()).where(Outbox.status.in_(("pending", "sending")))
            )
        if item.status in ("done", "cancelled") and not open_rows:
            await watch_broadcasts(app.bot, app.sessionmaker, app.i18n, clock, sender.limiter)
            return item
        if not handled:
            await asyncio.sleep(0.2)
    raise AssertionError("the broadcast did not finish in time")


async def crowd(app: App, tg: FakeTelegram, count: int, language: str = "pl") -> list[int]:
    """`count` people who read the notice long ago, inserted at once."""
    ids = list(range(FIRST, FIRST + count))
    now = datetime.now(UTC)
    async with app.sessionmaker() as session, session.begin():
        await session.execute(
            insert(Person),
            [
                {
                    "telegram_id": i,
                    "language": language,
                    "role": "user",
                    "consent_at": now,
                    "consent_version": "x",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
    for chat in (*ids, STAFF_ID):  # the author gets the progress card and the report
        tg.register_chat(chat)
    return ids


async def start_broadcast(app: App, segment: Segment | None = None) -> int:
    async with app.sessionmaker() as session, session.begin():
        author = await session.scalar(select(Person).where(Person.telegram_id == STAFF_ID))
        draft = await broadcast.create_draft(session, author, app.programme.id)
        broadcast.choose_segment(draft, segment or Segment("everyone"))
        broadcast.add_text(draft, "pl", "<b>Hello</b>")
        count = await broadcast.recipient_count(session, draft)
        await broadcast.confirm(session, draft, author, expected=count, at=datetime.now(UTC))
        return draft.id


def delivered(tg: FakeTelegram, chats: list[int]) -> Counter[int]:
    wanted = set(chats)
    return Counter(
        c.chat_id
        for c in tg.calls()
        if c.ok and c.chat_id in wanted and c.method in ("sendMessage", "sendPhoto", "sendDocument")
    )


def photo_known_to_telegram(tg: FakeTelegram, user: FakeUser) -> None:
    """The fake does not keep files users send; Telegram does, so make the last one known."""
    newest = tg.new_message_id(user.chat_id)
    shown = (tg.render_message(user.chat_id, n) or {} for n in range(newest, 0, -1))
    sizes = next(message["photo"] for message in shown if "photo" in message)
    for size in sizes:
        tg._files[size["file_id"]] = FileData(
            size["file_id"], size["file_unique_id"], None, None, "image/jpeg"
        )


async def test_wizard_end_to_end(bot, tg, user_factory, clock) -> None:
    staff = staff_user(tg)
    await ready(bot, staff)
    pl, uk, en = user_factory("pl"), user_factory("uk"), user_factory("en")
    await ready(bot, pl, "pl", status="eligible")
    await ready(bot, uk, "uk", status="eligible", audience="intern")
    await ready(bot, en, "en", status="eligible")
    await ready(bot, user_factory("pl"), "pl", status="draft")  # not in the segment

    await staff.send("/broadcast")
    await staff.press("Eligible applicants")
    assert "Eligible applicants · 3 recipients" in staff.messages()[-2].text
    assert "Send the text in Polish." in staff.last_message().text
    await staff.send("<b>oops")
    assert "would not accept this formatting" in staff.last_message().text
    await staff.send("<b>Dzień dobry!</b> Zapraszamy na spotkanie &amp; rozmowę.")
    assert "(47 characters); it will go out as 1 message." in staff.last_message().text
    await staff.press("Next")
    await staff.send("<b>Добрий день!</b> Запрошуємо на зустріч.")
    await staff.press("Next")
    assert "English" in staff.last_message().text
    await staff.press("Skip this language")
    await staff.press("Polski")  # those without a text get the Polish one
    await staff.send_photo()
    photo_known_to_telegram(tg, staff)
    await staff.press("Preview")
    # One message a language, named in its first lines (issue 21, item 11).
    shown = [m.text for m in staff.messages()[-3:]]
    assert shown[0].startswith("Preview of the Polish text:\n\nDzień dobry!")
    assert shown[1].startswith("Preview of the Ukrainian text:\n\nДобрий день!")
    assert "3 recipients" in shown[2]
    late = user_factory("pl")
    await ready(bot, late, "pl", status="eligible")  # the segment grows before the press
    await staff.press("Send now")
    assert staff.answers()[-1].show_alert and "changed" in staff.answers()[-1].text
    assert "4 recipients" in staff.last_message().text
    await staff.press("Send now")
    assert "starts" in staff.last_message().text

    item = await run(bot, sender_for(bot, clock), clock)
    assert item.status == "done" and item.total == 4
    for user, greeting in (
        (pl, "Dzień dobry!"),
        (uk, "Добрий день!"),
        (en, "Dzień dobry!"),
        (late, "Dzień dobry!"),
    ):
        [message] = user.messages()[-1:]
        assert message.kind == "photo" and message.text.startswith(greeting)
        assert message.entities[0]["type"] == "bold"
    card = next(m for m in staff.messages() if m.text.startswith("📣 Broadcast #"))
    assert "sent: 4" in card.text and "Finished." in card.text and card.edited
    assert "Delivered to 4 people." in staff.last_message().text
    [confirmed] = await audit_rows(bot, "broadcast.confirm")
    assert confirmed.count == 4 and confirmed.actor_id is not None


async def audit_rows(app: App, action: str) -> list[AuditLog]:
    async with app.sessionmaker() as session:
        return list(await session.scalars(select(AuditLog).where(AuditLog.action == action)))


async def test_schedule_for_later_then_cancel(bot, tg, user_factory, clock) -> None:
    staff = staff_user(tg)
    await ready(bot, staff)
    recipient = user_factory("pl")
    await ready(bot, recipient, "pl")
    await staff.send("/broadcast")
    await staff.press("Everyone")
    await staff.send("Spotkanie przeniesione.")
    await staff.press("Next")
    await staff.press("Skip this language")
    await staff.press("Skip this language")
    await staff.press("No attachment")  # on to the preview
    await staff.press("Schedule")
    await staff.send("jutro")
    assert "DD.MM.YYYY" in staff.last_message().text
    await staff.send("01.01.2020 10:00")
    assert "has passed" in staff.last_message().text
    when = datetime.now(ZoneInfo("Europe/Warsaw")) + timedelta(days=2)
    await staff.send(when.strftime("%d.%m.%Y %H:%M"))
    assert "Scheduled for" in staff.last_message().text
    await staff.press("Confirm, send then")
    sender = sender_for(bot, clock)
    await watch_broadcasts(bot.bot, bot.sessionmaker, bot.i18n, clock)
    assert await sender.drain() == 0  # not yet
    await staff.send("/broadcasts")
    await staff.press("Stop #")
    assert "cancelled before it began" in staff.last_message().text
    clock.now = datetime.now(UTC) + timedelta(days=3)
    await watch_broadcasts(bot.bot, bot.sessionmaker, bot.i18n, clock)
    assert await sender.drain() == 0
    async with bot.sessionmaker() as session:
        assert (await session.scalar(select(Broadcast))).status == "cancelled"
        assert await session.scalar(select(func.count()).select_from(Outbox)) == 0
    assert "przeniesione" not in " ".join(recipient.texts())


async def test_stopping_a_running_broadcast(bot, tg, clock) -> None:
    staff = staff_user(tg)
    await ready(bot, staff)
    chats = await crowd(bot, tg, 30)
    await start_broadcast(bot, segment=Segment("language", "pl"))  # not the staff member
    await watch_broadcasts(bot.bot, bot.sessionmaker, bot.i18n, clock)
    await sender_for(bot, clock, batch_size=5).tick()  # five go out, then staff press Stop
    await staff.press("Stop the broadcast")
    item = await run(bot, sender_for(bot, clock), clock)
    assert item.status == "cancelled"
    got = delivered(tg, chats)
    assert sum(got.values()) == 5 and set(got.values()) == {1}
    report = staff.last_message().text
    assert "was cancelled" in report and "Not sent: 25" in report


async def test_long_texts_arrive_in_parts_in_order(bot, tg, user_factory, clock) -> None:
    staff = staff_user(tg)
    await ready(bot, staff)
    reader = user_factory("pl")
    await ready(bot, reader, "pl")
    first, second = "Pierwszy akapit. " + "a" * 3000, "Drugi akapit. " + "b" * 3000
    await staff.send("/broadcast")
    await staff.press("By language")
    await staff.press("Polski")
    await staff.send(first)
    await staff.send(second)
    assert "it will go out as 2 messages" in staff.last_message().text
    await staff.press("Next")
    await staff.press("Skip this language")
    await staff.press("Skip this language")
    await staff.press("No attachment")  # on to the preview
    await staff.press("Send now")
    await run(bot, sender_for(bot, clock), clock)
    assert reader.texts()[-2:] == [first, second]


async def test_two_thousand_with_floods_and_blocked_chats(bot, tg, clock) -> None:
    chats = await crowd(bot, tg, 2000)
    tg.set_fault_rates(flood=0.05, blocked=0.1, seed=2026)
    await start_broadcast(bot)
    item = await run(bot, sender_for(bot, clock), clock, seconds=120)
    blocked = {chat for chat in chats if tg.is_randomly_blocked(chat)}
    got = delivered(tg, chats)
    assert 150 < len(blocked) < 250 and tg.flood_errors > 50
    assert {chat: 1 for chat in chats if chat not in blocked} == dict(got)  # exactly once each
    attempts = Counter(c.chat_id for c in tg.calls("sendMessage") if c.chat_id in blocked)
    assert set(attempts.values()) == {1}  # a 403 is never retried
    async with bot.sessionmaker() as session:
        progress = await broadcast.progress(session, item.id)
        unreachable = await session.scalar(
            select(func.count()).where(Person.blocked_at.is_not(None), Person.telegram_id >= FIRST)
        )
    reachable = 2000 - len(blocked)
    assert (progress.sent, progress.blocked, progress.failed) == (reachable, len(blocked), 0)
    assert unreachable == len(blocked) and item.status == "done"


async def test_a_graceful_restart_resumes_without_duplicates(start_bot, tg, clock) -> None:
    app = await start_bot()
    chats = await crowd(app, tg, 120)
    await start_broadcast(app)
    await watch_broadcasts(app.bot, app.sessionmaker, app.i18n, clock)
    sender = sender_for(app, clock, rate=40)
    sending = asyncio.create_task(sender.drain(max_seconds=30))
    await until(lambda: sum(delivered(tg, chats).values()) >= 30)
    await sender.close()  # what stopping the bot does
    await sending
    await start_bot.stop()
    app = await start_bot()
    await run(app, sender_for(app, clock), clock)
    assert dict(delivered(tg, chats)) == {chat: 1 for chat in chats}


KILLED_SENDER = f"""
import asyncio, sys
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from bot.delivery import Sender
from bot.telegram_session import JsonSession
from bot.i18n import create_i18n
from bot.renderers import renderers
from db.engine import create_engine, create_sessionmaker

async def main(url, base):
    session = JsonSession(api=TelegramAPIServer.from_base(base))
    bot = Bot("{TOKEN}", session=session, default=DefaultBotProperties(parse_mode="HTML"))
    sender = Sender(bot, create_sessionmaker(create_engine(url)), create_i18n(), renderers(),
                    rate=40)
    print(sender.concurrency, flush=True)
    await sender.drain(max_seconds=60)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_kill_9_repeats_at_most_the_sends_in_flight(bot, tg, clock, database_url) -> None:
    chats = await crowd(bot, tg, 150)
    await start_broadcast(bot)
    await watch_broadcasts(bot.bot, bot.sessionmaker, bot.i18n, clock)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_SENDER,
        database_url,
        tg.base_url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    in_flight_bound = int(await process.stdout.readline())
    await until(lambda: sum(delivered(tg, chats).values()) >= 50)
    process.kill()  # SIGKILL: no cleanup at all
    await process.wait()
    clock.now = datetime.now(UTC) + timedelta(minutes=2)  # past the dead sender's leases
    await run(bot, sender_for(bot, clock), clock)
    got = delivered(tg, chats)
    assert set(got) == set(chats)  # nobody lost
    duplicates = sum(n - 1 for n in got.values())
    assert duplicates <= in_flight_bound
