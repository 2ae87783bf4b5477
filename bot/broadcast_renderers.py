"""A broadcast's outbox messages, rendered by the sender just before each is sent: what each
recipient gets (in their language, part by part) and the final report to its author, with a CSV
of everyone it did not reach (see bot/delivery.py and bot/renderers.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_views as view
from bot.delivery import Rendered, Renderer, Skip
from bot.i18n import _
from bot.services import broadcast, broadcast_text, export
from db.models import Broadcast, Outbox, Person


class BroadcastRenderer:
    """A recipient's message (or the part of it that is due). The broadcast is read once every
    few seconds — one read however many renders wait for it — not once per recipient."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._cache: dict[int, tuple[float, asyncio.Future[Broadcast | None], dict[str, Any]]] = {}

    async def _messages(
        self, session: AsyncSession, broadcast_id: int, language: str
    ) -> list[broadcast_text.Message] | None:
        now = time.monotonic()
        entry = self._cache.get(broadcast_id)
        if entry is None or now - entry[0] > self.ttl:
            entry = (now, asyncio.get_running_loop().create_future(), {})
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] < 60}
            self._cache[broadcast_id] = entry
            try:
                entry[1].set_result(await session.get(Broadcast, broadcast_id))
            except BaseException as exc:
                del self._cache[broadcast_id]
                entry[1].set_exception(exc)
                raise
        item = await asyncio.shield(entry[1])
        if item is None or item.status == "cancelled":
            return None
        parts = entry[2]
        if language not in parts:
            parts[language] = broadcast_text.messages(item, language)
        return list(parts[language])

    async def __call__(
        self, session: AsyncSession, rows: list[Outbox], person: Person | None
    ) -> Rendered | Skip:
        row = rows[0]
        language = (person.language if person else None) or ""
        parts = await self._messages(session, row.broadcast_id or 0, language)
        part = int((row.payload or {}).get("part", 0))
        if parts is None or part >= len(parts):
            return Skip("cancelled", "the broadcast was cancelled")
        message = parts[part]
        more = {"part": part + 1} if part + 1 < len(parts) else None
        return Rendered(message.text, media=message.media, next_payload=more)


async def render_report(
    session: AsyncSession, rows: list[Outbox], person: Person | None
) -> Rendered | Skip:
    item = await session.get(Broadcast, rows[0].payload.get("broadcast_id"))
    if item is None:
        return Skip("cancelled", "the broadcast was deleted")
    language = (person.language if person else None) or "pl"
    failures = await broadcast.failures(session, item.id)
    text = view.report_text(
        item, await broadcast.progress(session, item.id), language, len(failures)
    )
    if not failures:
        return Rendered(text)
    header = [_("Telegram ID"), _("Language"), _("Error"), _("Attempts")]
    content = export.csv_bytes(header, failures)
    return Rendered(text, document=(f"broadcast-{item.id}-not-delivered.csv", content))


def renderers() -> dict[str, Renderer]:
    return {broadcast.KIND: BroadcastRenderer(), broadcast.REPORT_KIND: render_report}
