"""Reminders are outbox rows, written and withdrawn in the transaction that changes a booking.

One row per offset in the programme file (24 h and 1 h before by default). The idempotency key
names the booking, the offset and the event's start, so a moved event gets new rows while the
old ones are cancelled in the same transaction; nothing lives in a scheduler's memory, so a
restart loses nothing and a second sender cannot send a row twice (see bot/delivery.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import outbox
from db.models import Booking, Event, Outbox, Person

REMINDER = "reminder"
WAITLIST_OFFER = "waitlist.offer"
EVENT_MOVED = "event.moved"
EVENT_CANCELLED = "event.cancelled"
# Messages about one booking that lose their point once the booking ends or its event moves.
BOOKING_KINDS = (REMINDER, WAITLIST_OFFER, EVENT_MOVED)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%MZ")


def key(booking_id: int, offset: timedelta, starts_at: datetime) -> str:
    return f"{REMINDER}:{booking_id}:{int(offset.total_seconds()) // 60}m:{stamp(starts_at)}"


async def _queue(session: AsyncSession, values: dict[str, Any], *, revive: bool) -> int:
    """INSERT … ON CONFLICT on the idempotency key: nothing happens to an existing row, or with
    `revive` a cancelled one becomes pending again (never a sent one)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(Outbox).values(status="pending", attempts=0, **values)
    if revive:
        statement = statement.on_conflict_do_update(
            index_elements=[Outbox.idempotency_key],
            set_={
                "status": "pending",
                "due_at": values["due_at"],
                "attempts": 0,
                "lease_until": None,
                "last_error": None,
            },
            where=Outbox.status == "cancelled",
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=[Outbox.idempotency_key])
    result = await session.execute(statement)
    return result.rowcount or 0  # type: ignore[attr-defined]


async def schedule(
    session: AsyncSession,
    booking: Booking,
    event: Event,
    person: Person,
    offsets: Iterable[timedelta],
    now: datetime,
) -> int:
    """Queue this booking's reminders; returns how many are pending.

    A reminder whose moment has already passed is not queued: the booking confirmation the
    person has just seen says the same. A row with the same key that was cancelled (the
    person moved to another date and back) is revived; one already sent stays sent.
    """
    queued = 0
    for offset in offsets:
        due = event.starts_at - offset
        if due <= now:
            continue
        queued += await _queue(
            session,
            {
                "kind": REMINDER,
                "chat_id": person.telegram_id,
                "person_id": person.id,
                "booking_id": booking.id,
                "due_at": due,
                "expires_at": event.starts_at,
                "priority": outbox.PRIORITY_REMINDER,
                "payload": {
                    "event_id": event.id,
                    "starts_at": event.starts_at.isoformat(),
                    "offset_minutes": int(offset.total_seconds()) // 60,
                },
                "idempotency_key": key(booking.id, offset, event.starts_at),
            },
            revive=True,
        )
    return queued


async def withdraw(
    session: AsyncSession, booking_ids: Iterable[int], kinds: Iterable[str] = BOOKING_KINDS
) -> int:
    """Cancel what is still queued about these bookings.

    Rows being sent right now are cancelled too: the send in flight cannot be stopped, but if
    its sender dies the row is not taken up again when the lease runs out.
    """
    ids = list(booking_ids)
    if not ids:
        return 0
    result = await session.execute(
        update(Outbox)
        .where(
            Outbox.booking_id.in_(ids),
            Outbox.kind.in_(list(kinds)),
            Outbox.status.in_(("pending", "sending")),
        )
        .values(status="cancelled", lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def notify(
    session: AsyncSession,
    kind: str,
    booking: Booking,
    person: Person,
    now: datetime,
    *,
    key_suffix: str,
    payload: dict[str, Any] | None = None,
) -> int:
    """A message about a booking (a seat offer, a moved or cancelled event), due now."""
    return await _queue(
        session,
        {
            "kind": kind,
            "chat_id": person.telegram_id,
            "person_id": person.id,
            "booking_id": booking.id,
            "due_at": now,
            "priority": outbox.PRIORITY_REMINDER,
            "payload": {"event_id": booking.event_id, **(payload or {})},
            "idempotency_key": f"{kind}:{booking.id}:{key_suffix}",
        },
        revive=False,
    )
