"""Matching interns with hosts: suggestions, the match itself, unmatching, and telling both sides.

Suggestions rank eligible hosts by how many of the intern's interests the host can share
experience in, then by availability (hosts without an intern first), then by how long they
have waited. Staff decide; the bot never matches on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import outbox
from db.models import Application, Match, Person
from db.repositories import people as repo

MATCH_CREATED = "match.created"
MATCH_ENDED = "match.ended"


class MatchError(Exception):
    """Why a match cannot be made; `code` is one of the keys handlers and the CLI explain."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Suggestion:
    host: Application
    overlap: list[str]
    interns: int

    @property
    def score(self) -> tuple[int, int]:
        return (len(self.overlap), -self.interns)


async def _active_match(session: AsyncSession, intern_id: int) -> Match | None:
    return await session.scalar(
        select(Match).where(Match.intern_application_id == intern_id, Match.ended_at.is_(None))
    )


async def unmatched_interns(session: AsyncSession, programme_id: str) -> list[Application]:
    matched = select(Match.intern_application_id).where(Match.ended_at.is_(None))
    result = await session.scalars(
        select(Application)
        .where(
            Application.programme_id == programme_id,
            Application.audience == "intern",
            Application.status == "eligible",
            Application.id.not_in(matched),
        )
        .order_by(Application.submitted_at)
    )
    return list(result.all())


async def suggestions(
    session: AsyncSession, intern: Application, limit: int = 5
) -> list[Suggestion]:
    interests = set(intern.answers.get("interests") or [])
    load = (
        select(Match.host_application_id, func.count().label("n"))
        .where(Match.ended_at.is_(None))
        .group_by(Match.host_application_id)
        .subquery()
    )
    rows = await session.execute(
        select(Application, func.coalesce(load.c.n, 0))
        .outerjoin(load, load.c.host_application_id == Application.id)
        .where(
            Application.programme_id == intern.programme_id,
            Application.audience == "municipality",
            Application.status == "eligible",
        )
        .order_by(Application.submitted_at)
    )
    ranked = [
        Suggestion(host, sorted(interests & set(host.answers.get("experience_areas") or [])), n)
        for host, n in rows.all()
    ]
    ranked.sort(key=lambda s: s.score, reverse=True)  # stable: earlier submissions first on ties
    return ranked[:limit]


async def _notify(
    session: AsyncSession, kind: str, match: Match, now: datetime, applications: list[Application]
) -> None:
    for application in applications:
        person = await session.get(Person, application.person_id)
        if person is None:
            continue
        await outbox.enqueue(
            session,
            kind=kind,
            chat_id=person.telegram_id,
            person_id=person.id,
            due_at=now,
            key=f"{kind}:{match.id}:{application.id}",
            payload={"match_id": match.id},
        )


async def match(
    session: AsyncSession,
    intern_id: int,
    host_id: int,
    now: datetime,
    actor: Person | None = None,
) -> Match:
    intern = await session.get(Application, intern_id)
    host = await session.get(Application, host_id)
    if intern is None or intern.audience != "intern":
        raise MatchError("no_intern")
    if host is None or host.audience != "municipality" or host.programme_id != intern.programme_id:
        raise MatchError("no_host")
    if intern.status != "eligible" or host.status != "eligible":
        raise MatchError("not_eligible")
    if await _active_match(session, intern_id) is not None:
        raise MatchError("already_matched")
    created = Match(
        programme_id=intern.programme_id,
        intern_application_id=intern_id,
        host_application_id=host_id,
        created_by_id=actor.id if actor else None,
        created_at=now,
    )
    # The partial unique index on active matches settles a race between two staff members
    # (in the chat, on the dashboard, or both): the second is told the intern has a host.
    try:
        async with session.begin_nested():
            session.add(created)
            await session.flush()
    except IntegrityError:
        raise MatchError("already_matched") from None
    await _notify(session, MATCH_CREATED, created, now, [intern, host])
    repo.add_audit(session, "match.create", actor=actor, target=f"{intern_id}->{host_id}")
    return created


async def unmatch(
    session: AsyncSession, intern_id: int, now: datetime, actor: Person | None = None
) -> Match:
    current = await _active_match(session, intern_id)
    if current is None:
        raise MatchError("not_matched")
    current.ended_at = now
    intern = await session.get(Application, current.intern_application_id)
    host = await session.get(Application, current.host_application_id)
    await _notify(session, MATCH_ENDED, current, now, [a for a in (intern, host) if a])
    repo.add_audit(session, "match.end", actor=actor, target=str(intern_id))
    return current
