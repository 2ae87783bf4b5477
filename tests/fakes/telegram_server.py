"""An in-process fake of the Telegram Bot API, for end-to-end tests of the bot.

Why a fake server rather than mocking aiogram: the bot talks to it through aiogram's real HTTP
session (multipart bodies, JSON-encoded nested objects, error classification into
``TelegramBadRequest``/``TelegramRetryAfter``/...), so tests exercise exactly the code paths that
run in production, including the ones that only show up when Telegram says "no": limits, HTML
that Telegram refuses to parse, flood control, blocked users, lost connections.

The fake answers in Telegram's own shapes (``{"ok": true, "result": ...}`` and
``{"ok": false, "error_code": ..., "description": ...}``) and with Telegram's description
strings, keeps what every chat currently shows (edits and deletions applied) and records every
call, so tests can assert on what a user would actually see.

Usage::

    async with FakeTelegram() as tg:
        bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
        ...
        await tg.deliver({"message": {...}})  # returns once the bot has processed it
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import itertools
import json
import math
import mimetypes
import random
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Self

from aiohttp import (
    BodyPartReader,
    ClientError,
    ClientResponse,
    ClientSession,
    ClientTimeout,
    MultipartReader,
    web,
)

__all__ = [
    "ApiError",
    "Call",
    "CallbackAnswer",
    "EntityParseError",
    "FakeTelegram",
    "FileData",
    "SentMessage",
    "WebhookDelivery",
    "keyboard_labels",
    "parse_html",
]

TEXT_LIMIT = 4096
"""Maximum message text length, counted after entity parsing (Telegram's documented limit)."""
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
"""callback_data is limited to 1-64 *bytes* (UTF-8), a classic source of production-only bugs."""

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
CHAT_NOT_FOUND = "Bad Request: chat not found"
BLOCKED = "Forbidden: bot was blocked by the user"
CANT_INITIATE = "Forbidden: bot can't initiate conversation with a user"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLLING_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

_METHOD_NAMES = (
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "sendDocument",
    "sendPhoto",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "setChatMenuButton",
    "getChatMenuButton",
    "sendChatAction",
    "copyMessage",
)
# Telegram method names are case-insensitive.
_METHODS = {name.lower(): name for name in _METHOD_NAMES}

SEND_METHODS = frozenset({"sendMessage", "sendDocument", "sendPhoto", "copyMessage"})
"""Methods that create a message: these are what flood control and fault rates apply to."""
EDIT_METHODS = frozenset({"editMessageText", "editMessageReplyMarkup"})
_BLOCKABLE_METHODS = SEND_METHODS | EDIT_METHODS | {"sendChatAction"}

_INT_PARAMS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "max_connections",
        "message_thread_id",
        "reply_to_message_id",
        "user_id",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "show_alert",
        "disable_notification",
        "protect_content",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "has_spoiler",
        "disable_content_type_detection",
        "show_caption_above_media",
        "allow_paid_broadcast",
    }
)
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "menu_button",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
    }
)
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_FILE_PARAMS = ("document", "photo", "thumbnail", "certificate")

_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
# What Telegram delivers when allowed_updates is empty or was never given.
_DEFAULT_UPDATE_TYPES = frozenset(_UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
_MESSAGE_UPDATE_KEYS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_TOKEN_RE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"RIFF", b"BM")


# --------------------------------------------------------------------------------------------
# Records and views
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileData:
    """A file the bot sent: uploaded bytes, or a reference (file_id / URL) with no bytes."""

    file_id: str
    file_unique_id: str
    filename: str | None
    content: bytes | None
    mime_type: str | None

    @property
    def size(self) -> int | None:
        return None if self.content is None else len(self.content)


@dataclass
class Call:
    """One API call as the fake received it.

    ``params`` are decoded the way Telegram decodes them (numbers as ``int``, JSON fields as
    objects, uploads as :class:`FileData`), with the text exactly as the bot sent it (raw HTML).
    ``response_status`` is 0 when the connection was dropped before an answer.
    ``fault`` names the injected reason for a failure (``"injected"``, ``"blocked"``,
    ``"rate_limit"``, ``"random_flood"``, ``"random_blocked"``, ``"dropped"``,
    ``"dropped_after_processing"``), or is None when the answer is the fake's honest verdict.
    """

    method: str
    params: dict[str, Any]
    chat_id: int | str | None
    time: float
    response_status: int
    response: dict[str, Any] | None = None
    fault: str | None = None
    source: str = "http"

    @property
    def ok(self) -> bool:
        return self.response_status == 200

    @property
    def description(self) -> str | None:
        return None if self.response is None else self.response.get("description")


@dataclass
class SentMessage:
    """A message the bot sent, as the chat currently shows it.

    ``text`` is what the user sees (HTML already turned into plain text plus ``entities``; the
    caption for media messages); ``html`` is the text exactly as the bot sent it.
    """

    message_id: int
    chat_id: int
    date: int
    text: str
    html: str | None
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    kind: str = "text"
    media: dict[str, Any] = field(default_factory=dict)
    file: FileData | None = None
    edited: bool = False
    edit_date: int | None = None
    deleted: bool = False

    @property
    def buttons(self) -> list[list[str]]:
        """Labels of the attached keyboard (inline or reply), row by row."""
        return keyboard_labels(self.reply_markup)

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        if self.reply_markup is None:
            return []
        return list(self.reply_markup.get("inline_keyboard") or [])

    @property
    def callback_data(self) -> list[list[str | None]]:
        """callback_data of the inline buttons, row by row (None for non-callback buttons)."""
        return [[button.get("callback_data") for button in row] for row in self.inline_keyboard]


@dataclass(frozen=True)
class CallbackAnswer:
    """An answerCallbackQuery the bot made, linked back to the user who pressed the button."""

    query_id: str
    user_id: int | None
    chat_id: int | None
    message_id: int | None
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): what `copy.deepcopy` does for
    it, several times faster (no memo, no dispatch on type), so the fake's own work stays
    small next to the bot's when both run in one process (the benchmarks)."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(json_copy(item) for item in value)
    return value


def keyboard_labels(markup: Mapping[str, Any] | None) -> list[list[str]]:
    """Visible button labels of an inline or reply keyboard, row by row."""
    if not markup:
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    return [
        [button if isinstance(button, str) else str(button.get("text", "")) for button in row]
        for row in rows
    ]


# --------------------------------------------------------------------------------------------
# Telegram's HTML parse mode
# --------------------------------------------------------------------------------------------


class EntityParseError(ValueError):
    """The HTML is not something Telegram would accept; the message is Telegram's wording."""


_TAG_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,8})|#[xX]([0-9a-fA-F]{1,7}));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    start: int
    byte_offset: int


def _decode_html_entity(source: str, pos: int) -> tuple[str, int] | None:
    """Decode ``&lt;``-style or numeric entity at pos; None means a literal ampersand."""
    match = _HTML_ENTITY_RE.match(source, pos)
    if match is None:
        return None
    named, decimal, hexadecimal = match.groups()
    if named:
        return _NAMED_ENTITIES[named], match.end()
    code = int(decimal) if decimal else int(hexadecimal, 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or code == 0:
        return None
    return chr(code), match.end()


def _decode_attribute(value: str) -> str:
    out: list[str] = []
    pos = 0
    while pos < len(value):
        decoded = _decode_html_entity(value, pos) if value[pos] == "&" else None
        if decoded is None:
            out.append(value[pos])
            pos += 1
        else:
            out.append(decoded[0])
            pos = decoded[1]
    return "".join(out)


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """`_parse_html`, remembering the answers for recent sources (a bot sends the same card
    text to many people); the caller gets its own copy of the entities."""
    text, entities = _parse_html(source)
    return text, json_copy(entities)


@functools.lru_cache(maxsize=2048)
def _parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Turn Telegram-flavoured HTML into (plain text, entities), or raise EntityParseError.

    Mirrors the behaviour of Telegram's parser: only the supported tags, ``&lt; &gt; &amp;
    &quot;`` and numeric character references are understood (any other ``&`` is literal), a
    stray ``<`` is an error, and errors name UTF-8 byte offsets.
    """

    def byte_offset(pos: int) -> int:
        return len(source[:pos].encode("utf-8"))

    out: list[str] = []
    position = 0  # UTF-16 offset in the output
    entities: list[dict[str, Any]] = []
    stack: list[_OpenTag] = []
    i, n = 0, len(source)

    def emit(chunk: str) -> None:
        nonlocal position
        out.append(chunk)
        position += utf16_len(chunk)

    while i < n:
        char = source[i]
        if char == "&":
            decoded = _decode_html_entity(source, i)
            if decoded is None:
                emit("&")
                i += 1
            else:
                emit(decoded[0])
                i = decoded[1]
            continue
        if char != "<":
            nxt = min((p for p in (source.find("<", i), source.find("&", i)) if p != -1), default=n)
            emit(source[i:nxt])
            i = nxt
            continue

        begin = i
        i += 1
        if i < n and source[i] == "/":
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            j = i + 1
            while j < n and not source[j].isspace() and source[j] != ">":
                j += 1
            end_name = source[i + 1 : j].lower()
            while j < n and source[j].isspace():
                j += 1
            if j >= n or source[j] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            tag = stack[-1]
            if end_name and end_name != tag.name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{tag.name}>", found "</{end_name}>"'
                )
            stack.pop()
            _close_tag(tag, position, stack, entities)
            i = j + 1
            continue

        j = i
        while j < n and not source[j].isspace() and source[j] != ">":
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        name = source[i:j].lower()
        if name not in _TAG_ENTITY_TYPES:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {byte_offset(begin)}'
            )
        attrs, j = _parse_attributes(source, j, name, byte_offset(begin))
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            )
        stack.append(_OpenTag(name, attrs, position, byte_offset(begin)))
        i = j + 1

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _parse_attributes(
    source: str, pos: int, tag_name: str, tag_offset: int
) -> tuple[dict[str, str], int]:
    """Read attributes up to the closing ``>``; returns them and the position of ``>``."""
    attrs: dict[str, str] = {}
    n = len(source)
    unclosed = EntityParseError(f"Unclosed start tag at byte offset {tag_offset}")
    while True:
        while pos < n and source[pos].isspace():
            pos += 1
        if pos >= n:
            raise unclosed
        if source[pos] == ">":
            return attrs, pos
        start = pos
        while pos < n and not source[pos].isspace() and source[pos] not in "=>":
            pos += 1
        attr_name = source[start:pos].lower()
        if not attr_name:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag_name}" at byte offset {tag_offset}'
            )
        while pos < n and source[pos].isspace():
            pos += 1
        if pos >= n:
            raise unclosed
        if source[pos] != "=":
            attrs[attr_name] = ""  # a bare attribute such as <blockquote expandable>
            continue
        pos += 1
        while pos < n and source[pos].isspace():
            pos += 1
        if pos >= n:
            raise unclosed
        if source[pos] in "\"'":
            quote = source[pos]
            end = source.find(quote, pos + 1)
            if end == -1:
                raise unclosed
            value = source[pos + 1 : end]
            pos = end + 1
        else:
            start = pos
            while pos < n and not source[pos].isspace() and source[pos] != ">":
                pos += 1
            value = source[start:pos]
        attrs[attr_name] = _decode_attribute(value)


def _close_tag(
    tag: _OpenTag, position: int, stack: list[_OpenTag], entities: list[dict[str, Any]]
) -> None:
    length = position - tag.start
    if tag.name == "code" and stack and stack[-1].name == "pre":
        # <pre><code class="language-x"> is one pre entity with a language.
        language = tag.attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1].attrs["language"] = language.removeprefix("language-")
        return
    if length <= 0:
        return
    entity: dict[str, Any] = {"type": _TAG_ENTITY_TYPES[tag.name], "offset": tag.start}
    entity["length"] = length
    if tag.name == "a":
        if not tag.attrs.get("href"):
            return
        entity["url"] = tag.attrs["href"]
    elif tag.name == "pre" and tag.attrs.get("language"):
        entity["language"] = tag.attrs["language"]
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "tg-emoji":
        if not tag.attrs.get("emoji-id"):
            return
        entity["custom_emoji_id"] = tag.attrs["emoji-id"]
    entities.append(entity)


def _strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace the way Telegram does, keeping entities aligned."""
    stripped = text.strip()
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    adjusted: list[dict[str, Any]] = []
    for entity in entities:
        start = max(0, int(entity["offset"]) - lead)
        end = min(total, int(entity["offset"]) + int(entity["length"]) - lead)
        if end > start:
            adjusted.append({**entity, "offset": start, "length": end - start})
    return stripped, adjusted


# --------------------------------------------------------------------------------------------
# Internal state
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """A Telegram error answer: raised inside method handlers, turned into the JSON reply."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class _ChatState:
    chat: dict[str, Any]
    started: bool = True
    blocked: bool = False
    sent: dict[int, SentMessage] = field(default_factory=dict)
    incoming: dict[int, dict[str, Any]] = field(default_factory=dict)
    reply_keyboard: dict[str, Any] | None = None
    reply_keyboard_message_id: int | None = None
    menu_button: dict[str, Any] | None = None


@dataclass
class _Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | str | None


@dataclass
class _Drop:
    remaining: int
    after_processing: bool


@dataclass
class _PendingUpdate:
    update_id: int
    payload: dict[str, Any]
    done: asyncio.Future[str | None]
    """Resolves to None once acknowledged, or to a reason string when it was dropped."""


@dataclass
class _Webhook:
    url: str = ""
    secret_token: str | None = None
    max_connections: int | None = None
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass(frozen=True)
class WebhookDelivery:
    update_id: int
    status: int
    time: float


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class FakeTelegram:
    """A Telegram Bot API look-alike on 127.0.0.1 with a random port.

    Chats become known the way they do in Telegram: when an update from them is delivered (or
    explicitly through :meth:`register_chat`); sending to any other chat id is
    ``400 chat not found``, unless ``known_chats_only=False`` (handy for broadcast benchmarks).
    One server stands for one bot: the bot id is taken from the token of the calls.
    """

    def __init__(
        self,
        *,
        bot_username: str = "win4ua_test_bot",
        bot_first_name: str = "WIN4UA test bot",
        known_chats_only: bool = True,
        first_update_id: int = 100_000_001,
    ) -> None:
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.known_chats_only = known_chats_only
        self.flood_errors = 0
        """How many 429 answers were given (rate limiter, random floods and injected ones)."""
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.filtered_updates: list[dict[str, Any]] = []
        """Updates never queued because the bot's allowed_updates excluded their type."""

        self._bot_id: int | None = None
        self._token: str | None = None
        self._calls: list[Call] = []
        self._chats: dict[int, _ChatState] = {}
        self._message_ids: dict[int, int] = {}
        self._callback_queries: dict[str, dict[str, Any]] = {}
        self._answers: list[CallbackAnswer] = []
        self._files: dict[str, FileData] = {}
        self._file_counter = itertools.count(1)
        self._query_counter = itertools.count(4_000_000_000_000_000_001)
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._default_menu_button: dict[str, Any] | None = None

        self._next_update_id = first_update_id
        self._pending: list[_PendingUpdate] = []
        self._allowed_updates: frozenset[str] = _DEFAULT_UPDATE_TYPES
        self._poll_generation = 0
        self._updates_event = asyncio.Event()
        self._webhook = _Webhook()
        self._webhook_allowed: frozenset[str] = _DEFAULT_UPDATE_TYPES

        self._faults: list[_Fault] = []
        self._delays: dict[str, float] = {}
        self._drops: dict[str, _Drop] = {}
        self._global_limit: float | None = None
        self._chat_limit: float | None = None
        self._global_window: deque[float] = deque()
        self._chat_windows: dict[int | str, deque[float]] = {}
        self._flood_rate = 0.0
        self._blocked_rate = 0.0
        self._fault_seed: int | str = 0
        self._fault_rng = random.Random(0)

        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._closing = asyncio.Event()
        self.base_url = ""

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen on a free port; ``base_url`` is valid afterwards."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_http)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # Long polls are woken on stop(), so a short shutdown timeout is plenty.
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self._client = ClientSession()
        self._closing.clear()

    async def stop(self) -> None:
        """Wake pending long polls, stop listening and fail any deliver() still waiting."""
        self._closing.set()
        self._notify_pollers()
        for entry in self._pending:
            if not entry.done.done():
                entry.done.set_result("the fake Telegram server was stopped")
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` (``"*"`` = any) with this error.

        A 429 without ``retry_after`` gets ``retry_after=1``, as Telegram always sends one.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(status, "Error")
        name = "*" if method == "*" else _METHODS.get(method.lower(), method)
        self._faults.append(_Fault(name, status, description, retry_after, count, chat_id))

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every send or edit to that chat is 403."""
        self._chat(chat_id, create=True).blocked = True

    def unblock(self, chat_id: int) -> None:
        self._chat(chat_id, create=True).blocked = False

    def set_delay(self, method: str, seconds: float) -> None:
        """Answer ``method`` (``"*"`` = every method) only after ``seconds``; 0 removes it."""
        name = "*" if method == "*" else _METHODS.get(method.lower(), method)
        if seconds > 0:
            self._delays[name] = seconds
        else:
            self._delays.pop(name, None)

    def drop_connections(
        self, method: str, count: int = 1, *, after_processing: bool = False
    ) -> None:
        """Close the connection of the next ``count`` calls of ``method`` without answering.

        With ``after_processing=True`` the call takes effect first (the message is sent) and only
        the answer is lost, which is how duplicate sends on retry happen in real life.
        """
        name = "*" if method == "*" else _METHODS.get(method.lower(), method)
        self._drops[name] = _Drop(count, after_processing)

    def set_rate_limit(
        self, global_per_s: float | None = None, per_chat_per_s: float | None = None
    ) -> None:
        """Flood control over sends: 429 with retry_after beyond N per sliding second."""
        self._global_limit = global_per_s
        self._chat_limit = per_chat_per_s
        self._global_window.clear()
        self._chat_windows.clear()

    def set_fault_rates(
        self, flood: float = 0.0, blocked: float = 0.0, seed: int | str | None = None
    ) -> None:
        """Probabilistic faults for benchmarks.

        A ``blocked`` share of chat ids (chosen deterministically from ``seed`` and the chat id,
        so a chat stays blocked) gets 403 on every send; a ``flood`` share of sends gets
        429 retry_after=1 at random.
        """
        self._flood_rate = flood
        self._blocked_rate = blocked
        self._fault_seed = seed if seed is not None else random.randrange(2**32)
        self._fault_rng = random.Random(self._fault_seed)

    def is_randomly_blocked(self, chat_id: int | str) -> bool:
        """Whether ``set_fault_rates(blocked=...)`` made this chat a blocked one."""
        if self._blocked_rate <= 0:
            return False
        return random.Random(f"{self._fault_seed}:{chat_id}").random() < self._blocked_rate

    # ---------------------------------------------------------------- inspection

    @property
    def bot_id(self) -> int | None:
        """The bot's user id (the numeric part of the token), once the bot made a call."""
        return self._bot_id

    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self._bot_id or 0,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def calls(self, method: str | None = None, chat_id: int | str | None = None) -> list[Call]:
        """Recorded calls, oldest first; getUpdates polls only when asked for by name."""
        name = _METHODS.get(method.lower(), method) if method else None
        return [
            call
            for call in self._calls
            if (call.method == name if name else call.method != "getUpdates")
            and (chat_id is None or call.chat_id == chat_id)
        ]

    def sent_messages(self, chat_id: int) -> list[SentMessage]:
        """What the chat currently shows from the bot, oldest first (edits applied)."""
        state = self._chats.get(chat_id)
        if state is None:
            return []
        return [replace(m) for m in state.sent.values() if not m.deleted]

    def last_sent(self, chat_id: int, *, inline_keyboard: bool = False) -> SentMessage | None:
        """The newest message the chat shows from the bot (with an inline keyboard, if asked):
        `sent_messages(chat_id)[-1]` without copying the whole chat."""
        state = self._chats.get(chat_id)
        if state is not None:
            for message in reversed(state.sent.values()):
                if not message.deleted and (message.inline_keyboard or not inline_keyboard):
                    return replace(message)
        return None

    def history(self, chat_id: int) -> list[SentMessage]:
        """Every message the bot sent to the chat, deleted ones included."""
        state = self._chats.get(chat_id)
        return [] if state is None else [replace(m) for m in state.sent.values()]

    def callback_answers(self, user_id: int | None = None) -> list[CallbackAnswer]:
        return [a for a in self._answers if user_id is None or a.user_id == user_id]

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The reply keyboard the chat currently shows under the input field, if any."""
        state = self._chats.get(chat_id)
        return None if state is None else copy.deepcopy(state.reply_keyboard)

    def reply_keyboard_message_id(self, chat_id: int) -> int | None:
        state = self._chats.get(chat_id)
        return None if state is None else state.reply_keyboard_message_id

    def hide_reply_keyboard(self, chat_id: int) -> None:
        """What a client does after a press on a one_time_keyboard."""
        state = self._chats.get(chat_id)
        if state is not None:
            state.reply_keyboard = None
            state.reply_keyboard_message_id = None

    def commands(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        return copy.deepcopy(self._commands.get((_scope_key(scope), language_code or ""), []))

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any] | None:
        if chat_id is None:
            return self._default_menu_button
        state = self._chats.get(chat_id)
        return None if state is None else state.menu_button

    @property
    def webhook_url(self) -> str:
        return self._webhook.url

    @property
    def pending_update_count(self) -> int:
        return len(self._pending)

    def clear(self) -> None:
        """Forget recorded calls, sent messages, answers and counters (chats stay known)."""
        self._calls.clear()
        self._answers.clear()
        self.webhook_deliveries.clear()
        self.filtered_updates.clear()
        self.flood_errors = 0
        for state in self._chats.values():
            state.sent.clear()
            state.incoming.clear()
            state.reply_keyboard = None
            state.reply_keyboard_message_id = None

    # ---------------------------------------------------------------- chats and ids

    def register_chat(
        self,
        chat_id: int,
        *,
        chat_type: str = "private",
        first_name: str | None = None,
        title: str | None = None,
        username: str | None = None,
        started: bool = True,
    ) -> None:
        """Make a chat known, e.g. a user who pressed Start long ago.

        ``started=False`` is a user who never opened the bot: sends are 403
        "bot can't initiate conversation with a user".
        """
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name or f"User {chat_id}"
        else:
            chat["title"] = title or f"Chat {chat_id}"
        if username:
            chat["username"] = username
        state = self._chat(chat_id, create=True)
        state.chat = chat
        state.started = started

    def new_message_id(self, chat_id: int) -> int:
        """Next message id in a chat; users and the bot share one sequence, as in Telegram."""
        value = self._message_ids.get(chat_id, 0) + 1
        self._message_ids[chat_id] = value
        return value

    def new_callback_query_id(self) -> str:
        return str(next(self._query_counter))

    def new_file_id(self, kind: str = "document") -> tuple[str, str]:
        """A (file_id, file_unique_id) pair shaped like Telegram's."""
        number = next(self._file_counter)
        prefix = {"photo": "AgAC", "sticker": "CAAC", "voice": "AwAC"}.get(kind, "BQAC")
        return f"{prefix}AgIAAxkBAAI{number:08d}", f"AQAD{number:08d}"

    def render_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The Message object Telegram would show for this id (bot's or user's), if present."""
        state = self._chats.get(chat_id)
        if state is None:
            return None
        sent = state.sent.get(message_id)
        if sent is not None and not sent.deleted:
            return self._render(sent)
        incoming = state.incoming.get(message_id)
        return json_copy(incoming) if incoming is not None else None

    def chat_object(self, chat_id: int) -> dict[str, Any] | None:
        state = self._chats.get(chat_id)
        return None if state is None else dict(state.chat)

    def _chat(self, chat_id: int, *, create: bool = False) -> _ChatState:
        state = self._chats.get(chat_id)
        if state is None:
            if not create:
                raise ApiError(400, CHAT_NOT_FOUND)
            kind = "private" if chat_id > 0 else "group"
            name_key = "first_name" if kind == "private" else "title"
            state = _ChatState(chat={"id": chat_id, "type": kind, name_key: f"Chat {chat_id}"})
            self._chats[chat_id] = state
        return state

    # ---------------------------------------------------------------- driving updates

    @property
    def next_update_id(self) -> int:
        """The update_id the next delivered update will get (when it brings none itself)."""
        return self._next_update_id

    async def deliver(
        self,
        update: Mapping[str, Any],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - the error must name the update that hung
        wait: bool = True,
    ) -> int:
        """Hand an update to the bot, the way Telegram would, and wait until it is processed.

        With a webhook set, POSTs it and returns the webhook's HTTP status (a method in the
        webhook's answer is executed, like Telegram does). Otherwise queues it for getUpdates and
        returns 200 once the bot confirmed it (a later getUpdates with a greater offset); with
        ``handle_as_tasks=False`` polling that means the handler has finished. An update whose
        type the bot's ``allowed_updates`` excludes is never queued, as in Telegram: it is kept in
        ``filtered_updates`` and 200 is returned at once. ``wait=False`` only queues it.
        """
        if self._runner is None:
            raise RuntimeError("FakeTelegram is not started")
        payload = self._prepare_update(update)
        if self._webhook.url:
            return await self._post_webhook(payload, timeout)
        entry = self._enqueue(payload)
        if entry is None or not wait:
            return 200
        update_id = entry.update_id
        try:
            reason = await asyncio.wait_for(asyncio.shield(entry.done), timeout)
        except TimeoutError:
            raise AssertionError(
                f"update {update_id} was not processed within {timeout:g} s "
                f"(is the bot polling? last getUpdates: {self._last_poll_summary()})"
            ) from None
        if reason is not None:
            raise AssertionError(f"update {update_id} was not processed: {reason}")
        return 200

    def enqueue(self, update: Mapping[str, Any]) -> int:
        """Queue an update for getUpdates without waiting; returns its update_id."""
        payload = self._prepare_update(update)
        self._enqueue(payload)
        return int(payload["update_id"])

    async def drain(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - clear error
        """Wait until every queued update has been confirmed by the bot."""
        waiting = [entry.done for entry in self._pending]
        if not waiting:
            return
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.gather(*waiting)), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{len(self._pending)} updates were not processed within {timeout:g} s"
            ) from None

    def prepare(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """An update as `deliver` would hand it over (its id given, its callback query known),
        for a test that feeds it to a dispatcher itself (several instances at once)."""
        return self._prepare_update(update)

    def _prepare_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        payload = copy.deepcopy(dict(update))
        if "update_id" in payload:
            self._next_update_id = max(self._next_update_id, int(payload["update_id"]) + 1)
        else:
            payload["update_id"] = self._next_update_id
            self._next_update_id += 1
        self._observe_update(payload)
        return payload

    def _enqueue(self, payload: dict[str, Any]) -> _PendingUpdate | None:
        kind = _update_type(payload)
        if kind not in self._allowed_updates:
            self.filtered_updates.append(payload)
            return None
        entry = _PendingUpdate(
            int(payload["update_id"]), payload, asyncio.get_running_loop().create_future()
        )
        self._pending.append(entry)
        self._notify_pollers()
        return entry

    def _observe_update(self, update: dict[str, Any]) -> None:
        """Learn chats, user messages and callback query ids from what users send."""
        for key in _MESSAGE_UPDATE_KEYS:
            message = update.get(key)
            if isinstance(message, dict):
                self._observe_message(message)
        query = update.get("callback_query")
        if isinstance(query, dict):
            message = query.get("message") or {}
            chat = message.get("chat") or {}
            self._callback_queries[str(query["id"])] = {
                "user_id": (query.get("from") or {}).get("id"),
                "chat_id": chat.get("id"),
                "message_id": message.get("message_id"),
                "answered": False,
            }

    def _observe_message(self, message: dict[str, Any]) -> None:
        chat = message.get("chat")
        if not isinstance(chat, dict) or "id" not in chat:
            return
        chat_id = int(chat["id"])
        state = self._chats.get(chat_id)
        if state is None:
            state = self._chats[chat_id] = _ChatState(chat=dict(chat))
        else:
            state.chat = dict(chat)
        state.started = True
        message_id = int(message.get("message_id", 0))
        state.incoming[message_id] = json_copy(message)
        self._message_ids[chat_id] = max(self._message_ids.get(chat_id, 0), message_id)

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            keep = self._pending[offset:]
            gone = self._pending[:offset]
        else:
            keep = [e for e in self._pending if e.update_id >= offset]
            gone = [e for e in self._pending if e.update_id < offset]
        self._pending = keep
        for entry in gone:
            if not entry.done.done():
                entry.done.set_result(None)

    def _drop_pending(self, reason: str) -> None:
        for entry in self._pending:
            if not entry.done.done():
                entry.done.set_result(reason)
        self._pending = []

    def _notify_pollers(self) -> None:
        self._updates_event.set()
        self._updates_event = asyncio.Event()

    def _last_poll_summary(self) -> str:
        polls = self.calls("getUpdates")
        if not polls:
            return "never called"
        last = polls[-1]
        return f"offset={last.params.get('offset')} status={last.response_status}"

    async def _post_webhook(self, payload: dict[str, Any], limit_s: float) -> int:
        assert self._client is not None
        headers = {}
        if self._webhook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self._webhook.secret_token
        update_id = int(payload["update_id"])
        if _update_type(payload) not in self._webhook_allowed:
            self.filtered_updates.append(payload)
            return 200
        try:
            async with self._client.post(
                self._webhook.url,
                json=payload,
                headers=headers,
                timeout=ClientTimeout(total=limit_s),
            ) as response:
                status = response.status
                reply = await self._read_webhook_reply(response) if status == 200 else None
        except (ClientError, TimeoutError) as error:
            self._webhook.last_error_date = int(time.time())
            self._webhook.last_error_message = f"{type(error).__name__}: {error}"
            raise AssertionError(
                f"webhook {self._webhook.url} did not answer update {update_id}: "
                f"{type(error).__name__}: {error}"
            ) from None
        self.webhook_deliveries.append(WebhookDelivery(update_id, status, time.monotonic()))
        if status != 200:
            self._webhook.last_error_date = int(time.time())
            self._webhook.last_error_message = f"Wrong response from the webhook: {status}"
        if reply and "method" in reply:
            method = str(reply.pop("method"))
            await self._execute(self._token or "0:x", method, reply, source="webhook_reply")
        return status

    async def _read_webhook_reply(self, response: ClientResponse) -> dict[str, Any] | None:
        """A webhook may answer with a method call (JSON or multipart), Telegram runs it."""
        if response.content_type == "application/json":
            body = await response.json()
            return _decode_params(dict(body), {}) if isinstance(body, dict) and body else None
        if response.content_type != "multipart/form-data":
            return None
        fields: dict[str, Any] = {}
        files: dict[str, FileData] = {}
        reader = MultipartReader(response.headers, response.content)
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                continue
            data = await part.read()
            if part.filename:
                files[part.name] = self._upload(part.filename, bytes(data), None)
            else:
                fields[part.name] = bytes(data).decode("utf-8")
        return _decode_params(fields, files)

    # ---------------------------------------------------------------- HTTP layer

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response(ApiError(404, "Not Found").body(), status=404)

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        raw_method = request.match_info["method"]
        try:
            params = await self._read_request(request)
        except ApiError as error:
            return web.json_response(error.body(), status=error.status)
        method = _METHODS.get(raw_method.lower(), raw_method)
        delay = self._delays.get(method, self._delays.get("*", 0.0))
        if delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
        drop = self._take_drop(method)
        if drop is not None and not drop.after_processing:
            self._record(method, params, 0, None, fault="dropped")
            return self._abort(request)
        status, body = await self._execute(token, raw_method, params)
        if drop is not None:
            self._calls[-1].fault = "dropped_after_processing"
            return self._abort(request)
        return web.json_response(body, status=status)

    @staticmethod
    def _abort(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)  # never reaches the client

    def _take_drop(self, method: str) -> _Drop | None:
        for name in (method, "*"):
            drop = self._drops.get(name)
            if drop is not None and drop.remaining > 0:
                drop.remaining -= 1
                if drop.remaining == 0:
                    del self._drops[name]
                return drop
        return None

    async def _read_request(self, request: web.Request) -> dict[str, Any]:
        """Decode query string, JSON, urlencoded or multipart bodies the way Telegram does."""
        fields: dict[str, Any] = dict(request.query)
        files: dict[str, FileData] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON request body") from None
                if not isinstance(body, dict):
                    raise ApiError(400, "Bad Request: JSON object expected in request body")
                fields.update(body)
            elif request.content_type in _FORM_TYPES:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = self._upload(
                            value.filename, value.file.read(), value.content_type
                        )
                    else:
                        fields[key] = value
        return _decode_params(fields, files)

    def _upload(self, filename: str | None, content: bytes, content_type: str | None) -> FileData:
        file_id, unique_id = self.new_file_id()
        mime = mimetypes.guess_type(filename or "")[0] or (
            content_type if content_type and content_type != "application/octet-stream" else None
        )
        data = FileData(file_id, unique_id, filename, content, mime or "application/octet-stream")
        self._files[file_id] = data
        return data

    # ---------------------------------------------------------------- dispatch

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        status: int,
        body: dict[str, Any] | None,
        *,
        fault: str | None = None,
        source: str = "http",
    ) -> Call:
        call = Call(
            method=method,
            params=params,
            chat_id=self._call_chat_id(method, params),
            time=time.monotonic(),
            response_status=status,
            response=body,
            fault=fault,
            source=source,
        )
        self._calls.append(call)
        if status == 429:
            self.flood_errors += 1
        return call

    def _call_chat_id(self, method: str, params: Mapping[str, Any]) -> int | str | None:
        if method == "answerCallbackQuery":
            query = self._callback_queries.get(str(params.get("callback_query_id")))
            return None if query is None else query["chat_id"] or query["user_id"]
        chat_id = params.get("chat_id")
        return chat_id if isinstance(chat_id, int | str) else None

    async def _execute(
        self, token: str, raw_method: str, params: dict[str, Any], *, source: str = "http"
    ) -> tuple[int, dict[str, Any]]:
        """Run one API call through the fault layers and the method; record and answer it."""
        method = _METHODS.get(raw_method.lower(), raw_method)
        fault: str | None = None
        try:
            token_match = _TOKEN_RE.match(token)
            if token_match is None:
                raise ApiError(401, "Unauthorized")
            self._bot_id = int(token_match.group(1))
            self._token = token
            if method not in _METHOD_NAMES:
                raise ApiError(404, "Not Found")
            fault, error = self._fault_for(method, params)
            if error is not None:
                raise error
            handler = getattr(self, f"_api_{method}")
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
            if method in SEND_METHODS:
                self._count_send(params.get("chat_id"))
            status, body = 200, {"ok": True, "result": result}
        except ApiError as error:
            status, body = error.status, error.body()
        self._record(method, params, status, body, fault=fault, source=source)
        return status, body

    def _fault_for(
        self, method: str, params: Mapping[str, Any]
    ) -> tuple[str | None, ApiError | None]:
        chat_id = self._call_chat_id(method, params)
        for fault in self._faults:
            if fault.method not in ("*", method):
                continue
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            return "injected", ApiError(fault.status, fault.description, fault.retry_after)
        if method in _BLOCKABLE_METHODS and chat_id is not None:
            state = self._chats.get(chat_id) if isinstance(chat_id, int) else None
            if state is not None and state.blocked:
                return "blocked", ApiError(403, BLOCKED)
            if self.is_randomly_blocked(chat_id):
                return "random_blocked", ApiError(403, BLOCKED)
        if method in SEND_METHODS:
            if self._flood_rate > 0 and self._fault_rng.random() < self._flood_rate:
                return "random_flood", ApiError(429, "Too Many Requests: retry after 1", 1)
            retry_after = self._rate_limited(chat_id)
            if retry_after is not None:
                return "rate_limit", ApiError(
                    429, f"Too Many Requests: retry after {retry_after}", retry_after
                )
        return None, None

    def _rate_limited(self, chat_id: int | str | None) -> int | None:
        now = time.monotonic()
        checks: list[tuple[deque[float], float]] = []
        if self._global_limit is not None:
            checks.append((self._global_window, self._global_limit))
        if self._chat_limit is not None and chat_id is not None:
            checks.append((self._chat_windows.setdefault(chat_id, deque()), self._chat_limit))
        for window, limit in checks:
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                return max(1, math.ceil(window[0] + 1.0 - now))
        return None

    def _count_send(self, chat_id: Any) -> None:
        if self._global_limit is None and self._chat_limit is None:
            return
        now = time.monotonic()
        self._global_window.append(now)
        if chat_id is not None:
            self._chat_windows.setdefault(chat_id, deque()).append(now)

    # ---------------------------------------------------------------- helpers for methods

    def _target_chat(self, params: Mapping[str, Any], key: str = "chat_id") -> _ChatState:
        chat_id = params.get(key)
        if chat_id is None or chat_id == "":
            raise ApiError(400, f"Bad Request: {key} is empty")
        if isinstance(chat_id, str):
            for known in self._chats.values():
                if chat_id.startswith("@") and known.chat.get("username") == chat_id[1:]:
                    return known
            raise ApiError(400, CHAT_NOT_FOUND)
        return self._chat(chat_id, create=not self.known_chats_only)

    def _sendable_chat(self, params: Mapping[str, Any]) -> _ChatState:
        state = self._target_chat(params)
        if not state.started and state.chat.get("type") == "private":
            raise ApiError(403, CANT_INITIATE)
        return state

    @staticmethod
    def _format_text(
        raw: Any,
        parse_mode: Any,
        entities: Any,
        *,
        caption: bool = False,
    ) -> tuple[str, list[dict[str, Any]]]:
        """Apply parse_mode and Telegram's text rules; returns (visible text, entities)."""
        what = "caption" if caption else "text"
        if raw is None or raw == "":
            if caption:
                return "", []
            raise ApiError(400, "Bad Request: message text is empty")
        text = str(raw)
        if entities:
            if not isinstance(entities, list):
                raise ApiError(400, f"Bad Request: can't parse {what} entities")
            visible, parsed = text, [dict(e) for e in entities]
        elif parse_mode:
            mode = str(parse_mode).lower()
            if mode == "html":
                try:
                    visible, parsed = parse_html(text)
                except EntityParseError as error:
                    raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
            elif mode in ("markdown", "markdownv2"):
                visible, parsed = text, []  # not parsed by the fake; the bot uses HTML
            else:
                raise ApiError(400, "Bad Request: unsupported parse_mode")
        else:
            visible, parsed = text, []
        visible, parsed = _strip_text(visible, parsed)
        if not visible and not caption:
            raise ApiError(400, "Bad Request: message text is empty")
        if caption and len(visible) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        if not caption and len(visible) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        return visible, parsed

    @staticmethod
    def _check_markup(markup: Any) -> dict[str, Any] | None:
        """Validate reply_markup like Telegram; returns it normalised (None when absent)."""
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        markup = _without_nulls(markup)
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "InlineKeyboardMarkup must be an Array of Arrays",
                )
            for row in rows:
                for button in row:
                    _check_inline_button(button)
        elif "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(
                    400,
                    "Bad Request: can't parse keyboard button: Keyboard must be an Array of Arrays",
                )
            for row in rows:
                for button in row:
                    text = button if isinstance(button, str) else (button or {}).get("text")
                    if not isinstance(text, str) or not text:
                        raise ApiError(
                            400,
                            "Bad Request: can't parse keyboard button: "
                            'Field "text" must be of type String',
                        )
        elif not (markup.get("remove_keyboard") or markup.get("force_reply")):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        return markup

    def _check_reply_to(self, state: _ChatState, params: Mapping[str, Any]) -> None:
        reply = params.get("reply_parameters")
        message_id = params.get("reply_to_message_id")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
        if message_id is None or allow_missing:
            return
        present = message_id in state.incoming or (
            message_id in state.sent and not state.sent[message_id].deleted
        )
        if not present:
            raise ApiError(400, "Bad Request: message to be replied not found")

    def _store(self, state: _ChatState, message: SentMessage) -> SentMessage:
        state.sent[message.message_id] = message
        markup = message.reply_markup or {}
        if "keyboard" in markup:
            state.reply_keyboard = markup
            state.reply_keyboard_message_id = message.message_id
        elif markup.get("remove_keyboard"):
            state.reply_keyboard = None
            state.reply_keyboard_message_id = None
        return message

    def _new_message(
        self,
        state: _ChatState,
        params: Mapping[str, Any],
        *,
        kind: str,
        text: str,
        entities: list[dict[str, Any]],
        html_key: str,
        media: dict[str, Any] | None = None,
        file: FileData | None = None,
    ) -> SentMessage:
        chat_id = int(state.chat["id"])
        raw = params.get(html_key)
        return SentMessage(
            message_id=self.new_message_id(chat_id),
            chat_id=chat_id,
            date=int(time.time()),
            text=text,
            html=None if raw is None else str(raw),
            parse_mode=params.get("parse_mode"),
            entities=entities,
            reply_markup=self._check_markup(params.get("reply_markup")),
            kind=kind,
            media=media or {},
            file=file,
        )

    def _render(self, message: SentMessage) -> dict[str, Any]:
        state = self._chats[message.chat_id]
        body: dict[str, Any] = {
            "message_id": message.message_id,
            "from": self.bot_user,
            "chat": dict(state.chat),
            "date": message.date,
        }
        if message.edit_date is not None:
            body["edit_date"] = message.edit_date
        if message.kind == "text":
            body["text"] = message.text
            if message.entities:
                body["entities"] = json_copy(message.entities)
        else:
            body.update(json_copy(message.media))
            if message.text:
                body["caption"] = message.text
                if message.entities:
                    body["caption_entities"] = json_copy(message.entities)
        inline = _inline_markup(message.reply_markup)
        if inline is not None:
            body["reply_markup"] = json_copy(inline)
        return body

    def _message_to_edit(self, params: Mapping[str, Any]) -> tuple[_ChatState, SentMessage]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        state = self._target_chat(params)
        message_id = params.get("message_id")
        if message_id is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = state.sent.get(message_id)
        if message is None or message.deleted:
            if message_id in state.incoming:
                raise ApiError(400, "Bad Request: message can't be edited")
            raise ApiError(400, "Bad Request: message to edit not found")
        return state, message

    def _resolve_file(self, params: Mapping[str, Any], key: str) -> FileData:
        value = params.get(key)
        if isinstance(value, FileData):
            if not value.content:
                raise ApiError(400, "Bad Request: file must be non-empty")
            return value
        if isinstance(value, str) and value:
            if value.startswith(("http://", "https://")):
                file_id, unique_id = self.new_file_id(key)
                name = value.rstrip("/").rsplit("/", 1)[-1] or None
                return FileData(file_id, unique_id, name, None, mimetypes.guess_type(value)[0])
            known = self._files.get(value)
            if known is None:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            return known
        raise ApiError(400, f"Bad Request: there is no {key} in the request")

    # ---------------------------------------------------------------- API methods

    def _api_getMe(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _api_getUpdates(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self._webhook.url:
            raise ApiError(409, WEBHOOK_CONFLICT)
        if "allowed_updates" in params:
            self._allowed_updates = _allowed(params["allowed_updates"])
        offset = params.get("offset")
        if isinstance(offset, int):
            self._confirm(offset)
        limit = params.get("limit", 100)
        limit = min(100, max(1, limit if isinstance(limit, int) else 100))
        timeout = params.get("timeout", 0)
        timeout = max(0, timeout if isinstance(timeout, int) else 0)
        # A newer getUpdates terminates an older one still waiting, as in Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify_pollers()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, POLLING_CONFLICT)
            if self._pending or self._closing.is_set():
                return [copy.deepcopy(e.payload) for e in self._pending[:limit]]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = self._updates_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _api_setWebhook(self, params: Mapping[str, Any]) -> bool:
        url = str(params.get("url") or "")
        if params.get("drop_pending_updates"):
            self._drop_pending("dropped by setWebhook(drop_pending_updates=True)")
        if not url:
            self._webhook = _Webhook()
            return True
        if not url.startswith(("http://", "https://")):
            raise ApiError(
                400,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )
        self._webhook = _Webhook(
            url=url,
            secret_token=params.get("secret_token") or None,
            max_connections=params.get("max_connections"),
            ip_address=params.get("ip_address"),
        )
        if "allowed_updates" in params:
            self._webhook_allowed = _allowed(params["allowed_updates"])
        self._notify_pollers()
        return True

    def _api_deleteWebhook(self, params: Mapping[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._drop_pending("dropped by deleteWebhook(drop_pending_updates=True)")
        self._webhook = _Webhook()
        return True

    def _api_getWebhookInfo(self, params: Mapping[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self._webhook.url:
            info["max_connections"] = self._webhook.max_connections or 40
            info["allowed_updates"] = sorted(self._webhook_allowed)
            if self._webhook.ip_address:
                info["ip_address"] = self._webhook.ip_address
            if self._webhook.last_error_date:
                info["last_error_date"] = self._webhook.last_error_date
                info["last_error_message"] = self._webhook.last_error_message
        return info

    def _api_sendMessage(self, params: Mapping[str, Any]) -> dict[str, Any]:
        state = self._sendable_chat(params)
        text, entities = self._format_text(
            params.get("text"), params.get("parse_mode"), params.get("entities")
        )
        self._check_reply_to(state, params)
        message = self._new_message(
            state, params, kind="text", text=text, entities=entities, html_key="text"
        )
        return self._render(self._store(state, message))

    def _api_editMessageText(self, params: Mapping[str, Any]) -> dict[str, Any]:
        _, message = self._message_to_edit(params)
        if message.kind != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities = self._format_text(
            params.get("text"), params.get("parse_mode"), params.get("entities")
        )
        markup = self._check_markup(params.get("reply_markup"))
        if (
            text == message.text
            and entities == message.entities
            and markup == _inline_markup(message.reply_markup)
        ):
            raise ApiError(400, NOT_MODIFIED)
        message.text, message.entities, message.reply_markup = text, entities, markup
        message.html = str(params.get("text"))
        message.parse_mode = params.get("parse_mode")
        message.edited, message.edit_date = True, int(time.time())
        return self._render(message)

    def _api_editMessageReplyMarkup(self, params: Mapping[str, Any]) -> dict[str, Any]:
        _, message = self._message_to_edit(params)
        markup = self._check_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise ApiError(400, "Bad Request: inline keyboard expected")
        if markup == _inline_markup(message.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        message.reply_markup = markup
        message.edited, message.edit_date = True, int(time.time())
        return self._render(message)

    def _api_deleteMessage(self, params: Mapping[str, Any]) -> bool:
        state = self._target_chat(params)
        message_id = params.get("message_id")
        message = state.sent.get(message_id) if isinstance(message_id, int) else None
        if message is not None and not message.deleted:
            message.deleted = True
            return True
        if isinstance(message_id, int) and message_id in state.incoming:
            del state.incoming[message_id]
            return True
        raise ApiError(400, "Bad Request: message to delete not found")

    def _api_answerCallbackQuery(self, params: Mapping[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        query = self._callback_queries.get(query_id)
        if query is None or query["answered"]:
            raise ApiError(400, QUERY_TOO_OLD)
        query["answered"] = True
        self._answers.append(
            CallbackAnswer(
                query_id=query_id,
                user_id=query["user_id"],
                chat_id=query["chat_id"],
                message_id=query["message_id"],
                text=params.get("text"),
                show_alert=bool(params.get("show_alert")),
                url=params.get("url"),
                cache_time=params.get("cache_time"),
            )
        )
        return True

    def _api_sendDocument(self, params: Mapping[str, Any]) -> dict[str, Any]:
        state = self._sendable_chat(params)
        file = self._resolve_file(params, "document")
        caption, entities = self._format_text(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        document: dict[str, Any] = {"file_id": file.file_id, "file_unique_id": file.file_unique_id}
        if file.filename:
            document["file_name"] = file.filename
        if file.mime_type:
            document["mime_type"] = file.mime_type
        if file.size is not None:
            document["file_size"] = file.size
        message = self._new_message(
            state,
            params,
            kind="document",
            text=caption,
            entities=entities,
            html_key="caption",
            media={"document": document},
            file=file,
        )
        return self._render(self._store(state, message))

    def _api_sendPhoto(self, params: Mapping[str, Any]) -> dict[str, Any]:
        state = self._sendable_chat(params)
        file = self._resolve_file(params, "photo")
        if file.content is not None and not file.content.startswith(_IMAGE_MAGIC):
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        caption, entities = self._format_text(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        sizes = [
            {
                "file_id": f"{file.file_id}_{w}",
                "file_unique_id": f"{file.file_unique_id}_{w}",
                "width": w,
                "height": h,
            }
            for w, h in ((90, 67), (320, 240), (800, 600))
        ]
        message = self._new_message(
            state,
            params,
            kind="photo",
            text=caption,
            entities=entities,
            html_key="caption",
            media={"photo": sizes},
            file=file,
        )
        return self._render(self._store(state, message))

    def _api_copyMessage(self, params: Mapping[str, Any]) -> dict[str, Any]:
        state = self._sendable_chat(params)
        source_chat = self._target_chat(params, "from_chat_id")
        message_id = params.get("message_id")
        sent = source_chat.sent.get(message_id) if isinstance(message_id, int) else None
        incoming = source_chat.incoming.get(message_id) if isinstance(message_id, int) else None
        if sent is not None and not sent.deleted:
            kind, text, entities = sent.kind, sent.text, sent.entities
            media, file = copy.deepcopy(sent.media), sent.file
        elif incoming is not None:
            media = {
                k: copy.deepcopy(v)
                for k, v in incoming.items()
                if k
                in (
                    "document",
                    "photo",
                    "sticker",
                    "voice",
                    "audio",
                    "video",
                    "animation",
                    "location",
                    "contact",
                    "venue",
                    "video_note",
                )
            }
            kind = next(iter(media), "text")
            key = "text" if kind == "text" else "caption"
            text = str(incoming.get(key, ""))
            entities = list(incoming.get("entities" if kind == "text" else "caption_entities", []))
            file = None
        else:
            raise ApiError(400, "Bad Request: message to copy not found")
        if kind != "text" and "caption" in params:
            text, entities = self._format_text(
                params.get("caption"),
                params.get("parse_mode"),
                params.get("caption_entities"),
                caption=True,
            )
        message = self._new_message(
            state,
            params,
            kind=kind,
            text=text,
            entities=entities,
            html_key="caption",
            media=media,
            file=file,
        )
        self._store(state, message)
        return {"message_id": message.message_id}

    def _api_sendChatAction(self, params: Mapping[str, Any]) -> bool:
        self._sendable_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _api_setMyCommands(self, params: Mapping[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command"))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = (_scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _api_getMyCommands(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self.commands(params.get("scope"), str(params.get("language_code") or ""))

    def _api_deleteMyCommands(self, params: Mapping[str, Any]) -> bool:
        key = (_scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self._commands.pop(key, None)
        return True

    def _api_setChatMenuButton(self, params: Mapping[str, Any]) -> bool:
        button = params.get("menu_button")
        if button is not None and (not isinstance(button, dict) or "type" not in button):
            raise ApiError(400, "Bad Request: can't parse menu button JSON object")
        if params.get("chat_id") is None:
            self._default_menu_button = button
        else:
            self._target_chat(params).menu_button = button
        return True

    def _api_getChatMenuButton(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if params.get("chat_id") is None:
            button = self._default_menu_button
        else:
            button = self._target_chat(params).menu_button or self._default_menu_button
        return copy.deepcopy(button) if button else {"type": "commands"}


# --------------------------------------------------------------------------------------------
# Module helpers
# --------------------------------------------------------------------------------------------


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise ApiError(
            400,
            'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String',
        )
    if not any(key in button for key in _INLINE_BUTTON_ACTIONS):
        raise ApiError(
            400,
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard",
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_LIMIT:
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _inline_markup(markup: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Only inline keyboards belong to a message (reply keyboards live under the input)."""
    if markup and "inline_keyboard" in markup:
        return dict(markup)
    return None


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _scope_key(scope: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(scope) if scope else {"type": "default"}, sort_keys=True)


def _allowed(value: Any) -> frozenset[str]:
    if isinstance(value, list) and value:
        return frozenset(str(v) for v in value)
    return _DEFAULT_UPDATE_TYPES


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _decode_params(fields: Mapping[str, Any], files: Mapping[str, FileData]) -> dict[str, Any]:
    """Give form/query strings the types Telegram's schema gives them.

    aiogram sends numbers and booleans as JSON text and nested objects (reply_markup, ...) as
    JSON-encoded strings inside multipart bodies; uploads are referenced as ``attach://name``.
    """
    params: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _JSON_PARAMS and isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                what = "reply keyboard markup" if key == "reply_markup" else key
                raise ApiError(400, f"Bad Request: can't parse {what} JSON object") from None
        elif key in _INT_PARAMS and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            value = int(value)
        elif key in _BOOL_PARAMS and isinstance(value, str):
            value = value.lower() in ("true", "1")
        params[key] = value
    for key in _FILE_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and value.startswith("attach://"):
            attached = files.get(value.removeprefix("attach://"))
            if attached is None:
                raise ApiError(400, f"Bad Request: file {value} not found in the request")
            params[key] = attached
        elif key in files:
            params[key] = files[key]
    return params


def iter_buttons(markup: Mapping[str, Any] | None) -> Iterable[tuple[int, int, Any]]:
    """(row, column, button) of an inline or reply keyboard."""
    if not markup:
        return
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    for r, row in enumerate(rows):
        for c, button in enumerate(row):
            yield r, c, button
