"""One error router: domain exceptions become polite answers; anything else is logged (never
with what people wrote) and apologised for, in the person's language.

The update's transaction has already been rolled back when these run, so nothing half-done
stays in the database.
"""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LANGUAGE, _
from bot.services import staff
from bot.services.answers import InvalidAnswer
from bot.services.questionnaire import ApplicationsClosed, StaleAction
from handlers.question_view import invalid_text

log = logging.getLogger(__name__)


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
    query, message = update.callback_query, update.message
    user = query.from_user if query is not None else message.from_user if message else None
    if user is None or user.is_bot:
        return
    if query is not None:
        data = query.data
    else:  # a message: only a command is kept, never what someone typed
        text = (message.text if message else None) or ""
        data = text.split(maxsplit=1)[0] if text.startswith("/") else None
    try:
        async with sessionmaker() as session, session.begin():
            await staff.audit_refused(session, user.id, data, str(event.exception))
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
