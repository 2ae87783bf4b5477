"""The staff dashboard in a real browser (issue 19, item 6).

The production App (Telegram replaced by the fake Bot API server) on a real database, applications
made by the bot's own services (tests/browser/seeding.py), the dashboard on a free localhost port
in this test's event loop, and Debian's headless chromium, driven by Selenium in a thread,
opening the link `python -m bot dashboard-link` prints. A staff member filters the table to
eligible hosts in małopolskie, searches for one by its gmina, opens it, matches an intern to it
and finds the match in the table, then marks someone absent from yesterday's meeting; the
database shows the match, the attendance and their audit entries. A forged link shows the
sign-in notice and an applicant's own (genuinely signed) link the staff-only one, and no data.

Screenshots of the table, one application, the funnel, the events and the table at a phone's
width go to build/screenshots/ (SCREENSHOTS_DIR overrides it); `make screenshots` copies them
into docs/ for the README.
"""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Application, AuditLog, Booking, Match
from tests.browser import chromium, harness, seeding
from tests.fakes.telegram_server import FakeTelegram

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS_DIR", ROOT / "build" / "screenshots"))
WAIT = 15  # seconds for the page to show what it fetched (a loaded CI machine is slow)
ROWS = "table#applications tr[data-id]"


def _wait(driver: Any, condition: Any, message: str) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page replaces its content as answers come: an element found a moment ago may be gone.
    wait = WebDriverWait(driver, WAIT, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition, message)


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _row_ids(driver: Any) -> set[int]:
    ids = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), r => r.dataset.id)", ROWS)
    return {int(i) for i in ids}


def _menu(driver: Any, href_end: str) -> None:
    """Follow a link of the dashboard's menu, as a person taps it."""
    for link in _css(driver, "nav#menu a"):
        if (link.get_attribute("href") or "").rstrip("/").endswith(href_end.rstrip("/")):
            link.click()
            return
    raise AssertionError(f"no menu link to {href_end!r}")


def _choose(select: Any, *, value: str | None = None, text: str | None = None) -> str:
    from selenium.webdriver.support.ui import Select

    chooser = Select(select)
    if value is not None:
        chooser.select_by_value(value)
    else:
        chooser.select_by_visible_text(text or "")
    return str(chooser.first_selected_option.get_attribute("value"))


def _browse(served: harness.Served, seeded: seeding.Seeded, now: datetime,
            expected_hosts: set[int], known: dict[str, Any]) -> dict[str, Any]:
    """The whole visit, in the browser (synchronous: runs in a thread). Returns what the
    database should now hold."""
    shots: dict[str, Path] = {}
    with chromium.chromium(chromium.DESKTOP) as driver:
        driver.get(served.link(seeded.staff_telegram_id, now))
        _wait(driver, lambda d: len(_css(d, ROWS)) > 0, "the table never showed rows")
        everyone = _row_ids(driver)
        assert len(everyone) > len(expected_hosts), "the unfiltered table shows everyone"
        shots["table"] = chromium.screenshot(driver, SCREENSHOTS / "dashboard-table.png",
                                             full_page=False)

        # Eligible hosts in małopolskie.
        form = _css(driver, "form#filters")[0]
        _choose(form.find_element("css selector", "select[name=audience]"), value="host")
        _choose(form.find_element("css selector", "select[name=status]"), value="eligible")
        _choose(form.find_element("css selector", "select[name=region]"),
                text=seeding.MALOPOLSKIE)
        form.find_element("css selector", "button[type=submit]").click()
        _wait(driver, lambda d: _row_ids(d) == expected_hosts,
              f"the filtered table never showed exactly the hosts {sorted(expected_hosts)}")
        for row in _css(driver, ROWS):
            assert seeding.MALOPOLSKIE in row.text, row.text

        # One of them, not matched yet, found by its gmina's name (the search is POSTed: no
        # name in the address).
        host_id = seeded.free_malopolskie_hosts[0]
        form = _css(driver, "form#filters")[0]  # the page drew a new one with the answer
        search = form.find_element("css selector", "input[name=q]")
        search.clear()
        search.send_keys(known["place"])
        form.find_element("css selector", "button[type=submit]").click()
        _wait(driver, lambda d: host_id in _row_ids(d) and _row_ids(d) < expected_hosts,
              f"searching for the host's gmina did not narrow the table to #{host_id}")
        assert known["place"] not in driver.current_url

        # Its answers, reasons, bookings, messages and history.
        row = _css(driver, f'{ROWS}[data-id="{host_id}"]')[0]
        before = row.text
        row.find_element("css selector", "a.open").click()
        _wait(driver, lambda d: _css(d, "section#answers"), "the application never opened")
        for section in ("answers", "reasons", "bookings", "messages", "history"):
            assert _css(driver, f"section#{section}"), f"no section#{section}"
        assert seeding.MALOPOLSKIE in _css(driver, "section#answers")[0].text

        # Match an intern to it.
        match_form = _css(driver, "form#match")[0]
        chooser = match_form.find_element("css selector", "select[name=intern]")
        intern_id = int(_choose(chooser, value=str(seeded.free_interns[0])))
        intern_label = chooser.find_element(
            "css selector", f'option[value="{intern_id}"]').text.strip()
        match_form.find_element("css selector", "button[name=match]").click()
        _wait(driver, lambda d: not _css(d, 'form#match select[name=intern] '
                                            f'option[value="{intern_id}"]'),
              "the matched intern is still offered")
        shots["application"] = chromium.screenshot(
            driver, SCREENSHOTS / "dashboard-application.png")
        driver.set_window_size(*chromium.DESKTOP)

        # The table names the intern in the host's row.
        _menu(driver, "/dashboard/")
        _wait(driver, lambda d: _css(d, f'{ROWS}[data-id="{host_id}"]'),
              "the host is not in the table after the match")
        after = _css(driver, f'{ROWS}[data-id="{host_id}"]')[0].text
        intern_name = re.sub(r"^#\d+\s+", "", intern_label).split(" · ")[0].strip()
        assert intern_name and intern_name in after and intern_name not in before, (
            f"the row should name {intern_label!r}: {after!r}")

        # The funnel and the regions.
        _menu(driver, "/dashboard/funnel")
        _wait(driver, lambda d: _css(d, "section#funnel svg"), "no funnel chart")
        assert _css(driver, "section#regions")
        shots["funnel"] = chromium.screenshot(driver, SCREENSHOTS / "dashboard-funnel.png")

        # The events with their seats and waiting lists.
        driver.set_window_size(*chromium.DESKTOP)
        _menu(driver, "/dashboard/events")
        _wait(driver, lambda d: _css(d, "table#events tr"), "no events table")
        shots["events"] = chromium.screenshot(driver, SCREENSHOTS / "dashboard-events.png")
        driver.set_window_size(*chromium.DESKTOP)

        # Staff record that someone booked on yesterday's meeting did not come.
        entry = _css(driver, f'tr[data-booking="{known["booking"]}"]')[0]
        entry.find_element("css selector", "form.attendance button[name=absent]").click()
        _wait(driver, lambda d: _css(d, "p.notice"), "marking attendance said nothing")

    # A phone's width: the page Telegram opens on a phone.
    with chromium.chromium(chromium.PHONE) as driver:
        driver.get(served.link(seeded.staff_telegram_id, now))
        _wait(driver, lambda d: _css(d, ROWS), "the table never showed rows on a phone")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        shots["phone"] = chromium.screenshot(driver, SCREENSHOTS / "dashboard-phone.png",
                                             full_page=False)

    # A forged link, in a browser of its own: the sign-in notice, no table, not one name.
    with chromium.chromium(chromium.PHONE) as driver:
        forged = served.link(seeded.staff_telegram_id, now, token="123456789:" + "x" * 35)
        driver.get(forged)
        _wait(driver, lambda d: _css(d, "#signin") and _css(d, "#signin")[0].is_displayed(),
              "a forged link did not show the sign-in notice")
        assert not _css(driver, "table#applications"), "a forged link showed the table"
        shown = driver.find_element("css selector", "body").text
        assert intern_name not in shown and seeding.MALOPOLSKIE not in shown

        # A genuine link of someone who is not staff (an applicant): "for staff", no data.
        driver.get("about:blank")
        driver.get(served.link(seeding.FIRST_TELEGRAM_ID, now))
        _wait(driver,
              lambda d: _css(d, "#forbidden") and _css(d, "#forbidden")[0].is_displayed(),
              "an applicant's link did not show the staff-only notice")
        assert not _css(driver, "table#applications"), "an applicant saw the table"
        shown = driver.find_element("css selector", "body").text
        assert intern_name not in shown and seeding.MALOPOLSKIE not in shown

    return {"host_id": host_id, "intern_id": intern_id, "shots": shots,
            "phone_overflow": overflow}


async def _attendance_audits(session: Any, booking_id: int) -> list[AuditLog]:
    return list((await session.scalars(
        select(AuditLog).where(AuditLog.action == "event.attendance",
                               AuditLog.target == f"booking:{booking_id}").order_by(AuditLog.id)
    )).all())


async def test_staff_filter_open_match_and_see_it_in_the_table(
    tg: FakeTelegram, database_url: str
) -> None:
    now = datetime.now(UTC)
    async with harness.serve(database_url, tg.base_url,
                             staff_ids=[seeding.STAFF_TELEGRAM_ID]) as served:
        seeded = await seeding.seed(served.app.sessionmaker, served.app.programme,
                                    applications=48, now=now)
        assert seeded.free_malopolskie_hosts and seeded.free_interns, seeded.summary()
        expected = set(seeded.malopolskie_hosts)
        async with served.app.sessionmaker() as session:
            host = await session.get(Application, seeded.free_malopolskie_hosts[0])
            assert host is not None
            booked = await session.scalar(
                select(Booking).where(Booking.event_id == seeded.events[0],
                                      Booking.status == "active").order_by(Booking.id))
            assert booked is not None
            known = {"place": host.answers["gmina"]["name"], "booking": booked.id}
            marked_before = await _attendance_audits(session, booked.id)
        visit = await asyncio.to_thread(_browse, served, seeded, now, expected, known)

        async with served.app.sessionmaker() as session:
            matches = (await session.scalars(
                select(Match).where(Match.host_application_id == visit["host_id"],
                                    Match.ended_at.is_(None))
            )).all()
            assert [m.intern_application_id for m in matches] == [visit["intern_id"]]
            staff_audit = (await session.scalars(
                select(AuditLog).where(AuditLog.action == "match.create",
                                       AuditLog.target == f"{visit['intern_id']}->"
                                                         f"{visit['host_id']}")
            )).all()
            assert len(staff_audit) == 1 and staff_audit[0].actor_id is not None
            host = await session.get(Application, visit["host_id"])
            assert host is not None and host.status == "eligible"
            booked = await session.get(Booking, known["booking"])
            assert booked is not None and booked.attendance == "no_show"
            marked = await _attendance_audits(session, known["booking"])
            assert len(marked) == len(marked_before) + 1 and marked[-1].actor_id is not None

    assert visit["phone_overflow"] <= 0, "the page is wider than a phone"
    for path in visit["shots"].values():
        assert path.stat().st_size > 5_000, f"{path} looks empty"
