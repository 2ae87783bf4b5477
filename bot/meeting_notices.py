"""The outbox messages about bookings — reminders, seat offers, moved and cancelled events,
newly published dates — rendered by the sender just before each is sent, in the recipient's
language and time zone (see bot/delivery.py and bot/renderers.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import Rendered, Renderer, Skip
from bot.i18n import _, ngettext
from bot.meeting_cards import (
    booking_card,
    calendar_file,
    dates_card,
    language_of,
    place_lines,
    title_of,
    when,
)
from bot.programme import Programme
from bot.services import booking as seats
from bot.services import events, reminders
from db.base import utcnow
from db.models import Booking, Event, Outbox, Person

Clock = Callable[[], datetime]


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
                    title=title_of(event, language_of(person)),
                    relative=_relative(event.starts_at - now),
                ),
                when(event.starts_at, person, programme),
                *place_lines(event),
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
                    title=title_of(event, language_of(person))
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
                    title=title_of(event, language_of(person)),
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
