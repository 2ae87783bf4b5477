"""The composition root's building blocks: the same factory serves production, console and tests.

Layers point one way, db/ ← bot/ ← handlers/ (tests/unit/test_layers.py). This module is the one
place in bot/ that names handlers/: `create_dispatcher` hands the dispatcher to
`handlers.setup_routers`, which adds every router. Everything else in bot/ works without them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import TelegramMethod
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import lean_aiogram
from bot.i18n import create_i18n
from bot.middlewares import PersonMiddleware, TransactionMiddleware
from bot.programme import Programme, default_programme_path, load_programme
from bot.routing import Dispatcher
from bot.services import people
from bot.settings import Settings
from bot.telegram_session import JsonSession
from bot.throttling import ThrottlingMiddleware
from db import migrate
from db.base import utcnow
from db.engine import create_engine, create_sessionmaker
from db.reference import load_reference
from handlers import setup_routers  # the composition root: the one import of handlers/ in bot/

log = logging.getLogger(__name__)

# A syntactically valid token for the console, where no request leaves the process.
CONSOLE_TOKEN = "1000000001:console-chat-no-network-000000000000"


class KeepResponseTypes(BaseRequestMiddleware):
    """aiogram checks each answer with `Response[<the method's return type>]`, a class pydantic
    keeps only weakly: each run of the cyclic collector dropped it, and the next call built
    its validator again (~5 ms). Kept here for the life of the process (`lean_aiogram`)."""

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        lean_aiogram.response_type(method.__returning__)
        return await make_request(bot, method)


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        api = (
            TelegramAPIServer.from_base(str(settings.telegram_api_base))
            if settings.telegram_api_base
            else None
        )
        session = JsonSession(api=api) if api else JsonSession()
    session.middleware(KeepResponseTypes())
    return Bot(
        token=settings.token or CONSOLE_TOKEN,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_storage(settings: Settings) -> BaseStorage:
    """FSM storage holds only short-lived conversation state; the database holds everything else."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url)
    return MemoryStorage()


def create_dispatcher(
    *,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    storage: BaseStorage | None = None,
    **workflow_data: Any,
) -> Dispatcher:
    workflow_data.setdefault("clock", utcnow)
    dispatcher = Dispatcher(
        storage=storage or MemoryStorage(),
        settings=settings,
        i18n=i18n,
        sessionmaker=sessionmaker,
        **workflow_data,
    )
    if settings.throttle_rate > 0:
        dispatcher.update.outer_middleware(
            ThrottlingMiddleware(i18n, settings.throttle_rate, settings.throttle_burst)
        )
    dispatcher.update.outer_middleware(
        TransactionMiddleware(sessionmaker, dedupe=settings.dedupe_updates)
    )
    dispatcher.update.outer_middleware(PersonMiddleware(i18n))
    setup_routers(dispatcher)
    return dispatcher


async def prepare_database(engine: AsyncEngine, settings: Settings) -> None:
    """Migrate, load reference data when it changed, make STAFF_IDS staff. Safe to repeat."""
    await migrate.upgrade(engine)
    loaded = await load_reference(engine)
    if any(loaded.values()):
        log.info("reference data loaded: %s", loaded)
    if settings.staff_ids:
        async with create_sessionmaker(engine)() as session, session.begin():
            await people.bootstrap_staff(session, settings.staff_ids)


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    i18n: I18n
    bot: Bot
    dispatcher: Dispatcher
    programme: Programme
    # What the handlers, the sender and the scheduled jobs take as "now" (tests move it).
    clock: Callable[[], datetime] = utcnow


@asynccontextmanager
async def build_app(
    settings: Settings,
    *,
    session: BaseSession | None = None,
    prepare: bool = True,
    **workflow_data: Any,
) -> AsyncIterator[App]:
    """Everything the bot needs, built in order and torn down in reverse, whatever happens."""
    programme = load_programme(settings.programme_file or default_programme_path())
    clock = workflow_data.setdefault("clock", utcnow)
    if programme.demo:
        log.warning(
            "running the DEMO programme %s; set PROGRAMME_FILE for a real call", programme.id
        )
    engine = create_engine(settings.database_url)
    storage = create_storage(settings)
    bot = None
    try:
        if prepare:
            await prepare_database(engine, settings)
        sessionmaker = create_sessionmaker(engine)
        i18n = create_i18n()
        bot = create_bot(settings, session)
        dispatcher = create_dispatcher(
            settings=settings,
            sessionmaker=sessionmaker,
            i18n=i18n,
            storage=storage,
            programme=programme,
            **workflow_data,
        )
        yield App(settings, engine, sessionmaker, i18n, bot, dispatcher, programme, clock)
    finally:
        if bot is not None:
            await bot.session.close()
        await storage.close()
        await engine.dispose()
