"""The /broadcast wizard begins: a draft, and whom it goes to (the segment).

The draft is a `Broadcast` row; the FSM (the dispatcher's storage) only remembers which step a
staff member is at. Every button carries the draft's id and is checked against the database
and the presser (`broadcast.draft_of`) on each press.
"""

from __future__ import annotations

from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_views as view
from bot.callbacks import BroadcastSegment, as_id
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, _
from bot.place_names import region_name
from bot.programme import Programme
from bot.responder import Responder
from bot.routing import Router
from bot.services import broadcast, segments
from bot.services.broadcast import StaleDraft
from bot.services.segments import Segment, UnknownSegment
from db.models import Broadcast, Event, Person
from handlers.questionnaire import Clock
from handlers.staff_broadcast_text import ask_text


async def begin(
    message: Message,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    state: FSMContext,
) -> None:
    await state.clear()
    draft = await broadcast.create_draft(session, person, programme.id)
    responder.send(_("<b>New broadcast</b>\nWho should get it?"), view.segment_keyboard(draft.id))


async def _choices(
    session: AsyncSession,
    draft: Broadcast,
    kind: str,
    language: str,
    clock: Clock,
    state: FSMContext,
) -> list[tuple[str, str]]:
    if kind == "event":
        found = await segments.events(session, draft.programme_id, clock())
        return [(view.event_title(e, language), str(e.id)) for e in found]
    if kind == "region":
        regions = await segments.regions(session, draft.programme_id)
        await state.update_data(regions=[name for name, _n in regions])
        return [(f"{region_name(name, language)} ({n})", str(i))
                for i, (name, n) in enumerate(regions)]
    return [(LANGUAGE_NAMES[code], code) for code in LANGUAGES]


async def _segment(
    session: AsyncSession, draft: Broadcast, data: BroadcastSegment, state: FSMContext
) -> Segment:
    value: str | None = data.v or None
    if data.kind == "region":
        regions = (await state.get_data()).get("regions") or []
        value = regions[int(data.v)] if data.v.isdigit() and int(data.v) < len(regions) else None
    if data.kind == "event":
        event_id = as_id(data.v)
        event = await session.get(Event, event_id) if event_id is not None else None
        if event is None or event.programme_id != draft.programme_id:
            raise StaleDraft()
    try:
        return Segment(data.kind, value)
    except UnknownSegment:
        raise StaleDraft() from None


async def choose_segment(
    query: CallbackQuery,
    callback_data: BroadcastSegment,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    state: FSMContext,
    clock: Clock,
) -> None:
    draft = await broadcast.draft_of(session, callback_data.b, person)
    language = person.language or "pl"
    if callback_data.kind in segments.WITH_VALUE and not callback_data.v:
        choices = await _choices(session, draft, callback_data.kind, language, clock, state)
        keyboard = view.choices_keyboard(draft.id, callback_data.kind, choices)
        responder.edit(_("Choose one:") if choices else _("There is nothing to choose."), keyboard)
        return
    segment = await _segment(session, draft, callback_data, state)
    broadcast.choose_segment(draft, segment)
    count = await broadcast.recipient_count(session, draft)
    event = await session.get(Event, int(segment.value or 0)) if segment.kind == "event" else None
    chosen = (
        f"{view.describe_segment(segment, language, event)} · {view.recipients(count, language)}"
    )
    responder.edit(_("Recipients: {segment}").format(segment=chosen))
    await ask_text(responder, state, draft.id, LANGUAGES[0])


def create_router() -> Router:
    router = Router(name="staff_broadcast")
    router.message.register(begin, Command("broadcast"))
    router.callback_query.register(choose_segment, BroadcastSegment.filter())
    return router
