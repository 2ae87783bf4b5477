from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.programme import PROGRAMMES_DIR, load_programme
from bot.services import people, privacy
from db.engine import create_sessionmaker
from db.models import AuditLog, Person


async def test_first_contact_creates_once_even_when_concurrent(engine) -> None:
    sessionmaker = create_sessionmaker(engine)

    async def contact() -> int:
        async with sessionmaker() as session, session.begin():
            return (await people.on_contact(session, 4242)).id

    ids = await asyncio.gather(*(contact() for _ in range(5)))
    assert len(set(ids)) == 1
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 1


async def test_audience_not_language_sets_time_zone_and_unknown_language_refused(session) -> None:
    programme = load_programme(PROGRAMMES_DIR / "demo.toml")
    async with session.begin():
        person = await people.on_contact(session, 1)
        people.set_language(person, "uk")
        assert person.time_zone is None
        assert people.reader_zone(person, programme) == "Europe/Warsaw"  # the programme's
        people.join_audience(person, programme, "municipality")
        assert people.reader_zone(person, programme) == "Europe/Warsaw"  # a host reading Ukrainian
        people.set_language(person, "pl")
        people.join_audience(person, programme, "intern")
        assert people.reader_zone(person, programme) == "Europe/Kyiv"  # an intern reading Polish
        people.set_language(person, "uk")
        with pytest.raises(people.UnknownLanguage):
            people.set_language(person, "ru")
        assert person.language == "uk"


async def test_consent_needs_the_current_notice(session) -> None:
    async with session.begin():
        person = await people.on_contact(session, 2)
        people.set_language(person, "pl")
        assert people.needs_onboarding(person)
        assert not people.record_consent(person, "1999-01-01")
        assert people.needs_onboarding(person)
        assert people.record_consent(person, people.PRIVACY_NOTICE_VERSION)
        assert not people.needs_onboarding(person)
        assert person.consent_at is not None and person.consent_at.tzinfo is not None


@pytest.mark.parametrize(
    ("payload", "kept"),
    [("zmp", True), ("inv_AbC-123", True), ("", False), ("x" * 65, False), ("a b", False),
     ("<script>", False)],
)
def test_start_payload_is_validated(payload: str, kept: bool) -> None:
    person = Person(telegram_id=1)
    assert people.remember_start_payload(person, payload) is kept
    assert (person.start_payload == payload) is kept


async def test_staff_roles_are_audited(session) -> None:
    async with session.begin():
        await people.bootstrap_staff(session, [10, 11])
        await people.set_role(session, 12, "admin")
        await people.set_role(session, 11, "user")
    members = await people.staff_members(session)
    assert [(m.telegram_id, m.role) for m in members] == [(10, "staff"), (12, "admin")]
    actions = (await session.scalars(select(AuditLog.action).order_by(AuditLog.id))).all()
    assert actions == ["staff.bootstrap", "staff.bootstrap", "staff.role", "staff.role"]


async def test_erase_removes_the_person_and_keeps_anonymous_audit(session) -> None:
    async with session.begin():
        staff = await people.set_role(session, 50, "staff")
        people.set_language(staff, "pl")
    async with session.begin():
        data = await privacy.collect(session, staff)
        assert data["profile"]["telegram_id"] == 50
        await privacy.erase(session, staff)
    assert await session.scalar(select(Person).where(Person.telegram_id == 50)) is None
    rows = (await session.scalars(select(AuditLog))).all()
    assert all(row.actor_id is None for row in rows)
    assert "privacy.erase" in [row.action for row in rows]
