"""Simulated Telegram users that talk to the bot through :class:`FakeTelegram`.

Why: end-to-end tests should read like what a person does in the Telegram app ("send /start",
"press Tak", "share my phone") and assert on what that person would see, instead of
hand-writing Update JSON. The updates built here have the shapes real clients produce
(private chat whose id is the user id, increasing message ids shared with the bot's messages,
``bot_command`` entities, callback queries that carry the message they came from), so the
bot's filters and handlers see the same thing they see in production.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from tests.fakes import canary
from tests.fakes.telegram_server import (
    CallbackAnswer,
    FakeTelegram,
    SentMessage,
    iter_buttons,
    keyboard_labels,
    utf16_len,
)

__all__ = ["FakeUser"]

_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
_DEFAULT_LOCATION = (52.2297, 21.0122)  # Warsaw, for request_location buttons
_UNSUPPORTED_REPLY_REQUESTS = (
    "request_users",
    "request_chat",
    "request_poll",
    "web_app",
)


class _Keyboard:
    """A keyboard the user can see: an inline one under a message, or the reply keyboard."""

    def __init__(self, message_id: int, markup: Mapping[str, Any], inline: bool) -> None:
        self.message_id = message_id
        self.markup = markup
        self.inline = inline

    def buttons(self) -> list[Any]:
        return [button for _, _, button in iter_buttons(self.markup)]


def _label(button: Any) -> str:
    return button if isinstance(button, str) else str(button.get("text", ""))


class FakeUser:
    """One Telegram user in a private chat with the bot.

    Every action delivers an update and returns once the bot has processed it (see
    :meth:`FakeTelegram.deliver`), returning the delivery status; ``timeout`` bounds that wait.
    """

    def __init__(
        self,
        tg: FakeTelegram,
        user_id: int,
        first_name: str = canary.FIRST_NAME,
        language_code: str = "pl",
        *,
        last_name: str | None = canary.LAST_NAME,
        username: str | None = canary.USERNAME,
        phone: str = "+48600100200",
        timeout: float = 10.0,
        canaries: canary.Canaries | None = canary.REGISTRY,
    ) -> None:
        """`canaries`: where what this person shows and types is noted as personal data that
        must never reach the logs (None for the fuzzer's random input)."""
        self.tg = tg
        self.user_id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.phone = phone
        self.timeout = timeout
        self._last_sent: dict[str, Any] | None = None
        self.canaries = canaries
        if canaries is not None:
            for value in (first_name, last_name, username, phone):
                canaries.add(value)

    # ---------------------------------------------------------------- identity

    @property
    def chat_id(self) -> int:
        return self.user_id

    @property
    def user(self) -> dict[str, Any]:
        """The ``User`` object Telegram attaches to this user's updates."""
        user: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    @property
    def chat(self) -> dict[str, Any]:
        """The private ``Chat`` with the bot (its id is the user id)."""
        chat: dict[str, Any] = {
            "id": self.user_id,
            "type": "private",
            "first_name": self.first_name,
        }
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    # ---------------------------------------------------------------- sending

    async def send(self, text: str) -> int:
        """Send a text; a leading ``/command`` gets the bot_command entity clients add."""
        if self.canaries is not None:
            self.canaries.typed(text)
        content: dict[str, Any] = {"text": text}
        command = _COMMAND_RE.match(text)
        if command is not None:
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}
            ]
        return await self._send_message(content)

    async def start(self, payload: str | None = None) -> int:
        """Press Start, optionally through a deep link (``t.me/bot?start=payload``)."""
        return await self.send("/start" if payload is None else f"/start {payload}")

    async def send_sticker(self, emoji: str = "👍") -> int:
        file_id, unique_id = self.tg.new_file_id("sticker")
        sticker = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "TestStickers",
        }
        return await self._send_message({"sticker": sticker})

    async def send_photo(self, caption: str | None = None) -> int:
        file_id, unique_id = self.tg.new_file_id("photo")
        sizes = [
            {
                "file_id": f"{file_id}_{width}",
                "file_unique_id": f"{unique_id}_{width}",
                "width": width,
                "height": height,
                "file_size": width * height // 8,
            }
            for width, height in ((90, 68), (320, 240), (1280, 960))
        ]
        content: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return await self._send_message(content)

    async def send_voice(self, duration: int = 3) -> int:
        file_id, unique_id = self.tg.new_file_id("voice")
        voice = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": duration * 4_000,
        }
        return await self._send_message({"voice": voice})

    async def send_location(self, latitude: float, longitude: float) -> int:
        return await self._send_message(
            {"location": {"latitude": latitude, "longitude": longitude}}
        )

    async def share_contact(self, phone: str | None = None) -> int:
        """Share the own contact card, as the request_contact button does."""
        if self.canaries is not None:
            self.canaries.add(phone or self.phone)
        contact: dict[str, Any] = {
            "phone_number": phone or self.phone,
            "first_name": self.first_name,
            "user_id": self.user_id,
        }
        if self.last_name:
            contact["last_name"] = self.last_name
        return await self._send_message({"contact": contact})

    async def send_document(
        self,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        file_size: int = 24_576,
        caption: str | None = None,
    ) -> int:
        file_id, unique_id = self.tg.new_file_id("document")
        document = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": file_size,
        }
        content: dict[str, Any] = {"document": document}
        if caption is not None:
            content["caption"] = caption
        return await self._send_message(content)

    async def edit_last(self, text: str) -> int:
        """Edit the user's last message (an ``edited_message`` update)."""
        if self._last_sent is None or "text" not in self._last_sent:
            raise AssertionError(f"user {self.user_id} has no text message to edit")
        if self.canaries is not None:
            self.canaries.typed(text)
        edited = {**self._last_sent, "text": text, "edit_date": int(time.time())}
        edited.pop("entities", None)
        self._last_sent = edited
        return await self.tg.deliver({"edited_message": edited}, timeout=self.timeout)

    async def forward(self, text: str, *, sender_name: str = "Olena Kovalenko") -> int:
        """Forward someone else's text message into the chat with the bot."""
        if self.canaries is not None:
            self.canaries.add(sender_name)
            self.canaries.typed(text)
        origin = {
            "type": "user",
            "date": int(time.time()) - 3600,
            "sender_user": {
                "id": 7_000_000_000 + self.user_id % 1_000_000,
                "is_bot": False,
                "first_name": sender_name,
            },
        }
        return await self._send_message({"text": text, "forward_origin": origin})

    async def group_message(
        self, text: str, chat_id: int = -4_000_000_001, title: str = "WIN4UA group"
    ) -> int:
        """Say something in a group the bot is in (the bot is expected to ignore groups)."""
        chat = {"id": chat_id, "type": "group", "title": title}
        message = {
            "message_id": self.tg.new_message_id(chat_id),
            "from": self.user,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        command = _COMMAND_RE.match(text)
        if command is not None:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}
            ]
        return await self.tg.deliver({"message": message}, timeout=self.timeout)

    async def channel_post(
        self, text: str, chat_id: int = -1_002_000_000_001, title: str = "WIN4UA channel"
    ) -> int:
        """A post in a channel where the bot is an admin (no ``from``, a sender_chat instead)."""
        chat = {"id": chat_id, "type": "channel", "title": title}
        post = {
            "message_id": self.tg.new_message_id(chat_id),
            "sender_chat": chat,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        return await self.tg.deliver({"channel_post": post}, timeout=self.timeout)

    # ---------------------------------------------------------------- buttons

    async def press(self, label_or_index: str | int) -> int:
        """Press a button the user can see.

        A string matches a label exactly (case-insensitive), else as a unique substring, looking
        at the newest keyboard first: inline keyboards of the bot's messages and the reply
        keyboard under the input field. An int is a position in the newest keyboard, counted
        row by row. Inline buttons send their callback_data; reply buttons send their text (or
        the contact / location they request).
        """
        keyboard, button = self._find_button(label_or_index)
        if keyboard.inline:
            if "callback_data" in button:
                return await self.press_data(button["callback_data"], keyboard.message_id)
            kind = next((k for k in button if k != "text"), "?")
            raise AssertionError(
                f"button {_label(button)!r} is a {kind} button ({button.get(kind)!r}); "
                "pressing it sends nothing to the bot"
            )
        if keyboard.markup.get("one_time_keyboard"):
            self.tg.hide_reply_keyboard(self.chat_id)
        if isinstance(button, dict):
            if button.get("request_contact"):
                return await self.share_contact()
            if button.get("request_location"):
                return await self.send_location(*_DEFAULT_LOCATION)
            unsupported = [k for k in _UNSUPPORTED_REPLY_REQUESTS if button.get(k)]
            if unsupported:
                raise AssertionError(
                    f"pressing a {unsupported[0]} button ({_label(button)!r}) is not simulated"
                )
        return await self.send(_label(button))

    async def press_data(self, data: str, message_id: int | None = None) -> int:
        """Send a callback query with arbitrary (possibly stale or forged) callback_data.

        ``message_id`` defaults to the bot's newest message; an id the chat no longer shows is
        sent as an inaccessible message (``date`` 0), as Telegram does for old messages.
        """
        if message_id is None:
            shown = self.tg.sent_messages(self.chat_id)
            if not shown:
                raise AssertionError(f"the bot has sent nothing to chat {self.chat_id}")
            message_id = shown[-1].message_id
        message = self.tg.render_message(self.chat_id, message_id) or {
            "chat": self.chat,
            "message_id": message_id,
            "date": 0,
        }
        query = {
            "id": self.tg.new_callback_query_id(),
            "from": self.user,
            "message": message,
            "chat_instance": str(-(8_000_000_000_000_000_000 + self.user_id)),
            "data": data,
        }
        return await self.tg.deliver({"callback_query": query}, timeout=self.timeout)

    # ---------------------------------------------------------------- what the user sees

    def messages(self) -> list[SentMessage]:
        """The bot's messages the chat shows, oldest first (edits applied, deletions gone)."""
        return self.tg.sent_messages(self.chat_id)

    def last_message(self) -> SentMessage:
        """The bot's newest message in this chat (``.text``, ``.buttons``, ``.reply_markup``)."""
        shown = self.messages()
        if not shown:
            raise AssertionError(f"the bot has sent nothing to chat {self.chat_id}")
        return shown[-1]

    def texts(self) -> list[str]:
        return [message.text for message in self.messages()]

    def buttons(self) -> list[list[str]]:
        """Button labels of the bot's newest message, row by row."""
        return self.last_message().buttons

    def reply_keyboard(self) -> list[list[str]]:
        """Labels of the reply keyboard currently shown under the input field."""
        return keyboard_labels(self.tg.reply_keyboard(self.chat_id))

    def answers(self) -> list[CallbackAnswer]:
        """The bot's answerCallbackQuery calls for this user's button presses."""
        return self.tg.callback_answers(self.user_id)

    def documents(self) -> list[SentMessage]:
        """Every document the bot sent to this chat (``.file.filename``, ``.file.content``)."""
        return [m for m in self.tg.history(self.chat_id) if m.kind == "document"]

    # ---------------------------------------------------------------- internals

    async def _send_message(self, content: dict[str, Any]) -> int:
        message = {
            "message_id": self.tg.new_message_id(self.chat_id),
            "from": self.user,
            "chat": self.chat,
            "date": int(time.time()),
            **content,
        }
        self._last_sent = message
        return await self.tg.deliver({"message": message}, timeout=self.timeout)

    def _keyboards(self) -> list[_Keyboard]:
        keyboards = [
            _Keyboard(message.message_id, message.reply_markup, inline=True)
            for message in self.messages()
            if message.reply_markup and "inline_keyboard" in message.reply_markup
        ]
        reply = self.tg.reply_keyboard(self.chat_id)
        if reply is not None:
            message_id = self.tg.reply_keyboard_message_id(self.chat_id) or 0
            keyboards.append(_Keyboard(message_id, reply, inline=False))
        keyboards.sort(key=lambda k: (k.message_id, k.inline), reverse=True)
        return keyboards

    def _find_button(self, wanted: str | int) -> tuple[_Keyboard, Any]:
        keyboards = self._keyboards()
        if not keyboards:
            raise AssertionError(
                f"no keyboard is shown in chat {self.chat_id}; bot messages: {self.texts()!r}"
            )
        if isinstance(wanted, int):
            buttons = keyboards[0].buttons()
            if not -len(buttons) <= wanted < len(buttons):
                raise AssertionError(
                    f"no button #{wanted}; the newest keyboard has {[_label(b) for b in buttons]!r}"
                )
            return keyboards[0], buttons[wanted]
        needle = wanted.casefold()
        for keyboard in keyboards:
            for button in keyboard.buttons():
                if _label(button).casefold() == needle:
                    return keyboard, button
        for keyboard in keyboards:
            matches = [b for b in keyboard.buttons() if needle in _label(b).casefold()]
            if len(matches) > 1:
                raise AssertionError(
                    f"button {wanted!r} is ambiguous: {[_label(b) for b in matches]!r}"
                )
            if matches:
                return keyboard, matches[0]
        visible = [[_label(b) for b in keyboard.buttons()] for keyboard in keyboards]
        raise AssertionError(f"no button {wanted!r} in chat {self.chat_id}; visible: {visible!r}")
