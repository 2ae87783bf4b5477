"""An update's id is recorded with its transaction, and a second delivery keeps nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from bot.services import people
from db.engine import create_sessionmaker
from db.models import Person, ProcessedUpdate
from db.repositories import updates


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


async def test_a_duplicate_rolls_back_and_the_connection_serves_the_next_update(engine) -> None:
    """The record is a plain INSERT in the update's transaction: a duplicate rolls everything
    back, and the pooled connection is clean for the next update."""
    await _deliver(engine, 7, telegram_id=70)
    with pytest.raises(updates.AlreadyProcessed):
        await _deliver(engine, 7, telegram_id=71)
    await _deliver(engine, 8, telegram_id=72)  # the same pooled connection, after a rollback
    assert (await _count(engine, ProcessedUpdate), await _count(engine, Person)) == (2, 2)
    async with create_sessionmaker(engine)() as session:
        kept = await session.scalars(select(ProcessedUpdate.update_id).order_by("update_id"))
        assert list(kept) == [7, 8]
        assert (
            await session.scalar(
                select(func.count())
                .select_from(ProcessedUpdate)
                .where(ProcessedUpdate.received_at.is_(None))
            )
        ) == 0


async def test_a_failing_commit_is_not_taken_for_a_redelivery(engine) -> None:
    """Only the update's own id taken means AlreadyProcessed; any other failure at commit is
    the database's error, and nothing is kept."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL: a deferred constraint fails at COMMIT")
    async with create_sessionmaker(engine)() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                await session.execute(
                    text(
                        "CREATE TEMPORARY TABLE IF NOT EXISTS checked "
                        "(id int PRIMARY KEY, other int UNIQUE DEFERRABLE "
                        "INITIALLY DEFERRED)"
                    )
                )
                await session.execute(text("INSERT INTO checked VALUES (1, 1), (2, 1)"))
                await updates.seal(session, 9)
    assert await _count(engine, ProcessedUpdate) == 0
    await _deliver(engine, 9, telegram_id=90)  # the id was not taken; the connection is fine
    assert await _count(engine, ProcessedUpdate) == 1
