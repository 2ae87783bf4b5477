"""The staff dashboard (bot.dashboard) over HTTP: the production bot and dispatcher, a real
database, Telegram replaced by the fake Bot API server, the page's requests made as its script
makes them (`Authorization: tma <initData>` signed like Telegram's)."""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp
import openpyxl
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot import cli
from bot.app import App, build_app
from bot.dashboard import PathOnlyAccessLog, queries, setup_dashboard
from bot.dashboard.auth import sign_init_data
from bot.programme import PROGRAMMES_DIR
from bot.services import people, pickers
from bot.services.eligibility import Reason
from bot.settings import Settings
from bot.webhook import create_webhook_app
from db.models import Application, AuditLog, Booking, Event, Match, Person
from tests.e2e.conftest import STAFF_ID, TOKEN, FakeClock
from tests.fakes.user import FakeUser

OTHER_TOKEN = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
DASHBOARD_URL = "https://bot.example.org/dashboard/"


@pytest.fixture
async def app(start_bot) -> App:
    return await start_bot(dashboard_url=DASHBOARD_URL)


@pytest.fixture
async def client(app: App) -> AsyncIterator[TestClient]:
    web_app = web.Application()
    setup_dashboard(web_app, app)
    server = TestServer(web_app)
    # The production server's access log (TestClient would start the server with aiohttp's).
    await server.start_server(access_log_class=PathOnlyAccessLog)
    async with TestClient(server) as client:
        yield client


def header(user_id: int = STAFF_ID, *, token: str = TOKEN, now: datetime | None = None,
           language_code: str | None = None) -> dict[str, str]:
    init_data = sign_init_data(token, user_id, language_code=language_code,
                               now=now or datetime.now(UTC))
    return {"Authorization": f"tma {init_data}"}


async def staff(app: App, language: str = "en", telegram_id: int = STAFF_ID) -> Person:
    async with app.sessionmaker() as session, session.begin():
        person = await people.on_contact(session, telegram_id)
        people.set_language(person, language)
        person.role = "staff"
        return person


async def applicant(
    app: App,
    telegram_id: int,
    audience: str,
    *,
    status: str = "eligible",
    place: tuple[str, str] | None = None,
    answers: dict[str, Any] | None = None,
    reasons: list[Reason] | None = None,
) -> Application:
    async with app.sessionmaker() as session, session.begin():
        person = await people.on_contact(session, telegram_id)
        people.set_language(person, "pl" if audience == "municipality" else "uk")
        given = dict(answers or {})
        if place:
            given[place[0]] = await pickers.snapshot(session, *place)
        application = Application(
            person_id=person.id, programme_id=app.programme.id, audience=audience,
            status=status, answers=given, submitted_at=datetime.now(UTC) - timedelta(days=1),
            eligibility_reasons=[r.as_json() for r in reasons] if reasons else None,
        )
        session.add(application)
        await session.flush()
        return application


WADOWICE = ("gmina", "1218093")  # małopolskie
BOLESLAWIEC = ("gmina", "0201011")  # dolnośląskie
BILA_TSERKVA = ("hromada", "UA32020010000093088")  # Kyiv oblast


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)"', html)]


# --- signed in, checked every time ---------------------------------------------------------


async def test_a_request_without_init_data_is_401(app, client) -> None:
    await staff(app)
    response = await client.get("/dashboard/view/")
    assert response.status == 401
    assert await response.text() == ""


async def test_a_forged_init_data_is_401(app, client) -> None:
    await staff(app)
    forged = await client.get("/dashboard/view/", headers=header(token=OTHER_TOKEN))
    assert forged.status == 401 and await forged.text() == ""
    # A genuine signature with the user changed to a staff member's id is forged too.
    genuine = sign_init_data(TOKEN, 12345, now=datetime.now(UTC))
    tampered = genuine.replace("%22id%22%3A12345", f"%22id%22%3A{STAFF_ID}")
    assert tampered != genuine
    response = await client.get("/dashboard/view/", headers={"Authorization": f"tma {tampered}"})
    assert response.status == 401
    for value in ("tma", "tma hash=zz", "Bearer x", "tma " + "é" * 10, "tma hash=é"):
        response = await client.get("/dashboard/view/", headers={"Authorization": value})
        assert response.status == 401, value


async def test_a_stale_init_data_is_401(app, client) -> None:
    await staff(app)
    old = datetime.now(UTC) - timedelta(minutes=app.settings.dashboard_session_minutes + 1)
    response = await client.get("/dashboard/view/", headers=header(now=old))
    assert response.status == 401 and await response.text() == ""
    future = datetime.now(UTC) + timedelta(hours=1)
    assert (await client.get("/dashboard/view/", headers=header(now=future))).status == 401
    fresh = datetime.now(UTC) - timedelta(minutes=app.settings.dashboard_session_minutes - 1)
    assert (await client.get("/dashboard/view/", headers=header(now=fresh))).status == 200


async def test_someone_who_is_not_staff_gets_403(app, client) -> None:
    await applicant(app, 700_001, "municipality", place=WADOWICE)
    for telegram_id in (700_001, 700_999):  # an applicant; someone the bot has never seen
        for path in ("/dashboard/view/", "/dashboard/view/funnel", "/dashboard/view/events"):
            response = await client.get(path, headers=header(telegram_id))
            assert response.status == 403 and await response.text() == "", path
        response = await client.post("/dashboard/view/export", headers=header(telegram_id))
        assert response.status == 403


async def test_the_role_is_read_again_on_every_request(app, client) -> None:
    await staff(app)
    assert (await client.get("/dashboard/view/", headers=header())).status == 200
    async with app.sessionmaker() as session, session.begin():
        await people.set_role(session, STAFF_ID, "user")
    assert (await client.get("/dashboard/view/", headers=header())).status == 403


# --- what it shows ---------------------------------------------------------------------------


async def test_staff_see_the_table_and_filter_it(app, client) -> None:
    await staff(app)
    wadowice = await applicant(app, 700_001, "municipality", place=WADOWICE,
                               answers={"contact_name": "Anna Kowalska"})
    draft = await applicant(app, 700_002, "municipality", place=WADOWICE, status="draft")
    elsewhere = await applicant(app, 700_003, "municipality", place=BOLESLAWIEC)
    intern = await applicant(app, 700_004, "intern", place=BILA_TSERKVA,
                             answers={"full_name": "Olena Shevchenko"})
    response = await client.get("/dashboard/view/", headers=header())
    assert response.status == 200
    html = await response.text()
    assert '<table id="applications">' in html and '<form id="filters"' in html
    assert sorted(row_ids(html)) == sorted([wadowice.id, draft.id, elsewhere.id, intern.id])
    assert f'href="/dashboard/applications/{wadowice.id}"' in html
    assert "Wadowice" in html and "małopolskie" in html
    assert '<option value="12">małopolskie</option>' in html  # a stable code, the name shown
    assert "Kyivska oblast" in html  # an oblast in the reader's language

    async def shown(**form: str) -> list[int]:
        answer = await client.post("/dashboard/view/", data=form, headers=header())
        assert answer.status == 200
        return row_ids(await answer.text())

    assert await shown(audience="host", status="eligible", region="12") == [wadowice.id]
    assert sorted(await shown(audience="host")) == sorted([wadowice.id, draft.id, elsewhere.id])
    assert await shown(audience="intern") == [intern.id]
    assert await shown(q="kowalska") == [wadowice.id]  # search: a name, any case
    assert await shown(q="Bolesławiec") == [elsewhere.id]
    assert await shown(q=str(intern.id)) == [intern.id]
    assert await shown(q="100%_") == []  # LIKE's wildcards are plain characters
    assert await shown(status="nonsense", audience="x", region="';--", sort="x", page="-1")
    ids = await shown(sort="id", dir="asc")
    assert ids == sorted(ids)
    assert await shown(sort="id", dir="desc") == sorted(ids, reverse=True)
    upload = aiohttp.FormData()
    upload.add_field("q", b"x", filename="q.txt")  # a file where a search was expected
    upload.add_field("page", b"2", filename="p.txt")
    response = await client.post("/dashboard/view/", data=upload, headers=header())
    assert response.status == 200 and len(row_ids(await response.text())) == 4
    # A search in the address is ignored: a name must not end up in an address or a log.
    response = await client.get("/dashboard/view/?q=kowalska", headers=header())
    assert len(row_ids(await response.text())) == 4


async def test_the_table_comes_in_pages(app, client, monkeypatch) -> None:
    from bot.dashboard import queries

    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    await staff(app)
    made = [await applicant(app, 700_010 + n, "municipality", place=WADOWICE) for n in range(5)]
    first = await (await client.post("/dashboard/view/", data={"sort": "id", "dir": "asc"},
                                     headers=header())).text()
    assert row_ids(first) == [made[0].id, made[1].id] and 'class="page next"' in first
    third = await (await client.post(
        "/dashboard/view/", data={"sort": "id", "dir": "asc", "page": "3"}, headers=header()
    )).text()
    assert row_ids(third) == [made[4].id] and 'class="page next"' not in third


async def test_one_application_in_the_staff_members_language(app, client) -> None:
    await staff(app, language="pl")
    reason = Reason(texts={"pl": "Za dużo mieszkańców: {value}", "uk": "x", "en": "x"},
                    value=150000, limit=120000, field="stated_population")
    host = await applicant(
        app, 700_001, "municipality", status="ineligible", place=WADOWICE,
        answers={"contact_name": "Anna <b>Kowalska</b>", "partnership_openness": True,
                 "stated_population": 150000},
        reasons=[reason],
    )
    response = await client.get(f"/dashboard/view/applications/{host.id}", headers=header())
    assert response.status == 200
    assert response.headers["Content-Language"] == "pl"
    html = await response.text()
    assert "(czas warszawski)" in html
    answers = html.split('<section id="answers">')[1].split("</section>")[0]
    assert "<dt>Gmina / miasto</dt>" in answers or "Gmina" in answers
    assert "Anna &lt;b&gt;Kowalska&lt;/b&gt;" in answers  # typed text is text, never markup
    assert "<b>Kowalska" not in html
    assert "<dd>Tak</dd>" in answers
    reasons = html.split('<section id="reasons">')[1].split("</section>")[0]
    assert "Za dużo mieszkańców: 150" in reasons
    for section in ("bookings", "messages", "history"):
        assert f'<section id="{section}">' in html
    # An intern's page in English for an English-speaking staff member.
    async with app.sessionmaker() as session, session.begin():
        person = await session.scalar(select(Person).where(Person.telegram_id == STAFF_ID))
        person.language = "en"
    html = await (await client.get(f"/dashboard/view/applications/{host.id}",
                                   headers=header())).text()
    assert "<dd>Yes</dd>" in html


async def test_an_unknown_id_is_a_polite_404(app, client) -> None:
    await staff(app)
    for path in ("/dashboard/view/applications/999999", "/dashboard/view/applications/abc"):
        response = await client.get(path, headers=header())
        assert response.status in (404,), path
        assert "Not found" in await response.text()
    response = await client.post("/dashboard/view/bookings/999999/attendance",
                                 data={"attended": "1"}, headers=header())
    assert response.status == 404 and "Traceback" not in await response.text()


async def test_the_funnel_and_regions_as_charts(app, client) -> None:
    await staff(app)
    await applicant(app, 700_001, "municipality", place=WADOWICE)
    await applicant(app, 700_002, "municipality", place=WADOWICE, status="draft")
    await applicant(app, 700_003, "intern", place=BILA_TSERKVA)
    html = await (await client.get("/dashboard/view/funnel", headers=header())).text()
    funnel = html.split('<section id="funnel">')[1].split("</section>")[0]
    assert funnel.count("<svg") == 2
    # hosts: started 2, submitted 2 (both have a date), eligible 1
    assert re.search(r">started</text><rect[^>]*/?>(</rect>)?<text[^>]*>2<", funnel)
    regions = html.split('<section id="regions">')[1].split("</section>")[0]
    assert "małopolskie" in regions and "<svg" in regions


async def test_the_funnel_counts_seats_attended_and_matches_on_both_sides(app, client) -> None:
    """Attended is a seat marked attended (a waiting-list place marked by mistake is not one);
    a host with two interns is one matched host, and the table lists both interns on its row."""
    await staff(app)
    host = await applicant(app, 700_001, "municipality", place=WADOWICE)
    other_host = await applicant(app, 700_002, "municipality", place=BOLESLAWIEC)
    interns = [
        await applicant(app, 700_010 + i, "intern", place=BILA_TSERKVA,
                        answers={"full_name": name})
        for i, name in enumerate(("Olena Shevchenko", "Taras Melnyk"))
    ]
    async with app.sessionmaker() as session, session.begin():
        event = Event(programme_id=app.programme.id, title={"pl": "Spotkanie", "uk": "Зустріч",
                      "en": "Meeting"}, starts_at=datetime.now(UTC) - timedelta(days=1),
                      capacity=10, seats_taken=1)
        session.add(event)
        await session.flush()
        session.add_all([
            Booking(event_id=event.id, person_id=host.person_id, programme_id=app.programme.id,
                    status="active", attendance="attended"),
            Booking(event_id=event.id, person_id=other_host.person_id,
                    programme_id=app.programme.id, status="waitlisted", attendance="attended"),
        ])
        session.add_all([
            Match(programme_id=app.programme.id, intern_application_id=intern.id,
                  host_application_id=host.id)
            for intern in interns
        ])
    async with app.sessionmaker() as session:
        counts = await queries.funnel(session, app.programme.id)
    assert counts["municipality"] == {"started": 2, "submitted": 2, "eligible": 2,
                                      "booked": 1, "attended": 1, "matched": 1}
    assert counts["intern"] == {"started": 2, "submitted": 2, "eligible": 2,
                                "booked": 0, "attended": 0, "matched": 2}
    html = await (await client.get("/dashboard/view/", headers=header())).text()
    row = html.split(f'<tr data-id="{host.id}">')[1].split("</tr>")[0]
    matched = row.split('<td class="matched">')[1].split("</td>")[0]
    assert "Olena Shevchenko" in matched and "Taras Melnyk" in matched


# --- actions through the chat's services ------------------------------------------------------


async def test_match_and_unmatch_from_the_page_like_the_chat(app, client, tg) -> None:
    await staff(app)
    host = await applicant(app, 700_001, "municipality", place=WADOWICE)
    intern = await applicant(app, 700_002, "intern", place=BILA_TSERKVA,
                             answers={"full_name": "Olena Shevchenko"})
    page = await (await client.get(f"/dashboard/view/applications/{host.id}",
                                   headers=header())).text()
    assert '<form id="match"' in page and f'<option value="{intern.id}">' in page
    assert 'name="match"' in page
    response = await client.post(
        f"/dashboard/view/applications/{host.id}/match",
        data={"intern": str(intern.id), "match": "1"}, headers=header(),
    )
    assert response.status == 200
    html = await response.text()
    assert 'name="unmatch"' in html and "Olena Shevchenko" in html
    async with app.sessionmaker() as session:
        [made] = (await session.scalars(select(Match))).all()
        [row] = (await session.scalars(
            select(AuditLog).where(AuditLog.action == "match.create"))).all()
        actor = await session.get(Person, row.actor_id)
    assert (made.intern_application_id, made.host_application_id) == (intern.id, host.id)
    assert row.target == f"{intern.id}->{host.id}" and actor.telegram_id == STAFF_ID
    table = await (await client.get("/dashboard/view/", headers=header())).text()
    matched = re.search(rf'<tr data-id="{host.id}">.*?</tr>', table).group(0)
    assert "Olena Shevchenko" in matched
    # A second match of the same intern is refused politely.
    again = await client.post(f"/dashboard/view/applications/{host.id}/match",
                              data={"intern": str(intern.id)}, headers=header())
    assert again.status == 409 and "already has a host" in await again.text()
    response = await client.post(f"/dashboard/view/applications/{host.id}/unmatch",
                                 data={"intern": str(intern.id), "unmatch": "1"},
                                 headers=header())
    assert response.status == 200 and 'name="unmatch"' not in await response.text()
    async with app.sessionmaker() as session:
        ended = (await session.scalars(
            select(AuditLog).where(AuditLog.action == "match.end"))).all()
    assert [e.target for e in ended] == [str(intern.id)] and ended[0].actor_id == row.actor_id


async def test_attendance_is_marked_from_the_events_page(app, client, clock: FakeClock) -> None:
    await staff(app)
    host = await applicant(app, 700_001, "municipality", place=WADOWICE)
    async with app.sessionmaker() as session, session.begin():
        event = Event(programme_id=app.programme.id, title={"pl": "Spotkanie", "uk": "Зустріч",
                      "en": "Meeting"}, starts_at=datetime.now(UTC) + timedelta(days=1),
                      capacity=10, seats_taken=1)
        session.add(event)
        await session.flush()
        seat = Booking(event_id=event.id, person_id=host.person_id,
                       programme_id=app.programme.id, status="active")
        session.add(seat)
        await session.flush()
        booking_id = seat.id
    html = await (await client.get("/dashboard/view/events", headers=header())).text()
    assert '<table id="events">' in html and "1 of 10 seats taken" in html
    assert 'name="attended"' not in html  # not started yet
    early = await client.post(f"/dashboard/view/bookings/{booking_id}/attendance",
                              data={"attended": "1"}, headers=header())
    assert early.status == 409
    clock.now = datetime.now(UTC) + timedelta(days=1, hours=1)
    now = clock.now
    html = await (await client.get("/dashboard/view/events",
                                   headers=header(now=now))).text()
    assert 'name="attended"' in html and 'name="absent"' in html
    response = await client.post(f"/dashboard/view/bookings/{booking_id}/attendance",
                                 data={"absent": "1"}, headers=header(now=now))
    assert response.status == 200 and "did not attend" in await response.text()
    async with app.sessionmaker() as session:
        assert (await session.get(Booking, booking_id)).attendance == "no_show"
        [row] = (await session.scalars(
            select(AuditLog).where(AuditLog.action == "event.attendance"))).all()
    assert row.target == f"booking:{booking_id}" and row.detail["to"] == "no_show"
    assert row.actor_id is not None


async def test_export_goes_to_the_staff_members_chat(app, client, tg) -> None:
    await staff(app)
    tg.register_chat(STAFF_ID)
    await applicant(app, 700_001, "municipality", place=WADOWICE)
    response = await client.post("/dashboard/view/export", data={"export": "xlsx"},
                                 headers=header())
    assert response.status == 200 and "on its way" in await response.text()
    assert response.headers["X-Dashboard-Location"] == "/dashboard/"
    [document] = FakeUser(tg, STAFF_ID).documents()
    assert document.file.filename.endswith(".xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(document.file.content))
    assert "Events" in workbook.sheetnames
    async with app.sessionmaker() as session:
        [row] = (await session.scalars(
            select(AuditLog).where(AuditLog.action == "staff.export"))).all()
    assert (row.target, row.count, row.actor_id is not None) == ("xlsx", 1, True)


# --- built to last ---------------------------------------------------------------------------


async def test_every_response_carries_the_security_headers(app, client) -> None:
    await staff(app)
    requests = [
        ("GET", "/dashboard/", {}),
        ("GET", "/dashboard/applications/1", {}),
        ("GET", "/dashboard/static/dashboard.js", {}),
        ("GET", "/dashboard/static/dashboard.css", {}),
        ("GET", "/dashboard/view/", {}),
        ("GET", "/dashboard/view/", header()),
        ("GET", "/dashboard/view/funnel", header()),
        ("GET", "/dashboard/view/events", header()),
        ("GET", "/dashboard/view/applications/999", header()),
        ("GET", "/dashboard/nothing-here", {}),
    ]
    for method, path, headers in requests:
        response = await client.request(method, path, headers=headers, allow_redirects=False)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'none'" in csp and "script-src 'self'" in csp, path
        assert "frame-ancestors https://web.telegram.org" in csp, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        if "/static/" not in path:
            assert response.headers["Cache-Control"] == "no-store", path
    shell = await (await client.get("/dashboard/")).text()
    assert "<script>" not in shell and "style=" not in shell and "http" not in shell.split(
        "<body>")[0].replace('http-equiv', '')
    assert '<script src="/dashboard/static/dashboard.js" defer></script>' in shell
    script = await (await client.get("/dashboard/static/dashboard.js")).text()
    assert "tgWebAppData" in script and "tma " in script and "sessionStorage" in script


async def test_the_init_data_never_reaches_a_log(app, client, canary_logs) -> None:
    await staff(app)
    before = len(canary_logs.lines)
    signed = header()
    secret_hash = parse_qs(signed["Authorization"][4:])["hash"][0]
    await client.get("/dashboard/", headers=signed)
    await client.get("/dashboard/view/", headers=signed)
    await client.post("/dashboard/view/", data={"q": "Kowalska"}, headers=signed)
    await client.get("/dashboard/view/?q=Kowalska", headers=signed)
    lines = canary_logs.lines[before:]
    assert any("/dashboard/view/" in line for line in lines)  # the access log did log
    assert not [line for line in lines if secret_hash in line or "auth_date" in line]
    assert not [line for line in lines if "Kowalska" in line or "127.0.0.1" in line]


async def test_staff_get_the_menu_button_and_lose_it_with_the_role(app, tg, user_factory):
    admin = FakeUser(tg, STAFF_ID, language_code="pl")
    async with app.sessionmaker() as session, session.begin():
        person = await people.on_contact(session, STAFF_ID)
        people.set_language(person, "pl")
        people.record_consent(person, people.PRIVACY_NOTICE_VERSION)
        person.role = "admin"
    tg.register_chat(STAFF_ID)
    newcomer = user_factory("pl")
    async with app.sessionmaker() as session, session.begin():
        person = await people.on_contact(session, newcomer.user_id)
        people.set_language(person, "pl")
        people.record_consent(person, people.PRIVACY_NOTICE_VERSION)
    tg.register_chat(newcomer.user_id)
    assert tg.menu_button(newcomer.user_id) is None
    await admin.send(f"/staff add {newcomer.user_id}")
    button = tg.menu_button(newcomer.user_id)
    assert button["type"] == "web_app" and button["web_app"]["url"] == DASHBOARD_URL
    assert button["text"] == "Panel"
    await admin.send(f"/staff remove {newcomer.user_id}")
    assert tg.menu_button(newcomer.user_id) == {"type": "default"}


async def test_the_menu_buttons_are_synced_at_start(app, tg) -> None:
    from bot.commands import sync_staff_menus

    await staff(app)
    tg.register_chat(STAFF_ID)
    await sync_staff_menus(app.bot, app.i18n, app.sessionmaker, app.settings.dashboard_address)
    assert tg.menu_button(STAFF_ID)["type"] == "web_app"


async def test_a_dashboard_link_works_for_ten_minutes(app, client, clock, capsys) -> None:
    await staff(app)
    args = argparse.Namespace(user_id=STAFF_ID)
    assert await cli.cmd_dashboard_link(app.settings, args) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith(DASHBOARD_URL + "#tgWebAppData=")
    init_data = unquote(urlsplit(link).fragment.split("=", 1)[1])
    signed = {"Authorization": f"tma {init_data}"}
    assert (await client.get("/dashboard/view/", headers=signed)).status == 200
    clock.now = datetime.now(UTC) + timedelta(minutes=9)
    assert (await client.get("/dashboard/view/", headers=signed)).status == 200
    clock.now = datetime.now(UTC) + timedelta(minutes=11)
    assert (await client.get("/dashboard/view/", headers=signed)).status == 401


# --- served by the bot itself -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_mode_serves_the_dashboard_on_the_webhook_server(
    tg, database_url, clock
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    for dashboard_url, expected in ((None, 404), (DASHBOARD_URL, 200)):
        settings = Settings(
            _env_file=None, bot_token=TOKEN, database_url=database_url,
            telegram_api_base=tg.base_url, webhook_url=f"{base}/telegram/webhook",
            webhook_secret="webhook-secret-0123456789", dashboard_url=dashboard_url,
            programme_file=Path(PROGRAMMES_DIR / "demo.toml"),
        )
        async with build_app(settings, clock=clock) as app:
            await staff(app)
            runner = web.AppRunner(create_webhook_app(app), access_log_class=PathOnlyAccessLog)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"{base}/dashboard/") as response:
                        assert response.status == expected
                    async with http.get(f"{base}/dashboard/view/", headers=header()) as response:
                        assert response.status == expected
                    async with http.get(f"{base}/healthz") as response:
                        assert response.status == 200
            finally:
                await runner.cleanup()


async def test_polling_mode_serves_the_dashboard_on_its_own_port(start_bot) -> None:
    from bot.dashboard import start_server

    port = _free_port()
    app = await start_bot(dashboard_url=DASHBOARD_URL, dashboard_port=port,
                          dashboard_host="127.0.0.1")
    await staff(app)
    runner = await start_server(app)
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}/dashboard/"
            async with http.get(base) as response:
                assert response.status == 200 and "dashboard.js" in await response.text()
            async with http.get(base + "view/funnel", headers=header()) as response:
                assert response.status == 200 and 'id="funnel"' in await response.text()
            async with http.get(base + "view/funnel") as response:
                assert response.status == 401
    finally:
        await runner.cleanup()


async def test_two_staff_matching_one_intern_at_once(app, client) -> None:
    """Two hosts' pages, one intern, two presses at the same moment: one match, and the other
    press is told politely (PostgreSQL lets both transactions try; the unique index decides)."""
    await staff(app)
    first = await applicant(app, 700_001, "municipality", place=WADOWICE)
    second = await applicant(app, 700_002, "municipality", place=BOLESLAWIEC)
    intern = await applicant(app, 700_003, "intern", place=BILA_TSERKVA)

    async def press(host: Application) -> int:
        response = await client.post(f"/dashboard/view/applications/{host.id}/match",
                                     data={"intern": str(intern.id)}, headers=header())
        await response.text()
        return response.status

    statuses = await asyncio.gather(press(first), press(second))
    assert sorted(statuses) == [200, 409]
    async with app.sessionmaker() as session:
        assert len((await session.scalars(select(Match))).all()) == 1
        assert len((await session.scalars(
            select(AuditLog).where(AuditLog.action == "match.create"))).all()) == 1


async def test_a_failure_is_a_polite_500_with_nothing_saved(app, client, monkeypatch) -> None:
    from bot.services import matching

    await staff(app)
    host = await applicant(app, 700_001, "municipality", place=WADOWICE)
    intern = await applicant(app, 700_002, "intern", place=BILA_TSERKVA)

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(matching, "_notify", broken)  # after the match row is written
    response = await client.post(f"/dashboard/view/applications/{host.id}/match",
                                 data={"intern": str(intern.id)}, headers=header())
    assert response.status == 500
    html = await response.text()
    assert "Something went wrong" in html and "Traceback" not in html and "RuntimeError" not in html
    async with app.sessionmaker() as session:
        assert (await session.scalars(select(Match))).all() == []
