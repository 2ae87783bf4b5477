"""Staff in Telegram: /stats, /export, /staff (admins), and the broadcast routers.

`IsStaff()` guards the whole router: the role is read from the database on every update, so a
role taken away stops working at the next press. People without the role who try a staff
command or press a (forged) staff button get the ordinary answers of the fallback router, and
the attempt is written to the audit log.
"""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession

from bot import commands
from bot import staff_views as view
from bot.callbacks import (
    BroadcastSegment,
    BroadcastStep,
    BroadcastStop,
    MatchHost,
    MatchIntern,
    StaffAttendance,
    StaffChoice,
    StaffEvent,
)
from bot.i18n import _, ngettext
from bot.programme import Programme
from bot.responder import Responder
from bot.routing import Router
from bot.services import export, staff, stats
from bot.services.staff import RoleError
from db.models import Person
from handlers import (
    fallback,
    staff_broadcast,
    staff_broadcast_confirm,
    staff_broadcast_text,
    staff_numbers,
    staff_progress,
)
from handlers.filters import IsStaff
from handlers.questionnaire import Clock

# Every command and button of the staff routers (this module, staff_matching, staff_events):
# from anyone else they reach the denied router below and are audit-logged.
STAFF_COMMANDS = (
    "stats", "export", "broadcast", "broadcasts", "staff", "invite", "match", "events", "newevent"
)
STAFF_BUTTONS = (
    BroadcastSegment,
    BroadcastStep,
    BroadcastStop,
    MatchIntern,
    MatchHost,
    StaffEvent,
    StaffAttendance,
    StaffChoice,
)
STAFF_PREFIXES = tuple(f"{c.__prefix__}:" for c in STAFF_BUTTONS)
ROLES = {"add": "staff", "admin": "admin", "remove": "user"}


async def show_stats(
    message: Message,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    numbers = await stats.collect(session, programme.id, clock())
    responder.send(staff_numbers.stats_text(numbers, person.language or "pl"))
    staff.audit(session, person, "staff.stats")


async def export_data(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
) -> None:
    fmt = (command.args or "xlsx").strip().lower()
    if fmt not in export.FORMATS:
        responder.send(_("Formats: /export (XLSX) or /export csv."))
        return
    name, content, rows = await export.build(session, programme, person.language or "pl", fmt)
    caption = ngettext(
        "Export of {programme}: {rows} row. Keep it safe: it holds personal data.",
        "Export of {programme}: {rows} rows. Keep it safe: it holds personal data.",
        rows,
    )
    responder.document(name, content, caption.format(programme=programme.id, rows=rows))
    staff.audit(session, person, "staff.export", target=fmt, count=rows)


async def manage_staff(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    bot: Bot,
    i18n: I18n,
) -> None:
    action, _space, rest = (command.args or "list").strip().partition(" ")
    if action not in ROLES:
        members = await staff.members(session)
        lines = [f"<code>{m.telegram_id}</code> · {m.role}" for m in members]
        responder.send(
            "\n".join(
                [_("<b>Staff</b>"), *lines, _("/staff add ID · /staff admin ID · /staff remove ID")]
            )
        )
        return
    try:
        change = await staff.change_role(session, person, staff.parse_id(rest), ROLES[action])
    except RoleError as error:
        responder.send(view.role_error(error))
        return
    # The menu is Telegram's, outside our transaction; the next start re-syncs it anyway.
    if change.is_staff:
        admin = change.after == "admin"
        await commands.show_staff_menu(bot, i18n, change.telegram_id, change.language, admin)
    else:
        await commands.hide_staff_menu(bot, change.telegram_id)
    responder.send(_("Done: {id} is now {role}.").format(id=change.telegram_id, role=change.after))


def _command(text: str | None) -> str:
    """The command only: what follows it is typed by a person and stays out of the audit log."""
    return (text or "").split(maxsplit=1)[0] if text else ""


async def admins_only(
    message: Message, session: AsyncSession, person: Person, responder: Responder
) -> None:
    await staff.audit_denied(session, person, "staff.denied", _command(message.text))
    responder.send(view.role_error(RoleError("not_admin")))


async def denied_command(
    message: Message, session: AsyncSession, person: Person | None, responder: Responder
) -> None:
    await staff.audit_denied(session, person, "staff.denied", _command(message.text))
    await fallback.unknown_command(message, responder)


async def denied_button(
    query: CallbackQuery, session: AsyncSession, person: Person | None, responder: Responder
) -> None:
    await staff.audit_denied(session, person, "staff.denied", query.data)
    await fallback.stale_button(query, responder)


def create_router() -> Router:
    router = Router(name="staff")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    admin = Router(name="staff_admin")
    admin.message.filter(IsStaff(admin=True))
    admin.message.register(manage_staff, Command("staff"))
    numbers = Router(name="staff_numbers")
    numbers.message.register(show_stats, Command("stats"))
    numbers.message.register(export_data, Command("export"))
    numbers.message.register(admins_only, Command("staff"))  # staff, but not an admin
    router.include_routers(
        admin,
        numbers,
        staff_broadcast.create_router(),
        staff_broadcast_text.create_router(),
        staff_broadcast_confirm.create_router(),
        staff_progress.create_router(),
    )
    return router


def create_denied_router() -> Router:
    """After every staff router: whoever reaches it with a staff command or button is not staff."""
    router = Router(name="staff_denied")
    router.message.register(denied_command, Command(*STAFF_COMMANDS))
    router.callback_query.register(denied_button, F.data.startswith(STAFF_PREFIXES))
    return router
