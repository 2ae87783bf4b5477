"""The translation catalogs are complete, compiled, in sync with the code, and plural-correct."""

from __future__ import annotations

import gettext
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import LANGUAGES, LOCALES_DIR

ROOT = Path(__file__).resolve().parents[2]


def _catalog(language: str):
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_untranslated_or_fuzzy_entries(language: str) -> None:
    catalog = _catalog(language)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple | list) else [message.string]
        if message.fuzzy or not all(strings):
            problems.append(message.id)
    assert problems == [], f"{language}: untranslated or fuzzy: {problems}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_survive_translation(language: str) -> None:
    import re

    for message in _catalog(language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple | list) else [message.id]
        strings = message.string if isinstance(message.string, tuple | list) else [message.string]
        wanted = set(re.findall(r"\{(\w+)\}", ids[-1]))
        for text in strings:
            assert set(re.findall(r"\{(\w+)\}", text)) == wanted, (language, message.id)


def test_catalogs_match_the_code(tmp_path: Path) -> None:
    """Every text in the code is in the template (run `make update-messages` if this fails)."""
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "--no-location",
         "-F", "babel.cfg", "-k", "__", "-k", "ngettext:1,2", "-o", str(fresh), "bot", "handlers"],
        cwd=ROOT, check=True,
    )
    with fresh.open("rb") as handle:
        in_code = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    for language in LANGUAGES:
        in_catalog = {
            m.id if isinstance(m.id, str) else m.id[0] for m in _catalog(language) if m.id
        }
        assert in_code - in_catalog == set(), f"{language} lacks texts used in code"


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalog_is_current(language: str) -> None:
    po = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    assert mo.exists(), "run `make install` to compile the catalogs"
    assert mo.stat().st_mtime >= po.stat().st_mtime, "the .mo is older than the .po"


# Polish and Ukrainian have three plural forms: 1 / 2-4, 22-24 / 5-21, 25-30 …
EXPECTED_FORM = {
    "pl": {1: 0, 2: 1, 5: 2, 12: 2, 21: 2, 22: 1},
    "uk": {1: 0, 2: 1, 5: 2, 12: 2, 21: 0, 22: 1},
    "en": {1: 0, 2: 1, 5: 1, 12: 1, 21: 1, 22: 1},
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_forms(language: str) -> None:
    catalog = _catalog(language)
    plurals = [m for m in catalog if isinstance(m.id, tuple | list)]
    assert plurals, "the catalogs should carry plural texts"
    mo = LOCALES_DIR / language / "LC_MESSAGES" / "messages.mo"
    with mo.open("rb") as handle:
        translations = gettext.GNUTranslations(handle)
    for message in plurals:
        for n, form in EXPECTED_FORM[language].items():
            got = translations.ngettext(message.id[0], message.id[1], n)
            assert got == message.string[form], (language, n, message.id[0])
