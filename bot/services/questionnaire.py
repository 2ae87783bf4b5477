"""The questionnaire engine: where a person is, what they answered, what comes next.

Independent of Telegram. Every function takes the application row and changes it in place;
the caller's transaction saves it, so each answer is stored the moment it is given and a person
resumes exactly where they left off, after a restart or days later.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.programme import AudienceSpec, Programme, Question
from bot.services import answers as parse
from bot.services import eligibility, people, pickers
from bot.services.answers import InvalidAnswer
from db.base import utcnow
from db.models import Application, Person
from db.repositories import applications


class StaleAction(Exception):
    """A button for a question that is no longer the current one (an old card, a forged press)."""


class ApplicationsClosed(Exception):
    pass


@dataclass(frozen=True)
class Step:
    """What the person should see now: a question (with its place in the list) or the summary.

    `ruled_out`: the answer just given to `question` already makes the application ineligible
    (the reasons); the person may change it or stop there. `answer_rules_out`: the answer
    shown on the question's card does (nothing to keep).
    """

    application: Application
    question: Question | None
    number: int = 0
    total: int = 0
    ruled_out: tuple[eligibility.Reason, ...] = ()
    answer_rules_out: bool = False

    @property
    def at_summary(self) -> bool:
        return self.question is None


def visible_questions(spec: AudienceSpec, answers: dict[str, Any]) -> list[Question]:
    """Questions shown for these answers: `show_if` is read against earlier answers only, and a
    condition on a question not answered yet does not hold (the branch opens once it is)."""
    shown: list[Question] = []
    seen: dict[str, Any] = {}
    for question in spec.questions:
        if not question.show_if or all(
            condition.question_id in seen and parse.holds(condition, seen)
            for condition in question.show_if
        ):
            shown.append(question)
            if question.id in answers:
                seen[question.id] = answers[question.id]
    return shown


def possible_questions(spec: AudienceSpec, answers: dict[str, Any]) -> list[Question]:
    """Questions shown, or that may still be shown: a condition on a question not answered yet
    may still hold. Answering only ever rules questions out, so counted this way the total of
    "Question 3 of 17" never grows as a person goes on."""
    possible: list[Question] = []
    ids: set[str] = set()
    seen: dict[str, Any] = {}
    for question in spec.questions:
        if all(
            parse.holds(condition, seen)
            if condition.question_id in seen
            else condition.question_id in ids
            for condition in question.show_if
        ):
            possible.append(question)
            ids.add(question.id)
            if question.id in answers:
                seen[question.id] = answers[question.id]
    return possible


def effective_answers(spec: AudienceSpec, answers: dict[str, Any]) -> dict[str, Any]:
    """Answers to the questions still shown (a gmina answer no longer counts for a powiat)."""
    return {q.id: answers[q.id] for q in visible_questions(spec, answers) if q.id in answers}


def settled_answers(spec: AudienceSpec, answers: dict[str, Any]) -> dict[str, Any]:
    """Effective answers that are complete: a multiple choice still being chosen waits."""
    choosing = set(answers.get("_choosing", ()))
    return {k: v for k, v in effective_answers(spec, answers).items() if k not in choosing}


def _is_answered(question: Question, answers: dict[str, Any]) -> bool:
    if question.id not in answers:
        return False
    # A multiple choice is answered once confirmed; the selection is kept while choosing.
    return not (question.kind == "multiple_choice" and question.id in answers.get("_choosing", []))


def _step_for(application: Application, spec: AudienceSpec, question_id: str | None) -> Step:
    # A question's card counts with the answers before it only: its own answer (being given,
    # or changed) and later ones do not move its "3 of 17".
    answers = application.answers
    if question_id is not None:
        before: set[str] = set()
        for question in spec.questions:
            if question.id == question_id:
                break
            before.add(question.id)
        answers = {k: v for k, v in answers.items() if k in before}
    possible = possible_questions(spec, answers)
    for number, question in enumerate(possible, start=1):
        if question.id == question_id:
            step = Step(application, question, number, len(possible))
            if question_id in application.answers and _rules_out(spec, application, question_id):
                return replace(step, answer_rules_out=True)
            return step
    return Step(application, None, 0, len(possible))


def _rules_out(spec: AudienceSpec, application: Application, question_id: str) -> bool:
    settled = settled_answers(spec, application.answers)
    return bool(eligibility.ruled_out_by(spec, settled, question_id))


def _first_open(spec: AudienceSpec, answers: dict[str, Any]) -> Question | None:
    for question in visible_questions(spec, answers):
        if not _is_answered(question, answers):
            return question
    return None


def _save(application: Application, answers: dict[str, Any]) -> None:
    applications.change(application, answers=dict(answers))


_APPLICATION = select(Application).where(
    Application.person_id == bindparam("person_id"),
    Application.programme_id == bindparam("programme_id"),
)  # built once: it runs on almost every update

# session.info key: {(person id, programme id): Application | None} for applications already
# looked up in this session (an update's session: one transaction). Filled by `find`, by
# `begin` and by whoever loaded the application with its person (the update's middleware);
# `forget` empties it when rows go by other means (erasure).
_KNOWN = "questionnaire.applications"


def remember(
    session: AsyncSession, person: Person, programme_id: str, application: Application | None
) -> None:
    session.info.setdefault(_KNOWN, {})[(person.id, programme_id)] = application


def forget(session: AsyncSession) -> None:
    session.info.pop(_KNOWN, None)


async def find(session: AsyncSession, person: Person, programme: Programme) -> Application | None:
    known = session.info.get(_KNOWN)
    key = (person.id, programme.id)
    if known is not None and key in known:
        return known[key]
    application = await session.scalar(
        _APPLICATION, {"person_id": person.id, "programme_id": programme.id}
    )
    remember(session, person, programme.id, application)
    return application


async def begin(
    session: AsyncSession, person: Person, programme: Programme, audience: str
) -> Application:
    """The person's application, created with any answer the deep link already gave."""
    existing = await find(session, person, programme)
    if existing is not None:
        return existing
    spec = programme.audience(audience)
    prefilled: dict[str, Any] = {}
    for question in spec.questions:
        choice = question.prefill_from_start.get((person.start_payload or "").lower())
        if choice:
            prefilled[question.id] = choice
    application = Application(
        person_id=person.id,
        programme_id=programme.id,
        audience=audience,
        answers=prefilled,
        status="draft",
        editing=False,
        needs_review=False,
    )
    first = _first_open(spec, prefilled)
    application.current_question = first.id if first else None
    session.add(application)
    people.join_audience(person, programme, audience)
    await session.flush()
    remember(session, person, programme.id, application)
    return application


async def store(session: AsyncSession) -> None:
    """Write what the functions below changed in the session's applications, before the
    transaction reads anything else (they are written at commit anyway)."""
    await applications.write(session)


def current_step(programme: Programme, application: Application) -> Step:
    spec = programme.audience(application.audience)
    question_id = application.current_question
    if question_id is not None and spec.question(question_id) is None:
        # The programme file changed under a half-filled form: carry on at the next open one.
        first = _first_open(spec, application.answers)
        question_id = first.id if first else None
        applications.change(application, current_question=question_id)
    return _step_for(application, spec, question_id)


def _ensure_current(application: Application, question_id: str) -> None:
    if application.current_question != question_id:
        raise StaleAction(question_id)


def _ensure_open(programme: Programme, application: Application, now: datetime) -> None:
    if application.is_submitted and not programme.is_open(now):
        raise ApplicationsClosed()


def _advance(programme: Programme, application: Application) -> Step:
    # The next unanswered question; after an edit that is the summary, unless the change
    # opened a new branch, which is asked first.
    nxt = _first_open(programme.audience(application.audience), application.answers)
    if nxt is None:
        applications.change(application, current_question=None, editing=False)
    else:
        applications.change(application, current_question=nxt.id)
    if application.is_submitted and application.current_question is None:
        reevaluate(programme, application)
    return current_step(programme, application)


def _store(
    programme: Programme, application: Application, question: Question, value: Any, now: datetime
) -> Step:
    _ensure_open(programme, application, now)
    answers = dict(application.answers)
    answers[question.id] = value
    _save(application, answers)
    spec = programme.audience(application.audience)
    settled = settled_answers(spec, application.answers)
    reasons = eligibility.ruled_out_by(spec, settled, question.id)
    if not reasons:
        if application.is_submitted and not application.editing:
            # Stopped at an answer that ruled it out, now changed: a draft again, to be sent.
            applications.change(
                application,
                status="draft",
                submitted_at=None,
                eligibility_reasons=None,
                needs_review=False,
            )
        return _advance(programme, application)
    # Ineligible already: say so now, on this question, rather than after ten more.
    applications.change(application, current_question=question.id)
    if application.is_submitted:  # what was sent now reads this answer
        _record(application, eligibility.decided_verdict(spec, settled))
    return replace(current_step(programme, application), ruled_out=tuple(reasons))


def _question(programme: Programme, application: Application, question_id: str) -> Question:
    _ensure_current(application, question_id)
    question = programme.audience(application.audience).question(question_id)
    if question is None:
        raise StaleAction(question_id)
    return question


def answer_typed(
    programme: Programme, application: Application, raw: str, language: str, now: datetime
) -> Step:
    """A typed answer to the current question. Raises InvalidAnswer with a reason code."""
    if application.current_question is None:
        raise StaleAction("summary")
    question = _question(programme, application, application.current_question)
    if question.kind in ("gmina", "powiat", "hromada", "multiple_choice"):
        raise InvalidAnswer("use_buttons")
    spec = programme.audience(application.audience)
    value = parse.parse_typed(question, raw, language, spec.phone_region)
    return _store(programme, application, question, value, now)


def answer_contact(
    programme: Programme, application: Application, phone: str, now: datetime
) -> Step:
    question = _question(programme, application, application.current_question or "")
    if question.kind != "phone":
        raise InvalidAnswer("use_buttons")
    spec = programme.audience(application.audience)
    return _store(
        programme, application, question, parse.parse_phone(phone, spec.phone_region), now
    )


def answer_choice(
    programme: Programme,
    application: Application,
    question_id: str,
    choice: str,
    now: datetime,
) -> Step:
    question = _question(programme, application, question_id)
    if question.kind == "yes_no" and choice in ("yes", "no"):
        return _store(programme, application, question, choice == "yes", now)
    if question.kind == "single_choice" and question.choice(choice) is not None:
        return _store(programme, application, question, choice, now)
    raise StaleAction(question_id)


def toggle_choice(
    programme: Programme,
    application: Application,
    question_id: str,
    choice: str,
    now: datetime,
) -> Step:
    """Add or remove one option of a multiple choice; the selection is saved as it changes."""
    question = _question(programme, application, question_id)
    if question.kind != "multiple_choice" or question.choice(choice) is None:
        raise StaleAction(question_id)
    _ensure_open(programme, application, now)
    answers = dict(application.answers)
    selected = list(answers.get(question_id) or [])
    if choice in selected:
        selected.remove(choice)
    else:
        if question.max_choices is not None and len(selected) >= question.max_choices:
            raise InvalidAnswer("choose_fewer", {"max": question.max_choices})
        selected.append(choice)
    answers[question_id] = [c.id for c in question.choices if c.id in selected]
    choosing = set(answers.get("_choosing", [])) | {question_id}
    answers["_choosing"] = sorted(choosing)
    _save(application, answers)
    return current_step(programme, application)


def confirm_choices(
    programme: Programme, application: Application, question_id: str, now: datetime
) -> Step:
    question = _question(programme, application, question_id)
    if question.kind != "multiple_choice":
        raise StaleAction(question_id)
    selected = list(application.answers.get(question_id) or [])
    parse.check_choices(question, selected)
    answers = dict(application.answers)
    answers["_choosing"] = [q for q in answers.get("_choosing", []) if q != question_id]
    if not answers["_choosing"]:
        answers.pop("_choosing")
    _save(application, answers)
    return _store(programme, application, question, selected, now)


async def pick_place(
    session: AsyncSession,
    programme: Programme,
    application: Application,
    question_id: str,
    code: str,
    now: datetime,
) -> Step:
    """A gmina, powiat or hromada chosen from the offered matches, re-read from the database."""
    question = _question(programme, application, question_id)
    place = await pickers.snapshot(session, question.kind, code)
    if place is None:
        raise StaleAction(question_id)
    return _store(programme, application, question, place, now)


def skip(programme: Programme, application: Application, question_id: str, now: datetime) -> Step:
    question = _question(programme, application, question_id)
    if question.required:
        raise StaleAction(question_id)
    return _store(programme, application, question, None, now)


def keep(programme: Programme, application: Application, question_id: str, now: datetime) -> Step:
    """The answer shown on the card stays as it is (one tap after Back): on to the next."""
    question = _question(programme, application, question_id)
    if question_id not in application.answers or question.kind == "multiple_choice":
        raise StaleAction(question_id)
    return _store(programme, application, question, application.answers[question_id], now)


def revisit(programme: Programme, application: Application, question_id: str) -> Step:
    """The card of the question whose answer ruled the application out, to change it."""
    _ensure_current(application, question_id)
    return current_step(programme, application)


def stop(
    programme: Programme, application: Application, question_id: str, now: datetime
) -> eligibility.Verdict:
    """Stop at an answer that rules the application out: it is kept as ineligible, with its
    reasons, for the programme team's records. The person may still change the answer (and
    go on) until applications close."""
    _ensure_current(application, question_id)
    if not programme.is_open(now):
        raise ApplicationsClosed()
    spec = programme.audience(application.audience)
    settled = settled_answers(spec, application.answers)
    if not eligibility.ruled_out_by(spec, settled, question_id):
        raise StaleAction(question_id)
    verdict = eligibility.decided_verdict(spec, settled)
    if not application.is_submitted:
        applications.change(application, submitted_at=utcnow())
    _record(application, verdict)
    # A complete form goes back to its summary; else the person stays on this question.
    if _first_open(spec, application.answers) is None:
        applications.change(application, current_question=None, editing=False)
    else:
        applications.change(application, editing=False)
    return verdict


def back(programme: Programme, application: Application, question_id: str) -> Step:
    """The question before this one (answers are kept, so the person sees and can keep them)."""
    _ensure_current(application, question_id)
    spec = programme.audience(application.audience)
    shown = [q.id for q in visible_questions(spec, application.answers)]
    if question_id not in shown or shown.index(question_id) == 0:
        raise StaleAction(question_id)
    previous = shown[shown.index(question_id) - 1]
    answers = dict(application.answers)
    answers.pop("_choosing", None)
    applications.change(application, answers=answers, current_question=previous)
    return current_step(programme, application)


def edit(programme: Programme, application: Application, question_id: str, now: datetime) -> Step:
    """From the summary, change one answer and come back to the summary."""
    if application.current_question is not None:
        raise StaleAction(question_id)
    _ensure_open(programme, application, now)
    spec = programme.audience(application.audience)
    if question_id not in [q.id for q in visible_questions(spec, application.answers)]:
        raise StaleAction(question_id)
    applications.change(application, current_question=question_id, editing=True)
    return current_step(programme, application)


def leave_edit(programme: Programme, application: Application, question_id: str) -> Step:
    """Back to the summary without changing the answer being edited."""
    _ensure_current(application, question_id)
    if not application.editing:
        raise StaleAction(question_id)
    spec = programme.audience(application.audience)
    nxt = _first_open(spec, application.answers)
    if nxt is not None:  # a new branch still needs an answer: stay on it
        applications.change(application, current_question=nxt.id)
        return current_step(programme, application)
    applications.change(application, editing=False, current_question=None)
    return current_step(programme, application)


def _record(application: Application, verdict: eligibility.Verdict) -> None:
    applications.change(
        application,
        status="eligible" if verdict.eligible else "ineligible",
        eligibility_reasons=[reason.as_json() for reason in verdict.reasons],
        needs_review=verdict.needs_review,
    )


def reevaluate(programme: Programme, application: Application) -> eligibility.Verdict:
    spec = programme.audience(application.audience)
    verdict = eligibility.evaluate(spec, effective_answers(spec, application.answers))
    _record(application, verdict)
    return verdict


def submit(programme: Programme, application: Application, now: datetime) -> eligibility.Verdict:
    if application.current_question is not None:
        raise StaleAction("submit")
    if not programme.is_open(now):
        raise ApplicationsClosed()
    first_submission = not application.is_submitted
    verdict = reevaluate(programme, application)
    if first_submission:
        applications.change(application, submitted_at=utcnow())
    return verdict


def summary(programme: Programme, application: Application) -> list[tuple[Question, Any]]:
    spec = programme.audience(application.audience)
    answers = application.answers
    return [(q, answers.get(q.id)) for q in visible_questions(spec, answers)]
