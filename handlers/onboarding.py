"""Nothing happens before a language is chosen and the data notice is acknowledged."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import _
from bot.responder import Responder
from bot.routing import Router
from bot.services import people
from bot.settings import Settings
from db.models import Person
from handlers.errors import audit_refused_event
from handlers.keyboards import language_keyboard
from handlers.start import show_notice
from handlers.texts import FIRST_GREETING


class NeedsOnboarding(Filter):
    async def __call__(self, event: TelegramObject, person: Person | None = None) -> bool:
        return people.needs_onboarding(person)


async def onboarding_first(
    event: Message | CallbackQuery,
    person: Person,
    responder: Responder,
    settings: Settings,
    session: AsyncSession,
) -> None:
    # Before the notice is read only the language and notice buttons and the commands of the
    # routers above are live: any other press or command is stale or forged. (Typed text is
    # not an action, and what someone typed is never stored.)
    await audit_refused_event(session, event)
    if isinstance(event, CallbackQuery):
        responder.toast(_("This button is no longer active."))
    if person.language is None:
        responder.send(FIRST_GREETING, language_keyboard())
    else:
        responder.send(_("Before we begin, please read this notice."))
        show_notice(responder, settings)


def create_router() -> Router:
    router = Router(name="onboarding")
    router.message.register(onboarding_first, NeedsOnboarding())
    router.callback_query.register(onboarding_first, NeedsOnboarding())
    return router
