"""Build aiogram's pydantic models when they are first used, not all at import.

aiogram declares its ~400 Telegram types with `defer_build=True`, but `aiogram.types` then
calls `model_rebuild()` on every one of them at import, which builds a validator and a
serializer for each, nested types inlined again in every type that holds them. That is about
105 MB of the bot's resident memory (aiogram 3.31, pydantic 2.13) and 2–4 s of start-up, for
a bot that receives a handful of update kinds and calls a dozen methods.

`install()`, called before anything imports aiogram, keeps that import-time loop from
building: it records the namespace aiogram passes (every type by name, which the types'
postponed annotations need), and later builds a model with it when pydantic first asks (its
own deferred-build path: the first validation or serialisation). `warm_up()` builds the
models every update and every send needs at start-up, so no update waits for a build.

Only aiogram's classes are touched, and only how and when their schemas are built: the
validators are the same ones aiogram would have built.

Why it stays (issue 20): it is the one reach into a library's insides that pays for a target.
Measured on the project's two-core machine (aiogram 3.31, pydantic 2.13): importing the bot
peaks at 199 MB resident with aiogram's eager build and 107 MB with this, and a broadcast to
100,000 people peaks ~130 MB, so without it the bot is over the 150 MB target before its first
update. It relies on pydantic's `BaseModel.model_rebuild` taking the private keywords
`_parent_namespace_depth` and `_types_namespace`, and on `aiogram.types` calling it from its own
module with the types' namespace; `tests/unit/test_lean_aiogram.py` checks both shapes and
that every aiogram type and every method's `Response[...]` still builds, and names the
pydantic and aiogram versions when they do not.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel

_state: dict[str, Any] = {"installed": False, "namespace": None}
# Response[X] for each X a Bot API call has returned. aiogram parametrises its generic Response
# on every call, and pydantic caches a parametrised class only weakly; a class always sits in
# a reference cycle, so each run of the cyclic collector dropped it and the next call built
# its validator again (about 5 ms for getUpdates or sendMessage). Held here, they stay built.
_responses: dict[Any, type[BaseModel]] = {}


def install() -> bool:
    """Defer aiogram's model building. False when aiogram was imported already (too late)."""
    if _state["installed"]:
        return True
    if "aiogram" in sys.modules:
        return False
    original = BaseModel.model_rebuild.__func__  # type: ignore[attr-defined]

    def model_rebuild(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        if cls.__module__.startswith("aiogram."):
            caller = sys._getframe(1).f_globals.get("__name__")
            if caller == "aiogram.types" and _types_namespace is not None and not force:
                _state["namespace"] = _types_namespace  # the import-time loop: build later
                return None
            if _types_namespace is None:
                _types_namespace = _state["namespace"]
        return original(
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth + 1,
            _types_namespace=_types_namespace,
        )

    BaseModel.model_rebuild = classmethod(model_rebuild)  # type: ignore[method-assign,assignment]
    _state["installed"] = True
    return True


def warm_up() -> None:
    """Build what every update and every send uses, before the first update arrives."""
    from aiogram import methods, types

    for model in (
        types.Update,
        types.Message,
        types.CallbackQuery,
        types.ChatMemberUpdated,
        types.InlineKeyboardMarkup,
        types.ReplyKeyboardMarkup,
        types.ReplyKeyboardRemove,
        types.InputFile,
        types.BotCommand,
        types.User,
    ):
        _build(model)
    for method in (
        methods.SendMessage,
        methods.EditMessageText,
        methods.EditMessageReplyMarkup,
        methods.AnswerCallbackQuery,
        methods.SendDocument,
        methods.SendPhoto,
        methods.GetUpdates,
        methods.GetMe,
        methods.SetMyCommands,
        methods.DeleteWebhook,
    ):
        _build(method)
        _build(response_type(method.__returning__))


def response_type(returning: Any) -> type[BaseModel]:
    """aiogram's `Response[returning]`, built once and kept for the life of the process."""
    model = _responses.get(returning)
    if model is None:
        from aiogram.methods.base import Response

        model = _responses[returning] = Response[returning]
        # Built here, with aiogram's namespace: pydantic 2.14 no longer completes a
        # parametrised class on first use through `model_rebuild`.
        _build(model)
    return model


def _build(model: Any) -> None:
    if isinstance(model, type) and issubclass(model, BaseModel) and not model.__pydantic_complete__:
        model.model_rebuild()
