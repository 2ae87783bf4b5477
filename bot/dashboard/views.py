"""The dashboard's request handlers: every data request is signed in and re-checked.

Each request: the `Authorization: tma <initData>` header is verified (401 when missing, forged
or stale), the person's role is read from the database (403 unless staff), then the page is
rendered in their language inside one transaction. Actions call the same services as the
chat, so they are audited the same way; what goes to Telegram goes after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web
from multidict import MultiMapping
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.dashboard import application_page, auth, layout, queries, records, reports, table_page
from bot.dashboard.html import Html
from bot.i18n import _, language_from_telegram
from bot.responder import Responder
from bot.services import booking, export, matching
from db.models import Person
from db.repositories import people as people_repo

log = logging.getLogger(__name__)

STAFF_ROLES = ("staff", "admin")
MARKS = {"attended": "attended", "absent": "no_show", "clear": None}


@dataclass
class Outcome:
    body: Html
    status: int = 200
    # Telegram calls to make once the transaction has committed (the export's document).
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # The page the answer shows, when it is not the one the request came from.
    location: str | None = None


Render = Callable[[AsyncSession, Person, str], Awaitable[Outcome]]


class Dashboard:
    def __init__(self, app: App) -> None:
        self.app = app
        self.max_age = timedelta(minutes=app.settings.dashboard_session_minutes)

    async def respond(self, request: web.Request, render: Render) -> web.Response:
        # The bot's own token: BOT_TOKEN, or in the console chat its local stand-in.
        token = self.app.bot.token
        try:
            init_data = auth.init_data_from_header(request.headers.get("Authorization"))
            visitor = auth.verify(token, init_data, self.app.clock(), self.max_age)
        except auth.NotSignedIn:
            return web.Response(status=401)
        i18n = self.app.i18n
        language = language_from_telegram(visitor.language_code) or "pl"
        try:
            async with self.app.sessionmaker() as session:
                async with session.begin():
                    person = await people_repo.get_by_telegram_id(session, visitor.telegram_id)
                    if person is None or person.role not in STAFF_ROLES:
                        return web.Response(status=403)
                    language = person.language or language
                    with i18n.context(), i18n.use_locale(language):
                        outcome = await render(session, person, language)
                for call in outcome.after_commit:
                    await call()
        except Exception as exc:  # the chat's error router, for the page: nothing half-saved
            log.error("dashboard %s %s failed: %s", request.method, request.path,
                      type(exc).__name__, exc_info=exc)
            with i18n.context(), i18n.use_locale(language):
                outcome = Outcome(layout.failed(), 500)
        headers = {"Content-Language": language}
        if outcome.location:
            headers["X-Dashboard-Location"] = outcome.location
        return web.Response(
            status=outcome.status, text=str(outcome.body), content_type="text/html",
            headers=headers,
        )

    # --- pages -----------------------------------------------------------------------------

    async def applications(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            params: MultiMapping[Any] = await request.post()
        else:
            # Never a search from the address: what staff search for may be a name, and
            # addresses end up in logs. The page's script sends it in the body.
            params = request.query
            params = {k: v for k, v in params.items() if k != "q"}  # type: ignore[assignment]

        async def render(session: AsyncSession, person: Person, language: str) -> Outcome:
            table = await queries.applications(
                session, self.app.programme.id, queries.Filters.read(params)
            )
            return Outcome(table_page.applications_page(table, language))

        return await self.respond(request, render)

    async def application(self, request: web.Request) -> web.Response:
        application_id = _id(request, "id")

        async def render(session: AsyncSession, person: Person, language: str) -> Outcome:
            return await self._application(session, application_id, language)

        return await self.respond(request, render)

    async def _application(
        self, session: AsyncSession, application_id: int | None, language: str,
        message: Html | None = None, status: int = 200,
    ) -> Outcome:
        programme = self.app.programme
        detail = (
            await records.detail(session, application_id, programme.id)
            if application_id is not None
            else None
        )
        if detail is None:
            return Outcome(layout.not_found(), 404)
        hosted = (
            await records.hosted(session, detail.application.id)
            if detail.application.audience == "municipality"
            else []
        )
        return Outcome(
            application_page.application_page(detail, hosted, programme, language, message), status
        )

    async def funnel(self, request: web.Request) -> web.Response:
        async def render(session: AsyncSession, person: Person, language: str) -> Outcome:
            programme_id = self.app.programme.id
            return Outcome(reports.funnel_page(
                await queries.funnel(session, programme_id),
                await queries.regions_by_audience(session, programme_id),
                language,
            ))

        return await self.respond(request, render)

    async def events(self, request: web.Request) -> web.Response:
        async def render(session: AsyncSession, person: Person, language: str) -> Outcome:
            rows = await records.events(session, self.app.programme.id)
            return Outcome(reports.events_page(rows, self.app.clock(), language))

        return await self.respond(request, render)

    # --- actions ---------------------------------------------------------------------------

    async def match(self, request: web.Request) -> web.Response:
        host_id = _id(request, "id")
        form = await request.post()
        intern_id = _number(form.get("intern"))

        async def render(session: AsyncSession, person: Person, language: str) -> Outcome:
            if host_id is None or intern_id is None:
                return await self._application(session, host_id, language)
            try:
                # The chat's own service call (handlers/staff_matching.py): same checks, same
                # notices to both sides, same audit row.
                await matching.match(session, intern_id, host_id, self.app.clock(), actor=person)
            except matching.MatchError as error:
                return await self._application(
                    session, host_id, language, layout.notice(_match_error(error), "error"), 409
                )
            return await self._application(session, host_id, language, layout.notice(
                _("Matched. Both sides will receive each other's details.")
            ))

        return await self.respond(request, render)

    async def unmatch(self, request: web.Request) -> web.Response:
        application_id = _id(request, "id")
        form = await request.post()
        intern_id = _number(form.get("intern"))

        async def render(session: AsyncSession, person: Person, language: str) -> Outcome:
            if application_id is None or intern_id is None:
                return await self._application(session, application_id, language)
            try:
                await matching.unmatch(session, intern_id, self.app.clock(), actor=person)
            except matching.MatchError as error:
                return await self._application(
                    session, application_id, language,
                    layout.notice(_match_error(error), "error"), 409,
                )
            return await self._application(session, application_id, language, layout.notice(
                _("The match has ended. Both sides will be told.")
            ))

        return await self.respond(request, render)

    async def attendance(self, request: web.Request) -> web.Response:
        booking_id = _id(request, "id")
        form = await request.post()
        chosen = [name for name in MARKS if name in form]

        async def render(session: AsyncSession, person: Person, language: str) -> Outcome:
            now = self.app.clock()
            message = None
            status = 200
            if booking_id is None or len(chosen) != 1:
                return Outcome(layout.not_found(), 404)
            try:
                await booking.mark_attendance(
                    session, booking_id, MARKS[chosen[0]], now, actor=person,
                    programme_id=self.app.programme.id,
                )
                message = layout.notice(_("Attendance saved."))
            except booking.BookingError as error:
                if error.code != "not_started":
                    return Outcome(layout.not_found(), 404)
                message = layout.notice(
                    _("Attendance can be marked once the event has started."), "error"
                )
                status = 409
            rows = await records.events(session, self.app.programme.id)
            return Outcome(reports.events_page(rows, now, language, message), status)

        return await self.respond(request, render)

    async def export(self, request: web.Request) -> web.Response:
        form = await request.post()
        fmt = str(form.get("export") or form.get("format") or "xlsx")
        fmt = fmt if fmt in export.FORMATS else "xlsx"

        async def render(session: AsyncSession, person: Person, language: str) -> Outcome:
            # The same file, caption and audit row as /export in the chat.
            made = await export.for_staff(session, self.app.programme, person, fmt)
            responder = Responder(self.app.bot, person.telegram_id)
            responder.document(made.name, made.content, made.caption)
            table = await queries.applications(
                session, self.app.programme.id, queries.Filters()
            )
            body = table_page.applications_page(table, language, layout.notice(
                _("The export is on its way to your chat with the bot.")
            ))
            return Outcome(body, after_commit=[responder.flush], location=layout.PREFIX)

        return await self.respond(request, render)


def _number(value: object) -> int | None:
    text = str(value) if isinstance(value, str | int) else ""
    return int(text) if text.isdigit() and len(text) <= 12 else None


def _id(request: web.Request, name: str) -> int | None:
    return _number(request.match_info.get(name))


def _match_error(error: matching.MatchError) -> str:
    return {
        "already_matched": _("This intern already has a host."),
        "not_eligible": _("Only eligible interns and hosts can be matched."),
        "not_matched": _("This match has already ended."),
        "no_intern": _("There is no such intern (any more)."),
        "no_host": _("There is no such host (any more)."),
    }.get(error.code, _("This cannot be done now."))
