"""/help and /cancel, available at any moment."""

from __future__ import annotations

from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove

from bot.commands import public_commands, staff_commands
from bot.i18n import _
from bot.responder import Responder
from db.models import Person
from handlers.routing import Router
from handlers.texts import help_text


async def show_help(message: Message, responder: Responder, person: Person | None = None) -> None:
    text = help_text()
    if person is not None and person.role in ("staff", "admin"):
        public = {command.command for command in public_commands()}
        lines = [
            f"/{command.command} — {command.description}"
            for command in staff_commands(admin=person.role == "admin")
            if command.command not in public
        ]
        text += "\n\n<b>" + _("For staff") + "</b>\n" + "\n".join(lines)
    responder.send(text)


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
