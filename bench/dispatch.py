"""How fast simulated hosts fill in the questionnaire through the production dispatcher.

Three bots are measured in one run, on one harness and one database:

* **echo**: a bare aiogram Dispatcher answering every message and button press with one
  sendMessage (no database, none of our middlewares);
* **floor**: the least a persistent bot does per update: one transaction that reads the
  person's row and updates it (creating it on first contact), a commit, then one sendMessage;
* **bot**: our dispatcher from `build_app` with `programmes/demo.toml`, each simulated person
  going from /start to a submitted host application (about 24 updates).

Updates are built like Telegram's, validated into `aiogram.types.Update` and handed to
`Dispatcher.feed_update`, which returns after the middlewares, the handlers and the replies sent
after the commit. Replies go over HTTP to the fake Bot API server (tests/fakes), and a button
press carries the callback_data of a button the bot really showed (read back from the fake).

Phases, for each bot: a warm-up; a closed loop (`--people` people at once, each sending their
next update as soon as the previous one is processed: updates per second; the references are
time-boxed to `--reference-seconds` of their steady part to keep the run short); an open loop
(updates started on a fixed schedule at `--offered-rate` per second for `--latency-seconds`,
spread over a pool of people with at most one update in flight each: latency from the scheduled
start to the end of processing, so a stalled bot is charged for the updates it delays).
Everyone who reaches the end must have a submitted application in the database; a failed update
is counted in `errors` and sent again. See bench/README.md.

Progress goes to stderr; the last line on stdout is one JSON object.

    .venv/bin/python bench/dispatch.py
    .venv/bin/python bench/dispatch.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import csv
import io
import itertools
import json
import logging
import math
import os
import platform
import pstats
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/dispatch.py` puts bench/ first, not the project
    sys.path.insert(0, str(ROOT))

from aiogram import Bot, Dispatcher  # noqa: E402
from aiogram.dispatcher.event.bases import UNHANDLED  # noqa: E402
from aiogram.types import Chat, ErrorEvent, TelegramObject, Update, User  # noqa: E402
from sqlalchemy import Table, func, select, update  # noqa: E402
from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from bench.telegram_side import PLACES, NoButton, Side, telegram_side  # noqa: E402
from bot.app import App, build_app  # noqa: E402
from bot.programme import PROGRAMMES_DIR  # noqa: E402
from bot.runners import settle_memory  # noqa: E402
from bot.settings import Settings  # noqa: E402
from db.base import utcnow  # noqa: E402
from db.models import Application, Person  # noqa: E402
from db.url import normalise_database_url  # noqa: E402

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
STAFF_ID = 900_000_001  # a staff member, so a submission queues its notice as in production
GMINAS_CSV = ROOT / "db" / "reference" / "pl_gminas.csv"
FEATURED_GMINAS = ("Wadowice", "Bolesławiec", "Gromadka", "Hel", "Kraków")
WARMUP_PEOPLE = 3
MAX_FAILURES_IN_A_ROW = 10
THROTTLE_BURST = 1_000
# Telegram ids of each phase's people start here, a block per phase, so phases never share a row.
ID_BASE = 2_000_000_000
ID_BLOCK = 10_000_000

FIRST_NAMES = ("Anna", "Katarzyna", "Magdalena", "Piotr", "Tomasz", "Agnieszka", "Marek", "Ewa")
SURNAMES = ("Nowak", "Kowalska", "Wiśniewski", "Wójcik", "Kamińska", "Lewandowski", "Zielińska")
POSITIONS = (
    "sekretarz gminy",
    "kierownik referatu promocji i współpracy",
    "inspektor ds. współpracy zagranicznej",
    "zastępca burmistrza",
)
PERIODS = ("październik–listopad 2026", "wrzesień 2026", "jesień 2026", "listopad 2026")
LANGUAGES = ("pl", "uk", "en", "de")
AREAS = ("participation", "external_funds", "intermunicipal", "international", "digital")
HEARD_FROM = ("zmp", "zgwrp", "fsm", "other")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """The simulated person could not go on: the bot did not do what it should have."""


# --------------------------------------------------------------------------------------------
# People and their scripts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    kind: str
    """"text": send `value`; "press": press the first button whose callback_data starts with
    `value` on the bot's newest keyboard (the references have none: `value` is sent as it is)."""
    value: str


def _text(value: str) -> Step:
    return Step("text", value)


def _press(prefix: str) -> Step:
    return Step("press", prefix)


@dataclass
class SimPerson:
    user_id: int
    steps: list[Step]
    done: int = 0
    failed_in_a_row: int = 0
    user: dict[str, Any] = field(default_factory=dict)
    chat: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.user = {
            "id": self.user_id,
            "is_bot": False,
            "first_name": "Host",
            "language_code": "pl",
        }
        self.chat = {"id": self.user_id, "type": "private", "first_name": "Host"}

    @property
    def finished(self) -> bool:
        return self.done >= len(self.steps)


def gmina_names(rng: random.Random, extra: int = 45) -> list[str]:
    """The featured names and a sample of others, only names whose every gmina has a GUS
    population (a gmina without one gets an extra question, which the script does not answer)."""
    complete: dict[str, bool] = {}
    with GMINAS_CSV.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            complete[row["name"]] = complete.get(row["name"], True) and bool(row["population"])
    names = [name for name, ok in sorted(complete.items()) if ok]
    missing = [name for name in FEATURED_GMINAS if not complete.get(name)]
    if missing:
        raise BenchError(f"{GMINAS_CSV} has no complete rows for {missing}")
    others = [name for name in names if name not in FEATURED_GMINAS]
    return [*FEATURED_GMINAS, *rng.sample(others, min(extra, len(others)))]


def host_script(rng: random.Random, number: int, names: list[str]) -> list[Step]:
    """/start → Polski → notice → Polish local government → gmina → … → submit."""
    deep_link = rng.random() < 1 / 3  # the organisers' e-mail link fills in heard_from
    gmina = rng.choice(names)
    first, surname = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
    steps = [
        _text("/start zmp" if deep_link else "/start"),
        _press("lang:pl"),
        _press("ack:"),
        _press("role:municipality"),
        _press("qa:lg_type:gmina"),
        _text(gmina if rng.random() < 0.7 else gmina.lower()),
        _press("qp:gmina:"),  # the first match
        _text(f"{first} {surname}"),
        _text(rng.choice(POSITIONS)),
        _text(f"kontakt{number}@urzad-{number % 997}.gmina.pl"),
        _text(f"{'+48 ' if rng.random() < 0.5 else ''}60{rng.randrange(10**7):07d}"),
        _press("qa:partnership_openness:yes"),
        _press("qa:ukraine_contacts:no"),
        _text(f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"),
        _text(rng.choice(POSITIONS)),
        _press(f"qt:mentor_languages:{rng.choice(LANGUAGES)}"),
        _press("qd:mentor_languages"),
        _press(f"qt:experience_areas:{rng.choice(AREAS)}"),
        _press("qd:experience_areas"),
        _text(rng.choice(PERIODS)),
        _press("qa:study_visits:yes"),
    ]
    if not deep_link:
        steps.append(_press(f"qa:heard_from:{rng.choice(HEARD_FROM)}"))
    steps += [_press("qn:skip:comments"), _press("qn:submit")]
    return steps


class Crowd:
    """Makes the people of one phase: consecutive Telegram ids from the phase's block."""

    def __init__(self, phase: int, rng: random.Random, names: list[str]) -> None:
        self.first_id = ID_BASE + phase * ID_BLOCK
        self.rng = rng
        self.names = names
        self.people: list[SimPerson] = []

    def new(self) -> SimPerson:
        number = len(self.people)
        if number >= ID_BLOCK:
            raise BenchError("too many people for one phase")
        person = SimPerson(self.first_id + number, host_script(self.rng, number, self.names))
        self.people.append(person)
        return person

    @property
    def last_id(self) -> int:
        return self.first_id + ID_BLOCK - 1


# --------------------------------------------------------------------------------------------
# Feeding updates
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    dispatcher: Dispatcher
    strict: bool
    """Presses must find their button in the keyboard the bot showed (our bot); the references
    show no keyboards, so their presses carry the script's callback_data as it is."""
    errors: Counter[str] = field(default_factory=Counter)
    """Failed updates by exception name; the person sends the same step again."""
    error_samples: dict[str, str] = field(default_factory=dict)
    """The first message of each kind of error, for the report."""


def _describe(error: BaseException) -> tuple[str, str]:
    return type(error).__name__, " ".join(str(error).split())[:300]


class Harness:
    def __init__(self, side: Side, bot: Bot) -> None:
        self.side = side
        self.bot = bot
        self.update_ids = itertools.count(1)
        self.fed = 0
        self.failures: dict[int, tuple[str, str]] = {}
        """update_id → (exception name, message), for updates that ended in an error handler."""

    def watch_errors(self, dispatcher: Dispatcher) -> None:
        """Note every update whose processing raised, even when an error handler answered it
        (our bot apologises and rolls back: the person did not get what they asked for)."""

        async def note(
            handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
            event: TelegramObject,
            data: dict[str, Any],
        ) -> Any:
            assert isinstance(event, ErrorEvent)
            self.failures[event.update.update_id] = _describe(event.exception)
            return await handler(event, data)

        dispatcher.error.outer_middleware(note)

    async def act(self, target: Target, person: SimPerson) -> bool:
        """Feed the person's next step to the target; returns once it is fully processed.

        False when it failed: the person saw an apology (or nothing) and will send it again.
        """
        step = person.steps[person.done]
        update_id = next(self.update_ids)
        try:
            if step.kind == "text":
                payload = await self.side.message(person.user, person.chat, step.value)
            else:
                payload = await self.side.press(person.user, person.chat, step.value, target.strict)
        except NoButton as error:
            raise BenchError(f"person {person.user_id}, step {person.done + 1}: {error}") from None
        payload["update_id"] = update_id
        event = Update.model_validate(payload, context={"bot": self.bot})
        try:
            result = await target.dispatcher.feed_update(self.bot, event)
        except Exception as error:  # no error handler in the references: it comes up to here
            self.failures[update_id] = _describe(error)
        else:
            if result is UNHANDLED:  # dropped by a middleware or no handler: nothing was done
                self.failures.setdefault(update_id, ("UNHANDLED", "no handler took the update"))
        self.fed += 1
        failure = self.failures.pop(update_id, None)
        if failure is None:
            person.done += 1
            person.failed_in_a_row = 0
            return True
        name, message = failure
        target.errors[name] += 1
        target.error_samples.setdefault(name, message)
        person.failed_in_a_row += 1
        if person.failed_in_a_row >= MAX_FAILURES_IN_A_ROW:
            raise BenchError(
                f"{target.name}: person {person.user_id}, step {person.done + 1} "
                f"({person.steps[person.done]}) failed {person.failed_in_a_row} times: {message}"
            )
        return False


# --------------------------------------------------------------------------------------------
# The reference bots
# --------------------------------------------------------------------------------------------


def echo_dispatcher() -> Dispatcher:
    dispatcher = Dispatcher()

    async def reply(event: TelegramObject, bot: Bot, event_chat: Chat) -> None:
        await bot.send_message(event_chat.id, "ok")

    dispatcher.message.register(reply)
    dispatcher.callback_query.register(reply)
    return dispatcher


def floor_dispatcher(sessionmaker: async_sessionmaker[AsyncSession], dialect: str) -> Dispatcher:
    """Read and touch the person's row in one transaction, commit, then reply once."""
    person = cast(Table, Person.__table__)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    by_telegram_id = select(person)
    dispatcher = Dispatcher()

    async def persist_and_reply(
        event: TelegramObject, bot: Bot, event_chat: Chat, event_from_user: User
    ) -> None:
        wanted = by_telegram_id.where(person.c.telegram_id == event_from_user.id)
        async with sessionmaker() as session, session.begin():
            row = (await session.execute(wanted)).first()
            if row is None:
                await session.execute(
                    insert(person)
                    .values(telegram_id=event_from_user.id, role="user")
                    .on_conflict_do_nothing(index_elements=[person.c.telegram_id])
                )
                row = (await session.execute(wanted)).one()
            await session.execute(
                update(person).where(person.c.id == row.id).values(updated_at=utcnow())
            )
        await bot.send_message(event_chat.id, "ok")

    dispatcher.message.register(persist_and_reply)
    dispatcher.callback_query.register(persist_and_reply)
    return dispatcher


def make_targets(app: App, backend: str) -> list[Target]:
    """The echo bot, the floor and the bot, in the order they are measured."""
    return [
        Target("echo", echo_dispatcher(), strict=False),
        Target("floor", floor_dispatcher(app.sessionmaker, backend), strict=False),
        Target("bot", app.dispatcher, strict=True),
    ]


# --------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    updates: int
    """Updates fed in the measured part, each one counted (a step sent again too)."""
    seconds: float
    latencies: list[float]
    people: int
    errors: int = 0
    """Updates that failed (the person was told so and sent the step again)."""
    cpu_seconds: float = 0.0
    """CPU time of this process in the phase (event loop and database threads; with
    `--telegram inprocess`, the fake Telegram server too): less sensitive to other load on the
    machine than wall time."""

    @property
    def cpu_ms_per_update(self) -> float:
        return self.cpu_seconds / self.updates * 1000 if self.updates else 0.0

    @property
    def per_second(self) -> float:
        return self.updates / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered))))
    return ordered[rank - 1]


@dataclass
class Closed(Result):
    steady_updates: int = 0
    steady_seconds: float = 0.0
    """The steady part: from the moment everyone's first update is done to the moment the
    first person finishes (or the phase's time box ends), with every person still active."""

    @property
    def steady_per_second(self) -> float:
        return self.steady_updates / self.steady_seconds if self.steady_seconds > 0 else 0.0

    def __add__(self, other: Closed) -> Closed:
        """Two runs of the same closed loop taken as one (the floor before and after the bot)."""
        return Closed(
            updates=self.updates + other.updates,
            seconds=self.seconds + other.seconds,
            latencies=self.latencies + other.latencies,
            people=self.people,
            errors=self.errors + other.errors,
            cpu_seconds=self.cpu_seconds + other.cpu_seconds,
            steady_updates=self.steady_updates + other.steady_updates,
            steady_seconds=self.steady_seconds + other.steady_seconds,
        )


async def closed_loop(
    harness: Harness, target: Target, people: list[SimPerson], time_box: float | None = None
) -> Closed:
    """Everyone at once, each sending the next step as soon as the last one is processed.

    Without a time box everyone goes to the end of the script; with one, people stop sending
    `time_box` seconds into the steady part (their update in flight still completes).
    """
    latencies: list[float] = []
    completions: list[float] = []
    errors = target.errors.total()
    cpu = time.process_time()
    waiting_first = len(people)
    steady_from: float | None = None
    steady_to: float | None = None
    stop_at = float("inf")

    async def walk_timed(person: SimPerson) -> None:
        nonlocal waiting_first, steady_from, steady_to, stop_at
        first = True
        while not person.finished:
            if time.perf_counter() >= stop_at:
                return  # the time box is over
            started = time.perf_counter()
            await harness.act(target, person)
            now = time.perf_counter()
            latencies.append(now - started)
            completions.append(now)
            if first:
                first = False
                waiting_first -= 1
                if waiting_first == 0:
                    steady_from = now
                    if time_box is not None:
                        stop_at = steady_to = now + time_box
        end = time.perf_counter()
        if steady_from is not None and (steady_to is None or end < steady_to):
            steady_to = end  # the first person to finish ends the steady part
            stop_at = min(stop_at, end) if time_box is not None else stop_at

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for person in people:
            group.create_task(walk_timed(person))
    seconds = time.perf_counter() - started
    begin = steady_from if steady_from is not None else started
    end = steady_to if steady_to is not None else started + seconds
    return Closed(
        updates=len(latencies),
        seconds=seconds,
        latencies=latencies,
        people=len(people),
        errors=target.errors.total() - errors,
        cpu_seconds=time.process_time() - cpu,
        steady_updates=sum(1 for t in completions if begin < t <= end),
        steady_seconds=max(0.0, end - begin),
    )


async def open_loop(
    harness: Harness,
    target: Target,
    crowd: Crowd,
    rate: float,
    seconds: float,
    pool: int,
) -> Result:
    """Start updates at fixed times whatever happens; a person waits for their previous update.

    Idle people queue in turn; when none is idle a new person arrives, so the schedule never
    waits for the bot. A person who finishes is replaced by a newcomer. Latency runs from the
    scheduled start, so time the bot makes later updates wait is charged to them. The result's
    `people` counts everyone who sent at least one update.
    """
    count = max(1, round(rate * seconds))
    idle: deque[SimPerson] = deque(crowd.new() for _ in range(pool))
    latencies: list[float] = []
    errors = target.errors.total()

    async def one(person: SimPerson, scheduled: float) -> None:
        await harness.act(target, person)
        latencies.append(time.perf_counter() - scheduled)
        idle.append(person if not person.finished else crowd.new())

    start = time.perf_counter() + 0.01
    async with asyncio.TaskGroup() as group:
        for i in range(count):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            person = idle.popleft() if idle else crowd.new()
            group.create_task(one(person, scheduled))
    elapsed = time.perf_counter() - start
    # Whoever did not finish stays where they are: when the bot falls behind, newcomers pile up
    # and taking them all to the end would take longer than the measurement. Everyone who
    # finished is checked in the database, and every press already checks the step before it.
    begun = sum(1 for p in crowd.people if p.done > 0)
    return Result(count, elapsed, latencies, begun, target.errors.total() - errors)


async def submitted_count(app: App, crowd: Crowd) -> int:
    async with app.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Application)
            .join(Person, Person.id == Application.person_id)
            .where(
                Person.telegram_id.between(crowd.first_id, crowd.last_id),
                Application.programme_id == app.programme.id,
                Application.status.in_(("eligible", "ineligible")),
            )
        )
    return int(count or 0)


@dataclass
class Phases:
    app: App
    side: Side
    harness: Harness
    rng: random.Random
    names: list[str]
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def crowd(self) -> Crowd:
        return Crowd(next(self.counter), self.rng, self.names)

    @contextlib.asynccontextmanager
    async def checked(self, target: Target, crowd: Crowd) -> AsyncIterator[None]:
        """After the phase: every Bot API call succeeded, the references replied once to each
        update that did not fail, and everyone who finished the script has a submitted
        application in the database."""
        fed, errors = self.harness.fed, target.errors.total()
        yield
        fed, errors = self.harness.fed - fed, target.errors.total() - errors
        received = await self.side.drain()
        if received["failed"]:
            raise BenchError(
                f"{target.name}: {received['failed']} Bot API calls failed, "
                f"e.g. {received['sample']}"
            )
        if not target.strict and received["calls"] != fed - errors:
            raise BenchError(
                f"{target.name}: {received['calls']} replies to {fed - errors} updates"
            )
        if target.strict:
            finished = sum(1 for p in crowd.people if p.finished)
            submitted = await submitted_count(self.app, crowd)
            if submitted != finished:
                raise BenchError(
                    f"{target.name}: {submitted} applications submitted, {finished} expected"
                )

    async def warm_up(self, target: Target) -> None:
        crowd = self.crowd()
        async with self.checked(target, crowd):
            everyone = [crowd.new() for _ in range(WARMUP_PEOPLE)]
            await closed_loop(self.harness, target, everyone)

    async def throughput(
        self,
        target: Target,
        people: int,
        time_box: float | None = None,
        profile: cProfile.Profile | None = None,
    ) -> Closed:
        crowd = self.crowd()
        everyone = [crowd.new() for _ in range(people)]
        async with self.checked(target, crowd):
            if profile is not None:
                profile.enable()
            try:
                return await closed_loop(self.harness, target, everyone, time_box)
            finally:
                if profile is not None:
                    profile.disable()

    async def latency(self, target: Target, rate: float, seconds: float) -> Result:
        crowd = self.crowd()
        pool = max(2, round(rate / 10))  # each person's next turn comes about 0.1 s later
        async with self.checked(target, crowd):
            return await open_loop(self.harness, target, crowd, rate, seconds, pool)


# --------------------------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------------------------


def _asyncpg_params(url: str) -> dict[str, Any]:
    u = make_url(url)
    return {
        "host": u.host,
        "port": u.port or 5432,
        "user": u.username,
        "password": u.password,
        "database": u.database,
    }


@contextlib.asynccontextmanager
async def database(url: str | None) -> AsyncIterator[str]:
    """A fresh SQLite file in a temporary directory, or a throwaway PostgreSQL database
    created through the server of `url` (its database is only used to create and drop ours)."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="win4ua-bench-") as directory:
            yield f"sqlite+aiosqlite:///{directory}/bench.db"
        return
    url = normalise_database_url(url)
    if not url.startswith("postgresql"):
        yield url  # an SQLite URL is used as given
        return
    import asyncpg

    name = f"win4ua_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(**_asyncpg_params(url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(**_asyncpg_params(url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def bench_settings(database_url: str, telegram_api_base: str) -> Settings:
    """Production settings but for the fakes; nothing is read from the environment or .env."""
    values: dict[str, Any] = {
        "bot_token": TOKEN,
        "database_url": database_url,
        "telegram_api_base": telegram_api_base,
        "staff_ids": [STAFF_ID],
        "programme_file": PROGRAMMES_DIR / "demo.toml",
        "redis_url": None,
        "log_level": "WARNING",
    }
    if "throttle_burst" in Settings.model_fields:
        # The per-person limit stays on (its cost is measured), but a simulated person answers
        # in milliseconds what a real one answers in minutes: let a whole journey through.
        values["throttle_burst"] = THROTTLE_BURST
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def source_version() -> str:
    """The commit measured, "+dirty" when the work tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "--no-optional-locks", "status", "--porcelain", "-uno"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _ms(value: float) -> float:
    return round(value * 1000, 2)


def _errors(result: Result) -> str:
    return f"; {result.errors} FAILED and sent again" if result.errors else ""


async def run(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    rng = random.Random(args.seed)
    names = gmina_names(rng)
    async with database(args.database_url) as url, telegram_side(args.telegram) as side:
        backend = make_url(url).get_backend_name()
        settings = bench_settings(url, side.base_url)
        say(f"preparing the {backend} database (migrations, reference data)…")
        prepared = time.perf_counter()
        async with build_app(settings, prepare=True) as app:
            say(f"  ready in {time.perf_counter() - prepared:.1f} s")
            if not app.programme.is_open(utcnow()):
                raise BenchError(f"programme {app.programme.id} is not open for applications")
            harness = Harness(side, app.bot)
            phases = Phases(app, side, harness, rng, names)
            targets = make_targets(app, backend)
            for target in targets:
                harness.watch_errors(target.dispatcher)
            for target in targets:
                await phases.warm_up(target)
            settle_memory()  # as `python -m bot run` does once it has started
            say(f"warmed up ({WARMUP_PEOPLE} people per bot)")

            closed: dict[str, Closed] = {}
            profile = cProfile.Profile() if args.profile else None
            # The floor is measured on both sides of the bot, half its time box each, so that
            # the machine speeding up or slowing down during the run moves both alike.
            floor = next(t for t in targets if t.name == "floor")
            for target in [*targets, floor]:
                bot_phase = target.name == "bot"
                time_box = args.reference_seconds
                if target is floor:
                    time_box /= 2
                result = await phases.throughput(
                    target,
                    args.people,
                    time_box=None if bot_phase else time_box,
                    profile=profile if bot_phase else None,
                )
                if target.name in closed:
                    result = closed[target.name] + result
                closed[target.name] = result
                say(
                    f"closed loop {target.name:5}: {result.updates} updates from "
                    f"{result.people} people in {result.seconds:.2f} s = "
                    f"{result.per_second:.0f}/s; steady part {result.steady_updates} in "
                    f"{result.steady_seconds:.2f} s = {result.steady_per_second:.0f}/s "
                    f"(per update: CPU {result.cpu_ms_per_update:.2f} ms, "
                    f"p50 {result.percentile_ms(0.5):.0f} ms, "
                    f"p99 {result.percentile_ms(0.99):.0f} ms)" + _errors(result)
                )

            opened: dict[str, Result] = {}
            for target in targets:
                seconds = args.latency_seconds
                if target.name != "bot":
                    seconds = min(seconds, args.reference_latency_seconds)
                if seconds <= 0:
                    continue
                measured = await phases.latency(target, args.offered_rate, seconds)
                opened[target.name] = measured
                say(
                    f"open loop   {target.name:5}: {measured.updates} updates at "
                    f"{args.offered_rate:g}/s over {measured.seconds:.1f} s "
                    f"({measured.people} people): p50 {measured.percentile_ms(0.5):.1f} ms, "
                    f"p99 {measured.percentile_ms(0.99):.1f} ms, "
                    f"max {measured.percentile_ms(1.0):.1f} ms" + _errors(measured)
                )
            for target in targets:
                for name, count in target.errors.items():
                    say(
                        f"FAILED UPDATES ({target.name}): {count} × {name}, e.g. "
                        f"{target.error_samples[name]}"
                    )

    if profile is not None:
        profile.dump_stats(args.profile)
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(40)
        say(out.getvalue())
        say(f"profile of the bot's closed loop written to {args.profile}")

    bot, echo, floor = closed["bot"], closed["echo"], closed["floor"]
    # The references are measured in their steady part (time-boxed, to keep the run short);
    # the bot over everyone's whole journey (its steady part is reported next to it).
    echo_rate, floor_rate = echo.steady_per_second, floor.steady_per_second
    latency = opened["bot"]
    summary: dict[str, Any] = {
        "updates": bot.updates,
        "updates_per_s": round(bot.per_second, 1),
        "echo_updates_per_s": round(echo_rate, 1),
        "floor_updates_per_s": round(floor_rate, 1),
        "ratio_to_echo": round(bot.per_second / echo_rate, 3),
        "ratio_to_floor": round(bot.per_second / floor_rate, 3),
        "p50_ms": _ms(percentile(latency.latencies, 0.5)),
        "p99_ms": _ms(percentile(latency.latencies, 0.99)),
        "max_ms": _ms(percentile(latency.latencies, 1.0)),
        "offered_rate": args.offered_rate,
        "latency_updates": latency.updates,
        "latency_seconds": args.latency_seconds,
        "steady_updates_per_s": round(bot.steady_per_second, 1),
        "steady_ratio_to_floor": round(bot.steady_per_second / floor_rate, 3),
        "cpu_ms_per_update": round(bot.cpu_ms_per_update, 3),
        "echo_cpu_ms_per_update": round(echo.cpu_ms_per_update, 3),
        "floor_cpu_ms_per_update": round(floor.cpu_ms_per_update, 3),
        "closed_p50_ms": _ms(percentile(bot.latencies, 0.5)),
        "closed_p99_ms": _ms(percentile(bot.latencies, 0.99)),
        "errors": bot.errors + latency.errors,
        "echo_errors": echo.errors + (opened["echo"].errors if "echo" in opened else 0),
        "floor_errors": floor.errors + (opened["floor"].errors if "floor" in opened else 0),
        "database": "postgresql" if backend == "postgresql" else "sqlite",
        "telegram": args.telegram,
        "people": args.people,
        "seed": args.seed,
        "python": platform.python_version(),
        "commit": source_version(),
        # Other work on the machine skews everything; the 1-minute load average at both ends.
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    for name in ("echo", "floor"):
        if name in opened:
            summary[f"{name}_p50_ms"] = _ms(percentile(opened[name].latencies, 0.5))
            summary[f"{name}_p99_ms"] = _ms(percentile(opened[name].latencies, 0.99))
    if args.profile:
        summary["profiled"] = True  # cProfile slows the bot's closed loop: ratios are skewed
    summary["duration_s"] = round(time.perf_counter() - began, 1)
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=200, help="concurrent people, closed loop")
    parser.add_argument(
        "--offered-rate", type=float, default=100.0, help="updates per second, open loop"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="postgresql+asyncpg://user@host:port/db: a throwaway database is created on this "
        "server and dropped afterwards (default: an SQLite file in a temporary directory)",
    )
    parser.add_argument(
        "--latency-seconds", type=float, default=10.0, help="length of the bot's open loop"
    )
    parser.add_argument(
        "--reference-seconds",
        type=float,
        default=4.0,
        help="time box of the echo and floor closed loops, counted from the moment everyone's "
        "first update is done (the floor's is split: half before the bot, half after)",
    )
    parser.add_argument(
        "--reference-latency-seconds",
        type=float,
        default=3.0,
        help="length of the echo and floor open loops (at most --latency-seconds; 0 skips them)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for names and choices")
    parser.add_argument(
        "--telegram",
        choices=PLACES,
        default="process",
        help="where the fake Bot API server runs: in a process of its own, as Telegram does "
        "(default), or in the benchmark's event loop, so that the measured process also pays "
        "Telegram's side of every call (as runs before 2026-11-22 did)",
    )
    parser.add_argument(
        "--profile", metavar="PATH", help="cProfile the bot's closed loop into PATH (pstats)"
    )
    args = parser.parse_args(argv)
    if args.people < 1 or args.offered_rate <= 0 or args.latency_seconds <= 0:
        parser.error("--people, --offered-rate and --latency-seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # SIGTERM like Ctrl-C: the run unwinds, so a throwaway PostgreSQL database is dropped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    for name in ("aiogram", "aiogram.event", "aiogram.dispatcher", "bot", "handlers", "db"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("bot.app").setLevel(logging.ERROR)  # "running the DEMO programme": we know
    # Failed updates are counted and summarised by the harness, not one traceback each.
    logging.getLogger("handlers.errors").setLevel(logging.CRITICAL)
    summary = asyncio.run(run(args))
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
