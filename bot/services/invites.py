"""Single-use invitation links for interns: `https://t.me/<bot>?start=<code>`.

A code is 120 random bits (unguessable), fits Telegram's 64-character payload limit and its
alphabet, and carries a prefix so it is never mistaken for a source keyword such as "zmp".
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Invite, Person
from db.repositories import people as repo

PREFIX = "inv-"
_CODE_RE = re.compile(r"^inv-[A-Za-z0-9_-]{20}$")


def looks_like_invite(payload: str | None) -> bool:
    return bool(payload) and str(payload).startswith(PREFIX)


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"


async def create(
    session: AsyncSession,
    count: int,
    *,
    note: str | None = None,
    language: str = "uk",
    actor: Person | None = None,
) -> list[Invite]:
    invites = [
        Invite(
            code=PREFIX + secrets.token_urlsafe(15),
            audience="intern",
            language=language,
            note=note,
            created_by_id=actor.id if actor else None,
        )
        for _ in range(count)
    ]
    session.add_all(invites)
    await session.flush()
    repo.add_audit(session, "invite.create", actor=actor, count=count)
    return invites


@dataclass(frozen=True)
class Redemption:
    """`status` is ok, unknown, used (by someone else) or revoked."""

    status: str
    invite: Invite | None = None


async def redeem(session: AsyncSession, person: Person, code: str, now: datetime) -> Redemption:
    """Bind the invitation to this person. Using one's own link again is fine."""
    invite = (
        await session.scalar(select(Invite).where(Invite.code == code))
        if _CODE_RE.match(code)
        else None
    )
    if invite is None:
        return Redemption("unknown")
    if invite.revoked_at is not None:
        return Redemption("revoked", invite)
    if invite.used_by_id not in (None, person.id):
        return Redemption("used", invite)
    if invite.used_by_id is None:
        invite.used_by_id = person.id
        invite.used_at = now
    return Redemption("ok", invite)


_INVITE_OF = select(Invite).where(
    Invite.used_by_id == bindparam("person_id"), Invite.revoked_at.is_(None)
)  # built once: asked on the way into the questionnaire


async def invite_of(session: AsyncSession, person: Person) -> Invite | None:
    return await session.scalar(_INVITE_OF, {"person_id": person.id})


async def revoke(
    session: AsyncSession, code: str, now: datetime, actor: Person | None = None
) -> bool:
    invite = await session.scalar(select(Invite).where(Invite.code == code))
    if invite is None or invite.revoked_at is not None:
        return False
    invite.revoked_at = now
    repo.add_audit(session, "invite.revoke", actor=actor, target=code[:12])
    return True


async def listing(session: AsyncSession, limit: int = 50) -> Sequence[Invite]:
    result = await session.scalars(select(Invite).order_by(Invite.id.desc()).limit(limit))
    return result.all()
