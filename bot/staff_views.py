"""How staff screens look: statistics, segments, broadcast cards and the explanations of errors."""

from __future__ import annotations

import html
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import BroadcastSegment, BroadcastStep, BroadcastStop
from bot.i18n import _, __, format_datetime, format_number, language_name, ngettext
from bot.place_names import region_name
from bot.services.broadcast import BroadcastError, Progress
from bot.services.segments import KINDS, WITH_VALUE, Segment
from bot.services.staff import RoleError
from db.models import Broadcast, Event

SEGMENT_NAMES = {
    "everyone": __("Everyone"),
    "municipalities": __("Municipalities"),
    "interns": __("Interns"),
    "eligible": __("Eligible applicants"),
    "ineligible": __("Applicants not eligible"),
    "started": __("Started, not submitted"),
    "event": __("Booked for an event…"),
    "eligible_not_booked": __("Eligible, no meeting booked"),
    "waitlisted": __("On a waiting list"),
    "region": __("By voivodeship or oblast…"),
    "language": __("By language…"),
}
STATUS_NAMES = {
    "eligible": __("eligible"),
    "ineligible": __("not eligible"),
    "submitted": __("submitted"),
    "draft": __("started"),
    "withdrawn": __("withdrawn"),
}
BROADCAST_ERRORS = {
    "stale": __("This draft is no longer open. Start again with /broadcast."),
    "html": __(
        "Telegram would not accept this formatting ({at}). Use only &lt;b&gt;, &lt;i&gt;, "
        '&lt;u&gt;, &lt;s&gt;, &lt;a href="…"&gt;, &lt;code&gt;, &lt;pre&gt;, '
        "&lt;blockquote&gt; and &lt;tg-spoiler&gt;, closed in order; write &amp;lt; for a "
        "literal &lt;. Please send the text again."
    ),
    "formatted_too_long": __(
        "One formatted passage is longer than {limit} characters, so it cannot be split into "
        "messages. Please close the formatting earlier or add empty lines."
    ),
    "too_long": __("The text is too long: at most {parts} messages per person."),
    "empty": __("The text is empty. Please send the text again."),
    "no_text": __("Please write at least one text first."),
    "count_changed": __("The number of recipients has just changed. Please confirm again."),
    "nobody": __("Nobody is in this group, so there is nothing to send."),
    "not_active": __("This broadcast is no longer scheduled or running."),
    "bad_time": __(
        "Please write the date and time as DD.MM.YYYY HH:MM (Warsaw time), e.g. 12.04.2027 10:00."
    ),
    "in_past": __("That moment has passed. Please give a time in the future."),
}
ROLE_ERRORS = {
    "not_admin": __("Only admins can manage staff."),
    "bad_id": __("Please give a numeric Telegram id, e.g. /staff add 123456789."),
    "self": __("You cannot take away your own admin rights."),
    "unchanged": __("Nothing changed: that person already has this role."),
}


def broadcast_error(error: BroadcastError) -> str:
    text = str(BROADCAST_ERRORS.get(error.code, BROADCAST_ERRORS["stale"]))
    return text.format(**{k: html.escape(str(v)) for k, v in error.params.items()})


def role_error(error: RoleError) -> str:
    return str(ROLE_ERRORS.get(error.code, ROLE_ERRORS["bad_id"]))


def n(value: int, language: str) -> str:
    return format_number(value, language)


def people_count(count: int, language: str) -> str:
    return ngettext("{count} person", "{count} people", count).format(count=n(count, language))


def recipients(count: int, language: str) -> str:
    return ngettext("{count} recipient", "{count} recipients", count).format(
        count=n(count, language)
    )


def event_title(event: Event, language: str) -> str:
    titles = event.title or {}
    title = titles.get(language) or titles.get("en") or next(iter(titles.values()), "?")
    return f"{title}, {format_datetime(event.starts_at, language, None, 'd MMM y, HH:mm')}"


def describe_segment(segment: Segment, language: str, event: Event | None = None) -> str:
    if segment.kind == "event":
        return _("Booked for: {event}").format(event=event_title(event, language) if event else "?")
    if segment.kind == "region":
        return _("Region: {region}").format(region=region_name(str(segment.value), language))
    if segment.kind == "language":
        return _("Language: {language}").format(language=language_name(str(segment.value)))
    return str(SEGMENT_NAMES[segment.kind])


def button(text: str, data: Any) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text[:64], callback_data=data.pack())]


def segment_keyboard(broadcast_id: int) -> InlineKeyboardMarkup:
    rows = [button(str(SEGMENT_NAMES[k]), BroadcastSegment(b=broadcast_id, kind=k)) for k in KINDS]
    rows.append(button(_("✖ Cancel"), BroadcastStep(b=broadcast_id, action="drop")))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def choices_keyboard(
    broadcast_id: int, kind: str, choices: list[tuple[str, str]]
) -> InlineKeyboardMarkup:
    """Values (label, value) for a segment family that needs one."""
    assert kind in WITH_VALUE
    rows = [button(label, BroadcastSegment(b=broadcast_id, kind=kind, v=v)) for label, v in choices]
    rows.append(button(_("◀ Back"), BroadcastStep(b=broadcast_id, action="segments")))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def progress_card(
    broadcast: Broadcast, progress: Progress, segment_text: str, language: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    total = broadcast.total or sum(vars(progress).values())
    lines = [
        _("📣 <b>Broadcast #{id}</b>").format(id=broadcast.id),
        f"{segment_text} · {recipients(total, language)}",
        _("✅ sent: {sent} · 🚫 blocked: {blocked} · ⚠️ failed: {failed} · ⏳ left: {left}").format(
            sent=n(progress.sent, language),
            blocked=n(progress.blocked, language),
            failed=n(progress.failed, language),
            left=n(progress.left, language),
        ),
    ]
    if broadcast.status == "done":
        lines.append(_("Finished."))
    elif broadcast.status == "cancelled":
        lines.append(
            _("Cancelled: {count} not sent.").format(count=n(progress.cancelled, language))
        )
    else:
        lines.append(_("Sending…") if broadcast.total else _("Preparing the recipients…"))
    markup = None
    if broadcast.status == "running":
        stop = button(_("⛔ Stop the broadcast"), BroadcastStop(b=broadcast.id))
        markup = InlineKeyboardMarkup(inline_keyboard=[stop])
    return "\n".join(lines), markup


def report_text(broadcast: Broadcast, progress: Progress, language: str, failures: int) -> str:
    title = (
        _("📣 <b>Broadcast #{id} was cancelled</b>")
        if broadcast.status == "cancelled"
        else _("📣 <b>Broadcast #{id} is finished</b>")
    ).format(id=broadcast.id)
    lines = [
        title,
        ngettext(
            "Delivered to {count} person.", "Delivered to {count} people.", progress.sent
        ).format(count=n(progress.sent, language)),
        _("Blocked the bot: {blocked}. Failed: {failed}. Not sent: {cancelled}.").format(
            blocked=n(progress.blocked, language),
            failed=n(progress.failed, language),
            cancelled=n(progress.cancelled, language),
        ),
    ]
    if failures:
        lines.append(_("The attached file lists everyone it did not reach."))
    return "\n".join(lines)


def wizard_keyboard(broadcast_id: int, *actions: tuple[str, str, str]) -> InlineKeyboardMarkup:
    """Buttons (label, action, value) of one wizard step, and Cancel."""
    rows = [button(label, BroadcastStep(b=broadcast_id, action=a, v=v)) for label, a, v in actions]
    rows.append(button(_("✖ Cancel"), BroadcastStep(b=broadcast_id, action="drop")))
    return InlineKeyboardMarkup(inline_keyboard=rows)
