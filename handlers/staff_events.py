"""Staff: events in Telegram — `/events` lists them; a card per event moves, edits or cancels
it and marks attendance; `/newevent` (or the ➕ button) creates one in a short form.

The whole router is for staff only (`IsStaff()`): anyone else falls through to the ordinary
"unknown command" answer. Times are typed and shown in the programme's zone (Warsaw) and
stored in UTC. Every change goes through `bot.services.events`, which audit-logs it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import F
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import StaffAttendance, StaffChoice, StaffEvent
from bot.i18n import _, __, format_datetime, ngettext
from bot.programme import Programme
from bot.responder import Responder
from bot.routing import Router
from bot.services import booking as seats
from bot.services import events, export
from bot.services.booking import BookingError
from bot.services.events import EventDraft, EventError
from db.models import Application, Event, Person
from handlers.errors import ExplainRefusals
from handlers.filters import IsStaff

Clock = Callable[[], datetime]

KIND_NAMES = export.EVENT_KINDS
AUDIENCE_NAMES = export.EVENT_AUDIENCES
FIELDS = {
    "title_pl": __("title (Polish)"),
    "title_uk": __("title (Ukrainian)"),
    "title_en": __("title (English)"),
    "capacity": __("seats"),
    "duration_minutes": __("duration"),
    "where": __("join link or place"),
}
EVENT_ERRORS = {
    "bad_time": __("Please type the date and time as 8.04.2026 10:00 (Warsaw time)."),
    "no_such_time": __("That time does not exist in Warsaw: the clocks go forward then."),
    "past": __("The start must be in the future."),
    "unknown": __("There is no such event."),
    "cancelled": __("This event is cancelled."),
    "capacity": __("Please type the number of seats (at least 1), or 0 for no limit."),
    "capacity_taken": __("{taken} seats are already taken; the capacity cannot be lower."),
    "kind_taken": __(
        "Someone booked on this event already holds a booking of that kind, so the kind "
        "cannot be changed."
    ),
    "title": __("Please send the title as one line of at most 200 characters."),
    "duration": __("Please type the duration in minutes, e.g. 60."),
    "link": __("A join link must start with https://."),
    "not_started": __("Attendance can be marked once the event has started."),
    "stale": __("This button is no longer active."),
}
MARKS = {"attended": "✅", "no_show": "❌", None: "·"}


class EventForm(StatesGroup):
    start = State()
    duration = State()
    capacity = State()
    where = State()
    titles = State()
    confirm = State()
    move = State()
    edit = State()


# ------------------------------------------------------------------------------ how it looks


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text[:64], callback_data=data)


def _when(moment: datetime, staff: Person, programme: Programme) -> str:
    return format_datetime(moment, staff.language or "pl", programme.time_zone)


def _seats(event: Event, waiting: int) -> str:
    capacity = "∞" if event.capacity is None else str(event.capacity)
    return _("seats {taken}/{capacity} · waiting {waiting}").format(
        taken=event.seats_taken, capacity=capacity, waiting=waiting
    )


def list_card(
    found: list[Event], numbers: dict[int, dict[str, int]], staff: Person, programme: Programme
) -> tuple[str, InlineKeyboardMarkup]:
    lines = ["<b>" + _("Events (Warsaw time)") + "</b>", ""]
    rows = []
    for event in found:
        waiting = numbers.get(event.id, {}).get("waitlisted", 0)
        mark = " ✖️" if event.status == "cancelled" else ""
        start = format_datetime(
            event.starts_at, staff.language or "pl", programme.time_zone, "d MMM y, HH:mm"
        )
        lines.append(
            f"#{event.id} · {KIND_NAMES[event.kind]} · {start} · {_seats(event, waiting)}{mark}"
        )
        rows.append([_button(f"#{event.id} · {start}", StaffEvent(a="show", e=event.id).pack())])
    if not found:
        lines.append(_("No events yet."))
    rows.append([_button(_("➕ New event"), StaffEvent(a="new").pack())])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def event_card(
    event: Event, waiting: int, staff: Person, programme: Programme
) -> tuple[str, InlineKeyboardMarkup]:
    e = event.id
    lines = [
        f"<b>#{e} · {KIND_NAMES[event.kind]}</b> · {AUDIENCE_NAMES[event.audience]}",
        *(f"{lang}: {html.escape(event.title.get(lang, ''))}" for lang in events.TITLE_LANGUAGES),
        _when(event.starts_at, staff, programme)
        + " · "
        + _("{minutes} min").format(minutes=event.duration_minutes),
        _seats(event, waiting),
        html.escape(event.join_link or event.place or "—"),
    ]
    if event.status == "cancelled":
        lines.append("<b>" + _("Cancelled") + "</b>")
        rows = []
    else:
        rows = [
            [
                _button(_("🕑 Move"), StaffEvent(a="move", e=e).pack()),
                _button(_("✏️ Edit"), StaffEvent(a="edit", e=e).pack()),
            ],
            [
                _button(_("👥 People and attendance"), StaffEvent(a="people", e=e).pack()),
                _button(_("✖️ Cancel the event"), StaffEvent(a="cancel", e=e).pack()),
            ],
        ]
    rows.append([_button(_("← All events"), StaffEvent(a="list").pack())])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _who(application: Application | None) -> str:
    answers = application.answers if application else {}
    name = answers.get("contact_name") or answers.get("full_name") or "?"
    place = answers.get("gmina") or answers.get("powiat") or answers.get("hromada") or {}
    where = place.get("name") or place.get("name_uk")
    return html.escape(f"{name} ({where})" if where else str(name))


def people_card(
    event: Event, entries: list[Any], now: datetime
) -> tuple[str, InlineKeyboardMarkup]:
    started = event.starts_at <= now
    lines = ["<b>#" + str(event.id) + "</b> · " + _("People")]
    rows = []
    for number, (entry, application) in enumerate(entries, start=1):
        status = {"active": "", "waitlisted": " ⏳", "offered": " 🎟"}[entry.status]
        lines.append(f"{number}. {MARKS[entry.attendance]} {_who(application)}{status}")
        if started and entry.status == "active":
            rows.append(
                [
                    _button(f"✅ {number}", StaffAttendance(b=entry.id, m="attended").pack()),
                    _button(f"❌ {number}", StaffAttendance(b=entry.id, m="no_show").pack()),
                ]
            )
    if not entries:
        lines.append(_("Nobody has booked yet."))
    elif not started:
        lines.append(_("Attendance can be marked once the event has started."))
    rows.append([_button(_("← Back"), StaffEvent(a="show", e=event.id).pack())])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _choices(field: str, options: dict[str, Any]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(str(label), StaffChoice(f=field, v=value).pack())]
            for value, label in options.items()
        ]
    )


# ------------------------------------------------------------------------------ handlers


async def list_events(
    event: Message | CallbackQuery,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    found = list(await events.listing(session, programme, clock()))
    numbers = await seats.counts(session, [e.id for e in found])
    card = list_card(found, numbers, person, programme)
    (responder.edit if isinstance(event, CallbackQuery) else responder.send)(*card)


async def show_event(
    responder: Responder,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    event_id: int,
    *,
    edit: bool = True,
    note: str = "",
) -> None:
    event = await events.get(session, programme, event_id)
    waiting = (await seats.counts(session, [event.id])).get(event.id, {}).get("waitlisted", 0)
    text, keyboard = event_card(event, waiting, person, programme)
    (responder.edit if edit else responder.send)((note + "\n\n" if note else "") + text, keyboard)


async def pressed_event(
    query: CallbackQuery,
    callback_data: StaffEvent,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    state: FSMContext,
    clock: Clock,
) -> None:
    action, event_id = callback_data.a, callback_data.e
    if action == "list":
        await list_events(query, session, person, programme, responder, clock)
    elif action == "new":
        await new_event(query, responder, state)
    elif action == "show":
        await show_event(responder, session, person, programme, event_id)
    elif action == "people":
        event = await events.get(session, programme, event_id)
        entries = list(await seats.attendees(session, event))
        responder.edit(*people_card(event, entries, clock()))
    elif action in ("move", "edit"):
        await _ask(responder, state, action, event_id, session, programme)
    elif action == "cancel":
        await _confirm_cancel(responder, session, programme, event_id)
    elif action == "cancel_yes":
        event = await events.get(session, programme, event_id)
        told = await events.cancel(session, programme, event, clock(), actor=person)
        note = ngettext(
            "The event is cancelled; {count} person will be told.",
            "The event is cancelled; {count} people will be told.",
            told,
        ).format(count=told)
        await show_event(responder, session, person, programme, event_id, note=note)
    else:
        raise EventError("stale")


async def _ask(
    responder: Responder,
    state: FSMContext,
    action: str,
    event_id: int,
    session: AsyncSession,
    programme: Programme,
) -> None:
    event = await events.get(session, programme, event_id)
    if event.status != "scheduled":
        raise EventError("cancelled")
    if action == "move":
        await state.set_state(EventForm.move)
        await state.set_data({"event_id": event_id})
        responder.edit(
            _(
                "Send the new start, Warsaw time, e.g. 8.04.2026 10:00. "
                "Everyone booked will be told. /cancel stops."
            )
        )
        return
    await state.set_data({"event_id": event_id})
    responder.edit(_("What would you like to change?"), _choices("field", FIELDS))


async def _confirm_cancel(
    responder: Responder, session: AsyncSession, programme: Programme, event_id: int
) -> None:
    event = await events.get(session, programme, event_id)
    booked = sum((await seats.counts(session, [event_id])).get(event_id, {}).values())
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("Yes, cancel the event"), StaffEvent(a="cancel_yes", e=event.id).pack())],
            [_button(_("No"), StaffEvent(a="show", e=event.id).pack())],
        ]
    )
    responder.edit(
        _("Cancel event #{id}? Everyone booked or waiting ({count}) will be told.").format(
            id=event.id, count=booked
        ),
        keyboard,
    )


async def pressed_attendance(
    query: CallbackQuery,
    callback_data: StaffAttendance,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    now = clock()
    found = await seats.load(session, callback_data.b)
    if found is None or found[0].programme_id != programme.id:
        raise EventError("stale")
    _booking, event = await seats.mark_attendance(
        session, callback_data.b, callback_data.m, now, actor=person
    )
    entries = list(await seats.attendees(session, event))
    responder.edit(*people_card(event, entries, now))


async def typed_move(
    message: Message,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    state: FSMContext,
    clock: Clock,
) -> None:
    event = await events.get(session, programme, (await state.get_data())["event_id"])
    starts_at = events.parse_local_time(message.text or "", programme.time_zone)
    told = await events.move(session, programme, event, starts_at, clock(), actor=person)
    await state.clear()
    note = ngettext(
        "Moved; {count} person will be told.", "Moved; {count} people will be told.", told
    ).format(count=told)
    await show_event(responder, session, person, programme, event.id, edit=False, note=note)


async def chose_field(
    query: CallbackQuery, callback_data: StaffChoice, responder: Responder, state: FSMContext
) -> None:
    if callback_data.v not in FIELDS or "event_id" not in await state.get_data():
        raise EventError("stale")
    await state.update_data(field=callback_data.v)
    await state.set_state(EventForm.edit)
    responder.edit(_("Send the new {field}. /cancel stops.").format(field=FIELDS[callback_data.v]))


async def typed_edit(
    message: Message,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    state: FSMContext,
    clock: Clock,
) -> None:
    data = await state.get_data()
    event = await events.get(session, programme, data["event_id"])
    field, text = data["field"], (message.text or "").strip()
    if field.startswith("title_"):
        changes: dict[str, Any] = {"title": {field.removeprefix("title_"): text}}
    elif field == "where":
        changes = _where(text)
    else:
        changes = {field: _number(text, field)}
    await events.edit(session, programme, event, changes, clock(), actor=person)
    await state.clear()
    await show_event(responder, session, person, programme, event.id, edit=False, note=_("Saved."))


def _number(text: str, field: str) -> int | None:
    code = "capacity" if field == "capacity" else "duration"
    if not text.isdigit():
        raise EventError(code)
    value = int(text)
    return (value or None) if field == "capacity" else value


def _where(text: str) -> dict[str, str | None]:
    if text.lower().startswith(("http://", "https://", "www.")):
        return {"join_link": text if "://" in text else "https://" + text, "place": None}
    return {"join_link": None, "place": text[:300]}


# ------------------------------------------------------------------------------ the new-event form


async def new_event(
    event: Message | CallbackQuery, responder: Responder, state: FSMContext
) -> None:
    await state.clear()
    await state.set_data({"draft": {}})
    text = _("New event. What kind is it?")
    (responder.edit if isinstance(event, CallbackQuery) else responder.send)(
        text, _choices("kind", KIND_NAMES)
    )


async def chose_kind(
    query: CallbackQuery, callback_data: StaffChoice, responder: Responder, state: FSMContext
) -> None:
    if callback_data.v not in KIND_NAMES:
        raise EventError("stale")
    await _remember(state, kind=callback_data.v)
    responder.edit(_("Who is it for?"), _choices("audience", AUDIENCE_NAMES))


async def chose_audience(
    query: CallbackQuery, callback_data: StaffChoice, responder: Responder, state: FSMContext
) -> None:
    if callback_data.v not in AUDIENCE_NAMES:
        raise EventError("stale")
    await _remember(state, audience=callback_data.v)
    await state.set_state(EventForm.start)
    responder.edit(_("When does it start? Warsaw time, e.g. 8.04.2026 10:00."))


async def typed_start(
    message: Message,
    programme: Programme,
    responder: Responder,
    state: FSMContext,
    clock: Clock,
) -> None:
    starts_at = events.parse_local_time(message.text or "", programme.time_zone)
    if starts_at <= clock():
        raise EventError("past")
    await _remember(state, starts_at=starts_at.isoformat())
    await state.set_state(EventForm.duration)
    responder.send(_("How long is it, in minutes? E.g. 60."))


async def typed_duration(message: Message, responder: Responder, state: FSMContext) -> None:
    await _remember(state, duration_minutes=_number((message.text or "").strip(), "duration"))
    await state.set_state(EventForm.capacity)
    responder.send(_("How many seats? 0 for no limit."))


async def typed_capacity(message: Message, responder: Responder, state: FSMContext) -> None:
    await _remember(state, capacity=_number((message.text or "").strip(), "capacity"))
    await state.set_state(EventForm.where)
    responder.send(_("The join link (https://…), or the place if it is not online:"))


async def typed_where(message: Message, responder: Responder, state: FSMContext) -> None:
    await _remember(state, **_where((message.text or "").strip()))
    await state.set_state(EventForm.titles)
    responder.send(
        str(TITLE_PROMPTS[events.TITLE_LANGUAGES[0]])
        + " "
        + _("(Or all three at once, one per line: Polish, Ukrainian, English.)")
    )


# A prompt per language: each names the language in its own case ("po ukraińsku").
TITLE_PROMPTS = {
    "pl": __("The title in Polish?"),
    "uk": __("The title in Ukrainian?"),
    "en": __("The title in English?"),
}


def _titles(text: str, known: dict[str, str]) -> dict[str, str]:
    """One title per message, a language at a time (all a console or a phone can send), or
    all three at once in three lines."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not known and len(lines) == len(events.TITLE_LANGUAGES):
        titles = dict(zip(events.TITLE_LANGUAGES, lines, strict=True))
    elif len(lines) == 1:
        language = next(code for code in events.TITLE_LANGUAGES if code not in known)
        titles = {**known, language: lines[0]}
    else:
        raise EventError("title")
    if any(len(title) > 200 for title in titles.values()):
        raise EventError("title")
    return titles


async def typed_titles(
    message: Message,
    person: Person,
    programme: Programme,
    responder: Responder,
    state: FSMContext,
) -> None:
    known = (await state.get_data()).get("draft", {}).get("title") or {}
    titles = _titles(message.text or "", known)
    draft = await _remember(state, title=titles)
    missing = [code for code in events.TITLE_LANGUAGES if code not in titles]
    if missing:
        responder.send(
            str(TITLE_PROMPTS[missing[0]])
        )
        return
    await state.set_state(EventForm.confirm)
    preview = _draft(draft)
    event = Event(
        id=0,
        seats_taken=0,
        status="scheduled",
        **{
            k: getattr(preview, k)
            for k in (
                "kind",
                "audience",
                "title",
                "starts_at",
                "duration_minutes",
                "capacity",
                "join_link",
                "place",
            )
        },
    )
    text = event_card(event, 0, person, programme)[0].replace("#0 · ", "", 1)
    keyboard = _choices("create", {"yes": _("✅ Create"), "no": _("✖️ Discard")})
    responder.send(_("Please check:") + "\n\n" + text, keyboard)


async def chose_create(
    query: CallbackQuery,
    callback_data: StaffChoice,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    state: FSMContext,
    clock: Clock,
) -> None:
    draft = (await state.get_data()).get("draft")
    await state.clear()
    if callback_data.v != "yes" or not draft:
        responder.edit(_("Discarded."))
        return
    event = await events.create(session, programme, _draft(draft), clock(), actor=person)
    note = _("Event #{id} created.").format(id=event.id)
    await show_event(responder, session, person, programme, event.id, note=note)


async def _remember(state: FSMContext, **values: Any) -> dict[str, Any]:
    draft = {**(await state.get_data()).get("draft", {}), **values}
    await state.update_data(draft=draft)
    return draft


def _draft(values: dict[str, Any]) -> EventDraft:
    values = dict(values)
    if "starts_at" in values:
        values["starts_at"] = datetime.fromisoformat(values["starts_at"])
    return EventDraft(**values)


async def explain(
    error: EventError | BookingError, event: Message | CallbackQuery, data: dict[str, Any]
) -> None:
    """Wrong input or a refused action: say why and stay at the same step of the form."""
    text = str(EVENT_ERRORS.get(error.code, EVENT_ERRORS["stale"])).format(**error.params)
    responder: Responder = data["responder"]
    if isinstance(event, CallbackQuery):
        responder.toast(text, alert=True)
    else:
        responder.send(text)


def create_router() -> Router:
    router = Router(name="staff_events")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())
    refusals = ExplainRefusals((EventError, BookingError), explain)
    router.message.middleware(refusals)
    router.callback_query.middleware(refusals)
    router.message.register(list_events, Command("events"))
    router.message.register(new_event, Command("newevent"))
    router.callback_query.register(pressed_event, StaffEvent.filter())
    router.callback_query.register(pressed_attendance, StaffAttendance.filter())
    router.callback_query.register(chose_kind, StaffChoice.filter(F.f == "kind"))
    router.callback_query.register(chose_audience, StaffChoice.filter(F.f == "audience"))
    router.callback_query.register(chose_field, StaffChoice.filter(F.f == "field"))
    router.callback_query.register(chose_create, StaffChoice.filter(F.f == "create"))
    text = F.text & ~F.text.startswith("/")
    for step, handler in (
        (EventForm.start, typed_start),
        (EventForm.duration, typed_duration),
        (EventForm.capacity, typed_capacity),
        (EventForm.where, typed_where),
        (EventForm.titles, typed_titles),
        (EventForm.move, typed_move),
        (EventForm.edit, typed_edit),
    ):
        router.message.register(handler, StateFilter(step), text)
    return router
