"""Contention between two bot instances on one PostgreSQL database (issue 21).

Two instances are two `build_app`s in this process: two engines (two connection pools), two
dispatchers, one fake Telegram. Updates are fed to both at once, so their transactions really
overlap in the database, as two processes' would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Update
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.programme import PROGRAMMES_DIR
from bot.services import booking as seats
from bot.services.people import PRIVACY_NOTICE_VERSION
from bot.settings import Settings
from db.models import Booking, Event, Outbox, Person
from tests.db.test_booking import applicant as _applicant
from tests.db.test_booking import meeting
from tests.e2e.conftest import TOKEN

pytestmark = pytest.mark.usefixtures("postgres")


@pytest.fixture
def postgres(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("two instances on one database need PostgreSQL")


@pytest.fixture
async def two_instances(tg, database_url, clock) -> AsyncIterator[list[App]]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=TOKEN,
        database_url=database_url,
        telegram_api_base=tg.base_url,
        programme_file=Path(PROGRAMMES_DIR / "demo.toml"),
        throttle_rate=0,
    )
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(build_app(settings, clock=clock, prepare=False))
            for _ in range(2)
        ]


def press(tg, telegram_id: int, data: str) -> Update:
    user = {"id": telegram_id, "is_bot": False, "first_name": "P", "language_code": "pl"}
    chat = {"id": telegram_id, "type": "private", "first_name": "P"}
    return Update.model_validate(tg.prepare(
        {
            "callback_query": {
                "id": tg.new_callback_query_id(),
                "from": user,
                "chat_instance": "1",
                "data": data,
                "message": {"message_id": 1, "date": 0, "chat": chat},
            },
        }
    ))


async def all_at_once(instances: list[App], updates: list[Update]) -> list[Any]:
    """Each update to one of the instances in turn, all of them at the same moment."""
    return await asyncio.gather(
        *(
            instances[n % len(instances)].dispatcher.feed_update(
                instances[n % len(instances)].bot, update
            )
            for n, update in enumerate(updates)
        )
    )


async def applicant(session, telegram_id: int) -> Person:
    """An eligible municipal contact who has read the data notice."""
    person = await _applicant(session, telegram_id)
    person.consent_version, person.consent_at = PRIVACY_NOTICE_VERSION, datetime.now(UTC)
    return person


def said_to(tg, chat_id: int) -> list[str]:
    texts = []
    for call in tg.calls(chat_id=chat_id):
        text = call.params.get("text")
        if text:
            texts.append(str(text))
    return texts


async def test_ten_simultaneous_cancels_from_two_instances(tg, two_instances, caplog) -> None:
    """Issue 21, item 1: ten holders of one event cancel at the same moment, half through each
    instance: ten cancelled, the waitlist offered in its order, nobody told of an error."""
    app = two_instances[0]
    now = datetime.now(UTC)
    async with app.sessionmaker() as session, session.begin():
        event = await meeting(session, capacity=10, starts_at=now + timedelta(days=7), now=now)
        holders = []
        for number in range(10):
            person = await applicant(session, 700_000 + number)
            holders.append((person.telegram_id, (await seats.choose(
                session, app.programme, person, event.id, now)).booking.id))
        queue = []
        for number in range(12):
            person = await applicant(session, 710_000 + number)
            seat = await seats.join_waitlist(
                session, app.programme, person, event.id, now + timedelta(seconds=number))
            seat.booking.created_at = now + timedelta(seconds=number)
            queue.append(seat.booking.id)
    for telegram_id, _booking in holders:
        tg.register_chat(telegram_id)

    with caplog.at_level(logging.INFO):
        await all_at_once(two_instances, [press(tg, t, f"mb:cancel_yes:{b}") for t, b in holders])

    async with app.sessionmaker() as session:
        statuses = dict((await session.execute(
            select(Booking.id, Booking.status).where(Booking.event_id == event.id))).all())
        offers = (await session.scalars(
            select(Outbox.booking_id).where(Outbox.kind == "waitlist.offer"))).all()
    assert [statuses[b] for _t, b in holders] == ["cancelled"] * 10, said_to(tg, holders[0][0])
    # The first ten in line got the ten seats, the last two wait on.
    assert [statuses[b] for b in queue] == ["offered"] * 10 + ["waitlisted"] * 2
    assert sorted(offers) == sorted(queue[:10])
    for telegram_id, _booking in holders:
        assert any("odwołana" in text for text in said_to(tg, telegram_id)), said_to(
            tg, telegram_id)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]


async def test_cancels_while_others_book_from_two_instances(tg, two_instances, caplog) -> None:
    """Five holders cancel while thirty others press the same date, across two instances:
    every cancel done, no error, and the seats counted are the seats held."""
    app = two_instances[0]
    now = datetime.now(UTC)
    async with app.sessionmaker() as session, session.begin():
        event = await meeting(session, capacity=10, starts_at=now + timedelta(days=7), now=now)
        holders = []
        for number in range(10):
            person = await applicant(session, 720_000 + number)
            seat = await seats.choose(session, app.programme, person, event.id, now)
            holders.append((person.telegram_id, seat.booking.id))
        bookers = [(await applicant(session, 730_000 + n)).telegram_id for n in range(30)]
    for telegram_id in [t for t, _b in holders] + bookers:
        tg.register_chat(telegram_id)

    presses = [press(tg, t, f"mb:cancel_yes:{b}") for t, b in holders[:5]]
    presses += [press(tg, t, f"mp:{event.id}") for t in bookers]
    with caplog.at_level(logging.INFO):
        await all_at_once(two_instances, presses)

    async with app.sessionmaker() as session:
        statuses = dict((await session.execute(
            select(Booking.id, Booking.status).where(Booking.event_id == event.id))).all())
        taken = await session.scalar(select(Event.seats_taken).where(Event.id == event.id))
    assert [statuses[b] for _t, b in holders[:5]] == ["cancelled"] * 5
    active = list(statuses.values()).count("active")
    assert taken == active <= 10
    assert active >= 5  # the five who kept their seats, and whoever got a freed one
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_contention_is_answered_not_crashed_on(tg, two_instances, caplog) -> None:
    """Issue 21, item 8: people booking, double-pressing, queueing and cancelling at once
    through two instances: every press answered, the races lost are logged at INFO, and not
    one traceback in the logs; the seats counted are the seats held."""
    app = two_instances[0]
    now = datetime.now(UTC)
    async with app.sessionmaker() as session, session.begin():
        events = [
            await meeting(session, capacity=3, starts_at=now + timedelta(days=7 + n), now=now)
            for n in range(2)
        ]
        holders = []
        for number in range(3):
            person = await applicant(session, 740_000 + number)
            seat = await seats.choose(session, app.programme, person, events[0].id, now)
            holders.append((person.telegram_id, seat.booking.id))
        people = [(await applicant(session, 750_000 + n)).telegram_id for n in range(16)]
    for telegram_id in [t for t, _b in holders] + people:
        tg.register_chat(telegram_id)

    presses = []
    for telegram_id, booking_id in holders:  # each cancel pressed twice, once per instance
        presses += [press(tg, telegram_id, f"mb:cancel_yes:{booking_id}") for _ in range(2)]
    for n, telegram_id in enumerate(people):
        first, other = events[n % 2].id, events[(n + 1) % 2].id
        presses += [press(tg, telegram_id, f"mp:{first}"), press(tg, telegram_id, f"mp:{first}")]
        presses += [press(tg, telegram_id, f"mw:{first}"), press(tg, telegram_id, f"mw:{first}")]
        presses += [press(tg, telegram_id, f"mp:{other}")]
    with caplog.at_level(logging.INFO):
        await all_at_once(two_instances, presses)

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not errors and not tracebacks, (errors, tracebacks)
    raced = [r for r in caplog.records if r.name == "bot.services.booking"]
    assert raced and {r.levelno for r in raced} == {logging.INFO}  # each cancel pressed twice
    assert len(tg.callback_answers()) == len(presses)
    async with app.sessionmaker() as session:
        for event in events:
            taken = await session.scalar(select(Event.seats_taken).where(Event.id == event.id))
            held = await session.scalar(select(func.count()).select_from(Booking).where(
                Booking.event_id == event.id, Booking.status.in_(("active", "offered"))))
            assert taken == held <= 3
        doubles = await session.scalar(select(func.count()).select_from(
            select(Booking.person_id).where(Booking.status.in_(seats.LIVE))
            .group_by(Booking.person_id, Booking.kind).having(func.count() > 1).subquery()))
    assert doubles == 0
