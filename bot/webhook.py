"""The webhook server, hardened: the secret compared in constant time (a missing, wrong or
non-ASCII header gets 401, never 500), malformed or oversized bodies refused, `/healthz`."""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from pydantic import ValidationError

from bot.app import App
from bot.commands import register_commands

log = logging.getLogger(__name__)

# Telegram's updates are a few kilobytes; a text of 4096 characters with entities stays far
# below this. Anything larger is not an update.
MAX_BODY_BYTES = 256 * 1024


class TelegramWebhookHandler(SimpleRequestHandler):
    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        if not self.secret_token:
            return False  # webhook mode never runs without a secret (settings refuse it)
        try:
            given = telegram_secret_token.encode("ascii")
        except UnicodeEncodeError:
            return False
        return hmac.compare_digest(given, self.secret_token.encode("ascii"))

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            update: Any = await request.json(loads=bot.session.json_loads)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: a body nested deeper than the parser's stack (Telegram's
            # updates are a few levels deep); answered like any body that is not JSON.
            return web.Response(status=400, text="Bad Request")
        if not isinstance(update, dict) or not valid_update_id(update.get("update_id")):
            return web.Response(status=400, text="Bad Request")
        try:
            result: Any = await self.dispatcher.feed_webhook_update(bot, update, **self.data)
        except (ValidationError, RecursionError):
            log.warning("update %s: not a valid Telegram update", update.get("update_id"))
            return web.Response(status=400, text="Bad Request")
        return web.Response(body=self._build_response_writer(bot=bot, result=result))


# Update ids are stored as BIGINT (processed_update): one Telegram could never send outside
# that range is refused here, before it reaches a transaction. (2**70 once failed inside the
# commit on PostgreSQL and left the connection in a transaction for its next users.)
MAX_UPDATE_ID = 2**63 - 1


def valid_update_id(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_UPDATE_ID  # a bool is not an id


def create_webhook_app(app: App) -> web.Application:
    settings = app.settings
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    path = urlsplit(str(settings.webhook_url)).path or "/"

    async def on_startup(bot: object) -> None:
        await register_commands(app.bot, app.i18n)
        await app.bot.set_webhook(
            str(settings.webhook_url),
            secret_token=secret,
            allowed_updates=app.dispatcher.resolve_used_update_types(),
        )

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    application = web.Application(client_max_size=MAX_BODY_BYTES)
    application.router.add_get("/healthz", healthz)
    TelegramWebhookHandler(
        dispatcher=app.dispatcher, bot=app.bot, secret_token=secret, handle_in_background=False
    ).register(application, path=path)
    if settings.dashboard_url:
        from bot.dashboard import setup_dashboard

        setup_dashboard(application, app)
    app.dispatcher.startup.register(on_startup)
    setup_application(application, app.dispatcher, bot=app.bot)
    return application
