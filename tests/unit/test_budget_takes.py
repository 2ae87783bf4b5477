"""How often an instance asks the shared budget's store for slots (bot/budget.py): a few times a
second while slots are short, at once while takes come back full. A store in memory stands in
for PostgreSQL or Redis; what is counted is the instance's own asking, no speed."""

from __future__ import annotations

import asyncio

from bot.budget import SharedBudget, Taken


class Store:
    """Grants every wanted chat a free slot, or (held=True) none: every slot is held by a send
    still out, free only at the end of its hold."""

    def __init__(self, *, held: bool) -> None:
        self.held = held
        self.takes = 0
        self.granted = 0

    async def take(self, holder, wanted, rate, hold, ahead) -> Taken:
        self.takes += 1
        await asyncio.sleep(0.002)  # a round trip
        if self.held:
            return Taken(slot_wait=hold)
        self.granted += len(wanted)
        return Taken(granted=[(chat, member, 0.0) for chat, member in wanted])

    async def give_back(self, holder, given) -> None:
        pass

    async def pause(self, seconds: float) -> None:
        pass

    async def close(self) -> None:
        pass


async def waiting_for(budget: SharedBudget, chats: int, seconds: float) -> None:
    tasks = [asyncio.create_task(budget.acquire(chat)) for chat in range(chats)]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def sending(budget: SharedBudget, places: int, seconds: float) -> int:
    """`places` senders, each taking a slot, sending for 5 ms and giving it back, over and
    over (a new chat each time) for `seconds`; returns how many sends were made."""
    sends = 0

    async def sender(chat: int) -> None:
        nonlocal sends
        while True:
            await budget.acquire(chat)
            await asyncio.sleep(0.005)
            budget.release(chat)
            sends += 1
            chat += 1000

    tasks = [asyncio.create_task(sender(chat)) for chat in range(places)]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await budget.close()
    return sends


async def test_while_every_slot_is_held_an_instance_asks_a_few_times_a_second() -> None:
    """Many sends waiting (more than a batch) must not make an instance ask again at once
    when the store has nothing to give: that would spin on the store's lock."""
    store = Store(held=True)
    budget = SharedBudget(store, rate=1000)
    assert budget.batch == 62
    await waiting_for(budget, 200, 1.0)
    await budget.close()
    assert 1 <= store.takes <= 6, store.takes


async def test_while_takes_come_back_full_the_next_goes_at_once() -> None:
    """A batch of sends waiting, and the last take found slots for a batch: the quarter
    second's spacing is skipped, so an instance's rate is not its sender's places four times
    a second."""
    store = Store(held=False)
    sends = await sending(SharedBudget(store, rate=1000), 128, 1.0)
    assert store.takes > 8, store.takes  # the spacing alone allows 4 or 5 a second
    assert sends > 5 * 128, sends


async def test_below_a_batch_the_spacing_holds() -> None:
    """At Telegram's free rate the sender has fewer places than a batch: takes stay spaced."""
    store = Store(held=False)
    budget = SharedBudget(store, rate=30)
    assert budget.batch == 16
    await sending(budget, 15, 1.0)
    assert store.takes <= 6, store.takes
