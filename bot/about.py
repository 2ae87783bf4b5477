"""The programme's facts and its team's contact, as the bot says them (/about, /help, and
wherever it sends people to the programme team). Everything comes from the programme file."""

from __future__ import annotations

import html
from datetime import datetime

from bot.i18n import _, format_deadline, format_number
from bot.programme import Programme


def contact_line(programme: Programme) -> str:
    """"Programme team: win4ua@… · @win4ua" in the current language."""
    contact = programme.contact
    ways = [html.escape(way) for way in (contact.email, contact.telegram_handle) if way]
    return _("Programme team: {contact}").format(contact=" · ".join(ways))


def about_text(programme: Programme, language: str, now: datetime) -> str:
    limits = {name: format_number(value, language) for name, value in programme.limits.items()}
    lines = [f"<b>{programme.name.get(language)}</b>", ""]
    for section in programme.about.sections():
        lines += [section.get(language).format(**limits), ""]
    deadline = format_deadline(programme.last_moment, language, programme.time_zone)
    if now < programme.applications_close:
        lines.append(_("<b>Applications:</b> until {deadline}.").format(deadline=deadline))
    else:
        lines.append(_("<b>Applications</b> closed on {deadline}.").format(deadline=deadline))
    lines += ["", contact_line(programme)]
    return "\n".join(lines)
