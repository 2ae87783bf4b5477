"""The console runs the outbox sender and the scheduler as `run` does (issue 17, item 6): what
the bot would send later — reminders, broadcasts and their reports — appears in the chat, and
what goes to other people is counted as delivered."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot.app import build_app
from bot.console import run_console
from bot.programme import PROGRAMMES_DIR
from bot.settings import Settings
from db.models import Broadcast
from tests.e2e.conftest import FakeClock
from tests.e2e.test_console import run_console as run_console_process
from tests.e2e.test_meetings import APRIL, add_event, eligible

USER = 730_001
STAFF = 730_002


def console_settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        staff_ids=[STAFF],
        programme_file=Path(PROGRAMMES_DIR / "demo.toml"),
    )


async def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_a_reminder_appears_in_the_chat_when_the_clock_reaches_it(
    database_url: str, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the calendar file lands in ./data/console
    clock.now = APRIL
    start = APRIL + timedelta(days=2)
    settings = console_settings(database_url)
    async with build_app(settings, clock=clock) as app:
        await add_event(app, start)
        await eligible(app, SimpleNamespace(user_id=USER))
    out = io.StringIO()

    async def typed() -> AsyncIterator[str]:
        yield "/meetings"
        yield "1"  # the only date
        assert "Mają Państwo rezerwację" in out.getvalue()
        assert "Przypomnienie" not in out.getvalue()
        clock.now = start - timedelta(hours=24) + timedelta(seconds=1)
        await until(lambda: "Przypomnienie" in out.getvalue())

    await run_console(settings, user_id=USER, out=out, clock=clock, lines=typed())
    chat = out.getvalue()
    reminder = chat[chat.index("Przypomnienie") :]
    assert "meet.example.org" in reminder and "za 24 godziny" in reminder
    assert "delivered" not in chat  # nothing went to anyone else


def test_staff_broadcast_end_to_end_with_its_report(database_url: str) -> None:
    someone = run_console_process(database_url, "/start\n2\n1\n/quit\n", "--user-id", "730003")
    assert someone.returncode == 0, someone.stderr
    script = "\n".join(
        ["/start", "1", "1", "/broadcast", "1", "Dzień dobry, Państwu!", "1", "1", "1", "1", "1"]
    )
    result = run_console_process(
        database_url, script + "\n", "--user-id", str(STAFF), env={"STAFF_IDS": str(STAFF)}
    )
    assert result.returncode == 0, result.stderr
    chat = result.stdout
    confirmed = chat.index("Postęp pojawi się tutaj")
    after = chat[confirmed:]
    assert "Dzień dobry, Państwu!" in after  # the staff member is one of "everyone"
    assert "Dostarczono do 2 osób" in after  # the report
    assert "bot → other people> delivered: broadcast × 1" in after
    assert "Traceback" not in result.stderr


async def test_the_broadcast_is_done_not_left_scheduled(database_url: str) -> None:
    script = "\n".join(["/start", "1", "1", "/broadcast", "1", "Test", "1", "1", "1", "1", "1"])
    result = run_console_process(
        database_url, script + "\n", "--user-id", str(STAFF), env={"STAFF_IDS": str(STAFF)}
    )
    assert result.returncode == 0, result.stderr
    async with build_app(console_settings(database_url)) as app, app.sessionmaker() as session:
        statuses = (await session.scalars(select(Broadcast.status))).all()
    assert statuses == ["done"]
