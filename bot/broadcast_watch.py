"""The broadcast watcher: the job that starts scheduled broadcasts, finishes settled ones and
keeps each broadcast's live progress card in the staff chat up to date (bot/scheduler.py runs
it every few seconds).

Every instance runs it; starting and finishing are safe to repeat, but a card is sent and
edited by one instance only, its owner (`broadcast.card_owner`): an instance holds a card for
`CARD_LEASE` from each run, renewing it every run, and another takes the card over once that
has passed (its owner stopped). Otherwise K instances would each edit the card every 3 s,
and two could each send a first card. The lease is counted on the instances' wall clocks, so
they are assumed to agree within a few seconds (NTP); a card lease of 15 s is five runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import staff_views as view
from bot.budget import Budget
from bot.services import broadcast
from bot.services.segments import Segment
from db.models import Broadcast, Event, Person

log = logging.getLogger(__name__)
# How long an instance holds the progress cards it shows; renewed at every run (every 3 s).
CARD_LEASE = timedelta(seconds=15)


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
    limiter: Budget | None = None,
    shown_cards: dict[tuple[int, int], str] | None = None,
    owner: str | None = None,
) -> None:
    """Start what is due, finish what is settled, and edit each progress card (the scheduler
    runs this every few seconds; a card changes at most that often). `shown_cards` remembers
    what each card shows, so a card whose text has not changed is not edited (Telegram would
    refuse it as "message is not modified", and it counts against the chat's limit). With
    `owner` (the instance's name), only the cards this instance holds are shown."""
    now = clock()
    await broadcast.start_due(sessionmaker, now)
    cards: list[tuple[int, int, int | None, str, InlineKeyboardMarkup | None]] = []
    async with sessionmaker() as session, session.begin():
        items = await broadcast.active(session, now)
        for item in items:
            await broadcast.finish_if_done(session, item, now)
        held = {item.id for item in items}
        if owner is not None and held:
            held = await hold_cards(session, held, owner, now)
        for item in items:
            if item.id not in held:
                continue
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


async def hold_cards(
    session: AsyncSession, ids: set[int], owner: str, now: datetime
) -> set[int]:
    """Of these broadcasts, the ones whose card `owner` holds after this call: held already
    (renewed), free, or left by an owner whose lease has passed (taken over)."""
    result = await session.execute(
        update(Broadcast)
        .where(
            Broadcast.id.in_(ids),
            or_(
                Broadcast.card_owner == owner,
                Broadcast.card_owner.is_(None),
                Broadcast.card_lease_until < now,
            ),
        )
        .values(card_owner=owner, card_lease_until=now + CARD_LEASE)
        .returning(Broadcast.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars().all())


async def _show(
    bot: Bot,
    limiter: Budget | None,
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
