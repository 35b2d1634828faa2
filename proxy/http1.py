"""A lean HTTP/1.1 client for the forwarder's commonest request: a POST with a body over plain HTTP.

aiohttp costs ~195 µs of CPU per exchange here (its request and response
objects, payload registry, writer task, per-read timers); the same exchange
over one asyncio Protocol with httptools' parser costs ~60 µs, a fifth of the
proxy's CPU per request. `Http1Pool.takes` says which requests it handles; the
`Forwarder` sends every other one (https, other methods, an empty body, no
`Accept-Encoding`, a client `Host` or `Expect`, CR or LF in a header) through
aiohttp as before.

What it keeps from the aiohttp path, byte for byte (`tests/integration/
test_proxy_http1.py` diffs the two against scripted servers):

- the request: `POST <path?query> HTTP/1.1`, `Host` first, the headers in the
  order given (UTF-8), then `Accept: */*` when none was given, `Content-Length`, and
  `Content-Type: application/octet-stream` when none was given; the path and
  query as yarl writes them;
- the answer: an `httpx.Response` with the raw headers as received, the
  reason phrase, the body de-chunked and never decompressed;
- failures, as the exceptions the `Forwarder` classifies: the connect's own
  `OSError`, `ServerDisconnectedError` before the head, `ClientPayloadError`
  for a body cut short, `ConnectionTimeoutError` and `SocketTimeoutError` for
  the connect and read timeouts, `ClientResponseError` for an unparsable answer;
- the timeouts: `connect_s` covers the TCP connect alone, `read_s` the wait for
  each read (off while the consumer has paused reading);
- connections: kept alive per origin when the answer allows it and was read to
  the end, dropped after `keepalive_s` idle (before common servers drop them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

import aiohttp
import httptools
import httpx
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = ["Http1Pool", "LeanBody"]

_HIGH_WATER = 2**16  # buffered body bytes before reading pauses (aiohttp's limit)
_URLS_MAX = 4096


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_s: float) -> None:
        self.loop = loop
        self.read_s = read_s
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_timer: asyncio.TimerHandle | None = None
        self.active = False  # an exchange is under way (bytes between two are a fault)
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head: asyncio.Future[None] = self.loop.create_future()
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.complete = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.delimited = False  # the body's end is marked (length or chunked), not the EOF
        self.keep_alive = False
        self.timer: asyncio.TimerHandle | None = None
        self.last_read = 0.0
        # Bytes came after the answer (a second answer nobody asked for): the server is out
        # of step with the requests, so they are dropped and the connection is never reused.
        self.trailing = False

    # ---- the exchange ----------------------------------------------------------

    def send(self, data: list[bytes]) -> None:
        """Start an exchange: write the request and arm the read timeout."""
        assert self.transport is not None
        self.active = True
        self.transport.writelines(data)
        self.last_read = self.loop.time()
        self._arm()

    def reusable(self) -> bool:
        return (
            self.complete
            and self.error is None
            and not self.closed
            and self.keep_alive
            and not self.trailing
        )

    def recycle(self) -> None:
        self.active = False
        self._reset()

    def close(self) -> None:
        self.closed = True
        self._disarm()
        if self.transport is not None:
            self.transport.close()

    # ---- timeouts ----------------------------------------------------------------

    def _arm(self) -> None:
        if self.timer is None and self.read_s:
            self.timer = self.loop.call_at(self.last_read + self.read_s, self._check_timeout)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _check_timeout(self) -> None:
        self.timer = None
        if self.complete or self.error is not None or self.paused:
            return
        if self.loop.time() - self.last_read < self.read_s:
            self._arm()  # data came meanwhile: wait the rest of the window
            return
        self._fail(aiohttp.SocketTimeoutError("Timeout on reading data from socket"))
        self.close()

    # ---- protocol callbacks ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.active:  # an idle connection the server talks on: never reuse it
            self.close()
            return
        self.last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            # As aiohttp: a packet that does not parse is refused whole, its head included.
            self._fail(_parse_error(self.head.done(), str(exc)))
            self.close()
            return
        if self.status and not self.head.done():
            self.head.set_result(None)

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True  # an idle one stays listed until its expiry or next use skips it
        self._disarm()
        if self.complete or self.error is not None:
            return
        if not self.head.done():
            self._fail(aiohttp.ServerDisconnectedError())
        elif not self.delimited:
            self.on_message_complete()  # the body ran to the end of the connection
        else:
            self._fail(aiohttp.ClientPayloadError("Response payload is not completed"))

    def pause_writing(self) -> None:
        return None

    def resume_writing(self) -> None:
        return None

    def on_message_begin(self) -> None:
        if self.complete:
            self.trailing = True

    def on_status(self, reason: bytes) -> None:
        if not self.complete:
            self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.complete:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            return  # interim (100 Continue): the answer follows
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()  # (always False once complete)
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"content-length" or (
                lower == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                self.delimited = True

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self._disarm()
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.complete:
            return
        if self.status == 0:  # the end of an interim answer
            self.headers = []
            self.reason = b""
            return
        self.complete = True
        self.delimited = True
        self._disarm()
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = exc
            self._disarm()
            if not self.head.done():
                self.head.set_exception(exc)
                self.head.exception()  # retrieved: a dropped exchange must not log it
            self._wake()

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ---- reading the body ----------------------------------------------------------------

    async def next_chunk(self) -> bytes:
        """The next piece of the body, b"" at its end; raises what ended it otherwise."""
        while not self.chunks:
            if self.error is not None:
                raise self.error
            if self.complete:
                return b""
            self.waiter = self.loop.create_future()
            await self.waiter
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        if self.paused and self.buffered <= _HIGH_WATER // 4 and self.transport is not None:
            self.paused = False
            self.last_read = self.loop.time()
            self._arm()
            self.transport.resume_reading()
        return chunk

    async def read_all(self) -> bytes:
        parts = []
        while chunk := await self.next_chunk():
            parts.append(chunk)
        return b"".join(parts)


def _parse_error(in_body: bool, message: str) -> Exception:
    """What aiohttp raises for an answer whose head its parser refuses.

    A body that stops parsing after its head went through (a packet later) fails
    its read with `ClientPayloadError`; aiohttp leaves that read waiting forever.
    """
    cause = HttpProcessingError(message=message)
    if in_body:
        payload = aiohttp.ClientPayloadError(f"Response payload is not completed: {message}")
        payload.__cause__ = cause
        return payload
    exc = aiohttp.ClientResponseError(
        aiohttp.RequestInfo(URL(), "POST", CIMultiDictProxy(CIMultiDict()), URL()),
        (),
        message=message,
    )
    exc.__cause__ = cause
    return exc


class LeanBody(httpx.AsyncByteStream):
    """The answer's body; closing it hands the connection back (or drops it)."""

    def __init__(
        self, pool: Http1Pool, origin: str, conn: _Connection, slot: asyncio.Semaphore | None
    ) -> None:
        self.pool = pool
        self.origin = origin
        self.conn: _Connection | None = conn
        self._slot = slot

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self.conn
        if conn is None:
            return
        while chunk := await conn.next_chunk():
            yield chunk

    async def read(self) -> bytes:
        """The whole body (what's left of it)."""
        conn = self.conn
        return await conn.read_all() if conn is not None else b""

    async def aclose(self) -> None:
        conn, self.conn = self.conn, None
        slot, self._slot = self._slot, None
        if conn is not None:
            self.pool.release(self.origin, conn)
        if slot is not None:
            slot.release()

    def __del__(self) -> None:  # dropped unclosed: never reuse a half-read connection
        conn, self.conn = self.conn, None
        slot, self._slot = self._slot, None
        if conn is not None:
            conn.close()
        if slot is not None:
            slot.release()


class Http1Pool:
    """Keep-alive connections per origin for `takes` requests; `close` drops them all."""

    def __init__(self, *, connect_s: float, read_s: float, keepalive_s: float = 4.0) -> None:
        self._connect_s = connect_s
        self._read_s = read_s
        self._keepalive_s = keepalive_s
        self._idle: dict[str, list[_Connection]] = {}
        self._urls: dict[str, tuple[str, str, int, bytes, bytes]] = {}

    @staticmethod
    def takes(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> bool:
        """Whether this client handles the request (else aiohttp does)."""
        if method != "POST" or not body or not url.startswith("http://"):
            return False
        encoding = False  # (the proxy always asks for `identity`; aiohttp's default varies)
        for name, value in headers:
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                return False  # aiohttp refuses it (ValueError): never write it here
            if len(name) in (4, 6, 15):
                lower = name.lower()
                if lower in ("host", "expect"):
                    return False
                encoding = encoding or lower == "accept-encoding"
        return encoding

    def _target(self, url: str) -> tuple[str, str, int, bytes, bytes]:
        """(origin, host, port, request target, Host value) of a URL, as aiohttp writes them."""
        hit = self._urls.get(url)
        if hit is None:
            u = URL(url)
            host = u.raw_host or ""
            port = u.port or 80
            hit = (
                f"{host}:{port}",
                host,
                port,
                u.raw_path_qs.encode("latin-1"),
                u.host_port_subcomponent.encode("latin-1") if u.host_port_subcomponent else b"",
            )
            if len(self._urls) >= _URLS_MAX:
                self._urls.clear()
            self._urls[url] = hit
        return hit

    async def open(
        self,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
        slot: asyncio.Semaphore | None = None,
    ) -> httpx.Response:
        """Send a POST and return the answer with its body unread; raises what aiohttp would.

        `slot` is released when the answer's body is closed.
        """
        origin, host, port, target, host_value = self._target(url)
        head = [b"POST ", target, b" HTTP/1.1\r\nHost: ", host_value, b"\r\n"]
        accept = ctype = False
        for name, value in headers:
            lower = name.lower()
            if lower == "accept":
                accept = True
            elif lower == "content-type":
                ctype = True
            head.append(f"{name}: {value}\r\n".encode())
        if not accept:
            head.append(b"Accept: */*\r\n")
        head.append(b"Content-Length: %d\r\n" % len(body))
        if not ctype:
            head.append(b"Content-Type: application/octet-stream\r\n")
        head.append(b"\r\n")
        conn = await self._connection(origin, host, port)
        try:
            conn.send([b"".join(head), body])
            await conn.head
        except BaseException:
            conn.close()
            raise
        return httpx.Response(
            conn.status,
            headers=conn.headers,
            stream=LeanBody(self, origin, conn, slot),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason}
            if conn.reason
            else {"http_version": b"HTTP/1.1"},
        )

    async def _connection(self, origin: str, host: str, port: int) -> _Connection:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.idle_timer is not None:
                conn.idle_timer.cancel()
                conn.idle_timer = None
            if not conn.closed:
                return conn
        loop = asyncio.get_running_loop()
        read_s = self._read_s
        try:
            async with asyncio.timeout(self._connect_s or None):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop, read_s), host, port
                )
        except TimeoutError as exc:
            raise aiohttp.ConnectionTimeoutError(f"Connection timeout to host {origin}") from exc
        return conn

    def release(self, origin: str, conn: _Connection) -> None:
        """Take a connection back after its answer: kept when reusable, else closed."""
        if not conn.reusable():
            conn.close()
            return
        conn.recycle()
        idle = self._idle.setdefault(origin, [])
        idle.append(conn)
        conn.idle_timer = conn.loop.call_later(self._keepalive_s, self._expire, origin, conn)

    def _expire(self, origin: str, conn: _Connection) -> None:
        conn.idle_timer = None
        idle = self._idle.get(origin)
        if idle is not None and conn in idle:
            idle.remove(conn)
        conn.close()

    def close(self) -> None:
        """Close every idle connection (the ones in use close with their answers)."""
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                with contextlib.suppress(Exception):
                    conn.close()
