"""One application: answers, reasons, bookings, messages, history, matching."""

from __future__ import annotations

from typing import Any

from bot import place_names, reasons
from bot.dashboard import records
from bot.dashboard.html import Html, el, join
from bot.dashboard.layout import (
    PREFIX,
    VIEW,
    data_table,
    event_title,
    moment,
    page,
    who,
)
from bot.dashboard.words import (
    APPLICATION_STATUSES,
    ATTENDANCE,
    AUDIENCE,
    AUDIT_ACTIONS,
    BOOKING_STATUSES,
    MESSAGE_KINDS,
    MESSAGE_STATUSES,
    word,
)
from bot.i18n import _
from bot.programme import Programme
from db.models import Application


def _answer(programme: Programme, application: Application, question: Any, language: str) -> str:
    value = (application.answers or {}).get(question.id)
    if value is None:
        return "—"
    if isinstance(value, dict):
        return place_names.describe(value, language)
    spec = programme.audience(application.audience)
    return reasons.render_value(spec, question.id, value, language)


def application_page(
    detail: records.Detail,
    hosted: list[tuple[Any, Application]],
    programme: Programme,
    language: str,
    message: Html | None = None,
) -> Html:
    a, person = detail.application, detail.person
    spec = programme.audience(a.audience)
    answers = el(
        "section",
        {"id": "answers"},
        el("h2", None, _("Answers")),
        el("dl", None, [
            [
                el("dt", None, (q.label or q.text).get(language)),
                el("dd", None, _answer(programme, a, q, language)),
            ]
            for q in spec.questions
        ]),
    )
    stored = reasons.stored_reasons(a.eligibility_reasons)
    why = el(
        "section",
        {"id": "reasons"},
        el("h2", None, _("Eligibility")),
        el("p", None, word(APPLICATION_STATUSES, a.status)),
        el("p", {"class": "review"}, _("Check the population: no official figure.")
           ) if a.needs_review else None,
        el("ul", None, [
            el("li", None, reasons.render_reason(spec, r, language, markup=False)) for r in stored
        ]) if stored else el("p", None, _("No reasons recorded.")),
    )
    bookings = el(
        "section",
        {"id": "bookings"},
        el("h2", None, _("Bookings")),
        data_table(
            [_("Event"), _("Starts"), _("Booking"), _("Attended")],
            [
                [event_title(e, language), moment(e.starts_at), word(BOOKING_STATUSES, b.status),
                 word(ATTENDANCE, b.attendance) if b.attendance else "—"]
                for b, e in detail.bookings
            ],
            _("No bookings."),
        ),
    )
    messages = el(
        "section",
        {"id": "messages"},
        el("h2", None, _("Messages sent to this person")),
        data_table(
            [_("What"), _("Due"), _("Sent"), _("Status")],
            [
                [word(MESSAGE_KINDS, m.kind), moment(m.due_at), moment(m.sent_at),
                 word(MESSAGE_STATUSES, m.status)]
                for m in detail.messages
            ],
            _("No messages."),
        ),
    )
    history = el(
        "section",
        {"id": "history"},
        el("h2", None, _("History")),
        data_table(
            [_("When"), _("What"), _("Who"), _("Detail")],
            [
                [moment(row.created_at), word(AUDIT_ACTIONS, row.action),
                 str(actor.telegram_id) if actor else "—",
                 (row.target or "") + ("" if row.allowed else " ✖")]
                for row, actor in detail.history
            ],
            _("Nothing yet."),
        ),
    )
    facts = el("p", {"class": "facts"}, join([
        word(AUDIENCE, a.audience), " · ", word(APPLICATION_STATUSES, a.status), " · ",
        _("started {when}").format(when=moment(a.created_at)), " · ",
        _("submitted {when}").format(when=moment(a.submitted_at)),
        " · " + _("unreachable since {when}").format(when=moment(person.blocked_at))
        if person.blocked_at else "",
    ]))
    return page(
        "applications",
        _("Application #{id}: {who}").format(id=a.id, who=who(a, language)),
        facts,
        _matching(detail, hosted, language),
        answers, why, bookings, messages, history,
        message=message,
    )


def _matching(
    detail: records.Detail, hosted: list[tuple[Any, Application]], language: str
) -> Html | None:
    a = detail.application
    base = f"{VIEW}applications/{a.id}/"
    if a.audience == "intern":
        if detail.counterpart is None:
            return el("section", {"id": "matching"}, el("h2", None, _("Match")),
                      el("p", None, _("No host yet.")))
        return el(
            "section",
            {"id": "matching"},
            el("h2", None, _("Match")),
            _unmatch_form(base, a.id, detail.counterpart, language),
        )
    parts: list[object] = [el("h2", None, _("Match"))]
    for _match, intern in hosted:
        parts.append(_unmatch_form(base, intern.id, intern, language))
    if a.status != "eligible":
        parts.append(el("p", None, _("Only an eligible host can be matched.")))
    elif not detail.candidates:
        parts.append(el("p", None, _("Every eligible intern has a host.")))
    else:
        parts.append(el(
            "form",
            {"id": "match", "method": "post", "action": base + "match"},
            el("label", None, el("span", None, _("Intern")), el(
                "select",
                {"name": "intern", "required": True},
                [el("option", {"value": i.id}, f"#{i.id} " + who(i, language))
                 for i in detail.candidates],
            )),
            el("button", {"type": "submit", "name": "match", "value": "1"},
               _("Assign this intern")),
        ))
    return el("section", {"id": "matching"}, parts)


def _unmatch_form(base: str, intern_id: int, counterpart: Application, language: str) -> Html:
    return el(
        "form",
        {"class": "unmatch", "method": "post", "action": base + "unmatch"},
        el("input", {"type": "hidden", "name": "intern", "value": intern_id}),
        el("span", None, _("Matched with:") + " ",
           el("a", {"href": f"{PREFIX}applications/{counterpart.id}"},
              f"#{counterpart.id} " + who(counterpart, language))),
        el("button", {"type": "submit", "name": "unmatch", "value": "1"}, _("End this match")),
    )
