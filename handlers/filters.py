"""Filters applied to whole routers."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject

from db.models import Person


class IsStaff(Filter):
    """Staff or admin, read from the database on every update (the person row is loaded fresh
    by the middleware), so a role taken away stops working at the next press."""

    def __init__(self, admin: bool = False) -> None:
        self.admin = admin

    async def __call__(self, event: TelegramObject, person: Person | None = None) -> bool:
        if person is None:
            return False
        return person.role == "admin" if self.admin else person.role in ("staff", "admin")


class PrivateChat(Filter):
    """The bot serves private chats only. A coroutine, unlike a magic filter
    (`F.chat.type == "private"`), which aiogram runs in a thread: this one runs on every update."""

    async def __call__(self, event: TelegramObject) -> bool:
        if isinstance(event, CallbackQuery):
            message = event.message
            return message is not None and message.chat.type == "private"
        return isinstance(event, Message) and event.chat.type == "private"
