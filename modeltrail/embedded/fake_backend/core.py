"""Shared request handling for every fake endpoint: record, inject behaviour, parse JSON.

`begin` is the one entry all provider handlers go through, so latency, injected status,
timeouts and the `/_fake/last` record behave the same on every path.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modeltrail.embedded.fake_backend.behaviour import Behaviour, BehaviourError, parse_behaviour
from modeltrail.embedded.fake_backend.streaming import NeverAnswer

__all__ = ["Backend", "Call", "ErrorFactory", "LastRequest", "begin", "json_response"]

ErrorFactory = Callable[[int, str], Response]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialised with orjson (the cheap path the benchmark measures)."""
    return Response(orjson.dumps(data), status, headers, "application/json")


@dataclass(frozen=True, slots=True)
class LastRequest:
    """The raw last request, decoded only when `/_fake/last` asks for it."""

    method: str
    path: str
    query: str
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def as_json(self) -> dict[str, Any]:
        """Method, path, query, headers (keys lower-case, secrets included) and body."""
        headers: dict[str, str] = {}
        for key, value in self.headers:
            name = key.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
        body: Any = None
        if self.body:
            try:
                body = orjson.loads(self.body)
            except orjson.JSONDecodeError:
                body = self.body.decode("utf-8", "replace")
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": headers,
            "body": body,
        }


@dataclass(slots=True)
class Backend:
    """Per-app state: default latency, id counter, the last request and recent bodies."""

    latency_ms: float = 0.0
    last: LastRequest | None = None
    # Every body received, newest last and bounded (`/_fake/received`): what reached it.
    received: collections.deque[bytes] = field(
        default_factory=lambda: collections.deque(maxlen=20_000)
    )
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self, prefix: str) -> str:
        """A unique, readable id such as `chatcmpl-fake000001`."""
        return f"{prefix}fake{next(self._ids):06d}"


@dataclass(frozen=True, slots=True)
class Call:
    """One parsed request: its JSON body, injected behaviour and the app's state."""

    body: dict[str, Any]
    behaviour: Behaviour
    backend: Backend
    created: int

    @property
    def model(self) -> str:
        model = self.body.get("model")
        return model if isinstance(model, str) and model else "fake-model"


async def record(request: Request) -> bytes:
    """Read the body and keep the request as the last one seen; returns the body."""
    body = await request.body()
    backend: Backend = request.app.state.backend
    scope = request.scope
    backend.last = LastRequest(
        scope["method"],
        scope["path"],
        scope.get("query_string", b"").decode("latin-1"),
        list(scope["headers"]),
        body,
    )
    backend.received.append(body)
    return body


async def begin(request: Request, error: ErrorFactory) -> Call | Response:
    """Record the request, apply injected behaviour, parse its JSON object body.

    Returns the Call to answer, or the Response to send instead (injected error, timeout,
    bad header, malformed body), already in the provider's error shape.
    """
    body = await record(request)
    backend: Backend = request.app.state.backend
    try:
        behaviour = parse_behaviour(request.headers, backend.latency_ms)
    except BehaviourError as exc:
        return error(400, str(exc))
    if behaviour.timeout:
        return NeverAnswer()
    if behaviour.latency_ms:
        await asyncio.sleep(behaviour.latency_ms / 1000.0)
    if behaviour.status is not None:
        return error(behaviour.status, f"injected error (X-Fake-Status: {behaviour.status})")
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        return error(400, f"request body is not valid JSON: {exc}")
    if not isinstance(data, dict):
        return error(400, "request body must be a JSON object")
    return Call(data, behaviour, backend, int(time.time()))
