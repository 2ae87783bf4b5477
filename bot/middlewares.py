"""Per-update context: one transaction, the person, their language.

Registered as outer middlewares on the `update` observer, inside aiogram's own error
middleware, so an exception anywhere rolls the transaction back and reaches the error router.
"""

from __future__ import annotations

import logging
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
    """

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], dedupe: bool = True
    ) -> None:
        self.sessionmaker = sessionmaker
        self.dedupe = dedupe

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        responder = Responder.for_update(data["bot"], event)
        data["responder"] = responder
        # In a conversation with a state (a staff wizard), the handler changes the state and
        # may send previews, neither of which a rollback undoes: the id is checked first.
        first = self.dedupe and data.get("raw_state") is not None
        async with self.sessionmaker() as session:
            try:
                async with session.begin():
                    if first and not await updates.record(session, event.update_id):
                        raise updates.AlreadyProcessed(event.update_id)
                    data["session"] = session
                    result = await handler(event, data)
                    if self.dedupe and not first:
                        await updates.seal(session, event.update_id)
            except updates.AlreadyProcessed:
                log.info("update %s was already processed; skipped", event.update_id)
                responder.discard()
                return UNHANDLED
        await responder.flush()
        return result


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
