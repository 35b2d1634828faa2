"""The upstream side: one httpx AsyncClient on the `httpx-aiohttp` transport.

httpx's default transport serialises under concurrency (~190 req/s here); the
aiohttp transport keeps the httpx API at ~1,450 req/s (DESIGN.md). With that
default transport, requests go to its aiohttp session directly (no
`httpx.Request` to build and take apart again); a transport handed in (tests,
MockTransport) gets a regular `httpx.Request`. With that default transport, a
plain-HTTP POST with a body goes through `proxy.http1` instead (the same bytes
both ways, a fifth of the CPU; `lean=False` turns it off). Either way the
answer is an `httpx.Response`. Responses are opened in streaming mode and relayed chunk by chunk, exactly as received:
no decompression (upstream is asked for `identity` so capture can read it),
no re-chunking, no buffering beyond what the socket hands over.

Connections: at most `max_connections` open to each backend origin at once
(aiohttp's own pool is unlimited, so it never queues). A request beyond that
waits up to `pool_timeout_s` for a slot, then gets its own error,
`UpstreamPoolExhausted` (503 `upstream_pool_exhausted`), instead of a misleading
504: waiting for a slot never counts against the connect timeout, which covers
the TCP/TLS connect only. A slot is held until the answer's body is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream

from proxy.errors import (
    UpstreamError,
    UpstreamPoolExhausted,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from proxy.http1 import Http1Pool, LeanBody

__all__ = ["HOP_BY_HOP", "Forwarder", "upstream_error"]

#: Headers never forwarded in either direction (RFC 9110 7.6.1), plus ones we recompute.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def upstream_error(exc: BaseException) -> UpstreamError:
    """Classify an httpx/aiohttp failure as unreachable (502) or timeout (504).

    The aiohttp transport maps every connection error to httpx.ConnectTimeout,
    so the original aiohttp exception (`__cause__`) decides.
    """
    return _classify(exc.__cause__ or exc)


def _classify(cause: BaseException) -> UpstreamError:
    if isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError):
        return UpstreamUnreachable(f"backend unreachable: {type(cause).__name__}")
    if isinstance(
        cause, asyncio.TimeoutError | aiohttp.ServerTimeoutError | httpx.TimeoutException
    ):
        return UpstreamTimeout("backend did not answer in time")
    return UpstreamUnreachable(f"backend connection failed: {type(cause).__name__}")


class _DirectStream(AiohttpResponseStream):
    """The body of an answer opened on the direct path, its aiohttp response at hand.

    Closing it gives the backend's connection slot back (once).
    """

    def __init__(
        self, upstream: aiohttp.ClientResponse, slot: asyncio.Semaphore | None = None
    ) -> None:
        super().__init__(upstream)
        self.upstream = upstream
        self._slot = slot

    async def read(self) -> bytes:
        """The whole body in one aiohttp call (what's left of it)."""
        return await self.upstream.read()

    async def aclose(self) -> None:
        slot, self._slot = self._slot, None
        try:
            await super().aclose()
        finally:
            if slot is not None:
                slot.release()

    def __del__(self) -> None:  # a response dropped unclosed must not leak its slot
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.release()


class Forwarder:
    """Send requests upstream and stream the answers back; start/stop are idempotent."""

    def __init__(
        self,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int = 16_384,
        pool_timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        lean: bool = True,
    ) -> None:
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=pool_timeout_s)
        # The direct path: `sock_connect` is the TCP connect alone; aiohttp's `connect`
        # would also count the wait for a pooled connection, which our slots bound.
        self._aiohttp_timeout = aiohttp.ClientTimeout(
            sock_connect=connect_timeout_s, sock_read=timeout_s
        )
        self._connect_s, self._read_s = connect_timeout_s, timeout_s
        self._max_connections = max_connections
        self._pool_timeout_s = pool_timeout_s
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._extensions = {"timeout": self._timeout.as_dict()}
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._lean: Http1Pool | None = None
        self._use_lean = lean
        self._send: Callable[[httpx.Request], Awaitable[httpx.Response]]

    async def start(self) -> None:
        if self._client is None:
            transport = self._transport
            if transport is None:
                self._session = self._session_factory()
                transport = AiohttpTransport(trust_env=False, client=self._session)
                if self._use_lean:
                    self._lean = Http1Pool(connect_s=self._connect_s, read_s=self._read_s)
            self._client = httpx.AsyncClient(
                transport=transport, timeout=self._timeout, trust_env=False
            )
            self._send = transport.handle_async_request

    def _session_factory(self) -> aiohttp.ClientSession:
        # No cookie jar: a proxy must never replay one client's cookies to another.
        # No automatic User-Agent: the client's headers go upstream as they are.
        # Idle connections are dropped before common servers drop them (uvicorn, so
        # vLLM and the fake backend: 5 s): reusing one the server is closing fails.
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=4, ttl_dns_cache=60),
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
            auto_decompress=False,
        )

    async def stop(self) -> None:
        client, self._client, self._session = self._client, None, None
        lean, self._lean = self._lean, None
        if lean is not None:
            lean.close()
        if client is not None:
            await client.aclose()  # closes the aiohttp session too

    async def open(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes
    ) -> httpx.Response:
        """Send the request and return the response with its body unread.

        The request goes straight to the client's transport: a proxy must not
        follow redirects, add auth or keep a cookie jar shared by all clients,
        which `AsyncClient.send` would do.

        Raises:
            UpstreamUnreachable: refused, reset or unresolvable (502).
            UpstreamTimeout: connect or first-byte timeout (504).
            UpstreamPoolExhausted: no connection slot to this backend in time (503).
        """
        if self._client is None:
            raise RuntimeError("Forwarder not started")
        try:
            if self._lean is not None and self._lean.takes(method, url, headers, body):
                slot = await self._slot(url)
                try:
                    return await self._lean.open(url, headers, body, slot)
                except BaseException:
                    slot.release()
                    raise
            if self._session is not None:
                return await self._open_direct(self._session, method, url, headers, body)
            request = httpx.Request(
                method, url, headers=headers, content=body, extensions=self._extensions
            )
            return await self._send(request)
        except (TimeoutError, httpx.HTTPError, aiohttp.ClientError, OSError) as exc:
            raise upstream_error(exc) from exc

    async def _open_direct(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> httpx.Response:
        """What `AiohttpTransport.handle_async_request` does, minus the `httpx.Request`.

        Building that request (URL parsing, header normalisation) and turning it
        back into aiohttp arguments was ~8% of the proxy's CPU per request. The
        answer is the same `httpx.Response` over the same aiohttp stream.
        """
        slot = await self._slot(url)
        try:
            upstream = await session.request(
                method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                compress=False,
                timeout=self._aiohttp_timeout,
            )
        except BaseException:
            slot.release()
            raise
        extensions = {"http_version": b"HTTP/1.1"}
        if upstream.reason:
            extensions["reason_phrase"] = upstream.reason.encode()
        return httpx.Response(
            upstream.status,
            headers=upstream.raw_headers,
            stream=_DirectStream(upstream, slot),
            extensions=extensions,
        )

    async def _slot(self, url: str) -> asyncio.Semaphore:
        """A connection slot to the URL's origin; raises UpstreamPoolExhausted in time."""
        scheme, _, rest = url.partition("://")
        origin = scheme + "://" + rest.split("/", 1)[0]
        slot = self._slots.get(origin)
        if slot is None:
            slot = self._slots[origin] = asyncio.Semaphore(self._max_connections)
        if not slot.locked():
            await slot.acquire()  # free: no wait
            return slot
        try:
            await asyncio.wait_for(slot.acquire(), self._pool_timeout_s)
        except TimeoutError:
            raise UpstreamPoolExhausted(
                f"all {self._max_connections} connections to this backend are busy "
                f"(waited {self._pool_timeout_s:g}s); raise upstream_max_connections"
            ) from None
        return slot

    @staticmethod
    async def chunks(response: httpx.Response) -> AsyncIterator[bytes]:
        """The raw body bytes as they arrive; raises UpstreamError when the backend fails."""
        if response.is_stream_consumed:  # a transport that pre-read the body (MockTransport)
            if response.content:
                yield response.content
            return
        try:
            async for chunk in response.aiter_raw():
                if chunk:
                    yield chunk
        except (TimeoutError, httpx.HTTPError, aiohttp.ClientError, OSError) as exc:
            raise upstream_error(exc) from exc

    @staticmethod
    async def read(response: httpx.Response) -> bytes:
        """The whole raw body (the caller closes the response); raises UpstreamError.

        An answer from the direct path or the lean client is read in one call,
        without the per-chunk async generators of `chunks`.
        """
        stream = response.stream
        if isinstance(stream, (LeanBody, _DirectStream)):
            try:
                return await stream.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise _classify(exc) from exc
        return b"".join([c async for c in Forwarder.chunks(response)])
