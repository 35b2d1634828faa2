"""The proxy ASGI app: read, route, identify, audit, enforce, forward, relay.

A plain ASGI callable rather than a framework router: the hot path is one
function, with no per-request validation of bodies beyond a JSON parse.
The lifespan owns the upstream client, the emitter, the enforcement, the key
gate and the PII vault.

The request path, stage by stage: `Intake` receives, parses and judges the body;
`ClientGate` identifies the client key, authorizes the backend and model,
namespaces the session, scopes kills and admits under the limits; `PIIService`
transforms what goes upstream; `Upstream` forwards and relays (restoring
placeholders); `RequestAudit` records the response or rejection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import TypedDict, Unpack

from proxy.audit import RequestAudit
from proxy.capture import build_request
from proxy.dialects import canonical_path, dialect_of
from proxy.emitter import build_emitter
from proxy.enforcement.base import Enforcement
from proxy.errors import BrokerUnavailable, PassthroughDenied, ProxyError
from proxy.forward import Forwarder
from proxy.identity import ClientAddress, SessionResolver, api_key_of
from proxy.inline_policy import InlinePolicy
from proxy.intake import Intake
from proxy.keys.gate import ClientGate
from proxy.keys.registry import ClientIdentity
from proxy.metrics import ProxyMetrics
from proxy.pii.service import PIIService
from proxy.pii.transform import Transformed
from proxy.publisher import Publisher
from proxy.relay import Receive, Scope, Send, killed_error
from proxy.routing import Route, Router
from proxy.settings import ProxySettings
from proxy.tracing import RequestSpan, RequestTracing
from proxy.upstream import Upstream
from schemas.events import LLMRequest, LLMResponse, Provider, SessionCommand
from schemas.ids import safe_session_id, uuid7
from schemas.telemetry import TraceContext, parse_traceparent

__all__ = ["AllowAll", "AppParts", "ProxyApp", "build_emitter", "create_app"]

log = logging.getLogger(__name__)


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
    gate: ClientGate
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
        self.gate = parts.get("gate") or ClientGate(settings, None)
        pii = parts.get("pii")
        self.pii = pii or (PIIService.from_settings(settings) if settings.pii.enabled else None)
        self.tracing = parts.get("tracing") or RequestTracing(
            settings.tracing, settings.instance_id
        )
        self.audit = RequestAudit(
            settings,
            emitter=self.emitter,
            enforcement=self.enforcement,
            metrics=self.metrics,
            gate=self.gate,
        )
        forwarder = parts.get("forwarder") or Forwarder(
            timeout_s=settings.upstream_timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            max_connections=settings.upstream_max_connections,
            pool_timeout_s=settings.upstream_pool_timeout_s,
        )
        self.upstream = Upstream(
            settings,
            forwarder,
            audit=self.audit,
            enforcement=self.enforcement,
            gate=self.gate,
            metrics=self.metrics,
            pii=self.pii,
        )
        self._source = settings.instance_id
        self._capture = settings.capture
        self._cap = settings.capture_max_bytes
        self._session_header = settings.session_header.lower()
        self._passthrough = settings.passthrough
        self.intake = Intake(self.policy, settings)

    @property
    def forwarder(self) -> Forwarder:
        """The upstream client (replaceable before startup, e.g. by tests)."""
        return self.upstream.forwarder

    @forwarder.setter
    def forwarder(self, forwarder: Forwarder) -> None:
        self.upstream.forwarder = forwarder

    async def startup(self) -> None:
        await self.forwarder.start()
        await self.emitter.start()
        await self.enforcement.start()
        await self.gate.start()
        if self.pii is not None:
            await self.pii.start()

    async def shutdown(self) -> None:
        if self.pii is not None:
            await self.pii.stop()
        await self.gate.stop()
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
        identity: ClientIdentity | None = None
        gate = self.gate  # without a known key, no client-named session goes on events:
        session = "-" if gate.enabled else headers.get(self._session_header) or "-"
        if not safe_session_id(session):
            session = "-"  # refused below; never echoed into a header or an event
        trace: TraceContext | None = parse_traceparent(headers.get("traceparent"))
        span: RequestSpan | None = None
        try:
            if provider == "passthrough" and self._passthrough == "deny":
                raise PassthroughDenied(f"no known model API at {path!r} and passthrough is denied")
            identity = gate.identify(headers) if gate.enabled else None
            body = await self.intake.receive(headers, receive)
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
            gate.authorize(identity, route.backend.name, model, scope["method"])
            client = scope.get("client")
            client_ip = self.addresses.resolve(
                client[0] if client else None, headers.get("x-forwarded-for")
            )
            key_fp = self.sessions.key_fingerprint(api_key_of(headers))
            named = self.sessions.resolve(headers, parsed, key_fp, client_ip, route.backend.name)
            session = gate.session_id(identity, named)
            if not self.emitter.accepting():
                raise BrokerUnavailable(
                    "the audit trail cannot take events (broker unreachable or queue full) "
                    "and the proxy fails closed"
                )
            if self.tracing.enabled:
                span = self.tracing.start_request(
                    trace,
                    path=path,
                    provider=route.backend.provider if provider == "passthrough" else provider,
                    backend_url=route.backend.url,
                    body=parsed,
                    key_id=identity.key_id if identity is not None else None,
                    team=identity.team if identity is not None else None,
                )
                trace = span.context if span is not None else trace
            # The vault is keyed by the (key-namespaced) session: one key never restores
            # placeholders another key's session was issued. Pass-through bodies too:
            # a client leaking PII does not pick its paths (`proxy.pii.bodies`).
            pii: Transformed | None = None
            audited, forward = parsed, body
            if self.pii is not None:
                ctype = headers.get("content-type", "")
                pii, audited, forward = await self.pii.prepare(route.backend, session, body, ctype)
            req = build_request(
                source=self._source,
                session_id=session,
                request_id=request_id,
                backend=route.backend.name,
                provider=provider,
                method=scope["method"],
                path=path,
                # (`passthrough: allow` reads no body for the event: nor does the transform)
                body=audited if pii is not None and parsed is not None else parsed,
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
                **gate.who(identity),
            )
            enforcement = gate.enforcement(self.enforcement, identity)
            enforcement.observe_request(req)
            self.emitter.publish(req)
            cmd = enforcement.check(session)
            if cmd is not None:
                self.metrics.kills.labels("request").inc()
                raise killed_error(cmd, session)
            # Placeholders still count as the rules that found their values (engine).
            blocked = await self.intake.judge(req, read, body)
            if blocked is not None:
                raise blocked
            await gate.admit(identity)
            await self.upstream.forward(
                scope, receive, send, route, req, forward, t0, span, identity, pii
            )
        except ProxyError as err:
            await self.audit.reject(
                send, err, route, provider, path, session, request_id, t0, trace, span, identity
            )


def create_app(settings: ProxySettings, **parts: Unpack[AppParts]) -> ProxyApp:
    """Build the proxy ASGI app; nothing connects until the lifespan starts it."""
    return ProxyApp(settings, **parts)
