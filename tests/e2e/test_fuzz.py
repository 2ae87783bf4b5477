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
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.services import invites, questionnaire
from db.models import Application, Person
from tests.e2e.conftest import STAFF_ID, onboard
from tests.e2e.test_host_journey import answer_rest, begin_as_host, pick_gmina
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
callback_data = st.one_of(
    st.text(max_size=64).filter(lambda s: len(s.encode()) <= 64),
    st.builds(
        lambda p, a, b: f"{p}:{a}:{b}"[:64],
        st.sampled_from(PREFIXES),
        st.sampled_from(["gmina", "lg_type", "email", "x", "999", "-1", "", "edit"]),
        st.sampled_from(["gmina", "powiat", "yes", "1", "0", "1218093", "submit", "ö"]),
    ),
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
            return (
                person.language,
                person.consent_at is not None,
                application.current_question if application else "-",
                application.status if application else "-",
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
}
STATES = sorted(DRIVERS)


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
            internal = {"_choosing", "_anonymised"}
            assert set(application.answers) <= {q.id for q in spec.questions} | internal
            assert (application.status == "draft") == (application.submitted_at is None)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(state=st.sampled_from(STATES), action=actions)
async def test_any_input_in_any_state(pool, tg, errors, state: str, action) -> None:
    user = await pool.get(state)
    since, errors_before = len(tg.calls()), errors.count
    _name, act = action
    await act(user)
    assert errors.count == errors_before, "an update raised an unhandled exception"
    assert _telegram_refusals(tg, since) == []
    for call in tg.calls()[since:]:
        text = call.params.get("text")
        assert text is None or len(text) <= 4096
    await _database_is_consistent(pool.app)
