"""The /broadcast wizard, second half: preview, the exact count, now or later, or drop it.

The preview is sent straight away, inside the update, by the same path recipients get (photo
or document by file_id, the text in parts): Telegram's own verdict on the formatting is known
before the Confirm button appears. The confirmation carries the count the staff member saw; if
the segment changed meanwhile, they are shown the new count and asked again.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from aiogram import Bot, F
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import broadcast_watch
from bot import staff_views as view
from bot.callbacks import BroadcastStep
from bot.i18n import LANGUAGES, _, __, format_datetime
from bot.programme import Programme
from bot.responder import Responder, with_retry_after
from bot.routing import Router
from bot.services import broadcast, broadcast_text
from bot.services.broadcast import BroadcastError, CountChanged
from db.models import Broadcast, Person
from handlers.questionnaire import Clock
from handlers.staff_broadcast_text import Wizard

# One text per language: each language names the others in its own words and case.
PREVIEW_HEADINGS = {
    "pl": __("Preview of the Polish text:"),
    "uk": __("Preview of the Ukrainian text:"),
    "en": __("Preview of the English text:"),
}


async def send_preview(bot: Bot, chat_id: int, draft: Broadcast) -> None:
    """Each language's message(s) as recipients get them, the language named in the first.

    The name rides in the first message when it fits (it was a message of its own: seven
    messages at once for three languages, and Telegram holds a chat to about one a second
    with short bursts, so the fourth got 429 on every try); a 429 is waited out."""
    for language in LANGUAGES:
        if not (draft.texts or {}).get(language):
            continue
        header = str(PREVIEW_HEADINGS[language])
        parts = broadcast_text.messages(draft, language)
        first = parts[0]
        limit = (
            broadcast_text.TEXT_LIMIT if first.media is None else broadcast_text.CAPTION_LIMIT
        )
        folded = f"<b>{header}</b>\n\n{first.text}" if first.text else f"<b>{header}</b>"
        if broadcast_text.visible_length(folded) <= limit:
            parts = [replace(first, text=folded), *parts[1:]]
        else:
            await with_retry_after(partial(bot.send_message, chat_id, header))
        for message in parts:
            if message.media is None:
                await with_retry_after(partial(bot.send_message, chat_id, message.text))
                continue
            kind, file_id = message.media
            send = bot.send_photo if kind == "photo" else bot.send_document
            await with_retry_after(
                partial(send, chat_id, file_id, caption=message.text or None)
            )


async def confirm_card(
    session: AsyncSession, draft: Broadcast, person: Person, *, later: bool = False
) -> tuple[str, InlineKeyboardMarkup]:
    language = person.language or "pl"
    count = await broadcast.recipient_count(session, draft)
    segment = await broadcast_watch.segment_text(session, draft, language)
    lines = [_("<b>Ready to send</b>"), f"{segment} · {view.recipients(count, language)}"]
    if later and draft.scheduled_at is not None:
        when = format_datetime(draft.scheduled_at, language, "Europe/Warsaw")
        lines.append(_("Scheduled for {when} (Warsaw time).").format(when=when))
        buttons = [(_("✅ Confirm, send then"), "at", str(count))]
    else:
        buttons = [(_("✅ Send now"), "now", str(count)), (_("🕒 Schedule…"), "later", "")]
    return "\n".join(lines), view.wizard_keyboard(draft.id, *buttons)


async def preview(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    state: FSMContext,
    bot: Bot,
) -> None:
    draft = await broadcast.draft_of(session, callback_data.b, person)
    if not draft.texts:
        raise broadcast.StaleDraft()
    responder.remove_buttons()
    await state.clear()
    try:
        await send_preview(bot, person.telegram_id, draft)
    except TelegramBadRequest as exc:
        responder.send(
            _("Telegram refused the preview: {reason}. Please start again with /broadcast.").format(
                reason=exc.message
            )
        )
        return
    responder.send(*await confirm_card(session, draft, person))


async def confirm(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    clock: Clock,
) -> None:
    draft = await broadcast.draft_of(session, callback_data.b, person)
    at = draft.scheduled_at if callback_data.action == "at" and draft.scheduled_at else clock()
    expected = int(callback_data.v) if callback_data.v.isdigit() else -1
    try:
        count = await broadcast.confirm(session, draft, person, expected=expected, at=at)
    except CountChanged:
        responder.toast(view.broadcast_error(BroadcastError("count_changed")), alert=True)
        responder.edit(
            *await confirm_card(session, draft, person, later=callback_data.action == "at")
        )
        return
    except BroadcastError as error:
        responder.edit(view.broadcast_error(error))
        return
    language = person.language or "pl"
    when = format_datetime(at, language, "Europe/Warsaw")
    responder.edit(
        _("Broadcast #{id} to {recipients} starts {when}. Progress follows here.").format(
            id=draft.id, recipients=view.recipients(count, language), when=when
        )
    )


async def ask_time(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    state: FSMContext,
) -> None:
    draft = await broadcast.draft_of(session, callback_data.b, person)
    await state.set_state(Wizard.schedule)
    await state.update_data(b=draft.id)
    responder.edit(
        _("When should it go out? Write the date and time in Warsaw time, e.g. 12.04.2027 10:00.")
    )


async def time_received(
    message: Message,
    session: AsyncSession,
    person: Person,
    programme: Programme,
    responder: Responder,
    state: FSMContext,
    clock: Clock,
) -> None:
    draft = await broadcast.draft_of(session, int((await state.get_data()).get("b", 0)), person)
    try:
        draft.scheduled_at = broadcast.parse_when(message.text or "", programme.time_zone, clock())
    except BroadcastError as error:
        responder.send(view.broadcast_error(error))
        return
    await state.clear()
    responder.send(*await confirm_card(session, draft, person, later=True))


async def back_to_segments(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    session: AsyncSession,
    person: Person,
    responder: Responder,
) -> None:
    draft = await broadcast.draft_of(session, callback_data.b, person)
    responder.edit(_("<b>New broadcast</b>\nWho should get it?"), view.segment_keyboard(draft.id))


async def drop(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    state: FSMContext,
) -> None:
    draft = await broadcast.draft_of(session, callback_data.b, person)
    broadcast.drop(session, draft, person)
    await state.clear()
    responder.edit(_("Cancelled; nothing was sent."))


def create_router() -> Router:
    router = Router(name="staff_broadcast_confirm")
    step = BroadcastStep.filter
    router.callback_query.register(preview, step(F.action == "preview"))
    router.callback_query.register(confirm, step(F.action.in_({"now", "at"})))
    router.callback_query.register(ask_time, step(F.action == "later"))
    router.callback_query.register(back_to_segments, step(F.action == "segments"))
    router.callback_query.register(drop, step(F.action == "drop"))
    router.message.register(time_received, Wizard.schedule, F.text, ~F.text.startswith("/"))
    return router
