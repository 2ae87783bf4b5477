"""Property: nobody acts on someone else's objects, and nobody but staff acts as staff.

A small world is built once per run: staff with a broadcast draft, an event card and the
matching list; hosts with an active booking, a waitlist offer and a waitlist place; a host at
the summary of the questionnaire and one in the middle of it; an unmatched and a matched
intern. From it come the actions: every button those people were shown (their own booking
cards, questionnaire cards, staff cards), the same callback data forged with the real ids of
other people's bookings, applications, events and drafts, and the staff commands.

Hypothesis then draws (actor, action) pairs — the actor a stranger, a newcomer, an intern in
the middle of the form, a host with a booking of their own, or a second staff member for the
draft buttons — and sends the action through the real dispatcher. Each must be refused:
nothing changes in the database (a snapshot of every table that holds people's objects is
compared, before and after) and an audit entry says who tried what and that it was refused.

`AUTHZ_EXAMPLES` sets the number of examples (default 150 per database).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.services import booking as seats
from bot.services import matching, people
from db.models import (
    Application,
    AuditLog,
    Booking,
    Broadcast,
    Event,
    Invite,
    Match,
    Outbox,
    Person,
)
from tests.e2e.conftest import STAFF_ID, record_figure
from tests.e2e.test_fuzz import _invited_intern
from tests.e2e.test_host_journey import answer_rest, begin_as_host, pick_gmina
from tests.e2e.test_meetings import add_event, eligible
from tests.fakes.telegram_server import iter_buttons
from tests.fakes.user import FakeUser

EXAMPLES = int(os.environ.get("AUTHZ_EXAMPLES", "150"))
SECOND_STAFF = 900_000_002
# Tables whose rows are someone's objects; the audit log and processed updates are expected
# to grow.
WATCHED = (Person, Application, Booking, Event, Match, Broadcast, Invite, Outbox)
# Callback prefixes that name or act on an object: a booking, a question of an application,
# a match, an event, a broadcast draft. (Language, notice and date-picking buttons are
# everyone's own business.)
OBJECT_PREFIXES = (
    "mb", "qa", "qt", "qd", "qp", "qn", "mi", "mh", "se", "sa", "sc", "bs", "bw", "bx"
)
STAFF_COMMANDS = (
    "/stats", "/export", "/export csv", "/broadcast", "/broadcasts", "/staff list",
    "/invite 5", "/match", "/events", "/newevent",
)
BOOKING_ACTIONS = ("ics", "change", "cancel", "cancel_yes", "back", "take", "decline", "dates")


@dataclass(frozen=True)
class Action:
    kind: str  # booking, answers, match, events, broadcast (drafts), broadcast_staff, command
    data: str  # callback data, or the command for kind "command"
    owner: int | None = None  # the telegram id whose own object it is, if any


def _kind(data: str) -> str:
    prefix = data.split(":", 1)[0]
    if prefix == "mb":
        return "booking"
    if prefix in ("mi", "mh"):
        return "match"
    if prefix in ("se", "sa", "sc"):
        return "events"
    if prefix in ("bs", "bw"):
        return "broadcast"
    if prefix == "bx":
        return "broadcast_staff"
    return "answers"


class World:
    """The people and objects the actions come from, and the actors who try them."""

    def __init__(self, app, tg, make_user) -> None:
        self.app, self.tg, self.make_user = app, tg, make_user
        self.actors: dict[str, FakeUser] = {}
        self.actions: list[Action] = []
        self.booking_owner: dict[int, int] = {}
        self.pairs: dict[str, list[tuple[str, Action]]] = {}  # by kind of action
        self.tally: Counter[str] = Counter()

    async def build(self) -> None:
        app, now = self.app, datetime.now(UTC).replace(microsecond=0)
        full = await add_event(app, now + timedelta(days=10), capacity=1, now=now)
        roomy = await add_event(app, now + timedelta(days=12), capacity=5, now=now)
        staff = FakeUser(self.tg, STAFF_ID, language_code="en")
        await eligible(app, staff, "en", audience=None)
        holder, offered, waiting = (self.make_user() for _ in range(3))
        for user in (holder, offered, waiting):
            await eligible(app, user)
        free_intern, matched_intern = self.make_user("uk"), self.make_user("uk")
        for user in (free_intern, matched_intern):
            await eligible(app, user, "uk", audience="intern")
        async with app.sessionmaker() as session, session.begin():
            person = {u.user_id: await people.on_contact(session, u.user_id)
                      for u in (staff, holder, offered, waiting, free_intern, matched_intern)}
            programme = app.programme
            first = await seats.choose(session, programme, person[holder.user_id], full, now)
            await seats.join_waitlist(session, programme, person[offered.user_id], full, now)
            await seats.join_waitlist(session, programme, person[waiting.user_id], full, now)
            await seats.cancel(session, programme, person[holder.user_id], first.booking.id, now)
            await seats.choose(session, programme, person[holder.user_id], roomy, now)
            apps = {a.person_id: a for a in (await session.scalars(select(Application))).all()}
            host_app = apps[person[holder.user_id].id]
            await matching.match(session, apps[person[matched_intern.user_id].id].id,
                                 host_app.id, now, actor=person[STAFF_ID])
            await people.set_role(session, SECOND_STAFF, "staff")
        # Hosts in the questionnaire: one at the summary, one in the middle.
        summary, middle = self.make_user(), self.make_user()
        await begin_as_host(summary, "pl")
        await pick_gmina(summary, "Hel", "Hel")
        await answer_rest(summary, "pl")
        await begin_as_host(middle, "pl")
        await pick_gmina(middle, "Hel", "Hel")
        # Staff open their cards, so their real buttons are in the history too.
        await staff.send("/broadcast")
        await staff.send("/events")
        await staff.press(0)
        await staff.send("/match")
        for user in (holder, offered, waiting):  # their booking cards
            await user.send("/meetings")

        # The actors.
        newcomer, intern = self.make_user(), self.make_user("uk")
        await newcomer.send("/start")
        await newcomer.press("Polski")
        await newcomer.press(0)
        await _invited_intern(app, intern)
        stranger = self.make_user()
        second_staff = FakeUser(self.tg, SECOND_STAFF, language_code="en")
        await eligible(app, second_staff, "en", audience=None)
        await second_staff.send("/help")  # so it has a chat to press in
        self.actors = {
            "stranger": stranger,
            "newcomer": newcomer,
            "intern": intern,
            "holder": holder,
            "offered": offered,
            "waiting": waiting,
            "second_staff": second_staff,
        }
        await self._collect(now, [staff, holder, offered, waiting, summary, middle])
        async with app.sessionmaker() as session:  # the world is what this test assumes
            statuses = Counter((await session.scalars(select(Booking.status))).all())
            assert statuses == Counter({"active": 1, "offered": 1, "waitlisted": 1, "cancelled": 1})
            assert await session.scalar(select(Match)) is not None
            drafts = (await session.scalars(select(Broadcast.status))).all()
            assert drafts == ["draft"]
            forms = (await session.scalars(
                select(Application.current_question).where(Application.status == "draft")
            )).all()
            assert None in forms and any(forms), forms
        assert {a.kind for a in self.actions} >= {"booking", "answers", "match", "events",
                                                    "broadcast", "broadcast_staff", "command"}

    async def _collect(self, now: datetime, shown_to: list[FakeUser]) -> None:
        async with self.app.sessionmaker() as session:
            bookings = (await session.scalars(select(Booking))).all()
            owners = {p.id: p.telegram_id for p in (await session.scalars(select(Person))).all()}
            ids = {
                "booking": [b.id for b in bookings],
                "application": list((await session.scalars(select(Application.id))).all()),
                "intern": list((await session.scalars(
                    select(Application.id).where(Application.audience == "intern"))).all()),
                "host": list((await session.scalars(
                    select(Application.id).where(Application.audience == "municipality"))).all()),
                "event": list((await session.scalars(select(Event.id))).all()),
                "broadcast": list((await session.scalars(select(Broadcast.id))).all()),
            }
        self.booking_owner = {b.id: owners[b.person_id] for b in bookings}
        seen: dict[str, Action] = {}
        # Every button these people were ever shown, with its owner.
        for user in shown_to:
            for call in self.tg.calls(chat_id=user.chat_id):
                for data in _callback_data(call.params.get("reply_markup")):
                    if data.split(":", 1)[0] in OBJECT_PREFIXES:
                        seen[data] = Action(_kind(data), data, self._owner(data, user))
        # The same shapes forged with the real ids of everyone's objects.
        forged = [f"mb:{a}:{b}" for a in BOOKING_ACTIONS for b in ids["booking"]]
        forged += [f"mi:{a}" for a in ids["application"]]
        forged += [f"mh:{a}:{h}:{c}" for a in ids["intern"] for h in ids["host"] for c in (0, 1)]
        forged += [f"mh:{h}:{a}:1" for a in ids["intern"] for h in ids["host"]]  # swapped
        forged += [f"se:{a}:{e}" for a in ("show", "move", "cancel", "cancel_yes", "people",
                                            "edit", "list", "new") for e in ids["event"]]
        forged += [f"sa:{b}:{m}" for b in ids["booking"] for m in ("attended", "no_show")]
        forged += ["sc:kind:info_meeting", "sc:audience:all", "sc:field:capacity", "sc:create:1"]
        for b in ids["broadcast"]:
            forged += [f"bs:{b}:everyone:", f"bs:{b}:event:{ids['event'][0]}", f"bs:{b}:language:"]
            forged += [f"bw:{b}:{a}" for a in ("next:pl", "fallback:en", "preview:", "now:1",
                                               "at:1", "later:", "segments:", "drop:")]
            forged += [f"bx:{b}"]
        for data in forged:
            seen.setdefault(data, Action(_kind(data), data, self._owner(data, None)))
        self.actions = sorted(seen.values(), key=lambda a: a.data)
        self.actions += [Action("command", c) for c in STAFF_COMMANDS]
        self.actions += [Action("command", f"/staff {role} {{actor}}") for role in ("add", "admin")]
        self.pairs = {}
        for name, user in self.actors.items():
            for action in self.actions:
                if self._applies(name, user, action):
                    self.pairs.setdefault(action.kind, []).append((name, action))

    def _owner(self, data: str, shown_to: FakeUser | None) -> int | None:
        prefix, _colon, rest = data.partition(":")
        if prefix == "mb":
            b = rest.rsplit(":", 1)[-1]
            return self.booking_owner.get(int(b)) if b.isdigit() else None
        return shown_to.user_id if shown_to is not None else None

    def _applies(self, name: str, user: FakeUser, action: Action) -> bool:
        """Pairs where the action is not the actor's own business."""
        if action.owner == user.user_id:
            return False
        if name == "second_staff":
            # Staff may use staff cards; a draft is its author's alone.
            return action.kind in ("booking", "answers", "broadcast")
        if action.kind == "answers":
            # Those with an application at the summary (holder, offered, waiting: answers {} and
            # no current question) could legitimately edit their own; the form buttons carry
            # no ids, so they act on the presser's own application or on nothing.
            return name in ("stranger", "newcomer", "intern")
        # "Other dates" from a full date (b=0) is everyone's.
        return not action.data.startswith("mb:dates:0")


def _callback_data(markup: Any) -> list[str]:
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return []
    found = []
    for _row, _col, button in iter_buttons(markup):
        if isinstance(button, dict) and button.get("callback_data"):
            found.append(str(button["callback_data"]))
    return found


async def snapshot(app) -> dict[str, dict[Any, dict[str, Any]]]:
    taken: dict[str, dict[Any, dict[str, Any]]] = {}
    async with app.sessionmaker() as session:
        for model in WATCHED:
            table = model.__table__
            rows = (await session.execute(select(table))).all()
            taken[table.name] = {row.id: dict(row._mapping) for row in rows}
    return taken


def changes(before, after, actor_id: int) -> list[str]:
    found = []
    for table, rows in after.items():
        for key, row in rows.items():
            old = before[table].get(key)
            if old is None:
                first_contact = table == "person" and row["telegram_id"] == actor_id
                if not first_contact:
                    found.append(f"{table} #{key} added")
            elif old != row:
                found.append(f"{table} #{key} changed")
        found += [f"{table} #{key} removed" for key in before[table] if key not in rows]
    return found


async def refusals_of(app, telegram_id: int, since: dict[int, int]) -> list[AuditLog]:
    """Audit rows of the person written or counted again since the `audit_counts` snapshot
    (refusals of one person are folded into one row an hour, with a count)."""
    async with app.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditLog)
            .join(Person, Person.id == AuditLog.actor_id)
            .where(Person.telegram_id == telegram_id)
        )
        return [row for row in rows.all() if (row.count or 1) > since.get(row.id, 0)]


async def audit_counts(app) -> dict[int, int]:
    async with app.sessionmaker() as session:
        rows = await session.execute(select(AuditLog.id, AuditLog.count))
        return {row_id: count or 1 for row_id, count in rows.all()}


@pytest.fixture
async def world(bot, tg, user_factory) -> World:
    tg.register_chat(STAFF_ID)
    return World(bot, tg, user_factory)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(choice=st.data())
async def test_nobody_acts_on_what_is_not_theirs(world, backend, choice) -> None:
    if not world.pairs:
        await world.build()
    # The kind first, so the many forged match pairs do not crowd out the rest.
    kind = choice.draw(st.sampled_from(sorted(world.pairs)), label="kind")
    name, action = choice.draw(st.sampled_from(world.pairs[kind]), label="actor, action")
    actor = world.actors[name]
    before, since = await snapshot(world.app), await audit_counts(world.app)
    if action.kind == "command":
        await actor.send(action.data.format(actor=actor.user_id))
    else:
        await actor.press_data(action.data, None if actor.messages() else 1)
    changed = changes(before, await snapshot(world.app), actor.user_id)
    world.tally["examples"] += 1
    world.tally[action.kind] += 1
    if changed:
        world.tally["accepted"] += 1
    refused = [row for row in await refusals_of(world.app, actor.user_id, since)
               if not row.allowed]
    world.tally["audited" if refused else "not audited"] += 1
    record_figure(
        f"authz[{backend}]",
        f"{world.tally['examples']} examples "
        f"({sum(map(len, world.pairs.values()))} possible pairs), forged "
        f"actions accepted {world.tally['accepted']}, refusals audited "
        f"{world.tally['audited']}, "
        + "".join(f"{k} {v}, " for k, v in world.tally.items() if k.startswith("not audited"))
        + "by kind "
        + ", ".join(f"{k} {world.tally[k]}" for k in sorted(
            ("booking", "answers", "match", "events", "broadcast", "broadcast_staff",
             "command"))),
    )
    assert changed == [], f"{name} did {action.data!r}: {changed}"
    assert refused, f"{name} did {action.data!r}: refused but not audit-logged"
    assert any(
        (row.detail or {}).get("last", (row.detail or {}).get("data", "")).split(" ")[0]
        == action.data.format(actor=actor.user_id).split(" ")[0]
        for row in refused
    ), f"{name} did {action.data!r}: the audit entry does not say what"
