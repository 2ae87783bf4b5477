"""A per-person rate limit, so one person flooding the bot neither fills the database nor slows
anyone else down. It runs before the update's transaction, in memory, per instance."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update, User
from aiogram.utils.i18n import I18n

from bot.i18n import DEFAULT_LANGUAGE, _, language_from_telegram

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ThrottlingMiddleware(BaseMiddleware):
    """Token bucket per Telegram user: `burst` updates at once, then `rate` a second.

    Over the limit the update is dropped; the first dropped one in a row gets a polite note
    (in the language Telegram reports, since the database is not consulted here).
    """

    def __init__(self, i18n: I18n, rate: float = 1.0, burst: int = 15) -> None:
        self.i18n = i18n
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[int, tuple[float, float, bool]] = {}  # tokens, stamp, warned

    def _allow(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, should warn)."""
        now = time.monotonic()
        tokens, stamp, warned = self._buckets.get(user_id, (self.burst, now, False))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens >= 1:
            self._buckets[user_id] = (tokens - 1, now, False)
            return True, False
        self._buckets[user_id] = (tokens, now, True)
        if len(self._buckets) > 50_000:  # forget people whose buckets are full again
            horizon = self.burst / self.rate
            self._buckets = {u: b for u, b in self._buckets.items() if now - b[1] < horizon}
        return False, not warned

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        allowed, warn = self._allow(user.id)
        if allowed:
            return await handler(event, data)
        if warn and isinstance(event, Update):
            await self._warn(event, data, user)
        return UNHANDLED

    async def _warn(self, update: Update, data: dict[str, Any], user: User) -> None:
        locale = language_from_telegram(user.language_code) or DEFAULT_LANGUAGE
        with self.i18n.context(), self.i18n.use_locale(locale):
            text = _("You are sending messages very quickly. Please wait a moment, then go on.")
        bot = data["bot"]
        if update.callback_query is not None:
            await bot.answer_callback_query(update.callback_query.id, text)
        elif update.message is not None and update.message.chat.type == "private":
            await bot.send_message(update.message.chat.id, text)
