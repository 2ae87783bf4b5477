"""Translations (gettext catalogs through aiogram's I18n) and Babel formatting.

Msgids are English. Use `_()` for a text, `ngettext()` for a count, `__()` for a text defined at
import time and translated later.
"""

from __future__ import annotations

import gettext
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
# Endonyms, for the language picker's buttons only. In running text a language is a common word
# ("polski", «українська»): see `language_name`.
LANGUAGE_NAMES = {"pl": "Polski", "uk": "Українська", "en": "English"}
_LANGUAGE_WORDS = {"pl": __("Polish"), "uk": __("Ukrainian"), "en": __("English")}
# Times are shown in the reader's zone: an intern's is Kyiv, a host's Warsaw, whatever language
# they read (bot.services.people.reader_zone). Without one — staff, someone who has not said who
# they are yet — it is the programme's, Warsaw: the zone staff type event times in.
DEFAULT_TIME_ZONE = "Europe/Warsaw"
ZONE_LABELS = {"Europe/Warsaw": __("(Warsaw time)"), "Europe/Kyiv": __("(Kyiv time)")}
DEADLINE_FORMAT = "d MMMM y, HH:mm"
_DEADLINE_FORMATS = {"pl": "d MMMM y, 'godz.' H:mm"}  # as in every full Polish date

__all__ = [
    "LANGUAGES",
    "_",
    "__",
    "create_i18n",
    "format_datetime",
    "format_deadline",
    "format_labelled",
    "format_number",
    "ngettext",
    "zone_label",
]


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


def language_name(code: str) -> str:
    """The language as a word in running text, in the current locale: "ukraiński", «польська»."""
    return str(_LANGUAGE_WORDS[code]) if code in _LANGUAGE_WORDS else code


def in_running_text(labels: list[str], *, lower_first: bool = False) -> str:
    """Button labels joined in a sentence: "Polski, angielski" — a label is capitalised as a
    button, not after a comma (an acronym such as "UE" keeps its capitals)."""

    def lower(label: str) -> str:
        return label[0].lower() + label[1:] if len(label) > 1 and label[1].islower() else label

    return ", ".join(
        label if index == 0 and not lower_first else lower(label)
        for index, label in enumerate(labels)
    )


# Polish writes "godz. 8:00"; Ukrainian and English keep the two-digit hour.
_FULL_SHORT = {"pl": "d MMMM y, 'godz.' H:mm"}
_FULL_SHORT_DEFAULT = "d MMMM y, HH:mm"


def format_datetime(
    moment: datetime,
    language: str,
    time_zone: str | None = None,
    fmt: str = "full_short",
    *,
    until: bool = False,
) -> str:
    """A UTC moment in the reader's time zone and language: "środa, 8 kwietnia 2026, godz. 10:00".

    `until=True` gives the weekday the case it takes after "until" ("do czwartku", «до середи»),
    which Babel does not know (CLDR has only the nominative); the catalogs hold those forms.
    """
    zone = ZoneInfo(time_zone or DEFAULT_TIME_ZONE)
    locale = _babel_locale(language)
    if fmt != "full_short":
        if language == "pl":  # "8:00", as Polish writes an hour; "08:00" looks like a form
            fmt = fmt.replace("HH:mm", "H:mm")
        return _babel_datetime(moment, fmt, tzinfo=zone, locale=locale)
    rest = _babel_datetime(
        moment, _FULL_SHORT.get(language, _FULL_SHORT_DEFAULT), tzinfo=zone, locale=locale
    )
    if until:
        weekday = _weekdays_after_until(language)[moment.astimezone(zone).weekday()]
    else:
        weekday = _babel_datetime(moment, "EEEE", tzinfo=zone, locale=locale)
    return f"{weekday}, {rest}"


@cache
def _weekdays_after_until(language: str) -> tuple[str, ...]:
    """Monday … Sunday as they read after "until": "do poniedziałku", «до понеділка»."""
    t = _translations(language)
    return (
        t.pgettext("weekday after until", "Monday"),
        t.pgettext("weekday after until", "Tuesday"),
        t.pgettext("weekday after until", "Wednesday"),
        t.pgettext("weekday after until", "Thursday"),
        t.pgettext("weekday after until", "Friday"),
        t.pgettext("weekday after until", "Saturday"),
        t.pgettext("weekday after until", "Sunday"),
    )


def translate(text: str, language: str) -> str:
    """A catalog text in `language`, with or without an update's I18n context (scripts, exports
    from the command line, messages rendered for someone else)."""
    return _translations(language).gettext(text)


@cache
def _translations(language: str) -> gettext.NullTranslations:
    return gettext.translation("messages", LOCALES_DIR, languages=[language], fallback=True)


def zone_label(time_zone: str) -> str:
    """"(czas warszawski)", "(за київським часом)"; the zone's name for any other."""
    label = ZONE_LABELS.get(time_zone)
    return str(label) if label is not None else f"({time_zone})"


def format_labelled(
    moment: datetime,
    language: str,
    time_zone: str,
    *,
    reader_zone: str | None = None,
    fmt: str = "full_short",
) -> str:
    """A moment in `time_zone`, followed by its zone unless that is the reader's own."""
    text = format_datetime(moment, language, time_zone, fmt)
    return text if time_zone == reader_zone else f"{text} {zone_label(time_zone)}"


def format_deadline(moment: datetime, language: str, time_zone: str) -> str:
    """A deadline always carries its zone: "30 czerwca 2026, godz. 23:59 (czas warszawski)".

    Deadlines are set in the programme's zone and said in it, to everyone: "until 23:59 on 30
    June, Warsaw time" is what the call says; the same moment in Kyiv time, "1 July, 00:59",
    reads as another day."""
    fmt = _DEADLINE_FORMATS.get(language, DEADLINE_FORMAT)
    return format_labelled(moment, language, time_zone, fmt=fmt)


def format_number(value: int | float, language: str) -> str:
    """36 475 in Polish and Ukrainian (non-breaking space), 36,475 in English."""
    return format_decimal(value, locale=_babel_locale(language))


@cache
def _babel_locale(language: str) -> Locale:
    # One Locale object per language: Babel would otherwise parse the name and look its data
    # up again for every number and date the bot shows.
    return Locale.parse({"pl": "pl_PL", "uk": "uk_UA", "en": "en_GB"}.get(language, "en_GB"))
