"""/mydata and /delete: people's own rights, self-service."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import reasons
from bot.i18n import _
from bot.programme import Programme
from bot.responder import Responder
from bot.routing import Router
from bot.services import privacy
from db.models import Person
from handlers.questionnaire import Clock


class EraseConfirm(CallbackData, prefix="erase"):
    confirm: bool


async def my_data(
    message: Message,
    person: Person,
    session: AsyncSession,
    responder: Responder,
    programme: Programme,
) -> None:
    data = await privacy.collect(session, person)
    language = person.language or "en"
    for entry in data["applications"]:
        # The reasons as the person was told them, not the programme file's templates.
        spec = (
            programme.audiences.get(entry["audience"])
            if entry["programme"] == programme.id
            else None
        )
        entry["eligibility_reasons"] = [
            reasons.render_reason(spec, reason, language, markup=False)
            for reason in reasons.stored_reasons(entry["eligibility_reasons"])
        ]
    responder.document(
        "win4ua-my-data.json",
        privacy.to_json(data),
        caption=_("Everything we store about you."),
    )


async def ask_erase(message: Message, responder: Responder) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("Yes, delete my data"), callback_data=EraseConfirm(confirm=True).pack()
                )
            ],
            [
                InlineKeyboardButton(
                    text=_("No, keep it"), callback_data=EraseConfirm(confirm=False).pack()
                )
            ],
        ]
    )
    responder.send(
        _(
            "This deletes your answers and everything else we store about you, and you will "
            "no longer receive messages from us. It cannot be undone. Delete?"
        ),
        keyboard,
    )


async def erase(
    query: CallbackQuery,
    callback_data: EraseConfirm,
    person: Person,
    session: AsyncSession,
    responder: Responder,
    programme: Programme,
    clock: Clock,
    state: FSMContext,
) -> None:
    if not callback_data.confirm:
        responder.edit(_("Nothing was deleted."))
        return
    await privacy.erase(session, person, programme, clock())
    await state.clear()  # a half-written wizard step lives in FSM storage (memory or Redis)
    responder.edit(
        _("Your data has been deleted. If you write to the bot again, we will start afresh.")
    )


def create_router() -> Router:
    router = Router(name="privacy")
    router.message.register(my_data, Command("mydata"))
    router.message.register(ask_erase, Command("delete"))
    router.callback_query.register(erase, EraseConfirm.filter(F.confirm.is_not(None)))
    return router
