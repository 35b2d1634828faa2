"""The proxy ASGI app: read, route, identify, audit, enforce, forward, relay.

A plain ASGI callable rather than a framework router: the hot path is one
function, with no per-request validation of bodies beyond a JSON parse.
The lifespan owns the upstream client, the emitter and the enforcement.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any, TypedDict, Unpack

from proxy.capture import build_rejection, build_request, build_response, build_window
from proxy.dialects import canonical_path, dialect_of
from proxy.emitter import build_emitter
from proxy.enforcement.base import Enforcement
from proxy.errors import (
    BodyTooLarge,
    BrokerUnavailable,
    PassthroughDenied,
    ProxyError,
)
from proxy.forward import HOP_BY_HOP, Forwarder
from proxy.identity import ClientAddress, SessionResolver, api_key_of
from proxy.inline_policy import InlinePolicy
from proxy.intake import Intake
from proxy.metrics import ProxyMetrics
from proxy.pii.service import PIIService
from proxy.pii.transform import Transformed
from proxy.publisher import Publisher
from proxy.relay import (
    Relayed,
    is_stream,
    killed_error,
    relay_buffered,
    relay_stream,
    response_headers,
    send_error,
)
from proxy.routing import Route, Router
from proxy.settings import ProxySettings
from proxy.sse import WindowCutter
from proxy.tracing import RequestSpan, RequestTracing
from schemas.events import (
    LLMRequest,
    LLMResponse,
    Provider,
    SessionCommand,
)
from schemas.ids import uuid7
from schemas.telemetry import TraceContext, parse_traceparent

__all__ = ["AllowAll", "AppParts", "ProxyApp", "build_emitter", "create_app"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]
# x-forwarded-for is rebuilt, not copied: the peer's address is appended to it.
_STRIP = HOP_BY_HOP | {"accept-encoding", "x-backend", "x-forwarded-for"}
_CREDENTIALS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key"})
# A backend with injected credentials gets none of the client's.
_STRIP_INJECTED = _STRIP | _CREDENTIALS
_TRACE = frozenset({"traceparent", "tracestate"})


class AllowAll:
    """An `Enforcement` that blocks nothing and records nothing (tests, `--no-enforcement`)."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def check(self, session_id: str, now: datetime | None = None) -> SessionCommand | None:
        return None

    def observe_request(self, event: LLMRequest) -> None:
        return None

    def observe_response(self, event: LLMResponse) -> None:
        return None


class AppParts(TypedDict, total=False):
    """What a caller may hand in instead of the defaults built from the settings."""

    enforcement: Enforcement
    publisher: Publisher
    forwarder: Forwarder
    metrics: ProxyMetrics
    policy: InlinePolicy
    pii: PIIService
    tracing: RequestTracing


class ProxyApp:
    """One proxy instance; create with `create_app`."""

    def __init__(self, settings: ProxySettings, **parts: Unpack[AppParts]) -> None:
        self.settings = settings
        # Loaded even when inline checks are off: the control API shows and reloads it.
        policy = parts.get("policy")
        self.policy = policy if policy is not None else InlinePolicy.from_settings(settings)
        self.metrics = parts.get("metrics") or ProxyMetrics()
        self.router = Router(settings)
        self.sessions = SessionResolver(
            settings.session_header, settings.key_salt.get_secret_value(), settings.session_idle_s
        )
        self.addresses = ClientAddress(settings.trusted_proxies)
        self.emitter: Publisher = parts.get("publisher") or build_emitter(settings, self.metrics)
        self.enforcement: Enforcement = parts.get("enforcement") or AllowAll()
        self.forwarder = parts.get("forwarder") or Forwarder(
            timeout_s=settings.upstream_timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            max_connections=settings.upstream_max_connections,
        )
        pii = parts.get("pii")
        self.pii = pii or (PIIService.from_settings(settings) if settings.pii.enabled else None)
        self.tracing = parts.get("tracing") or RequestTracing(
            settings.tracing, settings.instance_id
        )
        self._source = settings.instance_id
        self._capture = settings.capture
        self._cap = settings.capture_max_bytes
        self._max_body = settings.max_body_bytes
        self._session_header = settings.session_header.lower()
        self._passthrough = settings.passthrough
        self.intake = Intake(self.policy, settings)

    async def startup(self) -> None:
        await self.forwarder.start()
        await self.emitter.start()
        await self.enforcement.start()
        if self.pii is not None:
            await self.pii.start()

    async def shutdown(self) -> None:
        if self.pii is not None:
            await self.pii.stop()
        await self.enforcement.stop()
        await self.emitter.stop()
        await self.forwarder.stop()
        self.intake.stop()
        await asyncio.to_thread(self.tracing.shutdown)  # flushes; blocking, so off the loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("proxy_startup_failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter()
        request_id = uuid7()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        # Judged and forwarded alike: the canonical path (`proxy.dialects.paths`).
        raw_path = scope.get("raw_path")
        path, prefix_backend = self.router.strip_prefix(
            canonical_path(raw_path.decode("utf-8", "replace") if raw_path else scope["path"])
        )
        provider: Provider = dialect_of(path)
        route: Route | None = None
        session = headers.get(self._session_header) or "-"
        trace: TraceContext | None = parse_traceparent(headers.get("traceparent"))
        span: RequestSpan | None = None
        try:
            if provider == "passthrough" and self._passthrough == "deny":
                raise PassthroughDenied(f"no known model API at {path!r} and passthrough is denied")
            body = await self._read_body(headers, receive)
            read = await self.intake.read(provider, path, body)
            parsed = read.parsed
            model = parsed.get("model") if isinstance(parsed, dict) else None
            route = self.router.route(
                path,
                scope.get("query_string", b"").decode("latin-1"),
                headers.get("x-backend"),
                model if isinstance(model, str) else None,
                prefix_backend,
            )
            client = scope.get("client")
            client_ip = self.addresses.resolve(
                client[0] if client else None, headers.get("x-forwarded-for")
            )
            key_fp = self.sessions.key_fingerprint(api_key_of(headers))
            session = self.sessions.resolve(headers, parsed, key_fp, client_ip, route.backend.name)
            if not self.emitter.accepting():
                raise BrokerUnavailable(
                    "the audit trail cannot take events (broker unreachable or queue full) "
                    "and the proxy fails closed"
                )
            if self.tracing.enabled:
                span = self._start_span(trace, route, path, provider, parsed)
                trace = span.context if span is not None else trace
            pii: Transformed | None = None
            audited, forward = parsed, body
            if self.pii is not None and route.provider != "passthrough":
                pii, audited, forward = await self.pii.prepare(route.backend, session, body)
            req = build_request(
                source=self._source,
                session_id=session,
                request_id=request_id,
                backend=route.backend.name,
                provider=provider,
                method=scope["method"],
                path=path,
                body=audited if pii is not None else parsed,
                body_bytes=len(body),
                client_ip=client_ip,
                user_agent=headers.get("user-agent"),
                key_fp=key_fp,
                policy=self._capture,
                max_chars=self._cap,
                pii_counts=pii.counts if pii is not None else None,
                trace=trace,
                # Transformed: the event's parts are read from the text that goes upstream.
                extracted=(read.parts, read.facts) if pii is None else None,
                truncated_before=read.truncated and pii is None,
            )
            self.enforcement.observe_request(req)
            self.emitter.publish(req)
            cmd = self.enforcement.check(session)
            if cmd is not None:
                self.metrics.kills.labels("request").inc()
                raise killed_error(cmd, session)
            # Placeholders still count as the rules that found their values (engine).
            blocked = await self.intake.judge(req, read, body)
            if blocked is not None:
                raise blocked
            await self._forward(scope, receive, send, route, req, forward, t0, span, pii)
        except ProxyError as err:
            await self._reject(
                send, err, route, provider, path, session, request_id, t0, trace, span
            )

    def _start_span(
        self,
        parent: TraceContext | None,
        route: Route,
        path: str,
        provider: Provider,
        parsed: Any,
    ) -> RequestSpan | None:
        body = parsed if isinstance(parsed, dict) else {}
        model = body.get("model")
        max_tokens = body.get("max_tokens")
        temperature = body.get("temperature")
        url = route.backend.url
        return self.tracing.start(
            parent,
            path=path,
            provider=route.backend.provider if provider == "passthrough" else provider,
            model=model if isinstance(model, str) else None,
            server_address=url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0],
            server_port=None,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            temperature=float(temperature) if isinstance(temperature, int | float) else None,
        )

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._max_body:
            raise BodyTooLarge(f"request body over the {self._max_body}-byte limit")
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            chunk = msg.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self._max_body:
                    raise BodyTooLarge(f"request body over the {self._max_body}-byte limit")
                chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _upstream_headers(
        self, scope: Scope, route: Route, span: RequestSpan | None = None
    ) -> list[tuple[str, str]]:
        inject = route.inject
        strip = _STRIP_INJECTED if inject else _STRIP
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
            name = k.decode("latin-1")
            if name not in strip:
                out.append((name, v.decode("latin-1")))
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

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        req: LLMRequest,
        body: bytes,
        t0: float,
        span: RequestSpan | None = None,
        pii: Transformed | None = None,
    ) -> None:
        # Read before the call: a vault that is down answers 503 before the backend is asked.
        restorer = await self.pii.restorer(req.session_id, pii) if self.pii and pii else None
        upstream_headers = self._upstream_headers(scope, route, span)
        self.metrics.overhead.observe(time.perf_counter() - t0)
        response = await self.forwarder.open(scope["method"], route.url, upstream_headers, body)
        ttfb = time.perf_counter() - t0
        extra = [
            (b"x-modeltrail-request-id", (req.request_id or "").encode()),
            (b"x-modeltrail-session-id", req.session_id.encode("latin-1", "replace")),
        ]
        out_headers = response_headers(response, extra)
        capture = route.provider != "passthrough"
        if is_stream(response):
            cutter = None
            if capture and self._capture != "metadata_only":
                cutter = WindowCutter(
                    self.settings.stream_window_chars, self.settings.stream_window_overlap
                )
            relayed = await relay_stream(
                response,
                receive,
                send,
                out_headers,
                provider=route.provider,
                capture=capture,
                enforcement=self.enforcement,
                session_id=req.session_id,
                cutter=cutter,
                on_window=lambda i, off, text: self._window(req, i, off, text),
                restorer=restorer,
            )
            if relayed.outcome == "killed":
                self.metrics.kills.labels("stream").inc()
        else:
            relayed = await relay_buffered(
                response, send, out_headers, route.provider, route.path, capture, restorer
            )
        self._finish(req, route, response.status_code, relayed, ttfb, t0, span)

    def _window(self, req: LLMRequest, index: int, offset: int, text: str) -> None:
        self.emitter.publish(build_window(req, index, offset, text))

    def _finish(
        self,
        req: LLMRequest,
        route: Route,
        status: int,
        relayed: Relayed,
        ttfb: float | None,
        t0: float,
        span: RequestSpan | None = None,
    ) -> None:
        latency = time.perf_counter() - t0
        evt = build_response(
            source=self._source,
            session_id=req.session_id,
            request_id=req.request_id or "",
            backend=route.backend.name,
            provider=route.provider,
            path=route.path,
            model=req.model,
            stream=req.stream,
            status_code=status,
            outcome=relayed.outcome,
            ttfb_ms=ttfb * 1000 if ttfb is not None else None,
            latency_ms=latency * 1000,
            result=relayed.result,
            body_bytes=relayed.body_bytes,
            policy=self._capture,
            max_chars=self._cap,
            error_type=relayed.error_type,
            error_message=relayed.error_message,
            trace=TraceContext(req.trace_id, req.span_id) if req.trace_id and req.span_id else None,
        )
        if span is not None:
            span.end(
                status_code=status,
                outcome=relayed.outcome,
                response_model=evt.model,
                input_tokens=evt.input_tokens,
                output_tokens=evt.output_tokens,
                finish_reasons=[evt.finish_reason] if evt.finish_reason else (),
                ttfb_s=ttfb,
                stream=req.stream,
                session_id=req.session_id,
                decision="allow",
                error_type=evt.error_type,
            )
        self.enforcement.observe_response(evt)
        self.emitter.publish(evt)
        self.metrics.observe(
            route.backend.name,
            route.provider,
            relayed.outcome,
            status,
            latency,
            ttfb,
            evt.input_tokens,
            evt.output_tokens,
        )

    async def _reject(
        self,
        send: Send,
        err: ProxyError,
        route: Route | None,
        provider: Provider,
        path: str,
        session: str,
        request_id: str,
        t0: float,
        trace: TraceContext | None = None,
        span: RequestSpan | None = None,
    ) -> None:
        """Answer an error in the backend's shape and audit it as a response event."""
        shape: Provider = provider
        if shape == "passthrough":
            shape = route.backend.provider if route is not None else "openai"
        await send_error(send, err, shape, request_id)
        backend = route.backend.name if route is not None else "-"
        latency = time.perf_counter() - t0
        evt = build_rejection(
            source=self._source,
            session_id=session,
            request_id=request_id,
            backend=backend,
            provider=provider,
            path=path,
            status_code=err.status,
            outcome=err.outcome,
            latency_ms=latency * 1000,
            error_type=err.error_type,
            error_message=err.message,
            trace=trace,
        )
        if span is not None:
            span.end(
                status_code=err.status,
                outcome=err.outcome,
                session_id=session,
                decision=err.outcome if err.outcome in ("blocked", "killed") else "error",
                rule_ids=[r for r in err.extra.get("rule_ids", "").split(",") if r],
                error_type=err.error_type,
            )
        if route is not None:
            self.enforcement.observe_response(evt)
        self.emitter.publish(evt)
        self.metrics.observe(backend, provider, err.outcome, err.status, latency, None, None, None)


def create_app(settings: ProxySettings, **parts: Unpack[AppParts]) -> ProxyApp:
    """Build the proxy ASGI app; nothing connects until the lifespan starts it."""
    return ProxyApp(settings, **parts)
