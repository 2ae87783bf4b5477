"""The questionnaire engine against a real database and the real programme file."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.programme import PROGRAMMES_DIR, load_programme
from bot.services import people, questionnaire
from bot.services.answers import InvalidAnswer
from bot.services.questionnaire import ApplicationsClosed, StaleAction

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)


@pytest.fixture
def programme():
    return load_programme(PROGRAMMES_DIR / "win4ua-2026.toml", today=date(2026, 6, 15))


async def _person(session, telegram_id=1, payload=None):
    person = await people.on_contact(session, telegram_id)
    people.set_language(person, "pl")
    people.remember_start_payload(person, payload)
    return person


async def _gmina_application(session, programme, name_query="wadowice", teryt="1218093"):
    from bot.services import pickers

    person = await _person(session, payload="zgwrp")
    application = await questionnaire.begin(session, person, programme, "municipality")
    questionnaire.answer_choice(programme, application, "lg_type", "gmina", NOW)
    matches = await pickers.search(session, "gmina", name_query)
    code = next(m.teryt for m in matches if m.teryt.startswith(teryt[:6]))
    await questionnaire.pick_place(session, programme, application, "gmina", code, NOW)
    return person, application


def _fill_rest(programme, application, *, openness="yes"):
    answer = questionnaire.answer_typed
    answer(programme, application, "Anna Kowalska", "pl", NOW)
    answer(programme, application, "Sekretarz gminy", "pl", NOW)
    answer(programme, application, "anna@wadowice.pl", "pl", NOW)
    answer(programme, application, "600 100 200", "pl", NOW)
    questionnaire.answer_choice(programme, application, "partnership_openness", openness, NOW)
    questionnaire.answer_choice(programme, application, "ukraine_contacts", "no", NOW)
    answer(programme, application, "Jan Nowak", "pl", NOW)
    answer(programme, application, "Kierownik referatu", "pl", NOW)
    questionnaire.toggle_choice(programme, application, "mentor_languages", "pl", NOW)
    questionnaire.toggle_choice(programme, application, "mentor_languages", "en", NOW)
    questionnaire.confirm_choices(programme, application, "mentor_languages", NOW)
    questionnaire.toggle_choice(programme, application, "experience_areas", "participation", NOW)
    questionnaire.confirm_choices(programme, application, "experience_areas", NOW)
    answer(programme, application, "październik 2026", "pl", NOW)
    questionnaire.answer_choice(programme, application, "study_visits", "yes", NOW)
    # heard_from was answered by the deep link (?start=zgwrp); comments are optional
    return questionnaire.skip(programme, application, "comments", NOW)


async def test_prefill_from_deep_link_and_gmina_snapshot(session, programme) -> None:
    async with session.begin():
        _, application = await _gmina_application(session, programme)
    assert application.answers["heard_from"] == "zgwrp"
    gmina = application.answers["gmina"]
    assert gmina["name"] == "Wadowice" and gmina["population"] == 36475
    assert gmina["population_year"] == 2023 and gmina["kind"] == "gmina miejsko-wiejska"
    step = questionnaire.current_step(programme, application)
    assert step.question.id == "contact_name"
    # Counted: every question still possible (the powiat and stated-population ones are not).
    assert (step.number, step.total) == (3, 17)


async def test_full_journey_is_eligible(session, programme) -> None:
    async with session.begin():
        _p, application = await _gmina_application(session, programme)
        step = _fill_rest(programme, application)
        assert step.at_summary
        assert "heard_from" not in [q.id for q, _v in questionnaire.summary(programme, application)
                                    if _v is None]
        verdict = questionnaire.submit(programme, application, NOW)
    assert verdict.eligible and application.status == "eligible"
    assert application.answers["phone"] == "+48600100200"
    assert application.answers["mentor_languages"] == ["pl", "en"]
    assert application.submitted_at is not None


async def test_big_city_is_ruled_out_at_once_and_may_stop_there(session, programme) -> None:
    async with session.begin():
        _p, application = await _gmina_application(session, programme, "warszawa", "1465011")
        step = questionnaire.current_step(programme, application)
        # Told at the gmina question, not after fourteen more: the rule's inputs are all known.
        assert application.current_question == "gmina"
        with pytest.raises(StaleAction):  # not submitted: the form stays where it is
            questionnaire.submit(programme, application, NOW)
        verdict = questionnaire.stop(programme, application, "gmina", NOW)
    assert step.question.id == "gmina"
    assert not verdict.eligible
    assert verdict.reasons[0].value == 1861599 and verdict.reasons[0].limit == 120000
    assert verdict.reasons[0].field == "gmina.population"
    assert application.status == "ineligible" and application.submitted_at is not None
    # Only the decided rule: the mentor, not asked yet, is no reason.
    assert [r["field"] for r in application.eligibility_reasons] == ["gmina.population"]
    assert application.current_question == "gmina"  # may still change it


async def test_changing_the_answer_after_stopping_makes_a_draft_again(session, programme) -> None:
    async with session.begin():
        _p, application = await _gmina_application(session, programme, "warszawa", "1465011")
        questionnaire.stop(programme, application, "gmina", NOW)
        from bot.services import pickers

        [hel] = [m for m in await pickers.search(session, "gmina", "hel") if m.name == "Hel"]
        step = await questionnaire.pick_place(session, programme, application, "gmina",
                                              hel.teryt, NOW)
        assert step.question.id == "contact_name"
        assert application.status == "draft" and application.submitted_at is None
        assert not application.eligibility_reasons
        _fill_rest(programme, application)
        verdict = questionnaire.submit(programme, application, NOW)
    assert verdict.eligible and application.status == "eligible"


async def test_rules_on_questions_not_shown_yet_do_not_decide_early(session, programme) -> None:
    async with session.begin():
        _p, application = await _gmina_application(session, programme, "szczawa", "1207132")
        # No official figure: the population rule waits for the person's own number.
        assert application.current_question == "stated_population"
        step = questionnaire.answer_typed(programme, application, "200 000", "pl", NOW)
        assert step.ruled_out and step.question.id == "stated_population"
        step = questionnaire.answer_typed(programme, application, "3 500", "pl", NOW)
        assert not step.ruled_out and step.question.id == "contact_name"
        for text in ("Anna Kowalska", "Sekretarz gminy", "anna@wadowice.pl", "600 100 200"):
            step = questionnaire.answer_typed(programme, application, text, "pl", NOW)
            assert not step.ruled_out  # the mentor rule waits for the mentor question
        step = questionnaire.answer_choice(programme, application, "partnership_openness", "no",
                                           NOW)
        assert step.question.id == "partnership_openness" and len(step.ruled_out) == 1
        assert application.status == "draft"  # nothing sent until the person says so
        step = questionnaire.revisit(programme, application, "partnership_openness")
        assert step.question.id == "partnership_openness" and not step.ruled_out
        step = questionnaire.answer_choice(programme, application, "partnership_openness", "yes",
                                           NOW)
        assert step.question.id == "ukraine_contacts"
        with pytest.raises(StaleAction):  # nothing rules it out now
            questionnaire.stop(programme, application, "ukraine_contacts", NOW)


async def test_progress_total_never_grows(session, programme) -> None:
    async with session.begin():
        person = await _person(session)
        application = await questionnaire.begin(session, person, programme, "municipality")
        totals = [questionnaire.current_step(programme, application).total]
        questionnaire.answer_choice(programme, application, "lg_type", "gmina", NOW)
        totals.append(questionnaire.current_step(programme, application).total)
        from bot.services import pickers

        [match] = [m for m in await pickers.search(session, "gmina", "szczawa")]
        step = await questionnaire.pick_place(session, programme, application, "gmina",
                                              match.teryt, NOW)
        totals.append(step.total)
        numbers = [step.number]
        for text in ("3 500", "Anna Kowalska", "Sekretarz gminy", "anna@szczawa.pl",
                     "600 100 200"):
            step = questionnaire.answer_typed(programme, application, text, "pl", NOW)
            totals.append(step.total)
            numbers.append(step.number)
        step = questionnaire.answer_choice(programme, application, "partnership_openness", "yes",
                                           NOW)
        step = questionnaire.answer_choice(programme, application, "ukraine_contacts", "no", NOW)
        totals.append(step.total)
    assert totals == sorted(totals, reverse=True), totals
    assert totals[0] == len(programme.audience("municipality").questions)
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


async def test_no_official_population_asks_and_flags_for_review(session, programme) -> None:
    async with session.begin():
        _p, application = await _gmina_application(session, programme, "szczawa", "1207132")
        assert questionnaire.current_step(programme, application).question.id == (
            "stated_population")
        with pytest.raises(InvalidAnswer):
            questionnaire.answer_typed(programme, application, "dużo", "pl", NOW)
        questionnaire.answer_typed(programme, application, "3 500", "pl", NOW)
        _fill_rest(programme, application)
        verdict = questionnaire.submit(programme, application, NOW)
    assert verdict.eligible and verdict.needs_review and application.needs_review


async def test_back_edit_and_branch_change(session, programme) -> None:
    async with session.begin():
        _p, application = await _gmina_application(session, programme)
        step = questionnaire.back(programme, application, "contact_name")
        assert step.question.id == "gmina"
        assert application.answers["gmina"]["name"] == "Wadowice"  # kept while going back
        _fill_rest_from_gmina = questionnaire.back(programme, application, "gmina")
        assert _fill_rest_from_gmina.question.id == "lg_type"
        with pytest.raises(StaleAction):
            questionnaire.back(programme, application, "lg_type")  # the first question
        # switch to a powiat: the powiat question opens, the gmina answer stops counting
        step = questionnaire.answer_choice(programme, application, "lg_type", "powiat", NOW)
        assert step.question.id == "powiat"
        assert "gmina" not in questionnaire.effective_answers(
            programme.audience("municipality"), application.answers)


async def test_edit_from_summary_returns_to_summary_and_reevaluates(session, programme) -> None:
    async with session.begin():
        _p, application = await _gmina_application(session, programme)
        _fill_rest(programme, application)
        questionnaire.submit(programme, application, NOW)
        step = questionnaire.edit(programme, application, "partnership_openness", NOW)
        assert step.question.id == "partnership_openness" and application.editing
        step = questionnaire.answer_choice(programme, application, "partnership_openness", "no",
                                           NOW)
        # Said at once; what was sent now reads this answer.
        assert step.ruled_out and application.status == "ineligible"
        questionnaire.stop(programme, application, "partnership_openness", NOW)
        assert application.current_question is None and not application.editing
        questionnaire.edit(programme, application, "partnership_openness", NOW)
        step = questionnaire.answer_choice(programme, application, "partnership_openness", "yes",
                                           NOW)
        assert step.at_summary and not application.editing
    assert application.status == "eligible"  # re-evaluated after the change back


async def test_edit_opening_a_branch_asks_it_then_returns(session, programme) -> None:
    async with session.begin():
        _p, application = await _gmina_application(session, programme)
        _fill_rest(programme, application)
        questionnaire.edit(programme, application, "ukraine_contacts", NOW)
        step = questionnaire.answer_choice(programme, application, "ukraine_contacts", "yes", NOW)
        assert step.question.id == "ukraine_contacts_details"
        step = questionnaire.answer_typed(programme, application, "Partnerstwo z Bilą Cerkwą",
                                          "pl", NOW)
        assert step.at_summary


async def test_stale_and_forged_actions_change_nothing(session, programme) -> None:
    async with session.begin():
        _p, application = await _gmina_application(session, programme)
        before = dict(application.answers)
        for action in (
            lambda: questionnaire.answer_choice(programme, application, "lg_type", "powiat", NOW),
            lambda: questionnaire.answer_choice(programme, application, "contact_name", "x", NOW),
            lambda: questionnaire.skip(programme, application, "contact_name", NOW),
            lambda: questionnaire.edit(programme, application, "email", NOW),
            lambda: questionnaire.submit(programme, application, NOW),
            lambda: questionnaire.toggle_choice(programme, application, "mentor_languages", "pl",
                                                NOW),
        ):
            with pytest.raises(StaleAction):
                action()
        assert application.answers == before


async def test_after_close_no_submit_and_no_changes(session, programme) -> None:
    later = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    async with session.begin():
        _p, application = await _gmina_application(session, programme)
        _fill_rest(programme, application)
        with pytest.raises(ApplicationsClosed):
            questionnaire.submit(programme, application, later)
        questionnaire.submit(programme, application, NOW)
        with pytest.raises(ApplicationsClosed):
            questionnaire.edit(programme, application, "email", later)


async def test_deadline_is_the_end_of_30_june_in_warsaw(programme) -> None:
    close = datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    assert programme.is_open(close - timedelta(seconds=1))
    assert not programme.is_open(close)
