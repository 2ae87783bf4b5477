"""Routers, in the one order they are consulted."""

from __future__ import annotations

from aiogram import Dispatcher, F, Router

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


def setup_routers(dispatcher: Dispatcher) -> None:
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
        staff.create_router(),  # staff only: /stats, /export, /broadcast(s); admins: /staff
        staff_matching.create_router(),  # staff only: /invite, /match
        meetings.create_router(),  # /meetings: dates, booking card, waitlist
        staff_events.create_router(),  # staff only: /events, /newevent (before the form's text)
        staff.create_denied_router(),  # staff commands and buttons from non-staff: audited
        questionnaire.create_router(),  # role, questions, place pickers, summary, submit
        fallback.create_router(),  # last: polite answers to whatever is left
    )
    dispatcher.include_routers(errors.create_router(), private)
