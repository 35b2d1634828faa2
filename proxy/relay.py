"""Relaying one upstream answer to the ASGI client, capturing it on the side.

Streams go chunk by chunk, exactly as received, with the kill check before
every chunk; buffered (non-stream) answers are read whole and sent with their
length. Either way the result is what the parsers assembled plus an outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx

from proxy.dialects import Assembled, parse_response_body
from proxy.enforcement.base import Enforcement
from proxy.errors import (
    ProxyError,
    SessionKilled,
    UpstreamError,
    UpstreamTimeout,
    error_body,
    stream_error_chunk,
)
from proxy.forward import HOP_BY_HOP, Forwarder
from proxy.pii.placeholders import Restorer
from proxy.pii.rehydrate import StreamRehydrator, TextRehydrator, restore_body
from proxy.sse import StreamParser, WindowCutter
from schemas.events import Outcome, Provider, SessionCommand

__all__ = [
    "Receive",
    "Relayed",
    "Scope",
    "Send",
    "is_stream",
    "killed_error",
    "relay_buffered",
    "relay_stream",
    "response_headers",
    "send_error",
]

# ASGI: the connection scope, and the two channels of one request.
Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


@dataclass(slots=True)
class Relayed:
    """How a relay ended."""

    outcome: Outcome
    body_bytes: int
    result: Assembled | None
    error_type: str | None = None
    error_message: str | None = None


_BUFFER_MAX = 4 * 1024 * 1024
_HOP_BY_HOP_RAW = frozenset(h.encode("latin-1") for h in HOP_BY_HOP)


def is_stream(response: httpx.Response) -> bool:
    """Whether to relay incrementally: SSE, NDJSON, no declared length, or a large body."""
    ctype = response.headers.get("content-type", "")
    length = response.headers.get("content-length")
    return (
        "text/event-stream" in ctype
        or "ndjson" in ctype
        or length is None
        or not length.isdigit()
        or int(length) > _BUFFER_MAX
    )


def response_headers(
    response: httpx.Response, extra: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The backend's headers minus hop-by-hop ones, plus ours."""
    out = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP_BY_HOP_RAW]
    out.extend(extra)
    return out


def killed_error(cmd: SessionCommand, session_id: str) -> SessionKilled:
    """The 403 error naming the kill's reason and rule."""
    reason = cmd.reason or "killed by policy"
    return SessionKilled(
        f"session blocked: {reason}",
        extra={"reason": reason, "rule_id": cmd.rule_id or "", "session_id": session_id},
    )


async def relay_buffered(
    response: httpx.Response,
    send: Send,
    headers: list[tuple[bytes, bytes]],
    provider: Provider,
    path: str,
    capture: bool,
    restorer: Restorer | None = None,
    before_send: Callable[[Relayed], object] | None = None,
) -> Relayed:
    """Read the whole (small, sized) answer, parse it, send it.

    With a `restorer` the client gets the answer with PII placeholders restored;
    the audit parses the backend's bytes unless `restorer.audit_restored`.
    `before_send` gets the result before the client sees a byte of it: the response
    event is recorded first (with `durability: wal`, on disk before the answer goes
    out, so an answer a client received always has its event).
    """
    try:
        body = await Forwarder.read(response)
    finally:
        await response.aclose()
    out = body
    if restorer is not None and body:
        out = restore_body(restorer, body)
    if out is body:
        # The backend's own length: exact for identity bodies and right for HEAD.
        headers.append((b"content-length", response.headers["content-length"].encode()))
    else:
        headers.append((b"content-length", str(len(out)).encode()))
    audited = out if restorer is not None and restorer.audit_restored else body
    result = parse_response_body(provider, path, audited) if capture else None
    relayed = Relayed("ok" if response.status_code < 400 else "upstream_error", len(out), result)
    if before_send is not None:
        before_send(relayed)
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": out, "more_body": False})
    return relayed


def _more(body: bytes) -> dict[str, Any]:
    """One body message of a response that goes on."""
    return {"type": "http.response.body", "body": body, "more_body": True}


async def relay_stream(
    response: httpx.Response,
    receive: Receive,
    send: Send,
    headers: list[tuple[bytes, bytes]],
    *,
    provider: Provider,
    capture: bool,
    enforcement: Enforcement,
    session_id: str,
    cutter: WindowCutter | None,
    on_window: Callable[[int, int, str], None],
    restorer: Restorer | None = None,
    rehydrate_as: str | None = None,
) -> Relayed:
    """Relay chunk by chunk; cut on a kill, stop on a client disconnect.

    With a `restorer`, PII placeholders are restored event by event (at most one
    placeholder's length held back), reading events as `rehydrate_as` (default
    `provider`) shapes them; a stream that is neither SSE nor NDJSON is restored
    as text. The audit parses the backend's bytes unless `restorer.audit_restored`.
    """
    ctype = response.headers.get("content-type", "")
    # Ollama streams NDJSON whatever content type it declares (some versions and
    # compatible servers send application/json): its kill marker is a JSON line.
    ndjson = provider == "ollama" or "ndjson" in ctype
    framed = ndjson or "text/event-stream" in ctype
    parser = StreamParser(provider, ndjson=ndjson) if capture else None
    rehydrator: StreamRehydrator | TextRehydrator | None = None
    if restorer is not None:
        if framed:
            rehydrator = StreamRehydrator(rehydrate_as or provider, restorer, ndjson=ndjson)
        else:
            rehydrator = TextRehydrator(restorer, json="json" in ctype)
    audit_restored = restorer is not None and restorer.audit_restored
    gone = asyncio.Event()

    async def watch() -> None:
        while True:
            msg = await receive()
            if msg.get("type") == "http.disconnect":
                gone.set()
                return

    watcher = asyncio.create_task(watch())
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    outcome: Outcome = "ok" if response.status_code < 400 else "upstream_error"
    total = 0
    err_type = err_msg = None
    try:
        async for chunk in Forwarder.chunks(response):
            if gone.is_set():
                outcome = "client_disconnect"
                break
            cmd = enforcement.check(session_id)
            if cmd is not None:
                err = killed_error(cmd, session_id)
                if framed:
                    await send(_more(stream_error_chunk(provider, err, ndjson=ndjson)))
                outcome, err_type, err_msg = "killed", err.error_type, err.message
                break
            out = rehydrator.feed(chunk) if rehydrator is not None else chunk
            if out:
                await send(_more(out))
            total += len(out)
            if parser is not None:
                text = parser.feed(out if audit_restored else chunk)
                if text and cutter is not None:
                    for window in cutter.feed(text):
                        on_window(*window)
        else:
            if gone.is_set():
                outcome = "client_disconnect"
            elif rehydrator is not None:
                tail = rehydrator.finish()
                if tail:
                    await send(_more(tail))
                    total += len(tail)
                    if parser is not None and audit_restored:
                        parser.feed(tail)
    except UpstreamError as exc:
        outcome = "timeout" if isinstance(exc, UpstreamTimeout) else "upstream_error"
        err_type, err_msg = exc.error_type, exc.message
        if framed and not gone.is_set():
            await send(_more(stream_error_chunk(provider, exc, ndjson=ndjson)))
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await response.aclose()
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    result = parser.finish() if parser is not None else None
    if cutter is not None and result is not None:
        last = cutter.finish()
        if last is not None:
            on_window(*last)
    return Relayed(outcome, total, result, err_type, err_msg)


async def send_error(send: Send, err: ProxyError, shape: Provider, request_id: str) -> None:
    """Answer `err` as JSON in the given provider's error shape."""
    body = error_body(shape, err)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-modeltrail-request-id", request_id.encode()),
        *err.response_headers(),
    ]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
