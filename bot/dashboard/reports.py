"""The funnel and regions as charts, and the events with their seats and attendance."""

from __future__ import annotations

from datetime import datetime

from bot import place_names
from bot.dashboard import queries, records
from bot.dashboard.html import Html, el, join
from bot.dashboard.layout import (
    VIEW,
    event_title,
    moment,
    page,
    who,
)
from bot.dashboard.words import (
    ATTENDANCE,
    BOOKING_STATUSES,
    EVENT_KINDS,
    FUNNEL,
    word,
)
from bot.i18n import _


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
            "Applications at each step: started, submitted, eligible, booked a meeting, "
            "attended, matched. Each bar is counted on its own: a host can be matched without "
            "having come to a meeting."
        )), charts),
        el("section", {"id": "regions"}, el("h2", None, _("Where applications come from")),
           regions),
    )


# --- Events ----------------------------------------------------------------------------------


def events_page(
    rows: list[records.EventRow], now: datetime, language: str, message: Html | None = None
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
            el("td", None, event_title(e, language)),
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
