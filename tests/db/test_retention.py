from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from bot.programme import PROGRAMMES_DIR, load_programme
from bot.services import people, retention
from db.models import Application, AuditLog, ProcessedUpdate
from db.repositories import updates

PROGRAMME = load_programme(PROGRAMMES_DIR / "win4ua-2026.toml", today=date(2026, 6, 15))
KEEP = timedelta(days=730)


async def test_answers_are_anonymised_after_retention(session) -> None:
    answers = {
        "lg_type": "gmina",
        "gmina": {"teryt": "2211011", "name": "Hel", "population": 2786},
        "contact_name": "Anna Kowalska",
        "email": "anna@hel.pl",
        "phone": "+48600100200",
        "partnership_openness": True,
        "experience_areas": ["participation"],
        "comments": "Prywatna uwaga",
        "_choosing": [],
    }
    async with session.begin():
        person = await people.on_contact(session, 1)
        session.add(
            Application(
                person_id=person.id,
                programme_id=PROGRAMME.id,
                audience="municipality",
                answers=answers,
                status="eligible",
                editing=False,
                needs_review=False,
                submitted_at=datetime(2026, 6, 20, tzinfo=UTC),
            )
        )
    close = PROGRAMME.applications_close
    async with session.begin():
        assert await retention.anonymise_due(session, PROGRAMME, close + KEEP / 2, KEEP) == 0
        assert await retention.anonymise_due(session, PROGRAMME, close + KEEP, KEEP) == 1
        assert await retention.anonymise_due(session, PROGRAMME, close + KEEP * 2, KEEP) == 0
    kept = (await session.scalars(select(Application))).one().answers
    assert kept["gmina"]["teryt"] == "2211011" and kept["experience_areas"] == ["participation"]
    assert kept["contact_name"] is None and kept["email"] is None and kept["phone"] is None
    assert kept["comments"] is None and kept["_anonymised"] is True
    assert "Anna" not in str(kept) and "_choosing" not in kept
    assert (
        await session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "retention.anonymise")
        )
        == 1
    )


async def test_old_update_ids_are_forgotten(session) -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    async with session.begin():
        assert await updates.record(session, 1)
        assert not await updates.record(session, 1)
        session.add(ProcessedUpdate(update_id=2, received_at=now - timedelta(days=10)))
    async with session.begin():
        assert await retention.purge_update_ids(session, now) == 1
    remaining = (await session.scalars(select(ProcessedUpdate.update_id))).all()
    assert remaining == [1]
