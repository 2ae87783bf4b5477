"""Match notices: each side learns the other's public details, in their own language."""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import place_names
from bot.about import contact_line
from bot.delivery import Rendered, Renderer, Skip
from bot.i18n import _, in_running_text
from bot.programme import Programme
from bot.services import matching
from db.models import Application, Match, Outbox, Person


def _e(value: Any) -> str:
    return html.escape(str(value)) if value not in (None, "") else "—"


def _labels(
    programme: Programme | None, audience: str, question_id: str, ids: list[str], language: str
) -> str:
    question = programme.audience(audience).question(question_id) if programme else None
    if question is None:
        return ", ".join(ids)
    labels = [c.label.get(language) for c in question.choices if c.id in ids]
    return in_running_text(labels, lower_first=True)


def host_details(host: Application, language: str, programme: Programme | None) -> str:
    a = host.answers
    place = a.get("gmina") or a.get("powiat") or {}
    languages = _labels(
        programme, "municipality", "mentor_languages", a.get("mentor_languages") or [], language
    )
    title = place_names.place_title(place, language) if place else ""
    where = place_names.describe(place, language).removeprefix(title) if place else ""
    return "\n".join(
        [
            f"<b>{_e(title)}</b>{html.escape(where)}",
            _("Contact: {name}, {position}").format(
                name=_e(a.get("contact_name")), position=_e(a.get("contact_position"))
            ),
            f"✉️ {_e(a.get('email'))} · ☎️ {_e(a.get('phone'))}",
            _("Mentor: {name}, {position} (languages: {languages})").format(
                name=_e(a.get("mentor_name")),
                position=_e(a.get("mentor_position")),
                languages=_e(languages),
            ),
        ]
    )


def intern_details(intern: Application, language: str) -> str:
    a = intern.answers
    hromada = a.get("hromada") or {}
    place = place_names.describe_hromada(hromada, language) if hromada else None
    return "\n".join(
        [
            f"<b>{_e(a.get('full_name'))}</b>, {_e(a.get('position'))} ({_e(a.get('department'))})",
            _("Hromada: {place}").format(place=_e(place)),
            f"✉️ {_e(a.get('email'))} · ☎️ {_e(a.get('phone'))}",
        ]
    )


def _renderer(kind: str, programme: Programme | None) -> Renderer:
    async def render(
        session: AsyncSession, rows: list[Outbox], person: Person | None
    ) -> Rendered | Skip:
        found = await session.get(Match, rows[0].payload.get("match_id"))
        if found is None or person is None:
            return Skip("cancelled", "match or person gone")
        intern = await session.get(Application, found.intern_application_id)
        host = await session.get(Application, found.host_application_id)
        if intern is None or host is None:
            return Skip("cancelled", "application deleted")
        language = person.language or "uk"
        if person.id == intern.person_id:
            other = host_details(host, language, programme)
            lead = (
                _("Good news: you have been matched with your host for the internship.")
                if kind == matching.MATCH_CREATED
                else _("Your match with this host has been withdrawn by the programme team.")
            )
        else:
            other = intern_details(intern, language)
            lead = (
                _("Good news: an intern from a Ukrainian hromada has been matched with you.")
                if kind == matching.MATCH_CREATED
                else _("The match with this intern has been withdrawn by the programme team.")
            )
        if kind != matching.MATCH_CREATED and programme is not None:
            other += "\n\n" + contact_line(programme)  # questions go to the programme team
        return Rendered(f"{lead}\n\n{other}")

    return render


def renderers(programme: Programme | None = None) -> dict[str, Renderer]:
    return {
        kind: _renderer(kind, programme) for kind in (matching.MATCH_CREATED, matching.MATCH_ENDED)
    }
