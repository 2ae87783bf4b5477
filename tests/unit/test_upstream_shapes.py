"""Guards for the code that copies or reaches into aiogram's insides (bot/routing.py,
`handlers.keep_on_event_loop`, bot/telegram_session.py): when an aiogram release changes what
they rely on, these fail and say what changed and in which version, before a deployment finds
out.

bot/routing.py takes the same steps as the functions below, in the same order; after an
upgrade that changes one of them, read the new upstream code against routing.py, mend what
differs, run tests/unit/test_routing.py (which feeds the same updates through aiogram's
routers and ours and compares handler, data and order), then record the new fingerprints.
"""

from __future__ import annotations

import hashlib
import inspect

import aiogram
from aiogram import Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.handler import CallableObject, HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter

WRITTEN_AGAINST = "aiogram 3.31.0"

# The source of each upstream function routing.py re-implements or relies on, fingerprinted
# (sha256 of inspect.getsource, first 16 hex digits) as of WRITTEN_AGAINST.
COPIED = {
    Router.propagate_event: "78ee00b916f43e05",
    Router._propagate_event: "76fc938efce3eacf",
    TelegramEventObserver.trigger: "fdd6943a8bb91fb6",
    TelegramEventObserver._resolve_middlewares: "528e13a9a85cb5a1",
    HandlerObject.check: "c0064e79199eca54",
    CallableObject.call: "578e102991fb419d",
    Dispatcher._listen_update: "1d7b85fb78b6763a",
    CallbackQueryFilter.__call__: "f366a7bc025775c7",
    Command.__call__: "0d7e8714099d0352",
}


def _fingerprint(function: object) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]  # type: ignore[arg-type]


def test_the_aiogram_routing_code_bot_routing_copies_is_unchanged() -> None:
    changed = [
        function.__qualname__
        for function, expected in COPIED.items()
        if _fingerprint(function) != expected
    ]
    assert not changed, (
        f"aiogram {aiogram.__version__} changed {changed}, which bot/routing.py copies "
        f"(written against {WRITTEN_AGAINST}): compare and mend it, then update COPIED"
    )


def test_the_private_attributes_routing_reads_are_there() -> None:
    router = Router()
    observer = router.message
    where = (
        f"aiogram {aiogram.__version__}; bot/routing.py was written against {WRITTEN_AGAINST}"
    )
    assert isinstance(getattr(observer, "_handler", None), HandlerObject), (
        f"TelegramEventObserver._handler (a router's own filters) is gone: {where}"
    )
    observer.register(lambda message: None)
    handler = observer.handlers[-1]
    for name in ("filters", "awaitable", "callback", "params", "varkw", "call"):
        assert hasattr(handler, name), f"HandlerObject.{name} is gone: {where}"

    class Pick(CallbackData, prefix="p"):
        id: int

    assert (Pick.__prefix__, Pick.__separator__) == ("p", ":"), (
        f"CallbackData's __prefix__/__separator__ changed: {where}"
    )
    assert hasattr(Command(commands=["x"]), "prefix"), f"Command.prefix is gone: {where}"


def test_the_session_methods_json_session_uses_are_there() -> None:
    """bot/telegram_session.py builds JSON bodies with aiogram's own session methods."""
    where = (
        f"aiogram {aiogram.__version__}; telegram_session.py was written against {WRITTEN_AGAINST}"
    )
    session = AiohttpSession()
    for name in ("prepare_value", "check_response", "json_dumps", "create_session", "make_request"):
        assert callable(getattr(session, name, None)), f"AiohttpSession.{name} is gone: {where}"
    parameters = inspect.signature(AiohttpSession.prepare_value).parameters
    assert {"value", "bot", "files", "_dumps_json"} <= set(parameters), (
        f"BaseSession.prepare_value(value, bot, files, _dumps_json) changed: {where}"
    )
    assert callable(getattr(TelegramAPIServer.from_base("http://x"), "api_url", None)), where


def test_the_aiosqlite_insides_the_sqlite_driver_uses_are_unchanged() -> None:
    """db/sqlite_driver.py subclasses aiosqlite's Connection and uses its private `_conn`,
    `_execute` and `_thread` (aiosqlite 0.20 and 0.21 had no `_thread`)."""
    import aiosqlite
    from aiosqlite import Connection

    fingerprints = {
        Connection._execute: "11f83d6bbbe803e3",
        Connection.commit: "fa99995cce2dbf9f",
        Connection.rollback: "a6ed744fadb2eff3",
        Connection.close: "8ba49d8e608d032e",
        Connection.__init__: "3aed416ac99323f1",
    }
    changed = [
        f.__qualname__ for f, expected in fingerprints.items() if _fingerprint(f) != expected
    ]
    assert not changed, (
        f"aiosqlite {aiosqlite.__version__} changed {changed}, which db/sqlite_driver.py relies "
        "on (written against aiosqlite 0.22.1): compare and mend it, then update the fingerprints"
    )
