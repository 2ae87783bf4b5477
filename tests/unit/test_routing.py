"""Our Router takes the same way through routers as aiogram's, only cheaper."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram import Router as AiogramRouter
from aiogram.dispatcher.event.bases import REJECTED, UNHANDLED, SkipHandler
from aiogram.filters import Command, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message, Update

from bot.routing import EVENT_TYPES, Router, _refuses
from bot.routing import Dispatcher as OurDispatcher

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def _update(text: str, chat_type: str = "private") -> Update:
    return Update.model_validate(
        {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 5, "type": chat_type},
                "from": {"id": 5, "is_bot": False, "first_name": "A"},
                "text": text,
            },
        }
    )


def _tree(kind: type[AiogramRouter], trace: list[str]) -> Dispatcher:
    """private (root filter) → [commands (inner middleware), rejecting, guarded (outer
    middleware) → nested, rest (a handler that skips, then a catch-all)]; in aiogram's
    Dispatcher, or in ours with our routers."""

    def handler(name: str) -> Any:
        async def handle(message: Message, event_router: AiogramRouter, **data: Any) -> str:
            trace.append(f"{name}@{event_router.name}:{data.get('word', '-')}:{data.get('root')}")
            return name

        return handle

    async def says(message: Message) -> dict[str, str] | bool:
        words = (message.text or "").split()
        return {"word": words[1]} if len(words) > 1 and words[0] == "say" else False

    async def rejecting(message: Message) -> Any:
        trace.append("rejected")
        return REJECTED

    async def outer(handler: Any, event: Any, data: dict[str, Any]) -> Any:
        trace.append("outer")
        data["word"] = "from-middleware"
        return await handler(event, data)

    async def inner(handler: Any, event: Any, data: dict[str, Any]) -> Any:
        trace.append(f"inner:{data['handler'].callback.__name__}")
        return await handler(event, data)

    async def skipping(message: Message) -> None:
        trace.append("skipped")
        raise SkipHandler

    private = kind(name="private")
    private.message.filter(F.chat.type == "private")

    async def marks(message: Message) -> dict[str, str]:
        return {"root": "commands"}  # a router filter's data reaches the router's handlers

    commands = kind(name="commands")
    commands.message.filter(marks)
    commands.message.middleware(inner)
    commands.message.register(handler("help"), F.text == "/help")
    commands.message.register(handler("say"), says)
    refusing = kind(name="refusing")
    refusing.message.register(rejecting, F.text == "reject")
    guarded = kind(name="guarded")
    guarded.message.outer_middleware(outer)
    guarded.message.register(handler("guarded"), F.text == "guarded")
    nested = kind(name="nested")
    nested.message.register(handler("nested"), F.text == "deep")
    guarded.include_router(nested)
    rest = kind(name="rest")
    rest.message.register(skipping, F.text == "skip")
    rest.message.register(handler("rest"))
    private.include_routers(commands, refusing, guarded, rest)
    dispatcher = OurDispatcher() if kind is Router else Dispatcher()
    dispatcher.include_router(private)
    return dispatcher


@pytest.mark.parametrize(
    ("text", "chat_type"),
    [
        ("/help", "private"),
        ("say hello", "private"),
        ("reject", "private"),
        ("guarded", "private"),
        ("deep", "private"),
        ("anything", "private"),
        ("skip", "private"),
        ("/help", "group"),
    ],
)
async def test_same_handler_same_data_as_aiogram(text: str, chat_type: str) -> None:
    results = []
    async with Bot(TOKEN) as bot:
        for kind in (AiogramRouter, Router):
            trace: list[str] = []
            result = await _tree(kind, trace).feed_update(bot, _update(text, chat_type))
            results.append((result, trace))
    assert results[0] == results[1]
    if chat_type == "group":
        assert results[1][0] is UNHANDLED
    else:
        assert results[1][0] is not UNHANDLED


async def test_rejected_goes_on_to_the_next_router() -> None:
    trace: list[str] = []
    async with Bot(TOKEN) as bot:
        result = await _tree(Router, trace).feed_update(bot, _update("reject"))
    assert result == "rest"
    assert trace == ["rejected", "outer", "rest@rest:-:None"]


async def test_every_router_of_the_bot_is_ours() -> None:
    from handlers import setup_routers

    dispatcher = Dispatcher()
    setup_routers(dispatcher)
    routers = [r for top in dispatcher.sub_routers for r in top.chain_tail]
    assert len(routers) > 10
    assert all(isinstance(r, Router) for r in routers)

    stray = Dispatcher()
    stray.include_router(AiogramRouter(name="stray"))
    with pytest.raises(TypeError, match="stray"):
        setup_routers(stray)


def test_dispatcher_tells_the_kind_of_update_in_aiograms_order() -> None:
    """Our Dispatcher reads the first event field that is set, in `EVENT_TYPES` order: the
    same kind aiogram's `Update.event_type` names, for every kind and whatever follows it."""
    for first, name in enumerate(EVENT_TYPES):
        fields = {later: f"{later} event" for later in EVENT_TYPES[first:]}
        update = Update.model_construct(update_id=1, **fields)
        assert update.event_type == name
    assert {"message", "callback_query", "my_chat_member"} <= set(EVENT_TYPES)


@pytest.mark.parametrize("outer", [False, True])
async def test_dispatcher_routes_an_update_as_aiograms_does(outer: bool) -> None:
    """With or without an outer middleware on the dispatcher's own message observer (ours
    then hands the update to aiogram's way)."""
    trace: list[str] = []

    async def middleware(handler: Any, event: Any, data: dict[str, Any]) -> Any:
        trace.append(f"outer:{type(data['event_router']).__module__}")
        return await handler(event, data)

    for kind in (Dispatcher, OurDispatcher):
        dispatcher = kind()
        if outer:
            dispatcher.message.outer_middleware(middleware)
        router = Router()

        @router.message()
        async def seen(message: Message, event_update: Update, dispatcher: Dispatcher) -> str:
            trace.append(f"{type(dispatcher).__module__}:{message.text}:{event_update.update_id}")
            return "ok"

        dispatcher.include_router(router)
        assert await dispatcher.feed_update(Bot(TOKEN), _update("hello")) == "ok"
    expected = ["aiogram.dispatcher.dispatcher:hello:1", "bot.routing:hello:1"]
    if outer:
        expected = [
            "outer:aiogram.dispatcher.dispatcher",
            expected[0],
            "outer:bot.routing",
            expected[1],
        ]
    assert trace == expected


class _Pick(CallbackData, prefix="pick"):
    item: str
    size: int


def _press(data: str | None) -> CallbackQuery:
    return CallbackQuery.model_validate(
        {
            "id": "1",
            "from": {"id": 5, "is_bot": False, "first_name": "A"},
            "chat_instance": "1",
            "data": data,
        }
    )


def _message(text: str | None = None, caption: str | None = None) -> Message:
    return Message.model_validate(
        {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 5, "type": "private"},
            "text": text,
            "caption": caption,
        }
    )


async def test_a_filter_is_only_skipped_where_it_would_say_no() -> None:
    """`_refuses` never turns away what the filter itself would let through, and it does turn
    away another button's press and text that is no command."""
    filters: list[Any] = [
        _Pick.filter(),
        _Pick.filter(F.size > 2),
        Command("help"),
        Command("go", prefix="!/"),
        CommandStart(),
    ]
    events: list[Any] = [
        _press("pick:a:3"),
        _press("pick:a:1"),
        _press("pick:a"),  # too few parts
        _press("pick"),
        _press("picked:a:3"),
        _press("other:a:3"),
        _press(""),
        _press(None),
        _message("/help"),
        _message("  /help me"),
        _message("!go"),
        _message("/start zmp"),
        _message("help"),
        _message("   "),
        _message(caption="/help"),
        _message(),
    ]
    refused = set()
    async with Bot(TOKEN) as bot:
        for check in filters:
            for event in events:
                if _refuses(check, event):
                    refused.add((type(check).__name__, str(event.model_dump().get("data"))))
                    extra = {"bot": bot} if isinstance(check, Command) else {}
                    assert await check(event, **extra) is False, (check, event)
    assert ("CallbackQueryFilter", "other:a:3") in refused
    assert ("CallbackQueryFilter", "picked:a:3") in refused
    assert len(refused) >= 10
    # The text of a non-command does not reach the command filters' parsing.
    assert _refuses(Command("help"), _message("Wadowice"))
    assert not _refuses(Command("help"), _message("/help"))
    assert not _refuses(_Pick.filter(), _press("pick:a:1"))
