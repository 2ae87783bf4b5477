"""APScheduler is the clock, not the store: it ticks the sender; the outbox holds the messages.

Its own job store is never used for reminders — date jobs vanish once submitted, so a crash
would lose them, and two schedulers sharing a store would run jobs twice.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App
from bot.broadcast_watch import watch_broadcasts
from bot.budget import create_budget
from bot.commands import sync_staff_menus
from bot.delivery import Renderer, Sender
from bot.renderers import BATCHED_KINDS, renderers
from bot.services import booking, broadcast, retention

log = logging.getLogger(__name__)
# How often the clock looks at the outbox. A row due between two ticks is still sent on time:
# each tick sleeps until the next due row when it falls before the next tick.
SENDER_TICK = 1.0


def create_sender(
    app: App, wrap: Callable[[dict[str, Renderer]], dict[str, Renderer]] | None = None,
    **options: Any,
) -> Sender:
    """The outbox sender on the app's clock; `wrap` may look at each render (the console
    labels what it shows by the row's kind), `options` change Sender's limits. Its budget is
    shared by every instance when there can be several (Redis or PostgreSQL, bot/budget.py);
    `background_jobs` closes it."""
    kinds = renderers(app.programme, app.clock)
    options.setdefault("rate", app.settings.send_rate)
    if "budget" not in options:
        options["budget"] = create_budget(
            app.settings, app.engine, options["rate"], options.get("per_chat_interval", 1.0)
        )
    return Sender(
        app.bot,
        app.sessionmaker,
        app.i18n,
        wrap(kinds) if wrap else kinds,
        batched_kinds=BATCHED_KINDS,
        clock=app.clock,
        **options,
    )


def instance_name() -> str:
    """This process among the bot's instances: host, process id and a random part (a pid is
    reused after a restart), short enough for `broadcast.card_owner`."""
    return f"{socket.gethostname()[:20]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler(AsyncIOScheduler):
    """APScheduler's, with a graceful `stop`: its own shutdown cancels the jobs still running,
    cutting a database call in half (with SQLite the connection's thread is then never closed
    and the process cannot exit). `stop` lets them finish first."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._running: set[asyncio.Task[Any]] = set()

    def add_job(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        if not inspect.iscoroutinefunction(func):
            return super().add_job(func, *args, **kwargs)

        @functools.wraps(func)
        async def tracked(*call_args: Any, **call_kwargs: Any) -> Any:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                return await func(*call_args, **call_kwargs)
            finally:
                self._running.discard(task)

        return super().add_job(tracked, *args, **kwargs)

    async def stop(self, grace: float = 30.0) -> None:
        self.pause()
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace)
        self.shutdown(wait=False)


def create_scheduler(app: App, sender: Sender) -> Scheduler:
    scheduler = Scheduler(timezone="UTC")
    scheduler.add_job(
        sender.on_tick,
        "interval",
        seconds=SENDER_TICK,
        args=[SENDER_TICK],
        id="outbox-sender",
        # A tick that finds the previous one still sending returns at once (Sender.on_tick);
        # with one instance APScheduler would skip it and log a warning every second of a
        # long broadcast.
        max_instances=2,
        coalesce=True,
        misfire_grace_time=30,
    )
    scheduler.add_job(
        expire_waitlist_offers,
        "interval",
        seconds=30,
        args=[app],
        id="waitlist-offers",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        retention_purge, "cron", hour=3, minute=17, args=[app], id="retention",
        max_instances=1, coalesce=True,
    )
    scheduler.add_job(
        watch_broadcasts,
        "interval",
        seconds=3,  # how often a progress card changes, at most
        args=[app.bot, app.sessionmaker, app.i18n, app.clock, sender.limiter, {}],
        # One instance edits each card; the others leave it be (bot/broadcast_watch.py).
        kwargs={"owner": instance_name()},
        id="broadcasts",
        max_instances=1,
        coalesce=True,
    )
    # Once, at start: staff menus as the roles are now (the CLI may have changed them).
    scheduler.add_job(
        sync_staff_menus,
        "date",
        args=[app.bot, app.i18n, app.sessionmaker, app.settings.dashboard_address],
        id="staff-menus",
    )
    return scheduler


async def retention_purge(app: App) -> tuple[int, int]:
    """Nightly: anonymise applications past their retention, forget old update ids."""
    now = app.clock()
    async with app.sessionmaker() as session, session.begin():
        keep = timedelta(days=app.settings.retention_days)
        anonymised = await retention.anonymise_due(session, app.programme, now, keep)
        forgotten = await retention.purge_update_ids(session, now)
        purged = await broadcast.purge_finished(session, now)
    if anonymised:
        log.info("retention: %s applications anonymised", anonymised)
    if purged:
        log.info("retention: the outbox rows of %s finished broadcasts purged", purged)
    return anonymised, forgotten


async def expire_waitlist_offers(app: App) -> int:
    """Seat offers nobody took in time go to the next in line (safe on several instances)."""
    async with app.sessionmaker() as session, session.begin():
        return await booking.expire_offers(session, app.programme, app.clock())
