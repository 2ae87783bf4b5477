"""Several OS processes on one database.

On PostgreSQL: fifty people booking the last seats from two processes never overbook, and two
sender processes send each reminder once. On SQLite a second bot on the same file is refused
instead (bot/instance_lock.py), so the two-process tests are PostgreSQL only.

The workers are this module run as a script (`python -m tests.e2e.test_concurrency …`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.instance_lock import AnotherInstanceRunning, instance_lock
from bot.services import booking as seats
from db.engine import create_engine, create_sessionmaker
from db.models import Booking, Event, Outbox, Person
from tests.db.test_booking import PROGRAMME, applicant, meeting

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
POSTGRES_ONLY = (
    "two processes on one database need PostgreSQL (FOR UPDATE SKIP LOCKED); "
    "a second instance on one SQLite file is refused instead"
)


@pytest.fixture
def postgres(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip(POSTGRES_ONLY)


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.e2e.test_concurrency", *args,
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )


async def result_of(worker: asyncio.subprocess.Process) -> dict:
    out, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
    assert worker.returncode == 0, out
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_fifty_bookings_for_the_last_seats_from_two_processes(postgres, database_url,
                                                                    engine) -> None:
    now = datetime.now(UTC)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        event = await meeting(session, capacity=10, starts_at=now + timedelta(days=7), now=now)
        for number in range(5):  # half the seats are gone already
            early = await applicant(session, 1000 + number)
            await seats.choose(session, PROGRAMME, early, event.id, now)
        people = [(await applicant(session, 2000 + number)).id for number in range(50)]
    workers = [
        await spawn("book", database_url, str(event.id), ",".join(map(str, half)))
        for half in (people[:25], people[25:])
    ]
    for worker in workers:  # both have connected and are waiting: go at once
        assert (await worker.stdout.readline()).strip() == b"ready"
    for worker in workers:
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
    outcomes = [await result_of(worker) for worker in workers]

    assert sum(o.get("booked", 0) for o in outcomes) == 5
    assert sum(o.get("full", 0) for o in outcomes) == 45
    async with sessionmaker() as session:
        taken = await session.scalar(select(Event.seats_taken).where(Event.id == event.id))
        active = await session.scalar(
            select(func.count()).select_from(Booking).where(Booking.status == "active")
        )
    assert taken == active == 10


async def test_two_sender_processes_send_each_reminder_once(postgres, database_url, engine,
                                                            tg) -> None:
    now = datetime.now(UTC)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        event = await meeting(session, capacity=None, starts_at=now + timedelta(days=2), now=now)
        for number in range(120):
            person = await applicant(session, 3000 + number)
            tg.register_chat(person.telegram_id)
            await seats.choose(session, PROGRAMME, person, event.id, now)
        # The day-before reminders fall due now; the hour-before ones are not part of this.
        await session.execute(update(Outbox).where(Outbox.idempotency_key.like("%:60m:%"))
                              .values(status="cancelled"))
        await session.execute(update(Outbox).where(Outbox.kind == "reminder",
                                                   Outbox.status == "pending")
                              .values(due_at=now - timedelta(seconds=1)))
    workers = [await spawn("send", database_url, tg.base_url) for _ in range(2)]
    for worker in workers:
        worker.stdin.close()
    outcomes = [await result_of(worker) for worker in workers]

    sends = [call for call in tg.calls("sendMessage") if call.ok]
    per_chat: dict[int, int] = {}
    for call in sends:
        per_chat[call.chat_id] = per_chat.get(call.chat_id, 0) + 1
    assert len(per_chat) == 120 and set(per_chat.values()) == {1}
    assert sum(o["handled"] for o in outcomes) == 120
    async with sessionmaker() as session:
        rows = (await session.execute(
            select(Outbox.status, Outbox.telegram_message_id)
            .where(Outbox.kind == "reminder", Outbox.idempotency_key.like("%:1440m:%"))
        )).all()
    assert {status for status, _ in rows} == {"sent"} and all(mid for _, mid in rows)


async def test_a_second_instance_on_one_sqlite_file_is_refused(backend, database_url) -> None:
    if backend != "sqlite":
        pytest.skip("PostgreSQL needs no instance lock: senders there claim with SKIP LOCKED")
    holder = await spawn("lock", database_url)
    assert (await holder.stdout.readline()).strip() == b"locked"
    with pytest.raises(AnotherInstanceRunning), instance_lock(database_url):
        pass
    holder.send_signal(signal.SIGKILL)  # even kill -9 leaves no stale lock behind
    await holder.wait()
    with instance_lock(database_url):
        pass


# ------------------------------------------------------------------------------ the workers


async def _book(url: str, event_id: int, person_ids: list[int]) -> dict[str, int]:
    engine = create_engine(url, pool_size=len(person_ids), max_overflow=0)
    sessionmaker = create_sessionmaker(engine)
    connections = [await engine.connect() for _ in person_ids]  # connect before "go"
    for connection in connections:
        await connection.close()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    async def book(person_id: int) -> str:
        async with sessionmaker() as session, session.begin():
            person = await session.get(Person, person_id)
            try:
                await seats.choose(session, PROGRAMME, person, event_id, datetime.now(UTC))
            except seats.BookingError as error:
                return error.code
            return "booked"

    outcomes = await asyncio.gather(*(book(p) for p in person_ids))
    await engine.dispose()
    return {code: outcomes.count(code) for code in set(outcomes)}


async def _send(url: str, api_base: str) -> dict[str, int]:
    from bot.app import create_bot
    from bot.delivery import Sender
    from bot.i18n import create_i18n
    from bot.renderers import BATCHED_KINDS, renderers
    from bot.settings import Settings

    settings = Settings(_env_file=None, bot_token=TOKEN, database_url=url,  # type: ignore[call-arg]
                        telegram_api_base=api_base)
    engine = create_engine(url)
    bot = create_bot(settings)
    sender = Sender(bot, create_sessionmaker(engine), create_i18n(), renderers(PROGRAMME),
                    rate=200, batch_size=20, batched_kinds=BATCHED_KINDS)
    handled, idle_since = 0, time.monotonic()
    while time.monotonic() - idle_since < 1.5:
        claimed = await sender.drain(max_seconds=2)
        handled += claimed
        if claimed:
            idle_since = time.monotonic()
        await asyncio.sleep(0.05)
    await sender.close()
    await bot.session.close()
    await engine.dispose()
    return {"handled": handled}


async def _hold_lock(url: str) -> None:
    with instance_lock(url):
        print("locked", flush=True)
        await asyncio.sleep(60)


def _main(argv: list[str]) -> None:
    mode, url, *rest = argv
    if mode == "lock":
        asyncio.run(_hold_lock(url))
        return
    if mode == "book":
        result = asyncio.run(_book(url, int(rest[0]), [int(i) for i in rest[1].split(",")]))
    else:
        result = asyncio.run(_send(url, rest[0]))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    _main(sys.argv[1:])
