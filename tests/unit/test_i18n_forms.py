"""Forms Babel does not give: the weekday after "until", Polish hours, labels in running text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.i18n import format_datetime, in_running_text

MONDAY = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # 8:00 in Warsaw, 9:00 in Kyiv

AFTER_UNTIL = {
    "pl": ["poniedziałku", "wtorku", "środy", "czwartku", "piątku", "soboty", "niedzieli"],
    "uk": ["понеділка", "вівторка", "середи", "четверга", "п’ятниці", "суботи", "неділі"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}


@pytest.mark.parametrize("language", sorted(AFTER_UNTIL))
def test_the_weekday_after_until_takes_the_genitive(language: str) -> None:
    for day, expected in enumerate(AFTER_UNTIL[language]):
        text = format_datetime(MONDAY + timedelta(days=day), language, until=True)
        assert text.startswith(f"{expected}, "), text


def test_the_issue_s_example_reads_as_a_polish_official_would_write_it() -> None:
    thursday = datetime(2026, 12, 10, 7, 0, tzinfo=UTC)
    assert format_datetime(thursday, "pl", until=True) == "czwartku, 10 grudnia 2026, godz. 8:00"
    assert format_datetime(thursday, "pl") == "czwartek, 10 grudnia 2026, godz. 8:00"
    kyiv = format_datetime(thursday, "uk", "Europe/Kyiv", until=True)
    assert kyiv == "четверга, 10 грудня 2026, 09:00"
    assert format_datetime(thursday, "en") == "Thursday, 10 December 2026, 08:00"


def test_other_patterns_keep_the_polish_hour_without_a_leading_zero() -> None:
    assert format_datetime(MONDAY, "pl", fmt="d MMM, HH:mm") == "7 gru, 8:00"
    assert format_datetime(MONDAY, "uk", "Europe/Kyiv", fmt="d MMM, HH:mm") == "7 груд., 09:00"


def test_labels_in_running_text_are_not_capitalised_after_a_comma() -> None:
    assert in_running_text(["Polski", "Angielski"]) == "Polski, angielski"
    assert in_running_text(["Polski", "Angielski"], lower_first=True) == "polski, angielski"
    assert in_running_text(["Польська", "Англійська"], lower_first=True) == "польська, англійська"
    assert in_running_text(["Cyfryzacja", "UE i fundusze"]) == "Cyfryzacja, UE i fundusze"


@pytest.fixture
def i18n():
    from bot.i18n import create_i18n

    translations = create_i18n()
    with translations.context():
        yield translations


def test_re_asks_name_one_answer_and_fit_the_reader(i18n) -> None:
    from bot.services.answers import InvalidAnswer
    from handlers.question_view import invalid_text

    with i18n.use_locale("pl"):
        assert invalid_text(InvalidAnswer("choose_more", {"min": 1})) == (
            "Prosimy zaznaczyć co najmniej jedną odpowiedź."
        )
        assert "co najmniej 2 odpowiedzi" in invalid_text(InvalidAnswer("choose_more", {"min": 2}))
        assert "np. +48 600 100 200" in invalid_text(InvalidAnswer("phone", {"region": "PL"}))
    with i18n.use_locale("uk"):
        assert "+380 67 123 45 67" in invalid_text(InvalidAnswer("phone", {"region": "UA"}))
        assert "name@rada.gov.ua" in invalid_text(InvalidAnswer("email", {"region": "UA"}))
