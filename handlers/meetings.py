"""Meetings for applicants: choosing a date, the booking card, the waitlist, changing and
cancelling (`/meetings`), and the outbox messages about them (reminders, offers, moves).

Handlers parse the press, call `bot.services.booking` and render; a refused action
(`BookingError`) is explained by the middleware at the bottom, in the person's language. The
booking card is one message that buttons edit; news (a reminder, a seat offer) comes as a new
message, rendered by the sender when it is sent, in the recipient's language and time zone.
"""

from __future__ import annotations

import html
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import calendar
from bot.delivery import Rendered, Renderer, Skip
from bot.i18n import _, __, format_datetime, ngettext, time_zone_for
from bot.programme import Programme
from bot.responder import Responder
from bot.services import booking as seats
from bot.services import events, reminders
from bot.services.booking import BookingError, Seat
from db.base import utcnow
from db.models import Booking, Event, Outbox, Person
from handlers.callbacks import BookingAction, MeetingPick, MeetingWait

Clock = Callable[[], datetime]

# Said after a time for readers outside the programme's zone (Warsaw).
ZONE_NOTES = {"Europe/Kyiv": __("(Kyiv time)"), "Europe/Warsaw": __("(Warsaw time)")}

# ------------------------------------------------------------------------------ how it looks


def _language(person: Person) -> str:
    return person.language or "en"


def _zone(person: Person) -> str:
    return person.time_zone or time_zone_for(person.language)


def title_of(event: Event, language: str) -> str:
    title = event.title.get(language) or event.title.get("en") or next(iter(event.title.values()))
    return html.escape(title)


def when(moment: datetime, person: Person, programme: Programme) -> str:
    """E.g. "środa, 8 kwietnia 2026, 10:00"; "(за київським часом)" for Kyiv-time readers."""
    zone = _zone(person)
    text = format_datetime(moment, _language(person), zone)
    if zone != programme.time_zone:
        note = ZONE_NOTES.get(zone)
        text += f" {note}" if note else f" ({zone})"
    return text


def seats_text(event: Event) -> str:
    left = seats.seats_left(event)
    if left is None:
        return ""
    if left == 0:
        return _("no seats left, waitlist open")
    return ngettext("{count} seat left", "{count} seats left", left).format(count=left)


def date_line(event: Event, person: Person, programme: Programme) -> str:
    seats_part = seats_text(event)
    line = when(event.starts_at, person, programme)
    return f"{line} — {seats_part}" if seats_part else line


def _button(text: str, data: str) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text[:64], callback_data=data)]


def dates_card(
    found: Sequence[Event],
    person: Person,
    programme: Programme,
    *,
    intro: str,
    back: Booking | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    language = _language(person)
    if not found:
        text = (
            intro
            + "\n\n"
            + _(
                "There are no dates to choose from at the moment. We will write to you here as "
                "soon as new ones are published."
            )
        )
        rows = [_button(_("← Back"), BookingAction(a="back", b=back.id).pack())] if back else []
        return text, InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
    lines = [intro, ""]
    rows = []
    for event in found:
        lines.append(f"• <b>{title_of(event, language)}</b>\n{date_line(event, person, programme)}")
        label = format_datetime(event.starts_at, language, _zone(person), "EEE d MMM, HH:mm")
        if seats.seats_left(event) == 0:
            label += " ⏳"
        rows.append(_button(label, MeetingPick(e=event.id).pack()))
    if back is not None:
        rows.append(_button(_("← Back"), BookingAction(a="back", b=back.id).pack()))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _place_lines(event: Event) -> list[str]:
    if event.join_link:
        link = html.escape(event.join_link, quote=True)
        return [_("Join online: {link}").format(link=f'<a href="{link}">{link}</a>')]
    if event.place:
        return [_("Place: {place}").format(place=html.escape(event.place))]
    return []


def booking_card(
    booking: Booking,
    event: Event,
    person: Person,
    programme: Programme,
    *,
    position: int = 0,
    note: str = "",
) -> tuple[str, InlineKeyboardMarkup]:
    language = _language(person)
    head = f"<b>{title_of(event, language)}</b>\n{when(event.starts_at, person, programme)}"
    lines = [note, ""] if note else []
    b = booking.id
    if booking.status == "waitlisted":
        lines += [
            _("⏳ You are on the waitlist for:"),
            head,
            _(
                "Your place in the queue: {position}. If a seat frees up, we will offer it to you "
                "here."
            ).format(position=position),
        ]
        rows = [
            _button(_("📅 Choose another date"), BookingAction(a="dates", b=b).pack()),
            _button(_("Leave the waitlist"), BookingAction(a="cancel_yes", b=b).pack()),
        ]
    elif booking.status == "offered":
        deadline = when(booking.offer_expires_at or event.starts_at, person, programme)
        lines += [
            _("🎟 A seat has freed up for you:"),
            head,
            _("It is held for you until {deadline}.").format(deadline=deadline),
        ]
        rows = [
            _button(_("✅ Take the seat"), BookingAction(a="take", b=b).pack()),
            _button(_("No, thank you"), BookingAction(a="decline", b=b).pack()),
        ]
    else:
        minutes = _("{minutes} min").format(minutes=event.duration_minutes)
        closes = when(seats.closes_at(programme, event), person, programme)
        lines += [
            _("✅ You are booked:"),
            f"{head} ({minutes})",
            *_place_lines(event),
            "",
            _("You can change the date or cancel until {deadline}.").format(deadline=closes),
        ]
        rows = [
            _button(_("🗓 Calendar file"), BookingAction(a="ics", b=b).pack()),
            _button(_("🔁 Change the date"), BookingAction(a="change", b=b).pack()),
            _button(_("✖️ Cancel the booking"), BookingAction(a="cancel", b=b).pack()),
        ]
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def calendar_file(
    booking: Booking,
    event: Event,
    person: Person,
    programme: Programme,
    now: datetime,
    *,
    cancelled: bool = False,
) -> tuple[str, bytes]:
    language = _language(person)
    description = "\n".join(
        filter(None, [event.join_link or event.place, html.unescape(programme.name.get(language))])
    )
    content = calendar.booking_ics(
        booking,
        event,
        title=html.unescape(title_of(event, language)),
        description=description,
        time_zone=programme.time_zone,
        now=now,
        cancelled=cancelled,
    )
    return calendar.filename(event, _zone(person)), content


def _send_calendar(
    responder: Responder, seat: Seat, person: Person, programme: Programme, now: datetime
) -> None:
    name, content = calendar_file(seat.booking, seat.event, person, programme, now)
    responder.document(
        name, content, _("Add the meeting to your calendar: open this file on your device.")
    )


# ------------------------------------------------------------------------------ entry points


async def show(
    responder: Responder,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    now: datetime,
) -> None:
    """The person's booking cards (one per kind of event: a meeting, a study visit…), and the
    dates of the kinds they hold nothing for."""
    put = responder.send
    entries = await seats.live_entries(session, person, programme.id)
    for entry in entries:
        position = await seats.waitlist_position(session, entry[0])
        put(*booking_card(*entry, person, programme, position=position))
    held = {booking.kind for booking, _event in entries}
    audience = await seats.eligible_audience(session, person, programme)
    if entries:
        others = await seats.open_events(session, programme, audience, now) if audience else []
        others = [e for e in others if e.kind not in held]
        if others:
            intro = _("<b>Choose a date</b> that suits you:")
            put(*dates_card(others, person, programme, intro=intro))
        return
    if audience is None:
        put(
            _(
                "Meeting dates can be booked once your application has been sent and meets the "
                "programme's criteria. /start takes you to your application."
            )
        )
        return
    found = await seats.open_events(session, programme, audience, now)
    put(*dates_card(found, person, programme, intro=_("<b>Choose a date</b> that suits you:")))


async def offer_after_submit(
    responder: Responder,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    now: datetime,
) -> None:
    """After an eligible submission: the dates to choose from, under the verdict.

    With no date open yet nothing is added: the verdict already says we will write, and
    `events.announce` keeps that promise when staff publish a date.
    """
    if await seats.live_entry(session, person, programme.id) is not None:
        return
    audience = await seats.eligible_audience(session, person, programme)
    found = await seats.open_events(session, programme, audience, now) if audience else []
    if found:
        intro = _("<b>Choose a date</b> that suits you:")
        responder.send(*dates_card(found, person, programme, intro=intro))


# ------------------------------------------------------------------------------ handlers


async def meetings_command(
    message: Message,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    await show(responder, session, person, programme, clock())


async def pressed_date(
    query: CallbackQuery,
    callback_data: MeetingPick,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    now = clock()
    seat = await seats.choose(session, programme, person, callback_data.e, now)
    note = {
        "booked": _("Thank you! Your seat is booked."),
        "moved": _("The date has been changed."),
        "same": "",
    }[seat.status]
    position = await seats.waitlist_position(session, seat.booking)
    responder.edit(*booking_card(*_pair(seat), person, programme, note=note, position=position))
    if seat.status != "same" and seat.booking.status == "active":
        _send_calendar(responder, seat, person, programme, now)


def _pair(seat: Seat) -> tuple[Booking, Event]:
    return seat.booking, seat.event


async def pressed_wait(
    query: CallbackQuery,
    callback_data: MeetingWait,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    now = clock()
    seat = await seats.join_waitlist(session, programme, person, callback_data.e, now)
    position = await seats.waitlist_position(session, seat.booking)
    responder.edit(*booking_card(*_pair(seat), person, programme, position=position))
    if seat.status == "booked":
        _send_calendar(responder, seat, person, programme, now)


@dataclass(frozen=True)
class Ctx:
    """What an action on one's own booking needs."""

    responder: Responder
    session: AsyncSession
    person: Person
    programme: Programme
    now: datetime

    async def own(self, booking_id: int) -> Seat:
        found = await seats.load(self.session, booking_id)
        if found is None or found[0].person_id != self.person.id:
            raise BookingError("stale")
        if found[0].status not in seats.LIVE:
            raise BookingError("stale")
        return Seat("same", *found)

    def when(self, moment: datetime) -> str:
        return when(moment, self.person, self.programme)

    def card(self, seat: Seat, *, note: str = "", position: int = 0) -> None:
        self.responder.edit(
            *booking_card(*_pair(seat), self.person, self.programme, note=note, position=position)
        )


async def pressed_action(
    query: CallbackQuery,
    callback_data: BookingAction,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    action = ACTIONS.get(callback_data.a)
    if action is None:
        raise BookingError("stale")
    await action(Ctx(responder, session, person, programme, clock()), callback_data.b)


async def _calendar(ctx: Ctx, booking_id: int) -> None:
    seat = await ctx.own(booking_id)
    if seat.booking.status != "active":
        raise BookingError("stale")
    _send_calendar(ctx.responder, seat, ctx.person, ctx.programme, ctx.now)


async def _change(ctx: Ctx, booking_id: int) -> None:
    seat = await ctx.own(booking_id)
    # Another date of the same kind: a date of another kind would be a second booking.
    found = [e for e in await _open(ctx) if e.id != seat.event.id and e.kind == seat.event.kind]
    intro = _("Choose the new date. Until then your booking for {date} stays.").format(
        date=ctx.when(seat.event.starts_at)
    )
    ctx.responder.edit(
        *dates_card(found, ctx.person, ctx.programme, intro=intro, back=seat.booking)
    )


async def _open(ctx: Ctx) -> Sequence[Event]:
    audience = await seats.eligible_audience(ctx.session, ctx.person, ctx.programme)
    if audience is None:
        raise BookingError("not_eligible")
    return await seats.open_events(ctx.session, ctx.programme, audience, ctx.now)


async def _ask_cancel(ctx: Ctx, booking_id: int) -> None:
    seat = await ctx.own(booking_id)
    question = _("Cancel your booking for {date}?").format(date=ctx.when(seat.event.starts_at))
    b = seat.booking.id
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            _button(_("Yes, cancel it"), BookingAction(a="cancel_yes", b=b).pack()),
            _button(_("No, keep it"), BookingAction(a="back", b=b).pack()),
        ]
    )
    ctx.responder.edit(question, keyboard)


async def _cancel(ctx: Ctx, booking_id: int) -> None:
    was = (await ctx.own(booking_id)).booking.status
    await seats.cancel(ctx.session, ctx.programme, ctx.person, booking_id, ctx.now)
    text = {
        "active": _("Your booking has been cancelled. You can book another date with /meetings."),
        "waitlisted": _("You have left the waitlist. /meetings shows the dates."),
        "offered": _("Thank you for letting us know. The seat goes to the next person in line."),
    }[was]
    ctx.responder.edit(text)


async def _back(ctx: Ctx, booking_id: int) -> None:
    seat = await ctx.own(booking_id)
    ctx.card(seat, position=await seats.waitlist_position(ctx.session, seat.booking))


async def _take(ctx: Ctx, booking_id: int) -> None:
    seat = await seats.accept_offer(ctx.session, ctx.programme, ctx.person, booking_id, ctx.now)
    ctx.card(seat, note=_("Thank you! Your seat is booked."))
    _send_calendar(ctx.responder, seat, ctx.person, ctx.programme, ctx.now)


async def _dates(ctx: Ctx, booking_id: int) -> None:
    """All open dates; from a booking card (with a way back) or from a full date (b=0)."""
    back = (await ctx.own(booking_id)).booking if booking_id else None
    intro = _("<b>Choose a date</b> that suits you:")
    found = await _open(ctx)
    ctx.responder.edit(*dates_card(found, ctx.person, ctx.programme, intro=intro, back=back))


ACTIONS: dict[str, Callable[[Ctx, int], Awaitable[None]]] = {
    "ics": _calendar,
    "change": _change,
    "cancel": _ask_cancel,
    "cancel_yes": _cancel,
    "decline": _cancel,
    "back": _back,
    "take": _take,
    "dates": _dates,
}


class ExplainRefusals(BaseMiddleware):
    """A refused booking action becomes a short answer instead of an error.

    Services raise `BookingError` before changing anything (or inside a savepoint they roll
    back), so the update's transaction can commit what little it did, e.g. nothing.
    """

    async def __call__(
        self,
        handler: Callable[[Any, dict[str, Any]], Awaitable[Any]],
        event: Any,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        except BookingError as error:
            await explain(error, data)
            return None


async def explain(error: BookingError, data: dict[str, Any]) -> None:
    responder: Responder = data["responder"]
    person: Person = data["person"]
    programme: Programme = data["programme"]
    if error.code == "full":
        event = await seats.reload_event(data["session"], error.params["event_id"])
        entry = await seats.live_entry(data["session"], person, programme.id, event.kind)
        busy = _("Sorry, there are no seats left on {date}.").format(
            date=when(event.starts_at, person, programme)
        )
        if entry is not None and entry[0].status == "active":
            responder.toast(busy + " " + _("Your booking stays as it is."), alert=True)
            return
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                _button(_("⏳ Join the waitlist"), MeetingWait(e=event.id).pack()),
                _button(_("← Other dates"), BookingAction(a="dates", b=0).pack()),
            ]
        )
        responder.edit(
            busy
            + "\n"
            + _("You can join the waitlist: if a seat frees up, we will offer it to you here."),
            keyboard,
        )
        return
    text = str(REFUSALS.get(error.code, REFUSALS["stale"]))
    if data.get("event_update") is not None and data["event_update"].callback_query is not None:
        responder.toast(text, alert=error.code != "stale")
    else:
        responder.send(text)


REFUSALS = {
    "closed": __("This date can no longer be booked. /meetings shows the dates that are open."),
    "not_eligible": __(
        "Meeting dates can be booked once your application has been sent and meets the "
        "programme's criteria."
    ),
    "already": __("You already have a booking. /meetings shows it, and you can change it there."),
    "too_late": __("The meeting starts soon, so this booking can no longer be changed here."),
    "offer_over": __("This offer is no longer valid: the seat has gone to the next person."),
    "stale": __("This button is no longer active."),
}


def create_router() -> Router:
    router = Router(name="meetings")
    router.message.middleware(ExplainRefusals())
    router.callback_query.middleware(ExplainRefusals())
    router.message.register(meetings_command, Command("meetings"))
    router.callback_query.register(pressed_date, MeetingPick.filter())
    router.callback_query.register(pressed_wait, MeetingWait.filter())
    router.callback_query.register(pressed_action, BookingAction.filter())
    return router


# ------------------------------------------------------------------------------ outbox messages


def outbox_renderers(programme: Programme | None, clock: Clock = utcnow) -> dict[str, Renderer]:
    """Renderers for the sender, by outbox kind (see bot/renderers.py)."""
    subjects = _Subjects()

    async def _subject(
        session: AsyncSession, row: Outbox, person: Person | None, programme: Programme | None
    ) -> tuple[Booking, Event] | Skip:
        return await subjects.take(session, row, person, programme)

    async def reminder(
        session: AsyncSession, rows: list[Outbox], person: Person | None
    ) -> Rendered | Skip:
        found = await _subject(session, rows[0], person, programme)
        if isinstance(found, Skip):
            return found
        booking, event = found
        if booking.status != "active":
            return Skip("cancelled", "booking no longer active")
        if not _same_start(event, rows[0]):
            return Skip("cancelled", "the event moved")
        now = clock()
        if event.starts_at <= now:
            return Skip("expired", "the event has started")
        assert person is not None and programme is not None
        text = "\n".join(
            [
                _("🔔 <b>Reminder</b>: {title} starts {relative}.").format(
                    title=title_of(event, _language(person)),
                    relative=_relative(event.starts_at - now),
                ),
                when(event.starts_at, person, programme),
                *_place_lines(event),
            ]
        )
        return Rendered(text)

    async def offer(
        session: AsyncSession, rows: list[Outbox], person: Person | None
    ) -> Rendered | Skip:
        found = await _subject(session, rows[0], person, programme)
        if isinstance(found, Skip):
            return found
        booking, event = found
        expires = booking.offer_expires_at
        if booking.status != "offered" or expires is None or expires <= clock():
            return Skip("cancelled", "offer no longer open")
        assert person is not None and programme is not None
        return Rendered(*booking_card(booking, event, person, programme))

    async def moved(
        session: AsyncSession, rows: list[Outbox], person: Person | None
    ) -> Rendered | Skip:
        found = await _subject(session, rows[0], person, programme)
        if isinstance(found, Skip):
            return found
        booking, event = found
        if not _same_start(event, rows[0]):
            return Skip("cancelled", "moved again since")
        if booking.status not in ("active", "waitlisted") or event.starts_at <= clock():
            return Skip("cancelled", "nothing to tell")
        assert person is not None and programme is not None
        old = datetime.fromisoformat(rows[0].payload["old_starts_at"])
        text = "\n".join(
            [
                _("📅 <b>The date has changed</b>: {title}").format(
                    title=title_of(event, _language(person))
                ),
                _("New time: {new}").format(new=when(event.starts_at, person, programme)),
                _("Before: {old}").format(old=when(old, person, programme)),
                "",
                _("Your seat is kept, and this calendar file replaces the old entry.")
                if booking.status == "active"
                else _("You are still on the waitlist."),
                _("If the new time does not suit you: /meetings"),
            ]
        )
        if booking.status != "active":
            return Rendered(text)
        document = calendar_file(booking, event, person, programme, clock())
        return Rendered(text, document=document)

    async def cancelled(
        session: AsyncSession, rows: list[Outbox], person: Person | None
    ) -> Rendered | Skip:
        found = await _subject(session, rows[0], person, programme)
        if isinstance(found, Skip):
            return found
        booking, event = found
        assert person is not None and programme is not None
        text = "\n".join(
            [
                _("❌ <b>Cancelled</b>: {title}, {date}. We are sorry.").format(
                    title=title_of(event, _language(person)),
                    date=when(event.starts_at, person, programme),
                ),
                _("You can choose another date with /meetings."),
            ]
        )
        if rows[0].payload.get("was") != "active":
            return Rendered(text)
        # A calendar file with the same UID marked cancelled removes the imported entry.
        document = calendar_file(booking, event, person, programme, clock(), cancelled=True)
        return Rendered(text, document=document)

    async def published(
        session: AsyncSession, rows: list[Outbox], person: Person | None
    ) -> Rendered | Skip:
        if person is None or programme is None:
            return Skip("cancelled", "no recipient")
        # Published dates are information meetings (events.announce).
        if await seats.live_entry(session, person, programme.id, "info_meeting") is not None:
            return Skip("cancelled", "already booked")
        audience = await seats.eligible_audience(session, person, programme)
        found = await seats.open_events(session, programme, audience or "", clock())
        if audience is None or not found:
            return Skip("cancelled", "nothing to choose")
        intro = _(
            "📅 <b>Dates of information meetings are open.</b> Choose the one that suits you:"
        )
        text, keyboard = dates_card(found, person, programme, intro=intro)
        return Rendered(text, keyboard)

    for render in (reminder, offer, moved, cancelled):
        render.prefetch = subjects.prefetch  # type: ignore[attr-defined]
    return {
        reminders.REMINDER: reminder,
        reminders.WAITLIST_OFFER: offer,
        reminders.EVENT_MOVED: moved,
        reminders.EVENT_CANCELLED: cancelled,
        events.EVENT_PUBLISHED: published,
    }


class _Subjects:
    """The booking and event of each claimed row, read by the sender's claim (one query for
    the batch) and taken by the renderer just before the send, so sending 100 reminders a
    second does not mean 100 reads a second. An entry older than `FRESH` seconds (the sender
    sat on it through a Telegram pause) is read again; one never taken is dropped later."""

    FRESH = 10.0

    def __init__(self) -> None:
        self._found: dict[int, tuple[tuple[Booking, Event] | None, float]] = {}

    async def prefetch(self, session: AsyncSession, rows: list[Outbox]) -> None:
        now = time.monotonic()
        if len(self._found) > 20_000:
            self._found = {k: v for k, v in self._found.items() if v[1] > now - self.FRESH}
        found = await seats.load_many(session, (r.booking_id for r in rows if r.booking_id))
        for row in rows:
            if row.booking_id is not None:
                self._found[row.id] = (found.get(row.booking_id), now)

    async def take(
        self, session: AsyncSession, row: Outbox, person: Person | None, programme: Programme | None
    ) -> tuple[Booking, Event] | Skip:
        entry = self._found.pop(row.id, None)
        if person is None or programme is None or row.booking_id is None:
            return Skip("cancelled", "no recipient or booking")
        if entry is not None and entry[1] > time.monotonic() - self.FRESH:
            found = entry[0]
        else:
            found = await seats.load(session, row.booking_id)
        if found is None:
            return Skip("cancelled", "booking deleted")
        return found


def _same_start(event: Event, row: Outbox) -> bool:
    planned = row.payload.get("starts_at")
    return planned is not None and datetime.fromisoformat(planned) == event.starts_at


def _relative(left: timedelta) -> str:
    minutes = max(1, round(left.total_seconds() / 60))
    if minutes < 90:
        return ngettext("in {count} minute", "in {count} minutes", minutes).format(count=minutes)
    hours = round(minutes / 60)
    return ngettext("in {count} hour", "in {count} hours", hours).format(count=hours)
