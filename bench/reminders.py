"""Reminders under a rate limit: R reminders fall due at the same moment, and sender processes
deliver them to the fake Bot API server, which refuses more than L messages a second.

Each sender is a separate OS process: by default the bot itself, `python -m bot run` (long
polling against the fake server — with several instances a webhook each, as deployed behind a
load balancer — APScheduler ticking the production `Sender` of
bot/delivery.py with the production renderers), configured through the environment with
`SEND_RATE = L / instances` so that together they stay within L. `--entry sender` runs a bare
`Sender` ticked by a loop instead (it can use a short `--lease`; the bot's lease is its own,
60 s). With `--kill-every S` a random sender is killed with SIGKILL about every S seconds
(uniformly 0.5 S – 1.5 S) and a fresh one is started; rows it had claimed come back when their
lease runs out.

Measured at the fake server, which records every sendMessage it answered:

* sent — reminders that reached their chat; lost — reminders that never did;
* duplicates — extra copies (a chat that got its reminder more than once);
* in_flight_at_kills — at each kill, rows still marked "sending" whose message had already
  reached the chat: sent but not yet recorded (each row counted once, though it stays "sending"
  until its lease runs out; the survivor's such rows count too, so it is an upper bound). Only
  these are sent again when the lease runs out, so duplicates ≤ in_flight_at_kills ≤ kills ×
  the sender's concurrency;
* max_in_flight — the most sends any sender had between "started" and "outcome recorded" (as
  reported by the senders that were not killed; the bound is the sender's concurrency);
* lateness — for the i-th delivered reminder (in delivery order, from 0), how much later than
  due + floor(i / L) seconds it arrived: the earliest moment the server's limit (at most L in
  any one-second window) lets the i-th message in, so only the delay the limit does not
  explain is counted.

Progress goes to stderr; the last line on stdout is one JSON object.

    .venv/bin/python bench/reminders.py
    .venv/bin/python bench/reminders.py --reminders 10000 --rate-limit 100
    .venv/bin/python bench/reminders.py --reminders 10000 --rate-limit 100 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres --instances 2 \\
        --kill-every 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import random
import re
import resource
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/reminders.py` puts bench/ first, not the project
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.programme import PROGRAMMES_DIR, load_programme  # noqa: E402
from bot.services import outbox, reminders  # noqa: E402
from db.engine import create_engine, create_sessionmaker  # noqa: E402
from db.models import Booking, Event, Outbox, Person  # noqa: E402
from db.url import normalise_database_url  # noqa: E402

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
PROGRAMME_FILE = PROGRAMMES_DIR / "demo.toml"
FIRST_CHAT = 700_000_000
FAR = timedelta(days=365)
WORKER_SCRIPT = str(Path(__file__).resolve())


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the database


@contextlib.asynccontextmanager
async def database(url: str | None) -> AsyncIterator[str]:
    """A fresh SQLite file, or a throwaway PostgreSQL database made on the server of `url`."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="win4ua-reminders-") as directory:
            yield f"sqlite+aiosqlite:///{directory}/bench.db"
        return
    url = normalise_database_url(url)
    if not url.startswith("postgresql"):
        yield url
        return
    import asyncpg

    parts = make_url(url)
    params = {"host": parts.host, "port": parts.port or 5432, "user": parts.username,
              "password": parts.password, "database": parts.database}
    name = f"win4ua_reminders_{uuid.uuid4().hex[:12]}"
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


async def seed(url: str, count: int) -> None:
    """`count` people booked on one meeting, each with a reminder row not yet due."""
    from db import migrate

    programme = load_programme(PROGRAMME_FILE)
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        async with create_sessionmaker(engine)() as session, session.begin():
            event = Event(programme_id=programme.id, kind="info_meeting", audience="all",
                          title={"pl": "Spotkanie", "uk": "Зустріч", "en": "Meeting"},
                          starts_at=starts_at, duration_minutes=60, capacity=None,
                          seats_taken=count, join_link="https://meet.example.org/bench",
                          status="scheduled")
            session.add(event)
            await session.flush()
            for start in range(0, count, 2000):
                ids = range(start + 1, min(count, start + 2000) + 1)
                await session.execute(insert(Person), [
                    {"id": i, "telegram_id": FIRST_CHAT + i, "role": "user",
                     "language": "uk" if i % 3 == 0 else "pl",
                     "time_zone": "Europe/Kyiv" if i % 3 == 0 else "Europe/Warsaw"}
                    for i in ids
                ])
                await session.execute(insert(Booking), [
                    {"id": i, "event_id": event.id, "person_id": i, "programme_id": programme.id,
                     "kind": "info_meeting",
                     "status": "active"} for i in ids
                ])
                offset = timedelta(hours=24)
                await session.execute(insert(Outbox), [
                    {"kind": reminders.REMINDER, "person_id": i, "chat_id": FIRST_CHAT + i,
                     "booking_id": i, "priority": outbox.PRIORITY_REMINDER,
                     "due_at": starts_at + FAR, "status": "pending", "attempts": 0,
                     "payload": {"event_id": event.id, "starts_at": starts_at.isoformat(),
                                 "offset_minutes": 1440},
                     "idempotency_key": reminders.key(i, offset, starts_at)}
                    for i in ids
                ])
    finally:
        await engine.dispose()


async def make_due(url: str, due: datetime) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(update(Outbox).values(due_at=due))
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------ a sender process


async def worker(args: argparse.Namespace) -> None:
    from bot.app import create_bot
    from bot.delivery import Sender
    from bot.i18n import create_i18n
    from bot.instance_lock import instance_lock
    from bot.renderers import BATCHED_KINDS, renderers
    from bot.settings import Settings

    logging.basicConfig(level=logging.WARNING)
    settings = Settings(_env_file=None, bot_token=TOKEN,  # type: ignore[call-arg]
                        database_url=args.database_url, telegram_api_base=args.api_base,
                        send_rate=args.rate)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    with instance_lock(settings.database_url):  # as `python -m bot run` does
        engine = create_engine(settings.database_url)
        bot = create_bot(settings)
        sender = Sender(bot, create_sessionmaker(engine), create_i18n(),
                        renderers(load_programme(PROGRAMME_FILE)), rate=settings.send_rate,
                        lease=timedelta(seconds=args.lease), batched_kinds=BATCHED_KINDS)

        async def report() -> None:
            while True:
                print(json.dumps({"max_in_flight": sender.max_in_flight}), flush=True)
                await asyncio.sleep(0.2)

        reporter = asyncio.create_task(report())
        print("ready", flush=True)
        try:
            while not stop.is_set():  # APScheduler's interval job, as bot/scheduler.py sets it
                started = time.monotonic()
                await sender.on_tick(1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, 1 - time.monotonic() + started))
            await sender.close()
        finally:
            reporter.cancel()
            print(json.dumps({"max_in_flight": sender.max_in_flight}), flush=True)
            await bot.session.close()
            await engine.dispose()


IN_FLIGHT = re.compile(r"at most (\d+) sends in flight")


class Instance:
    def __init__(self, process: asyncio.subprocess.Process, stream: asyncio.StreamReader) -> None:
        self.process = process
        self.max_in_flight = 0
        self.ready = asyncio.Event()
        self.reader = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            text = line.decode(errors="replace").strip()
            if text == "ready" or "outbox sender running" in text:
                self.ready.set()
            elif text.startswith("{"):
                self.max_in_flight = max(self.max_in_flight, json.loads(text)["max_in_flight"])
            elif found := IN_FLIGHT.search(text):
                self.max_in_flight = max(self.max_in_flight, int(found.group(1)))
            elif " ERROR " in text or "Traceback" in text:
                say(f"sender {self.process.pid}: {text}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_instance(
    url: str, api_base: str, rate: float, args: argparse.Namespace
) -> Instance:
    if args.entry == "bot":  # the bot as deployed: `python -m bot run`, settings from the env
        env = {**os.environ, "BOT_TOKEN": TOKEN, "DATABASE_URL": url,
               "TELEGRAM_API_BASE": api_base, "SEND_RATE": str(rate), "LOG_LEVEL": "INFO",
               "PROGRAMME_FILE": str(PROGRAMME_FILE), "STAFF_IDS": "", "WEBHOOK_URL": ""}
        if args.instances > 1:  # several instances take updates by webhook, as deployed
            port = free_port()
            env |= {"WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
                    "WEBHOOK_SECRET": "bench-" + uuid.uuid4().hex,
                    "WEBHOOK_HOST": "127.0.0.1", "WEBHOOK_PORT": str(port)}
        if args.profile:
            command = ["-m", "cProfile", "-o", f"{args.profile}.{uuid.uuid4().hex[:6]}",
                       "-m", "bot", "run"]
        else:
            command = ["-m", "bot", "run"]
        process = await asyncio.create_subprocess_exec(
            sys.executable, *command, cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert process.stderr is not None
        return Instance(process, process.stderr)
    process = await asyncio.create_subprocess_exec(
        sys.executable, WORKER_SCRIPT, "--worker", "--database-url", url,
        "--api-base", api_base, "--rate", str(rate), "--lease", str(args.lease),
        *(["--profile", args.profile] if args.profile else []), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    return Instance(process, process.stdout)


# ------------------------------------------------------------------------------ the run


async def unfinished(url: str) -> tuple[int, list[int]]:
    """(rows not yet in a final state, chat ids of rows marked sending)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            left = await connection.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.status.in_(("pending", "sending"))))
            sending = (await connection.scalars(
                select(Outbox.chat_id).where(Outbox.status == "sending"))).all()
    finally:
        await engine.dispose()
    return int(left or 0), list(sending)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


class GcPauses:
    """Collections in this process (the harness and the fake server): the server records
    10,000 calls with their parameters, and a full collection over them stalls it for a second
    or more — a stall Telegram would not have. The harness freezes what it built before the
    run and reports the longest collection that was left."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.fakes.telegram_server import FakeTelegram

    pauses = GcPauses()
    gc.callbacks.append(pauses)
    gc.set_threshold(50_000, 50, 1000)

    load_start = os.getloadavg()[0]
    async with database(args.database_url) as url:
        backend = make_url(url).get_backend_name()
        if backend == "sqlite" and args.instances > 1:
            raise SystemExit("--instances > 1 needs PostgreSQL: one sender per SQLite file")
        say(f"seeding {args.reminders} reminders ({backend})…")
        await seed(url, args.reminders)
        async with FakeTelegram(known_chats_only=False) as tg:
            tg.set_rate_limit(global_per_s=args.rate_limit)
            rate = args.rate_limit / args.instances
            instances = [await start_instance(url, tg.base_url, rate, args)
                         for _ in range(args.instances)]
            await asyncio.wait_for(asyncio.gather(*(i.ready.wait() for i in instances)), 120)
            gc.collect()
            gc.freeze()
            due = datetime.now(UTC) + timedelta(seconds=1)
            due_mono = time.monotonic() + (due - datetime.now(UTC)).total_seconds()
            await make_due(url, due)
            say(f"{args.instances} sender(s) at {rate:g}/s each; due at {due:%H:%M:%S}")
            kills, retired = 0, []
            at_risk: set[int] = set()  # a row stays "sending" until its lease: count it once
            next_kill = due_mono + random.uniform(0.5, 1.5) * args.kill_every
            lease = args.lease if args.entry == "sender" else 60.0
            deadline = due_mono + args.reminders / args.rate_limit * 3 + lease * 2 + 30
            left, checked = args.reminders, 0.0
            while time.monotonic() < deadline:
                # The fake server shares this process: look at the database only once a second
                # (and when every chat has its message), so the harness does not stall it.
                await asyncio.sleep(0.25)
                reached = len({c.chat_id for c in tg.calls("sendMessage") if c.ok})
                if reached >= args.reminders or time.monotonic() - checked >= 1.0:
                    left, _ = await unfinished(url)
                    checked = time.monotonic()
                    if left == 0:
                        break
                if args.kill_every and time.monotonic() >= next_kill:
                    victim = instances.pop(random.randrange(len(instances)))
                    victim.process.send_signal(signal.SIGKILL)
                    await victim.process.wait()
                    await victim.reader
                    retired.append(victim)
                    kills += 1
                    delivered = {c.chat_id for c in tg.calls("sendMessage") if c.ok}
                    _, sending = await unfinished(url)
                    at_risk |= {chat for chat in sending if chat in delivered}
                    instances.append(await start_instance(url, tg.base_url, rate, args))
                    next_kill = time.monotonic() + random.uniform(0.5, 1.5) * args.kill_every
                    say(f"kill {kills}: {len(delivered)} delivered so far, {left} left")
            for instance in instances:
                instance.process.send_signal(signal.SIGTERM)
            for instance in instances:
                await asyncio.wait_for(instance.process.wait(), 60)
                await instance.reader
            left, _ = await unfinished(url)
            sends = [c for c in tg.calls("sendMessage") if c.ok]
            flood = tg.flood_errors
            senders_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    first: dict[Any, float] = {}
    copies: dict[Any, int] = {}
    for call in sends:
        copies[call.chat_id] = copies.get(call.chat_id, 0) + 1
        first.setdefault(call.chat_id, call.time)
    arrivals = sorted(first.values())
    lateness = [max(0.0, t - (due_mono + i // args.rate_limit)) for i, t in enumerate(arrivals)]
    if args.arrivals:
        Path(args.arrivals).write_text(json.dumps([t - due_mono for t in arrivals]))  # noqa: ASYNC240
    for i in sorted({0, *range(0, len(lateness), max(1, len(lateness) // 10)), len(lateness) - 1}):
        if lateness:
            say(f"lateness of message {i}: {lateness[i]:.3f} s")
    return {
        "reminders": args.reminders,
        "rate_limit": args.rate_limit,
        "instances": args.instances,
        "kill_every_s": args.kill_every,
        "lease_s": args.lease if args.entry == "sender" else 60.0,
        "entry": args.entry,
        "database": backend,
        "sent": len(first),
        "lost": args.reminders - len(first),
        "unfinished_rows": left,
        "duplicates": sum(n - 1 for n in copies.values()),
        "kills": kills,
        "in_flight_at_kills": len(at_risk),
        "max_in_flight": max((i.max_in_flight for i in instances + retired), default=0),
        "lateness_p50_s": round(percentile(lateness, 0.50), 3),
        "lateness_p99_s": round(percentile(lateness, 0.99), 3),
        "lateness_max_s": round(max(lateness, default=0.0), 3),
        "lateness_first_s": round(lateness[0], 3) if lateness else 0.0,
        "duration_s": round((arrivals[-1] - due_mono) if arrivals else 0.0, 2),
        "flood_429": flood,
        # CPU of every sender process (killed ones too; with --entry bot it includes each
        # bot's start-up: migrations check, reference data, aiogram) — steadier than wall
        # time on a busy machine.
        "senders_cpu_s": round(senders_cpu.ru_utime + senders_cpu.ru_stime, 2),
        "senders_cpu_ms_per_message": round(
            (senders_cpu.ru_utime + senders_cpu.ru_stime) * 1000 / max(1, len(sends)), 2),
        "load_avg": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "harness_gc_pause_max_s": round(pauses.longest, 3),
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
    parser.add_argument("--reminders", type=int, default=2000, help="R, due at one moment")
    parser.add_argument("--rate-limit", type=int, default=100, help="L messages a second")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--instances", type=int, default=1, help="sender processes")
    parser.add_argument("--kill-every", type=float, default=0.0, help="kill -9 a sender ~every S s")
    parser.add_argument("--lease", type=float, default=60.0,
                        help="claim lease in seconds (--entry sender; the bot's is 60 s)")
    parser.add_argument("--entry", choices=("bot", "sender"), default="bot",
                        help="bot: `python -m bot run` processes; sender: a bare Sender loop")
    parser.add_argument("--seed", type=int, default=None, help="random seed for kill moments")
    parser.add_argument("--profile", help="cProfile each sender into PATH.<pid> (pstats)")
    parser.add_argument("--arrivals", help="write each arrival's offset from due (s) to PATH")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--api-base", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse()
    if args.worker:
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.runcall(asyncio.run, worker(args))
            profiler.dump_stats(f"{args.profile}.{os.getpid()}")
        else:
            asyncio.run(worker(args))
        return
    random.seed(args.seed)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
