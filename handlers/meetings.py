"""Meetings for applicants: choosing a date, the booking card, the waitlist, changing and
cancelling (`/meetings`). How they look is in bot/meeting_cards.py; the outbox messages
about them (reminders, offers, moves) in bot/meeting_notices.py.

Handlers parse the press, call `bot.services.booking` and render; a refused action
(`BookingError`) is explained by the middleware at the bottom, in the person's language. The
booking card is one message that buttons edit; news (a reminder, a seat offer) comes as a new
message, rendered by the sender when it is sent, in the recipient's language and time zone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import BookingAction, MeetingPick, MeetingWait
from bot.i18n import _, __
from bot.meeting_cards import (
    booking_card,
    button,
    dates_card,
    send_calendar,
    when,
)
from bot.programme import Programme
from bot.responder import Responder
from bot.routing import Router
from bot.services import booking as seats
from bot.services.booking import BookingError, Seat
from db.models import Booking, Event, Person
from handlers.errors import ExplainRefusals

Clock = Callable[[], datetime]


# ------------------------------------------------------------------------------ entry points


async def show(
    responder: Responder,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    now: datetime,
) -> None:
    """The person's booking cards (one per kind of event: a meeting, a study visit…), and the
    dates of the kinds they hold nothing for."""
    put = responder.send
    entries = await seats.live_entries(session, person, programme.id)
    for entry in entries:
        position = await seats.waitlist_position(session, entry[0])
        put(*booking_card(*entry, person, programme, position=position))
    held = {booking.kind for booking, _event in entries}
    audience = await seats.eligible_audience(session, person, programme)
    if entries:
        others = await seats.open_events(session, programme, audience, now) if audience else []
        others = [e for e in others if e.kind not in held]
        if others:
            intro = _("<b>Choose a date</b> that suits you:")
            put(*dates_card(others, person, programme, intro=intro))
        return
    if audience is None:
        put(
            _(
                "Meeting dates can be booked once your application has been sent and meets the "
                "programme's criteria. /start takes you to your application."
            )
        )
        return
    found = await seats.open_events(session, programme, audience, now)
    put(*dates_card(found, person, programme, intro=_("<b>Choose a date</b> that suits you:")))


async def offer_after_submit(
    responder: Responder,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    now: datetime,
    audience: str,
) -> None:
    """After an eligible submission (of an application for `audience`): the dates to choose
    from, under the verdict.

    With no date open yet nothing is added: the verdict already says we will write, and
    `events.announce` keeps that promise when staff publish a date.
    """
    if await seats.live_entry(session, person, programme.id) is not None:
        return
    found = await seats.open_events(session, programme, audience, now)
    if found:
        intro = _("<b>Choose a date</b> that suits you:")
        responder.send(*dates_card(found, person, programme, intro=intro))


# ------------------------------------------------------------------------------ handlers


async def meetings_command(
    message: Message,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    await show(responder, session, person, programme, clock())


async def pressed_date(
    query: CallbackQuery,
    callback_data: MeetingPick,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    now = clock()
    seat = await seats.choose(session, programme, person, callback_data.e, now)
    note = {
        "booked": _("Thank you! Your seat is booked."),
        "moved": _("The date has been changed."),
        "same": "",
    }[seat.status]
    position = await seats.waitlist_position(session, seat.booking)
    responder.edit(*booking_card(*_pair(seat), person, programme, note=note, position=position))
    if seat.status != "same" and seat.booking.status == "active":
        send_calendar(responder, seat, person, programme, now)


def _pair(seat: Seat) -> tuple[Booking, Event]:
    return seat.booking, seat.event


async def pressed_wait(
    query: CallbackQuery,
    callback_data: MeetingWait,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    now = clock()
    seat = await seats.join_waitlist(session, programme, person, callback_data.e, now)
    position = await seats.waitlist_position(session, seat.booking)
    responder.edit(*booking_card(*_pair(seat), person, programme, position=position))
    if seat.status == "booked":
        send_calendar(responder, seat, person, programme, now)


@dataclass(frozen=True)
class Ctx:
    """What an action on one's own booking needs."""

    responder: Responder
    session: AsyncSession
    person: Person
    programme: Programme
    now: datetime

    async def own(self, booking_id: int) -> Seat:
        found = await seats.load(self.session, booking_id)
        if found is None or found[0].person_id != self.person.id:
            raise BookingError("stale")
        if found[0].status not in seats.LIVE:
            raise BookingError("stale")
        return Seat("same", *found)

    def when(self, moment: datetime) -> str:
        return when(moment, self.person, self.programme)

    def card(self, seat: Seat, *, note: str = "", position: int = 0) -> None:
        self.responder.edit(
            *booking_card(*_pair(seat), self.person, self.programme, note=note, position=position)
        )


async def pressed_action(
    query: CallbackQuery,
    callback_data: BookingAction,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    clock: Clock,
) -> None:
    action = ACTIONS.get(callback_data.a)
    if action is None:
        raise BookingError("stale")
    await action(Ctx(responder, session, person, programme, clock()), callback_data.b)


async def _calendar(ctx: Ctx, booking_id: int) -> None:
    seat = await ctx.own(booking_id)
    if seat.booking.status != "active":
        raise BookingError("stale")
    send_calendar(ctx.responder, seat, ctx.person, ctx.programme, ctx.now)


async def _change(ctx: Ctx, booking_id: int) -> None:
    seat = await ctx.own(booking_id)
    # Another date of the same kind: a date of another kind would be a second booking.
    found = [e for e in await _open(ctx) if e.id != seat.event.id and e.kind == seat.event.kind]
    date = ctx.when(seat.event.starts_at)
    intro = _("Choose the new date. Until then your booking for {date} stays.").format(date=date)
    # People holding a booking are not told of new dates (events.announce): say where to look.
    none = _(
        "There is no other date yet. Your booking for {date} stays; /meetings shows new dates "
        "as soon as they are published."
    ).format(date=date)
    ctx.responder.edit(
        *dates_card(found, ctx.person, ctx.programme, intro=intro, back=seat.booking, none=none)
    )


async def _open(ctx: Ctx) -> Sequence[Event]:
    audience = await seats.eligible_audience(ctx.session, ctx.person, ctx.programme)
    if audience is None:
        raise BookingError("not_eligible")
    return await seats.open_events(ctx.session, ctx.programme, audience, ctx.now)


async def _ask_cancel(ctx: Ctx, booking_id: int) -> None:
    seat = await ctx.own(booking_id)
    question = _("Cancel your booking for {date}?").format(date=ctx.when(seat.event.starts_at))
    b = seat.booking.id
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            button(_("Yes, cancel it"), BookingAction(a="cancel_yes", b=b).pack()),
            button(_("No, keep it"), BookingAction(a="back", b=b).pack()),
        ]
    )
    ctx.responder.edit(question, keyboard)


async def _cancel(ctx: Ctx, booking_id: int) -> None:
    was = (await ctx.own(booking_id)).booking.status
    await seats.cancel(ctx.session, ctx.programme, ctx.person, booking_id, ctx.now)
    text = {
        "active": _("Your booking has been cancelled. You can book another date with /meetings."),
        "waitlisted": _("You have left the waitlist. /meetings shows the dates."),
        "offered": _("Thank you for letting us know. The seat goes to the next person in line."),
    }[was]
    ctx.responder.edit(text)


async def _back(ctx: Ctx, booking_id: int) -> None:
    seat = await ctx.own(booking_id)
    ctx.card(seat, position=await seats.waitlist_position(ctx.session, seat.booking))


async def _take(ctx: Ctx, booking_id: int) -> None:
    seat = await seats.accept_offer(ctx.session, ctx.programme, ctx.person, booking_id, ctx.now)
    ctx.card(seat, note=_("Thank you! Your seat is booked."))
    send_calendar(ctx.responder, seat, ctx.person, ctx.programme, ctx.now)


async def _dates(ctx: Ctx, booking_id: int) -> None:
    """All open dates; from a booking card (with a way back) or from a full date (b=0)."""
    back = (await ctx.own(booking_id)).booking if booking_id else None
    intro = _("<b>Choose a date</b> that suits you:")
    found = await _open(ctx)
    ctx.responder.edit(*dates_card(found, ctx.person, ctx.programme, intro=intro, back=back))


ACTIONS: dict[str, Callable[[Ctx, int], Awaitable[None]]] = {
    "ics": _calendar,
    "change": _change,
    "cancel": _ask_cancel,
    "cancel_yes": _cancel,
    "decline": _cancel,
    "back": _back,
    "take": _take,
    "dates": _dates,
}


async def explain(
    error: BookingError, action: Message | CallbackQuery, data: dict[str, Any]
) -> None:
    """A refused booking action, answered where it happened (see `ExplainRefusals`)."""
    responder: Responder = data["responder"]
    person: Person = data["person"]
    programme: Programme = data["programme"]
    if error.code == "full":
        event = await seats.reload_event(data["session"], error.params["event_id"])
        entry = await seats.live_entry(data["session"], person, programme.id, event.kind)
        busy = _("Sorry, there are no seats left on {date}.").format(
            date=when(event.starts_at, person, programme)
        )
        if entry is not None and entry[0].status == "active":
            responder.toast(busy + " " + _("Your booking stays as it is."), alert=True)
            return
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                button(_("⏳ Join the waitlist"), MeetingWait(e=event.id).pack()),
                button(_("← Other dates"), BookingAction(a="dates", b=0).pack()),
            ]
        )
        responder.edit(
            busy
            + "\n"
            + _("You can join the waitlist: if a seat frees up, we will offer it to you here."),
            keyboard,
        )
        return
    text = str(REFUSALS.get(error.code, REFUSALS["stale"]))
    if isinstance(action, CallbackQuery):
        responder.toast(text, alert=error.code != "stale")
    else:
        responder.send(text)


REFUSALS = {
    "closed": __("This date can no longer be booked. /meetings shows the dates that are open."),
    "not_eligible": __(
        "Meeting dates can be booked once your application has been sent and meets the "
        "programme's criteria."
    ),
    "already": __("You already have a booking. /meetings shows it, and you can change it there."),
    "too_late": __("The meeting starts soon, so this booking can no longer be changed here."),
    "offer_over": __("This offer is no longer valid: the seat has gone to the next person."),
    "stale": __("This button is no longer active."),
}


def create_router() -> Router:
    router = Router(name="meetings")
    refusals = ExplainRefusals((BookingError,), explain)
    router.message.middleware(refusals)
    router.callback_query.middleware(refusals)
    router.message.register(meetings_command, Command("meetings"))
    router.callback_query.register(pressed_date, MeetingPick.filter())
    router.callback_query.register(pressed_wait, MeetingWait.filter())
    router.callback_query.register(pressed_action, BookingAction.filter())
    return router
