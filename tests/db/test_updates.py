"""An update's id is recorded with its transaction, and a second delivery keeps nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from bot.services import people
from db.engine import create_sessionmaker
from db.models import Person, ProcessedUpdate
from db.postgres_driver import GuardedConnection
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


async def test_the_transaction_knows_its_connection(engine) -> None:
    sqlite = engine.dialect.name == "sqlite"
    async with create_sessionmaker(engine)() as session:
        async with session.begin():
            assert updates._driver_of_transaction(session.sync_session) is None  # no trip yet
            await people.on_contact(session, 10)
            noted = updates._driver_of_transaction(session.sync_session)
            raw = await (await session.connection()).get_raw_connection()
            ours = OneHopConnection if sqlite else GuardedConnection
            assert isinstance(noted, ours) and noted is raw.driver_connection
        async with session.begin():  # a new transaction: the old note does not count
            assert updates._driver_of_transaction(session.sync_session) is None


async def test_the_record_rides_with_the_commit(engine) -> None:
    """On both databases the INSERT of the update's id costs no statement of its own: it is
    sent with the COMMIT (SQLite: in the same trip to the thread; PostgreSQL: in the same
    query). A duplicate rolls everything back, and the connection serves the next update."""
    statements: list[str] = []

    def note(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        await _deliver(engine, 7, telegram_id=70)
        with pytest.raises(updates.AlreadyProcessed):
            await _deliver(engine, 7, telegram_id=71)
        await _deliver(engine, 8, telegram_id=72)  # the same pooled connection, after a rollback
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)
    assert not [s for s in statements if "processed_update" in s]
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
