"""The sender: claims due outbox rows, sends them within Telegram's limits, records the outcome.

Claiming is one atomic UPDATE … RETURNING (PostgreSQL adds FOR UPDATE SKIP LOCKED, so two
instances never claim the same row); a claimed row carries a lease, and a sender that dies
mid-send leaves rows that another tick re-claims once the lease runs out. Each outcome is
recorded the moment its send returns, so a kill -9 can repeat at most the sends in flight at
that instant (at most `concurrency`), never a whole batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.base import utcnow
from db.models import Outbox, Person

log = logging.getLogger(__name__)

# Telegram's "chat not found" and "user is deactivated" will not change by retrying.
_UNREACHABLE = ("chat not found", "user is deactivated", "bot was blocked", "bot was kicked")


@dataclass
class Rendered:
    text: str
    reply_markup: InlineKeyboardMarkup | None = None
    document: tuple[str, bytes] | None = None


@dataclass
class Skip:
    """Do not send: `status` is "expired" (too late to be useful) or "cancelled"."""

    status: str
    reason: str = ""


Renderer = Callable[[AsyncSession, list[Outbox], Person | None], Awaitable[Rendered | Skip]]


class RateLimiter:
    """At most `rate` sends in any one-second window (the way Telegram counts), and at most one
    message a second to the same chat."""

    def __init__(self, rate: float, per_chat_interval: float = 1.0, margin: float = 0.02) -> None:
        self.rate = max(1, int(rate))
        self.window = 1.0 + margin
        self.per_chat_interval = per_chat_interval
        self._sent: deque[float] = deque()
        self._chat_next: dict[int, float] = {}
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self, chat_id: int) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                waits = [self._paused_until - now, self._chat_next.get(chat_id, 0.0) - now]
                if len(self._sent) >= self.rate:
                    waits.append(self._sent[0] + self.window - now)
                wait = max(waits)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self._sent.append(now)
            self._chat_next[chat_id] = now + self.per_chat_interval
            if len(self._chat_next) > 10_000:  # forget chats whose interval is long over
                self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}


@dataclass
class TickReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Sender:
    def __init__(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        i18n: I18n,
        renderers: dict[str, Renderer],
        *,
        rate: float = 25.0,
        per_chat_interval: float = 1.0,
        batch_size: int = 100,
        concurrency: int = 16,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 5,
        batched_kinds: frozenset[str] = frozenset(),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.i18n = i18n
        self.renderers = renderers
        self.limiter = RateLimiter(rate, per_chat_interval)
        self.batch_size = batch_size
        self.concurrency = asyncio.Semaphore(concurrency)
        self.lease = lease
        self.max_attempts = max_attempts
        self.batched_kinds = batched_kinds
        self.clock = clock
        self.in_flight = 0

    async def claim(self) -> list[Outbox]:
        """Take due rows (and rows whose sender's lease ran out) for this sender, atomically."""
        now = self.clock()
        async with self.sessionmaker() as session, session.begin():
            due = (
                select(Outbox.id)
                .where(
                    or_(
                        (Outbox.status == "pending") & (Outbox.due_at <= now),
                        (Outbox.status == "sending") & (Outbox.lease_until < now),
                    )
                )
                .order_by(Outbox.priority, Outbox.due_at, Outbox.id)
                .limit(self.batch_size)
            )
            if session.bind.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            claimed = await self._take(session, Outbox.id.in_(due.scalar_subquery()), now)
            # Batched kinds (staff notices): take the chat's not-yet-due rows of the same kind
            # too, so they go out as one message instead of one each.
            for kind, chat_id in {
                (r.kind, r.chat_id) for r in claimed if r.kind in self.batched_kinds
            }:
                claimed += await self._take(
                    session,
                    (Outbox.kind == kind)
                    & (Outbox.chat_id == chat_id)
                    & (Outbox.status == "pending"),
                    now,
                )
            return claimed

    async def _take(self, session: AsyncSession, condition: Any, now: datetime) -> list[Outbox]:
        result = await session.scalars(
            update(Outbox)
            .where(condition)
            .values(status="sending", lease_until=now + self.lease, attempts=Outbox.attempts + 1)
            .returning(Outbox)
            .execution_options(synchronize_session=False)
        )
        return list(result.all())

    async def tick(self) -> TickReport:
        report = TickReport()
        rows = await self.claim()
        report.claimed = len(rows)
        groups: dict[tuple[Any, ...], list[Outbox]] = defaultdict(list)
        for row in rows:
            key = (row.kind, row.chat_id) if row.kind in self.batched_kinds else (row.id,)
            groups[key].append(row)
        await asyncio.gather(*(self._deliver(group, report) for group in groups.values()))
        return report

    async def drain(self, max_seconds: float = 5.0) -> int:
        """Tick until nothing is due or time is up; returns how many rows were handled."""
        handled, started = 0, time.monotonic()
        while time.monotonic() - started < max_seconds:
            report = await self.tick()
            handled += report.claimed
            if report.claimed == 0:
                break
        return handled

    async def _deliver(self, rows: list[Outbox], report: TickReport) -> None:
        async with self.concurrency:
            outcome = await self._send(rows)
        status = outcome["status"]
        report.statuses[status] += len(rows)
        await self._record(rows, outcome)

    async def _send(self, rows: list[Outbox]) -> dict[str, Any]:
        first = rows[0]
        renderer = self.renderers.get(first.kind)
        if renderer is None:
            return {"status": "failed", "error": f"no renderer for {first.kind}"}
        async with self.sessionmaker() as session:
            person = await session.get(Person, first.person_id) if first.person_id else None
            language = (person.language if person else None) or "pl"
            with self.i18n.context(), self.i18n.use_locale(language):
                rendered = await renderer(session, rows, person)
        if isinstance(rendered, Skip):
            return {"status": rendered.status, "error": rendered.reason}
        await self.limiter.acquire(first.chat_id)
        self.in_flight += 1
        try:
            if rendered.document is not None:
                name, content = rendered.document
                message = await self.bot.send_document(
                    first.chat_id, BufferedInputFile(content, name), caption=rendered.text
                )
            else:
                message = await self.bot.send_message(
                    first.chat_id, rendered.text, reply_markup=rendered.reply_markup
                )
        except TelegramRetryAfter as exc:
            self.limiter.pause(exc.retry_after)
            return {"status": "retry", "after": exc.retry_after, "flood": True}
        except TelegramForbiddenError as exc:
            return {"status": "failed", "error": exc.message[:200], "unreachable": True}
        except TelegramBadRequest as exc:
            unreachable = any(marker in exc.message.lower() for marker in _UNREACHABLE)
            return {"status": "failed", "error": exc.message[:200], "unreachable": unreachable}
        except (TelegramServerError, TelegramNetworkError) as exc:
            return {"status": "retry", "error": f"{type(exc).__name__}: {exc.message}"[:200]}
        finally:
            self.in_flight -= 1
        return {"status": "sent", "message_id": message.message_id}

    async def _record(self, rows: list[Outbox], outcome: dict[str, Any]) -> None:
        now = self.clock()
        ids = [row.id for row in rows]
        values: dict[str, Any] = {"lease_until": None, "last_error": outcome.get("error")}
        status = outcome["status"]
        if status == "sent":
            values |= {
                "status": "sent",
                "sent_at": now,
                "telegram_message_id": outcome["message_id"],
            }
        elif status == "retry":
            attempts = rows[0].attempts
            if outcome.get("flood"):
                # Telegram asked us to wait; that is not the message's fault.
                values |= {
                    "status": "pending",
                    "attempts": Outbox.attempts - 1,
                    "due_at": now + timedelta(seconds=outcome["after"]),
                }
            elif attempts >= self.max_attempts:
                values |= {"status": "failed"}
            else:
                backoff = min(300, 2**attempts)
                values |= {"status": "pending", "due_at": now + timedelta(seconds=backoff)}
        else:
            values |= {"status": status}
        async with self.sessionmaker() as session, session.begin():
            # Only rows still leased to us: a row cancelled meanwhile stays cancelled.
            await session.execute(
                update(Outbox)
                .where(Outbox.id.in_(ids), Outbox.status == "sending")
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if outcome.get("unreachable") and rows[0].person_id is not None:
                await session.execute(
                    update(Person)
                    .where(Person.id == rows[0].person_id, Person.blocked_at.is_(None))
                    .values(blocked_at=now)
                )
        if status not in ("sent", "retry"):
            log.info("outbox %s (%s): %s", ids, rows[0].kind, status)
