"""End to end: the production factory's bot and dispatcher, a real database, and Telegram
replaced by the fake Bot API server, reached over HTTP through TELEGRAM_API_BASE."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_app
from bot.logging_setup import QUIET_LOGGERS
from bot.programme import PROGRAMMES_DIR
from bot.settings import Settings
from tests.fakes import canary
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


# The canary bot token: it must never appear in a log line either (see `canary_logs`).
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


class EveryLine(logging.Handler):
    """Keeps every record of the run as the production formatter would print it, with its
    traceback, so the session can be searched for personal data at the end. The browser tests'
    own driver (selenium, and urllib3 under it) is the person's side, not the bot: it logs the
    page it reads at DEBUG, which is the person looking at their screen, so it is left out."""

    PERSON_SIDE = ("selenium", "urllib3")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(self.PERSON_SIDE):
            return
        try:
            self.lines.extend(self.format(record).splitlines())
        except Exception:  # a record that cannot be formatted is a bug of its own
            self.lines.append(f"UNFORMATTABLE {record.name}: {record.msg!r} {record.args!r}")


@pytest.fixture(autouse=True)
def every_logger_on(canary_logs: EveryLine) -> None:
    """The console chat quiets these two for its own screen and leaves them so; every test
    here logs at DEBUG again, so the canary search sees their lines too."""
    for name in ("aiogram.event", "bot.app"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.fixture(scope="session", autouse=True)
def canary_logs() -> Iterator[EveryLine]:
    """Issue 7, item 8: the whole e2e suite runs with canary names, e-mails, phones and token
    (FakeUser notes everything a person shows or types, see tests/fakes/canary.py) while every
    log record is kept at DEBUG, as with LOG_LEVEL=DEBUG in production (SQL loggers quiet);
    at the end, not one line may contain a canary."""
    root = logging.getLogger()
    handler = EveryLine()
    saved_level = root.level
    saved = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield handler
    root.removeHandler(handler)
    root.setLevel(saved_level)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)
    canary.REGISTRY.add(TOKEN)
    canary.REGISTRY.add(TOKEN.split(":", 1)[1])
    hits = canary.REGISTRY.search(handler.lines)
    record_figure(
        "canary logs",
        f"{len(handler.lines)} log lines searched for {len(canary.REGISTRY.values)} canary "
        f"values, hits {len({value for value, _line in hits})}",
    )
    if hits:
        shown = "\n".join(f"{value!r} in: {line[:300]}" for value, line in hits[:20])
        pytest.fail(f"personal data or the token reached the logs:\n{shown}", pytrace=False)
