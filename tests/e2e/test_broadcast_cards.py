"""One instance owns each broadcast's progress card (issue 21, item 9): the others neither
send nor edit it, and one of them takes it over once the owner has stopped renewing it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.broadcast_watch import CARD_LEASE, watch_broadcasts
from bot.services.segments import Segment
from db.models import Broadcast
from tests.e2e.test_broadcast import crowd, sender_for, start_broadcast
from tests.e2e.test_staff import ready, staff_user


async def test_one_instance_shows_the_card_and_another_takes_it_over(bot, tg, clock) -> None:
    staff = staff_user(tg)
    await ready(bot, staff)
    await crowd(bot, tg, 6)
    await start_broadcast(bot, segment=Segment("language", "pl"))  # not the staff member
    clock.now = datetime.now(UTC)
    sender = sender_for(bot, clock, batch_size=2)

    def calls(method: str) -> int:
        return len([c for c in tg.calls(method, chat_id=staff.chat_id) if c.ok])

    async def watch(owner: str) -> None:
        await watch_broadcasts(bot.bot, bot.sessionmaker, bot.i18n, clock, None, {}, owner)

    before = calls("sendMessage")
    await watch("one")
    await watch("two")
    assert calls("sendMessage") == before + 1  # one card, from its owner
    await sender.tick()  # the card has something new to show
    await watch("two")
    assert calls("editMessageText") == 0  # not two's card
    await watch("one")
    assert calls("editMessageText") == 1
    # "one" stops: its hold on the card runs out, and "two" takes the card over.
    clock.now += CARD_LEASE
    await sender.tick()
    await watch("two")
    assert calls("editMessageText") == 1  # one's lease has not passed yet: not before
    clock.now += CARD_LEASE / 10
    await watch("two")
    assert calls("editMessageText") == 2
    await sender.tick()
    await watch("one")  # back again, but the card is two's now
    assert calls("editMessageText") == 2
    await watch("two")
    assert calls("editMessageText") == 3
    assert calls("sendMessage") == before + 1  # never a second card
    async with bot.sessionmaker() as session:
        assert await session.scalar(select(Broadcast.card_owner)) == "two"
