"""The dashboard's pages as HTML, in the staff member's language (the caller sets the locale)
and in Warsaw time. Everything a person typed goes through `html.text` (escaped)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bot import place_names, reasons
from bot.dashboard import queries
from bot.dashboard.html import Html, el, join
from bot.dashboard.words import (
    APPLICATION_STATUSES,
    ATTENDANCE,
    AUDIENCE,
    AUDIT_ACTIONS,
    BOOKING_STATUSES,
    EVENT_KINDS,
    FUNNEL,
    MESSAGE_KINDS,
    MESSAGE_STATUSES,
    word,
)
from bot.i18n import _, format_number, ngettext, zone_label
from bot.programme import Programme
from db.models import Application, Event

PREFIX = "/dashboard/"
VIEW = "/dashboard/view/"
ZONE = ZoneInfo("Europe/Warsaw")
STATIC_CSS = "/dashboard/static/dashboard.css"
STATIC_JS = "/dashboard/static/dashboard.js"


def moment(value: datetime | None) -> str:
    """Warsaw time, the same way in every language: 2026-06-20 14:00."""
    return value.astimezone(ZONE).strftime("%Y-%m-%d %H:%M") if value else "—"


def shell(sign_in: dict[str, str], forbidden: dict[str, str]) -> Html:
    """The page Telegram opens: no data, only the script that fetches it with the initData.
    The two refusals are written in every language: who is asking is not known yet."""
    return Html(
        "<!doctype html>"
        + el(
            "html",
            {"lang": "pl"},
            el(
                "head",
                None,
                el("meta", {"charset": "utf-8"}),
                el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
                el("title", None, "WIN4UA"),
                el("link", {"rel": "stylesheet", "href": STATIC_CSS}),
                el("script", {"src": STATIC_JS, "defer": True}),
            ),
            el(
                "body",
                None,
                el("div", {"id": "app"}, el("p", {"class": "loading"}, "…")),
                el(
                    "div",
                    {"id": "signin", "hidden": True},
                    [el("p", {"lang": lang}, text) for lang, text in sign_in.items()],
                ),
                el(
                    "div",
                    {"id": "forbidden", "hidden": True},
                    [el("p", {"lang": lang}, text) for lang, text in forbidden.items()],
                ),
            ),
        )
    )


def menu(current: str) -> Html:
    links = [
        ("", _("Applications")),
        ("funnel", _("Funnel")),
        ("events", _("Events")),
    ]
    return el(
        "nav",
        {"id": "menu"},
        [
            el("a", {"href": PREFIX + path, "aria-current": "page" if path == current else None},
               label)
            for path, label in links
        ],
        el(
            "form",
            {"id": "export", "method": "post", "action": VIEW + "export"},
            el("button", {"type": "submit", "name": "export", "value": "xlsx"},
               _("Send the export to my chat")),
        ),
    )


def notice(message: str | None, kind: str = "ok") -> Html | None:
    return el("p", {"class": f"notice {kind}", "role": "status"}, message) if message else None


def page(current: str, title: str, *body: object, message: Html | None = None) -> Html:
    # Every time on the page is Warsaw time, whatever the staff member's language.
    zone = el("p", {"class": "zone"}, zone_label(ZONE.key))
    return join([menu(current), el("main", None, el("h1", None, title), message, *body, zone)])


def not_found() -> Html:
    return page(
        "",
        _("Not found"),
        el("p", None, _("There is no such application, booking or event (any more).")),
        el("p", None, el("a", {"href": PREFIX}, _("Back to the applications"))),
    )


def failed() -> Html:
    return page(
        "",
        _("Something went wrong"),
        el("p", None,
           _("Sorry, something went wrong on our side. Nothing was saved; please try again.")),
    )


# --- Applications ------------------------------------------------------------------------------


def place_of(application: Application, language: str) -> str:
    answers = application.answers or {}
    for key in ("gmina", "powiat", "hromada"):
        value = answers.get(key)
        if isinstance(value, dict):
            return place_names.place_title(value, language)
    return "—"


def region_of(application: Application, language: str) -> str:
    answers = application.answers or {}
    for key, part in (("gmina", "voivodeship"), ("powiat", "voivodeship"), ("hromada", "oblast")):
        value = answers.get(key)
        if isinstance(value, dict) and value.get(part):
            return place_names.region_name(str(value[part]), language)
    return "—"


def who(application: Application | None, language: str) -> str:
    """A name and a place: "Jan Kowalski · Wadowice"."""
    if application is None:
        return "—"
    answers = application.answers or {}
    name = answers.get("full_name") or answers.get("contact_name")
    place = place_of(application, language)
    return " · ".join(str(part) for part in (name, place) if part and part != "—") or (
        f"#{application.id}"
    )


def _title(event: Event, language: str) -> str:
    titles = event.title or {}
    return titles.get(language) or titles.get("en") or next(iter(titles.values()), "")


def _select(name: str, label: str, options: Iterable[tuple[str, str]], chosen: str | None) -> Html:
    return el(
        "label",
        None,
        el("span", None, label),
        el(
            "select",
            {"name": name},
            el("option", {"value": ""}, _("all")),
            [
                el("option", {"value": value, "selected": value == chosen}, text)
                for value, text in options
            ],
        ),
    )


def filters_form(table: queries.Table, language: str) -> Html:
    f = table.filters
    return el(
        "form",
        {"id": "filters", "method": "post", "action": VIEW},
        _select(
            "audience",
            _("Who"),
            [("host", _("hosts")), ("intern", _("interns"))],
            f.audience,
        ),
        _select(
            "status",
            _("Status"),
            [(code, str(APPLICATION_STATUSES[code])) for code in queries.STATUSES],
            f.status,
        ),
        _select(
            "region",
            _("Voivodeship or oblast"),
            [(code, place_names.region_name(name, language)) for code, name, _n in table.regions],
            f.region,
        ),
        el(
            "label",
            None,
            el("span", None, _("Search")),
            el("input", {"type": "search", "name": "q", "value": f.q or "", "maxlength": 100,
                         "placeholder": _("name, place, e-mail or number")}),
        ),
        el("input", {"type": "hidden", "name": "sort", "value": f.sort}),
        el("input", {"type": "hidden", "name": "dir", "value": "desc" if f.descending else "asc"}),
        el("input", {"type": "hidden", "name": "page", "value": "1"}),
        el("button", {"type": "submit"}, _("Show")),
    )


def _sort_link(table: queries.Table, key: str, label: str) -> Html:
    f = table.filters
    descending = not f.descending if f.sort == key else key == "submitted"
    arrow = ("▼" if f.descending else "▲") if f.sort == key else ""
    href = PREFIX + "?" + urlencode({"sort": key, "dir": "desc" if descending else "asc"})
    return el(
        "a",
        {"class": "sort", "href": href, "data-sort": key,
         "data-dir": "desc" if descending else "asc"},
        label,
        el("span", {"class": "arrow"}, arrow) if arrow else None,
    )


def applications_page(table: queries.Table, language: str, message: Html | None = None) -> Html:
    head = [
        ("id", "#"),
        ("audience", _("Who")),
        ("status", _("Status")),
        ("place", _("Gmina, powiat or hromada")),
        ("region", _("Voivodeship or oblast")),
        ("submitted", _("Submitted")),
        (None, _("Booked event")),
        (None, _("Attended")),
        (None, _("Matched with")),
    ]
    rows = [_row(row, language) for row in table.rows]
    f = table.filters
    first = (f.page - 1) * queries.PAGE_SIZE + 1 if table.total else 0
    last = (f.page - 1) * queries.PAGE_SIZE + len(table.rows)
    summary = ngettext(
        "{first}–{last} of {total} application",
        "{first}–{last} of {total} applications",
        table.total,
    ).format(first=first, last=last, total=format_number(table.total, language))
    pager = []
    if f.page > 1:
        pager.append(el("a", {"class": "page", "href": PREFIX, "data-page": f.page - 1},
                        _("← previous")))
    if f.page < table.pages:
        pager.append(el("a", {"class": "page next", "href": PREFIX, "data-page": f.page + 1},
                        _("next →")))
    return page(
        "",
        _("Applications"),
        filters_form(table, language),
        el("p", {"class": "summary"}, summary),
        el(
            "div",
            {"class": "scroll"},
            el(
                "table",
                {"id": "applications"},
                el("thead", None, el("tr", None, [
                    el("th", {"scope": "col"},
                       _sort_link(table, key, label) if key else label)
                    for key, label in head
                ])),
                el("tbody", None, rows) if rows else el(
                    "tbody", None, el("tr", None, el("td", {"colspan": len(head)},
                                                     _("No applications match.")))
                ),
            ),
        ),
        el("p", {"class": "pager"}, pager) if pager else None,
        message=message,
    )


def _row(row: queries.Row, language: str) -> Html:
    a = row.application
    booked: object = "—"
    attended: object = "—"
    if row.booking is not None:
        booking, event = row.booking
        booked = join([
            _title(event, language), " · ", moment(event.starts_at),
            " (" + word(BOOKING_STATUSES, booking.status) + ")" if booking.status != "active"
            else "",
        ])
        attended = word(ATTENDANCE, booking.attendance) if booking.attendance else "—"
    return el(
        "tr",
        {"data-id": a.id},
        el("td", None, el("a", {"class": "open", "href": f"{PREFIX}applications/{a.id}"},
                          f"#{a.id}")),
        el("td", None, word(AUDIENCE, a.audience)),
        el("td", {"class": f"status {a.status}"}, word(APPLICATION_STATUSES, a.status)),
        el("td", None, place_of(a, language)),
        el("td", None, region_of(a, language)),
        el("td", {"class": "when"}, moment(a.submitted_at)),
        el("td", None, booked),
        el("td", None, attended),
        el("td", {"class": "matched"}, who(row.counterpart, language) if row.counterpart else "—"),
    )


# --- One application -------------------------------------------------------------------------


def _answer(programme: Programme, application: Application, question: Any, language: str) -> str:
    value = (application.answers or {}).get(question.id)
    if value is None:
        return "—"
    if isinstance(value, dict):
        return place_names.describe(value, language)
    spec = programme.audience(application.audience)
    return reasons.render_value(spec, question.id, value, language)


def application_page(
    detail: queries.Detail,
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
        _table(
            [_("Event"), _("Starts"), _("Booking"), _("Attended")],
            [
                [_title(e, language), moment(e.starts_at), word(BOOKING_STATUSES, b.status),
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
        _table(
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
        _table(
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
    detail: queries.Detail, hosted: list[tuple[Any, Application]], language: str
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


def _table(header: list[str], rows: list[list[object]], empty: str) -> Html:
    if not rows:
        return el("p", {"class": "empty"}, empty)
    return el("div", {"class": "scroll"}, el(
        "table",
        None,
        el("thead", None, el("tr", None, [el("th", {"scope": "col"}, h) for h in header])),
        el("tbody", None, [el("tr", None, [el("td", None, cell) for cell in row]) for row in rows]),
    ))


# --- Funnel and regions ------------------------------------------------------------------------


def _bars(data: list[tuple[str, int]], label: str, width: int = 640) -> Html:
    """A horizontal bar chart as inline SVG: one bar a line, the number at its end."""
    line, pad, text_width = 26, 4, 210
    top = max((n for _name, n in data), default=0) or 1
    height = line * max(len(data), 1)
    bars = []
    for index, (name, n) in enumerate(data):
        y = index * line
        length = round((width - text_width - 60) * n / top)
        bars.append(join([
            el("text", {"x": text_width - 8, "y": y + line - 9, "text-anchor": "end"}, name),
            el("rect", {"x": text_width, "y": y + pad, "width": max(length, 1),
                        "height": line - 2 * pad, "rx": 3}),
            el("text", {"x": text_width + length + 6, "y": y + line - 9}, str(n)),
        ]))
    return el(
        "svg",
        {"class": "chart", "role": "img", "aria-label": label,
         "viewBox": f"0 0 {width} {height}", "xmlns": "http://www.w3.org/2000/svg"},
        el("title", None, label),
        bars,
    )


def funnel_page(
    funnel: dict[str, dict[str, int]], by_region: dict[str, list[tuple[str, int]]], language: str
) -> Html:
    charts = []
    for audience, heading in (("municipality", _("Hosts")), ("intern", _("Interns"))):
        steps = [(str(FUNNEL[step]), funnel[audience][step]) for step in queries.FUNNEL_STEPS]
        charts.append(el("figure", None, el("figcaption", None, heading),
                         _bars(steps, heading)))
    regions = []
    for audience, heading in (
        ("municipality", _("Host applications per voivodeship")),
        ("intern", _("Intern applications per oblast")),
    ):
        data = [(place_names.region_name(name, language), n) for name, n in by_region[audience]]
        regions.append(el("figure", None, el("figcaption", None, heading),
                          _bars(data, heading) if data else el("p", None, _("None yet."))))
    return page(
        "funnel",
        _("Funnel"),
        el("section", {"id": "funnel"}, el("p", None, _(
            "Applications that got at least this far: started → submitted → eligible → booked "
            "a meeting → attended → matched."
        )), charts),
        el("section", {"id": "regions"}, el("h2", None, _("Where applications come from")),
           regions),
    )


# --- Events ----------------------------------------------------------------------------------


def events_page(
    rows: list[queries.EventRow], now: datetime, language: str, message: Html | None = None
) -> Html:
    body = []
    for row in rows:
        e = row.event
        seats = (
            _("{taken} of {capacity} seats taken").format(taken=e.seats_taken, capacity=e.capacity)
            if e.capacity is not None
            else _("{taken} booked, no seat limit").format(taken=e.seats_taken)
        )
        entries = []
        for booking, application in row.entries:
            cells: list[object] = [
                who(application, language), word(BOOKING_STATUSES, booking.status),
                word(ATTENDANCE, booking.attendance) if booking.attendance else "—",
            ]
            if booking.status == "active" and e.starts_at <= now and e.status == "scheduled":
                cells.append(el(
                    "form",
                    {"class": "attendance", "method": "post",
                     "action": f"{VIEW}bookings/{booking.id}/attendance"},
                    el("button", {"type": "submit", "name": "attended", "value": "1"},
                       _("attended")),
                    el("button", {"type": "submit", "name": "absent", "value": "1"},
                       _("did not attend")),
                ))
            else:
                cells.append("")
            entries.append(el("tr", {"data-booking": booking.id},
                              [el("td", None, cell) for cell in cells]))
        body.append(el(
            "tr",
            {"data-event": e.id, "class": "event " + e.status},
            el("td", None, _title(e, language)),
            el("td", None, word(EVENT_KINDS, e.kind)),
            el("td", {"class": "when"}, moment(e.starts_at)),
            el("td", None, seats),
            el("td", None, str(row.waiting)),
            el("td", None, _("cancelled") if e.status == "cancelled" else ""),
        ))
        if entries:
            body.append(el("tr", {"class": "people"}, el("td", {"colspan": 6}, el(
                "table", {"class": "bookings"}, el("tbody", None, entries)
            ))))
    return page(
        "events",
        _("Events"),
        el("div", {"class": "scroll"}, el(
            "table",
            {"id": "events"},
            el("thead", None, el("tr", None, [
                el("th", {"scope": "col"}, h)
                for h in (_("Event"), _("Kind"), _("Starts"), _("Seats"), _("Waiting"), "")
            ])),
            el("tbody", None, body) if body else el("tbody", None, el(
                "tr", None, el("td", {"colspan": 6}, _("No events yet.")))),
        )),
        message=message,
    )
