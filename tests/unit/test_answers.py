"""Every validation path of typed answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.programme import Question, Texts
from bot.services import answers
from bot.services.answers import InvalidAnswer

T = Texts(pl="p", uk="u", en="e")


def q(kind: str, **extra) -> Question:
    return Question(id="x", kind=kind, text=T, **extra)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("600 100 200", "+48600100200"), ("+48 600-100-200", "+48600100200"),
     ("0048600100200", "+48600100200"), ("+380 67 123 4567", "+380671234567")],
)
def test_phone_is_normalised_to_e164(raw: str, expected: str) -> None:
    assert answers.parse_phone(raw, "PL") == expected


def test_ukrainian_default_region() -> None:
    assert answers.parse_phone("067 123 4567", "UA") == "+380671234567"


@pytest.mark.parametrize("raw", ["12", "abc", "+48 12", "6" * 50, ""])
def test_bad_phone(raw: str) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        answers.parse_phone(raw, "PL")
    assert caught.value.code == "phone"


@pytest.mark.parametrize("raw", ["Anna.Kowalska@Wadowice.PL ", "a@b.pl"])
def test_email_accepted(raw: str) -> None:
    assert "@" in answers.parse_email(raw)


@pytest.mark.parametrize("raw", ["anna", "anna@", "@gmina.pl", "a b@c.pl", "x" * 300 + "@a.pl"])
def test_email_refused(raw: str) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        answers.parse_email(raw)
    assert caught.value.code == "email"


def test_text_limits_and_cleaning() -> None:
    question = q("text", min_length=3, max_length=10)
    assert answers.parse_text(question, "  Jan\u200b  Nowak\u202e ") == "Jan Nowak"
    with pytest.raises(InvalidAnswer) as short:
        answers.parse_text(question, "Jo")
    assert (short.value.code, short.value.params) == ("too_short", {"min": 3})
    with pytest.raises(InvalidAnswer) as long:
        answers.parse_text(question, "x" * 11)
    assert long.value.code == "too_long" and long.value.params["max"] == 10
    with pytest.raises(InvalidAnswer) as empty:
        answers.parse_text(question, "\x00\u200b  ")
    assert empty.value.code == "empty"


def test_long_text_keeps_paragraphs() -> None:
    assert answers.parse_text(q("long_text"), "One.\n\n\n\nTwo.") == "One.\n\nTwo."


@pytest.mark.parametrize(("raw", "value"), [("36 475", 36475), ("36\u00a0475", 36475),
                                            ("120.000", 120000), ("7", 7)])
def test_integers(raw: str, value: int) -> None:
    assert answers.parse_integer(q("integer", min_value=1, max_value=5_000_000), raw) == value


@pytest.mark.parametrize(("raw", "code"), [("-5", "integer"), ("1e5", "integer"),
                                           ("0", "integer_min"), ("9999999", "integer_max")])
def test_integer_refusals(raw: str, code: str) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        answers.parse_integer(q("integer", min_value=1, max_value=5_000_000), raw)
    assert caught.value.code == code


@pytest.mark.parametrize("raw", ["2026-10-15", "15.10.2026", "15/10/2026"])
def test_dates(raw: str) -> None:
    assert answers.parse_date(raw) == "2026-10-15"


def test_bad_date() -> None:
    with pytest.raises(InvalidAnswer):
        answers.parse_date("31.02.2026")


@pytest.mark.parametrize(("raw", "value"), [("Tak", True), ("так", True), ("no", False),
                                            ("Nie.", False)])
def test_yes_no_typed(raw: str, value: bool) -> None:
    assert answers.parse_yes_no(raw) is value


def test_choice_by_number_or_label() -> None:
    from bot.programme import Choice

    question = q("single_choice", choices=(Choice(id="a", label=Texts(pl="Gmina", uk="Гміна",
                                                                        en="Gmina")),
                                           Choice(id="b", label=Texts(pl="Powiat", uk="Повіт",
                                                                        en="Powiat"))))
    assert answers.parse_choice_text(question, "2", "pl") == "b"
    assert answers.parse_choice_text(question, "повіт", "uk") == "b"
    with pytest.raises(InvalidAnswer):
        answers.parse_choice_text(question, "3", "pl")


@given(st.text(max_size=10_000))
def test_text_parsing_never_crashes_and_respects_the_limit(raw: str) -> None:
    question = q("long_text")
    try:
        text = answers.parse_text(question, raw)
    except InvalidAnswer:
        return
    assert 1 <= len(text) <= question.limit
    assert "\x00" not in text and "\u202e" not in text


@pytest.mark.parametrize(
    ("value", "op", "expected", "result"),
    [(5, "le", 5, True), (6, "le", 5, False), (None, "le", 5, False), ("a", "in", ["a"], True),
     ("", "present", None, False), ("x", "present", None, True), ([], "absent", None, True),
     ("5", "lt", 3, False)],
)
def test_compare(value, op, expected, result) -> None:
    assert answers.compare(value, op, expected) is result


def test_resolve_dotted_paths() -> None:
    data = {"gmina": {"population": 36475}, "x": 1}
    assert answers.resolve(data, "gmina.population") == 36475
    assert answers.resolve(data, "x.y") is None
    assert answers.resolve(data, "missing.population") is None
