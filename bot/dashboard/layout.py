"""What every dashboard page shares: the shell, the menu, the frame, names and times.

Pages are in the staff member's language (the caller sets the locale) and in Warsaw time.
Everything a person typed goes through `html.text` (escaped)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot import place_names
from bot.dashboard.html import Html, el, join
from bot.i18n import _, zone_label
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
                # No favicon: without this line every page costs a request that ends in 404.
                el("link", {"rel": "icon", "href": "data:,"}),
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


def event_title(event: Event, language: str) -> str:
    titles = event.title or {}
    return titles.get(language) or titles.get("en") or next(iter(titles.values()), "")


def data_table(header: list[str], rows: list[list[object]], empty: str) -> Html:
    if not rows:
        return el("p", {"class": "empty"}, empty)
    return el("div", {"class": "scroll"}, el(
        "table",
        None,
        el("thead", None, el("tr", None, [el("th", {"scope": "col"}, h) for h in header])),
        el("tbody", None, [el("tr", None, [el("td", None, cell) for cell in row]) for row in rows]),
    ))
