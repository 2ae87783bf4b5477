"""Telegram tells the bot when someone blocks or unblocks it (`my_chat_member` updates).

Blocking marks the person unreachable (`Person.blocked_at`): broadcasts skip them, /stats counts
them, and exports show since when. Unblocking (or pressing Start again) clears the mark.
"""

from __future__ import annotations

from aiogram import F
from aiogram.types import ChatMemberUpdated

from bot.routing import Router
from bot.services import segments
from db.models import Person
from handlers.questionnaire import Clock

GONE = ("kicked", "left")


async def membership_changed(event: ChatMemberUpdated, person: Person | None, clock: Clock) -> None:
    if person is None:
        return
    segments.set_reachable(person, event.new_chat_member.status not in GONE, clock())


def create_router() -> Router:
    router = Router(name="membership")
    router.my_chat_member.register(membership_changed, F.chat.type == "private")
    return router
