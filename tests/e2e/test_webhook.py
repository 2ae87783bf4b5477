"""Webhook mode end to end: Telegram (the fake) POSTs updates to the bot's aiohttp server."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.app import build_app
from bot.programme import PROGRAMMES_DIR
from bot.settings import Settings
from bot.webhook import create_webhook_app
from tests.e2e.conftest import TOKEN, onboard

SECRET = "webhook-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_round_trip_and_secret(tg, database_url, clock, user_factory) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    settings = Settings(
        _env_file=None, bot_token=TOKEN, database_url=database_url,
        telegram_api_base=tg.base_url, webhook_url=url, webhook_secret=SECRET,
        programme_file=Path(PROGRAMMES_DIR / "demo.toml"),
    )
    async with build_app(settings, clock=clock) as app:
        runner = web.AppRunner(create_webhook_app(app))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            assert tg.webhook_url == url  # set on startup, with the secret
            [set_webhook] = tg.calls("setWebhook")
            assert set_webhook.params["secret_token"] == SECRET
            assert "callback_query" in set_webhook.params["allowed_updates"]

            user = user_factory()
            await onboard(user, "Polski")
            assert "Kogo Państwo reprezentują" in user.last_message().text

            async with aiohttp.ClientSession() as http:
                update = {"update_id": 1, "message": {"message_id": 1, "date": 0,
                          "chat": {"id": 1, "type": "private"}, "text": "/start"}}
                for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                    async with http.post(url, json=update, headers=headers) as response:
                        assert response.status == 401
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    assert response.status == 200
        finally:
            await runner.cleanup()
