"""/start, the language picker and the data-protection notice."""

from __future__ import annotations

from datetime import datetime

from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession

from bot.about import contact_line
from bot.callbacks import LanguageChoice, NoticeAck
from bot.i18n import LANGUAGES, _, __, language_from_telegram
from bot.programme import Programme
from bot.responder import Responder
from bot.routing import Router
from bot.services import invites, people
from bot.settings import Settings
from db.models import Person
from handlers.keyboards import language_keyboard, notice_keyboard
from handlers.questionnaire import Clock, resume, show_home
from handlers.texts import FIRST_GREETING, privacy_notice


def show_notice(
    responder: Responder, settings: Settings, *, edit: bool = False, switch_from: str | None = None
) -> None:
    text = privacy_notice(settings.privacy_contact)
    keyboard = notice_keyboard(people.PRIVACY_NOTICE_VERSION, switch_from)
    if edit:
        responder.edit(text, keyboard)
    else:
        responder.send(text, keyboard)


async def start(
    message: Message,
    command: CommandObject,
    person: Person,
    responder: Responder,
    settings: Settings,
    session: AsyncSession,
    programme: Programme,
    clock: Clock,
    i18n: I18n,
    state: FSMContext,
) -> None:
    await resume(state)  # after /cancel in the form
    if invites.looks_like_invite(command.args):
        telegram_language = message.from_user.language_code if message.from_user else None
        if await take_invitation(command.args or "", person, responder, settings, session,
                                 clock(), i18n, programme, telegram_language):
            return
    else:
        people.remember_start_payload(person, command.args)
    if person.language is None:
        responder.send(FIRST_GREETING, language_keyboard())
    elif not people.has_current_consent(person):
        show_notice(responder, settings)
    else:
        await show_home(responder, session, person, programme, clock())


# Said in the newly chosen language, so each names its own language in its own words.
LANGUAGE_CHANGED = {
    "pl": __("The language is now Polish."),
    "uk": __("The language is now Ukrainian."),
    "en": __("The language is now English."),
}

INVITE_PROBLEMS = {
    "unknown": lambda: _(
        "This invitation link is not valid. Please check that it was copied whole, or ask "
        "the person who sent it for a new one."
    ),
    "used": lambda: _(
        "This invitation link has already been used by someone else. Invitations are "
        "personal: please ask the programme team for your own."
    ),
    "revoked": lambda: _(
        "This invitation link has been withdrawn. Please ask the programme team for a new one."
    ),
}


async def take_invitation(
    code: str, person: Person, responder: Responder, settings: Settings, session: AsyncSession,
    now: datetime, i18n: I18n, programme: Programme, telegram_language: str | None = None,
) -> bool:
    """Bind an invitation to the person; True when the reply is already given."""
    redemption = await invites.redeem(session, person, code, now)
    if redemption.status != "ok":
        # Said in the person's language; before they chose one, in the invitation's, or
        # Telegram's, or else Ukrainian: invitations are for interns from Ukraine.
        language = (
            person.language
            or (redemption.invite.language if redemption.invite is not None else None)
            or language_from_telegram(telegram_language)
            or "uk"
        )
        with i18n.use_locale(language):
            problem = INVITE_PROBLEMS[redemption.status]()
            responder.send(f"{problem}\n\n{contact_line(programme)}")
        return False
    if person.language is None and redemption.invite is not None:
        # An invited intern lands in the invitation's language, with a way to switch.
        people.set_language(person, redemption.invite.language)
        with i18n.use_locale(redemption.invite.language):
            show_notice(responder, settings, switch_from=redemption.invite.language)
        return True
    return False


async def ask_language(message: Message, responder: Responder) -> None:
    responder.send(_("Choose your language:"), language_keyboard())


async def choose_language(
    query: CallbackQuery,
    callback_data: LanguageChoice,
    person: Person,
    responder: Responder,
    settings: Settings,
    i18n: I18n,
) -> None:
    if callback_data.code not in LANGUAGES:
        responder.toast(_("This button is no longer active."))
        return
    people.set_language(person, callback_data.code)
    with i18n.use_locale(callback_data.code):
        if not people.has_current_consent(person):
            show_notice(responder, settings, edit=True)
            return
        responder.edit(str(LANGUAGE_CHANGED[callback_data.code]))


async def acknowledge_notice(
    query: CallbackQuery,
    callback_data: NoticeAck,
    person: Person,
    responder: Responder,
    settings: Settings,
    session: AsyncSession,
    programme: Programme,
    clock: Clock,
) -> None:
    if person.language is None:
        responder.edit(FIRST_GREETING, language_keyboard())
        return
    if people.has_current_consent(person):
        responder.remove_buttons()
        return
    if not people.record_consent(person, callback_data.version):
        responder.toast(_("The notice has changed. Please read the current version."), alert=True)
        show_notice(responder, settings, edit=True)
        return
    responder.remove_buttons()
    await show_home(responder, session, person, programme, clock())


def create_router() -> Router:
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.message.register(ask_language, Command("language"))
    router.callback_query.register(choose_language, LanguageChoice.filter())
    router.callback_query.register(acknowledge_notice, NoticeAck.filter())
    return router
