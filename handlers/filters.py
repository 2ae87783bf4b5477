"""Filters applied to whole routers."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject

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
