"""The staff dashboard with thousands of applications, in Debian's headless chromium: what the
first load weighs and how long the table takes to appear.

A fresh database (a temporary SQLite file, or a throwaway PostgreSQL database on the server of
`--database-url`) is prepared as a deploy prepares it (migrations, reference data), then
`--applications` people apply through the bot's own services (tests/browser/seeding.py: hosts
and interns over every voivodeship and oblast, drafts, ineligible ones, bookings, attendance,
matches). The production App (Telegram replaced by the fake Bot API server) serves the dashboard
on a free localhost port in this process, as the bot does; chromium (`make browser`) opens the
link `python -m bot dashboard-link` prints, `--runs` times, each as a first visit (the browser's
cache disabled through the DevTools protocol), and then the funnel page the same way.

Progress goes to stderr; the last line on stdout is one JSON object:

  applications, seeded      how many, and the seed's spread (statuses, audiences, regions,
                            bookings, attendance, matches); seed_s how long seeding took
  table.rows                rows the first page of the table shows
  table.bytes               page weight: bytes transferred on the first load (the Resource
                            Timing API's transferSize: headers and bodies, as sent) of the
                            shell page, its script, its style sheet and the data it fetches;
                            table.bytes_by_url the same per request (ids only, no data),
                            table.body_bytes the bodies alone, decoded
  table.render_ms           from navigation start to the table's rows being in the document
                            (a MutationObserver installed before any of the page's own code,
                            through DevTools' Page.addScriptToEvaluateOnNewDocument, notes
                            `performance.now()` when `table#applications tr[data-id]` first
                            exists); painted_ms: the next animation frame after that, i.e.
                            the first frame that can show it; median, min and max of the runs
  table.server_ms           the server's time for the table's data request: time to first byte
                            of GET /dashboard/view/ as the browser saw it (requestStart →
                            responseStart, localhost), median of the runs; and server_direct_ms,
                            the same request made `--runs` times from this process with
                            aiohttp, whole response, median
  funnel.*                  the same for /dashboard/funnel (its chart: `section#funnel svg`)
  database, load_avg, commit

    .venv/bin/python bench/dashboard.py                              # 3,000 applications, SQLite
    .venv/bin/python bench/dashboard.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/dashboard.py` puts bench/ first, not the project
    sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.settings import normalise_database_url  # noqa: E402
from tests.browser import chromium, harness, seeding  # noqa: E402
from tests.fakes.telegram_server import FakeTelegram  # noqa: E402

# Installed before the page's own script runs: notes when each watched element first exists.
OBSERVER = """
(() => {
  const watched = {table: 'table#applications tr[data-id]', funnel: 'section#funnel svg'};
  const marks = {};
  window.__benchMarks = marks;
  const check = () => {
    for (const [name, selector] of Object.entries(watched)) {
      if (marks[name] === undefined && document.querySelector(selector)) {
        marks[name] = performance.now();
        marks[name + '_rows'] = document.querySelectorAll(selector).length;
        requestAnimationFrame(() => { marks[name + '_painted'] = performance.now(); });
      }
    }
  };
  new MutationObserver(check).observe(document, {childList: true, subtree: true});
})();
"""

COLLECT = """
const nav = performance.getEntriesByType('navigation')[0];
const entries = [nav, ...performance.getEntriesByType('resource')];
return {
  marks: window.__benchMarks || {},
  entries: entries.map(e => ({
    url: e.name, type: e.initiatorType || 'navigation', transfer: e.transferSize,
    encoded: e.encodedBodySize, decoded: e.decodedBodySize,
    request_start: e.requestStart, response_start: e.responseStart,
    response_end: e.responseEnd})),
  dom_content_loaded: nav.domContentLoadedEventEnd,
  load: nav.loadEventEnd,
};
"""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def database(url: str | None) -> AsyncIterator[str]:
    """A fresh SQLite file, or a throwaway PostgreSQL database on the server of `url`."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="win4ua-dashboard-") as directory:
            yield f"sqlite+aiosqlite:///{directory}/bench.db"
        return
    url = normalise_database_url(url)
    if not url.startswith("postgresql"):
        raise SystemExit("--database-url: a PostgreSQL server (the SQLite file is made here)")
    import asyncpg

    parts = make_url(url)
    params = {"host": parts.host, "port": parts.port or 5432, "user": parts.username,
              "password": parts.password, "database": parts.database}
    name = f"win4ua_dashboard_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(**params)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield parts.set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(**params)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _path(url: str) -> str:
    return urlsplit(url).path


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1) if values else 0.0


def _visit(link: str, mark: str, view_path: str, runs: int) -> dict[str, Any]:
    """Open `link` `runs` times as a first visit; synchronous (runs in a thread)."""
    from selenium.webdriver.support.ui import WebDriverWait

    loads: list[dict[str, Any]] = []
    with chromium.chromium(chromium.DESKTOP) as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER})
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        for _ in range(runs):
            driver.get("about:blank")
            driver.get(link)
            WebDriverWait(driver, 60, poll_frequency=0.02).until(
                lambda d: d.execute_script(
                    f"return (window.__benchMarks || {{}})['{mark}_painted'] !== undefined"),
                f"{mark}: never appeared",
            )
            loads.append(driver.execute_script(COLLECT))
    first = loads[0]
    entries = first["entries"]
    views = [[e for e in load["entries"] if _path(e["url"]) == view_path] for load in loads]
    if not all(views):
        raise RuntimeError(f"no request for {view_path} seen: {[e['url'] for e in entries]}")
    return {
        ("rows" if mark == "table" else "charts"): first["marks"].get(f"{mark}_rows"),
        "bytes": sum(int(e["transfer"]) for e in entries),
        "body_bytes": sum(int(e["decoded"]) for e in entries),
        "bytes_by_url": {_path(e["url"]): int(e["transfer"]) for e in entries},
        "render_ms": _median([load["marks"][mark] for load in loads]),
        "render_ms_min_max": [round(min(load["marks"][mark] for load in loads), 1),
                              round(max(load["marks"][mark] for load in loads), 1)],
        "painted_ms": _median([load["marks"][f"{mark}_painted"] for load in loads]),
        "server_ms": _median([v[-1]["response_start"] - v[-1]["request_start"] for v in views]),
        "dom_content_loaded_ms": _median([load["dom_content_loaded"] for load in loads]),
    }


async def _direct(base_url: str, path: str, init_data: str, runs: int) -> float:
    """The view request from this process, whole response: the server's own time, median."""
    times: list[float] = []
    async with ClientSession() as client:
        for _ in range(runs):
            started = time.perf_counter()
            async with client.get(base_url + path,
                                  headers={"Authorization": f"tma {init_data}"}) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{path}: HTTP {response.status}")
            times.append((time.perf_counter() - started) * 1000)
    return _median(times)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bot.dashboard.auth import sign_init_data

    load_start = os.getloadavg()[0]
    missing = chromium.missing()
    if missing:
        raise SystemExit(f"no browser: {missing}")
    async with database(args.database_url) as url, FakeTelegram() as tg, harness.serve(
        url, tg.base_url, staff_ids=[seeding.STAFF_TELEGRAM_ID]
    ) as served:
        backend = served.app.engine.dialect.name
        say(f"seeding {args.applications} applications into {backend}…")
        now = datetime.now(UTC)
        started = time.perf_counter()
        seeded = await seeding.seed(served.app.sessionmaker, served.app.programme,
                                    applications=args.applications, now=now, seed=args.seed)
        seed_s = time.perf_counter() - started
        say(f"seeded in {seed_s:.1f} s: {seeded.summary()}")
        results: dict[str, Any] = {}
        for name, page, view in (("table", "/dashboard/", "/dashboard/view/"),
                                 ("funnel", "/dashboard/funnel", "/dashboard/view/funnel")):
            link = served.link(seeded.staff_telegram_id, datetime.now(UTC), path=page)
            say(f"{name}: {args.runs} first loads in chromium…")
            results[name] = await asyncio.to_thread(_visit, link, name, view, args.runs)
            init_data = sign_init_data(harness.TOKEN, seeded.staff_telegram_id,
                                       language_code="pl", now=datetime.now(UTC))
            results[name]["server_direct_ms"] = await _direct(
                served.base_url, view, init_data, args.runs)
            say(f"{name}: {results[name]}")
    return {
        "applications": args.applications,
        "database": backend,
        "seeded": seeded.summary(),
        "seed_s": round(seed_s, 1),
        **results,
        "runs": args.runs,
        "load_avg": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "commit": commit(),
    }


def commit() -> str:
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "bot", "db", "handlers"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=3000)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--runs", type=int, default=5, help="first loads of each page")
    parser.add_argument("--seed", type=int, default=19, help="the seed's random seed")
    return parser.parse_args(argv)


def main() -> None:
    args = parse()
    result = asyncio.run(run(args))
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
