"""The staff dashboard: a Telegram Mini App served by the bot's own process.

`setup_dashboard(web_app, app)` adds everything under `/dashboard/` to an aiohttp application:
the webhook server's in webhook mode, or one of its own on `DASHBOARD_PORT` in polling mode
(`start_server`). The page Telegram opens (`/dashboard/`, `/dashboard/funnel`, …) is a shell
without data; its script reads Telegram's signed initData from the address's fragment (which
never reaches a server) and fetches the same path under `/dashboard/view/` with the header
`Authorization: tma <initData>`. Every response carries a strict Content-Security-Policy: the
page runs only its own script and style, shipped in this package.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from importlib.resources import files

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from bot.app import App
from bot.dashboard.views import Dashboard
from bot.i18n import LANGUAGES, _

__all__ = ["PREFIX", "PathOnlyAccessLog", "setup_dashboard", "start_server"]

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PREFIX = "/dashboard/"
DEFAULT_PORT = 8081

# Telegram Web (web.telegram.org) shows a Mini App in an iframe; the apps for phones and
# desktops use their own web views, which are not framing. Nothing else may frame the page.
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors https://web.telegram.org https://*.telegram.org",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STATIC = {
    "dashboard.js": "application/javascript",
    "dashboard.css": "text/css",
}


class PathOnlyAccessLog(AbstractAccessLogger):
    """aiohttp's access log without the query string, the client's address or its browser:
    method, path (ids only), status, size and time."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %s %.3fs",
            request.method,
            request.rel_url.path,
            response.status,
            response.body_length,
            time,
        )


async def _security_headers(request: web.Request, response: StreamResponse) -> None:
    if not request.path.startswith(PREFIX.rstrip("/")):
        return
    response.headers.update(SECURITY_HEADERS)
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"


def _static_handler(name: str) -> Handler:
    content = files("bot.dashboard").joinpath("static", name).read_bytes()
    etag = '"' + hashlib.sha256(content).hexdigest()[:16] + '"'

    async def serve(request: web.Request) -> web.Response:
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=content, content_type=STATIC[name], headers=headers)

    return serve


def _shell_handler(app: App) -> Handler:
    from bot.dashboard.layout import shell

    sign_in, forbidden = {}, {}
    with app.i18n.context():
        for lang in LANGUAGES:
            with app.i18n.use_locale(lang):
                sign_in[lang] = _(
                    "Open this page with the button in your chat with the bot (or ask for a "
                    "new link)."
                )
                forbidden[lang] = _("This page is for the programme's staff.")
    body = str(shell(sign_in, forbidden))

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html")

    return serve


def setup_dashboard(web_app: web.Application, app: App) -> None:
    """Add the dashboard's routes under /dashboard/ to `web_app`."""
    dashboard = Dashboard(app)
    shell = _shell_handler(app)
    router = web_app.router
    for path in ("", "funnel", "events", "applications/{id}"):
        router.add_get(PREFIX + path, shell)
    router.add_get("/dashboard", _redirect)
    for name in STATIC:
        router.add_get(f"{PREFIX}static/{name}", _static_handler(name))
    view = PREFIX + "view/"
    router.add_get(view, dashboard.applications)
    router.add_post(view, dashboard.applications)
    router.add_get(view + "funnel", dashboard.funnel)
    router.add_get(view + "events", dashboard.events)
    router.add_get(view + "applications/{id}", dashboard.application)
    router.add_post(view + "applications/{id}/match", dashboard.match)
    router.add_post(view + "applications/{id}/unmatch", dashboard.unmatch)
    router.add_post(view + "bookings/{id}/attendance", dashboard.attendance)
    router.add_post(view + "export", dashboard.export)
    web_app.on_response_prepare.append(_security_headers)


async def _redirect(_request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect(PREFIX)


async def start_server(app: App, *, host: str | None = None) -> web.AppRunner:
    """Polling mode and the console chat: the dashboard on its own port (the caller cleans the
    runner up). `host` overrides DASHBOARD_HOST."""
    web_app = web.Application(client_max_size=64 * 1024)
    setup_dashboard(web_app, app)
    runner = web.AppRunner(web_app, access_log_class=PathOnlyAccessLog)
    await runner.setup()
    settings = app.settings
    host = host or settings.dashboard_host
    port = settings.dashboard_port or DEFAULT_PORT
    await web.TCPSite(runner, host, port).start()
    log.info("dashboard listening on %s:%s", host, port)
    return runner
