"""The /broadcast wizard, texts: one per language (a long one in several messages), the
fallback for everyone else, and an optional photo or document.

The FSM (the dispatcher's storage) only remembers the step and the draft's id; the texts are
stored on the draft at once.
"""

from __future__ import annotations

import html

from aiogram import F
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_views as view
from bot.callbacks import BroadcastStep
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, _, __, ngettext
from bot.responder import Responder
from bot.routing import Router
from bot.services import broadcast, broadcast_text
from bot.services.broadcast import BroadcastError
from db.models import Person

# Entities a Telegram client adds for formatting (as opposed to links it merely recognises).
FORMATTING = frozenset(
    {
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "pre",
        "text_link",
        "blockquote",
        "expandable_blockquote",
    }
)


# A msgid per language rather than a placeholder: "po ukraińsku", «українською».
TEXT_REQUESTS = {
    "pl": __("Send the text in <b>Polish</b>."),
    "uk": __("Send the text in <b>Ukrainian</b>."),
    "en": __("Send the text in <b>English</b>."),
}
FALLBACK_CHOSEN = {
    "pl": __("Others get the Polish text."),
    "uk": __("Others get the Ukrainian text."),
    "en": __("Others get the English text."),
}


class Wizard(StatesGroup):
    text = State()
    media = State()
    schedule = State()


async def ask_text(responder: Responder, state: FSMContext, draft_id: int, language: str) -> None:
    await state.set_state(Wizard.text)
    await state.update_data(b=draft_id, lang=language)
    responder.send(
        str(TEXT_REQUESTS[language])
        + " "
        + _(
            "You may format it (bold, italics, links) or write Telegram HTML such as "
            "&lt;b&gt;…&lt;/b&gt;. A long text can come in several messages; they are joined "
            "with an empty line."
        ),
        view.wizard_keyboard(draft_id, (_("Skip this language ▸"), "next", language)),
    )


def _source(message: Message) -> str:
    """Client formatting as HTML; otherwise the text as typed (it may hold HTML tags)."""
    if any(e.type in FORMATTING for e in message.entities or []):
        return message.html_text
    return message.text or ""


async def text_received(
    message: Message,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    state: FSMContext,
) -> None:
    data = await state.get_data()
    draft = await broadcast.draft_of(session, int(data.get("b", 0)), person)
    language = str(data.get("lang"))
    try:
        combined = broadcast.add_text(draft, language, _source(message))
    except BroadcastError as error:
        responder.send(view.broadcast_error(error))
        return
    parts = len(broadcast_text.split_text(combined))
    length = broadcast_text.visible_length(combined)
    characters = ngettext("{count} character", "{count} characters", length).format(count=length)
    responder.send(
        ngettext(
            "The text is saved ({characters}); it will go out as {count} message.",
            "The text is saved ({characters}); it will go out as {count} messages.",
            parts,
        ).format(characters=characters, count=parts),
        view.wizard_keyboard(draft.id, (_("Next ▸"), "next", language)),
    )


async def next_language(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    state: FSMContext,
) -> None:
    draft = await broadcast.draft_of(session, callback_data.b, person)
    responder.remove_buttons()
    later = (
        LANGUAGES[LANGUAGES.index(callback_data.v) + 1 :] if callback_data.v in LANGUAGES else ()
    )
    if later:
        await ask_text(responder, state, draft.id, later[0])
        return
    written = [code for code in LANGUAGES if (draft.texts or {}).get(code)]
    if not written:
        responder.send(view.broadcast_error(BroadcastError("no_text")))
        await ask_text(responder, state, draft.id, LANGUAGES[0])
        return
    if len(written) == 1:
        await ask_media(responder, state, draft.id)
        return
    choices = [(LANGUAGE_NAMES[code], "fallback", code) for code in written]
    responder.send(
        _("Which text should people get whose language has none?"),
        view.wizard_keyboard(draft.id, *choices),
    )


async def fallback_chosen(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    state: FSMContext,
) -> None:
    draft = await broadcast.draft_of(session, callback_data.b, person)
    broadcast.set_fallback(draft, callback_data.v)
    fallback = FALLBACK_CHOSEN.get(callback_data.v)
    if fallback is not None:
        responder.edit(str(fallback))
    await ask_media(responder, state, draft.id)


async def ask_media(responder: Responder, state: FSMContext, draft_id: int) -> None:
    await state.set_state(Wizard.media)
    await state.update_data(b=draft_id)
    responder.send(
        _("Send one photo or document to attach, or go on without one."),
        view.wizard_keyboard(draft_id, (_("No attachment ▸"), "preview", "")),
    )


async def media_received(
    message: Message,
    session: AsyncSession,
    person: Person,
    responder: Responder,
    state: FSMContext,
) -> None:
    data = await state.get_data()
    draft = await broadcast.draft_of(session, int(data.get("b", 0)), person)
    if message.photo:
        broadcast.set_media(draft, "photo", message.photo[-1].file_id)
    elif message.document:
        broadcast.set_media(draft, "document", message.document.file_id)
    name = html.escape(message.document.file_name or "") if message.document else "🖼"
    responder.send(
        _("Attached: {name}").format(name=name),
        view.wizard_keyboard(draft.id, (_("Preview ▸"), "preview", "")),
    )


async def wrong_content(message: Message, responder: Responder) -> None:
    responder.send(_("Please send text here, or use the buttons."))


def create_router() -> Router:
    router = Router(name="staff_broadcast_text")
    router.callback_query.register(next_language, BroadcastStep.filter(F.action == "next"))
    router.callback_query.register(fallback_chosen, BroadcastStep.filter(F.action == "fallback"))
    router.message.register(text_received, Wizard.text, F.text, ~F.text.startswith("/"))
    router.message.register(media_received, Wizard.media, F.photo | F.document)
    router.message.register(wrong_content, Wizard.text, ~F.text)
    return router
