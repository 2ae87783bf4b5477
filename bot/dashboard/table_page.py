"""The applications table: filters, sortable headers, pages of rows."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from bot import place_names
from bot.dashboard import queries
from bot.dashboard.html import Html, el, join
from bot.dashboard.layout import (
    PREFIX,
    VIEW,
    event_title,
    moment,
    page,
    place_of,
    region_of,
    who,
)
from bot.dashboard.words import (
    APPLICATION_STATUSES,
    ATTENDANCE,
    AUDIENCE,
    BOOKING_STATUSES,
    word,
)
from bot.i18n import _, format_number, ngettext


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
            event_title(event, language), " · ",
            el("span", {"class": "when"}, moment(event.starts_at)),
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
        el("td", {"class": "matched"},
           join([who(c, language) for c in row.counterparts], "; ") or "—"),
    )
