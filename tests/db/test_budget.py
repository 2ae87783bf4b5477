"""One Telegram budget across instances (issue 21, item 9): two senders, each with its own
engine and its own connection to the shared budget (PostgreSQL tables or Redis), stay within
one global limit and one per-chat limit, and a 429 one of them gets holds the other too.

Counted at the fake Telegram server: how many sends any one second holds, and when a chat got
its messages. No assertion is a speed: a slow machine only widens the gaps counted."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.budget import SharedBudget, Store
from bot.budget_postgres import PostgresStore
from bot.budget_redis import RedisStore
from bot.delivery import Rendered, Sender
from bot.i18n import create_i18n
from bot.services import outbox
from bot.telegram_session import JsonSession
from db.engine import create_engine, create_sessionmaker
from db.models import Person
from tests import databases
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
FIRST_CHAT = 720_000_000


async def say_hello(session, rows, person) -> Rendered:
    return Rendered(f"Hello {rows[0].payload.get('n', '')}")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


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


@pytest.fixture
async def second_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The other instance's own engine on the same database."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


StoreFactory = Callable[[AsyncEngine], Store]


@pytest.fixture(params=["postgresql", "redis"])
async def shared_store(request, backend: str) -> AsyncIterator[StoreFactory]:
    """Makes one instance's connection to the shared budget, given that instance's engine."""
    if request.param == "postgresql":
        if backend != "postgresql":
            pytest.skip("the PostgreSQL budget is for instances sharing PostgreSQL")
        yield PostgresStore
        return
    reason = await databases.redis_unavailable_reason()
    if reason is not None and databases.redis_required():
        pytest.fail(f"Redis is required (REQUIRE_REDIS=1) but unreachable at "
                    f"{databases.redis_url()}: {reason}", pytrace=False)
    if reason is not None:
        pytest.skip(f"Redis not reachable at {databases.redis_url()}: {reason}")
    prefix = f"win4ua-test:{uuid.uuid4().hex[:12]}:"
    stores: list[RedisStore] = []

    def connect(engine: AsyncEngine) -> Store:
        stores.append(RedisStore.from_url(databases.redis_url(), prefix))
        return stores[-1]

    yield connect
    cleaner = RedisStore.from_url(databases.redis_url(), prefix)
    keys = [key async for key in cleaner.redis.scan_iter(match=cleaner.prefix + "*")]
    if keys:
        await cleaner.redis.delete(*keys)
    await cleaner.close()


async def queue(sessionmaker, tg, chats: list[int], start: int = 0) -> None:
    async with sessionmaker() as session, session.begin():
        for n, chat in enumerate(chats, start):
            person = Person(telegram_id=FIRST_CHAT + 10_000 + n, language="pl", role="user")
            session.add(person)
            await session.flush()
            tg.register_chat(chat, chat_type="group" if chat < 0 else "private")
            await outbox.enqueue(
                session, kind="hello", chat_id=chat, person_id=person.id,
                due_at=datetime.now(UTC) - timedelta(seconds=1), key=f"hello:{n}",
                payload={"n": n}, priority=outbox.PRIORITY_BROADCAST,
            )


def instance(bot, engine, store: Store | None, rate: int, clock: Clock, **options) -> Sender:
    budget = SharedBudget(store, rate) if store is not None else None
    return Sender(bot, create_sessionmaker(engine), create_i18n(), {"hello": say_hello},
                  rate=rate, budget=budget, clock=clock, **options)


def sent(tg: FakeTelegram, chat_id: int | None = None) -> list:
    return [c for c in tg.calls("sendMessage", chat_id) if c.ok]


async def close(*senders: Sender) -> None:
    for sender in senders:
        await sender.close()
        await sender.limiter.close()


async def test_two_instances_stay_within_one_global_limit(
    bot, tg, engine, second_engine, shared_store
) -> None:
    limit = 20
    tg.set_rate_limit(global_per_s=limit, per_chat_per_s=1)
    chats = [FIRST_CHAT + n for n in range(4 * limit)]
    await queue(create_sessionmaker(engine), tg, chats)
    clock = Clock()
    one = instance(bot, engine, shared_store(engine), limit, clock)
    two = instance(bot, second_engine, shared_store(second_engine), limit, clock)
    handled = await asyncio.gather(one.drain(max_seconds=60), two.drain(max_seconds=60))
    await close(one, two)
    assert sum(handled) == len(chats) and min(handled) > 0  # both instances sent
    assert tg.flood_errors == 0
    assert sorted(c.chat_id for c in sent(tg)) == chats  # each chat once
    times = sorted(c.time for c in sent(tg))
    # However the sends fell, no second at the server holds more than the limit of them.
    assert all(b - a >= 1.0 for a, b in zip(times, times[limit:], strict=False))


async def test_two_instances_share_the_per_chat_interval(
    bot, tg, engine, second_engine, shared_store
) -> None:
    tg.set_rate_limit(per_chat_per_s=1)
    chat = FIRST_CHAT
    await queue(create_sessionmaker(engine), tg, [chat] * 4)
    clock = Clock()
    one = instance(bot, engine, shared_store(engine), 100, clock, batch_size=2)
    two = instance(bot, second_engine, shared_store(second_engine), 100, clock, batch_size=2)
    reports = await asyncio.gather(one.tick(), two.tick())
    await close(one, two)
    assert [r.claimed for r in reports] == [2, 2]  # each instance holds two of the chat's rows
    times = [c.time for c in sent(tg, chat)]
    assert len(times) == 4 and tg.flood_errors == 0
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


async def test_a_group_gets_twenty_messages_a_minute_at_most(
    bot, tg, engine, second_engine, shared_store
) -> None:
    group = -1_001_000_000_000 - FIRST_CHAT
    await queue(create_sessionmaker(engine), tg, [group] * 2)
    clock = Clock()
    one = instance(bot, engine, shared_store(engine), 100, clock, batch_size=1)
    two = instance(bot, second_engine, shared_store(second_engine), 100, clock, batch_size=1)
    await asyncio.gather(one.tick(), two.tick())
    await close(one, two)
    first, second = (c.time for c in sent(tg, group))
    assert second - first >= 3.0


async def test_a_flood_one_instance_meets_pauses_the_other(
    bot, tg, engine, second_engine, shared_store
) -> None:
    """Three 429s at once are Telegram's flood control for the whole bot: the instance that
    got them pauses for `retry_after`, and so does the one that got none."""
    sessionmaker = create_sessionmaker(engine)
    await queue(sessionmaker, tg, [FIRST_CHAT + n for n in range(3)])
    tg.fail_next("sendMessage", 429, retry_after=3, count=3)
    clock = Clock()
    one = instance(bot, engine, shared_store(engine), 100, clock, concurrency=3)
    two = instance(bot, second_engine, shared_store(second_engine), 100, clock)
    await one.drain(max_seconds=10)
    floods = [c.time for c in tg.calls("sendMessage") if c.response_status == 429]
    assert len(floods) == 3
    # Until the pause is stored (a task the flood started).
    await asyncio.gather(*getattr(one.limiter, "_background", ()))
    others = [FIRST_CHAT + 100 + n for n in range(3)]
    await queue(sessionmaker, tg, others, start=100)
    await two.drain(max_seconds=20)
    await close(one, two)
    assert sorted(c.chat_id for c in sent(tg)) == others
    assert min(c.time for c in sent(tg)) >= max(floods) + 2.0  # retry_after 3, less a margin


async def test_a_chat_that_got_a_429_waits_on_every_instance(
    bot, tg, engine, second_engine, shared_store
) -> None:
    sessionmaker = create_sessionmaker(engine)
    chat, other = FIRST_CHAT, FIRST_CHAT + 1
    await queue(sessionmaker, tg, [chat])
    tg.fail_next("sendMessage", 429, retry_after=3, chat_id=chat)
    clock = Clock()
    one = instance(bot, engine, shared_store(engine), 100, clock)
    two = instance(bot, second_engine, shared_store(second_engine), 100, clock)
    await one.drain(max_seconds=10)
    [flood] = [c.time for c in tg.calls("sendMessage") if c.response_status == 429]
    assert one.limiter.paused_for() == 0  # one chat's 429: only that chat waits
    await queue(sessionmaker, tg, [chat, other], start=100)
    await two.drain(max_seconds=20)
    await close(one, two)
    [to_chat] = [c.time for c in sent(tg, chat)]
    [to_other] = [c.time for c in sent(tg, other)]
    assert to_chat >= flood + 2.0  # retry_after 3, less a margin
    assert to_other < to_chat  # the other chat did not wait for it


async def test_the_configuration_chooses_the_budget(engine, backend) -> None:
    """Redis when REDIS_URL is set, else PostgreSQL's tables; on SQLite the sender's own."""
    from bot.budget import create_budget
    from bot.settings import Settings

    plain = Settings(_env_file=None, bot_token=TOKEN)  # type: ignore[call-arg]
    with_redis = Settings(  # type: ignore[call-arg]
        _env_file=None, bot_token=TOKEN, redis_url="redis://127.0.0.1:6379/0"
    )
    budget = create_budget(with_redis, engine, 30)
    assert isinstance(budget, SharedBudget) and isinstance(budget.store, RedisStore)
    assert budget.store.prefix == "{win4ua:budget:123456789:}"  # the bot's id, not its token
    await budget.close()
    budget = create_budget(plain, engine, 30)
    if backend == "postgresql":
        assert isinstance(budget, SharedBudget) and isinstance(budget.store, PostgresStore)
    else:
        assert budget is None  # one instance: the sender's RateLimiter


async def test_the_postgresql_budget_forgets_chats_long_free(engine, backend) -> None:
    """Every hundredth take deletes the chats whose interval ended over a minute ago, in the
    take's own transaction: it must not fail (it did, `timestamptz < interval`, and every
    hundredth take then granted nothing and the instance waited a second)."""
    if backend != "postgresql":
        pytest.skip("the PostgreSQL budget is for instances sharing PostgreSQL")
    store = PostgresStore(engine)
    old = FIRST_CHAT + 900
    await store.take("old", [(old, "old:0")], 5, 10.0, 0.5)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE send_chat SET holder = NULL, free_at = free_at - interval '2 minutes' "
                 "WHERE chat_id = :chat"), {"chat": old},
        )
    granted = []
    for n in range(100):  # the hundredth take (the first above counted) forgets
        taken = await store.take("h", [(FIRST_CHAT + n, f"h:{n}")], 200, 10.0, 0.5)
        granted += taken.granted
    assert len(granted) == 100
    async with engine.connect() as connection:
        left = await connection.scalar(
            text("SELECT count(*) FROM send_chat WHERE chat_id = :chat"), {"chat": old}
        )
    assert left == 0
