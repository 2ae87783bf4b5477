"""A reason's value reads by the kind of its rule's question, in the reader's language."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.i18n import create_i18n
from bot.programme import PROGRAMMES_DIR, Programme, ProgrammeError, load_programme
from bot.reasons import render_reason, render_value
from bot.services.eligibility import Reason, evaluate

NBSP = "\xa0"


@pytest.fixture(scope="module")
def programme() -> Programme:
    return load_programme(PROGRAMMES_DIR / "win4ua-2026.toml")


@pytest.fixture(autouse=True)
def i18n_context() -> Iterator[None]:
    i18n = create_i18n()
    with i18n.context(), i18n.use_locale("en"):  # the update's locale: not the reader's
        yield


@pytest.mark.parametrize(("language", "no", "yes"), [("pl", "Nie", "Tak"), ("uk", "Ні", "Так"),
                                                     ("en", "No", "Yes")])
def test_yes_no_reads_as_words_in_the_readers_language(programme, language, no, yes) -> None:
    spec = programme.audience("municipality")
    assert render_value(spec, "partnership_openness", False, language) == no
    assert render_value(spec, "partnership_openness", True, language) == yes


def test_the_partnership_reason_renders(programme) -> None:
    """Issue 17: False was formatted as a number (a bool is an int) → decimal.InvalidOperation."""
    spec = programme.audience("municipality")
    verdict = evaluate(spec, {"partnership_openness": False, "mentor_name": "Jan"})
    [reason] = verdict.reasons
    assert reason.field == "partnership_openness" and reason.value is False
    for language in ("pl", "uk", "en"):
        text = render_reason(spec, reason, language)
        assert text and "{" not in text


def test_numbers_read_in_the_readers_convention(programme) -> None:
    spec = programme.audience("municipality")
    reason = evaluate(spec, {"gmina": {"population": 1861599}, "mentor_name": "Jan",
                             "partnership_openness": True}).reasons[0]
    assert f"120{NBSP}000" in render_reason(spec, reason, "pl")
    assert f"1{NBSP}861{NBSP}599" in render_reason(spec, reason, "uk")
    assert "120,000" in render_reason(spec, reason, "en")


def test_choices_read_as_their_labels(programme) -> None:
    spec = programme.audience("intern")
    [reason] = evaluate(spec, {"management_level": "specialist"}).reasons
    assert render_value(spec, reason.field, reason.value, "pl") == "Stanowisko specjalistyczne"
    assert render_value(spec, reason.field, reason.limit, "uk") == (
        "Вище керівництво, Середня ланка управління")


def test_a_reason_without_its_field_still_renders() -> None:
    """Stored before the field was kept: the value's type is all there is."""
    reason = Reason({"pl": "{value} / {limit}", "uk": "-", "en": "-"}, value=False, limit=120000)
    assert render_reason(None, reason, "pl") == f"Nie / 120{NBSP}000"


def test_markup_escapes_what_people_typed_and_plain_drops_tags(programme) -> None:
    spec = programme.audience("municipality")
    reason = Reason({"pl": "<b>Za dużo:</b> {value}", "uk": "-", "en": "-"},
                    value="<script>", field="contact_name")
    assert render_reason(spec, reason, "pl") == "<b>Za dużo:</b> &lt;script&gt;"
    assert render_reason(spec, reason, "pl", markup=False) == "Za dużo: <script>"


def test_a_stray_placeholder_never_reaches_people() -> None:
    reason = Reason({"pl": "Limit {limit}, {name}", "uk": "-", "en": "-"}, limit=5)
    assert render_reason(None, reason, "pl") == "Limit 5, "


def test_the_programme_check_refuses_unknown_placeholders(tmp_path: Path) -> None:
    real = (PROGRAMMES_DIR / "win4ua-2026.toml").read_text(encoding="utf-8")
    broken = real.replace("a Państwa gmina liczy ich {value}", "a Państwa gmina liczy {count}")
    assert broken != real
    (tmp_path / "p.toml").write_text(broken, encoding="utf-8")
    with pytest.raises(ProgrammeError, match=r"may use \{value\} and \{limit\} only, not count"):
        load_programme(tmp_path / "p.toml")
