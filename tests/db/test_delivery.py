"""The outbox sender against a real database and the fake Bot API server over HTTP."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select

from bot.delivery import UNREACHABLE_PREFIX, RateLimiter, Rendered, Sender, Skip
from bot.i18n import create_i18n
from bot.services import outbox
from bot.telegram_session import JsonSession
from db.engine import create_sessionmaker
from db.models import Outbox, Person
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
FIRST_CHAT = 700_000_000


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def say_hello(session, rows, person) -> Rendered | Skip:
    return Rendered(f"Hello {rows[0].payload.get('n', '')}")


async def in_three_parts(session, rows, person) -> Rendered | Skip:
    part = int(rows[0].payload.get("part", 0))
    return Rendered(f"part {part + 1}/3", next_payload={"part": part + 1} if part < 2 else None)


RENDERERS = {"hello": say_hello, "parts": in_three_parts}


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    api = TelegramAPIServer.from_base(tg.base_url)
    bot = Bot(
        TOKEN, session=JsonSession(api=api), default=DefaultBotProperties(parse_mode="HTML")
    )
    yield bot
    await bot.session.close()


@pytest.fixture
def sessionmaker(engine):
    return create_sessionmaker(engine)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_sender(bot, sessionmaker, clock, **options) -> Sender:
    return Sender(bot, sessionmaker, create_i18n(), RENDERERS, clock=clock, **options)


async def queue(
    sessionmaker,
    tg,
    count,
    *,
    kind="hello",
    priority=outbox.PRIORITY_BROADCAST,
    first=FIRST_CHAT,
    due=None,
    register=True,
    same_chat=False,
) -> list[int]:
    """`count` people with one row each (or all in one chat); returns the chat ids."""
    chats = []
    async with sessionmaker() as session, session.begin():
        for n in range(count):
            chat = first if same_chat else first + n
            person = await session.scalar(select(Person).where(Person.telegram_id == chat))
            if person is None:
                person = Person(telegram_id=chat, language="pl", role="user")
                session.add(person)
                await session.flush()
            if register:
                tg.register_chat(chat)
            await outbox.enqueue(
                session,
                kind=kind,
                chat_id=chat,
                person_id=person.id,
                due_at=due or datetime.now(UTC) - timedelta(seconds=1),
                key=f"{kind}:{first}:{n}",
                payload={"n": n},
                priority=priority,
            )
            chats.append(chat)
    return chats


async def rows(sessionmaker) -> list[Outbox]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(Outbox).order_by(Outbox.id))).all())


async def until(condition, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def sends(tg: FakeTelegram, chat_id: int | None = None) -> list:
    return [c for c in tg.calls("sendMessage", chat_id) if c.ok]


async def test_stays_within_the_global_rate_and_sends_each_once(bot, tg, sessionmaker, clock):
    tg.set_rate_limit(global_per_s=40, per_chat_per_s=1)
    chats = await queue(sessionmaker, tg, 90)
    sender = make_sender(bot, sessionmaker, clock, rate=40)
    handled = await sender.drain(max_seconds=30)
    assert handled == 90 and tg.flood_errors == 0
    assert sorted(c.chat_id for c in sends(tg)) == chats  # each chat exactly once
    times = sorted(c.time for c in sends(tg))
    assert all(b - a >= 1.0 for a, b in zip(times, times[40:], strict=False))
    assert {r.status for r in await rows(sessionmaker)} == {"sent"}
    assert all(r.telegram_message_id for r in await rows(sessionmaker))


async def test_one_message_a_second_to_a_chat_in_order(bot, tg, sessionmaker, clock):
    tg.set_rate_limit(per_chat_per_s=1)
    [chat, *_] = await queue(sessionmaker, tg, 3, same_chat=True)
    await make_sender(bot, sessionmaker, clock, rate=1000).drain()
    sent = sends(tg, chat)
    assert [c.params["text"] for c in sent] == ["Hello 0", "Hello 1", "Hello 2"]
    assert all(b.time - a.time >= 1.0 for a, b in itertools.pairwise(sent))
    assert tg.flood_errors == 0


async def test_reminders_go_before_broadcasts(bot, tg, sessionmaker, clock):
    broadcast = await queue(sessionmaker, tg, 30, first=FIRST_CHAT)
    reminders = await queue(
        sessionmaker, tg, 3, first=FIRST_CHAT + 1000, priority=outbox.PRIORITY_REMINDER
    )
    await make_sender(bot, sessionmaker, clock, rate=1000, concurrency=1).drain()
    order = [c.chat_id for c in sends(tg)]
    assert order[:3] == reminders and sorted(order[3:]) == broadcast


async def test_blocked_and_unknown_chats_are_not_retried(bot, tg, sessionmaker, clock):
    blocked, fine = await queue(sessionmaker, tg, 2)
    [unknown] = await queue(sessionmaker, tg, 1, first=FIRST_CHAT + 50, register=False)
    tg.block(blocked)
    sender = make_sender(bot, sessionmaker, clock, rate=1000)
    await sender.drain()
    clock.now += timedelta(hours=1)
    assert await sender.drain() == 0  # nothing comes back
    assert len(tg.calls("sendMessage", blocked)) == 1
    assert len(tg.calls("sendMessage", unknown)) == 1
    by_chat = {r.chat_id: r for r in await rows(sessionmaker)}
    assert by_chat[fine].status == "sent"
    for chat in (blocked, unknown):
        assert by_chat[chat].status == "failed"
        assert by_chat[chat].last_error.startswith(UNREACHABLE_PREFIX)
    async with sessionmaker() as session:
        people = {p.telegram_id: p for p in await session.scalars(select(Person))}
    assert people[blocked].blocked_at and people[unknown].blocked_at
    assert people[fine].blocked_at is None


async def test_server_errors_are_retried_with_backoff_then_failed(bot, tg, sessionmaker, clock):
    [chat] = await queue(sessionmaker, tg, 1)
    tg.fail_next("sendMessage", 502, count=10)
    sender = make_sender(bot, sessionmaker, clock, rate=1000, max_attempts=3)
    await sender.drain()
    [row] = await rows(sessionmaker)
    assert row.status == "pending" and row.due_at > clock.now  # backing off
    assert await sender.drain() == 0
    for _ in range(2):
        clock.now = row.due_at + timedelta(seconds=1)
        await sender.drain()
        [row] = await rows(sessionmaker)
    assert row.status == "failed" and row.attempts == 3
    assert len(tg.calls("sendMessage", chat)) == 3


async def test_retry_after_is_honoured(bot, tg, sessionmaker, clock):
    [chat] = await queue(sessionmaker, tg, 1)
    tg.fail_next("sendMessage", 429, retry_after=1)
    sender = make_sender(bot, sessionmaker, clock, rate=1000)
    await sender.drain()
    [row] = await rows(sessionmaker)
    assert row.status == "pending" and row.attempts == 0  # a wait is not a failed attempt
    assert row.due_at >= clock.now + timedelta(seconds=1)
    clock.now += timedelta(seconds=0.5)
    assert await sender.drain() == 0
    clock.now += timedelta(seconds=1)
    await sender.drain()
    assert [r.status for r in await rows(sessionmaker)] == ["sent"]
    first, second = tg.calls("sendMessage", chat)
    assert second.ok and second.time - first.time >= 1.0  # the chat itself waited too


def test_a_burst_of_429s_pauses_everything() -> None:
    limiter = RateLimiter(100)
    limiter.flood(1, 2)
    assert limiter.paused_for() == 0  # one chat's 429: only that chat waits
    limiter.flood(2, 2)
    limiter.flood(3, 2)
    assert limiter.paused_for() > 1.5  # three at once: flood control for the whole bot


async def test_long_texts_go_out_in_parts_once_each(bot, tg, sessionmaker, clock):
    [chat] = await queue(sessionmaker, tg, 1, kind="parts")
    sender = make_sender(bot, sessionmaker, clock, rate=1000)
    await sender.drain()
    clock.now += timedelta(seconds=1.5)
    await sender.drain()
    clock.now += timedelta(seconds=1.5)
    await sender.drain()
    assert [c.params["text"] for c in sends(tg, chat)] == ["part 1/3", "part 2/3", "part 3/3"]
    [row] = await rows(sessionmaker)
    assert row.status == "sent" and row.payload == {"part": 2}


async def test_expired_rows_are_not_sent(bot, tg, sessionmaker, clock):
    await queue(sessionmaker, tg, 1)
    async with sessionmaker() as session, session.begin():
        [row] = (await session.scalars(select(Outbox))).all()
        row.expires_at = clock.now - timedelta(minutes=1)
    await make_sender(bot, sessionmaker, clock, rate=1000).drain()
    assert not sends(tg) and [r.status for r in await rows(sessionmaker)] == ["expired"]


async def test_graceful_close_finishes_in_flight_and_gives_the_rest_back(
    bot, tg, sessionmaker, clock
):
    chats = await queue(sessionmaker, tg, 40)
    tg.set_delay("sendMessage", 0.05)
    sender = make_sender(bot, sessionmaker, clock, rate=10)
    drain = asyncio.create_task(sender.drain(max_seconds=30))
    await until(lambda: len(sends(tg)) >= 5)
    await sender.close()
    await drain
    statuses = [r.status for r in await rows(sessionmaker)]
    assert "sending" not in statuses  # nothing left leased to a sender that is gone
    assert statuses.count("sent") == len(sends(tg))
    tg.set_delay("sendMessage", 0)
    await make_sender(bot, sessionmaker, clock, rate=1000).drain(max_seconds=30)
    assert sorted(c.chat_id for c in sends(tg)) == chats  # every chat once, none twice


async def test_cancelling_drain_is_a_graceful_stop_too(bot, tg, sessionmaker, clock):
    chats = await queue(sessionmaker, tg, 30)
    sender = make_sender(bot, sessionmaker, clock, rate=10)
    drain = asyncio.create_task(sender.drain(max_seconds=30))
    await until(lambda: len(sends(tg)) >= 3)
    drain.cancel()
    with pytest.raises(asyncio.CancelledError):
        await drain
    assert "sending" not in {r.status for r in await rows(sessionmaker)}
    await make_sender(bot, sessionmaker, clock, rate=1000).drain(max_seconds=30)
    assert sorted(c.chat_id for c in sends(tg)) == chats


async def test_a_tick_sends_a_row_falling_due_before_the_next_tick(bot, tg, sessionmaker):
    due = datetime.now(UTC) + timedelta(milliseconds=300)
    [chat] = await queue(sessionmaker, tg, 1, due=due)
    sender = Sender(bot, sessionmaker, create_i18n(), RENDERERS)  # the wall clock
    ticking = asyncio.create_task(sender.on_tick(1.0))
    await until(lambda: sender._ticking)
    assert await sender.on_tick(1.0) == 0  # a tick while one is running leaves it be
    assert await ticking == 1  # the row was not due when the tick began: it waited for it
    assert [c.chat_id for c in sends(tg)] == [chat]
    [row] = await rows(sessionmaker)
    assert row.status == "sent" and row.sent_at >= due
