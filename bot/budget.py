"""Telegram's budget: how many sends a second, and how often to one chat — for the whole bot.

Telegram counts a bot's sends however many processes make them: about 30 a second in all,
one a second to a chat, 20 a minute to a group. Three implementations of one small interface
(`Budget`), chosen by configuration (`create_budget`):

* in the process (`bot.delivery.RateLimiter`): SQLite, where the file's lock guarantees a
  single instance, and tests;
* Redis (`REDIS_URL` set; bot/budget_redis.py): Lua scripts, atomic on the server;
* PostgreSQL (no Redis; bot/budget_postgres.py): three small tables, one row locked per take.

The shared two hand out the same thing the in-process limiter does: SEND_RATE *slots*. A slot is
held while its send is out and comes back one second after the send was answered; a chat may
be written to again `per_chat_interval` after its previous send was answered. Since a send
reaches Telegram after it took its slot and before its answer, no second at Telegram's end
holds more than SEND_RATE sends, however the network and the instances' event loops jitter.

The clock. Instants are read by the shared store only (Redis's `TIME`, PostgreSQL's
`clock_timestamp()`), when a take or a release reaches it; an instance's own clock measures
durations only (its monotonic clock), never an instant compared with another machine's. A
release says how long ago its send was answered, and the slot is free a second after that:
the release reached the store at least that long after the answer. A take may book a slot
that comes back within half a second and says in how many seconds; the instance starts the
send that long after the answer reached it, so not before the slot is free. Either way the
second between two sends on one slot is at least a second at Telegram's end. What is
assumed: the store's clock does not jump forward (a jump frees slots early; backwards it
only makes the bot wait), and the instances' monotonic clocks run at the same rate as it,
within a few parts in a thousand over a second (the margin: 1 ms a second).

Round trips. An instance asks the store for every send waiting for a slot at once (up to the
sender's concurrency), booking what comes back within half a second, at most every quarter
second — unless a sixteenth of the rate is waiting and the last take found slots for as many
(then at once: at SEND_RATE = 1000 one instance would otherwise send no more than its places
four times a second); it gives back what was answered meanwhile in one call, a quarter second
later at most. So a few round trips a second per instance at Telegram's free rate, a few tens at
1,000 a second, and none of them in the slots' cycle: a slot is used again about a second plus
one send's round trip after it was last used. A holder that dies keeps its slots for `HOLD`
seconds (10); then they are free. If the store does not answer, nothing is sent until it does
(logged as a warning).

A 429 Telegram sends to one instance holds the others too: that chat waits `retry_after` on
every instance, and when 429s come thick (flood control for the whole bot) every instance
pauses (`paused until` in the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.settings import Settings

log = logging.getLogger(__name__)

# Telegram: "no more than 20 messages per minute" to one group.
GROUP_INTERVAL = 3.0
# When the soonest slot is beyond a second, it is held by a send still out (here or elsewhere):
# it comes back within milliseconds of its answer, not at the end of its hold; ask again then.
_HELD_RETRY = 0.02
# How long a slot or a chat stays held by an instance that never gives it back (killed): far
# beyond any send's round trip, short enough that a kill costs a few seconds of rate.
HOLD = 10.0


def chat_interval(chat_id: int, per_chat_interval: float) -> float:
    """Seconds between two sends to this chat: groups and channels have negative ids."""
    if not per_chat_interval:
        return 0.0
    return max(per_chat_interval, GROUP_INTERVAL) if chat_id < 0 else per_chat_interval


class Budget(Protocol):
    """What the sender and the progress cards take from, whichever implementation."""

    rate: int

    async def acquire(self, chat_id: int) -> None: ...

    def release(self, chat_id: int) -> None: ...

    def slot(self, chat_id: int) -> contextlib.AbstractAsyncContextManager[None]: ...

    def flood(self, chat_id: int, retry_after: float) -> None: ...

    def paused_for(self) -> float: ...

    async def close(self) -> None: ...


@dataclass
class Taken:
    """A store's answer to a take: the chats granted, each with the slot it holds and how many
    seconds from now that slot is free (0, or a little later: a slot about to come back is
    booked ahead); for each chat refused while slots were free, how long until it may be
    asked for again; when no slot was free, how long until one is; `paused` when Telegram
    asked everyone to wait."""

    granted: list[tuple[int, str, float]] = field(default_factory=list)
    chat_waits: dict[int, float] = field(default_factory=dict)
    slot_wait: float = 0.0
    paused: float = 0.0


@dataclass
class Given:
    """A slot given back: its id, its chat, and in how many seconds from now the slot and the
    chat are free (a second and the chat's interval from the answer, less the time since)."""

    member: str
    chat_id: int
    slot_after: float
    chat_after: float


class Store(Protocol):
    """Where the budget lives; every operation is atomic at the store, timed by its clock."""

    async def take(
        self, holder: str, wanted: list[tuple[int, str]], rate: int, hold: float, ahead: float
    ) -> Taken: ...

    async def give_back(self, holder: str, given: list[Given]) -> None: ...

    async def pause(self, seconds: float) -> None: ...

    async def close(self) -> None: ...


class SharedBudget:
    """The budget kept in a `Store` that every instance shares.

    In this process: the sends waiting for a slot (`acquire`), asked for together by one task;
    the slots answered (`release`), given back together by another; and what the store said
    about chats and pauses, so that nobody asks for what cannot be had yet.

    Two things keep the store's round trips out of the rate, both measured as durations on
    this instance's monotonic clock, never as instants compared with another clock:

    * a release says how long ago its send was answered, and the store counts the second
      from then: the release reached the store after that much time at least, so the slot
      is free no earlier than a second after the answer;
    * a take books slots that come back within `ahead` seconds, and says in how many seconds
      each is free; the send waits that long after the answer reached it, so it starts no
      earlier than the slot is free.
    """

    def __init__(
        self,
        store: Store,
        rate: float,
        per_chat_interval: float = 1.0,
        margin: float = 0.001,
        hold: float = HOLD,
        ahead: float = 0.5,
    ) -> None:
        self.store = store
        self.rate = max(1, int(rate))
        self.window = 1.0 + margin
        self.per_chat_interval = per_chat_interval + margin if per_chat_interval else 0.0
        self.hold = hold
        self.ahead = ahead
        # Takes come at most every `ahead / 2` while sends wait, each booking what comes back
        # within `ahead`; answered slots are given back after `linger`, together. Both cost
        # no rate (see above), and keep the store's round trips at a few a second per
        # instance, whatever the rate.
        self.spacing = ahead / 2
        self.linger = min(0.25, ahead / 2)
        # ...unless this many sends already wait: then a take goes at once. Without it an
        # instance sent at most its sender's concurrency every `spacing` (128 / 0.25 s: about
        # 500 a second at SEND_RATE = 1000, bench/broadcast.py). Below this rate's sixteenth
        # (and never below 16, more than the sender's concurrency at Telegram's 30 a second)
        # the round trips stay at a few a second.
        self.batch = max(16, self.rate // 16)
        self._last_take = -1.0
        self._last_granted = 0
        self.holder = uuid.uuid4().hex[:16]
        self._serial = itertools.count()
        self._waiting: dict[int, deque[asyncio.Future[None]]] = {}
        self._held: dict[int, str] = {}  # chat -> the slot its send holds (or is booked)
        self._chat_ready: dict[int, float] = {}  # by our monotonic clock, as the store said
        self._chat_flood: dict[int, float] = {}  # a 429's wait, given back with the slot
        self._paused_until = 0.0
        self._floods: deque[float] = deque()
        self._sends: deque[float] = deque()
        self._given: list[tuple[str, int, float, float]] = []  # member, chat, answered, wait
        self._taker: asyncio.Task[None] | None = None
        self._giver: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self.takes = 0  # round trips, for the benchmark
        self.gives = 0

    # -------------------------------------------------------------- the interface

    async def acquire(self, chat_id: int) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(chat_id, deque()).append(future)
        self._wake.set()
        if self._taker is None or self._taker.done():
            self._taker = asyncio.create_task(self._take_while_waiting())
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted as we were cancelled
                self.release(chat_id)
            raise

    def release(self, chat_id: int) -> None:
        member = self._held.pop(chat_id, None)
        if member is None:
            return
        now = time.monotonic()
        self._sends.append(now)  # the last second's, to tell a flood from one chat's 429
        while self._sends[0] < now - 1.0:
            self._sends.popleft()
        wait = max(chat_interval(chat_id, self.per_chat_interval), self._chat_flood.pop(chat_id, 0))
        self._chat_ready[chat_id] = max(self._chat_ready.get(chat_id, 0.0), now + wait)
        if len(self._chat_ready) > 10_000:  # forget chats whose interval is long over
            self._chat_ready = {c: t for c, t in self._chat_ready.items() if t > now}
        self._give_later(member, chat_id, now, wait)
        self._wake.set()

    @contextlib.asynccontextmanager
    async def slot(self, chat_id: int) -> AsyncIterator[None]:
        await self.acquire(chat_id)
        try:
            yield
        finally:
            self.release(chat_id)

    def flood(self, chat_id: int, retry_after: float) -> None:
        """Telegram answered 429 for this chat: it waits `retry_after` on every instance (the
        wait goes to the store with the slot). When 429s come thick — a quarter of the last
        second's sends, at least three — it is flood control for the whole bot: every
        instance pauses."""
        now = time.monotonic()
        self._chat_flood[chat_id] = max(self._chat_flood.get(chat_id, 0.0), retry_after)
        self._chat_ready[chat_id] = max(self._chat_ready.get(chat_id, 0.0), now + retry_after)
        self._floods.append(now)
        for times in (self._floods, self._sends):
            while times and times[0] < now - 1.0:
                times.popleft()
        if len(self._floods) >= 3 and 4 * len(self._floods) >= len(self._sends):
            self._paused_until = max(self._paused_until, now + retry_after)
            task = asyncio.create_task(self._pause_everyone(retry_after))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    async def close(self) -> None:
        """Give back what is answered and let go of the store."""
        if self._giver is not None:
            with contextlib.suppress(Exception):
                await self._giver
        if self._given:
            with contextlib.suppress(Exception):
                await self._give()
        if self._taker is not None:
            self._taker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._taker
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.store.close()

    # -------------------------------------------------------------- taking

    def _wanted(self, now: float) -> list[tuple[int, str]]:
        wanted = []
        for chat_id, queue in list(self._waiting.items()):
            while queue and queue[0].done():  # cancelled while waiting
                queue.popleft()
            if not queue:
                del self._waiting[chat_id]
                continue
            if chat_id in self._held or self._chat_ready.get(chat_id, 0.0) > now:
                continue
            wanted.append((chat_id, f"{self.holder}:{next(self._serial)}"))
            if len(wanted) >= self.rate:
                break
        return wanted

    async def _take_while_waiting(self) -> None:
        while self._waiting:
            now = time.monotonic()
            self._wake.clear()
            if self._paused_until > now:
                await asyncio.sleep(self._paused_until - now)
                continue
            wanted = self._wanted(now)
            if not wanted:
                soonest = min(
                    (self._chat_ready.get(c, now) for c in self._waiting if c not in self._held),
                    default=now + 0.05,
                )
                with contextlib.suppress(TimeoutError):  # a release may make a chat ready
                    await asyncio.wait_for(self._wake.wait(), max(0.001, soonest - now))
                continue
            # The spacing is skipped only while takes come back full: many sends wait and
            # the last take found slots for a batch of them. A take that found few (or
            # none: every slot held) means the store is what is short, and asking it again
            # at once would only spin.
            hurry = len(wanted) >= self.batch and self._last_granted >= self.batch
            if now < self._last_take + self.spacing and not hurry:
                await asyncio.sleep(self._last_take + self.spacing - now)
                continue
            self._last_take = now
            try:
                taken = await self.store.take(
                    self.holder, wanted, self.rate, self.hold, self.ahead
                )
            except Exception as exc:  # the store is away: nothing is sent until it is back
                log.warning("the shared send budget did not answer: %s", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            self.takes += 1
            self._last_granted = len(taken.granted)
            now = time.monotonic()
            if taken.paused > 0:
                self._paused_until = max(self._paused_until, now + taken.paused)
            for chat_id, wait in taken.chat_waits.items():
                self._chat_ready[chat_id] = max(self._chat_ready.get(chat_id, 0.0), now + wait)
            for chat_id, member, delay in taken.granted:
                self._grant(chat_id, member, delay)
            if not taken.granted and taken.paused <= 0 and taken.slot_wait > 0:
                if taken.slot_wait <= self.window:  # until it comes within `ahead`
                    await asyncio.sleep(max(0.001, taken.slot_wait - self.ahead))
                else:  # beyond a second: held by a send still out
                    await asyncio.sleep(_HELD_RETRY)

    def _grant(self, chat_id: int, member: str, delay: float) -> None:
        queue = self._waiting.get(chat_id)
        future = None
        while queue and future is None:
            candidate = queue.popleft()
            if not candidate.done():
                future = candidate
        if queue is not None and not queue:
            del self._waiting[chat_id]
        self._held[chat_id] = member
        if future is None:  # nobody waits for it any more
            self.release(chat_id)
        elif delay > 0:  # booked ahead: free `delay` seconds from the answer, here and now
            asyncio.get_running_loop().call_later(delay, self._hand_over, chat_id, future)
        else:
            self._hand_over(chat_id, future)

    def _hand_over(self, chat_id: int, future: asyncio.Future[None]) -> None:
        if future.done():  # the send was cancelled meanwhile
            self.release(chat_id)
        else:
            future.set_result(None)

    # -------------------------------------------------------------- giving back

    def _give_later(self, member: str, chat_id: int, answered: float, wait: float) -> None:
        self._given.append((member, chat_id, answered, wait))
        if self._giver is None or self._giver.done():
            self._giver = asyncio.create_task(self._give_while_given())

    async def _give_while_given(self) -> None:
        while self._given:
            await asyncio.sleep(self.linger)
            try:
                await self._give()
            except Exception as exc:  # the slots come back by themselves after `hold`
                log.warning("send budget slots not given back: %s", type(exc).__name__)
                return

    async def _give(self) -> None:
        given, self._given = self._given, []
        if not given:
            return
        self.gives += 1
        now = time.monotonic()  # before the request leaves: the time since is not overstated
        await self.store.give_back(
            self.holder,
            [
                Given(member, chat_id, self.window - (now - answered), wait - (now - answered))
                for member, chat_id, answered, wait in given
            ],
        )

    async def _pause_everyone(self, seconds: float) -> None:
        try:
            await self.store.pause(seconds)
        except Exception as exc:
            log.warning("the shared pause was not stored: %s", type(exc).__name__)


def budget_prefix(settings: Settings) -> str:
    """Redis keys of this bot's budget: one budget per bot (its public numeric id), however
    many bots share the server."""
    bot_id = (settings.token or "console").split(":", 1)[0]
    return f"win4ua:budget:{bot_id}:"


def create_budget(
    settings: Settings, engine: AsyncEngine, rate: float, per_chat_interval: float = 1.0
) -> Budget | None:
    """The shared budget the configuration asks for: Redis when REDIS_URL is set, else the
    PostgreSQL tables; None on SQLite (one instance: the sender's own limiter is the budget)."""
    if settings.redis_url:
        from bot.budget_redis import RedisStore

        store: Store = RedisStore.from_url(settings.redis_url, budget_prefix(settings))
    elif engine.dialect.name == "postgresql":
        from bot.budget_postgres import PostgresStore

        store = PostgresStore(engine)
    else:
        return None
    return SharedBudget(store, rate, per_chat_interval)
