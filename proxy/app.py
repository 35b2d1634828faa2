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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, TypeVar, Unpack

from proxy.capture import build_rejection, build_request, build_response, build_window
from proxy.dialects import RequestFacts, canonical_path, dialect_of
from proxy.emitter import Publisher, build_emitter
from proxy.enforcement.base import Enforcement
from proxy.errors import (
    BadRequest,
    BodyTooLarge,
    BrokerUnavailable,
    PassthroughDenied,
    PolicyBlocked,
    ProxyError,
)
from proxy.forward import HOP_BY_HOP, Forwarder
from proxy.identity import ClientAddress, SessionResolver, api_key_of
from proxy.inline_policy import InlinePolicy
from proxy.intake import BodyWorker, read_body
from proxy.metrics import ProxyMetrics
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
from schemas.events import (
    ChatMessage,
    LLMRequest,
    LLMResponse,
    Provider,
    SessionCommand,
)
from schemas.ids import uuid7
from streams.policy import Finding

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
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Read:
    """A request body as read: parsed JSON (or text), the dialect's parts and facts."""

    parsed: Any  # the whole body, or only its small top-level fields when read by the worker
    parts: list[ChatMessage]
    facts: RequestFacts
    truncated: bool = False  # parts capped for capture already (worker)
    keys: list[bytes] | None = None  # every part's `part_key` (worker)
    findings: list[Finding] | None = None  # judged by the worker under policy `version`
    version: str | None = None


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
        self._source = settings.instance_id
        self._capture = settings.capture
        self._cap = settings.capture_max_bytes
        self._max_body = settings.max_body_bytes
        self._session_header = settings.session_header.lower()
        self._passthrough = settings.passthrough
        self._offload_bytes = settings.inline_offload_bytes
        self._pool: ThreadPoolExecutor | None = None
        self._worker = BodyWorker()

    async def startup(self) -> None:
        await self.forwarder.start()
        await self.emitter.start()
        await self.enforcement.start()

    async def shutdown(self) -> None:
        await self.enforcement.stop()
        await self.emitter.stop()
        await self.forwarder.stop()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)
        self._worker.stop()

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
        try:
            if provider == "passthrough" and self._passthrough == "deny":
                raise PassthroughDenied(f"no known model API at {path!r} and passthrough is denied")
            body = await self._read_body(headers, receive)
            read = await self._intake(provider, path, body)
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
            req = build_request(
                source=self._source,
                session_id=session,
                request_id=request_id,
                backend=route.backend.name,
                provider=provider,
                method=scope["method"],
                path=path,
                body=parsed,
                body_bytes=len(body),
                client_ip=client_ip,
                user_agent=headers.get("user-agent"),
                key_fp=key_fp,
                policy=self._capture,
                max_chars=self._cap,
                extracted=(read.parts, read.facts),
                truncated_before=read.truncated,
            )
            self.enforcement.observe_request(req)
            self.emitter.publish(req)
            cmd = self.enforcement.check(session)
            if cmd is not None:
                self.metrics.kills.labels("request").inc()
                raise killed_error(cmd, session)
            blocked = await self._judge(req, read, body)
            if blocked is not None:
                raise blocked
            await self._forward(scope, receive, send, route, req, body, t0)
        except ProxyError as err:
            await self._reject(send, err, route, provider, path, session, request_id, t0)

    async def _intake(self, provider: Provider, path: str, body: bytes) -> _Read:
        """Parse the body and extract its parts; a large one in the worker process, judged there.

        Raises BadRequest when a known API's body is not JSON.
        """
        if len(body) <= self._offload_bytes:
            return _Read(*read_body(provider, path, body, self._passthrough))
        policy = self.policy.worker_policy()
        got = await self._worker.read(provider, path, body, self._passthrough, self._cap, policy)
        if got.error is not None:
            raise BadRequest(got.error)
        version = policy[2] if policy is not None and got.findings is not None else None
        return _Read(got.head, got.parts, got.facts, got.truncated, got.keys, got.findings, version)

    async def _judge(self, req: LLMRequest, read: _Read, body: bytes) -> PolicyBlocked | None:
        """The inline check: the error answering `req` when the policy blocks it, else None."""
        if not self.policy.enabled:
            return None
        now = req.time
        if read.keys is not None:  # read by the worker process
            if not read.keys:
                return None
            if read.findings is not None and read.version is not None:
                pending = self.policy.judged_elsewhere(req, read.keys, read.version, now)
                if pending is not None:
                    return self.policy.conclude(pending, read.findings)
            # The worker could not judge (another policy version): judge here, off the loop.
            _, parts, _ = await self._off_loop(
                read_body, req.provider, req.path, body, self._passthrough
            )
            pending = self.policy.prepare(req, None, now, parts, read.keys)
            if pending is None:
                return None
            findings = await self._off_loop(InlinePolicy.evaluate, pending)
            return self.policy.conclude(pending, findings)
        pending = self.policy.prepare(req, read.parsed, now, read.parts, read.keys)
        if pending is None:
            return None
        return self.policy.conclude(pending, InlinePolicy.evaluate(pending))

    async def _off_loop(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run CPU work on the judging thread so the event loop keeps serving others."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt-judge")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

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

    def _upstream_headers(self, scope: Scope, route: Route) -> list[tuple[str, str]]:
        inject = route.inject
        strip = _STRIP_INJECTED if inject else _STRIP
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
    ) -> None:
        response = await self.forwarder.open(
            scope["method"], route.url, self._upstream_headers(scope, route), body
        )
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
            )
            if relayed.outcome == "killed":
                self.metrics.kills.labels("stream").inc()
        else:
            relayed = await relay_buffered(
                response, send, out_headers, route.provider, route.path, capture
            )
        self._finish(req, route, response.status_code, relayed, ttfb, t0)

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
        )
        if route is not None:
            self.enforcement.observe_response(evt)
        self.emitter.publish(evt)
        self.metrics.observe(backend, provider, err.outcome, err.status, latency, None, None, None)


def create_app(settings: ProxySettings, **parts: Unpack[AppParts]) -> ProxyApp:
    """Build the proxy ASGI app; nothing connects until the lifespan starts it."""
    return ProxyApp(settings, **parts)
