"""Outbox messages rendered at send time, in the recipient's language (set by the sender)."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import broadcast_renderers, match_renderers, meeting_notices, place_names
from bot.delivery import Rendered, Renderer, Skip
from bot.i18n import _, ngettext
from bot.programme import Programme
from bot.services import events, notifications
from db.base import utcnow
from db.models import Application, Outbox, Person

STATUS_MARKS = {"eligible": "✅", "ineligible": "❌", "submitted": "📝"}


def _place(application: Application, language: str) -> str:
    """The applicant's gmina, powiat or hromada in the staff member's language."""
    answers = application.answers
    place = answers.get("gmina") or answers.get("powiat") or answers.get("hromada") or {}
    return html.escape(place_names.describe(place, language)) if place else "?"


async def new_applications(
    session: AsyncSession, rows: list[Outbox], person: Person | None
) -> Rendered | Skip:
    """One notice for every submission gathered for this staff member."""
    if person is None or not person.is_staff:
        return Skip("cancelled", "recipient is no longer staff")
    ids = sorted(
        {int(row.payload["application_id"]) for row in rows if row.payload.get("application_id")}
    )
    applications = (await session.scalars(select(Application).where(Application.id.in_(ids)))).all()
    if not applications:
        return Skip("cancelled", "applications were withdrawn or deleted")
    count = len(applications)
    lines = [
        "<b>"
        + ngettext("{count} new application", "{count} new applications", count).format(count=count)
        + "</b>"
    ]
    for application in applications:
        mark = STATUS_MARKS.get(application.status, "•")
        review = " — " + _("check the population") if application.needs_review else ""
        lines.append(f"{mark} {_place(application, person.language or 'pl')}{review}")
    return Rendered("\n".join(lines))


def renderers(
    programme: Programme | None = None, clock: Callable[[], datetime] = utcnow
) -> dict[str, Renderer]:
    return {
        notifications.NEW_APPLICATION: new_applications,
        **match_renderers.renderers(programme),
        **meeting_notices.outbox_renderers(programme, clock),  # reminders, offers, changes
        **broadcast_renderers.renderers(),  # broadcasts and their final reports
    }


BATCHED_KINDS = frozenset({notifications.NEW_APPLICATION, events.EVENT_PUBLISHED})
