"""Every path reaches a verdict: journeys generated from every programme file in programmes/.

A person answers each question of a programme's questionnaire the way people do: every choice
value of every question (yes and no both ways), optional questions skipped, a wrong and then a
right value typed into free inputs, Back to the previous question, a change from the summary,
and then sends the application. When an answer already rules the application out, the bot says
so at once; the journey either changes the answer or stops there.

Which values a journey takes: the *covering* journeys take, at each question, the option taken
least often so far, until every option of every question reached has been taken (at least nine
journeys per audience, languages in turn; every third one stops at an answer that rules it out,
the others change that answer and go on); wrong values are typed once per question and
language. Cheaper than the cross product, which is left to hypothesis, drawing whole journeys
at random (JOURNEY_EXAMPLES per programme file).

Asserted after every step: no "error on our side" reply, no unhandled exception (the error
handler logs at ERROR), no raw placeholder ("{limit}") in anything sent, every text in the
person's language (no sentence of another language's catalog or programme texts); at the end:
a verdict stored (eligible or ineligible, as the programme's rules say for the answers given),
/mydata rendering the reasons too, and, going forward, a "Question 3 of 17" whose total never
grew.
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any, NoReturn

import pytest
from babel.messages.pofile import read_po
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.callbacks import Answer, Done, Nav, Place, RoleChoice, Toggle, packed
from bot.i18n import LANGUAGE_NAMES, LOCALES_DIR
from bot.programme import PROGRAMMES_DIR, Programme, Question, load_programme
from bot.services import eligibility, invites, questionnaire
from db.models import Application, Person
from tests.e2e.conftest import onboard, record_figure
from tests.fakes.user import FakeUser

PROGRAMME_FILES = sorted(path.name for path in PROGRAMMES_DIR.glob("*.toml"))
LANGUAGES = ("pl", "uk", "en")
AUDIENCES = ("municipality", "intern")
EXAMPLES = int(os.environ.get("JOURNEY_EXAMPLES", "10"))

# Places in the reference data, for the picker questions: a small one, one over the
# programme's population limit, one without an official figure (the person states it).
PLACES: dict[str, list[tuple[str, str]]] = {
    "gmina": [("Hel", "2211011"), ("Warszawa", "1465011"), ("Szczawa", "1207132")],
    "powiat": [("sejneński", "2009"), ("poznański", "3021")],
    "hromada": [("Біла Церква", "UA32020010000093088"), ("Vinnytska", "UA05020030000031457")],
}
PHONES = {"PL": "600 100 200", "UA": "067 123 4567"}
ERROR_MSGID = "Sorry, something went wrong on our side. Nothing was saved; please try again."
STALE_MSGID = "This button is no longer active."
PLACEHOLDER = re.compile(r"\{[A-Za-z_]\w*\}|\{\}")


@dataclass(frozen=True)
class Option:
    """One way to answer a question: press a choice, toggle some, pick a place, type, skip."""

    how: str  # press | toggle | place | typed | contact | skip
    value: Any = None


def options(question: Question, phone_region: str) -> list[Option]:
    kind = question.kind
    found: list[Option]
    if kind == "yes_no":
        found = [Option("press", "yes"), Option("press", "no")]
    elif kind == "single_choice":
        found = [Option("press", choice.id) for choice in question.choices]
    elif kind == "multiple_choice":
        ids = [choice.id for choice in question.choices]
        found = [Option("toggle", (choice,)) for choice in ids]
        if len(ids) > 1:  # on, on, off again: the second one stays
            found.append(Option("toggle", (ids[0], ids[1], ids[0])))
    elif kind in PLACES:
        found = [Option("place", place) for place in PLACES[kind]]
    elif kind == "integer":
        low, high = question.min_value or 0, question.max_value or 10**9
        found = [Option("typed", str(min(max(n, low), high))) for n in (3_500, 200_000)]
    elif kind == "email":
        found = [Option("typed", "anna.kowalska@example.org")]
    elif kind == "phone":
        found = [Option("typed", PHONES.get(phone_region, "+48 600 100 200")), Option("contact")]
    elif kind == "date":
        found = [Option("typed", "15.10.2026")]
    else:  # text, long_text
        text = "Anna Kowalska"
        found = [Option("typed", text.ljust(question.min_length, ".")[: question.limit])]
    if not question.required:
        found.insert(0, Option("skip"))
    return list(dict.fromkeys(found))


def invalid_inputs(question: Question) -> list[str]:
    """Typed answers the question must refuse politely."""
    kind = question.kind
    if kind in ("text", "long_text"):
        wrong = ["x" * (question.limit + 1)]
        return [*wrong, "A"] if question.min_length > 1 else wrong
    if kind == "integer":
        above = [str(question.max_value + 1)] if question.max_value is not None else []
        return ["dużo", *above]
    return {
        "email": ["anna@"],
        "phone": ["12"],
        "date": ["31.02.2026"],
        "yes_no": ["może"],
        "single_choice": ["może"],
        "gmina": ["Xyzzyq"],
        "powiat": ["Xyzzyq"],
        "hromada": ["Xyzzyq"],
    }.get(kind, [])


@dataclass
class Journey:
    programme: str
    audience: str
    language: str
    picks: dict[str, int] | None  # question id → index into its options; None: least taken
    back_at: str | None = None  # press Back on this question's card, keep the answer shown
    edit_at: str | None = None  # change this answer from the summary
    stop_early: bool = False  # when an answer rules the application out: stop (else change)

    def describe(self) -> str:
        return (
            f"{self.programme} {self.audience} {self.language} picks={self.picks} "
            f"back={self.back_at} edit={self.edit_at} stop={self.stop_early}"
        )


@dataclass
class Tally:
    journeys: int = 0
    updates: int = 0
    taken: set[tuple[str, str, str, int]] = field(default_factory=set)
    early: int = 0
    stopped: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)


TALLY: dict[str, Tally] = {}


# ------------------------------------------------------------------------- language checks


def _fragments(text: str) -> Iterator[str]:
    """Sentences of a catalog or programme text, without placeholders and markup."""
    for part in re.split(r"\{[^}]*\}|<[^>]+>|\n|•|[.!?:;—()«»“”„\"]", html.unescape(text)):
        part = " ".join(part.split())
        if len(part) >= 14 and " " in part:
            yield part


@cache
def _catalog_texts(language: str) -> frozenset[str]:
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    texts: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        for text in strings if any(strings) else ids:
            if text:
                texts.update(_fragments(text))
    return frozenset(texts)


def _programme_texts(programme: Programme, language: str) -> set[str]:
    texts: set[str] = set()
    for spec in programme.audiences.values():
        for question in spec.questions:
            for item in (question.text, question.help, question.label):
                if item is not None:
                    texts.update(_fragments(item.get(language)))
        for rule in spec.eligibility:
            texts.update(_fragments(rule.reason.get(language)))
    return texts


@cache
def foreign_sentences(programme_file: str, language: str) -> frozenset[str]:
    """Sentences another language's texts hold and this language's do not."""
    programme = _programme(programme_file)
    own = _catalog_texts(language) | _programme_texts(programme, language)
    foreign: set[str] = set()
    for other in LANGUAGES:
        if other != language:
            foreign |= _catalog_texts(other) | _programme_texts(programme, other)
    return frozenset(text for text in foreign if not any(text in mine for mine in own))


@cache
def _translated(msgid: str) -> tuple[str, ...]:
    found = [msgid]
    for language in LANGUAGES:
        path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            message = read_po(handle, locale=language).get(msgid)
        if message is not None and message.string:
            found.append(str(message.string))
    return tuple(found)


@cache
def _heading(language: str) -> re.Pattern[str]:
    """"Pytanie 3 z 17" in the person's language, its two numbers captured."""
    template = _translated("Question {number} of {total}")[LANGUAGES.index(language) + 1]
    pattern = re.escape(template).replace(r"\{number\}", r"(\d+)").replace(r"\{total\}", r"(\d+)")
    return re.compile(pattern)


@cache
def _programme(programme_file: str) -> Programme:
    return load_programme(PROGRAMMES_DIR / programme_file)


def plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


# ------------------------------------------------------------------------- the driver


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


class Driver:
    """One person walking one journey, checking every reply on the way."""

    def __init__(
        self, app, tg, user: FakeUser, journey: Journey, errors: ErrorLog, tally: Tally,
        coverage: Coverage | None = None,
    ) -> None:
        self.app, self.tg, self.user, self.journey, self.errors = app, tg, user, journey, errors
        self.tally, self.coverage = tally, coverage
        self.programme: Programme = app.programme
        self.spec = self.programme.audience(journey.audience)
        self.language = journey.language
        self.checked_calls = 0
        self.checked_answers = 0
        self.attempts: dict[str, int] = {}  # changes after an early "not eligible", per question
        self.wrong_typed: set[str] = set()
        self.back_done = self.edit_done = False
        self.early_seen = 0
        self.steps = 0
        self.sticker_sent = False
        self.chosen = False  # the first greeting speaks all three languages, by design
        # (number, total) of each card while going forward (until Back or a change from the
        # summary, where a changed answer may open a branch again)
        self.progress: list[tuple[int, int]] = []
        self.forward = True
        self.heading = _heading(self.language)

    # ----------------------------------------------------------------- checks

    def fail(self, what: str) -> NoReturn:
        shown = "\n".join(f"  {m.text[:300]!r}" for m in self.user.messages()[-4:])
        raise AssertionError(
            f"{what}\njourney: {self.journey.describe()}\nlast messages:\n{shown}"
        )

    def check_replies(self) -> None:
        """Everything the bot sent this person since the last check."""
        calls = self.tg.calls(chat_id=self.user.chat_id)
        texts = [
            call.params["text"]
            for call in calls[self.checked_calls :]
            if isinstance(call.params.get("text"), str)
        ]
        self.checked_calls = len(calls)
        answers = self.user.answers()
        texts += [a.text for a in answers[self.checked_answers :] if a.text]
        self.checked_answers = len(answers)
        foreign = foreign_sentences(self.journey.programme, self.language)
        for text in texts:
            shown = plain(text)
            found = self.heading.match(shown) if self.forward else None
            if found is not None:
                self.progress.append((int(found.group(1)), int(found.group(2))))
            for bad in (*_translated(ERROR_MSGID), *_translated(STALE_MSGID)):
                if bad in shown:
                    self.fail(f"the bot answered {bad!r}")
            if PLACEHOLDER.search(shown):
                self.fail(f"a raw placeholder reached the person: {shown[:400]!r}")
            strange = next((s for s in foreign if s in shown), None) if self.chosen else None
            if strange is not None:
                self.fail(f"not in {self.language}: {strange!r} in {shown[:400]!r}")
        if self.errors.records:
            self.fail(f"unhandled exception: {self.errors.records}")

    async def act(self, action) -> None:
        await action
        self.steps += 1
        self.check_replies()

    async def application(self) -> Application:
        async with self.app.sessionmaker() as session:
            person = await session.scalar(
                select(Person).where(Person.telegram_id == self.user.user_id)
            )
            assert person is not None
            found = await session.scalar(
                select(Application).where(Application.person_id == person.id)
            )
        if found is None:
            self.fail("no application was started")
        return found

    # ----------------------------------------------------------------- buttons

    def _button(self, data: str) -> tuple[int, dict[str, Any]] | None:
        for message in reversed(self.user.messages()[-5:]):
            for row in message.inline_keyboard:
                for button in row:
                    if button.get("callback_data") == data:
                        return message.message_id, button
        return None

    def has(self, data: str) -> bool:
        return self._button(data) is not None

    async def press(self, data: str) -> None:
        found = self._button(data)
        if found is None:
            visible = [m.buttons for m in self.user.messages()[-3:]]
            self.fail(f"no button {data!r}; visible: {visible!r}")
        assert found is not None
        await self.act(self.user.press_data(data, found[0]))

    # ----------------------------------------------------------------- answering

    def option_for(self, question: Question) -> Option:
        found = options(question, self.spec.phone_region)
        if self.journey.picks is None:
            assert self.coverage is not None
            index = self.coverage.choose(self.journey.audience, question, len(found))
        else:
            index = self.journey.picks.get(question.id, 0) + self.attempts.get(question.id, 0)
        index %= len(found)
        self.tally.taken.add((self.journey.audience, question.id, index))
        return found[index]

    async def give(self, question: Question, option: Option) -> None:
        q = question.id
        if option.how == "skip":
            await self.press(packed(Nav, action="skip", q=q))
        elif option.how == "press":
            await self.press(packed(Answer, q=q, v=option.value))
        elif option.how == "toggle":
            for choice in option.value:
                await self.press(packed(Toggle, q=q, v=choice))
            await self.press(packed(Done, q=q))
        elif option.how == "place":
            query, code = option.value
            await self.act(self.user.send(query))
            await self.press(packed(Place, q=q, code=code))
        elif option.how == "contact":
            await self.act(self.user.share_contact())
        else:
            await self.act(self.user.send(option.value))

    async def answer_wrongly(self, question: Question) -> None:
        """Wrong values first, once per question: each refused, nothing stored."""
        if question.id in self.wrong_typed:
            return
        self.wrong_typed.add(question.id)
        if self.coverage is not None:  # covering journeys: once per question and language
            tried = (self.journey.audience, question.id, self.language)
            if tried in self.coverage.wrong_tried:
                return
            self.coverage.wrong_tried.add(tried)
        before = await self.application()
        if not self.sticker_sent and question.kind not in ("multiple_choice",):
            self.sticker_sent = True
            await self.act(self.user.send_sticker())
        for text in invalid_inputs(question):
            await self.act(self.user.send(text))
        kind, chosen = question.kind, before.answers.get(question.id)
        if kind == "multiple_choice" and not chosen and question.min_choices > 0:
            await self.press(packed(Done, q=question.id))  # nothing chosen yet
        after = await self.application()
        if after.current_question != question.id or after.answers.get(
            question.id
        ) != before.answers.get(question.id):
            self.fail(f"a wrong answer to {question.id!r} was taken")

    def card_shown(self, question: Question) -> None:
        wanted = plain(question.text.get(self.language))
        if not any(wanted in m.text for m in self.user.messages()[-5:]):
            self.fail(f"the card of {question.id!r} is not shown in {self.language}")

    async def keep(self, question: Question) -> None:
        """Back on a card whose answer is given: keep it with one tap."""
        value = (await self.application()).answers.get(question.id)
        if self.has(packed(Nav, action="keep", q=question.id)):
            await self.press(packed(Nav, action="keep", q=question.id))
        elif value is None and not question.required:
            await self.press(packed(Nav, action="skip", q=question.id))
        elif question.kind == "yes_no":
            await self.press(packed(Answer, q=question.id, v="yes" if value else "no"))
        elif question.kind == "single_choice":
            await self.press(packed(Answer, q=question.id, v=value))
        elif question.kind == "multiple_choice":
            await self.press(packed(Done, q=question.id))
        else:  # no one-tap way to keep it: answer again as before
            await self.give(question, self.option_for(question))

    # ----------------------------------------------------------------- the walk

    async def begin(self) -> None:
        journey = self.journey
        if journey.audience == "intern":
            async with self.app.sessionmaker() as session, session.begin():
                [invite] = await invites.create(session, 1, language=journey.language)
            await self.act(self.user.start(invite.code))
            await self.act(self.user.press(0))  # the notice, in the invitation's language
        else:
            await self.act(onboard(self.user, LANGUAGE_NAMES[journey.language]))
        self.chosen = True
        if journey.audience == "municipality":
            await self.press(packed(RoleChoice, audience="municipality"))

    async def walk(self) -> Application:
        await self.begin()
        for _ in range(400):
            application = await self.application()
            if application.is_submitted and application.current_question is None:
                return application
            q = application.current_question
            if q is None:
                if self.journey.edit_at and not self.edit_done:
                    self.edit_done = True
                    shown = questionnaire.summary(self.programme, application)
                    if self.journey.edit_at in [question.id for question, _ in shown]:
                        self.forward = False
                        await self.press(packed(Nav, action="edit", q=self.journey.edit_at))
                        question = self.spec.question(self.journey.edit_at)
                        assert question is not None
                        self.attempts[question.id] = self.attempts.get(question.id, 0) + 1
                        continue
                await self.press(packed(Nav, action="submit"))
                return await self.application()
            question = self.spec.question(q)
            assert question is not None
            self.card_shown(question)
            if (
                q == self.journey.back_at
                and not self.back_done
                and self.has(packed(Nav, action="back", q=q))
            ):
                self.back_done = True
                self.forward = False
                await self.press(packed(Nav, action="back", q=q))
                previous = self.spec.question((await self.application()).current_question or "")
                assert previous is not None
                self.card_shown(previous)
                await self.keep(previous)
                continue
            await self.answer_wrongly(question)
            await self.give(question, self.option_for(question))
            if self.has(packed(Nav, action="stop", q=q)):  # ruled out by this answer
                self.early_seen += 1
                if self.journey.stop_early:
                    await self.press(packed(Nav, action="stop", q=q))
                    return await self.application()
                await self.press(packed(Nav, action="change", q=q))
                self.attempts[q] = self.attempts.get(q, 0) + 1
        self.fail("the journey did not end")

    def check_progress(self) -> None:
        """Going forward, "Question 3 of 17" never grows its total, and the number goes up by
        one (or stays: the same card again, after a toggle or a changed answer)."""
        shown = self.progress
        if not shown or shown[0][0] != 1:
            self.fail(f"the first card is not question 1: {shown}")
        for (number, total), (next_number, next_total) in itertools.pairwise(shown):
            if next_total > total or next_number not in (number, number + 1):
                self.fail(f"progress jumps: {shown}")

    async def verify(self, application: Application) -> None:
        self.check_progress()
        if application.status not in ("eligible", "ineligible") or not application.is_submitted:
            self.fail(f"no verdict stored: status {application.status!r}")
        spec = self.spec
        verdict = eligibility.evaluate(
            spec, questionnaire.effective_answers(spec, application.answers)
        )
        if application.current_question is None and verdict.eligible != (
            application.status == "eligible"
        ):
            self.fail(f"stored {application.status!r}, the rules say {verdict}")
        if application.status == "ineligible" and not application.eligibility_reasons:
            self.fail("ineligible without a reason")
        await self.act(self.user.send("/mydata"))
        content = self.user.documents()[-1].file
        assert content is not None
        data = json.loads(content.content)
        for entry in data["applications"]:
            for reason in entry["eligibility_reasons"] or []:
                if not isinstance(reason, str) or "{" in reason:
                    self.fail(f"/mydata holds an unrendered reason: {reason!r}")


async def run_journey(
    app, tg, user_factory, errors: ErrorLog, journey: Journey, key: str,
    coverage: Coverage | None = None,
) -> str:
    tally = TALLY.setdefault(key, Tally())
    user = user_factory(language_code=journey.language)
    driver = Driver(app, tg, user, journey, errors, tally, coverage)
    application = await driver.walk()
    await driver.verify(application)
    tally.journeys += 1
    tally.updates += driver.steps
    tally.early += driver.early_seen
    tally.stopped += journey.stop_early and driver.early_seen > 0
    tally.verdicts[application.status] = tally.verdicts.get(application.status, 0) + 1
    return application.status


def _report(key: str, programme_file: str, started: float) -> None:
    tally = TALLY[key]
    programme = _programme(programme_file)
    possible = sum(
        len(options(q, programme.audience(a).phone_region))
        for a in AUDIENCES
        for q in programme.audience(a).questions
    )
    record_figure(
        f"journeys[{key}]",
        f"{tally.journeys} journeys, {tally.updates} updates, options taken "
        f"{len(tally.taken)}/{possible}, early 'not eligible' {tally.early} "
        f"(stopped {tally.stopped}), verdicts {tally.verdicts}, "
        f"{time.perf_counter() - started:.1f} s",
    )


class Coverage:
    """Covering journeys choose, at each question, the option taken least often so far."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], list[int]] = {}
        self.wrong_tried: set[tuple[str, str, str]] = set()

    def choose(self, audience: str, question: Question, count: int) -> int:
        taken = self.counts.setdefault((audience, question.id), [0] * count)
        index = taken.index(min(taken))
        taken[index] += 1
        return index

    def complete(self, audience: str) -> bool:
        return all(min(taken) > 0 for (a, _q), taken in self.counts.items() if a == audience)


async def _bot_for(start_bot, clock, programme_file: str):
    programme = _programme(programme_file)
    clock.now = programme.applications_open + timedelta(days=1)
    return await start_bot(programme=programme_file)


@pytest.mark.parametrize("programme_file", PROGRAMME_FILES)
async def test_covering_journeys(
    start_bot, clock, tg, user_factory, error_log, programme_file: str
) -> None:
    """Every option of every question the journeys reach is taken, in every language, both
    audiences; answers that rule an application out are once changed and once stopped at."""
    started = time.perf_counter()
    app = await _bot_for(start_bot, clock, programme_file)
    key = f"{programme_file} covering"
    for audience in AUDIENCES:
        coverage = Coverage()
        questions = app.programme.audience(audience).questions
        i = 0
        while i < 3 * len(LANGUAGES) or not coverage.complete(audience):
            assert i < 40, f"{audience}: options never taken: {coverage.counts}"
            journey = Journey(
                programme=programme_file,
                audience=audience,
                language=LANGUAGES[(i + i // 3) % len(LANGUAGES)],
                picks=None,
                # every third journey goes straight through: progress seen whole
                back_at=None if i % 3 == 0 else questions[1 + i % (len(questions) - 1)].id,
                edit_at=questions[(5 * i) % len(questions)].id,
                stop_early=i % 3 == 2,
            )
            await run_journey(app, tg, user_factory, error_log, journey, key, coverage)
            i += 1
    _report(key, programme_file, started)


# A journey drawn without knowing the programme: the same number of draws whatever the file,
# mapped onto its questions afterwards (option = draw modulo the question's options).
MAX_QUESTIONS = 40
raw_journeys = st.fixed_dictionaries(
    {
        "audience": st.sampled_from(AUDIENCES),
        "language": st.sampled_from(LANGUAGES),
        "picks": st.lists(st.integers(0, 11), min_size=MAX_QUESTIONS, max_size=MAX_QUESTIONS),
        "back_at": st.none() | st.integers(1, MAX_QUESTIONS),
        "edit_at": st.none() | st.integers(0, MAX_QUESTIONS),
        "stop_early": st.booleans(),
    }
)


def journey_from(programme_file: str, raw: dict[str, Any]) -> Journey:
    spec = _programme(programme_file).audience(raw["audience"])
    ids = [q.id for q in spec.questions]
    assert len(ids) <= MAX_QUESTIONS
    return Journey(
        programme=programme_file,
        audience=raw["audience"],
        language=raw["language"],
        picks={
            q.id: raw["picks"][i] % len(options(q, spec.phone_region))
            for i, q in enumerate(spec.questions)
        },
        back_at=None if raw["back_at"] is None else ids[1 + raw["back_at"] % (len(ids) - 1)],
        edit_at=None if raw["edit_at"] is None else ids[raw["edit_at"] % len(ids)],
        stop_early=raw["stop_early"],
    )


STARTED: dict[str, float] = {}


@pytest.fixture
async def journey_bot(start_bot, clock, programme_file: str):
    STARTED.setdefault(programme_file, time.perf_counter())
    return await _bot_for(start_bot, clock, programme_file)


@pytest.mark.parametrize("programme_file", PROGRAMME_FILES)
# A failing example is reported with the fixtures' reprs (the bot, the fake server): long.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=raw_journeys)
async def test_random_journeys(
    journey_bot, tg, user_factory, error_log, programme_file: str, raw: dict[str, Any]
) -> None:
    journey = journey_from(programme_file, raw)
    error_log.records.clear()  # an earlier example's, already reported
    key = f"{programme_file} random"
    await run_journey(journey_bot, tg, user_factory, error_log, journey, key)
    _report(key, programme_file, STARTED[programme_file])

