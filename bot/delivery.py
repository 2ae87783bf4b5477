"""The sender: claims due outbox rows, sends them within Telegram's limits, records the outcome.

Claiming is one atomic UPDATE … RETURNING (PostgreSQL adds FOR UPDATE SKIP LOCKED, so two
instances never claim the same row); a claimed row carries a lease, and a sender that dies
mid-send leaves rows that another tick re-claims once the lease runs out.

The pipeline keeps Telegram busy without getting ahead of it: the next batch is claimed in the
background while the current one is sent, at most `concurrency` sends are between "started" and
"outcome committed", and outcomes that arrive together are committed together (group commit).
A send holds its concurrency slot until its outcome is committed, so a kill -9 repeats at most
`concurrency` sends — the ones in flight at that instant — never a whole batch. A graceful stop
(`close()`, or cancelling `drain()`) finishes the sends in flight and gives the rest back.

Fencing by lease. Another instance takes a row over once its lease has passed by that
instance's wall clock, so this sender sends a claimed row only while the lease is still valid
by its own monotonic clock, with a margin (`lease_margin`) for the request's way to Telegram
and for the clocks of two machines; a sender that finds a lease passed (woken from a pause —
SIGSTOP, a GC or VM pause — or its commits stuck) drops the row unsent, without writing, and
its next claim may take it again. While the sender is healthy, a renewer extends the leases of
the rows it holds every third of a lease, so rows waiting in line or for a slow outcome commit
are not handed to another instance. Every write about a claimed row (outcome, renewal, giving
back) names the claim it holds the row by (`_Lease`): a row taken over meanwhile is left
alone. An
outcome that could not be committed is tried again while the slot is held. What results: a
message is sent twice only if its request was written before a fault and its outcome was not
committed in time (at most `concurrency` per sender, the sends in flight), or if a request
takes longer than `lease_margin` to reach Telegram after the check (a pause of the process
exactly there) or the instances' clocks differ by more than the margin.

The clock (APScheduler) calls `on_tick` every second: it drains until nothing is due and, when a
row falls due before the next tick, sleeps until that moment, so a reminder is not late by the
tick's phase. What a renderer reads can be fetched for the whole batch in the claim's
transaction (`Prefetch`). Measurements: bench/reminders.py and bench/README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.methods import SendDocument, SendMessage, SendPhoto
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from sqlalchemy import Select, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.budget import Budget, chat_interval
from bot.services import outbox
from bot.telegram_session import JsonSession
from db.base import utcnow
from db.models import Outbox, Person

log = logging.getLogger(__name__)

# 400s that retrying cannot fix: the chat is gone. (403s — blocked, deactivated, never
# started — are all unreachable too.)
_UNREACHABLE = ("chat not found", "user is deactivated", "bot was blocked", "bot was kicked")
# Written in front of `last_error` when a person cannot be reached, so counts can tell
# "blocked the bot" from "failed" without parsing Telegram's wording.
UNREACHABLE_PREFIX = "unreachable: "
# Telegram allows about 30 messages a second; more only as paid broadcasts.
FREE_RATE = 30
_METHODS: dict[str, Any] = {
    "sendMessage": SendMessage,
    "sendPhoto": SendPhoto,
    "sendDocument": SendDocument,
}


@dataclass
class Rendered:
    text: str
    reply_markup: InlineKeyboardMarkup | None = None
    document: tuple[str, bytes] | None = None
    # A photo or document Telegram already holds: ("photo" | "document", file_id); `text` is its
    # caption.
    media: tuple[str, str] | None = None
    # More of this message is to come (a long text in parts): once this part is sent the row
    # goes back to pending with this payload, due after the per-chat interval, so each part is
    # recorded — and sent — exactly once.
    next_payload: dict[str, Any] | None = None


@dataclass
class Skip:
    """Do not send: `status` is "expired" (too late to be useful) or "cancelled"."""

    status: str
    reason: str = ""


Renderer = Callable[[AsyncSession, list[Outbox], Person | None], Awaitable[Rendered | Skip]]
# A renderer may carry a `prefetch(session, rows)` coroutine: it runs in the claim's transaction
# with every claimed row of its kind, so what the renderer reads (a booking, its event) comes in
# one query per batch instead of one per message. The message is still rendered just before it
# is sent; its data is as old as the claim, a second or so at full speed.
Prefetch = Callable[[AsyncSession, list[Outbox]], Awaitable[None]]


class RateLimiter:
    """At most `rate` sends in any one-second window, and one message a second to a chat
    (20 a minute to a group): the budget of a single instance (bot/budget.py has the shared
    ones, which hand out the same slots from Redis or PostgreSQL).

    Telegram counts a send when it arrives, which is somewhere between our start and the
    answer. So the limiter hands out `rate` slots; a slot comes back one second (plus a margin)
    after its send *returned*. Any `rate + 1` sends then include two on the same slot, and the
    later one started at least a second after the earlier one was answered: no one-second
    window at Telegram's end ever holds more than `rate` of them, however the network jitters.
    The per-chat interval counts the same way, from the previous answer to that chat.

    The price of that guarantee is one round trip per slot and second: a long run goes at
    `rate / (1 + round trip + margin)`. The margin only absorbs clock granularity, so it is a
    millisecond; ten milliseconds cost a full second of delay over 100 s of sending.
    """

    def __init__(self, rate: float, per_chat_interval: float = 1.0, margin: float = 0.001) -> None:
        self.rate = max(1, int(rate))
        self.window = 1.0 + margin
        self.per_chat_interval = per_chat_interval + margin if per_chat_interval else 0.0
        self._free = self.rate
        self._cooling: deque[float] = deque()
        self._chat_ready: dict[int, float] = {}  # when a chat may be sent to again
        self._busy: set[int] = set()  # chats with a send out
        self._paused_until = 0.0
        self._floods: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._released: asyncio.Event | None = None

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def flood(self, chat_id: int, retry_after: float) -> None:
        """Telegram answered 429 for this chat: it waits `retry_after`. Everything waits too
        when 429s come thick (a quarter of the last second's sends, at least three): that is
        flood control for the whole bot, not a hiccup about one chat."""
        now = time.monotonic()
        self._chat_ready[chat_id] = max(self._chat_ready.get(chat_id, 0.0), now + retry_after)
        self._floods.append(now)
        while self._floods and self._floods[0] < now - 1.0:
            self._floods.popleft()
        if len(self._floods) >= 3 and 4 * len(self._floods) >= len(self._cooling):
            self.pause(retry_after)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    async def acquire(self, chat_id: int) -> None:
        while True:
            wait = self._chat_ready.get(chat_id, 0.0) - time.monotonic()
            if wait > 0 or chat_id in self._busy:
                await asyncio.sleep(min(max(wait, 0.0), 0.05) or 0.01)
                continue
            async with self._lock:
                await self._take_slot()
                ready = self._chat_ready.get(chat_id, 0.0) <= time.monotonic()
                if ready and chat_id not in self._busy:
                    self._busy.add(chat_id)
                    return
                self._free += 1  # the chat got busy meanwhile: wait for it again

    def release(self, chat_id: int) -> None:
        now = time.monotonic()
        self._cooling.append(now + self.window)
        self._busy.discard(chat_id)
        self._chat_ready[chat_id] = max(
            now + chat_interval(chat_id, self.per_chat_interval), self._chat_ready.get(chat_id, 0.0)
        )
        if len(self._chat_ready) > 10_000:  # forget chats whose interval is long over
            self._chat_ready = {c: t for c, t in self._chat_ready.items() if t > now}
        if self._released is not None:
            self._released.set()
            self._released = None

    @contextlib.asynccontextmanager
    async def slot(self, chat_id: int) -> AsyncIterator[None]:
        await self.acquire(chat_id)
        try:
            yield
        finally:
            self.release(chat_id)

    async def close(self) -> None:
        """Nothing to let go of: the budget lives in this process."""

    async def _take_slot(self) -> None:
        while True:
            now = time.monotonic()
            while self._cooling and self._cooling[0] <= now:
                self._cooling.popleft()
                self._free += 1
            if self._paused_until > now:
                await asyncio.sleep(self._paused_until - now)
            elif self._free > 0:
                self._free -= 1
                return
            elif self._cooling:
                await asyncio.sleep(self._cooling[0] - now)
            else:  # every slot is out on a send: wait for one to come back
                if self._released is None:
                    self._released = asyncio.Event()
                await self._released.wait()


@dataclass
class TickReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def count(self, status: str, rows: int) -> None:
        self.statuses[status] += rows
        if status == "sent":
            self.sent += rows
        elif status == "failed":
            self.failed += rows
        elif status in ("retry", "part"):
            self.retried += rows
        else:
            self.skipped += rows


Outcome = dict[str, Any]
# The outcome of a row whose lease passed before it was sent: nothing is written about it.
DROPPED = "dropped"


class _GroupCommit:
    """Outcomes are committed together: whatever arrives while a commit runs, or within
    `linger` seconds of the first, goes into the next one. One transaction per message would
    spend more on BEGIN and COMMIT than on sending; the senders waiting here still hold their
    slots, so what a crash can repeat stays bounded by the concurrency."""

    def __init__(
        self,
        write: Callable[[list[tuple[list[Outbox], Outcome]]], Awaitable[None]],
        linger: float,
        enough: int,
    ) -> None:
        self._write = write
        self.linger = linger
        self.enough = enough
        self._buffer: list[tuple[list[Outbox], Outcome, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._full = asyncio.Event()

    async def record(self, rows: list[Outbox], outcome: Outcome) -> None:
        future = asyncio.get_running_loop().create_future()
        self._buffer.append((rows, outcome, future))
        if len(self._buffer) >= self.enough:
            self._full.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        await future

    async def _run(self) -> None:
        while self._buffer:
            if len(self._buffer) < self.enough and self.linger > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.linger)
            self._full.clear()
            batch, self._buffer = self._buffer, []
            try:
                await self._write([(rows, outcome) for rows, outcome, _ in batch])
            except Exception as exc:  # the rows stay leased and are retried after the lease
                log.exception("could not record %d outbox outcomes", len(batch))
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for *_, future in batch:
                if not future.done():
                    future.set_result(None)


_Entry = tuple[int, datetime, int, int, list[Outbox]]


@dataclass(slots=True)
class _Lease:
    """A row this sender holds: until when by its monotonic clock, and the claim it holds it
    by, which every write about the row names. The claim is the row's `attempts` as the claim
    left it: every claim adds one, a renewal leaves it, and the only writes that take one
    away also make the row pending; so a row "sending" with our count is still ours."""

    deadline: float
    token: int



def _still_claimed(ids: list[int], token: int) -> tuple[Any, ...]:
    """Rows still leased under the claim `token` (their `attempts` when claimed): a row
    cancelled meanwhile, or taken over by another instance after our lease, is left alone."""
    return (Outbox.id.in_(ids), Outbox.status == "sending", Outbox.attempts == token)

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
        batch_size: int | None = None,
        concurrency: int | None = None,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 5,
        batched_kinds: frozenset[str] = frozenset(),
        clock: Callable[[], datetime] = utcnow,
        budget: Budget | None = None,
    ) -> None:
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.i18n = i18n
        self.renderers = renderers
        # Telegram's limits: this process's own, or one shared by every instance (bot/budget.py).
        self.limiter: Budget = budget or RateLimiter(rate, per_chat_interval)
        self.per_chat_interval = timedelta(seconds=per_chat_interval)
        # About a second of sends per claim: enough to keep Telegram busy, small enough that a
        # reminder falling due is never stuck behind many claimed broadcast rows.
        self.batch_size = batch_size or max(20, min(500, int(rate)))
        # Parallel sends: a send holds its place from start to committed outcome (round trip
        # and commit, 10-40 ms). The limiter releases a second's worth of sends at about the
        # same moment each second; with too few places they leave in waves, the later waves
        # slip a little further each second and after a minute the sends trickle over the whole
        # second (a reminder up to a second later than the limit requires). Half a second's
        # worth keeps two tight waves. It is also the most a kill -9 can repeat, hence the cap:
        # 128, or 256 with a shared budget (it matters above 256 a second), whose slots are
        # asked for together and booked up to half a second ahead, so that a send waits longer
        # for its slot while holding its place (bench/broadcast.py, L = 1000, PostgreSQL, with
        # the budget's own fixes: 0.943 of L with 128 places, 0.974-0.980 with 256).
        cap = 128 if budget is None else 256
        self.concurrency = concurrency or max(8, min(cap, int(rate) // 2))
        self.lease = lease
        self.max_attempts = max_attempts
        self.batched_kinds = batched_kinds
        self.clock = clock
        self.paid_broadcast = rate > FREE_RATE
        # A Telegram pause longer than this hands rows back instead of holding their lease.
        self.defer_after = min(10.0, lease.total_seconds() / 4)
        self.in_flight = 0
        self.max_in_flight = 0
        # Fencing (see the module's docstring): a tenth of the lease, at least a second, at
        # most half of it: 6 s of the bot's 60 s lease.
        seconds = lease.total_seconds()
        self.lease_margin = min(seconds / 2, max(1.0, seconds / 10))
        self._held: dict[int, _Lease] = {}
        self._renewer: asyncio.Task[None] | None = None
        self.dropped = 0  # rows dropped unsent because their lease had passed
        self._timeout = float(getattr(bot.session, "timeout", 60) if bot is not None else 60) + 5
        # At high rates wait a little for company; at low rates a message is alone anyway.
        linger = 0.0
        self._commits = _GroupCommit(self._write, linger, enough=max(1, self.concurrency // 2))
        self._stopping = False
        self._ticking = False
        self._ticked = False
        self._pumps = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # ------------------------------------------------------------------ claiming

    async def claim(self, limit: int | None = None) -> list[Outbox]:
        """Take due rows (and rows whose sender's lease ran out) for this sender, atomically."""
        rows, _ = await self._claim(limit)
        return rows

    async def _claim(self, limit: int | None = None) -> tuple[list[Outbox], dict[int, Person]]:
        started = time.monotonic()  # before the wall clock the lease is counted from
        claimed, people = await self._claim_rows(limit)
        deadline = started + self.lease.total_seconds()
        for row in claimed:
            self._held[row.id] = _Lease(deadline, row.attempts)
        return claimed, people

    async def _claim_rows(
        self, limit: int | None = None
    ) -> tuple[list[Outbox], dict[int, Person]]:
        now = self.clock()
        limit = limit or self.batch_size
        async with self.sessionmaker() as session, session.begin():
            locking = session.get_bind().dialect.name == "postgresql"
            ids: list[int] = []
            for query in self._due_queries(now):
                if len(ids) >= limit:
                    break
                query = query.limit(limit - len(ids))
                if locking:
                    query = query.with_for_update(skip_locked=True)
                ids += (await session.scalars(query)).all()
            claimed = await self._take(session, Outbox.id.in_(ids), now) if ids else []
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
            people = {r.person_id for r in claimed if r.person_id is not None}
            found = await session.scalars(select(Person).where(Person.id.in_(people)))
            by_kind: dict[str, list[Outbox]] = defaultdict(list)
            for row in claimed:
                by_kind[row.kind].append(row)
            for kind, rows in by_kind.items():
                prefetch: Prefetch | None = getattr(self.renderers.get(kind), "prefetch", None)
                if prefetch is not None:
                    await prefetch(session, rows)
            return claimed, {p.id: p for p in found} if people else {}

    @staticmethod
    def _due_queries(now: datetime) -> list[Select[int]]:
        """Rows whose lease ran out, then due rows a priority at a time, earliest due first.

        One query per priority walks the (status, due_at, priority) index in order and stops at
        the limit; a single ORDER BY priority, due_at would sort every due row on each claim,
        which is 100,000 rows while a big broadcast goes out.
        """
        due = (Outbox.status == "pending") & (Outbox.due_at <= now)
        known = (outbox.PRIORITY_REMINDER, outbox.PRIORITY_NOTICE, outbox.PRIORITY_BROADCAST)
        return [
            select(Outbox.id).where(Outbox.status == "sending", Outbox.lease_until < now),
            *(
                select(Outbox.id).where(due, Outbox.priority == p).order_by(Outbox.due_at)
                for p in known
            ),
            select(Outbox.id)
            .where(due, Outbox.priority.not_in(known))
            .order_by(Outbox.priority, Outbox.due_at),
        ]

    async def _take(self, session: AsyncSession, condition: Any, now: datetime) -> list[Outbox]:
        result = await session.scalars(
            update(Outbox)
            .where(condition)
            .values(status="sending", lease_until=now + self.lease, attempts=Outbox.attempts + 1)
            .returning(Outbox)
            .execution_options(synchronize_session=False)
        )
        return list(result.all())

    async def give_back(self, rows: Iterable[Outbox]) -> None:
        """Claimed rows this sender will not send after all: pending again, the claim undone."""
        rows = list(rows)
        by_token = self._by_token(rows)
        if not by_token:
            return
        try:
            async with self.sessionmaker() as session, session.begin():
                for token, ids in by_token.items():
                    await session.execute(
                        update(Outbox)
                        .where(*_still_claimed(ids, token))
                        .values(status="pending", lease_until=None, attempts=Outbox.attempts - 1)
                        .execution_options(synchronize_session=False)
                    )
        finally:
            self._forget(rows)

    # ------------------------------------------------------------------ leases

    def _by_token(self, rows: Iterable[Outbox]) -> dict[int, list[int]]:
        """The ids of these rows this sender still holds, by the claim they hold them with."""
        found: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            held = self._held.get(row.id)
            if held is not None:
                found[held.token].append(row.id)
        return found

    def _forget(self, rows: Iterable[Outbox]) -> None:
        for row in rows:
            self._held.pop(row.id, None)

    def _still_ours(self, rows: Iterable[Outbox], margin: float | None = None) -> bool:
        """Whether every row's lease is valid, by this sender's clock, for `margin` more."""
        limit = time.monotonic() + (self.lease_margin if margin is None else margin)
        for row in rows:
            held = self._held.get(row.id)
            if held is None or held.deadline <= limit:
                return False
        return True

    async def renew(self) -> int:
        """Extend the leases of every row this sender holds; returns how many were renewed.
        A row taken over or cancelled meanwhile is not renewed: its lease stays as it was, so
        it is dropped before it is sent."""
        by_token: dict[int, list[int]] = defaultdict(list)
        for row_id, held in self._held.items():
            by_token[held.token].append(row_id)
        if not by_token:
            return 0
        started = time.monotonic()
        now = self.clock()
        renewed: set[int] = set()
        async with self.sessionmaker() as session, session.begin():
            for token, ids in by_token.items():
                result = await session.execute(
                    update(Outbox)
                    .where(*_still_claimed(ids, token))
                    .values(lease_until=now + self.lease)
                    .returning(Outbox.id)
                    .execution_options(synchronize_session=False)
                )
                renewed.update(result.scalars().all())
        deadline = started + self.lease.total_seconds()
        for row_id in renewed:
            lease = self._held.get(row_id)
            if lease is not None:  # still held: not finished while the renewal ran
                lease.deadline = max(lease.deadline, deadline)
        return len(renewed)

    async def _renew_while_pumping(self) -> None:
        """Renew every third of a lease while the pipeline runs. A renewal that fails or
        hangs (the database unreachable, the table locked) renews nothing: the leases then
        run out by this sender's clock and it stops sending those rows."""
        every = self.lease.total_seconds() / 3
        while self._pumps:
            # Only this wait is ever cut short: a renewal is never cancelled half-way through
            # its transaction, it ends on its own, however long the database makes it wait.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), every)
            if not self._pumps:
                return
            try:
                await self.renew()
            except Exception as exc:
                log.warning("outbox leases not renewed: %s", type(exc).__name__)

    # ------------------------------------------------------------------ the pipeline

    async def tick(self) -> TickReport:
        """Claim one batch and send it."""
        report = TickReport()
        await self._pump(report, once=True, deadline=math.inf)
        return report

    async def drain(self, max_seconds: float = 5.0) -> int:
        """Send until nothing is due or time is up; returns how many rows were handled."""
        report = TickReport()
        await self._pump(report, once=False, deadline=time.monotonic() + max_seconds)
        return report.claimed

    async def on_tick(self, interval: float = 1.0) -> int:
        """What the clock calls every `interval` seconds (APScheduler in the bot).

        Sends until nothing is due — a burst of 10,000 reminders is one pipeline, never
        stopped and restarted on a timer — then, when the next row falls due before the next
        tick, sleeps until that moment and sends it: a reminder is not late by a tick's phase.
        A tick that comes while another is still sending returns at once, so a long drain
        neither runs twice nor makes the scheduler skip (and warn about) its ticks.
        """
        if self._ticking:
            return 0
        if not self._ticked:
            self._ticked = True
            log.info(
                "outbox sender running: %d messages a second, at most %d sends at once",
                self.limiter.rate,
                self.concurrency,
            )
        self._ticking = True
        handled = 0
        end = time.monotonic() + interval
        try:
            while not self._stopping:
                handled += await self.drain(max_seconds=math.inf)
                left = end - time.monotonic()
                if left <= 0.05:
                    break
                wait = await self._next_due_in(left)
                if wait is None:
                    break
                await asyncio.sleep(wait)
        finally:
            self._ticking = False
        if handled:
            log.info(
                "outbox: %d rows handled, at most %d sends in flight", handled, self.max_in_flight
            )
        return handled

    async def _next_due_in(self, horizon: float) -> float | None:
        """Seconds until the earliest pending row is due, if that is within `horizon`."""
        now = self.clock()
        async with self.sessionmaker() as session:
            due = await session.scalar(
                select(Outbox.due_at)
                .where(Outbox.status == "pending")
                .where(Outbox.due_at <= now + timedelta(seconds=horizon))
                .order_by(Outbox.due_at)
                .limit(1)
            )
        if due is None:
            return None
        return max(0.0, (due - now).total_seconds()) + 0.001

    async def close(self) -> None:
        """Graceful stop for good: no new claims, sends in flight finish and are recorded,
        claimed rows not yet sent are given back."""
        self._stopping = True
        await self._idle.wait()
        if self._renewer is not None:
            await self._renewer

    def _group(self, rows: list[Outbox]) -> list[list[Outbox]]:
        groups: dict[tuple[Any, ...], list[Outbox]] = defaultdict(list)
        for row in rows:
            key = (row.kind, row.chat_id) if row.kind in self.batched_kinds else (row.id,)
            groups[key].append(row)
        return list(groups.values())

    async def _pump(self, report: TickReport, *, once: bool, deadline: float) -> None:
        heap: list[_Entry] = []
        waiting: dict[int, deque[_Entry]] = {}  # behind a send to the same chat
        busy: set[int] = set()
        running: dict[asyncio.Future[Any], _Entry] = {}
        people: dict[int, Person] = {}
        finished: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()
        order = itertools.count()
        claim: asyncio.Task[tuple[list[Outbox], dict[int, Person]]] | None = None
        claims = 0
        exhausted = False
        self._pumps += 1
        self._idle.clear()
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_while_pumping())
        try:
            while True:
                backlog = len(heap) + sum(len(q) for q in waiting.values())
                if (
                    claim is None
                    and not exhausted
                    and not self._stopping
                    and not (once and claims)
                    and time.monotonic() < deadline
                    and backlog < max(1, self.batch_size // 2)
                ):
                    claim = asyncio.create_task(self._claim())
                    claim.add_done_callback(finished.put_nowait)
                    claims += 1
                while heap and len(running) < self.concurrency and not self._stopping:
                    entry = heapq.heappop(heap)
                    first = entry[-1][0]
                    if first.chat_id in busy:  # keep a chat's messages in order, one at a time
                        waiting.setdefault(first.chat_id, deque()).append(entry)
                        continue
                    busy.add(first.chat_id)
                    person = people.pop(first.person_id or 0, None)
                    task = asyncio.create_task(self._deliver(entry[-1], person, report))
                    task.add_done_callback(finished.put_nowait)
                    running[task] = entry
                if not running and claim is None:
                    break
                done = [await finished.get()]
                while not finished.empty():
                    done.append(finished.get_nowait())
                for future in done:
                    if future is claim:
                        claim = None
                        rows, found = future.result()
                        people.update(found)
                        report.claimed += len(rows)
                        exhausted = exhausted or len(rows) < self.batch_size
                        for group in self._group(rows):
                            first = group[0]
                            key = (first.priority, first.due_at, first.id, next(order), group)
                            heapq.heappush(heap, key)
                        continue
                    chat_id = running.pop(future)[-1][0].chat_id
                    busy.discard(chat_id)
                    if chat_id in waiting:
                        heapq.heappush(heap, waiting[chat_id].popleft())
                        if not waiting[chat_id]:
                            del waiting[chat_id]
                if self._stopping and heap:
                    await self.give_back(row for *_, group in heap for row in group)
                    heap.clear()
        except asyncio.CancelledError:
            self._stopping = True
            await asyncio.shield(self._wind_down(running, heap, waiting, claim))
            raise
        finally:
            self._pumps -= 1
            if not self._pumps:
                self._idle.set()  # the renewer ends with the pipeline

    async def _wind_down(
        self,
        running: dict[asyncio.Future[Any], _Entry],
        heap: list[_Entry],
        waiting: dict[int, deque[_Entry]],
        claim: asyncio.Task[tuple[list[Outbox], dict[int, Person]]] | None,
    ) -> None:
        unsent = [row for *_, group in heap for row in group]
        unsent += [row for q in waiting.values() for *_, group in q for row in group]
        if claim is not None:
            with contextlib.suppress(Exception):
                unsent += (await claim)[0]
        if running:
            await asyncio.wait(running)
        await self.give_back(unsent)

    async def _deliver(self, rows: list[Outbox], person: Person | None, report: TickReport) -> None:
        try:
            try:
                outcome = await self._send(rows, person)
            except Exception as exc:  # a renderer's bug or a database hiccup: retry later
                log.exception("outbox %s (%s) could not be prepared", rows[0].id, rows[0].kind)
                outcome = {"status": "retry", "error": f"{type(exc).__name__}"}
            if outcome["status"] == DROPPED:
                self.dropped += len(rows)
                report.count(DROPPED, len(rows))
                log.info("outbox %s (%s): lease passed before sending; dropped unsent",
                         rows[0].id, rows[0].kind)
                return
            report.count("part" if outcome.get("next_payload") else outcome["status"], len(rows))
            await self._record(rows, outcome)
        finally:
            self._forget(rows)

    async def _record(self, rows: list[Outbox], outcome: Outcome) -> None:
        """Commit the outcome, trying again while the slot is held: a message sent but not
        recorded is sent again by whoever takes the row next. Gives up once the lease has been
        over for another whole lease (the database gone for good); the row is then taken
        again like a row of a killed sender."""
        give_up = time.monotonic() + 2 * self.lease.total_seconds()
        while True:
            try:
                await self._commits.record(rows, outcome)
                return
            except Exception:  # logged by the group commit
                if time.monotonic() >= give_up or self._stopping:
                    return
                await asyncio.sleep(0.5)

    # ------------------------------------------------------------------ one send

    async def _render(self, rows: list[Outbox], person: Person | None) -> Rendered | Skip:
        first = rows[0]
        renderer = self.renderers.get(first.kind)
        if renderer is None:
            return Skip("failed", f"no renderer for {first.kind}")
        if first.expires_at is not None and first.expires_at <= self.clock():
            return Skip("expired", "too late to be useful")
        session = self.sessionmaker()
        try:
            if person is None and first.person_id is not None:
                person = await session.get(Person, first.person_id)
            language = (person.language if person else None) or "pl"
            with self.i18n.context(), self.i18n.use_locale(language):
                return await renderer(session, rows, person)
        finally:
            # Most renderers read nothing (or from a cache): a session that never touched the
            # database has nothing to close, and closing costs a thread hop per message.
            if session.sync_session.in_transaction() or session.sync_session.identity_map:
                await session.close()

    async def _send(self, rows: list[Outbox], person: Person | None) -> Outcome:
        rendered = await self._render(rows, person)
        if isinstance(rendered, Skip):
            return {"status": rendered.status, "error": rendered.reason}
        chat_id = rows[0].chat_id
        if self.limiter.paused_for() > self.defer_after:  # do not sit on the lease
            return {"status": "retry", "after": self.limiter.paused_for(), "flood": True}
        extra = {"allow_paid_broadcast": True} if self.paid_broadcast else {}
        async with self.limiter.slot(chat_id):
            # The last moment before the request: the fence (see the module's docstring).
            if not self._still_ours(rows):
                return {"status": DROPPED}
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                message_id = await self._call(chat_id, rendered, extra)
            except TelegramRetryAfter as exc:
                self.limiter.flood(chat_id, exc.retry_after)
                return {"status": "retry", "after": exc.retry_after, "flood": True}
            except TelegramForbiddenError as exc:
                return {"status": "failed", "error": exc.message, "unreachable": True}
            except TelegramBadRequest as exc:
                unreachable = any(marker in exc.message.lower() for marker in _UNREACHABLE)
                return {"status": "failed", "error": exc.message, "unreachable": unreachable}
            except TelegramAPIError as exc:  # 5xx, network, anything else: retry with backoff
                return {"status": "retry", "error": f"{type(exc).__name__}: {exc.message}"}
            finally:
                self.in_flight -= 1
        outcome: Outcome = {"status": "sent", "message_id": message_id}
        if rendered.next_payload is not None:
            outcome["next_payload"] = rendered.next_payload
        return outcome

    async def _call(self, chat_id: int, rendered: Rendered, extra: dict[str, Any]) -> int:
        """Send one message; returns its Telegram message id."""
        caption = rendered.text or None
        markup = rendered.reply_markup
        if rendered.document is not None:  # an upload: aiogram builds the multipart body
            name, content = rendered.document
            message = await self.bot.send_document(
                chat_id, BufferedInputFile(content, name), caption=caption, reply_markup=markup
            )
            return message.message_id
        if rendered.media is not None:
            kind, file_id = rendered.media
            return await self._post(
                "sendPhoto" if kind == "photo" else "sendDocument",
                {"chat_id": chat_id, kind: file_id, "caption": caption, **extra},
                markup,
            )
        return await self._post(
            "sendMessage", {"chat_id": chat_id, "text": rendered.text, **extra}, markup
        )

    async def _post(
        self, method: str, params: dict[str, Any], markup: InlineKeyboardMarkup | None
    ) -> int:
        """One plain Bot API call (`JsonSession.call_plain`): aiogram would validate a model
        for every call and parse every answer into another, about half a millisecond of CPU,
        half a core at 1,000 messages a second. The answer is read for its message id only;
        a failure raises aiogram's usual exceptions."""
        params = {k: v for k, v in params.items() if v is not None}
        if markup is not None:
            params["reply_markup"] = markup
        session = self.bot.session
        if not isinstance(session, JsonSession):  # e.g. a test double: the usual way
            return int((await self.bot(_METHODS[method](**params))).message_id)
        answer = await session.call_plain(self.bot, _METHODS[method], params, self._timeout)
        return int(answer["message_id"])

    # ------------------------------------------------------------------ recording

    def _values(self, rows: list[Outbox], outcome: Outcome, now: datetime) -> dict[str, Any]:
        error = outcome.get("error")
        if outcome.get("unreachable"):
            error = UNREACHABLE_PREFIX + (error or "")
        values: dict[str, Any] = {"lease_until": None, "last_error": error[:200] if error else None}
        status = outcome["status"]
        if status == "sent" and "next_payload" in outcome:
            values |= {
                "status": "pending",
                "payload": outcome["next_payload"],
                "attempts": 0,
                "due_at": now + self.per_chat_interval,
                "telegram_message_id": outcome["message_id"],
            }
        elif status == "retry":
            if outcome.get("flood"):  # Telegram asked us to wait; not the message's fault
                values |= {
                    "status": "pending",
                    "attempts": Outbox.attempts - 1,
                    "due_at": now + timedelta(seconds=outcome["after"]),
                }
            elif rows[0].attempts >= self.max_attempts:
                values |= {"status": "failed"}
            else:
                backoff = min(300, 2 ** rows[0].attempts)
                values |= {"status": "pending", "due_at": now + timedelta(seconds=backoff)}
        else:
            values |= {"status": status}
        return values

    async def _write(self, items: list[tuple[list[Outbox], Outcome]]) -> None:
        now = self.clock()
        sent: list[dict[str, Any]] = []
        unreachable: set[int] = set()
        table = cast(Table, Outbox.__table__)
        async with self.sessionmaker() as session, session.begin():
            for rows, outcome in items:
                if outcome["status"] == "sent" and "next_payload" not in outcome:
                    sent += [
                        {"b_id": r.id, "b_message": outcome["message_id"], "b_claim": held.token}
                        for r in rows
                        if (held := self._held.get(r.id)) is not None
                    ]
                    continue
                # Only rows still leased to us: a row cancelled meanwhile stays cancelled, a
                # row another instance took over is its business.
                for token, ids in self._by_token(rows).items():
                    await session.execute(
                        update(Outbox)
                        .where(*_still_claimed(ids, token))
                        .values(**self._values(rows, outcome, now))
                        .execution_options(synchronize_session=False)
                    )
                if outcome.get("unreachable") and rows[0].person_id is not None:
                    unreachable.add(rows[0].person_id)
                if outcome["status"] not in ("sent", "retry"):
                    log.info("outbox %s (%s): %s", rows[0].id, rows[0].kind, outcome["status"])
            if sent:
                await session.execute(
                    table.update()
                    .where(
                        table.c.id == bindparam("b_id"),
                        table.c.status == "sending",
                        table.c.attempts == bindparam("b_claim"),
                    )
                    .values(
                        status="sent",
                        sent_at=now,
                        lease_until=None,
                        last_error=None,
                        telegram_message_id=bindparam("b_message"),
                    ),
                    sent,
                )
            if unreachable:
                await session.execute(
                    update(Person)
                    .where(Person.id.in_(unreachable), Person.blocked_at.is_(None))
                    .values(blocked_at=now)
                )
