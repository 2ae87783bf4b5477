"""An update's id is recorded with its transaction, and a second delivery keeps nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.services import people
from db.engine import create_sessionmaker
from db.models import Person, ProcessedUpdate
from db.repositories import updates
from db.sqlite_driver import OneHopConnection


async def _deliver(engine, update_id: int, telegram_id: int) -> None:
    async with create_sessionmaker(engine)() as session, session.begin():
        await people.on_contact(session, telegram_id)
        await updates.seal(session, update_id)


async def _count(engine, model) -> int:
    async with create_sessionmaker(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_second_delivery_keeps_nothing(engine) -> None:
    await _deliver(engine, 1, telegram_id=10)
    with pytest.raises(updates.AlreadyProcessed):
        await _deliver(engine, 1, telegram_id=11)  # the same update, as if from someone new
    assert (await _count(engine, ProcessedUpdate), await _count(engine, Person)) == (1, 1)


async def test_seal_before_any_statement_still_records(engine) -> None:
    async with create_sessionmaker(engine)() as session, session.begin():
        await updates.seal(session, 5)
    assert await _count(engine, ProcessedUpdate) == 1


async def test_the_transaction_knows_its_sqlite_connection(engine) -> None:
    sqlite = engine.dialect.name == "sqlite"
    async with create_sessionmaker(engine)() as session:
        async with session.begin():
            assert updates._driver_of_transaction(session.sync_session) is None  # no trip yet
            await people.on_contact(session, 10)
            noted = updates._driver_of_transaction(session.sync_session)
            if sqlite:
                raw = await (await session.connection()).get_raw_connection()
                assert isinstance(noted, OneHopConnection) and noted is raw.driver_connection
            else:  # only SQLite's COMMIT trip takes the record: nothing to keep elsewhere
                assert noted is None
        async with session.begin():  # a new transaction: the old note does not count
            assert updates._driver_of_transaction(session.sync_session) is None
