"""Long polling and webhook runners for a real Telegram bot."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from bot import lean_aiogram
from bot.app import App
from bot.commands import register_commands
from bot.dashboard import PathOnlyAccessLog
from bot.delivery import Sender
from bot.scheduler import Scheduler, create_scheduler, create_sender
from bot.webhook import create_webhook_app

log = logging.getLogger(__name__)
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def settle_memory() -> None:
    """After start-up, move what lives for the whole run out of the garbage collector's sight.

    About 300,000 long-lived objects (aiogram types, SQLAlchemy mappers, catalogs) would
    otherwise be traversed again and again; a full collection paused the bot for ~600 ms.
    The aiogram models every update and send needs are built first (see `bot.lean_aiogram`),
    so that they are among them and no update waits for one.
    """
    lean_aiogram.warm_up()
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)
    pin_mmap_threshold()


def pin_mmap_threshold(size: int = 128 * 1024) -> None:
    """Keep glibc's mmap threshold at its default instead of letting it grow.

    glibc raises the threshold the first time a large block is freed; from then on blocks of
    128 KiB and more (most likely the 256 KiB buffers asyncio reads sockets into, then
    shrinks, a thousand a second when broadcasting) come from the main heap, which only grows:
    sending 100,000 messages at 1,000/s left ~25 MB free but resident in it (glibc's own
    figures: in use flat at 35 MB). A fixed threshold keeps such blocks in mmap, returned to
    the system on free: the broadcast benchmark's peak fell from 155 to 133 MB on PostgreSQL.
    The same as MALLOC_MMAP_THRESHOLD_=131072 in the environment. No-op without glibc.
    """
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version"):
            libc.mallopt(_M_MMAP_THRESHOLD, size)


@asynccontextmanager
async def background_jobs(app: App, sender: Sender | None = None) -> AsyncIterator[Scheduler]:
    """The outbox sender, ticked by APScheduler, for as long as the bot runs (`run` and the
    console alike). On the way out the sends in flight finish and are recorded, and claimed
    rows not yet sent are given back, so a graceful restart repeats nothing."""
    sender = sender or create_sender(app)
    scheduler = create_scheduler(app, sender)
    scheduler.start()
    try:
        yield scheduler
    finally:
        await sender.close()  # a tick running now returns at once
        await scheduler.stop()  # the other jobs finish what they are doing
        await sender.limiter.close()  # slots answered go back to the shared budget


async def run_polling(app: App) -> None:
    me = await app.bot.get_me()
    log.info("polling as @%s", me.username)
    await register_commands(app.bot, app.i18n)
    await app.bot.delete_webhook(drop_pending_updates=False)
    settle_memory()
    dashboard = None
    if app.settings.dashboard_url or app.settings.dashboard_port:
        from bot.dashboard import start_server

        dashboard = await start_server(app)
    try:
        async with background_jobs(app):
            await app.dispatcher.start_polling(
                app.bot,
                allowed_updates=app.dispatcher.resolve_used_update_types(),
                close_bot_session=False,
            )
    finally:
        if dashboard is not None:
            await dashboard.cleanup()


async def run_webhook(app: App) -> None:
    application = create_webhook_app(app)
    # The access log names method, path and status only (the dashboard's paths carry ids).
    runner = web.AppRunner(application, access_log_class=PathOnlyAccessLog)
    await runner.setup()
    settle_memory()
    site = web.TCPSite(runner, app.settings.webhook_host, app.settings.webhook_port)
    await site.start()
    log.info("webhook listening on %s:%s", app.settings.webhook_host, app.settings.webhook_port)
    # SIGTERM (a deploy, systemd, docker stop) ends the run the way a graceful stop should: the
    # sends in flight finish and are recorded, so the next start repeats none of them.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with background_jobs(app):
            await stop.wait()
        log.info("webhook: stopped by a signal")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
