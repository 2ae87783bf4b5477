"""Retention: personal answers are anonymised a configurable time after a call closes.

What stays is what programme reporting needs and identifies nobody: the local government or
hromada (public bodies), choices, yes/no answers, eligibility and dates. Free text, names,
e-mails and phone numbers go. Remembered update ids are kept only for a few days.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.programme import Programme
from db.models import Application
from db.repositories import people as repo
from db.repositories import updates

PERSONAL_KINDS = ("text", "long_text", "email", "phone", "date")
ANONYMISED = "_anonymised"
UPDATE_IDS_KEPT = timedelta(days=3)


def anonymised_answers(programme: Programme, application: Application) -> dict[str, object]:
    spec = programme.audience(application.audience)
    personal = {q.id for q in spec.questions if q.kind in PERSONAL_KINDS}
    answers = {
        k: (None if k in personal else v)
        for k, v in application.answers.items()
        if not k.startswith("_")
    }
    answers[ANONYMISED] = True
    return answers


async def anonymise_due(
    session: AsyncSession, programme: Programme, now: datetime, keep_for: timedelta
) -> int:
    """Anonymise this programme's applications once `keep_for` has passed since it closed."""
    if now < programme.applications_close + keep_for:
        return 0
    applications = await session.scalars(
        select(Application).where(Application.programme_id == programme.id)
    )
    done = 0
    for application in applications:
        if application.answers.get(ANONYMISED):
            continue
        application.answers = anonymised_answers(programme, application)
        application.current_question = None
        done += 1
    if done:
        repo.add_audit(session, "retention.anonymise", target=programme.id, count=done)
    return done


async def purge_update_ids(session: AsyncSession, now: datetime) -> int:
    return await updates.purge_before(session, now - UPDATE_IDS_KEPT)
