"""The transaction middleware's test of "the database asks for this transaction again"
(issue 21, item 1), against a real deadlock on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.middlewares import retryable
from db.engine import create_sessionmaker


async def test_a_real_deadlock_is_recognised_as_retryable(backend, engine) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: no deadlock to detect")
    sessionmaker = create_sessionmaker(engine)
    both_hold_one = asyncio.Barrier(2)

    async def cross(first: int, second: int) -> BaseException | None:
        async with sessionmaker() as session:
            try:
                async with session.begin():
                    await session.execute(text(
                        "SELECT pg_advisory_xact_lock(:k)"), {"k": 2100 + first})
                    await both_hold_one.wait()
                    await session.execute(text(
                        "SELECT pg_advisory_xact_lock(:k)"), {"k": 2100 + second})
            except DBAPIError as error:
                return error
        return None

    outcomes = await asyncio.gather(cross(1, 2), cross(2, 1))
    [victim] = [outcome for outcome in outcomes if outcome is not None]
    assert retryable(victim) == "deadlock detected"
    assert retryable(ValueError("deadlock detected")) is None
