"""Routers, in the one order they are consulted."""

from __future__ import annotations

from aiogram import Dispatcher, Router

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
from handlers.filters import IsStaff, PrivateChat


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
    private.message.filter(PrivateChat())
    private.edited_message.filter(PrivateChat())
    private.callback_query.filter(PrivateChat())
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
