"""Notices to staff about what applicants do, sent through the outbox.

Notices for one staff member are gathered for a short while and sent as one message, so a busy
morning of submissions is a handful of messages, not a flood.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import outbox, people
from db.models import Application

BATCH_WINDOW = timedelta(seconds=60)
NEW_APPLICATION = "staff.new_application"


async def new_application(session: AsyncSession, application: Application, now: datetime) -> int:
    queued = 0
    for member in await people.staff_members(session):
        queued += await outbox.enqueue(
            session,
            kind=NEW_APPLICATION,
            chat_id=member.telegram_id,
            person_id=member.id,
            due_at=now + BATCH_WINDOW,
            key=f"{NEW_APPLICATION}:{application.id}:{member.id}",
            payload={"application_id": application.id},
        )
    return queued
