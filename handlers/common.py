"""/help and /cancel, available at any moment."""

from __future__ import annotations

from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove

from bot.i18n import _
from bot.responder import Responder
from handlers.routing import Router
from handlers.texts import help_text


async def show_help(message: Message, responder: Responder) -> None:
    responder.send(help_text())


async def cancel(message: Message, responder: Responder, state: FSMContext) -> None:
    if await state.get_state() is None:
        responder.send(_("There is nothing to cancel."), ReplyKeyboardRemove())
        return
    await state.clear()
    responder.send(_("Cancelled. /start takes you back."), ReplyKeyboardRemove())


def create_router() -> Router:
    router = Router(name="common")
    router.message.register(show_help, Command("help"))
    router.message.register(cancel, Command("cancel"))
    return router
