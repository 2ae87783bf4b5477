"""Replies are sent after the update's transaction commits.

A handler queues what it wants to say; the transaction middleware commits and only then sends.
So a person is never told "saved" about something that was rolled back, and an error in the
middle of an update leaves neither a half-written row nor a half-true message.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramNetworkError
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
                if not isinstance(call, tuple):
                    await self.bot(call)
                elif isinstance(session, JsonSession):
                    await session.call_plain(self.bot, *call, answer=False)  # nobody reads it
                else:  # another session (a test double): aiogram's usual way
                    method, params = call
                    await self.bot(method(**params))
            except TelegramBadRequest as exc:
                if "message is not modified" in exc.message:
                    continue  # a double tap on the same button: the card already shows this
                log.warning("%s refused: %s", name, exc.message)
            except TelegramForbiddenError:
                log.info("%s: the person has blocked the bot", name)
                return
            except TelegramNetworkError as exc:
                log.warning("%s failed on the network: %s", name, exc.message)
