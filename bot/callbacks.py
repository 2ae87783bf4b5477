"""Callback data: short prefixes, opaque values; every press is re-checked by its handler."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

# Ids in button data are row ids (INTEGER columns): a value no row can have is refused where
# the data is parsed, so the press gets the stale-button answer (the fallback router) instead
# of reaching the database, which refused it with an error (2**31 on PostgreSQL, 2**63 on
# SQLite). 0 stays: some buttons use it for "none".
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=0, le=MAX_ID)]


def as_id(value: str) -> int | None:
    """An id carried in a text field of button data (a segment's value), or None."""
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if number <= MAX_ID else None


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
    intern: Id


class MatchHost(CallbackData, prefix="mh"):
    intern: Id
    host: Id
    confirm: bool = False


class MeetingPick(CallbackData, prefix="mp"):
    """Book this event, or move one's booking to it."""

    e: Id


class MeetingWait(CallbackData, prefix="mw"):
    e: Id


class BookingAction(CallbackData, prefix="mb"):
    """On one's own booking b: ics, change, cancel, cancel_yes, back, take, decline, dates."""

    a: str
    b: Id


class StaffEvent(CallbackData, prefix="se"):
    """Staff on event e: show, list, move, cancel, cancel_yes, people, edit."""

    a: str
    e: Id = 0


class StaffAttendance(CallbackData, prefix="sa"):
    b: Id
    m: str


class StaffChoice(CallbackData, prefix="sc"):
    """A button answer in the staff event forms (kind, audience, field to edit)."""

    f: str
    v: str


class BroadcastSegment(CallbackData, prefix="bs"):
    """Draft broadcast `b`: a segment, or (no `v` yet) a family to pick an event, region or
    language in; `v` is an event id, a language code or an index into the listed regions."""

    b: Id
    kind: str
    v: str = ""


class BroadcastStep(CallbackData, prefix="bw"):
    """Draft broadcast `b`: next (`v`: the language done), fallback (`v`: language), preview,
    now / at (confirm; `v`: the recipient count shown), later, segments, drop."""

    b: Id
    action: str
    v: str = ""


class BroadcastStop(CallbackData, prefix="bx"):
    b: Id
