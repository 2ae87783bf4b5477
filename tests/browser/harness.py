"""The bot's App (the production factory, Telegram replaced by the fake Bot API server) and its
dashboard served on a free localhost port in the caller's event loop, as the bot serves it.
Shared by the browser test and bench/dashboard.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.app import App, build_app
from bot.programme import PROGRAMMES_DIR
from bot.settings import Settings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


@dataclass
class Served:
    app: App
    base_url: str  # http://127.0.0.1:<port>

    def link(self, user_id: int, now: datetime, *, language: str | None = "pl",
             path: str = "/dashboard/", token: str = TOKEN) -> str:
        """A link as `python -m bot dashboard-link` prints it: Telegram's signed initData in
        the fragment (never sent to the server in the URL)."""
        from bot.dashboard.auth import sign_init_data

        init_data = sign_init_data(token, user_id, language_code=language, now=now)
        return f"{self.base_url}{path}#tgWebAppData={quote(init_data, safe='')}"


@contextlib.asynccontextmanager
async def serve(
    database_url: str,
    telegram_api_base: str,
    *,
    staff_ids: list[int],
    clock: Callable[[], datetime] | None = None,
    programme: str = "demo.toml",
    **settings: Any,
) -> AsyncIterator[Served]:
    from bot.dashboard import setup_dashboard

    config = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=TOKEN,
        database_url=database_url,
        telegram_api_base=telegram_api_base,
        staff_ids=staff_ids,
        programme_file=Path(PROGRAMMES_DIR / programme),
        **settings,
    )
    workflow: dict[str, Any] = {"clock": clock} if clock is not None else {}
    async with build_app(config, **workflow) as app:
        web_app = web.Application()
        setup_dashboard(web_app, app)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            yield Served(app, f"http://{host}:{port}")
        finally:
            await runner.cleanup()
