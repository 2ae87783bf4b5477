"""Per-update context: one transaction, the person, their language.

Registered as outer middlewares on the `update` observer, inside aiogram's own error
middleware, so an exception anywhere rolls the transaction back and reaches the error router.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LANGUAGE, language_from_telegram
from bot.responder import Responder
from bot.services import people, questionnaire
from db.repositories import updates

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class TransactionMiddleware(BaseMiddleware):
    """`async with session.begin()` around the whole update; replies go out after the commit.

    The update id is recorded in the same transaction, so an update Telegram delivers again
    (a webhook retry, a restart before the polling offset was confirmed) is processed once:
    if the first attempt committed, the second finds its id as it commits, keeps nothing and
    says nothing (replies wait for the commit); if the first failed, nothing of it was kept
    and the second runs in full. The id is recorded last, not first: a redelivery is rare, and
    at the end the record rides along with the COMMIT instead of costing a trip of its own
    (but for updates in an FSM conversation, whose state lives outside the transaction).

    A transaction the database rolled back as a deadlock victim or a serialization failure is
    run again, the whole update from the start, up to `ATTEMPTS` times; only then does the
    error reach the error router. The replies of a failed attempt are discarded unsent.
    """

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], dedupe: bool = True
    ) -> None:
        self.sessionmaker = sessionmaker
        self.dedupe = dedupe

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        # In a conversation with a state (a staff wizard), the handler changes the state and
        # may send previews, neither of which a rollback undoes: the id is checked first.
        first = self.dedupe and data.get("raw_state") is not None
        for attempt in range(1, ATTEMPTS + 1):
            responder = Responder.for_update(data["bot"], event)
            data["responder"] = responder  # the error router answers through the last one
            # Inner middlewares add the person, the session… to the dict they are given: each
            # attempt starts from what the outer ones gave.
            attempt_data = dict(data)
            try:
                result = await self._attempt(handler, event, attempt_data, first)
            except updates.AlreadyProcessed:
                log.info("update %s was already processed; skipped", event.update_id)
                responder.discard()
                return UNHANDLED
            except Exception as error:
                responder.discard()  # nothing of a rolled-back attempt is said
                reason = retryable(error)
                if reason is None or attempt == ATTEMPTS or not await _state_kept(data):
                    # The error router reads the person's language (and more) from the data.
                    data.update(attempt_data)
                    raise
                # The database undid the whole transaction and asks for it again: the update
                # is handled again from the start, after a short random pause so that the
                # transactions that collided do not collide again.
                log.info(
                    "update %s: %s; handled again (attempt %d of %d)",
                    event.update_id, reason, attempt + 1, ATTEMPTS,
                )
                await asyncio.sleep(random.uniform(0, 0.05 * attempt))
                continue
            data.update(attempt_data)
            await responder.flush()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, handler: Handler, event: Update, data: dict[str, Any], first: bool
    ) -> Any:
        async with self.sessionmaker() as session, session.begin():
            if first and not await updates.record(session, event.update_id):
                raise updates.AlreadyProcessed(event.update_id)
            data["session"] = session
            result = await handler(event, data)
            if self.dedupe and not first:
                await updates.seal(session, event.update_id)
        return result


# A deadlock or a serialization failure is the database choosing a victim among transactions
# that collided; it rolls the victim back whole and expects it to be run again. Three tries:
# ten people cancelling seats of one event at the same moment need one retry at most once the
# locks are taken in one order (bot/services/booking.py); more would only hide a real bug.
ATTEMPTS = 3
RETRYABLE_SQLSTATES = {
    "40P01": "deadlock detected",
    "40001": "serialization failure",
}


def retryable(error: BaseException) -> str | None:
    """Why the database asks for this transaction to be run again, or None.

    The SQLSTATE is looked for along the exception's chain (SQLAlchemy's wrapper, the
    DBAPI adapter, the driver's own exception), whatever the driver calls it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attribute in ("sqlstate", "pgcode"):
            code = getattr(current, attribute, None)
            if isinstance(code, str) and code in RETRYABLE_SQLSTATES:
                return RETRYABLE_SQLSTATES[code]
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (
            current.__cause__ or current.__context__
        )
    return None


async def _state_kept(data: dict[str, Any]) -> bool:
    """True when the failed attempt left the conversation's state as it found it: the state
    lives outside the transaction, so an attempt that moved it cannot simply be run again."""
    state = data.get("state")
    if state is None:
        return True
    return bool(await state.get_state() == data.get("raw_state"))


class PersonMiddleware(BaseMiddleware):
    """Loads (or on first contact creates) the person and enters their language.

    Only private chats create people: the bot serves no groups, and stores nothing from them.
    """

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        person = None
        if user is not None and not user.is_bot and chat is not None and chat.type == "private":
            session, programme = data["session"], data.get("programme")
            if programme is None:
                person = await people.on_contact(session, user.id)
            else:
                # Most updates need the person's application too: loaded in the same statement.
                person, application = await people.on_contact_with_application(
                    session, user.id, programme.id
                )
                questionnaire.remember(session, person, programme.id, application)
        locale = (
            (person.language if person is not None else None)
            or language_from_telegram(user.language_code if user else None)
            or DEFAULT_LANGUAGE
        )
        data["person"] = person
        data["locale"] = locale
        with self.i18n.context(), self.i18n.use_locale(locale):
            return await handler(event, data)
