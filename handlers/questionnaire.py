"""The questionnaire in Telegram: role, questions, place pickers, summary, submit.

Handlers only parse the update, call `bot.services.questionnaire` and render. Stale or forged
buttons and invalid answers surface as domain exceptions, answered by the error router.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware, F
from aiogram.filters import Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from sqlalchemy.ext.asyncio import AsyncSession

from bot import reasons
from bot.about import contact_line
from bot.callbacks import Answer, Done, Nav, News, Place, PlacePage, RoleChoice, Toggle
from bot.i18n import _, format_datetime, format_deadline
from bot.programme import Programme
from bot.responder import Responder
from bot.routing import Router
from bot.services import eligibility, invites, notifications, pickers, questionnaire
from bot.services.answers import InvalidAnswer, clean_text
from bot.services.questionnaire import StaleAction, Step
from db.base import utcnow
from db.models import Application, Person
from handlers import meetings
from handlers import question_view as view

Clock = Callable[[], datetime]
# After /cancel at a question: typed text is not taken as an answer until the person comes
# back (/start, or a button of the form). Conversation state, not data: the answers and the
# place in the form are in the database; losing this (a restart) only ends the pause.
PAUSED = "questionnaire:paused"


def _language(person: Person) -> str:
    return person.language or "en"


def render_step(
    responder: Responder,
    programme: Programme,
    step: Step,
    person: Person,
    *,
    edit: bool,
    now: datetime | None = None,
) -> None:
    language = _language(person)
    if step.ruled_out:
        spec = programme.audience(step.application.audience)
        (responder.edit if edit else responder.send)(*view.ruled_out_card(step, spec, language))
        return
    if step.question is not None:
        text, keyboard = view.question_card(step, language)
        (responder.edit if edit else responder.send)(text, keyboard)
        if step.question.kind == "phone":
            responder.send(
                _("You can also share the number of this Telegram account:"),
                view.contact_keyboard(),
            )
        return
    application = step.application
    can_change = not application.is_submitted or programme.is_open(now or utcnow())
    if application.is_submitted:
        responder.send(status_text(programme, application, person))
    text, keyboard = view.summary_card(
        programme,
        questionnaire.summary(programme, application),
        language,
        submitted=application.is_submitted,
        can_change=can_change,
    )
    (responder.edit if edit and not application.is_submitted else responder.send)(text, keyboard)


def status_text(
    programme: Programme, application: Application, person: Person, *, stopped: bool = False
) -> str:
    """Where a sent application stands; `stopped`: the person stopped at an answer that rules
    it out, before the end of the form."""
    language = _language(person)
    sent = format_datetime(application.submitted_at or utcnow(), language, person.time_zone)
    if stopped:
        spec = programme.audience(application.audience)
        return "\n".join(
            [
                _(
                    "On {date} you stopped at this question, and your application is kept as "
                    "not eligible for this edition:"
                ).format(date=sent),
                *reasons.reason_lines(spec, reasons.stored_reasons(application.eligibility_reasons),
                                      language),
                "",
                _("You can change the answer below and carry on."),
            ]
        )
    if application.status == "eligible":
        return _(
            "Your application was sent on {date} and meets the programme's criteria. "
            "You can still change your answers below."
        ).format(date=sent)
    spec = programme.audience(application.audience)
    stored = reasons.stored_reasons(application.eligibility_reasons)
    return "\n".join(
        [
            _(
                "Your application was sent on {date}. It does not meet the criteria of this "
                "edition:"
            ).format(date=sent),
            *reasons.reason_lines(spec, stored, language),
        ]
    )


async def show_home(
    responder: Responder,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    now: datetime,
    *,
    edit: bool = False,
) -> None:
    """Where /start and the end of onboarding take a person: their form, or how to begin."""
    application = await questionnaire.find(session, person, programme)
    if application is not None:
        if application.is_submitted and application.current_question and not application.editing:
            # Stopped at an answer that rules it out: what was kept, then that answer's card.
            responder.send(status_text(programme, application, person, stopped=True))
        render_step(
            responder,
            programme,
            questionnaire.current_step(programme, application),
            person,
            edit=edit,
            now=now,
        )
        return
    if programme.is_open(now) and await invites.invite_of(session, person) is not None:
        application = await questionnaire.begin(session, person, programme, "intern")
        render_step(responder, programme, questionnaire.current_step(programme, application),
                    person, edit=False, now=now)
        return
    if not programme.is_open(now):
        closes = format_deadline(programme.last_moment, _language(person), programme.time_zone)
        responder.send(
            _("Applications for {programme} closed on {date}. Thank you for your interest!").format(
                programme=programme.name.get(_language(person)), date=closes
            ),
            None if person.news_opt_in_at else view.news_keyboard(),
        )
        return
    responder.send(
        _("<b>{programme}</b>\n\nWho are you applying as?").format(
            programme=programme.name.get(_language(person))
        ),
        view.role_keyboard(),
    )


class AtQuestion(Filter):
    """The person has an application waiting for an answer (and has not paused it with
    /cancel); hands it to the handler."""

    async def __call__(
        self,
        event: Any,
        session: AsyncSession,
        programme: Programme,
        person: Person | None = None,
        raw_state: str | None = None,
    ) -> bool | dict[str, Any]:
        if person is None or raw_state == PAUSED:
            return False
        application = await questionnaire.find(session, person, programme)
        if application is None or application.current_question is None:
            return False
        return {"application": application}


async def _application(session: AsyncSession, person: Person, programme: Programme) -> Application:
    application = await questionnaire.find(session, person, programme)
    if application is None:
        raise StaleAction("no application")
    return application


async def choose_role(
    query: CallbackQuery,
    callback_data: RoleChoice,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    existing = await questionnaire.find(session, person, programme)
    if existing is not None or callback_data.audience not in programme.audiences:
        raise StaleAction("role")
    if not programme.is_open(clock()):
        raise questionnaire.ApplicationsClosed()
    if (
        callback_data.audience == "intern"
        and programme.intern_requires_invite
        and await invites.invite_of(session, person) is None
    ):
        responder.edit(_("Interns register with a personal invitation link. Please ask your "
                         "hromada or the programme team for one, then open it here.")
                       + "\n\n" + contact_line(programme))
        return
    application = await questionnaire.begin(session, person, programme, callback_data.audience)
    render_step(
        responder, programme, questionnaire.current_step(programme, application), person,
        edit=True, now=clock(),
    )


async def typed_answer(
    message: Message,
    application: Application,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    step = questionnaire.current_step(programme, application)
    question = step.question
    assert question is not None
    if question.kind in pickers.PLACE_KINDS:
        text, occupied = clean_text(message.text or "")[:100], programme.occupied.katottg
        matches = await pickers.search(session, question.kind, text, occupied=occupied)
        if not matches:
            outside = question.kind == "hromada" and await pickers.only_in_occupied_territory(
                session, text, occupied)
            responder.send(view.occupied_text() + "\n\n" + contact_line(programme) if outside
                           else view.no_matches_text(question))
            return
        pickers.remember_search(application, question.id, text)
        responder.send(*view.matches_card(question, matches, _language(person)))
        return
    step = questionnaire.answer_typed(
        programme, application, message.text or "", _language(person), clock()
    )
    await questionnaire.store(session)
    if question.kind == "phone":
        responder.send(
            _("Saved: {phone}").format(phone=application.answers[question.id]),
            ReplyKeyboardRemove(),
        )
    render_step(responder, programme, step, person, edit=False, now=clock())


async def shared_contact(
    message: Message,
    application: Application,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    contact = message.contact
    if contact is None or contact.user_id != person.telegram_id:
        raise InvalidAnswer("own_contact")
    step = questionnaire.answer_contact(programme, application, contact.phone_number, clock())
    await questionnaire.store(session)
    responder.send(
        _("Saved: {phone}").format(phone=application.answers.get("phone", "")),
        ReplyKeyboardRemove(),
    )
    render_step(responder, programme, step, person, edit=False, now=clock())


async def pressed_answer(
    query: CallbackQuery,
    callback_data: Answer,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    application = await _application(session, person, programme)
    step = questionnaire.answer_choice(
        programme, application, callback_data.q, callback_data.v, clock()
    )
    await questionnaire.store(session)
    render_step(responder, programme, step, person, edit=True, now=clock())


async def pressed_toggle(
    query: CallbackQuery,
    callback_data: Toggle,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    application = await _application(session, person, programme)
    step = questionnaire.toggle_choice(
        programme, application, callback_data.q, callback_data.v, clock()
    )
    await questionnaire.store(session)
    render_step(responder, programme, step, person, edit=True, now=clock())


async def pressed_done(
    query: CallbackQuery,
    callback_data: Done,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    application = await _application(session, person, programme)
    step = questionnaire.confirm_choices(programme, application, callback_data.q, clock())
    await questionnaire.store(session)
    render_step(responder, programme, step, person, edit=True, now=clock())


async def pressed_place(
    query: CallbackQuery,
    callback_data: Place,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    application = await _application(session, person, programme)
    if pickers.is_occupied(callback_data.code, programme.occupied.katottg):
        responder.edit(view.occupied_text())  # listed after the button was offered
        return
    step = await questionnaire.pick_place(
        session, programme, application, callback_data.q, callback_data.code, clock()
    )
    pickers.forget_search(application)
    await questionnaire.store(session)
    place = application.answers[callback_data.q]
    spec = programme.audience(application.audience)
    checks = eligibility.official_checks(spec, callback_data.q, application.answers)
    responder.edit(view.place_verdict_line(place, checks, _language(person)))
    render_step(responder, programme, step, person, edit=False, now=clock())


async def pressed_place_page(
    query: CallbackQuery,
    callback_data: PlacePage,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
) -> None:
    """Another page of the matches: the query is the one remembered for this question."""
    application = await _application(session, person, programme)
    question_id = callback_data.q
    question = programme.audience(application.audience).question(question_id)
    text = pickers.remembered_search(application, question_id)
    if application.current_question != question_id or question is None or text is None:
        raise StaleAction(question_id)
    matches = await pickers.search(
        session, question.kind, text, occupied=programme.occupied.katottg
    )
    if not 0 <= callback_data.page * pickers.PAGE_SIZE < len(matches):
        raise StaleAction(question_id)
    responder.edit(*view.matches_card(question, matches, _language(person), callback_data.page))


async def pressed_nav(
    query: CallbackQuery,
    callback_data: Nav,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    application = await _application(session, person, programme)
    action, question_id, now = callback_data.action, callback_data.q, clock()
    if action == "back":
        step = questionnaire.back(programme, application, question_id)
    elif action == "skip":
        step = questionnaire.skip(programme, application, question_id, now)
    elif action == "retype":
        if application.current_question != question_id:
            raise StaleAction(question_id)
        responder.edit(_("Please type the name again:"))
        return
    elif action == "keep":
        step = questionnaire.keep(programme, application, question_id, now)
    elif action == "change":
        step = questionnaire.revisit(programme, application, question_id)
    elif action == "stop":
        await stop_here(application, session, person, programme, responder, question_id, now)
        return
    elif action == "summary":
        step = questionnaire.leave_edit(programme, application, question_id)
    elif action == "edit":
        step = questionnaire.edit(programme, application, question_id, now)
    elif action == "submit":
        await submit(application, session, person, programme, responder, now)
        return
    else:
        raise StaleAction(action)
    await questionnaire.store(session)
    render_step(responder, programme, step, person, edit=True, now=now)


async def submit(
    application: Application,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    now: datetime,
) -> None:
    first_time = not application.is_submitted
    verdict = questionnaire.submit(programme, application, now)
    await questionnaire.store(session)
    if first_time:
        await notifications.new_application(session, application, now)
    responder.remove_buttons()
    spec = programme.audience(application.audience)
    responder.send(
        view.verdict_text(programme, spec, verdict, _language(person)),
        None if verdict.eligible or person.news_opt_in_at else view.news_keyboard(),
    )
    if verdict.eligible:  # the verdict promises the dates of the information meetings
        await meetings.offer_after_submit(
            responder, session, person, programme, now, application.audience
        )


async def stop_here(
    application: Application,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    question_id: str,
    now: datetime,
) -> None:
    first_time = not application.is_submitted
    verdict = questionnaire.stop(programme, application, question_id, now)
    await questionnaire.store(session)
    if first_time:
        await notifications.new_application(session, application, now)
    spec = programme.audience(application.audience)
    responder.edit(
        view.verdict_text(programme, spec, verdict, _language(person), stopped=True),
        None if person.news_opt_in_at else view.news_keyboard(),
    )


async def pause(
    responder: Responder,
    state: FSMContext,
    session: AsyncSession,
    person: Person | None,
    programme: Programme,
) -> bool:
    """/cancel in the questionnaire: leave the current question, the answers stay saved.
    False when there is no form to leave."""
    application = None if person is None else await questionnaire.find(session, person, programme)
    if application is None or (application.is_submitted and application.current_question is None):
        return False
    if application.current_question is None:
        responder.send(
            _(
                "Your answers are saved, and the application has not been sent yet. "
                "/start shows them again whenever you are ready."
            ),
            ReplyKeyboardRemove(),
        )
        return True
    await state.set_state(PAUSED)
    step = questionnaire.current_step(programme, application)
    responder.send(
        _(
            "Paused at question {number}. Your answers so far are saved; /start brings you "
            "back to this question whenever you are ready."
        ).format(number=step.number),
        ReplyKeyboardRemove(),
    )
    return True


async def resume(state: FSMContext) -> None:
    """Back to the form after /cancel: typed text answers the question again."""
    if await state.get_state() == PAUSED:
        await state.clear()


async def paused_text(message: Message, responder: Responder) -> None:
    responder.send(
        _("Your application form is paused. /start brings you back to your question.")
    )


class ResumeOnPress(BaseMiddleware):
    """A press on the form's buttons after /cancel means the person is back."""

    async def __call__(
        self,
        handler: Callable[[Any, dict[str, Any]], Any],
        event: Any,
        data: dict[str, Any],
    ) -> Any:
        if data.get("raw_state") == PAUSED:
            await data["state"].clear()
        return await handler(event, data)


async def pressed_news(
    query: CallbackQuery, callback_data: News, person: Person, responder: Responder
) -> None:
    person.news_opt_in_at = utcnow() if callback_data.on else None
    responder.remove_buttons()
    responder.send(
        _(
            "Thank you. We will write to you here when the next edition opens. "
            "You can change your mind at any time with /delete."
        )
    )


def create_router() -> Router:
    router = Router(name="questionnaire")
    router.callback_query.middleware(ResumeOnPress())
    router.callback_query.register(choose_role, RoleChoice.filter())
    router.callback_query.register(pressed_answer, Answer.filter())
    router.callback_query.register(pressed_toggle, Toggle.filter())
    router.callback_query.register(pressed_done, Done.filter())
    router.callback_query.register(pressed_place, Place.filter())
    router.callback_query.register(pressed_place_page, PlacePage.filter())
    router.callback_query.register(pressed_nav, Nav.filter())
    router.callback_query.register(pressed_news, News.filter())
    router.message.register(shared_contact, F.contact, AtQuestion())
    router.message.register(typed_answer, F.text, ~F.text.startswith("/"), AtQuestion())
    router.message.register(paused_text, F.text, ~F.text.startswith("/"), StateFilter(PAUSED))
    return router
