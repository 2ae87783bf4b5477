"""The questionnaire's changes reach the database: written on demand, or at commit, never twice
by the ORM, and not at all after a rollback."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event, select

from bot.programme import PROGRAMMES_DIR, load_programme
from bot.services import people, questionnaire
from db.engine import create_sessionmaker
from db.models import Application
from db.repositories import applications

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)


@pytest.fixture
def programme():
    return load_programme(PROGRAMMES_DIR / "win4ua-2026.toml", today=date(2026, 6, 15))


@pytest.fixture
def statements(engine):
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine.sync_engine, "before_cursor_execute", note)


async def _started(engine, programme, telegram_id: int = 7) -> int:
    async with create_sessionmaker(engine)() as session, session.begin():
        person = await people.on_contact(session, telegram_id)
        application = await questionnaire.begin(session, person, programme, "municipality")
        return application.id


async def _stored(engine, application_id: int) -> Application:
    async with create_sessionmaker(engine)() as session:
        stored = await session.get(Application, application_id)
        assert stored is not None
        return stored


async def test_a_change_is_written_at_commit_once(engine, programme, statements) -> None:
    application_id = await _started(engine, programme)
    before = (await _stored(engine, application_id)).updated_at
    async with create_sessionmaker(engine)() as session, session.begin():
        application = await session.get(Application, application_id)
        statements.clear()
        questionnaire.answer_choice(programme, application, "lg_type", "powiat", NOW)
        assert not session.dirty  # nothing for the ORM to flush
    updates = [s for s in statements if s.startswith("UPDATE application")]
    assert len(updates) == 1
    stored = await _stored(engine, application_id)
    assert stored.answers == {"lg_type": "powiat"}
    assert stored.current_question == "powiat"
    assert stored.updated_at > before


async def test_store_lets_the_same_transaction_read_the_change(engine, programme) -> None:
    application_id = await _started(engine, programme)
    status = select(Application.current_question).where(Application.id == application_id)
    async with create_sessionmaker(engine)() as session, session.begin():
        application = await session.get(Application, application_id)
        questionnaire.answer_choice(programme, application, "lg_type", "gmina", NOW)
        assert await session.scalar(status) == "lg_type"  # not written yet
        await questionnaire.store(session)
        assert await session.scalar(status) == "gmina"
        assert session.info.get("applications.unwritten") is None


async def test_a_rollback_writes_nothing_and_forgets(engine, programme) -> None:
    application_id = await _started(engine, programme)
    async with create_sessionmaker(engine)() as session:
        with pytest.raises(RuntimeError):
            async with session.begin():
                application = await session.get(Application, application_id)
                questionnaire.answer_choice(programme, application, "lg_type", "gmina", NOW)
                raise RuntimeError("the handler failed")
        assert session.info.get("applications.unwritten") is None
    stored = await _stored(engine, application_id)
    assert stored.answers == {} and stored.current_question == "lg_type"


async def test_a_new_application_takes_its_values_with_the_insert(engine, programme) -> None:
    async with create_sessionmaker(engine)() as session, session.begin():
        person = await people.on_contact(session, 8)
        application = Application(
            person_id=person.id, programme_id=programme.id, audience="municipality", answers={}
        )
        session.add(application)
        applications.change(application, current_question="gmina", answers={"lg_type": "gmina"})
        assert "applications.unwritten" not in session.info
    stored = await _stored(engine, application.id)
    assert stored.current_question == "gmina" and stored.answers == {"lg_type": "gmina"}


def test_only_questionnaire_columns() -> None:
    with pytest.raises(ValueError, match="person_id"):
        applications.change(Application(), person_id=3)
