"""One error router: log what broke (never what people wrote) and apologise in their language."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import I18n

from bot.i18n import DEFAULT_LANGUAGE, _

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, bot: Bot, i18n: I18n, locale: str = DEFAULT_LANGUAGE) -> None:
    update = event.update
    log.error(
        "update %s failed: %s",
        update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    with i18n.context(), i18n.use_locale(locale):
        text = _("Sorry, something went wrong on our side. Nothing was saved; please try again.")
        try:
            if update.callback_query is not None:
                await bot.answer_callback_query(update.callback_query.id, text, show_alert=True)
            elif update.message is not None and update.message.chat.type == "private":
                await bot.send_message(update.message.chat.id, text)
        except TelegramAPIError as exc:
            log.warning("could not tell the person about the error: %s", type(exc).__name__)


def create_router() -> Router:
    router = Router(name="errors")
    router.error.register(on_error)
    return router
