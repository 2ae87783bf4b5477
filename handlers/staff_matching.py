"""Staff: invitation links and matching interns with hosts, in Telegram."""

from __future__ import annotations

from aiogram import Bot
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import MatchHost, MatchIntern
from bot.i18n import _
from bot.match_renderers import host_details, intern_details
from bot.programme import Programme
from bot.responder import Responder
from bot.routing import Router
from bot.services import invites, matching
from bot.services.questionnaire import StaleAction
from db.models import Application, Person
from handlers.filters import IsStaff
from handlers.questionnaire import Clock

MAX_INVITES = 50


def _button(text: str, data: str) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text[:60], callback_data=data)]


async def create_invites(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    bot: Bot,
) -> None:
    count = int(command.args) if command.args and command.args.isdigit() else 1
    count = max(1, min(count, MAX_INVITES))
    created = await invites.create(session, count, actor=person)
    username = (await bot.me()).username or ""
    links = "\n".join(invites.deep_link(username, invite.code) for invite in created)
    responder.send(_("Single-use invitation links for interns:") + "\n" + links)


async def list_interns(
    message: Message, session: AsyncSession, programme: Programme, responder: Responder
) -> None:
    interns = await matching.unmatched_interns(session, programme.id)
    if not interns:
        responder.send(_("Every eligible intern has a host."))
        return
    rows = [
        _button(f"{a.id}. {a.answers.get('full_name', '?')}", MatchIntern(intern=a.id).pack())
        for a in interns[:20]
    ]
    responder.send(
        _("Eligible interns without a host. Choose one:"),
        InlineKeyboardMarkup(inline_keyboard=rows),
    )


async def show_suggestions(
    query: CallbackQuery,
    callback_data: MatchIntern,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    programme: Programme,
) -> None:
    intern = await session.get(Application, callback_data.intern)
    if intern is None or intern.audience != "intern":
        raise StaleAction("intern")
    language = person.language or "pl"
    rows = []
    for s in await matching.suggestions(session, intern):
        place = s.host.answers.get("gmina") or s.host.answers.get("powiat") or {}
        label = f"{place.get('name', '?')} · {len(s.overlap)}★ · {s.interns}"
        rows.append(_button(label, MatchHost(intern=intern.id, host=s.host.id).pack()))
    text = (
        intern_details(intern, language)
        + "\n\n"
        + (
            _("Hosts ranked by shared areas (★) and interns they already have:")
            if rows
            else _("There are no eligible hosts yet.")
        )
    )
    responder.edit(text, InlineKeyboardMarkup(inline_keyboard=rows))


async def choose_host(
    query: CallbackQuery,
    callback_data: MatchHost,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    programme: Programme,
    clock: Clock,
) -> None:
    language = person.language or "pl"
    if not callback_data.confirm:
        host = await session.get(Application, callback_data.host)
        if host is None:
            raise StaleAction("host")
        confirm = MatchHost(intern=callback_data.intern, host=callback_data.host, confirm=True)
        back = MatchIntern(intern=callback_data.intern)  # the hosts again, nothing matched
        buttons = [
            InlineKeyboardButton(text=_("✅ Match"), callback_data=confirm.pack()),
            InlineKeyboardButton(text=_("✖ Cancel"), callback_data=back.pack()),
        ]
        responder.edit(
            host_details(host, language, programme) + "\n\n" + _("Match them?"),
            InlineKeyboardMarkup(inline_keyboard=[buttons]),
        )
        return
    try:
        await matching.match(
            session, callback_data.intern, callback_data.host, clock(), actor=person
        )
    except matching.MatchError:
        raise StaleAction("match") from None
    responder.edit(_("Matched. Both sides will receive each other's details."))


def create_router() -> Router:
    router = Router(name="staff_matching")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    router.message.register(create_invites, Command("invite"))
    router.message.register(list_interns, Command("match"))
    router.callback_query.register(show_suggestions, MatchIntern.filter())
    router.callback_query.register(choose_host, MatchHost.filter())
    return router
