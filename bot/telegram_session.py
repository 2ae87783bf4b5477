"""The HTTP session for the Bot API: JSON bodies, multipart only for uploads.

aiogram's aiohttp session sends every call as a form: each nested object (a keyboard, link
preview options) JSON-encoded into a field, the whole URL-encoded into the body. The Bot API
takes JSON bodies as well, and for the calls the bot makes on every update (answer a button,
send or edit a card) one `json.dumps` is several times cheaper than building and encoding the
form. Calls that upload a file (exports, .ics files, broadcast media) keep aiogram's multipart
form; errors and responses are handled by aiogram exactly as before. Every call goes over
aiogram's own aiohttp session (`AiohttpSession.create_session`): only public methods of
aiogram's session are used (`prepare_value`, `check_response`, `json_dumps`, `api.api_url`).

`call_plain` is for callers that do not read the answer (the replies queued during an
update): a successful answer comes back as plain JSON instead of being validated into
aiogram's models, which for a sent or edited message costs as much CPU as sending it. Any
other answer goes through aiogram's checks and raises its usual exceptions.

Why it stays (issue 20): measured with callgrind (bench/instructions.sh, SQLite, 10 people),
aiogram's plain AiohttpSession in its place took the bot from 8.45 to 10.96 M instructions an
update, 30% more, past the 15% a library reach may save before it is kept. (Our own keep-alive
HTTP client under it saved about 1% more and was removed.) It relies on aiogram's session
methods `prepare_value` (with its private `_dumps_json` keyword), `check_response`,
`json_dumps` and `api.api_url`; tests/unit/test_upstream_shapes.py checks them and names the
aiogram version when they change.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, cast

from aiogram import Bot
from aiogram.client.default import Default, DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientError, ClientTimeout
from pydantic import BaseModel

_JSON = {"Content-Type": "application/json"}


class JsonSession(AiohttpSession):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepared_defaults: dict[str, tuple[DefaultBotProperties, Any]] = {}
        self._urls: dict[tuple[str, str], str] = {}

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        body = self._json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        status, raw = await self._post(bot, method.__api_method__, body, timeout)
        result = self.check_response(
            bot=bot, method=method, status_code=status, content=raw.decode()
        )
        return cast(TelegramType, result.result)

    async def call_plain(
        self,
        bot: Bot,
        method: type[TelegramMethod[Any]],
        params: dict[str, Any],
        timeout: float | None = None,  # noqa: ASYNC109 (passed on to aiohttp)
        *,
        answer: bool = True,
    ) -> Any:
        """Call `method` with `params`, building neither aiogram's request nor its answer.

        For calls whose answer is read for an id at most (the replies queued during an
        update, the outbox sender's messages): the bot's defaults (parse mode, link previews)
        are filled in as aiogram would, the answer comes back as plain JSON. A failure is
        handed to aiogram, which raises its usual exception. With `answer=False` a success is
        not even parsed (the Bot API answers HTTP 200 only with "ok": true) and None is returned.
        """
        body = {key: self._plain(bot, value) for key, value in params.items() if value is not None}
        for field, default in _defaults(method):
            if field not in body and (value := self._default(bot, default)) is not None:
                body[field] = value
        status, raw = await self._post(bot, method.__api_method__, body, timeout)
        if status == 200:
            if not answer:
                return None
            parsed = json.loads(raw)
            if parsed.get("ok"):
                return parsed.get("result")
        self.check_response(
            bot=bot, method=method(**params), status_code=status, content=raw.decode()
        )
        return None  # check_response raised unless Telegram said "ok" in an unusual way

    def _default(self, bot: Bot, name: str) -> Any:
        """The bot's default `name` as JSON (link preview options are a model), prepared
        once per bot: every plain call asks for two or three of them."""
        cached = self._prepared_defaults.get(name)
        if cached is None or cached[0] is not bot.default:
            cached = (bot.default, self._plain(bot, bot.default[name]))
            self._prepared_defaults[name] = cached
        return cached[1]

    def _plain(self, bot: Bot, value: Any) -> Any:
        if isinstance(value, BaseModel):  # a keyboard, link preview options (with defaults)
            return self.prepare_value(value, bot=bot, files={}, _dumps_json=False)
        return value

    def _json_body(self, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
        """The call's parameters as JSON values; None when it uploads a file."""
        files: dict[str, Any] = {}
        body: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None:
                body[key] = prepared
        return None if files else body

    async def _post(
        self,
        bot: Bot,
        api_method: str,
        body: dict[str, Any],
        timeout: float | None,  # noqa: ASYNC109 (the call's own, as aiogram's)
    ) -> tuple[int, bytes]:
        """POST `body` as JSON; the answer's status and its body, undecoded."""
        url = self._urls.get((bot.token, api_method))
        if url is None:
            url = self._urls[(bot.token, api_method)] = self.api.api_url(
                token=bot.token, method=api_method
            )
        seconds = self.timeout if timeout is None else timeout
        data = self.json_dumps(body).encode()
        try:
            session = await self.create_session()
            async with session.post(
                url, data=data, headers=_JSON, timeout=ClientTimeout(total=seconds)
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise _network_error(api_method, "Request timeout error") from exc
        except (OSError, ClientError) as exc:
            raise _network_error(api_method, f"{type(exc).__name__}: {exc}") from exc


def _network_error(api_method: str, message: str) -> TelegramNetworkError:
    # aiogram's error carries the method object, which plain calls never build.
    return TelegramNetworkError(method=None, message=f"{api_method}: {message}")  # type: ignore[arg-type]


@cache
def _defaults(method: type[TelegramMethod[Any]]) -> tuple[tuple[str, str], ...]:
    """The method's parameters that take the bot's defaults (parse_mode, link previews…)."""
    return tuple(
        (name, field.default.name)
        for name, field in method.model_fields.items()
        if isinstance(field.default, Default)
    )
