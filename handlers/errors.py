"""One error router: domain exceptions become polite answers; anything else is logged (never
with what people wrote) and apologised for, in the person's language.

The update's transaction has already been rolled back when these run, so nothing half-done
stays in the database.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import CallbackQuery, ErrorEvent, Message
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LANGUAGE, _
from bot.routing import Router
from bot.services import staff
from bot.services.answers import InvalidAnswer
from bot.services.questionnaire import ApplicationsClosed, StaleAction
from handlers.question_view import invalid_text

log = logging.getLogger(__name__)

# Refusal codes that mean an old button, someone else's object or a forged id: audited.
AUDITED_CODES = frozenset({"stale", "unknown"})


async def audit_refused_event(
    session: AsyncSession,
    event: Message | CallbackQuery,
    reason: str | None = None,
    *,
    typed_too: bool = False,
) -> None:
    """Audit a refused press or command: who, and the callback data or the bare command,
    never what someone typed. A typed message is audited (without its text) only when asked:
    an answer refused by a service is an action, a newcomer's "hello" is not."""
    user = event.from_user
    if user is None or user.is_bot:
        return
    text = event.text if isinstance(event, Message) else None
    if isinstance(event, CallbackQuery):
        data = event.data
    elif text and text.startswith("/"):
        data = text.split(maxsplit=1)[0]
    elif typed_too:
        data = None
    else:
        return
    await staff.audit_refused(session, user.id, data, reason)


Explain = Callable[[Any, Message | CallbackQuery, dict[str, Any]], Awaitable[None]]


class ExplainRefusals(BaseMiddleware):
    """A service's refusal (one of `errors`, each with a `code`) becomes an answer where it
    happened, and the update's transaction commits what little it did (e.g. nothing). A press
    refused as stale or unknown is audit-logged first."""

    def __init__(self, errors: tuple[type[Exception], ...], explain: Explain) -> None:
        self.errors = errors
        self.explain = explain

    async def __call__(
        self,
        handler: Callable[[Any, dict[str, Any]], Awaitable[Any]],
        event: Any,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        except self.errors as error:
            if isinstance(event, CallbackQuery) and getattr(error, "code", None) in AUDITED_CODES:
                await audit_refused_event(data["session"], event)
            await self.explain(error, event, data)
            return None


async def _tell(bot: Bot, event: ErrorEvent, text: str, *, alert: bool = True) -> None:
    update = event.update
    try:
        if update.callback_query is not None:
            await bot.answer_callback_query(update.callback_query.id, text, show_alert=alert)
        elif update.message is not None and update.message.chat.type == "private":
            await bot.send_message(update.message.chat.id, text)
    except TelegramAPIError as exc:
        log.warning("could not tell the person about the error: %s", type(exc).__name__)


async def on_invalid(
    event: ErrorEvent, bot: Bot, i18n: I18n, locale: str = DEFAULT_LANGUAGE
) -> None:
    assert isinstance(event.exception, InvalidAnswer)
    with i18n.context(), i18n.use_locale(locale):
        await _tell(bot, event, invalid_text(event.exception))


async def on_stale(
    event: ErrorEvent,
    bot: Bot,
    i18n: I18n,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    locale: str = DEFAULT_LANGUAGE,
) -> None:
    log.info("update %s: stale or forged action (%s)", event.update.update_id, event.exception)
    if sessionmaker is not None:
        await _audit_refusal(sessionmaker, event)
    with i18n.context(), i18n.use_locale(locale):
        await _tell(bot, event, _("This button is no longer active."), alert=False)


async def _audit_refusal(
    sessionmaker: async_sessionmaker[AsyncSession], event: ErrorEvent
) -> None:
    """Every refused action is in the audit log: who, what, refused. The update's own
    transaction was rolled back, so the entry is written in one of its own."""
    update = event.update
    action = update.callback_query or update.message
    if action is None:
        return
    try:
        async with sessionmaker() as session, session.begin():
            await audit_refused_event(session, action, str(event.exception), typed_too=True)
    except Exception as exc:  # the refusal itself was answered; the entry is best effort
        log.error("update %s: refusal not audited: %s", update.update_id, type(exc).__name__)


async def on_closed(
    event: ErrorEvent, bot: Bot, i18n: I18n, locale: str = DEFAULT_LANGUAGE
) -> None:
    with i18n.context(), i18n.use_locale(locale):
        await _tell(bot, event, _("Applications are closed, so answers can no longer be changed."))


async def on_error(event: ErrorEvent, bot: Bot, i18n: I18n, locale: str = DEFAULT_LANGUAGE) -> None:
    log.error(
        "update %s failed: %s",
        event.update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    with i18n.context(), i18n.use_locale(locale):
        await _tell(
            bot,
            event,
            _("Sorry, something went wrong on our side. Nothing was saved; please try again."),
        )


def create_router() -> Router:
    router = Router(name="errors")
    router.error.register(on_invalid, ExceptionTypeFilter(InvalidAnswer))
    router.error.register(on_stale, ExceptionTypeFilter(StaleAction))
    router.error.register(on_closed, ExceptionTypeFilter(ApplicationsClosed))
    router.error.register(on_error)
    return router
