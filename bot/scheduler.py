"""APScheduler is the clock, not the store: it ticks the sender; the outbox holds the messages.

Its own job store is never used for reminders — date jobs vanish once submitted, so a crash
would lose them, and two schedulers sharing a store would run jobs twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App
from bot.commands import sync_staff_menus
from bot.delivery import Sender
from bot.renderers import BATCHED_KINDS, renderers
from bot.services import booking, broadcast, retention
from db.base import utcnow
from handlers.staff_progress import watch_broadcasts

log = logging.getLogger(__name__)
# How often the clock looks at the outbox. A row due between two ticks is still sent on time:
# each tick sleeps until the next due row when it falls before the next tick.
SENDER_TICK = 1.0


def create_sender(app: App) -> Sender:
    settings = app.settings
    return Sender(
        app.bot,
        app.sessionmaker,
        app.i18n,
        renderers(app.programme),
        rate=settings.send_rate,
        batched_kinds=BATCHED_KINDS,
    )


def create_scheduler(app: App, sender: Sender) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
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
        args=[app.bot, app.sessionmaker, app.i18n, utcnow, sender.limiter, {}],
        id="broadcasts",
        max_instances=1,
        coalesce=True,
    )
    # Once, at start: staff menus as the roles are now (the CLI may have changed them).
    scheduler.add_job(
        sync_staff_menus, "date", args=[app.bot, app.i18n, app.sessionmaker], id="staff-menus"
    )
    return scheduler


async def retention_purge(app: App) -> tuple[int, int]:
    """Nightly: anonymise applications past their retention, forget old update ids."""
    now = utcnow()
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
        return await booking.expire_offers(session, app.programme, utcnow())
