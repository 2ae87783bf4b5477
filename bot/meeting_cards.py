"""How meetings look: date lines and the dates card, the booking card, the calendar file —
in the reader's language and time zone. Used by the /meetings handlers and by the sender's
renderers of reminders, offers and changes (bot/meeting_notices.py)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import datetime

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import calendar
from bot.callbacks import BookingAction, MeetingPick
from bot.i18n import _, format_datetime, ngettext, zone_label
from bot.programme import Programme
from bot.responder import Responder
from bot.services import booking as seats
from bot.services import people
from bot.services.booking import Seat
from db.models import Booking, Event, Person

Clock = Callable[[], datetime]

# ------------------------------------------------------------------------------ how it looks


def language_of(person: Person) -> str:
    return person.language or "en"


def _zone(person: Person, programme: Programme) -> str:
    return people.reader_zone(person, programme)


def title_of(event: Event, language: str) -> str:
    title = event.title.get(language) or event.title.get("en") or next(iter(event.title.values()))
    return html.escape(title)


def when(moment: datetime, person: Person, programme: Programme, *, deadline: bool = False) -> str:
    """E.g. "środa, 8 kwietnia 2026, godz. 10:00" in the reader's zone; «… 11:00 за київським
    часом» for readers outside the programme's zone (meetings are organised in Warsaw), and always
    after a deadline, which takes the form after "until" ("do środy, …", «до середи, …»)."""
    zone = _zone(person, programme)
    text = format_datetime(moment, language_of(person), zone, until=deadline)
    return text if zone == programme.time_zone and not deadline else f"{text} {zone_label(zone)}"


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


def button(text: str, data: str) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text[:64], callback_data=data)]


def dates_card(
    found: Sequence[Event],
    person: Person,
    programme: Programme,
    *,
    intro: str,
    back: Booking | None = None,
    none: str | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The dates to choose from under `intro`; with none, `none` instead of both (no "choose a
    date" over nothing to choose)."""
    language = language_of(person)
    if not found:
        text = none or _(
            "There are no dates to choose from at the moment. We will write to you here as "
            "soon as new ones are published."
        )
        rows = [button(_("← Back"), BookingAction(a="back", b=back.id).pack())] if back else []
        return text, InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
    lines = [intro, ""]
    rows = []
    for event in found:
        lines.append(f"• <b>{title_of(event, language)}</b>\n{date_line(event, person, programme)}")
        zone = _zone(person, programme)
        label = format_datetime(event.starts_at, language, zone, "EEE d MMM, HH:mm")
        if seats.seats_left(event) == 0:
            label += " ⏳"
        rows.append(button(label, MeetingPick(e=event.id).pack()))
    if back is not None:
        rows.append(button(_("← Back"), BookingAction(a="back", b=back.id).pack()))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def place_lines(event: Event) -> list[str]:
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
    language = language_of(person)
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
            button(_("📅 Choose another date"), BookingAction(a="dates", b=b).pack()),
            button(_("Leave the waitlist"), BookingAction(a="cancel_yes", b=b).pack()),
        ]
    elif booking.status == "offered":
        deadline = when(
            booking.offer_expires_at or event.starts_at, person, programme, deadline=True
        )
        lines += [
            _("🎟 A seat has freed up for you:"),
            head,
            _("It is held for you until {deadline}.").format(deadline=deadline),
        ]
        rows = [
            button(_("✅ Take the seat"), BookingAction(a="take", b=b).pack()),
            button(_("No, thank you"), BookingAction(a="decline", b=b).pack()),
        ]
    else:
        minutes = _("{minutes} min").format(minutes=event.duration_minutes)
        closes = when(seats.closes_at(programme, event), person, programme, deadline=True)
        lines += [
            _("✅ You are booked:"),
            f"{head}, {minutes}",
            *place_lines(event),
            "",
            _("You can change the date or cancel until {deadline}.").format(deadline=closes),
        ]
        rows = [
            button(_("🗓 Calendar file"), BookingAction(a="ics", b=b).pack()),
            button(_("🔁 Change the date"), BookingAction(a="change", b=b).pack()),
            button(_("✖️ Cancel the booking"), BookingAction(a="cancel", b=b).pack()),
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
    language = language_of(person)
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
    return calendar.filename(event, _zone(person, programme)), content


def send_calendar(
    responder: Responder, seat: Seat, person: Person, programme: Programme, now: datetime
) -> None:
    name, content = calendar_file(seat.booking, seat.event, person, programme, now)
    responder.document(
        name, content, _("Add the meeting to your calendar: open this file on your device.")
    )
