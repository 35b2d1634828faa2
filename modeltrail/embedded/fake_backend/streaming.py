"""Raw ASGI responses for the fake: frame-by-frame streams, dropped connections, silence.

Starlette's `StreamingResponse` always finishes the body; the fake must also be able to cut
the connection mid-stream (`X-Fake-Drop`) and never answer (`X-Fake-Timeout`), so these
responses speak ASGI directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from modeltrail.embedded.fake_backend.behaviour import Behaviour

__all__ = ["ConnectionDropped", "FrameStream", "NeverAnswer", "ndjson", "sse"]

NEVER_S = 3600.0


class ConnectionDropped(ConnectionError):
    """Raised by a stream told to drop: the server closes the connection mid-body.

    Under uvicorn the client sees an incomplete chunked body; under `httpx.ASGITransport`
    this exception reaches the caller.
    """


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: optional `event:` line, then `data:` JSON (or raw bytes)."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


def ndjson(data: Any) -> bytes:
    """One newline-delimited JSON line (Ollama streaming)."""
    return orjson.dumps(data) + b"\n"


class FrameStream(Response):
    """Send pre-built frames one ASGI body message each, with the request's injected faults.

    `X-Fake-Chunk-Delay-Ms` sleeps between frames, `X-Fake-Malformed-SSE` inserts `broken`
    in the middle, `X-Fake-Drop` raises ConnectionDropped halfway through.
    """

    def __init__(
        self,
        frames: Sequence[bytes],
        behaviour: Behaviour,
        *,
        media_type: str = "text/event-stream",
        broken: bytes = b'data: {"id": "broken", "choices": [{"delta": {"content": "\n\n',
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers({"cache-control": "no-cache", **(headers or {})})
        self.frames = list(frames)
        if behaviour.malformed_sse:
            self.frames.insert(len(self.frames) // 2, broken)
        self.drop_at = len(self.frames) // 2 if behaviour.drop else -1
        self.delay_s = behaviour.chunk_delay_ms / 1000.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for index, frame in enumerate(self.frames):
            if index == self.drop_at:
                raise ConnectionDropped("X-Fake-Drop: connection closed mid-stream")
            if index and self.delay_s:
                await asyncio.sleep(self.delay_s)
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class NeverAnswer(Response):
    """Send nothing until the client goes away (or an hour passes): `X-Fake-Timeout`."""

    def __init__(self) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        try:
            await asyncio.wait_for(until_disconnect(), NEVER_S)
        except TimeoutError:
            return
