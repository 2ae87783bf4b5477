"""Finished broadcasts' outbox rows are purged after a while; their counts stay (issue 21,
item 10): the progress card and /stats say the same before and after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from bot.delivery import UNREACHABLE_PREFIX
from bot.services import broadcast, outbox, stats
from bot.services.broadcast import Progress
from db.engine import create_sessionmaker
from db.models import Broadcast, Outbox, Person
from tests.db.test_broadcast import PROGRAMME

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
OUTCOMES = (
    [("sent", None)] * 3
    + [("failed", UNREACHABLE_PREFIX + "bot was blocked by the user")]
    + [("failed", "Bad Request: something")]
    + [("cancelled", None)] * 2
)


async def finished_broadcast(session, finished_at: datetime, first_chat: int) -> Broadcast:
    sent = Broadcast(programme_id=PROGRAMME.id, status="done", texts={"pl": "Dzień dobry"},
                     total=len(OUTCOMES), finished_at=finished_at)
    session.add(sent)
    await session.flush()
    for n, (status, error) in enumerate(OUTCOMES):
        person = Person(telegram_id=first_chat + n, language="pl", role="user")
        session.add(person)
        await session.flush()
        await outbox.enqueue(session, kind=broadcast.KIND, chat_id=person.telegram_id,
                             person_id=person.id, due_at=finished_at, key=f"b:{sent.id}:{n}",
                             priority=outbox.PRIORITY_BROADCAST)
        await session.execute(
            update(Outbox).where(Outbox.idempotency_key == f"b:{sent.id}:{n}")
            .values(status=status, last_error=error, broadcast_id=sent.id))
    return sent


async def test_old_broadcast_rows_are_purged_and_their_counts_kept(engine) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        old = await finished_broadcast(session, NOW - timedelta(days=40), 800_000)
        recent = await finished_broadcast(session, NOW - timedelta(days=2), 810_000)
    expected = Progress(sent=3, blocked=1, failed=1, cancelled=2)
    async with sessionmaker() as session:
        assert await broadcast.progress(session, old.id) == expected
        before = (await stats.collect(session, PROGRAMME.id, NOW)).messages["broadcasts"]

    async with sessionmaker() as session, session.begin():
        assert await broadcast.purge_finished(session, NOW) == 1
    async with sessionmaker() as session, session.begin():
        assert await broadcast.purge_finished(session, NOW) == 0  # once

    async with sessionmaker() as session:
        left = dict((await session.execute(
            select(Outbox.broadcast_id, func.count()).group_by(Outbox.broadcast_id))).all())
        assert left == {recent.id: len(OUTCOMES)}  # the recent one's rows stay
        assert await broadcast.progress(session, old.id) == expected
        assert await broadcast.progress(session, recent.id) == expected
        after = (await stats.collect(session, PROGRAMME.id, NOW)).messages["broadcasts"]
    assert after == before == {"sent": 6, "failed": 4, "cancelled": 4}
