"""/help, /about and /cancel, available at any moment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from sqlalchemy.ext.asyncio import AsyncSession

from bot.about import about_text, contact_line
from bot.callbacks import AboutPress
from bot.commands import public_commands, staff_commands
from bot.i18n import _
from bot.programme import Programme
from bot.responder import Responder
from bot.routing import Router
from db.models import Person
from handlers import questionnaire
from handlers.texts import help_text


async def show_help(
    message: Message, responder: Responder, programme: Programme, person: Person | None = None
) -> None:
    about = _("/about — the programme: who can take part, dates, contact")
    text = f"{help_text()}\n{about}"
    if person is not None and person.role in ("staff", "admin"):
        public = {command.command for command in public_commands()}
        lines = [
            f"/{command.command} — {command.description}"
            for command in staff_commands(admin=person.role == "admin")
            if command.command not in public
        ]
        text += "\n\n<b>" + _("For staff") + "</b>\n" + "\n".join(lines)
    responder.send(f"{text}\n\n{contact_line(programme)}")


async def show_about(
    event: Message | CallbackQuery,
    responder: Responder,
    programme: Programme,
    locale: str,
    clock: Callable[[], datetime],
) -> None:
    responder.send(about_text(programme, locale, clock()))


async def cancel(
    message: Message,
    responder: Responder,
    state: FSMContext,
    session: AsyncSession,
    programme: Programme,
    person: Person | None = None,
) -> None:
    """Leave the current step: a wizard's (its state goes), or the form's question (the
    answers stay saved)."""
    current = await state.get_state()
    if current is not None and current != questionnaire.PAUSED:
        await state.clear()
        responder.send(_("Cancelled. /start takes you back."), ReplyKeyboardRemove())
        return
    if not await questionnaire.pause(responder, state, session, person, programme):
        responder.send(_("There is nothing to cancel."), ReplyKeyboardRemove())


def create_router() -> Router:
    router = Router(name="common")
    router.message.register(show_help, Command("help"))
    router.message.register(show_about, Command("about"))
    router.callback_query.register(show_about, AboutPress.filter())
    router.message.register(cancel, Command("cancel"))
    return router
