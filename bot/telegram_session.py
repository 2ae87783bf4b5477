"""The HTTP session for the Bot API: JSON bodies, multipart only for uploads.

aiogram's aiohttp session sends every call as a form: each nested object (a keyboard, link
preview options) JSON-encoded into a field, the whole URL-encoded into the body. The Bot API
takes JSON bodies as well, and for the calls the bot makes on every update (answer a button,
send or edit a card) one `json.dumps` is several times cheaper than building and encoding the
form. Calls that upload a file (exports, .ics files, broadcast media) keep aiogram's multipart
form; errors and responses are handled by aiogram exactly as before.
"""

from __future__ import annotations

from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientError

_JSON = {"Content-Type": "application/json"}


class JsonSession(AiohttpSession):
    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        files: dict[str, Any] = {}
        body: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None:
                body[key] = prepared
        if files:
            return await super().make_request(bot, method, timeout)

        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=self.json_dumps(body),
                headers=_JSON,
                timeout=self.timeout if timeout is None else timeout,
            ) as response:
                raw = await response.text()
        except TimeoutError as exc:
            raise TelegramNetworkError(method=method, message="Request timeout error") from exc
        except ClientError as exc:
            raise TelegramNetworkError(
                method=method, message=f"{type(exc).__name__}: {exc}"
            ) from exc
        result = self.check_response(
            bot=bot, method=method, status_code=response.status, content=raw
        )
        return cast(TelegramType, result.result)
