"""Faults on two sender instances on PostgreSQL: what is lost, what is sent twice, against what
was in flight when the fault struck (issue 21, item 4).

R reminders fall due at one moment; two sender processes (bench/reminders.py's bare `Sender`
worker, each at L / 2 messages a second, with a short `--lease`) deliver them to the fake Bot
API server. Once a share of them has arrived, one fault is made:

* ``stop`` — one sender is SIGSTOPped for 2.5 leases, then SIGCONTinued (a GC or VM pause, a
  laptop lid): it wakes holding rows whose lease has passed and another instance has taken.
* ``lock`` — another session locks the outbox table (ACCESS EXCLUSIVE) for 1.2 leases, and one
  sender is killed with SIGKILL half-way through (its outcome commits were stuck), then a
  fresh one is started.
* ``kill`` — a kill -9 storm: a random sender is killed about every ``--kill-every`` seconds
  (0.5–1.5 times that), ``--kills`` times, and a fresh one started each time.

Measured at the fake server (every sendMessage it answered):

* lost — reminders that never reached their chat; duplicates — extra copies;
* in_flight_at_fault — rows still marked "sending" whose message had already reached its chat
  when the fault struck (sent, outcome not yet committed; taken once at the fault and again a
  second later, so that requests already written when it struck count too; the other
  sender's such rows count as well, so it is an upper bound);
* bound_held — duplicates ≤ in_flight_at_fault: only sends already made when the fault struck
  may go out twice.

Progress goes to stderr; each run prints one JSON line on stdout. The machine the figures come
from matters (a busy machine delays the senders): say which.

    .venv/bin/python bench/faults.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/faults.py --database-url … --fault stop --reminders 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/faults.py` puts bench/ first, not the project
    sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

from bench.reminders import (  # noqa: E402
    Instance,
    commit,
    database,
    make_due,
    say,
    seed,
    start_instance,
    unfinished,
)

FAULTS = ("stop", "lock", "kill")


class Run:
    def __init__(self, args: argparse.Namespace, url: str, tg: Any) -> None:
        self.args = args
        self.url = url
        self.tg = tg
        self.instances: list[Instance] = []
        self.retired: list[Instance] = []
        self.at_risk: set[int] = set()
        self.faults = 0
        self.worker_args = argparse.Namespace(
            entry="sender", lease=args.lease, profile=None, instances=args.instances
        )

    @property
    def rate(self) -> float:
        return self.args.rate_limit / self.args.instances

    async def start(self) -> Instance:
        instance = await start_instance(self.url, self.tg.base_url, self.rate, self.worker_args)
        await asyncio.wait_for(instance.ready.wait(), 120)
        return instance

    def delivered(self) -> set[int]:
        return {c.chat_id for c in self.tg.calls("sendMessage") if c.ok}

    async def note_in_flight(self, sending: list[int] | None = None) -> None:
        """Rows marked sending whose message has reached its chat: sent, not yet recorded."""
        if sending is None:
            _, sending = await unfinished(self.url)
        delivered = self.delivered()
        self.at_risk |= {chat for chat in sending if chat in delivered}

    async def kill(self, victim: Instance) -> None:
        victim.process.send_signal(signal.SIGKILL)
        await victim.process.wait()
        await victim.reader
        self.instances.remove(victim)
        self.retired.append(victim)

    # ------------------------------------------------------------------ the faults

    async def stop(self) -> None:
        victim = self.instances[0]
        await self.note_in_flight()
        victim.process.send_signal(signal.SIGSTOP)
        self.faults += 1
        await asyncio.sleep(1.0)  # requests written before the stop are answered meanwhile
        await self.note_in_flight()
        paused = 2.5 * self.args.lease
        say(f"sender {victim.process.pid} stopped for {paused:g} s")
        await asyncio.sleep(paused - 1.0)
        victim.process.send_signal(signal.SIGCONT)
        say(f"sender {victim.process.pid} continued")

    async def lock(self) -> None:
        import asyncpg

        parts = make_url(self.url)
        locker = await asyncpg.connect(
            host=parts.host, port=parts.port or 5432, user=parts.username,
            password=parts.password, database=parts.database,
        )
        held = 1.2 * self.args.lease
        try:
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
            say(f"outbox table locked for {held:g} s")
            started = time.monotonic()
            await asyncio.sleep(held / 2)
            victim = random.choice(self.instances)
            # Read through the lock's own session: any other would wait for it.
            sending = [r["chat_id"] for r in await locker.fetch(
                "SELECT chat_id FROM outbox WHERE status = 'sending'")]
            await self.note_in_flight(sending)
            await self.kill(victim)
            self.faults += 1
            await asyncio.sleep(1.0)
            await self.note_in_flight(sending)
            say(f"sender {victim.process.pid} killed while the table was locked")
            self.instances.append(await start_instance(
                self.url, self.tg.base_url, self.rate, self.worker_args))
            await asyncio.sleep(max(0.0, held - (time.monotonic() - started)))
            await transaction.rollback()
            say("outbox table released")
        finally:
            await locker.close()

    async def storm(self) -> None:
        for _ in range(self.args.kills):
            await asyncio.sleep(random.uniform(0.5, 1.5) * self.args.kill_every)
            if not self.instances:
                break
            await self.note_in_flight()
            await self.kill(random.choice(self.instances))
            self.faults += 1
            self.instances.append(await start_instance(
                self.url, self.tg.base_url, self.rate, self.worker_args))
            say(f"kill {self.faults}: {len(self.delivered())} delivered so far")


async def run(args: argparse.Namespace, fault: str) -> dict[str, Any]:
    from tests.fakes.telegram_server import FakeTelegram

    async with database(args.database_url) as url:
        if make_url(url).get_backend_name() != "postgresql":
            raise SystemExit("the fault bench needs PostgreSQL (--database-url postgresql://…)")
        say(f"[{fault}] seeding {args.reminders} reminders…")
        await seed(url, args.reminders)
        async with FakeTelegram(known_chats_only=False) as tg:
            tg.set_rate_limit(global_per_s=args.rate_limit)
            bench = Run(args, url, tg)
            bench.instances = [await bench.start() for _ in range(args.instances)]
            due = datetime.now(UTC) + timedelta(seconds=1)
            await make_due(url, due)
            started = time.monotonic()
            for _ in range(int(args.reminders / args.rate_limit * 50) + 600):
                if len(bench.delivered()) >= args.fault_at * args.reminders:
                    break
                await asyncio.sleep(0.1)
            say(f"[{fault}] {len(bench.delivered())} delivered: fault")
            await getattr(bench, {"stop": "stop", "lock": "lock", "kill": "storm"}[fault])()
            deadline = time.monotonic() + args.reminders / args.rate_limit * 3 + args.lease * 4
            left = args.reminders
            while time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                left, _ = await unfinished(url)
                if left == 0:
                    break
            for instance in bench.instances:
                instance.process.send_signal(signal.SIGTERM)
            for instance in bench.instances:
                await asyncio.wait_for(instance.process.wait(), 60)
                await instance.reader
            sends = [c for c in tg.calls("sendMessage") if c.ok]
            flood = tg.flood_errors
    copies: dict[Any, int] = {}
    for call in sends:
        copies[call.chat_id] = copies.get(call.chat_id, 0) + 1
    duplicates = sum(n - 1 for n in copies.values())
    return {
        "fault": fault,
        "reminders": args.reminders,
        "rate_limit": args.rate_limit,
        "instances": args.instances,
        "lease_s": args.lease,
        "faults": bench.faults,
        "lost": args.reminders - len(copies),
        "duplicates": duplicates,
        "in_flight_at_fault": len(bench.at_risk),
        "bound_held": duplicates <= len(bench.at_risk),
        "unfinished_rows": left,
        "flood_429": flood,
        "duration_s": round(time.monotonic() - started, 1),
        "commit": commit(),
        "label": args.label,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server")
    parser.add_argument("--fault", choices=(*FAULTS, "all"), default="all")
    parser.add_argument("--reminders", type=int, default=2000, help="R, due at one moment")
    parser.add_argument("--rate-limit", type=int, default=100, help="L messages a second")
    parser.add_argument("--instances", type=int, default=2, help="sender processes")
    parser.add_argument("--lease", type=float, default=10.0, help="the senders' lease, s")
    parser.add_argument("--fault-at", type=float, default=0.2,
                        help="make the fault once this share has arrived")
    parser.add_argument("--kill-every", type=float, default=5.0, help="kill storm: ~every S s")
    parser.add_argument("--kills", type=int, default=6, help="kill storm: how many kills")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument("--label", default="", help="a note copied into the JSON")
    return parser.parse_args(argv)


def main() -> None:
    args = parse()
    random.seed(args.seed)
    for fault in FAULTS if args.fault == "all" else (args.fault,):
        print(json.dumps(asyncio.run(run(args, fault))), flush=True)


if __name__ == "__main__":
    main()
