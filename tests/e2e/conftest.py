"""End to end: the production factory's bot and dispatcher, a real database, and Telegram
replaced by the fake Bot API server, reached over HTTP through TELEGRAM_API_BASE."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_app
from bot.programme import PROGRAMMES_DIR
from bot.settings import Settings
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.user import FakeUser

# Figures the property tests report (examples run, refusals, hits), printed after the run.
FIGURES: dict[str, str] = {}


def record_figure(name: str, text: str) -> None:
    FIGURES[name] = text


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("figures")
        for name, text in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{name}: {text}")


TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
STAFF_ID = 900_000_001


class FakeClock:
    """The clock the bot reads (`clock` workflow data); tests move it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


StartBot = Callable[..., Awaitable[App]]


@pytest.fixture
async def start_bot(
    tg: FakeTelegram, database_url: str, clock: FakeClock
) -> AsyncIterator[StartBot]:
    """Start the bot (long polling against the fake server); call again after `stop` to restart."""
    stacks: list[AsyncExitStack] = []

    async def start(programme: str = "demo.toml", **settings: Any) -> App:
        settings.setdefault("throttle_rate", 0)  # tests type faster than people; see test_abuse
        config = Settings(
            _env_file=None,  # type: ignore[call-arg]
            bot_token=TOKEN,
            database_url=database_url,
            telegram_api_base=tg.base_url,
            staff_ids=[STAFF_ID],
            programme_file=Path(PROGRAMMES_DIR / programme),
            **settings,
        )
        stack = AsyncExitStack()
        app = await stack.enter_async_context(build_app(config, clock=clock))
        # handle_as_tasks=False: the next getUpdates comes only after an update is processed,
        # which is how the fake server knows a delivered update is done.
        task = asyncio.create_task(
            app.dispatcher.start_polling(
                app.bot,
                handle_as_tasks=False,
                handle_signals=False,
                polling_timeout=1,
                close_bot_session=False,
                allowed_updates=app.dispatcher.resolve_used_update_types(),
            )
        )
        stack.push_async_callback(_stop_polling, app, task)
        stacks.append(stack)
        return app

    start.stop = lambda: _close_all(stacks)  # type: ignore[attr-defined]
    yield start
    await _close_all(stacks)


async def _stop_polling(app: App, task: asyncio.Task[None]) -> None:
    with contextlib.suppress(RuntimeError):  # polling may not have started yet
        await app.dispatcher.stop_polling()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)


async def _close_all(stacks: list[AsyncExitStack]) -> None:
    while stacks:
        await stacks.pop().aclose()


@pytest.fixture
async def bot(start_bot: StartBot) -> App:
    return await start_bot()


@pytest.fixture
def user_factory(tg: FakeTelegram) -> Callable[..., FakeUser]:
    ids = iter(range(500_001, 600_000))

    def make(language_code: str | None = "pl", **kwargs: Any) -> FakeUser:
        return FakeUser(tg, next(ids), language_code=language_code, **kwargs)

    return make


async def onboard(user: FakeUser, language_label: str) -> None:
    """/start → language → notice acknowledged."""
    await user.send("/start")
    await user.press(language_label)
    await user.press(0)  # the notice has a single button
