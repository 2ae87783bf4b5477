"""The SQLite connection that answers each statement in one thread round trip."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, column, insert, select, table, text
from sqlalchemy.exc import IntegrityError

from db import sqlite_driver
from db.engine import create_engine

numbers = table("numbers", column("n", Integer), column("label", String))


@pytest.fixture
async def engine(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE numbers (n INTEGER PRIMARY KEY, label TEXT)"))
    yield engine
    await engine.dispose()


def count_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = sqlite_driver.OneHopConnection._execute

    async def counting(self, fn, *args, **kwargs):
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite_driver.OneHopConnection, "_execute", counting)
    return calls


async def test_a_statement_is_one_round_trip(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(numbers), [{"n": 1, "label": "one"}])
        calls = count_round_trips(monkeypatch)
        row = (await connection.execute(select(numbers).where(numbers.c.n == 1))).one()
        assert row.label == "one"
        assert len(calls) == 1
        result = await connection.execute(
            numbers.update().where(numbers.c.n == 1).values(label="uno")
        )
        assert result.rowcount == 1
        assert len(calls) == 2


async def test_inserted_ids_and_returning(engine) -> None:
    async with engine.begin() as connection:
        result = await connection.execute(insert(numbers).values(label="x"))
        assert result.lastrowid == 1
        returned = await connection.execute(
            insert(numbers).values(label="y").returning(numbers.c.n, numbers.c.label)
        )
        assert returned.one() == (2, "y")


async def test_long_results_are_complete_and_streamed_in_pages(engine) -> None:
    total = sqlite_driver.PREFETCH_ROWS * 3 + 7
    async with engine.begin() as connection:
        await connection.execute(
            insert(numbers), [{"n": n, "label": str(n)} for n in range(total)]
        )
    async with engine.connect() as connection:
        everything = (await connection.execute(select(numbers.c.n))).scalars().all()
        assert everything == list(range(total))
        streamed = await connection.stream(
            select(numbers.c.n).order_by(numbers.c.n).execution_options(yield_per=100)
        )
        seen = [n async for n in streamed.scalars()]
        assert seen == list(range(total))
        first = (await connection.execute(select(numbers.c.n).order_by(numbers.c.n))).first()
        assert first == (0,)


async def test_errors_reach_sqlalchemy_and_the_transaction_rolls_back(engine) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(numbers).values(n=5, label="five"))
            await connection.execute(insert(numbers).values(n=5, label="again"))
    async with engine.connect() as connection:
        assert (await connection.execute(select(numbers))).all() == []


async def test_begin_goes_with_the_first_statement(engine, tmp_path, monkeypatch) -> None:
    """BEGIN IMMEDIATE costs no round trip of its own, yet holds the write lock from the first
    statement on; a transaction that runs nothing costs no trip at all."""
    calls = count_round_trips(monkeypatch)
    async with engine.begin():
        pass
    assert calls == []
    async with engine.begin() as connection:
        await connection.execute(select(numbers))
        assert len(calls) == 1
        other = sqlite3.connect(tmp_path / "driver.db", timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
        await connection.execute(insert(numbers).values(n=7, label="seven"))
    assert calls[:3] == ["on_thread", "on_thread", "commit"]


async def test_writers_of_one_process_queue_in_arrival_order(engine) -> None:
    """Transactions waiting for SQLite's write lock get it first come, first served (the
    driver's gate, not SQLite's polling busy handler), and an error gives the lock back."""
    order: list[int] = []
    first_in = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with engine.begin() as connection:
            await connection.execute(insert(numbers).values(n=0, label="first"))
            first_in.set()
            await release_first.wait()

    async def writer(n: int) -> None:
        async with engine.begin() as connection:
            await connection.execute(insert(numbers).values(n=n, label="waited"))
            order.append(n)

    holder = asyncio.create_task(first())
    await first_in.wait()
    waiting = []
    for n in (1, 2, 3):  # the pool has four connections: all three wait for the lock
        waiting.append(asyncio.create_task(writer(n)))
        await asyncio.sleep(0.05)
    release_first.set()
    await asyncio.gather(holder, *waiting)
    assert order == [1, 2, 3]

    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(numbers).values(n=1, label="taken"))
    async with asyncio.timeout(5):  # the failed transaction left the lock free
        async with engine.begin() as connection:
            await connection.execute(insert(numbers).values(n=4, label="after"))
