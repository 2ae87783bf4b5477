"""Tests of the fake Telegram server itself, driven through a real aiogram Bot.

If the fake drifts from Telegram (or from what aiogram expects), every end-to-end test built
on it becomes fiction; these tests pin the behaviour the other tests rely on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.filters import Command
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import ClientSession, web

from tests.fakes.telegram_server import FakeTelegram, json_copy, parse_html
from tests.fakes.user import FakeUser

BOT_ID = 123456
TOKEN = f"{BOT_ID}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
CHAT = 4242


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.register_chat(CHAT, first_name="Anna")
        yield server


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    yield bot
    await bot.session.close()


@contextlib.asynccontextmanager
async def polling(dispatcher: Dispatcher, bot: Bot) -> AsyncIterator[None]:
    """Run the dispatcher the way the e2e tests do: sequential handling, short long polls."""
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_as_tasks=False,
            handle_signals=False,
            polling_timeout=1,
            close_bot_session=False,
        )
    )
    try:
        yield
    finally:
        await dispatcher.stop_polling()
        await task


def keyboard(*labels_and_data: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=label, callback_data=data)]
            for label, data in labels_and_data
        ]
    )


# ------------------------------------------------------------------ messages and limits


async def test_send_message_round_trip_parses_into_aiogram_types(
    tg: FakeTelegram, bot: Bot
) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (BOT_ID, True, "win4ua_test_bot")

    sent = await bot.send_message(
        CHAT,
        "👍 <b>Cześć</b> &amp; <a href='https://win4ua.pl'>WIN4UA</a>",
        reply_markup=keyboard(("Tak", "yes")),
    )

    assert isinstance(sent, Message)
    assert sent.text == "👍 Cześć & WIN4UA"
    assert sent.from_user is not None and sent.from_user.id == BOT_ID
    assert sent.chat.id == CHAT and sent.chat.type == "private"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 3, 5),  # the emoji is two UTF-16 code units
        ("text_link", 11, 6),
    ]
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "yes"
    call = tg.calls("sendMessage")[0]
    assert call.params["text"].startswith("👍 <b>Cześć</b> &amp;")  # raw HTML is kept
    assert (call.chat_id, call.response_status) == (CHAT, 200)
    shown = tg.sent_messages(CHAT)
    assert [(m.message_id, m.text, m.buttons) for m in shown] == [
        (sent.message_id, "👍 Cześć & WIN4UA", [["Tak"]])
    ]


async def test_unknown_chat_is_not_found(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999_999, "hello")


async def test_text_limit_is_4096_characters_after_html_parsing(tg: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(CHAT, "ż" * 4096)
    await bot.send_message(CHAT, "<b>" + "a" * 4096 + "</b>")  # tags do not count
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "a" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(CHAT, "<b> </b>")
    assert [c.response_status for c in tg.calls("sendMessage")] == [200, 200, 400, 400]


BAD_HTML = [
    ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
    ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ("ż < 5", 'Unsupported start tag "" at byte offset 3'),  # ż is two bytes
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ('<a href="x>link</a>', "Unclosed start tag at byte offset 0"),
]


async def test_bad_html_is_rejected_with_telegrams_message(tg: FakeTelegram, bot: Bot) -> None:
    for html, error in BAD_HTML:
        with pytest.raises(TelegramBadRequest) as raised:
            await bot.send_message(CHAT, html)
        assert raised.value.message == f"Bad Request: can't parse entities: {error}", html
    assert tg.sent_messages(CHAT) == []
    await bot.send_message(CHAT, "1 &lt; 2 &amp; AT&T <b >ok</b >")
    assert tg.sent_messages(CHAT)[0].text == "1 < 2 & AT&T ok"


def test_html_parser_handles_supported_markup() -> None:
    text, entities = parse_html(
        '<pre><code class="language-python">x &lt; 1</code></pre>'
        "<tg-spoiler>s</tg-spoiler><blockquote expandable>q</blockquote>&nbsp;"
    )
    assert text == "x < 1sq&nbsp;"
    assert entities == [
        {"type": "pre", "offset": 0, "length": 5, "language": "python"},
        {"type": "spoiler", "offset": 5, "length": 1},
        {"type": "expandable_blockquote", "offset": 6, "length": 1},
    ]


def test_html_parser_answers_from_its_cache_with_fresh_entities() -> None:
    first = parse_html("<b>Pytanie 1 z 11</b>")
    first[1][0]["length"] = 99  # a caller changing its copy changes nobody else's
    assert parse_html("<b>Pytanie 1 z 11</b>") == (
        "Pytanie 1 z 11",
        [{"type": "bold", "offset": 0, "length": 14}],
    )


async def test_last_sent_is_the_newest_shown_message(tg: FakeTelegram, bot: Bot) -> None:
    assert tg.last_sent(CHAT) is None
    with_keyboard = await bot.send_message(CHAT, "pick", reply_markup=keyboard(("A", "a")))
    await bot.send_message(CHAT, "plain")
    newest = await bot.send_message(CHAT, "gone")
    await bot.delete_message(CHAT, newest.message_id)

    last, pickable = tg.last_sent(CHAT), tg.last_sent(CHAT, inline_keyboard=True)
    assert last is not None and last.text == "plain"
    assert pickable is not None and pickable.message_id == with_keyboard.message_id
    assert pickable.callback_data == [["a"]]
    pickable.reply_markup = None  # a copy: the chat still shows its keyboard
    assert tg.sent_messages(CHAT)[0].callback_data == [["a"]]


def test_json_copy_copies_containers_and_keeps_their_types() -> None:
    inner = {"b": (2, 3)}
    original = {"a": [1, inner], "c": None}
    copied = json_copy(original)
    assert copied == original
    copied["a"][1]["b"] = ()
    assert inner == {"b": (2, 3)}


async def test_callback_data_is_limited_to_64_bytes(bot: Bot) -> None:
    await bot.send_message(CHAT, "ok", reply_markup=keyboard(("a", "x" * 64)))
    await bot.send_message(CHAT, "ok", reply_markup=keyboard(("a", "ą" * 32)))  # 64 bytes
    for data in ("x" * 65, "ą" * 33):
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(CHAT, "too long", reply_markup=keyboard(("a", data)))


async def test_edits_apply_and_identical_edit_is_not_modified(tg: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "<b>Krok 1</b>", reply_markup=keyboard(("Dalej", "n")))

    with pytest.raises(TelegramBadRequest) as raised:
        await bot.edit_message_text(
            "<b>Krok 1</b>",
            chat_id=CHAT,
            message_id=sent.message_id,
            reply_markup=keyboard(("Dalej", "n")),
        )
    assert raised.value.message == (
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message"
    )
    edited = await bot.edit_message_text("<i>Krok 2</i>", chat_id=CHAT, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.edit_date is not None
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=CHAT, message_id=sent.message_id + 100)

    [shown] = tg.sent_messages(CHAT)
    assert (shown.text, shown.html, shown.edited, shown.buttons) == (
        "Krok 2",
        "<i>Krok 2</i>",
        True,
        [],  # no reply_markup in the edit removes the keyboard
    )
    assert await bot.delete_message(CHAT, sent.message_id) is True
    assert tg.sent_messages(CHAT) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(CHAT, sent.message_id)


async def test_send_document_records_filename_and_bytes(tg: FakeTelegram, bot: Bot) -> None:
    content = b"%PDF-1.4 zgloszenie"
    sent = await bot.send_document(
        CHAT, BufferedInputFile(content, filename="zgłoszenie.pdf"), caption="<i>Twoje</i> CV"
    )
    assert sent.document is not None
    assert (sent.document.file_name, sent.document.file_size) == ("zgłoszenie.pdf", len(content))
    assert (sent.caption, sent.document.mime_type) == ("Twoje CV", "application/pdf")
    upload = tg.calls("sendDocument")[0].params["document"]
    assert (upload.filename, upload.content) == ("zgłoszenie.pdf", content)
    [document] = FakeUser(tg, CHAT).documents()
    assert document.file is not None and document.file.content == content
    # Telegram lets the bot resend a file by its file_id.
    again = await bot.send_document(CHAT, sent.document.file_id)
    assert again.document is not None and again.document.file_name == "zgłoszenie.pdf"


async def test_commands_are_stored_per_scope_and_language(tg: FakeTelegram, bot: Bot) -> None:
    private = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands(
        [BotCommand(command="pomoc", description="Pomoc")], scope=private, language_code="pl"
    )
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert [c.command for c in await bot.get_my_commands(scope=private, language_code="pl")] == [
        "pomoc"
    ]
    assert await bot.get_my_commands(scope=private, language_code="uk") == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start Now", description="x")])
    await bot.delete_my_commands()
    assert tg.commands() == []


# ------------------------------------------------------------------ faults


async def test_injected_429_raises_retry_after_once(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(CHAT, "first")
    assert raised.value.retry_after == 7
    await bot.send_message(CHAT, "second")
    assert [(c.response_status, c.fault) for c in tg.calls("sendMessage")] == [
        (429, "injected"),
        (200, None),
    ]
    assert tg.flood_errors == 1
    assert [m.text for m in tg.sent_messages(CHAT)] == ["second"]


async def test_blocked_user_gets_403_until_unblocked(tg: FakeTelegram, bot: Bot) -> None:
    tg.block(CHAT)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "hello")
    tg.unblock(CHAT)
    await bot.send_message(CHAT, "hello again")
    assert [c.response_status for c in tg.calls(chat_id=CHAT)] == [403, 200]


async def test_rate_limiter_answers_429_beyond_the_limit(tg: FakeTelegram, bot: Bot) -> None:
    tg.register_chat(CHAT + 1)
    tg.set_rate_limit(per_chat_per_s=2)
    await bot.send_message(CHAT, "1")
    await bot.send_message(CHAT, "2")
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(CHAT, "3")
    assert raised.value.retry_after == 1
    await bot.send_message(CHAT + 1, "another chat has its own budget")

    tg.set_rate_limit(global_per_s=3)
    for text in ("a", "b", "c"):
        await bot.send_message(CHAT + (len(text) % 2), text)
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(CHAT + 1, "d")
    assert tg.flood_errors == 2
    assert [c.fault for c in tg.calls("sendMessage") if c.response_status == 429] == [
        "rate_limit",
        "rate_limit",
    ]


async def test_fault_rates_are_reproducible(tg: FakeTelegram, bot: Bot) -> None:
    tg.known_chats_only = False
    tg.set_fault_rates(blocked=0.5, seed=7)
    blocked = {chat for chat in range(1, 41) if tg.is_randomly_blocked(chat)}
    assert 8 <= len(blocked) <= 32
    for chat in (*range(1, 41), *range(1, 41)):
        if chat in blocked:
            with pytest.raises(TelegramForbiddenError):
                await bot.send_message(chat, "x")
        else:
            await bot.send_message(chat, "x")

    tg.set_fault_rates(flood=0.3, seed=3)
    floods = 0
    for _ in range(40):
        try:
            await bot.send_message(CHAT, "x")
        except TelegramRetryAfter as error:
            assert error.retry_after == 1
            floods += 1
    assert 4 <= floods <= 24
    assert tg.flood_errors == floods


async def test_dropped_connections_raise_network_errors(tg: FakeTelegram, bot: Bot) -> None:
    tg.drop_connections("sendMessage", 1)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(CHAT, "lost request")
    tg.drop_connections("sendMessage", 1, after_processing=True)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(CHAT, "lost answer")
    assert [m.text for m in tg.sent_messages(CHAT)] == ["lost answer"]
    assert [(c.response_status, c.fault) for c in tg.calls("sendMessage")] == [
        (0, "dropped"),
        (200, "dropped_after_processing"),
    ]


async def test_raw_http_shapes(tg: FakeTelegram) -> None:
    base = f"{tg.base_url}/bot{TOKEN}"
    async with ClientSession() as http:
        async with http.post(f"{base}/sendUnicorn") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        body = {"chat_id": CHAT, "text": "json body", "reply_markup": {"inline_keyboard": []}}
        async with http.post(f"{base}/SENDMESSAGE", json=body) as response:
            assert response.status == 200
            assert (await response.json())["result"]["text"] == "json body"
        async with http.get(
            f"{base}/sendMessage", params={"chat_id": CHAT, "text": ""}
        ) as response:
            assert await response.json() == {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message text is empty",
            }
        async with http.get(f"{tg.base_url}/botnotatoken/getMe") as response:
            assert response.status == 401


# ------------------------------------------------------------------ updates


async def test_long_poll_returns_update_delivered_while_waiting(tg: FakeTelegram, bot: Bot) -> None:
    user = FakeUser(tg, 77)
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    assert not poll.done()

    started = time.monotonic()
    delivery = asyncio.create_task(user.send("/start abc"))
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1
    [update] = updates
    assert update.message is not None and update.message.text == "/start abc"
    assert [(e.type, e.length) for e in update.message.entities or []] == [("bot_command", 6)]

    await asyncio.sleep(0.05)
    assert not delivery.done(), "deliver() must wait for the confirmation"
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == []
    assert await asyncio.wait_for(delivery, 1) == 200


async def test_deliver_fails_clearly_when_nobody_polls(tg: FakeTelegram) -> None:
    user = FakeUser(tg, 78, timeout=0.2)
    update_id = tg.next_update_id
    with pytest.raises(AssertionError, match=f"update {update_id} was not processed within 0.2 s"):
        await user.send("anyone?")


async def test_polling_bot_with_fake_user(tg: FakeTelegram, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(Command("start"))
    async def start(message: Message) -> None:
        await message.answer("Wybierz:", reply_markup=keyboard(("Tak ✅", "yes"), ("Nie", "no")))

    @dp.message(Command("phone"))
    async def ask_phone(message: Message) -> None:
        button = KeyboardButton(text="📱 Udostępnij numer", request_contact=True)
        markup = ReplyKeyboardMarkup(keyboard=[[button]], one_time_keyboard=True)
        await message.answer("Podaj numer", reply_markup=markup)

    @dp.message(F.contact)
    async def contact(message: Message) -> None:
        assert message.contact is not None
        await message.answer(f"Numer: {message.contact.phone_number}")

    @dp.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.html_text)

    @dp.callback_query()
    async def chosen(query: CallbackQuery) -> None:
        await query.answer(f"got {query.data}", show_alert=True)
        assert isinstance(query.message, Message)
        await query.message.edit_text(f"<b>{query.data}</b>")

    user = FakeUser(tg, 1001)
    async with polling(dp, bot):
        await user.send("hi")
        assert user.last_message().text == "hi"

        await user.start()
        assert user.buttons() == [["Tak ✅"], ["Nie"]]
        await user.press("tak")
        [answer] = user.answers()
        assert (answer.text, answer.show_alert) == ("got yes", True)
        assert (user.last_message().html, user.last_message().edited) == ("<b>yes</b>", True)
        with pytest.raises(AssertionError, match="no keyboard is shown"):
            await user.press("Tak")  # the edit removed the keyboard

        await user.send("/phone")
        await user.press("Udostępnij")
        assert user.last_message().text == "Numer: +48600100200"
        assert user.reply_keyboard() == []  # one_time_keyboard hid itself

        await user.press_data("forged")  # stale/forged data still reaches the handler
        assert user.answers()[-1].text == "got forged"
        await user.group_message("hello group")  # no group handler filter: echoed
    assert [c.params["text"] for c in tg.calls("sendMessage", chat_id=-4_000_000_001)] == [
        "hello group"
    ]


async def test_webhook_delivery_with_secret_header(tg: FakeTelegram, bot: Bot) -> None:
    received: list[tuple[str | None, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        await bot.set_webhook(url, secret_token="s3cret")
        assert (await bot.get_webhook_info()).url == url
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()

        assert await FakeUser(tg, 55).send("via webhook") == 200
        [(secret, update)] = received
        assert secret == "s3cret"
        assert update["message"]["text"] == "via webhook"
        assert update["update_id"] == tg.next_update_id - 1

        await bot.delete_webhook()
        assert await bot.get_updates(timeout=0) == []
    finally:
        await runner.cleanup()


async def test_webhook_reply_method_is_executed(tg: FakeTelegram, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message()
    async def pong(message: Message) -> object:
        return message.answer("pong")  # answered inside the webhook response

    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token="right").register(
        app, path="/hook"
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    user = FakeUser(tg, 56)
    try:
        await bot.set_webhook(url, secret_token="right")
        assert await user.send("ping") == 200
        assert user.last_message().text == "pong"
        assert tg.calls("sendMessage")[-1].source == "webhook_reply"

        await bot.set_webhook(url, secret_token="wrong")
        assert await user.send("ping") == 401
    finally:
        await runner.cleanup()
