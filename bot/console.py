"""Console chat: talk to the real dispatcher, handlers, services and database in a terminal.

A `ConsoleSession` stands where the HTTP session to Telegram would be: every Bot API call the
bot makes is printed instead of sent, and answered the way Telegram would answer it. What the
person types becomes an Update fed to the same dispatcher production uses.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import logging
import re
import sys
import time
from collections.abc import AsyncGenerator
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

from bot.app import build_app
from bot.settings import Settings

BOT_ID = 1000000001


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
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    inline: list[Choice] = field(default_factory=list)
    reply: list[Choice] = field(default_factory=list)

    @property
    def choices(self) -> list[Choice]:
        return self.inline + self.reply

    def show(self, text: str, *, edited: bool = False) -> None:
        marker = "bot (edited)>" if edited else "bot>"
        body = render_html(text).replace("\n", "\n     ")
        print(f"{marker} {body}", file=self.out)

    def show_choices(self) -> None:
        for number, choice in enumerate(self.choices, start=1):
            print(f"  [{number}] {choice.label}", file=self.out)

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
        self.message_ids = itertools.count(1)

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
            screen.show(method.text or "", edited=True)
            screen.set_inline(mid, method.reply_markup)
            message = self._message(method.chat_id or 0, method.text, method.reply_markup, mid)
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
                print(f"bot (notice)> {method.text}", file=screen.out)
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
            print(f"bot> [file: {path}]{caption}", file=screen.out)
            return {
                **self._message(method.chat_id, None, None, mid),
                "document": {
                    "file_id": f"console-{mid}",
                    "file_unique_id": f"c{mid}",
                    "file_name": name,
                },
            }
        if isinstance(method, DeleteMessage):
            return True
        return True  # setMyCommands and other housekeeping calls


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


async def _read_line(interactive: bool) -> str | None:
    prompt = "you> " if interactive else ""
    try:
        return await asyncio.to_thread(input, prompt)
    except EOFError:
        return None


async def run_console(
    settings: Settings,
    *,
    language: str | None = None,
    user_id: int = 100001,
    out: TextIO | None = None,
) -> None:
    out = out or sys.stdout
    # The chat is the interface here: keep per-update log lines out of it (warnings still show),
    # and give the loggers back as they were when the chat ends.
    quiet = [logging.getLogger(name) for name in ("aiogram.event", "bot.app")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    try:
        await _chat(settings, language=language, user_id=user_id, out=out)
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


async def _chat(settings: Settings, *, language: str | None, user_id: int, out: TextIO) -> None:
    interactive = sys.stdin.isatty()
    screen = ConsoleScreen(out=out, files_dir=Path("data") / "console")
    # One local person typing (or a script piping lines): no flood protection needed here.
    settings = settings.model_copy(update={"throttle_rate": 0})
    async with build_app(settings, session=ConsoleSession(screen)) as app:
        chat = ConsoleChat(screen, user_id, language)
        print(
            "WIN4UA console chat — the real bot and database, no Telegram. "
            "Type text, a number to press a button, /quit to leave.",
            file=out,
        )
        while True:
            line = await _read_line(interactive)
            if line is None or line.strip() == "/quit":
                break
            line = line.strip()
            if not line:
                continue
            if not interactive:
                print(f"you> {line}", file=out)
            update = Update.model_validate(chat.update_for(line), context={"bot": app.bot})
            await app.dispatcher.feed_update(app.bot, update)
            screen.show_choices()
