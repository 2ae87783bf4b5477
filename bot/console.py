"""Console chat: talk to the real dispatcher, handlers, services and database in a terminal.

A `ConsoleSession` stands where the HTTP session to Telegram would be: every Bot API call the
bot makes is printed instead of sent, and answered the way Telegram would answer it. What the
person types becomes an Update fed to the same dispatcher production uses.

The outbox sender and the scheduler run as they do under `run` (`bot.runners.background_jobs`):
reminders, seat offers, staff notices and broadcasts go out while the chat is open. What is
for the console's own person appears in the chat; what is for other people is counted, by
kind, as delivered. After each line the console waits until nothing is due any more, so a
script piped in sees a broadcast through to its report.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.delivery import Renderer
from bot.runners import background_jobs
from bot.scheduler import create_sender
from bot.settings import Settings
from db.models import Broadcast, Outbox

BOT_ID = 1000000001
# The outbox kind of the message being sent, set by the sender's renderer (see `labelled`).
SENDING: ContextVar[str | None] = ContextVar("console_sending", default=None)


@dataclass
class Choice:
    label: str
    callback_data: str | None = None  # inline button
    message_id: int | None = None
    request_contact: bool = False  # reply keyboard button sharing the phone number


@dataclass
class ConsoleScreen:
    """What the person currently sees: messages by id and the buttons they can press."""

    out: TextIO
    files_dir: Path
    user_id: int = 0  # the console's own chat; messages to any other chat are only counted
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    inline: list[Choice] = field(default_factory=list)
    reply: list[Choice] = field(default_factory=list)
    # Messages for other people, by outbox kind, since the last `flush`.
    delivered: Counter[str] = field(default_factory=Counter)
    changed: bool = False  # shown something since the buttons were last listed
    prompt: str = ""  # what the person sees while the console waits for a line

    @property
    def choices(self) -> list[Choice]:
        return self.inline + self.reply

    def write(self, line: str) -> None:
        if self.prompt and not self.changed:  # news while the person is at the prompt
            print(file=self.out)
        self.changed = True
        print(line, file=self.out, flush=True)

    def show(self, text: str, *, edited: bool = False) -> None:
        marker = "bot (edited)>" if edited else "bot>"
        body = render_html(text).replace("\n", "\n     ")
        self.write(f"{marker} {body}")

    def flush(self) -> None:
        """What was delivered to others, then the buttons, after anything new was shown."""
        if self.delivered:
            counts = ", ".join(f"{kind} × {n}" for kind, n in sorted(self.delivered.items()))
            self.delivered.clear()
            self.write(f"bot → other people> delivered: {counts}")
        if self.changed:
            self.show_choices()
            self.changed = False
            if self.prompt:
                print(self.prompt, end="", file=self.out, flush=True)

    def show_choices(self) -> None:
        for number, choice in enumerate(self.choices, start=1):
            print(f"  [{number}] {choice.label}", file=self.out)
        self.out.flush()

    def set_inline(self, message_id: int, markup: InlineKeyboardMarkup | None) -> None:
        self.inline = [
            Choice(button.text, button.callback_data, message_id)
            for row in (markup.inline_keyboard if markup else [])
            for button in row
            if button.callback_data is not None
        ]

    def set_reply(self, markup: Any) -> None:
        if isinstance(markup, ReplyKeyboardRemove):
            self.reply = []
        elif isinstance(markup, ReplyKeyboardMarkup):
            self.reply = [
                Choice(
                    button.text if isinstance(button, KeyboardButton) else str(button),
                    request_contact=bool(getattr(button, "request_contact", False)),
                )
                for row in markup.keyboard
                for button in row
            ]


def render_html(text: str) -> str:
    """Telegram HTML made readable in a terminal: bold as *x*, links as text (url), no tags."""
    text = re.sub(r"</?(b|strong)>", "*", text)
    text = re.sub(r"</?(i|em)>", "_", text)
    text = re.sub(r'<a href="([^"]*)">(.*?)</a>', r"\2 (\1)", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text)


class ConsoleSession(BaseSession):
    def __init__(self, screen: ConsoleScreen) -> None:
        super().__init__()
        self.screen = screen
        # Start past any earlier run: a progress card from then may still be edited.
        self.message_ids = itertools.count(int(time.time()))

    async def close(self) -> None:
        return None

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield b""

    def _message(
        self, chat_id: int | str, text: str | None, markup: Any, mid: int
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": mid,
            "date": int(datetime.now(UTC).timestamp()),
            "chat": {"id": int(chat_id), "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "WIN4UA"},
        }
        if text is not None:
            message["text"] = render_html(text)
        if isinstance(markup, InlineKeyboardMarkup):
            message["reply_markup"] = markup.model_dump(mode="json", exclude_none=True)
        return message

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None  # noqa: ASYNC109 - BaseSession signature
    ) -> TelegramType:
        result = self._answer(method)
        response = self.check_response(
            bot=bot,
            method=method,
            status_code=200,
            content=json.dumps({"ok": True, "result": result}),
        )
        return response.result  # type: ignore[return-value]

    def _answer(self, method: TelegramMethod[Any]) -> Any:
        screen = self.screen
        if isinstance(method, GetMe):
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "WIN4UA",
                "username": "win4ua_console_bot",
            }
        chat_id = getattr(method, "chat_id", None)
        if chat_id is not None and screen.user_id and str(chat_id) != str(screen.user_id):
            return self._elsewhere(method, int(chat_id))
        if isinstance(method, SendMessage):
            mid = next(self.message_ids)
            screen.show(method.text)
            if isinstance(method.reply_markup, InlineKeyboardMarkup):
                screen.set_inline(mid, method.reply_markup)
            else:
                screen.set_reply(method.reply_markup)
            message = self._message(method.chat_id, method.text, method.reply_markup, mid)
            screen.messages[mid] = message
            return message
        if isinstance(method, EditMessageText):
            mid = int(method.message_id or 0)
            message = self._message(method.chat_id or 0, method.text, method.reply_markup, mid)
            before = screen.messages.get(mid) or {}
            # Telegram refuses an edit that changes nothing; a chat shows none.
            if [before.get(k) for k in ("text", "reply_markup")] != [
                message.get(k) for k in ("text", "reply_markup")
            ]:
                screen.show(method.text or "", edited=True)
                screen.set_inline(mid, method.reply_markup)
            screen.messages[mid] = message
            return message
        if isinstance(method, EditMessageReplyMarkup):
            mid = int(method.message_id or 0)
            if any(choice.message_id == mid for choice in screen.inline):
                screen.set_inline(mid, method.reply_markup)
            message = dict(
                screen.messages.get(mid) or self._message(method.chat_id or 0, "", None, mid)
            )
            message.pop("reply_markup", None)
            return message
        if isinstance(method, AnswerCallbackQuery):
            if method.text:
                screen.write(f"bot (notice)> {method.text}")
            return True
        if isinstance(method, SendDocument):
            mid = next(self.message_ids)
            document = method.document
            name = getattr(document, "filename", None) or "document"
            data = getattr(document, "data", b"")
            screen.files_dir.mkdir(parents=True, exist_ok=True)
            path = screen.files_dir / name
            path.write_bytes(data)
            caption = f" — {render_html(method.caption)}" if method.caption else ""
            screen.write(f"bot> [file: {path}]{caption}")
            return {
                **self._message(method.chat_id, None, None, mid),
                "document": {
                    "file_id": f"console-{mid}",
                    "file_unique_id": f"c{mid}",
                    "file_name": name,
                },
            }
        if isinstance(method, SendPhoto):
            mid = next(self.message_ids)
            caption = f" — {render_html(method.caption)}" if method.caption else ""
            screen.show(f"[photo]{caption}")
            if isinstance(method.reply_markup, InlineKeyboardMarkup):
                screen.set_inline(mid, method.reply_markup)
            return self._photo(method.chat_id, mid)
        if isinstance(method, DeleteMessage):
            return True
        return True  # setMyCommands and other housekeeping calls

    def _photo(self, chat_id: int | str, mid: int) -> dict[str, Any]:
        size = {"file_id": f"console-{mid}", "file_unique_id": f"c{mid}", "width": 1, "height": 1}
        return {**self._message(chat_id, None, None, mid), "photo": [size]}

    def _elsewhere(self, method: TelegramMethod[Any], chat_id: int) -> Any:
        """Someone else's chat: a message is counted as delivered (by the outbox kind being
        sent, when it is one), an edit or a button answer passes unseen."""
        mid = int(getattr(method, "message_id", None) or 0)
        if isinstance(method, SendMessage | SendDocument | SendPhoto):
            self.screen.delivered[SENDING.get() or "message"] += 1
            mid = next(self.message_ids)
        if isinstance(method, SendPhoto):
            return self._photo(chat_id, mid)
        if isinstance(method, SendDocument):
            document = {"file_id": f"console-{mid}", "file_unique_id": f"c{mid}"}
            return {**self._message(chat_id, None, None, mid), "document": document}
        if isinstance(method, SendMessage | EditMessageText | EditMessageReplyMarkup):
            return self._message(chat_id, getattr(method, "text", None) or "", None, mid)
        return True


class ConsoleChat:
    def __init__(self, screen: ConsoleScreen, user_id: int, language_code: str | None) -> None:
        self.screen = screen
        self.user = {
            "id": user_id,
            "is_bot": False,
            "first_name": "Console",
            "language_code": language_code,
        }
        # Update ids are remembered to drop redeliveries: start past any earlier console run.
        self.update_ids = itertools.count(int(time.time() * 1000))
        self.message_ids = itertools.count(1_000_000)

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self.message_ids),
            "date": int(datetime.now(UTC).timestamp()),
            "chat": {"id": self.user["id"], "type": "private"},
            "from": {k: v for k, v in self.user.items() if v is not None},
            **content,
        }

    def update_for(self, line: str) -> dict[str, Any]:
        update_id = next(self.update_ids)
        choice = None
        if line.isdigit() and 1 <= int(line) <= len(self.screen.choices):
            choice = self.screen.choices[int(line) - 1]
        else:
            choice = next((c for c in self.screen.reply if c.label == line), None)
        if choice is not None and choice.callback_data is not None:
            return {
                "update_id": update_id,
                "callback_query": {
                    "id": str(update_id),
                    "from": {k: v for k, v in self.user.items() if v is not None},
                    "chat_instance": "console",
                    "data": choice.callback_data,
                    "message": self.screen.messages.get(choice.message_id or 0)
                    or self._message(text=""),
                },
            }
        if choice is not None and choice.request_contact:
            contact = {
                "phone_number": "+48500000000",
                "first_name": "Console",
                "user_id": self.user["id"],
            }
            return {"update_id": update_id, "message": self._message(contact=contact)}
        if choice is not None:
            line = choice.label
        content: dict[str, Any] = {"text": line}
        if line.startswith("/"):
            command = line.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": update_id, "message": self._message(**content)}


def labelled(kinds: dict[str, Renderer]) -> dict[str, Renderer]:
    """The sender's renderers, each noting the kind it renders for the send that follows (the
    render and the send run in one task, so the console's session sees the note)."""

    def label(kind: str, renderer: Renderer) -> Renderer:
        async def render(*args: Any) -> Any:
            SENDING.set(kind)
            return await renderer(*args)

        prefetch = getattr(renderer, "prefetch", None)
        if prefetch is not None:
            render.prefetch = prefetch  # type: ignore[attr-defined]
        return render

    return {kind: label(kind, renderer) for kind, renderer in kinds.items()}


async def _busy(app: App) -> bool:
    """Is a message due or being sent, or a broadcast due to start or not yet finished?"""
    now = app.clock()
    due = (Outbox.status == "sending") | ((Outbox.status == "pending") & (Outbox.due_at <= now))
    started = (Broadcast.status == "running") | (
        (Broadcast.status == "scheduled") & (Broadcast.scheduled_at <= now)
    )
    async with app.sessionmaker() as session:
        rows = await session.scalar(select(func.count()).select_from(Outbox).where(due))
        broadcasts = await session.scalar(
            select(func.count()).select_from(Broadcast).where(started)
        )
    return bool(rows or broadcasts)


async def settle(app: App, scheduler: AsyncIOScheduler, seconds: float = 60.0) -> None:
    """Wait until nothing is due, nudging the scheduler's sender and broadcast jobs to run now
    rather than at their next tick."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while await _busy(app) and loop.time() < deadline:
        for job in ("outbox-sender", "broadcasts"):
            found = scheduler.get_job(job)
            if found is not None:
                found.modify(next_run_time=datetime.now(UTC))
        await asyncio.sleep(0.2)


async def _stdin_lines(screen: ConsoleScreen, interactive: bool) -> AsyncIterator[str]:
    while True:
        screen.prompt = "you> " if interactive else ""
        try:
            line = await asyncio.to_thread(input, screen.prompt)
        except EOFError:
            return
        finally:
            screen.prompt = ""
        if not interactive:
            print(f"you> {line.strip()}", file=screen.out)
        yield line


async def _watch(screen: ConsoleScreen, idle: asyncio.Event) -> None:
    """Between lines, show what the scheduler sends (a reminder falling due) as it comes."""
    while True:
        await asyncio.sleep(0.3)
        if idle.is_set():
            screen.flush()


@contextlib.asynccontextmanager
async def local_dashboard(app: App, out: TextIO) -> AsyncIterator[None]:
    """The staff dashboard beside the chat when DASHBOARD_PORT (or DASHBOARD_URL) is set, for
    trying it without Telegram (`python -m bot dashboard-link`). Its links are signed with the
    console's token, which is no secret, so it listens on this machine only."""
    if not (app.settings.dashboard_port or app.settings.dashboard_url):
        yield
        return
    from bot.dashboard import DEFAULT_PORT, start_server

    runner = await start_server(app, host="127.0.0.1")
    port = app.settings.dashboard_port or DEFAULT_PORT
    print(
        f"Staff dashboard at http://127.0.0.1:{port}/dashboard/ — "
        "`python -m bot dashboard-link --user-id N` prints a signed link (N must be staff).",
        file=out,
    )
    try:
        yield
    finally:
        await runner.cleanup()


async def run_console(
    settings: Settings,
    *,
    language: str | None = None,
    user_id: int = 100001,
    out: TextIO | None = None,
    clock: Callable[[], datetime] | None = None,
    lines: AsyncIterator[str] | None = None,
) -> None:
    """`lines` and `clock` stand in for the keyboard and the wall clock (tests)."""
    out = out or sys.stdout
    # The chat is the interface here: keep per-update and per-send log lines out of it
    # (warnings still show), and give the loggers back as they were when the chat ends. The
    # scheduler warns when a job it is asked to run now is running already: nothing to see.
    quiet = {
        "aiogram.event": logging.WARNING,
        "bot.app": logging.WARNING,
        "bot.delivery": logging.WARNING,
        "apscheduler": logging.ERROR,
    }
    loggers = {logging.getLogger(name): level for name, level in quiet.items()}
    levels = [logger.level for logger in loggers]
    for logger, level in loggers.items():
        logger.setLevel(level)
    try:
        await _chat(settings, language=language, user_id=user_id, out=out, clock=clock,
                    lines=lines)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def _chat(
    settings: Settings,
    *,
    language: str | None,
    user_id: int,
    out: TextIO,
    clock: Callable[[], datetime] | None,
    lines: AsyncIterator[str] | None,
) -> None:
    interactive = lines is None and sys.stdin.isatty()
    screen = ConsoleScreen(out=out, files_dir=Path("data") / "console", user_id=user_id)
    # One local person typing (or a script piping lines): no flood protection needed here,
    # nor Telegram's one message a second to a chat.
    settings = settings.model_copy(update={"throttle_rate": 0})
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    async with build_app(settings, session=ConsoleSession(screen), **extra) as app:
        sender = create_sender(app, labelled, per_chat_interval=0)
        chat = ConsoleChat(screen, user_id, language)
        print(
            "WIN4UA console chat — the real bot and database, no Telegram. "
            "Type text, a number to press a button, /quit to leave.",
            file=out,
        )
        idle = asyncio.Event()
        async with background_jobs(app, sender) as scheduler, local_dashboard(app, out):
            watcher = asyncio.create_task(_watch(screen, idle))
            try:
                await settle(app, scheduler)  # what fell due while the bot was not running
                screen.flush()
                idle.set()
                async for line in lines or _stdin_lines(screen, interactive):
                    idle.clear()
                    line = line.strip()
                    if line == "/quit":
                        break
                    if line:
                        update = Update.model_validate(
                            chat.update_for(line), context={"bot": app.bot}
                        )
                        await app.dispatcher.feed_update(app.bot, update)
                        await settle(app, scheduler)
                        screen.changed = True  # the buttons, after every line
                        screen.flush()
                    idle.set()
                idle.clear()
                await settle(app, scheduler)
                screen.flush()
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
