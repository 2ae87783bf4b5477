"""What the dashboard reads: a few queries per page, never one per row.

The applications table is one query for the page of rows (filtered, sorted and cut to
`PAGE_SIZE` in SQL), one count, and one query each for those rows' bookings and matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.services.segments import region_of_application
from db.models import Application, Booking, Event, Match

PAGE_SIZE = 200
# The filter's words for audiences (the page's) and the database's.
AUDIENCES = {"host": "municipality", "intern": "intern"}
STATUSES = ("draft", "submitted", "eligible", "ineligible", "withdrawn")
LIVE_BOOKING = ("active", "waitlisted", "offered")


def region_code() -> ColumnElement[str | None]:
    """A stable code for the region: the voivodeship's TERYT (2 digits) of a gmina or powiat,
    the oblast's KATOTTG prefix (UA + 2 digits) of a hromada."""
    answers = Application.answers
    return func.coalesce(
        func.substr(answers[("gmina", "teryt")].as_string(), 1, 2),
        func.substr(answers[("powiat", "teryt")].as_string(), 1, 2),
        func.substr(answers[("hromada", "katottg")].as_string(), 1, 4),
    )


def place_name_column() -> ColumnElement[str | None]:
    answers = Application.answers
    return func.coalesce(
        answers[("gmina", "name")].as_string(),
        answers[("powiat", "name")].as_string(),
        answers[("hromada", "name_uk")].as_string(),
    )


@dataclass(frozen=True)
class Filters:
    audience: str | None = None  # "host" or "intern"
    status: str | None = None
    region: str | None = None
    q: str | None = None
    sort: str = "submitted"
    descending: bool = True
    page: int = 1

    @classmethod
    def read(cls, params: Any) -> Filters:
        """From the form (or a query string): unknown values are ignored, never an error."""

        def field(name: str, limit: int = 100) -> str:
            value = params.get(name)
            return value.strip()[:limit] if isinstance(value, str) else ""  # not an upload

        audience, status, region = field("audience"), field("status"), field("region", 8)
        sort, page = field("sort"), field("page")
        return cls(
            audience=audience if audience in AUDIENCES else None,
            status=status if status in STATUSES else None,
            region=region if region.isalnum() else None,
            q=field("q") or None,
            sort=sort if sort in SORTS else "submitted",
            descending=field("dir") != "asc",
            page=max(1, min(int(page), 10_000)) if page.isdigit() and len(page) < 6 else 1,
        )

    def conditions(self, programme_id: str) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [Application.programme_id == programme_id]
        if self.audience:
            found.append(Application.audience == AUDIENCES[self.audience])
        if self.status:
            found.append(Application.status == self.status)
        if self.region:
            found.append(region_code() == self.region)
        if self.q:
            answers = Application.answers
            fields = [
                answers[("gmina", "name")].as_string(),
                answers[("powiat", "name")].as_string(),
                answers[("hromada", "name_uk")].as_string(),
                answers[("hromada", "name_latin")].as_string(),
                answers["contact_name"].as_string(),
                answers["full_name"].as_string(),
                answers["email"].as_string(),
            ]
            matches = [column.icontains(self.q, autoescape=True) for column in fields]
            if self.q.isdigit() and len(self.q) < 10:
                matches.append(Application.id == int(self.q))
            found.append(or_(*matches))
        return found


SORTS: dict[str, Any] = {
    "id": Application.id,
    "audience": Application.audience,
    "status": Application.status,
    "place": place_name_column(),
    "region": region_of_application(),
    "submitted": Application.submitted_at,
}


@dataclass
class Row:
    application: Application
    booking: tuple[Booking, Event] | None = None
    # An intern's host, or every intern a host takes (a host may take several), oldest first.
    counterparts: list[Application] = field(default_factory=list)


@dataclass
class Table:
    rows: list[Row]
    total: int
    filters: Filters
    regions: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


async def applications(session: AsyncSession, programme_id: str, filters: Filters) -> Table:
    conditions = filters.conditions(programme_id)
    total = await session.scalar(select(func.count()).select_from(Application).where(*conditions))
    order = SORTS[filters.sort]
    order = order.desc() if filters.descending else order.asc()
    found = await session.scalars(
        select(Application)
        .where(*conditions)
        .order_by(order.nulls_last(), Application.id.desc())
        .limit(PAGE_SIZE)
        .offset((filters.page - 1) * PAGE_SIZE)
    )
    rows = [Row(application) for application in found.all()]
    await _attach_bookings(session, programme_id, rows)
    await _attach_matches(session, rows)
    return Table(rows, int(total or 0), filters, await regions(session, programme_id))


def _booking_rank(booking: Booking, event: Event) -> tuple[int, int, int]:
    """Which booking the table shows: an information meeting first, a seat before a wait."""
    return (
        0 if event.kind == "info_meeting" else 1,
        LIVE_BOOKING.index(booking.status) if booking.status in LIVE_BOOKING else 9,
        -booking.id,
    )


async def _attach_bookings(session: AsyncSession, programme_id: str, rows: list[Row]) -> None:
    by_person = {row.application.person_id: row for row in rows}
    if not by_person:
        return
    found = await session.execute(
        select(Booking, Event)
        .join(Event, Event.id == Booking.event_id)
        .where(
            Booking.programme_id == programme_id,
            Booking.person_id.in_(list(by_person)),
            Booking.status.in_(LIVE_BOOKING),
        )
    )
    for booking, event in found.all():
        row = by_person[booking.person_id]
        if row.booking is None or _booking_rank(booking, event) < _booking_rank(*row.booking):
            row.booking = (booking, event)


async def _attach_matches(session: AsyncSession, rows: list[Row]) -> None:
    by_id = {row.application.id: row for row in rows}
    if not by_id:
        return
    other = aliased(Application)
    ids = list(by_id)
    found = await session.execute(
        select(Match, other)
        .join(
            other,
            or_(
                and_(
                    Match.intern_application_id.in_(ids),
                    other.id == Match.host_application_id,
                ),
                and_(
                    Match.host_application_id.in_(ids),
                    other.id == Match.intern_application_id,
                ),
            ),
        )
        .where(Match.ended_at.is_(None))
        .order_by(Match.id)
    )
    for match, counterpart in found.all():
        mine = (
            match.intern_application_id
            if counterpart.id == match.host_application_id
            else match.host_application_id
        )
        if mine in by_id:
            by_id[mine].counterparts.append(counterpart)


async def regions(session: AsyncSession, programme_id: str) -> list[tuple[str, str, int]]:
    """(code, name as stored, applications) of every region with an application."""
    code = region_code().label("code")
    name = func.max(region_of_application()).label("name")
    found = await session.execute(
        select(code, name, func.count())
        .where(Application.programme_id == programme_id, code.is_not(None))
        .group_by(code)
        .order_by(code)
    )
    return [(str(c), str(n or c), int(count)) for c, n, count in found.all()]


async def regions_by_audience(
    session: AsyncSession, programme_id: str
) -> dict[str, list[tuple[str, int]]]:
    """Applications (not withdrawn) per voivodeship of hosts and per oblast of interns."""
    region = region_of_application().label("region")
    found = await session.execute(
        select(Application.audience, region, func.count())
        .where(
            Application.programme_id == programme_id,
            Application.status != "withdrawn",
            region.is_not(None),
        )
        .group_by(Application.audience, region)
        .order_by(func.count().desc(), region)
    )
    out: dict[str, list[tuple[str, int]]] = {"municipality": [], "intern": []}
    for audience, name, count in found.all():
        out.setdefault(audience, []).append((str(name), int(count)))
    return out


FUNNEL_STEPS = ("started", "submitted", "eligible", "booked", "attended", "matched")


async def funnel(session: AsyncSession, programme_id: str) -> dict[str, dict[str, int]]:
    """audience → step → applications with that step's mark, in one query.

    Each step is counted on its own, not as "got that far": a host can be matched without having
    come to a meeting (the page says so under the chart). Attended means a seat (not a
    waiting-list place) marked attended; matched means a match not ended. The match test is two
    EXISTS, one per side, so that each can use its own index (an OR of the two columns in one
    EXISTS scans the matches once per application).
    """
    booked = exists().where(
        Booking.person_id == Application.person_id,
        Booking.programme_id == Application.programme_id,
        Booking.status == "active",
    )
    attended = exists().where(
        Booking.person_id == Application.person_id,
        Booking.programme_id == Application.programme_id,
        Booking.status == "active",
        Booking.attendance == "attended",
    )
    matched_as_intern = exists().where(
        Match.ended_at.is_(None), Match.intern_application_id == Application.id
    )
    matched_as_host = exists().where(
        Match.ended_at.is_(None), Match.host_application_id == Application.id
    )

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.sum(case((condition, 1), else_=0))

    found = await session.execute(
        select(
            Application.audience,
            func.count(),
            count_if(Application.submitted_at.is_not(None)),
            count_if(Application.status == "eligible"),
            count_if(booked),
            count_if(attended),
            count_if(or_(matched_as_intern, matched_as_host)),
        )
        .where(Application.programme_id == programme_id)
        .group_by(Application.audience)
    )
    out = {audience: dict.fromkeys(FUNNEL_STEPS, 0) for audience in ("municipality", "intern")}
    for audience, *numbers in found.all():
        out[audience] = {
            step: int(n or 0) for step, n in zip(FUNNEL_STEPS, numbers, strict=True)
        }
    return out
