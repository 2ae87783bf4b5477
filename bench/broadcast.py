"""How fast a broadcast goes out, and whether it goes out exactly once, within Telegram's limit
— sent by the real bot, `python -m bot run`, in its own process(es), which may be killed.

B recipients (people in the database, never loaded into the bot's memory: the broadcast
service copies the segment into outbox rows with INSERT … SELECT in chunks, and the sender
claims them a batch at a time) get one broadcast. The harness prepares the database (as a
deploy's `python -m bot migrate` and `load-reference` do), adds the people, writes the draft
and confirms it through the broadcast service, as the wizard's Confirm button does. Everything
after that is the bot's: its scheduler job starts the broadcast, the outbox sender sends it at
`SEND_RATE` = L, from one budget the K instances share (PostgreSQL, or Redis with
`--redis-url`), the progress job of one instance edits the staff member's card every 3
seconds, and the final report goes out through the outbox.

Three kinds of process, so that each one's memory and CPU are its own:

* the bot: `python -m bot run` in webhook mode (K of them with `--instances K`, which needs
  PostgreSQL), each forked by a tiny launcher that reaps it with `os.wait4`: its `ru_maxrss`
  is the bot process's peak resident memory over its whole life (start-up, the broadcast,
  shutdown), and nobody else's;
* the fake Bot API server (tests/fakes), which enforces L sends per sliding second and one per
  chat (a 429 with retry_after for every send over), answers 403 for a `--blocked-share` of the
  chats and a random 429 for a `--flood-share` of sends, and counts every message it accepted
  per chat: that is where delivered, duplicates and lost come from;
* this harness, which only prepares, watches the database and kills.

With `--kill-every S` a random bot instance is killed with SIGKILL about every S seconds
(uniformly 0.5 S – 1.5 S) while the broadcast is going out, and a fresh one is started in its
place. Rows it had claimed come back to a sender when their lease (60 s) runs out. At each kill
the harness takes the rows still marked "sending" whose chat the server had already accepted a
message for, and keeps those still "sending" two seconds later (a live sender records its
outcomes within milliseconds): sent, but the record died with the process (each row once,
though later kills see it again until its lease runs out). Only they can be sent twice, so
duplicates ≤ in_flight_at_kills ≤ kills × the sender's concurrency.

    .venv/bin/python bench/broadcast.py                          # 1,000 recipients, L = 30
    .venv/bin/python bench/broadcast.py --recipients 20000 --rate-limit 1000
    .venv/bin/python bench/broadcast.py --recipients 100000 --rate-limit 1000 \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/broadcast.py --recipients 20000 --rate-limit 200 --instances 2 \\
        --kill-every 15 --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/broadcast.py --instances 2 --limit 30 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres [--redis-url redis://127.0.0.1:6379/0]

Progress goes to stderr; the last line on stdout is one JSON object:

  recipients, rate_limit     B and L; send_rate is each instance's SEND_RATE (L: shared)
  budget_store               where the budget lives (redis, postgresql; sqlite: the one bot's)
  db_commits_per_message     transactions committed in the bench's database per send: the
                             outbox's, and the PostgreSQL budget's when it is the store
  redis_scripts_per_message  Redis scripts run per send (the budget's takes and releases; other
                             users of the same server are counted too)
  delivered                  reachable recipients who got the message (counted by the server)
  duplicates                 messages beyond the first to one recipient (target 0; with kills,
                             at most in_flight_at_kills)
  lost                       reachable recipients who got nothing (target 0)
  blocked                    recipients the server answers 403 (`--blocked-share`)
  flood_errors               429 answers, random ones (`--flood-share`) included (target 0
                             without them: the sender never goes over L)
  achieved_rate              messages the server accepted per second, first to last; take
                             B ≥ 20 × L, or the first second's burst flatters it (with kills
                             it includes the lease waits)
  ratio_to_limit             achieved_rate / L (target ≥ 0.95)
  attempt_rate, send_attempts  every send, 403s and 429s included
  peak_rss_mb                the largest peak resident memory (ru_maxrss) of any bot process,
                             over its whole life (target < 150 at B = 100,000)
  peak_rss_mb_each           the same for every bot process, in start order
  baseline_rss_mb            the first bot's resident memory once it answers /healthz, before
                             the broadcast is confirmed; startup_peak_rss_mb its peak until
                             then: the rest of the peak is what the broadcast costs
  server_peak_rss_mb, harness_peak_rss_mb  the other two processes, not counted above
  cpu_ms_per_message         the bot processes' CPU after start-up, per send (steadier than
                             rates on a busy machine; look at load_avg too)
  send_s                     from confirming to the last row settled
  outbox                     the rows' final statuses, which must agree with the server
  instances, kill_every_s, kills, in_flight_at_kills, restarts  see above
  load_avg                   the 1-minute load average at the start and the end
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import resource
import secrets
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/broadcast.py` puts bench/ first, not the project
    sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, web  # noqa: E402

# A bot id of its own for each run: the budget's Redis keys are the bot's, and two runs on one
# Redis server must not share them.
TOKEN = f"{random.SystemRandom().randrange(10**8, 10**9)}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
STAFF_ID = 900_000_001
FIRST_CHAT = 3_000_000_000
LANGUAGES = ("pl", "uk", "en")
TEXTS = {
    "pl": "<b>WIN4UA</b>: przypominamy o spotkaniu informacyjnym. Zapraszamy!",
    "uk": "<b>WIN4UA</b>: нагадуємо про інформаційну зустріч. Запрошуємо!",
    "en": "<b>WIN4UA</b>: a reminder about the information meeting. Welcome!",
}
LEASE_S = 60  # the production sender's lease (bot.delivery.Sender)
SETTLE_S = 2.0  # a live sender records an outcome well within this


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def proc_status(pid: int | str, key: str) -> float:
    """A /proc/<pid>/status memory line (VmRSS, VmHWM) in MB; 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def proc_cpu_s(pid: int) -> float:
    """User + system CPU of a live process so far."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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

    async def delivered(request: web.Request) -> web.Response:
        """Of the chat ids posted, those that have accepted a message."""
        chats = await request.json()
        return web.json_response([c for c in chats if telegram.accepted.get(c)])

    control = web.Application(client_max_size=64 * 1024 * 1024)
    control.router.add_get("/stats", stats)
    control.router.add_post("/delivered", delivered)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(telegram.base_url, f"http://{host}:{port}", flush=True)
    await asyncio.Event().wait()


# --------------------------------------------------------------------------------------------
# The database, prepared by the harness
# --------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(url: str | None) -> AsyncIterator[str]:
    """A fresh SQLite file, or a throwaway PostgreSQL database on the server of `url`."""
    from sqlalchemy.engine import make_url

    from db.url import normalise_database_url

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


async def prepare(url: str, recipients: int) -> int:
    """Migrations and reference data (a deploy's `migrate` and `load-reference`), the
    recipients in chunks (as people would have arrived over weeks), the staff author, and the
    broadcast's draft. Returns the draft's id."""
    from sqlalchemy import insert

    from bot.services import broadcast
    from bot.services.segments import Segment
    from db import migrate
    from db.base import utcnow
    from db.engine import create_engine, create_sessionmaker
    from db.models import Person
    from db.reference import load_reference

    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        await load_reference(engine)
        sessionmaker = create_sessionmaker(engine)
        now = utcnow()
        say(f"adding {recipients} people to {engine.dialect.name}…")
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
            draft = await broadcast.create_draft(session, author, "bench")
            broadcast.choose_segment(draft, Segment("everyone"))
            for language, text in TEXTS.items():
                broadcast.add_text(draft, language, text)
            return draft.id
    finally:
        await engine.dispose()


def watching_engine(url: str) -> Any:
    """The harness's own engine: plain reads, no BEGIN IMMEDIATE (the bot's SQLite engine takes
    the write lock on every transaction; a watcher must not compete with the sender for it)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    return create_async_engine(url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)


# --------------------------------------------------------------------------------------------
# The bot processes
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# A few lines of Python between the harness and each bot. The bot's resident-memory peak comes
# from wait4's ru_maxrss, but Linux carries the peak of the process that forked over exec (the
# harness's, with its 100,000 rows of seeding). This launcher is small and forks the bot for
# real, so the figure is the bot's own; it passes the bot's pid out, and its rusage once reaped.
LAUNCHER = """
import json, os, sys
result, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execv(argv[0], argv)
print(pid, flush=True)
_, status, usage = os.wait4(pid, 0)
with open(result, "w") as out:
    json.dump({"status": status, "maxrss_kb": usage.ru_maxrss,
               "cpu_s": usage.ru_utime + usage.ru_stime}, out)
"""


@dataclass
class Instance:
    """One `python -m bot run`, with its own rusage."""

    launcher: asyncio.subprocess.Process
    pid: int
    port: int
    log: Path
    result: Path
    started_cpu_s: float = 0.0
    ready_rss_mb: float = 0.0
    ready_hwm_mb: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def exited(self) -> bool:
        return self.launcher.returncode is not None

    async def reaped(self) -> None:
        await self.launcher.wait()
        self.usage = json.loads(self.result.read_text())

    @property
    def peak_rss_mb(self) -> float:
        return float(self.usage.get("maxrss_kb", 0)) / 1024

    @property
    def exit_code(self) -> int | None:
        return os.waitstatus_to_exitcode(self.usage["status"]) if self.usage else None

    @property
    def cpu_after_start_s(self) -> float:
        return float(self.usage.get("cpu_s", 0.0)) - self.started_cpu_s


async def start_bot(
    url: str, api_base: str, rate: float, logs: Path, n: int, redis_url: str | None = None
) -> Instance:
    port = free_port()
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG", "TZ", "MALLOC_ARENA_MAX")
        },
        "PYTHONPATH": str(ROOT),
        "BOT_TOKEN": TOKEN,
        "DATABASE_URL": url,
        "TELEGRAM_API_BASE": api_base,
        "SEND_RATE": f"{rate:g}",
        "STAFF_IDS": str(STAFF_ID),
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "WEBHOOK_SECRET": secrets.token_hex(16),
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    log, result = logs / f"bot-{n}.log", logs / f"bot-{n}.rusage.json"
    output = log.open("wb")
    try:
        launcher = await asyncio.create_subprocess_exec(
            sys.executable, "-S", "-c", LAUNCHER, str(result), sys.executable, "-m", "bot",
            "run", cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=output,
        )  # fmt: skip
    finally:
        output.close()
    assert launcher.stdout is not None
    pid = int(await launcher.stdout.readline())
    instance = Instance(launcher, pid, port, log, result)
    async with ClientSession() as client:
        for _ in range(1200):
            if instance.exited:
                raise RuntimeError(f"bot {n} exited at start: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                async with client.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"bot {n} did not answer /healthz: {log.read_text()[-2000:]}")
    instance.started_cpu_s = proc_cpu_s(pid)
    instance.ready_rss_mb = proc_status(pid, "VmRSS")
    instance.ready_hwm_mb = proc_status(pid, "VmHWM")
    return instance


async def stop_bot(instance: Instance, sig: int = signal.SIGTERM) -> None:
    if not instance.exited:
        with contextlib.suppress(ProcessLookupError):
            os.kill(instance.pid, sig)
    await asyncio.wait_for(instance.reaped(), 60)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import select

    from bot.services import broadcast
    from db.base import utcnow
    from db.models import Broadcast, Outbox, Person

    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", "--rate-limit", str(args.rate_limit),
        "--flood-share", str(args.flood_share), "--blocked-share", str(args.blocked_share),
        "--seed", str(args.seed), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    instances: list[Instance] = []
    retired: list[Instance] = []
    try:
        assert server.stdout is not None
        api_base, control = (await server.stdout.readline()).decode().split()
        async with (
            database(args.database_url) as url,
            ClientSession() as client,
        ):
            backend = "postgresql" if url.startswith("postgresql") else "sqlite"
            if backend == "sqlite" and args.instances > 1:
                raise SystemExit("--instances > 1 needs PostgreSQL: one bot per SQLite file")
            broadcast_id = await prepare(url, args.recipients)
            # One budget shared by the instances: each may send at L, together they do.
            rate = args.rate_limit
            commits_before = await store_counts(url, args.redis_url)
            logs = Path(tempfile.mkdtemp(prefix="win4ua-bench-logs-"))
            say(f"starting {args.instances} bot(s) at SEND_RATE={rate:g} (logs in {logs})…")
            for n in range(args.instances):
                instances.append(
                    await start_bot(url, api_base, rate, logs, n, args.redis_url)
                )
            started_count = args.instances
            baseline = instances[0].ready_rss_mb
            startup_peak = instances[0].ready_hwm_mb
            watch = watching_engine(url)
            try:
                from db.engine import create_sessionmaker

                sessionmaker = create_sessionmaker(watch)
                async with sessionmaker() as session:
                    author = await session.scalar(
                        select(Person).where(Person.telegram_id == STAFF_ID)
                    )
                    draft = await session.get(Broadcast, broadcast_id)
                    assert author is not None and draft is not None
                    count = await broadcast.recipient_count(session, draft)
                    await broadcast.confirm(session, draft, author, expected=count, at=utcnow())
                    await session.commit()
                load_before = os.getloadavg()[0]
                started = time.monotonic()
                say(f"confirmed for {count} recipients; sending at {args.rate_limit}/s…")
                kills, checks = 0, []
                next_kill = started + random.uniform(0.5, 1.5) * args.kill_every
                deadline = started + args.recipients / args.rate_limit * 4 + 120 + LEASE_S * 3
                report_key = f"{broadcast.KIND}:{broadcast_id}:report"
                last_say = started
                while True:
                    await asyncio.sleep(0.5)
                    async with sessionmaker() as session:
                        status = await session.scalar(
                            select(Broadcast.status).where(Broadcast.id == broadcast_id)
                        )
                        reported = await session.scalar(
                            select(Outbox.status).where(Outbox.idempotency_key == report_key)
                        )
                    if status == "done" and reported == "sent":
                        break
                    now = time.monotonic()
                    if now > deadline:
                        raise RuntimeError(f"broadcast not done in time: {status}")
                    for instance in list(instances):
                        if instance.exited:  # died on its own: that is a finding
                            raise RuntimeError(f"a bot exited: {instance.log.read_text()[-2000:]}")
                    if now - last_say > 10:
                        last_say = now
                        async with sessionmaker() as session:
                            left = (await broadcast.progress(session, broadcast_id)).left
                        rss = ", ".join(f"{proc_status(i.pid, 'VmRSS'):.0f}" for i in instances)
                        say(f"{now - started:.0f} s: {left} rows left; bot RSS {rss} MB")
                    if args.kill_every and now >= next_kill and status != "done":
                        victim = instances.pop(random.randrange(len(instances)))
                        await stop_bot(victim, signal.SIGKILL)
                        retired.append(victim)
                        kills += 1
                        checks.append(
                            asyncio.create_task(
                                in_flight(client, control, sessionmaker, broadcast_id)
                            )
                        )
                        say(f"kill {kills} at {now - started:.1f} s")
                        instances.append(
                            await start_bot(
                                url, api_base, rate, logs, started_count, args.redis_url
                            )
                        )
                        started_count += 1
                        next_kill = time.monotonic() + random.uniform(0.5, 1.5) * args.kill_every
                send_s = time.monotonic() - started
                # A row stays "sending" until its lease runs out, so later kills see it again.
                at_risk = len(set().union(*await asyncio.gather(*checks)))
                for instance in instances:
                    await stop_bot(instance)
                retired += instances
                instances = []
                async with sessionmaker() as session:
                    progress = await broadcast.progress(session, broadcast_id)
                await asyncio.sleep(1.0)  # PostgreSQL's statistics reach pg_stat_database
                commits_after = await store_counts(url, args.redis_url)
            finally:
                await watch.dispose()
            async with client.get(
                f"{control}/stats", params={"recipients": str(args.recipients)}
            ) as response:
                counted = await response.json()
    finally:
        for instance in instances:
            with contextlib.suppress(Exception):
                await stop_bot(instance, signal.SIGKILL)
        server.kill()
        await server.wait()
    achieved = counted["accepted"] / counted["span_s"] if counted["span_s"] > 0 else 0.0
    cpu_s = sum(i.cpu_after_start_s for i in retired)
    clean = [i for i in retired if i.exit_code == 0]
    return {
        "recipients": args.recipients,
        "rate_limit": args.rate_limit,
        "send_rate": round(rate, 2),
        "budget_store": "redis" if args.redis_url else backend,
        "database": backend,
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
        "send_s": round(send_s, 2),
        "outbox": {
            "sent": progress.sent,
            "blocked": progress.blocked,
            "failed": progress.failed,
            "left": progress.left,
        },
        "instances": args.instances,
        "db_commits_per_message": round(
            (commits_after[0] - commits_before[0]) / max(1, counted["attempts"]), 3
        ),
        "redis_scripts_per_message": round(
            (commits_after[1] - commits_before[1]) / max(1, counted["attempts"]), 3
        ),
        "kill_every_s": args.kill_every,
        "kills": kills,
        "in_flight_at_kills": at_risk,
        "restarts": started_count - args.instances,
        "clean_exits": len(clean),
        "cpu_ms_per_message": round(cpu_s * 1000 / max(1, counted["attempts"]), 3),
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "peak_rss_mb": round(max(i.peak_rss_mb for i in retired), 1),
        "peak_rss_mb_each": [round(i.peak_rss_mb, 1) for i in retired],
        "baseline_rss_mb": round(baseline, 1),
        "startup_peak_rss_mb": round(startup_peak, 1),
        "server_peak_rss_mb": round(counted["peak_rss_mb"], 1),
        "harness_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "blocked_share": args.blocked_share,
        "flood_share": args.flood_share,
    }


async def store_counts(url: str, redis_url: str | None) -> tuple[int, int]:
    """Transactions committed in the bench's PostgreSQL database and scripts run by Redis so
    far: per message sent, what the outbox and the shared budget cost in round trips (other
    users of the same Redis server are counted too)."""
    commits = scripts = 0
    if url.startswith("postgresql"):
        import asyncpg
        from sqlalchemy.engine import make_url

        u = make_url(url)
        connection = await asyncpg.connect(
            host=u.host, port=u.port or 5432, user=u.username, password=u.password,
            database=u.database,
        )  # fmt: skip
        try:
            commits = int(
                await connection.fetchval(
                    "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
                )
            )
        finally:
            await connection.close()
    if redis_url:
        from redis.asyncio import Redis

        client = Redis.from_url(redis_url)
        try:
            stats = await client.info("commandstats")
            scripts = sum(
                int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
                for name in ("evalsha", "eval")
            )
        finally:
            await client.aclose()
    return commits, scripts


async def in_flight(
    client: ClientSession, control: str, sessionmaker: Any, broadcast_id: int
) -> set[int]:
    """Rows the killed bot had sent but not recorded: still "sending", their chat already
    served, and still "sending" once a live sender would have recorded its own."""
    from sqlalchemy import select

    from db.models import Outbox

    async def sending_and_served(ids: set[int] | None = None) -> set[int]:
        query = select(Outbox.id, Outbox.chat_id).where(
            Outbox.broadcast_id == broadcast_id, Outbox.status == "sending"
        )
        async with sessionmaker() as session:
            rows = {row_id: chat for row_id, chat in (await session.execute(query)).all()}
        if ids is not None:
            return ids & set(rows)
        async with client.post(f"{control}/delivered", json=sorted(set(rows.values()))) as answer:
            served = set(await answer.json())
        return {row_id for row_id, chat in rows.items() if chat in served}

    at_kill = await sending_and_served()
    await asyncio.sleep(SETTLE_S)
    return await sending_and_served(at_kill)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1000, help="B (default 1000)")
    parser.add_argument(
        "--rate-limit", "--limit", type=int, default=30, help="L, sends/s (default 30)"
    )
    parser.add_argument("--redis-url", help="REDIS_URL for the bots: the budget in Redis")
    parser.add_argument(
        "--database-url",
        help="default: a temporary SQLite file; a "
        "postgresql:// URL gets a throwaway database on that server",
    )
    parser.add_argument("--blocked-share", type=float, default=0.0, help="chats that are 403")
    parser.add_argument("--flood-share", type=float, default=0.0, help="sends that get 429")
    parser.add_argument("--instances", type=int, default=1, help="bot processes (K)")
    parser.add_argument("--kill-every", type=float, default=0.0, help="SIGKILL a bot ~every S s")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve:
        asyncio.run(serve(args))
        return
    random.seed(args.seed)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
