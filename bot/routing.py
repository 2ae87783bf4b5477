"""aiogram's Router with a cheaper way through routers that have no outer middleware.

Every update visits each router in order until one handles it: a questionnaire answer passes
a dozen routers first (start, common, privacy, onboarding, meetings, …). For each one
aiogram's `Router.propagate_event` wraps a closure in the observer's outer middlewares, even
when there are none (a `functools.wraps` per router and update), and copies the update's
keyword data (~25 entries) five times on the way to the first handler: about 20 µs a router,
a quarter of a millisecond per update, measured on this project's two-core machine.

Checking one handler's filters costs as much again (~7 µs): aiogram copies the data twice
per filter to hand each one the few entries it asks for. And most checks fail: a button press
meets the CallbackData filters of every router before its own, a typed answer every command
filter. aiogram's filters find that out by building the button's model or the command's
object and raising inside; `_refuses` compares the prefix first (see there).

`Router` below takes the same steps in the same order (`event_router` set, the router's own
filters, its handlers in order, each filter with the data it names and what earlier filters
of the handler returned, the router's inner middlewares around the handler that matched,
`SkipHandler` to the next one, then the sub-routers; `REJECTED` read as unhandled) with the
data copied once per router, and hands over to aiogram's own code for any router whose
observer has outer middlewares. It enters its sub-routers itself, without a coroutine of
theirs in between, and `Dispatcher` routes the same way. Every router of the bot is one of
these (`setup_routers` checks); `tests/unit/test_routing.py` runs the same updates through
both.

Why it stays (issue 20): measured with callgrind (bench/instructions.sh, SQLite, 10 people),
aiogram's own Router and Dispatcher in its place (with `keep_on_event_loop` gone too) took the
bot from 5.27 to 7.60 M instructions an update, 44% more: well past the 15% of throughput
a reach into aiogram's insides may save before it is kept. It reads aiogram's private
`TelegramEventObserver._handler` and `_resolve_middlewares` and copies the steps of
`Router.propagate_event`, `TelegramEventObserver.trigger` and `HandlerObject.check`:
tests/unit/test_upstream_shapes.py fingerprints those functions and fails, naming the aiogram
version, when a release changes them.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from aiogram import Dispatcher as AiogramDispatcher
from aiogram import Router as AiogramRouter
from aiogram.dispatcher.event.bases import REJECTED, UNHANDLED, SkipHandler
from aiogram.dispatcher.event.handler import CallableObject, HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from aiogram.types.update import UpdateTypeLookupError


def _event_types() -> tuple[str, ...]:
    """The kinds of update in the order aiogram's `Update.event_type` tries them, asked of
    aiogram itself (it is not the order of the fields)."""
    remaining = [name for name in Update.model_fields if name != "update_id"]
    order: list[str] = []
    while remaining:
        fields: dict[str, Any] = dict.fromkeys(remaining, True)
        probe = Update.model_construct(update_id=0, **fields)
        try:
            first = probe.event_type
        except UpdateTypeLookupError:
            break  # fields aiogram does not dispatch on
        order.append(first)
        remaining.remove(first)
    return tuple(order)


EVENT_TYPES = _event_types()


class Router(AiogramRouter):
    async def propagate_event(self, update_type: str, event: TelegramObject, **kwargs: Any) -> Any:
        observer = self.observers.get(update_type)
        if not _direct(observer):
            return await super().propagate_event(update_type, event, **kwargs)
        kwargs["event_router"] = self
        return await self._through(observer, update_type, event, kwargs)

    async def _through(
        self,
        observer: TelegramEventObserver | None,
        update_type: str,
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if observer is not None:
            if observer._handler.filters:  # the router's own filters (`router.message.filter`)
                found = await _passes(observer._handler, event, data)
                if found is None:
                    return UNHANDLED
                if found:
                    data = {**data, **found}
            if observer.handlers:
                response = await _trigger(observer, event, dict(data))
                if response is REJECTED:
                    return UNHANDLED
                if response is not UNHANDLED:
                    return response
        for router in self.sub_routers:
            sub_observer = router.observers.get(update_type)
            if isinstance(router, Router) and _direct(sub_observer):
                # What its propagate_event would do, without a coroutine and a keyword
                # dict of its own.
                sub_data = {**data, "event_router": router}
                response = await router._through(sub_observer, update_type, event, sub_data)
            else:
                response = await router.propagate_event(update_type, event, **data)
            if response is not UNHANDLED:
                return response
        return UNHANDLED


def _direct(observer: TelegramEventObserver | None) -> bool:
    """Whether a router can be gone through here: its observer of this kind of update has no
    outer middleware (those are aiogram's to run)."""
    return observer is None or not len(observer.outer_middleware)


class Dispatcher(Router, AiogramDispatcher):
    """aiogram's Dispatcher, routing as our `Router`, and telling an update's kind without
    hashing the update.

    aiogram's `Update.event_type` is a property cached with `lru_cache`: each look-up hashes
    the whole frozen update (the message, its keyboard and entities: about 10 µs for a button
    press), twice per update, and the cache keeps the last 128 updates, people's messages
    included, alive. Here the kind is the first event field that is set, as there.
    """

    async def _listen_update(self, update: Update, **kwargs: Any) -> Any:
        for update_type in EVENT_TYPES:
            event = getattr(update, update_type)
            if event is not None:
                kwargs["event_update"] = update
                return await self.propagate_event(update_type=update_type, event=event, **kwargs)
        return await super()._listen_update(update, **kwargs)  # aiogram's warning, skipped


async def _trigger(
    observer: TelegramEventObserver, event: TelegramObject, data: dict[str, Any]
) -> Any:
    """`TelegramEventObserver.trigger`: the first handler whose filters pass, in its router's
    inner middlewares. `data` is this call's own copy."""
    for handler in observer.handlers:
        data["handler"] = handler
        found = await _passes(handler, event, data)
        if found is None:
            continue
        data.update(found)
        try:
            middlewares = observer._resolve_middlewares()
            if not middlewares:  # aiogram would wrap the call in an empty chain all the same
                if handler.awaitable:  # and await it through one more coroutine
                    return await handler.callback(event, **_arguments(handler, data))
                return await handler.call(event, **data)
            call = observer.outer_middleware.wrap_middlewares(middlewares, handler.call)
            return await call(event, data)
        except SkipHandler:
            continue
    return UNHANDLED


async def _passes(
    handler: HandlerObject, event: TelegramObject, data: dict[str, Any]
) -> dict[str, Any] | None:
    """`HandlerObject.check`: None if a filter fails, else what the filters returned."""
    found: dict[str, Any] = {}
    for each in handler.filters or ():
        if _refuses(each.callback, event):
            return None
        arguments = _arguments(each, {**data, **found} if found else data)
        if each.awaitable:
            result = await each.callback(event, **arguments)
        else:
            result = await asyncio.to_thread(partial(each.callback, event, **arguments))
        if not result:
            return None
        if isinstance(result, dict):
            found.update(result)
    return found


def _arguments(callable_object: CallableObject, given: dict[str, Any]) -> dict[str, Any]:
    """What a handler or filter is called with: the entries of `given` it names (all of them
    if it takes **kwargs)."""
    if callable_object.varkw:
        return given
    return {name: given[name] for name in callable_object.params if name in given}


def _refuses(check: Any, event: TelegramObject) -> bool:
    """True when `check`, one of aiogram's filters, would return False for `event`; told from
    the prefix alone, without running it. False says nothing: the filter then runs as usual.

    A CallbackData filter takes a button whose data's first part is its prefix, a command
    filter a text (or caption) whose first non-blank character is one of its prefixes.
    """
    if isinstance(check, CallbackQueryFilter):
        data = event.data if isinstance(event, CallbackQuery) else None
        button = check.callback_data
        return not data or data.split(button.__separator__, 1)[0] != button.__prefix__
    if isinstance(check, Command):
        text = (event.text or event.caption) if isinstance(event, Message) else None
        return not text or text.lstrip()[:1] not in check.prefix
    return False
