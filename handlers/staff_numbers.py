"""/stats as staff read it: the numbers in their language, with the plural forms it needs."""

from __future__ import annotations

from bot.i18n import _, format_datetime, ngettext
from bot.place_names import region_name
from bot.services.stats import Stats
from bot.staff_views import STATUS_NAMES, n, people_count


def _line(title: str, pairs: list[tuple[str, int]], language: str) -> list[str]:
    if not pairs:
        return []
    return [
        f"<b>{title}</b>",
        " · ".join(f"{region_name(name, language)}: {n(v, language)}" for name, v in pairs),
    ]


def stats_text(stats: Stats, language: str) -> str:
    lines = [_("<b>Where the recruitment stands</b>"), ""]
    for audience, title in (("municipality", _("Municipalities")), ("intern", _("Interns"))):
        counts = stats.applications.get(audience, {})
        total = sum(counts.values())
        detail = " · ".join(
            f"{STATUS_NAMES[s]}: {n(counts[s], language)}" for s in STATUS_NAMES if counts.get(s)
        )
        count = ngettext("{count} application", "{count} applications", total)
        lines.append(f"<b>{title}</b>: {count.format(count=n(total, language))}")
        if detail:
            lines.append(detail)
    lines += _line(
        _("Eligible municipalities by voivodeship"), stats.eligible_by_voivodeship, language
    )
    lines += _line(_("Interns by oblast"), stats.interns_by_oblast, language)
    if stats.events:
        lines.append("<b>" + _("Upcoming events") + "</b>")
    for event in stats.events:
        title = event.title.get(language) or event.title.get("en") or "?"
        when = format_datetime(event.starts_at, language, None, "d MMM, HH:mm")
        seats = (
            ngettext("{count} free seat", "{count} free seats", event.free).format(
                count=n(event.free, language)
            )
            if event.free is not None
            else _("no seat limit")
        )
        lines.append(
            _("• {when} {title}: booked {booked}, {seats}, waiting {waiting}").format(
                when=when,
                title=title,
                booked=n(event.booked, language),
                seats=seats,
                waiting=n(event.waitlisted, language),
            )
        )
    lines += [
        "",
        _("On waiting lists: {people}").format(people=people_count(stats.waitlisted, language)),
    ]
    lines.append(
        ngettext(
            "{count} intern matched with a host",
            "{count} interns matched with a host",
            stats.matches,
        ).format(count=n(stats.matches, language))
    )
    for key, title in (("reminders", _("Reminders")), ("broadcasts", _("Broadcast messages"))):
        counts = stats.messages.get(key, {})
        lines.append(
            _("{title}: sent {sent}, failed {failed}, waiting {waiting}").format(
                title=title,
                sent=n(counts.get("sent", 0), language),
                failed=n(counts.get("failed", 0), language),
                waiting=n(counts.get("pending", 0) + counts.get("sending", 0), language),
            )
        )
    lines.append(
        ngettext("{count} broadcast so far", "{count} broadcasts so far", stats.broadcasts).format(
            count=n(stats.broadcasts, language)
        )
    )
    lines.append(
        _("Unreachable (blocked the bot): {people}").format(
            people=people_count(stats.unreachable, language)
        )
    )
    return "\n".join(lines)
