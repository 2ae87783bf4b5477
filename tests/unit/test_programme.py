"""The programme files load, say what the call says, and the loader refuses broken files clearly."""

from __future__ import annotations

import html.parser
import os
import re
import string
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from bot.programme import (
    LANGUAGES,
    PROGRAMMES_DIR,
    Programme,
    ProgrammeError,
    Texts,
    default_programme_path,
    load_programme,
)

REAL = PROGRAMMES_DIR / "win4ua-2026.toml"
DEMO = PROGRAMMES_DIR / "demo.toml"
WARSAW_CLOSE = datetime(2026, 6, 30, 22, 0, tzinfo=UTC)  # 30 June 2026, 24:00 in Warsaw (CEST)

MUNICIPALITY_QUESTIONS = [
    ("lg_type", "single_choice"),
    ("gmina", "gmina"),
    ("powiat", "powiat"),
    ("stated_population", "integer"),
    ("contact_name", "text"),
    ("contact_position", "text"),
    ("email", "email"),
    ("phone", "phone"),
    ("partnership_openness", "yes_no"),
    ("ukraine_contacts", "yes_no"),
    ("ukraine_contacts_details", "long_text"),
    ("mentor_name", "text"),
    ("mentor_position", "text"),
    ("mentor_languages", "multiple_choice"),
    ("experience_areas", "multiple_choice"),
    ("internship_period", "text"),
    ("study_visits", "yes_no"),
    ("heard_from", "single_choice"),
    ("comments", "long_text"),
]
INTERN_QUESTIONS = [
    ("full_name", "text"),
    ("position", "text"),
    ("department", "text"),
    ("management_level", "single_choice"),
    ("hromada", "hromada"),
    ("email", "email"),
    ("phone", "phone"),
    ("polish_level", "single_choice"),
    ("english_level", "single_choice"),
    ("interests", "multiple_choice"),
    ("internship_period", "text"),
    ("expectations", "long_text"),
    ("comments", "long_text"),
]
AREAS = [
    "participation", "external_funds", "intermunicipal", "international", "eu_integration",
    "local_development", "public_services", "digital", "spatial_planning", "education_social",
]


@pytest.fixture(scope="module")
def real() -> Programme:
    return load_programme(REAL)


@pytest.fixture(scope="module")
def demo() -> Programme:
    return load_programme(DEMO)


def _all_texts(programme: Programme) -> list[tuple[str, Texts]]:
    """Every text of a programme with a readable location."""
    found: list[tuple[str, Texts]] = [("name", programme.name)]
    found.extend((f"about[{n}]", texts) for n, texts in enumerate(programme.about.sections()))
    for audience_id, audience in programme.audiences.items():
        found.append((f"{audience_id}.name", audience.name))
        for question in audience.questions:
            where = f"{audience_id}.{question.id}"
            found.append((f"{where}.text", question.text))
            if question.help is not None:
                found.append((f"{where}.help", question.help))
            found.extend((f"{where}.{c.id}", c.label) for c in question.choices)
        found.extend(
            (f"{audience_id}.rule[{n}]", rule.reason) for n, rule in enumerate(audience.eligibility)
        )
    return found


# --- the real files -----------------------------------------------------------------------------


def test_both_files_load(real: Programme, demo: Programme) -> None:
    assert real.id == "win4ua-2026" and not real.demo
    assert demo.id == "win4ua-demo" and demo.demo
    assert default_programme_path() == DEMO
    for programme in (real, demo):
        assert set(programme.audiences) == {"municipality", "intern"}
        assert programme.reminder_offsets == (timedelta(hours=24), timedelta(hours=1))
        assert programme.time_zone == "Europe/Warsaw"
    assert real.audience("municipality").time_zone == "Europe/Warsaw"
    assert real.audience("intern").time_zone == "Europe/Kyiv"


def test_demo_inherits_everything_but_name_and_dates(real: Programme, demo: Programme) -> None:
    assert demo.audiences == real.audiences
    assert all("DEMO" in demo.name.get(lang) or "ДЕМО" in demo.name.get(lang) for lang in LANGUAGES)
    assert "DEMO" not in real.name.en


def test_demo_is_open_today(demo: Programme) -> None:
    now = datetime.now(UTC)
    assert demo.is_open(now)
    assert demo.applications_open <= now - timedelta(days=6)
    assert demo.applications_close >= now + timedelta(days=59)


def test_demo_dates_are_relative_to_the_day_it_is_loaded() -> None:
    demo = load_programme(DEMO, today=date(2030, 1, 10))
    assert demo.applications_open == datetime(2030, 1, 2, 23, 0, tzinfo=UTC)  # 3 Jan, Warsaw
    assert demo.applications_close == datetime(2030, 3, 11, 23, 0, tzinfo=UTC)  # end of 11 March


def test_2026_call_dates_are_warsaw_days(real: Programme) -> None:
    assert real.applications_open == datetime(2026, 6, 2, 22, 0, tzinfo=UTC)  # 3 June, 00:00
    assert real.applications_close == WARSAW_CLOSE
    assert real.is_open(datetime(2026, 6, 3, 9, 0, tzinfo=UTC))
    assert real.is_open(WARSAW_CLOSE - timedelta(seconds=1))  # 30 June, 23:59:59 in Warsaw
    assert not real.is_open(WARSAW_CLOSE)
    assert not real.is_open(datetime(2026, 7, 1, 8, 0, tzinfo=UTC))
    assert not real.is_open(datetime(2026, 6, 2, 21, 59, tzinfo=UTC))


def test_questions_in_order(real: Programme) -> None:
    municipality = real.audience("municipality")
    intern = real.audience("intern")
    assert [(q.id, q.kind) for q in municipality.questions] == MUNICIPALITY_QUESTIONS
    assert [(q.id, q.kind) for q in intern.questions] == INTERN_QUESTIONS


def test_municipality_branching_and_limits(real: Programme) -> None:
    spec = real.audience("municipality")

    def conditions(question_id: str) -> list[tuple[str, str, object]]:
        question = spec.question(question_id)
        assert question is not None
        return [(c.field, c.op, c.value) for c in question.show_if]

    assert conditions("gmina") == [("lg_type", "eq", "gmina")]
    assert conditions("powiat") == [("lg_type", "eq", "powiat")]
    assert conditions("stated_population") == [
        ("lg_type", "eq", "gmina"), ("gmina.population", "absent", None),
    ]
    assert conditions("ukraine_contacts_details") == [("ukraine_contacts", "eq", True)]
    stated = spec.question("stated_population")
    assert stated is not None and (stated.min_value, stated.max_value) == (1, 5_000_000)
    optional = {q.id for q in spec.questions if not q.required}
    assert optional == {"ukraine_contacts_details", "comments"}
    heard = spec.question("heard_from")
    assert heard is not None
    assert heard.prefill_from_start == {"zmp": "zmp", "zgwrp": "zgwrp", "fsm": "fsm"}
    assert [c.id for c in heard.choices] == ["zmp", "zgwrp", "fsm", "other"]
    languages = spec.question("mentor_languages")
    assert languages is not None
    assert [c.id for c in languages.choices] == ["pl", "uk", "en", "de", "ru", "other"]
    areas = spec.question("experience_areas")
    assert areas is not None and (areas.min_choices, areas.max_choices) == (1, 6)


def test_interns_and_hosts_share_the_areas(real: Programme) -> None:
    hosts = real.audience("municipality").question("experience_areas")
    interns = real.audience("intern").question("interests")
    assert hosts is not None and interns is not None
    assert [c.id for c in hosts.choices] == AREAS
    assert interns.choices == hosts.choices
    intern = real.audience("intern")
    levels = [intern.question(q) for q in ("polish_level", "english_level")]
    for question in levels:
        assert question is not None
        assert [c.id for c in question.choices] == ["none", "basic", "intermediate", "fluent"]


def test_eligibility_rules(real: Programme) -> None:
    rules = real.audience("municipality").eligibility
    assert [(r.field, r.op, r.value, r.fallback_field) for r in rules] == [
        ("gmina.population", "le", 120000, "stated_population"),
        ("powiat.population", "le", 120000, None),
        ("partnership_openness", "eq", True, None),
        ("mentor_name", "present", None, None),
    ]
    (intern_rule,) = real.audience("intern").eligibility
    assert (intern_rule.field, intern_rule.op, intern_rule.value) == (
        "management_level", "in", ["senior", "middle"],
    )


def test_every_text_has_three_languages(real: Programme) -> None:
    for where, texts in _all_texts(real):
        for language in LANGUAGES:
            value = texts.get(language)
            assert value.strip() == value and value, f"{where}.{language} is empty or padded"
        assert len({texts.pl, texts.uk}) == 2, f"{where}: Ukrainian text is a copy of Polish"


def test_button_labels_are_short(real: Programme) -> None:
    for audience in real.audiences.values():
        for question in audience.questions:
            for choice in question.choices:
                for language in LANGUAGES:
                    label = choice.label.get(language)
                    assert len(label) <= 40, f"{question.id}.{choice.id}.{language}: {label!r}"


class _TagCheck(html.parser.HTMLParser):
    ALLOWED: ClassVar[frozenset[str]] = frozenset({"b", "i"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in self.ALLOWED, f"tag <{tag}> is not used in programme texts"
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"</{tag}> does not close the last tag"


def test_texts_are_valid_telegram_html(real: Programme) -> None:
    for where, texts in _all_texts(real):
        for language in LANGUAGES:
            value = texts.get(language)
            bare = re.sub(r"</?(b|i)>", "", value)
            assert "<" not in bare and ">" not in bare, f"{where}.{language}: unescaped < or >"
            assert not re.search(r"&(?!amp;|lt;|gt;|quot;)", value), f"{where}.{language}: &"
            checker = _TagCheck()
            checker.feed(value)
            checker.close()
            assert not checker.open, f"{where}.{language}: unclosed <{checker.open[-1]}>"


def test_reasons_use_only_known_placeholders(real: Programme) -> None:
    for audience in real.audiences.values():
        for rule in audience.eligibility:
            for language in LANGUAGES:
                text = rule.reason.get(language)
                names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
                assert names <= {"limit", "value"}, text
                assert text.format(limit="120 000", value="150 000")
    gmina_rule = real.audience("municipality").eligibility[0]
    assert "{limit}" in gmina_rule.reason.pl and "{value}" in gmina_rule.reason.pl


def test_population_limit_is_one_value_to_edit(tmp_path: Path) -> None:
    """80k → 120k (or back) is a one-line edit of the file, not of code."""
    text = REAL.read_text(encoding="utf-8")
    # The limit is written once, in [limits]; both population rules read it by name.
    assert text.count("120000") == 1
    assert text.count("max_inhabitants = 120000\n") == 1
    edited = tmp_path / "win4ua-2026.toml"
    edited.write_text(
        text.replace("max_inhabitants = 120000", "max_inhabitants = 80000"), encoding="utf-8"
    )
    assert len([a for a, b in zip(text.splitlines(), edited.read_text().splitlines(), strict=True)
                if a != b]) == 1
    programme = load_programme(edited)
    limits = [r.value for r in programme.audience("municipality").eligibility[:2]]
    assert limits == [80000, 80000]
    # A demo next to the edited file inherits the new limit.
    (tmp_path / "demo.toml").write_text(DEMO.read_text(encoding="utf-8"), encoding="utf-8")
    demo = load_programme(tmp_path / "demo.toml")
    assert demo.audience("municipality").eligibility[0].value == 80000


# --- broken files -------------------------------------------------------------------------------

MINIMAL = """\
id = "test"
applications_open = 2026-06-03
applications_close = 2026-06-30

[name]
pl = "Test"
uk = "Тест"
en = "Test"

[contact]
email = "team@example.org"

[about]
organisers = { pl = "FSM", uk = "FSM", en = "FSM" }
hosts.pl = "Do {max_inhabitants}."
hosts.uk = "До {max_inhabitants}."
hosts.en = "Up to {max_inhabitants}."
interns = { pl = "Stażyści.", uk = "Стажисти.", en = "Interns." }
meetings = { pl = "Spotkania.", uk = "Зустрічі.", en = "Meetings." }
study_visits = { pl = "Wizyty.", uk = "Візити.", en = "Visits." }
projects = { pl = "Projekty.", uk = "Проєкти.", en = "Projects." }

[limits]
max_inhabitants = 120000

[audiences.municipality]
time_zone = "Europe/Warsaw"
name = { pl = "Samorząd", uk = "Самоврядування", en = "Local government" }

[[audiences.municipality.questions]]
id = "lg_type"
kind = "single_choice"
text = { pl = "Jaki samorząd?", uk = "Яке самоврядування?", en = "Which one?" }
choices = [
    { id = "gmina", label = { pl = "Gmina", uk = "Гміна", en = "Gmina" } },
    { id = "powiat", label = { pl = "Powiat", uk = "Повіт", en = "Powiat" } },
]

[[audiences.municipality.questions]]
id = "gmina"
kind = "gmina"
show_if = { field = "lg_type", op = "eq", value = "gmina" }
text = { pl = "Nazwa gminy?", uk = "Назва гміни?", en = "Gmina name?" }

[[audiences.municipality.eligibility]]
field = "gmina.population"
op = "le"
value = 120000
reason = { pl = "Za duża.", uk = "Завелика.", en = "Too big." }
"""


def _load(tmp_path: Path, text: str) -> Programme:
    path = tmp_path / "programme.toml"
    path.write_text(text, encoding="utf-8")
    return load_programme(path)


def _refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ProgrammeError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "programme.toml" in message  # says which file
    return message


def _replace(old: str, new: str) -> str:
    assert MINIMAL.count(old) == 1, old
    return MINIMAL.replace(old, new)


def test_minimal_file_loads(tmp_path: Path) -> None:
    programme = _load(tmp_path, MINIMAL)
    assert programme.applications_close == WARSAW_CLOSE


def test_missing_language_names_the_field(tmp_path: Path) -> None:
    message = _refused(
        tmp_path, _replace('uk = "Назва гміни?", ', ""),
    )
    assert "audiences.municipality.questions[gmina].text.uk" in message
    assert "Field required" in message


def test_missing_language_in_a_choice_or_reason(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace('uk = "Повіт", ', ""))
    assert "questions[lg_type].choices[powiat].label.uk" in message
    message = _refused(tmp_path, _replace('uk = "Завелика.", ', ""))
    assert "eligibility[0].reason.uk" in message


def test_empty_text_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace('en = "Gmina name?"', 'en = ""'))
    assert "questions[gmina].text.en" in message


def test_real_file_missing_a_language_is_refused(tmp_path: Path) -> None:
    text = REAL.read_text(encoding="utf-8")
    line = 'text.uk = "Вкажіть, будь ласка, електронну адресу для зв’язку."\n'
    assert text.count(line) == 1
    copy = tmp_path / "win4ua-2026.toml"
    copy.write_text(text.replace(line, ""), encoding="utf-8")
    with pytest.raises(ProgrammeError) as caught:
        load_programme(copy)
    message = str(caught.value)
    assert "1 problem(s)" in message
    assert "audiences.municipality.questions[email].text.uk: Field required" in message  # `email`


def test_unknown_show_if_reference(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace('field = "lg_type"', 'field = "lg_kind"'))
    assert "'gmina'" in message and "'lg_kind'" in message
    assert "not an earlier question" in message


def test_show_if_on_a_later_question(tmp_path: Path) -> None:
    text = MINIMAL + """
[[audiences.municipality.questions]]
id = "later"
kind = "text"
text = { pl = "Później", uk = "Пізніше", en = "Later" }
"""
    text = text.replace('field = "lg_type"', 'field = "later"')
    assert "not an earlier question" in _refused(tmp_path, text)


def test_unknown_rule_reference(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace('"gmina.population"', '"powiat.population"'))
    assert "unknown question 'powiat.population'" in message
    text = _replace('value = 120000\n', 'value = 120000\nfallback_field = "stated"\n')
    assert "unknown question 'stated'" in _refused(tmp_path, text)


def test_duplicate_question_ids(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace('id = "gmina"\nkind', 'id = "lg_type"\nkind'))
    assert "'lg_type' is used twice" in message


def test_duplicate_choice_ids(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace('id = "powiat", label', 'id = "gmina", label'))
    assert "repeats a choice id" in message


def test_choice_kind_without_choices(tmp_path: Path) -> None:
    start = MINIMAL.index("choices = [")
    end = MINIMAL.index("]\n", start) + 2
    message = _refused(tmp_path, MINIMAL[:start] + MINIMAL[end:])
    assert "'lg_type' (single_choice) needs choices" in message


def test_choices_on_a_text_question(tmp_path: Path) -> None:
    text = _replace(
        'kind = "gmina"\n',
        'kind = "text"\nchoices = [{ id = "a", label = { pl = "A", uk = "А", en = "A" } }]\n',
    )
    assert "cannot have choices" in _refused(tmp_path, text)


def test_unknown_kind_and_bad_id(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace('kind = "gmina"', 'kind = "village"'))
    assert "questions[gmina].kind" in message
    message = _refused(tmp_path, _replace('id = "gmina"\nkind', 'id = "Gmina Name"\nkind'))
    assert "questions[Gmina Name].id" in message


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace('kind = "gmina"\n', 'kind = "gmina"\nrequird = false\n'))
    assert "questions[gmina].requird" in message and "Extra inputs" in message


def test_bad_programme_time_zone(tmp_path: Path) -> None:
    message = _refused(tmp_path, 'time_zone = "Europe/Warszawa"\n' + MINIMAL)
    assert "unknown time_zone 'Europe/Warszawa'" in message


def test_bad_audience_time_zone(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace('"Europe/Warsaw"', '"Europe/Kiev2"'))
    assert "audiences.municipality.time_zone" in message
    assert "unknown time zone 'Europe/Kiev2'" in message


def test_close_before_open(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace("close = 2026-06-30", "close = 2026-05-30"))
    assert "applications_close must be after applications_open" in message


def test_missing_close_date(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace("applications_close = 2026-06-30\n", ""))
    assert "applications_close" in message


def test_bad_reminder_offset(tmp_path: Path) -> None:
    message = _refused(tmp_path, 'reminder_offsets = ["1 week"]\n' + MINIMAL)
    assert "reminder_offsets" in message and "'1 week'" in message


def test_invalid_toml(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace('id = "test"', 'id = "test'))
    assert "not valid TOML" in message


def test_missing_parent_file(tmp_path: Path) -> None:
    with pytest.raises(ProgrammeError, match=r"nowhere\.toml: no such file"):
        _load(tmp_path, 'extends = "nowhere.toml"\n')


def test_value_from_needs_a_known_limit(tmp_path: Path) -> None:
    text = _replace("value = 120000\n", 'value_from = "max_people"\n')
    assert "value_from 'max_people' is not in [limits]" in _refused(tmp_path, text)


def test_errors_name_the_question(tmp_path: Path) -> None:
    text = _replace('text = { pl = "Nazwa gminy?", uk = "Назва гміни?", en = "Gmina name?" }',
                    'text = { pl = "Nazwa gminy?", en = "Gmina name?" }')
    assert "questions[gmina].text.uk" in _refused(tmp_path, text)


# --- the programme's facts and its team's contact (issue 17, items 9 and 10) ----------------------


def _without(text: str, start: str, end: str) -> str:
    first = text.index(start)
    return text[:first] + text[text.index(end, first) :]


def test_a_file_without_facts_or_contact_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, _without(MINIMAL, "[about]", "[limits]"))
    assert "about: Field required" in message
    message = _refused(tmp_path, _without(MINIMAL, "[contact]", "[about]"))
    assert "contact: Field required" in message
    message = _refused(tmp_path, _replace('en = "Interns."', 'en = ""'))
    assert "about.interns.en" in message


def test_facts_name_limits_only(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace("Up to {max_inhabitants}.", "Up to {max_people}."))
    assert "{max_people} is not in [limits]" in message


def test_contact_is_checked(tmp_path: Path) -> None:
    message = _refused(tmp_path, _replace('email = "team@example.org"', 'email = "team"'))
    assert "contact.email" in message
    programme = _load(tmp_path, _replace('email = "team@example.org"',
                                         'email = "team@example.org"\ntelegram = "win4ua_team"'))
    assert programme.contact.telegram_handle == "@win4ua_team"


def test_real_files_have_facts_and_contact(real: Programme, demo: Programme) -> None:
    for programme in (real, demo):
        assert programme.contact.email.endswith("@solidarityfund.pl")
        assert "{max_inhabitants}" in programme.about.hosts.pl
        assert "ZGWRP" in programme.about.organisers.get("pl")


def test_programme_check_refuses_a_file_without_facts(tmp_path: Path) -> None:
    path = tmp_path / "programme.toml"
    path.write_text(_without(MINIMAL, "[about]", "[limits]"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "programme", "check", str(path)],
        capture_output=True, text=True, check=False, env={**os.environ, "BOT_TOKEN": ""},
    )
    assert done.returncode == 1 and "about: Field required" in done.stderr
