"""Translations (gettext catalogs through aiogram's I18n) and Babel formatting.

Msgids are English. Use `_()` for a text, `ngettext()` for a count, `__()` for a text defined at
import time and translated later.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _aiogram_gettext
from aiogram.utils.i18n import lazy_gettext as __
from babel import Locale
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_decimal

from bot.programme import LANGUAGES

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"pl": "Polski", "uk": "Українська", "en": "English"}
# Polish contacts live by Warsaw time, interns by Kyiv time; English speakers are usually staff
# or partners in Poland.
DEFAULT_TIME_ZONES = {"pl": "Europe/Warsaw", "uk": "Europe/Kyiv", "en": "Europe/Warsaw"}

__all__ = ["LANGUAGES", "_", "__", "create_i18n", "format_datetime", "format_number", "ngettext"]


class CatalogsNotCompiled(RuntimeError):
    pass


def create_i18n(path: Path = LOCALES_DIR) -> I18n:
    i18n = I18n(path=path, default_locale=DEFAULT_LANGUAGE, domain="messages")
    missing = [lang for lang in LANGUAGES if lang not in i18n.locales and lang != "en"]
    if missing:
        raise CatalogsNotCompiled(
            f"translation catalogs for {', '.join(missing)} are not compiled; run `make install`"
        )
    return i18n


def _(text: str) -> str:
    return _aiogram_gettext(text)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _aiogram_gettext(singular, plural, n)


def language_from_telegram(language_code: str | None) -> str | None:
    """Map Telegram's IETF tag ("pl", "uk-UA", "ru") to a language we speak, if any."""
    if not language_code:
        return None
    base = language_code.split("-")[0].lower()
    return base if base in LANGUAGES else None


def time_zone_for(language: str | None) -> str:
    return DEFAULT_TIME_ZONES.get(language or DEFAULT_LANGUAGE, "Europe/Warsaw")


def format_datetime(
    moment: datetime, language: str, time_zone: str | None = None, fmt: str = "full_short"
) -> str:
    """A UTC moment in the person's time zone and language: "środa, 8 kwietnia 2026, 10:00"."""
    zone = ZoneInfo(time_zone or time_zone_for(language))
    pattern = "EEEE, d MMMM y, HH:mm" if fmt == "full_short" else fmt
    return _babel_datetime(moment, pattern, tzinfo=zone, locale=_babel_locale(language))


def format_number(value: int | float, language: str) -> str:
    """36 475 in Polish and Ukrainian (non-breaking space), 36,475 in English."""
    return format_decimal(value, locale=_babel_locale(language))


@cache
def _babel_locale(language: str) -> Locale:
    # One Locale object per language: Babel would otherwise parse the name and look its data
    # up again for every number and date the bot shows.
    return Locale.parse({"pl": "pl_PL", "uk": "uk_UA", "en": "en_GB"}.get(language, "en_GB"))
