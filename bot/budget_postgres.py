"""The shared send budget in PostgreSQL, for instances that share the database and no Redis.

Three small tables (db/models.py, migration 0009): `send_slot` (SEND_RATE rows: free again at
`free_at`, held by `holder` while a send is out), `send_chat` (when each chat may be written
to again) and `send_budget` (one row: a pause Telegram asked for). A take locks the one
`send_budget` row, so takes from several instances follow one another, and reads and writes
the rest in three more statements; a release is one statement. Every instant is the server's
`clock_timestamp()`.

What it costs: a take is five round trips (BEGIN, the lock, the slots, the chats, the write
with COMMIT) for up to a concurrency's worth of sends; a release one statement for every send
answered meanwhile. bench/broadcast.py reports the takes and gives per send.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.budget import Given, Taken

_LOCK = text(
    "SELECT clock_timestamp() AS now, "
    "extract(epoch FROM paused_until - clock_timestamp()) AS paused "
    "FROM send_budget WHERE id = 1 FOR UPDATE"
)
_ENSURE = (
    text("INSERT INTO send_budget (id) VALUES (1) ON CONFLICT DO NOTHING"),
    text(
        "INSERT INTO send_slot (n, free_at) "
        "SELECT n, clock_timestamp() FROM generate_series(0, :rate - 1) AS n "
        "ON CONFLICT DO NOTHING"
    ),
)
# The k slots free soonest: those free now are taken; if none is, how long until one is.
_SLOTS = text(
    "SELECT n, extract(epoch FROM free_at - :now) AS wait FROM send_slot "
    "WHERE n < :rate ORDER BY free_at LIMIT :k"
)
_CHATS = text(
    "SELECT chat_id, holder IS NOT NULL AS held, extract(epoch FROM free_at - :now) AS wait "
    "FROM send_chat WHERE chat_id = ANY(CAST(:chats AS bigint[])) AND free_at > :now"
)
_HOLD = text(
    "WITH taken AS ("
    " UPDATE send_slot AS s SET holder = :holder,"
    " free_at = CAST(:now AS timestamptz) + make_interval(secs => g.hold)"
    " FROM unnest(CAST(:slots AS integer[]), CAST(:holds AS float8[])) AS g(n, hold)"
    " WHERE s.n = g.n)"
    " INSERT INTO send_chat (chat_id, free_at, holder)"
    " SELECT unnest(CAST(:chats AS bigint[])), :until, :holder"
    " ON CONFLICT (chat_id) DO UPDATE SET free_at = excluded.free_at, holder = excluded.holder"
)
_GIVE_BACK = text(
    "WITH slots AS ("
    " UPDATE send_slot AS s SET holder = NULL,"
    " free_at = clock_timestamp() + make_interval(secs => g.after)"
    " FROM unnest(CAST(:slots AS integer[]), CAST(:slot_afters AS float8[])) AS g(n, after)"
    " WHERE s.n = g.n AND s.holder = :holder)"
    " UPDATE send_chat AS c SET holder = NULL,"
    " free_at = clock_timestamp() + make_interval(secs => g.after)"
    " FROM unnest(CAST(:chats AS bigint[]), CAST(:chat_afters AS float8[])) AS g(chat_id, after)"
    " WHERE c.chat_id = g.chat_id AND (c.holder = :holder OR c.holder IS NULL"
    " AND c.free_at < clock_timestamp() + make_interval(secs => g.after))"
)
_PAUSE = text(
    "UPDATE send_budget SET paused_until = greatest(coalesce(paused_until, clock_timestamp()),"
    " clock_timestamp() + make_interval(secs => :seconds)) WHERE id = 1"
)
# Chats whose interval is long over: one in a hundred takes clears them.
_FORGET = text(
    "DELETE FROM send_chat WHERE free_at < CAST(:now AS timestamptz) - interval '1 minute'"
)
# A chat held by a send still out is asked for again soon, not at the end of its hold.
_HELD_RETRY = 0.05


class PostgresStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._slots_made = 0
        self._takes = 0

    async def take(
        self, holder: str, wanted: list[tuple[int, str]], rate: int, hold: float, ahead: float
    ) -> Taken:
        if rate > self._slots_made:
            async with self.engine.begin() as connection:
                for statement in _ENSURE:
                    await connection.execute(statement, {"rate": rate})
            self._slots_made = rate
        self._takes += 1
        taken = Taken()
        async with self.engine.begin() as connection:
            now: datetime
            now, paused = (await connection.execute(_LOCK)).one()
            if paused is not None and paused > 0:
                taken.paused = float(paused)
                return taken
            slots = (
                await connection.execute(_SLOTS, {"now": now, "rate": rate, "k": len(wanted)})
            ).all()
            # Free now, or within `ahead` (booked now, used when free).
            usable = [(n, max(0.0, float(wait))) for n, wait in slots if wait <= ahead]
            if not usable:
                taken.slot_wait = max(0.001, float(slots[0].wait)) if slots else 0.05
                return taken
            chats = [chat_id for chat_id, _ in wanted]
            for chat_id, held, wait in await connection.execute(
                _CHATS, {"now": now, "chats": chats}
            ):
                taken.chat_waits[chat_id] = min(float(wait), _HELD_RETRY) if held else float(wait)
            ready = [chat_id for chat_id in chats if chat_id not in taken.chat_waits]
            granted = list(zip(ready, usable, strict=False))
            if granted:
                params: dict[str, Any] = {
                    "now": now,
                    "until": now + timedelta(seconds=hold + ahead),
                    "holder": holder,
                    "slots": [n for _, (n, _) in granted],
                    "holds": [delay + hold for _, (_, delay) in granted],
                    "chats": [chat_id for chat_id, _ in granted],
                }
                await connection.execute(_HOLD, params)
                taken.granted = [(chat_id, str(n), delay) for chat_id, (n, delay) in granted]
            if self._takes % 100 == 0:
                await connection.execute(_FORGET, {"now": now})
        return taken

    async def give_back(self, holder: str, given: list[Given]) -> None:
        params = {
            "holder": holder,
            "slots": [int(item.member) for item in given],
            "slot_afters": [item.slot_after for item in given],
            "chats": [item.chat_id for item in given],
            "chat_afters": [item.chat_after for item in given],
        }
        async with self.engine.begin() as connection:
            await connection.execute(_GIVE_BACK, params)

    async def pause(self, seconds: float) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(_PAUSE, {"seconds": seconds})

    async def close(self) -> None:
        """The engine is the app's: it is disposed with the app."""
