"""Who a broadcast goes to: a segment is data, turned into one SQL query of recipients.

The query is never loaded into Python: it is counted for the confirmation, and copied into
outbox rows with INSERT … SELECT in chunks of person ids (see `broadcast.expand`). Everybody
in a segment has read the data notice and has not blocked the bot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.programme import LANGUAGES
from db.models import Application, Booking, Event, Person

KINDS = (
    "everyone",
    "municipalities",
    "interns",
    "eligible",
    "ineligible",
    "started",
    "event",
    "eligible_not_booked",
    "waitlisted",
    "region",
    "language",
)
# Kinds that need a value: an event id, a voivodeship or oblast, a language code.
WITH_VALUE = frozenset({"event", "region", "language"})
LIVE_APPLICATION = ("draft", "submitted", "eligible", "ineligible")


class UnknownSegment(ValueError):
    pass


@dataclass(frozen=True)
class Segment:
    kind: str
    value: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS or (self.kind in WITH_VALUE) != (self.value is not None):
            raise UnknownSegment(f"{self.kind}:{self.value}")
        if self.kind == "language" and self.value not in LANGUAGES:
            raise UnknownSegment(f"language {self.value}")
        if self.kind == "event" and not str(self.value).isdigit():
            raise UnknownSegment(f"event {self.value}")

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Segment:
        if not data or "kind" not in data:
            raise UnknownSegment("empty")
        return cls(str(data["kind"]), data.get("value"))


def region_of_application() -> ColumnElement[str | None]:
    """The voivodeship of a gmina or powiat, or the oblast of a hromada, from the answers."""
    answers = Application.answers
    return func.coalesce(
        answers[("gmina", "voivodeship")].as_string(),
        answers[("powiat", "voivodeship")].as_string(),
        answers[("hromada", "oblast")].as_string(),
    )


def _application(programme_id: str, *conditions: Any) -> ColumnElement[bool]:
    return exists().where(
        Application.person_id == Person.id, Application.programme_id == programme_id, *conditions
    )


def _booking(programme_id: str, *conditions: Any) -> ColumnElement[bool]:
    return exists().where(
        Booking.person_id == Person.id, Booking.programme_id == programme_id, *conditions
    )


def _condition(segment: Segment, programme_id: str) -> ColumnElement[bool] | None:
    live = Application.status.in_(LIVE_APPLICATION)
    match segment.kind:
        case "municipalities":
            return _application(programme_id, live, Application.audience == "municipality")
        case "interns":
            return _application(programme_id, live, Application.audience == "intern")
        case "eligible" | "ineligible":
            return _application(programme_id, Application.status == segment.kind)
        case "started":
            return _application(programme_id, Application.status == "draft")
        case "event":
            event_id = int(str(segment.value))
            return _booking(programme_id, Booking.event_id == event_id, Booking.status == "active")
        case "eligible_not_booked":
            return _application(programme_id, Application.status == "eligible") & ~_booking(
                programme_id, Booking.status == "active"
            )
        case "waitlisted":
            return _booking(programme_id, Booking.status.in_(("waitlisted", "offered")))
        case "region":
            return _application(programme_id, live, region_of_application() == segment.value)
        case "language":
            return Person.language == segment.value
    return None


def recipients(segment: Segment, programme_id: str) -> Select[int, int]:
    """(person id, chat id) of everyone the segment reaches, as a query."""
    query = select(Person.id, Person.telegram_id).where(
        Person.blocked_at.is_(None), Person.consent_at.is_not(None)
    )
    condition = _condition(segment, programme_id)
    return query if condition is None else query.where(condition)


async def count(session: AsyncSession, segment: Segment, programme_id: str) -> int:
    query = select(func.count()).select_from(recipients(segment, programme_id).subquery())
    return int(await session.scalar(query) or 0)


async def regions(session: AsyncSession, programme_id: str) -> list[tuple[str, int]]:
    """Voivodeships and oblasts that applications name, with how many people it would reach."""
    region = region_of_application().label("region")
    rows = await session.execute(
        select(region, func.count(func.distinct(Person.id)))
        .join(Person, Person.id == Application.person_id)
        .where(
            Application.programme_id == programme_id,
            Application.status.in_(LIVE_APPLICATION),
            Person.blocked_at.is_(None),
            Person.consent_at.is_not(None),
        )
        .group_by(region)
        .order_by(region)
    )
    return [(name, int(n)) for name, n in rows.all() if name]


async def events(
    session: AsyncSession, programme_id: str, now: datetime, limit: int = 20
) -> list[Event]:
    """Scheduled events of the programme from a week ago on, soonest first."""
    result = await session.scalars(
        select(Event)
        .where(
            Event.programme_id == programme_id,
            Event.status == "scheduled",
            Event.starts_at >= now - timedelta(days=7),
        )
        .order_by(Event.starts_at)
        .limit(limit)
    )
    return list(result.all())


def set_reachable(person: Person, reachable: bool, now: datetime) -> None:
    """Telegram said the person blocked (or unblocked) the bot; keep when it first happened."""
    if reachable:
        person.blocked_at = None
    elif person.blocked_at is None:
        person.blocked_at = now
