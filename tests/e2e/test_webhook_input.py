"""What the webhook is sent that Telegram would never send (issue 21, items 2 and 7): answered
with 400, and nothing of it reaches the database or poisons a pooled connection."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import build_app
from bot.programme import PROGRAMMES_DIR
from bot.settings import Settings
from bot.webhook import create_webhook_app
from tests.e2e.conftest import TOKEN

SECRET = "webhook-secret-0123456789"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def webhook(tg, database_url, clock) -> AsyncIterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=TOKEN, database_url=database_url, telegram_api_base=tg.base_url,
        webhook_url=url, webhook_secret=SECRET, throttle_rate=0,
        programme_file=Path(PROGRAMMES_DIR / "demo.toml"),
    )
    async with build_app(settings, clock=clock) as app:
        runner = web.AppRunner(create_webhook_app(app))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield url
        finally:
            await runner.cleanup()


def message(update_id: int, chat_id: int, text: str) -> dict:
    chat = {"id": chat_id, "type": "private", "first_name": "P"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 1_000_000 + 1, "date": 1_700_000_000, "chat": chat,
            "from": {"id": chat_id, "is_bot": False, "first_name": "P", "language_code": "pl"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def test_an_update_id_out_of_range_then_a_hundred_ordinary_ones(tg, webhook) -> None:
    """Issue 21, item 2: an update id of 2**70 (with the right secret) failed inside the
    commit on PostgreSQL and left its connection in a transaction, failing the next users of
    it. It is refused at the door now; the hundred updates after it are all answered."""
    async with aiohttp.ClientSession() as http:
        for bad in (2**70, -1, 2**63):
            async with http.post(webhook, json=message(bad, 777_001, "/help"),
                                 headers=HEADERS) as response:
                assert response.status == 400
    assert not tg.calls("sendMessage")
    chats = [777_100 + n for n in range(10)]
    for n in range(100):
        assert await tg.deliver(message(5_000 + n, chats[n % 10], "/help")) == 200
    answered = [call for call in tg.calls("sendMessage") if call.ok]
    assert len(answered) == 100
    assert {call.chat_id for call in answered} == set(chats)


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"update_id": 1, "message": ' + '{"a":' * 40_000 + "1" + "}" * 40_001,
        '{"update_id": 1, "message": "',
        "\u00ff\u00fe",
        "[]",
        '{"update_id": "1"}',
        '{"update_id": 1.5}',
        '{"update_id": true}',
    ],
    ids=["deep-list", "deep-object", "truncated", "not-utf8", "list", "id-text", "id-float",
         "id-bool"],
)
async def test_a_body_the_webhook_cannot_parse_gets_400(tg, webhook, body: str) -> None:
    async with aiohttp.ClientSession() as http:
        data = body.encode("latin-1") if body == "\u00ff\u00fe" else body.encode()
        async with http.post(webhook, data=data, headers=HEADERS) as response:
            assert response.status == 400
        # and the bot is still there
        assert await tg.deliver(message(9_000, 777_500, "/help")) == 200
