"""How fast a broadcast goes out, and whether it goes out exactly once, within Telegram's limit.

B recipients (people in the database, not loaded into the bot's memory: the broadcast service
copies the segment into outbox rows with INSERT … SELECT in chunks) get one broadcast through
the production path: draft → confirm → the scheduler job starts it → the outbox sender sends it
at the configured rate (`--rate-limit` L by default, so the configured rate matches Telegram's)
while the progress job edits the staff member's card every 3 seconds, as in production.

The fake Bot API server (tests/fakes) runs in a separate process, so it neither shares the
bot's CPU nor counts towards its memory. It enforces L sends per sliding second and one per
chat (a 429 with retry_after for every send over), answers 403 for a `--blocked-share` of the
chats and a random 429 for a `--flood-share` of sends, and counts every message it accepted per
chat: that is where delivered, duplicates and lost come from.

    .venv/bin/python bench/broadcast.py                          # 1,000 recipients, L = 30
    .venv/bin/python bench/broadcast.py --recipients 20000 --rate-limit 1000
    .venv/bin/python bench/broadcast.py --recipients 100000 --rate-limit 1000 \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Progress goes to stderr; the last line on stdout is one JSON object:

  recipients, rate_limit     B and L (the sender's SEND_RATE is set to L)
  delivered                  reachable recipients who got the message (counted by the server)
  duplicates                 messages beyond the first to one recipient (target 0)
  lost                       reachable recipients who got nothing (target 0)
  blocked                    recipients the server answers 403 (`--blocked-share`)
  flood_errors               429 answers, random ones (`--flood-share`) included (target 0
                             without them: the sender never goes over L)
  achieved_rate              messages the server accepted per second, first to last; take
                             B ≥ 20 × L, or the first second's burst flatters it
  ratio_to_limit             achieved_rate / L (target ≥ 0.95)
  attempt_rate, send_attempts  every send, 403s and 429s included
  peak_rss_mb                the bot process's peak resident memory; baseline_rss_mb is its
                             resident memory just before the broadcast starts (everything
                             imported: aiogram 3.31 alone is about 165 MB), so the difference
                             is what 100,000 recipients cost
  cpu_ms_per_message         the bot process's CPU per send (steadier than rates on a busy
                             machine; look at load_avg too)
  expand_s, send_s           writing the outbox rows; sending
  outbox                     the rows' final statuses, which must agree with the server
  concurrency, max_in_flight  the sender's bound on sends in flight, and the most seen
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/broadcast.py` puts bench/ first, not the project
    sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, web  # noqa: E402

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
STAFF_ID = 900_000_001
FIRST_CHAT = 3_000_000_000
LANGUAGES = ("pl", "uk", "en")
TEXTS = {
    "pl": "<b>WIN4UA</b>: przypominamy o spotkaniu informacyjnym. Zapraszamy!",
    "uk": "<b>WIN4UA</b>: нагадуємо про інформаційну зустріч. Запрошуємо!",
    "en": "<b>WIN4UA</b>: a reminder about the information meeting. Welcome!",
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def rss_now_mb() -> float:
    """Resident memory right now (Linux), to tell the broadcast's share of the peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# --------------------------------------------------------------------------------------------
# The fake Telegram, in its own process
# --------------------------------------------------------------------------------------------


def counting_telegram() -> Any:
    """The fake server, keeping counts instead of every call and message (100,000 of them).
    Imported only in the server's process: the bot's own memory is what is measured."""
    from tests.fakes.telegram_server import SEND_METHODS, Call, FakeTelegram

    class CountingTelegram(FakeTelegram):
        """The fake server, keeping counts instead of every call and message (100,000 of them)."""

        def __init__(self) -> None:
            super().__init__(known_chats_only=False)
            self.accepted: Counter[int] = Counter()
            self.attempts = 0
            self.first_ok: float | None = None
            self.last_ok: float | None = None

        def _record(
            self,
            method: str,
            params: dict[str, Any],
            status: int,
            body: dict[str, Any] | None,
            *,
            fault: str | None = None,
            source: str = "http",
        ) -> Call:
            if status == 429:
                self.flood_errors += 1
            chat_id = params.get("chat_id")
            if method in SEND_METHODS and isinstance(chat_id, int) and chat_id >= FIRST_CHAT:
                self.attempts += 1
                if status == 200:
                    now = time.monotonic()
                    self.first_ok = self.first_ok or now
                    self.last_ok = now
                    self.accepted[chat_id] += 1
            return Call(method, {}, chat_id, time.monotonic(), status, None, fault, source)

        def _store(self, state: Any, message: Any) -> Any:
            if message.chat_id >= FIRST_CHAT:
                return message  # recipients' messages are counted, not kept
            return super()._store(state, message)

        def summary(self, recipients: int) -> dict[str, Any]:
            delivered = duplicates = lost = blocked = 0
            for chat_id in range(FIRST_CHAT, FIRST_CHAT + recipients):
                count = self.accepted.get(chat_id, 0)
                if self.is_randomly_blocked(chat_id):
                    blocked += 1
                    continue
                delivered += min(count, 1)
                duplicates += max(count - 1, 0)
                lost += count == 0
            span = (self.last_ok or 0) - (self.first_ok or 0)
            return {
                "delivered": delivered,
                "duplicates": duplicates,
                "lost": lost,
                "blocked": blocked,
                "attempts": self.attempts,
                "flood_errors": self.flood_errors,
                "accepted": sum(self.accepted.values()),
                "span_s": span,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }

    return CountingTelegram()


async def serve(args: argparse.Namespace) -> None:
    telegram = counting_telegram()
    await telegram.start()
    telegram.set_rate_limit(global_per_s=args.rate_limit, per_chat_per_s=1)
    telegram.set_fault_rates(flood=args.flood_share, blocked=args.blocked_share, seed=args.seed)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(telegram.summary(int(request.query["recipients"])))

    control = web.Application()
    control.router.add_get("/stats", stats)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(telegram.base_url, f"http://{host}:{port}", flush=True)
    await asyncio.Event().wait()


# --------------------------------------------------------------------------------------------
# The bot's side
# --------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(url: str | None) -> AsyncIterator[str]:
    """A fresh SQLite file, or a throwaway PostgreSQL database on the server of `url`."""
    from sqlalchemy.engine import make_url

    from bot.settings import normalise_database_url

    if url is None:
        with tempfile.TemporaryDirectory(prefix="win4ua-bench-") as directory:
            yield f"sqlite+aiosqlite:///{directory}/bench.db"
        return
    url = normalise_database_url(url)
    if not url.startswith("postgresql"):
        yield url
        return
    import asyncpg

    u = make_url(url)
    connect = {
        "host": u.host,
        "port": u.port or 5432,
        "user": u.username,
        "password": u.password,
        "database": u.database,
    }
    name = f"win4ua_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(**connect)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield u.set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(**connect)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def add_people(sessionmaker: Any, recipients: int, now: datetime) -> int:
    """Recipients in chunks (as many people would have arrived over weeks), and the author."""
    from sqlalchemy import insert

    from db.models import Person

    chunk = 5000
    for start in range(0, recipients, chunk):
        rows = [
            {
                "telegram_id": FIRST_CHAT + i,
                "language": LANGUAGES[i % 3],
                "role": "user",
                "consent_at": now,
                "consent_version": "bench",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, min(start + chunk, recipients))
        ]
        async with sessionmaker() as session, session.begin():
            await session.execute(insert(Person), rows)
    async with sessionmaker() as session, session.begin():
        author = Person(telegram_id=STAFF_ID, language="pl", role="staff")
        session.add(author)
        await session.flush()
        return author.id


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.app import create_bot
    from bot.delivery import Sender
    from bot.i18n import create_i18n
    from bot.runners import settle_memory
    from bot.services import broadcast
    from bot.services.segments import Segment
    from bot.settings import Settings
    from db import migrate
    from db.base import utcnow
    from db.engine import create_engine, create_sessionmaker
    from db.models import Broadcast, Person
    from handlers.staff_progress import renderers, watch_broadcasts

    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", "--rate-limit", str(args.rate_limit),
        "--flood-share", str(args.flood_share), "--blocked-share", str(args.blocked_share),
        "--seed", str(args.seed), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        api_base, control = (await server.stdout.readline()).decode().split()
        async with database(args.database_url) as url:
            settings = Settings(
                _env_file=None,
                bot_token=TOKEN,
                database_url=url,  # type: ignore[call-arg]
                telegram_api_base=api_base,
            )
            engine = create_engine(url)
            try:
                await migrate.upgrade(engine)
                sessionmaker = create_sessionmaker(engine)
                now = utcnow()
                say(f"adding {args.recipients} people to {engine.dialect.name}…")
                author_id = await add_people(sessionmaker, args.recipients, now)
                async with sessionmaker() as session, session.begin():
                    author = await session.get(Person, author_id)
                    assert author is not None
                    draft = await broadcast.create_draft(session, author, "bench")
                    broadcast.choose_segment(draft, Segment("everyone"))
                    for language, text in TEXTS.items():
                        broadcast.add_text(draft, language, text)
                    count = await broadcast.recipient_count(session, draft)
                    await broadcast.confirm(session, draft, author, expected=count, at=now)
                    broadcast_id = draft.id
                api = TelegramAPIServer.from_base(api_base)
                bot = create_bot(settings, AiohttpSession(api=api, limit=200))
                i18n = create_i18n()
                sender = Sender(
                    bot, sessionmaker, i18n, renderers(), rate=args.rate_limit,
                    concurrency=args.concurrency,
                )  # fmt: skip
                settle_memory()  # what the runners do once the bot has started
                baseline = rss_now_mb()  # everything imported, the people in the database
                load_before = os.getloadavg()[0]
                started = time.monotonic()
                await broadcast.start_due(sessionmaker, utcnow())  # what the job does first
                expand_s = time.monotonic() - started
                say(f"{count} outbox rows in {expand_s:.1f} s; sending at {args.rate_limit}/s…")
                cpu_before = time.process_time()
                watcher = asyncio.create_task(
                    watch(bot, sessionmaker, i18n, sender, watch_broadcasts)
                )
                while True:
                    handled = await sender.drain(max_seconds=60)
                    async with sessionmaker() as session:
                        item = await session.get(Broadcast, broadcast_id)
                        left = (await broadcast.progress(session, broadcast_id)).left
                    if left == 0:
                        break
                    if handled == 0:
                        await asyncio.sleep(0.2)
                send_s = time.monotonic() - started - expand_s
                cpu_s = time.process_time() - cpu_before
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                await watch_broadcasts(bot, sessionmaker, i18n, utcnow, sender.limiter)
                async with sessionmaker() as session:
                    item = await session.get(Broadcast, broadcast_id)
                    progress = await broadcast.progress(session, broadcast_id)
                    status = item.status if item else "?"
                await bot.session.close()
            finally:
                await engine.dispose()
        async with (
            ClientSession() as client,
            client.get(f"{control}/stats", params={"recipients": str(args.recipients)}) as response,
        ):
            counted = await response.json()
    finally:
        server.kill()
        await server.wait()
    achieved = counted["accepted"] / counted["span_s"] if counted["span_s"] > 0 else 0.0
    return {
        "recipients": args.recipients,
        "rate_limit": args.rate_limit,
        "send_rate": args.rate_limit,
        "database": "postgresql" if "postgresql" in (args.database_url or "") else "sqlite",
        "delivered": counted["delivered"],
        "duplicates": counted["duplicates"],
        "lost": counted["lost"],
        "blocked": counted["blocked"],
        "flood_errors": counted["flood_errors"],
        "send_attempts": counted["attempts"],
        "achieved_rate": round(achieved, 2),
        "ratio_to_limit": round(achieved / args.rate_limit, 4),
        "attempt_rate": round(counted["attempts"] / counted["span_s"], 2)
        if counted["span_s"] > 0
        else 0.0,
        "expand_s": round(expand_s, 2),
        "send_s": round(send_s, 2),
        "outbox": {
            "sent": progress.sent,
            "blocked": progress.blocked,
            "failed": progress.failed,
            "left": progress.left,
        },
        "broadcast_status": status,
        "concurrency": sender.concurrency,
        "max_in_flight": sender.max_in_flight,
        "cpu_ms_per_message": round(cpu_s * 1000 / max(1, counted["attempts"]), 3),
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "baseline_rss_mb": round(baseline, 1),
        "server_peak_rss_mb": round(counted["peak_rss_mb"], 1),
        "blocked_share": args.blocked_share,
        "flood_share": args.flood_share,
    }


async def watch(bot: Any, sessionmaker: Any, i18n: Any, sender: Any, job: Any) -> None:
    """The scheduler's broadcast job, every 3 seconds (the card of the staff member)."""
    from db.base import utcnow

    while True:
        await asyncio.sleep(3)
        try:
            await job(bot, sessionmaker, i18n, utcnow, sender.limiter)
        except Exception as exc:  # the benchmark goes on; the card is cosmetic here
            say(f"progress job failed: {type(exc).__name__}: {exc}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1000, help="B (default 1000)")
    parser.add_argument("--rate-limit", type=int, default=30, help="L, sends/s (default 30)")
    parser.add_argument(
        "--database-url",
        help="default: a temporary SQLite file; a "
        "postgresql:// URL gets a throwaway database on that server",
    )
    parser.add_argument("--blocked-share", type=float, default=0.0, help="chats that are 403")
    parser.add_argument("--flood-share", type=float, default=0.0, help="sends that get 429")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--concurrency", type=int, help="sends in flight (default: the sender's)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve:
        asyncio.run(serve(args))
        return
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
