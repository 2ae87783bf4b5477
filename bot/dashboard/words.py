"""The dashboard's words for the database's codes, in the staff member's language."""

from __future__ import annotations

from typing import Any

from bot.i18n import __
from bot.services.export import APPLICATION_STATUSES, ATTENDANCE, BOOKING_STATUSES, EVENT_KINDS

__all__ = [
    "APPLICATION_STATUSES",
    "ATTENDANCE",
    "AUDIENCE",
    "BOOKING_STATUSES",
    "EVENT_KINDS",
    "FUNNEL",
    "MESSAGE_KINDS",
    "MESSAGE_STATUSES",
    "word",
]

AUDIENCE = {"municipality": __("host"), "intern": __("intern")}
FUNNEL = {
    "started": __("started"),
    "submitted": __("submitted"),
    "eligible": __("eligible"),
    "booked": __("booked a meeting"),
    "attended": __("attended"),
    "matched": __("matched"),
}
MESSAGE_KINDS = {
    "reminder": __("event reminder"),
    "waitlist.offer": __("seat offered from the waitlist"),
    "event.moved": __("event moved"),
    "event.cancelled": __("event cancelled"),
    "event.published": __("new information meeting"),
    "match.created": __("match made"),
    "match.ended": __("match ended"),
    "broadcast": __("broadcast"),
    "broadcast.report": __("broadcast report"),
    "staff.new_application": __("staff notice of new applications"),
}
MESSAGE_STATUSES = {
    "pending": __("waiting to be sent"),
    "sending": __("being sent"),
    "sent": __("sent"),
    "failed": __("not delivered"),
    "expired": __("too late, not sent"),
    "cancelled": __("cancelled before sending"),
}
AUDIT_ACTIONS = {
    "match.create": __("matched"),
    "match.end": __("match ended"),
    "event.attendance": __("attendance marked"),
    "action.refused": __("action refused"),
    "staff.denied": __("staff action refused"),
}


def word(names: dict[str, Any], code: str | None) -> str:
    if code is None:
        return "—"
    return str(names[code]) if code in names else code
