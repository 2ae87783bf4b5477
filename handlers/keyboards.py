"""Keyboards shared by several routers."""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import LanguageChoice, NoticeAck
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, _

FLAGS = {"pl": "🇵🇱", "uk": "🇺🇦", "en": "🇬🇧"}

# The questionnaire's cards, shown on almost every update, are built as the Bot API's JSON:
# aiogram's button and keyboard models cost more to build and dump again than the rest of the
# card (the Responder sends either).
Button = dict[str, str]
InlineKeyboard = dict[str, Any]


def button(text: str, data: str) -> Button:
    return {"text": text, "callback_data": data}


def inline_keyboard(rows: list[list[Button]]) -> InlineKeyboard:
    return {"inline_keyboard": rows}


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=f"{FLAGS[code]} {LANGUAGE_NAMES[code]}",
                    callback_data=LanguageChoice(code=code).pack(),
                )
            ]
            for code in LANGUAGES
        ]
    )


def notice_keyboard(version: str, other_languages_of: str | None = None) -> InlineKeyboardMarkup:
    """The acknowledgement button; with `other_languages_of`, a row to switch to the other
    languages (for people whose language came from an invitation, not their own choice)."""
    rows = [
        [
            InlineKeyboardButton(
                text=_("I have read the notice — continue"),
                callback_data=NoticeAck(version=version).pack(),
            )
        ]
    ]
    if other_languages_of:
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"{FLAGS[code]} {LANGUAGE_NAMES[code]}",
                    callback_data=LanguageChoice(code=code).pack(),
                )
                for code in LANGUAGES
                if code != other_languages_of
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)
