"""Broadcasts on their way, for staff: the list of scheduled and running broadcasts and the stop
button. The job that starts scheduled broadcasts and keeps their progress cards up to date is
bot/broadcast_watch.py; what recipients get and the final report, bot/broadcast_renderers.py."""

from __future__ import annotations

from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_views as view
from bot.broadcast_watch import segment_text
from bot.callbacks import BroadcastStop
from bot.i18n import _, format_datetime
from bot.responder import Responder
from bot.routing import Router
from bot.services import broadcast, staff
from db.models import Broadcast, Person
from handlers.questionnaire import Clock


async def list_broadcasts(
    message: Message, session: AsyncSession, person: Person, responder: Responder
) -> None:
    language = person.language or "pl"
    items = await broadcast.scheduled_or_running(session)
    rows, lines = [], [_("<b>Scheduled and running broadcasts</b>")]
    for item in items:
        when = format_datetime(item.scheduled_at or item.created_at, language, person.time_zone)
        described = await segment_text(session, item, language)
        lines.append(f"#{item.id} · {when} · {described}")
        rows.append(view.button(_("⛔ Stop #{id}").format(id=item.id), BroadcastStop(b=item.id)))
    if not rows:
        lines = [_("No broadcast is scheduled or running.")]
    responder.send("\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows) if rows else None)
    staff.audit(session, person, "broadcast.list", count=len(rows))


async def stop(
    query: CallbackQuery,
    callback_data: BroadcastStop,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    clock: Clock,
) -> None:
    item = await session.get(Broadcast, callback_data.b)
    began = item is not None and item.status == "running"
    try:
        cancelled = await broadcast.cancel(session, callback_data.b, person, clock())
    except broadcast.BroadcastError as error:
        responder.toast(view.broadcast_error(error), alert=True)
        return
    responder.toast(_("Stopped."))
    people = view.people_count(cancelled, person.language or "pl")
    text = (
        _("Broadcast #{id} is stopped; {people} will not get it.")
        if began
        else _("Broadcast #{id} is cancelled before it began; nothing was sent.")
    )
    responder.send(text.format(id=callback_data.b, people=people))


def create_router() -> Router:
    router = Router(name="staff_progress")
    router.message.register(list_broadcasts, Command("broadcasts"))
    router.callback_query.register(stop, BroadcastStop.filter())
    return router
