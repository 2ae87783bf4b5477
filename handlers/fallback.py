"""Last router: whatever nobody else took gets a short, polite answer in the person's language."""

from __future__ import annotations

from aiogram import F
from aiogram.types import CallbackQuery, Message

from bot.i18n import _
from bot.responder import Responder
from bot.routing import Router


async def unknown_command(message: Message, responder: Responder) -> None:
    responder.send(_("I do not know this command. /help lists the ones I do."))


async def unexpected_text(message: Message, responder: Responder) -> None:
    responder.send(_("I did not understand that. Please use the buttons, or see /help."))


async def unexpected_content(message: Message, responder: Responder) -> None:
    responder.send(
        _("I can only read text and buttons here. Please type your answer, or see /help.")
    )


async def edited_message(message: Message, responder: Responder) -> None:
    responder.send(
        _("I do not pick up edits of earlier messages. Please send the corrected answer again.")
    )


async def stale_button(query: CallbackQuery, responder: Responder) -> None:
    responder.toast(_("This button is no longer active."))


def create_router() -> Router:
    router = Router(name="fallback")
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(unexpected_text, F.text)
    router.message.register(unexpected_content)
    router.edited_message.register(edited_message)
    router.callback_query.register(stale_button)
    return router
