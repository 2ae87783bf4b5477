"""Callback data: short prefixes, opaque values; every press is re-checked by its handler."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aiogram.filters.callback_data import CallbackData


@lru_cache(maxsize=4096)
def packed(kind: type[CallbackData], **fields: Any) -> str:
    """`kind(**fields).pack()`, remembered. A card's buttons are the programme's questions and
    choices: the same few hundred strings update after update, and building and packing their
    models was about 1% of an update's CPU."""
    return kind(**fields).pack()


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class NoticeAck(CallbackData, prefix="ack"):
    version: str


class RoleChoice(CallbackData, prefix="role"):
    audience: str


class AboutPress(CallbackData, prefix="about"):
    """The "About the programme" button: nothing to carry."""


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


class PlacePage(CallbackData, prefix="qg"):
    """A page of the place matches for question `q`; the query is kept on the application."""

    q: str
    page: int


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


class MeetingPick(CallbackData, prefix="mp"):
    """Book this event, or move one's booking to it."""

    e: int


class MeetingWait(CallbackData, prefix="mw"):
    e: int


class BookingAction(CallbackData, prefix="mb"):
    """On one's own booking b: ics, change, cancel, cancel_yes, back, take, decline, dates."""

    a: str
    b: int


class StaffEvent(CallbackData, prefix="se"):
    """Staff on event e: show, list, move, cancel, cancel_yes, people, edit."""

    a: str
    e: int = 0


class StaffAttendance(CallbackData, prefix="sa"):
    b: int
    m: str


class StaffChoice(CallbackData, prefix="sc"):
    """A button answer in the staff event forms (kind, audience, field to edit)."""

    f: str
    v: str


class BroadcastSegment(CallbackData, prefix="bs"):
    """Draft broadcast `b`: a segment, or (no `v` yet) a family to pick an event, region or
    language in; `v` is an event id, a language code or an index into the listed regions."""

    b: int
    kind: str
    v: str = ""


class BroadcastStep(CallbackData, prefix="bw"):
    """Draft broadcast `b`: next (`v`: the language done), fallback (`v`: language), preview,
    now / at (confirm; `v`: the recipient count shown), later, segments, drop."""

    b: int
    action: str
    v: str = ""


class BroadcastStop(CallbackData, prefix="bx"):
    b: int
