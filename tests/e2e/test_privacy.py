"""/mydata shows everything about the person and nothing about anyone else; /delete erases."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from db.models import Application, AuditLog, Outbox, Person
from tests.e2e.test_host_journey import answer_rest, begin_as_host, pick_gmina


async def _submitted_host(user, gmina: str) -> None:
    await begin_as_host(user, "pl")
    await pick_gmina(user, gmina, gmina)
    await answer_rest(user, "pl")
    await user.press("Wyślij zgłoszenie")


async def test_mydata_is_complete_and_private(bot, user_factory) -> None:
    anna, other = user_factory(), user_factory()
    await _submitted_host(anna, "Hel")
    await _submitted_host(other, "Gromadka")
    await anna.send("/mydata")
    data = json.loads(anna.documents()[-1].file.content)
    [application] = data["applications"]
    assert application["answers"]["gmina"]["name"] == "Hel"
    assert application["status"] == "eligible"
    assert data["profile"]["privacy_notice"]["version"]
    text = json.dumps(data, ensure_ascii=False)
    assert "Gromadka" not in text and str(other.user_id) not in text


async def test_delete_erases_everything_of_the_person(bot, user_factory) -> None:
    anna, other = user_factory(), user_factory()
    await _submitted_host(anna, "Hel")
    await _submitted_host(other, "Gromadka")
    await anna.send("/delete")
    await anna.press("Tak, usuń moje dane")
    async with bot.sessionmaker() as session:
        assert (
            await session.scalar(select(Person).where(Person.telegram_id == anna.user_id)) is None
        )
        applications = (await session.scalars(select(Application))).all()
        assert [a.answers["gmina"]["name"] for a in applications] == ["Gromadka"]
        assert (
            await session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.chat_id == anna.user_id)
            )
            == 0
        )
        erasures = await session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "privacy.erase")
        )
    assert erasures == 1
    await anna.send("/start")  # a fresh start, as promised
    assert "Choose your language" in anna.last_message().text
