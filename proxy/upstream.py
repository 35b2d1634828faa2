"""Forwarding an admitted request to its backend and relaying the answer to the client.

`upstream_headers` builds what the backend sees (hop-by-hop and client
credentials stripped when the backend injects its own, the modeltrail key never,
X-Forwarded-For rebuilt, our span's `traceparent`). `Upstream.forward` reads the
PII restorer before the call (a vault that is down answers 503 before the
backend is asked), opens the upstream request, relays the answer buffered or
streamed (kills of every scope checked at each chunk, placeholders restored),
then hands the result to `RequestAudit.finish` and settles the key's spend.
"""

from __future__ import annotations

import time

from proxy.audit import RequestAudit
from proxy.enforcement.base import Enforcement
from proxy.forward import HOP_BY_HOP, Forwarder
from proxy.keys.gate import ClientGate, carries_client_key
from proxy.keys.registry import ClientIdentity
from proxy.metrics import ProxyMetrics
from proxy.pii.service import PIIService
from proxy.pii.transform import Transformed
from proxy.relay import (
    Receive,
    Relayed,
    Scope,
    Send,
    is_stream,
    relay_buffered,
    relay_stream,
    response_headers,
)
from proxy.routing import Route
from proxy.settings import ProxySettings
from proxy.sse import WindowCutter
from proxy.tracing import RequestSpan
from schemas.events import LLMRequest, LLMResponse

__all__ = ["Upstream", "upstream_headers"]

# x-forwarded-for is rebuilt, not copied: the peer's address is appended to it.
_STRIP = HOP_BY_HOP | {"accept-encoding", "x-backend", "x-forwarded-for"}
_CREDENTIALS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key"})
# A backend with injected credentials gets none of the client's.
_STRIP_INJECTED = _STRIP | _CREDENTIALS
_TRACE = frozenset({"traceparent", "tracestate"})


def upstream_headers(
    scope: Scope, route: Route, span: RequestSpan | None, client_keys: bool
) -> list[tuple[str, str]]:
    """The headers sent to `route`'s backend (`client_keys`: modeltrail keys are in use)."""
    inject = route.inject
    strip = _STRIP_INJECTED if inject else _STRIP
    guard = _CREDENTIALS if client_keys and not inject else frozenset()  # our key
    if span is not None:  # the backend continues our span, not the client's
        strip = strip | _TRACE
    out: list[tuple[str, str]] = []
    # X-Forwarded-For is rebuilt: the client's chain plus the peer we saw (standard
    # proxy behaviour, several headers join with ", "); which hops count for session
    # identity is `ClientAddress`'s business and is unaffected.
    chain: list[str] = []
    for k, v in scope["headers"]:
        if len(k) == 15 and k.lower() == b"x-forwarded-for":
            chain.append(v.decode("latin-1").strip())
        name, value = k.decode("latin-1"), v.decode("latin-1")
        if name not in strip and not (name in guard and carries_client_key(value)):
            out.append((name, value))
    out.append(("accept-encoding", "identity"))
    client = scope.get("client")
    if client and client[0]:
        chain.append(client[0])
    forwarded = ", ".join(c for c in chain if c)
    if forwarded:
        out.append(("x-forwarded-for", forwarded))
    out.extend(inject)
    if span is not None:
        out.append(("traceparent", span.context.traceparent))
    return out


class Upstream:
    """The forwarding half of the request path; owns the upstream client."""

    def __init__(
        self,
        settings: ProxySettings,
        forwarder: Forwarder,
        *,
        audit: RequestAudit,
        enforcement: Enforcement,
        gate: ClientGate,
        metrics: ProxyMetrics,
        pii: PIIService | None,
    ) -> None:
        self.forwarder = forwarder
        self._audit = audit
        self._enforcement = enforcement
        self._gate = gate
        self._metrics = metrics
        self._pii = pii
        self._windows = settings.capture != "metadata_only"
        self._window_chars = settings.stream_window_chars
        self._window_overlap = settings.stream_window_overlap

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        req: LLMRequest,
        body: bytes,
        t0: float,
        span: RequestSpan | None = None,
        identity: ClientIdentity | None = None,
        pii: Transformed | None = None,
    ) -> None:
        """Send `body` upstream, relay the answer, record it (raises ProxyError before sending)."""
        # Read before the call: a vault that is down answers 503 before the backend is asked.
        restorer = await self._pii.restorer(req.session_id, pii) if self._pii and pii else None
        headers = upstream_headers(scope, route, span, self._gate.enabled)
        self._metrics.overhead.observe(time.perf_counter() - t0)
        response = await self.forwarder.open(scope["method"], route.url, headers, body)
        ttfb = time.perf_counter() - t0
        extra = [
            (b"x-modeltrail-request-id", (req.request_id or "").encode()),
            (b"x-modeltrail-session-id", req.session_id.encode("latin-1", "replace")),
        ]
        out_headers = response_headers(response, extra)
        capture = route.provider != "passthrough"
        if is_stream(response):
            cutter = None
            if capture and self._windows:
                cutter = WindowCutter(self._window_chars, self._window_overlap)
            relayed = await relay_stream(
                response,
                receive,
                send,
                out_headers,
                provider=route.provider,
                capture=capture,
                enforcement=self._gate.enforcement(self._enforcement, identity),
                session_id=req.session_id,
                cutter=cutter,
                on_window=lambda i, off, text: self._audit.window(req, i, off, text),
                restorer=restorer,
                # pass-through: the events are the backend's own API's
                rehydrate_as=route.backend.provider if not capture else None,
            )
            if relayed.outcome == "killed":
                self._metrics.kills.labels("stream").inc()
            evt = self._audit.finish(req, route, response.status_code, relayed, ttfb, t0, span)
        else:
            recorded: list[LLMResponse] = []

            def record(done: Relayed) -> None:
                # The response event before the answer's first byte (see relay_buffered).
                recorded.append(
                    self._audit.finish(req, route, response.status_code, done, ttfb, t0, span)
                )

            await relay_buffered(
                response, send, out_headers, route.provider, route.path, capture, restorer, record
            )
            evt = recorded[0]
        await self._gate.settle(identity, evt)
