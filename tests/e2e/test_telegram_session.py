"""The bot's Bot API session (bot/telegram_session.py) against the fake Telegram server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import EditMessageText, SendDocument, SendMessage
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
)

from bot.telegram_session import JsonSession
from tests.fakes.telegram_server import FakeTelegram, FileData

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
CHAT = 4242
KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Tak <b>", callback_data="q:yes")]]
)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.register_chat(CHAT, first_name="Anna")
        yield server


@pytest.fixture
async def bot(tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Bot]:
    session = JsonSession(api=TelegramAPIServer.from_base(tg.base_url))
    forms: list[str] = []
    original = JsonSession.build_form_data

    def spy(self, bot, method):  # only uploads may take the multipart path
        forms.append(method.__api_method__)
        return original(self, bot, method)

    monkeypatch.setattr(JsonSession, "build_form_data", spy)
    bot = Bot(
        TOKEN,
        session=session,
        default=DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True),
    )
    bot.forms = forms  # type: ignore[attr-defined]
    yield bot
    await bot.session.close()


async def test_calls_go_as_json_with_defaults_and_nested_objects(
    tg: FakeTelegram, bot: Bot
) -> None:
    sent = await bot(SendMessage(chat_id=CHAT, text="<b>Dzień dobry</b> 👋", reply_markup=KEYBOARD))
    assert isinstance(sent, Message) and sent.text == "Dzień dobry 👋"
    call = tg.calls("sendMessage")[-1]
    assert call.params["parse_mode"] == "HTML"
    assert call.params["text"] == "<b>Dzień dobry</b> 👋"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Tak <b>", "callback_data": "q:yes"}]]
    }
    assert call.params["link_preview_options"] == {"is_disabled": True}
    assert tg.sent_messages(CHAT)[-1].callback_data == [["q:yes"]]
    assert bot.forms == []  # type: ignore[attr-defined]


async def test_plain_calls_fill_in_defaults_and_return_plain_json(
    tg: FakeTelegram, bot: Bot
) -> None:
    session = bot.session
    assert isinstance(session, JsonSession)
    answer = await session.call_plain(
        bot, SendMessage, {"chat_id": CHAT, "text": "<i>x</i>", "reply_markup": KEYBOARD}
    )
    assert isinstance(answer, dict) and answer["chat"]["id"] == CHAT
    sent = tg.calls("sendMessage")[-1].params
    assert sent["parse_mode"] == "HTML" and sent["link_preview_options"] == {"is_disabled": True}
    assert sent["reply_markup"] == {
        "inline_keyboard": [[{"text": "Tak <b>", "callback_data": "q:yes"}]]
    }
    assert tg.sent_messages(CHAT)[-1].text == "x"
    preview = LinkPreviewOptions(is_disabled=False)
    await session.call_plain(
        bot, SendMessage, {"chat_id": CHAT, "text": "x", "link_preview_options": preview}
    )
    assert tg.calls("sendMessage")[-1].params["link_preview_options"] == {"is_disabled": False}
    edited = await session.call_plain(
        bot, EditMessageText, {"chat_id": CHAT, "message_id": answer["message_id"], "text": "y"}
    )
    assert edited["text"] == "y"
    assert tg.calls("editMessageText")[-1].params["parse_mode"] == "HTML"
    unread = await session.call_plain(bot, SendMessage, {"chat_id": CHAT, "text": "z"},
                                      answer=False)
    assert unread is None and tg.sent_messages(CHAT)[-1].text == "z"
    assert bot.forms == []  # type: ignore[attr-defined]


async def test_plain_failures_raise_aiogram_errors(tg: FakeTelegram, bot: Bot) -> None:
    session = bot.session
    assert isinstance(session, JsonSession)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await session.call_plain(
            bot, EditMessageText, {"chat_id": CHAT, "message_id": 999, "text": "y"}
        )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await session.call_plain(
            bot, EditMessageText, {"chat_id": CHAT, "message_id": 999, "text": "y"}, answer=False
        )
    tg.block(CHAT)
    with pytest.raises(TelegramForbiddenError):
        await session.call_plain(bot, SendMessage, {"chat_id": CHAT, "text": "x"})


async def test_uploads_keep_the_multipart_form(tg: FakeTelegram, bot: Bot) -> None:
    session = bot.session
    assert isinstance(session, JsonSession)
    document = SendDocument(
        chat_id=CHAT,
        document=BufferedInputFile(b"BEGIN:VCALENDAR", filename="meeting.ics"),
        caption="<i>Spotkanie</i>",
    )
    answer = await bot(document)
    assert isinstance(answer, Message)
    upload = tg.calls("sendDocument")[-1].params["document"]
    assert isinstance(upload, FileData) and upload.content == b"BEGIN:VCALENDAR"
    assert bot.forms == ["sendDocument"]  # type: ignore[attr-defined]
