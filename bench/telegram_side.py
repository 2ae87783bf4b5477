"""Telegram's side of the dispatch benchmark: the fake Bot API server and the people's updates.

`Telegram` knows what each chat shows (the fake server in tests/fakes) and builds the updates
a person sends: a text message with a fresh message id, or a press on a button the bot really
showed, carrying the message it sits on as Telegram renders it. At the end of a phase it
reports the Bot API calls it received.

It runs in one of two places:

* `process` (the default): in a process of its own, as Telegram runs on Telegram's machines.
  The bot's process then spends its CPU on what a bot does (building and sending requests,
  reading answers), not also on parsing those requests, keeping the chats and answering them
  as Telegram would. The benchmark asks it for each update over a Unix socket (one short
  request and answer per update, for every bot alike).
* `inprocess`: in the benchmark's own event loop, as in the tests. Every Bot API call then
  costs the measured process both ends of the HTTP exchange; kept to compare with earlier runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakes.telegram_server import FakeTelegram  # noqa: E402

PLACES = ("process", "inprocess")
_OPERATIONS = frozenset({"message", "press", "drain"})  # what the benchmark may ask for


class NoButton(RuntimeError):
    """The person cannot press what their script says: the bot did not show it."""


class Telegram:
    """The fake Bot API server and the updates people send to the bot through it."""

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg

    def message(self, user: dict[str, Any], chat: dict[str, Any], text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.tg.new_message_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._observed({"message": message})

    def press(
        self, user: dict[str, Any], chat: dict[str, Any], prefix: str, strict: bool
    ) -> dict[str, Any]:
        """A press on the first button whose callback_data starts with `prefix` on the newest
        inline keyboard; not `strict` (the references show none): `prefix` is the data, on the
        newest message."""
        chat_id = chat["id"]
        if strict:
            message = self.tg.last_sent(chat_id, inline_keyboard=True)
            if message is None:
                last = self.tg.last_sent(chat_id)
                raise NoButton(
                    f"no keyboard to press {prefix!r}; "
                    f"last message: {last.text[:120] if last else None!r}"
                )
            data = next(
                (d for row in message.callback_data for d in row if d and d.startswith(prefix)),
                None,
            )
            if data is None:
                raise NoButton(
                    f"no button {prefix!r} on {message.text[:120]!r}; "
                    f"buttons: {message.callback_data}"
                )
        else:
            message = self.tg.last_sent(chat_id)
            if message is None:
                raise NoButton("the bot has sent nothing to press on")
            data = prefix
        query = {
            "id": self.tg.new_callback_query_id(),
            "from": user,
            "message": self.tg.render_message(chat_id, message.message_id),
            "chat_instance": str(-(8_000_000_000_000_000_000 + chat_id)),
            "data": data,
        }
        return self._observed({"callback_query": query})

    def drain(self) -> dict[str, Any]:
        """The calls received since the last drain: how many, and the failed ones (at most
        five); then forgets them, which keeps the fake's per-chat lists short."""
        calls = self.tg.calls()
        failed = [(c.method, c.response_status, c.description) for c in calls if not c.ok]
        self.tg.clear()
        return {"calls": len(calls), "failed": len(failed), "sample": failed[:5]}

    def _observed(self, update: dict[str, Any]) -> dict[str, Any]:
        # What the fake's deliver() learns (the chat, the message, the query id), without
        # queueing the update for getUpdates: the benchmark feeds it to the dispatcher itself.
        self.tg._observe_update(update)
        return update


class Side(Protocol):
    base_url: str

    async def message(self, user: dict[str, Any], chat: dict[str, Any], text: str) -> Any: ...

    async def press(
        self, user: dict[str, Any], chat: dict[str, Any], prefix: str, strict: bool
    ) -> Any: ...

    async def drain(self) -> dict[str, Any]: ...


class InProcess:
    """`Telegram` in this event loop: each call is a plain method call."""

    def __init__(self, telegram: Telegram) -> None:
        self.telegram = telegram
        self.base_url = telegram.tg.base_url

    async def message(self, user: dict[str, Any], chat: dict[str, Any], text: str) -> Any:
        return self.telegram.message(user, chat, text)

    async def press(
        self, user: dict[str, Any], chat: dict[str, Any], prefix: str, strict: bool
    ) -> Any:
        return self.telegram.press(user, chat, prefix, strict)

    async def drain(self) -> dict[str, Any]:
        return self.telegram.drain()


class Remote:
    """`Telegram` in another process: one JSON line out and one back per call, answers matched
    by number, so any number of people can wait on it at once."""

    def __init__(
        self, base_url: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.base_url = base_url
        self._reader = reader
        self._writer = writer
        self._numbers = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._listener = asyncio.create_task(self._listen())

    async def message(self, user: dict[str, Any], chat: dict[str, Any], text: str) -> Any:
        return await self._ask("message", user, chat, text)

    async def press(
        self, user: dict[str, Any], chat: dict[str, Any], prefix: str, strict: bool
    ) -> Any:
        return await self._ask("press", user, chat, prefix, strict)

    async def drain(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._ask("drain")
        return result

    async def _ask(self, operation: str, *args: Any) -> Any:
        number = next(self._numbers)
        future = self._waiting[number] = asyncio.get_running_loop().create_future()
        self._writer.write(json.dumps([number, operation, *args]).encode() + b"\n")
        return await future

    async def _listen(self) -> None:
        try:
            while line := await self._reader.readline():
                number, ok, value = json.loads(line)
                future = self._waiting.pop(number)
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(NoButton(value))
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(RuntimeError("the Telegram process went away"))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._listener


@contextlib.asynccontextmanager
async def telegram_side(place: str = "process") -> AsyncIterator[Side]:
    """Telegram for one benchmark run, in its own process or in this event loop."""
    if place == "inprocess":
        async with FakeTelegram() as tg:
            yield InProcess(Telegram(tg))
        return
    if place != "process":
        raise ValueError(f"Telegram runs in {' or '.join(PLACES)}, not {place!r}")
    with tempfile.TemporaryDirectory(prefix="win4ua-telegram-") as directory:
        path = os.path.join(directory, "socket")
        # The child sees the packages this process sees (under valgrind, the interpreter runs
        # outside its virtualenv, which is added as a site directory).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.telegram_side", path,
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
            if not line:
                raise RuntimeError("the Telegram process did not start")
            reader, writer = await asyncio.open_unix_connection(path)
            remote = Remote(line.decode().strip(), reader, writer)
            try:
                yield remote
            finally:
                await remote.close()
        finally:
            if child.returncode is None:
                child.terminate()
            await child.wait()


async def _serve(path: str) -> None:
    """The child: the fake server on a free port (its address on stdout), requests on `path`."""
    async with FakeTelegram() as tg:
        telegram = Telegram(tg)
        done = asyncio.Event()

        async def one_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while line := await reader.readline():
                    number, operation, *args = json.loads(line)
                    if operation not in _OPERATIONS:
                        raise ValueError(f"unknown operation {operation!r}")
                    try:
                        answer = [number, True, getattr(telegram, operation)(*args)]
                    except NoButton as error:
                        answer = [number, False, str(error)]
                    writer.write(json.dumps(answer).encode() + b"\n")
                    if operation == "drain":
                        gc.collect()  # between phases, where no one is waiting (see below)
            finally:
                writer.close()
                done.set()  # the benchmark has gone: so does Telegram

        # Telegram's pauses are not the bot's. The fake keeps every call of a phase, and a full
        # collection over them stopped it for ~80 ms in the middle of the open loop: the bot's
        # requests and the next updates waited, and the benchmark charged that to the bot's
        # p99. Young objects are still collected as usual; full collections run at each drain.
        gc.collect()
        gc.freeze()
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, 1_000_000_000)
        server = await asyncio.start_unix_server(one_client, path)
        print(tg.base_url, flush=True)
        async with server:
            await done.wait()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1]))
