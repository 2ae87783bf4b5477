"""Broadcasts: a staff member's message to a segment, one outbox row per recipient.

A draft is a `Broadcast` row; confirming schedules it (now or later); starting it copies the
segment into outbox rows (INSERT … SELECT, a chunk of person ids per transaction, so 100,000
recipients never sit in memory) with the idempotency key `broadcast:<id>:<person>`, so a
restart mid-way adds nobody twice. The sender delivers them at `PRIORITY_BROADCAST`, after any
reminder that is due. A text longer than one Telegram message is split on paragraph
boundaries; the recipient's single row then carries the part to send next (see
`bot.delivery.Rendered.next_payload`), so each part goes out exactly once and in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    String,
    case,
    cast,
    delete,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery import UNREACHABLE_PREFIX
from bot.programme import LANGUAGES
from bot.services import outbox, segments
from bot.services.broadcast_text import (
    BroadcastError,
    check_text,
    split_text,
)
from bot.services.questionnaire import StaleAction
from bot.services.segments import Segment
from db.base import UTCDateTime
from db.models import Broadcast, Outbox, Person
from db.repositories import people as repo

KIND = "broadcast"
REPORT_KIND = "broadcast.report"
CHUNK = 5000
MAX_PARTS = 10  # messages per recipient; more is a newsletter, not a message
MEDIA_KINDS = ("photo", "document")


class StaleDraft(BroadcastError, StaleAction):
    """Not (or no longer) this person's open draft: a stale or forged button."""

    def __init__(self) -> None:
        super().__init__("stale")


class CountChanged(BroadcastError):
    def __init__(self, count: int) -> None:
        super().__init__("count_changed", count=count)
        self.count = count


# ---------------------------------------------------------------------- the draft


async def create_draft(session: AsyncSession, author: Person, programme_id: str) -> Broadcast:
    draft = Broadcast(
        programme_id=programme_id, author_id=author.id, status="draft", texts={}, segment={}
    )
    session.add(draft)
    await session.flush()
    repo.add_audit(session, "broadcast.draft", actor=author, target=str(draft.id))
    return draft


async def draft_of(session: AsyncSession, broadcast_id: int, author: Person) -> Broadcast:
    draft = await session.get(Broadcast, broadcast_id)
    if draft is None or draft.status != "draft" or draft.author_id != author.id:
        raise StaleDraft()
    return draft


def choose_segment(draft: Broadcast, segment: Segment) -> None:
    draft.segment = segment.as_json()


def add_text(draft: Broadcast, language: str, source: str) -> str:
    """Append a message to the text in `language` (long texts come in several messages)."""
    if language not in LANGUAGES:
        raise StaleDraft()
    text = check_text(source)
    previous = (draft.texts or {}).get(language)
    combined = f"{previous}\n\n{text}" if previous else text
    if len(split_text(combined)) > MAX_PARTS:
        raise BroadcastError("too_long", parts=MAX_PARTS)
    draft.texts = {**(draft.texts or {}), language: combined}
    if len(draft.texts) == 1:
        draft.fallback_language = language
    return combined


def set_fallback(draft: Broadcast, language: str) -> None:
    if not (draft.texts or {}).get(language):
        raise StaleDraft()
    draft.fallback_language = language


def set_media(draft: Broadcast, kind: str | None, file_id: str | None = None) -> None:
    if kind is not None and kind not in MEDIA_KINDS:
        raise StaleDraft()
    draft.media = {"kind": kind, "file_id": file_id} if kind else None


def drop(session: AsyncSession, draft: Broadcast, actor: Person) -> None:
    draft.status = "cancelled"
    repo.add_audit(session, "broadcast.drop", actor=actor, target=str(draft.id))


_WHEN = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s+(\d{1,2})[:.](\d{2})\s*$")


def parse_when(text: str, zone: str, now: datetime) -> datetime:
    """ "12.04.2027 10:00" in `zone` (the programme's, Warsaw) as UTC; it must be in the future."""
    match = _WHEN.match(text or "")
    if match is None:
        raise BroadcastError("bad_time")
    day, month, year, hour, minute = (int(part) for part in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except ValueError:
        raise BroadcastError("bad_time") from None
    if moment <= now:
        raise BroadcastError("in_past")
    return moment


async def recipient_count(session: AsyncSession, broadcast: Broadcast) -> int:
    segment = Segment.from_json(broadcast.segment)
    return await segments.count(session, segment, broadcast.programme_id)


async def confirm(
    session: AsyncSession,
    draft: Broadcast,
    actor: Person,
    *,
    expected: int,
    at: datetime,
) -> int:
    """Schedule the draft for `at` (now: at once), if the segment still has `expected` people."""
    if not draft.texts:
        raise BroadcastError("no_text")
    count = await recipient_count(session, draft)
    if count != expected:
        raise CountChanged(count)
    if count == 0:
        raise BroadcastError("nobody")
    draft.status = "scheduled"
    draft.scheduled_at = at
    draft.progress_chat_id = actor.telegram_id
    repo.add_audit(
        session,
        "broadcast.confirm",
        actor=actor,
        target=str(draft.id),
        count=count,
        detail={"segment": draft.segment, "at": at.isoformat(), "languages": sorted(draft.texts)},
    )
    return count


# ---------------------------------------------------------------------- running it


async def start_due(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, chunk: int = CHUNK
) -> list[int]:
    """Start the scheduled broadcasts whose time has come, and finish any start a crash cut
    short (running with no total yet). Returns the ids started."""
    async with sessionmaker() as session, session.begin():
        started = (
            await session.scalars(
                update(Broadcast)
                .where(Broadcast.status == "scheduled", Broadcast.scheduled_at <= now)
                .values(status="running", started_at=now)
                .returning(Broadcast.id)
            )
        ).all()
        unfinished = (
            await session.scalars(
                select(Broadcast.id).where(Broadcast.status == "running", Broadcast.total == 0)
            )
        ).all()
    for broadcast_id in sorted(set(started) | set(unfinished)):
        await expand(sessionmaker, broadcast_id, now, chunk)
    return sorted(started)


async def expand(
    sessionmaker: async_sessionmaker[AsyncSession],
    broadcast_id: int,
    now: datetime,
    chunk: int = CHUNK,
) -> int:
    """Copy the segment into outbox rows, `chunk` people per transaction; safe to repeat."""
    async with sessionmaker() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.status != "running":
            return 0
        segment, programme_id = Segment.from_json(broadcast.segment), broadcast.programme_id
    people = segments.recipients(segment, programme_id).subquery()
    rows = select(
        literal(KIND, String).label("kind"),
        people.c.id,
        people.c.telegram_id,
        literal(outbox.PRIORITY_BROADCAST).label("priority"),
        literal(now, UTCDateTime).label("due_at"),
        literal_column("'{}'").label("payload"),  # an empty JSON object, as SQL
        literal("pending", String).label("status"),
        literal(0).label("attempts"),
        (literal(f"{KIND}:{broadcast_id}:", String) + cast(people.c.id, String)).label("key"),
        literal(broadcast_id).label("broadcast_id"),
        literal(now, UTCDateTime).label("created_at"),
    )
    columns = [
        "kind",
        "person_id",
        "chat_id",
        "priority",
        "due_at",
        "payload",
        "status",
        "attempts",
        "idempotency_key",
        "broadcast_id",
        "created_at",
    ]
    last = 0
    while True:
        async with sessionmaker() as session, session.begin():
            if await _cancelled(session, broadcast_id):
                return 0
            upper = await session.scalar(
                select(people.c.id)
                .where(people.c.id > last)
                .order_by(people.c.id)
                .offset(chunk - 1)
                .limit(1)
            )
            window = people.c.id > last
            if upper is not None:
                window &= people.c.id <= upper
            insert_rows = _insert(session)(Outbox).from_select(columns, rows.where(window))
            await session.execute(insert_rows.on_conflict_do_nothing())
            if upper is None:
                total = await session.scalar(
                    select(func.count()).where(Outbox.broadcast_id == broadcast_id)
                )
                await session.execute(
                    update(Broadcast).where(Broadcast.id == broadcast_id).values(total=total or 0)
                )
                return int(total or 0)
            last = upper


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def _cancelled(session: AsyncSession, broadcast_id: int) -> bool:
    status = await session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
    return status != "running"


async def cancel(session: AsyncSession, broadcast_id: int, actor: Person, now: datetime) -> int:
    """Stop a scheduled or running broadcast: rows not yet sent are cancelled. Returns how many."""
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.status not in ("scheduled", "running"):
        raise BroadcastError("not_active")
    was = broadcast.status
    broadcast.status = "cancelled"
    broadcast.finished_at = now
    result = await session.execute(
        update(Outbox)
        .where(Outbox.broadcast_id == broadcast_id, Outbox.status == "pending")
        .values(status="cancelled", last_error="cancelled by staff")
        .execution_options(synchronize_session=False)
    )
    cancelled = int(result.rowcount or 0)  # type: ignore[attr-defined]
    repo.add_audit(
        session,
        "broadcast.cancel",
        actor=actor,
        target=str(broadcast_id),
        count=cancelled,
        detail={"was": was},
    )
    if was == "running":
        await _queue_report(session, broadcast, now + timedelta(seconds=2))
    return cancelled


@dataclass(frozen=True)
class Progress:
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    left: int = 0
    cancelled: int = 0

    @property
    def finished(self) -> bool:
        return self.left == 0


async def progress(session: AsyncSession, broadcast_id: int) -> Progress:
    kept = (
        await session.execute(
            select(
                Broadcast.sent_count,
                Broadcast.blocked_count,
                Broadcast.failed_count,
                Broadcast.cancelled_count,
            ).where(Broadcast.id == broadcast_id, Broadcast.purged_at.is_not(None))
        )
    ).first()
    if kept is not None:  # its rows are gone: the counts they left
        sent, blocked_count, failed, cancelled = (int(n or 0) for n in kept)
        return Progress(sent=sent, blocked=blocked_count, failed=failed, cancelled=cancelled)
    return await _counted(session, broadcast_id)


async def _counted(session: AsyncSession, broadcast_id: int) -> Progress:
    blocked = Outbox.last_error.startswith(UNREACHABLE_PREFIX)
    bucket = case(
        (Outbox.status == "sent", "sent"),
        (Outbox.status.in_(("pending", "sending")), "left"),
        (Outbox.status == "failed", case((blocked, "blocked"), else_="failed")),
        else_="cancelled",
    ).label("bucket")
    rows = await session.execute(
        select(bucket, func.count()).where(Outbox.broadcast_id == broadcast_id).group_by(bucket)
    )
    return Progress(**{name: int(n) for name, n in rows.all()})


# How long a finished broadcast's outbox rows are kept (who failed, for the report and a look
# by staff) before they are purged; the counts stay on the broadcast.
ROWS_KEPT = timedelta(days=30)


async def purge_finished(
    session: AsyncSession, now: datetime, keep: timedelta = ROWS_KEPT, limit: int = 20
) -> int:
    """Delete the outbox rows of broadcasts finished more than `keep` ago, keeping their counts
    on the broadcast: a broadcast to everyone is a row per person each time, and the outbox
    would otherwise grow with every one (the nightly retention job runs this)."""
    found = await session.scalars(
        select(Broadcast)
        .where(
            Broadcast.status.in_(("done", "cancelled")),
            Broadcast.finished_at < now - keep,
            Broadcast.purged_at.is_(None),
        )
        .order_by(Broadcast.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    purged = 0
    for finished in found.all():
        counts = await _counted(session, finished.id)
        if not counts.finished:  # a row still being sent (a cancel racing a send): later
            continue
        finished.sent_count, finished.blocked_count = counts.sent, counts.blocked
        finished.failed_count, finished.cancelled_count = counts.failed, counts.cancelled
        finished.purged_at = now
        await session.execute(
            delete(Outbox)
            .where(Outbox.broadcast_id == finished.id)
            .execution_options(synchronize_session=False)
        )
        purged += 1
    return purged


async def kept_counts(session: AsyncSession, programme_id: str | None = None) -> Progress:
    """The counts of every purged broadcast together (for /stats)."""
    statement = select(
        func.coalesce(func.sum(Broadcast.sent_count), 0),
        func.coalesce(func.sum(Broadcast.blocked_count), 0),
        func.coalesce(func.sum(Broadcast.failed_count), 0),
        func.coalesce(func.sum(Broadcast.cancelled_count), 0),
    ).where(Broadcast.purged_at.is_not(None))
    if programme_id is not None:
        statement = statement.where(Broadcast.programme_id == programme_id)
    row = (await session.execute(statement)).one()
    sent, blocked, failed, cancelled = (int(n) for n in row)
    return Progress(sent=sent, blocked=blocked, failed=failed, cancelled=cancelled)


async def scheduled_or_running(session: AsyncSession) -> list[Broadcast]:
    """What staff can still stop."""
    result = await session.scalars(
        select(Broadcast)
        .where(Broadcast.status.in_(("scheduled", "running")))
        .order_by(Broadcast.scheduled_at)
    )
    return list(result.all())


async def active(session: AsyncSession, now: datetime) -> list[Broadcast]:
    """Broadcasts whose progress message needs a look: running, or finished a moment ago."""
    recent = now - timedelta(minutes=1)
    result = await session.scalars(
        select(Broadcast)
        .where(
            (Broadcast.status == "running")
            | (Broadcast.status.in_(("done", "cancelled")) & (Broadcast.finished_at >= recent))
        )
        .where(Broadcast.progress_chat_id.is_not(None))
        .order_by(Broadcast.id)
    )
    return list(result.all())


async def finish_if_done(session: AsyncSession, broadcast: Broadcast, now: datetime) -> bool:
    """A running broadcast with every row settled is done; its author gets the report."""
    if broadcast.status != "running" or broadcast.total == 0:
        return False
    if not (await progress(session, broadcast.id)).finished:
        return False
    result = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast.id, Broadcast.status == "running")
        .values(status="done", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    broadcast.status, broadcast.finished_at = "done", now
    await _queue_report(session, broadcast, now)
    return True


async def _queue_report(session: AsyncSession, broadcast: Broadcast, due_at: datetime) -> None:
    author = await session.get(Person, broadcast.author_id) if broadcast.author_id else None
    chat_id = author.telegram_id if author else broadcast.progress_chat_id
    if chat_id is None:
        return
    await outbox.enqueue(
        session,
        kind=REPORT_KIND,
        chat_id=chat_id,
        person_id=author.id if author else None,
        due_at=due_at,
        key=f"{KIND}:{broadcast.id}:report",
        payload={"broadcast_id": broadcast.id},
    )


async def failures(session: AsyncSession, broadcast_id: int) -> list[tuple[int, str, str, int]]:
    """(chat id, language, error, attempts) of everyone the broadcast did not reach."""
    rows = await session.execute(
        select(Outbox.chat_id, Person.language, Outbox.last_error, Outbox.attempts)
        .join(Person, Person.id == Outbox.person_id, isouter=True)
        .where(Outbox.broadcast_id == broadcast_id, Outbox.status == "failed")
        .order_by(Outbox.id)
    )
    return [(chat, lang or "", error or "", attempts) for chat, lang, error, attempts in rows]
