"""Property: whatever arrives, in whatever conversation state, the bot stays well-behaved.

Hypothesis picks a conversation state (a person kept in that state in a pool, re-created when
an input moves them on) and something to throw at the bot: text of 0 to 10,000 characters with
emoji, RTL overrides, zero-width and NUL characters, HTML- and SQL-looking strings; stickers,
photos, locations, contacts, voice, edited and forwarded messages, group and channel posts;
random, stale and forged callback data. Invariants: no unhandled exception; Telegram accepts
every call (each text ≤ 4096 characters and valid HTML — the fake server enforces both); the
database stays consistent; nothing is stored from groups or channels.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.services import booking as seats
from bot.services import invites, people, questionnaire
from bot.services.reminders import BOOKING_KINDS
from db.models import Application, Booking, Event, Outbox, Person
from tests.e2e.conftest import STAFF_ID, onboard, record_figure
from tests.e2e.test_host_journey import answer_rest, begin_as_host, pick_gmina
from tests.e2e.test_meetings import add_event, eligible
from tests.fakes.user import FakeUser

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
GROUP_CHAT = -4_000_000_001
CHANNEL = -1_002_000_000_001

NASTY = [
    "\u202e",
    "\u200b",
    "\x00",
    "<b>",
    "</i>",
    "<a href='x'>",
    "&amp;",
    "'; DROP TABLE person; --",
    "%",
    "_",
    "🇺🇦",
    "👩🏽‍💻",
    "\n",
    "Zażółć",
    "Ґґ",
    "/start",
    "{name}",
    "{0}",
]
texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(NASTY), max_size=12).map("".join),
    st.builds(
        lambda s, n: (s * n)[:10_000], st.text(min_size=1, max_size=12), st.integers(1, 2_000)
    ),
    st.sampled_from(
        [
            "",
            " ",
            "Wadowice",
            "boleslawiec",
            "біла церква",
            "anna@hel.pl",
            "+48 600 100 200",
            "12",
            "Tak",
            "1",
            "99",
            "15.10.2026",
        ]
    ),
)
PREFIXES = ["qa", "qt", "qd", "qp", "qn", "role", "lang", "ack", "news", "erase", "mi", "mh"]
# Meetings and the staff wizards: dates, waitlist, bookings, events, broadcasts.
PREFIXES += ["mp", "mw", "mb", "se", "sa", "sc", "bs", "bw", "bx"]
FIRST = ["gmina", "lg_type", "email", "x", "999", "-1", "", "edit", "1", "2", "3"]
FIRST += ["cancel_yes", "take", "decline", "dates", "change", "show", "kind", "now", "drop"]
SECOND = ["gmina", "powiat", "yes", "1", "0", "1218093", "submit", "ö", "2", "everyone"]
SECOND += ["attended", "info_meeting", "pl", "next", "preview", "now:99", "at:1", "event:1"]
callback_data = st.one_of(
    st.text(max_size=64).filter(lambda s: len(s.encode()) <= 64),
    st.builds(
        lambda p, a, b: f"{p}:{a}:{b}"[:64],
        st.sampled_from(PREFIXES),
        st.sampled_from(FIRST),
        st.sampled_from(SECOND),
    ),
    st.builds(lambda p, n: f"{p}:{n}", st.sampled_from(["mp", "mw", "bx", "mi"]),
              st.integers(-1, 5)),
)

Action = Callable[[FakeUser], Awaitable[Any]]
actions: st.SearchStrategy[tuple[str, Action]] = st.one_of(
    texts.map(lambda t: ("text", lambda u: u.send(t))),
    callback_data.map(lambda d: ("callback", lambda u: _press(u, d))),
    st.sampled_from(
        [
            ("sticker", lambda u: u.send_sticker()),
            ("photo", lambda u: u.send_photo()),
            ("voice", lambda u: u.send_voice()),
            ("location", lambda u: u.send_location(50.45, 30.52)),
            ("contact", lambda u: u.share_contact()),
            ("document", lambda u: u.send_document()),
            ("edited", lambda u: _edit_last(u)),
            ("forward", lambda u: u.forward("przekazane")),
            ("group", lambda u: u.group_message("/start", chat_id=GROUP_CHAT)),
            ("channel", lambda u: u.channel_post("/start", chat_id=CHANNEL)),
            ("start", lambda u: u.send("/start")),
            ("delete", lambda u: u.send("/delete")),
        ]
    ),
)


async def _press(user: FakeUser, data: str) -> None:
    """A press on the newest card, or on a card long gone (an inaccessible message)."""
    await user.press_data(data, None if user.messages() else 1)


async def _edit_last(user: FakeUser) -> None:
    """An edited message needs an earlier text message of the person's own to edit."""
    if not (user._last_sent or {}).get("text"):
        await user.forward("przekazane")
        return
    await user.edit_last("zmiana")


class Pool:
    """One person per conversation state; a person an input moved on is replaced."""

    def __init__(self, app, tg, make_user) -> None:
        self.app, self.tg, self.make_user = app, tg, make_user
        self.people: dict[str, FakeUser] = {}
        self.signatures: dict[str, tuple[Any, ...]] = {}

    async def signature(self, user: FakeUser) -> tuple[Any, ...]:
        async with self.app.sessionmaker() as session:
            person = await session.scalar(select(Person).where(Person.telegram_id == user.user_id))
            if person is None:
                return ("none",)
            application = await questionnaire.find(session, person, self.app.programme)
            bookings = (
                await session.scalars(
                    select(Booking.status)
                    .where(Booking.person_id == person.id)
                    .order_by(Booking.id)
                )
            ).all()
            form = await self.app.dispatcher.fsm.get_context(
                self.app.bot, user.chat_id, user.user_id
            ).get_state()
            return (
                person.language,
                person.consent_at is not None,
                person.role,
                application.current_question if application else "-",
                application.status if application else "-",
                tuple(bookings),
                form,
            )

    async def get(self, state: str) -> FakeUser:
        user = self.people.get(state)
        if user is not None and await self.signature(user) == self.signatures[state]:
            return user
        user = self.make_user()
        await DRIVERS[state](self.app, user)
        self.people[state] = user
        self.signatures[state] = await self.signature(user)
        return user


async def _invited_intern(app, user: FakeUser) -> None:
    async with app.sessionmaker() as session, session.begin():
        [invite] = await invites.create(session, 1)
    await user.start(invite.code)
    await user.press(0)
    for text in ("Олена Коваль", "Заступниця голови", "Відділ економіки"):
        await user.send(text)
    await user.press("Середня ланка")


async def _to_summary(app, user: FakeUser) -> None:
    await begin_as_host(user, "pl")
    await pick_gmina(user, "Hel", "Hel")
    await answer_rest(user, "pl")


async def _submitted(app, user: FakeUser) -> None:
    await _to_summary(app, user)
    await user.press("Wyślij zgłoszenie")


async def _events(app) -> tuple[int, int]:
    """A full date (its two seats taken by others) and one with room, made once; told apart
    from the one-seat dates of `_offered` by their capacity."""
    async with app.sessionmaker() as session:
        found = {
            e.capacity: e.id
            for e in (await session.scalars(select(Event).where(Event.capacity.in_((2, 500)))))
        }
    if len(found) == 2:
        return found[2], found[500]
    now = datetime.now(UTC).replace(microsecond=0)
    full = await add_event(app, now + timedelta(days=8), capacity=2, now=now)
    roomy = await add_event(app, now + timedelta(days=9), capacity=500, now=now)
    await _book(app, _filler(app), full)
    await _book(app, _filler(app), full)
    return full, roomy


_fillers = iter(range(700_000_001, 800_000_000))


def _filler(app) -> int:
    return next(_fillers)


async def _book(app, telegram_id: int, event_id: int, wait: bool = False) -> int:
    """Someone eligible (made here if need be) takes a seat or joins the waitlist."""
    async with app.sessionmaker() as session, session.begin():
        person = await people.on_contact(session, telegram_id)
        people.set_language(person, "pl")
        people.record_consent(person, people.PRIVACY_NOTICE_VERSION)
        if await questionnaire.find(session, person, app.programme) is None:
            session.add(Application(person_id=person.id, programme_id=app.programme.id,
                                    audience="municipality", status="eligible", answers={},
                                    submitted_at=datetime.now(UTC)))
            await session.flush()
        now = datetime.now(UTC)
        join = seats.join_waitlist if wait else seats.choose
        return (await join(session, app.programme, person, event_id, now)).booking.id


async def _dates(app, user: FakeUser) -> None:
    await _events(app)
    await eligible(app, user)
    await user.send("/meetings")


async def _waitlist_offer(app, user: FakeUser) -> None:
    """Pressed the full date: offered to join its waitlist."""
    await _dates(app, user)
    await user.press(0)


async def _booked(app, user: FakeUser) -> None:
    """My booking: the card with calendar file, change and cancel."""
    _full, roomy = await _events(app)
    await eligible(app, user)
    await _book(app, user.user_id, roomy)
    await user.send("/meetings")


async def _offered(app, user: FakeUser) -> None:
    """A seat freed on a full date: offered to the first in line."""
    now = datetime.now(UTC).replace(microsecond=0)
    event = await add_event(app, now + timedelta(days=10), capacity=1, now=now)
    holder = _filler(app)
    seat = await _book(app, holder, event)
    await eligible(app, user)
    await _book(app, user.user_id, event, wait=True)
    async with app.sessionmaker() as session, session.begin():
        person = await people.on_contact(session, holder)
        await seats.cancel(session, app.programme, person, seat, datetime.now(UTC))
    await user.send("/meetings")


async def _staff(app, user: FakeUser) -> None:
    await eligible(app, user, "en", audience=None)
    async with app.sessionmaker() as session, session.begin():
        await people.set_role(session, user.user_id, "staff")


async def _broadcast_segment(app, user: FakeUser) -> None:
    await _staff(app, user)
    await user.send("/broadcast")


async def _broadcast_text(app, user: FakeUser) -> None:
    await _broadcast_segment(app, user)
    await user.press("Everyone")


async def _broadcast_confirm(app, user: FakeUser) -> None:
    """Both texts written: the preview and send buttons."""
    await _broadcast_text(app, user)
    await user.send("Dzień dobry, zapraszamy.")
    await user.press(0)  # next language
    await user.send("Добрий день, запрошуємо.")
    await user.press(0)
    await user.send("Good morning, welcome.")
    await user.press(0)
    await user.press("English")  # for those whose language has no text
    await user.press(0)  # no attachment


async def _newevent_kind(app, user: FakeUser) -> None:
    await _staff(app, user)
    await user.send("/newevent")


async def _newevent_start(app, user: FakeUser) -> None:
    await _newevent_kind(app, user)
    await user.press("information meeting")
    await user.press("host local governments")


async def _newevent_titles(app, user: FakeUser) -> None:
    await _newevent_start(app, user)
    await user.send((datetime.now(UTC) + timedelta(days=30)).strftime("%d.%m.%Y 10:00"))
    for text in ("60", "20", "https://meet.example.org/x"):
        await user.send(text)


DRIVERS: dict[str, Callable[[Any, FakeUser], Awaitable[None]]] = {
    "new": lambda app, u: _opened(u),
    "language": lambda app, u: u.send("/start"),
    "notice": lambda app, u: _seq(u.send("/start"), lambda: u.press("Polski")),
    "home": lambda app, u: onboard(u, "Polski"),
    "gmina": lambda app, u: begin_as_host(u, "pl"),
    "matches": lambda app, u: _seq(begin_as_host(u, "pl"), lambda: u.send("Bolesławiec")),
    "text": lambda app, u: _seq(begin_as_host(u, "pl"), lambda: pick_gmina(u, "Hel", "Hel")),
    "summary": _to_summary,
    "submitted": _submitted,
    "hromada": _invited_intern,
    "dates": _dates,
    "waitlist offer": _waitlist_offer,
    "my booking": _booked,
    "seat offered": _offered,
    "broadcast segment": _broadcast_segment,
    "broadcast text": _broadcast_text,
    "broadcast confirm": _broadcast_confirm,
    "new event kind": _newevent_kind,
    "new event start": _newevent_start,
    "new event titles": _newevent_titles,
}
STATES = sorted(DRIVERS)
TALLY: dict[str, Counter[str]] = {"sqlite": Counter(), "postgresql": Counter()}


async def _opened(user: FakeUser) -> None:
    """Opened the chat with the bot, sent nothing yet."""
    user.tg.register_chat(user.chat_id)


async def _seq(first: Awaitable[Any], then: Callable[[], Awaitable[Any]]) -> None:
    await first
    await then()


class ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@pytest.fixture
def errors():
    counter = ErrorCounter()
    logger = logging.getLogger()
    logger.addHandler(counter)
    yield counter
    logger.removeHandler(counter)


@pytest.fixture
def pool(bot, tg, user_factory) -> Pool:
    tg.register_chat(STAFF_ID)
    # Random input is not anyone's personal data: no canaries from the fuzzer.
    return Pool(bot, tg, lambda: user_factory(language_code="pl", canaries=None))


def _telegram_refusals(tg, since: int) -> list[str]:
    refused = []
    for call in tg.calls()[since:]:
        if call.method == "getUpdates" or call.ok:
            continue
        if "message is not modified" in (call.description or ""):
            continue  # a repeated press: Telegram refuses, the bot shrugs it off
        refused.append(f"{call.method}: {call.response_status} {call.description}")
    return refused


async def _database_is_consistent(app) -> None:
    async with app.sessionmaker() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(Person)
                .where(Person.telegram_id.in_((GROUP_CHAT, CHANNEL)))
            )
            == 0
        ), "something was stored from a group or channel"
        for application in (await session.scalars(select(Application))).all():
            spec = app.programme.audience(application.audience)
            shown = {q.id for q in questionnaire.visible_questions(spec, application.answers)}
            if application.current_question is not None:
                assert application.current_question in shown
            internal = {"_choosing", "_anonymised", "_place_search"}
            assert set(application.answers) <= {q.id for q in spec.questions} | internal
            assert (application.status == "draft") == (application.submitted_at is None)
        # Bookings: a seat counted for each active booking and open offer, never more than
        # the capacity; one live booking per person; no message about a booking that ended.
        held = dict(
            (
                await session.execute(
                    select(Booking.event_id, func.count())
                    .where(Booking.status.in_(("active", "offered")))
                    .group_by(Booking.event_id)
                )
            ).all()
        )
        for event in (await session.scalars(select(Event))).all():
            assert event.seats_taken == held.get(event.id, 0), f"seats of event {event.id}"
            assert event.capacity is None or event.seats_taken <= event.capacity
        live = (
            await session.execute(
                select(Booking.person_id, func.count())
                .where(Booking.status.in_(seats.LIVE))
                .group_by(Booking.person_id)
                .having(func.count() > 1)
            )
        ).all()
        assert live == [], "someone has two live bookings"
        orphans = await session.scalar(
            select(func.count())
            .select_from(Outbox)
            .join(Booking, Booking.id == Outbox.booking_id)
            .where(
                Outbox.status == "pending",
                Outbox.kind.in_(BOOKING_KINDS),
                Booking.status.not_in(seats.LIVE),
            )
        )
        assert orphans == 0, "a reminder or offer is pending for a booking that ended"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(state=st.sampled_from(STATES), action=actions)
async def test_any_input_in_any_state(pool, tg, errors, backend, state: str, action) -> None:
    user = await pool.get(state)
    since, errors_before = len(tg.calls()), errors.count
    _name, act = action
    await act(user)
    TALLY[backend][state] += 1
    record_figure(
        f"fuzz[{backend}]",
        f"{sum(TALLY[backend].values())} examples; per state: "
        + ", ".join(f"{name} {TALLY[backend][name]}" for name in STATES),
    )
    assert errors.count == errors_before, "an update raised an unhandled exception"
    assert _telegram_refusals(tg, since) == []
    for call in tg.calls()[since:]:
        text = call.params.get("text")
        assert text is None or len(text) <= 4096
    await _database_is_consistent(pool.app)
