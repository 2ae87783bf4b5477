"""Calendar files (.ics) for booked seats.

The UID is fixed per booking (`booking-<id>@win4ua-bot`), so a file sent after a change of
date replaces the entry a person imported earlier instead of adding a second one; SEQUENCE
grows with every change (it is read from the last change of the booking or its event, in
seconds since 2026, which `bot.services.booking.touch` keeps increasing). Times carry their
zone (Europe/Warsaw, with its VTIMEZONE), so every calendar shows the right local hour.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from db.models import Booking, Event

PRODID = "-//WIN4UA//win4ua-bot//EN"
_SEQUENCE_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def uid(booking: Booking) -> str:
    return f"booking-{booking.id}@win4ua-bot"


def sequence(booking: Booking, event: Event) -> int:
    changed = max(booking.updated_at, event.updated_at)
    return max(0, int((changed - _SEQUENCE_EPOCH).total_seconds()))


def filename(event: Event, time_zone: str) -> str:
    return f"win4ua-{event.starts_at.astimezone(ZoneInfo(time_zone)):%Y-%m-%d-%H%M}.ics"


def booking_ics(
    booking: Booking,
    event: Event,
    *,
    title: str,
    description: str,
    time_zone: str,
    now: datetime,
    cancelled: bool = False,
) -> bytes:
    """One VEVENT for this booking; `cancelled` marks it so calendars drop the entry."""
    # Imported here: icalendar (with dateutil and ctypes) is ~4 MB a bot process otherwise
    # carries from start-up whether or not anyone books.
    from icalendar import Calendar
    from icalendar import Event as CalendarEvent

    zone = ZoneInfo(time_zone)
    start = event.starts_at.astimezone(zone)
    entry = CalendarEvent()
    entry.add("uid", uid(booking))
    entry.add("sequence", sequence(booking, event))
    entry.add("dtstamp", now.astimezone(UTC))
    entry.add("dtstart", start)
    entry.add("dtend", start + timedelta(minutes=event.duration_minutes))
    entry.add("summary", title)
    entry.add("description", description)
    if event.join_link:
        entry.add("url", event.join_link)
        entry.add("location", event.join_link)
    elif event.place:
        entry.add("location", event.place)
    entry.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    calendar.add_component(entry)
    # Only the years around the event: a full VTIMEZONE history would be most of the file.
    calendar.add_missing_timezones(
        first_date=date(start.year - 1, 1, 1), last_date=date(start.year + 2, 1, 1)
    )
    return calendar.to_ical()
