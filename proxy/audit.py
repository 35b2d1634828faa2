"""The end of a proxied request: its response or rejection event, span, metrics and observers.

`RequestAudit.finish` records an answer the backend gave (relayed to the client
already), `reject` answers an error in the backend's own shape and records it,
`window` publishes one stream window. Every path ends the request's span once.
"""

from __future__ import annotations

import time

from proxy.capture import build_rejection, build_response, build_window
from proxy.enforcement.base import Enforcement
from proxy.errors import ProxyError
from proxy.keys.gate import ClientGate
from proxy.keys.registry import ClientIdentity
from proxy.metrics import ProxyMetrics
from proxy.publisher import Publisher
from proxy.relay import Relayed, Send, send_error
from proxy.routing import Route
from proxy.settings import ProxySettings
from proxy.tracing import RequestSpan
from schemas.events import LLMRequest, LLMResponse, Provider
from schemas.telemetry import TraceContext

__all__ = ["RequestAudit"]


class RequestAudit:
    """Builds and publishes the events that close a request."""

    def __init__(
        self,
        settings: ProxySettings,
        *,
        emitter: Publisher,
        enforcement: Enforcement,
        metrics: ProxyMetrics,
        gate: ClientGate,
    ) -> None:
        self.emitter = emitter
        self.enforcement = enforcement
        self.metrics = metrics
        self.gate = gate
        self._source = settings.instance_id
        self._capture = settings.capture
        self._cap = settings.capture_max_bytes

    def window(self, req: LLMRequest, index: int, offset: int, text: str) -> None:
        self.emitter.publish(build_window(req, index, offset, text))

    def finish(
        self,
        req: LLMRequest,
        route: Route,
        status: int,
        relayed: Relayed,
        ttfb: float | None,
        t0: float,
        span: RequestSpan | None = None,
    ) -> LLMResponse:
        """Record the backend's answer (already relayed) and end the span."""
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
            cost_usd=self.gate.cost_of(route.provider, req.model, relayed.result),
            **self.gate.who_of(req),
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
        return evt

    async def reject(
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
        identity: ClientIdentity | None = None,
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
            **self.gate.who(identity),
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
