"""Long polling and webhook runners for a real Telegram bot."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from bot import lean_aiogram
from bot.app import App
from bot.commands import register_commands
from bot.scheduler import create_scheduler, create_sender
from bot.webhook import create_webhook_app

log = logging.getLogger(__name__)


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


@asynccontextmanager
async def background_jobs(app: App) -> AsyncIterator[None]:
    """The outbox sender, ticked by APScheduler, for as long as the bot runs. On the way out
    the sends in flight finish and are recorded, and claimed rows not yet sent are given back,
    so a graceful restart repeats nothing."""
    sender = create_sender(app)
    scheduler = create_scheduler(app, sender)
    scheduler.start()
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)
        await sender.close()


async def run_polling(app: App) -> None:
    me = await app.bot.get_me()
    log.info("polling as @%s", me.username)
    await register_commands(app.bot, app.i18n)
    await app.bot.delete_webhook(drop_pending_updates=False)
    settle_memory()
    async with background_jobs(app):
        await app.dispatcher.start_polling(
            app.bot,
            allowed_updates=app.dispatcher.resolve_used_update_types(),
            close_bot_session=False,
        )


async def run_webhook(app: App) -> None:
    application = create_webhook_app(app)
    runner = web.AppRunner(application)
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
