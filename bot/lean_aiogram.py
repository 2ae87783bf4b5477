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
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel
from pydantic._internal import _model_construction

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

    one_step_post_init()

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
    return model


def one_step_post_init() -> int:
    """Give each aiogram object its bot in one step instead of pydantic's chain of wrappers.

    Every aiogram object holds its bot in a private attribute, set by `model_post_init` from
    the validation context. Because the attribute is private, pydantic wraps `model_post_init`
    again in every subclass, and each wrapper first sets up the private attributes: an object
    four classes below the base runs that set-up four times, each resolving the attribute's
    default. For a button press (an update holding the card's keyboard: ~16 objects) that was
    60% of parsing the update. The one step leaves the object exactly as the chain did
    (`__pydantic_private__ == {"_bot": bot}`). A class whose chain is anything else (its own
    `model_post_init`, another private attribute) keeps it. Returns how many classes changed.
    """
    from aiogram import methods, types  # noqa: F401 (every class there, before we look)
    from aiogram.client.context_controller import BotContextController

    base = BotContextController.__dict__["model_post_init"]
    changed = 0
    pending = list(BotContextController.__subclasses__())
    seen: set[type] = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        if set(cls.__private_attributes__) != {"_bot"} or not _wraps_only(
            cls.model_post_init, base
        ):
            continue
        cls.model_post_init = _bot_from_context  # type: ignore[method-assign,assignment]
        changed += 1
    return changed


def _wraps_only(function: Any, base: Any) -> bool:
    """`function` is `base`, or pydantic's wrappers around it and nothing else."""
    while function is not base:
        code = getattr(function, "__code__", None)
        if (
            code is None
            or code.co_name != "wrapped_model_post_init"
            or code.co_filename != _model_construction.__file__
        ):
            return False
        function = function.__wrapped__
    return True


def _bot_from_context(self: BaseModel, context: Any, /) -> None:
    bot = context.get("bot") if context else None
    private = getattr(self, "__pydantic_private__", None)
    if private is None:
        object.__setattr__(self, "__pydantic_private__", {"_bot": bot})
    else:
        private["_bot"] = bot


def _build(model: Any) -> None:
    if isinstance(model, type) and issubclass(model, BaseModel) and not model.__pydantic_complete__:
        model.model_rebuild()
