"""A small keep-alive HTTP/1.1 client for the Bot API's JSON calls.

Every update the bot handles ends in one or two POSTs to the Bot API (answer the button, send
or edit a card). Through aiohttp's client each of them cost about as much CPU as the rest of
the update's Telegram work together: a request object, a response object, header multidicts,
cookie jar and tracing hooks, a timer context, a URL join — for a request whose shape never
changes. This client writes the request as one prepared byte string on a pooled connection
and reads back a status and a body. It speaks exactly what the Bot API needs: POST with a JSON
body, responses framed by Content-Length, chunked transfer coding or the end of the
connection, TLS with the system's and certifi's roots, connections kept alive and reused.

What it does not do, on purpose: redirects, cookies, proxies, compression (it never asks for
any), or retrying a POST (a Bot API call is not idempotent; like aiohttp, a failure is
reported, and the caller decides). Idle connections are closed after `keepalive` seconds, well
before Telegram's side would close them, so a reused connection is rarely a dead one.

The request's path holds the bot's token: no error message or log line here includes it.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi

_CRLF = b"\r\n"
_HEAD_END = b"\r\n\r\n"
MAX_HEAD = 64 * 1024
"""A response whose status line and headers are longer than this is not the Bot API."""


class ProtocolError(ConnectionError):
    """The server's answer was not HTTP/1.x as this client understands it."""


@dataclass(frozen=True, slots=True)
class _Target:
    """Where one URL's requests go, and the start of each request, prepared once."""

    origin: tuple[str, int, bool]
    """Host, port, TLS."""
    head: bytes
    """Request line and fixed headers, up to "Content-Length: "."""


class _Connection(asyncio.Protocol):
    """One connection: sends a request, parses one response, then waits to be reused."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.idle_since = 0.0

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.answer is None or self.answer.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        self.buffer += data
        try:
            parsed = _parse(self.buffer, at_eof=False)
        except ProtocolError as error:
            self.fail(error)
            return
        if parsed is not None:
            self._finish(*parsed)

    def eof_received(self) -> bool:
        self._ended()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    # -- our side ------------------------------------------------------------------------

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None and self.answer is None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.answer

    def released(self, now: float) -> None:
        self.answer = None
        self.idle_since = now

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _finish(self, status: int, body: bytes, keep_alive: bool, used: int) -> None:
        del self.buffer[:used]
        if self.buffer or not keep_alive:
            self.close()  # more than one answer to one request, or the server said so
        if self.answer is not None and not self.answer.done():
            self.answer.set_result((status, body))

    def fail(self, error: Exception) -> None:
        self.abort()
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(error)

    def _ended(self, exc: Exception | None = None) -> None:
        self.closed = True
        answer = self.answer
        if answer is None or answer.done():
            return
        try:  # a body delimited by the end of the connection ends here
            parsed = _parse(self.buffer, at_eof=True)
        except ProtocolError as error:
            answer.set_exception(error)
            return
        if parsed is None:
            reason = f": {exc}" if exc is not None else ""
            answer.set_exception(ConnectionResetError(f"the server closed the connection{reason}"))
        else:
            self._finish(*parsed)


def _parse(buffer: bytearray, *, at_eof: bool) -> tuple[int, bytes, bool, int] | None:
    """(status, body, keep-alive, bytes used) once `buffer` holds a whole response, else None."""
    head_end = buffer.find(_HEAD_END)
    if head_end < 0:
        if len(buffer) > MAX_HEAD:
            raise ProtocolError("response headers too long")
        return None
    lines = bytes(buffer[:head_end]).split(_CRLF)
    status_line = lines[0]
    if not status_line.startswith(b"HTTP/1.") or len(status_line) < 12:
        raise ProtocolError("not an HTTP/1.x response")
    try:
        status = int(status_line[9:12])
    except ValueError:
        raise ProtocolError("no status code") from None
    keep_alive = status_line.startswith(b"HTTP/1.1")
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                raise ProtocolError("bad Content-Length") from None
        elif name == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
        elif name == b"connection":
            tokens = value.strip().lower()
            if tokens == b"close":
                keep_alive = False
            elif tokens == b"keep-alive":
                keep_alive = True
    start = head_end + len(_HEAD_END)
    if chunked:
        decoded = _dechunk(buffer, start)
        if decoded is None:
            return None
        body, used = decoded
        return status, body, keep_alive, used
    if length is not None:
        if len(buffer) - start < length:
            return None
        return status, bytes(buffer[start : start + length]), keep_alive, start + length
    if status == 204 or status == 304 or 100 <= status < 200:
        return status, b"", keep_alive, start
    if not at_eof:
        return None  # the body runs to the end of the connection
    return status, bytes(buffer[start:]), False, len(buffer)


def _dechunk(buffer: bytearray, position: int) -> tuple[bytes, int] | None:
    """A chunked body from `position`: (body, end of the message), or None if incomplete."""
    parts: list[bytes] = []
    while True:
        line_end = buffer.find(_CRLF, position)
        if line_end < 0:
            return None
        size_text = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError("bad chunk size") from None
        position = line_end + 2
        if size == 0:  # the last chunk; trailers, if any, end with an empty line
            if buffer[position : position + 2] == _CRLF:
                return b"".join(parts), position + 2
            trailers_end = buffer.find(_HEAD_END, position)
            if trailers_end < 0:
                return None
            return b"".join(parts), trailers_end + len(_HEAD_END)
        if len(buffer) < position + size + 2:
            return None
        parts.append(bytes(buffer[position : position + size]))
        if buffer[position + size : position + size + 2] != _CRLF:
            raise ProtocolError("chunk not followed by CRLF")
        position += size + 2


class KeepAliveClient:
    """POSTs JSON and returns (status, body); at most `limit` requests in flight at once."""

    def __init__(
        self,
        *,
        limit: int = 100,
        keepalive: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.keepalive = keepalive
        self._limit = asyncio.Semaphore(limit)
        self._ssl = ssl_context
        self._targets: dict[str, _Target] = {}
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._closed = False
        self.opened = 0
        """Connections opened so far (for tests and the benchmark)."""

    async def post_json(self, url: str, body: bytes, timeout: float) -> tuple[int, bytes]:  # noqa: ASYNC109
        """POST `body` (JSON) to `url`. Raises OSError (ConnectionError included) when the
        request could not be completed, TimeoutError after `timeout` seconds."""
        if self._closed:
            raise ConnectionError("the client is closed")
        target = self._targets.get(url)
        if target is None:
            target = self._targets[url] = _target(url)
        request = b"%s%d\r\n\r\n%s" % (target.head, len(body), body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._limit:
            connection = self._reuse(target.origin, loop.time())
            if connection is None:
                connection = await self._connect(target.origin, deadline - loop.time())
            self._busy.add(connection)
            answer = connection.send(request)
            timer = loop.call_at(deadline, _time_out, connection)
            try:
                return await answer
            finally:
                timer.cancel()
                self._busy.discard(connection)
                if not answer.done() or answer.cancelled():
                    connection.abort()  # cancelled mid-answer: its bytes would confuse the next
                self._release(target.origin, connection, loop.time())

    async def close(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        for connection in list(self._busy):
            connection.abort()

    @property
    def idle_connections(self) -> int:
        return sum(len(connections) for connections in self._idle.values())

    def _reuse(self, origin: tuple[str, int, bool], now: float) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        # Most recently used first (it is the warmest); the oldest ages out from the bottom.
        if now - idle[0].idle_since > self.keepalive:
            idle.pop(0).close()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since <= self.keepalive:
                return connection
            connection.close()
        return None

    def _release(self, origin: tuple[str, int, bool], connection: _Connection, now: float) -> None:
        if self._closed or connection.closed:
            connection.close()
            return
        connection.released(now)
        self._idle.setdefault(origin, []).append(connection)

    async def _connect(self, origin: tuple[str, int, bool], timeout: float) -> _Connection:  # noqa: ASYNC109
        host, port, tls = origin
        context: ssl.SSLContext | None = None
        if tls:
            if self._ssl is None:
                self._ssl = ssl.create_default_context(cafile=certifi.where())
            context = self._ssl
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(max(timeout, 0.0)):
            _, connection = await loop.create_connection(
                _Connection, host, port, ssl=context, server_hostname=host if tls else None
            )
        self.opened += 1
        return connection


def _time_out(connection: _Connection) -> None:
    connection.fail(TimeoutError("no answer in time"))


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("only http:// and https:// URLs with a host are supported")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6 literal
    host_header = host if port == (443 if tls else 80) else f"{host}:{port}"
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host_header}\r\n"
        "User-Agent: win4ua-bot\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: "
    ).encode("ascii")
    return _Target(origin=(parts.hostname, port, tls), head=head)
