"""The Bot API's keep-alive HTTP client (bot/keepalive.py) against a scripted HTTP server.

The end-to-end tests drive it against the fake Telegram server (aiohttp's web server); here a
raw asyncio server answers in the ways a real server or network may: split packets, chunked
bodies, closing at any moment, never answering at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from bot.keepalive import KeepAliveClient, ProtocolError, _target

Answer = Callable[[asyncio.StreamWriter, int], Awaitable[bool]]
"""Writes the answer to the n-th request (from 1); returns False to hang up afterwards."""

SECRET_PATH = "/bot123456:SECRET-TOKEN/sendMessage"


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> Answer:
    async def answer(writer: asyncio.StreamWriter, _: int) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
            % (extra, len(body), body)
        )
        return b"close" not in extra

    return answer


@dataclass
class Server:
    answer: Answer
    port: int = 0
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[tuple[bytes, dict[bytes, bytes], bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{SECRET_PATH}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, *lines = head[:-4].split(b"\r\n")
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (item.partition(b":") for item in lines)
                }
                body = await reader.readexactly(int(headers[b"content-length"]))
                self.requests.append((line, headers, body))
                if not await self.answer(writer, len(self.requests)):
                    return
                await writer.drain()
        finally:
            self.open_now -= 1
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> Server:
        server = Server(answer)
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = listening.sockets[0].getsockname()[1]
        servers.append(listening)
        return server

    yield start
    for listening in servers:
        listening.close()


async def test_a_request_is_well_formed_and_the_connection_is_kept(serve) -> None:
    server = await serve(ok(b'{"ok":true,"result":1}'))
    client = KeepAliveClient()
    for n in range(3):
        assert await client.post_json(server.url, b'{"n":%d}' % n, 5) == (
            200,
            b'{"ok":true,"result":1}',
        )
    assert server.connections == 1 and client.opened == 1
    line, headers, body = server.requests[-1]
    assert line == b"POST " + SECRET_PATH.encode() + b" HTTP/1.1"
    assert headers[b"host"] == b"127.0.0.1:%d" % server.port
    assert headers[b"content-type"] == b"application/json"
    assert body == b'{"n":2}'
    await client.close()


async def test_chunked_answers_split_into_single_bytes(serve) -> None:
    wire = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;name=value\r\n{"ok"\r\n6\r\n:true}\r\n0\r\nX-Trailer: yes\r\n\r\n'
    )

    async def answer(writer: asyncio.StreamWriter, _: int) -> bool:
        for byte in wire:
            writer.write(bytes([byte]))
            await writer.drain()
        return True

    server = await serve(answer)
    client = KeepAliveClient()
    assert await client.post_json(server.url, b"{}", 5) == (200, b'{"ok":true}')
    assert await client.post_json(server.url, b"{}", 5) == (200, b'{"ok":true}')
    assert server.connections == 1
    await client.close()


async def test_connection_close_and_a_body_that_runs_to_the_end(serve) -> None:
    async def answer(writer: asyncio.StreamWriter, n: int) -> bool:
        if n % 2:
            writer.write(
                b"HTTP/1.1 429 Too Many\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
            )
        else:
            writer.write(b'HTTP/1.0 200 OK\r\n\r\n{"ok":true}')
        return False

    server = await serve(answer)
    client = KeepAliveClient()
    assert await client.post_json(server.url, b"{}", 5) == (429, b"{}")
    assert await client.post_json(server.url, b"{}", 5) == (200, b'{"ok":true}')
    assert server.connections == 2 and client.idle_connections == 0
    await client.close()


async def test_a_connection_the_server_closed_while_idle_is_not_reused(serve) -> None:
    async def answer(writer: asyncio.StreamWriter, n: int) -> bool:
        await ok()(writer, n)
        return False  # hangs up after answering, without saying so

    server = await serve(answer)
    client = KeepAliveClient()
    await client.post_json(server.url, b"{}", 5)
    await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
    assert await client.post_json(server.url, b"{}", 5) == (200, b'{"ok":true}')
    assert server.connections == 2
    await client.close()


async def test_connections_idle_longer_than_keepalive_are_closed(serve) -> None:
    server = await serve(ok())
    client = KeepAliveClient(keepalive=0.05)
    await client.post_json(server.url, b"{}", 5)
    await client.post_json(server.url, b"{}", 5)
    assert server.connections == 1
    await asyncio.sleep(0.1)
    await client.post_json(server.url, b"{}", 5)
    assert server.connections == 2
    await asyncio.sleep(0.05)
    assert server.open_now == 1  # the aged one was closed, not left to the server
    await client.close()


async def test_no_answer_in_time_is_a_timeout_and_the_connection_is_dropped(serve) -> None:
    async def answer(writer: asyncio.StreamWriter, n: int) -> bool:
        if n == 1:
            writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok"')  # then nothing
            return True
        return await ok()(writer, n)

    server = await serve(answer)
    client = KeepAliveClient()
    with pytest.raises(TimeoutError):
        await client.post_json(server.url, b"{}", 0.1)
    assert await client.post_json(server.url, b"{}", 5) == (200, b'{"ok":true}')
    assert server.connections == 2  # the half-answered connection was not reused
    await client.close()


@pytest.mark.parametrize(
    "wire",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 abc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
async def test_what_is_not_http_is_a_protocol_error(serve, wire: bytes) -> None:
    async def answer(writer: asyncio.StreamWriter, _: int) -> bool:
        writer.write(wire)
        return True

    server = await serve(answer)
    client = KeepAliveClient()
    with pytest.raises(ProtocolError):
        await client.post_json(server.url, b"{}", 5)
    assert client.idle_connections == 0
    await client.close()


async def test_a_reset_mid_body_is_a_connection_error_without_the_token(serve) -> None:
    async def answer(writer: asyncio.StreamWriter, _: int) -> bool:
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ok"')
        return False

    server = await serve(answer)
    client = KeepAliveClient()
    with pytest.raises(ConnectionError) as caught:
        await client.post_json(server.url, b"{}", 5)
    assert "SECRET" not in str(caught.value)
    with pytest.raises(OSError) as refused:  # nobody listening: the error names no path either
        await client.post_json(f"http://127.0.0.1:1{SECRET_PATH}", b"{}", 5)
    assert "SECRET" not in str(refused.value)
    await client.close()


async def test_at_most_limit_requests_in_flight(serve) -> None:
    async def answer(writer: asyncio.StreamWriter, n: int) -> bool:
        await asyncio.sleep(0.05)
        return await ok()(writer, n)

    server = await serve(answer)
    client = KeepAliveClient(limit=2)
    results = await asyncio.gather(*(client.post_json(server.url, b"{}", 5) for _ in range(7)))
    assert results == [(200, b'{"ok":true}')] * 7
    assert server.most_open == 2 and client.opened == 2
    await client.close()


async def test_a_cancelled_request_does_not_leave_its_answer_to_the_next(serve) -> None:
    async def answer(writer: asyncio.StreamWriter, n: int) -> bool:
        await asyncio.sleep(0.1 if n == 1 else 0)
        return await ok(b'{"n":%d}' % n)(writer, n)

    server = await serve(answer)
    client = KeepAliveClient()
    slow = asyncio.create_task(client.post_json(server.url, b"{}", 5))
    await asyncio.sleep(0.02)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    status, body = await client.post_json(server.url, b"{}", 5)
    assert (status, body) == (200, b'{"n":2}')
    await client.close()
    with pytest.raises(ConnectionError):
        await client.post_json(server.url, b"{}", 5)


def test_targets_prepare_host_and_path() -> None:
    assert _target("https://api.telegram.org/bot1:x/getMe").origin == (
        "api.telegram.org",
        443,
        True,
    )
    assert b"\r\nHost: api.telegram.org\r\n" in _target("https://api.telegram.org/bot1:x/a").head
    assert b"\r\nHost: [::1]:8081\r\n" in _target("http://[::1]:8081/bot1:x/a?b=c").head
    assert _target("http://[::1]:8081/bot1:x/a?b=c").head.startswith(b"POST /bot1:x/a?b=c ")
    with pytest.raises(ValueError):
        _target("ftp://example.org/file")
