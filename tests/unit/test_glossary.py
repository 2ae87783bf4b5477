"""No catalog entry and no programme text uses a form the glossary (locales/GLOSSARY.md) avoids."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from bot.i18n import LANGUAGES, LOCALES_DIR
from bot.programme import PROGRAMMES_DIR

GLOSSARY = LOCALES_DIR / "GLOSSARY.md"
ROW = re.compile(r"^\|\s*(pl|uk|en)\s*\|\s*`(.+)`\s*\|(.*)\|\s*$")


def avoided_forms() -> list[tuple[str, re.Pattern[str], str]]:
    """(language, pattern, what to use instead) from the glossary's "Forms to avoid" table."""
    text = GLOSSARY.read_text(encoding="utf-8")
    section = text.split("## Forms to avoid", 1)[1]
    rows = []
    for line in section.splitlines():
        found = ROW.match(line)
        if found:
            language, pattern, better = found.groups()
            rows.append((language, re.compile(pattern.replace(r"\|", "|")), better.strip()))
    return rows


def catalog_texts(language: str) -> Iterator[tuple[str, str]]:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple | list) else [message.string]
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        for text in strings:
            yield f"messages.po: {msgid[:60]!r}", text


def _walk(node: Any, where: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in LANGUAGES and isinstance(value, str):
                yield key, where, value
            else:
                yield from _walk(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}[{index}]")


def programme_texts(language: str) -> Iterator[tuple[str, str]]:
    for path in sorted(Path(PROGRAMMES_DIR).glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for found_language, where, text in _walk(data, path.name):
            if found_language == language:
                yield where, text


def violations(language: str) -> list[str]:
    rules = [(p, better) for lang, p, better in avoided_forms() if lang == language]
    found = []
    for where, text in [*catalog_texts(language), *programme_texts(language)]:
        for pattern, better in rules:
            hit = pattern.search(text)
            if hit:
                found.append(f"{where}: {hit.group(0)!r} → {better}")
    return found


def test_the_glossary_has_rules_for_every_language() -> None:
    languages = {language for language, _pattern, _better in avoided_forms()}
    assert languages == set(LANGUAGES)


def test_the_rules_catch_the_forms_the_issue_found() -> None:
    """The table's regexes are live: each known bad phrase is caught, each good one passes."""
    rules: dict[str, list[re.Pattern[str]]] = {}
    for language, pattern, _better in avoided_forms():
        rules.setdefault(language, []).append(pattern)

    def caught(language: str, text: str) -> bool:
        return any(p.search(text) for p in rules[language])

    for bad in (
        "Вийти з листа очікування",
        "Ви в листі очікування на:",
        "Самоврядування: 6 заявок",
        "1 стажист має самоврядування-партнера",
        "Поєднання стажистів із самоврядуваннями",
        "Представляю польське самоврядування",
        "зголошуються прийняти",
        "з яким Вас поєднають",
        "Мова: Українська.",
        "Надішліть текст мовою: <b>Українська</b>",
        "можна до: середа, 9 грудня",
        "11:00 (за київським часом) (90 хв)",
        "Ментор: Анна",
    ):
        assert caught("uk", bad), bad
    for good in (
        "Вийти зі списку очікування",
        "Органи місцевого самоврядування: 6 заявок",
        "питання місцевого самоврядування",
        "можна до середи, 9 грудня",
        "11:00 за київським часом, 90 хв",
        "Наставник: Анна",
        "Мову змінено на українську.",
    ):
        assert not caught("uk", good), good
    for bad in (
        "Termin można zmienić lub odwołać do: czwartek, 10 grudnia 2026, 08:00.",
        "Proszę wysłać tekst w języku: Українська",
        "Eksport win4ua-demo: wierszy: {rows}.",
        "Proszę wysłać nowy początek (czasu warszawskiego)",
        "Proszę wysłać nowy początek, czasu warszawskiego, np. 8.04.2026 10:00.",
        "Zapisano: znaków: {length}, wysyłka w {count} wiadomości.",
        "Fundacja Solidarności (FSM)",
        "Ukraiński numer można wpisać z +380.",
        "Dołączenie online: https://example.org",
    ):
        assert caught("pl", bad), bad
    for good in (
        "Rezerwację można zmienić lub odwołać do czwartku, 10 grudnia 2026, godz. 8:00.",
        "Proszę wysłać tekst po ukraińsku.",
        "Fundacja Solidarności Międzynarodowej (FSM)",
        "Opiekun (mentor) stażysty",
        "Partycypacja społeczna",
    ):
        assert not caught("pl", good), good


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_catalog_or_programme_text_uses_an_avoided_form(language: str) -> None:
    found = violations(language)
    assert found == [], f"{language}: {len(found)} avoided forms:\n" + "\n".join(found)
