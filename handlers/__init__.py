"""Routers, in the one order they are consulted."""

from __future__ import annotations

from typing import Any

from aiogram import Dispatcher, F
from aiogram import Router as AiogramRouter

from bot.routing import Router
from handlers import (
    common,
    errors,
    fallback,
    meetings,
    membership,
    onboarding,
    privacy,
    questionnaire,
    staff,
    staff_events,
    staff_matching,
    start,
)
from handlers.filters import IsStaff


def setup_routers(dispatcher: Dispatcher) -> None:
    # Staff routers each check the role themselves; grouped, everyone else passes them with one
    # check instead of three. Before the questionnaire: a staff wizard's typed text wins.
    staff_only = Router(name="staff-only")
    staff_only.message.filter(IsStaff())
    staff_only.callback_query.filter(IsStaff())
    staff_only.include_routers(
        staff.create_router(),  # /stats, /export, /broadcast(s); admins: /staff
        staff_matching.create_router(),  # /invite, /match
        staff_events.create_router(),  # /events, /newevent
    )
    private = Router(name="private")
    # The bot serves private chats only: groups and channels are ignored and nothing is stored.
    private.message.filter(F.chat.type == "private")
    private.edited_message.filter(F.chat.type == "private")
    private.callback_query.filter(F.message.chat.type == "private")
    private.include_routers(
        membership.create_router(),  # blocked / unblocked the bot (my_chat_member)
        start.create_router(),  # /start, /language, language and notice buttons
        common.create_router(),  # /help, /cancel
        privacy.create_router(),  # /mydata, /delete: rights apply before consent too
        onboarding.create_router(),  # everything below needs a language and the notice read
        staff_only,  # /stats, /export, /broadcast(s), /staff, /invite, /match, /events, /newevent
        meetings.create_router(),  # /meetings: dates, booking card, waitlist
        staff.create_denied_router(),  # staff commands and buttons from non-staff: audited
        questionnaire.create_router(),  # role, questions, place pickers, summary, submit
        fallback.create_router(),  # last: polite answers to whatever is left
    )
    dispatcher.include_routers(errors.create_router(), private)
    for router in dispatcher.sub_routers:
        for each in router.chain_tail:
            if not isinstance(each, Router):
                raise TypeError(f"router {each.name!r} must be a bot.routing.Router")
    keep_on_event_loop(dispatcher)


def keep_on_event_loop(root: AiogramRouter) -> None:
    """Make every plain (non-async) filter run on the event loop.

    aiogram calls a filter that is not a coroutine function through `asyncio.to_thread`, magic
    filters (`F.text`, `F.chat.type == "private"`) included: a thread hand-off, and a second
    one back to the loop, to read an attribute. Our filters only look at the update, so they
    are wrapped in a coroutine that calls them directly. Handlers must be coroutines anyway.
    """
    for router in root.chain_tail:
        for observer in router.observers.values():
            for handler in observer.handlers:
                if not handler.awaitable:
                    raise TypeError(f"handler {handler.callback!r} must be a coroutine function")
            # The observer's own object holds the router-wide filters (`router.message.filter`).
            for handler in [observer._handler, *observer.handlers]:
                for event_filter in handler.filters or ():
                    if not event_filter.awaitable:
                        event_filter.callback = _as_coroutine(event_filter.callback)
                        event_filter.awaitable = True


def _as_coroutine(check: Any) -> Any:
    async def checked(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    return checked
