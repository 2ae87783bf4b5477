"""Fencing by lease (issue 21, item 3): a claimed row is sent only while its lease is valid by
the sender's own clock; a healthy sender renews the leases of the rows it holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select, text

from bot.delivery import Rendered, Sender
from bot.i18n import create_i18n
from bot.services import outbox
from bot.telegram_session import JsonSession
from db.engine import create_sessionmaker
from db.models import Outbox, Person
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
FIRST_CHAT = 710_000_000


async def say_hello(session, rows, person) -> Rendered:
    return Rendered(f"Hello {rows[0].payload.get('n', '')}")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    api = TelegramAPIServer.from_base(tg.base_url)
    bot = Bot(TOKEN, session=JsonSession(api=api),
              default=DefaultBotProperties(parse_mode="HTML"))
    yield bot
    await bot.session.close()


async def queue(sessionmaker, tg, count: int) -> list[int]:
    chats = [FIRST_CHAT + n for n in range(count)]
    async with sessionmaker() as session, session.begin():
        for n, chat in enumerate(chats):
            person = Person(telegram_id=chat, language="pl", role="user")
            session.add(person)
            await session.flush()
            tg.register_chat(chat)
            await outbox.enqueue(
                session, kind="hello", chat_id=chat, person_id=person.id,
                due_at=datetime.now(UTC) - timedelta(seconds=1), key=f"hello:{n}",
                payload={"n": n}, priority=outbox.PRIORITY_BROADCAST,
            )
    return chats


def slow_sender(bot, sessionmaker, lease: float) -> Sender:
    """One message a second, so a batch of seven outlasts a lease of three seconds."""
    return Sender(bot, sessionmaker, create_i18n(), {"hello": say_hello}, rate=1,
                  per_chat_interval=0, lease=timedelta(seconds=lease))


async def test_a_healthy_sender_renews_the_leases_of_a_long_batch(bot, tg, engine) -> None:
    sessionmaker = create_sessionmaker(engine)
    chats = await queue(sessionmaker, tg, 7)
    sender = slow_sender(bot, sessionmaker, lease=3)
    assert sender.lease_margin == 1.0
    await sender.drain(max_seconds=30)
    await sender.close()
    sends = [call.chat_id for call in tg.calls("sendMessage") if call.ok]
    assert sorted(sends) == chats  # each once
    assert sender.dropped == 0  # renewed every second: none ran out while waiting its turn
    async with sessionmaker() as session:
        statuses = (await session.scalars(select(Outbox.status))).all()
    assert set(statuses) == {"sent"}


async def test_nothing_is_sent_once_the_lease_has_passed_while_commits_are_stuck(
    bot, tg, engine, backend
) -> None:
    """The outbox table locked by another session (commits and renewals stuck): the sender
    stops sending when its lease passes by its own clock, and the rows it dropped unsent go
    out later, once each."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer: no other session holds the table while we send")
    sessionmaker = create_sessionmaker(engine)
    chats = await queue(sessionmaker, tg, 7)
    sender = slow_sender(bot, sessionmaker, lease=3)
    started = time.monotonic()  # before the claim: the lease ends by started + 3 s at latest
    draining = asyncio.create_task(sender.drain(max_seconds=40))
    for _ in range(1000):  # until the first message is out (the claim was made)
        if tg.calls("sendMessage"):
            break
        await asyncio.sleep(0.01)
    async with engine.connect() as locker:
        await locker.execute(text("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE"))
        await asyncio.sleep(6)
        released = time.monotonic()
        await locker.rollback()
    await asyncio.wait_for(draining, 40)
    assert sender.dropped > 0
    # The next ticks take the dropped rows again once their lease has passed (a drain that
    # finds nothing due yet returns at once, so it is asked again, as the clock would).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(
        {call.chat_id for call in tg.calls("sendMessage") if call.ok}
    ) < len(chats):
        await sender.drain(max_seconds=5)
        await asyncio.sleep(0.2)
    await sender.close()
    fenced = started + 3 - sender.lease_margin
    late = [c.time - started for c in tg.calls("sendMessage") if fenced < c.time < released]
    assert late == [], f"sent {late} s after the claim, past its lease minus the margin"
    sends = [call.chat_id for call in tg.calls("sendMessage") if call.ok]
    assert sorted(sends) == chats  # the dropped ones too, each once
