"""Callback data: short prefixes, opaque values; every press is re-checked by its handler."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class NoticeAck(CallbackData, prefix="ack"):
    version: str
