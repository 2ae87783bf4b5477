"""People: language, time zone, consent to the data notice, deep-link payloads, roles."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import LANGUAGES
from bot.programme import Programme
from db.base import utcnow
from db.models import Application, Person
from db.repositories import people as repo

# Bump when the text of the data-protection notice changes in substance: everyone is asked to
# read the new one before they go on.
PRIVACY_NOTICE_VERSION = "2026-11-22"

# Telegram allows 1-64 characters A-Z a-z 0-9 _ - in a /start payload.
_PAYLOAD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class UnknownLanguage(ValueError):
    pass


async def on_contact(session: AsyncSession, telegram_id: int) -> Person:
    return await repo.get_or_create(session, telegram_id)


async def on_contact_with_application(
    session: AsyncSession, telegram_id: int, programme_id: str
) -> tuple[Person, Application | None]:
    """The person (created on first contact) and their application to the programme, if any."""
    found = await repo.get_with_application(session, telegram_id, programme_id)
    if found is not None:
        return found
    return await repo.get_or_create(session, telegram_id), None


def remember_start_payload(person: Person, payload: str | None) -> bool:
    """Keep a deep-link payload (an invite code, "zmp", "zgwrp"); ignore malformed ones."""
    if payload and _PAYLOAD_RE.match(payload):
        person.start_payload = payload
        return True
    return False


def set_language(person: Person, language: str) -> None:
    if language not in LANGUAGES:
        raise UnknownLanguage(language)
    person.language = language


def join_audience(person: Person, programme: Programme, audience: str) -> None:
    """Interns live by Kyiv time and hosts by Warsaw time, whatever language they read: the
    zone comes with the audience (the programme file says which), not with the language."""
    person.time_zone = programme.audience(audience).time_zone


def reader_zone(person: Person | None, programme: Programme) -> str:
    """The zone this person reads times in: their audience's, or else the programme's (staff,
    and anyone who has not said yet who they are)."""
    return (person.time_zone if person is not None else None) or programme.time_zone


def needs_onboarding(person: Person | None) -> bool:
    return person is None or person.language is None or not has_current_consent(person)


def has_current_consent(person: Person) -> bool:
    return person.consent_at is not None and person.consent_version == PRIVACY_NOTICE_VERSION


def record_consent(person: Person, version: str) -> bool:
    """Store that the person read the notice of this version; False for an outdated button."""
    if version != PRIVACY_NOTICE_VERSION:
        return False
    person.consent_version = version
    person.consent_at = utcnow()
    return True


async def set_role(
    session: AsyncSession, telegram_id: int, role: str, actor: Person | None = None
) -> Person:
    person = await repo.get_or_create(session, telegram_id)
    previous = person.role
    person.role = role
    repo.add_audit(
        session,
        "staff.role",
        actor=actor,
        target=str(telegram_id),
        detail={"from": previous, "to": role},
    )
    return person


async def staff_members(session: AsyncSession) -> Sequence[Person]:
    return await repo.list_with_roles(session, ("staff", "admin"))


async def bootstrap_staff(session: AsyncSession, telegram_ids: Sequence[int]) -> int:
    """Make the STAFF_IDS people staff (never demotes anyone, never touches admins)."""
    changed = 0
    for telegram_id in telegram_ids:
        person = await repo.get_or_create(session, telegram_id)
        if person.role == "user":
            person.role = "staff"
            repo.add_audit(session, "staff.bootstrap", target=str(telegram_id))
            changed += 1
    return changed
