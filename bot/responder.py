"""Replies are sent after the update's transaction commits.

A handler queues what it wants to say; the transaction middleware commits and only then sends.
So a person is never told "saved" about something that was rolled back, and an error in the
middle of an update leaves neither a half-written row nor a half-true message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import (
    BufferedInputFile,
    ForceReply,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from bot.telegram_session import JsonSession

log = logging.getLogger(__name__)

# A reply Telegram asks us to hold back (429, flood control: about one message a second to a
# chat, with short bursts) is sent again after the `retry_after` it names, up to three times,
# if the wait is short enough for a person still looking at the chat.
RETRIES = 3
LONGEST_WAIT = 10.0
T = TypeVar("T")


async def with_retry_after(call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, again after Telegram's `retry_after` when it answers 429."""
    for attempt in range(1, RETRIES + 1):
        try:
            return await call()
        except TelegramRetryAfter as exc:
            if attempt == RETRIES or exc.retry_after > LONGEST_WAIT:
                raise
            log.info("flood control: a reply waits %s s", exc.retry_after)
            await asyncio.sleep(exc.retry_after)
    raise AssertionError("unreachable")  # pragma: no cover

PlainCall = tuple[type[TelegramMethod[Any]], dict[str, Any]]
# aiogram's models, or the Bot API's JSON for them (the questionnaire's cards).
Markup = (
    InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply | dict[str, Any]
)


class Responder:
    def __init__(
        self,
        bot: Bot,
        chat_id: int | None,
        callback_query_id: str | None = None,
        message_id: int | None = None,
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.callback_query_id = callback_query_id
        self.message_id = message_id
        # Plain calls (method, parameters), sent without building aiogram's models; an upload
        # is an aiogram method object.
        self._queue: list[PlainCall | TelegramMethod[Any]] = []
        self._answered = False
        # The callback query was answered (sent to Telegram): nobody answers it again, not
        # even the error router (Telegram refuses a second answer).
        self.answer_sent = False

    @classmethod
    def for_update(cls, bot: Bot, update: Update) -> Responder:
        if update.callback_query is not None:
            query = update.callback_query
            message = query.message
            chat_id = message.chat.id if message is not None else None
            message_id = message.message_id if message is not None else None
            return cls(bot, chat_id, callback_query_id=query.id, message_id=message_id)
        message = update.message or update.edited_message
        return cls(bot, message.chat.id if message is not None else None)

    def send(self, text: str, reply_markup: Markup | None = None) -> None:
        if self.chat_id is None:
            return
        self._queue.append(
            (SendMessage, {"chat_id": self.chat_id, "text": text, "reply_markup": reply_markup})
        )

    def edit(
        self, text: str, reply_markup: InlineKeyboardMarkup | dict[str, Any] | None = None
    ) -> None:
        """Change the card the pressed button belongs to; a plain message gets a new card."""
        if self.message_id is None or self.chat_id is None:
            self.send(text, reply_markup)
            return
        self._queue.append(
            (
                EditMessageText,
                {
                    "chat_id": self.chat_id,
                    "message_id": self.message_id,
                    "text": text,
                    "reply_markup": reply_markup,
                },
            )
        )

    def remove_buttons(self) -> None:
        if self.message_id is None or self.chat_id is None:
            return
        self._queue.append(
            (EditMessageReplyMarkup, {"chat_id": self.chat_id, "message_id": self.message_id})
        )

    def toast(self, text: str | None = None, alert: bool = False) -> None:
        if self.callback_query_id is None or self._answered:
            return
        self._answered = True
        # Telegram shows the spinner until the query is answered: answer it before anything else.
        self._queue.insert(
            0,
            (
                AnswerCallbackQuery,
                {"callback_query_id": self.callback_query_id, "text": text, "show_alert": alert},
            ),
        )

    def document(self, filename: str, content: bytes, caption: str | None = None) -> None:
        if self.chat_id is None:
            return
        self._queue.append(
            SendDocument(
                chat_id=self.chat_id,
                document=BufferedInputFile(content, filename=filename),
                caption=caption,
            )
        )

    def discard(self) -> None:
        self._queue.clear()

    async def flush(self) -> None:
        self.toast()  # every callback query is answered, even when the handler said nothing
        queue, self._queue = self._queue, []
        session = self.bot.session
        for call in queue:
            name = call[0].__name__ if isinstance(call, tuple) else type(call).__name__
            try:
                await with_retry_after(partial(self._call, session, call))
                if name == AnswerCallbackQuery.__name__:
                    self.answer_sent = True
            except TelegramRetryAfter as exc:
                log.warning("%s: flood control asks for %s s; not sent", name, exc.retry_after)
            except TelegramBadRequest as exc:
                if "message is not modified" in exc.message:
                    continue  # a double tap on the same button: the card already shows this
                log.warning("%s refused: %s", name, exc.message)
            except TelegramForbiddenError:
                log.info("%s: the person has blocked the bot", name)
                return
            except TelegramNetworkError as exc:
                log.warning("%s failed on the network: %s", name, exc.message)
            except TelegramAPIError as exc:  # e.g. a 5xx: what was committed stays committed
                log.warning("%s failed: %s", name, exc.message)

    async def _call(self, session: Any, call: PlainCall | TelegramMethod[Any]) -> None:
        if not isinstance(call, tuple):
            await self.bot(call)
        elif isinstance(session, JsonSession):
            await session.call_plain(self.bot, *call, answer=False)  # nobody reads it
        else:  # another session (a test double): aiogram's usual way
            method, params = call
            await self.bot(method(**params))
