"""The broadcast watcher: the job that starts scheduled broadcasts, finishes settled ones and
keeps each broadcast's live progress card in the staff chat up to date (bot/scheduler.py runs
it every few seconds)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import staff_views as view
from bot.delivery import RateLimiter
from bot.services import broadcast
from bot.services.segments import Segment
from db.models import Broadcast, Event, Person

log = logging.getLogger(__name__)


async def segment_text(session: AsyncSession, item: Broadcast, language: str) -> str:
    segment = Segment.from_json(item.segment)
    event = await session.get(Event, int(segment.value or 0)) if segment.kind == "event" else None
    return view.describe_segment(segment, language, event)


async def _card(
    session: AsyncSession, item: Broadcast, i18n: I18n
) -> tuple[str, InlineKeyboardMarkup | None]:
    author = await session.get(Person, item.author_id) if item.author_id else None
    language = (author.language if author else None) or "pl"
    with i18n.context(), i18n.use_locale(language):
        described = await segment_text(session, item, language)
        progress = await broadcast.progress(session, item.id)
        return view.progress_card(item, progress, described, language)


async def watch_broadcasts(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    clock: Callable[[], datetime],
    limiter: RateLimiter | None = None,
    shown_cards: dict[tuple[int, int], str] | None = None,
) -> None:
    """Start what is due, finish what is settled, and edit each progress card (the scheduler
    runs this every few seconds; a card changes at most that often). `shown_cards` remembers
    what each card shows, so a card whose text has not changed is not edited (Telegram would
    refuse it as "message is not modified", and it counts against the chat's limit)."""
    now = clock()
    await broadcast.start_due(sessionmaker, now)
    cards: list[tuple[int, int, int | None, str, InlineKeyboardMarkup | None]] = []
    async with sessionmaker() as session, session.begin():
        for item in await broadcast.active(session, now):
            await broadcast.finish_if_done(session, item, now)
            text, markup = await _card(session, item, i18n)
            chat_id = item.progress_chat_id or 0
            cards.append((item.id, chat_id, item.progress_message_id, text, markup))
    shown: dict[int, int] = {}
    for broadcast_id, chat_id, message_id, text, markup in cards:
        seen = repr((text, markup.model_dump() if markup is not None else None))
        if (
            shown_cards is not None
            and message_id is not None
            and shown_cards.get((chat_id, message_id)) == seen
        ):
            continue
        message = await _show(bot, limiter, chat_id, message_id, text, markup)
        if shown_cards is not None and message is not None:
            if len(shown_cards) > 1000:  # cards of broadcasts long over
                shown_cards.clear()
            shown_cards[(chat_id, message)] = seen
        if message is not None and message_id is None:
            shown[broadcast_id] = message
    if shown:
        async with sessionmaker() as session, session.begin():
            for broadcast_id, message_id in shown.items():
                found = await session.get(Broadcast, broadcast_id)
                if found is not None:
                    found.progress_message_id = message_id


async def _show(
    bot: Bot,
    limiter: RateLimiter | None,
    chat_id: int,
    message_id: int | None,
    text: str,
    markup: InlineKeyboardMarkup | None,
) -> int | None:
    """Send the card, or edit it; within the sender's limits when there is a sender."""
    try:
        if limiter is not None:
            await limiter.acquire(chat_id)
        try:
            if message_id is None:
                return (await bot.send_message(chat_id, text, reply_markup=markup)).message_id
            await bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
            return message_id
        finally:
            if limiter is not None:
                limiter.release(chat_id)
    except TelegramBadRequest as exc:
        if "not modified" not in exc.message:
            log.warning("progress card refused: %s", exc.message)
    except TelegramAPIError as exc:
        log.warning("progress card not shown: %s", exc.message)
    return None
