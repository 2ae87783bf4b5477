"""Callback data: short prefixes, opaque values; every press is re-checked by its handler."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class NoticeAck(CallbackData, prefix="ack"):
    version: str


class RoleChoice(CallbackData, prefix="role"):
    audience: str


class Answer(CallbackData, prefix="qa"):
    """A single choice or yes/no answer to question `q`."""

    q: str
    v: str


class Toggle(CallbackData, prefix="qt"):
    q: str
    v: str


class Done(CallbackData, prefix="qd"):
    q: str


class Place(CallbackData, prefix="qp"):
    q: str
    code: str


class Nav(CallbackData, prefix="qn"):
    """back, skip, retype (none of the offered places), summary (leave an edit), edit, submit."""

    action: str
    q: str = ""


class News(CallbackData, prefix="news"):
    on: bool


class MatchIntern(CallbackData, prefix="mi"):
    intern: int


class MatchHost(CallbackData, prefix="mh"):
    intern: int
    host: int
    confirm: bool = False
