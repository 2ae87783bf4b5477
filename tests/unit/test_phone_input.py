"""Phone numbers the parser would have changed (issue 21, item 7): asked again, not stored."""

from __future__ import annotations

import pytest

from bot.services import answers
from bot.services.answers import InvalidAnswer


@pytest.mark.parametrize(
    "raw",
    [
        "+48 600 100 200 ext 5",
        "+48 600 100 200 ext. 5",
        "+48 600 100 200 x5",
        "+48 600 100 200 #5",
        "+48 600 100 200 wew. 5",
        "٦٠٠١٠٠٢٠٠",  # Arabic-Indic digits
        "+٤٨ ٦٠٠ ١٠٠ ٢٠٠",
        "６００１００２００",  # full-width digits
        "+48 600 ABC 200",
    ],
)
def test_an_extension_or_other_digits_are_asked_again(raw: str) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        answers.parse_phone(raw, "PL")
    assert caught.value.code == "phone"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+48 600 100 200", "+48600100200"),
        ("(+48) 600-100-200", "+48600100200"),
        ("600.100.200", "+48600100200"),
        ("0048\u00a0600\u00a0100\u00a0200", "+48600100200"),
    ],
)
def test_the_usual_ways_of_writing_a_number_still_pass(raw: str, expected: str) -> None:
    assert answers.parse_phone(raw, "PL") == expected
